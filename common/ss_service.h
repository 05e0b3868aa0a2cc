/* ss_service.h — what the back-end services (stats-service,
 * presence-service) do alike at start and stop: the options every service
 * has (--nats-url and the NATS credentials / TLS of ss_nats_auth.h,
 * --log-level, --admin-port, --admin-bind), range checks of integer
 * settings, the log and its warning about unknown STATSYNC_* variables,
 * SIGINT / SIGTERM taken synchronously, the NATS connection and the admin
 * HTTP port (/livez, /readyz, /health, /metrics).
 *
 * A service embeds one ss_service in its server struct and, on its main
 * thread:
 *
 *   int rc = ss_service_configure(&svc.core, &desc, argc, argv);
 *   if (rc >= 0)
 *       return rc;                               // --help, or a bad setting
 *   ss_service_block_signals(&svc.core);         // before any thread starts
 *   ss_service_connect(&svc.core, "stats-service", 2);
 *   ... subscribe ...
 *   ss_service_admin_start(&svc.core, health, ready, &svc);
 *   int sig = ss_service_wait(&svc.core, -1);   // from here /readyz says 503
 *   ss_service_admin_stop(&svc.core);
 *   ... release the subscriptions ...
 *   ss_service_disconnect(&svc.core, 1000);
 *
 * Ownership: the ss_service owns nats (and so nc) and admin; the strings
 * are ss_config's (valid until exit).
 *
 * Threads: every ss_service_* function runs on the main thread, but
 * ss_service_readiness (any thread: the admin port's). Other threads only
 * read the fields: the configuration once configured, nc between
 * ss_service_connect() and ss_service_disconnect(), shutting_down. */
#ifndef SS_SERVICE_H
#define SS_SERVICE_H

#include "ss_admin_http.h"
#include "ss_config.h"
#include "ss_error.h"
#include "ss_nats.h"
#include "statsync.pb-c.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ss_service {
    /* the options every service has */
    const char *nats_url;
    ss_nats_auth nats_auth; /* credentials and TLS (ss_nats_auth.h) */
    const char *log_level;
    int64_t admin_port;
    const char *admin_bind; /* "" = every interface */
    /* runtime */
    int64_t started_ms;  /* wall clock, when configured (uptime in health replies) */
    sigset_t sigs;       /* SIGINT + SIGTERM, blocked in every thread */
    ss_nats *nats;       /* owned: the connection and its I/O thread */
    natsConnection *nc;  /* ss_nats_conn(nats), for subscribing and publishing */
    ss_admin_http *admin; /* owned; NULL when --admin-port is 0 */
    atomic_bool shutting_down; /* ss_service_wait took a signal: not ready any more */
} ss_service;

/* An integer setting's allowed range, checked once the options are parsed. */
typedef struct ss_range {
    const char *name; /* its environment variable, for the message */
    const int64_t *v;
    int64_t min, max;
    const char *why; /* NULL, or why the bound matters: appended to the message */
} ss_range;

/* 0, or -1 with the first of the n settings out of its range said on
 * stderr (prefixed with prog). ss_service_configure checks a service's; the
 * gateway, which is no ss_service, checks its own with it. */
int ss_service_check_ranges(const char *prog, const ss_range *r, size_t n);

/* What one service adds to the common part. */
typedef struct ss_service_desc {
    const char *prog;        /* "statsync-stats": --help and error messages */
    const char *summary;     /* --help's first line */
    const char *log_service; /* "stats-service": the "service" of every log line */
    const char *admin_port;  /* default of --admin-port */
    const ss_opt *opts;      /* the service's own options; --help lists the common ones first */
    size_t nopts;
    const ss_range *ranges;  /* checks of the service's own integers (admin-port's is built in) */
    size_t nranges;
} ss_service_desc;

/* The most options of one service, common ones included. */
#define SS_SERVICE_MAX_OPTS 32

/* Reads the environment and argv into s and d->opts (ss_config.h), checks
 * the ranges, the admin bind address and the log level, starts the log
 * (ss_log_init), registers the process_* metrics and statsync_build_info
 * (ss_process_metrics.h), warns about STATSYNC_* variables no statsync
 * program reads and starts the uptime clock. Returns -1 when the service should go on;
 * otherwise the exit code: 0 when --help was printed, 2 when a setting is
 * wrong (said on stderr). */
int ss_service_configure(ss_service *s, const ss_service_desc *d, int argc, char **argv);

/* Blocks SIGINT and SIGTERM in this thread and so in every thread it starts
 * afterwards (they are taken by ss_service_wait), and ignores SIGPIPE. Call
 * before starting any thread. */
void ss_service_block_signals(ss_service *s);

/* ss_nats_create(&s->nats, s->nats_url, &s->nats_auth, name, pool_threads),
 * and s->nc.
 * name is borrowed (ss_nats.h): a literal. SS_ERR_UNAVAILABLE (logged). */
ss_err ss_service_connect(ss_service *s, const char *name, int pool_threads);

/* Serves /livez, /readyz (ready(arg)), /health (health(arg)) — both on
 * libmicrohttpd's thread — and /metrics on s->admin_bind : s->admin_port;
 * port 0 does not listen. Returns 0, or -1 (logged). */
int ss_service_admin_start(ss_service *s, ss_admin_health_fn health, ss_admin_health_fn ready,
                           void *arg);

/* A service's /readyz: 200 {"status":"ok"} while NATS is connected, the
 * service says it is serving (subscribed, not stopping) and no SIGTERM /
 * SIGINT was taken; else 503 {"status":"stopping"|"starting"|"unavailable",
 * "nats":"ok"|"down"}. Any thread. */
json_t *ss_service_readiness(ss_service *s, bool serving, int *status);

/* What every service's statsync.HealthReply says alike: service, instance
 * (borrowed), ok and the uptime (from ss_service_configure). Any thread. */
void ss_service_health_reply(const ss_service *s, const char *service, const char *instance,
                             bool ok, Statsync__HealthReply *r);

/* Waits for SIGINT / SIGTERM: forever when timeout_ms < 0. Returns the
 * signal (and sets s->shutting_down: /readyz answers 503 from then on), or 0
 * when timeout_ms passed first. */
int ss_service_wait(ss_service *s, int64_t timeout_ms);

/* Waits for one of sigs (blocked in the caller): forever when timeout_ms <
 * 0. Returns the signal, or 0 when timeout_ms passed first. Any thread. */
int ss_sigwait(const sigset_t *sigs, int64_t timeout_ms);

/* Stops the admin port (no health callback runs after it returns). */
void ss_service_admin_stop(ss_service *s);

/* Flushes (bounded by flush_timeout_ms) and closes the NATS connection, then
 * shuts cnats' library threads down (nats_Close): no NATS callback runs
 * after it returns. Call once the subscriptions are released
 * (ss_nats_subs_wait). Harmless when never connected. */
void ss_service_disconnect(ss_service *s, int64_t flush_timeout_ms);

#endif
