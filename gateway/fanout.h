/* fanout.h — user rooms and change-event fan-out for the Socket.IO edge.
 *
 * A room holds every local socket of one user. While a room exists the
 * gateway is subscribed to statsync.stats.changed.<userId>; the subscription
 * is dropped when the last socket leaves. Each ChangeEvent is encoded once
 * (user:data:updated and user:update) and the bytes are shared by every
 * socket of the room. Maintains gw->sockets_connected / gw->users_connected.
 *
 * Threads: every function runs on the lws service thread; the NATS callback
 * inside fanout.c is the only code on a cnats thread (see the top of fanout.c). */
#ifndef FANOUT_H
#define FANOUT_H

#include "sio_server.h"
#include "ss_userid.h"

#include <stdint.h>

typedef struct fanout fanout;

typedef struct sio_room {
    char user_id[SS_USERID_MAX + 1];
    uint32_t count;            /* sockets in the room */
    sio_session *head;         /* sockets, linked by room_prev/room_next */
    natsSubscription *sub;     /* statsync.stats.changed.<userId> */
    natsSubscription *presence_sub; /* statsync.presence.update.<userId> (presence_client.c) */
    struct sio_room *hnext;
} sio_room;

int fanout_create(fanout **out, sio_server *s);
/* Puts the session in its user's room (subscribing for the first socket).
 * Idempotent for the same user. Returns 0, or -1 (the session stays out). */
int fanout_join(fanout *f, sio_session *ss, const char *user_id);
/* Takes the session out of its room (unsubscribing after the last socket). */
void fanout_leave(fanout *f, sio_session *ss);
/* The room of user_id, or NULL. */
sio_room *fanout_find(fanout *f, const char *user_id);
/* Drops every NATS subscription (shutdown, before the NATS connection closes). */
void fanout_stop(fanout *f);
void fanout_destroy(fanout *f);

#endif
