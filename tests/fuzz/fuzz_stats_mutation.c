/* fuzz_stats_mutation.c — libFuzzer target for the stats-service's request
 * decode path (stats-service/handlers.c -> writer.c -> merge.c), minus NATS
 * and LMDB:
 *
 *   bytes -> statsync.Mutation (protobuf-c) -> userId check -> numbering check
 *         (ss_client_seqs_of: one client, consecutive seqs) -> merge_validate_ops
 *         -> ops already seen in the same mutation dropped (writer__filter_ops)
 *         -> merge_apply on a never-written user's defaults and on a populated
 *            document (then once more on its own result)
 *         -> merge_combine -> ChangeEvent packed as reply.c does, and decoded as
 *            the gateway does (stats_json_from_doc / stats_json_from_delta)
 *   bytes -> statsync.GetRequest -> userId check
 *
 * Invariants: decoded messages re-encode canonically; a refusal has a 400/409
 * status and a client-safe message (never 500: nothing can fail to allocate
 * here); every applied result keeps the document invariants of
 * fuzz_common.h, version + 1, updatedAt rules (a delta: max(now, prev+1); a
 * full write: its own updatedAt, strictly newer, at most 5 min ahead), and
 * survives the stored form (doc_pack / doc_unpack) unchanged. */
#include "fuzz_common.h"
#include "ss_client_seq.h"
#include "stats_json.h"

static bool fuzz__seen_before(Statsync__Operation *const *ops, size_t i)
{
    if (ops[i]->op_id == NULL || ops[i]->op_id[0] == '\0')
        return false;
    for (size_t k = 0; k < i; k++)
        if (ops[k]->op_id && strcmp(ops[k]->op_id, ops[i]->op_id) == 0)
            return true;
    return false;
}

/* The gateway's view of the published change. */
static void fuzz__change_event(const stats_doc *d, Statsync__Operation *const *ops, size_t n,
                               const Statsync__Mutation *m)
{
    merge_delta md;
    bool has_delta = merge_combine(ops, n, &md);
    bool all_delta = true;
    for (size_t i = 0; i < n; i++)
        all_delta = all_delta && ops[i]->kind_case == STATSYNC__OPERATION__KIND_DELTA;
    FUZZ_CHECK(has_delta == all_delta);
    Statsync__ChangeEvent ev = STATSYNC__CHANGE_EVENT__INIT;
    Statsync__Document pd;
    doc_to_proto(d, &pd);
    ev.doc = &pd;
    ev.delta = has_delta ? &md.delta : NULL;
    ev.has_source = m->has_source;
    ev.source = m->source;
    ev.origin = m->origin;
    size_t len = 0;
    uint8_t *buf = fuzz_pack(&ev.base, &len);
    Statsync__ChangeEvent *back = statsync__change_event__unpack(NULL, len, buf);
    FUZZ_CHECK(back != NULL && back->doc != NULL);
    FUZZ_CHECK(strcmp(back->doc->user_id, d->user_id) == 0);
    json_t *doc = stats_json_from_doc(back->doc);
    FUZZ_CHECK(doc != NULL && json_object_size(doc) == 17);
    char *text = json_dumps(doc, JSON_COMPACT);
    FUZZ_CHECK(text != NULL);
    free(text);
    json_decref(doc);
    if (back->delta != NULL) {
        json_t *dj = stats_json_from_delta(back->delta);
        FUZZ_CHECK(dj != NULL);
        text = json_dumps(dj, JSON_COMPACT);
        FUZZ_CHECK(text != NULL);
        free(text);
        json_decref(dj);
    }
    statsync__change_event__free_unpacked(back, NULL);
    free(buf);
}

/* One merge_apply and its checks; returns true and fills *out when applied. */
static bool fuzz__apply(const stats_doc *in, Statsync__Operation *const *ops, size_t n,
                        int64_t now_ms, const Statsync__Mutation *m, stats_doc *out)
{
    merge_error me = {SS_OK, ""};
    ss_err rc = merge_apply(in, ops, n, now_ms, out, &me);
    if (rc != SS_OK) {
        FUZZ_CHECK(rc == me.err && rc != SS_ERR_INTERNAL);
        int status = ss_err_http_status(rc);
        FUZZ_CHECK(status == 400 || status == 409);
        fuzz_check_message(me.message, sizeof(me.message));
        return false;
    }
    fuzz_check_doc(out);
    FUZZ_CHECK(strcmp(out->user_id, in->user_id) == 0);
    FUZZ_CHECK(out->version == in->version + 1);
    if (ops[0]->kind_case == STATSYNC__OPERATION__KIND_FULL) {
        FUZZ_CHECK(n == 1);
        FUZZ_CHECK(out->updated_at_ms == ops[0]->full->updated_at_ms);
        FUZZ_CHECK(out->updated_at_ms > in->updated_at_ms);
        FUZZ_CHECK(out->updated_at_ms <= now_ms + MERGE_MAX_FUTURE_MS);
    } else {
        FUZZ_CHECK(out->updated_at_ms ==
                   (now_ms > in->updated_at_ms ? now_ms : in->updated_at_ms + 1));
    }
    fuzz_check_doc_roundtrip(out);
    fuzz__change_event(out, ops, n, m);
    return true;
}

static void fuzz__mutation(const uint8_t *data, size_t size)
{
    Statsync__Mutation *m = statsync__mutation__unpack(NULL, size, data);
    if (m == NULL)
        return;
    size_t clen = 0;
    free(fuzz_check_canonical(&m->base, &clen));
    merge_error me = {SS_OK, ""};
    if (!ss_userid_valid_cstr(m->user_id))
        goto out; /* refused 400 invalid_user_id before anything else */
    ss_client_seqs seqs;
    char why[160];
    if (!ss_client_seqs_of(m->ops, m->n_ops, &seqs, why, sizeof(why))) {
        fuzz_check_message(why, sizeof(why)); /* refused 400 bad_request, nothing recorded */
        goto out;
    }
    FUZZ_CHECK(seqs.numbered == 0 ||
               (ss_client_id_valid_cstr(seqs.client_id) && ss_seq_valid(seqs.first) &&
                ss_seq_valid(seqs.last) && seqs.last - seqs.first + 1 == seqs.numbered));
    if (merge_validate_ops(m->ops, m->n_ops, &me) != SS_OK) {
        FUZZ_CHECK(me.err == SS_ERR_BAD_REQUEST);
        fuzz_check_message(me.message, sizeof(me.message));
        goto out;
    }
    FUZZ_CHECK(m->n_ops >= 1 && m->n_ops <= MERGE_MAX_OPS);
    Statsync__Operation **apply = malloc(m->n_ops * sizeof(*apply));
    FUZZ_CHECK(apply != NULL);
    size_t n = 0;
    for (size_t i = 0; i < m->n_ops; i++)
        if (!fuzz__seen_before(m->ops, i))
            apply[n++] = m->ops[i];
    FUZZ_CHECK(n >= 1);
    stats_doc base[2];
    doc_init_defaults(&base[0], m->user_id);
    fuzz_populated_doc(&base[1]);
    snprintf(base[1].user_id, sizeof(base[1].user_id), "%s", m->user_id);
    for (int b = 0; b < 2; b++) {
        stats_doc once, twice;
        if (fuzz__apply(&base[b], apply, n, FUZZ_NOW_MS, m, &once)) {
            /* the same ops again (a client without opIds retrying) */
            if (fuzz__apply(&once, apply, n, FUZZ_NOW_MS + 1, m, &twice))
                doc_free(&twice);
            doc_free(&once);
        }
        doc_free(&base[b]);
    }
    free(apply);
out:
    statsync__mutation__free_unpacked(m, NULL);
}

static void fuzz__get(const uint8_t *data, size_t size)
{
    Statsync__GetRequest *g = statsync__get_request__unpack(NULL, size, data);
    if (g == NULL)
        return;
    size_t clen = 0;
    free(fuzz_check_canonical(&g->base, &clen));
    if (ss_userid_valid_cstr(g->user_id)) {
        stats_doc d;
        doc_init_defaults(&d, g->user_id);
        FUZZ_CHECK(strcmp(d.user_id, g->user_id) == 0);
        fuzz_check_doc(&d);
        doc_free(&d);
    }
    statsync__get_request__free_unpacked(g, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz__mutation(data, size);
    fuzz__get(data, size);
    return 0;
}
