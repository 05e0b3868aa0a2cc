/* main.c — statsync-stats: configuration, wiring and shutdown.
 *
 * Threads: the main thread parses config, opens LMDB, starts the writer,
 * connects NATS, subscribes, then waits for SIGTERM/SIGINT. The NATS I/O
 * thread and cnats' delivery pool run handlers.c (see there); the writer
 * thread runs writer.c; libmicrohttpd's thread runs stats__health for
 * /health.
 *
 * Shutdown (bounded by STATSYNC_SHUTDOWN_GRACE_MS): drain the subscriptions
 * (stop taking work, finish what was received), let the writer commit and
 * answer everything queued, flush NATS, close LMDB, exit 0. */
#include "control.h"
#include "handlers.h"
#include "partitions.h"
#include "service.h"
#include "ss_log.h"
#include "ss_stop.h"
#include "ss_metrics.h"
#include "ss_service.h"
#include "ss_time.h"
#include "stats_metrics.h"
#include "store.h"
#include "store_metrics.h"
#include "writer.h"

#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

/* Most idempotency records pruned per transaction, and how often an idle
 * writer looks for expired ones. */
#define STATS_PRUNE_CHUNK 512
#define STATS_PRUNE_INTERVAL_MS 1000

/* /readyz on the admin port (libmicrohttpd thread): NATS connected,
 * subscribed (mutations reach the writer), not shutting down. */
static json_t *stats__ready(void *arg, int *status)
{
    stats_service *svc = arg;
    bool serving = atomic_load(&svc->serving) && !atomic_load(&svc->stopping);
    return ss_service_readiness(&svc->core, serving, status);
}

/* The served partitions as a JSON array (any thread). */
static json_t *stats__owned_json(stats_service *svc)
{
    uint32_t owned[SS_PARTITION_COUNT_MAX];
    size_t n = partitions_serving(svc, owned, SS_PARTITION_COUNT_MAX);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(owned[i]));
    return a;
}

/* /health on the admin port (libmicrohttpd thread): OK while connected and
 * serving every configured partition (not one lost its lease). */
static json_t *stats__health(void *arg, int *status)
{
    stats_service *svc = arg;
    uint32_t owned[SS_PARTITION_COUNT_MAX];
    size_t n = partitions_serving(svc, owned, SS_PARTITION_COUNT_MAX);
    int ok = ss_nats_connected(svc->core.nc) && !atomic_load(&svc->stopping) && n > 0;
    *status = ok ? 200 : 503;
    char set[4096] = "";
    ss_partition_set_format(&svc->configured, set, sizeof(set));
    return json_pack("{s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:o,s:s}", "status", ok ? "OK" : "DEGRADED",
                     "service", "stats", "instance", svc->instance_id, "nats",
                     ss_nats_connected(svc->core.nc), "totalUsers",
                     (json_int_t)handlers_total_users(svc), "uptime",
                     (json_int_t)((ss_now_ms() - svc->core.started_ms) / 1000), "partitionCount",
                     (json_int_t)svc->partition_count, "partitions", stats__owned_json(svc),
                     "configuredPartitions", set);
}

/* statsync_stats_partitions_owned gauge (libmicrohttpd thread). */
static int64_t stats__owned_gauge(void *arg)
{
    uint32_t owned[SS_PARTITION_COUNT_MAX];
    return (int64_t)partitions_serving(arg, owned, SS_PARTITION_COUNT_MAX);
}

/* statsync_stats_users gauge, read at scrape time (libmicrohttpd thread). */
static int64_t stats__users_gauge(void *arg)
{
    return (int64_t)handlers_total_users(arg);
}

/* "stats-<host>" when STATSYNC_INSTANCE_ID is empty: stable across restarts,
 * so a restarted owner takes its leases back (ss_lease.h). */
static void stats__default_instance(stats_service *svc)
{
    static char buf[160]; /* like ss_config's strings: valid until exit */
    if (svc->instance_id != NULL && svc->instance_id[0] != '\0')
        return;
    char host[64] = "localhost";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(buf, sizeof(buf), "stats-%s", host);
    svc->instance_id = buf;
}

/* What the option table cannot check: the instance's name and the
 * partitions it owns. Returns -1 to go on, else the exit code. */
static int stats__check(stats_service *svc)
{
    if (strlen(svc->instance_id) > 100) { /* it travels in every health reply */
        fprintf(stderr, "statsync-stats: --instance-id is longer than 100 bytes\n");
        return 2;
    }
    char why[200];
    if (!ss_partition_set_parse(&svc->configured, svc->partitions_spec,
                                (uint32_t)svc->partition_count, why, sizeof(why))) {
        fprintf(stderr, "statsync-stats: STATSYNC_PARTITIONS: %s\n", why);
        return 2;
    }
    stats__default_instance(svc);
    return -1;
}

/* Options and their checks (ss_service.h adds nats-url, log-level and
 * admin-port). Returns -1 to go on, else the exit code. */
static int stats__configure(stats_service *svc, int argc, char **argv)
{
    const ss_opt opts[] = {
        SS_OPT_STR("data-dir", "STATSYNC_DATA_DIR", &svc->data_dir, "./data",
                   "LMDB directory (created if missing)"),
        SS_OPT_INT("map-size-mb", "STATSYNC_MAP_SIZE_MB", &svc->map_size_mb, "1024",
                   "LMDB map size in MiB (the most data the file may hold)"),
        SS_OPT_INT("idempotency-ttl-s", "STATSYNC_IDEMPOTENCY_TTL_S", &svc->idem_ttl_s, "86400",
                   "seconds an applied opId / Idempotency-Key is remembered"),
        SS_OPT_INT("max-clients-per-user", "STATSYNC_MAX_CLIENTS_PER_USER",
                   &svc->max_clients_per_user, "64",
                   "SDK installs (clientIds) whose last seq is kept per user; a new one evicts "
                   "the least recently used"),
        SS_OPT_INT("commit-threads", "STATSYNC_COMMIT_THREADS", &svc->commit_threads, "8",
                   "partitions of one batch committed at once (1 = one after another)"),
        SS_OPT_INT("max-batch", "STATSYNC_MAX_BATCH", &svc->max_batch, "1024",
                   "most mutations per LMDB write transaction (group commit)"),
        SS_OPT_BOOL("reply-in-event", "STATSYNC_REPLY_IN_EVENT", &svc->reply_in_event, "true",
                    "answer a committed change by its change event alone when the gateway "
                    "asks (Mutation.reply_in_event; false = a reply always, as before)"),
        SS_OPT_INT("max-queue", "STATSYNC_MAX_QUEUE", &svc->max_queue, "100000",
                   "most mutations waiting for the writer; beyond, 503 unavailable"),
        SS_OPT_INT("shutdown-grace-ms", "STATSYNC_SHUTDOWN_GRACE_MS", &svc->shutdown_grace_ms,
                   "10000", "longest a SIGTERM shutdown may take to drain and commit"),
        SS_OPT_STR("instance-id", "STATSYNC_INSTANCE_ID", &svc->instance_id, "",
                   "name of this instance: health replies, partition leases and commands; "
                   "keep it across restarts (default stats-<host>)"),
        SS_OPT_INT("partition-count", "STATSYNC_PARTITION_COUNT", &svc->partition_count, "64",
                   "partitions of the cluster (fixed per cluster; every service the same)"),
        SS_OPT_STR("partitions", "STATSYNC_PARTITIONS", &svc->partitions_spec, "",
                   "partitions this instance owns: 0-31, 32-63, 0,5,9 (default all)"),
        SS_OPT_INT("lease-ttl-ms", "STATSYNC_LEASE_TTL_MS", &svc->lease_ttl_ms, "5000",
                   "a partition lease expires this long after its owner last renewed it"),
        SS_OPT_INT("lease-replicas", "STATSYNC_LEASE_REPLICAS", &svc->lease_replicas, "1",
                   "JetStream replicas of the lease bucket (3 on a 3-node NATS cluster)"),
    };
    const ss_range ranges[] = {
        {"STATSYNC_MAP_SIZE_MB", &svc->map_size_mb, 1, (int64_t)1 << 30, NULL},
        {"STATSYNC_IDEMPOTENCY_TTL_S", &svc->idem_ttl_s, 1, (int64_t)1 << 40,
         "an applied opId / Idempotency-Key must be remembered for a while, or a client's "
         "retry would apply its change twice"},
        {"STATSYNC_MAX_CLIENTS_PER_USER", &svc->max_clients_per_user, 1, 4096, NULL},
        {"STATSYNC_MAX_BATCH", &svc->max_batch, 1, 65536, NULL},
        {"STATSYNC_COMMIT_THREADS", &svc->commit_threads, 1, 64, NULL},
        {"STATSYNC_MAX_QUEUE", &svc->max_queue, 1, (int64_t)1 << 24, NULL},
        {"STATSYNC_SHUTDOWN_GRACE_MS", &svc->shutdown_grace_ms, 0, (int64_t)1 << 31, NULL},
        {"STATSYNC_PARTITION_COUNT", &svc->partition_count, 1, SS_PARTITION_COUNT_MAX, NULL},
        {"STATSYNC_LEASE_TTL_MS", &svc->lease_ttl_ms, 1000, 600000, NULL},
        {"STATSYNC_LEASE_REPLICAS", &svc->lease_replicas, 1, 5, NULL},
    };
    const ss_service_desc desc = {
        .prog = "statsync-stats",
        .summary = "statsync stats-service: the owner of the user documents (LMDB)",
        .log_service = "stats-service",
        .admin_port = "3002",
        .opts = opts,
        .nopts = SS_COUNT(opts),
        .ranges = ranges,
        .nranges = SS_COUNT(ranges),
    };
    int rc = ss_service_configure(&svc->core, &desc, argc, argv);
    return rc >= 0 ? rc : stats__check(svc);
}

/* LMDB, the writer, NATS and its subscriptions, the admin port. Returns 0,
 * or -1 (logged) with whatever started left for stats__shutdown. */
static int stats__start(stats_service *svc)
{
    stats_metrics_init();
    ss_nats_subs_init(&svc->subs);
    pthread_mutex_init(&svc->part_mu, NULL);
    const writer_config wcfg = {
        .max_batch = (size_t)svc->max_batch,
        .max_queue = (size_t)svc->max_queue,
        .idem_ttl_ms = svc->idem_ttl_s * 1000,
        .max_clients = (size_t)svc->max_clients_per_user,
        .commit_threads = (size_t)svc->commit_threads,
        .prune_chunk = STATS_PRUNE_CHUNK,
        .prune_interval_ms = STATS_PRUNE_INTERVAL_MS,
        .now_ms = NULL,
        .batch_edge = handlers_on_batch,
    };
    if (writer_start(&svc->writer, NULL, &wcfg, handlers_on_done, svc) != SS_OK)
        return -1;
    /* Pooled delivery (GET and health): cnats then completes a closed
     * subscription on a thread it joins at nats_Close(). */
    if (ss_service_connect(&svc->core, "stats-service", 2) != SS_OK)
        return -1;
    if (handlers_subscribe(svc) != SS_OK || control_subscribe(svc) != SS_OK)
        return -1;
    if (partitions_start(svc) != SS_OK)
        return -1;
    atomic_store(&svc->serving, true);
    ss_gauge_fn("statsync_stats_users", "Documents stored", NULL, stats__users_gauge, svc);
    ss_gauge_fn("statsync_stats_partitions_owned", "Partitions served by this instance", NULL,
                stats__owned_gauge, svc);
    store_metrics_init(svc);
    if (ss_service_admin_start(&svc->core, stats__health, stats__ready, svc) != 0)
        return -1;
    char set[4096] = "";
    ss_partition_set_format(&svc->configured, set, sizeof(set));
    ss_log(SS_LOG_INFO, "stats-service started", "{s:s,s:s,s:i,s:i,s:i,s:i,s:s}", "instance",
           svc->instance_id, "data_dir", svc->data_dir, "admin_port", (int)svc->core.admin_port,
           "map_size_mb", (int)svc->map_size_mb, "max_batch", (int)svc->max_batch,
           "partition_count", (int)svc->partition_count, "partitions", set);
    return 0;
}

/* Stops everything that was started, in order, within the grace period.
 * Returns the exit code. */
static int stats__shutdown(stats_service *svc, int exit_code)
{
    int64_t deadline = ss_mono_ms() + svc->shutdown_grace_ms;
    handlers_drain(svc, svc->shutdown_grace_ms);
    atomic_store(&svc->stopping, true);
    bool writer_done = true;
    if (svc->writer) {
        writer_stop(svc->writer);
        int64_t left = deadline - ss_mono_ms();
        writer_done = writer_join(svc->writer, left > 0 ? left : 0);
        if (!writer_done) {
            ss_log(SS_LOG_ERROR, "writer did not finish within the grace period", "{s:i}",
                   "queued", (int)writer_depth(svc->writer));
            exit_code = 1;
        }
    }
    ss_service_admin_stop(&svc->core);
    int64_t left = deadline - ss_mono_ms();
    int64_t flush_ms = left > 1000 ? 1000 : (left > 0 ? left : 1);
    if (!writer_done) { /* it may still answer through NATS and write LMDB: */
        if (ss_nats_connected(svc->core.nc)) /* send what is out, close nothing */
            natsConnection_FlushTimeout(svc->core.nc, flush_ms);
        return exit_code;
    }
    partitions_stop(svc); /* leases given back: a restart or a successor takes them at once */
    ss_service_disconnect(&svc->core, flush_ms);
    writer_destroy(svc->writer);
    return exit_code;
}

int main(int argc, char **argv)
{
    static stats_service svc;
    int rc = stats__configure(&svc, argc, argv);
    if (rc >= 0)
        return rc;
    ss_service_block_signals(&svc.core); /* every thread started below inherits it */
    int exit_code = 1;
    if (stats__start(&svc) == 0) {
        int sig = ss_service_wait(&svc.core, -1);
        ss_log(SS_LOG_INFO, "shutting down", "{s:i,s:i}", "signal", sig, "grace_ms",
               (int)svc.shutdown_grace_ms);
        exit_code = 0;
    } else if (ss_stop_pending()) { /* SIGTERM while starting: a clean stop */
        ss_log(SS_LOG_INFO, "stopped while starting", NULL);
        exit_code = 0;
    }
    exit_code = stats__shutdown(&svc, exit_code);
    ss_log(SS_LOG_INFO, "stats-service stopped", "{s:i}", "exit_code", exit_code);
    return exit_code;
}
