/* store.h — the LMDB file of the stats-service.
 *
 * One environment, opened once, with four DBIs opened once at start:
 *   docs       userId                       -> packed statsync.Document
 *   idem       userId \0 opId               -> {applied_at_ms, version} (16 bytes, BE)
 *   idem_time  BE64(applied_at_ms) userId \0 opId -> ""  (pruning order)
 *   clients    userId \0 clientId           -> store_client (exactly-once per
 *              client: the last seq decided, when, recent refusals; below)
 * Durable: no MDB_NOSYNC / MDB_NOMETASYNC. MDB_NOTLS, so read transactions may
 * run on any thread (cnats delivery threads).
 *
 * Threads: write transactions belong to the single writer thread
 * (writer.c); read transactions may be opened on any thread, each used by
 * the thread that opened it. store_close must not race with either: the
 * writer is joined first, and readers are waited for. */
#ifndef STATS_STORE_H
#define STATS_STORE_H

#include "doc.h"
#include "ss_error.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct stats_store stats_store;

/* What the idempotency DBI remembers about an applied op. */
typedef struct store_idem {
    int64_t applied_at_ms;
    uint64_t version; /* document version the op committed in */
} store_idem;

/* Seqs a client sent that were refused, first..last, all with err. */
typedef struct store_refusal {
    uint64_t first, last;
    ss_err err; /* stored as its code string (ss_err_code), so the enum may grow */
} store_refusal;

/* Most refusal ranges one client record keeps (the oldest go first). */
#define STORE_CLIENT_REFUSALS_MAX 32

/* What the clients DBI remembers about one client of a user. Stored as
 * format byte 1, BE64 last_seq, BE64 used_at_ms, BE64 refused_floor, a
 * count byte, then per range BE64 first, BE64 last, a length byte and the
 * code: at most ~1.5 KB. */
typedef struct store_client {
    uint64_t last_seq;      /* the client's last seq decided (applied or refused) */
    int64_t used_at_ms;     /* idempotency clock (writer.h) when last_seq last moved */
    uint64_t refused_floor; /* every refused seq above it is in refused[] */
    size_t n_refused;
    store_refusal refused[STORE_CLIENT_REFUSALS_MAX]; /* ascending */
} store_client;

/* Maps an LMDB / errno code: MDB_MAP_FULL, ENOSPC, EDQUOT, EACCES, EROFS ->
 * SS_ERR_STORAGE_FULL (507); anything else non-zero -> SS_ERR_INTERNAL. */
ss_err store_err_from_mdb(int rc);

/* Creates dir if missing, opens the environment with a map of map_bytes
 * (an existing larger file keeps its size) and the DBIs. *out owned by the
 * caller: store_close. */
ss_err store_open(stats_store **out, const char *dir, size_t map_bytes);
/* Refuses new reads, waits (bounded) for reads in flight, closes the env.
 * The writer must have been stopped (or the store detached from it). NULL
 * is fine. */
void store_close(stats_store *s);
/* store_close without the free: the struct stays valid (reads answer
 * SS_ERR_UNAVAILABLE, store_attached stays readable), for a partition given
 * up while other threads may still hold the pointer; store_close frees it
 * later. False when reads were still in flight (the env is left open). */
bool store_shut(stats_store *s);
/* Whether the writer serves this store (writer.c's, writer thread only). */
bool store_attached(const stats_store *s);
void store_set_attached(stats_store *s, bool attached);

/* Write transactions: the writer thread only. store_commit always ends the
 * transaction; store_abort too (NULL is fine). */
ss_err store_write_begin(stats_store *s, MDB_txn **txn);
/* A transaction nested in parent (for work whose failure must not spoil the
 * parent, e.g. pruning). End it with store_commit / store_abort. */
ss_err store_nested_begin(stats_store *s, MDB_txn *parent, MDB_txn **txn);
ss_err store_commit(MDB_txn *txn);
void store_abort(MDB_txn *txn);

/* Read transactions: any thread; end on the same thread with store_read_end.
 * SS_ERR_UNAVAILABLE once store_close has begun. */
ss_err store_read_begin(stats_store *s, MDB_txn **txn);
void store_read_end(stats_store *s, MDB_txn *txn);

/* Reads a user's document; when none is stored, *found = false and *out is
 * the defaults. *out owned by the caller (doc_free). */
ss_err store_doc_get(stats_store *s, MDB_txn *txn, const char *user_id, stats_doc *out,
                     bool *found);
ss_err store_doc_put(stats_store *s, MDB_txn *txn, const stats_doc *d);

/* Idempotency records. op_id non-empty, at most MERGE_MAX_OP_ID bytes. */
ss_err store_idem_get(stats_store *s, MDB_txn *txn, const char *user_id, const char *op_id,
                      store_idem *rec, bool *found);
/* Records op_id and its time-index entry. */
ss_err store_idem_put(stats_store *s, MDB_txn *txn, const char *user_id, const char *op_id,
                      const store_idem *rec);
/* Deletes at most max records applied before cutoff_ms (oldest first);
 * *pruned = how many. */
ss_err store_idem_prune(stats_store *s, MDB_txn *txn, int64_t cutoff_ms, size_t max,
                        size_t *pruned);
/* applied_at_ms of the oldest / newest record; *found = false when there is none. */
ss_err store_idem_oldest(stats_store *s, MDB_txn *txn, int64_t *at_ms, bool *found);
ss_err store_idem_newest(stats_store *s, MDB_txn *txn, int64_t *at_ms, bool *found);
/* Number of idempotency records. */
ss_err store_idem_count(stats_store *s, MDB_txn *txn, uint64_t *n);

/* Client records (exactly-once per client). client_id valid
 * (ss_client_id_valid). A record that does not decode is SS_ERR_INTERNAL. */
ss_err store_client_get(stats_store *s, MDB_txn *txn, const char *user_id, const char *client_id,
                        store_client *rec, bool *found);
ss_err store_client_put(stats_store *s, MDB_txn *txn, const char *user_id, const char *client_id,
                        const store_client *rec);
ss_err store_client_del(stats_store *s, MDB_txn *txn, const char *user_id, const char *client_id);
/* The user's client records: *count of them, and the least recently used
 * one (smallest used_at_ms, the first in key order among equals) into
 * lru_id (room for SS_CLIENT_ID_MAX + 1; "" when there is none). */
ss_err store_client_lru(stats_store *s, MDB_txn *txn, const char *user_id, size_t *count,
                        char *lru_id);
/* Number of client records of every user. */
ss_err store_client_count(stats_store *s, MDB_txn *txn, uint64_t *n);

/* Number of stored documents (own read transaction; any thread). */
ss_err store_count_users(stats_store *s, uint64_t *n);

/* The user a key of the DBI named `dbi` belongs to, by the layouts above:
 * its userId is key[*user_off .. *user_off + *user_len). False for a DBI
 * whose layout this version does not know or a key that does not fit it.
 * For tools that split or check an environment by partition without
 * knowing the layouts (statsync-admin). Pure. */
bool store_key_user(const char *dbi, const void *key, size_t len, size_t *user_off,
                    size_t *user_len);

#endif
