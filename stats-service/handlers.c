/* handlers.c — NATS callbacks of the stats-service: decode, validate,
 * answer reads, hand mutations to the writer. Thin on purpose: rules live
 * in merge.c, storage in store.c, batching in writer.c.
 *
 * Threads: handlers__on_apply runs on the connection's NATS I/O thread
 * (drained from a synchronous subscription after each read, see
 * handlers__drain_apply), the other handlers__on_* on cnats' delivery pool
 * (main.c: two threads, so a read of LMDB never stalls the socket);
 * handlers_on_done on the writer thread. Ownership: a
 * callback owns its natsMsg; for an accepted mutation it passes to the job
 * (stats_job.ctx) and handlers_on_done destroys it after replying. */
#include "handlers.h"

#include "reply.h"
#include "ss_log.h"
#include "ss_nats.h"
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

/* What every request about one user passes once decoded: a valid userId,
 * the one its subject ("<prefix>.<userId>") names. SS_OK, or the error and
 * *why for the reply. */
static ss_err handlers__check_user(natsMsg *msg, const char *prefix, const char *user_id,
                                   const char **why)
{
    if (!ss_userid_valid_cstr(user_id)) {
        *why = "userId must be 1-64 of [A-Za-z0-9_-]";
        return SS_ERR_INVALID_USER_ID;
    }
    if (!ss_subject_user_is(natsMsg_GetSubject(msg), prefix, user_id)) {
        *why = "userId does not match the subject";
        return SS_ERR_BAD_REQUEST;
    }
    return SS_OK;
}

/* Refuses a mutation before the writer (cnats thread): nothing changed. */
static void handlers__refuse(stats_service *svc, const char *reply, ss_err e, const char *message)
{
    ss_log(SS_LOG_DEBUG, "mutation refused", "{s:s,s:s}", "code", ss_err_code(e), "message",
           message);
    stats_metrics_mutation(e);
    reply_stats(svc->core.nc, reply, e, message, NULL, false);
}

/* A mutation fit for the writer: taken while running, decoded, about the
 * user its subject names, with valid ops. SS_OK, or the refusal and *why
 * (which may point into *me). *m, when set, is the caller's to free. */
static ss_err handlers__mutation(stats_service *svc, natsMsg *msg, Statsync__Mutation **m,
                                 merge_error *me, const char **why)
{
    if (atomic_load(&svc->stopping)) {
        *why = "stats-service is shutting down";
        return SS_ERR_UNAVAILABLE;
    }
    *m = (Statsync__Mutation *)ss_nats_unpack(msg, &statsync__mutation__descriptor);
    if (*m == NULL) {
        *why = "payload is not a statsync.Mutation";
        return SS_ERR_BAD_REQUEST;
    }
    ss_err e = handlers__check_user(msg, SS_SUBJ_STATS_APPLY, (*m)->user_id, why);
    if (e == SS_OK && merge_validate_ops((*m)->ops, (*m)->n_ops, me) != SS_OK) {
        e = me->err;
        *why = me->message;
    }
    return e;
}

/* Queues *m for the writer in a job that also carries msg. SS_OK: both now
 * belong to the writer, then handlers_on_done. Otherwise the refusal and
 * *why; msg stays the caller's, and so does *m unless the job was made (then
 * it is freed with the job). *m is NULL afterwards when no longer the
 * caller's. */
static ss_err handlers__submit(stats_service *svc, Statsync__Mutation **m, natsMsg *msg,
                               const char **why)
{
    stats_job *job = stats_job_new(*m, msg);
    if (job == NULL) {
        *why = "out of memory";
        return SS_ERR_INTERNAL;
    }
    *m = NULL; /* the job owns it */
    if (writer_submit(svc->writer, job) != SS_OK) {
        stats_job_free(job);
        *why = "stats-service is overloaded or stopping";
        return SS_ERR_UNAVAILABLE;
    }
    return SS_OK;
}

/* One mutation, on the NATS I/O thread (handlers__drain_apply). */
static void handlers__on_apply(stats_service *svc, natsMsg *msg)
{
    const char *reply = handlers__reply_to(msg);
    if (reply == NULL) {
        natsMsg_Destroy(msg);
        return;
    }
    Statsync__Mutation *m = NULL;
    merge_error me = {SS_OK, ""};
    const char *why = NULL;
    ss_err e = handlers__mutation(svc, msg, &m, &me, &why);
    if (e == SS_OK)
        e = handlers__submit(svc, &m, msg, &why);
    if (e == SS_OK)
        return; /* msg and m now belong to the writer, then handlers_on_done */
    handlers__refuse(svc, reply, e, why);
    if (m != NULL)
        statsync__mutation__free_unpacked(m, NULL);
    natsMsg_Destroy(msg);
}

void handlers_on_batch(void *arg, bool begin)
{
    stats_service *svc = arg;
    ss_nats_batch(svc->core.nats, begin);
}

void handlers_on_done(stats_job *job, void *arg)
{
    stats_service *svc = arg;
    natsMsg *msg = job->ctx;
    const char *reply = natsMsg_GetReply(msg);
    if (job->err != SS_OK && job->err != SS_ERR_STORAGE_FULL && job->err != SS_ERR_INTERNAL)
        ss_log(SS_LOG_DEBUG, "mutation refused", "{s:s,s:s,s:s}", "user", job->m->user_id, "code",
               ss_err_code(job->err), "message", job->message);
    reply_stats(svc->core.nc, reply, job->err, job->message, job->has_doc ? &job->doc : NULL,
                job->duplicate);
    if (job->changed)
        reply_change_event(svc->core.nc, &job->doc, job->has_delta ? &job->delta.delta : NULL,
                           job->m);
    natsMsg_Destroy(msg);
    stats_job_free(job);
}

/* The document a GetRequest asks for, from a read transaction. SS_OK with
 * *doc (the caller's to doc_free when *have_doc), or the error and *why. */
static ss_err handlers__read(stats_service *svc, natsMsg *msg, stats_doc *doc, bool *have_doc,
                             const char **why)
{
    Statsync__GetRequest *req =
        (Statsync__GetRequest *)ss_nats_unpack(msg, &statsync__get_request__descriptor);
    ss_err e = SS_ERR_BAD_REQUEST;
    *why = "payload is not a statsync.GetRequest";
    if (req != NULL)
        e = handlers__check_user(msg, SS_SUBJ_STATS_GET, req->user_id, why);
    MDB_txn *txn = NULL;
    if (e == SS_OK && (e = store_read_begin(svc->store, &txn)) != SS_OK) {
        *why = "stats-service is shutting down";
    } else if (e == SS_OK) {
        bool found = false;
        e = store_doc_get(svc->store, txn, req->user_id, doc, &found);
        store_read_end(svc->store, txn);
        *have_doc = e == SS_OK;
        *why = "stored document unreadable";
    }
    if (req != NULL)
        statsync__get_request__free_unpacked(req, NULL);
    return e;
}

static void handlers__on_get(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
                             void *closure)
{
    (void)nc;
    (void)sub;
    stats_service *svc = closure;
    const char *reply = handlers__reply_to(msg);
    if (reply != NULL) {
        stats_doc doc;
        bool have_doc = false;
        const char *why = NULL;
        ss_err e = handlers__read(svc, msg, &doc, &have_doc, &why);
        stats_metrics_read(e);
        reply_stats(svc->core.nc, reply, e, e == SS_OK ? NULL : why, have_doc ? &doc : NULL,
                    false);
        if (have_doc)
            doc_free(&doc);
    }
    natsMsg_Destroy(msg);
}

uint64_t handlers_total_users(stats_service *svc)
{
    uint64_t n = 0;
    store_count_users(svc->store, &n);
    return n;
}

static void handlers__on_health(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
                                void *closure)
{
    (void)sub;
    stats_service *svc = closure;
    const char *reply = handlers__reply_to(msg);
    if (reply != NULL) {
        Statsync__HealthReply r = STATSYNC__HEALTH_REPLY__INIT;
        r.service = "stats";
        r.instance = (char *)svc->instance_id;
        r.has_ok = 1;
        r.ok = !atomic_load(&svc->stopping);
        r.has_total_users = 1;
        r.total_users = handlers_total_users(svc);
        r.has_uptime_s = 1;
        r.uptime_s = (ss_now_ms() - svc->core.started_ms) / 1000;
        uint8_t buf[256];
        if (statsync__health_reply__get_packed_size(&r) <= sizeof(buf)) {
            size_t n = statsync__health_reply__pack(&r, buf);
            natsConnection_Publish(nc, reply, buf, (int)n);
        }
    }
    natsMsg_Destroy(msg);
}

/* On the NATS I/O thread after each read (ss_nats_set_reader): mutations go
 * straight from the socket to the writer's queue — no delivery thread, no
 * hand-off per message. Decoding and queueing never block; a full queue is
 * answered at once. */
static void handlers__drain_apply(void *arg)
{
    stats_service *svc = arg;
    natsSubscription *sub = atomic_load(&svc->apply_drained);
    if (sub == NULL)
        return;
    for (;;) {
        natsMsg *msg = NULL;
        natsStatus s = natsSubscription_NextMsg(&msg, sub, 0);
        if (s == NATS_SLOW_CONSUMER) {
            ss_log(SS_LOG_WARN, "mutations dropped by the NATS client (slow consumer)", NULL);
            continue;
        }
        if (s != NATS_OK)
            return; /* NATS_TIMEOUT: nothing left */
        handlers__on_apply(svc, msg);
    }
}

ss_err handlers_subscribe(stats_service *svc)
{
    natsStatus s = natsConnection_QueueSubscribeSync(&svc->apply_sub, svc->core.nc,
                                                     SS_SUBJ_STATS_APPLY ".*", SS_QUEUE_STATS);
    if (s == NATS_OK)
        s = ss_nats_subscribe(&svc->subs, &svc->get_sub, svc->core.nc, SS_SUBJ_STATS_GET ".*",
                              SS_QUEUE_STATS, handlers__on_get, svc);
    if (s == NATS_OK)
        s = ss_nats_subscribe(&svc->subs, &svc->health_sub, svc->core.nc, SS_SUBJ_HEALTH ".stats",
                              SS_QUEUE_STATS, handlers__on_health, svc);
    /* The writer bounds the queue itself; let cnats hold a burst meanwhile. */
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(svc->apply_sub, 1 << 20, 256 << 20);
    /* Setting the reader also runs it once, so what arrived before is drained. */
    if (s == NATS_OK) {
        atomic_store(&svc->apply_drained, svc->apply_sub);
        if (ss_nats_set_reader(svc->core.nats, handlers__drain_apply, svc) != SS_OK)
            s = NATS_ERR;
    }
    if (s != NATS_OK) {
        ss_log(SS_LOG_ERROR, "nats subscribe failed", "{s:s}", "error", natsStatus_GetText(s));
        return SS_ERR_UNAVAILABLE;
    }
    return SS_OK;
}

void handlers_drain(stats_service *svc, int64_t timeout_ms)
{
    natsSubscription **subs[] = {&svc->apply_sub, &svc->get_sub, &svc->health_sub};
    int64_t deadline = ss_mono_ms() + (timeout_ms > 0 ? timeout_ms : 1);
    /* A drain needs the server (it flushes an UNSUB): while NATS is away it
     * could only wait out the whole grace period, so then just unsubscribe.
     * Nothing is lost: requests not yet answered were never acknowledged. */
    bool connected = ss_nats_connected(svc->core.nc);
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (*subs[i] && (!connected || natsSubscription_Drain(*subs[i]) != NATS_OK))
            natsSubscription_Unsubscribe(*subs[i]);
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (*subs[i] == NULL)
            continue;
        int64_t left = deadline - ss_mono_ms();
        natsStatus s = natsSubscription_WaitForDrainCompletion(*subs[i], left > 0 ? left : 1);
        if (s != NATS_OK && s != NATS_ILLEGAL_STATE)
            ss_log(SS_LOG_WARN, "subscription drain incomplete", "{s:s}", "error",
                   natsStatus_GetText(s));
    }
    atomic_store(&svc->stopping, true);
    ss_nats_set_reader(svc->core.nats, NULL, NULL); /* no drain runs past here */
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        ss_nats_unsubscribe(subs[i]);
    /* the handlers use svc: nothing of theirs may run or stay queued in cnats
     * once the caller goes on to free it */
    int64_t left = deadline - ss_mono_ms();
    if (!ss_nats_subs_wait(&svc->subs, left > 1000 ? left : 1000))
        ss_log(SS_LOG_ERROR, "subscriptions not released by cnats", NULL);
}
