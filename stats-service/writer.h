/* writer.h — the single LMDB writer: a queue of mutations and group commit.
 *
 * Any thread submits jobs (in the service: the cnats thread of the apply
 * subscription). One writer thread takes everything queued (up to
 * max_batch), applies each mutation in one write transaction (later
 * mutations of a user see the earlier ones), prunes a bounded chunk of
 * expired idempotency records, commits, and only after the commit has
 * returned hands every job to the done callback. If the transaction fails
 * (map full, disk full, read-only, ...), every job of the batch gets the
 * same storage error and nothing of the batch is applied.
 *
 * Exactly-once per client (clients.h): a mutation whose ops carry a
 * client_id and seq is first judged against the client's record — a gap is
 * refused (seq_gap, expected_seq), repeats are answered from the record —
 * and the outcome of its new seqs (applied, or a deterministic refusal) is
 * put in the same transaction as the change; a new client's record evicts
 * the user's least recently used one beyond max_clients_per_user.
 *
 * No NATS in here: the done callback (handlers.c) sends replies and events,
 * so the writer can be tested with a real LMDB file and no server.
 *
 * Idempotency records are stamped, and pruned, on the writer's own clock,
 * not the wall clock: at start it is the later of the wall clock and the
 * newest stamp stored, and from then on it advances with the monotonic
 * clock. So a wall-clock step while the service runs changes nothing — a
 * record is forgotten exactly idem_ttl_ms of elapsed time after it was
 * written: a step forward cannot prune fresh records early (a retry would
 * apply twice), a step back cannot keep records forever or order new ones
 * before old ones. Across a restart the clock resumes from the wall clock
 * when that is later (the time the service was down counts as the wall
 * clock says), else from the newest stamp (a clock set back meanwhile
 * neither keeps records longer nor reorders them). Documents' updatedAt
 * stays on the wall clock (now_ms). */
#ifndef STATS_WRITER_H
#define STATS_WRITER_H

#include "doc.h"
#include "merge.h"
#include "ss_error.h"
#include "statsync.pb-c.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct stats_writer stats_writer;
typedef struct stats_job stats_job;

/* One mutation travelling through the writer. */
struct stats_job {
    /* Set by the submitter. */
    Statsync__Mutation *m; /* owned by the job (protobuf-c unpacked, default allocator) */
    void *ctx;             /* the submitter's (the natsMsg); not freed by stats_job_free */
    stats_store *store;    /* the partition's store; NULL: the writer's first (writer_start) */
    void *owner;           /* the submitter's (its partition); never touched by the writer */
    /* Not SS_OK: m failed a check before the writer (merge_validate_ops),
     * message says why. The writer applies nothing of it, only decides its
     * numbered ops: the refusal is recorded for their new seqs (so the
     * client's next op is no gap), a repeat is answered from the record. */
    ss_err refused;
    /* Set by the writer before the done callback. */
    ss_err err;
    char message[160];
    stats_doc doc;    /* valid when has_doc: the result (200) or the stored doc (409) */
    bool has_doc;
    bool duplicate;   /* every op had been applied before: nothing changed */
    bool changed;     /* a new version was committed: publish a ChangeEvent */
    bool has_delta;   /* delta holds the combined applied deltas */
    merge_delta delta;
    uint64_t expected_seq; /* > 0 with SS_ERR_SEQ_GAP: the client's next seq */
    /* Writer-internal. */
    int64_t enqueued_ns;
    stats_job *next;
    void (*ctl)(stats_writer *w, stats_job *job); /* a control item, not a mutation */
    bool ctl_done;
};

/* A job owning m (which must have passed merge_validate_ops and carry a
 * valid user_id). NULL when out of memory (m is then not taken). */
stats_job *stats_job_new(Statsync__Mutation *m, void *ctx);
/* Frees the job, its mutation and its doc; not ctx. NULL is fine. */
void stats_job_free(stats_job *job);

/* Called on the writer thread, once per job, after the batch's transaction
 * has ended. Ownership of the job passes to the callback. */
typedef void (*writer_done_fn)(stats_job *job, void *arg);

typedef struct writer_config {
    size_t max_batch;          /* mutations per write transaction (>= 1) */
    size_t max_queue;          /* queued mutations before submit refuses (>= 1) */
    int64_t idem_ttl_ms;       /* idempotency records older than this are pruned */
    size_t prune_chunk;        /* most records pruned per transaction */
    int64_t prune_interval_ms; /* idle writer prunes this often */
    int64_t (*now_ms)(void);   /* wall clock; NULL = ss_now_ms (tests inject one) */
    int64_t (*mono_ms)(void);  /* monotonic clock; NULL = ss_mono_ms (tests inject one) */
    size_t max_clients;        /* client records per user; 0 = CLIENTS_DEFAULT_MAX */
    size_t commit_threads;     /* a batch's stores committed at once (commit_pool.h);
                                * 0 or 1 = one after another on the writer thread */
    /* Writer thread, around one batch's done callbacks: begin=true before the
     * first, false after the last (the service sends the replies as one
     * write). NULL = none. Gets the arg of writer_start. */
    void (*batch_edge)(void *arg, bool begin);
} writer_config;

/* Starts the writer thread (first reading the newest idempotency stamp for
 * its clock). store (may be NULL) is attached at once and is where jobs
 * without a store of their own go. Every attached store must outlive the
 * writer or be detached first. */
ss_err writer_start(stats_writer **out, stats_store *store, const writer_config *cfg,
                    writer_done_fn done, void *arg);
/* Queues a job (any thread). SS_ERR_UNAVAILABLE when stopping or the queue
 * is full: the job is then NOT taken. */
ss_err writer_submit(stats_writer *w, stats_job *job);
/* Jobs queued and not yet taken by the writer (any thread). */
size_t writer_depth(stats_writer *w);
/* Several stores (one per partition): a job goes to job->store, which must
 * be attached; a job whose store is not (any more) gets
 * SS_ERR_PARTITION_UNAVAILABLE without its store being touched. Mutations
 * of one batch are committed in one transaction per store touched.
 *
 * writer_attach: from its place in the queue on, the writer serves store
 * (its idempotency clock moves up to the store's newest stamp if that is
 * ahead). writer_detach: once it returns, the writer never touches store
 * again (jobs for it still queued are refused) — the caller may shut it.
 * Both block until the writer thread has done it; false when the writer is
 * stopping (then nothing changed). Any thread but the writer's. */
bool writer_attach(stats_writer *w, stats_store *store);
bool writer_detach(stats_writer *w, stats_store *store);
/* Refuses new jobs; the thread finishes what is queued, then exits. */
void writer_stop(stats_writer *w);
/* Waits up to timeout_ms for the thread to exit; true when it did. */
bool writer_join(stats_writer *w, int64_t timeout_ms);
/* Frees the writer; only after writer_join returned true. NULL is fine. */
void writer_destroy(stats_writer *w);

#endif
