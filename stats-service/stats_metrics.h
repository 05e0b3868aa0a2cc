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

#endif
