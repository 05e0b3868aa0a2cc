/* presence.h — the one struct of a running presence-service instance.
 * main.c fills and owns it; handlers.c (the gateways' subjects), cluster.c
 * (the instances among themselves) and the admin /health read it.
 *
 * Any number of instances run side by side, each with the whole picture:
 * every gateway message (join, leave, heartbeat, snapshot) reaches every
 * instance (no queue group). An instance is "syncing" from its start, and
 * again after its own NATS outage, until its picture is whole
 * (peers_sync_done); only then is it "ready": it joins the queue groups of
 * statsync.presence.ping and statsync.health.presence (so a ping or a
 * /health count is always answered from a whole picture), announces itself
 * ready, and publishes the presence updates of the users it owns
 * (rendezvous over the ready instances: owner.h, peers.h).
 *
 * Threads: config fields are written before any thread starts. Every NATS
 * callback runs on one cnats delivery thread (a pool of one: messages of all
 * subscriptions are handled in the order they arrived, so a gateway's join,
 * leave, snapshot and heartbeat messages are applied in the order it sent
 * them). The main thread sweeps expiries, announces, and moves between
 * syncing and ready (it alone subscribes and unsubscribes); libmicrohttpd's
 * thread reads counts. `mu` guards reg, peers, ready and sync_since. */
#ifndef PRESENCE_H
#define PRESENCE_H

#include "peers.h"
#include "registry.h"
#include "ss_nats_subs.h"
#include "ss_service.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct presence;
struct presence_route; /* handlers.c: a subject and what to do with its messages */

/* One subscription, and the closure cnats hands its handler. */
typedef struct presence_sub {
    natsSubscription *sub;
    struct presence *p;
    const struct presence_route *route;
} presence_sub;

#define PRESENCE_ROUTES 8

typedef struct presence {
    /* The options every service has, the NATS connection (core.nc), the
     * admin port, the signals (ss_service.h). */
    ss_service core;
    /* configuration */
    int64_t heartbeat_ms;  /* default gateway heartbeat interval; we announce every half */
    int64_t socket_ttl_ms;
    int64_t max_sockets;
    int64_t max_gateways;
    const char *instance;  /* STATSYNC_INSTANCE_ID, or presence-<host>-<pid> */
    /* runtime */
    uint64_t incarnation;  /* random per start */
    presence_sub subs[PRESENCE_ROUTES]; /* by route; .sub NULL while not subscribed */
    ss_nats_subs sub_group; /* subs, until cnats is done with them */
    atomic_bool subscribed; /* the gateway subjects (every instance, always) */
    atomic_bool serving;    /* ready and in the ping / health queue groups */
    pthread_mutex_t mu;
    registry *reg;
    peers *peers;
    bool ready;            /* mu: the picture is whole (see above) */
    int64_t sync_since;    /* mu: monotonic ms the current sync began */
    int64_t next_announce; /* main thread */
    atomic_bool stopping;
} presence;

/* handlers.c ---------------------------------------------------------------- */

/* Subscribes every event subject (proto/README.md): the gateways' and the
 * instances'. Returns 0 or -1 (logged). Main thread. */
int presence_subscribe(presence *p);
/* Joins (on) or leaves the queue groups of ping and health. 0 or -1. Main thread. */
int presence_serve(presence *p, bool on);
/* Publishes a PresenceSyncRequest: to every gateway (gw NULL), or to gw
 * about its heartbeat after_seq. Any thread. */
void presence_request_sync(presence *p, const char *gw, uint64_t after_seq);
/* Drops expired gateways and sockets (main thread). */
void presence_sweep(presence *p);
void presence_unsubscribe(presence *p);
/* The registry's change callback (mu held): publishes
 * statsync.user.<userId>.presence when this instance owns the user. */
void presence_on_change(void *arg, const char *user_id, uint32_t devices, const char *gw,
                        const char *sock);
/* Publishes one PresenceUpdate (origin may be ""; republish: the current
 * count after a takeover, not a change). Any thread. */
void presence_publish_update(presence *p, const char *user_id, uint32_t devices,
                             const char *origin, bool republish);

/* cluster.c ----------------------------------------------------------------- */

/* statsync.presence.instance (delivery thread): an announcement. */
struct Statsync__PresenceInstance;
void presence_on_instance(presence *p, const struct Statsync__PresenceInstance *m);
/* Main thread, every sweep tick: peers' expiry (and takeovers), the
 * announcement when due, the move to ready when the picture is whole. */
void presence_cluster_tick(presence *p, int64_t now);
/* Main thread: back to syncing (our NATS came back: our picture may have
 * gaps) — out of the queue groups, announced not ready, every gateway asked
 * for a snapshot. Also at shutdown (leaving: peers take over at once). */
void presence_cluster_resync(presence *p, int64_t now, const char *why);
void presence_cluster_leave(presence *p);
/* The takeover counters (main thread, before subscribing). */
void presence_cluster_metrics_init(void);

#endif
