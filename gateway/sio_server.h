/* sio_server.h — the Socket.IO edge of the gateway (libwebsockets 4.1).
 *
 * Public part (main.c):
 *   sio_server_start()         create the lws context, listen on cfg.socket_port
 *   sio_server_run()           the lws service loop; returns after request_stop
 *   sio_server_request_stop()  any thread (the signal thread)
 *   sio_server_stop()          after run(): close every session, unsubscribe, destroy lws
 *   sio_server_free()          after nats_rpc_destroy(): completions that still
 *                              arrive until then are discarded, never run
 *
 * Internal part (sio_*.c, fanout.c): the server struct and the helpers the
 * transports (sio_polling.c, sio_websocket.c), the Socket.IO layer
 * (sio_events.c) and the fan-out (fanout.c) share.
 *
 * Threads: libwebsockets is touched only from the service thread (the thread
 * in sio_server_run). Every function below runs there unless it says "any
 * thread". Other threads (cnats delivery, the nats_rpc timer) hand work over
 * with sio_server_post(), which queues a task and calls lws_cancel_service();
 * the service thread runs the queued tasks in LWS_CALLBACK_EVENT_WAIT_CANCELLED. */
#ifndef SIO_SERVER_H
#define SIO_SERVER_H

#include "client_addr.h"
#include "gateway.h"
#include "sio_session.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct sio_server sio_server;

int sio_server_start(gateway *gw, sio_server **out);
void sio_server_run(sio_server *s);
void sio_server_request_stop(sio_server *s);
void sio_server_stop(sio_server *s);
void sio_server_free(sio_server *s);

/* ---- internal ------------------------------------------------------------ */

struct fanout;
struct presence_client;

/* A unit of work handed to the service thread. run(s, t) owns t and frees
 * it; s is NULL when the server has stopped (the task is only to be freed). */
typedef struct sio_task {
    struct sio_task *next;
    void (*run)(sio_server *s, struct sio_task *t);
} sio_task;

typedef struct sio_session_table {
    sio_session **by_sid;
    sio_session **by_id;
    size_t nbuckets; /* power of two */
    size_t count;
} sio_session_table;

struct sio_server {
    gateway *gw;
    struct lws_context *ctx;
    struct ev_loop *loop;     /* ours; lws runs on it as a foreign libev loop (epoll) */
    struct fanout *fanout;
    struct presence_client *presence; /* presence_client.c */
    atomic_int stop_requested;
    int stopped;              /* sio_server_stop() ran: no more lws */

    /* settings (from the environment, see sio_server.c) */
    int64_t ping_interval_ms;
    int64_t ping_timeout_ms;
    int64_t connect_timeout_ms;
    int64_t max_payload;
    sio_limits limits;
    sio_outq_limits outq_limits;

    sio_session_table sessions;
    uint64_t next_session_id;
    /* ping cycle: two FIFO lists ordered by deadline (constant intervals) */
    sio_session *wait_head, *wait_tail;  /* next ping due       */
    sio_session *pong_head, *pong_tail;  /* pong due            */
    sio_session *reap_head;              /* closed, to be freed */
    sio_buf *ping_buf, *noop_buf;
    lws_sorted_usec_list_t tick;         /* the ping-cycle timer */

    /* hand-over queue (any thread -> service thread) */
    pthread_mutex_t q_mu;
    sio_task *q_head, *q_tail;
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

/* sio_server.c */
/* 20 random base64url characters (like Node's base64id). */
void sio_server_random_id(char out[SIO_SID_LEN + 1]);
sio_session *sio_server_new_session(sio_server *s, sio_transport t, const char *query_token);
sio_session *sio_server_find_sid(sio_server *s, const char *sid);
sio_session *sio_server_find_id(sio_server *s, uint64_t id);
/* Queues b for the session and wakes its transport. Returns 0, or -1 when the
 * queue is past its bound (the session is then closed). Takes its own ref. */
int sio_server_send(sio_server *s, sio_session *ss, sio_buf *b);
/* Encodes and sends one packet; convenience over sio_server_send. */
int sio_server_send_mem(sio_server *s, sio_session *ss, char *mem, size_t len, sio_buf_kind kind);
/* Marks the session closed; it is freed at the end of the current callback. */
void sio_server_close_session(sio_server *s, sio_session *ss, const char *reason);
/* One Engine.IO packet arrived for the session on `wsi` (GET/POST/WS). */
void sio_server_on_eio(sio_server *s, sio_session *ss, struct lws *wsi, const eio_packet *p);
/* Any thread. Hands t to the service thread (or discards it after stop). */
void sio_server_post(sio_server *s, sio_task *t);
void sio_server_wake(sio_server *s, sio_session *ss);

/* sio_polling.c */
int sio_polling_on_request(sio_server *s, struct lws *wsi, sio_pss *pss);
int sio_polling_on_body(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in, size_t len);
int sio_polling_on_body_done(sio_server *s, struct lws *wsi, sio_pss *pss);
int sio_polling_on_writeable(sio_server *s, struct lws *wsi, sio_pss *pss);
void sio_polling_on_closed(sio_server *s, struct lws *wsi, sio_pss *pss);
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
int sio_ws_on_confirm_upgrade(sio_server *s, struct lws *wsi);
int sio_ws_on_established(sio_server *s, struct lws *wsi, sio_pss *pss);
int sio_ws_on_receive(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in, size_t len);
int sio_ws_on_writeable(sio_server *s, struct lws *wsi, sio_pss *pss);
void sio_ws_on_closed(sio_server *s, struct lws *wsi, sio_pss *pss);

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
