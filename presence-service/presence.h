/* presence.h — the one struct of a running presence-service. main.c fills
 * and owns it; handlers.c (NATS glue) and the admin /health read it.
 *
 * Threads: config fields are written before any thread starts. Every NATS
 * callback runs on one cnats delivery thread (a pool of one: messages of all
 * subscriptions are handled in the order they arrived, so a gateway's join,
 * leave and snapshot messages are applied in the order it sent them). The
 * main thread sweeps expiries; libmicrohttpd's thread reads counts. `mu`
 * guards `reg`. */
#ifndef PRESENCE_H
#define PRESENCE_H

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

typedef struct presence {
    /* The options every service has, the NATS connection (core.nc), the
     * admin port, the signals (ss_service.h). */
    ss_service core;
    /* configuration */
    int64_t heartbeat_ms;  /* default gateway heartbeat interval */
    int64_t socket_ttl_ms;
    int64_t max_sockets;
    int64_t max_gateways;
    /* runtime */
    uint64_t epoch;        /* random per start: gateways resync when it changes */
    char instance[40];
    presence_sub subs[8];
    int nsubs;
    ss_nats_subs sub_group; /* subs, until cnats is done with them */
    pthread_mutex_t mu;
    registry *reg;
    atomic_bool stopping;
} presence;

/* Subscribes every subject (proto/README.md). Returns 0 or -1 (logged). */
int presence_subscribe(presence *p);
/* Publishes a PresenceSyncRequest: every gateway answers with a snapshot. */
void presence_request_sync(presence *p);
/* Drops expired gateways and sockets (main thread). */
void presence_sweep(presence *p);
void presence_unsubscribe(presence *p);
/* The registry's change callback: publishes statsync.presence.update.<userId>. */
void presence_on_change(void *arg, const char *user_id, uint32_t devices, const char *gw,
                        const char *sock);

#endif
