/* main.c — statsync-gateway: configuration, NATS, and the two edges.
 *
 * Threads: main thread = the libwebsockets service loop (sio_server_run: every
 * lws call happens there); a small signal thread that takes SIGINT/SIGTERM
 * and runs the lame-duck shutdown (shutdown.c); libmicrohttpd's internal
 * thread; cnats' delivery pool; the nats_rpc timer thread. */
#include "client_addr.h"
#include "gateway.h"
#include "nats_rpc.h"
#include "rooms.h"
#include "ratelimit.h"
#include "rest_server.h"
#include "shutdown.h"
#include "sio_server.h"
#include "ss_config.h"
#include "ss_log.h"
#include "ss_stop.h"
#include "ss_nats.h"
#include "ss_partition.h"
#include "ss_process_metrics.h"
#include "ss_service.h"
#include "ss_time.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Where ss_config_parse() writes the settings (main copies them into the
 * gateway): at file scope so that the option table below is data, not code. */
static gw_config gateway__cfg;

static const ss_opt gateway__opts[] = {
    SS_OPT_STR("nats-url", "STATSYNC_NATS_URL", &gateway__cfg.nats_url, "nats://127.0.0.1:4222",
               "NATS server URL(s), comma separated"),
    SS_NATS_AUTH_OPTS(gateway__cfg.nats_auth),
    SS_OPT_INT("api-port", "STATSYNC_API_PORT", &gateway__cfg.api_port, "3000", "REST port"),
    SS_OPT_INT("socket-port", "STATSYNC_SOCKET_PORT", &gateway__cfg.socket_port, "3001",
               "Socket.IO port (path /socket.io/)"),
    SS_OPT_STR("bind-address", "STATSYNC_BIND_ADDRESS", &gateway__cfg.bind_address, "",
               "address to listen on (empty = all)"),
    SS_OPT_SECRET("jwt-secret", "STATSYNC_JWT_SECRET", &gateway__cfg.jwt_secret, NULL,
                  "HS256 secret for client tokens, at least 16 bytes"),
    SS_OPT_STR("publish-addr", "STATSYNC_PUBLISH_ADDR", &gateway__cfg.publish_addr, "",
               "host address a deployment publishes this gateway on (compose sets it; empty = "
               "unknown): the public sample secret of compose/ is refused unless it is loopback"),
    SS_OPT_STR("log-level", "STATSYNC_LOG_LEVEL", &gateway__cfg.log_level, "info",
               "debug | info | warn | error"),
    SS_OPT_STR("gateway-id", "STATSYNC_GATEWAY_ID", &gateway__cfg.gateway_id, "",
               "instance id (empty = <hostname>-<pid>)"),
    SS_OPT_INT("partition-count", "STATSYNC_PARTITION_COUNT", &gateway__cfg.partition_count, "64",
               "partitions of the cluster: the stats-services' count (fixed per cluster)"),
    SS_OPT_INT("request-timeout-ms", "STATSYNC_REQUEST_TIMEOUT_MS", &gateway__cfg.request_timeout_ms,
               "5000", "bound on a service round trip before 503"),
    SS_OPT_INT("health-timeout-ms", "STATSYNC_HEALTH_TIMEOUT_MS", &gateway__cfg.health_timeout_ms,
               "500", "bound on /health probes of the services"),
    SS_OPT_INT("max-body-bytes", "STATSYNC_MAX_BODY_BYTES", &gateway__cfg.max_body_bytes, "1048576",
               "largest REST body accepted (413 past it)"),
    SS_OPT_INT("json-max-depth", "STATSYNC_JSON_MAX_DEPTH", &gateway__cfg.json_max_depth, "32",
               "deepest JSON nesting accepted"),
    SS_OPT_INT("shutdown-grace-ms", "STATSYNC_SHUTDOWN_GRACE_MS", &gateway__cfg.shutdown_grace_ms,
               "10000", "bound on finishing in-flight REST work at SIGTERM, once sockets are closed"),
    SS_OPT_INT("shutdown-drain-ms", "STATSYNC_SHUTDOWN_DRAIN_MS", &gateway__cfg.shutdown_drain_ms,
               "5000", "SIGTERM: /readyz 503 at once, but serve on this long (for the load "
               "balancer to stop sending) before closing sockets"),
    SS_OPT_INT("shutdown-spread-ms", "STATSYNC_SHUTDOWN_SPREAD_MS",
               &gateway__cfg.shutdown_spread_ms, "3000",
               "then close the Socket.IO sockets spread over this long, not all at once "
               "(0 = all at once)"),
    SS_OPT_INT("ping-interval-ms", "STATSYNC_PING_INTERVAL_MS", &gateway__cfg.ping_interval_ms,
               "25000", "Socket.IO: server ping every this many ms"),
    SS_OPT_INT("ping-timeout-ms", "STATSYNC_PING_TIMEOUT_MS", &gateway__cfg.ping_timeout_ms, "20000",
               "Socket.IO: close a socket whose pong is this late"),
    SS_OPT_INT("handover-max", "STATSYNC_HANDOVER_MAX", &gateway__cfg.handover_max, "65536",
               "Socket.IO: tasks other threads may queue for the Socket.IO thread; past it "
               "they wait (NATS buffers meanwhile)"),
    SS_OPT_BOOL("reply-in-event", "STATSYNC_REPLY_IN_EVENT", &gateway__cfg.reply_in_event, "true",
                "Socket.IO: ask the stats-service to answer a socket's committed change by its "
                "change event alone, one message instead of a reply and an event (false = "
                "always a reply)"),
    SS_OPT_INT("token-grace-ms", "STATSYNC_TOKEN_GRACE_MS", &gateway__cfg.token_grace_ms, "10000",
               "Socket.IO: a socket's token is honoured this long past its exp; then writes "
               "get token_expired and the socket is closed at its next ping (auth:refresh renews)"),
    SS_OPT_INT("presence-heartbeat-ms", "STATSYNC_PRESENCE_HEARTBEAT_MS",
               &gateway__cfg.presence_heartbeat_ms, "5000",
               "heartbeat to the presence-service every this many ms (its sockets expire "
               "2 intervals after the last one)"),
    SS_OPT_INT("presence-ping-timeout-ms", "STATSYNC_PRESENCE_PING_TIMEOUT_MS",
               &gateway__cfg.presence_ping_timeout_ms, "250",
               "presence:ping waits this long for the presence-service, then answers "
               "from local counts"),
    SS_OPT_INT("rate-mutations-per-s", "STATSYNC_RATE_MUTATIONS_PER_S",
               &gateway__cfg.rate_mutations_per_s, "20",
               "writes per user per second, REST and socket together, per gateway (0 = off)"),
    SS_OPT_INT("rate-mutations-burst", "STATSYNC_RATE_MUTATIONS_BURST",
               &gateway__cfg.rate_mutations_burst, "100", "writes per user allowed at once"),
    SS_OPT_INT("rate-rest-ip-per-s", "STATSYNC_RATE_REST_IP_PER_S", &gateway__cfg.rate_rest_ip_per_s,
               "500", "REST requests per client IP per second (0 = off)"),
    SS_OPT_INT("rate-rest-ip-burst", "STATSYNC_RATE_REST_IP_BURST", &gateway__cfg.rate_rest_ip_burst,
               "1000", "REST requests per client IP allowed at once"),
    SS_OPT_INT("rate-handshake-ip-per-s", "STATSYNC_RATE_HANDSHAKE_IP_PER_S",
               &gateway__cfg.rate_handshake_ip_per_s, "50",
               "new Socket.IO sessions per client IP per second (0 = off)"),
    SS_OPT_INT("rate-handshake-ip-burst", "STATSYNC_RATE_HANDSHAKE_IP_BURST",
               &gateway__cfg.rate_handshake_ip_burst, "200",
               "new Socket.IO sessions per client IP allowed at once"),
    SS_OPT_INT("max-sockets-per-user", "STATSYNC_MAX_SOCKETS_PER_USER",
               &gateway__cfg.max_sockets_per_user, "20",
               "connected sockets of one user on this gateway (0 = no cap)"),
    SS_OPT_INT("rate-limit-max-keys", "STATSYNC_RATE_LIMIT_MAX_KEYS", &gateway__cfg.rate_limit_max_keys,
               "100000", "buckets kept per rate-limit table (least recently used dropped)"),
    SS_OPT_STR("rate-limit-exempt", "STATSYNC_RATE_LIMIT_EXEMPT", &gateway__cfg.rate_limit_exempt,
               "loopback", "client IPs exempt from the per-IP limits (never from the per-user ones): "
               "loopback, IPs, or none"),
    SS_OPT_STR("trusted-proxies", "STATSYNC_TRUSTED_PROXIES", &gateway__cfg.trusted_proxies, "",
               "peers (the edge) whose X-Forwarded-For names the client: loopback, IPs, "
               "CIDRs, comma separated (empty = none)"),
    SS_OPT_STR("route-tag", "STATSYNC_ROUTE_TAG", &gateway__cfg.route_tag, "",
               "sids start with \"<tag>.\" so the edge keeps a polling session on this "
               "gateway: 1-16 of A-Z a-z 0-9 _ - (empty = none)"),
    SS_OPT_INT("rest-connection-timeout-s", "STATSYNC_REST_CONNECTION_TIMEOUT_S",
               &gateway__cfg.rest_connection_timeout_s, "30",
               "REST: close a connection silent this long (a request trickled slower is cut)"),
    SS_OPT_INT("rest-max-connections", "STATSYNC_REST_MAX_CONNECTIONS",
               &gateway__cfg.rest_max_connections, "4096", "REST: connections at once"),
    SS_OPT_INT("rest-per-ip-connections", "STATSYNC_REST_PER_IP_CONNECTIONS",
               &gateway__cfg.rest_per_ip_connections, "256",
               "REST: connections at once from one client IP (0 = no limit)"),
    SS_OPT_INT("socket-connect-timeout-ms", "STATSYNC_SOCKET_CONNECT_TIMEOUT_MS",
               &gateway__cfg.socket_connect_timeout_ms, "45000",
               "Socket.IO: close a session that sends no CONNECT this long"),
    SS_OPT_INT("json-max-elements", "STATSYNC_JSON_MAX_ELEMENTS", &gateway__cfg.json_max_elements,
               "10000", "most array items + object members in client JSON"),
    SS_OPT_INT("poll-max-pending-per-ip", "STATSYNC_POLL_MAX_PENDING_PER_IP",
               &gateway__cfg.poll_max_pending_per_ip, "1000",
               "Socket.IO polling requests open at once from one client IP (0 = no limit)"),
};

/* The gateway's id: --gateway-id or <hostname>-<pid>, with no character
 * that could alter a NATS subject. */
static void gateway__id(gateway *gw)
{
    const gw_config *c = &gw->cfg;
    if (c->gateway_id[0]) {
        snprintf(gw->id, sizeof(gw->id), "%s", c->gateway_id);
    } else {
        char host[64] = "gw";
        gethostname(host, sizeof(host) - 1);
        snprintf(gw->id, sizeof(gw->id), "%s-%d", host, (int)getpid());
    }
    for (char *p = gw->id; *p; p++)
        if (*p == '.' || *p == '*' || *p == '>' || *p == ' ')
            *p = '_';
}

/* The public sample secret of compose/ and the k6 scripts: anyone can sign
 * tokens with it. */
#define GATEWAY_SAMPLE_SECRET "statsync-dev-secret-change-me-0123456789"

/* True for a loopback address (127.0.0.0/8, ::1), as the trusted-proxy
 * list reads "loopback". */
static bool gateway__loopback(const char *addr)
{
    client_addr_trust *lo = NULL;
    char bad[8];
    bool yes = client_addr_trust_create(&lo, "loopback", bad, sizeof(bad)) == 0 &&
               client_addr_trusted(lo, addr);
    client_addr_trust_destroy(lo);
    return yes;
}

/* The checks of settings that ss_config cannot make. 0, or -1 (said). */
static int gateway__check_config(const gw_config *c)
{
    if (strlen(c->jwt_secret) < 16) {
        fprintf(stderr, "statsync-gateway: the JWT secret must be at least 16 bytes\n");
        return -1;
    }
    if (strcmp(c->jwt_secret, GATEWAY_SAMPLE_SECRET) == 0 && !gateway__loopback(c->publish_addr)) {
        fprintf(stderr, "statsync-gateway: STATSYNC_JWT_SECRET is the public sample secret of "
                        "compose/, with which anyone can sign tokens; set your own (e.g. "
                        "$(openssl rand -hex 32), or STATSYNC_JWT_SECRET_FILE), or publish the "
                        "gateway on 127.0.0.1 only (STATSYNC_PUBLISH_ADDR)\n");
        return -1;
    }
    size_t tl = strlen(c->route_tag);
    if (tl > SIO_ROUTE_TAG_MAX || strspn(c->route_tag, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                                      "qrstuvwxyz0123456789_-") != tl) {
        fprintf(stderr, "statsync-gateway: --route-tag must be at most %d of A-Z a-z 0-9 _ -\n",
                SIO_ROUTE_TAG_MAX);
        return -1;
    }
    const ss_range ranges[] = {
        {"STATSYNC_SHUTDOWN_DRAIN_MS", &c->shutdown_drain_ms, 0, 600000, NULL},
        {"STATSYNC_SHUTDOWN_SPREAD_MS", &c->shutdown_spread_ms, 0, 600000, NULL},
        {"STATSYNC_PARTITION_COUNT", &c->partition_count, 1, SS_PARTITION_COUNT_MAX, NULL},
    };
    return ss_service_check_ranges("statsync-gateway", ranges, SS_COUNT(ranges));
}

/* Settings from the environment and the flags, checked. Returns 0, 1 (--help
 * printed) or -1 (an error printed). */
static int gateway__parse_config(gateway *gw, int argc, char **argv)
{
    int rc = ss_config_parse(gateway__opts, (int)SS_COUNT(gateway__opts), argc, argv,
                             "statsync-gateway", "statsync REST + Socket.IO edge");
    if (rc != 0)
        return rc;
    gw->cfg = gateway__cfg;
    const gw_config *c = &gw->cfg;
    int lvl = ss_log_level_parse(c->log_level);
    if (lvl < 0) {
        fprintf(stderr, "statsync-gateway: unknown log level '%s'\n", c->log_level);
        return -1;
    }
    if (gateway__check_config(c) != 0)
        return -1;
    ss_log_init("gateway", (ss_log_level)lvl);
    ss_config_warn_unknown_env(gateway__opts, (int)SS_COUNT(gateway__opts));
    gateway__id(gw);
    return 0;
}

static int gateway__limits_create(gateway *gw)
{
    const gw_config *c = &gw->cfg;
    ratelimit_config rc = {
        .mutation_per_s = (double)c->rate_mutations_per_s,
        .mutation_burst = (double)c->rate_mutations_burst,
        .rest_ip_per_s = (double)c->rate_rest_ip_per_s,
        .rest_ip_burst = (double)c->rate_rest_ip_burst,
        .handshake_ip_per_s = (double)c->rate_handshake_ip_per_s,
        .handshake_ip_burst = (double)c->rate_handshake_ip_burst,
        .sockets_per_user = c->max_sockets_per_user,
        .polls_per_ip = c->poll_max_pending_per_ip,
        .max_keys = c->rate_limit_max_keys > 0 ? (size_t)c->rate_limit_max_keys : 1,
        .exempt = c->rate_limit_exempt,
    };
    char bad[64];
    if (client_addr_trust_create(&gw->trust, c->trusted_proxies, bad, sizeof(bad)) != 0) {
        ss_log(SS_LOG_ERROR, "bad trusted proxy (loopback, IPs or CIDRs)", "{s:s}",
               "trusted_proxies", bad);
        return -1;
    }
    if (ratelimit_create(&gw->limits, &rc) != 0) {
        ss_log(SS_LOG_ERROR, "bad rate-limit settings (exempt list: loopback, IPs or none)",
               "{s:s}", "rate_limit_exempt", c->rate_limit_exempt);
        return -1;
    }
    return 0;
}

/* Starts everything main() runs, in dependency order. Returns 0, or -1 (what
 * started is stopped by gateway__stop). Main thread. */
static int gateway__start(gateway *gw, rooms **rm)
{
    /* Pooled delivery: one subscription per connected user must not mean one
     * thread per user. */
    if (ss_nats_create(&gw->nats, gw->cfg.nats_url, &gw->cfg.nats_auth, gw->id, 2) != SS_OK)
        return -1;
    gw->nc = ss_nats_conn(gw->nats);
    if (nats_rpc_create(&gw->rpc, gw->nc) != SS_OK || gateway__limits_create(gw) != 0 ||
        rest_server_start(gw, &gw->rest) != 0)
        return -1;
    sio_hooks hooks;
    if (rooms_create(rm, gw, &hooks) != 0 || sio_server_start(gw, &hooks, &gw->sio) != 0 ||
        rooms_attach(*rm, gw->sio) != 0)
        return -1;
    return 0;
}

/* Stops in the order that keeps every callback's state alive: no new NATS
 * events, sockets closed, REST answered, pending requests failed, NATS
 * subscriptions complete, then free. Main thread, service loop not running. */
static void gateway__stop(gateway *gw, rooms *rm)
{
    atomic_store(&gw->stopping, 1);
    rooms_stop(rm);
    sio_server_stop(gw->sio);
    rest_server_stop(gw->rest);
    nats_rpc_stop(gw->rpc); /* fails what is pending: those completions are discarded */
    rooms_destroy(rm);      /* its change handlers may claim from the mux until here */
    nats_rpc_destroy(gw->rpc);
    sio_server_free(gw->sio);
    ss_nats_destroy(gw->nats, 1000);
    nats_Close();
    ratelimit_destroy(gw->limits);
    client_addr_trust_destroy(gw->trust);
}

int main(int argc, char **argv)
{
    static gateway gw;
    int rc = gateway__parse_config(&gw, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    gw.started_ms = ss_now_ms();
    ss_process_metrics_init("gateway");

    /* Signals are taken synchronously by the signal thread: every other
     * thread inherits the blocked mask. */
    static gateway_signals sg;
    gateway_signals_block(&sg, &gw);

    int exit_code = 1;
    rooms *rm = NULL;
    if (gateway__start(&gw, &rm) == 0 && gateway_signals_start(&sg) == 0) {
        ss_log(SS_LOG_INFO, "gateway started", "{s:s,s:i,s:i}", "gateway", gw.id, "api_port",
               (int)gw.cfg.api_port, "socket_port", (int)gw.cfg.socket_port);
        sio_server_run(gw.sio); /* until the shutdown sequence stops it */
        exit_code = 0;
    } else if (ss_stop_pending()) { /* SIGTERM while starting: a clean stop */
        ss_log(SS_LOG_INFO, "stopped while starting", NULL);
        exit_code = 0;
    }
    gateway_signals_stop(&sg); /* before anything it may touch is freed */
    gateway__stop(&gw, rm);
    ss_log(SS_LOG_INFO, "gateway stopped", "{s:i}", "exit_code", exit_code);
    return exit_code;
}
