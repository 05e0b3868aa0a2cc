/* rooms.h — the gateway's Socket.IO application: Socket.IO events (CONNECT
 * with a token, presence:join, presence:ping, user:clientUpdate), one room
 * per connected user with its NATS subscriptions and the fan-out of change
 * events, and the presence client. It sits on top of the Socket.IO server
 * (socketio/), which calls it only through the hooks it hands over.
 *
 *   rooms_create()   before sio_server_start(): fills the hooks
 *   rooms_attach()   after it: subscribes (presence sync), joins rooms from now on
 *   rooms_stop()     before sio_server_stop(): no more NATS events in
 *   rooms_destroy()  after sio_server_stop() and nats_rpc_destroy(), before
 *                    sio_server_free(): waits until no NATS callback can run
 *
 * Threads: all on the service thread but create/destroy (main thread, with
 * the service loop not running). */
#ifndef ROOMS_H
#define ROOMS_H

#include "gateway.h"
#include "sio_server.h"

typedef struct rooms rooms;

int rooms_create(rooms **out, gateway *gw, sio_hooks *hooks);
int rooms_attach(rooms *r, sio_server *s);
void rooms_stop(rooms *r);
void rooms_destroy(rooms *r);

#endif
