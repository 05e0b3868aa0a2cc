/* sio_server.h — the Socket.IO server: Engine.IO v4 / Socket.IO v5 sessions
 * over libwebsockets (HTTP long-polling, websocket, upgrade), with bounded
 * output queues and the Engine.IO ping cycle. It knows nothing of users,
 * rooms or NATS: the layer above (rooms/) hands it hooks at creation and
 * gets every Socket.IO packet, every close and every tick through them.
 *
 *   sio_server_start()         create the lws context, listen on cfg.socket_port
 *   sio_server_run()           the service loop; returns after request_stop
 *   sio_server_request_stop()  any thread (the signal thread)
 *   sio_server_request_close_spread()  any thread: close the sessions
 *                              gradually, then stop (the lame-duck shutdown)
 *   sio_server_stop()          after run(): close every session (on_close runs),
 *                              destroy lws; later posts are discarded
 *   sio_server_free()          after everything that posts to it has stopped
 *
 * Threads: everything here runs on the service thread (the one in
 * sio_server_run(); the hooks too) unless it says "any thread". Other
 * threads hand work over with sio_server_post(). */
#ifndef SIO_SERVER_H
#define SIO_SERVER_H

#include "gateway.h"
#include "sio_session.h"

#include <stdbool.h>

typedef struct sio_server sio_server;

/* A unit of work handed to the service thread. run(s, t) owns t and frees
 * it; s is NULL when the server has stopped (the task is only to be freed:
 * it must then touch nothing but itself). */
typedef struct sio_task {
    struct sio_task *next;
    void (*run)(sio_server *s, struct sio_task *t);
} sio_task;

/* What the layer above is told (service thread; arg is theirs). */
typedef struct sio_hooks {
    void *arg;
    /* the data of one Engine.IO message (a Socket.IO packet) of an open session */
    void (*on_message)(void *arg, sio_server *s, sio_session *ss, const char *data, size_t len);
    /* the session is being freed: forget it */
    void (*on_close)(void *arg, sio_server *s, sio_session *ss);
    /* a few times per ping interval (at most every 100 ms) */
    void (*on_tick)(void *arg, int64_t now_ms);
    /* a loop turn's callbacks begin (true) / the loop is about to poll again (false) */
    void (*on_turn)(void *arg, bool begin);
} sio_hooks;

int sio_server_start(gateway *gw, const sio_hooks *hooks, sio_server **out);
void sio_server_run(sio_server *s);
void sio_server_request_stop(sio_server *s);
/* Any thread. Closes every session, spread evenly over window_ms — each with
 * the close a client reconnects after (its websocket or parked poll ends) —
 * then stops like sio_server_request_stop: sio_server_run() returns once
 * the window has passed or no session is left. Sessions opened meanwhile
 * are closed at the end (sio_server_stop). window_ms <= 0 is
 * sio_server_request_stop. */
void sio_server_request_close_spread(sio_server *s, int64_t window_ms);
void sio_server_stop(sio_server *s);
void sio_server_free(sio_server *s);

/* Any thread. Hands t to the service thread (or runs it with s NULL, to be
 * freed, after stop). */
void sio_server_post(sio_server *s, sio_task *t);

/* Any thread. True while the hand-over queue is at least half full: the
 * service thread is behind (producers may then coalesce what supersedes). */
bool sio_server_behind(sio_server *s);

/* Queues b for the session and wakes its transport. Returns 0, or -1 when the
 * queue is past its bound (the session is then closed). Takes its own ref. */
int sio_server_send(sio_server *s, sio_session *ss, sio_buf *b);
/* Wraps a codec buffer (SIO_HEADROOM headroom) and sends it. */
int sio_server_send_mem(sio_server *s, sio_session *ss, char *mem, size_t len, sio_buf_kind kind);
/* Marks the session closed; it is freed at the end of the current callback. */
void sio_server_close_session(sio_server *s, sio_session *ss, const char *reason);
/* The open session with this id, or NULL (closed meanwhile). */
sio_session *sio_server_find_id(sio_server *s, uint64_t id);
/* The bounds of client JSON in Socket.IO packets. */
const sio_limits *sio_server_limits(const sio_server *s);

/* 20 random base64url characters (like Node's base64id). Any thread. */
void sio_server_random_id(char out[SIO_SID_LEN + 1]);

#endif
