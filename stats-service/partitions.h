/* partitions.h — the partitions this stats-service instance owns.
 *
 * Each owned partition has its own LMDB environment,
 * <data dir>/partitions/<p>/, so a partition moves as one folder; its own
 * subscriptions, statsync.stats.apply.<p>.* and statsync.stats.get.<p>.*
 * (no queue group: only the owner subscribes); and a lease, the key
 * "p.<p>" of the JetStream key-value bucket statsync_partitions
 * (ss_lease.h), so a partition never has two owners: acquiring an owned
 * partition is refused with the owner's name, and an owner that cannot renew
 * its lease stops serving the partition before the lease can expire.
 *
 * Threads: partitions_start and partitions_stop on the main thread;
 * partition_acquire / partition_release on the main thread, the control
 * handler's thread (control.c) or the keeper thread (lease lost), serialized
 * by svc->part_mu; the keeper thread renews every lease each ttl/4. */
#ifndef STATS_PARTITIONS_H
#define STATS_PARTITIONS_H

#include "service.h"

#include <stdbool.h>
#include <stddef.h>

/* Opens the lease bucket, checks the cluster's partition count, acquires
 * every configured partition and starts the keeper. On failure (logged:
 * which partition, which owner) whatever was acquired is given back and
 * the error returned; the service must not start. */
ss_err partitions_start(stats_service *svc);
/* Stops the keeper, releases every partition (leases given back) and frees
 * the partitions. After the writer has stopped. */
void partitions_stop(stats_service *svc);

/* Takes p: lease, LMDB, writer, subscriptions. SS_OK (also when already
 * served); SS_ERR_CONFLICT (owned elsewhere: *why names the owner), or
 * another error with *why. */
ss_err partition_acquire(stats_service *svc, uint32_t p, char *why, size_t why_cap);
/* Stops serving p: refuses its requests at once (partition_unavailable),
 * unsubscribes, detaches its LMDB from the writer, closes it, and gives the
 * lease back when give_back (not when it was lost: then it is not ours). */
void partition_release(stats_service *svc, uint32_t p, bool give_back);

/* The partitions served now — taken, and their lease surely held — into
 * out (ascending); their number. */
size_t partitions_serving(stats_service *svc, uint32_t *out, size_t cap);
/* Stored documents across the served partitions. */
uint64_t partitions_total_users(stats_service *svc);
/* Graceful drain of every partition's subscriptions (shutdown): in-flight
 * requests finish; no new ones are taken. */
void partitions_drain(stats_service *svc, int64_t deadline_mono_ms);

#endif
