/* stats_json.h — client JSON <-> protobuf mapping (pure: no I/O, no NATS).
 *
 * Used by the REST routes and the Socket.IO events alike, so both edges accept
 * and produce exactly the same shapes. Envelopes are tolerant, data is strict
 * (DESIGN §2): the object around the data — a socket event's payload, the
 * updateStats body — may carry members the server does not use (ts, seq,
 * clientId, source, a client's own stamps), which are ignored; the members it
 * uses are validated (among them the clientId / seq that number an ops[i] or
 * a patch body: stats_json_client_seq). The data — a delta, its __set, a full write's stats,
 * each ops[i] — is validated strictly and totally: an unknown field, a wrong
 * type, a null, a non-finite or out-of-range number anywhere rejects the
 * whole input (all-or-nothing), with an ss_err and a human message naming
 * the field. Game rules that need the stored document
 * (clamps, insufficient funds, overflow after adding, LWW, future limit) are
 * the stats-service's job (stats-service/merge.c), not this module's.
 *
 * Ownership: every *out message is malloc'ed with protobuf-c's default
 * allocator; free it with the matching statsync__*__free_unpacked(msg, NULL).
 * Returned json_t are new references. */
#ifndef STATS_JSON_H
#define STATS_JSON_H

#include "ss_doc_fields.h"
#include "ss_error.h"
#include "statsync.pb-c.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The limits of the data, under this module's names; each is defined once,
 * in common/ss_doc_fields.h (SS_DOC_FIELDS). Largest |integer| accepted:
 * 2^53-1, exact in JavaScript; most values in one timePerQuestion array /
 * append; largest lastGameResults, as compact JSON text. */
#define STATS_JSON_MAX_SAFE_INT SS_DOC_MAX_SAFE_INT
#define STATS_JSON_MAX_TIMES SS_DOC_TIMES_MAX
#define STATS_JSON_MAX_GAME_RESULTS SS_DOC_GAME_RESULTS_MAX

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

/* An SDK op's numbering (exactly-once per client, common/ss_client_seq.h):
 * client_id borrowed from the JSON (NULL when absent), seq 0 when absent. */
typedef struct stats_json_seq {
    const char *client_id;
    uint64_t seq;
} stats_json_seq;

/* The clientId and seq members (NULL: absent) into *out: both or neither
 * (else 400 bad_request); clientId a string (invalid_type) of 1-64
 * characters of [A-Za-z0-9_-] (invalid_value); seq an integer (integral
 * reals too, like every integer here; invalid_type) from 1 to 2^53-1
 * (invalid_value). where prefixes the names in messages ("ops[2]."; NULL:
 * none). *out is cleared on error. */
ss_err stats_json_client_seq(const json_t *client_id, const json_t *seq, const char *where,
                             stats_json_seq *out, stats_json_err *e);

/* POST /api/users/data/patch: the body is the delta itself, so it is as
 * strict as stats_json_to_delta with a userId, except for the envelope
 * members an SDK may add: clientId and seq (validated after the data,
 * stats_json_client_seq, into *sq) and opId (ignored, any type: REST
 * idempotency is the Idempotency-Key header). */
ss_err stats_json_patch_body(const json_t *obj, Statsync__Delta **out, const char **user_id_out,
                             stats_json_seq *sq, stats_json_err *e);

/* ---- envelopes ------------------------------------------------------------------ */

/* Longest opId of a socket operation, in bytes. */
#define STATS_JSON_OPID_MAX 128
/* Most operations in one user:clientUpdate {ops:[...]}. */
#define STATS_JSON_MAX_OPS 100

/* An opId: absent (v NULL: *out NULL) or a string of 1..STATS_JSON_OPID_MAX
 * bytes (*out borrowed from v). */
ss_err stats_json_op_id(const json_t *v, const char **out, stats_json_err *e);

/* The members of a user:clientUpdate payload the server uses, borrowed from
 * it (NULL when absent). userId is left to the caller (it must be the
 * socket's own). */
typedef struct stats_json_update {
    const char *op_id;   /* opId, validated (stats_json_op_id); never with ops */
    const json_t *delta; /* exactly one of delta, stats, ops; not yet validated */
    const json_t *stats;
    const json_t *ops;   /* an array of 1..STATS_JSON_MAX_OPS (its items: stats_json_batch_op) */
} stats_json_update;

/* user:clientUpdate {opId?, userId?, delta | stats | ops}: arg must be an
 * object holding exactly one of delta, stats, ops; every member other than
 * opId, userId, delta, stats, ops is ignored. */
ss_err stats_json_update_envelope(const json_t *arg, stats_json_update *u, stats_json_err *e);

/* ops[i] of a batch. An op is data, so it is strict: {opId?, delta} plus the
 * members the SDK numbers its ops with, clientId and seq (validated into
 * *sq: stats_json_client_seq); any other member is unknown_field. *op_id
 * (the opId member or NULL, not yet validated) and *delta (required, not yet
 * validated) are borrowed. */
ss_err stats_json_batch_op(const json_t *op, size_t i, const json_t **op_id,
                           const json_t **delta, stats_json_seq *sq, stats_json_err *e);

/* POST /api/users/updateStats {userId?, stats}: *stats (required, not yet
 * validated: stats_json_to_full) and *user_id_out (a valid userId or NULL)
 * are borrowed from body; every other member is ignored. */
ss_err stats_json_update_body(const json_t *body, const json_t **stats,
                              const char **user_id_out, stats_json_err *e);

/* The client view of a document: {userId, xp, ..., updatedAt, version}. */
json_t *stats_json_from_doc(const Statsync__Document *doc);

/* The same view as JSON text, byte for byte what json_dumps(
 * stats_json_from_doc(doc), JSON_COMPACT) writes, without building the
 * object: a change event's document is turned into text once per event, and
 * that was most of the gateway's JSON time. malloc'ed and NUL-terminated
 * (*len without the NUL); NULL when out of memory. */
char *stats_json_doc_text(const Statsync__Document *doc, size_t *len);

/* A delta as the client wrote it: {"xp":10,...,"__set":{...}}. */
json_t *stats_json_from_delta(const Statsync__Delta *d);

/* A client-supplied key made safe for an error message: printable ASCII only
 * (anything else becomes '?', so the text is always valid UTF-8), cut to fit
 * bufsz with "..." appended when cut. Returns buf. */
const char *stats_json_printable(const char *key, char *buf, size_t bufsz);

/* The defaults of a never-written user (not stored). */
json_t *stats_json_default_doc(const char *user_id);

#endif
