/* ss_lease.h — leases on the NATS cluster's own primitive, a JetStream
 * key-value bucket (DESIGN §1: "a partition never has two owners").
 *
 * A lease is a key of a bucket whose entries expire `ttl_ms` after their
 * last write (the bucket's max age). Taking it is a create (refused by the
 * server when the key exists: two instances starting at the same moment
 * cannot both win); keeping it is an update by revision every ttl/4
 * (refused when anyone else wrote the key since). Its holder counts the
 * lease as lost — and stops using it — once `ttl_ms - margin` has passed
 * since the start of its last successful write, which is before the server
 * can let the entry expire and anyone else create it (the server stamps the
 * entry after that start; expiry is never early).
 *
 * A lease's value names its holder: "<holder>/<incarnation>", the
 * incarnation random per process. A holder that finds its own name under
 * another incarnation (its previous process, killed) waits for that entry to
 * expire — or, when it is still there after the TTL (renewed: another live
 * process has the same name), refuses. Its own entry (a renewal that
 * succeeded while it saw a timeout) it takes back by revision.
 *
 * Threads: every call blocks on JetStream requests (up to the bucket's
 * request timeout); call from a thread of the owner's that may block (a
 * service's main thread, a lease keeper thread) — never from a NATS delivery
 * or I/O thread. One ss_lease_bucket may be used by several threads. */
#ifndef SS_LEASE_H
#define SS_LEASE_H

#include "ss_error.h"

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ss_lease_bucket ss_lease_bucket;

typedef struct ss_lease_cfg {
    const char *bucket; /* e.g. "statsync_partitions" */
    int64_t ttl_ms;     /* >= 1000 */
    int replicas;       /* JetStream replicas of the bucket (1 or 3) */
    const char *holder; /* this instance's name, <= 100 bytes */
} ss_lease_cfg;

/* Binds to the bucket, creating it when missing. SS_ERR_UNAVAILABLE with
 * *why (JetStream not enabled, no permission, no quorum). */
ss_err ss_lease_bucket_open(ss_lease_bucket **out, natsConnection *nc, const ss_lease_cfg *cfg,
                            char *why, size_t why_cap);
void ss_lease_bucket_close(ss_lease_bucket *b);
int64_t ss_lease_ttl_ms(const ss_lease_bucket *b);
/* "<holder>/<incarnation>" of this process. */
const char *ss_lease_value(const ss_lease_bucket *b);

typedef struct ss_lease {
    char key[64];
    uint64_t revision;   /* of our last write */
    int64_t written_ms;  /* monotonic start of our last successful write */
    bool held;
} ss_lease;

/* Takes key. SS_OK: held. SS_ERR_CONFLICT: another holder has it — *owner
 * is its value ("stats1/9f2c…"). SS_ERR_UNAVAILABLE / SS_ERR_TIMEOUT:
 * JetStream did not answer (nothing taken). May wait up to ttl_ms + 2 s
 * for a previous incarnation's entry to expire. */
ss_err ss_lease_take(ss_lease_bucket *b, ss_lease *l, const char *key, char *owner,
                     size_t owner_cap);
/* Renews a held lease. SS_ERR_CONFLICT: someone else wrote it — lost;
 * other errors: not renewed this time (see ss_lease_expired). */
ss_err ss_lease_renew(ss_lease_bucket *b, ss_lease *l);
/* True when the holder must count the lease as lost: ttl - margin since
 * written_ms (margin = ttl / 5, at least 500 ms). Pure. */
bool ss_lease_expired(const ss_lease_bucket *b, const ss_lease *l, int64_t now_mono_ms);
/* The monotonic ms until which a held lease surely holds (written_ms + ttl
 * - margin); 0 when not held. Pure. */
int64_t ss_lease_valid_until(const ss_lease_bucket *b, const ss_lease *l);
/* Gives a held lease back (deletes the key if it is still ours). SS_OK, or
 * the error when JetStream did not answer (the lease then expires by
 * itself within the TTL). */
ss_err ss_lease_release(ss_lease_bucket *b, ss_lease *l);
/* The current value of key into owner (empty when free). SS_OK or the error. */
ss_err ss_lease_owner(ss_lease_bucket *b, const char *key, char *owner, size_t owner_cap);

/* The never-expiring sibling bucket "<bucket>_config": a key's value
 * (SS_ERR_NOT_FOUND when absent) and an unconditional put. */
ss_err ss_lease_config_get(ss_lease_bucket *b, const char *key, char *value, size_t cap);
ss_err ss_lease_config_put(ss_lease_bucket *b, const char *key, const char *value);

/* A value that must be the same for every instance of a cluster (the
 * partition count): created when missing, else compared. SS_OK when equal;
 * SS_ERR_CONFLICT with *stored when different. Uses the bucket's
 * non-expiring sibling "<bucket>_config". */
ss_err ss_lease_cluster_value(ss_lease_bucket *b, const char *key, const char *value,
                              char *stored, size_t stored_cap);

#endif
