/* rest_health.c — GET /health: probes the stats-services and the
 * presence-service in parallel (statsync.health.<service>, bounded by
 * cfg.health_timeout_ms) and answers
 *
 *   {"status":"OK"|"DEGRADED","timestamp":"…Z","connectedClients":n,
 *    "connectedUsers":n,"totalUsers":n,"uptime":s,"gateway":"<id>",
 *    "services":{"nats":"OK"|"DEGRADED","stats":{…},"presence":{…}}}
 *
 * Every stats-service instance answers the probe (scatter-gather): the
 * gateway waits until the instances' partitions cover all of
 * STATSYNC_PARTITION_COUNT or the timeout, sums totalUsers, lists the
 * instances, and lists in services.stats.partitionsWithoutOwner every
 * partition no instance serves (then DEGRADED).
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

#include "ss_partition.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { HEALTH_STATS = 0, HEALTH_PRESENCE = 1 };

/* Most stats-service instances one /health hears from. */
#define HEALTH_MAX_INSTANCES 256

/* The partitions the replies cover (of the gateway's count) into *set;
 * false when an instance counts partitions differently. */
static bool health__cover(rest_slot *s, const nats_rpc_part *parts, size_t n,
                          ss_partition_set *set, Statsync__HealthReply *sum, char *names,
                          size_t names_cap)
{
    uint32_t count = (uint32_t)s->req->rs->gw->cfg.partition_count;
    bool same = true;
    memset(set, 0, sizeof(*set));
    set->count = count;
    for (size_t i = 0; i < n; i++) {
        Statsync__HealthReply *r = statsync__health_reply__unpack(NULL, parts[i].len, parts[i].data);
        if (r == NULL)
            continue;
        same = same && (!r->has_partition_count || r->partition_count == count);
        for (size_t k = 0; k < r->n_partitions; k++)
            ss_partition_set_add(set, r->partitions[k]);
        if (sum != NULL) {
            sum->ok = sum->ok && (!r->has_ok || r->ok);
            sum->total_users += r->has_total_users ? r->total_users : 0;
            if (r->has_uptime_s && (!sum->has_uptime_s || r->uptime_s < sum->uptime_s))
                sum->has_uptime_s = 1, sum->uptime_s = r->uptime_s;
            size_t w = strlen(names);
            snprintf(names + w, names_cap - w, "%s%s", w ? "," : "",
                     r->instance ? r->instance : "?");
        }
        statsync__health_reply__free_unpacked(r, NULL);
    }
    return same;
}

static bool health__enough(void *slot, const nats_rpc_part *parts, size_t n)
{
    ss_partition_set set;
    health__cover(slot, parts, n, &set, NULL, NULL, 0);
    return ss_partition_set_size(&set) == set.count;
}

/* One HealthReply for every instance: ok only when all are and every
 * partition is covered; instances comma-joined; partitions the union. */
static uint8_t *health__merge(rest_slot *s, const nats_rpc_part *parts, size_t n, size_t *len)
{
    Statsync__HealthReply sum = STATSYNC__HEALTH_REPLY__INIT;
    static const size_t cap = HEALTH_MAX_INSTANCES * 104;
    char *names = calloc(1, cap);
    ss_partition_set set;
    uint32_t owned[SS_PARTITION_COUNT_MAX];
    sum.service = "stats";
    sum.has_ok = sum.has_total_users = sum.has_partition_count = 1;
    sum.ok = 1;
    if (names == NULL)
        return NULL;
    bool same = health__cover(s, parts, n, &set, &sum, names, cap);
    sum.ok = sum.ok && same && ss_partition_set_size(&set) == set.count;
    sum.instance = names;
    sum.partition_count = same ? set.count : 0; /* 0: the instances disagree with us */
    for (uint32_t p = 0; p < set.count; p++)
        if (ss_partition_set_has(&set, p))
            owned[sum.n_partitions++] = p;
    sum.partitions = owned;
    *len = statsync__health_reply__get_packed_size(&sum);
    uint8_t *out = malloc(*len ? *len : 1);
    if (out != NULL)
        statsync__health_reply__pack(&sum, out);
    free(names);
    return out;
}

static const rest_gather health__gather = {health__enough, health__merge, HEALTH_MAX_INSTANCES};

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
    rest_server *rs = req->rs;
    Statsync__HealthRequest hr = STATSYNC__HEALTH_REQUEST__INIT;
    uint8_t buf[16];
    size_t n = statsync__health_request__pack(&hr, buf);
    rest_req_gather(req, HEALTH_STATS, SS_SUBJ_HEALTH ".stats", buf, n,
                    rs->gw->cfg.health_timeout_ms, rs->nats_health, &health__gather);
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

/* The stats-services' partitions into stats: partitionCount,
 * partitionsWithoutOwner (every one when the instances count differently:
 * "partitionCountMismatch"), instances. */
static void health__partitions(json_t *stats, const Statsync__HealthReply *sr, uint32_t count)
{
    ss_partition_set set;
    memset(&set, 0, sizeof(set));
    set.count = count;
    for (size_t k = 0; k < sr->n_partitions; k++)
        ss_partition_set_add(&set, sr->partitions[k]);
    json_t *missing = json_array();
    for (uint32_t p = 0; p < count; p++)
        if (!ss_partition_set_has(&set, p) || sr->partition_count != count)
            json_array_append_new(missing, json_integer(p));
    json_object_set_new(stats, "partitionCount", json_integer(count));
    json_object_set_new(stats, "partitionsWithoutOwner", missing);
    if (sr->has_partition_count && sr->partition_count != count)
        json_object_set_new(stats, "partitionCountMismatch", json_true());
    json_t *inst = json_array();
    for (const char *p = sr->instance; p != NULL && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        json_array_append_new(inst, json_stringn(p, l));
        p = c ? c + 1 : p + l;
    }
    json_object_set_new(stats, "instances", inst);
    json_object_del(stats, "instance");
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
    if (sr != NULL)
        health__partitions(stats, sr, (uint32_t)gw->cfg.partition_count);
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
