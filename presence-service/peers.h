/* peers.h — the other presence-service instances this one has heard from
 * (statsync.presence.instance announcements), and which of the live, ready
 * ones owns a user's presence updates (owner.h). Pure data structure code:
 * every function takes "now" (monotonic ms) from the caller.
 *
 * An instance is in the owner set while it is ready (it has the whole
 * picture: presence.h) and has announced itself within PEERS_EXPIRY
 * announce intervals (its own, as it states). Self is in the set while
 * peers_set_ready(p, true). A peer that leaves the set — expired, announced
 * not ready, or came back as a new incarnation (a restart whose not-ready
 * announcement we missed) — is reported with the time of its last ready
 * announcement, so the caller can republish the users it now owns and whose
 * count changed since about then (the peer may not have published those).
 *
 * Bounded: at most PEERS_MAX peers; past it an announcement is refused.
 *
 * Threads: none inside; the caller serialises every call (presence.h: mu). */
#ifndef PRESENCE_PEERS_H
#define PRESENCE_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEERS_MAX 64
#define PEERS_ID_MAX 128
#define PEERS_EXPIRY 3 /* announce intervals without one: gone */

typedef struct peers peers;

typedef enum peers_rc {
    PEERS_SAME = 0,      /* nothing changed in the owner set */
    PEERS_JOINED = 1,    /* the peer entered the owner set (it is ready) */
    PEERS_LEFT = 2,      /* it left the owner set: *last_ready says since when */
    PEERS_CLASH = -1,    /* another incarnation announces our own id */
    PEERS_FULL = -2,     /* PEERS_MAX peers already: refused */
    PEERS_INVALID = -3,  /* empty or over-long id */
} peers_rc;

/* self: this instance's id (copied), incarnation: random per start. */
int peers_create(peers **out, const char *self, uint64_t incarnation);
void peers_destroy(peers *p);

const char *peers_self(const peers *p);
void peers_set_ready(peers *p, bool ready);
bool peers_self_ready(const peers *p);

/* What an instance says of itself (PresenceInstance). */
typedef struct peers_word {
    const char *id;
    uint64_t incarnation;
    bool ready;
    int64_t interval_ms; /* its announce interval */
    uint64_t gateways;   /* gateways in its picture */
} peers_word;

/* An announcement. On PEERS_LEFT, *last_ready (may be NULL) is the time of
 * the peer's last announcement as ready. */
peers_rc peers_seen(peers *p, const peers_word *w, int64_t now, int64_t *last_ready);

/* Drops peers silent for PEERS_EXPIRY of their intervals; gone(arg, id,
 * last_ready) for each one that was in the owner set. Returns how many were
 * dropped. */
size_t peers_expire(peers *p, int64_t now,
                    void (*gone)(void *arg, const char *id, int64_t last_ready), void *arg);

/* Ready peers (self not counted), and all peers heard from. */
size_t peers_ready_count(const peers *p);
size_t peers_count(const peers *p);

/* The most gateways a ready peer has in its picture (0 without one). */
uint64_t peers_most_gateways(const peers *p);

/* May an instance that has been syncing for `elapsed` ms call its picture
 * whole? After `settle` ms, when every gateway it heard from is synced
 * (unsynced == 0) and it has at least as many as any ready peer
 * (gateways >= most_known); in any case after `cap` ms, so that a gateway
 * whose heartbeats never match (its sockets past the registry's bound)
 * cannot keep it out for ever. */
bool peers_sync_done(int64_t elapsed, int64_t settle, int64_t cap, size_t unsynced,
                     uint64_t gateways, uint64_t most_known);

/* True when self is ready and ranks above every ready peer for user. */
bool peers_owns(const peers *p, const char *user);

/* True when user is ours now and `gone` ranked above us: it was gone's
 * user before gone left the set, and so ours to republish. */
bool peers_took_over(const peers *p, const char *gone, const char *user);

#endif
