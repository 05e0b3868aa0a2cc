/* fuzz_stats_doc.c — libFuzzer target for the stored document: the bytes an
 * LMDB "docs" record holds, decoded as store_doc_get does (doc_unpack), then
 * used the way the service uses a stored document:
 *
 *   bytes -> doc_unpack -> doc_pack -> doc_unpack (same document)
 *         -> doc_to_proto -> StatsReply packed as reply.c does -> decoded and
 *            rendered as the gateway does (stats_json_from_doc)
 *         -> merge_apply of a few fixed mutations (a delta on every field, a
 *            __set, a full write, a diamonds spend), whose results must keep the
 *            document invariants.
 *
 * A record the service itself wrote always holds in-range values (every
 * counter in [0, 2^53-1], hearts <= 5, finite numbers, results an object).
 * doc_from_proto refuses a record whose counters leave [0, 2^53-1], whose
 * numbers are not finite or whose updatedAt is past year 9999 (a corrupt or
 * foreign LMDB file), so merge_apply runs on every record that decodes and
 * must never overflow; the seeds tests/fuzz/corpus/fuzz_stats_doc/corrupt_* are such
 * records (they once overflowed merge arithmetic). */
#include "fuzz_common.h"
#include "stats_json.h"

typedef struct fuzz_ops {
    Statsync__Operation op;
    Statsync__Delta delta;
    Statsync__StatsFields add, set, full;
    Statsync__DoubleList times;
    double vals[3];
} fuzz_ops;

static void fuzz__ops_init(fuzz_ops *o)
{
    static const Statsync__Operation op0 = STATSYNC__OPERATION__INIT;
    static const Statsync__Delta d0 = STATSYNC__DELTA__INIT;
    static const Statsync__StatsFields f0 = STATSYNC__STATS_FIELDS__INIT;
    static const Statsync__DoubleList l0 = STATSYNC__DOUBLE_LIST__INIT;
    o->op = op0;
    o->delta = d0;
    o->add = o->set = o->full = f0;
    o->times = l0;
    o->vals[0] = 1.5;
    o->vals[1] = 2.5;
    o->vals[2] = 0.25;
    o->times.n_values = 3;
    o->times.values = o->vals;
}

/* Every field of f given, with value v (times and results too). */
static void fuzz__all_fields(fuzz_ops *o, Statsync__StatsFields *f, int64_t v)
{
#define FUZZ__SET(c, j)                                                                     \
    f->has_##c = 1;                                                                         \
    f->c = v;
    DOC_INT_FIELDS(FUZZ__SET)
#undef FUZZ__SET
    f->has_total_time_spent = 1;
    f->total_time_spent = (double)v + 0.5;
    f->time_per_question = &o->times;
    f->last_game_results = "{\"correct\":3}";
}

/* Mutation k of the fixed set, in *o. */
static void fuzz__op(fuzz_ops *o, int k, int64_t stored_updated_at)
{
    fuzz__ops_init(o);
    o->op.kind_case = STATSYNC__OPERATION__KIND_DELTA;
    o->op.delta = &o->delta;
    switch (k) {
    case 0: /* +1 on everything */
        fuzz__all_fields(o, &o->add, 1);
        o->delta.add = &o->add;
        break;
    case 1: /* -1 on everything but diamonds (a spend is case 3) */
        fuzz__all_fields(o, &o->add, -1);
        o->add.has_diamonds = 0;
        o->delta.add = &o->add;
        break;
    case 2: /* __set everything */
        fuzz__all_fields(o, &o->set, 2);
        o->delta.set = &o->set;
        break;
    case 3: /* spend a diamond */
        o->add.has_diamonds = 1;
        o->add.diamonds = -1;
        o->delta.add = &o->add;
        break;
    default: /* full write, 1 ms newer than stored */
        fuzz__all_fields(o, &o->full, 4);
        o->full.has_updated_at_ms = 1;
        o->full.updated_at_ms = stored_updated_at < FUZZ_NOW_MS ? stored_updated_at + 1 : FUZZ_NOW_MS;
        o->op.kind_case = STATSYNC__OPERATION__KIND_FULL;
        o->op.full = &o->full;
        break;
    }
}

static void fuzz__reply(const stats_doc *d)
{
    Statsync__StatsReply r = STATSYNC__STATS_REPLY__INIT;
    Statsync__Document pd;
    doc_to_proto(d, &pd);
    r.status = 200;
    r.doc = &pd;
    size_t len = 0;
    uint8_t *buf = fuzz_pack(&r.base, &len);
    Statsync__StatsReply *back = statsync__stats_reply__unpack(NULL, len, buf);
    FUZZ_CHECK(back != NULL && back->doc != NULL);
    json_t *j = stats_json_from_doc(back->doc);
    FUZZ_CHECK(j != NULL && json_object_size(j) == 17);
    FUZZ_CHECK(json_is_integer(json_object_get(j, "version")));
    FUZZ_CHECK(json_integer_value(json_object_get(j, "version")) >= 0);
    char *text = json_dumps(j, JSON_COMPACT);
    FUZZ_CHECK(text != NULL);
    free(text);
    json_decref(j);
    statsync__stats_reply__free_unpacked(back, NULL);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    stats_doc d;
    if (doc_unpack(data, size, &d) != SS_OK)
        return 0;
    FUZZ_CHECK(ss_userid_valid_cstr(d.user_id));
    FUZZ_CHECK(d.n_times <= DOC_MAX_TIMES);
    fuzz_check_doc_roundtrip(&d);
    fuzz__reply(&d);
    bool in_range = fuzz_doc_in_range(&d);
    for (int k = 0; k < 5; k++) {
        fuzz_ops o;
        fuzz__op(&o, k, d.updated_at_ms);
        Statsync__Operation *ops[1] = {&o.op};
        stats_doc out;
        merge_error me = {SS_OK, ""};
        ss_err rc = merge_apply(&d, ops, 1, FUZZ_NOW_MS, &out, &me);
        if (rc == SS_OK) {
            if (in_range) /* garbage in may stay garbage, but nothing worse */
                fuzz_check_doc(&out);
            FUZZ_CHECK(out.version == d.version + 1);
            fuzz_check_doc_roundtrip(&out);
            doc_free(&out);
        } else {
            fuzz_check_message(me.message, sizeof(me.message));
        }
    }
    doc_free(&d);
    return 0;
}
