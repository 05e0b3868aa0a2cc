/* ss_admin_http.h — the small HTTP port each back-end service answers on:
 *   GET /livez   -> 200 {"status":"ok"}: the process and this port's thread answer
 *   GET /readyz  -> the service's readiness callback (200 or 503): it can serve
 *   GET /health  -> the JSON the service's health callback builds (200 or 503)
 *   GET /metrics -> ss_metrics_render()
 * Runs on libmicrohttpd's own thread; the callbacks run there. */
#ifndef SS_ADMIN_HTTP_H
#define SS_ADMIN_HTTP_H

#include <jansson.h>
#include <stdint.h>

typedef struct ss_admin_http ss_admin_http;

/* Fills *status (200 / 503) and returns a new JSON object (ownership passes). */
typedef json_t *(*ss_admin_health_fn)(void *arg, int *status);

typedef struct ss_admin_config {
    const char *bind;          /* numeric address to listen on; NULL or "" = every interface */
    uint16_t port;             /* 0 = do not listen */
    ss_admin_health_fn health; /* /health */
    ss_admin_health_fn ready;  /* /readyz */
    void *arg;                 /* of both */
} ss_admin_config;

/* Listens as c says (port 0: returns 0 and *out = NULL). Returns 0 or -1
 * (logged: a bad bind address, or the port is taken). */
int ss_admin_http_start(ss_admin_http **out, const ss_admin_config *c);
void ss_admin_http_stop(ss_admin_http *a);

#endif
