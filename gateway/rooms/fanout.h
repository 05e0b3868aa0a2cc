/* fanout.h — user rooms and change-event fan-out for the Socket.IO edge.
 *
 * A room holds every local socket of one user. While a room exists the
 * gateway is subscribed to statsync.user.<userId>.* — one subscription for
 * the user's change events (.changed, here) and presence updates
 * (.presence, handed to presence_client.c); the subscription
 * is dropped when the last socket leaves (or, later, when the last request
 * pinned on it completes: fanout_pin). Each ChangeEvent is encoded once
 * (user:data:updated and user:update) and the bytes are shared by every
 * socket of the room. Maintains gw->sockets_connected / gw->users_connected.
 *
 * Threads: every function runs on the lws service thread; the NATS callback
 * inside fanout.c is the only code on a cnats thread (see the top of fanout.c). */
#ifndef FANOUT_H
#define FANOUT_H

#include "sio_server.h"
#include "ss_htab.h"
#include "ss_userid.h"

#include <stdint.h>

typedef struct fanout fanout;

typedef struct sio_room {
    uint32_t count;            /* sockets in the room */
    ss_list members;           /* its sockets, by sio_session.room_link */
    natsSubscription *sub;     /* statsync.user.<userId>.* */
    int64_t presence_devices;  /* last presence:update count forwarded; -1 none (presence_client.c) */
    uint32_t pins;             /* requests answered by this room's events (fanout_pin) */
    ss_hnode h;                /* in the fan-out's table, by user_id */
    char user_id[];            /* sized to the id (a room per connected user) */
} sio_room;

struct rooms;

int fanout_create(fanout **out, struct rooms *r);
/* Puts the session in its user's room (subscribing for the first socket).
 * Idempotent for the same user. Returns 0, or -1 (the session stays out). */
int fanout_join(fanout *f, sio_session *ss, const char *user_id);
/* Takes the session out of its room (unsubscribing after the last socket). */
void fanout_leave(fanout *f, sio_session *ss);
/* Pins ss's room when its change subscription is live — subscribed on the
 * gateway's NATS connection, so before any request sent after this on the
 * same connection (NATS keeps a connection's order) — and returns it; the
 * room and its subscriptions then stay, even once no socket is left, until
 * fanout_unpin(). So a request whose answer is to come in a change event
 * (Mutation.reply_in_event, proto/README.md) cannot lose it to a last
 * socket leaving. NULL: not live, nothing pinned (the request asks for a
 * reply instead). */
sio_room *fanout_pin(fanout *f, sio_session *ss);
/* Gives the pin back; drops the room if it was the last thing keeping it.
 * Not after the server stopped (the rooms are freed with the fan-out). */
void fanout_unpin(fanout *f, sio_room *r);
/* The one walk over a user's sockets: `all` (may be NULL) to every socket in
 * user_id's room, and others(arg) — made on first use, its reference then
 * owned here; NULL skips it — to every socket but the writer's, named by
 * origin ("<gatewayId>/<socketId>"; NULL, "" or another gateway's names
 * none). Nothing when the room is gone. */
void fanout_send(fanout *f, const char *user_id, const char *origin, sio_buf *all,
                 sio_buf *(*others)(void *arg), void *arg);
/* After the gateway's NATS connection came back (change events published
 * meanwhile were missed): asks the stats-service for the current document of
 * every room's user and pushes it to the room's sockets (version-ordered:
 * an older queued document is replaced, a newer one stays). */
void fanout_resync(fanout *f);
/* user_id's room, or NULL (presence_client.c: its last forwarded count). */
sio_room *fanout_room(fanout *f, const char *user_id);
/* fn for every socket of every room (a presence snapshot). */
void fanout_each(fanout *f, void (*fn)(void *arg, const sio_room *r, sio_session *ss), void *arg);
/* Drops every NATS subscription (shutdown, before the NATS connection closes). */
void fanout_stop(fanout *f);
void fanout_destroy(fanout *f);

#endif
