/* ss_nats.h — one NATS connection policy for every service: retry the first
 * connect and reconnect forever with backoff + jitter, log state changes as
 * JSON, count reconnects in statsync_nats_reconnects_total. */
#ifndef SS_NATS_H
#define SS_NATS_H

#include "ss_error.h"

#include <nats/nats.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

/* url: comma separated list. name: connection name shown by nats-server.
 * Returns SS_OK with a connection that may still be (re)connecting; callers
 * check ss_nats_connected() before work that needs the server. */
ss_err ss_nats_connect(const char *url, const char *name, natsConnection **out);
/* Same policy, but every subscription of the connection is delivered by cnats'
 * shared pool of pool_threads threads instead of a thread per subscription
 * (the gateway holds one subscription per connected user). */
ss_err ss_nats_connect_pooled(const char *url, const char *name, int pool_threads,
                              natsConnection **out);
bool ss_nats_connected(natsConnection *nc);
/* Packs a protobuf message and publishes it on subject (small messages on
 * the stack, larger ones in a temporary heap buffer). A failure is logged at
 * `level` with the subject and returned; nothing else happens. Any thread. */
natsStatus ss_nats_publish_proto(natsConnection *nc, const char *subject,
                                 const ProtobufCMessage *msg, int level);

/* begin=true: publishes from now on (any thread) only buffer; begin=false:
 * they all go out in one write. Pairs nest; for a burst of replies from one
 * thread (the stats writer's group commit). NULL nc: nothing. */
void ss_nats_batch(natsConnection *nc, bool begin);

/* Inline delivery: fn(arg) runs on the connection's I/O thread right after
 * each read, once that read's messages are queued; it drains synchronous
 * subscriptions (natsSubscription_NextMsg with timeout 0) and must not block.
 * fn NULL removes it, waiting for a running call to end. SS_ERR_INTERNAL for
 * a connection not made by ss_nats_connect*. */
ss_err ss_nats_set_reader(natsConnection *nc, void (*fn)(void *), void *arg);

/* Flushes pending publishes (bounded by timeout_ms) and closes/destroys. */
void ss_nats_close(natsConnection *nc, int64_t timeout_ms);

#endif
