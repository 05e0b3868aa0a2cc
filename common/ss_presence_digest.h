/* ss_presence_digest.h — the one definition of a presence membership
 * digest, which a gateway's heartbeat carries and every presence-service
 * instance compares with its own picture of that gateway (proto/README.md,
 * "Presence"): both sides must compute it alike, hence here.
 *
 * A set of sockets (socket id, user id) digests to the sum, modulo 2^64, of
 * one 64-bit hash per socket. A sum (not an XOR) so that a socket counted
 * twice never cancels out; order-free, so it is kept up to date by adding a
 * joining socket's hash and subtracting a leaving one's, and a snapshot walk
 * in any order gives the same value. Together with the socket count, two
 * different sets collide only by chance (about 2^-64).
 *
 * Pure functions; any thread. */
#ifndef SS_PRESENCE_DIGEST_H
#define SS_PRESENCE_DIGEST_H

#include <stdint.h>

/* The hash of one socket: FNV-1a over "<socket id>\0<user id>", mixed. */
uint64_t ss_presence_digest_socket(const char *socket_id, const char *user_id);

/* A 64-bit finalizer (splitmix64's): spreads FNV-1a's weak low bits. Also
 * the presence-service's rendezvous scores use it. */
uint64_t ss_presence_mix(uint64_t h);

#endif
