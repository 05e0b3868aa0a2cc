/* sio_events.h — the Socket.IO layer on top of an Engine.IO session:
 * CONNECT (JWT auth, 40/44), DISCONNECT, and the events of the DESIGN table
 * (presence:join, presence:ping, user:clientUpdate) with their acks.
 *
 * Threads: service thread only. NATS round trips go through nats_rpc; their
 * completions come back as sio_task's (sio_server_post) and find their
 * session again by its numeric id, so a session that closed meanwhile is
 * simply skipped. */
#ifndef SIO_EVENTS_H
#define SIO_EVENTS_H

#include "rooms_internal.h"

/* Creates the per-event latency histograms (main thread, before the
 * Socket.IO thread starts: every series is on /metrics from the start). */
void sio_events_init_metrics(void);
/* The data of one Engine.IO message (a Socket.IO packet). */
void sio_events_on_message(rooms *r, sio_session *ss, const char *data, size_t len);
/* The session is closing: leave the room. */
void sio_events_on_close(rooms *r, sio_session *ss);

#endif
