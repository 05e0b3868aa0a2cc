/* sio_engine.h — inside the Socket.IO server (gateway/socketio/ only): the
 * server struct and what its files share. Everything outside this folder
 * uses sio_server.h.
 *
 *   sio_loop.c       lws context on our libev loop, callback dispatch, run/stop
 *   sio_sessions.c   session table, open/close/reap, Engine.IO packets in
 *   sio_output.c     output queues, direct websocket writes, wake-ups
 *   sio_ping.c       the ping cycle and the connect timeout (the tick)
 *   sio_handover.c   the queue from other threads into the service thread
 *   sio_spread.c     closing every session spread over a window (shutdown)
 *   sio_request.c    query parameters and receive buffers of a connection
 *   sio_polling.c    HTTP long-polling (+ CORS, refusals, per-IP bounds)
 *   sio_websocket.c  websocket transport and upgrade
 *
 * Threads: service thread only, but for sio_server_post(). */
#ifndef SIO_ENGINE_H
#define SIO_ENGINE_H

#ifndef SIO_ENGINE_INSIDE
#error "sio_engine.h is private to gateway/socketio: include sio_server.h"
#endif

#include "client_addr.h"
#include "sio_server.h"
#include "ss_htab.h"
#include "ss_metrics.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct sio_session_table {
    ss_htab by_sid; /* sio_session.h_sid */
    ss_htab by_id;  /* sio_session.h_id */
} sio_session_table;

typedef struct sio_metrics {
    ss_gauge *sessions;
    ss_counter *overflow;
    ss_counter *msgs_out; /* packets queued or written to sockets */
    ss_counter *ping_timeouts;
    ss_gauge *handover_depth;   /* tasks a drain found queued */
    ss_counter *handover_waits; /* posts that waited for room */
} sio_metrics;

struct sio_server {
    gateway *gw;
    sio_hooks hooks;
    struct lws_context *ctx;
    struct ev_loop *loop;     /* ours; lws runs on it as a foreign libev loop (epoll) */
    atomic_int stop_requested;
    int stopped;              /* sio_server_stop() ran: no more lws */
    int depth;                /* nesting of our lws callbacks: reap at 0 */

    /* settings (from the gateway's configuration, see sio_loop.c) */
    int64_t ping_interval_ms;
    int64_t ping_timeout_ms;
    int64_t connect_timeout_ms;
    int64_t max_payload;
    sio_limits limits;
    sio_outq_limits outq_limits;
    sio_metrics m;

    sio_session_table sessions;
    uint64_t next_session_id;
    /* ping cycle: two FIFO lists ordered by deadline (constant intervals) */
    ss_list ping_wait;                   /* next ping due       */
    ss_list ping_pong;                   /* pong due            */
    ss_list reaping;                     /* closed, to be freed */
    sio_buf *ping_buf, *noop_buf;
    lws_sorted_usec_list_t tick;         /* the ping-cycle timer */

    /* closing spread over a window (sio_spread.c) */
    _Atomic int64_t spread_window_ms;    /* requested by any thread; 0 = not requested */
    bool spreading;                      /* the close has begun */
    int64_t spread_start_ms;             /* monotonic */
    size_t spread_total;                 /* sessions open when it began */
    size_t spread_closed;                /* closed by it so far */
    lws_sorted_usec_list_t spread_timer;

    /* hand-over queue (any thread -> service thread) */
    pthread_mutex_t q_mu;
    pthread_cond_t q_room;    /* posts waiting for the queue to drain */
    sio_task *q_head, *q_tail;
    size_t q_depth, q_cap;    /* tasks queued; the most that may wait */
    int q_closed;
};

/* sio_pss.answer: what a connection is to be answered with */
#define SIO_ANSWER_CLOSE 1    /* GET: the session is gone (a close packet) */
#define SIO_ANSWER_413 2      /* POST: past maxPayload                     */
#define SIO_ANSWER_EIO_ERR 10 /* POST: 400 with Engine.IO code (answer - 10) */

/* Per-connection user data (lws per_session_data): points at the session. */
typedef enum sio_conn_kind {
    SIO_CONN_NONE = 0,
    SIO_CONN_GET,   /* a parked polling GET                  */
    SIO_CONN_POST,  /* a polling POST reading its body       */
    SIO_CONN_WS,    /* a websocket (transport or probe)      */
} sio_conn_kind;

typedef struct sio_pss {
    sio_session *session;  /* NULL once the session is gone */
    char *rx;              /* partial message / POST body, or NULL */
    size_t rx_len;
    size_t rx_cap;
    uint8_t kind;          /* sio_conn_kind */
    uint8_t answer;        /* SIO_ANSWER_* or 0 */
    uint8_t probe_reply;   /* WS probe: "3probe" to send */
    uint8_t rx_refused;    /* rest of the current message is dropped */
    uint8_t rl_pending;    /* counted in the per-IP cap of open polling requests */
    char rl_ip[64 + 1];    /* that count's key (rl_ip_key form, RL_IP_KEY_MAX) */
    char sid[SIO_SID_MAX + 1];
} sio_pss;

/* sio_sessions.c */
int sio_sessions_init(sio_session_table *t);
void sio_sessions_free(sio_session_table *t);
sio_session *sio_server_new_session(sio_server *s, sio_transport t, const char *query_token);
sio_session *sio_server_find_sid(sio_server *s, const char *sid);
/* Frees closed sessions (on_close first). Only when no callback of ours runs. */
void sio_sessions_reap(sio_server *s);
/* Closes every session that is still open (shutdown). */
void sio_sessions_close_all(sio_server *s, const char *reason);
/* One Engine.IO packet arrived for the session (GET/POST/WS). */
void sio_server_on_eio(sio_server *s, sio_session *ss, const eio_packet *p);

/* sio_output.c */
void sio_server_wake(sio_server *s, sio_session *ss);

/* sio_ping.c */
void sio_ping_schedule(sio_server *s, sio_session *ss, int64_t now);
void sio_ping_unlink(sio_server *s, sio_session *ss);
void sio_ping_on_pong(sio_server *s, sio_session *ss);
/* Starts the tick (ping cycle, connect timeout, hooks.on_tick). */
void sio_ping_start(sio_server *s);

/* sio_spread.c */
/* In the cancel-service wake-up: begins the spread close once requested. */
void sio_spread_poll(sio_server *s);

/* sio_handover.c */
/* Runs (or, discard: frees) every task queued so far. */
void sio_handover_drain(sio_server *s, int discard);
/* No more tasks: later posts are freed at once. */
void sio_handover_close(sio_server *s);

/* The lws callbacks of a connection, one signature for all (sio_loop.c
 * dispatches by reason); pss may be NULL for the close callbacks. */
typedef int (*sio_conn_cb)(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in,
                           size_t len);

/* sio_polling.c: HTTP (polling, CORS, refusals) */
int sio_polling_on_request(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in,
                           size_t len);
int sio_polling_on_body(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in, size_t len);
int sio_polling_on_body_done(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in,
                             size_t len);
int sio_polling_on_writeable(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in,
                             size_t len);
int sio_polling_on_closed(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in,
                          size_t len);
/* Answers a parked GET with whatever is queued (or a noop). */
void sio_polling_flush(sio_server *s, sio_session *ss);
/* A whole HTTP response with the CORS headers. complete = end the transaction
 * (returns 0 / -1 for the callback); 0 = leave that to lws (returns 1). */
int sio_http_respond(struct lws *wsi, unsigned status, const char *ctype, const char *body,
                     size_t len, int preflight, int complete);
/* 400 {"code":code,"message":…} as Engine.IO sends it. */
int sio_http_error(struct lws *wsi, int code, int complete);
/* 429 with Retry-After and {"error":{"code":"rate_limited","message"}};
 * what: "new connections", ... (static text for the message). */
int sio_http_rate_limited(struct lws *wsi, const char *what, int64_t wait_ms, int complete);
/* The client's address of wsi: its peer, or X-Forwarded-For's answer when the
 * peer is a trusted proxy (client_addr.h). */
void sio_client_ip(sio_server *s, struct lws *wsi, char out[CLIENT_ADDR_MAX]);
/* The per-IP handshake limit for a new session from wsi's client: 0 = go on,
 * else the wait in ms (0 for an address on the exempt list). */
int64_t sio_http_handshake_limit(sio_server *s, struct lws *wsi);

/* sio_websocket.c */
int sio_ws_on_confirm_upgrade(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in,
                              size_t len);
int sio_ws_on_established(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in,
                          size_t len);
int sio_ws_on_receive(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in, size_t len);
int sio_ws_on_writeable(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in, size_t len);
int sio_ws_on_closed(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in, size_t len);

/* sio_request.c */
/* Appends to pss->rx, growing it geometrically. Returns 0 or -1 (no memory). */
int sio_pss_append(sio_pss *pss, const void *in, size_t len);
void sio_pss_rx_free(sio_pss *pss);

/* Query parameters of an Engine.IO request (the URL decoded). */
typedef struct sio_query {
    char eio[4];
    char transport[16];
    char sid[SIO_SID_MAX + 2];
    char *token;     /* malloc'ed or NULL */
    int bad;         /* an over-long or repeated parameter */
} sio_query;
void sio_query_read(struct lws *wsi, sio_query *q);
void sio_query_free(sio_query *q);

#endif
