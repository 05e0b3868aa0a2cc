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

#include "ss_lease.h"
#include "ss_nats_subs.h"
#include "ss_partition.h"
#include "ss_service.h"
#include "store.h"
#include "writer.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* A partition's state on this instance (partitions.c). */
enum { PART_OFF = 0, PART_SERVING = 1, PART_STOPPING = 2 };

/* One partition of the cluster, owned or not (partitions.c). Threads: state,
 * store and apply_drained are read by the NATS threads and the writer's done
 * path; everything is written under stats_service.part_mu. */
typedef struct stats_partition {
    uint32_t id;
    struct stats_service *svc;
    atomic_int state;
    _Atomic(stats_store *) store; /* while SERVING/STOPPING; shut stores go to `retired` */
    natsSubscription *apply_sub, *get_sub;
    _Atomic(natsSubscription *) apply_drained; /* apply_sub as the I/O thread's drain sees it */
    ss_nats_subs subs;                         /* get_sub, until cnats is done with it */
    ss_lease lease;
    /* monotonic ms until which the lease surely holds (written_ms + ttl -
     * margin): requests are taken, and answered, only before it */
    atomic_llong valid_until_ms;
    bool wanted; /* configured or acquired by command: the keeper keeps trying */
} stats_partition;

typedef struct stats_service {
    /* The options every service has, the NATS connection (core.nc), the
     * admin port, the signals (ss_service.h). */
    ss_service core;
    /* Configuration (strings owned by ss_config, valid until exit). */
    const char *data_dir;
    const char *instance_id;
    int64_t map_size_mb;
    int64_t idem_ttl_s;
    int64_t max_clients_per_user;
    int64_t max_batch;
    int64_t commit_threads; /* writer_config.commit_threads */
    int64_t max_queue;
    int reply_in_event; /* a change a gateway asks to have answered in its event: so answered */
    int64_t shutdown_grace_ms;
    int64_t partition_count;
    const char *partitions_spec; /* STATSYNC_PARTITIONS */
    ss_partition_set configured;
    int64_t lease_ttl_ms;
    int64_t lease_replicas;
    /* Runtime. */
    stats_writer *writer;
    stats_partition *parts; /* [partition_count] */
    pthread_mutex_t part_mu; /* acquire / release / renew, one at a time */
    ss_lease_bucket *leases;
    stats_store **retired; /* shut stores, freed at exit (part_mu) */
    size_t n_retired;
    pthread_t keeper; /* the lease keeper thread (partitions.c) */
    bool keeper_started;
    atomic_bool keeper_stop;
    atomic_bool draining; /* shutdown's drain: the keeper renews only, changes no subscription */
    atomic_bool leases_unreachable; /* a release found JetStream away: leases expire by TTL */
    natsSubscription *health_sub, *ctl_sub;
    ss_nats_subs subs; /* health_sub and ctl_sub, until cnats is done with them */
    atomic_bool serving;  /* subscribed: mutations reach the writer (readiness) */
    atomic_bool stopping; /* shutdown began: new requests get 503 */
} stats_service;

#endif
