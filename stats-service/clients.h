/* clients.h — exactly-once per client, the rules (proto/README.md,
 * "Exactly-once per client"; Replicache's lastMutationID).
 *
 * Each SDK install numbers its ops 1, 2, 3 ... under its clientId; per user
 * and client the stats-service keeps the last seq it decided
 * (store_client, in the partition's LMDB, written in the same transaction
 * as the change). A mutation's numbered ops (ss_client_seqs: one client,
 * seqs first..last) are judged against that record, last = L:
 *
 *   first > L + 1   a gap: refused 409 seq_gap with expected L + 1, nothing
 *                   recorded;
 *   seq <= L        a repeat: not applied again, answered with its recorded
 *                   outcome — applied (200 duplicate) or refused with its
 *                   code;
 *   seq == L + 1 .. new: applied (or refused) now, the outcome recorded.
 *
 * A client with no record starts at whatever seq it sends (L = first - 1):
 * a new install, or one evicted from the user's table (at most
 * max_clients_per_user records, the least recently used goes).
 *
 * Pure: no LMDB, no clock (the caller passes the idempotency clock); any
 * thread. The writer (writer.c) reads and puts the records. */
#ifndef STATS_CLIENTS_H
#define STATS_CLIENTS_H

#include "ss_client_seq.h"
#include "ss_error.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Client records per user unless configured (STATSYNC_MAX_CLIENTS_PER_USER). */
#define CLIENTS_DEFAULT_MAX 64

/* How a mutation's numbered ops stand against the client's record. */
typedef struct clients_verdict {
    bool gap;          /* first > last + 1: refuse, record nothing */
    uint64_t expected; /* the seq the client should send next: last + 1 */
    size_t repeats;    /* numbered ops already decided (seq <= last), the first ones */
    ss_err repeat_err; /* SS_OK, or the recorded refusal of the first refused repeat */
    uint64_t repeat_seq; /* that refused repeat's seq */
    bool has_new;      /* some numbered op is new: its outcome is to be recorded */
} clients_verdict;

/* Judges seqs (numbered > 0) against rec (found = false: no record, a new
 * client starting at seqs->first). */
void clients_judge(const ss_client_seqs *seqs, const store_client *rec, bool found,
                   clients_verdict *out);

/* The recorded outcome of a decided seq (<= rec->last_seq): the refusal's
 * code, or SS_OK for applied — and for a seq at or below refused_floor,
 * whose exact outcome the record no longer holds (a client re-sending an op
 * that old has had more than STORE_CLIENT_REFUSALS_MAX refusals since). */
ss_err clients_outcome(const store_client *rec, uint64_t seq);
/* Whether clients_outcome(rec, seq) is exact: seq above refused_floor. */
bool clients_outcome_exact(const store_client *rec, uint64_t seq);

/* Whether a refusal is the op's own, deterministic outcome — recorded for
 * its seq, so a repeat gets it again: the 400 rule violations, conflict,
 * insufficient_funds. Storage errors, 5xx, partition errors and seq_gap
 * are not (the op was not decided; its retry must be judged again). */
bool clients_recordable(ss_err e);

/* Records seqs through `last` as decided with err (SS_OK: applied) at
 * used_ms: last_seq = last; a refusal is kept as the range
 * (rec->last_seq + 1 .. last) (merged with the previous one when adjacent
 * with the same code; the oldest dropped beyond STORE_CLIENT_REFUSALS_MAX,
 * raising refused_floor). rec may be a fresh (zeroed) record for a new
 * client whose first seq is `first`. */
void clients_record(store_client *rec, bool found, uint64_t first, uint64_t last, ss_err err,
                    int64_t used_ms);

#endif
