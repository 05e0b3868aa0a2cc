/* ss_metrics.c — metrics registry and Prometheus text rendering.
 * Registration takes a mutex (rare); updates are relaxed atomics. */
#include "ss_metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SS_HIST_BUCKETS 18

typedef enum { SS_M_COUNTER, SS_M_GAUGE, SS_M_GAUGE_FN, SS_M_HIST_NS, SS_M_HIST_VAL } ss_mkind;

struct ss_metric {
    ss_mkind kind;
    char *name, *help, *labels;
    _Atomic int64_t value;
    int64_t (*fn)(void *);
    void *arg;
    _Atomic uint64_t buckets[SS_HIST_BUCKETS + 1]; /* last = +Inf */
    _Atomic int64_t sum;
    _Atomic uint64_t count;
    struct ss_metric *next;
};

/* Upper bounds: ns for latency histograms, plain values for value histograms. */
static const int64_t ss_metrics__ns_bounds[SS_HIST_BUCKETS] = {
    50000,     100000,    250000,     500000,     1000000,    2000000,
    5000000,   10000000,  20000000,   50000000,   100000000,  250000000,
    500000000, 1000000000, 2500000000, 5000000000, 10000000000, 30000000000};
static const int64_t ss_metrics__val_bounds[SS_HIST_BUCKETS] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072};

static pthread_mutex_t ss_metrics__mu = PTHREAD_MUTEX_INITIALIZER;
static struct ss_metric *ss_metrics__head, *ss_metrics__tail;

static char *ss_metrics__dup(const char *s)
{
    return s ? strdup(s) : strdup("");
}

static struct ss_metric *ss_metrics__get(ss_mkind kind, const char *name, const char *help,
                                         const char *labels)
{
    const char *l = labels ? labels : "";
    pthread_mutex_lock(&ss_metrics__mu);
    for (struct ss_metric *m = ss_metrics__head; m; m = m->next) {
        if (m->kind == kind && strcmp(m->name, name) == 0 && strcmp(m->labels, l) == 0) {
            pthread_mutex_unlock(&ss_metrics__mu);
            return m;
        }
    }
    struct ss_metric *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        pthread_mutex_unlock(&ss_metrics__mu);
        abort(); /* out of memory at registration: nothing sensible to do */
    }
    m->kind = kind;
    m->name = ss_metrics__dup(name);
    m->help = ss_metrics__dup(help);
    m->labels = ss_metrics__dup(l);
    /* Keep metrics of one name together so # HELP / # TYPE appear once. */
    struct ss_metric *after = NULL;
    for (struct ss_metric *p = ss_metrics__head; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            after = p;
    if (after) {
        m->next = after->next;
        after->next = m;
        if (ss_metrics__tail == after)
            ss_metrics__tail = m;
    } else if (ss_metrics__tail) {
        ss_metrics__tail->next = m;
        ss_metrics__tail = m;
    } else {
        ss_metrics__head = ss_metrics__tail = m;
    }
    pthread_mutex_unlock(&ss_metrics__mu);
    return m;
}

ss_counter *ss_counter_get(const char *name, const char *help, const char *labels)
{
    return ss_metrics__get(SS_M_COUNTER, name, help, labels);
}

void ss_counter_add(ss_counter *c, uint64_t v)
{
    atomic_fetch_add_explicit(&c->value, (int64_t)v, memory_order_relaxed);
}

ss_gauge *ss_gauge_get(const char *name, const char *help, const char *labels)
{
    return ss_metrics__get(SS_M_GAUGE, name, help, labels);
}

void ss_gauge_set(ss_gauge *g, int64_t v)
{
    atomic_store_explicit(&g->value, v, memory_order_relaxed);
}

void ss_gauge_add(ss_gauge *g, int64_t delta)
{
    atomic_fetch_add_explicit(&g->value, delta, memory_order_relaxed);
}

void ss_gauge_fn(const char *name, const char *help, const char *labels, int64_t (*fn)(void *),
                 void *arg)
{
    struct ss_metric *m = ss_metrics__get(SS_M_GAUGE_FN, name, help, labels);
    pthread_mutex_lock(&ss_metrics__mu);
    m->fn = fn;
    m->arg = arg;
    pthread_mutex_unlock(&ss_metrics__mu);
}

ss_histogram *ss_histogram_get(const char *name, const char *help, const char *labels)
{
    return ss_metrics__get(SS_M_HIST_NS, name, help, labels);
}

ss_histogram *ss_histogram_get_values(const char *name, const char *help, const char *labels)
{
    return ss_metrics__get(SS_M_HIST_VAL, name, help, labels);
}

void ss_metrics_register(const ss_metric_def *defs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const ss_metric_def *d = &defs[i];
        switch (d->kind) {
        case SS_METRIC_COUNTER:
            *d->out = ss_counter_get(d->name, d->help, d->labels);
            break;
        case SS_METRIC_GAUGE:
            *d->out = ss_gauge_get(d->name, d->help, d->labels);
            break;
        case SS_METRIC_HISTOGRAM:
            *d->out = ss_histogram_get(d->name, d->help, d->labels);
            break;
        case SS_METRIC_HISTOGRAM_VALUES:
            *d->out = ss_histogram_get_values(d->name, d->help, d->labels);
            break;
        }
    }
}

void ss_histogram_observe(ss_histogram *h, int64_t v)
{
    const int64_t *b = h->kind == SS_M_HIST_NS ? ss_metrics__ns_bounds : ss_metrics__val_bounds;
    int i = 0;
    while (i < SS_HIST_BUCKETS && v > b[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

int64_t ss_metric_value(const struct ss_metric *m)
{
    if (m->kind == SS_M_GAUGE_FN)
        return m->fn ? m->fn(m->arg) : 0;
    return atomic_load_explicit(&m->value, memory_order_relaxed);
}

typedef struct {
    char *buf;
    size_t len, cap;
} ss_sbuf;

static void ss_sbuf_printf(ss_sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static void ss_sbuf_printf(ss_sbuf *s, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (s->len + (size_t)n < s->cap) {
            s->len += (size_t)n;
            return;
        }
        size_t ncap = (s->cap + (size_t)n) * 2;
        char *nb = realloc(s->buf, ncap);
        if (nb == NULL)
            return;
        s->buf = nb;
        s->cap = ncap;
    }
}

static void ss_metrics__labels(ss_sbuf *s, const char *labels, const char *extra)
{
    int has = labels[0] != '\0', hx = extra && extra[0];
    if (!has && !hx)
        return;
    ss_sbuf_printf(s, "{%s%s%s}", labels, has && hx ? "," : "", hx ? extra : "");
}

char *ss_metrics_render(size_t *len)
{
    ss_sbuf s = {malloc(4096), 0, 4096};
    if (s.buf == NULL)
        return NULL;
    s.buf[0] = '\0';
    pthread_mutex_lock(&ss_metrics__mu);
    const char *last = "";
    for (struct ss_metric *m = ss_metrics__head; m; m = m->next) {
        if (strcmp(last, m->name) != 0) {
            const char *type = m->kind == SS_M_COUNTER ? "counter"
                               : (m->kind == SS_M_GAUGE || m->kind == SS_M_GAUGE_FN)
                                   ? "gauge"
                                   : "histogram";
            ss_sbuf_printf(&s, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, type);
            last = m->name;
        }
        if (m->kind == SS_M_HIST_NS || m->kind == SS_M_HIST_VAL) {
            int ns = m->kind == SS_M_HIST_NS;
            const int64_t *b = ns ? ss_metrics__ns_bounds : ss_metrics__val_bounds;
            uint64_t cum = 0;
            char le[48];
            for (int i = 0; i <= SS_HIST_BUCKETS; i++) {
                cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
                if (i == SS_HIST_BUCKETS)
                    snprintf(le, sizeof(le), "le=\"+Inf\"");
                else if (ns)
                    snprintf(le, sizeof(le), "le=\"%g\"", (double)b[i] / 1e9);
                else
                    snprintf(le, sizeof(le), "le=\"%lld\"", (long long)b[i]);
                ss_sbuf_printf(&s, "%s_bucket", m->name);
                ss_metrics__labels(&s, m->labels, le);
                ss_sbuf_printf(&s, " %llu\n", (unsigned long long)cum);
            }
            int64_t sum = atomic_load_explicit(&m->sum, memory_order_relaxed);
            ss_sbuf_printf(&s, "%s_sum", m->name);
            ss_metrics__labels(&s, m->labels, NULL);
            if (ns)
                ss_sbuf_printf(&s, " %.9f\n", (double)sum / 1e9);
            else
                ss_sbuf_printf(&s, " %lld\n", (long long)sum);
            ss_sbuf_printf(&s, "%s_count", m->name);
            ss_metrics__labels(&s, m->labels, NULL);
            ss_sbuf_printf(&s, " %llu\n",
                           (unsigned long long)atomic_load_explicit(&m->count,
                                                                    memory_order_relaxed));
        } else {
            ss_sbuf_printf(&s, "%s", m->name);
            ss_metrics__labels(&s, m->labels, NULL);
            ss_sbuf_printf(&s, " %lld\n", (long long)ss_metric_value(m));
        }
    }
    pthread_mutex_unlock(&ss_metrics__mu);
    *len = s.len;
    return s.buf;
}
