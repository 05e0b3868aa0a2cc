/* rest_health.c — GET /health: probes the stats-service and the
 * presence-service in parallel (statsync.health.<service>, bounded by
 * cfg.health_timeout_ms) and answers
 *
 *   {"status":"OK"|"DEGRADED","timestamp":"…Z","connectedClients":n,
 *    "connectedUsers":n,"totalUsers":n,"uptime":s,"gateway":"<id>",
 *    "services":{"nats":"OK"|"DEGRADED","stats":{…},"presence":{…}}}
 *
 * 200 when NATS is connected and both services answered ok, else 503 with
 * "DEGRADED". connectedClients / connectedUsers are the cluster-wide counts
 * of the presence-service (every gateway's sockets); when it does not answer
 * they fall back to this gateway's own Socket.IO counts (gateway.h) and
 * "counts" says "local". "local" always holds this gateway's own counts.
 * The stats-service's outcome is remembered for /readyz (rest_probes.c).
 * Runs on an MHD thread. */
#include "rest_internal.h"

#include "ss_nats.h"
#include "ss_subjects.h"
#include "ss_time.h"
#include "statsync.pb-c.h"

#include <stdio.h>

enum { HEALTH_STATS = 0, HEALTH_PRESENCE = 1 };

void rest_health_send(rest_req *req, int slot, const char *subject)
{
    rest_server *rs = req->rs;
    Statsync__HealthRequest hr = STATSYNC__HEALTH_REQUEST__INIT;
    uint8_t buf[16];
    size_t n = statsync__health_request__pack(&hr, buf);
    rest_req_send(req, slot, subject, buf, n, rs->gw->cfg.health_timeout_ms, rs->nats_health);
}

void rest_health_start(rest_req *req)
{
    if (!rest_req_wait(req, 2))
        return;
    rest_health_send(req, HEALTH_STATS, SS_SUBJ_HEALTH ".stats");
    rest_health_send(req, HEALTH_PRESENCE, SS_SUBJ_HEALTH ".presence");
}

Statsync__HealthReply *rest_health_reply(const rest_slot *s, bool *ok, const char **err)
{
    *ok = false;
    *err = s->err != SS_OK ? ss_err_code(s->err) : NULL;
    if (s->err != SS_OK)
        return NULL;
    Statsync__HealthReply *r = statsync__health_reply__unpack(NULL, s->len, s->data);
    *err = r == NULL ? "bad_reply" : NULL;
    *ok = r != NULL && (!r->has_ok || r->ok);
    return r;
}

void rest_health_note_stats(rest_server *rs, bool ok)
{
    atomic_store(&rs->stats_probe, ss_mono_ms() * 2 + (ok ? 1 : 0));
}

/* One probe's outcome as {"status":…, …}; *ok tells whether it passed.
 * *reply_out keeps the unpacked reply (caller frees) for its counters. */
static json_t *health__probe(const rest_slot *s, bool *ok, Statsync__HealthReply **reply_out)
{
    const char *err = NULL;
    Statsync__HealthReply *r = rest_health_reply(s, ok, &err);
    *reply_out = r;
    if (r == NULL)
        return json_pack("{s:s,s:s}", "status", "DEGRADED", "error", err);
    json_t *o = json_pack("{s:s}", "status", *ok ? "OK" : "DEGRADED");
    if (r->instance != NULL && r->instance[0] != '\0')
        json_object_set_new(o, "instance", json_string(r->instance));
    if (r->has_uptime_s)
        json_object_set_new(o, "uptime", json_integer(r->uptime_s));
    return o;
}

void rest_health_finish(rest_req *req)
{
    gateway *gw = req->rs->gw;
    bool nats_ok = ss_nats_connected(gw->nc);
    bool stats_ok, presence_ok;
    Statsync__HealthReply *sr, *pr;
    json_t *stats = health__probe(&req->slots[HEALTH_STATS], &stats_ok, &sr);
    json_t *presence = health__probe(&req->slots[HEALTH_PRESENCE], &presence_ok, &pr);
    rest_health_note_stats(req->rs, stats_ok); /* what /readyz reuses */
    if (sr != NULL && sr->has_total_users)
        json_object_set_new(stats, "totalUsers", json_integer((json_int_t)sr->total_users));
    if (pr != NULL && pr->has_connected_clients)
        json_object_set_new(presence, "connectedClients",
                            json_integer((json_int_t)pr->connected_clients));
    if (pr != NULL && pr->has_connected_users)
        json_object_set_new(presence, "connectedUsers",
                            json_integer((json_int_t)pr->connected_users));
    bool ok = nats_ok && stats_ok && presence_ok;
    json_int_t local_clients = (json_int_t)atomic_load(&gw->sockets_connected);
    json_int_t local_users = (json_int_t)atomic_load(&gw->users_connected);
    bool cluster = presence_ok && pr != NULL && pr->has_connected_clients &&
                   pr->has_connected_users;
    json_int_t clients = cluster ? (json_int_t)pr->connected_clients : local_clients;
    json_int_t users = cluster ? (json_int_t)pr->connected_users : local_users;
    char ts[SS_RFC3339_LEN];
    ss_rfc3339_format(ss_now_ms(), ts);
    json_t *body = json_pack(
        "{s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:{s:s,s:o,s:o}}", "status", ok ? "OK" : "DEGRADED",
        "timestamp", ts, "connectedClients", clients, "connectedUsers", users, "totalUsers",
        (json_int_t)(sr != NULL && sr->has_total_users ? sr->total_users : 0), "uptime",
        (json_int_t)((ss_now_ms() - gw->started_ms) / 1000), "gateway", gw->id, "services",
        "nats", nats_ok ? "OK" : "DEGRADED", "stats", stats, "presence", presence);
    json_object_set_new(body, "counts", json_string(cluster ? "cluster" : "local"));
    json_object_set_new(body, "local", json_pack("{s:I,s:I}", "connectedClients", local_clients,
                                                 "connectedUsers", local_users));
    if (sr != NULL)
        statsync__health_reply__free_unpacked(sr, NULL);
    if (pr != NULL)
        statsync__health_reply__free_unpacked(pr, NULL);
    rest_req_reply_json(req, ok ? 200 : 503, body);
}
