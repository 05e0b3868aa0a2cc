/* presence_client.c — see presence_client.h.
 *
 * Ordering: joins, leaves, snapshots and heartbeats are all published from
 * the lws service thread on the one NATS connection, and every
 * presence-service instance applies them in arrival order, so a snapshot
 * (built and published in one go) never interleaves with this gateway's
 * joins and leaves, and a heartbeat describes exactly what came before it.
 *
 * Counting: pc->count and pc->digest are the sessions in a room (joined and
 * not yet left), exactly what a snapshot lists, and their
 * ss_presence_digest; heartbeats carry both so that each instance can tell
 * that it lost a message and ask this gateway, alone, for a snapshot.
 *
 * presence:update: forwarded to a room only when its count differs from the
 * last one forwarded to that room, so a republish (an instance taking over
 * another's users, or starting) or a brief overlap of two publishers never
 * reaches a socket twice. */
#include "presence_client.h"

#include "nats_rpc.h"
#include "rooms_internal.h"

#include "ss_log.h"
#include "ss_metrics.h"
#include "ss_nats.h"
#include "ss_nats_subs.h"
#include "ss_presence_digest.h"
#include "ss_subjects.h"
#include "ss_time.h"
#include "statsync.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRESENCE_SNAPSHOT_PART 1000 /* sockets per snapshot message */
#define PRESENCE_PING_INFLIGHT 32   /* past it, a socket's pings are answered locally */

struct presence_client {
    rooms *r;
    gateway *gw;
    natsSubscription *sync_sub;
    ss_nats_subs subs;       /* sync_sub and the rooms' presence subscriptions */
    uint64_t count;          /* sessions in a room */
    uint64_t digest;         /* ss_presence_digest of them */
    int64_t heartbeat_ms;
    int64_t ping_timeout_ms;
    int64_t next_beat;       /* monotonic ms */
    uint64_t beat_seq;       /* of the last heartbeat sent */
    uint64_t snap_seq;       /* beat_seq when the last snapshot went out */
    uint64_t next_snapshot;
    int stopped;
};

typedef enum pc_task_kind { PC_SYNC, PC_PING, PC_UPDATE } pc_task_kind;

/* Any hand-over to the service thread. */
typedef struct pc_task {
    sio_task task;
    pc_task_kind kind;
    presence_client *pc;
    ss_err err;
    /* PC_SYNC: about our heartbeat after_seq (0: whatever we sent since) */
    uint64_t after_seq;
    char asker[64];
    /* PC_PING */
    uint64_t session_id;
    int64_t ack_id;
    json_t *ts;
    int64_t t0_ns;
    int has_pong;
    uint32_t devices; /* and PC_UPDATE */
    int64_t server_time;
    /* PC_UPDATE */
    char user_id[SS_USERID_MAX + 1];
    char origin[128]; /* "<gatewayId>/<socketId>" that caused it: not told */
    int republish;    /* the current count after a takeover, not a change */
    sio_buf *buf;
} pc_task;

static ss_histogram *h_ping_rtt;
static ss_counter *c_ping_local, *c_snapshots, *c_updates, *c_updates_same, *c_syncs_skipped;

static void pc__run(sio_server *s, sio_task *t);

static pc_task *pc__task(presence_client *pc, pc_task_kind kind)
{
    pc_task *t = calloc(1, sizeof(*t));
    if (t) {
        t->task.run = pc__run;
        t->kind = kind;
        t->pc = pc;
        t->ack_id = -1;
    }
    return t;
}

/* ---- membership ------------------------------------------------------------------ */

static void pc__membership(presence_client *pc, const char *subject, sio_session *ss,
                           const char *user_id)
{
    Statsync__PresenceSocket so = STATSYNC__PRESENCE_SOCKET__INIT;
    so.socket_id = ss->sock_id;
    so.user_id = (char *)user_id;
    Statsync__PresenceMembership m = STATSYNC__PRESENCE_MEMBERSHIP__INIT;
    m.gateway_id = pc->gw->id;
    m.socket = &so;
    ss_nats_publish_proto(pc->gw->nc, subject, &m.base, SS_LOG_DEBUG);
}

void presence_client_joined(presence_client *pc, sio_session *ss, const char *user_id)
{
    if (pc == NULL)
        return;
    pc->count++;
    pc->digest += ss_presence_digest_socket(ss->sock_id, user_id);
    pc__membership(pc, SS_SUBJ_PRESENCE_JOIN, ss, user_id);
}

void presence_client_left(presence_client *pc, sio_session *ss, const char *user_id)
{
    if (pc == NULL)
        return;
    if (pc->count > 0)
        pc->count--;
    pc->digest -= ss_presence_digest_socket(ss->sock_id, user_id);
    pc__membership(pc, SS_SUBJ_PRESENCE_LEAVE, ss, user_id);
}

/* A snapshot being built: sockets go out in parts of PRESENCE_SNAPSHOT_PART. */
typedef struct pc_snap {
    presence_client *pc;
    Statsync__PresenceSnapshot *m;
    Statsync__PresenceSocket *socks;
    Statsync__PresenceSocket **ptrs;
    size_t n;
    uint64_t total;
    uint64_t digest;
} pc_snap;

static void pc__snapshot_add(void *arg, const sio_room *r, sio_session *ss)
{
    pc_snap *sn = arg;
    statsync__presence_socket__init(&sn->socks[sn->n]);
    sn->socks[sn->n].socket_id = ss->sock_id;
    sn->socks[sn->n].user_id = (char *)r->user_id;
    sn->ptrs[sn->n] = &sn->socks[sn->n];
    sn->n++;
    sn->total++;
    sn->digest += ss_presence_digest_socket(ss->sock_id, r->user_id);
    if (sn->n == PRESENCE_SNAPSHOT_PART) {
        sn->m->n_sockets = sn->n;
        sn->m->last = 0;
        ss_nats_publish_proto(sn->pc->gw->nc, SS_SUBJ_PRESENCE_SNAPSHOT, &sn->m->base,
                              SS_LOG_DEBUG);
        sn->m->part++;
        sn->n = 0;
    }
}

/* Publishes every session in a room, in parts (service thread). */
static void pc__snapshot(presence_client *pc, const char *why)
{
    Statsync__PresenceSocket *socks = calloc(PRESENCE_SNAPSHOT_PART, sizeof(*socks));
    Statsync__PresenceSocket **ptrs = calloc(PRESENCE_SNAPSHOT_PART, sizeof(*ptrs));
    if (socks == NULL || ptrs == NULL)
        goto out;
    Statsync__PresenceSnapshot m = STATSYNC__PRESENCE_SNAPSHOT__INIT;
    m.gateway_id = pc->gw->id;
    m.snapshot_id = ++pc->next_snapshot;
    m.has_part = 1;
    m.has_last = 1;
    m.has_interval_ms = 1;
    m.interval_ms = (uint32_t)pc->heartbeat_ms;
    m.sockets = ptrs;
    pc_snap sn = {.pc = pc, .m = &m, .socks = socks, .ptrs = ptrs};
    fanout_each(pc->r->fanout, pc__snapshot_add, &sn);
    size_t n = sn.n;
    uint64_t total = sn.total;
    m.n_sockets = n;
    m.last = 1;
    ss_nats_publish_proto(pc->gw->nc, SS_SUBJ_PRESENCE_SNAPSHOT, &m.base, SS_LOG_DEBUG);
    pc->count = total;
    pc->digest = sn.digest;
    pc->snap_seq = pc->beat_seq;
    ss_counter_add(c_snapshots, 1);
    ss_log(SS_LOG_INFO, "presence snapshot sent", "{s:s,s:I,s:i}", "why", why, "sockets",
           (json_int_t)total, "parts", (int)m.part + 1);
out:
    free(socks);
    free(ptrs);
}

/* ---- heartbeat and sync ------------------------------------------------------------- */

/* Publishes the heartbeat (an event: every presence instance gets it). */
void presence_client_tick(presence_client *pc, int64_t now)
{
    if (pc == NULL || pc->stopped || now < pc->next_beat)
        return;
    pc->next_beat = now + pc->heartbeat_ms;
    Statsync__PresenceHeartbeat hb = STATSYNC__PRESENCE_HEARTBEAT__INIT;
    hb.gateway_id = pc->gw->id;
    hb.has_sockets = 1;
    hb.sockets = pc->count;
    hb.has_interval_ms = 1;
    hb.interval_ms = (uint32_t)pc->heartbeat_ms;
    hb.has_digest = 1;
    hb.digest = pc->digest;
    hb.has_seq = 1;
    hb.seq = ++pc->beat_seq;
    ss_nats_publish_proto(pc->gw->nc, SS_SUBJ_PRESENCE_HEARTBEAT, &hb.base, SS_LOG_DEBUG);
}

/* A sync request reached the service thread: a snapshot, unless it asked
 * about a heartbeat that a snapshot already followed (another instance's
 * request about the same heartbeat: that snapshot reached every instance). */
static void pc__on_sync_run(presence_client *pc, pc_task *t)
{
    if (t->after_seq != 0 && t->after_seq <= pc->snap_seq) {
        ss_counter_add(c_syncs_skipped, 1);
        return;
    }
    pc__snapshot(pc, t->after_seq != 0 ? "a presence instance's picture differs"
                                       : "sync requested");
}

/* statsync.presence.sync (cnats thread): ours when it names no gateway or us. */
static void pc__on_sync(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    presence_client *pc = closure;
    Statsync__PresenceSyncRequest *r = statsync__presence_sync_request__unpack(
        NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));
    bool ours = r != NULL && (r->gateway_id == NULL || r->gateway_id[0] == '\0' ||
                              strcmp(r->gateway_id, pc->gw->id) == 0);
    pc_task *t = ours ? pc__task(pc, PC_SYNC) : NULL;
    if (t) {
        t->after_seq = r->gateway_id != NULL && r->has_after_seq ? r->after_seq : 0;
        snprintf(t->asker, sizeof(t->asker), "%s", r->instance ? r->instance : "");
        sio_server_post(pc->r->s, &t->task);
    }
    if (r)
        statsync__presence_sync_request__free_unpacked(r, NULL);
    natsMsg_Destroy(msg);
}

/* ---- ping ----------------------------------------------------------------------------- */

static void pc__ping_done(void *arg, ss_err err, const uint8_t *data, size_t len)
{
    pc_task *t = arg;
    t->err = err;
    if (err == SS_OK) {
        Statsync__PresencePong *p = statsync__presence_pong__unpack(NULL, len, data);
        if (p != NULL) {
            t->has_pong = 1;
            t->devices = p->has_devices ? p->devices : 0;
            t->server_time = p->has_server_time_ms ? p->server_time_ms : ss_now_ms();
            statsync__presence_pong__free_unpacked(p, NULL);
        }
    }
    sio_server_post(t->pc->r->s, &t->task);
}

/* Emits presence:pong (and the ack). devices/server_time from the service,
 * or local knowledge when has_pong is 0. */
static void pc__pong(sio_server *s, sio_session *ss, const json_t *ts, int64_t ack_id,
                     int has_pong, uint32_t devices, int64_t server_time)
{
    if (!has_pong) {
        devices = ss->room ? ss->room->count : 0;
        server_time = ss_now_ms();
        ss_counter_add(c_ping_local, 1);
    }
    json_t *pong = json_pack("{s:s,s:O,s:I,s:I}", "userId", ss->room ? ss->room->user_id : "",
                             "ts", ts ? ts : json_null(), "serverTime", (json_int_t)server_time,
                             "devices", (json_int_t)devices);
    if (pong == NULL)
        return;
    size_t len;
    char *m = sio_encode_event("presence:pong", pong, SIO_HEADROOM, &len);
    sio_server_send_mem(s, ss, m, len, SIO_BUF_PLAIN);
    if (ack_id >= 0 && !ss->closing) {
        m = sio_encode_ack(ack_id, pong, SIO_HEADROOM, &len);
        sio_server_send_mem(s, ss, m, len, SIO_BUF_PLAIN);
    }
    json_decref(pong);
}

void presence_client_ping(presence_client *pc, sio_session *ss, json_t *ts, int64_t ack_id)
{
    sio_server *s = pc->r->s;
    if (ss->room == NULL || ss->inflight >= PRESENCE_PING_INFLIGHT || pc->stopped) {
        pc__pong(s, ss, ts, ack_id, 0, 0, 0);
        return;
    }
    Statsync__PresenceSocket so = STATSYNC__PRESENCE_SOCKET__INIT;
    so.socket_id = ss->sock_id;
    so.user_id = ss->room->user_id;
    Statsync__PresencePing p = STATSYNC__PRESENCE_PING__INIT;
    p.gateway_id = pc->gw->id;
    p.socket = &so;
    uint8_t buf[256];
    pc_task *t = statsync__presence_ping__get_packed_size(&p) <= sizeof(buf)
                     ? pc__task(pc, PC_PING)
                     : NULL;
    if (t == NULL) {
        pc__pong(s, ss, ts, ack_id, 0, 0, 0);
        return;
    }
    size_t n = statsync__presence_ping__pack(&p, buf);
    t->session_id = ss->id;
    t->ack_id = ack_id;
    t->ts = ts ? json_deep_copy(ts) : NULL;
    t->t0_ns = ss_mono_ns();
    ss->inflight++;
    if (nats_rpc_request(pc->gw->rpc, SS_SUBJ_PRESENCE_PING, buf, n, pc->ping_timeout_ms,
                         pc__ping_done, t) != SS_OK) {
        ss->inflight--;
        json_decref(t->ts);
        free(t);
        pc__pong(s, ss, ts, ack_id, 0, 0, 0);
    }
}

static void pc__on_ping(sio_server *s, pc_task *t)
{
    sio_session *ss = sio_server_find_id(s, t->session_id);
    if (ss == NULL)
        return;
    ss->inflight--;
    if (t->has_pong)
        ss_histogram_observe(h_ping_rtt, ss_mono_ns() - t->t0_ns);
    pc__pong(s, ss, t->ts, t->ack_id, t->has_pong, t->devices, t->server_time);
}

/* ---- presence:update ----------------------------------------------------------------- */

void presence_client_on_update(presence_client *pc, natsMsg *msg)
{
    if (pc == NULL) { /* no presence client: nothing to forward */
        natsMsg_Destroy(msg);
        return;
    }
    const char *subject = natsMsg_GetSubject(msg);
    pc_task *t = NULL;
    Statsync__PresenceUpdate *u = statsync__presence_update__unpack(
        NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));
    const char *kind = u ? ss_subject_user_event_kind(subject, u->user_id) : NULL;
    if (kind == NULL || strcmp(kind, SS_USER_EV_PRESENCE) != 0) {
        ss_log(SS_LOG_WARN, "presence update dropped: undecodable or for another user", "{s:s}",
               "subject", subject);
        goto out;
    }
    const char *uid = u->user_id;
    json_t *ev = json_pack("{s:s,s:b,s:I}", "userId", uid, "online",
                           u->has_online ? u->online : u->devices > 0, "devices",
                           (json_int_t)(u->has_devices ? u->devices : 0));
    size_t len = 0;
    char *m = ev ? sio_encode_event("presence:update", ev, SIO_HEADROOM, &len) : NULL;
    json_decref(ev);
    sio_buf *b = sio_buf_wrap(m, len, SIO_BUF_PLAIN);
    if (b == NULL || (t = pc__task(pc, PC_UPDATE)) == NULL) {
        sio_buf_unref(b);
        goto out;
    }
    t->buf = b;
    t->devices = u->has_devices ? u->devices : 0;
    t->republish = u->has_republish && u->republish;
    snprintf(t->user_id, sizeof(t->user_id), "%s", uid);
    snprintf(t->origin, sizeof(t->origin), "%s", u->origin ? u->origin : "");
    sio_server_post(pc->r->s, &t->task);
out:
    if (u)
        statsync__presence_update__free_unpacked(u, NULL);
    natsMsg_Destroy(msg);
}

static sio_buf *pc__update_buf(void *arg)
{
    return sio_buf_ref(((pc_task *)arg)->buf);
}

/* Forwarded when the count differs from the last one forwarded to the room;
 * the socket whose join/leave caused the change is not told (like
 * user:update). A republish to a room never told a count (its join's update
 * was never published: no instance was ready) only records it: its sockets
 * are the joiners, who are never told their own join. */
static void pc__on_update_deliver(pc_task *t)
{
    sio_room *r = fanout_room(t->pc->r->fanout, t->user_id);
    if (r == NULL)
        return;
    if (r->presence_devices == (int64_t)t->devices ||
        (t->republish && r->presence_devices < 0)) {
        r->presence_devices = (int64_t)t->devices;
        ss_counter_add(c_updates_same, 1);
        return;
    }
    r->presence_devices = (int64_t)t->devices;
    fanout_send(t->pc->r->fanout, t->user_id, t->origin, NULL, pc__update_buf, t);
    ss_counter_add(c_updates, 1);
}

/* ---- hand-over ---------------------------------------------------------------------- */

static void pc__run(sio_server *s, sio_task *task)
{
    pc_task *t = (pc_task *)task;
    if (s != NULL && !t->pc->stopped) {
        switch (t->kind) {
        case PC_SYNC:
            pc__on_sync_run(t->pc, t);
            break;
        case PC_PING:
            pc__on_ping(s, t);
            break;
        case PC_UPDATE:
            pc__on_update_deliver(t);
            break;
        }
    }
    json_decref(t->ts);
    sio_buf_unref(t->buf);
    free(t);
}

int presence_client_create(presence_client **out, rooms *r)
{
    const ss_metric_def m[] = {
        {&h_ping_rtt, SS_METRIC_HISTOGRAM, "statsync_presence_ping_rtt_seconds",
         "presence:ping round trip to the presence-service", NULL},
        {&c_ping_local, SS_METRIC_COUNTER, "statsync_presence_ping_local_total",
         "presence:ping answered from local counts (service away)", NULL},
        {&c_snapshots, SS_METRIC_COUNTER, "statsync_presence_snapshots_sent_total",
         "membership snapshots sent to the presence-service", NULL},
        {&c_updates, SS_METRIC_COUNTER, "statsync_presence_updates_delivered_total",
         "presence:update events delivered to local rooms", NULL},
        {&c_updates_same, SS_METRIC_COUNTER, "statsync_presence_updates_unchanged_total",
         "presence updates not forwarded: the room was last told the same count", NULL},
        {&c_syncs_skipped, SS_METRIC_COUNTER, "statsync_presence_syncs_already_answered_total",
         "snapshot requests about a heartbeat that a snapshot already followed", NULL},
    };
    ss_metrics_register(m, sizeof(m) / sizeof(m[0]));
    presence_client *pc = calloc(1, sizeof(*pc));
    if (pc == NULL)
        return -1;
    pc->r = r;
    pc->gw = r->gw;
    pc->heartbeat_ms = r->gw->cfg.presence_heartbeat_ms > 0 ? r->gw->cfg.presence_heartbeat_ms
                                                            : 5000;
    pc->ping_timeout_ms =
        r->gw->cfg.presence_ping_timeout_ms > 0 ? r->gw->cfg.presence_ping_timeout_ms : 250;
    pc->next_snapshot = (uint64_t)ss_now_ms() << 8;
    pc->next_beat = 0; /* the first tick beats */
    ss_nats_subs_init(&pc->subs);
    natsStatus st = ss_nats_subscribe(&pc->subs, &pc->sync_sub, pc->gw->nc, SS_SUBJ_PRESENCE_SYNC,
                                      NULL, pc__on_sync, pc);
    if (st != NATS_OK) {
        ss_log(SS_LOG_ERROR, "presence sync subscription failed", "{s:s}", "error",
               natsStatus_GetText(st));
        ss_nats_subs_destroy(&pc->subs);
        free(pc);
        return -1;
    }
    *out = pc;
    return 0;
}

void presence_client_stop(presence_client *pc)
{
    if (pc == NULL || pc->stopped)
        return;
    pc->stopped = 1;
    ss_nats_unsubscribe(&pc->sync_sub);
}

void presence_client_destroy(presence_client *pc)
{
    if (pc == NULL)
        return;
    presence_client_stop(pc);
    /* the handlers use pc; the rooms' subscriptions were dropped by fanout_stop() */
    if (!ss_nats_subs_wait(&pc->subs, 10000)) {
        ss_log(SS_LOG_ERROR, "presence subscriptions not released by cnats; keeping the client",
               NULL);
        return;
    }
    ss_nats_subs_destroy(&pc->subs);
    free(pc);
}
