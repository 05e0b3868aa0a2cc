/* shutdown.h — the gateway's SIGTERM / SIGINT: a lame-duck shutdown.
 *
 *   1. not ready: gw->stopping is set, so /readyz answers 503 from the first
 *      moment and the edge or a load balancer stops sending; REST responses
 *      say "Connection: close"; everything else is served as before
 *   2. drain: cfg.shutdown_drain_ms more of serving as usual (a balancer
 *      needs a few probe periods to take the gateway out)
 *   3. spread close: every Socket.IO session is closed, evenly over
 *      cfg.shutdown_spread_ms (sio_server_request_close_spread), each with the
 *      transport close a client reconnects after — to another gateway —
 *      instead of all at once, which would have every client of this
 *      gateway reconnect to the others in the same instant
 *   4. the service loop returns, and main's gateway__stop finishes: REST
 *      answers what is in flight within cfg.shutdown_grace_ms, NATS closes
 * A second signal during 2 or 3 skips what is left of them. SIGTERM to exit
 * is bounded by drain + spread + grace (+ about a second).
 *
 * Threads: gateway_signals_block, _start and _stop on the main thread; the
 * sequence on the signal thread, which touches the server only through
 * calls any thread may make (sio_server_request_*). */
#ifndef GATEWAY_SHUTDOWN_H
#define GATEWAY_SHUTDOWN_H

#include "gateway.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct gateway_signals {
    gateway *gw;
    sigset_t set;        /* SIGINT + SIGTERM, blocked in every thread */
    pthread_t thread;
    bool started;
    atomic_bool done;    /* set by gateway_signals_stop: return at the next wake */
} gateway_signals;

/* Blocks SIGINT and SIGTERM in this thread, and so in every thread it starts
 * afterwards, and ignores SIGPIPE. Call before starting any thread. */
void gateway_signals_block(gateway_signals *g, gateway *gw);
/* Starts the signal thread (once gw->sio exists). Returns 0 or -1. */
int gateway_signals_start(gateway_signals *g);
/* Ends the signal thread (wakes it if no signal came) and joins it. Call
 * before gw->sio is freed. Harmless when never started. */
void gateway_signals_stop(gateway_signals *g);

#endif
