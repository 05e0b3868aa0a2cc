/* test_merge.c — every merge rule of stats-service/merge.c, with a fixed
 * clock: adds, appends, __set, clamps, insufficient funds, overflow,
 * non-finite values, lastGameResults, last-write-wins edges, derived
 * fields (maxStreak always; accuracy only when correct/total move and the op
 * gives none), version / updatedAt, all-or-nothing, op shape, delta combining. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "doc.h"
#include "merge.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1700000000000LL
#define SAFE DOC_MAX_SAFE_INT

/* ---- building operations ---- */

typedef struct top {
    Statsync__Operation op;
    Statsync__Delta delta;
    Statsync__StatsFields add, set, full;
    Statsync__DoubleList add_list, set_list, full_list;
} top;

static void top_delta(top *t, const char *op_id)
{
    static const Statsync__Operation op0 = STATSYNC__OPERATION__INIT;
    static const Statsync__Delta d0 = STATSYNC__DELTA__INIT;
    static const Statsync__StatsFields f0 = STATSYNC__STATS_FIELDS__INIT;
    static const Statsync__DoubleList l0 = STATSYNC__DOUBLE_LIST__INIT;
    memset(t, 0, sizeof(*t));
    t->op = op0;
    t->delta = d0;
    t->add = t->set = t->full = f0;
    t->add_list = t->set_list = t->full_list = l0;
    t->op.op_id = (char *)op_id;
    t->op.kind_case = STATSYNC__OPERATION__KIND_DELTA;
    t->op.delta = &t->delta;
}

static void top_full(top *t, const char *op_id, int64_t updated_at_ms)
{
    top_delta(t, op_id);
    t->op.kind_case = STATSYNC__OPERATION__KIND_FULL;
    t->op.full = &t->full;
    t->full.has_updated_at_ms = 1;
    t->full.updated_at_ms = updated_at_ms;
}

static Statsync__StatsFields *ADD(top *t)
{
    t->delta.add = &t->add;
    return &t->add;
}

static Statsync__StatsFields *SET(top *t)
{
    t->delta.set = &t->set;
    return &t->set;
}

#define PUT(fields, name, v) ((fields)->has_##name = 1, (fields)->name = (v))

static void LIST(Statsync__StatsFields *f, Statsync__DoubleList *l, double *v, size_t n)
{
    l->values = v;
    l->n_values = n;
    f->time_per_question = l;
}

/* Applies one op to *doc in place (replacing it on success). */
static ss_err apply1(stats_doc *doc, top *t, int64_t now, merge_error *e)
{
    Statsync__Operation *ops[1] = {&t->op};
    stats_doc out;
    ss_err rc = merge_apply(doc, ops, 1, now, &out, e);
    if (rc == SS_OK) {
        doc_free(doc);
        *doc = out;
    }
    return rc;
}

static ss_err applyn(stats_doc *doc, top *ts, size_t n, int64_t now, merge_error *e)
{
    Statsync__Operation *ops[16];
    for (size_t i = 0; i < n; i++)
        ops[i] = &ts[i].op;
    stats_doc out;
    ss_err rc = merge_apply(doc, ops, n, now, &out, e);
    if (rc == SS_OK) {
        doc_free(doc);
        *doc = out;
    }
    return rc;
}

static void fresh(stats_doc *d)
{
    doc_init_defaults(d, "alice");
}

/* ---- tests ---- */

static void test_defaults(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    assert_string_equal(d.user_id, "alice");
    assert_int_equal(d.hearts, 5);
    assert_int_equal(d.level, 1);
    assert_int_equal(d.xp, 0);
    assert_int_equal(d.diamonds, 0);
    assert_int_equal(d.n_times, 0);
    assert_null(d.last_game_results);
    assert_int_equal(d.updated_at_ms, 0);
    assert_int_equal(d.version, 0);
}

static void test_add_numbers(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    top_delta(&t, NULL);
    PUT(ADD(&t), xp, 10);
    PUT(ADD(&t), diamonds, 7);
    PUT(ADD(&t), level, 2);
    PUT(ADD(&t), total_time_spent, 1.5);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.xp, 20);
    assert_int_equal(d.diamonds, 14);
    assert_int_equal(d.level, 5);
    assert_true(d.total_time_spent == 3.0);
    assert_int_equal(d.hearts, 5); /* untouched */
    doc_free(&d);
}

static void test_hearts_clamped(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    top_delta(&t, NULL);
    PUT(ADD(&t), hearts, 3);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.hearts, 5);
    top_delta(&t, NULL);
    PUT(ADD(&t), hearts, -2);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.hearts, 3);
    top_delta(&t, NULL);
    PUT(ADD(&t), hearts, -10);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.hearts, 0);
    top_delta(&t, NULL);
    PUT(SET(&t), hearts, 9);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.hearts, 5);
    top_delta(&t, NULL);
    PUT(SET(&t), hearts, -1);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.hearts, 0);
    top_full(&t, NULL, NOW + 1000);
    PUT(&t.full, hearts, 42);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.hearts, 5);
    doc_free(&d);
}

/* Every integer row of SS_DOC_FIELDS bounds its field as the row says: a
 * __set of max is stored; one above max is clamped to max (hearts: 5) or,
 * when max is 2^53-1, refused as an overflow. A row added to the table is
 * bounded without a line of merge.c. */
static void test_limits_are_the_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < SS_DOC_NFIELDS; i++) {
        const ss_doc_field *f = &ss_doc_fields[i];
        if (f->kind != SS_DOC_INT)
            continue;
        for (int64_t v = f->max; v <= f->max + 1; v++) {
            stats_doc d;
            fresh(&d);
            top t;
            top_delta(&t, NULL);
            Statsync__StatsFields *s = SET(&t);
            ss_doc_set_given(f, s);
            *(int64_t *)ss_doc_slot(f, s) = v;
            merge_error e;
            ss_err rc = apply1(&d, &t, NOW, &e);
            Statsync__Document p;
            doc_to_proto(&d, &p);
            int64_t got = *(const int64_t *)((const char *)&p + f->doc_val);
            if (v > SAFE) {
                assert_int_equal(rc, SS_ERR_OVERFLOW);
                assert_non_null(strstr(e.message, f->name));
            } else {
                assert_int_equal(rc, SS_OK);
                assert_int_equal(got, f->max);
            }
            doc_free(&d);
        }
    }
}

static void test_counters_clamp_at_zero(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    top_delta(&t, NULL);
    PUT(ADD(&t), xp, 10);
    PUT(ADD(&t), streak, 2);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    top_delta(&t, NULL);
    PUT(ADD(&t), xp, -100);
    PUT(ADD(&t), streak, -3);
    PUT(ADD(&t), level, -5);
    PUT(ADD(&t), wrong_answers, -1);
    PUT(ADD(&t), total_time_spent, -9.5);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.xp, 0);
    assert_int_equal(d.streak, 0);
    assert_int_equal(d.level, 0);
    assert_int_equal(d.wrong_answers, 0);
    assert_true(d.total_time_spent == 0.0);
    top_delta(&t, NULL);
    PUT(SET(&t), xp, -5);
    PUT(SET(&t), completed_questions, -1);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.xp, 0);
    assert_int_equal(d.completed_questions, 0);
    doc_free(&d);
}

static void test_diamonds_insufficient_funds(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    top_delta(&t, NULL);
    PUT(ADD(&t), diamonds, 5);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    uint64_t v = d.version;
    int64_t ts = d.updated_at_ms;

    top_delta(&t, NULL);
    PUT(ADD(&t), diamonds, -6);
    PUT(ADD(&t), xp, 100); /* must not apply either */
    assert_int_equal(apply1(&d, &t, NOW + 10, &e), SS_ERR_INSUFFICIENT_FUNDS);
    assert_int_equal(e.err, SS_ERR_INSUFFICIENT_FUNDS);
    assert_non_null(strstr(e.message, "diamonds"));
    assert_int_equal(d.diamonds, 5);
    assert_int_equal(d.xp, 0);
    assert_int_equal(d.version, v);
    assert_int_equal(d.updated_at_ms, ts);

    top_delta(&t, NULL); /* exactly to zero is fine */
    PUT(ADD(&t), diamonds, -5);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.diamonds, 0);

    top_delta(&t, NULL); /* a negative absolute value is invalid, not "funds" */
    PUT(SET(&t), diamonds, -1);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_INVALID_VALUE);
    top_full(&t, NULL, NOW);
    PUT(&t.full, diamonds, -1);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_INVALID_VALUE);
    assert_int_equal(d.diamonds, 0);
    doc_free(&d);
}

static void test_set_after_add(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    top_delta(&t, NULL);
    PUT(ADD(&t), xp, 10);
    PUT(SET(&t), xp, 3);
    PUT(ADD(&t), diamonds, 4);
    PUT(SET(&t), level, 7);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.xp, 3);
    assert_int_equal(d.diamonds, 4);
    assert_int_equal(d.level, 7);
    /* an add going negative that a set then fixes is still refused:
     * the rules apply after the add */
    top_delta(&t, NULL);
    PUT(ADD(&t), diamonds, -10);
    PUT(SET(&t), diamonds, 50);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_INSUFFICIENT_FUNDS);
    doc_free(&d);
}

static void test_append_keeps_last_100(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    double v[150];
    for (int i = 0; i < 150; i++)
        v[i] = i + 1;
    top_delta(&t, NULL);
    LIST(ADD(&t), &t.add_list, v, 3);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.n_times, 3);
    assert_true(d.times[0] == 1 && d.times[2] == 3);
    top_delta(&t, NULL);
    LIST(ADD(&t), &t.add_list, v, 98);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.n_times, 100);
    /* 1,2,3 then 1..98 = 101 values: the first "1" dropped */
    assert_true(d.times[0] == 2 && d.times[1] == 3 && d.times[2] == 1 && d.times[99] == 98);
    top_delta(&t, NULL);
    LIST(ADD(&t), &t.add_list, v, 150);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.n_times, 100);
    assert_true(d.times[0] == 51 && d.times[99] == 150);
    /* set replaces the whole array */
    top_delta(&t, NULL);
    LIST(SET(&t), &t.set_list, v + 10, 2);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.n_times, 2);
    assert_true(d.times[0] == 11 && d.times[1] == 12);
    top_delta(&t, NULL);
    LIST(SET(&t), &t.set_list, v, 0);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.n_times, 0);
    doc_free(&d);
}

static void test_overflow(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    top_delta(&t, NULL);
    PUT(SET(&t), xp, SAFE - 1);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    top_delta(&t, NULL);
    PUT(ADD(&t), xp, 1);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.xp, SAFE);
    top_delta(&t, NULL);
    PUT(ADD(&t), xp, 1);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_OVERFLOW);
    assert_int_equal(d.xp, SAFE);
    top_delta(&t, NULL);
    PUT(ADD(&t), diamonds, SAFE + 1); /* the value itself */
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_OVERFLOW);
    top_delta(&t, NULL);
    PUT(ADD(&t), diamonds, INT64_MIN);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_OVERFLOW);
    top_delta(&t, NULL);
    PUT(SET(&t), level, SAFE + 1);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_OVERFLOW);
    top_full(&t, NULL, NOW);
    PUT(&t.full, streak, INT64_MAX);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_OVERFLOW);
    top_delta(&t, NULL);
    PUT(SET(&t), total_time_spent, (double)SAFE);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    top_delta(&t, NULL);
    PUT(ADD(&t), total_time_spent, (double)SAFE);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_OVERFLOW);
    top_delta(&t, NULL);
    PUT(SET(&t), total_time_spent, 1e300);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_OVERFLOW);
    assert_true(d.total_time_spent == (double)SAFE);
    doc_free(&d);
}

static void test_non_finite(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    double bad[3] = {1.0, INFINITY, 2.0};
    const double vals[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < 3; i++) {
        top_delta(&t, NULL);
        PUT(ADD(&t), total_time_spent, vals[i]);
        assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_INVALID_VALUE);
        top_delta(&t, NULL);
        PUT(SET(&t), total_time_spent, vals[i]);
        assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_INVALID_VALUE);
    }
    top_delta(&t, NULL);
    LIST(ADD(&t), &t.add_list, bad, 3);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_INVALID_VALUE);
    assert_non_null(strstr(e.message, "timePerQuestion"));
    top_full(&t, NULL, NOW);
    LIST(&t.full, &t.full_list, bad, 3);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_INVALID_VALUE);
    assert_int_equal(d.n_times, 0);
    assert_int_equal(d.version, 0);
    doc_free(&d);
}

static void test_last_game_results(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    top_delta(&t, NULL);
    ADD(&t)->last_game_results = "{\"score\":3}";
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_string_equal(d.last_game_results, "{\"score\":3}");
    top_delta(&t, NULL);
    SET(&t)->last_game_results = "{\"score\":4,\"x\":[1,2]}";
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_string_equal(d.last_game_results, "{\"score\":4,\"x\":[1,2]}");
    top_delta(&t, NULL);
    ADD(&t)->last_game_results = "[1,2]";
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_INVALID_TYPE);
    top_delta(&t, NULL);
    ADD(&t)->last_game_results = "{not json";
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_INVALID_VALUE);
    /* exactly 16 KB passes, one byte more does not */
    char *big = malloc(DOC_MAX_GAME_RESULTS + 2);
    memset(big, 'a', DOC_MAX_GAME_RESULTS + 1);
    memcpy(big, "{\"k\":\"", 6);
    big[DOC_MAX_GAME_RESULTS - 2] = '"';
    big[DOC_MAX_GAME_RESULTS - 1] = '}';
    big[DOC_MAX_GAME_RESULTS] = '\0';
    top_delta(&t, NULL);
    ADD(&t)->last_game_results = big;
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(strlen(d.last_game_results), DOC_MAX_GAME_RESULTS);
    big[DOC_MAX_GAME_RESULTS - 1] = ' ';
    big[DOC_MAX_GAME_RESULTS] = '}';
    big[DOC_MAX_GAME_RESULTS + 1] = '\0';
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_INVALID_VALUE);
    free(big);
    top_delta(&t, NULL);
    SET(&t)->last_game_results = "null";
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_null(d.last_game_results);
    doc_free(&d);
}

static void test_lww_edges(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    const int64_t T = NOW - 60000;
    top_full(&t, NULL, T);
    PUT(&t.full, xp, 50);
    PUT(&t.full, diamonds, 9);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.updated_at_ms, T); /* the client's, not now */
    assert_int_equal(d.xp, 50);
    assert_int_equal(d.version, 1);

    top_full(&t, NULL, T); /* equal: conflict */
    PUT(&t.full, xp, 1);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_CONFLICT);
    top_full(&t, NULL, T - 1); /* older: conflict */
    PUT(&t.full, xp, 1);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_CONFLICT);
    assert_int_equal(d.xp, 50);

    top_full(&t, NULL, NOW + MERGE_MAX_FUTURE_MS + 1); /* too far ahead */
    PUT(&t.full, xp, 1);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_INVALID_VALUE);
    assert_non_null(strstr(e.message, "future"));

    top_full(&t, NULL, T + 1); /* newer: stored; absent fields keep values */
    PUT(&t.full, xp, 7);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.xp, 7);
    assert_int_equal(d.diamonds, 9);
    assert_int_equal(d.hearts, 5);
    assert_int_equal(d.version, 2);

    top_full(&t, NULL, NOW + MERGE_MAX_FUTURE_MS); /* exactly 5 min: fine */
    PUT(&t.full, xp, 8);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.updated_at_ms, NOW + MERGE_MAX_FUTURE_MS);

    top_full(&t, NULL, 0); /* updatedAt required */
    t.full.has_updated_at_ms = 0;
    PUT(&t.full, xp, 9);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_INVALID_VALUE);
    top_full(&t, NULL, -5);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_ERR_INVALID_VALUE);
    assert_int_equal(d.xp, 8);

    /* never-written user: stored updatedAt is 0, so 0 conflicts and 1 wins */
    stats_doc n;
    fresh(&n);
    top_full(&t, NULL, 0);
    assert_int_equal(apply1(&n, &t, NOW, &e), SS_ERR_CONFLICT);
    top_full(&t, NULL, 1);
    assert_int_equal(apply1(&n, &t, NOW, &e), SS_OK);
    doc_free(&n);
    doc_free(&d);
}

static void test_full_write_replaces_arrays_and_json(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    double v[2] = {4.5, 6.0};
    top_delta(&t, NULL);
    LIST(ADD(&t), &t.add_list, v, 2);
    ADD(&t)->last_game_results = "{\"a\":1}";
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    top_full(&t, NULL, NOW + 1);
    LIST(&t.full, &t.full_list, v + 1, 1);
    t.full.last_game_results = "null";
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.n_times, 1);
    assert_true(d.times[0] == 6.0);
    assert_null(d.last_game_results);
    doc_free(&d);
}

static void test_derived_fields(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    top_delta(&t, NULL);
    PUT(ADD(&t), streak, 5);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.max_streak, 5);
    top_delta(&t, NULL);
    PUT(SET(&t), streak, 2);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.streak, 2);
    assert_int_equal(d.max_streak, 5);
    top_delta(&t, NULL);
    PUT(SET(&t), max_streak, 1); /* below streak: raised to streak */
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.max_streak, 2);

    assert_int_equal(d.accuracy, 0); /* total 0 */
    top_delta(&t, NULL);
    PUT(ADD(&t), correct_answers, 2);
    PUT(ADD(&t), total_questions, 3);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 67);
    top_delta(&t, NULL);
    PUT(SET(&t), correct_answers, 1);
    PUT(SET(&t), total_questions, 2);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 50);
    top_delta(&t, NULL);
    PUT(SET(&t), correct_answers, 1);
    PUT(SET(&t), total_questions, 8); /* 12.5 rounds up */
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 13);
    top_delta(&t, NULL);
    PUT(SET(&t), correct_answers, 1);
    PUT(SET(&t), total_questions, 3); /* 33.3 */
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 33);
    top_delta(&t, NULL);
    PUT(SET(&t), correct_answers, SAFE);
    PUT(SET(&t), total_questions, SAFE); /* no int64 overflow */
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 100);
    top_full(&t, NULL, NOW + 1000);
    PUT(&t.full, total_questions, 0);
    PUT(&t.full, streak, 9);
    PUT(&t.full, max_streak, 3);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 0); /* total moved to 0, no accuracy given */
    assert_int_equal(d.max_streak, 9);
    doc_free(&d);
}

/* A full write stores every field it gives, accuracy included (DESIGN §3). */
static void test_full_write_keeps_accuracy(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    top_full(&t, NULL, NOW);
    PUT(&t.full, accuracy, 85);
    PUT(&t.full, correct_answers, 43);
    PUT(&t.full, total_questions, 50); /* round(86.0) would be 86 */
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 85);
    assert_int_equal(d.correct_answers, 43);
    assert_int_equal(d.total_questions, 50);
    /* also when it disagrees with correct/total altogether */
    top_full(&t, NULL, NOW + 1);
    PUT(&t.full, accuracy, 0);
    PUT(&t.full, correct_answers, 50);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 0);
    /* a full write that moves neither correct nor total keeps the stored one */
    top_full(&t, NULL, NOW + 2);
    PUT(&t.full, accuracy, 85);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    top_full(&t, NULL, NOW + 3);
    PUT(&t.full, xp, 5);
    PUT(&t.full, correct_answers, 50); /* given but unchanged */
    PUT(&t.full, total_questions, 50);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 85);
    /* maxStreak still follows streak */
    top_full(&t, NULL, NOW + 4);
    PUT(&t.full, streak, 7);
    PUT(&t.full, max_streak, 2);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.max_streak, 7);
    doc_free(&d);
}

/* A full write that moves correct/total and gives no accuracy derives it. */
static void test_full_write_derives_accuracy(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    top_full(&t, NULL, NOW);
    PUT(&t.full, correct_answers, 43);
    PUT(&t.full, total_questions, 50);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 86);
    top_full(&t, NULL, NOW + 1); /* only total given: derived from the stored correct */
    PUT(&t.full, total_questions, 100);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 43);
    doc_free(&d);
}

/* A delta that moves correct/total re-derives a client-given accuracy; a
 * delta that moves neither keeps it. */
static void test_delta_rederives_accuracy(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    top_full(&t, NULL, NOW);
    PUT(&t.full, accuracy, 85);
    PUT(&t.full, correct_answers, 43);
    PUT(&t.full, total_questions, 50);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 85);
    top_delta(&t, NULL);
    PUT(ADD(&t), xp, 10);
    PUT(ADD(&t), streak, 1);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 85); /* correct/total untouched */
    top_delta(&t, NULL);
    PUT(ADD(&t), correct_answers, 1);
    PUT(ADD(&t), total_questions, 1);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 86); /* 44/51 = 86.3 */
    top_delta(&t, NULL);
    PUT(ADD(&t), total_questions, 1); /* one of the two is enough */
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 85); /* 44/52 = 84.6 */
    top_delta(&t, NULL);
    PUT(SET(&t), correct_answers, 1);
    PUT(SET(&t), total_questions, 4); /* a __set moves them too */
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 25);
    top_delta(&t, NULL);
    PUT(ADD(&t), correct_answers, -5); /* clamps at 0: moved */
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.correct_answers, 0);
    assert_int_equal(d.accuracy, 0);
    doc_free(&d);
}

/* A delta that gives accuracy itself (its __set, or even its add) keeps it. */
static void test_delta_set_accuracy_kept(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    top_delta(&t, NULL);
    PUT(ADD(&t), correct_answers, 1);
    PUT(ADD(&t), total_questions, 1);
    PUT(SET(&t), accuracy, 70);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 70);
    top_delta(&t, NULL);
    PUT(ADD(&t), correct_answers, 1);
    PUT(ADD(&t), total_questions, 1);
    PUT(ADD(&t), accuracy, 5);
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 75);
    top_delta(&t, NULL);
    PUT(SET(&t), accuracy, 1000); /* not bounded to 100: stored as given */
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 1000);
    top_delta(&t, NULL);
    PUT(SET(&t), accuracy, -3); /* clamps at 0 like every counter */
    assert_int_equal(apply1(&d, &t, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 0);
    doc_free(&d);
}

/* The rule holds per op of a batch: an op that gives accuracy keeps it, a
 * later op that moves correct/total without it re-derives. */
static void test_accuracy_per_op(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t[3];
    top_delta(&t[0], "a");
    PUT(ADD(&t[0]), correct_answers, 1);
    PUT(ADD(&t[0]), total_questions, 2);
    PUT(SET(&t[0]), accuracy, 90);
    top_delta(&t[1], "b");
    PUT(ADD(&t[1]), xp, 1);
    assert_int_equal(applyn(&d, t, 2, NOW, &e), SS_OK);
    assert_int_equal(d.accuracy, 90);
    top_delta(&t[2], "c");
    PUT(ADD(&t[2]), correct_answers, 1);
    PUT(ADD(&t[2]), total_questions, 2);
    assert_int_equal(applyn(&d, t, 3, NOW, &e), SS_OK);
    assert_int_equal(d.correct_answers, 3);
    assert_int_equal(d.total_questions, 6);
    assert_int_equal(d.accuracy, 50);
    doc_free(&d);
}

static void test_derived_after_every_op(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t[2];
    top_delta(&t[0], NULL);
    PUT(SET(&t[0]), streak, 10);
    top_delta(&t[1], NULL);
    PUT(SET(&t[1]), streak, 0);
    assert_int_equal(applyn(&d, t, 2, NOW, &e), SS_OK);
    assert_int_equal(d.streak, 0);
    assert_int_equal(d.max_streak, 10);
    doc_free(&d);
}

static void test_version_and_updated_at(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top t;
    top_delta(&t, NULL);
    PUT(ADD(&t), xp, 1);
    assert_int_equal(apply1(&d, &t, 1000, &e), SS_OK);
    assert_int_equal(d.version, 1);
    assert_int_equal(d.updated_at_ms, 1000);
    assert_int_equal(apply1(&d, &t, 1000, &e), SS_OK); /* same ms */
    assert_int_equal(d.updated_at_ms, 1001);
    assert_int_equal(apply1(&d, &t, 500, &e), SS_OK); /* clock went back */
    assert_int_equal(d.updated_at_ms, 1002);
    assert_int_equal(apply1(&d, &t, 5000, &e), SS_OK);
    assert_int_equal(d.updated_at_ms, 5000);
    assert_int_equal(d.version, 4);
    /* several ops in one mutation: one version */
    top ts[3];
    for (int i = 0; i < 3; i++) {
        top_delta(&ts[i], NULL);
        PUT(ADD(&ts[i]), xp, 1);
    }
    assert_int_equal(applyn(&d, ts, 3, 5000, &e), SS_OK);
    assert_int_equal(d.version, 5);
    assert_int_equal(d.xp, 7);
    assert_int_equal(d.updated_at_ms, 5001);
    /* a full write in the past relative to a later delta's timestamp: 409 */
    top_full(&t, NULL, 5001);
    assert_int_equal(apply1(&d, &t, 6000, &e), SS_ERR_CONFLICT);
    doc_free(&d);
}

static void test_all_or_nothing(void **state)
{
    (void)state;
    stats_doc d;
    fresh(&d);
    merge_error e;
    top ts[3];
    top_delta(&ts[0], NULL);
    PUT(ADD(&ts[0]), xp, 10);
    top_delta(&ts[1], NULL);
    PUT(ADD(&ts[1]), diamonds, 3);
    ADD(&ts[1])->last_game_results = "{\"ok\":true}";
    top_delta(&ts[2], NULL);
    PUT(ADD(&ts[2]), total_time_spent, NAN);
    stats_doc before;
    assert_int_equal(doc_copy(&before, &d), SS_OK);
    assert_int_equal(applyn(&d, ts, 3, NOW, &e), SS_ERR_INVALID_VALUE);
    assert_int_equal(d.xp, before.xp);
    assert_int_equal(d.diamonds, before.diamonds);
    assert_int_equal(d.version, before.version);
    assert_int_equal(d.updated_at_ms, before.updated_at_ms);
    assert_null(d.last_game_results);
    /* a later op may rely on an earlier one of the same mutation */
    top_delta(&ts[0], NULL);
    PUT(ADD(&ts[0]), diamonds, 10);
    top_delta(&ts[1], NULL);
    PUT(ADD(&ts[1]), diamonds, -10);
    assert_int_equal(applyn(&d, ts, 2, NOW, &e), SS_OK);
    assert_int_equal(d.diamonds, 0);
    assert_int_equal(d.version, 1);
    doc_free(&before);
    doc_free(&d);
}

static void test_validate_ops(void **state)
{
    (void)state;
    merge_error e;
    top t[2];
    Statsync__Operation *ops[2] = {&t[0].op, &t[1].op};
    assert_int_equal(merge_validate_ops(ops, 0, &e), SS_ERR_BAD_REQUEST);
    top_delta(&t[0], "a");
    top_full(&t[1], "b", NOW);
    assert_int_equal(merge_validate_ops(ops, 1, &e), SS_OK);
    assert_int_equal(merge_validate_ops(ops, 2, &e), SS_ERR_BAD_REQUEST);
    assert_non_null(strstr(e.message, "only"));
    top_delta(&t[0], NULL);
    t[0].op.kind_case = STATSYNC__OPERATION__KIND__NOT_SET;
    assert_int_equal(merge_validate_ops(ops, 1, &e), SS_ERR_BAD_REQUEST);
    char longid[MERGE_MAX_OP_ID + 2];
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    top_delta(&t[0], longid);
    assert_int_equal(merge_validate_ops(ops, 1, &e), SS_ERR_BAD_REQUEST);
    longid[MERGE_MAX_OP_ID] = '\0';
    assert_int_equal(merge_validate_ops(ops, 1, &e), SS_OK);
    /* a delta may not carry updatedAt */
    stats_doc d;
    fresh(&d);
    top_delta(&t[0], NULL);
    PUT(SET(&t[0]), updated_at_ms, NOW);
    assert_int_equal(apply1(&d, &t[0], NOW, &e), SS_ERR_BAD_REQUEST);
    doc_free(&d);
}

static void test_combine(void **state)
{
    (void)state;
    top ts[4];
    double a[2] = {1, 2}, b[1] = {3};
    top_delta(&ts[0], "1");
    PUT(ADD(&ts[0]), xp, 1);
    PUT(ADD(&ts[0]), total_time_spent, 0.5);
    LIST(ADD(&ts[0]), &ts[0].add_list, a, 2);
    ADD(&ts[0])->last_game_results = "{\"n\":1}";
    top_delta(&ts[1], "2");
    PUT(ADD(&ts[1]), xp, 2);
    PUT(ADD(&ts[1]), total_time_spent, 0.25);
    LIST(ADD(&ts[1]), &ts[1].add_list, b, 1);
    ADD(&ts[1])->last_game_results = "{\"n\":2}";
    PUT(SET(&ts[1]), hearts, 4);
    PUT(SET(&ts[1]), level, 2);
    top_delta(&ts[2], "3");
    PUT(SET(&ts[2]), hearts, 1); /* set: last wins */
    PUT(ADD(&ts[2]), level, 3);  /* add after a set: folded into the set */
    top_delta(&ts[3], "4");
    PUT(ADD(&ts[3]), xp, 3);
    Statsync__Operation *ops[4] = {&ts[0].op, &ts[1].op, &ts[2].op, &ts[3].op};
    merge_delta *md = malloc(sizeof(*md));
    assert_true(merge_combine(ops, 4, md));
    const Statsync__Delta *d = &md->delta;
    assert_non_null(d->add);
    assert_non_null(d->set);
    assert_true(d->add->has_xp);
    assert_int_equal(d->add->xp, 6);
    assert_true(d->add->total_time_spent == 0.75);
    assert_non_null(d->add->time_per_question);
    assert_int_equal(d->add->time_per_question->n_values, 3);
    assert_true(d->add->time_per_question->values[2] == 3);
    assert_string_equal(d->add->last_game_results, "{\"n\":2}");
    assert_false(d->add->has_level);
    assert_false(d->add->has_hearts);
    assert_int_equal(d->set->hearts, 1);
    assert_int_equal(d->set->level, 5);
    assert_false(d->set->has_xp);
    /* it packs as a valid Delta */
    size_t n = statsync__delta__get_packed_size(d);
    uint8_t *buf = malloc(n);
    statsync__delta__pack(d, buf);
    Statsync__Delta *back = statsync__delta__unpack(NULL, n, buf);
    assert_non_null(back);
    assert_int_equal(back->add->xp, 6);
    statsync__delta__free_unpacked(back, NULL);
    free(buf);

    /* within one op the add comes first, so it is not folded into its set */
    assert_true(merge_combine(ops + 2, 1, md));
    assert_non_null(md->delta.set);
    assert_non_null(md->delta.add);
    assert_int_equal(md->delta.add->level, 3);
    assert_int_equal(md->delta.set->hearts, 1);
    /* only adds: no set part */
    assert_true(merge_combine(ops + 3, 1, md));
    assert_null(md->delta.set);

    /* a full write: no delta */
    top f;
    top_full(&f, "f", NOW);
    Statsync__Operation *fops[1] = {&f.op};
    assert_false(merge_combine(fops, 1, md));
    assert_false(merge_combine(ops, 0, md));
    free(md);
}

static void test_combine_appends_keep_last_100(void **state)
{
    (void)state;
    top ts[2];
    double v[80];
    for (int i = 0; i < 80; i++)
        v[i] = i;
    top_delta(&ts[0], NULL);
    LIST(ADD(&ts[0]), &ts[0].add_list, v, 80);
    top_delta(&ts[1], NULL);
    LIST(ADD(&ts[1]), &ts[1].add_list, v, 80);
    Statsync__Operation *ops[2] = {&ts[0].op, &ts[1].op};
    merge_delta *md = malloc(sizeof(*md));
    assert_true(merge_combine(ops, 2, md));
    assert_int_equal(md->delta.add->time_per_question->n_values, 100);
    assert_true(md->delta.add->time_per_question->values[0] == 60);
    assert_true(md->delta.add->time_per_question->values[99] == 79);
    free(md);
}

static void test_doc_proto_round_trip(void **state)
{
    (void)state;
    stats_doc d, back;
    fresh(&d);
    d.xp = 123;
    d.diamonds = SAFE;
    d.total_time_spent = 12.25;
    double v[3] = {1.5, 2.5, 3.5};
    doc_times_set(&d, v, 3);
    assert_int_equal(doc_set_game_results(&d, "{\"a\":1}"), SS_OK);
    d.updated_at_ms = NOW;
    d.version = 77;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(doc_pack(&d, &buf, &len), SS_OK);
    assert_int_equal(doc_unpack(buf, len, &back), SS_OK);
    assert_string_equal(back.user_id, "alice");
    assert_int_equal(back.xp, 123);
    assert_int_equal(back.diamonds, SAFE);
    assert_int_equal(back.hearts, 5);
    assert_true(back.total_time_spent == 12.25);
    assert_int_equal(back.n_times, 3);
    assert_true(back.times[2] == 3.5);
    assert_string_equal(back.last_game_results, "{\"a\":1}");
    assert_int_equal(back.updated_at_ms, NOW);
    assert_int_equal(back.version, 77);
    stats_doc junk;
    assert_int_equal(doc_unpack((const uint8_t *)"\xff\xff\xff", 3, &junk), SS_ERR_INTERNAL);
    free(buf);
    doc_free(&d);
    doc_free(&back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_add_numbers),
        cmocka_unit_test(test_hearts_clamped),
        cmocka_unit_test(test_limits_are_the_table),
        cmocka_unit_test(test_counters_clamp_at_zero),
        cmocka_unit_test(test_diamonds_insufficient_funds),
        cmocka_unit_test(test_set_after_add),
        cmocka_unit_test(test_append_keeps_last_100),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_non_finite),
        cmocka_unit_test(test_last_game_results),
        cmocka_unit_test(test_lww_edges),
        cmocka_unit_test(test_full_write_replaces_arrays_and_json),
        cmocka_unit_test(test_derived_fields),
        cmocka_unit_test(test_derived_after_every_op),
        cmocka_unit_test(test_full_write_keeps_accuracy),
        cmocka_unit_test(test_full_write_derives_accuracy),
        cmocka_unit_test(test_delta_rederives_accuracy),
        cmocka_unit_test(test_delta_set_accuracy_kept),
        cmocka_unit_test(test_accuracy_per_op),
        cmocka_unit_test(test_version_and_updated_at),
        cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_validate_ops),
        cmocka_unit_test(test_combine),
        cmocka_unit_test(test_combine_appends_keep_last_100),
        cmocka_unit_test(test_doc_proto_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
