/* writer.c — queue + group commit on the one LMDB writer thread.
 *
 * Threads: writer_submit / writer_depth / writer_stop on any thread; every
 * writer__* function below runs on the writer thread — but the store groups
 * of one batch (writer__run_group, and what it calls) run on the commit pool
 * ("commit-<i>" threads, commit_pool.h) at once, each group on one thread
 * with its own store's write transaction and its own jobs; only the writer
 * thread hands them out and waits for them. The queue is a singly linked
 * list under w->mu. */
#include "writer.h"

#include "clients.h"
#include "commit_pool.h"
#include "ss_client_seq.h"
#include "ss_list.h"
#include "ss_log.h"
#include "ss_time.h"
#include "stats_metrics.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct stats_writer {
    stats_store *store;   /* the default: for jobs without a store */
    stats_store **stores; /* attached (writer thread, after start) */
    size_t n_stores, cap_stores;
    writer_config cfg;
    writer_done_fn done;
    void *arg;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;    /* guards everything below */
    pthread_cond_t cond;   /* signalled on submit and stop */
    stats_job *head, *tail;
    size_t depth;
    bool stopping;
    bool exited;           /* set by the thread just before it returns */
    pthread_cond_t exited_cond;
    pthread_cond_t ctl_cond; /* a control item is done */
    /* the idempotency clock (writer.h): idem_base_ms at mono_base_ms */
    int64_t idem_base_ms, mono_base_ms;
    commit_pool *pool; /* a batch's store groups committed at once */
};

stats_job *stats_job_new(Statsync__Mutation *m, void *ctx)
{
    stats_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return NULL;
    j->m = m;
    j->ctx = ctx;
    return j;
}

void stats_job_free(stats_job *job)
{
    if (job == NULL)
        return;
    if (job->has_doc)
        doc_free(&job->doc);
    if (job->m)
        statsync__mutation__free_unpacked(job->m, NULL);
    free(job);
}

/* ---- the idempotency clock ---- */

/* The newest idempotency stamp of store; false when it has none. */
static bool writer__newest_stamp(stats_store *store, int64_t *newest)
{
    bool found = false;
    MDB_txn *txn = NULL;
    if (store != NULL && store_read_begin(store, &txn) == SS_OK) {
        store_idem_newest(store, txn, newest, &found);
        store_read_end(store, txn);
    }
    return found;
}

/* Sets the clock's base: the later of the wall clock and the newest stamp
 * in the store. Before the writer thread runs. */
static void writer__idem_clock_init(stats_writer *w)
{
    int64_t newest = 0;
    bool found = writer__newest_stamp(w->store, &newest);
    int64_t wall = w->cfg.now_ms();
    w->idem_base_ms = found && newest > wall ? newest : wall;
    w->mono_base_ms = w->cfg.mono_ms();
    if (found && newest > wall)
        ss_log(SS_LOG_WARN, "newest idempotency record is ahead of the wall clock: its clock "
                            "goes on from the record", "{s:I}", "ahead_ms",
               (json_int_t)(newest - wall));
}

/* Now on the idempotency clock. Writer thread. */
static int64_t writer__idem_now(const stats_writer *w)
{
    return w->idem_base_ms + (w->cfg.mono_ms() - w->mono_base_ms);
}

/* ---- outcome helpers (writer thread) ---- */

static void writer__set_error(stats_job *job, ss_err e, const char *message)
{
    if (job->has_doc)
        doc_free(&job->doc);
    job->has_doc = false;
    job->changed = false;
    job->duplicate = false;
    job->has_delta = false;
    job->expected_seq = 0;
    job->err = e;
    if (message != job->message)
        snprintf(job->message, sizeof(job->message), "%s", message);
}

/* True when op i's op_id appeared in an earlier op of the same mutation. */
static bool writer__repeat_in_mutation(const Statsync__Mutation *m, size_t i)
{
    for (size_t k = 0; k < i; k++)
        if (m->ops[k]->op_id && strcmp(m->ops[k]->op_id, m->ops[i]->op_id) == 0)
            return true;
    return false;
}

/* Drops the ops already applied: numbered ops whose seq the client's record
 * has decided (seq <= decided_to), op_id recorded for this user, or
 * repeated earlier in the same mutation (applied once). Other ops without
 * an op_id always apply. Fills apply[] (room for m->n_ops). */
static ss_err writer__filter_ops(stats_store *st, MDB_txn *txn, const Statsync__Mutation *m,
                                 uint64_t decided_to, Statsync__Operation **apply,
                                 size_t *n_apply)
{
    size_t n_dup = 0;
    *n_apply = 0;
    for (size_t i = 0; i < m->n_ops; i++) {
        Statsync__Operation *op = m->ops[i];
        if (op->has_seq && op->seq <= decided_to) {
            n_dup++;
            continue;
        }
        if (op->op_id != NULL && op->op_id[0] != '\0') {
            bool seen = writer__repeat_in_mutation(m, i);
            if (!seen &&
                store_idem_get(st, txn, m->user_id, op->op_id, NULL, &seen) != SS_OK)
                return SS_ERR_INTERNAL;
            if (seen) {
                n_dup++;
                continue;
            }
        }
        apply[(*n_apply)++] = op;
    }
    stats_metrics_duplicates(n_dup);
    return SS_OK;
}

/* Puts the new document and one idempotency record per applied op_id,
 * stamped idem_ms (the idempotency clock). */
static ss_err writer__put(stats_store *st, MDB_txn *txn, const char *user_id,
                          Statsync__Operation *const *apply, size_t n_apply,
                          const stats_doc *next, int64_t idem_ms)
{
    ss_err rc = store_doc_put(st, txn, next);
    for (size_t i = 0; rc == SS_OK && i < n_apply; i++) {
        if (apply[i]->op_id == NULL || apply[i]->op_id[0] == '\0')
            continue;
        store_idem rec = {idem_ms, next->version};
        rc = store_idem_put(st, txn, user_id, apply[i]->op_id, &rec);
    }
    return rc;
}

/* The two clocks of a batch: the wall clock (documents) and the
 * idempotency clock (records). */
typedef struct writer_now {
    int64_t wall_ms, idem_ms;
} writer_now;

/* A mutation's numbered ops and their client's record (clients.h). */
typedef struct writer_client {
    ss_client_seqs seqs; /* numbered == 0: no op is numbered */
    store_client rec;
    bool found;
    clients_verdict v;
} writer_client;

/* Reads the numbering of job's mutation and its client's record, and judges
 * them. False when that decides the job (its outcome set, nothing to
 * record): a numbering against the rules, an unreadable record, a gap. */
static bool writer__client_judge(stats_store *st, MDB_txn *txn, stats_job *job,
                                 writer_client *wc)
{
    const Statsync__Mutation *m = job->m;
    char why[160];
    memset(wc, 0, sizeof(*wc));
    if (!ss_client_seqs_of(m->ops, m->n_ops, &wc->seqs, why, sizeof(why))) {
        writer__set_error(job, SS_ERR_BAD_REQUEST, why);
        return false;
    }
    if (wc->seqs.numbered == 0)
        return true;
    if (store_client_get(st, txn, m->user_id, wc->seqs.client_id, &wc->rec, &wc->found) !=
        SS_OK) {
        writer__set_error(job, SS_ERR_INTERNAL, "client record unreadable");
        return false;
    }
    clients_judge(&wc->seqs, &wc->rec, wc->found, &wc->v);
    if (wc->v.gap) {
        stats_metrics_client_seq("gap");
        snprintf(why, sizeof(why), "seq %llu skips ahead: this client's next seq is %llu; "
                 "re-send from it", (unsigned long long)wc->seqs.first,
                 (unsigned long long)wc->v.expected);
        writer__set_error(job, SS_ERR_SEQ_GAP, why);
        job->expected_seq = wc->v.expected;
        return false;
    }
    if (wc->found && wc->v.repeats > 0 && wc->v.repeat_err == SS_OK &&
        !clients_outcome_exact(&wc->rec, wc->seqs.first))
        ss_log(SS_LOG_INFO, "repeat of a seq older than the client's kept refusals: answered as "
               "applied", "{s:s,s:s,s:I}", "user", m->user_id, "client", wc->seqs.client_id, "seq",
               (json_int_t)wc->seqs.first);
    stats_metrics_client_seq(wc->v.has_new ? "new" : "repeat");
    return true;
}

/* One mutation being applied inside its batch's write transaction. */
typedef struct writer_mut {
    stats_writer *w;
    MDB_txn *txn;
    stats_job *job;
    writer_now now;
    writer_client wc;
    stats_doc cur;   /* the stored document (the defaults when there is none) */
    bool cur_to_job; /* cur is the job's now: not freed here */
} writer_mut;

/* Records the outcome err (SS_OK: applied) of the mutation's new seqs,
 * stamped with the idempotency clock. A client without a record first
 * makes room: the user's least recently used records go until fewer than
 * max_clients are left. */
static ss_err writer__client_put(writer_mut *x, ss_err err)
{
    writer_client *wc = &x->wc;
    stats_store *st = x->job->store;
    const char *user_id = x->job->m->user_id;
    if (wc->seqs.numbered == 0 || !wc->v.has_new)
        return SS_OK;
    while (!wc->found) {
        size_t count = 0;
        char lru[SS_CLIENT_ID_MAX + 1];
        ss_err e = store_client_lru(st, x->txn, user_id, &count, lru);
        if (e != SS_OK)
            return e;
        if (count < x->w->cfg.max_clients || lru[0] == '\0')
            break;
        if ((e = store_client_del(st, x->txn, user_id, lru)) != SS_OK)
            return e;
        stats_metrics_client_evicted();
        ss_log(SS_LOG_DEBUG, "client record evicted (least recently used)", "{s:s,s:s}", "user",
               user_id, "client", lru);
    }
    clients_record(&wc->rec, wc->found, wc->seqs.first, wc->seqs.last, err, x->now.idem_ms);
    return store_client_put(st, x->txn, user_id, wc->seqs.client_id, &wc->rec);
}

/* Refuses the job with e (nothing applied) and gives it the stored
 * document for a conflict / insufficient_funds. The refusal is recorded for
 * the new seqs when it is the op's own outcome. Returns the put's error (it
 * spoils the transaction). */
static ss_err writer__refuse(writer_mut *x, ss_err e, const char *message)
{
    writer__set_error(x->job, e, message);
    if (e == SS_ERR_CONFLICT || e == SS_ERR_INSUFFICIENT_FUNDS) { /* with the stored doc */
        x->job->doc = x->cur;
        x->job->has_doc = x->cur_to_job = true;
    }
    if (!clients_recordable(e))
        return SS_OK;
    return writer__client_put(x, e);
}

/* A decision taken before this transaction that refuses the job: a repeat
 * of a refused seq, or a refusal from before the writer (unless every
 * numbered op is an applied repeat). SS_OK when there is none; else the
 * error, why its message. */
static ss_err writer__prior_refusal(const writer_mut *x, char *why, size_t cap)
{
    const writer_client *wc = &x->wc;
    if (wc->v.repeat_err != SS_OK) {
        snprintf(why, cap, "seq %llu of this client was refused before (%s); not applied",
                 (unsigned long long)wc->v.repeat_seq, ss_err_code(wc->v.repeat_err));
        return wc->v.repeat_err;
    }
    if (x->job->refused != SS_OK && (wc->seqs.numbered == 0 || wc->v.has_new)) {
        snprintf(why, cap, "%s", x->job->message);
        return x->job->refused;
    }
    return SS_OK;
}

/* An idempotent repeat (every op applied before under its opId): 200 with
 * the current document, no change; new seqs among them are recorded as
 * applied. */
static ss_err writer__repeat(writer_mut *x)
{
    ss_err rc = writer__client_put(x, SS_OK);
    x->job->err = SS_OK;
    x->job->duplicate = true;
    x->job->doc = x->cur;
    x->job->has_doc = x->cur_to_job = true;
    return rc;
}

/* Merges the n ops into the stored document and, when the rules allow,
 * puts the new document with its records and the client's: the job's
 * outcome. Returns a put's error (it spoils the transaction). */
static ss_err writer__change(writer_mut *x, Statsync__Operation **apply, size_t n)
{
    stats_job *job = x->job;
    merge_error me = {SS_OK, ""};
    stats_doc next;
    ss_err e = merge_apply(&x->cur, apply, n, x->now.wall_ms, &next, &me);
    if (e != SS_OK) /* refused: recorded for new seqs only, so an opId retry re-evaluates */
        return writer__refuse(x, e, me.message);
    ss_err rc = writer__put(job->store, x->txn, job->m->user_id, apply, n, &next, x->now.idem_ms);
    if (rc == SS_OK)
        rc = writer__client_put(x, SS_OK);
    if (rc != SS_OK) {
        doc_free(&next);
        return rc;
    }
    job->err = SS_OK;
    job->doc = next;
    job->has_doc = true;
    job->changed = true;
    job->has_delta = merge_combine(apply, n, &job->delta);
    return SS_OK;
}

/* The job's outcome: against its client's record, the opIds recorded and
 * the rules; apply has room for every op. Returns a put's error. */
static ss_err writer__decide(writer_mut *x, Statsync__Operation **apply)
{
    stats_job *job = x->job;
    char why[sizeof(job->message)];
    size_t n = 0;
    if (!writer__client_judge(job->store, x->txn, job, &x->wc))
        return SS_OK; /* decided by the numbering: the outcome is set */
    ss_err refused = writer__prior_refusal(x, why, sizeof(why));
    if (refused != SS_OK)
        return writer__refuse(x, refused, why);
    if (job->refused == SS_OK &&
        writer__filter_ops(job->store, x->txn, job->m, x->wc.found ? x->wc.rec.last_seq : 0,
                           apply, &n) != SS_OK) {
        writer__set_error(job, SS_ERR_INTERNAL, "idempotency record unreadable");
        return SS_OK;
    }
    return n == 0 ? writer__repeat(x) : writer__change(x, apply, n);
}

/* Applies one mutation inside txn and sets the job's outcome. Returns an
 * error only for a storage failure that spoils the whole transaction (a
 * put); refusals and unreadable records are the job's own outcome. */
static ss_err writer__apply(stats_writer *w, MDB_txn *txn, stats_job *job, writer_now now)
{
    const Statsync__Mutation *m = job->m;
    writer_mut x = {.w = w, .txn = txn, .job = job, .now = now};
    bool found = false;
    Statsync__Operation **apply = malloc((m->n_ops ? m->n_ops : 1) * sizeof(*apply));
    if (apply == NULL) {
        writer__set_error(job, SS_ERR_INTERNAL, "out of memory");
        return SS_OK;
    }
    if (store_doc_get(job->store, txn, m->user_id, &x.cur, &found) != SS_OK) {
        writer__set_error(job, SS_ERR_INTERNAL, "stored document unreadable");
        free(apply);
        return SS_OK;
    }
    ss_err rc = writer__decide(&x, apply);
    if (!x.cur_to_job)
        doc_free(&x.cur);
    free(apply);
    return rc;
}

/* Prunes one bounded chunk in a transaction nested in txn, so a failure
 * (e.g. a full map) costs only the pruning, never the batch. A nested
 * transaction is not free, so first peek whether anything has expired.
 * idem_ms: now on the idempotency clock. */
static void writer__prune_nested(stats_writer *w, stats_store *st, MDB_txn *txn, int64_t idem_ms)
{
    MDB_txn *child = NULL;
    size_t pruned = 0;
    int64_t cutoff = idem_ms - w->cfg.idem_ttl_ms, oldest = 0;
    bool any = false;
    if (store_idem_oldest(st, txn, &oldest, &any) != SS_OK || !any || oldest >= cutoff)
        return;
    if (store_nested_begin(st, txn, &child) != SS_OK)
        return;
    ss_err e = store_idem_prune(st, child, cutoff, w->cfg.prune_chunk, &pruned);
    if (e != SS_OK) {
        store_abort(child);
        return;
    }
    if (store_commit(child) != SS_OK) /* ends the child either way */
        return;
    stats_metrics_pruned(pruned);
}

/* One store's share of a batch (group[0..n), all of store st) in one write
 * transaction; on a storage failure every job of the group gets it. */
static void writer__run_group(stats_writer *w, stats_store *st, stats_job **group, size_t n,
                              writer_now now)
{
    MDB_txn *txn = NULL;
    ss_err e = store_write_begin(st, &txn);
    for (size_t i = 0; e == SS_OK && i < n; i++) {
        e = writer__apply(w, txn, group[i], now);
        if (e != SS_OK)
            store_abort(txn);
    }
    if (e == SS_OK) {
        writer__prune_nested(w, st, txn, now.idem_ms);
        int64_t t0 = ss_mono_ns();
        e = store_commit(txn); /* ends the transaction whatever the outcome */
        stats_metrics_commit_ns(ss_mono_ns() - t0);
    }
    if (e == SS_OK)
        return;
    ss_log(e == SS_ERR_STORAGE_FULL ? SS_LOG_WARN : SS_LOG_ERROR, "write batch failed",
           "{s:s,s:i}", "error", ss_err_code(e), "mutations", (int)n);
    const char *msg = e == SS_ERR_STORAGE_FULL ? "storage is full or not writable; nothing changed"
                                               : "storage error; nothing changed";
    for (size_t i = 0; i < n; i++)
        writer__set_error(group[i], e, msg);
}

/* One store's group of a batch: jobs[start, start + n) of store st. */
typedef struct writer_group {
    stats_store *st;
    size_t start, n;
} writer_group;

typedef struct writer_groups {
    stats_writer *w;
    stats_job **jobs;
    writer_group *g;
    writer_now now;
} writer_groups;

/* A commit-pool item: group i (on whichever thread the pool picks). */
static void writer__run_group_item(void *arg, size_t i)
{
    writer_groups *gs = arg;
    writer_group *g = &gs->g[i];
    writer__run_group(gs->w, g->st, &gs->jobs[g->start], g->n, gs->now);
}

/* Orders jobs[0..n) stably by store (first appearance) into groups[] (as many
 * as n at most); a job whose store is not attached is refused here. Returns
 * how many groups there are to run. */
static size_t writer__group(stats_job **jobs, size_t n, writer_group *groups)
{
    size_t done = 0, ng = 0;
    while (done < n) {
        stats_store *st = jobs[done]->store;
        size_t k = done;
        for (size_t i = done; i < n; i++) { /* gather st's jobs at [done, k) */
            if (jobs[i]->store != st)
                continue;
            stats_job *t = jobs[i];
            memmove(&jobs[k + 1], &jobs[k], (i - k) * sizeof(*jobs));
            jobs[k++] = t;
        }
        if (st == NULL || !store_attached(st)) {
            for (size_t i = done; i < k; i++)
                writer__set_error(jobs[i], SS_ERR_PARTITION_UNAVAILABLE,
                                  "the user's partition is not served here (moved or released)");
        } else {
            groups[ng++] = (writer_group){st, done, k - done};
        }
        done = k;
    }
    return ng;
}

/* Runs each store's group in its own transaction, the groups at once on
 * the commit pool (one after the other when there is no memory for that). */
static void writer__run_stores(stats_writer *w, stats_job **jobs, size_t n, writer_now now)
{
    writer_group one, *groups = n > 1 ? malloc(n * sizeof(*groups)) : &one;
    if (groups == NULL) {
        for (size_t i = 0; i < n; i++) /* each job a group of its own kind */
            writer__run_stores(w, &jobs[i], 1, now);
        return;
    }
    writer_groups gs = {w, jobs, groups, now};
    size_t ng = writer__group(jobs, n, groups);
    commit_pool_run(w->pool, ng, writer__run_group_item, &gs);
    if (groups != &one)
        free(groups);
}

static void writer__run_batch(stats_writer *w, stats_job *batch, size_t n)
{
    writer_now now = {w->cfg.now_ms(), writer__idem_now(w)};
    int64_t start_ns = ss_mono_ns();
    stats_job **jobs = malloc(n * sizeof(*jobs));
    size_t i = 0;
    stats_metrics_batch(n);
    for (stats_job *j = batch; j; j = j->next) {
        stats_metrics_queue_wait_ns(start_ns - j->enqueued_ns);
        if (j->store == NULL)
            j->store = w->store;
        if (jobs)
            jobs[i++] = j;
    }
    if (jobs == NULL) {
        for (stats_job *j = batch; j; j = j->next)
            writer__set_error(j, SS_ERR_INTERNAL, "out of memory; nothing changed");
    } else {
        writer__run_stores(w, jobs, n, now);
        free(jobs);
    }
    if (w->cfg.batch_edge != NULL)
        w->cfg.batch_edge(w->arg, true);
    for (stats_job *j = batch, *next; j; j = next) {
        next = j->next;
        j->next = NULL;
        stats_metrics_mutation(j->err);
        w->done(j, w->arg);
    }
    if (w->cfg.batch_edge != NULL)
        w->cfg.batch_edge(w->arg, false);
}

/* Idle: prune expired records of st chunk by chunk, one transaction per
 * chunk, until none is left or work arrives. True when work arrived. */
static bool writer__idle_prune_store(stats_writer *w, stats_store *st)
{
    for (;;) {
        MDB_txn *txn = NULL;
        size_t pruned = 0;
        if (store_write_begin(st, &txn) != SS_OK)
            return false;
        int64_t cutoff = writer__idem_now(w) - w->cfg.idem_ttl_ms;
        ss_err e = store_idem_prune(st, txn, cutoff, w->cfg.prune_chunk, &pruned);
        if (e != SS_OK || pruned == 0) {
            store_abort(txn);
            if (e != SS_OK)
                ss_log(SS_LOG_WARN, "idempotency pruning failed", "{s:s}", "error",
                       ss_err_code(e));
            return false;
        }
        if (store_commit(txn) != SS_OK)
            return false;
        stats_metrics_pruned(pruned);
        ss_log(SS_LOG_DEBUG, "idempotency records pruned", "{s:i}", "count", (int)pruned);
        pthread_mutex_lock(&w->mu);
        bool busy = w->head != NULL || w->stopping;
        pthread_mutex_unlock(&w->mu);
        if (busy)
            return true;
        if (pruned < w->cfg.prune_chunk)
            return false;
    }
}

static void writer__idle_prune(stats_writer *w)
{
    for (size_t i = 0; i < w->n_stores; i++)
        if (writer__idle_prune_store(w, w->stores[i]))
            return;
}

/* ---- control items (writer thread) ---- */

static void writer__ctl_attach(stats_writer *w, stats_job *job)
{
    stats_store *st = job->store;
    if (store_attached(st))
        return;
    if (w->n_stores == w->cap_stores) {
        size_t cap = w->cap_stores ? w->cap_stores * 2 : 16;
        stats_store **n = realloc(w->stores, cap * sizeof(*n));
        if (n == NULL)
            return; /* not attached: its jobs are refused */
        w->stores = n, w->cap_stores = cap;
    }
    w->stores[w->n_stores++] = st;
    store_set_attached(st, true);
    int64_t newest = 0, now = writer__idem_now(w);
    if (writer__newest_stamp(st, &newest) && newest > now) /* a store from a clock ahead */
        w->idem_base_ms += newest - now;
}

static void writer__ctl_detach(stats_writer *w, stats_job *job)
{
    for (size_t i = 0; i < w->n_stores; i++) {
        if (w->stores[i] != job->store)
            continue;
        w->stores[i] = w->stores[--w->n_stores];
        break;
    }
    store_set_attached(job->store, false);
}

static void writer__deadline(struct timespec *ts, int64_t ms)
{
    *ts = ss_mono_deadline(ms);
}

static void *writer__main(void *arg)
{
    stats_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->head == NULL && !w->stopping) {
            struct timespec ts;
            writer__deadline(&ts, w->cfg.prune_interval_ms);
            int rc = pthread_cond_timedwait(&w->cond, &w->mu, &ts);
            if (rc == ETIMEDOUT && w->head == NULL && !w->stopping) {
                pthread_mutex_unlock(&w->mu);
                writer__idle_prune(w);
                pthread_mutex_lock(&w->mu);
            }
        }
        if (w->head == NULL) /* stopping and drained */
            break;
        if (w->head->ctl != NULL) { /* a control item runs alone, in its place */
            stats_job *c = w->head;
            w->head = c->next;
            if (w->head == NULL)
                w->tail = NULL;
            c->ctl(w, c);
            c->ctl_done = true;
            pthread_cond_broadcast(&w->ctl_cond);
            continue;
        }
        stats_job *batch = w->head, *last = w->head;
        size_t n = 1;
        while (n < w->cfg.max_batch && last->next != NULL && last->next->ctl == NULL) {
            last = last->next;
            n++;
        }
        w->head = last->next;
        if (w->head == NULL)
            w->tail = NULL;
        last->next = NULL;
        w->depth -= n;
        stats_metrics_queue_depth((int64_t)w->depth);
        pthread_mutex_unlock(&w->mu);
        writer__run_batch(w, batch, n);
        pthread_mutex_lock(&w->mu);
    }
    w->exited = true;
    pthread_cond_broadcast(&w->exited_cond);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

ss_err writer_start(stats_writer **out, stats_store *store, const writer_config *cfg,
                    writer_done_fn done, void *arg)
{
    *out = NULL;
    stats_writer *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return SS_ERR_INTERNAL;
    w->store = store;
    w->cfg = *cfg;
    if (w->cfg.max_batch == 0)
        w->cfg.max_batch = 1;
    if (w->cfg.max_queue == 0)
        w->cfg.max_queue = 1;
    if (w->cfg.prune_chunk == 0)
        w->cfg.prune_chunk = 1;
    if (w->cfg.max_clients == 0)
        w->cfg.max_clients = CLIENTS_DEFAULT_MAX;
    if (w->cfg.prune_interval_ms <= 0)
        w->cfg.prune_interval_ms = 1000;
    if (w->cfg.now_ms == NULL)
        w->cfg.now_ms = ss_now_ms;
    if (w->cfg.mono_ms == NULL)
        w->cfg.mono_ms = ss_mono_ms;
    w->done = done;
    w->arg = arg;
    pthread_mutex_init(&w->mu, NULL);
    ss_cond_init_mono(&w->cond);
    ss_cond_init_mono(&w->exited_cond);
    pthread_cond_init(&w->ctl_cond, NULL);
    stats_metrics_init();
    if (commit_pool_create(&w->pool, w->cfg.commit_threads ? w->cfg.commit_threads : 1) != SS_OK) {
        writer_destroy(w);
        return SS_ERR_INTERNAL;
    }
    writer__idem_clock_init(w);
    if (store != NULL) { /* before the thread: no control item needed */
        stats_job attach = {.store = store};
        writer__ctl_attach(w, &attach);
    }
    if (pthread_create(&w->thread, NULL, writer__main, w) != 0) {
        writer_destroy(w);
        return SS_ERR_INTERNAL;
    }
    w->thread_started = true;
    *out = w;
    return SS_OK;
}

ss_err writer_submit(stats_writer *w, stats_job *job)
{
    job->next = NULL;
    job->enqueued_ns = ss_mono_ns();
    pthread_mutex_lock(&w->mu);
    if (w->stopping || w->depth >= w->cfg.max_queue) {
        pthread_mutex_unlock(&w->mu);
        return SS_ERR_UNAVAILABLE;
    }
    SS_FIFO_PUSH(w->head, w->tail, job);
    w->depth++;
    stats_metrics_queue_depth((int64_t)w->depth);
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    return SS_OK;
}

/* Queues a control item and waits for the writer thread to run it. */
static bool writer__control(stats_writer *w, stats_store *store,
                            void (*ctl)(stats_writer *, stats_job *))
{
    stats_job c = {.store = store, .ctl = ctl};
    pthread_mutex_lock(&w->mu);
    if (w->stopping || !w->thread_started) {
        pthread_mutex_unlock(&w->mu);
        return false;
    }
    SS_FIFO_PUSH(w->head, w->tail, &c);
    pthread_cond_signal(&w->cond);
    while (!c.ctl_done) /* a stopping writer still runs everything queued */
        pthread_cond_wait(&w->ctl_cond, &w->mu);
    pthread_mutex_unlock(&w->mu);
    return true;
}

bool writer_attach(stats_writer *w, stats_store *store)
{
    return writer__control(w, store, writer__ctl_attach);
}

bool writer_detach(stats_writer *w, stats_store *store)
{
    return writer__control(w, store, writer__ctl_detach);
}

size_t writer_depth(stats_writer *w)
{
    pthread_mutex_lock(&w->mu);
    size_t d = w->depth;
    pthread_mutex_unlock(&w->mu);
    return d;
}

void writer_stop(stats_writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

bool writer_join(stats_writer *w, int64_t timeout_ms)
{
    if (!w->thread_started)
        return true;
    struct timespec ts;
    writer__deadline(&ts, timeout_ms < 0 ? 0 : timeout_ms);
    pthread_mutex_lock(&w->mu);
    while (!w->exited) {
        if (pthread_cond_timedwait(&w->exited_cond, &w->mu, &ts) == ETIMEDOUT)
            break;
    }
    bool exited = w->exited;
    pthread_mutex_unlock(&w->mu);
    if (!exited)
        return false;
    pthread_join(w->thread, NULL);
    w->thread_started = false;
    return true;
}

void writer_destroy(stats_writer *w)
{
    if (w == NULL)
        return;
    commit_pool_destroy(w->pool);
    pthread_cond_destroy(&w->cond);
    pthread_cond_destroy(&w->exited_cond);
    pthread_cond_destroy(&w->ctl_cond);
    free(w->stores);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
