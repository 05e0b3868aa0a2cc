/* corpus_gen.c — writes the binary seed corpora of the fuzz targets (the
 * protobuf ones, which cannot be written by hand) from readable JSON, using
 * the project's own encoders, so the seeds are exactly what the services
 * exchange. Text seeds (JSON bodies, tokens) are written too.
 *
 *   build-fuzz/tests/fuzz/fuzz_corpus_gen tests/fuzz/corpus
 *
 * Deterministic: a fixed clock and a fixed secret (the ones the targets use).
 * Re-running it rewrites the same files. */
#include "auth.h"
#include "doc.h"
#include "stats_json.h"
#include "statsync.pb-c.h"

#include <errno.h>
#include <stdint.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NOW_MS 1700000060000LL
#define SECRET "fuzz-secret-0123456789abcdef"

static const char *root;

static void put(const char *target, const char *name, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void put_str(const char *target, const char *name, const char *s)
{
    put(target, name, s, strlen(s));
}

static void put_msg(const char *target, const char *name, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(n ? n : 1);
    protobuf_c_message_pack(m, b);
    put(target, name, b, n);
    free(b);
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (j == NULL) {
        fprintf(stderr, "bad seed JSON: %s: %s\n", text, e.text);
        exit(1);
    }
    return j;
}

static Statsync__Delta *delta(const char *text)
{
    json_t *j = parse(text);
    Statsync__Delta *d = NULL;
    stats_json_err e;
    if (stats_json_to_delta(j, &d, NULL, &e) != SS_OK) {
        fprintf(stderr, "bad seed delta %s: %s\n", text, e.message);
        exit(1);
    }
    json_decref(j);
    return d;
}

static Statsync__StatsFields *full(const char *text)
{
    json_t *j = parse(text);
    Statsync__StatsFields *f = NULL;
    stats_json_err e;
    if (stats_json_to_full(j, &f, NULL, &e) != SS_OK) {
        fprintf(stderr, "bad seed full write %s: %s\n", text, e.message);
        exit(1);
    }
    json_decref(j);
    return f;
}

/* ---- fuzz_rest_body: JSON bodies and header values ---- */

static void rest_body(void)
{
    static const char *const seeds[][2] = {
        {"patch_basic", "{\"xp\":10,\"hearts\":-1}"},
        {"patch_set", "{\"xp\":5,\"__set\":{\"hearts\":5,\"streak\":3,\"timePerQuestion\":[]}}"},
        {"patch_user", "{\"userId\":\"alice_01\",\"diamonds\":-2}"},
        {"patch_times", "{\"timePerQuestion\":[1.5,2,3.25],\"totalTimeSpent\":12.5}"},
        {"patch_results", "{\"lastGameResults\":{\"score\":10,\"answers\":[1,2,{\"q\":\"x\"}]}}"},
        {"patch_results_null", "{\"lastGameResults\":null,\"level\":1.0}"},
        {"patch_all",
         "{\"xp\":1,\"hearts\":1,\"diamonds\":1,\"level\":1,\"streak\":1,\"maxStreak\":1,"
         "\"accuracy\":1,\"completedQuestions\":1,\"correctAnswers\":1,\"wrongAnswers\":1,"
         "\"totalQuestions\":1,\"totalTimeSpent\":1.5,\"timePerQuestion\":[0.5],"
         "\"lastGameResults\":{},\"__set\":{\"xp\":9007199254740991}}"},
        {"update_full",
         "{\"userId\":\"alice\",\"stats\":{\"userId\":\"alice\",\"xp\":100,\"hearts\":4,"
         "\"diamonds\":7,\"level\":3,\"streak\":2,\"maxStreak\":5,\"accuracy\":50,"
         "\"completedQuestions\":4,\"correctAnswers\":2,\"wrongAnswers\":2,\"totalQuestions\":4,"
         "\"totalTimeSpent\":33.3,\"timePerQuestion\":[1,2],\"lastGameResults\":null,"
         "\"updatedAt\":\"2023-11-14T22:13:00.000Z\",\"version\":3}}"},
        {"update_offset", "{\"stats\":{\"xp\":1,\"updatedAt\":\"2023-11-14T23:13:00.5+01:00\"}}"},
        {"update_future", "{\"stats\":{\"xp\":1,\"updatedAt\":\"2099-01-01T00:00:00Z\"}}"},
        {"bad_unknown", "{\"xpp\":1}"},
        {"bad_type", "{\"xp\":\"10\",\"hearts\":null}"},
        {"bad_big", "{\"xp\":9007199254740992}"},
        {"bad_float", "{\"xp\":1.5,\"totalTimeSpent\":1e308}"},
        {"bad_dup", "{\"xp\":1,\"xp\":2}"},
        {"bad_userid", "{\"userId\":\"a.b\",\"xp\":1}"},
        {"bad_unicode_key", "{\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
                            "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
                            "\\u00e9\\u00e9\\u00e9\\u00e9\":1}"},
        {"bad_empty", "{}"},
        {"bad_array", "[1,2,3]"},
        {"string_brackets", "{\"lastGameResults\":{\"s\":\"[[[[{{{{\\\"\"}}"},
        {"hdr_ct", "application/json; charset=utf-8"},
        {"hdr_bearer", "bearer  eyJhbGciOiJIUzI1NiJ9.e30.x"},
        {"hdr_len", "000123456"},
        {"hdr_idem", "op-2023-11-14T22:13:00Z#1"},
    };
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
        put_str("fuzz_rest_body", seeds[i][0], seeds[i][1]);
    char deep[200];
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof(deep) - n, "{\"lastGameResults\":");
    for (int i = 0; i < 33; i++)
        deep[n++] = i % 2 ? '[' : '{';
    deep[n] = '\0';
    put_str("fuzz_rest_body", "deep", deep);
}

/* ---- fuzz_auth ---- */

static void auth(void)
{
    const char *T = "fuzz_auth";
    char *tok = auth_mint("alice_01", SECRET, NOW_MS / 1000 - 10, 3600);
    char buf[8192];
    snprintf(buf, sizeof(buf), "%c%s", 0, tok);
    put(T, "raw_valid", buf, strlen(tok) + 1);
    free(tok);
    snprintf(buf, sizeof(buf), "%ceyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0.", 0);
    put(T, "raw_alg_none", buf, strlen(buf + 1) + 1);
    snprintf(buf, sizeof(buf), "%ca.b.c", 0);
    put(T, "raw_garbage", buf, 6);
    static const char *const signed_seeds[][3] = {
        {"signed_ok", "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"sub\":\"alice\",\"exp\":1900000000}"},
        {"signed_nbf", "{\"alg\":\"HS256\"}", "{\"sub\":\"bob\",\"exp\":1900000000,\"nbf\":1800000000}"},
        {"signed_exp_str", "{\"alg\":\"HS256\"}", "{\"sub\":\"bob\",\"exp\":\"1900000000\"}"},
        {"signed_sub_num", "{\"alg\":\"HS256\"}", "{\"sub\":12,\"exp\":1900000000}"},
        {"signed_sub_dot", "{\"alg\":\"HS256\"}", "{\"sub\":\"a.b\",\"exp\":1900000000}"},
        {"signed_sub_wild", "{\"alg\":\"HS256\"}", "{\"sub\":\"*\",\"exp\":1900000000}"},
        {"signed_sub_nul", "{\"alg\":\"HS256\"}", "{\"sub\":\"a\\u0000b\",\"exp\":1900000000}"},
        {"signed_expired", "{\"alg\":\"HS256\"}", "{\"sub\":\"carol\",\"exp\":1700000000}"},
        {"signed_alg_none", "{\"alg\":\"none\"}", "{\"sub\":\"carol\",\"exp\":1900000000}"},
        {"signed_alg_hs512", "{\"alg\":\"HS512\"}", "{\"sub\":\"carol\",\"exp\":1900000000}"},
        {"signed_crit", "{\"alg\":\"HS256\",\"crit\":[\"x\"]}", "{\"sub\":\"carol\",\"exp\":1900000000}"},
        {"signed_dup_sub", "{\"alg\":\"HS256\"}", "{\"sub\":\"alice\",\"sub\":\"bob\",\"exp\":1900000000}"},
        {"signed_array", "[\"alg\",\"HS256\"]", "[]"},
    };
    for (size_t i = 0; i < sizeof(signed_seeds) / sizeof(signed_seeds[0]); i++) {
        size_t hl = strlen(signed_seeds[i][1]), cl = strlen(signed_seeds[i][2]);
        buf[0] = 1;
        memcpy(buf + 1, signed_seeds[i][1], hl);
        buf[1 + hl] = (char)0xff;
        memcpy(buf + 2 + hl, signed_seeds[i][2], cl);
        put(T, signed_seeds[i][0], buf, 2 + hl + cl);
    }
    buf[0] = 5; /* signed with the wrong secret */
    put(T, "signed_wrong_key", buf, 2 + strlen(signed_seeds[0][1]) + strlen(signed_seeds[0][2]));
    static const char *const mint_seeds[][2] = {
        {"mint_ok", "alice_01-X"}, {"mint_dot", "a.b"}, {"mint_gt", ">"},
        {"mint_65", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
    };
    for (size_t i = 0; i < sizeof(mint_seeds) / sizeof(mint_seeds[0]); i++) {
        buf[0] = 2;
        size_t l = strlen(mint_seeds[i][1]);
        memcpy(buf + 1, mint_seeds[i][1], l);
        put(T, mint_seeds[i][0], buf, l + 1);
    }
    static const char *const claims_seeds[][2] = {
        {"claims_ok", "{\"sub\":\"dave\",\"iat\":1700000000,\"exp\":1700003600}"},
        {"claims_float_exp", "{\"sub\":\"dave\",\"exp\":1.7e9}"},
        {"claims_no_exp", "{\"sub\":\"dave\"}"},
        {"claims_unicode", "{\"sub\":\"d\\u00e4ve\",\"exp\":1900000000}"},
    };
    for (size_t i = 0; i < sizeof(claims_seeds) / sizeof(claims_seeds[0]); i++) {
        buf[0] = 3;
        size_t l = strlen(claims_seeds[i][1]);
        memcpy(buf + 1, claims_seeds[i][1], l);
        put(T, claims_seeds[i][0], buf, l + 1);
    }
}

/* ---- fuzz_stats_mutation: Mutation and GetRequest bytes ---- */

static void mutation(const char *name, const char *user, Statsync__Operation **ops, size_t n,
                     Statsync__Source src, const char *origin)
{
    Statsync__Mutation m = STATSYNC__MUTATION__INIT;
    m.user_id = (char *)user;
    m.ops = ops;
    m.n_ops = n;
    m.has_source = 1;
    m.source = src;
    m.origin = (char *)origin;
    put_msg("fuzz_stats_mutation", name, &m.base);
}

static void stats_mutation(void)
{
    Statsync__Operation op[4];
    Statsync__Operation *p[4] = {&op[0], &op[1], &op[2], &op[3]};
    for (int i = 0; i < 4; i++)
        statsync__operation__init(&op[i]);
    Statsync__Delta *d1 = delta("{\"xp\":1}");
    Statsync__Delta *d2 = delta("{\"hearts\":-2,\"diamonds\":-60,\"timePerQuestion\":[2.5]}");
    Statsync__Delta *d3 = delta("{\"correctAnswers\":3,\"totalQuestions\":4,\"__set\":{\"streak\":12,\"lastGameResults\":{\"w\":1}}}");
    Statsync__Delta *d4 = delta("{\"xp\":9007199254740991,\"totalTimeSpent\":1e15}");
    Statsync__StatsFields *f1 = full("{\"xp\":5,\"hearts\":2,\"timePerQuestion\":[1,2,3],\"updatedAt\":\"2023-11-14T22:13:00.000Z\"}");
    Statsync__StatsFields *f2 = full("{\"diamonds\":-1,\"updatedAt\":\"2023-11-14T22:13:00Z\"}");

    op[0].kind_case = STATSYNC__OPERATION__KIND_DELTA;
    op[0].delta = d1;
    op[0].op_id = "op-1";
    mutation("delta_xp", "alice", p, 1, STATSYNC__SOURCE__SOURCE_SOCKET, "gw0/sock1");
    op[1].kind_case = STATSYNC__OPERATION__KIND_DELTA;
    op[1].delta = d2;
    op[1].op_id = "op-2";
    op[2].kind_case = STATSYNC__OPERATION__KIND_DELTA;
    op[2].delta = d3;
    op[2].op_id = "op-1"; /* repeated in the same batch */
    op[3].kind_case = STATSYNC__OPERATION__KIND_DELTA;
    op[3].delta = d4;
    mutation("batch_repeat", "bob_2", p, 4, STATSYNC__SOURCE__SOURCE_SOCKET, "gw1/abc");
    mutation("batch_bad_user", "a.b", p, 2, STATSYNC__SOURCE__SOURCE_REST, NULL);
    mutation("empty_ops", "carol", p, 0, STATSYNC__SOURCE__SOURCE_REST, NULL);
    op[3].delta = d3;
    op[3].op_id = NULL;
    mutation("delta_set_derived", "dave", &p[3], 1, STATSYNC__SOURCE__SOURCE_REST, NULL);
    op[3].delta = d4;
    mutation("delta_overflow", "dave", &p[3], 1, STATSYNC__SOURCE__SOURCE_REST, NULL);
    /* exactly-once per client: ops numbered 7, 8 by one client, one op not numbered */
    op[0].client_id = op[1].client_id = "3f2b6c1e-8d4a-4b7e-9c2d-0a1b2c3d4e5f";
    op[0].has_seq = op[1].has_seq = 1;
    op[0].seq = 7;
    op[1].seq = 8;
    mutation("batch_numbered", "bob_3", p, 3, STATSYNC__SOURCE__SOURCE_SOCKET, "gw1/abc");
    op[1].seq = 9; /* not consecutive: refused, nothing recorded */
    mutation("batch_numbered_gap", "bob_3", p, 2, STATSYNC__SOURCE__SOURCE_SOCKET, "gw1/abc");
    op[0].client_id = op[1].client_id = NULL;
    op[0].has_seq = op[1].has_seq = 0;

    Statsync__Operation fo;
    statsync__operation__init(&fo);
    Statsync__Operation *fp[2] = {&fo, &op[0]};
    fo.kind_case = STATSYNC__OPERATION__KIND_FULL;
    fo.full = f1;
    fo.op_id = "idem-key-77";
    mutation("full_write", "erin", fp, 1, STATSYNC__SOURCE__SOURCE_REST, NULL);
    mutation("full_not_alone", "erin", fp, 2, STATSYNC__SOURCE__SOURCE_REST, NULL);
    fo.full = f2;
    mutation("full_negative_diamonds", "erin", fp, 1, STATSYNC__SOURCE__SOURCE_SOCKET, "x/y");

    Statsync__GetRequest g = STATSYNC__GET_REQUEST__INIT;
    g.user_id = "alice";
    put_msg("fuzz_stats_mutation", "get_alice", &g.base);
    g.user_id = ">";
    put_msg("fuzz_stats_mutation", "get_wildcard", &g.base);

    statsync__delta__free_unpacked(d1, NULL);
    statsync__delta__free_unpacked(d2, NULL);
    statsync__delta__free_unpacked(d3, NULL);
    statsync__delta__free_unpacked(d4, NULL);
    statsync__stats_fields__free_unpacked(f1, NULL);
    statsync__stats_fields__free_unpacked(f2, NULL);
}

/* ---- fuzz_stats_doc: stored documents ---- */

static void put_doc(const char *target, const char *name, const stats_doc *d)
{
    uint8_t *b = NULL;
    size_t n = 0;
    doc_pack(d, &b, &n);
    put(target, name, b, n);
    free(b);
}

static void populated(stats_doc *d, const char *user)
{
    doc_init_defaults(d, user);
    d->xp = 1234;
    d->hearts = 2;
    d->diamonds = 17;
    d->level = 9;
    d->streak = 5;
    d->max_streak = 11;
    d->completed_questions = 40;
    d->correct_answers = 30;
    d->wrong_answers = 10;
    d->total_questions = 40;
    d->accuracy = 75;
    d->total_time_spent = 456.25;
    for (size_t i = 0; i < DOC_MAX_TIMES; i++)
        d->times[i] = 1.0 + (double)i / 4;
    d->n_times = DOC_MAX_TIMES;
    doc_set_game_results(d, "{\"score\":9,\"answers\":[true,false]}");
    d->updated_at_ms = NOW_MS - 1000;
    d->version = 12;
}

static void stats_doc_corpus(void)
{
    stats_doc d;
    doc_init_defaults(&d, "alice");
    put_doc("fuzz_stats_doc", "default", &d);
    populated(&d, "bob_2");
    put_doc("fuzz_stats_doc", "populated", &d);
    d.xp = DOC_MAX_SAFE_INT;
    d.diamonds = 0;
    d.hearts = 0;
    d.version = UINT64_MAX;
    d.updated_at_ms = NOW_MS + 10 * 60 * 1000;
    put_doc("fuzz_stats_doc", "edges", &d);
    /* records the service never writes (a corrupt file): see fuzz_stats_doc.c */
    doc_free(&d);
    populated(&d, "corrupt");
    d.updated_at_ms = INT64_MAX;
    put_doc("fuzz_stats_doc", "corrupt_updated_at_max", &d);
    doc_free(&d);
    populated(&d, "corrupt");
    d.xp = INT64_MAX;
    put_doc("fuzz_stats_doc", "corrupt_xp_max", &d);
    doc_free(&d);
    populated(&d, "corrupt");
    d.correct_answers = INT64_C(1) << 60;
    put_doc("fuzz_stats_doc", "corrupt_correct_huge", &d);
    doc_free(&d);

    /* also the gateway's view: the same documents inside replies and events */
    populated(&d, "carol");
    Statsync__Document pd;
    doc_to_proto(&d, &pd);
    Statsync__StatsReply r = STATSYNC__STATS_REPLY__INIT;
    r.status = 200;
    r.doc = &pd;
    put_msg("fuzz_gateway_reply", "reply_ok", &r.base);
    r.has_duplicate = 1;
    r.duplicate = 1;
    put_msg("fuzz_gateway_reply", "reply_duplicate", &r.base);
    r.has_duplicate = 0;
    r.status = 409;
    r.error_code = "insufficient_funds";
    r.error_message = "not enough diamonds (have 17, need 20)";
    put_msg("fuzz_gateway_reply", "reply_409", &r.base);
    r.doc = NULL;
    r.error_code = "seq_gap";
    r.error_message = "seq 9 skips ahead: this client's next seq is 7; re-send from it";
    r.has_expected_seq = 1;
    r.expected_seq = 7;
    put_msg("fuzz_gateway_reply", "reply_seq_gap", &r.base);
    r.has_expected_seq = 0;
    r.status = 507;
    r.error_code = "storage_full";
    r.error_message = "storage is full or not writable; nothing changed";
    put_msg("fuzz_gateway_reply", "reply_507", &r.base);
    r.status = 503;
    r.error_code = NULL;
    r.error_message = NULL;
    put_msg("fuzz_gateway_reply", "reply_503_bare", &r.base);

    Statsync__ChangeEvent ev = STATSYNC__CHANGE_EVENT__INIT;
    Statsync__Delta *dl = delta("{\"xp\":3,\"timePerQuestion\":[1.25],\"__set\":{\"hearts\":5}}");
    ev.doc = &pd;
    ev.delta = dl;
    ev.has_source = 1;
    ev.source = STATSYNC__SOURCE__SOURCE_SOCKET;
    ev.origin = "gw0-1234/AbCdEf";
    put_msg("fuzz_gateway_reply", "change_delta", &ev.base);
    ev.delta = NULL;
    ev.source = STATSYNC__SOURCE__SOURCE_REST;
    ev.origin = NULL;
    put_msg("fuzz_gateway_reply", "change_full", &ev.base);
    statsync__delta__free_unpacked(dl, NULL);

    Statsync__HealthReply h = STATSYNC__HEALTH_REPLY__INIT;
    h.service = "stats";
    h.instance = "stats-host-42";
    h.has_ok = 1;
    h.ok = 1;
    h.has_total_users = 1;
    h.total_users = 1000;
    h.has_uptime_s = 1;
    h.uptime_s = 360;
    put_msg("fuzz_gateway_reply", "health_stats", &h.base);
    put_msg("fuzz_health", "reply_stats", &h.base);
    Statsync__HealthReply hp = STATSYNC__HEALTH_REPLY__INIT;
    hp.service = "presence";
    hp.has_connected_clients = 1;
    hp.connected_clients = 7;
    hp.has_connected_users = 1;
    hp.connected_users = 3;
    put_msg("fuzz_gateway_reply", "health_presence", &hp.base);
    Statsync__HealthRequest hq = STATSYNC__HEALTH_REQUEST__INIT;
    put_msg("fuzz_health", "request_empty", &hq.base);
    static const uint8_t unknown_field[] = {0x08, 0x96, 0x01, 0x12, 0x03, 'a', 'b', 'c'};
    put("fuzz_health", "request_unknown_fields", unknown_field, sizeof(unknown_field));
    doc_free(&d);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <tests/fuzz/corpus>\n", argv[0]);
        return 2;
    }
    root = argv[1];
    rest_body();
    auth();
    stats_mutation();
    stats_doc_corpus();
    return 0;
}
