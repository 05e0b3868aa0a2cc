/* fuzz_rest_body.c — libFuzzer target for the REST input path, in the order
 * the gateway runs it (gateway/rest_server.c, rest_routes.c):
 *
 *   headers: rest_content_type_is_json, rest_idem_key_valid,
 *            rest_parse_content_length, auth_bearer (the input as a header value)
 *   body:    rest_json_too_deep (depth 32, the default) -> json_loadb
 *            (JSON_REJECT_DUPLICATES) -> object?
 *            -> stats_json_to_delta   (POST /api/users/data/patch; and an ops[] delta)
 *            -> stats_json_to_full    (POST /api/users/updateStats: body.stats, and the
 *                                      body itself as a stats object)
 *            -> what the gateway accepts, the stats-service must take too:
 *               merge_validate_ops OK, and merge_apply on a default and on a
 *               populated document either applies (document invariants hold) or
 *               refuses with a documented 400/409 — never 500.
 *
 * Invariants checked besides "no crash, no leak, no UB": the depth pre-scan
 * agrees with the parsed depth; every refusal carries a client-safe message
 * (valid UTF-8) and a 4xx code; an accepted delta survives protobuf -> JSON
 * (stats_json_from_delta) -> protobuf unchanged; a returned userId is valid;
 * an op's numbering (clientId + seq, of a patch body or an ops[i]) is valid
 * when given and absent whole when not. */
#include "auth.h"
#include "fuzz_common.h"
#include "rest_input.h"
#include "ss_client_seq.h"
#include "stats_json.h"

#include <strings.h>

#define FUZZ_MAX_DEPTH 32
#define FUZZ_IDEM_MAX 128

static int fuzz__depth(const json_t *j)
{
    int best = 0;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            int d = fuzz__depth(v);
            if (d > best)
                best = d;
        }
        return best + 1;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            int d = fuzz__depth(v);
            if (d > best)
                best = d;
        }
        return best + 1;
    }
    return 0;
}

static void fuzz__headers(const char *s, size_t len)
{
    if (rest_content_type_is_json(s)) {
        const char *p = s + strspn(s, " \t");
        FUZZ_CHECK(strncasecmp(p, "application/json", 16) == 0);
    }
    if (rest_idem_key_valid(s, FUZZ_IDEM_MAX)) {
        FUZZ_CHECK(len >= 1 && len <= FUZZ_IDEM_MAX && strlen(s) == len);
        for (size_t i = 0; i < len; i++)
            FUZZ_CHECK(s[i] >= 0x20 && s[i] <= 0x7e);
    }
    uint64_t n = 0;
    if (rest_parse_content_length(s, &n) == 0) {
        FUZZ_CHECK(len > 0 && strspn(s, "0123456789") == len);
        char back[32];
        snprintf(back, sizeof(back), "%llu", (unsigned long long)n);
        const char *digits = s + strspn(s, "0");
        FUZZ_CHECK(strcmp(back, *digits ? digits : "0") == 0);
    }
    const char *tok = auth_bearer(s);
    if (tok != NULL) {
        FUZZ_CHECK(strncasecmp(s, "Bearer ", 7) == 0 && tok > s && tok < s + len && *tok != ' ');
        auth_result ar;
        if (auth_verify(tok, "fuzz-secret", FUZZ_NOW_S, &ar) != SS_OK)
            fuzz_check_message(ar.message, sizeof(ar.message));
    }
}

static void fuzz__refusal(ss_err rc, const stats_json_err *e)
{
    FUZZ_CHECK(rc != SS_OK && rc == e->err);
    FUZZ_CHECK(rc != SS_ERR_INTERNAL); /* no allocation fails here */
    int status = ss_err_http_status(rc);
    FUZZ_CHECK(status == 400);
    fuzz_check_message(e->message, sizeof(e->message));
}

/* What the gateway accepted, the service's rules must handle: apply it or
 * refuse it with a rule error, on a fresh and on a populated document. */
static void fuzz__to_service(Statsync__Operation *op)
{
    Statsync__Operation *ops[1] = {op};
    merge_error me = {SS_OK, ""};
    FUZZ_CHECK(merge_validate_ops(ops, 1, &me) == SS_OK);
    stats_doc docs[2];
    doc_init_defaults(&docs[0], "fuzz-user_1");
    fuzz_populated_doc(&docs[1]);
    for (int i = 0; i < 2; i++) {
        stats_doc out;
        ss_err rc = merge_apply(&docs[i], ops, 1, FUZZ_NOW_MS, &out, &me);
        if (rc == SS_OK) {
            fuzz_check_doc(&out);
            FUZZ_CHECK(out.version == docs[i].version + 1);
            fuzz_check_doc_roundtrip(&out);
            doc_free(&out);
        } else {
            FUZZ_CHECK(rc != SS_ERR_INTERNAL);
            int status = ss_err_http_status(rc);
            FUZZ_CHECK(status == 400 || status == 409);
            fuzz_check_message(me.message, sizeof(me.message));
        }
        doc_free(&docs[i]);
    }
}

static void fuzz__delta(const json_t *obj, bool with_user)
{
    Statsync__Delta *d = NULL;
    const char *uid = NULL;
    stats_json_err e;
    ss_err rc = stats_json_to_delta(obj, &d, with_user ? &uid : NULL, &e);
    if (rc != SS_OK) {
        FUZZ_CHECK(d == NULL);
        fuzz__refusal(rc, &e);
        return;
    }
    FUZZ_CHECK(d != NULL && (d->add != NULL || d->set != NULL));
    FUZZ_CHECK(!(d->add && d->add->has_updated_at_ms) && !(d->set && d->set->has_updated_at_ms));
    if (uid != NULL)
        FUZZ_CHECK(ss_userid_valid_cstr(uid));
    /* protobuf -> client JSON (user:update's delta) -> protobuf is lossless */
    size_t n1 = 0, n2 = 0;
    uint8_t *b1 = fuzz_check_canonical(&d->base, &n1);
    json_t *j = stats_json_from_delta(d);
    FUZZ_CHECK(j != NULL);
    char *text = json_dumps(j, JSON_COMPACT);
    FUZZ_CHECK(text != NULL);
    json_t *j2 = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(j2 != NULL);
    Statsync__Delta *d2 = NULL;
    FUZZ_CHECK(stats_json_to_delta(j2, &d2, NULL, &e) == SS_OK);
    uint8_t *b2 = fuzz_pack(&d2->base, &n2);
    FUZZ_CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
    free(b1);
    free(b2);
    free(text);
    json_decref(j);
    json_decref(j2);
    statsync__delta__free_unpacked(d2, NULL);

    Statsync__Operation op = STATSYNC__OPERATION__INIT;
    op.op_id = "fuzz-op";
    op.kind_case = STATSYNC__OPERATION__KIND_DELTA;
    op.delta = d;
    fuzz__to_service(&op);
    statsync__delta__free_unpacked(d, NULL);
}

static void fuzz__full(const json_t *stats)
{
    Statsync__StatsFields *f = NULL;
    const char *uid = NULL;
    stats_json_err e;
    ss_err rc = stats_json_to_full(stats, &f, &uid, &e);
    if (rc != SS_OK) {
        FUZZ_CHECK(f == NULL);
        fuzz__refusal(rc, &e);
        return;
    }
    FUZZ_CHECK(f != NULL && f->has_updated_at_ms && f->updated_at_ms >= 0);
    if (uid != NULL)
        FUZZ_CHECK(ss_userid_valid_cstr(uid));
    size_t n = 0;
    free(fuzz_check_canonical(&f->base, &n));
    Statsync__Operation op = STATSYNC__OPERATION__INIT;
    op.kind_case = STATSYNC__OPERATION__KIND_FULL;
    op.full = f;
    fuzz__to_service(&op);
    statsync__stats_fields__free_unpacked(f, NULL);
}

/* The envelopes around the data (stats_json.h): what they accept is handed to
 * the strict data parsers above, what they refuse carries a clear error. */
static void fuzz__envelopes(const json_t *j)
{
    stats_json_err e;
    Statsync__Delta *d = NULL;
    const char *uid = NULL;
    stats_json_seq sq;
    ss_err rc = stats_json_patch_body(j, &d, &uid, &sq, &e); /* PATCH body */
    if (rc == SS_OK) {
        FUZZ_CHECK(d != NULL && (uid == NULL || ss_userid_valid_cstr(uid)));
        FUZZ_CHECK(sq.client_id == NULL ? sq.seq == 0
                                        : ss_client_id_valid_cstr(sq.client_id) &&
                                              ss_seq_valid(sq.seq));
        statsync__delta__free_unpacked(d, NULL);
    } else {
        FUZZ_CHECK(d == NULL);
        fuzz__refusal(rc, &e);
    }
    const json_t *stats = NULL;
    rc = stats_json_update_body(j, &stats, &uid, &e); /* updateStats body */
    if (rc == SS_OK) {
        FUZZ_CHECK(stats != NULL && (uid == NULL || ss_userid_valid_cstr(uid)));
        fuzz__full(stats);
    } else {
        fuzz__refusal(rc, &e);
    }
    stats_json_update u; /* user:clientUpdate */
    rc = stats_json_update_envelope(j, &u, &e);
    if (rc != SS_OK) {
        fuzz__refusal(rc, &e);
        return;
    }
    FUZZ_CHECK((u.delta != NULL) + (u.stats != NULL) + (u.ops != NULL) == 1);
    if (u.delta)
        fuzz__delta(u.delta, false);
    if (u.stats)
        fuzz__full(u.stats);
    for (size_t i = 0; u.ops && i < json_array_size(u.ops); i++) {
        const json_t *op_id = NULL, *delta = NULL;
        rc = stats_json_batch_op(json_array_get(u.ops, i), i, &op_id, &delta, &sq, &e);
        if (rc != SS_OK) {
            FUZZ_CHECK(sq.client_id == NULL && sq.seq == 0);
            fuzz__refusal(rc, &e);
            break;
        }
        FUZZ_CHECK(delta != NULL);
        FUZZ_CHECK(sq.client_id == NULL ? sq.seq == 0
                                        : ss_client_id_valid_cstr(sq.client_id) &&
                                              ss_seq_valid(sq.seq));
        fuzz__delta(delta, false);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The input as a header value (MHD hands headers over NUL-terminated). */
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    fuzz__headers(s, strlen(s));
    free(s);

    /* The input as a request body. */
    const char *body = (const char *)data;
    if (size == 0)
        return 0;
    bool too_deep = rest_json_too_deep(body, size, FUZZ_MAX_DEPTH);
    json_error_t jerr;
    json_t *j = json_loadb(body, size, JSON_REJECT_DUPLICATES, &jerr);
    if (j != NULL) /* the pre-scan and the parser agree on well-formed text */
        FUZZ_CHECK(too_deep == (fuzz__depth(j) > FUZZ_MAX_DEPTH));
    if (j == NULL || too_deep || !json_is_object(j)) {
        json_decref(j);
        return 0;
    }
    fuzz__delta(j, true);  /* PATCH body */
    fuzz__delta(j, false); /* a socket delta (userId is not a field there) */
    fuzz__full(j);         /* a socket {stats} / the stats object itself */
    fuzz__envelopes(j);
    json_decref(j);
    return 0;
}
