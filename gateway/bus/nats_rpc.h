/* nats_rpc.h — non-blocking request/reply over NATS for the gateway.
 *
 * One wildcard inbox subscription ("_INBOX.<unique>.*") receives every reply;
 * each request gets its own id and a completion callback. Nothing blocks the
 * caller: REST handlers suspend their MHD connection and the Socket.IO thread
 * queues the result back to itself (see rest_server.c, sio_server.c).
 *
 * Completion callback: called exactly once per accepted request, from a cnats
 * delivery thread (reply, no-responders) or from the rpc timer thread
 * (timeout, shutdown) — never from inside nats_rpc_request(). The reply bytes
 * are only valid during the call. */
#ifndef NATS_RPC_H
#define NATS_RPC_H

#include "ss_error.h"

#include <nats/nats.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nats_rpc nats_rpc;

/* err is SS_OK with the reply, SS_ERR_TIMEOUT, or SS_ERR_UNAVAILABLE (no service
 * subscribed, NATS down, shutdown). */
typedef void (*nats_rpc_cb)(void *arg, ss_err err, const uint8_t *data, size_t len);

/* Creates the mux on an open connection (not owned) and subscribes its inbox. */
ss_err nats_rpc_create(nats_rpc **out, natsConnection *nc);

/* Publishes a request. Returns SS_OK when cb will be called later; otherwise
 * (NATS not connected, publish failed, too many pending) returns the error and
 * cb is never called. */
ss_err nats_rpc_request(nats_rpc *r, const char *subject, const void *data, size_t len,
                        int64_t timeout_ms, nats_rpc_cb cb, void *arg);

/* Number of requests waiting for a reply (for metrics). */
size_t nats_rpc_pending(nats_rpc *r);

/* Fails every pending request with SS_ERR_UNAVAILABLE, stops the timer thread,
 * unsubscribes and frees. */
void nats_rpc_destroy(nats_rpc *r);

#endif
