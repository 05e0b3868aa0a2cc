/* stats_metrics.h — the stats-service's Prometheus metrics, in one place.
 * Thin wrappers over ss_metrics (lock-free updates; any thread). */
#ifndef STATS_METRICS_H
#define STATS_METRICS_H

#include "ss_error.h"

#include <stddef.h>
#include <stdint.h>

/* Registers every metric so /metrics lists them from the start. Idempotent. */
void stats_metrics_init(void);

/* statsync_stats_mutations_total{status,code}: one per answered mutation. */
void stats_metrics_mutation(ss_err outcome);
/* statsync_stats_reads_total{status}: one per answered GetRequest. */
void stats_metrics_read(ss_err outcome);
/* statsync_stats_commit_seconds: LMDB commit latency. */
void stats_metrics_commit_ns(int64_t ns);
/* statsync_stats_batch_size: mutations per write transaction (group commit). */
void stats_metrics_batch(size_t n);
/* statsync_stats_queue_wait_seconds: enqueue -> start of the batch. */
void stats_metrics_queue_wait_ns(int64_t ns);
/* statsync_stats_queue_depth: mutations waiting for the writer. */
void stats_metrics_queue_depth(int64_t depth);
/* statsync_stats_duplicate_ops_total: ops skipped as idempotent repeats. */
void stats_metrics_duplicates(size_t n);
/* statsync_stats_idempotency_pruned_total: expired records deleted. */
void stats_metrics_pruned(size_t n);
/* statsync_stats_client_seq_total{verdict}: mutations with numbered ops
 * (exactly-once per client), by how they stood against the client's
 * record: "new", "repeat" (every numbered op decided before), "gap". */
void stats_metrics_client_seq(const char *verdict);
/* statsync_stats_clients_evicted_total: client records dropped to make
 * room (the least recently used of a user with the most clients). */
void stats_metrics_client_evicted(void);

#endif
