/* main.c — statsync-presence: who is online across every gateway.
 *
 * Wiring only: configuration, NATS (handlers.c), the registry (registry.c),
 * the admin port, the expiry sweep and shutdown.
 *
 * Threads: the main thread waits for SIGTERM/SIGINT and, meanwhile, sweeps
 * expiries every heartbeat/10 ms; one cnats delivery thread runs every NATS
 * callback (handlers.c); libmicrohttpd's thread runs presence__health.
 *
 * Start: subscribe, then publish a sync request so every gateway announces
 * what it holds (counts are exact once those snapshots arrive; a gateway that
 * missed the request resends when its next heartbeat reply carries our new
 * epoch). A NATS outage of our own pauses expiry (the silence is ours, not
 * the gateways'); on reconnection every gateway gets a fresh grace period and
 * a new sync request. */
#include "presence.h"
#include "ss_admin_http.h"
#include "ss_config.h"
#include "ss_log.h"
#include "ss_metrics.h"
#include "ss_nats.h"
#include "ss_time.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

static json_t *presence__health(void *arg, int *status)
{
    presence *p = arg;
    int ok = ss_nats_connected(p->nc) && !atomic_load(&p->stopping);
    pthread_mutex_lock(&p->mu);
    registry_counts c = registry_get_counts(p->reg);
    pthread_mutex_unlock(&p->mu);
    *status = ok ? 200 : 503;
    return json_pack("{s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:I}", "status", ok ? "OK" : "DEGRADED",
                     "service", "presence", "instance", p->instance, "nats", ok,
                     "connectedClients", (json_int_t)c.sockets, "connectedUsers",
                     (json_int_t)c.users, "gateways", (json_int_t)c.gateways, "uptime",
                     (json_int_t)((ss_now_ms() - p->started_ms) / 1000));
}

static int64_t presence__gauge(presence *p, int which)
{
    pthread_mutex_lock(&p->mu);
    registry_counts c = registry_get_counts(p->reg);
    pthread_mutex_unlock(&p->mu);
    return (int64_t)(which == 0 ? c.sockets : which == 1 ? c.users : c.gateways);
}
static int64_t presence__g_sockets(void *a) { return presence__gauge(a, 0); }
static int64_t presence__g_users(void *a) { return presence__gauge(a, 1); }
static int64_t presence__g_gateways(void *a) { return presence__gauge(a, 2); }

static int presence__check_config(presence *p)
{
    struct {
        const char *name;
        int64_t v, min, max;
    } checks[] = {
        {"STATSYNC_ADMIN_PORT", p->admin_port, 0, 65535},
        {"STATSYNC_PRESENCE_HEARTBEAT_MS", p->heartbeat_ms, 20, 3600000},
        {"STATSYNC_PRESENCE_SOCKET_TTL_MS", p->socket_ttl_ms, 0, (int64_t)1 << 31},
        {"STATSYNC_PRESENCE_MAX_SOCKETS", p->max_sockets, 1, (int64_t)1 << 32},
        {"STATSYNC_PRESENCE_MAX_GATEWAYS", p->max_gateways, 1, 1 << 20},
    };
    for (size_t i = 0; i < SS_COUNT(checks); i++) {
        if (checks[i].v < checks[i].min || checks[i].v > checks[i].max) {
            fprintf(stderr, "statsync-presence: %s must be in [%lld, %lld]\n", checks[i].name,
                    (long long)checks[i].min, (long long)checks[i].max);
            return -1;
        }
    }
    int lvl = ss_log_level_parse(p->log_level);
    if (lvl < 0) {
        fprintf(stderr, "statsync-presence: unknown log level '%s'\n", p->log_level);
        return -1;
    }
    ss_log_init("presence-service", (ss_log_level)lvl);
    return 0;
}

/* Waits for SIGTERM/SIGINT, sweeping expiries meanwhile. Returns the signal. */
static int presence__run(presence *p, const sigset_t *sigs)
{
    int64_t tick = p->heartbeat_ms / 10;
    if (tick < 5)
        tick = 5;
    int nats_was_down = 0;
    for (;;) {
        struct timespec ts = {tick / 1000, (tick % 1000) * 1000000L};
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig > 0)
            return sig;
        if (!ss_nats_connected(p->nc)) {
            nats_was_down = 1;
            continue; /* our outage: do not blame the gateways */
        }
        if (nats_was_down) {
            nats_was_down = 0;
            pthread_mutex_lock(&p->mu);
            registry_grace(p->reg, ss_mono_ms());
            pthread_mutex_unlock(&p->mu);
            presence_request_sync(p);
        }
        presence_sweep(p);
    }
}

int main(int argc, char **argv)
{
    static presence p;
    const ss_opt opts[] = {
        SS_OPT_STR("nats-url", "STATSYNC_NATS_URL", &p.nats_url, "nats://127.0.0.1:4222",
                   "NATS server URL(s), comma separated"),
        SS_OPT_STR("log-level", "STATSYNC_LOG_LEVEL", &p.log_level, "info",
                   "debug | info | warn | error"),
        SS_OPT_INT("admin-port", "STATSYNC_ADMIN_PORT", &p.admin_port, "3003",
                   "port of /health and /metrics (0 = off)"),
        SS_OPT_INT("presence-heartbeat-ms", "STATSYNC_PRESENCE_HEARTBEAT_MS", &p.heartbeat_ms,
                   "5000",
                   "gateway heartbeat interval assumed until a gateway states its own; a "
                   "gateway silent for 2 intervals is dropped with its sockets"),
        SS_OPT_INT("presence-socket-ttl-ms", "STATSYNC_PRESENCE_SOCKET_TTL_MS", &p.socket_ttl_ms,
                   "15000",
                   "a socket with no sign of life (ping, or a heartbeat of its gateway that "
                   "vouches for it) for this long is dropped (0 = never)"),
        SS_OPT_INT("presence-max-sockets", "STATSYNC_PRESENCE_MAX_SOCKETS", &p.max_sockets,
                   "2000000", "most sockets tracked; past it joins are not counted (logged)"),
        SS_OPT_INT("presence-max-gateways", "STATSYNC_PRESENCE_MAX_GATEWAYS", &p.max_gateways,
                   "4096", "most gateways tracked"),
    };
    int rc = ss_config_parse(opts, (int)SS_COUNT(opts), argc, argv, "statsync-presence",
                             "statsync presence-service: who is online across every gateway");
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (presence__check_config(&p) != 0)
        return 2;
    p.started_ms = ss_now_ms();
    if (getrandom(&p.epoch, sizeof(p.epoch), 0) != (ssize_t)sizeof(p.epoch))
        p.epoch = (uint64_t)ss_now_ms() << 20 ^ (uint64_t)getpid();
    snprintf(p.instance, sizeof(p.instance), "presence-%016" PRIx64, p.epoch);
    pthread_mutex_init(&p.mu, NULL);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int exit_code = 1;
    ss_admin_http *admin = NULL;
    const registry_config rcfg = {
        .max_sockets = (size_t)p.max_sockets,
        .max_gateways = (size_t)p.max_gateways,
        .default_interval_ms = p.heartbeat_ms,
        .socket_ttl_ms = p.socket_ttl_ms,
        .on_change = presence_on_change,
        .arg = &p,
    };
    ss_nats_subs_init(&p.sub_group);
    if (registry_create(&p.reg, &rcfg) != 0)
        goto out;
    /* One delivery thread for every subscription: a gateway's messages are
     * applied in the order it sent them. */
    if (ss_nats_create(&p.nats, p.nats_url, "presence-service", 1) != SS_OK)
        goto out;
    p.nc = ss_nats_conn(p.nats);
    if (presence_subscribe(&p) != 0)
        goto out;
    ss_gauge_fn("statsync_presence_sockets", "live sockets across all gateways", NULL,
                presence__g_sockets, &p);
    ss_gauge_fn("statsync_presence_users", "users with at least one live socket", NULL,
                presence__g_users, &p);
    ss_gauge_fn("statsync_presence_gateways", "gateways heard from recently", NULL,
                presence__g_gateways, &p);
    if (ss_admin_http_start(&admin, (uint16_t)p.admin_port, presence__health, &p) != 0) {
        ss_log(SS_LOG_ERROR, "admin http start failed", "{s:i}", "port", (int)p.admin_port);
        goto out;
    }
    if (ss_nats_connected(p.nc))
        presence_request_sync(&p);
    ss_log(SS_LOG_INFO, "presence-service started", "{s:s,s:i,s:I,s:I}", "instance", p.instance,
           "admin_port", (int)p.admin_port, "heartbeat_ms", (json_int_t)p.heartbeat_ms,
           "socket_ttl_ms", (json_int_t)p.socket_ttl_ms);
    int sig = presence__run(&p, &sigs);
    ss_log(SS_LOG_INFO, "shutting down", "{s:i}", "signal", sig);
    exit_code = 0;
out:
    atomic_store(&p.stopping, true);
    ss_admin_http_stop(admin);
    presence_unsubscribe(&p);
    ss_nats_destroy(p.nats, 1000);
    p.nats = NULL;
    p.nc = NULL;
    nats_Close(); /* no callback runs after this */
    registry_destroy(p.reg);
    pthread_mutex_destroy(&p.mu);
    ss_log(SS_LOG_INFO, "presence-service stopped", "{s:i}", "exit_code", exit_code);
    return exit_code;
}
