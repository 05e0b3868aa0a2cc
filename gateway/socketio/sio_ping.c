/* sio_ping.c — the Engine.IO ping cycle: every session waits in one of two
 * FIFO lists ordered by deadline (the intervals are constant), "next ping
 * due" and "pong due"; the tick pings, closes sessions whose pong is late or
 * that sent no CONNECT in time, and calls the hooks' on_tick. Threads:
 * service thread only. */
#include "sio_engine.h"

#include "ss_metrics.h"
#include "ss_time.h"

/* The session at the front of a ping-cycle list (the soonest deadline). */
static sio_session *sio_ping__first(const ss_list *l)
{
    return l->head ? SS_LIST_ENTRY(l->head, sio_session, ping) : NULL;
}

void sio_ping_unlink(sio_server *s, sio_session *ss)
{
    if (ss->ping_state == SIO_PING_WAIT)
        ss_list_remove(&s->ping_wait, &ss->ping);
    else if (ss->ping_state == SIO_PING_PONG)
        ss_list_remove(&s->ping_pong, &ss->ping);
    ss->ping_state = SIO_PING_NONE;
}

void sio_ping_schedule(sio_server *s, sio_session *ss, int64_t now)
{
    sio_ping_unlink(s, ss);
    ss->deadline_ms = now + s->ping_interval_ms;
    ss->ping_state = SIO_PING_WAIT;
    ss_list_push_back(&s->ping_wait, &ss->ping);
}

static void sio_ping__on_tick(lws_sorted_usec_list_t *sul)
{
    sio_server *s = lws_container_of(sul, sio_server, tick);
    int64_t now = ss_mono_ms();
    atomic_store(&s->gw->loop_tick_ms, now); /* /livez: the loop turns */
    sio_session *ss;
    while ((ss = sio_ping__first(&s->ping_pong)) != NULL && ss->deadline_ms <= now) {
        ss_counter_add(s->m.ping_timeouts, 1);
        sio_server_close_session(s, ss, "ping timeout");
    }
    while ((ss = sio_ping__first(&s->ping_wait)) != NULL && ss->deadline_ms <= now) {
        sio_ping_unlink(s, ss);
        if (!ss->connected && now - ss->opened_ms >= s->connect_timeout_ms) {
            sio_server_close_session(s, ss, "no CONNECT in time");
            continue;
        }
        if (ss->expires_ms > 0 && now >= ss->expires_ms) { /* its token ran out */
            sio_server_close_session(s, ss, "token expired");
            continue;
        }
        if (sio_server_send(s, ss, s->ping_buf) != 0)
            continue;
        ss->deadline_ms = now + s->ping_timeout_ms;
        ss->ping_state = SIO_PING_PONG;
        ss_list_push_back(&s->ping_pong, &ss->ping);
    }
    if (s->hooks.on_tick)
        s->hooks.on_tick(s->hooks.arg, now);
    sio_sessions_reap(s);
    int64_t tick = s->ping_interval_ms / 4;
    if (tick > 100)
        tick = 100;
    if (tick < 5)
        tick = 5;
    lws_sul_schedule(s->ctx, 0, &s->tick, sio_ping__on_tick, tick * LWS_US_PER_MS);
}

void sio_ping_on_pong(sio_server *s, sio_session *ss)
{
    if (ss->ping_state == SIO_PING_PONG)
        sio_ping_schedule(s, ss, ss_mono_ms());
}

void sio_ping_start(sio_server *s)
{
    lws_sul_schedule(s->ctx, 0, &s->tick, sio_ping__on_tick, 10 * LWS_US_PER_MS);
}
