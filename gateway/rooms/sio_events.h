/* sio_events.h — the Socket.IO layer on top of an Engine.IO session:
 * CONNECT (JWT auth, 40/44), DISCONNECT, and the events of the DESIGN table
 * (presence:join, presence:ping, user:clientUpdate) with their acks.
 *
 * Threads: service thread only (sio_events_claim: any). NATS round trips go through nats_rpc; their
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

/* A user:clientUpdate answered by a change event instead of a StatsReply
 * (Mutation.reply_in_event, proto/README.md "One message per socket
 * update"). sio_events_claim (any thread: fanout's cnats handler) takes the
 * request waiting on reply_to out of nats_rpc — NULL when none of ours does
 * (then nothing is owed); what it returns is answered exactly once by
 * sio_events_answer, on the service thread (s NULL: the server stopped, it
 * is only freed), as its StatsReply {200, doc} would have been: the ack
 * {ok:true, stats:<doc>} embeds doc_text, the JSON text of the document
 * user_id's room was pushed in the same task. */
void *sio_events_claim(rooms *r, const char *reply_to);
void sio_events_answer(sio_server *s, void *claimed, const char *user_id, const char *doc_text,
                       size_t doc_len);

#endif
