/* sio_events.c — Socket.IO packets of a session: CONNECT with a JWT,
 * DISCONNECT, and the events of the DESIGN table (§2):
 *
 *   presence:join {userId}     own id only; answers user:data:updated (stats.get)
 *   presence:ping {ts}         presence:pong {userId, ts, serverTime, devices}
 *   user:clientUpdate          {opId?, delta} | {opId?, stats} |
 *                              {ops:[{opId?, delta, clientId?, seq?}]}
 *                              -> Mutation on statsync.stats.apply.<p>.<userId>
 *
 * Envelopes are tolerant, data is strict (DESIGN §2): a payload member not
 * named above (ts, seq, clientId, source, deviceId, ...) is ignored; the
 * members named are validated, and the data — delta, __set, stats, each
 * ops[i] — is refused whole on any unknown field, wrong type or bad value
 * (stats_json.h). An ops[i]'s clientId + seq number the op (exactly-once per
 * client, proto/README.md): both or neither, and the numbered ops of one
 * payload of one client, consecutive.
 *
 * Answers: the ack when the client asked for one ({ok:true, stats} or
 * {ok:false, error:{code, message, status, expectedSeq?}}), else a
 * user:error event {event, error} for a refusal. A refused payload changes
 * nothing and the socket stays usable.
 *
 * Threads: service thread, except events__rpc_done (cnats / nats_rpc timer
 * thread), which only copies the reply and posts it back as a task. */
#include "sio_events.h"

#include "auth.h"
#include "fanout.h"
#include "nats_rpc.h"
#include "presence_client.h"
#include "ratelimit.h"
#include "ss_client_seq.h"
#include "ss_log.h"
#include "ss_metrics.h"
#include "ss_partition.h"
#include "ss_reqid.h"
#include "ss_subjects.h"
#include "ss_time.h"
#include "stats_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIO_MAX_OPS STATS_JSON_MAX_OPS
#define SIO_MAX_INFLIGHT 32

typedef enum events_req_kind { EVENTS_REQ_JOIN, EVENTS_REQ_UPDATE } events_req_kind;

/* One NATS round trip on behalf of a socket. */
typedef struct events_req {
    sio_task task;      /* first: the task is the request */
    sio_server *s;
    rooms *rm;
    sio_room *pin;      /* an update answered by its change event: its pinned room (fanout_pin) */
    uint64_t session_id;
    int64_t ack_id;
    events_req_kind kind;
    ss_err err;
    uint8_t *reply;
    size_t reply_len;
    int64_t t0_ns;      /* when the event arrived, for the latency histogram */
} events_req;

/* Latency from a socket event's arrival to its answer, per event: created
 * by sio_events_init_metrics() before the Socket.IO thread starts, so that both
 * series are on /metrics from the start (a rate() needs the zero). */
static ss_histogram *events__latency_h[2];

void sio_events_init_metrics(void)
{
    events__latency_h[EVENTS_REQ_JOIN] =
        ss_histogram_get("statsync_socket_event_duration_seconds",
                         "socket event arrival to answer (NATS round trip included)",
                         "event=\"presence:join\"");
    events__latency_h[EVENTS_REQ_UPDATE] =
        ss_histogram_get("statsync_socket_event_duration_seconds",
                         "socket event arrival to answer (NATS round trip included)",
                         "event=\"user:clientUpdate\"");
}

static ss_histogram *events__latency(events_req_kind k)
{
    return events__latency_h[k];
}

static const char *events__name(events_req_kind k)
{
    return k == EVENTS_REQ_JOIN ? "presence:join" : "user:clientUpdate";
}

/* ---- answers ------------------------------------------------------------------ */

static void events__emit(sio_server *s, sio_session *ss, const char *event, json_t *arg,
                         sio_buf_kind kind)
{
    size_t len;
    char *m = sio_encode_event(event, arg, SIO_HEADROOM, &len);
    sio_server_send_mem(s, ss, m, len, kind);
}

/* user:data:updated with its version: the output queue keeps only the newest. */
static void events__emit_doc(sio_server *s, sio_session *ss, json_t *doc, uint64_t version)
{
    size_t len;
    char *m = sio_encode_event("user:data:updated", doc, SIO_HEADROOM, &len);
    sio_buf *b = sio_buf_wrap(m, len, SIO_BUF_DOC);
    if (b == NULL)
        return;
    b->version = version;
    sio_server_send(s, ss, b);
    sio_buf_unref(b);
}

static void events__ack(sio_server *s, sio_session *ss, int64_t ack_id, json_t *arg)
{
    size_t len;
    char *m = sio_encode_ack(ack_id, arg, SIO_HEADROOM, &len);
    sio_server_send_mem(s, ss, m, len, SIO_BUF_PLAIN);
}

/* A refusal: the ack {ok:false, error, stats?} or a user:error event;
 * expected_seq > 0 (a seq_gap) goes into the error as expectedSeq. */
static void events__fail(sio_server *s, sio_session *ss, int64_t ack_id, const char *event,
                         const char *code, const char *message, int status, json_t *stats,
                         uint64_t expected_seq)
{
    json_t *err = json_pack("{s:s,s:s,s:i}", "code", code, "message", message, "status", status);
    if (err == NULL) /* message not valid UTF-8: never answer with an empty ack */
        err = json_pack("{s:s,s:s,s:i}", "code", code, "message", "invalid request", "status",
                        status);
    if (err != NULL && expected_seq > 0)
        json_object_set_new(err, "expectedSeq", json_integer((json_int_t)expected_seq));
    if (ack_id >= 0) {
        json_t *a = json_pack("{s:b,s:o}", "ok", 0, "error", err);
        if (stats)
            json_object_set(a, "stats", stats);
        events__ack(s, ss, ack_id, a);
        json_decref(a);
    } else {
        json_t *a = json_pack("{s:s,s:o}", "event", event ? event : "", "error", err);
        events__emit(s, ss, "user:error", a, SIO_BUF_PLAIN);
        json_decref(a);
    }
    ss_log(SS_LOG_DEBUG, "socket request refused", "{s:s,s:s,s:s,s:s}", "sid", ss->sid, "event",
           event ? event : "", "code", code, "message", message);
}

static void events__fail_err(sio_server *s, sio_session *ss, int64_t ack_id, const char *event,
                             ss_err e, const char *message)
{
    events__fail(s, ss, ack_id, event, ss_err_code(e), message, ss_err_http_status(e), NULL, 0);
}

/* A write over the user's rate: {ok:false, error:{code:"rate_limited",
 * message, status:429, retryAfterMs}} (or user:error). The socket stays open. */
static void events__fail_rate(sio_server *s, sio_session *ss, int64_t ack_id, const char *event,
                              int64_t wait_ms)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "too many writes for this user: retry in %lld ms",
             (long long)wait_ms);
    json_t *err = json_pack("{s:s,s:s,s:i,s:I}", "code", ss_err_code(SS_ERR_RATE_LIMITED),
                            "message", msg, "status", 429, "retryAfterMs", (json_int_t)wait_ms);
    json_t *a = ack_id >= 0 ? json_pack("{s:b,s:o}", "ok", 0, "error", err)
                            : json_pack("{s:s,s:o}", "event", event, "error", err);
    if (ack_id >= 0)
        events__ack(s, ss, ack_id, a);
    else
        events__emit(s, ss, "user:error", a, SIO_BUF_PLAIN);
    json_decref(a);
}

static void events__connect_error(sio_server *s, sio_session *ss, const char *nsp,
                                  const char *message)
{
    json_t *d = json_pack("{s:s}", "message", message);
    size_t len;
    char *m = sio_encode(SIO_CONNECT_ERROR, nsp, -1, d, SIO_HEADROOM, &len);
    json_decref(d);
    sio_server_send_mem(s, ss, m, len, SIO_BUF_PLAIN);
}

/* ---- NATS round trips ------------------------------------------------------------ */

/* cnats delivery thread or nats_rpc timer thread: copy and hand over. */
static void events__rpc_done(void *arg, ss_err err, const uint8_t *data, size_t len)
{
    events_req *r = arg;
    r->err = err;
    if (err == SS_OK && len > 0) {
        r->reply = malloc(len);
        if (r->reply == NULL)
            r->err = SS_ERR_INTERNAL;
        else
            memcpy(r->reply, data, len);
        r->reply_len = len;
    }
    sio_server_post(r->s, &r->task);
}

static void events__complete(sio_server *s, sio_session *ss, events_req *r)
{
    const char *event = events__name(r->kind);
    ss_err err = r->err;
    Statsync__StatsReply *rep = NULL;
    if (err == SS_OK) {
        rep = statsync__stats_reply__unpack(NULL, r->reply_len, r->reply);
        if (rep == NULL)
            err = SS_ERR_INTERNAL;
    }
    if (err != SS_OK) {
        events__fail_err(s, ss, r->ack_id, event, err,
                         err == SS_ERR_TIMEOUT       ? "the stats service did not answer in time"
                         : err == SS_ERR_UNAVAILABLE ? "the stats service is unavailable"
                         : err == SS_ERR_PARTITION_UNAVAILABLE
                             ? "no stats-service serves this user's partition now; retry"
                                                     : "internal error");
        return;
    }
    /* Only a join's push and an ack carry the document; an update sent without
     * an ack gets its document through the change event, so skip the encode. */
    json_t *doc = rep->doc && (r->kind == EVENTS_REQ_JOIN || r->ack_id >= 0)
                      ? stats_json_from_doc(rep->doc)
                      : NULL;
    if (rep->status == 200) {
        if (r->kind == EVENTS_REQ_JOIN && doc)
            events__emit_doc(s, ss, doc, rep->doc->version);
        if (r->ack_id >= 0) {
            json_t *a = json_pack("{s:b}", "ok", 1);
            if (doc)
                json_object_set(a, "stats", doc);
            if (rep->has_duplicate && rep->duplicate)
                json_object_set_new(a, "duplicate", json_true());
            events__ack(s, ss, r->ack_id, a);
            json_decref(a);
        }
    } else {
        const char *code = rep->error_code && rep->error_code[0]
                               ? rep->error_code
                               : ss_err_code(ss_err_from_status((int)rep->status));
        const char *msg = rep->error_message && rep->error_message[0] ? rep->error_message : code;
        events__fail(s, ss, r->ack_id, event, code, msg, (int)rep->status, doc,
                     rep->has_expected_seq ? rep->expected_seq : 0);
    }
    json_decref(doc);
    statsync__stats_reply__free_unpacked(rep, NULL);
}

/* A request's answer is due (service thread; s NULL: stopped): its session
 * if still open, its in-flight slot given back and its latency observed
 * (before the answer goes out: a client that reads /metrics after its ack
 * finds the event counted). */
static sio_session *events__req_end(sio_server *s, events_req *r)
{
    sio_session *ss = s != NULL ? sio_server_find_id(s, r->session_id) : NULL;
    if (ss != NULL) {
        ss->inflight--;
        ss_histogram_observe(events__latency(r->kind), ss_mono_ns() - r->t0_ns);
    }
    return ss;
}

static void events__req_free(sio_server *s, events_req *r)
{
    if (s != NULL) /* once stopped the rooms go with the fan-out */
        fanout_unpin(r->rm->fanout, r->pin);
    free(r->reply);
    free(r);
}

static void events__req_run(sio_server *s, sio_task *t)
{
    events_req *r = (events_req *)t;
    sio_session *ss = events__req_end(s, r);
    if (ss != NULL)
        events__complete(s, ss, r);
    events__req_free(s, r);
}

void *sio_events_claim(rooms *r, const char *reply_to)
{
    return nats_rpc_claim(r->gw->rpc, reply_to, events__rpc_done);
}

void sio_events_answer(sio_server *s, void *claimed, const char *user_id, const char *doc_text,
                       size_t doc_len)
{
    events_req *r = claimed;
    sio_session *ss = events__req_end(s, r);
    if (ss != NULL && (r->pin == NULL || strcmp(r->pin->user_id, user_id) != 0)) {
        /* the event is another user's: a stats-service fault */
        ss_log(SS_LOG_ERROR, "change event answered a request of another user", "{s:s}", "user",
               user_id);
        events__fail_err(s, ss, r->ack_id, events__name(r->kind), SS_ERR_INTERNAL,
                         "internal error");
    } else if (ss != NULL && r->ack_id >= 0) {
        static const char open[] = "[{\"ok\":true,\"stats\":";
        sio_text parts[] = {{open, sizeof(open) - 1}, {doc_text, doc_len}, {"}]", 2}};
        size_t len;
        char *m = sio_encode_text(SIO_ACK, r->ack_id, parts, 3, SIO_HEADROOM, &len);
        sio_server_send_mem(s, ss, m, len, SIO_BUF_PLAIN);
    }
    events__req_free(s, r);
}

/* Sends a request for the session (pin: the room whose change event is to
 * answer it, or NULL — given back here when the request cannot be sent);
 * on failure answers the client at once. */
static void events__request(rooms *r, sio_session *ss, events_req_kind kind, int64_t ack_id,
                            const char *subject, const uint8_t *buf, size_t len, sio_room *pin)
{
    sio_server *s = r->s;
    events_req *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        fanout_unpin(r->fanout, pin);
        events__fail_err(s, ss, ack_id, events__name(kind), SS_ERR_INTERNAL, "out of memory");
        return;
    }
    q->task.run = events__req_run;
    q->t0_ns = ss_mono_ns();
    q->s = s;
    q->rm = r;
    q->pin = pin;
    q->session_id = ss->id;
    q->ack_id = ack_id;
    q->kind = kind;
    ss->inflight++;
    ss_err e = nats_rpc_request(r->gw->rpc, subject, buf, len, r->gw->cfg.request_timeout_ms,
                                events__rpc_done, q);
    if (e != SS_OK) {
        ss->inflight--;
        events__req_free(s, q);
        events__fail_err(s, ss, ack_id, events__name(kind), e, "the stats service is unavailable");
    }
}

/* ---- events ---------------------------------------------------------------------- */

static const char *events__user(const sio_session *ss)
{
    return ss->room ? ss->room->user_id : "";
}

static void events__on_join(rooms *r, sio_session *ss, const json_t *arg, int64_t ack_id)
{
    sio_server *s = r->s;
    const char *ev = "presence:join";
    const char *uid = json_string_value(json_object_get(arg, "userId"));
    if (!json_is_object(arg) || uid == NULL) {
        events__fail_err(s, ss, ack_id, ev, SS_ERR_BAD_REQUEST, "expected {userId}");
        return;
    }
    if (strcmp(uid, events__user(ss)) != 0) {
        events__fail_err(s, ss, ack_id, ev, SS_ERR_FORBIDDEN, "you may only join your own room");
        return;
    }
    if (fanout_join(r->fanout, ss, uid) != 0) {
        events__fail_err(s, ss, ack_id, ev, SS_ERR_INTERNAL, "cannot join the room");
        return;
    }
    Statsync__GetRequest g = STATSYNC__GET_REQUEST__INIT;
    g.user_id = (char *)uid;
    uint8_t buf[SS_USERID_MAX + 16];
    size_t len = statsync__get_request__pack(&g, buf);
    char subject[SS_SUBJECT_MAX];
    if (!ss_subject_partitioned(subject, sizeof(subject), SS_SUBJ_STATS_GET,
                                (uint32_t)r->gw->cfg.partition_count, uid)) {
        events__fail_err(s, ss, ack_id, ev, SS_ERR_INVALID_USER_ID,
                         ss_userid_rule_text(ss_userid_check(uid, strlen(uid))));
        return;
    }
    events__request(r, ss, EVENTS_REQ_JOIN, ack_id, subject, buf, len, NULL);
}

/* Through the presence-service (devices across all gateways), answered from
 * local counts when it does not answer in time: presence_client.c. */
static void events__on_ping(rooms *r, sio_session *ss, const json_t *arg, int64_t ack_id)
{
    json_t *ts = json_is_object(arg) ? json_object_get(arg, "ts") : NULL;
    presence_client_ping(r->presence, ss, ts, ack_id);
}

/* ---- the socket's token --------------------------------------------------------- */

/* The monotonic deadline of a token that expires at exp_s (wall clock), with
 * the configured grace; 0 (never) for an exp too far to matter. */
static int64_t events__token_deadline(const rooms *r, int64_t exp_s)
{
    if (exp_s > 4000000000000LL) /* past year 100 000: as good as never */
        return 0;
    int64_t grace = r->gw->cfg.token_grace_ms > 0 ? r->gw->cfg.token_grace_ms : 0;
    return ss_mono_ms() + (exp_s * 1000 - ss_now_ms()) + grace;
}

static bool events__token_expired(const sio_session *ss)
{
    return ss->expires_ms > 0 && ss_mono_ms() >= ss->expires_ms;
}

/* auth:refresh {token} (or the token as a string): a fresh token of the same
 * user replaces the socket's; the ack says {ok:true, exp} or why not. */
static void events__on_refresh(rooms *r, sio_session *ss, const json_t *arg, int64_t ack_id)
{
    sio_server *s = r->s;
    const char *ev = "auth:refresh";
    const char *token = json_is_string(arg) ? json_string_value(arg)
                                            : json_string_value(json_object_get(arg, "token"));
    auth_result ar;
    if (token == NULL || auth_verify(token, r->gw->cfg.jwt_secret, ss_now_ms() / 1000, &ar) !=
                             SS_OK) {
        events__fail_err(s, ss, ack_id, ev, SS_ERR_UNAUTHORIZED,
                         token == NULL ? "expected {token}" : ar.message);
        return;
    }
    if (strcmp(ar.user_id, events__user(ss)) != 0) {
        events__fail_err(s, ss, ack_id, ev, SS_ERR_FORBIDDEN,
                         "the new token is for another user: reconnect instead");
        return;
    }
    ss->expires_ms = events__token_deadline(r, ar.exp_s);
    if (ack_id >= 0) {
        json_t *a = json_pack("{s:b,s:I}", "ok", 1, "exp", (json_int_t)ar.exp_s);
        events__ack(s, ss, ack_id, a);
        json_decref(a);
    }
}

typedef struct events_mut {
    Statsync__Operation ops[SIO_MAX_OPS];
    Statsync__Operation *op_ptrs[SIO_MAX_OPS];
    size_t n;
} events_mut;

static void events_mut__free(events_mut *m)
{
    for (size_t i = 0; i < m->n; i++) {
        if (m->ops[i].kind_case == STATSYNC__OPERATION__KIND_DELTA)
            statsync__delta__free_unpacked(m->ops[i].delta, NULL);
        else if (m->ops[i].kind_case == STATSYNC__OPERATION__KIND_FULL)
            statsync__stats_fields__free_unpacked(m->ops[i].full, NULL);
    }
    m->n = 0;
}

static ss_err events__fail_msg(stats_json_err *e, ss_err err, const char *msg)
{
    e->err = err;
    snprintf(e->message, sizeof(e->message), "%s", msg);
    return err;
}

static ss_err events__own(const char *uid, const char *own, stats_json_err *e)
{
    if (uid != NULL && strcmp(uid, own) != 0)
        return events__fail_msg(e, SS_ERR_FORBIDDEN, "you may only change your own document");
    return SS_OK;
}

/* Appends an operation (its data already parsed; sq: its numbering, NULL:
 * none) and checks the userId the data named, if any, is the socket's own. */
static ss_err events__push_op(events_mut *m, const char *op_id, const stats_json_seq *sq,
                              Statsync__Delta *d, Statsync__StatsFields *full, const char *uid,
                              const char *own, stats_json_err *e)
{
    Statsync__Operation *op = &m->ops[m->n];
    statsync__operation__init(op);
    op->op_id = (char *)op_id;
    if (sq != NULL && sq->client_id != NULL) { /* borrowed from the payload, like op_id */
        op->client_id = (char *)sq->client_id;
        op->has_seq = 1;
        op->seq = sq->seq;
    }
    if (d != NULL) { /* delta and full share a oneof: set only one */
        op->kind_case = STATSYNC__OPERATION__KIND_DELTA;
        op->delta = d;
    } else {
        op->kind_case = STATSYNC__OPERATION__KIND_FULL;
        op->full = full;
    }
    m->op_ptrs[m->n++] = op;
    return events__own(uid, own, e);
}

/* One {opId?, delta}: the payload's own or an ops[i] (sq: its numbering). */
static ss_err events__add_delta(events_mut *m, const json_t *op_id, const json_t *delta,
                                const stats_json_seq *sq, const char *own, stats_json_err *e)
{
    const char *id;
    if (stats_json_op_id(op_id, &id, e) != SS_OK)
        return e->err;
    if (!json_is_object(delta))
        return events__fail_msg(e, SS_ERR_INVALID_TYPE, "delta must be an object");
    Statsync__Delta *d = NULL;
    const char *uid = NULL;
    if (stats_json_to_delta(delta, &d, &uid, e) != SS_OK)
        return e->err;
    return events__push_op(m, id, sq, d, NULL, uid, own, e);
}

/* {opId?, stats}: a full write, always the only op. */
static ss_err events__add_full(events_mut *m, const char *op_id, const json_t *stats,
                               const char *own, stats_json_err *e)
{
    if (!json_is_object(stats))
        return events__fail_msg(e, SS_ERR_INVALID_TYPE, "stats must be an object");
    Statsync__StatsFields *full = NULL;
    const char *uid = NULL;
    if (stats_json_to_full(stats, &full, &uid, e) != SS_OK)
        return e->err;
    return events__push_op(m, op_id, NULL, NULL, full, uid, own, e);
}

/* user:clientUpdate payload -> operations (borrowing opId and clientId
 * strings from arg). Members other than opId, userId, delta, stats, ops are
 * ignored (stats_json_update_envelope; a clientId / seq there too: an op is
 * numbered inside ops[i]); each ops[i] is strict (stats_json_batch_op), and
 * its numbered ops are of one client, in order (ss_client_seqs_of). */
static ss_err events__parse_update(const json_t *arg, const char *own, events_mut *m,
                                   stats_json_err *e)
{
    stats_json_update u;
    if (stats_json_update_envelope(arg, &u, e) != SS_OK)
        return e->err;
    const json_t *uid = json_object_get(arg, "userId");
    if (uid && !json_is_string(uid))
        return events__fail_msg(e, SS_ERR_INVALID_TYPE, "userId must be a string");
    if (events__own(json_string_value(uid), own, e) != SS_OK)
        return e->err;
    const json_t *op_id = json_object_get(arg, "opId");
    if (u.delta)
        return events__add_delta(m, op_id, u.delta, NULL, own, e);
    if (u.stats)
        return events__add_full(m, u.op_id, u.stats, own, e);
    size_t i;
    json_t *op;
    json_array_foreach(u.ops, i, op)
    {
        const json_t *op_op_id, *op_delta;
        stats_json_seq sq;
        if (stats_json_batch_op(op, i, &op_op_id, &op_delta, &sq, e) != SS_OK)
            return e->err;
        if (events__add_delta(m, op_op_id, op_delta, &sq, own, e) != SS_OK)
            return e->err;
    }
    ss_client_seqs numbering;
    if (!ss_client_seqs_of(m->op_ptrs, m->n, &numbering, e->message, sizeof(e->message)))
        return e->err = SS_ERR_BAD_REQUEST;
    return SS_OK;
}

/* Sends m as the socket's Mutation. Its committed change is to be answered
 * by the change event alone (reply_in_event) when the room's subscription is
 * live and so pinned until the answer (fanout_pin); else by a reply. */
static void events__send_update(rooms *r, sio_session *ss, int64_t ack_id, events_mut *m)
{
    const char *own = events__user(ss), *ev = "user:clientUpdate";
    char origin[sizeof(r->gw->id) + SIO_SID_LEN + 2];
    snprintf(origin, sizeof(origin), "%s/%s", r->gw->id, ss->sock_id);
    Statsync__Mutation mu = STATSYNC__MUTATION__INIT;
    mu.user_id = (char *)own;
    mu.n_ops = m->n;
    mu.ops = m->op_ptrs;
    mu.has_source = 1;
    mu.source = STATSYNC__SOURCE__SOURCE_SOCKET;
    mu.origin = origin;
    char subject[SS_SUBJECT_MAX];
    if (!ss_subject_partitioned(subject, sizeof(subject), SS_SUBJ_STATS_APPLY,
                                (uint32_t)r->gw->cfg.partition_count, own)) {
        /* own came from a verified token: cannot happen */
        events__fail_err(r->s, ss, ack_id, ev, SS_ERR_INVALID_USER_ID, "invalid userId");
        return;
    }
    sio_room *pin = r->gw->cfg.reply_in_event ? fanout_pin(r->fanout, ss) : NULL;
    mu.has_reply_in_event = mu.reply_in_event = pin != NULL;
    uint8_t stack[1024];
    size_t len = statsync__mutation__get_packed_size(&mu);
    uint8_t *buf = len <= sizeof(stack) ? stack : malloc(len);
    if (buf == NULL) {
        fanout_unpin(r->fanout, pin);
        events__fail_err(r->s, ss, ack_id, ev, SS_ERR_INTERNAL, "out of memory");
        return;
    }
    statsync__mutation__pack(&mu, buf);
    events__request(r, ss, EVENTS_REQ_UPDATE, ack_id, subject, buf, len, pin);
    if (buf != stack)
        free(buf);
}

static void events__on_update(rooms *r, sio_session *ss, const json_t *arg, int64_t ack_id)
{
    sio_server *s = r->s;
    const char *ev = "user:clientUpdate";
    events_mut *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        events__fail_err(s, ss, ack_id, ev, SS_ERR_INTERNAL, "out of memory");
        return;
    }
    stats_json_err e = {SS_OK, ""};
    if (events__parse_update(arg, events__user(ss), m, &e) != SS_OK)
        events__fail_err(s, ss, ack_id, ev, e.err, e.message);
    else
        events__send_update(r, ss, ack_id, m);
    events_mut__free(m);
    free(m);
}

typedef void (*events_handler)(rooms *r, sio_session *ss, const json_t *arg, int64_t ack_id);

/* The events of a connected socket: what each does and which bounds apply. */
static const struct {
    const char *name;
    events_handler fn;
    bool inflight; /* a NATS round trip: counts against SIO_MAX_INFLIGHT */
    bool write;    /* counts against the user's write rate */
    bool token;    /* refused once the socket's token has run out */
} events__table[] = {
    {"user:clientUpdate", events__on_update, true, true, true},
    {"presence:join", events__on_join, true, false, true},
    {"presence:ping", events__on_ping, false, false, true},
    {"auth:refresh", events__on_refresh, false, false, false},
};

static void events__dispatch(rooms *r, sio_session *ss, const sio_packet *p)
{
    sio_server *s = r->s;
    const char *name = sio_event_name(p);
    size_t i = 0, n = sizeof(events__table) / sizeof(events__table[0]);
    while (i < n && strcmp(events__table[i].name, name) != 0)
        i++;
    if (i == n) {
        events__fail_err(s, ss, p->ack_id, name, SS_ERR_BAD_REQUEST, "unknown event");
        return;
    }
    if (events__table[i].token && events__token_expired(ss)) {
        events__fail_err(s, ss, p->ack_id, name, SS_ERR_TOKEN_EXPIRED,
                         "the token expired: send auth:refresh {token} or reconnect");
        return;
    }
    if (events__table[i].inflight && ss->inflight >= SIO_MAX_INFLIGHT) {
        events__fail_err(s, ss, p->ack_id, name, SS_ERR_RATE_LIMITED,
                         "too many requests in flight on this socket");
        return;
    }
    /* per user, whatever the address: an exempt address never lifts it */
    int64_t wait = events__table[i].write ? ratelimit_take(r->gw->limits, RL_MUTATION,
                                                           events__user(ss), ss_mono_ms())
                                          : 0;
    if (wait > 0) {
        events__fail_rate(s, ss, p->ack_id, name, wait);
        return;
    }
    events__table[i].fn(r, ss, sio_event_arg(p, 0), p->ack_id);
}

/* An event runs as a request of its own (ss_reqid.h), "<socket id>-<n>" for
 * the socket's n-th event: its log lines and NATS requests carry the id. */
static void events__on_event(rooms *r, sio_session *ss, const sio_packet *p)
{
    char rid[SS_REQID_MAX + 1];
    snprintf(rid, sizeof(rid), "%s-%" PRIu32, ss->sock_id, ++ss->events);
    ss_reqid_set(rid);
    events__dispatch(r, ss, p);
    ss_reqid_clear();
}

/* ---- CONNECT / DISCONNECT ------------------------------------------------------------ */

/* Gives back the session's slot of the per-user socket cap, if it holds one. */
static void events__socket_release(rooms *r, sio_session *ss, const char *user)
{
    if (ss->rl_socket) {
        ratelimit_socket_release(r->gw->limits, user);
        ss->rl_socket = 0;
    }
}

static void events__on_connect(rooms *r, sio_session *ss, const sio_packet *p)
{
    sio_server *s = r->s;
    if (strcmp(p->nsp, "/") != 0) {
        events__connect_error(s, ss, p->nsp, "Invalid namespace");
        return;
    }
    if (!ss->connected) {
        const char *token = json_string_value(json_object_get(p->data, "token"));
        if (token == NULL)
            token = ss->query_token;
        if (token == NULL || token[0] == '\0') {
            events__connect_error(s, ss, NULL, "unauthorized: missing token");
            return;
        }
        auth_result ar;
        if (auth_verify(token, r->gw->cfg.jwt_secret, ss_now_ms() / 1000, &ar) != SS_OK) {
            char msg[128];
            snprintf(msg, sizeof(msg), "unauthorized: %s", ar.message);
            events__connect_error(s, ss, NULL, msg);
            return;
        }
        /* per user, whatever the address; refuse the new socket, never
         * close the others */
        if (!ratelimit_socket_acquire(r->gw->limits, ar.user_id)) {
            char msg[96];
            snprintf(msg, sizeof(msg), "too many sockets for this user (at most %lld)",
                     (long long)ratelimit_sockets_per_user(r->gw->limits));
            events__connect_error(s, ss, NULL, msg);
            return;
        }
        ss->rl_socket = 1;
        sio_server_random_id(ss->sock_id);
        if (fanout_join(r->fanout, ss, ar.user_id) != 0) {
            events__socket_release(r, ss, ar.user_id);
            events__connect_error(s, ss, NULL, "internal error");
            return;
        }
        ss->connected = 1;
        ss->expires_ms = events__token_deadline(r, ar.exp_s);
        free(ss->query_token);
        ss->query_token = NULL;
        ss_log(SS_LOG_DEBUG, "socket connected", "{s:s,s:s,s:s}", "sid", ss->sid, "socket",
               ss->sock_id, "user", ar.user_id);
    }
    json_t *d = json_pack("{s:s}", "sid", ss->sock_id);
    size_t len;
    char *m = sio_encode(SIO_CONNECT, NULL, -1, d, SIO_HEADROOM, &len);
    json_decref(d);
    sio_server_send_mem(s, ss, m, len, SIO_BUF_PLAIN);
}

void sio_events_on_message(rooms *r, sio_session *ss, const char *data, size_t len)
{
    sio_server *s = r->s;
    static ss_counter *c_in;
    if (c_in == NULL) /* lws thread only */
        c_in = ss_counter_get("statsync_socket_messages_total", "packets to and from sockets",
                              "direction=\"in\"");
    ss_counter_add(c_in, 1);
    sio_packet p;
    sio_codec_err e = sio_decode(data, len, sio_server_limits(s), &p);
    if (e != SIO_OK) {
        ss_log(SS_LOG_DEBUG, "socket.io packet refused", "{s:s,s:s}", "sid", ss->sid, "error",
               sio_codec_strerror(e));
        /* Answer what can be answered: an event we could read the header of. */
        if (ss->connected && (p.type == SIO_EVENT || p.type == SIO_BINARY_EVENT) &&
            e != SIO_ERR_ACK_ID && e != SIO_ERR_NSP && e != SIO_ERR_TYPE && strcmp(p.nsp, "/") == 0)
            events__fail_err(s, ss, p.ack_id, NULL,
                             e == SIO_ERR_BINARY ? SS_ERR_BAD_REQUEST : SS_ERR_INVALID_JSON,
                             sio_codec_strerror(e));
        return;
    }
    switch (p.type) {
    case SIO_CONNECT:
        events__on_connect(r, ss, &p);
        break;
    case SIO_DISCONNECT:
        if (strcmp(p.nsp, "/") == 0 && ss->connected) {
            events__socket_release(r, ss, events__user(ss));
            fanout_leave(r->fanout, ss);
            ss->connected = 0;
        }
        break;
    case SIO_EVENT:
        if (!ss->connected || strcmp(p.nsp, "/") != 0)
            ss_log(SS_LOG_DEBUG, "event before CONNECT ignored", "{s:s}", "sid", ss->sid);
        else
            events__on_event(r, ss, &p);
        break;
    default: /* ACK, CONNECT_ERROR from a client: nothing asked for them */
        break;
    }
    sio_packet_clear(&p);
}

void sio_events_on_close(rooms *r, sio_session *ss)
{
    events__socket_release(r, ss, events__user(ss));
    if (ss->room)
        fanout_leave(r->fanout, ss);
    ss->connected = 0;
}
