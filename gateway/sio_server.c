/* sio_server.c — the Socket.IO edge: the libwebsockets context and service
 * loop, the session registry, the Engine.IO ping cycle, and the hand-over
 * queue from other threads.
 *
 * Threads: libwebsockets is called only from the service thread (the one in
 * sio_server_run(), the gateway's main thread). cnats delivery threads and the
 * nats_rpc timer thread never touch lws or a session: they build a sio_task,
 * sio_server_post() appends it to `q_head` under `q_mu` and calls
 * lws_cancel_service() when the queue was empty, and the service thread runs
 * every queued task in LWS_CALLBACK_EVENT_WAIT_CANCELLED.
 *
 * Event loop: lws runs on a libev loop the server owns (foreign loop, epoll
 * backend) instead of its default poll() loop, which scanned every connection
 * on each turn — about 40 % of the gateway's CPU at 1 000 sockets (see
 * tests/load/RESULTS.md). sio_server_run() is ev_run(); a stop request is a
 * cancel-service wake-up whose handler ev_break()s the loop on the lws thread.
 *
 * Sessions are freed only at the end of the outermost lws callback (reap), so
 * code that walks a room or a packet batch may close sessions freely. */
#include "sio_server.h"

#include <ev.h>

#include "fanout.h"
#include "presence_client.h"
#include "log_redact.h"
#include "sio_events.h"
#include "ss_log.h"
#include "ss_metrics.h"
#include "ss_nats.h"
#include "ss_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

_Static_assert(SIO_HEADROOM >= LWS_PRE, "SIO_HEADROOM must leave room for LWS_PRE");

#define SIO_MAX_PAYLOAD 1000000
#define SIO_CONNECT_TIMEOUT_MS 45000
#define SIO_OUTQ_MAX_MSGS 256
#define SIO_OUTQ_MAX_BYTES (4u << 20)
#define SIO_RX_BUFFER 1024 /* lws per-connection receive chunk (allocated per websocket) */

static ss_gauge *g_sessions;
static ss_counter *c_overflow;
static ss_counter *c_msgs_out; /* Socket.IO/Engine.IO packets queued or written to sockets */
static ss_counter *c_ping_timeouts;

static int sio_server__callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                                void *in, size_t len);

static const struct lws_protocols sio_server__protocols[] = {
    {"statsync-socketio", sio_server__callback, sizeof(sio_pss), SIO_RX_BUFFER, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- session table --------------------------------------------------------- */

static size_t sio_server__hash_sid(const char *sid)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *sid; sid++)
        h = (h ^ (unsigned char)*sid) * 1099511628211ULL;
    return (size_t)h;
}

static size_t sio_server__hash_id(uint64_t id)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)id;
}

static void sio_table__link(sio_session_table *t, sio_session *ss)
{
    size_t a = sio_server__hash_sid(ss->sid) & (t->nbuckets - 1);
    size_t b = sio_server__hash_id(ss->id) & (t->nbuckets - 1);
    ss->h_sid_next = t->by_sid[a];
    t->by_sid[a] = ss;
    ss->h_id_next = t->by_id[b];
    t->by_id[b] = ss;
}

static int sio_table__grow(sio_session_table *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 1024;
    sio_session **a = calloc(n, sizeof(*a)), **b = calloc(n, sizeof(*b));
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return -1;
    }
    sio_session **old = t->by_id;
    size_t oldn = t->nbuckets;
    free(t->by_sid);
    t->by_sid = a;
    t->by_id = b;
    t->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        sio_session *ss = old[i];
        while (ss) {
            sio_session *next = ss->h_id_next;
            sio_table__link(t, ss);
            ss = next;
        }
    }
    free(old);
    return 0;
}

static void sio_table__remove(sio_session_table *t, sio_session *ss)
{
    sio_session **pp = &t->by_sid[sio_server__hash_sid(ss->sid) & (t->nbuckets - 1)];
    while (*pp && *pp != ss)
        pp = &(*pp)->h_sid_next;
    if (*pp)
        *pp = ss->h_sid_next;
    pp = &t->by_id[sio_server__hash_id(ss->id) & (t->nbuckets - 1)];
    while (*pp && *pp != ss)
        pp = &(*pp)->h_id_next;
    if (*pp)
        *pp = ss->h_id_next;
    t->count--;
}

sio_session *sio_server_find_sid(sio_server *s, const char *sid)
{
    sio_session_table *t = &s->sessions;
    if (t->nbuckets == 0)
        return NULL;
    for (sio_session *ss = t->by_sid[sio_server__hash_sid(sid) & (t->nbuckets - 1)]; ss;
         ss = ss->h_sid_next)
        if (strcmp(ss->sid, sid) == 0)
            return ss->closing ? NULL : ss;
    return NULL;
}

sio_session *sio_server_find_id(sio_server *s, uint64_t id)
{
    sio_session_table *t = &s->sessions;
    if (t->nbuckets == 0)
        return NULL;
    for (sio_session *ss = t->by_id[sio_server__hash_id(id) & (t->nbuckets - 1)]; ss;
         ss = ss->h_id_next)
        if (ss->id == id)
            return ss->closing ? NULL : ss;
    return NULL;
}

/* 15 random bytes as 20 base64url characters (like Node's base64id). */
void sio_server_random_id(char out[SIO_SID_LEN + 1])
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[15];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        uint64_t x = (uint64_t)ss_mono_ns() ^ ((uint64_t)rand() << 32);
        for (size_t i = 0; i < sizeof(r); i++, x = x * 6364136223846793005ULL + 1)
            r[i] = (unsigned char)(x >> 56);
    }
    for (int i = 0, o = 0; i < 15; i += 3) {
        uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
        out[o++] = abc[v & 63];
    }
    out[SIO_SID_LEN] = '\0';
}

/* ---- ping cycle lists ------------------------------------------------------ */

static void sio_list__append(sio_session **head, sio_session **tail, sio_session *ss)
{
    ss->ping_next = NULL;
    ss->ping_prev = *tail;
    if (*tail)
        (*tail)->ping_next = ss;
    else
        *head = ss;
    *tail = ss;
}

static void sio_list__unlink(sio_session **head, sio_session **tail, sio_session *ss)
{
    if (ss->ping_prev)
        ss->ping_prev->ping_next = ss->ping_next;
    else
        *head = ss->ping_next;
    if (ss->ping_next)
        ss->ping_next->ping_prev = ss->ping_prev;
    else
        *tail = ss->ping_prev;
    ss->ping_prev = ss->ping_next = NULL;
}

static void sio_server__ping_unlink(sio_server *s, sio_session *ss)
{
    if (ss->ping_state == SIO_PING_WAIT)
        sio_list__unlink(&s->wait_head, &s->wait_tail, ss);
    else if (ss->ping_state == SIO_PING_PONG)
        sio_list__unlink(&s->pong_head, &s->pong_tail, ss);
    ss->ping_state = SIO_PING_NONE;
}

static void sio_server__schedule_ping(sio_server *s, sio_session *ss, int64_t now)
{
    sio_server__ping_unlink(s, ss);
    ss->deadline_ms = now + s->ping_interval_ms;
    ss->ping_state = SIO_PING_WAIT;
    sio_list__append(&s->wait_head, &s->wait_tail, ss);
}

/* ---- sessions -------------------------------------------------------------- */

sio_session *sio_server_new_session(sio_server *s, sio_transport t, const char *query_token)
{
    if (s->sessions.count + 1 > s->sessions.nbuckets && sio_table__grow(&s->sessions) != 0)
        return NULL;
    sio_session *ss = calloc(1, sizeof(*ss));
    if (ss == NULL)
        return NULL;
    if (query_token && (ss->query_token = strdup(query_token)) == NULL) {
        free(ss);
        return NULL;
    }
    ss->id = ++s->next_session_id;
    /* "<route tag>." first: the edge sends every request of this session here */
    const char *tag = s->gw->cfg.route_tag ? s->gw->cfg.route_tag : "";
    size_t tl = strnlen(tag, SIO_ROUTE_TAG_MAX);
    if (tl > 0) {
        memcpy(ss->sid, tag, tl);
        ss->sid[tl++] = '.';
    }
    do
        sio_server_random_id(ss->sid + tl);
    while (sio_server_find_sid(s, ss->sid) != NULL);
    ss->transport = (uint8_t)t;
    ss->opened_ms = ss_mono_ms();
    sio_table__link(&s->sessions, ss);
    s->sessions.count++;
    sio_server__schedule_ping(s, ss, ss->opened_ms);
    ss_gauge_add(g_sessions, 1);
    return ss;
}

void sio_server_close_session(sio_server *s, sio_session *ss, const char *reason)
{
    if (ss->closing)
        return;
    ss->closing = 1;
    ss_log(SS_LOG_DEBUG, "socket closed", "{s:s,s:s,s:s}", "sid", ss->sid, "reason", reason,
           "user", ss->room ? ss->room->user_id : "");
    sio_server__ping_unlink(s, ss);
    /* the reap list reuses the ping links: a closing session is in no ping list */
    ss->ping_next = s->reap_head;
    s->reap_head = ss;
}

/* Frees closed sessions. Runs only when no lws callback of ours is on the stack. */
static void sio_server__reap(sio_server *s)
{
    while (s->reap_head) {
        sio_session *ss = s->reap_head;
        s->reap_head = ss->ping_next;
        sio_events_on_close(s, ss);
        sio_table__remove(&s->sessions, ss);
        if (ss->ws) {
            sio_pss *pss = lws_wsi_user(ss->ws);
            if (pss)
                pss->session = NULL;
            if (!s->stopped)
                lws_set_timeout(ss->ws, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        }
        if (ss->get) {
            sio_pss *pss = lws_wsi_user(ss->get);
            if (pss) {
                pss->session = NULL;
                pss->answer = SIO_ANSWER_CLOSE;
            }
            if (!s->stopped)
                lws_callback_on_writable(ss->get);
        }
        sio_outq_clear(&ss->outq);
        free(ss->query_token);
        free(ss);
        ss_gauge_add(g_sessions, -1);
    }
}

void sio_server_wake(sio_server *s, sio_session *ss)
{
    if (s->stopped || ss->closing)
        return;
    if (ss->transport == SIO_T_WEBSOCKET && ss->ws)
        lws_callback_on_writable(ss->ws);
    else if (ss->get)
        lws_callback_on_writable(ss->get);
}

/* Writes b at once when it would be the next packet out anyway: a websocket
 * session with nothing queued (so order is kept) and a socket that takes
 * bytes now. That saves the round through poll() for POLLOUT and the
 * SERVER_WRITEABLE callback (one poll() over every connection) per packet.
 * The guard is lws_partial_buffered(), not lws_send_pipe_choked(): the latter
 * is a poll() syscall per packet (one per update at 10 000/s). A write the
 * kernel cannot take whole is kept by lws and finished on POLLOUT; until
 * then lws_partial_buffered() is true and packets queue in outq as before.
 * Returns 1 when b went out (or the write failed and the session is
 * closing), 0 when b is to be queued. */
static int sio_server__write_now(sio_server *s, sio_session *ss, sio_buf *b)
{
    if (s->stopped || ss->transport != SIO_T_WEBSOCKET || ss->ws == NULL ||
        !sio_outq_empty(&ss->outq))
        return 0;
    sio_pss *pss = lws_wsi_user(ss->ws);
    if (pss == NULL || pss->session != ss || pss->probe_reply || lws_partial_buffered(ss->ws))
        return 0;
    if (lws_write(ss->ws, (unsigned char *)sio_buf_data(b), b->len, LWS_WRITE_TEXT) < 0) {
        lws_set_timeout(ss->ws, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        sio_server_close_session(s, ss, "write failed");
    }
    return 1;
}

int sio_server_send(sio_server *s, sio_session *ss, sio_buf *b)
{
    if (ss->closing || b == NULL)
        return -1;
    ss_counter_add(c_msgs_out, 1);
    if (sio_server__write_now(s, ss, b))
        return ss->closing ? -1 : 0;
    sio_outq_rc rc = sio_outq_push(&ss->outq, b, &s->outq_limits);
    if (rc < 0) {
        ss_counter_add(c_overflow, 1);
        ss_log(SS_LOG_WARN, "socket output queue full: closing the socket", "{s:s,s:s,s:i,s:I}",
               "sid", ss->sid, "user", ss->room ? ss->room->user_id : "", "queued",
               (int)ss->outq.count, "bytes", (json_int_t)ss->outq.bytes);
        sio_server_close_session(s, ss, "output queue full");
        return -1;
    }
    sio_server_wake(s, ss);
    return 0;
}

int sio_server_send_mem(sio_server *s, sio_session *ss, char *mem, size_t len, sio_buf_kind kind)
{
    sio_buf *b = sio_buf_wrap(mem, len, kind);
    if (b == NULL)
        return -1;
    int rc = sio_server_send(s, ss, b);
    sio_buf_unref(b);
    return rc;
}

void sio_server_on_eio(sio_server *s, sio_session *ss, struct lws *wsi, const eio_packet *p)
{
    (void)wsi;
    if (ss->closing)
        return;
    switch (p->type) {
    case EIO_PONG:
        if (ss->ping_state == SIO_PING_PONG)
            sio_server__schedule_ping(s, ss, ss_mono_ms());
        break;
    case EIO_PING: { /* v4 clients do not ping; answer anyway */
        size_t len;
        char *m = eio_encode(EIO_PONG, p->data, p->len, SIO_HEADROOM, &len);
        sio_server_send_mem(s, ss, m, len, SIO_BUF_PLAIN);
        break;
    }
    case EIO_CLOSE:
        sio_server_close_session(s, ss, "client close");
        break;
    case EIO_MESSAGE:
        sio_events_on_message(s, ss, p->data, p->len);
        break;
    case EIO_OPEN:
    case EIO_UPGRADE:
    case EIO_NOOP:
        break;
    }
}

/* ---- per-connection receive buffer ------------------------------------------ */

int sio_pss_append(sio_pss *pss, const void *in, size_t len)
{
    if (pss->rx_len + len + 1 > pss->rx_cap) {
        size_t cap = pss->rx_cap ? pss->rx_cap : 4096;
        while (cap < pss->rx_len + len + 1)
            cap *= 2;
        char *n = realloc(pss->rx, cap);
        if (n == NULL)
            return -1;
        pss->rx = n;
        pss->rx_cap = cap;
    }
    memcpy(pss->rx + pss->rx_len, in, len);
    pss->rx_len += len;
    pss->rx[pss->rx_len] = '\0';
    return 0;
}

void sio_pss_rx_free(sio_pss *pss)
{
    free(pss->rx);
    pss->rx = NULL;
    pss->rx_len = 0;
    pss->rx_cap = 0;
}

/* ---- query parameters ------------------------------------------------------ */

static int sio_query__set(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n >= cap)
        return -1;
    memcpy(dst, v, n + 1);
    return 0;
}

void sio_query_read(struct lws *wsi, sio_query *q)
{
    memset(q, 0, sizeof(*q));
    char buf[4096];
    for (int i = 0; i < 32; i++) {
        int n = lws_hdr_copy_fragment(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0) {
            if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) > 0)
                q->bad = 1; /* too long for buf */
            break;
        }
        char *eq = strchr(buf, '=');
        const char *v = eq ? eq + 1 : "";
        if (eq)
            *eq = '\0';
        if (strcmp(buf, "EIO") == 0)
            q->bad |= sio_query__set(q->eio, sizeof(q->eio), v) != 0;
        else if (strcmp(buf, "transport") == 0)
            q->bad |= sio_query__set(q->transport, sizeof(q->transport), v) != 0;
        else if (strcmp(buf, "sid") == 0)
            q->bad |= sio_query__set(q->sid, sizeof(q->sid), v) != 0;
        else if (strcmp(buf, "token") == 0 && q->token == NULL && v[0])
            q->token = strdup(v);
    }
}

void sio_query_free(sio_query *q)
{
    free(q->token);
    q->token = NULL;
}

/* ---- hand-over queue --------------------------------------------------------- */

void sio_server_post(sio_server *s, sio_task *t)
{
    t->next = NULL;
    pthread_mutex_lock(&s->q_mu);
    if (s->q_closed) {
        pthread_mutex_unlock(&s->q_mu);
        t->run(NULL, t);
        return;
    }
    /* One wake per batch: a non-empty queue already has a wake on its way
     * (posted with its first task), and the service thread takes the whole
     * queue in one go when it arrives. Each wake costs the service thread a
     * poll() over every connection. */
    int wake = s->q_head == NULL;
    if (s->q_tail)
        s->q_tail->next = t;
    else
        s->q_head = t;
    s->q_tail = t;
    if (wake)
        lws_cancel_service(s->ctx); /* under q_mu: ctx is not destroyed while q_closed == 0 */
    pthread_mutex_unlock(&s->q_mu);
}

static void sio_server__drain(sio_server *s, int discard)
{
    pthread_mutex_lock(&s->q_mu);
    sio_task *t = s->q_head;
    s->q_head = s->q_tail = NULL;
    pthread_mutex_unlock(&s->q_mu);
    while (t) {
        sio_task *next = t->next;
        t->run(discard ? NULL : s, t);
        t = next;
    }
}

/* ---- lws glue ---------------------------------------------------------------- */

static void sio_server__on_tick(lws_sorted_usec_list_t *sul)
{
    sio_server *s = lws_container_of(sul, sio_server, tick);
    int64_t now = ss_mono_ms();
    while (s->pong_head && s->pong_head->deadline_ms <= now) {
        ss_counter_add(c_ping_timeouts, 1);
        sio_server_close_session(s, s->pong_head, "ping timeout");
    }
    while (s->wait_head && s->wait_head->deadline_ms <= now) {
        sio_session *ss = s->wait_head;
        sio_server__ping_unlink(s, ss);
        if (!ss->connected && now - ss->opened_ms >= s->connect_timeout_ms) {
            sio_server_close_session(s, ss, "no CONNECT in time");
            continue;
        }
        if (sio_server_send(s, ss, s->ping_buf) != 0)
            continue;
        ss->deadline_ms = now + s->ping_timeout_ms;
        ss->ping_state = SIO_PING_PONG;
        sio_list__append(&s->pong_head, &s->pong_tail, ss);
    }
    presence_client_tick(s->presence, now);
    sio_server__reap(s);
    int64_t tick = s->ping_interval_ms / 4;
    if (tick > 100)
        tick = 100;
    if (tick < 5)
        tick = 5;
    lws_sul_schedule(s->ctx, 0, &s->tick, sio_server__on_tick, tick * LWS_US_PER_MS);
}

static int s_depth; /* nesting of our lws callbacks (service thread only) */

static int sio_server__callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                                void *in, size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    sio_server *s = ctx ? lws_context_user(ctx) : NULL;
    sio_pss *pss = user;
    int rc = 0;
    if (s == NULL)
        return 0;
    s_depth++;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        rc = sio_polling_on_request(s, wsi, pss);
        break;
    case LWS_CALLBACK_HTTP_BODY:
        rc = sio_polling_on_body(s, wsi, pss, in, len);
        break;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        rc = sio_polling_on_body_done(s, wsi, pss);
        break;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        rc = sio_polling_on_writeable(s, wsi, pss);
        break;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (pss)
            sio_polling_on_closed(s, wsi, pss);
        break;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        rc = sio_ws_on_confirm_upgrade(s, wsi);
        break;
    case LWS_CALLBACK_ESTABLISHED:
        rc = sio_ws_on_established(s, wsi, pss);
        break;
    case LWS_CALLBACK_RECEIVE:
        rc = sio_ws_on_receive(s, wsi, pss, in, len);
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        rc = sio_ws_on_writeable(s, wsi, pss);
        break;
    case LWS_CALLBACK_CLOSED:
        if (pss)
            sio_ws_on_closed(s, wsi, pss);
        break;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        sio_server__drain(s, 0);
        if (atomic_load(&s->stop_requested) && s->loop)
            ev_break(s->loop, EVBREAK_ALL); /* sio_server_run() returns */
        break;
    default:
        break;
    }
    if (--s_depth == 0)
        sio_server__reap(s);
    return rc;
}

static void sio_server__lws_log(int level, const char *text)
{
    char line[512];
    snprintf(line, sizeof(line), "%s", text);
    log_redact(line); /* lws may quote a request line: no ?token= in our logs */
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    ss_log(level == LLL_ERR ? SS_LOG_ERROR : SS_LOG_WARN, "libwebsockets", "{s:s%}", "line",
           line, n);
}

int sio_server_start(gateway *gw, sio_server **out)
{
    g_sessions = ss_gauge_get("statsync_socket_sessions", "Engine.IO sessions open", NULL);
    c_msgs_out = ss_counter_get("statsync_socket_messages_total", "packets to and from sockets",
                                "direction=\"out\"");
    c_overflow = ss_counter_get("statsync_socket_queue_overflow_total",
                                "sockets closed because their output queue was full", NULL);
    c_ping_timeouts = ss_counter_get("statsync_socket_ping_timeouts_total",
                                     "sockets closed because pongs stopped", NULL);
    sio_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    s->gw = gw;
    s->ping_interval_ms = gw->cfg.ping_interval_ms > 0 ? gw->cfg.ping_interval_ms : 25000;
    s->ping_timeout_ms = gw->cfg.ping_timeout_ms > 0 ? gw->cfg.ping_timeout_ms : 20000;
    s->connect_timeout_ms = gw->cfg.socket_connect_timeout_ms > 0 /* Node's connectTimeout */
                                ? gw->cfg.socket_connect_timeout_ms
                                : SIO_CONNECT_TIMEOUT_MS;
    s->max_payload = SIO_MAX_PAYLOAD;
    s->limits.max_len = SIO_MAX_PAYLOAD;
    s->limits.max_depth = gw->cfg.json_max_depth > 0 ? (int)gw->cfg.json_max_depth : 32;
    s->limits.max_elements = gw->cfg.json_max_elements > 0 ? (size_t)gw->cfg.json_max_elements : 0;
    s->outq_limits.max_msgs = SIO_OUTQ_MAX_MSGS;
    s->outq_limits.max_bytes = SIO_OUTQ_MAX_BYTES;
    pthread_mutex_init(&s->q_mu, NULL);
    size_t len = 0;
    char *mem = eio_encode(EIO_PING, NULL, 0, SIO_HEADROOM, &len);
    s->ping_buf = sio_buf_wrap(mem, len, SIO_BUF_PLAIN);
    mem = eio_encode(EIO_NOOP, NULL, 0, SIO_HEADROOM, &len);
    s->noop_buf = sio_buf_wrap(mem, len, SIO_BUF_PLAIN);
    if (s->ping_buf == NULL || s->noop_buf == NULL || sio_table__grow(&s->sessions) != 0)
        goto fail;
    if (fanout_create(&s->fanout, s) != 0)
        goto fail;
    if (presence_client_create(&s->presence, s) != 0)
        goto fail;

    lws_set_log_level(LLL_ERR, sio_server__lws_log);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = (int)gw->cfg.socket_port;
    info.iface = gw->cfg.bind_address[0] ? gw->cfg.bind_address : NULL;
    info.protocols = sio_server__protocols;
    info.user = s;
    /* EVFLAG_NOSIGMASK: signals belong to the gateway's signal thread. */
    s->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK);
    if (s->loop == NULL) {
        ss_log(SS_LOG_ERROR, "socket server: cannot create the libev loop", NULL);
        goto fail;
    }
    void *foreign_loops[1] = {s->loop};
    info.foreign_loops = foreign_loops;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_LIBEV;
    info.keepalive_timeout = 30;
    info.max_http_header_data = 8192; /* a JWT may come in the query */
    info.gid = -1;
    info.uid = -1;
    s->ctx = lws_create_context(&info);
    if (s->ctx == NULL) {
        ss_log(SS_LOG_ERROR, "socket server: cannot listen", "{s:i}", "port",
               (int)gw->cfg.socket_port);
        goto fail;
    }
    lws_sul_schedule(s->ctx, 0, &s->tick, sio_server__on_tick, 10 * LWS_US_PER_MS);
    ss_log(SS_LOG_INFO, "socket server listening", "{s:i,s:I,s:I}", "port",
           (int)gw->cfg.socket_port, "ping_interval_ms", (json_int_t)s->ping_interval_ms,
           "ping_timeout_ms", (json_int_t)s->ping_timeout_ms);
    *out = s;
    return 0;
fail:
    if (s->loop)
        ev_loop_destroy(s->loop);
    fanout_destroy(s->fanout); /* first: it drops the rooms' presence subscriptions too */
    presence_client_destroy(s->presence);
    sio_buf_unref(s->ping_buf);
    sio_buf_unref(s->noop_buf);
    free(s->sessions.by_sid);
    free(s->sessions.by_id);
    pthread_mutex_destroy(&s->q_mu);
    free(s);
    return -1;
}

/* One loop turn's NATS publishes (requests, presence joins) leave in one
 * write: cork when the turn's callbacks start (ev_check at top priority runs
 * first after the poll), uncork just before the loop polls again. Without it
 * each publish woke the NATS I/O thread on its own: at 20 000 updates/s that
 * was a wake-up and a write(2) per update. */
typedef struct sio_cork {
    ev_check check;
    ev_prepare prepare;
    ss_nats *nats;
    bool corked;
} sio_cork;

static void sio_server__cork(struct ev_loop *loop, ev_check *w, int revents)
{
    (void)loop;
    (void)revents;
    sio_cork *c = w->data;
    if (!c->corked) {
        ss_nats_batch(c->nats, true);
        c->corked = true;
    }
}

static void sio_server__uncork(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    sio_cork *c = w->data;
    if (c->corked) {
        c->corked = false;
        ss_nats_batch(c->nats, false);
    }
}

void sio_server_run(sio_server *s)
{
    if (s == NULL)
        return;
    sio_cork c = {.nats = s->gw->nats};
    ev_check_init(&c.check, sio_server__cork);
    ev_set_priority(&c.check, EV_MAXPRI);
    c.check.data = &c;
    ev_prepare_init(&c.prepare, sio_server__uncork);
    c.prepare.data = &c;
    ev_check_start(s->loop, &c.check);
    ev_prepare_start(s->loop, &c.prepare);
    if (!atomic_load(&s->stop_requested))
        ev_run(s->loop, 0); /* until the stop wake-up breaks it */
    ev_check_stop(s->loop, &c.check);
    ev_prepare_stop(s->loop, &c.prepare);
    if (c.corked) /* broken out mid-turn */
        ss_nats_batch(c.nats, false);
}

void sio_server_request_stop(sio_server *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stop_requested, 1);
    pthread_mutex_lock(&s->q_mu);
    if (!s->q_closed && s->ctx)
        lws_cancel_service(s->ctx);
    pthread_mutex_unlock(&s->q_mu);
}

void sio_server_stop(sio_server *s)
{
    if (s == NULL || s->stopped)
        return;
    fanout_stop(s->fanout); /* no more change events from NATS */
    presence_client_stop(s->presence);
    pthread_mutex_lock(&s->q_mu);
    s->q_closed = 1; /* later posts are discarded at once */
    pthread_mutex_unlock(&s->q_mu);
    sio_server__drain(s, 1);
    lws_sul_cancel(&s->tick);
    s->stopped = 1; /* from here no lws call reaches a wsi */
    lws_context_destroy(s->ctx); /* closes every connection (callbacks run) */
    s->ctx = NULL;
    /* polling sessions without a connection at this instant */
    for (size_t i = 0; i < s->sessions.nbuckets; i++)
        for (sio_session *ss = s->sessions.by_id[i]; ss; ss = ss->h_id_next)
            if (!ss->closing) {
                ss->ws = NULL;
                ss->get = NULL;
                sio_server_close_session(s, ss, "shutdown");
            }
    sio_server__reap(s);
}

void sio_server_free(sio_server *s)
{
    if (s == NULL)
        return;
    sio_server_stop(s);
    sio_server__drain(s, 1);
    if (s->loop) /* after lws_context_destroy: lws's watchers are gone */
        ev_loop_destroy(s->loop);
    fanout_destroy(s->fanout); /* first: it drops the rooms' presence subscriptions too */
    presence_client_destroy(s->presence);
    sio_buf_unref(s->ping_buf);
    sio_buf_unref(s->noop_buf);
    free(s->sessions.by_sid);
    free(s->sessions.by_id);
    pthread_mutex_destroy(&s->q_mu);
    free(s);
}
