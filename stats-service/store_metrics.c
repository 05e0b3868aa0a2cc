/* store_metrics.c — LMDB size, fill and idempotency records of the served
 * partitions (store_metrics.h). Runs on the scraping thread
 * (libmicrohttpd's): reads a partition's store like handlers.c does — the
 * pointer atomically, then a read transaction, which store_shut waits for. */
#include "store_metrics.h"

#include "ss_metrics.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct store_metrics__usage {
    uint32_t partition;
    double size, map;
} store_metrics__usage;

/* One partition's numbers; false when it is not served or its store is
 * closing. *idem gets its idempotency records. */
static bool store_metrics__measure(stats_partition *sp, store_metrics__usage *u, uint64_t *idem)
{
    stats_store *st = atomic_load(&sp->store);
    MDB_txn *txn = NULL;
    if (st == NULL || atomic_load(&sp->state) != PART_SERVING ||
        store_read_begin(st, &txn) != SS_OK)
        return false;
    MDB_env *env = mdb_txn_env(txn);
    MDB_envinfo info;
    MDB_stat stat;
    bool ok = mdb_env_info(env, &info) == 0 && mdb_env_stat(env, &stat) == 0 &&
              store_idem_count(st, txn, idem) == SS_OK;
    store_read_end(st, txn);
    u->partition = sp->id;
    u->size = ((double)info.me_last_pgno + 1) * (double)stat.ms_psize;
    u->map = (double)info.me_mapsize;
    return ok;
}

static void store_metrics__collect(ss_metrics_out *out, void *arg)
{
    stats_service *svc = arg;
    size_t count = svc->parts != NULL ? (size_t)svc->partition_count : 0;
    store_metrics__usage *u = calloc(count ? count : 1, sizeof(*u));
    if (u == NULL)
        return;
    size_t n = 0;
    uint64_t idem = 0;
    double size = 0, map = 0, fill = 0;
    for (size_t p = 0; p < count; p++) {
        uint64_t records = 0;
        if (!store_metrics__measure(&svc->parts[p], &u[n], &records))
            continue;
        idem += records;
        size += u[n].size;
        map += u[n].map;
        if (u[n].map > 0 && u[n].size / u[n].map > fill)
            fill = u[n].size / u[n].map;
        n++;
    }
    char label[16];
    ss_metrics_family(out, "statsync_stats_lmdb_size_bytes",
                      "Bytes of a served partition's LMDB map in use", SS_METRIC_GAUGE);
    for (size_t i = 0; i < n; i++) {
        snprintf(label, sizeof(label), "%u", u[i].partition);
        ss_metrics_sample(out, "partition", label, u[i].size);
    }
    ss_metrics_family(out, "statsync_stats_lmdb_map_size_bytes",
                      "A served partition's LMDB map size: the most its file may hold",
                      SS_METRIC_GAUGE);
    for (size_t i = 0; i < n; i++) {
        snprintf(label, sizeof(label), "%u", u[i].partition);
        ss_metrics_sample(out, "partition", label, u[i].map);
    }
    ss_metrics_family(out, "statsync_stats_lmdb_total_size_bytes",
                      "Bytes of LMDB maps in use, over the served partitions", SS_METRIC_GAUGE);
    ss_metrics_sample(out, NULL, NULL, size);
    ss_metrics_family(out, "statsync_stats_lmdb_total_map_size_bytes",
                      "LMDB map sizes, over the served partitions", SS_METRIC_GAUGE);
    ss_metrics_sample(out, NULL, NULL, map);
    ss_metrics_family(out, "statsync_stats_lmdb_max_fill_ratio",
                      "The fullest served partition's LMDB size / map size (0..1)",
                      SS_METRIC_GAUGE);
    ss_metrics_sample(out, NULL, NULL, fill);
    ss_metrics_family(out, "statsync_stats_idempotency_records",
                      "Idempotency records (applied opIds and Idempotency-Keys) remembered, over "
                      "the served partitions", SS_METRIC_GAUGE);
    ss_metrics_sample(out, NULL, NULL, (double)idem);
    free(u);
}

void store_metrics_init(stats_service *svc)
{
    /* STATSYNC_PARTITION_COUNT: what the served ones are counted against
     * (compose/observability's alert on a partition without an owner). */
    ss_gauge_set(ss_gauge_get("statsync_stats_cluster_partitions",
                              "Partitions of the cluster (STATSYNC_PARTITION_COUNT), served here "
                              "or not", NULL),
                 svc->partition_count);
    ss_metrics_collector(store_metrics__collect, svc);
}
