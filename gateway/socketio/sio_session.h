/* sio_session.h — one Engine.IO session (= one Socket.IO client) and its
 * bounded output queue. Pure data structures: no sockets, no locks.
 *
 * Threads: everything here runs on the libwebsockets service thread only
 * (sio_server.c); the one exception is sio_buf_new(), which fanout.c calls on
 * a cnats thread before handing the buffer over through the server's queue.
 *
 * sio_buf: an encoded Engine.IO packet, refcounted so that one encoding of an
 * event is shared by every socket of the user it goes to. The bytes start
 * SIO_HEADROOM bytes into the allocation (room for the websocket frame header
 * libwebsockets writes in front of the payload, LWS_PRE).
 *
 * Output queue: a FIFO of buffer references, bounded in messages and bytes.
 * A newer "document" packet (user:data:updated) supersedes an older queued
 * one: the older is dropped and the newer appended, so the client still gets
 * the latest document last. Past the bound sio_outq_push() refuses and the
 * caller closes the session — the process never blocks on a slow client. */
#ifndef SIO_SESSION_H
#define SIO_SESSION_H

#include "sio_codec.h"
#include "ss_htab.h"
#include "ss_list.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIO_HEADROOM 16 /* >= LWS_PRE; checked in sio_server.c */
#define SIO_SID_LEN 20      /* random characters of a sid */
#define SIO_ROUTE_TAG_MAX 16 /* "<tag>." before them (STATSYNC_ROUTE_TAG) */
#define SIO_SID_MAX (SIO_ROUTE_TAG_MAX + 1 + SIO_SID_LEN)

typedef enum sio_buf_kind {
    SIO_BUF_PLAIN = 0, /* anything else                              */
    SIO_BUF_DOC = 1,   /* user:data:updated: replaces a queued older version */
} sio_buf_kind;

typedef struct sio_buf {
    int refs;          /* service thread only (after the hand-over)  */
    uint8_t kind;      /* sio_buf_kind                                */
    uint64_t version;  /* SIO_BUF_DOC: the document's version         */
    size_t len;        /* packet bytes (after the headroom)           */
    char *mem;         /* SIO_HEADROOM + len (+1 NUL) bytes           */
} sio_buf;

/* Takes ownership of `mem` (a codec buffer with SIO_HEADROOM headroom). refs = 1.
 * Returns NULL (and frees mem) on allocation failure or when mem is NULL. */
sio_buf *sio_buf_wrap(char *mem, size_t len, sio_buf_kind kind);
static inline char *sio_buf_data(const sio_buf *b) { return b->mem + SIO_HEADROOM; }
sio_buf *sio_buf_ref(sio_buf *b);
void sio_buf_unref(sio_buf *b);

typedef struct sio_outq_node {
    struct sio_outq_node *next;
    sio_buf *buf;
} sio_outq_node;

typedef struct sio_outq {
    sio_outq_node *head, *tail;
    uint32_t count;
    size_t bytes;
} sio_outq;

typedef struct sio_outq_limits {
    uint32_t max_msgs;
    size_t max_bytes;
} sio_outq_limits;

typedef enum sio_outq_rc {
    SIO_OUTQ_OK = 0,
    SIO_OUTQ_SUPERSEDED = 1, /* queued; an older document was dropped */
    SIO_OUTQ_STALE = 2,      /* not queued: a queued document is as new or newer */
    SIO_OUTQ_FULL = -1,      /* not queued: past the bound             */
    SIO_OUTQ_NOMEM = -2,
} sio_outq_rc;

/* Queues a reference to b (takes a new ref on success). A document (at most
 * one is ever queued) only ever replaces an older version: pushing one
 * whose version is not newer than the queued one's drops it (SIO_OUTQ_STALE),
 * so a reply read before a concurrent commit never replaces the newer
 * pushed document. */
sio_outq_rc sio_outq_push(sio_outq *q, sio_buf *b, const sio_outq_limits *lim);
/* Removes the head; returns its buffer (the caller owns that reference) or NULL. */
sio_buf *sio_outq_pop(sio_outq *q);
static inline bool sio_outq_empty(const sio_outq *q) { return q->head == NULL; }
void sio_outq_clear(sio_outq *q);

/* Engine.IO transport of a session. */
typedef enum sio_transport {
    SIO_T_POLLING = 0,
    SIO_T_WEBSOCKET = 1,
} sio_transport;

struct lws;
struct sio_room;

/* Where a session is in the ping cycle (sio_server.c keeps two FIFO lists). */
typedef enum sio_ping_state {
    SIO_PING_NONE = 0,
    SIO_PING_WAIT,  /* next ping due at `deadline_ms`        */
    SIO_PING_PONG,  /* ping sent; pong due by `deadline_ms`  */
} sio_ping_state;

typedef struct sio_session {
    uint64_t id;                   /* handle for async completions (never reused) */
    char sid[SIO_SID_MAX + 1];     /* Engine.IO session id: [<route tag>.]<random>  */
    char sock_id[SIO_SID_LEN + 1]; /* Socket.IO socket id (sent in 40{"sid"})      */
    uint8_t transport;             /* sio_transport                               */
    uint8_t upgrading;             /* a probe websocket answered 3probe           */
    uint8_t connected;             /* past Socket.IO CONNECT                      */
    uint8_t closing;               /* being torn down                             */
    uint8_t ping_state;            /* sio_ping_state                              */
    uint16_t inflight;             /* NATS requests awaiting a reply              */
    uint32_t events;               /* events received: the n of their request ids */
    uint8_t rl_socket;             /* holds a slot of the per-user socket cap     */

    struct lws *ws;       /* the websocket (transport or probe), or NULL     */
    struct lws *get;      /* the pending polling GET, or NULL                */
    char *query_token;    /* ?token= of the handshake, until CONNECT         */

    sio_outq outq;
    int64_t deadline_ms;  /* monotonic; meaning by ping_state */
    int64_t opened_ms;    /* monotonic; CONNECT must come in time */
    int64_t expires_ms;   /* monotonic; 0 = never: closed at its next ping after */

    struct sio_room *room;                /* the user's room once connected */
    ss_link room_link;  /* in its room's members (rooms/)             */
    ss_link ping;       /* in a ping-cycle list, or (closing) the reap list */
    ss_hnode h_sid, h_id;                 /* in the server's tables, by sid and by id */
} sio_session;

#endif
