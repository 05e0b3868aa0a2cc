/* sio_spread.c — the lame-duck close: every session closed evenly over a
 * window instead of all at once, so that the clients of a gateway going
 * away reconnect to the others a few at a time. sio_server_request_close_spread
 * (any thread, sio_loop.c) sets the window and wakes the service thread;
 * sio_spread_poll, in that wake-up, takes the count of open sessions and
 * starts a timer whose every step closes as many more as are due by then
 * (count × elapsed / window); the step at the window's end — or the first
 * that finds no session left — stops the loop, and sio_server_stop closes
 * whatever was opened meanwhile. A session is closed like any other
 * (sio_server_close_session): its websocket is dropped or its parked poll
 * answered with a close packet, which socket.io-client takes for a
 * transport close and reconnects after. Threads: service thread only. */
#include "sio_engine.h"

#include <ev.h>

#include "ss_log.h"
#include "ss_time.h"

/* Timer steps: about one close each, but neither busier than every 5 ms nor
 * lazier than every 50 ms. */
#define SIO_SPREAD_STEP_MIN_MS 5
#define SIO_SPREAD_STEP_MAX_MS 50

/* Closes up to n open sessions; returns how many. */
static size_t sio_spread__close(sio_server *s, size_t n)
{
    size_t done = 0;
    ss_htab_iter it;
    for (ss_hnode *h = ss_htab_first(&it, &s->sessions.by_id); h != NULL && done < n;
         h = ss_htab_next(&it)) {
        sio_session *ss = SS_HTAB_ENTRY(h, sio_session, h_id);
        if (!ss->closing) {
            sio_server_close_session(s, ss, "shutdown");
            done++;
        }
    }
    return done;
}

static int64_t sio_spread__step_ms(const sio_server *s)
{
    int64_t w = atomic_load(&s->spread_window_ms);
    int64_t step = s->spread_total > 0 ? w / (int64_t)s->spread_total : w;
    if (step < SIO_SPREAD_STEP_MIN_MS)
        step = SIO_SPREAD_STEP_MIN_MS;
    if (step > SIO_SPREAD_STEP_MAX_MS)
        step = SIO_SPREAD_STEP_MAX_MS;
    return step;
}

static void sio_spread__on_timer(lws_sorted_usec_list_t *sul)
{
    sio_server *s = lws_container_of(sul, sio_server, spread_timer);
    int64_t window = atomic_load(&s->spread_window_ms);
    int64_t elapsed = ss_mono_ms() - s->spread_start_ms;
    bool over = elapsed >= window;
    size_t due = over ? s->spread_total
                      : (size_t)((double)s->spread_total * (double)elapsed / (double)window);
    if (due > s->spread_closed)
        s->spread_closed += sio_spread__close(s, due - s->spread_closed);
    sio_sessions_reap(s);
    if (over || s->sessions.by_id.count == 0) {
        ss_log(SS_LOG_INFO, "sockets closed over the spread window", "{s:I,s:I,s:I}", "closed",
               (json_int_t)s->spread_closed, "left", (json_int_t)s->sessions.by_id.count,
               "elapsed_ms", (json_int_t)elapsed);
        atomic_store(&s->stop_requested, 1);
        ev_break(s->loop, EVBREAK_ALL); /* sio_server_run() returns */
        return;
    }
    lws_sul_schedule(s->ctx, 0, &s->spread_timer, sio_spread__on_timer,
                     sio_spread__step_ms(s) * LWS_US_PER_MS);
}

void sio_spread_poll(sio_server *s)
{
    if (s->spreading || atomic_load(&s->spread_window_ms) <= 0)
        return;
    s->spreading = true;
    s->spread_start_ms = ss_mono_ms();
    s->spread_total = s->sessions.by_id.count;
    s->spread_closed = 0;
    ss_log(SS_LOG_INFO, "closing sockets spread over a window", "{s:I,s:I}", "sessions",
           (json_int_t)s->spread_total, "window_ms",
           (json_int_t)atomic_load(&s->spread_window_ms));
    lws_sul_schedule(s->ctx, 0, &s->spread_timer, sio_spread__on_timer,
                     sio_spread__step_ms(s) * LWS_US_PER_MS);
}
