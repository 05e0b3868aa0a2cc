/* doc.h — the stats document in memory (stats_doc) and its stored / published
 * protobuf form (statsync.Document).
 *
 * Pure: no LMDB, no NATS. Any thread may use it on its own stats_doc.
 * A stats_doc owns last_game_results (malloc'ed); doc_free releases it. */
#ifndef STATS_DOC_H
#define STATS_DOC_H

#include "ss_error.h"
#include "ss_userid.h"
#include "statsync.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/* Largest |number| a document holds: 2^53-1, exact in JavaScript. */
#define DOC_MAX_SAFE_INT 9007199254740991LL
/* timePerQuestion keeps the last this many values. */
#define DOC_MAX_TIMES 100
/* Largest lastGameResults JSON text, in bytes. */
#define DOC_MAX_GAME_RESULTS 16384
/* hearts stay in [0, DOC_HEARTS_MAX]. */
#define DOC_HEARTS_MAX 5
/* Defaults of a never-written user. */
#define DOC_DEFAULT_HEARTS 5
#define DOC_DEFAULT_LEVEL 1

/* The integer fields, in proto order: X(c_name, "clientName"). */
#define DOC_INT_FIELDS(X)                                                                   \
    X(xp, "xp")                                                                             \
    X(hearts, "hearts")                                                                     \
    X(diamonds, "diamonds")                                                                 \
    X(level, "level")                                                                       \
    X(streak, "streak")                                                                     \
    X(max_streak, "maxStreak")                                                              \
    X(accuracy, "accuracy")                                                                 \
    X(completed_questions, "completedQuestions")                                            \
    X(correct_answers, "correctAnswers")                                                    \
    X(wrong_answers, "wrongAnswers")                                                        \
    X(total_questions, "totalQuestions")

typedef struct stats_doc {
    char user_id[SS_USERID_MAX + 1];
#define DOC__DECLARE_INT(c, j) int64_t c;
    DOC_INT_FIELDS(DOC__DECLARE_INT)
#undef DOC__DECLARE_INT
    double total_time_spent;
    double times[DOC_MAX_TIMES]; /* timePerQuestion, oldest first */
    size_t n_times;
    char *last_game_results; /* JSON text of an object; NULL = null. Owned. */
    int64_t updated_at_ms;
    uint64_t version;
} stats_doc;

/* Fills d with the defaults of a never-written user (hearts 5, level 1, the
 * rest 0 / [] / null, updated_at 0, version 0). user_id must be valid. */
void doc_init_defaults(stats_doc *d, const char *user_id);

/* Releases what d owns (not d itself); last_game_results becomes NULL. */
void doc_free(stats_doc *d);

/* Deep copy: dst gets its own last_game_results. dst must not own anything.
 * Returns SS_OK or SS_ERR_INTERNAL (out of memory; dst then owns nothing). */
ss_err doc_copy(stats_doc *dst, const stats_doc *src);

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
