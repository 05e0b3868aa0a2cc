/* rooms_internal.h — the rooms layer's one struct, shared by its files
 * (sio_events.c, fanout.c, presence_client.c, rooms.c). Outside the folder
 * only rooms.h is used. Threads: service thread, unless a field says so. */
#ifndef ROOMS_INTERNAL_H
#define ROOMS_INTERNAL_H

#include "rooms.h"

struct fanout;
struct presence_client;

struct rooms {
    gateway *gw;                      /* read-only config and handles (any thread) */
    sio_server *s;                    /* the Socket.IO server (rooms_attach)       */
    struct fanout *fanout;            /* the only owner of rooms                   */
    struct presence_client *presence; /* membership and pings                      */
    natsStatistics *nats_stats;       /* to notice the NATS connection came back   */
    uint64_t reconnects;              /* reconnections seen so far                 */
    int64_t next_nats_check_ms;       /* monotonic                                 */
};

#endif
