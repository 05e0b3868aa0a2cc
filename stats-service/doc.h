/* doc.h — the stats document in memory (stats_doc) and its stored / published
 * protobuf form (statsync.Document).
 *
 * Pure: no LMDB, no NATS. Any thread may use it on its own stats_doc.
 * A stats_doc owns last_game_results (malloc'ed); doc_free releases it. */
#ifndef STATS_DOC_H
#define STATS_DOC_H

#include "ss_doc_fields.h"
#include "ss_error.h"
#include "ss_userid.h"
#include "statsync.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The document's limits under the names stats-service code uses; each is
 * defined once, in common/ss_doc_fields.h. */
#define DOC_MAX_SAFE_INT SS_DOC_MAX_SAFE_INT
#define DOC_MAX_TIMES SS_DOC_TIMES_MAX
#define DOC_MAX_GAME_RESULTS SS_DOC_GAME_RESULTS_MAX

/* SS_DOC_FIELDS(DOC_EACH, op): every row of the table becomes
 * DOC_<op>_<kind>(c_name, "jsonName", default, min, max, rule, ...), so a use
 * says per kind what it does with a field. */
#define DOC_EACH(kind, c, j, dflt, mn, mx, rule, op, ...)                                   \
    DOC_##op##_##kind(c, j, dflt, mn, mx, rule, __VA_ARGS__)

/* The integer fields, in proto order: X(c_name, "clientName"). */
#define DOC_INT_FIELDS(X) SS_DOC_FIELDS(DOC_EACH, INT_ROW, X)
#define DOC_INT_ROW_INT(c, j, dflt, mn, mx, rule, X) X(c, j)
#define DOC_INT_ROW_DOUBLE(...)
#define DOC_INT_ROW_DOUBLES(...)
#define DOC_INT_ROW_OBJECT(...)

/* The members of stats_doc: one per row, named as the row (INT: int64_t,
 * DOUBLE: double, OBJECT: char *, the JSON text of an object, NULL = null,
 * owned), but the DOUBLES row: times[n_times], oldest first. */
#define DOC_MEMBER_INT(c, ...) int64_t c;
#define DOC_MEMBER_DOUBLE(c, ...) double c;
#define DOC_MEMBER_DOUBLES(c, ...)                                                           \
    double times[SS_DOC_TIMES_MAX];                                                          \
    size_t n_times;
#define DOC_MEMBER_OBJECT(c, ...) char *c;

typedef struct stats_doc {
    char user_id[SS_USERID_MAX + 1];
    SS_DOC_FIELDS(DOC_EACH, MEMBER) /* xp, hearts, ..., times, n_times, last_game_results */
    int64_t updated_at_ms;
    uint64_t version;
} stats_doc;

/* stats_doc has one array, times, and owns one text, last_game_results:
 * doc_times_*, doc_set_game_results, doc_free and doc_copy name them. */
#define DOC__COUNT(kind, c, j, dflt, mn, mx, rule, k) +(SS_DOC_##kind == SS_DOC_##k)
_Static_assert(0 SS_DOC_FIELDS(DOC__COUNT, DOUBLES) == 1 &&
                   0 SS_DOC_FIELDS(DOC__COUNT, OBJECT) == 1,
               "a second DOUBLES or OBJECT row needs stats_doc members and doc.c code of its own");
#undef DOC__COUNT

/* Fills d with the defaults of a never-written user (the table's default
 * column: hearts 5, level 1, the rest 0 / [] / null; updated_at 0, version 0).
 * user_id must be valid. */
void doc_init_defaults(stats_doc *d, const char *user_id);

/* Releases what d owns (not d itself); last_game_results becomes NULL. */
void doc_free(stats_doc *d);

/* Deep copy: dst gets its own last_game_results. dst must not own anything.
 * Returns SS_OK or SS_ERR_INTERNAL (out of memory; dst then owns nothing). */
ss_err doc_copy(stats_doc *dst, const stats_doc *src);

/* Appends v[0..n) to vals[0..*len), keeping the last DOC_MAX_TIMES (vals
 * holds that many): the one way a timePerQuestion array grows. */
void doc_values_append(double *vals, size_t *len, const double *v, size_t n);
/* Appends values to times, keeping the last DOC_MAX_TIMES. */
void doc_times_append(stats_doc *d, const double *v, size_t n);
/* Replaces times with (the last DOC_MAX_TIMES of) v. */
void doc_times_set(stats_doc *d, const double *v, size_t n);

/* Replaces last_game_results with a copy of json (NULL or "null" = null).
 * Returns SS_OK or SS_ERR_INTERNAL (out of memory; d unchanged). */
ss_err doc_set_game_results(stats_doc *d, const char *json);

/* Fills out (initialised here) with pointers INTO d: out is valid only while
 * d lives and does not change. Every scalar field is marked present. */
void doc_to_proto(const stats_doc *d, Statsync__Document *out);

/* Copies a decoded Document into out (out owns its copy). Rejects a
 * document whose user_id is invalid. Returns SS_OK / SS_ERR_INTERNAL. */
ss_err doc_from_proto(const Statsync__Document *p, stats_doc *out);

/* Packs d as a statsync.Document into a malloc'ed buffer (*buf, *len);
 * the caller frees *buf. */
ss_err doc_pack(const stats_doc *d, uint8_t **buf, size_t *len);

/* Decodes a packed statsync.Document into out (owned by the caller). */
ss_err doc_unpack(const uint8_t *buf, size_t len, stats_doc *out);

#endif
