/* merge.c — the merge rules, driven by one table of fields.
 *
 * A delta adds (numbers), appends (timePerQuestion, last 100 kept) or replaces
 * (lastGameResults); then its `set` part overrides absolute values. A full
 * write replaces the fields it gives, last-write-wins on updatedAt. After
 * every op the derived fields are brought up to date as their table row says
 * (maxStreak, accuracy). See merge.h for the contract.
 * Pure: no I/O, no globals that change; any thread. */
#include "merge.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef enum merge_kind { MERGE_INT, MERGE_DOUBLE, MERGE_ARRAY, MERGE_JSON } merge_kind;

/* How a field follows others, after every op (merge__derive). */
typedef enum merge_derive {
    MERGE_DERIVE_NONE,
    /* self = max(self, a), whatever the op gave (maxStreak >= streak) */
    MERGE_DERIVE_AT_LEAST,
    /* self = round(100·a/b), 0 when b is 0 — only after an op that changed a
     * or b and gave no value for self: a value the client gives (a full
     * write, a delta's add or __set) is kept as given (accuracy) */
    MERGE_DERIVE_PERCENT,
} merge_derive;

/* One row of the rule table. */
typedef struct merge_field {
    const char *name;       /* client-facing name, used in messages */
    merge_kind kind;
    size_t has_off;         /* offset of has_* in Statsync__StatsFields (INT, DOUBLE) */
    size_t val_off;         /* offset of the value / pointer in Statsync__StatsFields */
    size_t doc_off;         /* offset of the value in stats_doc */
    int64_t min, max;       /* INT, DOUBLE: range after the op; above max clamps */
    ss_err below_min_delta; /* an add ending below min: SS_OK = clamp, else refuse */
    ss_err below_min_abs;   /* a set / full-write value below min: same */
    merge_derive derive;    /* INT only */
    size_t from_a, from_b;  /* offsets in stats_doc of the fields it derives from */
} merge_field;

#define MERGE__SF(m) offsetof(Statsync__StatsFields, m)
#define MERGE__SAFE DOC_MAX_SAFE_INT
#define MERGE__INT(c, j, mn, mx, bd, ba, dv)                                                \
    {j, MERGE_INT, MERGE__SF(has_##c), MERGE__SF(c), offsetof(stats_doc, c), mn, mx, bd, ba, dv}
/* the last column of a row: how it is derived */
#define MERGE__OWN MERGE_DERIVE_NONE, 0, 0
#define MERGE__AT_LEAST(a) MERGE_DERIVE_AT_LEAST, offsetof(stats_doc, a), 0
#define MERGE__PERCENT(a, b) MERGE_DERIVE_PERCENT, offsetof(stats_doc, a), offsetof(stats_doc, b)

/* THE game rules. Counters clamp at 0; hearts stay in [0, 5]; diamonds are a
 * currency: a delta below 0 is refused (409 insufficient_funds), a negative
 * absolute value is invalid (400). maxStreak = max(maxStreak, streak) after
 * every op; accuracy = round(100·correct/total) after an op that changes
 * correctAnswers / totalQuestions without giving accuracy itself — a given
 * accuracy (full write included) is stored as given. Everything is bounded
 * by ±(2^53-1). */
static const merge_field merge__fields[] = {
    MERGE__INT(xp, "xp", 0, MERGE__SAFE, SS_OK, SS_OK, MERGE__OWN),
    MERGE__INT(hearts, "hearts", 0, DOC_HEARTS_MAX, SS_OK, SS_OK, MERGE__OWN),
    MERGE__INT(diamonds, "diamonds", 0, MERGE__SAFE, SS_ERR_INSUFFICIENT_FUNDS,
               SS_ERR_INVALID_VALUE, MERGE__OWN),
    MERGE__INT(level, "level", 0, MERGE__SAFE, SS_OK, SS_OK, MERGE__OWN),
    MERGE__INT(streak, "streak", 0, MERGE__SAFE, SS_OK, SS_OK, MERGE__OWN),
    MERGE__INT(max_streak, "maxStreak", 0, MERGE__SAFE, SS_OK, SS_OK, MERGE__AT_LEAST(streak)),
    MERGE__INT(accuracy, "accuracy", 0, MERGE__SAFE, SS_OK, SS_OK,
               MERGE__PERCENT(correct_answers, total_questions)),
    MERGE__INT(completed_questions, "completedQuestions", 0, MERGE__SAFE, SS_OK, SS_OK,
               MERGE__OWN),
    MERGE__INT(correct_answers, "correctAnswers", 0, MERGE__SAFE, SS_OK, SS_OK, MERGE__OWN),
    MERGE__INT(wrong_answers, "wrongAnswers", 0, MERGE__SAFE, SS_OK, SS_OK, MERGE__OWN),
    MERGE__INT(total_questions, "totalQuestions", 0, MERGE__SAFE, SS_OK, SS_OK, MERGE__OWN),
    {"totalTimeSpent", MERGE_DOUBLE, MERGE__SF(has_total_time_spent),
     MERGE__SF(total_time_spent), offsetof(stats_doc, total_time_spent), 0, MERGE__SAFE, SS_OK,
     SS_OK, MERGE__OWN},
    {"timePerQuestion", MERGE_ARRAY, 0, MERGE__SF(time_per_question), offsetof(stats_doc, times),
     0, 0, SS_OK, SS_OK, MERGE__OWN},
    {"lastGameResults", MERGE_JSON, 0, MERGE__SF(last_game_results),
     offsetof(stats_doc, last_game_results), 0, 0, SS_OK, SS_OK, MERGE__OWN},
};
#define MERGE__NFIELDS (sizeof(merge__fields) / sizeof(merge__fields[0]))

static ss_err merge__fail(merge_error *e, ss_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ss_err merge__fail(merge_error *e, ss_err err, const char *fmt, ...)
{
    if (e != NULL) {
        va_list ap;
        va_start(ap, fmt);
        e->err = err;
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
    }
    return err;
}

/* ---- accessors: a table row applied to a StatsFields / stats_doc ---- */

static bool merge__given(const merge_field *f, const Statsync__StatsFields *s)
{
    const char *p = (const char *)s;
    if (f->kind == MERGE_INT || f->kind == MERGE_DOUBLE)
        return *(const protobuf_c_boolean *)(p + f->has_off);
    return *(void *const *)(p + f->val_off) != NULL;
}

static int64_t merge__in_int(const merge_field *f, const Statsync__StatsFields *s)
{
    return *(const int64_t *)((const char *)s + f->val_off);
}

static double merge__in_double(const merge_field *f, const Statsync__StatsFields *s)
{
    return *(const double *)((const char *)s + f->val_off);
}

static const Statsync__DoubleList *merge__in_list(const merge_field *f,
                                                  const Statsync__StatsFields *s)
{
    return *(Statsync__DoubleList *const *)((const char *)s + f->val_off);
}

static const char *merge__in_text(const merge_field *f, const Statsync__StatsFields *s)
{
    return *(char *const *)((const char *)s + f->val_off);
}

static int64_t *merge__doc_int(const merge_field *f, stats_doc *d)
{
    return (int64_t *)((char *)d + f->doc_off);
}

static double *merge__doc_double(const merge_field *f, stats_doc *d)
{
    return (double *)((char *)d + f->doc_off);
}

/* ---- input checks: the value as sent, before it meets the document ---- */

static ss_err merge__check_double(const merge_field *f, double v, merge_error *e)
{
    if (!isfinite(v))
        return merge__fail(e, SS_ERR_INVALID_VALUE, "%s must be a finite number", f->name);
    if (fabs(v) > (double)MERGE__SAFE)
        return merge__fail(e, SS_ERR_OVERFLOW, "%s must be within ±(2^53-1)", f->name);
    return SS_OK;
}

static ss_err merge__check_json(const merge_field *f, const char *text, merge_error *e)
{
    size_t len = strlen(text);
    if (len > DOC_MAX_GAME_RESULTS)
        return merge__fail(e, SS_ERR_INVALID_VALUE, "%s is larger than %d bytes", f->name,
                           DOC_MAX_GAME_RESULTS);
    json_error_t jerr;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (j == NULL)
        return merge__fail(e, SS_ERR_INVALID_VALUE, "%s is not valid JSON", f->name);
    bool ok = json_is_object(j) || json_is_null(j);
    json_decref(j);
    if (!ok)
        return merge__fail(e, SS_ERR_INVALID_TYPE, "%s must be an object or null", f->name);
    return SS_OK;
}

static ss_err merge__check(const merge_field *f, const Statsync__StatsFields *s, merge_error *e)
{
    switch (f->kind) {
    case MERGE_INT: {
        int64_t v = merge__in_int(f, s);
        if (v > MERGE__SAFE || v < -MERGE__SAFE)
            return merge__fail(e, SS_ERR_OVERFLOW, "%s must be within ±(2^53-1)", f->name);
        return SS_OK;
    }
    case MERGE_DOUBLE:
        return merge__check_double(f, merge__in_double(f, s), e);
    case MERGE_ARRAY: {
        const Statsync__DoubleList *l = merge__in_list(f, s);
        for (size_t i = 0; i < l->n_values; i++) {
            ss_err rc = merge__check_double(f, l->values[i], e);
            if (rc != SS_OK)
                return rc;
        }
        return SS_OK;
    }
    case MERGE_JSON:
        return merge__check_json(f, merge__in_text(f, s), e);
    }
    return merge__fail(e, SS_ERR_INTERNAL, "unknown field kind");
}

/* ---- bounds: the value after the op, against the table ---- */

static ss_err merge__bound_int(const merge_field *f, int64_t *r, bool delta, int64_t old,
                               merge_error *e)
{
    if (*r > MERGE__SAFE || *r < -MERGE__SAFE)
        return merge__fail(e, SS_ERR_OVERFLOW, "%s would leave ±(2^53-1)", f->name);
    if (*r < f->min) {
        ss_err refuse = delta ? f->below_min_delta : f->below_min_abs;
        if (refuse == SS_ERR_INSUFFICIENT_FUNDS)
            return merge__fail(e, refuse, "not enough %s (have %lld, need %lld)", f->name,
                               (long long)old, (long long)(f->min - (*r - old)));
        if (refuse != SS_OK)
            return merge__fail(e, refuse, "%s must not be below %lld", f->name,
                               (long long)f->min);
        *r = f->min;
    }
    if (*r > f->max)
        *r = f->max;
    return SS_OK;
}

static ss_err merge__bound_double(const merge_field *f, double *r, bool delta, merge_error *e)
{
    if (!isfinite(*r) || fabs(*r) > (double)MERGE__SAFE)
        return merge__fail(e, SS_ERR_OVERFLOW, "%s would leave ±(2^53-1)", f->name);
    if (*r < (double)f->min) {
        ss_err refuse = delta ? f->below_min_delta : f->below_min_abs;
        if (refuse != SS_OK)
            return merge__fail(e, refuse, "%s must not be below %lld", f->name,
                               (long long)f->min);
        *r = (double)f->min;
    }
    if (*r > (double)f->max)
        *r = (double)f->max;
    return SS_OK;
}

/* ---- one field of an add (delta: the value is added to the stored one) or
 * an absolute value ---- */

static ss_err merge__field(const merge_field *f, const Statsync__StatsFields *s, bool delta,
                           stats_doc *d, merge_error *e)
{
    ss_err rc = merge__check(f, s, e);
    if (rc != SS_OK)
        return rc;
    switch (f->kind) {
    case MERGE_INT: {
        int64_t *cur = merge__doc_int(f, d);
        int64_t in = merge__in_int(f, s);
        int64_t r = delta ? *cur + in : in; /* both within 2^53: no int64 overflow */
        rc = merge__bound_int(f, &r, delta, *cur, e);
        if (rc == SS_OK)
            *cur = r;
        return rc;
    }
    case MERGE_DOUBLE: {
        double *cur = merge__doc_double(f, d);
        double in = merge__in_double(f, s);
        double r = delta ? *cur + in : in;
        rc = merge__bound_double(f, &r, delta, e);
        if (rc == SS_OK)
            *cur = r;
        return rc;
    }
    case MERGE_ARRAY: {
        const Statsync__DoubleList *l = merge__in_list(f, s);
        if (delta)
            doc_times_append(d, l->values, l->n_values);
        else
            doc_times_set(d, l->values, l->n_values);
        return SS_OK;
    }
    case MERGE_JSON:
        if (doc_set_game_results(d, merge__in_text(f, s)) != SS_OK)
            return merge__fail(e, SS_ERR_INTERNAL, "out of memory");
        return SS_OK;
    }
    return merge__fail(e, SS_ERR_INTERNAL, "unknown field kind");
}

/* Every field given in s, in table order; the first refusal stops. */
static ss_err merge__fields_apply(const Statsync__StatsFields *s, bool delta, stats_doc *d,
                                  merge_error *e)
{
    for (size_t i = 0; i < MERGE__NFIELDS; i++) {
        if (!merge__given(&merge__fields[i], s))
            continue;
        ss_err rc = merge__field(&merge__fields[i], s, delta, d, e);
        if (rc != SS_OK)
            return rc;
    }
    return SS_OK;
}

/* ---- derived fields (the table's derive column) ---- */

static int64_t merge__doc_at(const stats_doc *d, size_t off)
{
    return *(const int64_t *)((const char *)d + off);
}

/* True when op gives field f: in a delta's add or set, or in a full write. */
static bool merge__op_gives(const merge_field *f, const Statsync__Operation *op)
{
    if (op->kind_case == STATSYNC__OPERATION__KIND_FULL)
        return merge__given(f, op->full);
    return (op->delta->add && merge__given(f, op->delta->add)) ||
           (op->delta->set && merge__given(f, op->delta->set));
}

/* The inputs of every derived field before an op: snap[i] = {a, b} of row i. */
static void merge__derive_snapshot(const stats_doc *d, int64_t snap[][2])
{
    for (size_t i = 0; i < MERGE__NFIELDS; i++) {
        const merge_field *f = &merge__fields[i];
        snap[i][0] = f->derive != MERGE_DERIVE_NONE ? merge__doc_at(d, f->from_a) : 0;
        snap[i][1] = f->derive == MERGE_DERIVE_PERCENT ? merge__doc_at(d, f->from_b) : 0;
    }
}

/* After op: every derived field of the table, given snap (its inputs before
 * the op). */
static void merge__derive(const Statsync__Operation *op, int64_t snap[][2], stats_doc *d)
{
    for (size_t i = 0; i < MERGE__NFIELDS; i++) {
        const merge_field *f = &merge__fields[i];
        int64_t *self = f->derive != MERGE_DERIVE_NONE ? merge__doc_int(f, d) : NULL;
        switch (f->derive) {
        case MERGE_DERIVE_NONE:
            break;
        case MERGE_DERIVE_AT_LEAST: {
            int64_t a = merge__doc_at(d, f->from_a);
            if (a > *self)
                *self = a;
            break;
        }
        case MERGE_DERIVE_PERCENT: {
            int64_t a = merge__doc_at(d, f->from_a), b = merge__doc_at(d, f->from_b);
            if ((a == snap[i][0] && b == snap[i][1]) || merge__op_gives(f, op))
                break;
            /* both >= 0 and < 2^53 (clamped): 200·a fits int64 */
            *self = b > 0 ? (200 * a + b) / (2 * b) : 0;
            if (*self > MERGE__SAFE) /* a > b can reach 100·(2^53-1): keep it JS-exact */
                *self = MERGE__SAFE;
            break;
        }
        }
    }
}

static ss_err merge__delta(const Statsync__Delta *delta, stats_doc *d, merge_error *e)
{
    if ((delta->add && delta->add->has_updated_at_ms) ||
        (delta->set && delta->set->has_updated_at_ms))
        return merge__fail(e, SS_ERR_BAD_REQUEST, "updatedAt is set by the server on deltas");
    ss_err rc = SS_OK;
    if (delta->add)
        rc = merge__fields_apply(delta->add, true, d, e);
    if (rc == SS_OK && delta->set)
        rc = merge__fields_apply(delta->set, false, d, e);
    return rc;
}

/* A full write: checked against the stored document `in`, applied to d. */
static ss_err merge__full(const Statsync__StatsFields *full, const stats_doc *in,
                          int64_t now_ms, stats_doc *d, merge_error *e)
{
    if (!full->has_updated_at_ms)
        return merge__fail(e, SS_ERR_INVALID_VALUE, "updatedAt is required in a full write");
    ss_err rc = merge__fields_apply(full, false, d, e);
    if (rc != SS_OK)
        return rc;
    if (full->updated_at_ms < 0)
        return merge__fail(e, SS_ERR_INVALID_VALUE, "updatedAt must not be before 1970");
    if (full->updated_at_ms > now_ms + MERGE_MAX_FUTURE_MS)
        return merge__fail(e, SS_ERR_INVALID_VALUE,
                           "updatedAt is more than 5 minutes in the future");
    if (full->updated_at_ms <= in->updated_at_ms)
        return merge__fail(e, SS_ERR_CONFLICT, "updatedAt is not newer than the stored one");
    d->updated_at_ms = full->updated_at_ms;
    return SS_OK;
}

ss_err merge_validate_ops(Statsync__Operation *const *ops, size_t n, merge_error *e)
{
    if (n == 0)
        return merge__fail(e, SS_ERR_BAD_REQUEST, "no operations");
    if (n > MERGE_MAX_OPS)
        return merge__fail(e, SS_ERR_BAD_REQUEST, "more than %d operations", MERGE_MAX_OPS);
    for (size_t i = 0; i < n; i++) {
        const Statsync__Operation *op = ops[i];
        if (op->op_id != NULL && strlen(op->op_id) > MERGE_MAX_OP_ID)
            return merge__fail(e, SS_ERR_BAD_REQUEST, "opId is longer than %d bytes",
                               MERGE_MAX_OP_ID);
        switch (op->kind_case) {
        case STATSYNC__OPERATION__KIND_DELTA:
            if (op->delta == NULL)
                return merge__fail(e, SS_ERR_BAD_REQUEST, "operation %zu has no delta", i);
            break;
        case STATSYNC__OPERATION__KIND_FULL:
            if (op->full == NULL)
                return merge__fail(e, SS_ERR_BAD_REQUEST, "operation %zu has no stats", i);
            if (n != 1)
                return merge__fail(e, SS_ERR_BAD_REQUEST,
                                   "a full write must be the only operation");
            break;
        default:
            return merge__fail(e, SS_ERR_BAD_REQUEST, "operation %zu is empty", i);
        }
    }
    return SS_OK;
}

ss_err merge_apply(const stats_doc *in, Statsync__Operation *const *ops, size_t n,
                   int64_t now_ms, stats_doc *out, merge_error *e)
{
    ss_err rc = merge_validate_ops(ops, n, e);
    if (rc != SS_OK)
        return rc;
    stats_doc work;
    if (doc_copy(&work, in) != SS_OK)
        return merge__fail(e, SS_ERR_INTERNAL, "out of memory");
    bool full = false;
    int64_t snap[MERGE__NFIELDS][2];
    for (size_t i = 0; i < n; i++) {
        merge__derive_snapshot(&work, snap);
        if (ops[i]->kind_case == STATSYNC__OPERATION__KIND_FULL) {
            full = true;
            rc = merge__full(ops[i]->full, in, now_ms, &work, e);
        } else {
            rc = merge__delta(ops[i]->delta, &work, e);
        }
        if (rc != SS_OK)
            goto fail;
        merge__derive(ops[i], snap, &work);
    }
    if (!full) /* strictly increasing per user, even if the clock went back */
        work.updated_at_ms = now_ms > in->updated_at_ms ? now_ms : in->updated_at_ms + 1;
    work.version = in->version + 1;
    *out = work;
    return SS_OK;
fail:
    doc_free(&work);
    return rc;
}

/* ---- combining applied deltas for the ChangeEvent ---- */

static int64_t merge__sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* Appends l to the list (dst, vals), keeping the last DOC_MAX_TIMES. */
static void merge__list_append(Statsync__DoubleList *dst, double *vals, const double *v,
                               size_t n)
{
    if (n >= DOC_MAX_TIMES) {
        memcpy(vals, v + (n - DOC_MAX_TIMES), DOC_MAX_TIMES * sizeof(double));
        dst->n_values = DOC_MAX_TIMES;
        return;
    }
    size_t keep = dst->n_values;
    if (keep + n > DOC_MAX_TIMES) {
        size_t drop = keep + n - DOC_MAX_TIMES;
        memmove(vals, vals + drop, (keep - drop) * sizeof(double));
        keep -= drop;
    }
    if (n > 0)
        memcpy(vals + keep, v, n * sizeof(double));
    dst->n_values = keep + n;
}

/* Adds field f of `src` into `dst` (an add part), or replaces (a set part). */
static void merge__combine_field(const merge_field *f, const Statsync__StatsFields *src,
                                 Statsync__StatsFields *dst, Statsync__DoubleList *dst_list,
                                 double *dst_vals, bool add)
{
    char *p = (char *)dst;
    bool had = merge__given(f, dst);
    switch (f->kind) {
    case MERGE_INT: {
        int64_t *v = (int64_t *)(p + f->val_off);
        *v = (add && had) ? merge__sat_add(*v, merge__in_int(f, src)) : merge__in_int(f, src);
        *(protobuf_c_boolean *)(p + f->has_off) = 1;
        break;
    }
    case MERGE_DOUBLE: {
        double *v = (double *)(p + f->val_off);
        *v = (add && had) ? *v + merge__in_double(f, src) : merge__in_double(f, src);
        *(protobuf_c_boolean *)(p + f->has_off) = 1;
        break;
    }
    case MERGE_ARRAY: {
        const Statsync__DoubleList *l = merge__in_list(f, src);
        if (!add || !had)
            dst_list->n_values = 0;
        merge__list_append(dst_list, dst_vals, l->values, l->n_values);
        dst_list->values = dst_vals;
        *(Statsync__DoubleList **)(p + f->val_off) = dst_list;
        break;
    }
    case MERGE_JSON:
        *(const char **)(p + f->val_off) = merge__in_text(f, src);
        break;
    }
}

static bool merge__any_given(const Statsync__StatsFields *s)
{
    for (size_t i = 0; i < MERGE__NFIELDS; i++)
        if (merge__given(&merge__fields[i], s))
            return true;
    return false;
}

bool merge_combine(Statsync__Operation *const *ops, size_t n, merge_delta *out)
{
    static const Statsync__Delta delta_init = STATSYNC__DELTA__INIT;
    static const Statsync__StatsFields fields_init = STATSYNC__STATS_FIELDS__INIT;
    static const Statsync__DoubleList list_init = STATSYNC__DOUBLE_LIST__INIT;
    out->delta = delta_init;
    out->add = fields_init;
    out->set = fields_init;
    out->add_times = list_init;
    out->set_times = list_init;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        const Statsync__Operation *op = ops[i];
        if (op->kind_case != STATSYNC__OPERATION__KIND_DELTA || op->delta == NULL)
            return false;
        const Statsync__Delta *d = op->delta;
        for (size_t k = 0; d->add && k < MERGE__NFIELDS; k++) {
            const merge_field *f = &merge__fields[k];
            if (!merge__given(f, d->add))
                continue;
            if (merge__given(f, &out->set)) /* add after a set: fold into the set */
                merge__combine_field(f, d->add, &out->set, &out->set_times, out->set_vals, true);
            else
                merge__combine_field(f, d->add, &out->add, &out->add_times, out->add_vals, true);
        }
        for (size_t k = 0; d->set && k < MERGE__NFIELDS; k++) {
            const merge_field *f = &merge__fields[k];
            if (merge__given(f, d->set))
                merge__combine_field(f, d->set, &out->set, &out->set_times, out->set_vals, false);
        }
    }
    if (merge__any_given(&out->add))
        out->delta.add = &out->add;
    if (merge__any_given(&out->set))
        out->delta.set = &out->set;
    return true;
}
