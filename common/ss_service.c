/* ss_service.c — the start-up and shutdown the back-end services share
 * (ss_service.h). */
#include "ss_service.h"

#include "ss_log.h"
#include "ss_process_metrics.h"
#include "ss_sockaddr.h"
#include "ss_time.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The common options, then the service's own, into all. Returns how many,
 * or 0 when they do not fit. */
static size_t ss_service__options(ss_service *s, const ss_service_desc *d,
                                  ss_opt all[SS_SERVICE_MAX_OPTS])
{
    const ss_opt common[] = {
        SS_OPT_STR("nats-url", "STATSYNC_NATS_URL", &s->nats_url, "nats://127.0.0.1:4222",
                   "NATS server URL(s), comma separated"),
        SS_NATS_AUTH_OPTS(s->nats_auth),
        SS_OPT_STR("log-level", "STATSYNC_LOG_LEVEL", &s->log_level, "info",
                   "debug | info | warn | error"),
        SS_OPT_INT("admin-port", "STATSYNC_ADMIN_PORT", &s->admin_port, d->admin_port,
                   "port of /livez, /readyz, /health and /metrics (0 = off)"),
        SS_OPT_STR("admin-bind", "STATSYNC_ADMIN_BIND", &s->admin_bind, "",
                   "numeric address the admin port listens on (empty = every interface)"),
    };
    size_t n = sizeof(common) / sizeof(common[0]);
    if (n + d->nopts > SS_SERVICE_MAX_OPTS)
        return 0;
    memcpy(all, common, sizeof(common));
    memcpy(all + n, d->opts, d->nopts * sizeof(*d->opts));
    return n + d->nopts;
}

int ss_service_check_ranges(const char *prog, const ss_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (*r[i].v < r[i].min || *r[i].v > r[i].max) {
            fprintf(stderr, "%s: %s must be in [%lld, %lld]%s%s\n", prog, r[i].name,
                    (long long)r[i].min, (long long)r[i].max, r[i].why ? ": " : "",
                    r[i].why ? r[i].why : "");
            return -1;
        }
    }
    return 0;
}

int ss_service_configure(ss_service *s, const ss_service_desc *d, int argc, char **argv)
{
    ss_opt all[SS_SERVICE_MAX_OPTS];
    size_t n = ss_service__options(s, d, all);
    if (n == 0) {
        fprintf(stderr, "%s: more than %d options\n", d->prog, SS_SERVICE_MAX_OPTS);
        return 2;
    }
    int rc = ss_config_parse(all, (int)n, argc, argv, d->prog, d->summary);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    const ss_range port = {"STATSYNC_ADMIN_PORT", &s->admin_port, 0, 65535, NULL};
    if (ss_service_check_ranges(d->prog, &port, 1) != 0 ||
        ss_service_check_ranges(d->prog, d->ranges, d->nranges) != 0)
        return 2;
    struct sockaddr_storage bind;
    if (s->admin_bind[0] != '\0' && ss_sockaddr_numeric(s->admin_bind, 0, &bind) != 0) {
        fprintf(stderr, "%s: STATSYNC_ADMIN_BIND must be a numeric IP address, not '%s'\n",
                d->prog, s->admin_bind);
        return 2;
    }
    int level = ss_log_level_parse(s->log_level);
    if (level < 0) {
        fprintf(stderr, "%s: unknown log level '%s'\n", d->prog, s->log_level);
        return 2;
    }
    ss_log_init(d->log_service, (ss_log_level)level);
    ss_process_metrics_init(d->log_service);
    ss_config_warn_unknown_env(all, (int)n);
    s->started_ms = ss_now_ms();
    return -1;
}

void ss_service_block_signals(ss_service *s)
{
    sigemptyset(&s->sigs);
    sigaddset(&s->sigs, SIGINT);
    sigaddset(&s->sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &s->sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
}

ss_err ss_service_connect(ss_service *s, const char *name, int pool_threads)
{
    ss_err e = ss_nats_create(&s->nats, s->nats_url, &s->nats_auth, name, pool_threads);
    s->nc = ss_nats_conn(s->nats);
    return e;
}

int ss_service_admin_start(ss_service *s, ss_admin_health_fn health, ss_admin_health_fn ready,
                           void *arg)
{
    const ss_admin_config c = {.bind = s->admin_bind, .port = (uint16_t)s->admin_port,
                               .health = health, .ready = ready, .arg = arg};
    if (ss_admin_http_start(&s->admin, &c) != 0) {
        ss_log(SS_LOG_ERROR, "admin http start failed", "{s:i}", "port", (int)s->admin_port);
        return -1;
    }
    return 0;
}

json_t *ss_service_readiness(ss_service *s, bool serving, int *status)
{
    bool nats = ss_nats_connected(s->nc);
    const char *why = atomic_load(&s->shutting_down) ? "stopping"
                      : !serving                     ? "starting"
                      : !nats                        ? "unavailable"
                                                     : NULL;
    *status = why ? 503 : 200;
    return json_pack("{s:s,s:s}", "status", why ? why : "ok", "nats", nats ? "ok" : "down");
}

void ss_service_health_reply(const ss_service *s, const char *service, const char *instance,
                             bool ok, Statsync__HealthReply *r)
{
    r->service = (char *)service;
    r->instance = (char *)instance;
    r->has_ok = 1;
    r->ok = ok;
    r->has_uptime_s = 1;
    r->uptime_s = (ss_now_ms() - s->started_ms) / 1000;
}

int ss_sigwait(const sigset_t *sigs, int64_t timeout_ms)
{
    if (timeout_ms < 0) {
        int sig = 0;
        return sigwait(sigs, &sig) == 0 ? sig : 0;
    }
    int64_t deadline = ss_mono_ms() + timeout_ms;
    for (;;) { /* sigtimedwait may be interrupted: wait out what is left */
        int64_t left = deadline - ss_mono_ms();
        struct timespec ts = {(time_t)(left > 0 ? left / 1000 : 0),
                              (long)(left > 0 ? left % 1000 : 0) * 1000000L};
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig > 0)
            return sig;
        if (errno != EINTR || left <= 0)
            return 0;
    }
}

int ss_service_wait(ss_service *s, int64_t timeout_ms)
{
    int sig = ss_sigwait(&s->sigs, timeout_ms);
    if (sig > 0)
        atomic_store(&s->shutting_down, true);
    return sig;
}

void ss_service_admin_stop(ss_service *s)
{
    ss_admin_http_stop(s->admin);
    s->admin = NULL;
}

void ss_service_disconnect(ss_service *s, int64_t flush_timeout_ms)
{
    ss_nats_destroy(s->nats, flush_timeout_ms);
    s->nats = NULL;
    s->nc = NULL;
    nats_Close();
}
