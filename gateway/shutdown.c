/* shutdown.c — the gateway's lame-duck shutdown on SIGTERM / SIGINT
 * (shutdown.h). Threads: the signal thread runs shutdown__main; the rest
 * runs on the main thread. */
#include "shutdown.h"

#include "sio_server.h"
#include "ss_log.h"
#include "ss_service.h"

#include <jansson.h>

/* The signal thread: the only thread that takes SIGINT / SIGTERM. */
static void *shutdown__main(void *arg)
{
    gateway_signals *g = arg;
    gateway *gw = g->gw;
    int sig = ss_sigwait(&g->set, -1);
    if (atomic_load(&g->done)) /* woken by gateway_signals_stop: the loop ended by itself */
        return NULL;
    atomic_store(&gw->stopping, 1); /* /readyz: 503 from here on */
    ss_log(SS_LOG_INFO, "shutting down: not ready, serving on for the drain delay",
           "{s:i,s:I,s:I,s:I}", "signal", sig, "drain_ms", (json_int_t)gw->cfg.shutdown_drain_ms,
           "spread_ms", (json_int_t)gw->cfg.shutdown_spread_ms, "grace_ms",
           (json_int_t)gw->cfg.shutdown_grace_ms);
    sig = ss_sigwait(&g->set, gw->cfg.shutdown_drain_ms);
    if (sig == 0) {
        ss_log(SS_LOG_INFO, "shutting down: closing sockets", "{s:I}", "spread_ms",
               (json_int_t)gw->cfg.shutdown_spread_ms);
        sio_server_request_close_spread(gw->sio, gw->cfg.shutdown_spread_ms);
        sig = ss_sigwait(&g->set, -1); /* a second signal, or gateway_signals_stop */
    }
    if (!atomic_load(&g->done)) {
        ss_log(SS_LOG_INFO, "second signal: stopping at once", "{s:i}", "signal", sig);
        sio_server_request_stop(gw->sio);
    }
    return NULL;
}

void gateway_signals_block(gateway_signals *g, gateway *gw)
{
    g->gw = gw;
    sigemptyset(&g->set);
    sigaddset(&g->set, SIGINT);
    sigaddset(&g->set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &g->set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int gateway_signals_start(gateway_signals *g)
{
    if (pthread_create(&g->thread, NULL, shutdown__main, g) != 0)
        return -1;
    g->started = true;
    return 0;
}

void gateway_signals_stop(gateway_signals *g)
{
    if (!g->started)
        return;
    atomic_store(&g->done, true);
    pthread_kill(g->thread, SIGTERM); /* taken by its sigwait if it still waits */
    pthread_join(g->thread, NULL);
    g->started = false;
}
