/* store_metrics.h — the LMDB files of the partitions served now, measured
 * at scrape time (a read transaction per partition, nothing polled):
 *
 *   statsync_stats_lmdb_size_bytes{partition}      bytes of the map in use
 *   statsync_stats_lmdb_map_size_bytes{partition}  the map: the most the file may hold
 *   statsync_stats_lmdb_total_size_bytes           both, over the served partitions
 *   statsync_stats_lmdb_total_map_size_bytes
 *   statsync_stats_lmdb_max_fill_ratio             the fullest partition's size / map (0..1)
 *   statsync_stats_idempotency_records             applied opIds / Idempotency-Keys remembered
 *   statsync_stats_cluster_partitions              STATSYNC_PARTITION_COUNT (set once, at start)
 *
 * A partition not served here has no series (at most the served ones:
 * STATSYNC_PARTITIONS). "In use" is every page up to the highest one LMDB
 * has written, which is what must fit in the map (a write past it fails
 * with 507 storage_full); freed pages below it are reused first. */
#ifndef STATS_STORE_METRICS_H
#define STATS_STORE_METRICS_H

#include "service.h"

/* Registers the collector (main thread, once the partitions exist: svc->parts
 * must stay allocated while the admin port answers). */
void store_metrics_init(stats_service *svc);

#endif
