/* rooms.c — wiring of the rooms layer to the Socket.IO server (see rooms.h):
 * its hooks, and the order in which fan-out and presence start and stop.
 *
 * Threads: the hooks run on the service thread; create and destroy on the
 * main thread while the service loop does not run. */
#include "rooms_internal.h"

#include "fanout.h"
#include "presence_client.h"
#include "sio_events.h"
#include "ss_nats.h"
#include "ss_reqid.h"

#include <stdlib.h>

#define ROOMS_NATS_CHECK_MS 200 /* how often the tick asks cnats for its reconnections */

static void rooms__on_message(void *arg, sio_server *s, sio_session *ss, const char *data,
                              size_t len)
{
    (void)s;
    sio_events_on_message(arg, ss, data, len);
}

static void rooms__on_close(void *arg, sio_server *s, sio_session *ss)
{
    (void)s;
    sio_events_on_close(arg, ss);
}

/* Change events published while the connection was away were missed: when
 * cnats counts a reconnection, every room gets its current document. */
static void rooms__check_reconnect(rooms *r, int64_t now_ms)
{
    if (r->nats_stats == NULL || now_ms < r->next_nats_check_ms)
        return;
    r->next_nats_check_ms = now_ms + ROOMS_NATS_CHECK_MS;
    uint64_t reconnects = 0;
    if (natsConnection_GetStats(r->gw->nc, r->nats_stats) != NATS_OK ||
        natsStatistics_GetCounts(r->nats_stats, NULL, NULL, NULL, NULL, &reconnects) != NATS_OK)
        return;
    if (reconnects > r->reconnects && ss_nats_connected(r->gw->nc)) {
        r->reconnects = reconnects;
        fanout_resync(r->fanout);
    }
}

static void rooms__on_tick(void *arg, int64_t now_ms)
{
    rooms *r = arg;
    presence_client_tick(r->presence, now_ms);
    rooms__check_reconnect(r, now_ms);
}

/* One loop turn's NATS publishes (requests, presence joins) leave in one
 * write. Without it each publish woke the NATS I/O thread on its own: at
 * 20 000 updates/s that was a wake-up and a write(2) per update. The turn's
 * request messages are freed together at its end (ss_reqid_hold: one wake-up
 * of cnats' garbage collector per turn, not one per request). */
static void rooms__on_turn(void *arg, bool begin)
{
    if (!begin)
        ss_reqid_hold(false);
    ss_nats_batch(((rooms *)arg)->gw->nats, begin);
    if (begin)
        ss_reqid_hold(true);
}

int rooms_create(rooms **out, gateway *gw, sio_hooks *hooks)
{
    rooms *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -1;
    r->gw = gw;
    sio_events_init_metrics();
    *hooks = (sio_hooks){.arg = r,
                         .on_message = rooms__on_message,
                         .on_close = rooms__on_close,
                         .on_tick = rooms__on_tick,
                         .on_turn = rooms__on_turn};
    *out = r;
    return 0;
}

int rooms_attach(rooms *r, sio_server *s)
{
    r->s = s;
    if (fanout_create(&r->fanout, r) != 0 || presence_client_create(&r->presence, r) != 0 ||
        natsStatistics_Create(&r->nats_stats) != NATS_OK)
        return -1;
    natsConnection_GetStats(r->gw->nc, r->nats_stats);
    natsStatistics_GetCounts(r->nats_stats, NULL, NULL, NULL, NULL, &r->reconnects);
    return 0;
}

void rooms_stop(rooms *r)
{
    if (r == NULL)
        return;
    fanout_stop(r->fanout); /* no more change events from NATS */
    presence_client_stop(r->presence);
}

void rooms_destroy(rooms *r)
{
    if (r == NULL)
        return;
    fanout_destroy(r->fanout); /* first: it drops the rooms' presence subscriptions too */
    presence_client_destroy(r->presence);
    natsStatistics_Destroy(r->nats_stats);
    free(r);
}
