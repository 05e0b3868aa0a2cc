/* sio_loop.c — the Socket.IO server's event loop: the libwebsockets context
 * on a libev loop the server owns (foreign loop, epoll backend) instead of
 * lws's default poll() loop, which scanned every connection on each turn —
 * about 40 % of the gateway's CPU at 1 000 sockets (tests/load/RESULTS.md);
 * the dispatch of lws callbacks to the transports; start, run and stop.
 *
 * Threads: libwebsockets is called only from the service thread, the one in
 * sio_server_run() (the gateway's main thread). sio_server_run() is ev_run();
 * a stop request is a cancel-service wake-up whose handler ev_break()s the
 * loop on that thread. sio_server_request_stop(): any thread. */
#include "sio_engine.h"

#include <ev.h>

#include "log_redact.h"
#include "ss_log.h"
#include "ss_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(SIO_HEADROOM >= LWS_PRE, "SIO_HEADROOM must leave room for LWS_PRE");

#define SIO_MAX_PAYLOAD 1000000
#define SIO_CONNECT_TIMEOUT_MS 45000
#define SIO_OUTQ_MAX_MSGS 256
#define SIO_OUTQ_MAX_BYTES (4u << 20)
/* lws's receive chunk, allocated per websocket for its whole life: the
 * largest part of an idle socket's memory after lws's own struct. Client
 * packets are small (an update is ~60 bytes); a larger one arrives in
 * several chunks and pss->rx puts it together (sio_websocket.c). 1024 -> 256
 * took an idle connection from 4.06 to 3.30 KB (tests/load/RESULTS.md). */
#define SIO_RX_BUFFER 256
/* The most one send() may carry. lws's default (0) is the receive chunk
 * size, which would split every push and polling answer over 256 bytes
 * into several writes with the rest buffered by lws; a message up to this
 * size goes out in one write. */
#define SIO_TX_PACKET (64u << 10)

static int sio_server__callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                                void *in, size_t len);

static const struct lws_protocols sio_server__protocols[] = {
    {"statsync-socketio", sio_server__callback, sizeof(sio_pss), SIO_RX_BUFFER, 0, NULL, SIO_TX_PACKET},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Which transport function takes which lws callback. */
static const struct {
    enum lws_callback_reasons reason;
    sio_conn_cb cb;
} sio_loop__dispatch[] = {
    {LWS_CALLBACK_HTTP, sio_polling_on_request},
    {LWS_CALLBACK_HTTP_BODY, sio_polling_on_body},
    {LWS_CALLBACK_HTTP_BODY_COMPLETION, sio_polling_on_body_done},
    {LWS_CALLBACK_HTTP_WRITEABLE, sio_polling_on_writeable},
    {LWS_CALLBACK_CLOSED_HTTP, sio_polling_on_closed},
    {LWS_CALLBACK_HTTP_DROP_PROTOCOL, sio_polling_on_closed},
    {LWS_CALLBACK_HTTP_CONFIRM_UPGRADE, sio_ws_on_confirm_upgrade},
    {LWS_CALLBACK_ESTABLISHED, sio_ws_on_established},
    {LWS_CALLBACK_RECEIVE, sio_ws_on_receive},
    {LWS_CALLBACK_SERVER_WRITEABLE, sio_ws_on_writeable},
    {LWS_CALLBACK_CLOSED, sio_ws_on_closed},
};

/* The one lws callback: a thin dispatcher. Sessions closed during it are
 * freed when the outermost callback returns. */
static int sio_server__callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                                void *in, size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    sio_server *s = ctx ? lws_context_user(ctx) : NULL;
    sio_pss *pss = user;
    int rc = 0;
    if (s == NULL)
        return 0;
    s->depth++;
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        sio_handover_drain(s, 0);
        if (atomic_load(&s->stop_requested) && s->loop)
            ev_break(s->loop, EVBREAK_ALL); /* sio_server_run() returns */
        else
            sio_spread_poll(s);
    } else {
        for (size_t i = 0; i < sizeof(sio_loop__dispatch) / sizeof(sio_loop__dispatch[0]); i++)
            if (sio_loop__dispatch[i].reason == reason) {
                rc = sio_loop__dispatch[i].cb(s, wsi, pss, in, len);
                break;
            }
    }
    if (--s->depth == 0)
        sio_sessions_reap(s);
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

static void sio_server__metrics(sio_metrics *m)
{
    const ss_metric_def defs[] = {
        {&m->sessions, SS_METRIC_GAUGE, "statsync_socket_sessions", "Engine.IO sessions open",
         NULL},
        {&m->msgs_out, SS_METRIC_COUNTER, "statsync_socket_messages_total",
         "packets to and from sockets", "direction=\"out\""},
        {&m->overflow, SS_METRIC_COUNTER, "statsync_socket_queue_overflow_total",
         "sockets closed because their output queue was full", NULL},
        {&m->ping_timeouts, SS_METRIC_COUNTER, "statsync_socket_ping_timeouts_total",
         "sockets closed because pongs stopped", NULL},
        {&m->handover_depth, SS_METRIC_GAUGE, "statsync_socket_handover_depth",
         "tasks the Socket.IO thread found handed over to it (last turn)", NULL},
        {&m->handover_waits, SS_METRIC_COUNTER, "statsync_socket_handover_waits_total",
         "hand-overs that waited for the Socket.IO thread (queue at its bound)", NULL},
    };
    ss_metrics_register(defs, sizeof(defs) / sizeof(defs[0]));
}

/* Settings from the gateway's configuration, with the defaults of Node's
 * engine.io for what is not set. */
static void sio_server__settings(sio_server *s, const gw_config *c)
{
    s->ping_interval_ms = c->ping_interval_ms > 0 ? c->ping_interval_ms : 25000;
    s->ping_timeout_ms = c->ping_timeout_ms > 0 ? c->ping_timeout_ms : 20000;
    s->connect_timeout_ms =
        c->socket_connect_timeout_ms > 0 ? c->socket_connect_timeout_ms : SIO_CONNECT_TIMEOUT_MS;
    s->max_payload = SIO_MAX_PAYLOAD;
    s->limits.max_len = SIO_MAX_PAYLOAD;
    s->limits.max_depth = c->json_max_depth > 0 ? (int)c->json_max_depth : 32;
    s->limits.max_elements = c->json_max_elements > 0 ? (size_t)c->json_max_elements : 0;
    s->outq_limits.max_msgs = SIO_OUTQ_MAX_MSGS;
    s->outq_limits.max_bytes = SIO_OUTQ_MAX_BYTES;
}

/* The lws context on our libev loop, listening on the socket port. */
static int sio_server__listen(sio_server *s)
{
    const gw_config *c = &s->gw->cfg;
    lws_set_log_level(LLL_ERR, sio_server__lws_log);
    /* EVFLAG_NOSIGMASK: signals belong to the gateway's signal thread. */
    s->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK);
    if (s->loop == NULL) {
        ss_log(SS_LOG_ERROR, "socket server: cannot create the libev loop", NULL);
        return -1;
    }
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = (int)c->socket_port;
    info.iface = c->bind_address[0] ? c->bind_address : NULL;
    info.protocols = sio_server__protocols;
    info.user = s;
    void *foreign_loops[1] = {s->loop};
    info.foreign_loops = foreign_loops;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_LIBEV;
    info.keepalive_timeout = 30;
    info.max_http_header_data = 8192; /* a JWT may come in the query */
    info.gid = -1;
    info.uid = -1;
    s->ctx = lws_create_context(&info);
    if (s->ctx == NULL) {
        ss_log(SS_LOG_ERROR, "socket server: cannot listen", "{s:i}", "port", (int)c->socket_port);
        return -1;
    }
    return 0;
}

/* What start allocated (and whatever of it exists on a failed start). */
static void sio_server__release(sio_server *s)
{
    if (s->loop) /* after lws_context_destroy: lws's watchers are gone */
        ev_loop_destroy(s->loop);
    sio_buf_unref(s->ping_buf);
    sio_buf_unref(s->noop_buf);
    sio_sessions_free(&s->sessions);
    pthread_cond_destroy(&s->q_room);
    pthread_mutex_destroy(&s->q_mu);
    free(s);
}

int sio_server_start(gateway *gw, const sio_hooks *hooks, sio_server **out)
{
    sio_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    s->gw = gw;
    s->hooks = *hooks;
    sio_server__metrics(&s->m);
    sio_server__settings(s, &gw->cfg);
    pthread_mutex_init(&s->q_mu, NULL);
    pthread_cond_init(&s->q_room, NULL);
    s->q_cap = gw->cfg.handover_max > 0 ? (size_t)gw->cfg.handover_max : 65536;
    size_t len = 0;
    char *mem = eio_encode(EIO_PING, NULL, 0, SIO_HEADROOM, &len);
    s->ping_buf = sio_buf_wrap(mem, len, SIO_BUF_PLAIN);
    mem = eio_encode(EIO_NOOP, NULL, 0, SIO_HEADROOM, &len);
    s->noop_buf = sio_buf_wrap(mem, len, SIO_BUF_PLAIN);
    if (s->ping_buf == NULL || s->noop_buf == NULL || sio_sessions_init(&s->sessions) != 0 ||
        sio_server__listen(s) != 0) {
        if (s->ctx)
            lws_context_destroy(s->ctx);
        sio_server__release(s);
        return -1;
    }
    sio_ping_start(s);
    ss_log(SS_LOG_INFO, "socket server listening", "{s:i,s:I,s:I}", "port",
           (int)gw->cfg.socket_port, "ping_interval_ms", (json_int_t)s->ping_interval_ms,
           "ping_timeout_ms", (json_int_t)s->ping_timeout_ms);
    *out = s;
    return 0;
}

/* A loop turn, for the hooks' on_turn: ev_check at top priority runs first
 * after the poll, ev_prepare just before the loop polls again. The rooms
 * layer corks its NATS publishes in between: one write per turn. */
typedef struct sio_turn {
    ev_check check;
    ev_prepare prepare;
    const sio_hooks *hooks;
    bool open;
} sio_turn;

static void sio_server__turn_begin(struct ev_loop *loop, ev_check *w, int revents)
{
    (void)loop;
    (void)revents;
    sio_turn *t = w->data;
    if (!t->open) {
        t->open = true;
        t->hooks->on_turn(t->hooks->arg, true);
    }
}

static void sio_server__turn_end(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    sio_turn *t = w->data;
    if (t->open) {
        t->open = false;
        t->hooks->on_turn(t->hooks->arg, false);
    }
}

void sio_server_run(sio_server *s)
{
    if (s == NULL)
        return;
    sio_turn t = {.hooks = &s->hooks};
    if (s->hooks.on_turn) {
        ev_check_init(&t.check, sio_server__turn_begin);
        ev_set_priority(&t.check, EV_MAXPRI);
        t.check.data = &t;
        ev_prepare_init(&t.prepare, sio_server__turn_end);
        t.prepare.data = &t;
        ev_check_start(s->loop, &t.check);
        ev_prepare_start(s->loop, &t.prepare);
    }
    if (!atomic_load(&s->stop_requested))
        ev_run(s->loop, 0); /* until the stop wake-up breaks it */
    if (s->hooks.on_turn) {
        ev_check_stop(s->loop, &t.check);
        ev_prepare_stop(s->loop, &t.prepare);
        if (t.open) /* broken out mid-turn */
            s->hooks.on_turn(s->hooks.arg, false);
    }
}

/* Wakes the service thread (its cancel-service callback). Any thread. */
static void sio_server__wake(sio_server *s)
{
    pthread_mutex_lock(&s->q_mu);
    if (!s->q_closed && s->ctx)
        lws_cancel_service(s->ctx);
    pthread_mutex_unlock(&s->q_mu);
}

void sio_server_request_stop(sio_server *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stop_requested, 1);
    sio_server__wake(s);
}

void sio_server_request_close_spread(sio_server *s, int64_t window_ms)
{
    if (s == NULL)
        return;
    if (window_ms <= 0) {
        sio_server_request_stop(s);
        return;
    }
    atomic_store(&s->spread_window_ms, window_ms);
    sio_server__wake(s);
}

void sio_server_stop(sio_server *s)
{
    if (s == NULL || s->stopped)
        return;
    sio_handover_close(s); /* later posts are discarded at once */
    sio_handover_drain(s, 1);
    lws_sul_cancel(&s->tick);
    lws_sul_cancel(&s->spread_timer);
    s->stopped = 1; /* from here no lws call reaches a wsi */
    lws_context_destroy(s->ctx); /* closes every connection (callbacks run) */
    s->ctx = NULL;
    /* polling sessions without a connection at this instant */
    sio_sessions_close_all(s, "shutdown");
    sio_sessions_reap(s);
}

void sio_server_free(sio_server *s)
{
    if (s == NULL)
        return;
    sio_server_stop(s);
    sio_handover_drain(s, 1);
    sio_server__release(s);
}
