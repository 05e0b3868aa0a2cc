/* cluster.c — presence-service instances among themselves: who else runs
 * (statsync.presence.instance), who owns which user's updates (peers.h,
 * owner.h), and when this instance's picture is whole (syncing -> ready).
 *
 *   - Every instance announces itself every heartbeat_ms / 2, and at once
 *     when it becomes ready or stops being so (NATS came back, shutdown).
 *   - Ready: after a sync (every gateway asked for a snapshot at start or
 *     after our own NATS outage) once peers_sync_done(); then we join the
 *     ping / health queue groups and own our users (rendezvous). When no
 *     other instance was ready, nobody published meanwhile: we republish the
 *     count of every user we own (a gateway forwards a presence:update only
 *     when the count differs from the last one it forwarded, so sockets see
 *     nothing when nothing changed). With a ready peer we do not: it kept
 *     publishing our users until it hears we are ready (overlap, no gap).
 *   - A peer that leaves the owner set (expired, not ready, restarted): its
 *     users move to the instance ranking next (rendezvous); each of those
 *     republishes the ones whose count changed since shortly before the
 *     peer's last ready word — the changes it may not have published.
 *
 * Threads: presence_on_instance on the cnats delivery thread; every other
 * function on the main thread. All under p->mu, but the publishes of an
 * announcement (cnats buffers them). */
#include "presence.h"

#include "ss_log.h"
#include "ss_metrics.h"
#include "ss_nats.h"
#include "ss_subjects.h"
#include "ss_time.h"
#include "statsync.pb-c.h"

#include <jansson.h>

#include <stdint.h>

/* How long before a departed peer's last ready word its unpublished changes
 * may go back, in announce intervals (its publishing may lag ours). */
#define CLUSTER_LAG_INTERVALS 2

static ss_counter *c_takeovers, *c_republished;

static int64_t cluster__announce_ms(const presence *p)
{
    int64_t ms = p->heartbeat_ms / 2;
    return ms < 10 ? 10 : ms;
}

/* Publishes our PresenceInstance (ready as given: read under mu by the caller). */
static void cluster__announce(presence *p, bool ready, uint64_t gateways)
{
    Statsync__PresenceInstance m = STATSYNC__PRESENCE_INSTANCE__INIT;
    m.instance = (char *)p->instance;
    m.has_incarnation = 1;
    m.incarnation = p->incarnation;
    m.has_ready = 1;
    m.ready = ready;
    m.has_interval_ms = 1;
    m.interval_ms = (uint32_t)cluster__announce_ms(p);
    m.has_gateways = 1;
    m.gateways = gateways;
    ss_nats_publish_proto(p->core.nc, SS_SUBJ_PRESENCE_INSTANCE, &m.base, SS_LOG_DEBUG);
}

/* ---- republishing --------------------------------------------------------------- */

typedef struct cluster_walk {
    presence *p;
    const char *gone; /* NULL: every user we own */
    size_t n;
} cluster_walk;

static void cluster__republish_one(void *arg, const char *user, uint32_t devices)
{
    cluster_walk *w = arg;
    bool ours = w->gone != NULL ? peers_took_over(w->p->peers, w->gone, user)
                                : peers_owns(w->p->peers, user);
    if (!ours)
        return;
    presence_publish_update(w->p, user, devices, "", true);
    w->n++;
}

/* mu held. Users we now own that gone owned (gone NULL: all we own) whose
 * count changed at or after since: publish their current count. */
static size_t cluster__republish(presence *p, const char *gone, int64_t since)
{
    cluster_walk w = {p, gone, 0};
    registry_each_user(p->reg, since, cluster__republish_one, &w);
    ss_counter_add(c_republished, w.n);
    return w.n;
}

/* A peer left the owner set (mu held). */
static void cluster__took_over(presence *p, const char *gone, int64_t last_ready,
                               const char *why)
{
    int64_t since = last_ready - CLUSTER_LAG_INTERVALS * cluster__announce_ms(p);
    size_t n = p->ready ? cluster__republish(p, gone, since) : 0;
    ss_counter_add(c_takeovers, 1);
    ss_log(SS_LOG_INFO, "presence instance left the owner set: its users move", "{s:s,s:s,s:i}",
           "peer", gone, "why", why, "republished", (int)n);
}

static void cluster__expired(void *arg, const char *id, int64_t last_ready)
{
    cluster__took_over(arg, id, last_ready, "silent");
}

/* ---- announcements --------------------------------------------------------------- */

void presence_on_instance(presence *p, const Statsync__PresenceInstance *m)
{
    const peers_word w = {
        .id = m->instance,
        .incarnation = m->has_incarnation ? m->incarnation : 0,
        .ready = m->has_ready && m->ready,
        .interval_ms = m->has_interval_ms ? (int64_t)m->interval_ms : 0,
        .gateways = m->has_gateways ? m->gateways : 0,
    };
    int64_t last_ready = 0;
    pthread_mutex_lock(&p->mu);
    peers_rc rc = peers_seen(p->peers, &w, ss_mono_ms(), &last_ready);
    if (rc == PEERS_LEFT)
        cluster__took_over(p, w.id, last_ready, "not ready");
    pthread_mutex_unlock(&p->mu);
    if (rc == PEERS_JOINED)
        ss_log(SS_LOG_INFO, "presence instance ready: it owns its share of users", "{s:s}",
               "peer", w.id);
    else if (rc == PEERS_CLASH)
        ss_log(SS_LOG_ERROR, "another presence instance has our STATSYNC_INSTANCE_ID",
               "{s:s}", "instance", w.id);
    else if (rc == PEERS_FULL)
        ss_log(SS_LOG_WARN, "too many presence instances: one not counted", "{s:s,s:i}",
               "peer", w.id, "max", PEERS_MAX);
}

/* ---- syncing -> ready ----------------------------------------------------------- */

/* mu held: whole yet? */
static bool cluster__whole(presence *p, int64_t now)
{
    int64_t settle = p->heartbeat_ms / 2;
    if (settle < 20)
        settle = 20;
    if (settle > 1000)
        settle = 1000;
    registry_counts c = registry_get_counts(p->reg);
    return peers_sync_done(now - p->sync_since, settle, 2 * p->heartbeat_ms,
                           registry_unsynced(p->reg), c.gateways,
                           peers_most_gateways(p->peers));
}

static void cluster__become_ready(presence *p)
{
    if (presence_serve(p, true) != 0)
        return; /* logged; tried again on the next tick */
    pthread_mutex_lock(&p->mu);
    p->ready = true;
    peers_set_ready(p->peers, true);
    size_t peers_ready = peers_ready_count(p->peers);
    registry_counts c = registry_get_counts(p->reg);
    cluster__announce(p, true, c.gateways);
    size_t n = peers_ready == 0 ? cluster__republish(p, NULL, INT64_MIN) : 0;
    int64_t took = ss_mono_ms() - p->sync_since;
    pthread_mutex_unlock(&p->mu);
    ss_log(SS_LOG_INFO, "presence picture whole: ready", "{s:s,s:I,s:I,s:I,s:i,s:i}",
           "instance", p->instance, "sockets", (json_int_t)c.sockets, "gateways",
           (json_int_t)c.gateways, "sync_ms", (json_int_t)took, "ready_peers",
           (int)peers_ready, "republished", (int)n);
}

void presence_cluster_tick(presence *p, int64_t now)
{
    pthread_mutex_lock(&p->mu);
    peers_expire(p->peers, now, cluster__expired, p);
    bool ready = p->ready;
    bool whole = !ready && cluster__whole(p, now);
    bool announce = now >= p->next_announce;
    uint64_t gateways = registry_get_counts(p->reg).gateways;
    if (announce) {
        p->next_announce = now + cluster__announce_ms(p);
        cluster__announce(p, ready, gateways);
    }
    pthread_mutex_unlock(&p->mu);
    if (whole)
        cluster__become_ready(p);
}

/* Out of the queue groups and the owner set (main thread). */
static void cluster__unready(presence *p, int64_t now)
{
    presence_serve(p, false);
    pthread_mutex_lock(&p->mu);
    p->ready = false;
    peers_set_ready(p->peers, false);
    p->sync_since = now;
    cluster__announce(p, false, registry_get_counts(p->reg).gateways);
    pthread_mutex_unlock(&p->mu);
}

void presence_cluster_resync(presence *p, int64_t now, const char *why)
{
    cluster__unready(p, now);
    pthread_mutex_lock(&p->mu);
    registry_grace(p->reg, now); /* the silence was ours, not the gateways' */
    pthread_mutex_unlock(&p->mu);
    presence_request_sync(p, NULL, 0);
    ss_log(SS_LOG_INFO, "presence syncing", "{s:s,s:s}", "instance", p->instance, "why", why);
}

void presence_cluster_leave(presence *p)
{
    cluster__unready(p, ss_mono_ms());
    natsConnection_FlushTimeout(p->core.nc, 500); /* peers take over at once */
}

void presence_cluster_metrics_init(void)
{
    const ss_metric_def m[] = {
        {&c_takeovers, SS_METRIC_COUNTER, "statsync_presence_takeovers_total",
         "presence instances that left the owner set while we were in it", NULL},
        {&c_republished, SS_METRIC_COUNTER, "statsync_presence_republished_total",
         "presence updates republished after a change of the owner set", NULL},
    };
    ss_metrics_register(m, SS_COUNT(m));
}
