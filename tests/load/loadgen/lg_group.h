/* lg_group.h — which connections are one user's devices.
 *
 * Two layouts, both pure arithmetic (no table, nothing per connection):
 *
 *   --devices N  connections grouped N per user: connection i is device
 *                i % N of user u<i / N> (the last user may have fewer);
 *   --users U    (or neither: U = conns) connection i is device i / U of
 *                user u<i % U>.
 *
 * A user has at most LG_GROUP_MAX_DEVICES devices (one bit each in a
 * pending update's masks). */
#ifndef LG_GROUP_H
#define LG_GROUP_H

#include "lg_options.h"

#include <stdint.h>

#define LG_GROUP_MAX_DEVICES 32

static inline uint32_t lg_group_user_of(const lg_options *o, uint32_t conn)
{
    return o->devices ? conn / (uint32_t)o->devices : conn % (uint32_t)o->users;
}

static inline uint32_t lg_group_device_of(const lg_options *o, uint32_t conn)
{
    return o->devices ? conn % (uint32_t)o->devices : conn / (uint32_t)o->users;
}

static inline uint32_t lg_group_conn_of(const lg_options *o, uint32_t user, uint32_t device)
{
    return o->devices ? user * (uint32_t)o->devices + device : user + device * (uint32_t)o->users;
}

/* How many connections user `user` has (0 for a user past the last connection). */
static inline uint32_t lg_group_devices_of(const lg_options *o, uint32_t user)
{
    long first = lg_group_conn_of(o, user, 0);
    if (first >= o->conns)
        return 0;
    if (o->devices) {
        long left = o->conns - first;
        return (uint32_t)(left < o->devices ? left : o->devices);
    }
    return (uint32_t)((o->conns - 1 - first) / o->users + 1);
}

#endif
