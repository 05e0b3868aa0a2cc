/* test_stats_json.c — client JSON <-> protobuf mapping (gateway/stats_json.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "doc.h"
#include "ss_doc_fields.h"
#include "stats_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (j == NULL)
        fail_msg("test JSON does not parse: %s: %s", text, jerr.text);
    return j;
}

static Statsync__Delta *delta_ok(const char *text)
{
    json_t *j = parse(text);
    Statsync__Delta *d = NULL;
    stats_json_err e;
    ss_err rc = stats_json_to_delta(j, &d, NULL, &e);
    if (rc != SS_OK)
        fail_msg("delta %s refused: %s", text, e.message);
    assert_int_equal(e.err, SS_OK);
    json_decref(j);
    return d;
}

/* The delta must be refused with err, and the message must contain `names`. */
static void delta_bad(const char *text, ss_err err, const char *names)
{
    json_t *j = parse(text);
    Statsync__Delta *d = (Statsync__Delta *)0x1;
    const char *uid = (const char *)0x1;
    stats_json_err e;
    ss_err rc = stats_json_to_delta(j, &d, &uid, &e);
    if (rc != err)
        fail_msg("delta %s: got %s (%s), want %s", text, ss_err_code(rc), e.message,
                 ss_err_code(err));
    assert_int_equal(e.err, err);
    assert_null(d);
    assert_null(uid);
    if (strstr(e.message, names) == NULL)
        fail_msg("delta %s: message '%s' does not name '%s'", text, e.message, names);
    json_decref(j);
}

static Statsync__StatsFields *full_ok(const char *text, const char **uid)
{
    json_t *j = parse(text);
    Statsync__StatsFields *f = NULL;
    stats_json_err e;
    ss_err rc = stats_json_to_full(j, &f, uid, &e);
    if (rc != SS_OK)
        fail_msg("full %s refused: %s", text, e.message);
    json_decref(j); /* uid is borrowed: tests below only compare before this */
    return f;
}

static void full_bad(const char *text, ss_err err, const char *names)
{
    json_t *j = parse(text);
    Statsync__StatsFields *f = (Statsync__StatsFields *)0x1;
    stats_json_err e;
    ss_err rc = stats_json_to_full(j, &f, NULL, &e);
    if (rc != err)
        fail_msg("full %s: got %s (%s), want %s", text, ss_err_code(rc), e.message,
                 ss_err_code(err));
    assert_null(f);
    if (strstr(e.message, names) == NULL)
        fail_msg("full %s: message '%s' does not name '%s'", text, e.message, names);
    json_decref(j);
}

static void test_delta_every_field(void **state)
{
    (void)state;
    Statsync__Delta *d = delta_ok(
        "{\"xp\":10,\"hearts\":-1,\"diamonds\":5,\"level\":1,\"streak\":2,\"maxStreak\":3,"
        "\"accuracy\":4,\"completedQuestions\":6,\"correctAnswers\":7,\"wrongAnswers\":8,"
        "\"totalQuestions\":9,\"totalTimeSpent\":12.5,\"timePerQuestion\":[2.5,3,4.25],"
        "\"lastGameResults\":{\"score\":3,\"words\":[\"a\",\"b\"]}}");
    assert_non_null(d->add);
    assert_null(d->set);
    Statsync__StatsFields *a = d->add;
    assert_true(a->has_xp && a->xp == 10);
    assert_true(a->has_hearts && a->hearts == -1);
    assert_true(a->has_diamonds && a->diamonds == 5);
    assert_true(a->has_level && a->level == 1);
    assert_true(a->has_streak && a->streak == 2);
    assert_true(a->has_max_streak && a->max_streak == 3);
    assert_true(a->has_accuracy && a->accuracy == 4);
    assert_true(a->has_completed_questions && a->completed_questions == 6);
    assert_true(a->has_correct_answers && a->correct_answers == 7);
    assert_true(a->has_wrong_answers && a->wrong_answers == 8);
    assert_true(a->has_total_questions && a->total_questions == 9);
    assert_true(a->has_total_time_spent && a->total_time_spent == 12.5);
    assert_non_null(a->time_per_question);
    assert_int_equal(a->time_per_question->n_values, 3);
    assert_true(a->time_per_question->values[0] == 2.5);
    assert_true(a->time_per_question->values[1] == 3.0);
    assert_true(a->time_per_question->values[2] == 4.25);
    assert_string_equal(a->last_game_results, "{\"score\":3,\"words\":[\"a\",\"b\"]}");
    assert_false(a->has_updated_at_ms);
    statsync__delta__free_unpacked(d, NULL);
}

static void test_delta_set_and_user(void **state)
{
    (void)state;
    json_t *j = parse("{\"xp\":50,\"userId\":\"u-1\",\"__set\":{\"hearts\":5,\"streak\":0,"
                      "\"timePerQuestion\":[],\"lastGameResults\":null}}");
    Statsync__Delta *d = NULL;
    const char *uid = NULL;
    stats_json_err e;
    assert_int_equal(stats_json_to_delta(j, &d, &uid, &e), SS_OK);
    assert_string_equal(uid, "u-1");
    assert_true(d->add->has_xp && d->add->xp == 50);
    assert_false(d->add->has_hearts);
    assert_non_null(d->set);
    assert_true(d->set->has_hearts && d->set->hearts == 5);
    assert_true(d->set->has_streak && d->set->streak == 0);
    assert_false(d->set->has_xp);
    assert_non_null(d->set->time_per_question); /* given, and empty */
    assert_int_equal(d->set->time_per_question->n_values, 0);
    assert_string_equal(d->set->last_game_results, "null");
    statsync__delta__free_unpacked(d, NULL);

    /* only __set: add is left out */
    d = NULL;
    uid = (const char *)0x1;
    json_decref(j);
    j = parse("{\"__set\":{\"level\":2}}");
    assert_int_equal(stats_json_to_delta(j, &d, &uid, &e), SS_OK);
    assert_null(uid);
    assert_null(d->add);
    assert_true(d->set->has_level && d->set->level == 2);
    statsync__delta__free_unpacked(d, NULL);
    json_decref(j);
}

static void test_delta_numbers(void **state)
{
    (void)state;
    Statsync__Delta *d = delta_ok("{\"xp\":10.0,\"diamonds\":-0.0,\"level\":1e2}");
    assert_true(d->add->xp == 10 && d->add->diamonds == 0 && d->add->level == 100);
    statsync__delta__free_unpacked(d, NULL);
    d = delta_ok("{\"xp\":9007199254740991,\"hearts\":-9007199254740991}");
    assert_true(d->add->xp == 9007199254740991LL && d->add->hearts == -9007199254740991LL);
    statsync__delta__free_unpacked(d, NULL);
    d = delta_ok("{\"totalTimeSpent\":7}"); /* integer into a number field */
    assert_true(d->add->total_time_spent == 7.0);
    statsync__delta__free_unpacked(d, NULL);
    d = delta_ok("{\"totalTimeSpent\":-1.5e3}");
    assert_true(d->add->total_time_spent == -1500.0);
    statsync__delta__free_unpacked(d, NULL);
}

static void test_delta_rejections(void **state)
{
    (void)state;
    delta_bad("[]", SS_ERR_INVALID_JSON, "object");
    delta_bad("42", SS_ERR_INVALID_JSON, "object");
    delta_bad("null", SS_ERR_INVALID_JSON, "object");
    delta_bad("{}", SS_ERR_BAD_REQUEST, "empty");
    delta_bad("{\"__set\":{}}", SS_ERR_BAD_REQUEST, "empty");
    delta_bad("{\"gems\":1}", SS_ERR_UNKNOWN_FIELD, "gems");
    delta_bad("{\"xp\":1,\"__set\":{\"gems\":1}}", SS_ERR_UNKNOWN_FIELD, "__set.gems");
    delta_bad("{\"updatedAt\":\"2024-01-15T10:30:00Z\"}", SS_ERR_UNKNOWN_FIELD, "updatedAt");
    delta_bad("{\"version\":3}", SS_ERR_UNKNOWN_FIELD, "version");
    delta_bad("{\"__set\":{\"userId\":\"x\"}}", SS_ERR_UNKNOWN_FIELD, "__set.userId");
    delta_bad("{\"__set\":{\"__set\":{}}}", SS_ERR_UNKNOWN_FIELD, "__set.__set");
    delta_bad("{\"__set\":5}", SS_ERR_INVALID_TYPE, "__set");
    delta_bad("{\"__set\":null}", SS_ERR_INVALID_TYPE, "__set");
    /* every integer field refuses strings, nulls, bools, fractions, big values */
    const char *ints[] = {"xp", "hearts", "diamonds", "level", "streak", "maxStreak",
                          "accuracy", "completedQuestions", "correctAnswers", "wrongAnswers",
                          "totalQuestions"};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        char buf[160];
        snprintf(buf, sizeof(buf), "{\"%s\":\"1\"}", ints[i]);
        delta_bad(buf, SS_ERR_INVALID_TYPE, ints[i]);
        snprintf(buf, sizeof(buf), "{\"%s\":null}", ints[i]);
        delta_bad(buf, SS_ERR_INVALID_TYPE, ints[i]);
        snprintf(buf, sizeof(buf), "{\"%s\":true}", ints[i]);
        delta_bad(buf, SS_ERR_INVALID_TYPE, ints[i]);
        snprintf(buf, sizeof(buf), "{\"%s\":[1]}", ints[i]);
        delta_bad(buf, SS_ERR_INVALID_TYPE, ints[i]);
        snprintf(buf, sizeof(buf), "{\"%s\":1.5}", ints[i]);
        delta_bad(buf, SS_ERR_INVALID_TYPE, ints[i]);
        snprintf(buf, sizeof(buf), "{\"%s\":9007199254740992}", ints[i]);
        delta_bad(buf, SS_ERR_INVALID_VALUE, ints[i]);
        snprintf(buf, sizeof(buf), "{\"%s\":-9007199254740992}", ints[i]);
        delta_bad(buf, SS_ERR_INVALID_VALUE, ints[i]);
        snprintf(buf, sizeof(buf), "{\"%s\":1e300}", ints[i]);
        delta_bad(buf, SS_ERR_INVALID_VALUE, ints[i]);
        snprintf(buf, sizeof(buf), "{\"xp\":1,\"__set\":{\"%s\":null}}", ints[i]);
        delta_bad(buf, SS_ERR_INVALID_TYPE, ints[i]);
    }
    delta_bad("{\"totalTimeSpent\":\"3\"}", SS_ERR_INVALID_TYPE, "totalTimeSpent");
    delta_bad("{\"totalTimeSpent\":null}", SS_ERR_INVALID_TYPE, "totalTimeSpent");
    delta_bad("{\"timePerQuestion\":3}", SS_ERR_INVALID_TYPE, "timePerQuestion");
    delta_bad("{\"timePerQuestion\":null}", SS_ERR_INVALID_TYPE, "timePerQuestion");
    delta_bad("{\"timePerQuestion\":[1,\"2\"]}", SS_ERR_INVALID_TYPE, "timePerQuestion[1]");
    delta_bad("{\"timePerQuestion\":[1,null]}", SS_ERR_INVALID_TYPE, "timePerQuestion[1]");
    delta_bad("{\"timePerQuestion\":[[1]]}", SS_ERR_INVALID_TYPE, "timePerQuestion[0]");
    delta_bad("{\"lastGameResults\":[]}", SS_ERR_INVALID_TYPE, "lastGameResults");
    delta_bad("{\"lastGameResults\":\"x\"}", SS_ERR_INVALID_TYPE, "lastGameResults");
    delta_bad("{\"lastGameResults\":1}", SS_ERR_INVALID_TYPE, "lastGameResults");
    delta_bad("{\"userId\":\" a\"}", SS_ERR_INVALID_USER_ID, "userId");
    delta_bad("{\"userId\":\"a\\u0001\",\"xp\":1}", SS_ERR_INVALID_USER_ID, "userId");
    delta_bad("{\"userId\":\"a\\u3000\",\"xp\":1}", SS_ERR_INVALID_USER_ID, "userId");
    delta_bad("{\"userId\":\"\",\"xp\":1}", SS_ERR_INVALID_USER_ID, "userId");
    delta_bad("{\"userId\":7,\"xp\":1}", SS_ERR_INVALID_TYPE, "userId");
    delta_bad("{\"userId\":null,\"xp\":1}", SS_ERR_INVALID_TYPE, "userId");
    /* all-or-nothing: a good field before a bad one does not help */
    delta_bad("{\"xp\":1,\"hearts\":\"x\"}", SS_ERR_INVALID_TYPE, "hearts");
    /* an unprintable key is named safely */
    delta_bad("{\"a\\u00e9\\n\":1}", SS_ERR_UNKNOWN_FIELD, "a???");
}

static void test_delta_user_id_not_wanted(void **state)
{
    (void)state;
    /* socket deltas carry no userId: with user_id_out NULL it is a stranger */
    json_t *j = parse("{\"xp\":1,\"userId\":\"alice\"}");
    Statsync__Delta *d = NULL;
    stats_json_err e;
    assert_int_equal(stats_json_to_delta(j, &d, NULL, &e), SS_ERR_UNKNOWN_FIELD);
    assert_null(d);
    assert_non_null(strstr(e.message, "userId"));
    json_decref(j);
}

static void test_delta_limits(void **state)
{
    (void)state;
    /* 100 times pass, 101 do not */
    char buf[1024] = "{\"timePerQuestion\":[";
    for (int i = 0; i < 100; i++)
        strcat(buf, i ? ",1" : "1");
    strcat(buf, "]}");
    Statsync__Delta *d = delta_ok(buf);
    assert_int_equal(d->add->time_per_question->n_values, 100);
    statsync__delta__free_unpacked(d, NULL);
    buf[strlen(buf) - 2] = '\0';
    strcat(buf, ",1]}");
    delta_bad(buf, SS_ERR_INVALID_VALUE, "timePerQuestion");

    /* lastGameResults: 16384 bytes compact pass, one more does not;
     * whitespace in the input does not count */
    size_t pad = STATS_JSON_MAX_GAME_RESULTS - strlen("{\"k\":\"\"}");
    char *big = malloc(STATS_JSON_MAX_GAME_RESULTS + 200);
    strcpy(big, "{\"lastGameResults\":  {  \"k\" :  \"");
    size_t o = strlen(big);
    memset(big + o, 'x', pad);
    strcpy(big + o + pad, "\"  }  }");
    d = delta_ok(big);
    assert_int_equal(strlen(d->add->last_game_results), STATS_JSON_MAX_GAME_RESULTS);
    statsync__delta__free_unpacked(d, NULL);
    memset(big + o, 'x', pad + 1);
    strcpy(big + o + pad + 1, "\"}}");
    delta_bad(big, SS_ERR_INVALID_VALUE, "lastGameResults");
    free(big);
}

static void test_full_every_field(void **state)
{
    (void)state;
    const char *uid = NULL;
    json_t *j = parse(
        "{\"userId\":\"user123\",\"xp\":160,\"hearts\":4,\"diamonds\":26,\"level\":3,"
        "\"streak\":8,\"accuracy\":86,\"maxStreak\":12,\"completedQuestions\":51,"
        "\"correctAnswers\":44,\"wrongAnswers\":7,\"totalQuestions\":51,"
        "\"timePerQuestion\":[2.5,3.1,2.8,2.9],\"totalTimeSpent\":155,"
        "\"lastGameResults\":{\"a\":1},\"updatedAt\":\"2024-01-15T10:35:00Z\",\"version\":7}");
    Statsync__StatsFields *f = NULL;
    stats_json_err e;
    assert_int_equal(stats_json_to_full(j, &f, &uid, &e), SS_OK);
    assert_string_equal(uid, "user123");
    assert_true(f->has_xp && f->xp == 160);
    assert_true(f->has_hearts && f->hearts == 4);
    assert_true(f->has_diamonds && f->diamonds == 26);
    assert_true(f->has_level && f->level == 3);
    assert_true(f->has_streak && f->streak == 8);
    assert_true(f->has_accuracy && f->accuracy == 86);
    assert_true(f->has_max_streak && f->max_streak == 12);
    assert_true(f->has_completed_questions && f->completed_questions == 51);
    assert_true(f->has_correct_answers && f->correct_answers == 44);
    assert_true(f->has_wrong_answers && f->wrong_answers == 7);
    assert_true(f->has_total_questions && f->total_questions == 51);
    assert_int_equal(f->time_per_question->n_values, 4);
    assert_true(f->time_per_question->values[3] == 2.9);
    assert_true(f->has_total_time_spent && f->total_time_spent == 155.0);
    assert_string_equal(f->last_game_results, "{\"a\":1}");
    assert_true(f->has_updated_at_ms);
    assert_int_equal(f->updated_at_ms, 1705314900000LL);
    statsync__stats_fields__free_unpacked(f, NULL);
    json_decref(j);

    /* updatedAt alone is a valid (if dull) full write; ms and offsets parse */
    f = full_ok("{\"updatedAt\":\"2024-01-15T12:35:00.123+02:00\"}", &uid);
    assert_null(uid);
    assert_int_equal(f->updated_at_ms, 1705314900123LL);
    assert_false(f->has_xp);
    assert_null(f->time_per_question);
    assert_null(f->last_game_results);
    statsync__stats_fields__free_unpacked(f, NULL);
}

static void test_full_rejections(void **state)
{
    (void)state;
    full_bad("[]", SS_ERR_INVALID_TYPE, "stats");
    full_bad("null", SS_ERR_INVALID_TYPE, "stats");
    full_bad("{\"xp\":1}", SS_ERR_BAD_REQUEST, "updatedAt");
    full_bad("{\"updatedAt\":null}", SS_ERR_INVALID_TYPE, "updatedAt");
    full_bad("{\"updatedAt\":1705315200000}", SS_ERR_INVALID_TYPE, "updatedAt");
    full_bad("{\"updatedAt\":\"yesterday\"}", SS_ERR_INVALID_VALUE, "updatedAt");
    full_bad("{\"updatedAt\":\"2024-02-30T00:00:00Z\"}", SS_ERR_INVALID_VALUE, "updatedAt");
    full_bad("{\"updatedAt\":\"2024-01-15T10:35:00\"}", SS_ERR_INVALID_VALUE, "updatedAt");
    full_bad("{\"updatedAt\":\"2024-01-15T10:35:00Z\",\"__set\":{}}", SS_ERR_UNKNOWN_FIELD,
             "__set");
    full_bad("{\"updatedAt\":\"2024-01-15T10:35:00Z\",\"gems\":1}", SS_ERR_UNKNOWN_FIELD,
             "gems");
    full_bad("{\"updatedAt\":\"2024-01-15T10:35:00Z\",\"xp\":null}", SS_ERR_INVALID_TYPE, "xp");
    full_bad("{\"updatedAt\":\"2024-01-15T10:35:00Z\",\"xp\":0.5}", SS_ERR_INVALID_TYPE, "xp");
    full_bad("{\"updatedAt\":\"2024-01-15T10:35:00Z\",\"level\":9007199254740992}",
             SS_ERR_INVALID_VALUE, "level");
    full_bad("{\"updatedAt\":\"2024-01-15T10:35:00Z\",\"version\":\"3\"}", SS_ERR_INVALID_TYPE,
             "version");
    full_bad("{\"updatedAt\":\"2024-01-15T10:35:00Z\",\"version\":-1}", SS_ERR_INVALID_VALUE,
             "version");
    full_bad("{\"updatedAt\":\"2024-01-15T10:35:00Z\",\"userId\":\"a \"}",
             SS_ERR_INVALID_USER_ID, "userId");
    full_bad("{\"updatedAt\":\"2024-01-15T10:35:00Z\",\"userId\":1}", SS_ERR_INVALID_TYPE,
             "userId");
    full_bad("{\"updatedAt\":\"2024-01-15T10:35:00Z\",\"timePerQuestion\":[true]}",
             SS_ERR_INVALID_TYPE, "timePerQuestion[0]");
    full_bad("{\"updatedAt\":\"2024-01-15T10:35:00Z\",\"lastGameResults\":[1]}",
             SS_ERR_INVALID_TYPE, "lastGameResults");
}

static void test_from_doc(void **state)
{
    (void)state;
    double times[] = {2.5, 3.0};
    Statsync__Document doc = STATSYNC__DOCUMENT__INIT;
    doc.user_id = "alice";
    doc.has_xp = 1;
    doc.xp = 150;
    doc.has_hearts = 1;
    doc.hearts = 4;
    doc.has_diamonds = 1;
    doc.diamonds = 25;
    doc.has_level = 1;
    doc.level = 3;
    doc.has_max_streak = 1;
    doc.max_streak = 12;
    doc.has_total_time_spent = 1;
    doc.total_time_spent = 150.5;
    doc.n_time_per_question = 2;
    doc.time_per_question = times;
    doc.last_game_results = "{\"score\":9}";
    doc.has_updated_at_ms = 1;
    doc.updated_at_ms = 1705314600123LL;
    doc.has_version = 1;
    doc.version = 42;
    json_t *j = stats_json_from_doc(&doc);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(
        s, "{\"userId\":\"alice\",\"xp\":150,\"hearts\":4,\"diamonds\":25,\"level\":3,"
           "\"streak\":0,\"maxStreak\":12,\"accuracy\":0,\"completedQuestions\":0,"
           "\"correctAnswers\":0,\"wrongAnswers\":0,\"totalQuestions\":0,"
           "\"totalTimeSpent\":150.5,\"timePerQuestion\":[2.5,3.0],"
           "\"lastGameResults\":{\"score\":9},\"updatedAt\":\"2024-01-15T10:30:00.123Z\","
           "\"version\":42}");
    free(s);
    json_decref(j);

    /* "null" text, or unreadable text, renders as null */
    doc.last_game_results = "null";
    j = stats_json_from_doc(&doc);
    assert_true(json_is_null(json_object_get(j, "lastGameResults")));
    json_decref(j);
    doc.last_game_results = "{broken";
    j = stats_json_from_doc(&doc);
    assert_true(json_is_null(json_object_get(j, "lastGameResults")));
    json_decref(j);
}

/* stats_json_doc_text is byte for byte json_dumps(stats_json_from_doc):
 * the push and the ack of a change event embed it, and clients see what they
 * saw before. */
static void check_doc_text(const Statsync__Document *doc)
{
    json_t *j = stats_json_from_doc(doc);
    char *want = json_dumps(j, JSON_COMPACT);
    size_t len = 0;
    char *got = stats_json_doc_text(doc, &len);
    assert_non_null(want);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    free(got);
    free(want);
    json_decref(j);
}

static void test_doc_text_is_jansson(void **state)
{
    (void)state;
    Statsync__Document doc = STATSYNC__DOCUMENT__INIT;
    doc.user_id = "auth0|5f7c";
    check_doc_text(&doc); /* nothing given: defaults of proto2 (0), [] and null */
    static double times[] = {0.1, 1.0, -0.0, 2.5e-7, 1e21, 123456789.125, 1.0 / 3.0,
                             9007199254740991.0, 5e-324, 1.7976931348623157e308, NAN, INFINITY};
    doc.time_per_question = times;
    doc.n_time_per_question = sizeof(times) / sizeof(times[0]);
    doc.has_xp = 1, doc.xp = 9007199254740991;
    doc.has_hearts = 1, doc.hearts = 5;
    doc.has_diamonds = 1, doc.diamonds = -3;
    doc.has_total_time_spent = 1, doc.total_time_spent = 12.75;
    doc.has_updated_at_ms = 1, doc.updated_at_ms = 1700000000123;
    doc.has_version = 1, doc.version = 42;
    doc.last_game_results = "{\"score\": 7, \"tags\": [\"a\\\"b\", null, 1.5], \"n\": {}}";
    check_doc_text(&doc);
    doc.user_id = "ana@example.com \"q\" \\ \xC3\xBC \xE4\xB8\xAD";
    doc.last_game_results = "[1,2]"; /* not an object: null, as before */
    doc.has_version = 1, doc.version = UINT64_MAX;
    check_doc_text(&doc);
    doc.user_id = "ctl\x01\x1f\t\n";
    doc.last_game_results = "not json";
    doc.has_total_time_spent = 1, doc.total_time_spent = 100.0;
    check_doc_text(&doc);
    doc.user_id = "bad \xff utf-8"; /* jansson's own path: as before */
    check_doc_text(&doc);
}

static void test_default_doc(void **state)
{
    (void)state;
    json_t *j = stats_json_default_doc("bob");
    char *s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(
        s, "{\"userId\":\"bob\",\"xp\":0,\"hearts\":5,\"diamonds\":0,\"level\":1,\"streak\":0,"
           "\"maxStreak\":0,\"accuracy\":0,\"completedQuestions\":0,\"correctAnswers\":0,"
           "\"wrongAnswers\":0,\"totalQuestions\":0,\"totalTimeSpent\":0.0,"
           "\"timePerQuestion\":[],\"lastGameResults\":null,"
           "\"updatedAt\":\"1970-01-01T00:00:00.000Z\",\"version\":0}");
    free(s);
    json_decref(j);
}

static void test_delta_round_trip(void **state)
{
    (void)state;
    const char *in = "{\"xp\":10,\"hearts\":-1,\"timePerQuestion\":[1.5],"
                     "\"lastGameResults\":{\"w\":1},"
                     "\"__set\":{\"streak\":0,\"totalTimeSpent\":2.5,\"lastGameResults\":null}}";
    Statsync__Delta *d = delta_ok(in);
    /* through the wire and back, as the stats-service sees it */
    size_t n = statsync__delta__get_packed_size(d);
    uint8_t *buf = malloc(n);
    statsync__delta__pack(d, buf);
    Statsync__Delta *d2 = statsync__delta__unpack(NULL, n, buf);
    assert_non_null(d2);
    json_t *j = stats_json_from_delta(d2);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(s, "{\"xp\":10,\"hearts\":-1,\"timePerQuestion\":[1.5],"
                           "\"lastGameResults\":{\"w\":1},"
                           "\"__set\":{\"streak\":0,\"totalTimeSpent\":2.5,"
                           "\"lastGameResults\":null}}");
    free(s);
    json_decref(j);
    statsync__delta__free_unpacked(d2, NULL);
    statsync__delta__free_unpacked(d, NULL);
    free(buf);
}

/* ---- the table of fields (common/ss_doc_fields.h) against the .proto ---- */

/* lowerCamel of a .proto field name: max_streak -> maxStreak. */
static void camel(const char *name, char *out, size_t cap)
{
    size_t n = 0;
    for (bool up = false; *name != '\0' && n + 1 < cap; name++) {
        if (*name == '_') {
            up = true;
            continue;
        }
        out[n++] = up ? (char)(*name - 'a' + 'A') : *name;
        up = false;
    }
    out[n] = '\0';
}

/* The row for field fd of StatsFields / Document (by its lowerCamel name);
 * fails naming the field when the table has none. Rows come in .proto
 * order: *next is the index the row must have. */
static const ss_doc_field *row_of(const char *msg, const ProtobufCFieldDescriptor *fd,
                                  size_t *next)
{
    char name[64];
    camel(fd->name, name, sizeof(name));
    const ss_doc_field *f = ss_doc_field_find(name);
    if (f == NULL)
        fail_msg("%s.%s is not in SS_DOC_FIELDS (common/ss_doc_fields.h)", msg, fd->name);
    if ((size_t)(f - ss_doc_fields) != *next)
        fail_msg("%s.%s: its row is not in .proto order", msg, fd->name);
    (*next)++;
    return f;
}

/* What the row's kind says about the field: its type, label and where
 * the has_* / n_* lives (StatsFields: doc false; Document: doc true). */
static void check_kind(const ss_doc_field *f, const ProtobufCFieldDescriptor *fd, bool doc)
{
    size_t has = doc ? f->doc_has : f->has;
    assert_int_equal(doc ? f->doc_val : f->val, fd->offset);
    switch (f->kind) {
    case SS_DOC_INT:
        assert_int_equal(fd->type, doc ? PROTOBUF_C_TYPE_INT64 : PROTOBUF_C_TYPE_SINT64);
        assert_int_equal(fd->label, PROTOBUF_C_LABEL_OPTIONAL);
        assert_int_equal(has, fd->quantifier_offset);
        break;
    case SS_DOC_DOUBLE:
        assert_int_equal(fd->type, PROTOBUF_C_TYPE_DOUBLE);
        assert_int_equal(fd->label, PROTOBUF_C_LABEL_OPTIONAL);
        assert_int_equal(has, fd->quantifier_offset);
        break;
    case SS_DOC_DOUBLES:
        if (doc) {
            assert_int_equal(fd->type, PROTOBUF_C_TYPE_DOUBLE);
            assert_int_equal(fd->label, PROTOBUF_C_LABEL_REPEATED);
            assert_int_equal(has, fd->quantifier_offset);
        } else {
            assert_int_equal(fd->type, PROTOBUF_C_TYPE_MESSAGE);
            assert_ptr_equal(fd->descriptor, &statsync__double_list__descriptor);
        }
        break;
    case SS_DOC_OBJECT:
        assert_int_equal(fd->type, PROTOBUF_C_TYPE_STRING);
        assert_int_equal(fd->label, PROTOBUF_C_LABEL_OPTIONAL);
        break;
    }
}

/* Every field of StatsFields and Document is a row of SS_DOC_FIELDS, of the
 * kind its type says, at its offsets, in .proto order — but the ones that
 * are not stats (userId, updatedAt, version). A field added to the .proto
 * and not to the table fails here. */
static void test_table_is_the_proto(void **state)
{
    (void)state;
    static const char *const not_stats[] = {"user_id", "updated_at_ms", "version"};
    const ProtobufCMessageDescriptor *msgs[] = {&statsync__stats_fields__descriptor,
                                                &statsync__document__descriptor};
    for (size_t m = 0; m < 2; m++) {
        size_t next = 0;
        for (unsigned i = 0; i < msgs[m]->n_fields; i++) {
            const ProtobufCFieldDescriptor *fd = &msgs[m]->fields[i];
            bool skip = false;
            for (size_t k = 0; k < sizeof(not_stats) / sizeof(not_stats[0]); k++)
                skip = skip || strcmp(fd->name, not_stats[k]) == 0;
            if (!skip)
                check_kind(row_of(msgs[m]->name, fd, &next), fd, m == 1);
        }
        assert_int_equal(next, SS_DOC_NFIELDS);
    }
}

/* The gateway's never-written user is the stats-service's: both come from
 * the table's default column. */
static void test_default_doc_is_the_services(void **state)
{
    (void)state;
    stats_doc d;
    doc_init_defaults(&d, "bob");
    Statsync__Document p;
    doc_to_proto(&d, &p);
    json_t *service = stats_json_from_doc(&p);
    json_t *gateway = stats_json_default_doc("bob");
    assert_true(json_equal(service, gateway));
    json_decref(service);
    json_decref(gateway);
    doc_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delta_every_field),
        cmocka_unit_test(test_delta_set_and_user),
        cmocka_unit_test(test_delta_numbers),
        cmocka_unit_test(test_delta_rejections),
        cmocka_unit_test(test_delta_user_id_not_wanted),
        cmocka_unit_test(test_delta_limits),
        cmocka_unit_test(test_full_every_field),
        cmocka_unit_test(test_full_rejections),
        cmocka_unit_test(test_from_doc),
        cmocka_unit_test(test_doc_text_is_jansson),
        cmocka_unit_test(test_default_doc),
        cmocka_unit_test(test_delta_round_trip),
        cmocka_unit_test(test_table_is_the_proto),
        cmocka_unit_test(test_default_doc_is_the_services),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
