/* nats_rpc.c — reply multiplexer: one inbox subscription, a hash of pending
 * requests, and a timer thread that fails requests past their deadline.
 *
 * Threads: nats_rpc_request() and nats_rpc_claim() from any thread;
 * nats_rpc__on_reply() on the cnats delivery thread of the inbox
 * subscription; nats_rpc__timer_main() on its own thread. `mu` guards the
 * table and the deadline list (and `stopping`: nothing is claimed once it is
 * set); callbacks run with no lock held. */
#include "nats_rpc.h"

#include "ss_htab.h"
#include "ss_list.h"
#include "ss_log.h"
#include "ss_nats_subs.h"
#include "ss_reqid.h"
#include "ss_subjects.h"
#include "ss_time.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NATS_RPC_MAX_PENDING 200000
#define NATS_RPC_TICK_MS 20

typedef struct rpc_entry {
    uint64_t id;
    int64_t deadline_ms; /* monotonic */
    nats_rpc_cb cb;
    void *arg;
    bool partitioned; /* a stats subject: no responders = the partition has no owner */
    /* a gather (nats_rpc_gather): replies collected until enough or the deadline */
    nats_rpc_gather_cb gather_cb;
    nats_rpc_enough_fn enough;
    nats_rpc_part *parts;
    size_t n_parts, max_parts;
    ss_hnode h;                          /* in the table, by id */
    ss_link by_deadline;                 /* in the deadline list, ascending */
    struct rpc_entry *expired_next;      /* the timer's list of expired entries */
} rpc_entry;

struct nats_rpc {
    natsConnection *nc;
    natsSubscription *sub;
    ss_nats_subs subs; /* the inbox subscription, until cnats is done with it */
    char prefix[96]; /* "_INBOX.<nuid>." */
    size_t prefix_len;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    ss_htab pending; /* rpc_entry by id */
    ss_list deadlines; /* rpc_entry.by_deadline, soonest first */
    uint64_t next_id;
    bool stopping;
    bool stopped; /* nats_rpc_stop() ran (the owner's thread only) */
    bool leaked;  /* cnats never released the inbox: r is never freed */
    pthread_t timer;
};

static bool nats_rpc__eq(const ss_hnode *n, const void *id)
{
    return SS_HTAB_ENTRY(n, rpc_entry, h)->id == *(const uint64_t *)id;
}

static uint64_t nats_rpc__hash(uint64_t id)
{
    return ss_hash(SS_HASH_INIT, &id, sizeof(id));
}

/* Unlinks e from the table and the deadline list. Caller holds mu. */
static void nats_rpc__unlink(nats_rpc *r, rpc_entry *e)
{
    ss_htab_del(&r->pending, &e->h);
    ss_list_remove(&r->deadlines, &e->by_deadline);
}

/* The entry whose deadline comes first, or NULL. Caller holds mu. */
static rpc_entry *nats_rpc__soonest(const nats_rpc *r)
{
    return r->deadlines.head ? SS_LIST_ENTRY(r->deadlines.head, rpc_entry, by_deadline) : NULL;
}

/* Calls e's callback with err (a gather: with its parts; a gather that got
 * replies before its deadline completes SS_OK) and frees e. No lock held. */
static void nats_rpc__complete(rpc_entry *e, ss_err err)
{
    if (e->gather_cb != NULL) {
        if (err == SS_ERR_TIMEOUT && e->n_parts > 0)
            err = SS_OK;
        e->gather_cb(e->arg, err, e->parts, e->n_parts);
        for (size_t i = 0; i < e->n_parts; i++)
            free((void *)e->parts[i].data);
        free(e->parts);
    } else {
        e->cb(e->arg, err, NULL, 0);
    }
    free(e);
}

/* A gather's reply: kept; true when it completes e (enough, or full).
 * Caller holds mu. */
static bool nats_rpc__gathered(rpc_entry *e, natsMsg *msg)
{
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return false;
    memcpy(copy, natsMsg_GetData(msg), len);
    e->parts[e->n_parts].data = copy;
    e->parts[e->n_parts].len = len;
    e->n_parts++;
    return e->n_parts >= e->max_parts || e->enough(e->arg, e->parts, e->n_parts);
}

/* Finds and unlinks the entry with this id. Caller holds mu. */
static rpc_entry *nats_rpc__take(nats_rpc *r, uint64_t id)
{
    ss_hnode *n = ss_htab_find(&r->pending, nats_rpc__hash(id), &id);
    rpc_entry *e = n ? SS_HTAB_ENTRY(n, rpc_entry, h) : NULL;
    if (e != NULL)
        nats_rpc__unlink(r, e);
    return e;
}

/* The request id a reply subject of this mux's inbox names; false when it
 * is not one ("<prefix><decimal id>"). */
static bool nats_rpc__id_of(const nats_rpc *r, const char *subj, uint64_t *id)
{
    if (subj == NULL || strncmp(subj, r->prefix, r->prefix_len) != 0)
        return false;
    const char *digits = subj + r->prefix_len;
    char *end = NULL;
    *id = strtoull(digits, &end, 10);
    return *digits >= '0' && *digits <= '9' && end != NULL && *end == '\0';
}

static void nats_rpc__on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
                               void *closure)
{
    (void)nc;
    (void)sub;
    nats_rpc *r = closure;
    uint64_t id = 0;
    if (!nats_rpc__id_of(r, natsMsg_GetSubject(msg), &id)) {
        natsMsg_Destroy(msg);
        return;
    }
    pthread_mutex_lock(&r->mu);
    ss_hnode *n = ss_htab_find(&r->pending, nats_rpc__hash(id), &id);
    rpc_entry *g = n ? SS_HTAB_ENTRY(n, rpc_entry, h) : NULL;
    if (g != NULL && g->gather_cb != NULL) { /* a gather: completes when enough */
        bool nr = natsMsg_IsNoResponders(msg);
        bool done = nr || nats_rpc__gathered(g, msg);
        if (done)
            nats_rpc__unlink(r, g);
        pthread_mutex_unlock(&r->mu);
        if (done)
            nats_rpc__complete(g, nr ? SS_ERR_UNAVAILABLE : SS_OK);
        natsMsg_Destroy(msg);
        return;
    }
    rpc_entry *e = g ? nats_rpc__take(r, id) : NULL;
    pthread_mutex_unlock(&r->mu);
    if (e != NULL) {
        if (natsMsg_IsNoResponders(msg))
            e->cb(e->arg, e->partitioned ? SS_ERR_PARTITION_UNAVAILABLE : SS_ERR_UNAVAILABLE,
                  NULL, 0);
        else
            e->cb(e->arg, SS_OK, (const uint8_t *)natsMsg_GetData(msg),
                  (size_t)natsMsg_GetDataLength(msg));
        free(e);
    }
    natsMsg_Destroy(msg);
}

static void *nats_rpc__timer_main(void *arg)
{
    nats_rpc *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        int64_t now = ss_mono_ms();
        rpc_entry *expired = NULL;
        rpc_entry *e;
        while ((e = nats_rpc__soonest(r)) != NULL && e->deadline_ms <= now) {
            nats_rpc__unlink(r, e);
            e->expired_next = expired;
            expired = e;
        }
        if (expired) {
            pthread_mutex_unlock(&r->mu);
            while (expired) {
                rpc_entry *e = expired;
                expired = e->expired_next;
                nats_rpc__complete(e, SS_ERR_TIMEOUT);
            }
            pthread_mutex_lock(&r->mu);
            continue;
        }
        struct timespec ts = ss_mono_deadline(NATS_RPC_TICK_MS);
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

ss_err nats_rpc_create(nats_rpc **out, natsConnection *nc)
{
    nats_rpc *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return SS_ERR_INTERNAL;
    r->nc = nc;
    natsInbox *inbox = NULL;
    if (ss_htab_init(&r->pending, 1 << 14, nats_rpc__eq) != 0 ||
        natsInbox_Create(&inbox) != NATS_OK)
        goto fail;
    snprintf(r->prefix, sizeof(r->prefix), "%s.", (const char *)inbox);
    natsInbox_Destroy(inbox);
    r->prefix_len = strlen(r->prefix);
    r->next_id = 1;
    pthread_mutex_init(&r->mu, NULL);
    ss_cond_init_mono(&r->cv);

    ss_nats_subs_init(&r->subs);

    char wildcard[sizeof(r->prefix) + 2];
    snprintf(wildcard, sizeof(wildcard), "%s*", r->prefix);
    natsStatus s = ss_nats_subscribe(&r->subs, &r->sub, nc, wildcard, NULL, nats_rpc__on_reply, r);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(r->sub, -1, -1);
    if (s != NATS_OK) {
        ss_log(SS_LOG_ERROR, "nats inbox subscribe failed", "{s:s}", "error",
               natsStatus_GetText(s));
        goto fail_sync;
    }
    if (pthread_create(&r->timer, NULL, nats_rpc__timer_main, r) != 0)
        goto fail_sync;
    *out = r;
    return SS_OK;
fail_sync:
    ss_nats_unsubscribe(&r->sub);
    ss_nats_subs_wait(&r->subs, 5000);
    ss_nats_subs_destroy(&r->subs);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
fail:
    ss_htab_free(&r->pending);
    free(r);
    return SS_ERR_INTERNAL;
}

/* Registers e (its callbacks set), publishes the request (with the calling
 * thread's request id in its headers, when it has one) and returns
 * SS_OK (its callback will run) or the error (it never will; e freed). */
static ss_err nats_rpc__send(nats_rpc *r, rpc_entry *e, const char *subject, const void *data,
                             size_t len, int64_t timeout_ms)
{
    e->partitioned = strncmp(subject, SS_SUBJ_STATS_APPLY ".", sizeof(SS_SUBJ_STATS_APPLY)) == 0 ||
                     strncmp(subject, SS_SUBJ_STATS_GET ".", sizeof(SS_SUBJ_STATS_GET)) == 0;
    e->deadline_ms = ss_mono_ms() + timeout_ms;

    pthread_mutex_lock(&r->mu);
    if (r->stopping || r->pending.count >= NATS_RPC_MAX_PENDING) {
        pthread_mutex_unlock(&r->mu);
        free(e->parts);
        free(e);
        return SS_ERR_UNAVAILABLE;
    }
    e->id = r->next_id++;
    ss_htab_add(&r->pending, &e->h, nats_rpc__hash(e->id));
    /* Insert into the deadline list from the tail: timeouts are nearly
     * always equal, so this is O(1) in practice. */
    ss_link *p = r->deadlines.tail;
    while (p && SS_LIST_ENTRY(p, rpc_entry, by_deadline)->deadline_ms > e->deadline_ms)
        p = p->prev;
    ss_list_insert_after(&r->deadlines, p, &e->by_deadline);
    uint64_t id = e->id;
    pthread_mutex_unlock(&r->mu);

    char reply[sizeof(r->prefix) + 24];
    snprintf(reply, sizeof(reply), "%s%" PRIu64, r->prefix, id);
    natsStatus s = ss_reqid_publish(r->nc, subject, reply, data, (int)len, ss_reqid_current());
    if (s != NATS_OK) {
        pthread_mutex_lock(&r->mu);
        rpc_entry *mine = nats_rpc__take(r, id);
        pthread_mutex_unlock(&r->mu);
        if (mine == NULL)
            return SS_OK; /* already completed by the timer; cb was called */
        free(mine->parts); /* nothing gathered yet: it was never sent */
        free(mine);
        return SS_ERR_UNAVAILABLE;
    }
    return SS_OK;
}

ss_err nats_rpc_request(nats_rpc *r, const char *subject, const void *data, size_t len,
                        int64_t timeout_ms, nats_rpc_cb cb, void *arg)
{
    if (natsConnection_Status(r->nc) != NATS_CONN_STATUS_CONNECTED)
        return SS_ERR_UNAVAILABLE;
    rpc_entry *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return SS_ERR_INTERNAL;
    e->cb = cb;
    e->arg = arg;
    return nats_rpc__send(r, e, subject, data, len, timeout_ms);
}

ss_err nats_rpc_gather(nats_rpc *r, const char *subject, const void *data, size_t len,
                       int64_t timeout_ms, size_t max_parts, nats_rpc_enough_fn enough,
                       nats_rpc_gather_cb cb, void *arg)
{
    if (natsConnection_Status(r->nc) != NATS_CONN_STATUS_CONNECTED)
        return SS_ERR_UNAVAILABLE;
    rpc_entry *e = calloc(1, sizeof(*e));
    if (e == NULL || max_parts == 0 || (e->parts = calloc(max_parts, sizeof(*e->parts))) == NULL) {
        free(e);
        return SS_ERR_INTERNAL;
    }
    e->gather_cb = cb;
    e->enough = enough;
    e->max_parts = max_parts;
    e->arg = arg;
    return nats_rpc__send(r, e, subject, data, len, timeout_ms);
}

void *nats_rpc_claim(nats_rpc *r, const char *reply, nats_rpc_cb cb)
{
    uint64_t id = 0;
    if (!nats_rpc__id_of(r, reply, &id))
        return NULL;
    pthread_mutex_lock(&r->mu);
    ss_hnode *n = r->stopping ? NULL : ss_htab_find(&r->pending, nats_rpc__hash(id), &id);
    rpc_entry *e = n ? SS_HTAB_ENTRY(n, rpc_entry, h) : NULL;
    if (e != NULL && (e->gather_cb != NULL || e->cb != cb))
        e = NULL; /* not a request this caller may answer */
    if (e != NULL)
        nats_rpc__unlink(r, e);
    pthread_mutex_unlock(&r->mu);
    if (e == NULL)
        return NULL;
    void *arg = e->arg;
    free(e);
    return arg;
}

size_t nats_rpc_pending(nats_rpc *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->pending.count;
    pthread_mutex_unlock(&r->mu);
    return n;
}

void nats_rpc_stop(nats_rpc *r)
{
    if (r == NULL || r->stopped)
        return;
    r->stopped = true;
    ss_nats_unsubscribe(&r->sub);
    pthread_mutex_lock(&r->mu);
    r->stopping = true; /* no new request, no claim */
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->timer, NULL);
    /* After this no reply callback runs or is queued: what is left can only
     * be failed here. */
    if (!ss_nats_subs_wait(&r->subs, 10000)) {
        ss_log(SS_LOG_ERROR, "nats inbox not released by cnats; keeping the mux", NULL);
        r->leaked = true;
        return;
    }
    for (;;) {
        pthread_mutex_lock(&r->mu);
        rpc_entry *e = nats_rpc__soonest(r);
        if (e)
            nats_rpc__unlink(r, e);
        pthread_mutex_unlock(&r->mu);
        if (e == NULL)
            break;
        nats_rpc__complete(e, SS_ERR_UNAVAILABLE);
    }
}

void nats_rpc_destroy(nats_rpc *r)
{
    if (r == NULL)
        return;
    nats_rpc_stop(r);
    if (r->leaked)
        return; /* cnats may still call into it */
    ss_nats_subs_destroy(&r->subs);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    ss_htab_free(&r->pending);
    free(r);
}
