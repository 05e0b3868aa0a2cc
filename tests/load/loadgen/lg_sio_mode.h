/* lg_sio_mode.h — the Socket.IO mode's state, shared by its two files:
 * lg_sio_conn.c (one connection's protocol: TCP → websocket → Engine.IO open
 * → Socket.IO CONNECT → presence:join → ready; pushes matched to sends) and
 * lg_sio_run.c (the phases, connect pacing, the send schedule, the report).
 *
 * Threads: one. Everything here runs on the thread that called lg_sio_run. */
#ifndef LG_SIO_MODE_H
#define LG_SIO_MODE_H

#include "lg_group.h"
#include "lg_options.h"
#include "lg_stats.h"

#include <stdint.h>

typedef enum lg_cstate {
    LG_C_IDLE = 0, /* not started                                    */
    LG_C_TCP,      /* connect() under way                            */
    LG_C_WS,       /* upgrade request sent, waiting for 101          */
    LG_C_EIO,      /* waiting for the Engine.IO open packet          */
    LG_C_SIO,      /* CONNECT sent, waiting for 40{"sid":…}          */
    LG_C_JOIN,     /* presence:join sent, waiting for the document   */
    LG_C_READY,    /* joined: takes part in the send schedule        */
    LG_C_DEAD,     /* closed (failed or ended)                       */
} lg_cstate;

/* One update awaiting its pushes: sent on device `sender` of its user, done
 * once every device in `need` (the user's ready devices when it was sent)
 * has had a push with xp >= expect. The sender's own push completes the
 * "own push" latency, the last device's the "all devices" one. */
typedef struct lg_pending {
    int64_t expect;
    uint64_t sent_ns;
    uint32_t need;    /* devices (bits) that must see it              */
    uint32_t seen;    /* devices whose push covered it                */
    uint8_t sender;   /* the device it was sent on                    */
    uint8_t measured; /* sent inside the measured window              */
    uint8_t lost;     /* a device in need died first: all-devices unmatched */
    uint8_t done;     /* seen covers need (counted, awaiting its pop) */
} lg_pending;

/* A user's ring of pending updates, in the order sent (so by expect),
 * allocated on the user's first send, grown by doubling up to
 * LG_PENDING_MAX (past that the oldest is dropped). */
typedef struct lg_pring {
    uint32_t head, count, cap;
    lg_pending e[];
} lg_pring;

#define LG_PENDING_MAX 1024u
#define LG_OUT_MAX (256u * 1024u)   /* unwritten bytes per connection    */
#define LG_HEAD_MAX 8192u           /* upgrade response head             */
#define LG_FRAME_MAX (128u * 1024u) /* largest server frame accepted      */
#define LG_RBUF (LG_FRAME_MAX * 2u) /* the shared read buffer            */

/* 40 bytes, plus heap only while a connection has a partial frame or
 * unwritten bytes: what 100 000 idle connections cost here (with their
 * users' 24 bytes each). */
typedef struct lg_conn {
    int fd;
    uint8_t state;     /* lg_cstate                        */
    uint8_t want_out;  /* EPOLLOUT is registered           */
    uint32_t user;     /* index into lg_sio.users          */
    uint32_t in_len;   /* bytes carried in `in`            */
    uint32_t out_len;  /* bytes waiting in `out`           */
    uint8_t *in;
    uint8_t *out;
} lg_conn;
_Static_assert(sizeof(lg_conn) <= 40, "an idle connection costs 40 bytes here: keep it so");

#define LG_USER_NOT_READY 0xffffffu

typedef struct lg_user {
    int64_t next;           /* the xp the document reaches after every update sent so
                               far (INT64_MIN until a device joined)                  */
    lg_pring *pend;         /* updates awaiting pushes; heap only while some are      */
    uint32_t ready_mask;    /* devices (bits) ready now                               */
    uint32_t ready_pos : 24; /* index in lg_sio.ready_users, or LG_USER_NOT_READY     */
    uint32_t rr : 8;        /* the device the next update is sent on (rotating)       */
} lg_user;
_Static_assert(sizeof(lg_user) <= 24, "a user costs 24 bytes here: keep it so");

typedef struct lg_sio {
    const lg_options *o;
    lg_stats *st;
    int ep;
    lg_conn *conns;
    lg_user *users;
    uint32_t *ready_users; /* users with a ready device, unordered (swap-remove) */
    uint32_t nready_users;
    uint32_t nready;       /* ready connections                          */
    long launched;   /* connections started                       */
    long connecting; /* started, not yet ready nor dead           */
    long failed;     /* never reached ready                       */
    uint64_t open_measured; /* measured updates not done yet        */
    uint8_t *rbuf;
    char accept[29];
    char hs_req[512];
    size_t hs_len;
    uint64_t rng;    /* xorshift state for frame masks            */
    uint64_t op_seq;
    int64_t iat, exp;
    size_t secret_len;
} lg_sio;

/* lg_sio_conn.c */
void lg_sio_conn_start(lg_sio *s, uint32_t i);
void lg_sio_conn_event(lg_sio *s, uint32_t i, uint32_t events);
void lg_sio_conn_fail(lg_sio *s, uint32_t i, lg_err why);
/* Sends one user:clientUpdate on the next ready device of user u (which has
 * one); measured: inside the window. */
void lg_sio_user_send_update(lg_sio *s, uint32_t u, uint64_t now_ns, int measured);
/* Formats user id n into out (NUL-terminated). */
void lg_sio_user_id(const lg_options *o, uint32_t n, char *out, size_t cap);

/* lg_sio_run.c */
int lg_sio_run(const lg_options *o, lg_stats *st);

#endif
