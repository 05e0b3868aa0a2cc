/* merge.h — the merge rules of statsync (DESIGN.md §3, proto/README.md).
 *
 * Pure: a document and operations in, a document (or an error) out. No LMDB,
 * no NATS, no clock: now_ms is a parameter so tests are deterministic. Safe
 * on any thread; nothing is shared.
 *
 * All the game rules are in one table, SS_DOC_FIELDS in
 * common/ss_doc_fields.h, which merge.c follows (per field: kind, minimum,
 * maximum, what happens below the minimum for a delta and for an absolute
 * value, and how it follows other fields: maxStreak = max(maxStreak, streak)
 * after every op; accuracy = round(100·correct/total) after an op that changes
 * correctAnswers / totalQuestions and gives no accuracy itself — a full write
 * stores every field it gives, accuracy included). */
#ifndef STATS_MERGE_H
#define STATS_MERGE_H

#include "doc.h"
#include "ss_error.h"
#include "statsync.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A full write's updatedAt may be at most this far ahead of now_ms. */
#define MERGE_MAX_FUTURE_MS (5 * 60 * 1000)
/* Longest op_id accepted (it becomes part of an LMDB key). */
#define MERGE_MAX_OP_ID 256
/* Most operations in one mutation (an offline queue flushed as one batch). */
#define MERGE_MAX_OPS 1000

typedef struct merge_error {
    ss_err err;
    char message[160]; /* client-facing, names the field */
} merge_error;

/* Checks the shape of a mutation's ops before anything is looked up:
 * 1..MERGE_MAX_OPS ops, every op a delta or a full write, a full write
 * alone, op_id at most MERGE_MAX_OP_ID bytes. SS_OK or SS_ERR_BAD_REQUEST (e filled). */
ss_err merge_validate_ops(Statsync__Operation *const *ops, size_t n, merge_error *e);

/* Applies ops in order to a copy of *in, all or nothing.
 * On SS_OK *out is the new document (caller owns it: doc_free), with the
 * derived fields brought up to date after each op (the table's rules),
 * updatedAt advanced and version = in->version+1.
 * On error *out is untouched, e says why; *in is never changed.
 * Errors: 400 invalid_value / overflow / bad_request, 409 conflict (full
 * write not strictly newer), 409 insufficient_funds, 500 internal (OOM).
 * The caller has already dropped ops that are idempotent repeats. */
ss_err merge_apply(const stats_doc *in, Statsync__Operation *const *ops, size_t n,
                   int64_t now_ms, stats_doc *out, merge_error *e);

/* The applied deltas of one mutation combined into one Delta for the
 * ChangeEvent: adds summed (saturating at int64), appends joined (last
 * DOC_MAX_TIMES kept), lastGameResults last-wins, set last-wins; an add that
 * follows a set of the same field is folded into the set, so applying the
 * combined delta to the old document gives the same result.
 * Self-referential: use it in place, never copy it. Strings are borrowed
 * from ops, which must outlive it. */
typedef struct merge_delta {
    Statsync__Delta delta;
    Statsync__StatsFields add, set;
    Statsync__DoubleList add_times, set_times;
    double add_vals[DOC_MAX_TIMES], set_vals[DOC_MAX_TIMES];
} merge_delta;

/* Fills *out; returns false (and no delta) when an op is a full write or
 * when ops is empty. */
bool merge_combine(Statsync__Operation *const *ops, size_t n, merge_delta *out);

#endif
