/* sio_ping.c — the Engine.IO ping cycle: every session waits in one of two
 * FIFO lists ordered by deadline (the intervals are constant), "next ping
 * due" and "pong due"; the tick pings, closes sessions whose pong is late or
 * that sent no CONNECT in time, and calls the hooks' on_tick. Threads:
 * service thread only. */
#include "sio_engine.h"

#include "ss_metrics.h"
#include "ss_time.h"

static void sio_list__append(sio_session **head, sio_session **tail, sio_session *ss)
{
    ss->ping_next = NULL;
    ss->ping_prev = *tail;
    if (*tail)
        (*tail)->ping_next = ss;
    else
        *head = ss;
    *tail = ss;
}

static void sio_list__unlink(sio_session **head, sio_session **tail, sio_session *ss)
{
    if (ss->ping_prev)
        ss->ping_prev->ping_next = ss->ping_next;
    else
        *head = ss->ping_next;
    if (ss->ping_next)
        ss->ping_next->ping_prev = ss->ping_prev;
    else
        *tail = ss->ping_prev;
    ss->ping_prev = ss->ping_next = NULL;
}

void sio_ping_unlink(sio_server *s, sio_session *ss)
{
    if (ss->ping_state == SIO_PING_WAIT)
        sio_list__unlink(&s->wait_head, &s->wait_tail, ss);
    else if (ss->ping_state == SIO_PING_PONG)
        sio_list__unlink(&s->pong_head, &s->pong_tail, ss);
    ss->ping_state = SIO_PING_NONE;
}

void sio_ping_schedule(sio_server *s, sio_session *ss, int64_t now)
{
    sio_ping_unlink(s, ss);
    ss->deadline_ms = now + s->ping_interval_ms;
    ss->ping_state = SIO_PING_WAIT;
    sio_list__append(&s->wait_head, &s->wait_tail, ss);
}

static void sio_ping__on_tick(lws_sorted_usec_list_t *sul)
{
    sio_server *s = lws_container_of(sul, sio_server, tick);
    int64_t now = ss_mono_ms();
    while (s->pong_head && s->pong_head->deadline_ms <= now) {
        ss_counter_add(s->m.ping_timeouts, 1);
        sio_server_close_session(s, s->pong_head, "ping timeout");
    }
    while (s->wait_head && s->wait_head->deadline_ms <= now) {
        sio_session *ss = s->wait_head;
        sio_ping_unlink(s, ss);
        if (!ss->connected && now - ss->opened_ms >= s->connect_timeout_ms) {
            sio_server_close_session(s, ss, "no CONNECT in time");
            continue;
        }
        if (sio_server_send(s, ss, s->ping_buf) != 0)
            continue;
        ss->deadline_ms = now + s->ping_timeout_ms;
        ss->ping_state = SIO_PING_PONG;
        sio_list__append(&s->pong_head, &s->pong_tail, ss);
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
