/* main.c — statsync-gateway: configuration, NATS, and the two edges.
 *
 * Threads: main thread = signal wait (and, once present, the libwebsockets
 * service loop); libmicrohttpd's internal thread; cnats delivery threads;
 * the nats_rpc timer thread. */
#include "gateway.h"
#include "rest_server.h"
#include "ss_config.h"
#include "ss_log.h"
#include "ss_nats.h"
#include "ss_time.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int gateway__parse_config(gateway *gw, int argc, char **argv)
{
    gw_config *c = &gw->cfg;
    const ss_opt opts[] = {
        SS_OPT_STR("nats-url", "STATSYNC_NATS_URL", &c->nats_url, "nats://127.0.0.1:4222",
                   "NATS server URL(s), comma separated"),
        SS_OPT_INT("api-port", "STATSYNC_API_PORT", &c->api_port, "3000", "REST port"),
        SS_OPT_INT("socket-port", "STATSYNC_SOCKET_PORT", &c->socket_port, "3001",
                   "Socket.IO port (path /socket.io/)"),
        SS_OPT_STR("bind-address", "STATSYNC_BIND_ADDRESS", &c->bind_address, "",
                   "address to listen on (empty = all)"),
        SS_OPT_STR("jwt-secret", "STATSYNC_JWT_SECRET", &c->jwt_secret, NULL,
                   "HS256 secret for client tokens"),
        SS_OPT_STR("log-level", "STATSYNC_LOG_LEVEL", &c->log_level, "info",
                   "debug | info | warn | error"),
        SS_OPT_STR("gateway-id", "STATSYNC_GATEWAY_ID", &c->gateway_id, "",
                   "instance id (empty = <hostname>-<pid>)"),
        SS_OPT_INT("request-timeout-ms", "STATSYNC_REQUEST_TIMEOUT_MS", &c->request_timeout_ms,
                   "5000", "bound on a service round trip before 503"),
        SS_OPT_INT("health-timeout-ms", "STATSYNC_HEALTH_TIMEOUT_MS", &c->health_timeout_ms,
                   "500", "bound on /health probes of the services"),
        SS_OPT_INT("max-body-bytes", "STATSYNC_MAX_BODY_BYTES", &c->max_body_bytes, "1048576",
                   "largest REST body accepted (413 past it)"),
        SS_OPT_INT("json-max-depth", "STATSYNC_JSON_MAX_DEPTH", &c->json_max_depth, "32",
                   "deepest JSON nesting accepted"),
        SS_OPT_INT("shutdown-grace-ms", "STATSYNC_SHUTDOWN_GRACE_MS", &c->shutdown_grace_ms,
                   "10000", "bound on finishing in-flight work at SIGTERM"),
    };
    int rc = ss_config_parse(opts, (int)SS_COUNT(opts), argc, argv, "statsync-gateway",
                             "statsync REST + Socket.IO edge");
    if (rc != 0)
        return rc;
    int lvl = ss_log_level_parse(c->log_level);
    if (lvl < 0) {
        fprintf(stderr, "statsync-gateway: unknown log level '%s'\n", c->log_level);
        return -1;
    }
    if (strlen(c->jwt_secret) < 16) {
        fprintf(stderr, "statsync-gateway: the JWT secret must be at least 16 bytes\n");
        return -1;
    }
    ss_log_init("gateway", (ss_log_level)lvl);
    if (c->gateway_id[0]) {
        snprintf(gw->id, sizeof(gw->id), "%s", c->gateway_id);
    } else {
        char host[64] = "gw";
        gethostname(host, sizeof(host) - 1);
        snprintf(gw->id, sizeof(gw->id), "%s-%d", host, (int)getpid());
    }
    for (char *p = gw->id; *p; p++) /* the id goes into NATS subjects */
        if (*p == '.' || *p == '*' || *p == '>' || *p == ' ')
            *p = '_';
    return 0;
}

int main(int argc, char **argv)
{
    static gateway gw;
    int rc = gateway__parse_config(&gw, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    gw.started_ms = ss_now_ms();

    /* Signals are taken synchronously by the main thread (sigwait): every
     * other thread inherits the blocked mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int exit_code = 1;
    if (ss_nats_connect(gw.cfg.nats_url, gw.id, &gw.nc) != SS_OK)
        goto out;
    if (nats_rpc_create(&gw.rpc, gw.nc) != SS_OK)
        goto out;
    if (rest_server_start(&gw, &gw.rest) != 0)
        goto out;
    ss_log(SS_LOG_INFO, "gateway started", "{s:s,s:i,s:i}", "gateway", gw.id, "api_port",
           (int)gw.cfg.api_port, "socket_port", (int)gw.cfg.socket_port);

    int sig = 0;
    sigwait(&sigs, &sig);
    ss_log(SS_LOG_INFO, "shutting down", "{s:i}", "signal", sig);
    atomic_store(&gw.stopping, 1);
    exit_code = 0;
out:
    rest_server_stop(gw.rest);
    nats_rpc_destroy(gw.rpc);
    ss_nats_close(gw.nc, 1000);
    nats_Close();
    ss_log(SS_LOG_INFO, "gateway stopped", "{s:i}", "exit_code", exit_code);
    return exit_code;
}
