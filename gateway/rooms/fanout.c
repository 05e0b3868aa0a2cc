/* fanout.c — user rooms and the fan-out of change events to sockets.
 *
 * Threads and hand-over: the NATS subscription callback fanout__on_change()
 * runs on a cnats delivery thread. It never touches a room, a session or
 * libwebsockets: it decodes the ChangeEvent, writes the document's JSON text
 * once (stats_json_doc_text) and user:data:updated around it (a refcounted
 * sio_buf with LWS_PRE headroom), and — when the event answers one of this
 * gateway's socket updates (reply_to) — claims that request from nats_rpc;
 * then hands it all to the lws service thread through sio_server_post() — a
 * mutex-guarded queue plus lws_cancel_service(). The service thread
 * (fanout__deliver) then queues references to the same bytes on every socket
 * of the room, and sends the claimed request's ack, which embeds the same
 * document text; user:update is made there, once, only if some socket other
 * than the writer's gets it (one device per user, the common case, never
 * pays for it). Everything else in this file runs on the service thread
 * only.
 *
 * Subscriptions follow the rooms: statsync.user.<userId>.* (the user's
 * change events and presence updates, one subscription: its memory is a
 * room's largest part) is
 * subscribed when the first local socket of the user joins, and dropped when
 * the last one leaves — or, when a request whose answer is to come in an
 * event is pinned on the room (fanout_pin), when that request completes. An event for a user whose room is gone by the time it
 * is delivered is dropped. A socket only ever sits in the room of the user its
 * token named, so nothing of one user reaches another user's socket. */
#include "fanout.h"

#include "nats_rpc.h"
#include "presence_client.h"
#include "rooms_internal.h"
#include "sio_events.h"
#include "ss_htab.h"
#include "ss_log.h"
#include "ss_metrics.h"
#include "ss_nats_subs.h"
#include "ss_partition.h"
#include "ss_subjects.h"
#include "stats_json.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fanout {
    rooms *r;
    gateway *gw;
    bool stopped;      /* fanout_stop() ran: no new subscription */
    ss_htab rooms;     /* sio_room by user_id */
    char my_prefix[96]; /* "<gatewayId>/" — origins of this gateway's sockets */
    size_t my_prefix_len;
    ss_nats_subs subs; /* the rooms' change subscriptions, until cnats is done with them */
    /* change events handed to the service thread and not yet delivered, by
     * user: a newer one replaces the queued one (cnats threads + service
     * thread, under pending_mu) */
    pthread_mutex_t pending_mu;
    ss_htab pending;
};

/* What a change event pushes: the user:data:updated packet, and what
 * user:update is made of (on first use) — the document's JSON text, encoded
 * once, which the packet, user:update and the ack all embed. */
typedef struct fanout_payload {
    uint64_t version;  /* of the document */
    char origin[128];  /* "<gatewayId>/<socketId>" of the writer, or "" */
    sio_buf *doc;      /* user:data:updated */
    char *doc_text;    /* the document's JSON text (stats_json_doc_text) */
    size_t doc_text_len;
    char *delta_text;  /* the combined delta's JSON text; NULL: null (a full write) */
    const char *source; /* "rest", "socket", "unknown" */
} fanout_payload;

typedef struct fanout_task {
    sio_task task;
    ss_hnode h;       /* in f->pending while queued */
    fanout *f;
    char user_id[SS_USERID_MAX + 1];
    fanout_payload p;
    void *claim; /* the user:clientUpdate this event answers (sio_events_claim), or NULL */
} fanout_task;

static ss_counter *c_events;
static ss_counter *c_deliveries;
static ss_counter *c_resyncs;
static ss_counter *c_superseded;

static void fanout__task_free(fanout_task *t);

static bool fanout__task_eq(const ss_hnode *n, const void *user_id)
{
    return strcmp(SS_HTAB_ENTRY(n, fanout_task, h)->user_id, user_id) == 0;
}

/* Hands t over. While the service thread is behind (its queue half full) and
 * a change event of the same user is still queued, the newer of the two
 * takes that one's place instead (documents supersede by version per user):
 * a stalled service thread then holds at most one per user, whose stats are
 * exact and whose user:update delta is the newest change's. Otherwise every
 * change is delivered on its own. cnats delivery thread. */
static void fanout__hand_over(fanout *f, fanout_task *t)
{
    uint64_t hash = ss_hash(SS_HASH_INIT, t->user_id, strlen(t->user_id));
    pthread_mutex_lock(&f->pending_mu);
    ss_hnode *n = ss_htab_find(&f->pending, hash, t->user_id);
    fanout_task *q = n ? SS_HTAB_ENTRY(n, fanout_task, h) : NULL; /* the user's latest queued */
    /* A task that answers a request (claim) is never merged: its ack carries
     * its own document (one per request in flight, as a reply would be). */
    if (q != NULL && t->claim == NULL && q->claim == NULL && sio_server_behind(f->r->s)) {
        if (t->p.version > q->p.version) { /* the payloads change places: t frees the old */
            /* The payload only, never `*q` whole: q->task.next belongs to the
             * hand-off queue (q_mu), which other threads append to meanwhile. */
            fanout_payload old = q->p;
            q->p = t->p;
            t->p = old;
        }
        pthread_mutex_unlock(&f->pending_mu);
        ss_counter_add(c_superseded, 1);
        fanout__task_free(t);
        return;
    }
    if (q != NULL)
        ss_htab_del(&f->pending, &q->h); /* still queued; t is the latest now */
    ss_htab_add(&f->pending, &t->h, hash);
    pthread_mutex_unlock(&f->pending_mu);
    sio_server_post(f->r->s, &t->task); /* outside the lock: it may run t at once */
}

static bool fanout__room_eq(const ss_hnode *n, const void *user_id)
{
    return strcmp(SS_HTAB_ENTRY(n, sio_room, h)->user_id, user_id) == 0;
}

static uint64_t fanout__hash(const char *user_id)
{
    return ss_hash(SS_HASH_INIT, user_id, strlen(user_id));
}

static sio_room *fanout__find(const fanout *f, const char *user_id)
{
    ss_hnode *n = ss_htab_find(&f->rooms, fanout__hash(user_id), user_id);
    return n ? SS_HTAB_ENTRY(n, sio_room, h) : NULL;
}

/* ---- cnats delivery thread ----------------------------------------------------- */

/* Frees t; its claim, if any, must have been answered (fanout__deliver). */
static void fanout__task_free(fanout_task *t)
{
    sio_buf_unref(t->p.doc);
    free(t->p.doc_text);
    free(t->p.delta_text);
    free(t);
}

static void fanout__deliver(sio_server *s, sio_task *task);

static const char *fanout__source(Statsync__Source src)
{
    return src == STATSYNC__SOURCE__SOURCE_REST     ? "rest"
           : src == STATSYNC__SOURCE__SOURCE_SOCKET ? "socket"
                                                    : "unknown";
}

/* The task of a decoded event of the subject's user: the document's text
 * (once), user:data:updated made of it, the delta's text for user:update,
 * and — when the event answers a request of this gateway (reply_to) — that
 * request, taken out of nats_rpc. NULL when out of memory (nothing claimed). */
static fanout_task *fanout__task_make(fanout *f, const Statsync__ChangeEvent *ev)
{
    fanout_task *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->p.doc_text = stats_json_doc_text(ev->doc, &t->p.doc_text_len)) == NULL)
        goto fail;
    static const char open[] = "[\"user:data:updated\",";
    sio_text parts[] = {{open, sizeof(open) - 1}, {t->p.doc_text, t->p.doc_text_len}, {"]", 1}};
    size_t len = 0;
    char *m = sio_encode_text(SIO_EVENT, -1, parts, 3, SIO_HEADROOM, &len);
    if ((t->p.doc = sio_buf_wrap(m, len, SIO_BUF_DOC)) == NULL)
        goto fail;
    t->p.version = t->p.doc->version = ev->doc->version;
    if (ev->delta != NULL) {
        json_t *d = stats_json_from_delta(ev->delta);
        t->p.delta_text = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
        if (t->p.delta_text == NULL)
            goto fail;
    }
    t->p.source = fanout__source(ev->source);
    snprintf(t->user_id, sizeof(t->user_id), "%s", ev->doc->user_id);
    snprintf(t->p.origin, sizeof(t->p.origin), "%s", ev->origin ? ev->origin : "");
    t->task.run = fanout__deliver;
    t->f = f;
    if (ev->reply_to != NULL && ev->reply_to[0] != '\0')
        t->claim = sio_events_claim(f->r, ev->reply_to);
    return t;
fail:
    if (t)
        fanout__task_free(t);
    return NULL;
}

static void fanout__on_change(fanout *f, natsMsg *msg)
{
    const char *subject = natsMsg_GetSubject(msg);
    Statsync__ChangeEvent *ev = statsync__change_event__unpack(
        NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));
    /* the document must be the subject's user: nothing of one user reaches
     * another user's room */
    const char *kind = ev && ev->doc ? ss_subject_user_event_kind(subject, ev->doc->user_id) : NULL;
    if (kind == NULL || strcmp(kind, SS_USER_EV_CHANGED) != 0) {
        ss_log(SS_LOG_WARN, "change event dropped: undecodable or for another user", "{s:s}",
               "subject", subject);
    } else {
        fanout_task *t = fanout__task_make(f, ev);
        if (t != NULL) {
            ss_counter_add(c_events, 1);
            fanout__hand_over(f, t);
        }
    }
    if (ev)
        statsync__change_event__free_unpacked(ev, NULL);
    natsMsg_Destroy(msg);
}

/* statsync.user.<userId>.* of a room (cnats thread): by the subject's last
 * token, a change event (here) or a presence update (presence_client.c). */
static void fanout__on_message(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
                               void *closure)
{
    (void)nc;
    (void)sub;
    fanout *f = closure;
    const char *subject = natsMsg_GetSubject(msg);
    const char *dot = strrchr(subject, '.');
    const char *kind = dot ? dot + 1 : "";
    if (strcmp(kind, SS_USER_EV_CHANGED) == 0) {
        fanout__on_change(f, msg);
    } else if (strcmp(kind, SS_USER_EV_PRESENCE) == 0) {
        presence_client_on_update(f->r->presence, msg);
    } else {
        ss_log(SS_LOG_WARN, "user event of an unknown kind dropped", "{s:s}", "subject", subject);
        natsMsg_Destroy(msg);
    }
}

/* ---- service thread ------------------------------------------------------------ */

void fanout_send(fanout *f, const char *user_id, const char *origin, sio_buf *all,
                 sio_buf *(*others)(void *arg), void *arg)
{
    sio_room *r = fanout__find(f, user_id);
    if (r == NULL)
        return;
    /* The origin names a socket of this gateway: skip it for `others`. */
    const char *origin_sock = NULL;
    if (origin != NULL && strncmp(origin, f->my_prefix, f->my_prefix_len) == 0)
        origin_sock = origin + f->my_prefix_len;
    sio_server *s = f->r->s;
    sio_buf *other = NULL;
    ss_link *next;
    for (ss_link *k = r->members.head; k; k = next) {
        next = k->next; /* a send may close ss; it stays linked until reaped */
        sio_session *ss = SS_LIST_ENTRY(k, sio_session, room_link);
        if (all != NULL)
            sio_server_send(s, ss, all);
        if (others != NULL && (origin_sock == NULL || strcmp(origin_sock, ss->sock_id) != 0)) {
            if (other == NULL && (other = others(arg)) == NULL)
                others = NULL; /* could not be made: the rest get `all` only */
            if (other != NULL)
                sio_server_send(s, ss, other);
        }
        ss_counter_add(c_deliveries, 1);
    }
    sio_buf_unref(other);
}

sio_room *fanout_room(fanout *f, const char *user_id)
{
    return fanout__find(f, user_id);
}

void fanout_each(fanout *f, void (*fn)(void *arg, const sio_room *r, sio_session *ss), void *arg)
{
    ss_htab_iter it;
    for (ss_hnode *n = ss_htab_first(&it, &f->rooms); n; n = ss_htab_next(&it)) {
        sio_room *r = SS_HTAB_ENTRY(n, sio_room, h);
        for (ss_link *k = r->members.head; k; k = k->next)
            fn(arg, r, SS_LIST_ENTRY(k, sio_session, room_link));
    }
}

/* user:update {userId, stats, delta, version, source}, made once, when the
 * first socket other than the writer's gets it (one device per user, the
 * common case, never pays for it); stats is the document's text again. */
static sio_buf *fanout__encode_update(void *arg)
{
    fanout_task *t = arg;
    json_t *u = json_string(t->user_id);
    char *uid = u ? json_dumps(u, JSON_ENCODE_ANY) : NULL;
    json_decref(u);
    if (uid == NULL)
        return NULL;
    char ver[24];
    int vn = snprintf(ver, sizeof(ver), "%" PRId64, (int64_t)t->p.version);
    const char *delta = t->p.delta_text ? t->p.delta_text : "null";
    static const char open[] = "[\"user:update\",{\"userId\":";
    sio_text parts[] = {
        {open, sizeof(open) - 1}, {uid, strlen(uid)},
        {",\"stats\":", 9},       {t->p.doc_text, t->p.doc_text_len},
        {",\"delta\":", 9},       {delta, strlen(delta)},
        {",\"version\":", 11},    {ver, (size_t)vn},
        {",\"source\":\"", 11},   {t->p.source, strlen(t->p.source)},
        {"\"}]", 3},
    };
    size_t len = 0;
    char *m = sio_encode_text(SIO_EVENT, -1, parts, sizeof(parts) / sizeof(parts[0]), SIO_HEADROOM,
                              &len);
    free(uid);
    return sio_buf_wrap(m, len, SIO_BUF_PLAIN);
}

static void fanout__deliver(sio_server *s, sio_task *task)
{
    fanout_task *t = (fanout_task *)task;
    pthread_mutex_lock(&t->f->pending_mu); /* from now on no newer one replaces t's payload */
    ss_htab_del(&t->f->pending, &t->h);     /* false when a later one took its place */
    pthread_mutex_unlock(&t->f->pending_mu);
    if (s != NULL)
        fanout_send(t->f, t->user_id, t->p.origin, t->p.doc, fanout__encode_update, t);
    if (t->claim != NULL) /* the same document's text, encoded once */
        sio_events_answer(s, t->claim, t->user_id, t->p.doc_text, t->p.doc_text_len);
    fanout__task_free(t);
}

/* ---- resync after a NATS outage ----------------------------------------------------- */

typedef struct fanout_resync_req {
    sio_task task;
    fanout *f;
    ss_err err;
    uint8_t *reply;
    size_t reply_len;
    char user_id[SS_USERID_MAX + 1];
} fanout_resync_req;

/* Service thread: the user's current document to every socket of the room. */
static void fanout__resync_run(sio_server *s, sio_task *task)
{
    fanout_resync_req *q = (fanout_resync_req *)task;
    Statsync__StatsReply *rep =
        s != NULL && q->err == SS_OK ? statsync__stats_reply__unpack(NULL, q->reply_len, q->reply)
                                     : NULL;
    if (rep != NULL && rep->status == 200 && rep->doc != NULL &&
        strcmp(rep->doc->user_id, q->user_id) == 0) {
        json_t *doc = stats_json_from_doc(rep->doc);
        size_t len = 0;
        char *m = doc ? sio_encode_event("user:data:updated", doc, SIO_HEADROOM, &len) : NULL;
        sio_buf *b = sio_buf_wrap(m, len, SIO_BUF_DOC);
        if (b != NULL) {
            b->version = rep->doc->version;
            fanout_send(q->f, q->user_id, NULL, b, NULL, NULL);
            ss_counter_add(c_resyncs, 1);
        }
        sio_buf_unref(b);
        json_decref(doc);
    }
    if (rep != NULL)
        statsync__stats_reply__free_unpacked(rep, NULL);
    free(q->reply);
    free(q);
}

/* nats_rpc completion (cnats or timer thread): copy and hand over. */
static void fanout__resync_done(void *arg, ss_err err, const uint8_t *data, size_t len)
{
    fanout_resync_req *q = arg;
    q->err = err;
    if (err == SS_OK && (q->reply = malloc(len ? len : 1)) != NULL) {
        memcpy(q->reply, data, len);
        q->reply_len = len;
    } else if (err == SS_OK) {
        q->err = SS_ERR_INTERNAL;
    }
    sio_server_post(q->f->r->s, &q->task);
}

static void fanout__resync_room(fanout *f, const sio_room *room)
{
    char subject[SS_SUBJECT_MAX];
    Statsync__GetRequest g = STATSYNC__GET_REQUEST__INIT;
    g.user_id = (char *)room->user_id;
    uint8_t buf[SS_USERID_MAX + 16];
    size_t n = statsync__get_request__pack(&g, buf);
    fanout_resync_req *q = calloc(1, sizeof(*q));
    if (q == NULL || !ss_subject_partitioned(subject, sizeof(subject), SS_SUBJ_STATS_GET,
                                             (uint32_t)f->gw->cfg.partition_count,
                                             room->user_id)) {
        free(q);
        return;
    }
    q->task.run = fanout__resync_run;
    q->f = f;
    snprintf(q->user_id, sizeof(q->user_id), "%s", room->user_id);
    if (nats_rpc_request(f->gw->rpc, subject, buf, n, f->gw->cfg.request_timeout_ms,
                         fanout__resync_done, q) != SS_OK)
        free(q); /* the next change event or resync brings it */
}

void fanout_resync(fanout *f)
{
    if (f == NULL || f->stopped)
        return;
    ss_log(SS_LOG_INFO, "NATS is back: resyncing every room", "{s:i}", "rooms",
           (int)f->rooms.count);
    ss_htab_iter it;
    for (ss_hnode *n = ss_htab_first(&it, &f->rooms); n; n = ss_htab_next(&it))
        fanout__resync_room(f, SS_HTAB_ENTRY(n, sio_room, h));
}

int fanout_create(fanout **out, rooms *r)
{
    const ss_metric_def m[] = {
        {&c_events, SS_METRIC_COUNTER, "statsync_socket_change_events_total",
         "change events received for local sockets", NULL},
        {&c_deliveries, SS_METRIC_COUNTER, "statsync_socket_deliveries_total",
         "change events queued to sockets", NULL},
        {&c_resyncs, SS_METRIC_COUNTER, "statsync_socket_resyncs_total",
         "rooms pushed their current document after a NATS outage", NULL},
        {&c_superseded, SS_METRIC_COUNTER, "statsync_socket_change_events_superseded_total",
         "change events replaced by a newer one of the same user before delivery", NULL},
    };
    ss_metrics_register(m, sizeof(m) / sizeof(m[0]));
    fanout *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->r = r;
    f->gw = r->gw;
    if (ss_htab_init(&f->rooms, 1024, fanout__room_eq) != 0) {
        free(f);
        return -1;
    }
    if (ss_htab_init(&f->pending, 1024, fanout__task_eq) != 0) {
        ss_htab_free(&f->rooms);
        free(f);
        return -1;
    }
    pthread_mutex_init(&f->pending_mu, NULL);
    snprintf(f->my_prefix, sizeof(f->my_prefix), "%s/", r->gw->id);
    f->my_prefix_len = strlen(f->my_prefix);
    ss_nats_subs_init(&f->subs);
    *out = f;
    return 0;
}

static void fanout__unsubscribe(sio_room *r)
{
    ss_nats_unsubscribe(&r->sub);
}

/* A room with no socket and no pin: out of the table, unsubscribed, freed. */
static void fanout__drop(fanout *f, sio_room *r)
{
    ss_htab_del(&f->rooms, &r->h);
    fanout__unsubscribe(r);
    free(r);
}

int fanout_join(fanout *f, sio_session *ss, const char *user_id)
{
    if (ss->room != NULL)
        return strcmp(ss->room->user_id, user_id) == 0 ? 0 : -1;
    if (!ss_userid_valid_cstr(user_id))
        return -1;
    sio_room *r = fanout__find(f, user_id);
    if (r == NULL) {
        size_t id_len = strlen(user_id) + 1; /* a valid id: at most SS_USERID_MAX bytes */
        r = calloc(1, sizeof(*r) + id_len);
        if (r == NULL)
            return -1;
        memcpy(r->user_id, user_id, id_len);
        r->presence_devices = -1;
        char subject[SS_SUBJECT_MAX];
        natsStatus st =
            !ss_subject_user_event(subject, sizeof(subject), user_id, SS_USER_EV_ANY)
                ? NATS_INVALID_SUBJECT
            : f->stopped ? NATS_ILLEGAL_STATE
                          : ss_nats_subscribe(&f->subs, &r->sub, f->gw->nc, subject, NULL,
                                              fanout__on_message, f);
        if (st == NATS_OK)
            st = natsSubscription_SetPendingLimits(r->sub, 65536, 256 * 1024 * 1024);
        if (st != NATS_OK) {
            ss_log(SS_LOG_ERROR, "user event subscription failed", "{s:s,s:s}", "user", user_id,
                   "error", natsStatus_GetText(st));
            fanout__unsubscribe(r);
            free(r);
            return -1;
        }
        ss_htab_add(&f->rooms, &r->h, fanout__hash(user_id));
    }
    if (r->count == 0) /* new, or kept for a pinned request (fanout_pin) */
        atomic_fetch_add(&f->gw->users_connected, 1);
    ss->room = r;
    ss_list_push_front(&r->members, &ss->room_link);
    r->count++;
    atomic_fetch_add(&f->gw->sockets_connected, 1);
    presence_client_joined(f->r->presence, ss, user_id);
    return 0;
}

void fanout_leave(fanout *f, sio_session *ss)
{
    sio_room *r = ss->room;
    if (r == NULL)
        return;
    presence_client_left(f->r->presence, ss, r->user_id);
    ss_list_remove(&r->members, &ss->room_link);
    ss->room = NULL;
    r->count--;
    atomic_fetch_sub(&f->gw->sockets_connected, 1);
    if (r->count > 0)
        return;
    atomic_fetch_sub(&f->gw->users_connected, 1);
    if (r->pins > 0) {          /* a request waits for its answer in the room's events */
        r->presence_devices = -1; /* a socket joining meanwhile is as in a new room */
        return;                 /* fanout_unpin drops it */
    }
    fanout__drop(f, r);
}

sio_room *fanout_pin(fanout *f, sio_session *ss)
{
    sio_room *r = ss->room;
    if (r == NULL || r->sub == NULL || f->stopped)
        return NULL;
    r->pins++;
    return r;
}

void fanout_unpin(fanout *f, sio_room *r)
{
    if (r == NULL || --r->pins > 0 || r->count > 0)
        return;
    fanout__drop(f, r);
}

void fanout_stop(fanout *f)
{
    if (f == NULL)
        return;
    f->stopped = true;
    ss_htab_iter it;
    for (ss_hnode *n = ss_htab_first(&it, &f->rooms); n; n = ss_htab_next(&it))
        fanout__unsubscribe(SS_HTAB_ENTRY(n, sio_room, h));
}

void fanout_destroy(fanout *f)
{
    if (f == NULL)
        return;
    fanout_stop(f);
    /* fanout__on_change() uses f: it may still run until cnats is done */
    if (!ss_nats_subs_wait(&f->subs, 10000)) {
        ss_log(SS_LOG_ERROR, "change subscriptions not released by cnats; keeping the rooms", NULL);
        return;
    }
    ss_nats_subs_destroy(&f->subs);
    ss_htab_iter it;
    for (ss_hnode *n = ss_htab_first(&it, &f->rooms); n; n = ss_htab_next(&it))
        free(SS_HTAB_ENTRY(n, sio_room, h)); /* the walk allows freeing what it returned */
    ss_htab_free(&f->rooms);
    ss_htab_free(&f->pending); /* empty: every task was delivered or discarded */
    pthread_mutex_destroy(&f->pending_mu);
    free(f);
}
