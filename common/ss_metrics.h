/* ss_metrics.h — process-wide Prometheus metrics registry.
 *
 * Metrics are looked up by (name, labels) and created on first use; the
 * returned pointer lives until exit, so hot paths look a metric up once and
 * keep the pointer. Updates are lock-free atomics, safe from any thread.
 *
 *   static ss_counter *ok;  ok = ss_counter_get("statsync_http_requests_total",
 *                               "HTTP requests", "route=\"patch\",status=\"200\"");
 *   ss_counter_add(ok, 1);
 *
 * Histograms take nanoseconds and render seconds, with fixed buckets from
 * 50 us to 10 s (or, with ss_histogram_get_values, plain value buckets). */
#ifndef SS_METRICS_H
#define SS_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ss_metric ss_counter;
typedef struct ss_metric ss_gauge;
typedef struct ss_metric ss_histogram;

/* labels: Prometheus label text without braces, e.g. `route="x",status="200"`, or NULL. */
ss_counter *ss_counter_get(const char *name, const char *help, const char *labels);
void ss_counter_add(ss_counter *c, uint64_t v);

ss_gauge *ss_gauge_get(const char *name, const char *help, const char *labels);
void ss_gauge_set(ss_gauge *g, int64_t v);
void ss_gauge_add(ss_gauge *g, int64_t delta);
/* A gauge whose value is read from fn(arg) at scrape time. */
void ss_gauge_fn(const char *name, const char *help, const char *labels, int64_t (*fn)(void *),
                 void *arg);

/* Latency histogram: observe nanoseconds, rendered in seconds. */
ss_histogram *ss_histogram_get(const char *name, const char *help, const char *labels);
/* Value histogram (sizes, counts): buckets 1,2,4,...,4096. */
ss_histogram *ss_histogram_get_values(const char *name, const char *help, const char *labels);
void ss_histogram_observe(ss_histogram *h, int64_t v);

/* A file's metrics as data: each def names where its pointer goes, so a
 * module registers everything it counts in one call (at start-up, before
 * the pointers are used; any thread, registration takes the registry lock). */
typedef enum ss_metric_kind {
    SS_METRIC_COUNTER,
    SS_METRIC_GAUGE,
    SS_METRIC_HISTOGRAM,        /* nanoseconds, rendered in seconds */
    SS_METRIC_HISTOGRAM_VALUES, /* sizes, counts */
} ss_metric_kind;

typedef struct ss_metric_def {
    struct ss_metric **out;
    ss_metric_kind kind;
    const char *name, *help, *labels; /* labels may be NULL */
} ss_metric_def;

void ss_metrics_register(const ss_metric_def *defs, size_t n);

/* Current value (counters and gauges), for tests and /health. */
int64_t ss_metric_value(const struct ss_metric *m);

/* Renders every metric in Prometheus text exposition format 0.0.4.
 * Returns a malloc'ed NUL-terminated string (caller frees); *len its length. */
char *ss_metrics_render(size_t *len);

#endif
