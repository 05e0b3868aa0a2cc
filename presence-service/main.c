/* main.c — statsync-presence: who is online across every gateway; any
 * number of instances side by side (presence.h).
 *
 * Wiring only: configuration, NATS (handlers.c, cluster.c), the registry
 * (registry.c), the admin port, the expiry sweep and shutdown.
 *
 * Threads: the main thread waits for SIGTERM/SIGINT and, meanwhile, every
 * heartbeat/10 ms sweeps expiries and runs presence_cluster_tick; one cnats
 * delivery thread runs every NATS callback; libmicrohttpd's thread runs
 * presence__health and presence__ready.
 *
 * Start: subscribe the event subjects, then ask every gateway for a snapshot
 * and sync (cluster.c): only a whole picture answers pings and /health and
 * publishes updates. A gateway that missed the request is found out by its
 * next heartbeat, whose digest differs from our picture. A NATS outage of
 * our own pauses expiry (the silence is ours, not the gateways'); on
 * reconnection every gateway gets a fresh grace period, and we sync again.
 * SIGTERM: announced not ready first, so that peers take over at once. */
#include "presence.h"
#include "ss_log.h"
#include "ss_stop.h"
#include "ss_metrics.h"
#include "ss_service.h"
#include "ss_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static json_t *presence__health(void *arg, int *status)
{
    presence *p = arg;
    int ok = ss_nats_connected(p->core.nc) && !atomic_load(&p->stopping);
    pthread_mutex_lock(&p->mu);
    registry_counts c = registry_get_counts(p->reg);
    bool ready = p->ready;
    /* the owner set as we see it: the ready peers, and us when ready */
    json_int_t instances = (json_int_t)peers_ready_count(p->peers) + (ready ? 1 : 0);
    json_int_t peers = (json_int_t)peers_count(p->peers);
    pthread_mutex_unlock(&p->mu);
    *status = ok ? 200 : 503;
    return json_pack("{s:s,s:s,s:s,s:b,s:b,s:I,s:I,s:I,s:I,s:I,s:I}", "status",
                     ok ? "OK" : "DEGRADED", "service", "presence", "instance", p->instance,
                     "nats", ok, "ready", ready, "connectedClients", (json_int_t)c.sockets,
                     "connectedUsers", (json_int_t)c.users, "gateways", (json_int_t)c.gateways,
                     "instances", instances, "peers", peers, "uptime",
                     (json_int_t)((ss_now_ms() - p->core.started_ms) / 1000));
}

/* /readyz on the admin port (libmicrohttpd thread): NATS connected, every
 * subject subscribed, the picture whole (serving pings and health), not
 * shutting down. */
static json_t *presence__ready(void *arg, int *status)
{
    presence *p = arg;
    bool serving = atomic_load(&p->subscribed) && atomic_load(&p->serving) &&
                   !atomic_load(&p->stopping);
    return ss_service_readiness(&p->core, serving, status);
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

/* Options and their checks (ss_service.h adds nats-url, log-level and
 * admin-port). Returns -1 to go on, else the exit code. */
static int presence__configure(presence *p, int argc, char **argv)
{
    const ss_opt opts[] = {
        SS_OPT_INT("presence-heartbeat-ms", "STATSYNC_PRESENCE_HEARTBEAT_MS", &p->heartbeat_ms,
                   "5000",
                   "gateway heartbeat interval assumed until a gateway states its own; a "
                   "gateway silent for 2 intervals is dropped with its sockets"),
        SS_OPT_INT("presence-socket-ttl-ms", "STATSYNC_PRESENCE_SOCKET_TTL_MS",
                   &p->socket_ttl_ms, "15000",
                   "a socket with no sign of life (ping, or a heartbeat of its gateway that "
                   "vouches for it) for this long is dropped (0 = never)"),
        SS_OPT_INT("presence-max-sockets", "STATSYNC_PRESENCE_MAX_SOCKETS", &p->max_sockets,
                   "2000000", "most sockets tracked; past it joins are not counted (logged)"),
        SS_OPT_INT("presence-max-gateways", "STATSYNC_PRESENCE_MAX_GATEWAYS", &p->max_gateways,
                   "4096", "most gateways tracked"),
        SS_OPT_STR("instance-id", "STATSYNC_INSTANCE_ID", &p->instance, "",
                   "name of this instance among the presence instances (rendezvous owner of "
                   "users' updates; unique per instance; default presence-<host>-<pid>)"),
    };
    const ss_range ranges[] = {
        {"STATSYNC_PRESENCE_HEARTBEAT_MS", &p->heartbeat_ms, 20, 3600000, NULL},
        {"STATSYNC_PRESENCE_SOCKET_TTL_MS", &p->socket_ttl_ms, 0, (int64_t)1 << 31, NULL},
        {"STATSYNC_PRESENCE_MAX_SOCKETS", &p->max_sockets, 1, (int64_t)1 << 32, NULL},
        {"STATSYNC_PRESENCE_MAX_GATEWAYS", &p->max_gateways, 1, 1 << 20, NULL},
    };
    const ss_service_desc desc = {
        .prog = "statsync-presence",
        .summary = "statsync presence-service: who is online across every gateway",
        .log_service = "presence-service",
        .admin_port = "3003",
        .opts = opts,
        .nopts = SS_COUNT(opts),
        .ranges = ranges,
        .nranges = SS_COUNT(ranges),
    };
    int rc = ss_service_configure(&p->core, &desc, argc, argv);
    if (rc < 0 && strlen(p->instance) > 100) { /* it travels in every announcement */
        fprintf(stderr, "statsync-presence: --instance-id is longer than 100 bytes\n");
        return 2;
    }
    return rc;
}

/* A random incarnation per start; "presence-<host>-<pid>" when
 * STATSYNC_INSTANCE_ID is empty. */
static void presence__identity(presence *p)
{
    static char buf[160]; /* like ss_config's strings: valid until exit */
    if (getrandom(&p->incarnation, sizeof(p->incarnation), 0) != (ssize_t)sizeof(p->incarnation))
        p->incarnation = (uint64_t)ss_now_ms() << 20 ^ (uint64_t)getpid();
    if (p->instance != NULL && p->instance[0] != '\0')
        return;
    char host[64] = "localhost";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(buf, sizeof(buf), "presence-%s-%d", host, (int)getpid());
    p->instance = buf;
}

/* The registry, NATS and its subscriptions, the gauges, the admin port and
 * the first sync request. Returns 0, or -1 (logged) with whatever started
 * left for presence__shutdown. */
static int presence__start(presence *p)
{
    const registry_config rcfg = {
        .max_sockets = (size_t)p->max_sockets,
        .max_gateways = (size_t)p->max_gateways,
        .default_interval_ms = p->heartbeat_ms,
        .socket_ttl_ms = p->socket_ttl_ms,
        .on_change = presence_on_change,
        .arg = p,
    };
    ss_nats_subs_init(&p->sub_group);
    if (registry_create(&p->reg, &rcfg) != 0 ||
        peers_create(&p->peers, p->instance, p->incarnation) != 0)
        return -1;
    presence_cluster_metrics_init();
    p->sync_since = ss_mono_ms();
    /* One delivery thread for every subscription: a gateway's messages are
     * applied in the order it sent them. */
    if (ss_service_connect(&p->core, "presence-service", 1) != SS_OK)
        return -1;
    if (presence_subscribe(p) != 0)
        return -1;
    ss_gauge_fn("statsync_presence_sockets", "live sockets across all gateways", NULL,
                presence__g_sockets, p);
    ss_gauge_fn("statsync_presence_users", "users with at least one live socket", NULL,
                presence__g_users, p);
    ss_gauge_fn("statsync_presence_gateways", "gateways heard from recently", NULL,
                presence__g_gateways, p);
    if (ss_service_admin_start(&p->core, presence__health, presence__ready, p) != 0)
        return -1;
    if (ss_nats_connected(p->core.nc))
        presence_request_sync(p, NULL, 0);
    ss_log(SS_LOG_INFO, "presence-service started", "{s:s,s:i,s:I,s:I}", "instance", p->instance,
           "admin_port", (int)p->core.admin_port, "heartbeat_ms", (json_int_t)p->heartbeat_ms,
           "socket_ttl_ms", (json_int_t)p->socket_ttl_ms);
    return 0;
}

/* Waits for SIGTERM/SIGINT, sweeping expiries meanwhile. Returns the signal. */
static int presence__run(presence *p)
{
    int64_t tick = p->heartbeat_ms / 10;
    if (tick < 5)
        tick = 5;
    int nats_was_down = !ss_nats_connected(p->core.nc);
    for (;;) {
        int sig = ss_service_wait(&p->core, tick);
        if (sig > 0)
            return sig;
        if (!ss_nats_connected(p->core.nc)) {
            nats_was_down = 1;
            continue; /* our outage: do not blame the gateways */
        }
        if (nats_was_down) {
            nats_was_down = 0;
            presence_cluster_resync(p, ss_mono_ms(), "NATS connection back");
        }
        presence_sweep(p);
        presence_cluster_tick(p, ss_mono_ms());
    }
}

static void presence__shutdown(presence *p)
{
    atomic_store(&p->stopping, true);
    ss_service_admin_stop(&p->core);
    if (p->peers != NULL && ss_nats_connected(p->core.nc))
        presence_cluster_leave(p);
    presence_unsubscribe(p);
    ss_service_disconnect(&p->core, 1000); /* no callback runs after this */
    registry_destroy(p->reg);
    peers_destroy(p->peers);
    pthread_mutex_destroy(&p->mu);
}

int main(int argc, char **argv)
{
    static presence p;
    int rc = presence__configure(&p, argc, argv);
    if (rc >= 0)
        return rc;
    presence__identity(&p);
    pthread_mutex_init(&p.mu, NULL);
    ss_service_block_signals(&p.core); /* every thread started below inherits it */
    int exit_code = 1;
    if (presence__start(&p) == 0) {
        int sig = presence__run(&p);
        ss_log(SS_LOG_INFO, "shutting down", "{s:i}", "signal", sig);
        exit_code = 0;
    } else if (ss_stop_pending()) { /* SIGTERM while starting: a clean stop */
        ss_log(SS_LOG_INFO, "stopped while starting", NULL);
        exit_code = 0;
    }
    presence__shutdown(&p);
    ss_log(SS_LOG_INFO, "presence-service stopped", "{s:i}", "exit_code", exit_code);
    return exit_code;
}
