/* owner.h — which presence-service instance publishes a user's presence
 * updates: rendezvous (highest random weight) hashing over the live, ready
 * instances (peers.h keeps that set).
 *
 * score(instance, user) = mix(FNV-1a("<instance>\0<user>")); the owner is
 * the instance with the highest score, a tie going to the smaller id (so
 * every instance that knows the same set picks the same owner). When an
 * instance leaves the set only the users it owned move, each to the
 * instance with the next highest score; when one joins it takes only the
 * users it now scores highest on. No table to agree on, nothing to store.
 *
 * Pure functions; any thread. */
#ifndef PRESENCE_OWNER_H
#define PRESENCE_OWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint64_t owner_score(const char *instance, const char *user);

/* True when instance a ranks above instance b for user. */
bool owner_beats(const char *a, const char *b, const char *user);

/* The index in ids[0..n) of user's owner; -1 when n is 0. */
int owner_pick(const char *const *ids, size_t n, const char *user);

#endif
