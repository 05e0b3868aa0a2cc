/* handlers.c — NATS callbacks of the stats-service: decode, validate,
 * answer reads, hand mutations to the writer. Thin on purpose: rules live
 * in merge.c, storage in store.c, batching in writer.c, ownership in
 * partitions.c.
 *
 * Every request names its partition in the subject
 * (statsync.stats.<apply|get>.<p>.<user>); it is served only when this
 * instance serves p now and the userId belongs to p under our partition
 * count — else it is refused (partition_unavailable, or
 * partition_mismatch when the sender counts partitions differently),
 * logged and counted (statsync_stats_partition_refused_total), never
 * applied.
 *
 * Threads: handlers__on_apply runs on the connection's NATS I/O thread
 * (drained from a synchronous subscription after each read, see
 * handlers__drain_apply), the other handlers__on_* on cnats' delivery pool
 * (main.c: two threads, so a read of LMDB never stalls the socket);
 * handlers_on_done on the writer thread. Ownership: a
 * callback owns its natsMsg; for an accepted mutation it passes to the job
 * (stats_job.ctx) and handlers_on_done destroys it after replying.
 *
 * Request ids: each handler runs as the request it handles (ss_reqid.h:
 * the X-Request-Id header the gateway set, read only when a line is
 * logged), so every log line about a request — refusals, errors, "mutation
 * applied" at debug — names it as "request_id". */
#include "handlers.h"

#include "partitions.h"
#include "reply.h"
#include "ss_client_seq.h"
#include "ss_metrics.h"
#include "ss_log.h"
#include "ss_nats.h"
#include "ss_reqid.h"
#include "ss_subjects.h"
#include "ss_time.h"
#include "ss_userid.h"
#include "stats_metrics.h"

#include <stdio.h>
#include <string.h>

/* A request needs somewhere to answer; without it there is no one to tell
 * the outcome, so it is ignored (not applied). */
static const char *handlers__reply_to(natsMsg *msg)
{
    const char *reply = natsMsg_GetReply(msg);
    if (reply == NULL || reply[0] == '\0') {
        ss_log(SS_LOG_DEBUG, "request without reply subject ignored", "{s:s}", "subject",
               natsMsg_GetSubject(msg));
        return NULL;
    }
    return reply;
}

static ss_counter *handlers__refused_counter(const char *reason)
{
    char labels[64];
    ss_metric_labels(labels, sizeof(labels), "reason", reason, NULL);
    return ss_counter_get("statsync_stats_partition_refused_total",
                          "Requests refused for their partition (not owned here, or a userId "
                          "of another partition)", labels);
}

/* What every request about one user passes once decoded: a valid userId
 * of partition sp, which the subject ("<base>.<p>.<token>") names. SS_OK,
 * or the error and *why (buf may hold it) for the reply. */
static ss_err handlers__check_user(stats_partition *sp, natsMsg *msg, const char *base,
                                   const char *user_id, char *buf, size_t cap, const char **why)
{
    stats_service *svc = sp->svc;
    if (!ss_userid_valid_cstr(user_id)) {
        *why = "not a valid userId";
        return SS_ERR_INVALID_USER_ID;
    }
    uint32_t of = ss_partition_of(user_id, (uint32_t)svc->partition_count);
    if (of != sp->id) {
        snprintf(buf, cap, "userId belongs to partition %u of %u here, not %u: "
                 "STATSYNC_PARTITION_COUNT differs between services", of,
                 (unsigned)svc->partition_count, sp->id);
        ss_log(SS_LOG_ERROR, "request refused: partition mismatch", "{s:s,s:s}", "subject",
               natsMsg_GetSubject(msg), "error", buf);
        ss_counter_add(handlers__refused_counter("mismatch"), 1);
        *why = buf;
        return SS_ERR_PARTITION_MISMATCH;
    }
    char want[SS_SUBJECT_MAX];
    if (!ss_subject_partitioned(want, sizeof(want), base, (uint32_t)svc->partition_count,
                                user_id) ||
        strcmp(want, natsMsg_GetSubject(msg)) != 0) {
        *why = "userId does not match the subject";
        return SS_ERR_BAD_REQUEST;
    }
    return SS_OK;
}

/* SS_OK while sp is served here; else counted and logged. */
static ss_err handlers__check_owned(stats_partition *sp, natsMsg *msg, const char **why)
{
    if (atomic_load(&sp->state) == PART_SERVING && ss_mono_ms() < atomic_load(&sp->valid_until_ms))
        return SS_OK;
    ss_counter_add(handlers__refused_counter("not_owned"), 1);
    ss_log(SS_LOG_WARN, "request refused: partition not served here", "{s:s,s:i}", "subject",
           natsMsg_GetSubject(msg), "partition", (int)sp->id);
    *why = "the user's partition is not served by this instance now; retry";
    return SS_ERR_PARTITION_UNAVAILABLE;
}

/* Refuses a mutation before the writer (cnats thread): nothing changed. */
static void handlers__refuse(stats_service *svc, const char *reply, ss_err e, const char *message)
{
    ss_log(SS_LOG_DEBUG, "mutation refused", "{s:s,s:s}", "code", ss_err_code(e), "message",
           message);
    stats_metrics_mutation(e);
    reply_stats(svc->core.nc, reply, e, message, NULL, false, 0);
}

/* A mutation fit for the writer: taken while running, decoded, about the
 * user its subject names, of a partition served here, its ops numbered by
 * the rules (ss_client_seqs_of), with valid ops. SS_OK, or the refusal and
 * *why (which may point into *me or buf). *m, when set, is the caller's to
 * free.
 *
 * Ops that fail merge_validate_ops in a mutation with numbered ops are still
 * SS_OK, with *pre = the refusal: the writer records it for the client's new
 * seqs (else the client's next op would be a gap) and answers it. Refusals
 * before that (a userId or numbering that is not the rules') record nothing:
 * there is no valid client to record it for. */
static ss_err handlers__mutation(stats_partition *sp, natsMsg *msg, Statsync__Mutation **m,
                                 merge_error *me, char *buf, size_t cap, const char **why,
                                 ss_err *pre)
{
    *pre = SS_OK;
    if (atomic_load(&sp->svc->stopping)) {
        *why = "stats-service is shutting down";
        return SS_ERR_UNAVAILABLE;
    }
    ss_err e = handlers__check_owned(sp, msg, why);
    if (e != SS_OK)
        return e;
    *m = (Statsync__Mutation *)ss_nats_unpack(msg, &statsync__mutation__descriptor);
    if (*m == NULL) {
        *why = "payload is not a statsync.Mutation";
        return SS_ERR_BAD_REQUEST;
    }
    e = handlers__check_user(sp, msg, SS_SUBJ_STATS_APPLY, (*m)->user_id, buf, cap, why);
    ss_client_seqs seqs = {NULL, 0, 0, 0};
    if (e == SS_OK && !ss_client_seqs_of((*m)->ops, (*m)->n_ops, &seqs, buf, cap)) {
        *why = buf;
        return SS_ERR_BAD_REQUEST;
    }
    if (e == SS_OK && merge_validate_ops((*m)->ops, (*m)->n_ops, me) != SS_OK) {
        e = me->err;
        *why = me->message;
        if (seqs.numbered > 0) { /* the writer records it for the client */
            *pre = e;
            e = SS_OK;
        }
    }
    return e;
}

/* Queues *m for the writer in a job that also carries msg (pre: a refusal
 * the writer is to record, with *why; SS_OK: none). SS_OK: both now belong
 * to the writer, then handlers_on_done. Otherwise the refusal and *why; msg
 * stays the caller's, and so does *m unless the job was made (then it is
 * freed with the job). *m is NULL afterwards when no longer the caller's. */
static ss_err handlers__submit(stats_partition *sp, Statsync__Mutation **m, natsMsg *msg,
                               ss_err pre, const char **why)
{
    stats_service *svc = sp->svc;
    stats_job *job = stats_job_new(*m, msg);
    if (job == NULL) {
        *why = "out of memory";
        return SS_ERR_INTERNAL;
    }
    *m = NULL; /* the job owns it */
    if (pre != SS_OK) {
        job->refused = pre;
        snprintf(job->message, sizeof(job->message), "%s", *why);
    }
    job->store = atomic_load(&sp->store); /* the writer refuses it once detached */
    job->owner = sp;
    if (writer_submit(svc->writer, job) != SS_OK) {
        stats_job_free(job);
        *why = "stats-service is overloaded or stopping";
        return SS_ERR_UNAVAILABLE;
    }
    return SS_OK;
}

void handlers_refuse_msg(stats_service *svc, natsMsg *msg, ss_err e, const char *why)
{
    ss_reqid_set_msg(msg);
    const char *reply = handlers__reply_to(msg);
    if (reply != NULL)
        handlers__refuse(svc, reply, e, why);
    ss_reqid_clear();
    natsMsg_Destroy(msg);
}

/* One mutation, on the NATS I/O thread (handlers__drain_apply). */
static void handlers__on_apply(stats_partition *sp, natsMsg *msg)
{
    ss_reqid_set_msg(msg);
    const char *reply = handlers__reply_to(msg);
    if (reply == NULL) {
        ss_reqid_clear();
        natsMsg_Destroy(msg);
        return;
    }
    Statsync__Mutation *m = NULL;
    merge_error me = {SS_OK, ""};
    const char *why = NULL;
    char buf[200];
    ss_err pre = SS_OK;
    ss_err e = handlers__mutation(sp, msg, &m, &me, buf, sizeof(buf), &why, &pre);
    if (e == SS_OK) {
        ss_reqid_clear(); /* msg may be the writer's from here on */
        e = handlers__submit(sp, &m, msg, pre, &why);
        if (e == SS_OK)
            return; /* msg and m now belong to the writer, then handlers_on_done */
        ss_reqid_set_msg(msg); /* refused: still ours */
    }
    handlers__refuse(sp->svc, reply, e, why);
    ss_reqid_clear();
    if (m != NULL)
        statsync__mutation__free_unpacked(m, NULL);
    natsMsg_Destroy(msg);
}

void handlers_on_batch(void *arg, bool begin)
{
    stats_service *svc = arg;
    ss_nats_batch(svc->core.nats, begin);
}

/* The answer of a decided job: its StatsReply and, for a committed change,
 * the ChangeEvent — which alone answers a change whose gateway asked for it
 * (Mutation.reply_in_event: one message into that gateway, not two). Writer
 * thread. */
static void handlers__answer(stats_service *svc, const stats_job *job, const char *reply)
{
    bool in_event = job->changed && job->err == SS_OK && job->m->has_reply_in_event &&
                    job->m->reply_in_event && svc->reply_in_event;
    if (!in_event)
        reply_stats(svc->core.nc, reply, job->err, job->message, job->has_doc ? &job->doc : NULL,
                    job->duplicate, job->err == SS_ERR_SEQ_GAP ? job->expected_seq : 0);
    if (job->changed)
        reply_change_event(svc->core.nc, &job->doc, job->has_delta ? &job->delta.delta : NULL,
                           job->m, in_event ? reply : NULL);
}

void handlers_on_done(stats_job *job, void *arg)
{
    stats_service *svc = arg;
    natsMsg *msg = job->ctx;
    const char *reply = natsMsg_GetReply(msg);
    stats_partition *sp = job->owner;
    ss_reqid_set_msg(msg);
    if (sp != NULL && job->err == SS_OK && ss_mono_ms() >= atomic_load(&sp->valid_until_ms)) {
        /* The lease could not be vouched for until the reply: not ours to
         * acknowledge (another owner may hold the partition now). The client
         * retries on the owner; an op id there makes the retry exact. */
        ss_log(SS_LOG_WARN, "write not acknowledged: the partition's lease ran out meanwhile",
               "{s:i}", "partition", (int)sp->id);
        if (job->has_doc)
            doc_free(&job->doc);
        job->has_doc = job->changed = job->duplicate = false;
        job->err = SS_ERR_PARTITION_UNAVAILABLE;
        snprintf(job->message, sizeof(job->message), "the user's partition changed owner; retry");
    }
    if (job->err != SS_OK && job->err != SS_ERR_STORAGE_FULL && job->err != SS_ERR_INTERNAL)
        ss_log(SS_LOG_DEBUG, "mutation refused", "{s:s,s:s,s:s}", "user", job->m->user_id, "code",
               ss_err_code(job->err), "message", job->message);
    else if (job->err == SS_OK && ss_log_enabled(SS_LOG_DEBUG))
        ss_log(SS_LOG_DEBUG, "mutation applied", "{s:s,s:I,s:b}", "user", job->m->user_id,
               "version", (json_int_t)(job->has_doc ? job->doc.version : 0), "duplicate",
               job->duplicate);
    handlers__answer(svc, job, reply);
    ss_reqid_clear();
    natsMsg_Destroy(msg);
    stats_job_free(job);
}

/* The document a GetRequest asks for, from a read transaction. SS_OK with
 * *doc (the caller's to doc_free when *have_doc), or the error and *why. */
static ss_err handlers__read(stats_partition *sp, natsMsg *msg, stats_doc *doc, bool *have_doc,
                             char *buf, size_t cap, const char **why)
{
    Statsync__GetRequest *req =
        (Statsync__GetRequest *)ss_nats_unpack(msg, &statsync__get_request__descriptor);
    ss_err e = handlers__check_owned(sp, msg, why);
    if (e == SS_OK && req == NULL) {
        e = SS_ERR_BAD_REQUEST;
        *why = "payload is not a statsync.GetRequest";
    }
    if (e == SS_OK)
        e = handlers__check_user(sp, msg, SS_SUBJ_STATS_GET, req->user_id, buf, cap, why);
    MDB_txn *txn = NULL;
    stats_store *st = atomic_load(&sp->store);
    if (e == SS_OK && (st == NULL || store_read_begin(st, &txn) != SS_OK)) {
        e = SS_ERR_PARTITION_UNAVAILABLE;
        *why = "the user's partition is closing here; retry";
    } else if (e == SS_OK) {
        bool found = false;
        e = store_doc_get(st, txn, req->user_id, doc, &found);
        store_read_end(st, txn);
        *have_doc = e == SS_OK;
        *why = "stored document unreadable";
    }
    if (req != NULL)
        statsync__get_request__free_unpacked(req, NULL);
    return e;
}

void handlers_on_get(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    stats_partition *sp = closure;
    ss_reqid_set_msg(msg);
    const char *reply = handlers__reply_to(msg);
    if (reply != NULL) {
        stats_doc doc;
        bool have_doc = false;
        const char *why = NULL;
        char buf[200];
        ss_err e = handlers__read(sp, msg, &doc, &have_doc, buf, sizeof(buf), &why);
        stats_metrics_read(e);
        reply_stats(sp->svc->core.nc, reply, e, e == SS_OK ? NULL : why,
                    have_doc ? &doc : NULL, false, 0);
        if (have_doc)
            doc_free(&doc);
    }
    ss_reqid_clear();
    natsMsg_Destroy(msg);
}

uint64_t handlers_total_users(stats_service *svc)
{
    return partitions_total_users(svc);
}

static void handlers__on_health(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
                                void *closure)
{
    (void)sub;
    stats_service *svc = closure;
    const char *reply = handlers__reply_to(msg);
    if (reply != NULL) {
        Statsync__HealthReply r = STATSYNC__HEALTH_REPLY__INIT;
        ss_service_health_reply(&svc->core, "stats", svc->instance_id,
                                !atomic_load(&svc->stopping), &r);
        r.has_total_users = 1;
        r.total_users = handlers_total_users(svc);
        uint32_t owned[SS_PARTITION_COUNT_MAX];
        r.n_partitions = partitions_serving(svc, owned, SS_PARTITION_COUNT_MAX);
        r.partitions = owned;
        r.has_partition_count = 1;
        r.partition_count = (uint32_t)svc->partition_count;
        ss_nats_publish_proto(nc, reply, &r.base, SS_LOG_WARN);
    }
    natsMsg_Destroy(msg);
}

/* On the NATS I/O thread after each read (ss_nats_set_reader): mutations go
 * straight from the socket to the writer's queue — no delivery thread, no
 * hand-off per message. Decoding and queueing never block; a full queue is
 * answered at once. Every served partition's subscription is looked at. */
static void handlers__drain_apply(void *arg)
{
    stats_service *svc = arg;
    for (uint32_t p = 0; svc->parts != NULL && p < (uint32_t)svc->partition_count; p++) {
        stats_partition *sp = &svc->parts[p];
        natsSubscription *sub = atomic_load(&sp->apply_drained);
        for (natsMsg *msg = NULL; sub != NULL; msg = NULL) {
            natsStatus s = natsSubscription_NextMsg(&msg, sub, 0);
            if (s == NATS_SLOW_CONSUMER) {
                ss_log(SS_LOG_WARN, "mutations dropped by the NATS client (slow consumer)",
                       "{s:i}", "partition", (int)p);
                continue;
            }
            if (s != NATS_OK)
                break; /* NATS_TIMEOUT: nothing left */
            handlers__on_apply(sp, msg);
        }
    }
}

void handlers_kick(stats_service *svc)
{
    /* Setting the reader waits for a run in progress and runs it once more;
     * once shutdown began (handlers_drain removed it) it stays removed: the
     * partitions are about to be freed. */
    if (atomic_load(&svc->stopping))
        ss_nats_set_reader(svc->core.nats, NULL, NULL);
    else
        ss_nats_set_reader(svc->core.nats, handlers__drain_apply, svc);
}

ss_err handlers_subscribe(stats_service *svc)
{
    natsStatus s = ss_nats_subscribe(&svc->subs, &svc->health_sub, svc->core.nc,
                                     SS_SUBJ_HEALTH ".stats", NULL, handlers__on_health, svc);
    if (s != NATS_OK) {
        ss_log(SS_LOG_ERROR, "nats subscribe failed", "{s:s}", "error", natsStatus_GetText(s));
        return SS_ERR_UNAVAILABLE;
    }
    return SS_OK;
}

void handlers_drain(stats_service *svc, int64_t timeout_ms)
{
    int64_t deadline = ss_mono_ms() + (timeout_ms > 0 ? timeout_ms : 1);
    /* A drain needs the server (it flushes an UNSUB): while NATS is away it
     * could only wait out the whole grace period. Nothing is lost: requests
     * not yet answered were never acknowledged. */
    partitions_drain(svc, deadline);
    atomic_store(&svc->stopping, true);
    ss_nats_set_reader(svc->core.nats, NULL, NULL); /* no drain runs past here */
    ss_nats_unsubscribe(&svc->health_sub); /* ctl_sub is the keeper's (partitions_stop) */
    /* the handlers use svc: nothing of theirs may run or stay queued in cnats
     * once the caller goes on to free it */
    int64_t left = deadline - ss_mono_ms();
    if (!ss_nats_subs_wait(&svc->subs, left > 1000 ? left : 1000))
        ss_log(SS_LOG_ERROR, "subscriptions not released by cnats", NULL);
}
