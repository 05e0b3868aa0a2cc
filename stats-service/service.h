/* service.h — the one struct of a running stats-service (Redis-style: one
 * server struct instead of scattered globals). main.c fills and owns it;
 * handlers.c and the admin /health read it.
 *
 * Threads: config fields are written once before any thread starts;
 * core.nc, store, writer and the subscriptions are set up on the main thread
 * before the first subscription exists and torn down after the last
 * callback. */
#ifndef STATS_SERVICE_H
#define STATS_SERVICE_H

#include "ss_nats_subs.h"
#include "ss_service.h"
#include "store.h"
#include "writer.h"

#include <nats/nats.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct stats_service {
    /* The options every service has, the NATS connection (core.nc), the
     * admin port, the signals (ss_service.h). */
    ss_service core;
    /* Configuration (strings owned by ss_config, valid until exit). */
    const char *data_dir;
    const char *instance_id;
    int64_t map_size_mb;
    int64_t idem_ttl_s;
    int64_t max_batch;
    int64_t max_queue;
    int64_t shutdown_grace_ms;
    /* Runtime. */
    stats_store *store;
    stats_writer *writer;
    natsSubscription *apply_sub, *get_sub, *health_sub;
    ss_nats_subs subs; /* get_sub and health_sub, until cnats is done with them */
    /* apply_sub as seen by the NATS I/O thread's drain (set once subscribed) */
    _Atomic(natsSubscription *) apply_drained;
    atomic_bool stopping; /* shutdown began: new requests get 503 */
} stats_service;

#endif
