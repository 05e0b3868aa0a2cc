/* presence_client.h — the gateway's side of the presence-service
 * (proto/README.md, "presence"):
 *
 *   - publishes statsync.presence.join / .leave as sockets enter / leave
 *     their user's room (hooks in fanout.c);
 *   - publishes statsync.presence.heartbeat (an event, to every
 *     presence-service instance) every cfg.presence_heartbeat_ms with its
 *     socket count and their ss_presence_digest; sends a full snapshot when
 *     statsync.presence.sync asks (an instance started, or its picture of
 *     this gateway differs from a heartbeat — then only when no snapshot
 *     followed that heartbeat yet);
 *   - answers presence:ping through the service (statsync.presence.ping), or
 *     from local knowledge when it does not answer within
 *     cfg.presence_ping_timeout_ms (the client is never left waiting);
 *   - takes statsync.user.<userId>.presence from the room's subscription
 *     (fanout.c holds one per room for all of the user's events) and emits
 *     presence:update {userId, online, devices} to the user's sockets —
 *     only when the count
 *     differs from the last one forwarded to the room, so that republishes
 *     and overlapping publishers never reach a socket twice.
 *
 * Threads: every function runs on the lws service thread, except
 * presence_client_on_update (a cnats thread); NATS callbacks inside
 * presence_client.c (cnats threads, nats_rpc timer) and it only decode/encode
 * and hand over with sio_server_post(). */
#ifndef PRESENCE_CLIENT_H
#define PRESENCE_CLIENT_H

#include "fanout.h"
#include "sio_server.h"

#include <jansson.h>

typedef struct presence_client presence_client;

struct rooms;

int presence_client_create(presence_client **out, struct rooms *r);
/* From the ping-cycle timer: heartbeat when due. */
void presence_client_tick(presence_client *pc, int64_t now_mono_ms);
/* The session entered / is leaving the room of user_id. */
void presence_client_joined(presence_client *pc, sio_session *ss, const char *user_id);
void presence_client_left(presence_client *pc, sio_session *ss, const char *user_id);
/* presence:ping {ts}: answers presence:pong (and the ack when ack_id >= 0). */
void presence_client_ping(presence_client *pc, sio_session *ss, json_t *ts, int64_t ack_id);
/* A statsync.user.<userId>.presence message from the room's subscription
 * (a cnats thread): decoded, checked against its subject, encoded once and
 * handed over. Destroys msg. pc may be NULL (the message is dropped). */
void presence_client_on_update(presence_client *pc, natsMsg *msg);
/* Drops the sync subscription (shutdown, before NATS closes). */
void presence_client_stop(presence_client *pc);
void presence_client_destroy(presence_client *pc);

#endif
