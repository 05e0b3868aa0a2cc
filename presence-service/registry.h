/* registry.h — who is online: the presence-service's data, no NATS inside.
 *
 * Holds user -> live sockets (gateway, socket id, last seen) and gateway ->
 * last heartbeat. Pure data structure code: every function takes "now" (ms,
 * monotonic) from the caller, so unit tests drive time by hand.
 *
 * Expiry rules (registry_expire):
 *   - a gateway not heard from (heartbeat, join, leave, ping, snapshot) for
 *     1.9 of its heartbeat intervals is dropped with all its sockets; the
 *     caller sweeps every interval/10, so a stopped gateway's sockets are gone
 *     within two intervals of its last heartbeat;
 *   - a socket whose last sign of life is older than socket_ttl_ms is dropped.
 *     Signs of life: its join, its presence:ping, its gateway listing it in a
 *     snapshot, and a heartbeat of its gateway whose socket count and digest
 *     match ours (the gateway holds only sockets alive at the Engine.IO
 *     level, so a connected but app-silent client stays online).
 *
 * Digest: each gateway's sockets are summed into ss_presence_digest (common/
 * ss_presence_digest.h), kept up to date on every add and remove, so a
 * heartbeat's (count, digest) tells in O(1) whether our picture of that
 * gateway is exactly its own. A gateway is "synced" once a heartbeat matched
 * or a snapshot of it completed, until a heartbeat does not match.
 *
 * Every user remembers when its count last changed (registry_each_user), so
 * an instance taking over another's users republishes only recent changes.
 *
 * Bounded: at most max_sockets sockets and max_gateways gateways; past the
 * bound a join is refused (REGISTRY_FULL) and counted by the caller.
 *
 * Changes: whenever a user's device count changes, on_change(arg, user,
 * devices, gw, sock) is called (devices = 0: offline) before the function
 * returns.
 *
 * Threads: none inside; the caller serialises every call (one mutex). */
#ifndef PRESENCE_REGISTRY_H
#define PRESENCE_REGISTRY_H

#include "ss_userid.h"

#include <stddef.h>
#include <stdint.h>

typedef struct registry registry;

/* gw / sock: the socket whose join, leave or ping caused the change; NULL
 * after an expiry or a snapshot. */
typedef void (*registry_change_fn)(void *arg, const char *user_id, uint32_t devices,
                                   const char *gw, const char *sock);

typedef struct registry_config {
    size_t max_sockets;
    size_t max_gateways;
    int64_t default_interval_ms; /* a gateway's heartbeat interval until it says its own */
    int64_t socket_ttl_ms;
    registry_change_fn on_change; /* may be NULL */
    void *arg;
} registry_config;

typedef enum registry_rc {
    REGISTRY_OK = 0,       /* changed */
    REGISTRY_SAME = 1,     /* nothing to change (already there / not there) */
    REGISTRY_FULL = -1,    /* past max_sockets / max_gateways: refused */
    REGISTRY_INVALID = -2, /* empty or over-long id, or no memory */
} registry_rc;

/* longest gateway / socket / user id kept: a userId may be SS_USERID_MAX bytes */
#define REGISTRY_ID_MAX SS_USERID_MAX

typedef struct registry_counts {
    uint64_t sockets;
    uint64_t users;    /* users with >= 1 socket */
    uint64_t gateways;
} registry_counts;

int registry_create(registry **out, const registry_config *cfg);
void registry_destroy(registry *r);

registry_rc registry_join(registry *r, const char *gw, const char *sock, const char *user,
                          int64_t now);
registry_rc registry_leave(registry *r, const char *gw, const char *sock, int64_t now);
/* presence:ping: refreshes the socket (registering it when unknown) and
 * returns in *devices the user's live socket count across all gateways. */
registry_rc registry_ping(registry *r, const char *gw, const char *sock, const char *user,
                          int64_t now, uint32_t *devices);
uint32_t registry_devices(const registry *r, const char *user);
/* A gateway heartbeat. Returns 1 when our count of its sockets differs from
 * `sockets`, or our digest of them from *digest (NULL: count only) — the
 * gateway should send a snapshot — else 0; -1 when refused. */
int registry_heartbeat(registry *r, const char *gw, uint64_t sockets, const uint64_t *digest,
                       int64_t interval_ms, int64_t now);
/* One part of a gateway snapshot. Parts of one snapshot_id come in order from
 * 0; when `last`, every socket of the gateway not listed in this snapshot is
 * dropped. A part 0 starts a new snapshot (an unfinished older one is
 * abandoned). Returns REGISTRY_OK, or REGISTRY_FULL when some sockets did not
 * fit. */
typedef struct registry_sock_ref {
    const char *sock;
    const char *user;
} registry_sock_ref;
registry_rc registry_snapshot(registry *r, const char *gw, uint64_t snapshot_id, uint32_t part,
                              int last, const registry_sock_ref *socks, size_t n,
                              int64_t interval_ms, int64_t now);
/* Drops expired gateways and sockets. *gateways_out / *sockets_out (may be
 * NULL) receive how many were dropped (sockets of an expired gateway
 * included). */
void registry_expire(registry *r, int64_t now, size_t *gateways_out, size_t *sockets_out);

/* Every gateway counts as just heard from (and vouching for its sockets):
 * after our own NATS outage, so that it does not look like theirs. */
void registry_grace(registry *r, int64_t now);

registry_counts registry_get_counts(const registry *r);
/* Our count of a gateway's sockets, and their digest (0 when unknown). */
uint64_t registry_gateway_sockets(const registry *r, const char *gw);
uint64_t registry_gateway_digest(const registry *r, const char *gw);
/* Gateways not synced: heard from (a join, a ping) but neither a matching
 * heartbeat nor a complete snapshot yet, or whose last heartbeat differed. */
size_t registry_unsynced(const registry *r);
/* fn(arg, user, devices) for every user (>= 1 socket) whose count changed
 * at or after `since` (INT64_MIN: all). Returns how many. */
size_t registry_each_user(const registry *r, int64_t since,
                          void (*fn)(void *arg, const char *user, uint32_t devices), void *arg);

#endif
