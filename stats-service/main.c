/* main.c — statsync-stats: configuration, wiring and shutdown.
 *
 * Threads: the main thread parses config, opens LMDB, starts the writer,
 * connects NATS, subscribes, then waits for SIGTERM/SIGINT. cnats delivery
 * threads run handlers.c; the writer thread runs writer.c; libmicrohttpd's
 * thread runs stats__health for /health.
 *
 * Shutdown (bounded by STATSYNC_SHUTDOWN_GRACE_MS): drain the subscriptions
 * (stop taking work, finish what was received), let the writer commit and
 * answer everything queued, flush NATS, close LMDB, exit 0. */
#include "handlers.h"
#include "service.h"
#include "ss_admin_http.h"
#include "ss_config.h"
#include "ss_log.h"
#include "ss_metrics.h"
#include "ss_nats.h"
#include "ss_time.h"
#include "stats_metrics.h"
#include "store.h"
#include "writer.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

/* Most idempotency records pruned per transaction, and how often an idle
 * writer looks for expired ones. */
#define STATS_PRUNE_CHUNK 512
#define STATS_PRUNE_INTERVAL_MS 1000

/* /health on the admin port (libmicrohttpd thread). */
static json_t *stats__health(void *arg, int *status)
{
    stats_service *svc = arg;
    int ok = ss_nats_connected(svc->nc) && !atomic_load(&svc->stopping);
    *status = ok ? 200 : 503;
    return json_pack("{s:s,s:s,s:b,s:I,s:I}", "status", ok ? "OK" : "DEGRADED", "service",
                     "stats", "nats", ss_nats_connected(svc->nc), "totalUsers",
                     (json_int_t)handlers_total_users(svc), "uptime",
                     (json_int_t)((ss_now_ms() - svc->started_ms) / 1000));
}

/* statsync_stats_users gauge, read at scrape time (libmicrohttpd thread). */
static int64_t stats__users_gauge(void *arg)
{
    return (int64_t)handlers_total_users(arg);
}

/* Range checks the config module cannot express. Returns 0 or -1 (printed). */
static int stats__check_config(stats_service *svc)
{
    struct {
        const char *name;
        int64_t v, min, max;
    } checks[] = {
        {"STATSYNC_ADMIN_PORT", svc->admin_port, 0, 65535},
        {"STATSYNC_MAP_SIZE_MB", svc->map_size_mb, 1, (int64_t)1 << 30},
        {"STATSYNC_IDEMPOTENCY_TTL_S", svc->idem_ttl_s, 0, (int64_t)1 << 40},
        {"STATSYNC_MAX_BATCH", svc->max_batch, 1, 65536},
        {"STATSYNC_MAX_QUEUE", svc->max_queue, 1, (int64_t)1 << 24},
        {"STATSYNC_SHUTDOWN_GRACE_MS", svc->shutdown_grace_ms, 0, (int64_t)1 << 31},
    };
    for (size_t i = 0; i < SS_COUNT(checks); i++) {
        if (checks[i].v < checks[i].min || checks[i].v > checks[i].max) {
            fprintf(stderr, "statsync-stats: %s must be in [%lld, %lld]\n", checks[i].name,
                    (long long)checks[i].min, (long long)checks[i].max);
            return -1;
        }
    }
    int lvl = ss_log_level_parse(svc->log_level);
    if (lvl < 0) {
        fprintf(stderr, "statsync-stats: unknown log level '%s'\n", svc->log_level);
        return -1;
    }
    ss_log_init("stats-service", (ss_log_level)lvl);
    return 0;
}

/* "stats-<host>-<pid>" when STATSYNC_INSTANCE_ID is empty. */
static void stats__default_instance(stats_service *svc, char *buf, size_t len)
{
    if (svc->instance_id != NULL && svc->instance_id[0] != '\0')
        return;
    char host[64] = "localhost";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(buf, len, "stats-%s-%d", host, (int)getpid());
    svc->instance_id = buf;
}

/* Stops everything that was started, in order, within the grace period.
 * Returns the exit code. */
static int stats__shutdown(stats_service *svc, ss_admin_http *admin, int exit_code)
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
    ss_admin_http_stop(admin);
    int64_t left = deadline - ss_mono_ms();
    ss_nats_destroy(svc->nats, left > 1000 ? 1000 : (left > 0 ? left : 1));
    svc->nats = NULL;
    svc->nc = NULL;
    if (writer_done) { /* never close LMDB under a live write transaction */
        writer_destroy(svc->writer);
        store_close(svc->store);
    }
    nats_Close();
    return exit_code;
}

int main(int argc, char **argv)
{
    static stats_service svc;
    static char instance[160];
    const ss_opt opts[] = {
        SS_OPT_STR("nats-url", "STATSYNC_NATS_URL", &svc.nats_url, "nats://127.0.0.1:4222",
                   "NATS server URL(s), comma separated"),
        SS_OPT_STR("data-dir", "STATSYNC_DATA_DIR", &svc.data_dir, "./data",
                   "LMDB directory (created if missing)"),
        SS_OPT_STR("log-level", "STATSYNC_LOG_LEVEL", &svc.log_level, "info",
                   "debug | info | warn | error"),
        SS_OPT_INT("admin-port", "STATSYNC_ADMIN_PORT", &svc.admin_port, "3002",
                   "port of /health and /metrics (0 = off)"),
        SS_OPT_INT("map-size-mb", "STATSYNC_MAP_SIZE_MB", &svc.map_size_mb, "1024",
                   "LMDB map size in MiB (the most data the file may hold)"),
        SS_OPT_INT("idempotency-ttl-s", "STATSYNC_IDEMPOTENCY_TTL_S", &svc.idem_ttl_s, "86400",
                   "seconds an applied opId / Idempotency-Key is remembered"),
        SS_OPT_INT("max-batch", "STATSYNC_MAX_BATCH", &svc.max_batch, "1024",
                   "most mutations per LMDB write transaction (group commit)"),
        SS_OPT_INT("max-queue", "STATSYNC_MAX_QUEUE", &svc.max_queue, "100000",
                   "most mutations waiting for the writer; beyond, 503 unavailable"),
        SS_OPT_INT("shutdown-grace-ms", "STATSYNC_SHUTDOWN_GRACE_MS", &svc.shutdown_grace_ms,
                   "10000", "longest a SIGTERM shutdown may take to drain and commit"),
        SS_OPT_STR("instance-id", "STATSYNC_INSTANCE_ID", &svc.instance_id, "",
                   "name of this instance in health replies (default stats-<host>-<pid>)"),
    };
    int rc = ss_config_parse(opts, (int)SS_COUNT(opts), argc, argv, "statsync-stats",
                             "statsync stats-service: the owner of the user documents (LMDB)");
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (stats__check_config(&svc) != 0)
        return 2;
    if (strlen(svc.instance_id) > 100) { /* it travels in every health reply */
        fprintf(stderr, "statsync-stats: --instance-id is longer than 100 bytes\n");
        return 2;
    }
    stats__default_instance(&svc, instance, sizeof(instance));
    svc.started_ms = ss_now_ms();

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread started below inherits it */
    signal(SIGPIPE, SIG_IGN);

    int exit_code = 1;
    ss_admin_http *admin = NULL;
    stats_metrics_init();
    ss_nats_subs_init(&svc.subs);
    if (store_open(&svc.store, svc.data_dir, (size_t)svc.map_size_mb << 20) != SS_OK)
        goto out;
    const writer_config wcfg = {
        .max_batch = (size_t)svc.max_batch,
        .max_queue = (size_t)svc.max_queue,
        .idem_ttl_ms = svc.idem_ttl_s * 1000,
        .prune_chunk = STATS_PRUNE_CHUNK,
        .prune_interval_ms = STATS_PRUNE_INTERVAL_MS,
        .now_ms = NULL,
        .batch_edge = handlers_on_batch,
    };
    if (writer_start(&svc.writer, svc.store, &wcfg, handlers_on_done, &svc) != SS_OK)
        goto out;
    /* Pooled delivery (GET and health): cnats then completes a closed
     * subscription on a thread it joins at nats_Close(). */
    if (ss_nats_create(&svc.nats, svc.nats_url, "stats-service", 2) != SS_OK)
        goto out;
    svc.nc = ss_nats_conn(svc.nats);
    if (handlers_subscribe(&svc) != SS_OK)
        goto out;
    ss_gauge_fn("statsync_stats_users", "Documents stored", NULL, stats__users_gauge, &svc);
    if (ss_admin_http_start(&admin, (uint16_t)svc.admin_port, stats__health, &svc) != 0) {
        ss_log(SS_LOG_ERROR, "admin http start failed", "{s:i}", "port", (int)svc.admin_port);
        goto out;
    }
    ss_log(SS_LOG_INFO, "stats-service started", "{s:s,s:s,s:i,s:i,s:i}", "instance",
           svc.instance_id, "data_dir", svc.data_dir, "admin_port", (int)svc.admin_port,
           "map_size_mb", (int)svc.map_size_mb, "max_batch", (int)svc.max_batch);
    int sig = 0;
    sigwait(&sigs, &sig);
    ss_log(SS_LOG_INFO, "shutting down", "{s:i,s:i}", "signal", sig, "grace_ms",
           (int)svc.shutdown_grace_ms);
    exit_code = 0;
out:
    exit_code = stats__shutdown(&svc, admin, exit_code);
    ss_log(SS_LOG_INFO, "stats-service stopped", "{s:i}", "exit_code", exit_code);
    return exit_code;
}
