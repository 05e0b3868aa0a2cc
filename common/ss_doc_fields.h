/* ss_doc_fields.h — the fields of the stats document, defined once
 * (DESIGN.md §3): their names, kinds, defaults, limits and game rules.
 *
 * Users: stats-service/doc.h (struct stats_doc, defaults, Document
 * conversion), stats-service/merge.c (the rule table), gateway/stats_json.c
 * (JSON <-> StatsFields / Document). Each takes the columns it needs.
 *
 * Why an X-macro table and not protobuf-c's descriptors of StatsFields: the
 * .proto says names and wire types only. Defaults, limits, rules and the
 * JSON names (protoc-c 1.4 keeps no json_name) would still need a second
 * table keyed by name, and struct stats_doc needs its members at compile
 * time, which descriptors cannot give. One table the compiler sees gives all
 * of that with offsetof and no name lookups on the hot paths.
 * tests/unit/test_stats_json.c checks it against the descriptors of
 * StatsFields and Document, so a field added to the .proto and not here
 * fails the tests.
 *
 * Pure data and inline accessors; any thread. */
#ifndef SS_DOC_FIELDS_H
#define SS_DOC_FIELDS_H

#include "statsync.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits ---------------------------------------------------------------------- */

/* Largest |number| a document holds or a request carries: 2^53-1, exact in
 * JavaScript. */
#define SS_DOC_MAX_SAFE_INT 9007199254740991LL
/* hearts stay in [0, SS_DOC_HEARTS_MAX]. */
#define SS_DOC_HEARTS_MAX 5
/* timePerQuestion: the document keeps the last this many values; a client
 * array may hold at most this many. */
#define SS_DOC_TIMES_MAX 100
/* Largest lastGameResults, as JSON text, in bytes. */
#define SS_DOC_GAME_RESULTS_MAX 16384
/* Latest updatedAt: 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can
 * write. */
#define SS_DOC_MAX_UPDATED_AT_MS 253402300799999LL

/* ---- the table ------------------------------------------------------------------- */

/* What a field holds, and how the messages carry it. */
typedef enum ss_doc_kind {
    SS_DOC_INT,     /* integer: has_* + sint64 (StatsFields) / int64 (Document) */
    SS_DOC_DOUBLE,  /* finite number: has_* + double */
    SS_DOC_DOUBLES, /* array of finite numbers: DoubleList * / n_* + double * */
    SS_DOC_OBJECT,  /* JSON object or null, as its JSON text: char * (NULL = not given / null) */
} ss_doc_kind;

/* X(kind, c_name, "jsonName", default, min, max, rule, ...) for every stats
 * field, in .proto order (the order documents are rendered in):
 *   kind     INT, DOUBLE, DOUBLES or OBJECT (SS_DOC_<kind> above);
 *   c_name   the member in Statsync__StatsFields, Statsync__Document and
 *            stats_doc (whose DOUBLES member is times[n_times]);
 *   jsonName the client's name, also the one error messages use;
 *   default  of a never-written user (DOUBLES: [], OBJECT: null);
 *   min, max INT, DOUBLE: the range of the stored value; DOUBLES: max =
 *            values kept / accepted; OBJECT: max = bytes of JSON text;
 *   rule     what the merge rules (stats-service/merge.c) do with it:
 *     CLAMP          a result below min becomes min, above max becomes max;
 *     CURRENCY       as CLAMP above max, but below min is refused: a delta
 *                    with 409 insufficient_funds, an absolute value (__set,
 *                    full write) with 400 invalid_value;
 *     AT_LEAST(f)    CLAMP, and after every op self = max(self, f);
 *     PERCENT(a, b)  CLAMP, and self = round(100·a/b) (0 when b is 0) after
 *                    an op that changed a or b and gave no value for self:
 *                    a given value (full write included) is kept as given;
 *     APPEND         a delta appends, keeping the last max; __set and full
 *                    writes replace;
 *     REPLACE        every write replaces.
 * Every number is also bounded by ±SS_DOC_MAX_SAFE_INT (400 overflow).
 * Whatever follows X in the call is passed to X after the row's columns, so
 * X must end with `...`.
 *
 * THE game rules: counters clamp at 0; hearts stay in [0, 5]; diamonds are
 * a currency; maxStreak >= streak; accuracy follows correct / total. */
#define SS_DOC_FIELDS(X, ...)                                                                      \
    X(INT, xp, "xp", 0, 0, SS_DOC_MAX_SAFE_INT, CLAMP, __VA_ARGS__)                                \
    X(INT, hearts, "hearts", 5, 0, SS_DOC_HEARTS_MAX, CLAMP, __VA_ARGS__)                          \
    X(INT, diamonds, "diamonds", 0, 0, SS_DOC_MAX_SAFE_INT, CURRENCY, __VA_ARGS__)                 \
    X(INT, level, "level", 1, 0, SS_DOC_MAX_SAFE_INT, CLAMP, __VA_ARGS__)                          \
    X(INT, streak, "streak", 0, 0, SS_DOC_MAX_SAFE_INT, CLAMP, __VA_ARGS__)                        \
    X(INT, max_streak, "maxStreak", 0, 0, SS_DOC_MAX_SAFE_INT, AT_LEAST(streak), __VA_ARGS__)      \
    X(INT, accuracy, "accuracy", 0, 0, SS_DOC_MAX_SAFE_INT,                                        \
      PERCENT(correct_answers, total_questions), __VA_ARGS__)                                      \
    X(INT, completed_questions, "completedQuestions", 0, 0, SS_DOC_MAX_SAFE_INT, CLAMP,            \
      __VA_ARGS__)                                                                                 \
    X(INT, correct_answers, "correctAnswers", 0, 0, SS_DOC_MAX_SAFE_INT, CLAMP, __VA_ARGS__)       \
    X(INT, wrong_answers, "wrongAnswers", 0, 0, SS_DOC_MAX_SAFE_INT, CLAMP, __VA_ARGS__)           \
    X(INT, total_questions, "totalQuestions", 0, 0, SS_DOC_MAX_SAFE_INT, CLAMP, __VA_ARGS__)       \
    X(DOUBLE, total_time_spent, "totalTimeSpent", 0, 0, SS_DOC_MAX_SAFE_INT, CLAMP, __VA_ARGS__)   \
    X(DOUBLES, time_per_question, "timePerQuestion", 0, 0, SS_DOC_TIMES_MAX, APPEND, __VA_ARGS__)  \
    X(OBJECT, last_game_results, "lastGameResults", 0, 0, SS_DOC_GAME_RESULTS_MAX, REPLACE,        \
      __VA_ARGS__)

/* SS_DOC_F_xp, SS_DOC_F_hearts, ...: a field's index in ss_doc_fields. */
typedef enum ss_doc_field_id {
#define SS_DOC__ID(kind, c, ...) SS_DOC_F_##c,
    SS_DOC_FIELDS(SS_DOC__ID)
#undef SS_DOC__ID
    SS_DOC_NFIELDS
} ss_doc_field_id;

/* ---- the table at run time: where each field lives in the messages --------------- */

typedef struct ss_doc_field {
    const char *name; /* jsonName */
    ss_doc_kind kind;
    size_t has;       /* Statsync__StatsFields: has_* (INT, DOUBLE), else 0 */
    size_t val;       /* Statsync__StatsFields: the value (INT, DOUBLE) or pointer */
    size_t doc_has;   /* Statsync__Document: has_* (INT, DOUBLE), n_* (DOUBLES), else 0 */
    size_t doc_val;   /* Statsync__Document: the value or pointer */
    int64_t def, min, max;
} ss_doc_field;

/* One row per field, index = ss_doc_field_id. */
extern const ss_doc_field ss_doc_fields[SS_DOC_NFIELDS];

/* The row named name (a jsonName), or NULL. */
const ss_doc_field *ss_doc_field_find(const char *name);

/* True when s gives f (has_* set, or the pointer not NULL). */
static inline bool ss_doc_given(const ss_doc_field *f, const Statsync__StatsFields *s)
{
    const char *p = (const char *)s;
    if (f->kind == SS_DOC_INT || f->kind == SS_DOC_DOUBLE)
        return *(const protobuf_c_boolean *)(p + f->has);
    return *(void *const *)(p + f->val) != NULL;
}

/* Marks f given in s (INT, DOUBLE; a pointer field is given by being set). */
static inline void ss_doc_set_given(const ss_doc_field *f, Statsync__StatsFields *s)
{
    if (f->kind == SS_DOC_INT || f->kind == SS_DOC_DOUBLE)
        *(protobuf_c_boolean *)((char *)s + f->has) = 1;
}

/* Where f's value lives in s: an int64_t, a double, a Statsync__DoubleList *
 * or a char *, by kind. */
static inline const void *ss_doc_in(const ss_doc_field *f, const Statsync__StatsFields *s)
{
    return (const char *)s + f->val;
}

static inline void *ss_doc_slot(const ss_doc_field *f, Statsync__StatsFields *s)
{
    return (char *)s + f->val;
}

#endif
