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
 * 50 us to 10 s (or, with ss_histogram_get_values, plain value buckets).
 *
 * Label values are escaped as the text format wants (backslash, double
 * quote, newline): build label text with ss_metric_labels() whenever a value
 * is not a literal; the series a collector emits are escaped by the
 * renderer. Help texts are escaped by the renderer. */
#ifndef SS_METRICS_H
#define SS_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ss_metric ss_counter;
typedef struct ss_metric ss_gauge;
typedef struct ss_metric ss_histogram;

/* labels: Prometheus label text without braces, e.g. `route="x",status="200"`, or NULL:
 * a literal, or made by ss_metric_labels. */
ss_counter *ss_counter_get(const char *name, const char *help, const char *labels);
void ss_counter_add(ss_counter *c, uint64_t v);

ss_gauge *ss_gauge_get(const char *name, const char *help, const char *labels);
void ss_gauge_set(ss_gauge *g, int64_t v);
void ss_gauge_add(ss_gauge *g, int64_t delta);
/* A gauge whose value is read from fn(arg) at scrape time. */
void ss_gauge_fn(const char *name, const char *help, const char *labels, int64_t (*fn)(void *),
                 void *arg);

/* A gauge / counter whose fractional value is read from fn(arg) at scrape
 * time (process_cpu_seconds_total, a start time in seconds). */
void ss_gauge_fn_double(const char *name, const char *help, const char *labels,
                        double (*fn)(void *), void *arg);
void ss_counter_fn_double(const char *name, const char *help, const char *labels,
                          double (*fn)(void *), void *arg);

/* Label text from name / value pairs ending with NULL, every value escaped:
 *   ss_metric_labels(buf, sizeof(buf), "route", name, "status", "200", NULL)
 *   -> route="…",status="200"
 * Returns buf; "" when the pairs do not fit (never a broken text). */
const char *ss_metric_labels(char *buf, size_t cap, const char *name, ...)
    __attribute__((sentinel));
/* value escaped for a label (\ " 
) into buf; false (buf "") when it does not fit. */
int ss_metric_label_escape(char *buf, size_t cap, const char *value);

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

/* Series made at scrape time, for families whose label values come and go
 * (one series per partition served now). fn(out, arg) runs on the scraping
 * thread, outside the registry's lock (it may take locks of its own, but
 * must not register metrics), and calls ss_metrics_family() once per
 * family, then ss_metrics_sample() for each of its series. Collectors are
 * rendered after the registered metrics; their names must not be
 * registered too. arg must stay valid until exit. At most 16. */
typedef struct ss_metrics_out ss_metrics_out;
typedef void (*ss_metrics_collect_fn)(ss_metrics_out *out, void *arg);
void ss_metrics_collector(ss_metrics_collect_fn fn, void *arg);
/* kind: SS_METRIC_COUNTER or SS_METRIC_GAUGE. */
void ss_metrics_family(ss_metrics_out *out, const char *name, const char *help,
                       ss_metric_kind kind);
/* One series of the current family; label NULL for none; value escaped here. */
void ss_metrics_sample(ss_metrics_out *out, const char *label, const char *value, double v);

/* Current value (counters and gauges), for tests and /health. */
int64_t ss_metric_value(const struct ss_metric *m);

/* Renders every metric in Prometheus text exposition format 0.0.4.
 * Returns a malloc'ed NUL-terminated string (caller frees); *len its length. */
char *ss_metrics_render(size_t *len);

#endif
