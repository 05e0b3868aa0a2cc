/* main.c — statsync-presence. For now: connects to NATS, answers health
 * probes on statsync.health.presence and serves /health and /metrics on its
 * admin port. Membership, ping/pong and expiry arrive with issue 4.
 *
 * Threads: main thread waits for signals; cnats delivers health requests on
 * its subscription thread; libmicrohttpd runs the admin port. */
#include "ss_admin_http.h"
#include "ss_config.h"
#include "ss_log.h"
#include "ss_nats.h"
#include "ss_subjects.h"
#include "ss_time.h"
#include "statsync.pb-c.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct presence {
    const char *nats_url;
    const char *log_level;
    int64_t admin_port;
    natsConnection *nc;
    natsSubscription *health_sub;
    int64_t started_ms;
} presence;

static void presence__on_health(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
                                void *closure)
{
    (void)sub;
    presence *p = closure;
    const char *reply = natsMsg_GetReply(msg);
    if (reply != NULL) {
        Statsync__HealthReply r = STATSYNC__HEALTH_REPLY__INIT;
        r.service = "presence";
        r.has_ok = 1;
        r.ok = 1;
        r.has_uptime_s = 1;
        r.uptime_s = (ss_now_ms() - p->started_ms) / 1000;
        uint8_t buf[128];
        size_t n = statsync__health_reply__pack(&r, buf);
        natsConnection_Publish(nc, reply, buf, (int)n);
    }
    natsMsg_Destroy(msg);
}

static json_t *presence__health(void *arg, int *status)
{
    presence *p = arg;
    int ok = ss_nats_connected(p->nc);
    *status = ok ? 200 : 503;
    return json_pack("{s:s,s:s,s:b,s:I}", "status", ok ? "OK" : "DEGRADED", "service",
                     "presence", "nats", ok, "uptime",
                     (json_int_t)((ss_now_ms() - p->started_ms) / 1000));
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
    };
    int rc = ss_config_parse(opts, (int)SS_COUNT(opts), argc, argv, "statsync-presence",
                             "statsync presence service");
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    int lvl = ss_log_level_parse(p.log_level);
    if (lvl < 0) {
        fprintf(stderr, "statsync-presence: unknown log level '%s'\n", p.log_level);
        return 2;
    }
    ss_log_init("presence-service", (ss_log_level)lvl);
    p.started_ms = ss_now_ms();

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int exit_code = 1;
    ss_admin_http *admin = NULL;
    if (ss_nats_connect(p.nats_url, "presence-service", &p.nc) != SS_OK)
        goto out;
    if (natsConnection_QueueSubscribe(&p.health_sub, p.nc, SS_SUBJ_HEALTH ".presence",
                                      SS_QUEUE_PRESENCE, presence__on_health, &p) != NATS_OK)
        goto out;
    if (ss_admin_http_start(&admin, (uint16_t)p.admin_port, presence__health, &p) != 0)
        goto out;
    ss_log(SS_LOG_INFO, "presence-service started", "{s:i}", "admin_port", (int)p.admin_port);
    int sig = 0;
    sigwait(&sigs, &sig);
    ss_log(SS_LOG_INFO, "shutting down", "{s:i}", "signal", sig);
    exit_code = 0;
out:
    ss_admin_http_stop(admin);
    if (p.health_sub) {
        natsSubscription_Unsubscribe(p.health_sub);
        natsSubscription_Destroy(p.health_sub);
    }
    ss_nats_close(p.nc, 1000);
    nats_Close();
    ss_log(SS_LOG_INFO, "presence-service stopped", "{s:i}", "exit_code", exit_code);
    return exit_code;
}
