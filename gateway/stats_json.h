/* stats_json.h — client JSON <-> protobuf mapping (pure: no I/O, no NATS).
 *
 * Used by the REST routes and the Socket.IO events alike, so both edges accept
 * and produce exactly the same shapes. Validation is strict and total: an
 * unknown field, a wrong type, a null, a non-finite or out-of-range number
 * anywhere rejects the whole input (all-or-nothing), with an ss_err and a
 * human message naming the field. Game rules that need the stored document
 * (clamps, insufficient funds, overflow after adding, LWW, future limit) are
 * the stats-service's job (stats-service/merge.c), not this module's.
 *
 * Ownership: every *out message is malloc'ed with protobuf-c's default
 * allocator; free it with the matching statsync__*__free_unpacked(msg, NULL).
 * Returned json_t are new references. */
#ifndef STATS_JSON_H
#define STATS_JSON_H

#include "ss_error.h"
#include "statsync.pb-c.h"

#include <jansson.h>
#include <stddef.h>

/* Largest |integer| accepted: 2^53-1, exact in JavaScript. */
#define STATS_JSON_MAX_SAFE_INT 9007199254740991LL
/* Most values in one timePerQuestion array / append. */
#define STATS_JSON_MAX_TIMES 100
/* Largest lastGameResults, as compact JSON text. */
#define STATS_JSON_MAX_GAME_RESULTS 16384

typedef struct stats_json_err {
    ss_err err;
    char message[160];
} stats_json_err;

/* A delta body: {"xp":10,"hearts":-1,"__set":{...}} plus, when user_id_out is
 * not NULL, an optional "userId" string returned borrowed from obj (NULL when
 * absent). Document fields allowed in a delta: every stats field except
 * updatedAt/version. */
ss_err stats_json_to_delta(const json_t *obj, Statsync__Delta **out, const char **user_id_out,
                           stats_json_err *e);

/* A full write's "stats" object: document fields, "updatedAt" (RFC 3339,
 * required), and optionally "version" (ignored: the server assigns it) and
 * "userId" (returned borrowed in *user_id_out; must match the caller's). */
ss_err stats_json_to_full(const json_t *stats, Statsync__StatsFields **out,
                          const char **user_id_out, stats_json_err *e);

/* The client view of a document: {userId, xp, ..., updatedAt, version}. */
json_t *stats_json_from_doc(const Statsync__Document *doc);

/* A delta as the client wrote it: {"xp":10,...,"__set":{...}}. */
json_t *stats_json_from_delta(const Statsync__Delta *d);

/* A client-supplied key made safe for an error message: printable ASCII only
 * (anything else becomes '?', so the text is always valid UTF-8), cut to fit
 * bufsz with "..." appended when cut. Returns buf. */
const char *stats_json_printable(const char *key, char *buf, size_t bufsz);

/* The defaults of a never-written user (not stored). */
json_t *stats_json_default_doc(const char *user_id);

#endif
