/* nats_rpc.h — non-blocking request/reply over NATS for the gateway.
 *
 * One wildcard inbox subscription ("_INBOX.<unique>.*") receives every reply;
 * each request gets its own id and a completion callback. Nothing blocks the
 * caller: REST handlers suspend their MHD connection and the Socket.IO thread
 * queues the result back to itself (see rest_server.c, sio_server.c).
 *
 * Completion: exactly once per accepted request — its callback, called from
 * a cnats delivery thread (reply, no-responders) or from the rpc timer thread
 * (timeout, shutdown), never from inside nats_rpc_request(); or, instead of
 * the callback, whoever claimed the request (nats_rpc_claim: its answer came
 * another way). The reply bytes are only valid during the call.
 *
 * Request ids: a request made while the calling thread works on a client
 * request (ss_reqid_current(), ss_reqid.h: a REST request, a socket event)
 * carries its id in the X-Request-Id header, so the service's log lines
 * about it name the same id. */
#ifndef NATS_RPC_H
#define NATS_RPC_H

#include "ss_error.h"

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nats_rpc nats_rpc;

/* err is SS_OK with the reply, SS_ERR_TIMEOUT, or SS_ERR_UNAVAILABLE (no service
 * subscribed, NATS down, shutdown) — SS_ERR_PARTITION_UNAVAILABLE when nobody
 * serves a stats subject's partition (statsync.stats.apply|get.<p>.…). */
typedef void (*nats_rpc_cb)(void *arg, ss_err err, const uint8_t *data, size_t len);

/* Creates the mux on an open connection (not owned) and subscribes its inbox. */
ss_err nats_rpc_create(nats_rpc **out, natsConnection *nc);

/* Publishes a request. Returns SS_OK when cb will be called later; otherwise
 * (NATS not connected, publish failed, too many pending) returns the error and
 * cb is never called. */
ss_err nats_rpc_request(nats_rpc *r, const char *subject, const void *data, size_t len,
                        int64_t timeout_ms, nats_rpc_cb cb, void *arg);

/* A scatter-gather request (statsync.health.stats: every stats-service
 * instance answers): replies are collected until enough(arg, parts, n)
 * says so (called on the reply thread under the mux's lock: quick, no call
 * into nats_rpc), max_parts have come, or timeout_ms passes; then cb gets
 * every reply (valid during the call only): SS_OK when at least one came,
 * SS_ERR_TIMEOUT when none, SS_ERR_UNAVAILABLE when nobody is subscribed.
 * Returns as nats_rpc_request. */
typedef struct nats_rpc_part {
    const uint8_t *data;
    size_t len;
} nats_rpc_part;
typedef bool (*nats_rpc_enough_fn)(void *arg, const nats_rpc_part *parts, size_t n);
typedef void (*nats_rpc_gather_cb)(void *arg, ss_err err, const nats_rpc_part *parts, size_t n);
ss_err nats_rpc_gather(nats_rpc *r, const char *subject, const void *data, size_t len,
                       int64_t timeout_ms, size_t max_parts, nats_rpc_enough_fn enough,
                       nats_rpc_gather_cb cb, void *arg);

/* Takes the pending request whose reply subject is `reply` — a subject of
 * this mux's inbox — and whose callback is cb out of the mux, and returns its
 * arg: from then on no reply, deadline or shutdown completes it; the caller
 * does, exactly once, in cb's place (its answer came in another message: a
 * stats-service's ChangeEvent naming it, proto/README.md "One message per
 * socket update"). NULL when no such request waits (completed already, made
 * with another callback, not this mux's subject) or the mux is stopping. Any
 * thread; quick. */
void *nats_rpc_claim(nats_rpc *r, const char *reply, nats_rpc_cb cb);

/* Number of requests waiting for a reply (for metrics). */
size_t nats_rpc_pending(nats_rpc *r);

/* Unsubscribes, stops the timer thread and fails every pending request with
 * SS_ERR_UNAVAILABLE; from then on requests are refused and nothing can be
 * claimed, but r stays valid for the threads that may still call
 * nats_rpc_claim() (the rooms' change handlers, until their subscriptions
 * complete). Idempotent. */
void nats_rpc_stop(nats_rpc *r);
/* nats_rpc_stop() if not done yet, then frees. NULL is fine. */
void nats_rpc_destroy(nats_rpc *r);

#endif
