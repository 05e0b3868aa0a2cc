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

#include <stdlib.h>

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

static void rooms__on_tick(void *arg, int64_t now_ms)
{
    presence_client_tick(((rooms *)arg)->presence, now_ms);
}

/* One loop turn's NATS publishes (requests, presence joins) leave in one
 * write. Without it each publish woke the NATS I/O thread on its own: at
 * 20 000 updates/s that was a wake-up and a write(2) per update. */
static void rooms__on_turn(void *arg, bool begin)
{
    ss_nats_batch(((rooms *)arg)->gw->nats, begin);
}

int rooms_create(rooms **out, gateway *gw, sio_hooks *hooks)
{
    rooms *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -1;
    r->gw = gw;
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
    if (fanout_create(&r->fanout, r) != 0 || presence_client_create(&r->presence, r) != 0)
        return -1;
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
    free(r);
}
