/* test_rest_input.c — pure REST input checks (gateway/rest_input.c), and the
 * envelope parsers of client input (gateway/stats_json.c): the REST bodies
 * and the user:clientUpdate payload. Envelopes are tolerant (members the
 * server does not use are ignored), the data inside strict (DESIGN §2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rest_input.h"
#include "stats_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_content_type(void **state)
{
    (void)state;
    assert_true(rest_content_type_is_json("application/json"));
    assert_true(rest_content_type_is_json("Application/JSON"));
    assert_true(rest_content_type_is_json("application/json; charset=utf-8"));
    assert_true(rest_content_type_is_json("application/json;charset=UTF-8"));
    assert_true(rest_content_type_is_json("  application/json  "));
    assert_false(rest_content_type_is_json(NULL));
    assert_false(rest_content_type_is_json(""));
    assert_false(rest_content_type_is_json("text/plain"));
    assert_false(rest_content_type_is_json("application/jsonx"));
    assert_false(rest_content_type_is_json("application/json-patch+json"));
    assert_false(rest_content_type_is_json("application/x-www-form-urlencoded"));
    assert_false(rest_content_type_is_json("multipart/form-data; boundary=x"));
}

static void test_idem_key(void **state)
{
    (void)state;
    char key[200];
    assert_true(rest_idem_key_valid("a", 128));
    assert_true(rest_idem_key_valid("op-123e4567-e89b-12d3-a456-426614174000", 128));
    assert_true(rest_idem_key_valid("with space ~!@#$%^&*()", 128));
    memset(key, 'k', 128);
    key[128] = '\0';
    assert_true(rest_idem_key_valid(key, 128));
    key[128] = 'k';
    key[129] = '\0';
    assert_false(rest_idem_key_valid(key, 128));
    assert_false(rest_idem_key_valid("", 128));
    assert_false(rest_idem_key_valid(NULL, 128));
    assert_false(rest_idem_key_valid("tab\there", 128));
    assert_false(rest_idem_key_valid("caf\xc3\xa9", 128));
    assert_false(rest_idem_key_valid("del\x7f", 128));
}

static void test_depth(void **state)
{
    (void)state;
    const char *t = "{\"a\":[{\"b\":1}]}";
    assert_false(rest_json_too_deep(t, strlen(t), 3));
    assert_true(rest_json_too_deep(t, strlen(t), 2));
    /* brackets inside strings, also after escaped quotes, do not count */
    t = "{\"a\":\"[[[[[[\\\"{{{{{\"}";
    assert_false(rest_json_too_deep(t, strlen(t), 1));
    t = "{\"a\\\\\":[[1]]}"; /* key ends in an escaped backslash */
    assert_true(rest_json_too_deep(t, strlen(t), 2));
    assert_false(rest_json_too_deep(t, strlen(t), 3));
    /* siblings do not add up */
    t = "[[1],[2],[3],{\"x\":[]}]";
    assert_false(rest_json_too_deep(t, strlen(t), 3));
    assert_true(rest_json_too_deep(t, strlen(t), 2));
    /* deep nesting: exactly at the limit passes, one more does not */
    char buf[200];
    int n = 0;
    for (int i = 0; i < 32; i++)
        buf[n++] = '[';
    for (int i = 0; i < 32; i++)
        buf[n++] = ']';
    assert_false(rest_json_too_deep(buf, (size_t)n, 32));
    assert_true(rest_json_too_deep(buf, (size_t)n, 31));
    /* stray closers cannot buy extra depth */
    t = "]]]]][[[";
    assert_true(rest_json_too_deep(t, strlen(t), 2));
    /* only len bytes are looked at */
    assert_false(rest_json_too_deep("[[[", 1, 1));
}

static void test_content_length(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(rest_parse_content_length("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(rest_parse_content_length("1048577", &v), 0);
    assert_int_equal(v, 1048577);
    assert_int_equal(rest_parse_content_length("18446744073709551615", &v), -1);
    assert_int_equal(rest_parse_content_length("99999999999999999999999", &v), -1);
    assert_int_equal(rest_parse_content_length("", &v), -1);
    assert_int_equal(rest_parse_content_length(NULL, &v), -1);
    assert_int_equal(rest_parse_content_length("12a", &v), -1);
    assert_int_equal(rest_parse_content_length("-1", &v), -1);
}

/* ---- envelopes and data (stats_json.c) ---------------------------------------- */

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        fail_msg("test JSON does not parse: %s: %s", text, jerr.text);
    return j;
}

static void want_err(const char *what, const char *text, ss_err rc, const stats_json_err *e,
                     ss_err want)
{
    if (rc != want)
        fail_msg("%s %s: got %s (%s), want %s", what, text, ss_err_code(rc), e->message,
                 ss_err_code(want));
    assert_int_equal(e->err, want);
    if (want != SS_OK)
        assert_true(e->message[0] != '\0');
}

/* user:clientUpdate envelope: refused with want (SS_OK: accepted; *u filled). */
static void update_env(const char *text, ss_err want, stats_json_update *u, json_t **keep)
{
    json_t *j = parse(text);
    stats_json_err e = {SS_OK, ""};
    ss_err rc = stats_json_update_envelope(j, u, &e);
    want_err("update envelope", text, rc, &e, want);
    if (want != SS_OK)
        assert_true(u->delta == NULL && u->stats == NULL && u->ops == NULL && u->op_id == NULL);
    if (keep != NULL)
        *keep = j; /* u borrows from it */
    else
        json_decref(j);
}

static void test_update_envelope_ignores_extra_members(void **state)
{
    (void)state;
    stats_json_update u;
    json_t *j;
    /* the members the server does not use: ts, seq, source, clientId, a stamp */
    update_env("{\"delta\":{\"xp\":1},\"ts\":1700000000000}", SS_OK, &u, &j);
    assert_non_null(u.delta);
    assert_null(u.stats);
    assert_null(u.ops);
    assert_null(u.op_id);
    assert_ptr_equal(u.delta, json_object_get(j, "delta"));
    json_decref(j);
    update_env("{\"opId\":\"op-1\",\"delta\":{\"xp\":1},\"seq\":3,\"source\":\"app\","
               "\"clientId\":\"c-1\",\"ts\":\"whenever\",\"nested\":{\"a\":[1,{}]}}",
               SS_OK, &u, &j);
    assert_string_equal(u.op_id, "op-1");
    assert_non_null(u.delta);
    json_decref(j);
    update_env("{\"userId\":\"alice\",\"stats\":{\"xp\":1,\"updatedAt\":\"2024-01-01T00:00:00Z\"},"
               "\"clientTs\":5}",
               SS_OK, &u, &j);
    assert_non_null(u.stats);
    assert_null(u.delta);
    json_decref(j);
    update_env("{\"ops\":[{\"opId\":\"a\",\"delta\":{\"xp\":1}}],\"ts\":1,\"seq\":9}", SS_OK, &u,
               &j);
    assert_true(json_is_array(u.ops));
    assert_null(u.op_id);
    json_decref(j);
    /* a member named like a stats field outside the data is envelope too */
    update_env("{\"delta\":{\"xp\":1},\"hearts\":\"x\",\"__set\":null}", SS_OK, &u, NULL);
}

static void test_update_envelope_used_members_validated(void **state)
{
    (void)state;
    stats_json_update u;
    char text[400];
    update_env("[1]", SS_ERR_INVALID_JSON, &u, NULL);
    update_env("null", SS_ERR_INVALID_JSON, &u, NULL);
    update_env("{\"ts\":1}", SS_ERR_BAD_REQUEST, &u, NULL);
    update_env("{}", SS_ERR_BAD_REQUEST, &u, NULL);
    update_env("{\"delta\":{\"xp\":1},\"stats\":{}}", SS_ERR_BAD_REQUEST, &u, NULL);
    update_env("{\"delta\":{\"xp\":1},\"ops\":[]}", SS_ERR_BAD_REQUEST, &u, NULL);
    /* opId: a string of 1..128 */
    update_env("{\"opId\":5,\"delta\":{\"xp\":1}}", SS_ERR_INVALID_TYPE, &u, NULL);
    update_env("{\"opId\":null,\"delta\":{\"xp\":1}}", SS_ERR_INVALID_TYPE, &u, NULL);
    update_env("{\"opId\":\"\",\"stats\":{}}", SS_ERR_INVALID_VALUE, &u, NULL);
    char id[STATS_JSON_OPID_MAX + 2];
    memset(id, 'k', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    snprintf(text, sizeof(text), "{\"opId\":\"%s\",\"delta\":{\"xp\":1},\"ts\":1}", id);
    update_env(text, SS_ERR_INVALID_VALUE, &u, NULL);
    id[STATS_JSON_OPID_MAX] = '\0';
    snprintf(text, sizeof(text), "{\"opId\":\"%s\",\"delta\":{\"xp\":1},\"ts\":1}", id);
    json_t *j;
    update_env(text, SS_OK, &u, &j);
    assert_int_equal(strlen(u.op_id), STATS_JSON_OPID_MAX);
    json_decref(j);
    /* ops: each op has its own opId; 1..100 of them */
    update_env("{\"opId\":\"a\",\"ops\":[{\"delta\":{\"xp\":1}}]}", SS_ERR_BAD_REQUEST, &u, NULL);
    update_env("{\"ops\":[]}", SS_ERR_INVALID_VALUE, &u, NULL);
    update_env("{\"ops\":{}}", SS_ERR_INVALID_VALUE, &u, NULL);
    char *big = malloc(16 * (STATS_JSON_MAX_OPS + 1) + 16);
    for (int count = STATS_JSON_MAX_OPS; count <= STATS_JSON_MAX_OPS + 1; count++) {
        size_t n = (size_t)sprintf(big, "{\"ops\":[");
        for (int i = 0; i < count; i++)
            n += (size_t)sprintf(big + n, "%s{\"delta\":{}}", i ? "," : "");
        sprintf(big + n, "],\"ts\":1}");
        update_env(big, count <= STATS_JSON_MAX_OPS ? SS_OK : SS_ERR_INVALID_VALUE, &u, &j);
        if (count <= STATS_JSON_MAX_OPS)
            assert_int_equal(json_array_size(u.ops), STATS_JSON_MAX_OPS);
        json_decref(j);
    }
    free(big);
}

/* want_seq: the seq the op is numbered with (0: none; then no clientId). */
static void batch_op_seq(const char *text, ss_err want, const char *names, uint64_t want_seq)
{
    json_t *j = parse(text);
    const json_t *op_id = (const json_t *)0x1, *delta = (const json_t *)0x1;
    stats_json_seq sq = {(const char *)0x1, 99};
    stats_json_err e = {SS_OK, ""};
    ss_err rc = stats_json_batch_op(j, 3, &op_id, &delta, &sq, &e);
    want_err("ops[3]", text, rc, &e, want);
    if (want == SS_OK) {
        assert_ptr_equal(delta, json_object_get(j, "delta"));
        assert_ptr_equal(op_id, json_object_get(j, "opId"));
        assert_int_equal(sq.seq, want_seq);
        if (want_seq > 0)
            assert_string_equal(sq.client_id,
                                json_string_value(json_object_get(j, "clientId")));
        else
            assert_null(sq.client_id);
    } else {
        assert_null(op_id);
        assert_null(delta);
        assert_null(sq.client_id);
        assert_int_equal(sq.seq, 0);
        if (names != NULL && strstr(e.message, names) == NULL)
            fail_msg("ops[3] %s: message '%s' does not name '%s'", text, e.message, names);
    }
    json_decref(j);
}

static void batch_op(const char *text, ss_err want, const char *names)
{
    batch_op_seq(text, want, names, 0);
}

/* An op of a batch is data: strict, but for the SDK's clientId / seq. */
static void test_batch_op_is_strict(void **state)
{
    (void)state;
    batch_op("{\"opId\":\"a\",\"delta\":{\"xp\":1}}", SS_OK, NULL);
    batch_op("{\"delta\":{\"xp\":1}}", SS_OK, NULL);
    batch_op_seq("{\"opId\":\"a\",\"delta\":{\"xp\":1},\"clientId\":\"c\",\"seq\":4}", SS_OK,
                 NULL, 4);
    batch_op("{\"opId\":\"a\",\"delta\":{\"xp\":1},\"ts\":1}", SS_ERR_UNKNOWN_FIELD, "ops[3].ts");
    batch_op("{\"opId\":\"a\",\"delta\":{\"xp\":1},\"userId\":\"alice\"}", SS_ERR_UNKNOWN_FIELD,
             "ops[3].userId");
    batch_op("{\"opId\":\"a\",\"stats\":{}}", SS_ERR_UNKNOWN_FIELD, "ops[3].stats");
    batch_op("{\"opId\":\"a\"}", SS_ERR_BAD_REQUEST, "ops[3]");
    batch_op("[]", SS_ERR_INVALID_TYPE, NULL);
    batch_op("\"x\"", SS_ERR_INVALID_TYPE, NULL);
    /* the numbering: both or neither, valid, named by the op */
    batch_op("{\"delta\":{\"xp\":1},\"seq\":4}", SS_ERR_BAD_REQUEST, "ops[3].clientId");
    batch_op("{\"delta\":{\"xp\":1},\"clientId\":\"c\"}", SS_ERR_BAD_REQUEST, "ops[3].seq");
    batch_op("{\"delta\":{\"xp\":1},\"clientId\":7,\"seq\":4}", SS_ERR_INVALID_TYPE,
             "ops[3].clientId");
    batch_op("{\"delta\":{\"xp\":1},\"clientId\":\"c/d\",\"seq\":4}", SS_ERR_INVALID_VALUE,
             "ops[3].clientId");
    batch_op("{\"delta\":{\"xp\":1},\"clientId\":\"c\",\"seq\":\"4\"}", SS_ERR_INVALID_TYPE,
             "ops[3].seq");
    batch_op("{\"delta\":{\"xp\":1},\"clientId\":\"c\",\"seq\":0}", SS_ERR_INVALID_VALUE,
             "ops[3].seq");
}

/* Inside the envelopes the data stays strict: delta, __set, stats. */
static void test_data_stays_strict(void **state)
{
    (void)state;
    static const char *deltas[] = {
        "{\"xp\":1,\"bogus\":1}",          "{\"xp\":1,\"ts\":1}",
        "{\"xp\":1,\"seq\":1}",            "{\"xp\":1,\"clientId\":\"c\"}",
        "{\"xp\":1,\"__set\":{\"zz\":1}}", "{\"__set\":{\"xp\":1,\"ts\":2}}",
    };
    for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
        json_t *j = parse(deltas[i]);
        Statsync__Delta *d = (Statsync__Delta *)0x1;
        const char *uid = NULL;
        stats_json_err e;
        want_err("socket delta", deltas[i], stats_json_to_delta(j, &d, &uid, &e), &e,
                 SS_ERR_UNKNOWN_FIELD);
        assert_null(d);
        json_decref(j);
    }
    static const char *fulls[] = {
        "{\"xp\":1,\"updatedAt\":\"2024-01-01T00:00:00Z\",\"nope\":1}",
        "{\"xp\":1,\"updatedAt\":\"2024-01-01T00:00:00Z\",\"ts\":1}",
        "{\"xp\":1,\"updatedAt\":\"2024-01-01T00:00:00Z\",\"__set\":{}}",
    };
    for (size_t i = 0; i < sizeof(fulls) / sizeof(fulls[0]); i++) {
        json_t *j = parse(fulls[i]);
        Statsync__StatsFields *f = (Statsync__StatsFields *)0x1;
        stats_json_err e;
        want_err("stats", fulls[i], stats_json_to_full(j, &f, NULL, &e), &e,
                 SS_ERR_UNKNOWN_FIELD);
        assert_null(f);
        json_decref(j);
    }
}

static Statsync__Delta *patch_seq(const char *text, ss_err want, const char **uid,
                                  json_t **keep, stats_json_seq *sq)
{
    json_t *j = parse(text);
    Statsync__Delta *d = NULL;
    stats_json_err e = {SS_OK, ""};
    stats_json_seq got = {(const char *)0x1, 99};
    ss_err rc = stats_json_patch_body(j, &d, uid, &got, &e);
    want_err("patch body", text, rc, &e, want);
    if (want != SS_OK) {
        assert_null(d);
        assert_null(got.client_id);
        assert_int_equal(got.seq, 0);
    }
    if (sq != NULL)
        *sq = got;
    if (keep != NULL)
        *keep = j;
    else
        json_decref(j);
    return d;
}

static Statsync__Delta *patch(const char *text, ss_err want, const char **uid, json_t **keep)
{
    return patch_seq(text, want, uid, keep, NULL);
}

/* POST /api/users/data/patch: the body is the delta; userId is used, the
 * SDK's clientId / seq number the op, opId is ignored, anything else is
 * unknown. */
static void test_patch_body(void **state)
{
    (void)state;
    const char *uid = NULL;
    json_t *j;
    stats_json_seq sq;
    Statsync__Delta *d =
        patch_seq("{\"xp\":2,\"clientId\":\"c-1\",\"seq\":7,\"opId\":\"o-1\",\"userId\":\"alice\","
                  "\"__set\":{\"hearts\":3}}",
                  SS_OK, &uid, &j, &sq);
    assert_string_equal(sq.client_id, "c-1");
    assert_int_equal(sq.seq, 7);
    assert_non_null(d->add);
    assert_true(d->add->has_xp);
    assert_int_equal(d->add->xp, 2);
    assert_non_null(d->set);
    assert_int_equal(d->set->hearts, 3);
    assert_string_equal(uid, "alice");
    json_decref(j);
    /* nothing else of the body reached the delta */
    json_t *back = stats_json_from_delta(d);
    char *text = json_dumps(back, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"__set\":{\"hearts\":3},\"xp\":2}");
    free(text);
    json_decref(back);
    statsync__delta__free_unpacked(d, NULL);
    /* opId is ignored (REST idempotency is the Idempotency-Key header): any type */
    d = patch_seq("{\"xp\":1,\"opId\":null}", SS_OK, &uid, NULL, &sq);
    assert_null(uid);
    assert_null(sq.client_id);
    assert_int_equal(sq.seq, 0);
    statsync__delta__free_unpacked(d, NULL);
    /* clientId / seq are used, so validated: both or neither, a clientId of
     * 1-64 [A-Za-z0-9_-], a seq of 1..2^53-1 */
    patch("{\"xp\":1,\"clientId\":{},\"seq\":1}", SS_ERR_INVALID_TYPE, &uid, NULL);
    patch("{\"xp\":1,\"clientId\":\"c\",\"seq\":\"x\"}", SS_ERR_INVALID_TYPE, &uid, NULL);
    patch("{\"xp\":1,\"clientId\":\"c\",\"seq\":1.5}", SS_ERR_INVALID_TYPE, &uid, NULL);
    patch("{\"xp\":1,\"clientId\":\"c\",\"seq\":null}", SS_ERR_INVALID_TYPE, &uid, NULL);
    patch("{\"xp\":1,\"clientId\":\"c\",\"seq\":0}", SS_ERR_INVALID_VALUE, &uid, NULL);
    patch("{\"xp\":1,\"clientId\":\"c\",\"seq\":-3}", SS_ERR_INVALID_VALUE, &uid, NULL);
    patch("{\"xp\":1,\"clientId\":\"c\",\"seq\":9007199254740992}", SS_ERR_INVALID_VALUE, &uid,
          NULL);
    patch("{\"xp\":1,\"clientId\":\"\",\"seq\":1}", SS_ERR_INVALID_VALUE, &uid, NULL);
    patch("{\"xp\":1,\"clientId\":\"a b\",\"seq\":1}", SS_ERR_INVALID_VALUE, &uid, NULL);
    patch("{\"xp\":1,\"clientId\":\"a.b\",\"seq\":1}", SS_ERR_INVALID_VALUE, &uid, NULL);
    patch("{\"xp\":1,\"clientId\":\"\u00fc\",\"seq\":1}", SS_ERR_INVALID_VALUE, &uid, NULL);
    char body[200];
    snprintf(body, sizeof(body), "{\"xp\":1,\"clientId\":\"%065d\",\"seq\":1}", 0);
    patch(body, SS_ERR_INVALID_VALUE, &uid, NULL);
    snprintf(body, sizeof(body), "{\"xp\":1,\"clientId\":\"%064d\",\"seq\":9007199254740991}", 0);
    d = patch_seq(body, SS_OK, &uid, &j, &sq); /* sq borrows from j */
    assert_int_equal(strlen(sq.client_id), 64);
    assert_int_equal(sq.seq, 9007199254740991ULL);
    json_decref(j);
    statsync__delta__free_unpacked(d, NULL);
    d = patch_seq("{\"xp\":1,\"clientId\":\"3f2b6c1e-8d4a-4b7e-9c2d-0a1b2c3d4e5f\",\"seq\":2.0}",
                  SS_OK, &uid, &j, &sq);
    assert_string_equal(sq.client_id, "3f2b6c1e-8d4a-4b7e-9c2d-0a1b2c3d4e5f");
    assert_int_equal(sq.seq, 2);
    json_decref(j);
    statsync__delta__free_unpacked(d, NULL);
    patch("{\"xp\":1,\"seq\":1}", SS_ERR_BAD_REQUEST, &uid, NULL);
    patch("{\"xp\":1,\"clientId\":\"c\"}", SS_ERR_BAD_REQUEST, &uid, NULL);
    /* the data's own errors are named first */
    patch("{\"xp\":\"1\",\"clientId\":5}", SS_ERR_INVALID_TYPE, &uid, NULL);
    /* strict otherwise */
    patch("{\"xp\":1,\"ts\":1}", SS_ERR_UNKNOWN_FIELD, &uid, NULL);
    patch("{\"xp\":1,\"bogus\":1}", SS_ERR_UNKNOWN_FIELD, &uid, NULL);
    patch("{\"xp\":1,\"__set\":{\"seq\":1}}", SS_ERR_UNKNOWN_FIELD, &uid, NULL);
    patch("{\"xp\":1,\"updatedAt\":\"2024-01-01T00:00:00Z\"}", SS_ERR_UNKNOWN_FIELD, &uid, NULL);
    patch("{\"xp\":\"1\",\"seq\":1}", SS_ERR_INVALID_TYPE, &uid, NULL);
    patch("{\"xp\":1,\"userId\":5}", SS_ERR_INVALID_TYPE, &uid, NULL);
    patch("{\"xp\":1,\"userId\":\"\"}", SS_ERR_INVALID_USER_ID, &uid, NULL);
    /* envelope members alone are no delta */
    patch("{\"clientId\":\"c\",\"seq\":1,\"opId\":\"o\"}", SS_ERR_BAD_REQUEST, &uid, NULL);
}

static void update_body(const char *text, ss_err want, const char *want_uid)
{
    json_t *j = parse(text);
    const json_t *stats = (const json_t *)0x1;
    const char *uid = (const char *)0x1;
    stats_json_err e = {SS_OK, ""};
    ss_err rc = stats_json_update_body(j, &stats, &uid, &e);
    want_err("updateStats body", text, rc, &e, want);
    if (want == SS_OK) {
        assert_ptr_equal(stats, json_object_get(j, "stats"));
        if (want_uid)
            assert_string_equal(uid, want_uid);
        else
            assert_null(uid);
    } else {
        assert_null(stats);
        assert_null(uid);
    }
    json_decref(j);
}

/* POST /api/users/updateStats {userId, stats}: other members ignored. */
static void test_update_stats_body(void **state)
{
    (void)state;
    update_body("{\"userId\":\"alice\",\"stats\":{\"xp\":1},\"clientTs\":1700000000000}", SS_OK,
                "alice");
    update_body("{\"stats\":{},\"seq\":3,\"source\":\"app\",\"extra\":{\"a\":[1]}}", SS_OK, NULL);
    update_body("{\"userId\":\"alice\",\"clientTs\":1}", SS_ERR_BAD_REQUEST, NULL);
    update_body("{\"userId\":7,\"stats\":{}}", SS_ERR_INVALID_TYPE, NULL);
    update_body("{\"userId\":\"\",\"stats\":{}}", SS_ERR_INVALID_USER_ID, NULL);
    update_body("[]", SS_ERR_INVALID_JSON, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_idem_key),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_update_envelope_ignores_extra_members),
        cmocka_unit_test(test_update_envelope_used_members_validated),
        cmocka_unit_test(test_batch_op_is_strict),
        cmocka_unit_test(test_data_stays_strict),
        cmocka_unit_test(test_patch_body),
        cmocka_unit_test(test_update_stats_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
