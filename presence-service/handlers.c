/* handlers.c — NATS glue of the presence-service for the gateways'
 * subjects: decode, apply to the registry (registry.c holds every rule),
 * answer, publish changes. The instances among themselves: cluster.c.
 *
 * Threads: every presence__on_* runs on the single cnats delivery thread
 * (see presence.h); presence_sweep, presence_subscribe and presence_serve on
 * the main thread. All take p->mu around the registry. presence_on_change
 * runs inside a registry call (mu held) and only publishes (cnats buffers;
 * never blocks on the network). */
#include "presence.h"

#include "ss_log.h"
#include "ss_nats.h"
#include "ss_metrics.h"
#include "ss_subjects.h"
#include "ss_time.h"
#include "ss_userid.h"
#include "statsync.pb-c.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRESENCE_SNAPSHOT_MAX 8192 /* most sockets read from one snapshot part */

static ss_counter *c_joins, *c_leaves, *c_pings, *c_heartbeats, *c_snapshots, *c_updates;
static ss_counter *c_exp_gateways, *c_exp_sockets, *c_refused, *c_bad, *c_syncs;

/* Every counter: where its handle goes, its name and help. */
static const struct presence__counter {
    ss_counter **c;
    const char *name, *help;
} presence__counters[] = {
    {&c_joins, "statsync_presence_joins_total", "socket joins received"},
    {&c_leaves, "statsync_presence_leaves_total", "socket leaves received"},
    {&c_pings, "statsync_presence_pings_total", "presence:ping requests answered"},
    {&c_heartbeats, "statsync_presence_heartbeats_total", "gateway heartbeats received"},
    {&c_snapshots, "statsync_presence_snapshot_parts_total", "gateway snapshot parts received"},
    {&c_updates, "statsync_presence_updates_total",
     "presence updates published (a user's device count changed)"},
    {&c_exp_gateways, "statsync_presence_expired_gateways_total",
     "gateways dropped after missing heartbeats"},
    {&c_exp_sockets, "statsync_presence_expired_sockets_total",
     "sockets dropped by expiry (their gateway's included)"},
    {&c_refused, "statsync_presence_refused_total", "sockets refused: registry bound reached"},
    {&c_bad, "statsync_presence_bad_messages_total",
     "undecodable or invalid presence messages dropped"},
    {&c_syncs, "statsync_presence_sync_requests_total",
     "snapshots asked for (every gateway at start, or one whose heartbeat differed)"},
};

static void presence__metrics_init(void)
{
    for (size_t i = 0; i < sizeof(presence__counters) / sizeof(presence__counters[0]); i++)
        *presence__counters[i].c =
            ss_counter_get(presence__counters[i].name, presence__counters[i].help, NULL);
}

static int presence__id_ok(const char *s)
{
    return s != NULL && s[0] != '\0' && strlen(s) <= REGISTRY_ID_MAX;
}

static int presence__socket_ok(const char *gw, const Statsync__PresenceSocket *s)
{
    return presence__id_ok(gw) && s != NULL && presence__id_ok(s->socket_id) &&
           ss_userid_valid_cstr(s->user_id);
}

/* A request's reply subject, or NULL when it has none. */
static const char *presence__reply_to(natsMsg *msg)
{
    const char *reply = natsMsg_GetReply(msg);
    return reply != NULL && reply[0] != '\0' ? reply : NULL;
}

void presence_publish_update(presence *p, const char *user_id, uint32_t devices,
                             const char *origin, bool republish)
{
    if (!ss_userid_valid_cstr(user_id))
        return;
    Statsync__PresenceUpdate u = STATSYNC__PRESENCE_UPDATE__INIT;
    u.user_id = (char *)user_id;
    u.has_online = 1;
    u.online = devices > 0;
    u.has_devices = 1;
    u.devices = devices;
    u.origin = (char *)origin;
    u.has_republish = republish;
    u.republish = republish;
    char subject[SS_SUBJECT_MAX];
    if (!ss_subject_user_event(subject, sizeof(subject), user_id, SS_USER_EV_PRESENCE))
        return;
    ss_nats_publish_proto(p->core.nc, subject, &u.base, SS_LOG_DEBUG);
    ss_counter_add(c_updates, 1);
}

/* Exactly one instance publishes a user's update: the owner among the ready
 * instances (peers.h); a syncing instance owns nobody. */
void presence_on_change(void *arg, const char *user_id, uint32_t devices, const char *gw,
                        const char *sock)
{
    presence *p = arg;
    if (!p->ready || !peers_owns(p->peers, user_id))
        return;
    char origin[2 * REGISTRY_ID_MAX + 2] = "";
    if (gw && sock)
        snprintf(origin, sizeof(origin), "%s/%s", gw, sock);
    presence_publish_update(p, user_id, devices, origin, false);
}

/* ---- one handler per subject: the decoded message in, false when it is
 * invalid (then counted and logged by presence__on_msg) ---- */

typedef bool (*presence__handler)(presence *p, natsMsg *msg, const ProtobufCMessage *base);

/* statsync.presence.join / .leave */
static bool presence__membership(presence *p, const ProtobufCMessage *base, bool join)
{
    const Statsync__PresenceMembership *m = (const Statsync__PresenceMembership *)base;
    if (!presence__socket_ok(m->gateway_id, m->socket))
        return false;
    pthread_mutex_lock(&p->mu);
    registry_rc rc = join ? registry_join(p->reg, m->gateway_id, m->socket->socket_id,
                                          m->socket->user_id, ss_mono_ms())
                          : registry_leave(p->reg, m->gateway_id, m->socket->socket_id,
                                           ss_mono_ms());
    pthread_mutex_unlock(&p->mu);
    ss_counter_add(join ? c_joins : c_leaves, 1);
    if (rc == REGISTRY_FULL) {
        ss_counter_add(c_refused, 1);
        ss_log(SS_LOG_WARN, "presence registry full: socket not counted", "{s:s,s:s}", "gateway",
               m->gateway_id, "user", m->socket->user_id);
    }
    return true;
}

static bool presence__on_join(presence *p, natsMsg *msg, const ProtobufCMessage *base)
{
    (void)msg;
    return presence__membership(p, base, true);
}

static bool presence__on_leave(presence *p, natsMsg *msg, const ProtobufCMessage *base)
{
    (void)msg;
    return presence__membership(p, base, false);
}

/* statsync.presence.ping -> PresencePong */
static bool presence__on_ping(presence *p, natsMsg *msg, const ProtobufCMessage *base)
{
    const Statsync__PresencePing *m = (const Statsync__PresencePing *)base;
    const char *reply = natsMsg_GetReply(msg);
    if (!presence__socket_ok(m->gateway_id, m->socket) || reply == NULL)
        return false;
    uint32_t devices = 0;
    pthread_mutex_lock(&p->mu);
    registry_rc rc = registry_ping(p->reg, m->gateway_id, m->socket->socket_id,
                                   m->socket->user_id, ss_mono_ms(), &devices);
    pthread_mutex_unlock(&p->mu);
    if (rc == REGISTRY_FULL)
        ss_counter_add(c_refused, 1);
    Statsync__PresencePong pong = STATSYNC__PRESENCE_PONG__INIT;
    pong.user_id = m->socket->user_id;
    pong.has_server_time_ms = 1;
    pong.server_time_ms = ss_now_ms();
    pong.has_devices = 1;
    pong.devices = devices;
    ss_nats_publish_proto(p->core.nc, reply, &pong.base, SS_LOG_DEBUG);
    ss_counter_add(c_pings, 1);
    return true;
}

/* statsync.presence.heartbeat (an event): when the gateway's (sockets,
 * digest) is not our picture of it, ask that gateway alone for a snapshot. */
static bool presence__on_heartbeat(presence *p, natsMsg *msg, const ProtobufCMessage *base)
{
    (void)msg;
    const Statsync__PresenceHeartbeat *m = (const Statsync__PresenceHeartbeat *)base;
    if (!presence__id_ok(m->gateway_id))
        return false;
    pthread_mutex_lock(&p->mu);
    int differs = registry_heartbeat(p->reg, m->gateway_id, m->has_sockets ? m->sockets : 0,
                                     m->has_digest ? &m->digest : NULL,
                                     m->has_interval_ms ? (int64_t)m->interval_ms : 0,
                                     ss_mono_ms());
    uint64_t ours = registry_gateway_sockets(p->reg, m->gateway_id);
    pthread_mutex_unlock(&p->mu);
    ss_counter_add(c_heartbeats, 1);
    if (differs == 1) {
        ss_log(SS_LOG_INFO, "gateway picture differs: asking it for a snapshot",
               "{s:s,s:I,s:I,s:I}", "gateway", m->gateway_id, "theirs", (json_int_t)m->sockets,
               "ours", (json_int_t)ours, "seq", (json_int_t)m->seq);
        presence_request_sync(p, m->gateway_id, m->has_seq ? m->seq : 0);
    }
    return true;
}

/* The valid sockets of a snapshot part, into refs (n_sockets entries). */
static size_t presence__snapshot_refs(const Statsync__PresenceSnapshot *m,
                                      registry_sock_ref *refs)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_sockets; i++) {
        if (!presence__socket_ok(m->gateway_id, m->sockets[i]))
            continue;
        refs[n].sock = m->sockets[i]->socket_id;
        refs[n].user = m->sockets[i]->user_id;
        n++;
    }
    return n;
}

/* statsync.presence.snapshot */
static bool presence__on_snapshot(presence *p, natsMsg *msg, const ProtobufCMessage *base)
{
    (void)msg;
    const Statsync__PresenceSnapshot *m = (const Statsync__PresenceSnapshot *)base;
    if (!presence__id_ok(m->gateway_id) || m->n_sockets > PRESENCE_SNAPSHOT_MAX)
        return false;
    registry_sock_ref *refs = calloc(m->n_sockets ? m->n_sockets : 1, sizeof(*refs));
    if (refs == NULL)
        return true; /* not the message's fault */
    size_t n = presence__snapshot_refs(m, refs);
    bool last = m->has_last && m->last;
    pthread_mutex_lock(&p->mu);
    registry_rc rc = registry_snapshot(p->reg, m->gateway_id, m->snapshot_id,
                                       m->has_part ? m->part : 0, last, refs, n,
                                       m->has_interval_ms ? (int64_t)m->interval_ms : 0,
                                       ss_mono_ms());
    uint64_t now_count = registry_gateway_sockets(p->reg, m->gateway_id);
    pthread_mutex_unlock(&p->mu);
    free(refs);
    ss_counter_add(c_snapshots, 1);
    if (rc == REGISTRY_FULL)
        ss_counter_add(c_refused, 1);
    if (last)
        ss_log(SS_LOG_INFO, "gateway snapshot applied", "{s:s,s:I,s:i}", "gateway",
               m->gateway_id, "sockets", (json_int_t)now_count, "parts",
               (int)(m->has_part ? m->part + 1 : 1));
    return true;
}

/* statsync.health.presence -> HealthReply with the cluster-wide counts (the
 * request carries nothing we read: base is NULL) */
static bool presence__on_health(presence *p, natsMsg *msg, const ProtobufCMessage *base)
{
    (void)base;
    const char *reply = presence__reply_to(msg);
    if (reply == NULL)
        return true;
    pthread_mutex_lock(&p->mu);
    registry_counts c = registry_get_counts(p->reg);
    pthread_mutex_unlock(&p->mu);
    Statsync__HealthReply r = STATSYNC__HEALTH_REPLY__INIT;
    ss_service_health_reply(&p->core, "presence", p->instance, !atomic_load(&p->stopping), &r);
    r.has_connected_clients = 1;
    r.connected_clients = c.sockets;
    r.has_connected_users = 1;
    r.connected_users = c.users;
    ss_nats_publish_proto(p->core.nc, reply, &r.base, SS_LOG_DEBUG);
    return true;
}

/* statsync.presence.instance: another instance's (or our own) word */
static bool presence__on_instance(presence *p, natsMsg *msg, const ProtobufCMessage *base)
{
    (void)msg;
    presence_on_instance(p, (const Statsync__PresenceInstance *)base);
    return true;
}

/* ---- subscriptions ---- */

struct presence_route {
    const char *subject;
    const char *queue; /* NULL: every instance gets every message, always;
                        * else: one ready instance answers (presence_serve) */
    const ProtobufCMessageDescriptor *type; /* of the payload; NULL: not decoded */
    presence__handler fn;
};

/* Events: every instance keeps the whole picture (no queue group).
 * Requests: any one ready instance answers (queue group). */
static const struct presence_route presence__routes[] = {
    {SS_SUBJ_PRESENCE_JOIN, NULL, &statsync__presence_membership__descriptor, presence__on_join},
    {SS_SUBJ_PRESENCE_LEAVE, NULL, &statsync__presence_membership__descriptor,
     presence__on_leave},
    {SS_SUBJ_PRESENCE_SNAPSHOT, NULL, &statsync__presence_snapshot__descriptor,
     presence__on_snapshot},
    {SS_SUBJ_PRESENCE_HEARTBEAT, NULL, &statsync__presence_heartbeat__descriptor,
     presence__on_heartbeat},
    {SS_SUBJ_PRESENCE_INSTANCE, NULL, &statsync__presence_instance__descriptor,
     presence__on_instance},
    {SS_SUBJ_PRESENCE_PING, SS_QUEUE_PRESENCE, &statsync__presence_ping__descriptor,
     presence__on_ping},
    {SS_SUBJ_HEALTH ".presence", SS_QUEUE_PRESENCE, NULL, presence__on_health},
};
_Static_assert(SS_COUNT(presence__routes) <= PRESENCE_ROUTES, "presence.h: PRESENCE_ROUTES");

/* Every subscription's callback (the one delivery thread): decode as the
 * route says, hand over, count what is undecodable or invalid, free. */
static void presence__on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
                             void *closure)
{
    (void)nc;
    (void)sub;
    const presence_sub *ps = closure;
    const struct presence_route *route = ps->route;
    ProtobufCMessage *m = route->type != NULL ? ss_nats_unpack(msg, route->type) : NULL;
    if ((route->type != NULL && m == NULL) || !route->fn(ps->p, msg, m)) {
        ss_counter_add(c_bad, 1);
        ss_log(SS_LOG_WARN, "presence message dropped: undecodable or invalid", "{s:s}",
               "subject", natsMsg_GetSubject(msg));
    }
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
    natsMsg_Destroy(msg);
}

static int presence__sub(presence *p, size_t i)
{
    presence_sub *ps = &p->subs[i];
    if (ps->sub != NULL)
        return 0;
    ps->p = p;
    ps->route = &presence__routes[i];
    natsStatus s = ss_nats_subscribe(&p->sub_group, &ps->sub, p->core.nc, ps->route->subject,
                                     ps->route->queue, presence__on_msg, ps);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(ps->sub, 1 << 20, 512 * 1024 * 1024);
    if (s != NATS_OK) {
        ss_log(SS_LOG_ERROR, "nats subscribe failed", "{s:s,s:s}", "subject",
               ps->route->subject, "error", natsStatus_GetText(s));
        return -1;
    }
    return 0;
}

int presence_subscribe(presence *p)
{
    presence__metrics_init();
    for (size_t i = 0; i < SS_COUNT(presence__routes); i++)
        if (presence__routes[i].queue == NULL && presence__sub(p, i) != 0)
            return -1;
    atomic_store(&p->subscribed, true);
    return 0;
}

int presence_serve(presence *p, bool on)
{
    int rc = 0;
    for (size_t i = 0; i < SS_COUNT(presence__routes); i++) {
        if (presence__routes[i].queue == NULL)
            continue;
        if (on && presence__sub(p, i) != 0)
            rc = -1;
        if (!on)
            ss_nats_unsubscribe(&p->subs[i].sub); /* its handler may run once more: harmless */
    }
    atomic_store(&p->serving, on && rc == 0);
    return rc;
}

void presence_request_sync(presence *p, const char *gw, uint64_t after_seq)
{
    Statsync__PresenceSyncRequest r = STATSYNC__PRESENCE_SYNC_REQUEST__INIT;
    r.has_epoch = 1;
    r.epoch = p->incarnation;
    r.instance = (char *)p->instance;
    if (gw != NULL) {
        r.gateway_id = (char *)gw;
        r.has_after_seq = 1;
        r.after_seq = after_seq;
    }
    ss_nats_publish_proto(p->core.nc, SS_SUBJ_PRESENCE_SYNC, &r.base, SS_LOG_DEBUG);
    ss_counter_add(c_syncs, 1);
    if (gw == NULL)
        ss_log(SS_LOG_INFO, "sync requested from every gateway", "{s:s}", "instance",
               p->instance);
}

void presence_sweep(presence *p)
{
    size_t gws = 0, socks = 0;
    pthread_mutex_lock(&p->mu);
    registry_expire(p->reg, ss_mono_ms(), &gws, &socks);
    pthread_mutex_unlock(&p->mu);
    if (gws)
        ss_counter_add(c_exp_gateways, gws);
    if (socks)
        ss_counter_add(c_exp_sockets, socks);
    if (gws || socks)
        ss_log(SS_LOG_INFO, "presence expired", "{s:i,s:i}", "gateways", (int)gws, "sockets",
               (int)socks);
}

void presence_unsubscribe(presence *p)
{
    for (size_t i = 0; i < PRESENCE_ROUTES; i++)
        ss_nats_unsubscribe(&p->subs[i].sub);
    atomic_store(&p->subscribed, false);
    atomic_store(&p->serving, false);
    /* the handlers use p (registry, lock): wait until none can run */
    if (!ss_nats_subs_wait(&p->sub_group, 10000))
        ss_log(SS_LOG_ERROR, "subscriptions not released by cnats", NULL);
}
