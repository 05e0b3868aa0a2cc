/* ss_admin_http.h — the small HTTP port each back-end service answers on:
 *   GET /health  -> the JSON the service's health callback builds (200 or 503)
 *   GET /metrics -> ss_metrics_render()
 * Runs on libmicrohttpd's own thread; the health callback runs there. */
#ifndef SS_ADMIN_HTTP_H
#define SS_ADMIN_HTTP_H

#include <jansson.h>
#include <stdint.h>

typedef struct ss_admin_http ss_admin_http;

/* Fills *status (200 / 503) and returns a new JSON object (ownership passes). */
typedef json_t *(*ss_admin_health_fn)(void *arg, int *status);

/* port 0 = do not listen (returns 0 and *out = NULL). Returns 0 or -1. */
int ss_admin_http_start(ss_admin_http **out, uint16_t port, ss_admin_health_fn fn, void *arg);
void ss_admin_http_stop(ss_admin_http *a);

#endif
