/* ss_nats.h — one NATS connection policy for every service: retry the first
 * connect and reconnect forever with backoff + jitter, log state changes as
 * JSON, count reconnects in statsync_nats_reconnects_total and say in
 * statsync_nats_connected (0/1, read at scrape time) whether the connection
 * is up; the socket runs on its own libev loop thread (ss_nats_loop.h).
 *
 * An ss_nats is a handle owned by whoever created it (a service's server
 * struct, a test): it owns the cnats connection and the loop thread serving
 * it, and ss_nats_destroy() frees both. Nothing is remembered anywhere else,
 * so the calls on a hot path (ss_nats_batch every loop turn of the gateway)
 * touch only the handle.
 *
 * Threads: ss_nats_create() and ss_nats_destroy() from the owner's thread,
 * never concurrently with any other call on the same handle; everything
 * else from any thread while the handle lives. */
#ifndef SS_NATS_H
#define SS_NATS_H

#include "ss_error.h"
#include "ss_nats_auth.h"

#include <nats/nats.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

typedef struct ss_nats ss_nats;

/* Connects to url (a comma separated list) as `name` (shown by nats-server,
 * and in our log lines), with auth's credentials and TLS (ss_nats_auth.h;
 * NULL: none, an open server). pool_threads > 0: every subscription of the
 * connection is delivered by cnats' shared pool of that many threads instead
 * of a thread per subscription (the gateway holds one subscription per
 * connected user); 0: a thread per subscription.
 *
 * The first connect is retried until a server lets us in: cnats does that
 * inside this call (no connected callback is set), so it returns once
 * connected. cnats' retries are silent, so one attempt is made first on its
 * own and its failure logged with the reason ("Authorization Violation", a
 * TLS handshake error, no server). Returns SS_OK with *out a new handle; the
 * connection may later drop and reconnect by itself, so callers check
 * ss_nats_connected() before work that needs the server.
 * SS_ERR_UNAVAILABLE (logged) otherwise, *out NULL — also at once when auth
 * is unusable (a missing password file, settings that do not fit).
 *
 * url and auth are read only during the call. name is borrowed by cnats'
 * state callbacks: it must stay valid until nats_Close() (a literal, or a
 * field of the owner's server struct). */
ss_err ss_nats_create(ss_nats **out, const char *url, const ss_nats_auth *auth, const char *name,
                      int pool_threads);

/* The cnats connection, for subscribing and publishing: owned by n, valid
 * until ss_nats_destroy(n). NULL n: NULL. */
natsConnection *ss_nats_conn(const ss_nats *n);

/* True while the connection is up (not connecting, reconnecting or closed).
 * Takes the cnats connection so that code holding only that can ask; NULL:
 * false. Any thread. */
bool ss_nats_connected(natsConnection *nc);

/* Packs a protobuf message and publishes it on subject (small messages on
 * the stack, larger ones in a temporary heap buffer). A failure is logged at
 * `level` with the subject and returned; nothing else happens. Any thread. */
natsStatus ss_nats_publish_proto(natsConnection *nc, const char *subject,
                                 const ProtobufCMessage *msg, int level);

/* The payload of msg unpacked as a `type` message (protobuf-c's default
 * allocator; free it with protobuf_c_message_free_unpacked(m, NULL)), or NULL
 * when it is not one. msg stays the caller's. Any thread. */
ProtobufCMessage *ss_nats_unpack(natsMsg *msg, const ProtobufCMessageDescriptor *type);

/* begin=true: publishes from now on (any thread) only buffer; begin=false:
 * they all go out in one write. Pairs nest; for a burst of publishes from one
 * thread (the stats writer's group commit, one gateway loop turn). NULL n:
 * nothing. Any thread; no lock, no system call unless the last pair ends with
 * something to write. */
void ss_nats_batch(ss_nats *n, bool begin);

/* Inline delivery: fn(arg) runs on the connection's I/O thread right after
 * each read, once that read's messages are queued; it drains synchronous
 * subscriptions (natsSubscription_NextMsg with timeout 0) and must not block.
 * Setting it also runs it once soon (what was read before). fn NULL removes
 * it, waiting for a running call to end. arg stays the caller's; it must stay
 * valid until fn is removed or n destroyed. SS_ERR_INTERNAL for a NULL n. */
ss_err ss_nats_set_reader(ss_nats *n, void (*fn)(void *), void *arg);

/* Flushes pending publishes when connected (bounded by flush_timeout_ms),
 * closes the connection, stops the loop thread and frees everything n owns.
 * Subscriptions still open are closed with it (their handles stay their
 * owners' to destroy; ss_nats_subs.h says when their handlers are done).
 * nats_Close() may follow. NULL n: nothing. */
void ss_nats_destroy(ss_nats *n, int64_t flush_timeout_ms);

#endif
