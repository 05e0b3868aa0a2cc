/* ss_client_seq.h — exactly-once per client: what a clientId and a seq are,
 * and how the ops of one mutation may be numbered (proto/README.md,
 * "Exactly-once per client").
 *
 * An SDK install numbers its ops 1, 2, 3 ... under a durable clientId; the
 * stats-service keeps, per user and client, the last seq it decided
 * (stats-service/clients.h). The gateway checks the JSON members with these
 * rules before anything goes on NATS, and the stats-service checks the
 * Operation fields again with the same ones. Pure; any thread. */
#ifndef SS_CLIENT_SEQ_H
#define SS_CLIENT_SEQ_H

#include "statsync.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A clientId: 1-64 characters of [A-Za-z0-9_-] (a UUID is one). It becomes
 * part of an LMDB key, so it is short and plain. */
#define SS_CLIENT_ID_MAX 64
/* The largest seq: 2^53-1, exact in JavaScript. */
#define SS_SEQ_MAX 9007199254740991ULL

bool ss_client_id_valid(const char *s, size_t len);
/* NUL-terminated variant; false for NULL. */
bool ss_client_id_valid_cstr(const char *s);
/* 1..SS_SEQ_MAX. */
bool ss_seq_valid(uint64_t seq);

/* The numbering of one mutation's ops: the ops that carry a client_id (and
 * so a seq) are of one client and numbered first, first+1, ..., last in op
 * order; other ops of the mutation carry neither. */
typedef struct ss_client_seqs {
    const char *client_id; /* borrowed from the ops; NULL when no op is numbered */
    uint64_t first, last;
    size_t numbered; /* ops carrying a seq */
} ss_client_seqs;

/* Reads the numbering of ops[0..n). False when it breaks a rule above (a
 * client_id without a seq or the reverse, an invalid clientId or seq, two
 * clients, seqs not consecutive): why (cap bytes) then names the op. */
bool ss_client_seqs_of(Statsync__Operation *const *ops, size_t n, ss_client_seqs *out,
                       char *why, size_t cap);

#endif
