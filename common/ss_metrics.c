/* ss_metrics.c — metrics registry and Prometheus text rendering.
 * Registration takes a mutex (rare); updates are relaxed atomics. */
#include "ss_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SS_HIST_BUCKETS 18

typedef enum {
    SS_M_COUNTER,
    SS_M_GAUGE,
    SS_M_GAUGE_FN,
    SS_M_GAUGE_FN_DOUBLE,
    SS_M_COUNTER_FN_DOUBLE,
    SS_M_HIST_NS,
    SS_M_HIST_VAL
} ss_mkind;

struct ss_metric {
    ss_mkind kind;
    char *name, *help, *labels;
    _Atomic int64_t value;
    int64_t (*fn)(void *);
    double (*dfn)(void *);
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

static void ss_metrics__fn_double(ss_mkind kind, const char *name, const char *help,
                                  const char *labels, double (*fn)(void *), void *arg)
{
    struct ss_metric *m = ss_metrics__get(kind, name, help, labels);
    pthread_mutex_lock(&ss_metrics__mu);
    m->dfn = fn;
    m->arg = arg;
    pthread_mutex_unlock(&ss_metrics__mu);
}

void ss_gauge_fn_double(const char *name, const char *help, const char *labels,
                        double (*fn)(void *), void *arg)
{
    ss_metrics__fn_double(SS_M_GAUGE_FN_DOUBLE, name, help, labels, fn, arg);
}

void ss_counter_fn_double(const char *name, const char *help, const char *labels,
                          double (*fn)(void *), void *arg)
{
    ss_metrics__fn_double(SS_M_COUNTER_FN_DOUBLE, name, help, labels, fn, arg);
}

int ss_metric_label_escape(char *buf, size_t cap, const char *value)
{
    size_t o = 0;
    for (const char *p = value ? value : ""; *p != '\0'; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        size_t n = esc ? 2 : 1;
        if (o + n >= cap) {
            if (cap > 0)
                buf[0] = '\0';
            return 0;
        }
        if (esc)
            memcpy(buf + o, esc, 2);
        else
            buf[o] = *p;
        o += n;
    }
    if (cap == 0)
        return 0;
    buf[o] = '\0';
    return 1;
}

const char *ss_metric_labels(char *buf, size_t cap, const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    size_t o = 0;
    int ok = cap > 0;
    for (const char *n = name; ok && n != NULL; n = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        int w = snprintf(buf + o, cap - o, "%s%s=\"", o ? "," : "", n);
        ok = w >= 0 && o + (size_t)w < cap;
        if (!ok)
            break;
        o += (size_t)w;
        ok = ss_metric_label_escape(buf + o, cap - o, v);
        if (!ok)
            break;
        o += strlen(buf + o);
        ok = o + 1 < cap;
        if (ok)
            buf[o++] = '"';
    }
    va_end(ap);
    if (cap > 0)
        buf[ok ? o : 0] = '\0';
    return buf;
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
    if (m->kind == SS_M_GAUGE_FN_DOUBLE || m->kind == SS_M_COUNTER_FN_DOUBLE)
        return m->dfn ? (int64_t)m->dfn(m->arg) : 0;
    return atomic_load_explicit(&m->value, memory_order_relaxed);
}

typedef struct {
    char *buf;
    size_t len, cap;
} ss_sbuf;

static void ss_sbuf_printf(ss_sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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

/* A help text as the format wants it: backslash and newline escaped. */
static void ss_metrics__help(ss_sbuf *s, const char *name, const char *help, const char *type)
{
    ss_sbuf_printf(s, "# HELP %s ", name);
    for (const char *p = help; *p != '\0';) {
        size_t n = strcspn(p, "\\\n");
        ss_sbuf_printf(s, "%.*s", (int)n, p);
        p += n;
        if (*p != '\0')
            ss_sbuf_printf(s, "%s", *p++ == '\\' ? "\\\\" : "\\n");
    }
    ss_sbuf_printf(s, "\n# TYPE %s %s\n", name, type);
}

/* A sample value: integers exactly, fractions in the fewest digits that
 * read back as the same double (0.023, not 0.022957000000000002). */
static void ss_metrics__value(ss_sbuf *s, double v)
{
    if (isnan(v)) {
        ss_sbuf_printf(s, " NaN\n");
    } else if (isinf(v)) {
        ss_sbuf_printf(s, " %s\n", v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 9007199254740992.0) { /* 2^53 */
        ss_sbuf_printf(s, " %lld\n", (long long)v);
    } else {
        char num[32];
        for (int digits = 15; digits <= 17; digits++) {
            snprintf(num, sizeof(num), "%.*g", digits, v);
            if (strtod(num, NULL) == v)
                break;
        }
        ss_sbuf_printf(s, " %s\n", num);
    }
}

static const char *ss_metrics__type(ss_mkind k)
{
    switch (k) {
    case SS_M_COUNTER:
    case SS_M_COUNTER_FN_DOUBLE:
        return "counter";
    case SS_M_GAUGE:
    case SS_M_GAUGE_FN:
    case SS_M_GAUGE_FN_DOUBLE:
        return "gauge";
    default:
        return "histogram";
    }
}

static void ss_metrics__histogram(ss_sbuf *s, struct ss_metric *m)
{
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
        ss_sbuf_printf(s, "%s_bucket", m->name);
        ss_metrics__labels(s, m->labels, le);
        ss_sbuf_printf(s, " %llu\n", (unsigned long long)cum);
    }
    int64_t sum = atomic_load_explicit(&m->sum, memory_order_relaxed);
    ss_sbuf_printf(s, "%s_sum", m->name);
    ss_metrics__labels(s, m->labels, NULL);
    if (ns)
        ss_sbuf_printf(s, " %.9f\n", (double)sum / 1e9);
    else
        ss_sbuf_printf(s, " %lld\n", (long long)sum);
    ss_sbuf_printf(s, "%s_count", m->name);
    ss_metrics__labels(s, m->labels, NULL);
    ss_sbuf_printf(s, " %llu\n",
                   (unsigned long long)atomic_load_explicit(&m->count, memory_order_relaxed));
}

/* ---- collectors ----------------------------------------------------------- */

#define SS_METRICS_MAX_COLLECTORS 16

static struct {
    ss_metrics_collect_fn fn;
    void *arg;
} ss_metrics__collectors[SS_METRICS_MAX_COLLECTORS]; /* ss_metrics__mu */
static size_t ss_metrics__ncollectors;

struct ss_metrics_out {
    ss_sbuf *s;
    const char *family; /* NULL until ss_metrics_family */
};

void ss_metrics_collector(ss_metrics_collect_fn fn, void *arg)
{
    pthread_mutex_lock(&ss_metrics__mu);
    if (ss_metrics__ncollectors < SS_METRICS_MAX_COLLECTORS) {
        ss_metrics__collectors[ss_metrics__ncollectors].fn = fn;
        ss_metrics__collectors[ss_metrics__ncollectors].arg = arg;
        ss_metrics__ncollectors++;
    }
    pthread_mutex_unlock(&ss_metrics__mu);
}

void ss_metrics_family(ss_metrics_out *out, const char *name, const char *help,
                       ss_metric_kind kind)
{
    out->family = name;
    ss_metrics__help(out->s, name, help, kind == SS_METRIC_COUNTER ? "counter" : "gauge");
}

void ss_metrics_sample(ss_metrics_out *out, const char *label, const char *value, double v)
{
    if (out->family == NULL)
        return;
    ss_sbuf_printf(out->s, "%s", out->family);
    if (label != NULL) {
        char esc[256];
        ss_metric_label_escape(esc, sizeof(esc), value);
        ss_sbuf_printf(out->s, "{%s=\"%s\"}", label, esc);
    }
    ss_metrics__value(out->s, v);
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
            ss_metrics__help(&s, m->name, m->help, ss_metrics__type(m->kind));
            last = m->name;
        }
        if (m->kind == SS_M_HIST_NS || m->kind == SS_M_HIST_VAL) {
            ss_metrics__histogram(&s, m);
        } else if (m->kind == SS_M_GAUGE_FN_DOUBLE || m->kind == SS_M_COUNTER_FN_DOUBLE) {
            ss_sbuf_printf(&s, "%s", m->name);
            ss_metrics__labels(&s, m->labels, NULL);
            ss_metrics__value(&s, m->dfn ? m->dfn(m->arg) : 0.0);
        } else {
            ss_sbuf_printf(&s, "%s", m->name);
            ss_metrics__labels(&s, m->labels, NULL);
            ss_sbuf_printf(&s, " %lld\n", (long long)ss_metric_value(m));
        }
    }
    size_t nc = ss_metrics__ncollectors;
    typeof(ss_metrics__collectors[0]) collectors[SS_METRICS_MAX_COLLECTORS];
    memcpy(collectors, ss_metrics__collectors, nc * sizeof(collectors[0]));
    pthread_mutex_unlock(&ss_metrics__mu);
    for (size_t i = 0; i < nc; i++) {
        ss_metrics_out out = {&s, NULL};
        collectors[i].fn(&out, collectors[i].arg);
    }
    *len = s.len;
    return s.buf;
}
