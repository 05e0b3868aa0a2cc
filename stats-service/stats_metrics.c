/* stats_metrics.c — metric handles, looked up once (pthread_once). */
#include "stats_metrics.h"

#include "ss_metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t stats_metrics__once = PTHREAD_ONCE_INIT;

/* A counter per outcome (labels status and code), each created on first use. */
typedef struct stats_metrics__family {
    const char *name, *help;
    ss_counter *_Atomic by_outcome[SS_ERR__COUNT];
} stats_metrics__family;

static stats_metrics__family stats_metrics__mut = {
    .name = "statsync_stats_mutations_total", .help = "Mutations answered, by outcome"};
static stats_metrics__family stats_metrics__reads = {
    .name = "statsync_stats_reads_total", .help = "GetRequests answered, by outcome"};
static ss_histogram *stats_metrics__commit, *stats_metrics__batch, *stats_metrics__wait;
static ss_gauge *stats_metrics__depth;
static ss_counter *stats_metrics__dups, *stats_metrics__pruned, *stats_metrics__evicted;
static const char *const stats_metrics__verdicts[] = {"new", "repeat", "gap"};
static ss_counter *stats_metrics__seq[3];

static ss_counter *stats_metrics__outcome(stats_metrics__family *f, ss_err e)
{
    if ((unsigned)e >= SS_ERR__COUNT)
        e = SS_ERR_INTERNAL;
    ss_counter *_Atomic *slot = &f->by_outcome[e];
    ss_counter *c = atomic_load_explicit(slot, memory_order_acquire);
    if (c != NULL)
        return c;
    char labels[96], status[8];
    snprintf(status, sizeof(status), "%d", ss_err_http_status(e));
    ss_metric_labels(labels, sizeof(labels), "status", status, "code", ss_err_code(e), NULL);
    c = ss_counter_get(f->name, f->help, labels); /* same pointer for every caller */
    atomic_store_explicit(slot, c, memory_order_release);
    return c;
}

static void stats_metrics__init_once(void)
{
    static const ss_err outcomes[] = {
        SS_OK,           SS_ERR_BAD_REQUEST,        SS_ERR_INVALID_VALUE, SS_ERR_OVERFLOW,
        SS_ERR_CONFLICT, SS_ERR_INSUFFICIENT_FUNDS, SS_ERR_INTERNAL,      SS_ERR_UNAVAILABLE,
        SS_ERR_STORAGE_FULL,
    };
    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
        stats_metrics__outcome(&stats_metrics__mut, outcomes[i]);
    stats_metrics__outcome(&stats_metrics__reads, SS_OK);
    stats_metrics__commit = ss_histogram_get("statsync_stats_commit_seconds",
                                             "LMDB write transaction commit latency", NULL);
    stats_metrics__batch = ss_histogram_get_values(
        "statsync_stats_batch_size", "Mutations per LMDB write transaction (group commit)", NULL);
    stats_metrics__wait = ss_histogram_get("statsync_stats_queue_wait_seconds",
                                           "Time a mutation waits for the writer", NULL);
    stats_metrics__depth =
        ss_gauge_get("statsync_stats_queue_depth", "Mutations waiting for the writer", NULL);
    stats_metrics__dups = ss_counter_get("statsync_stats_duplicate_ops_total",
                                         "Operations skipped as idempotent repeats", NULL);
    stats_metrics__pruned = ss_counter_get("statsync_stats_idempotency_pruned_total",
                                           "Expired idempotency records deleted", NULL);
    for (size_t i = 0; i < 3; i++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "verdict=\"%s\"", stats_metrics__verdicts[i]);
        stats_metrics__seq[i] = ss_counter_get(
            "statsync_stats_client_seq_total",
            "Mutations with numbered ops, by verdict against the client's record", labels);
    }
    stats_metrics__evicted = ss_counter_get("statsync_stats_clients_evicted_total",
                                            "Client records evicted (least recently used of a "
                                            "user at STATSYNC_MAX_CLIENTS_PER_USER)", NULL);
}

void stats_metrics_init(void)
{
    pthread_once(&stats_metrics__once, stats_metrics__init_once);
}

void stats_metrics_mutation(ss_err outcome)
{
    stats_metrics_init();
    ss_counter_add(stats_metrics__outcome(&stats_metrics__mut, outcome), 1);
}

void stats_metrics_read(ss_err outcome)
{
    stats_metrics_init();
    ss_counter_add(stats_metrics__outcome(&stats_metrics__reads, outcome), 1);
}

void stats_metrics_commit_ns(int64_t ns)
{
    stats_metrics_init();
    ss_histogram_observe(stats_metrics__commit, ns);
}

void stats_metrics_batch(size_t n)
{
    stats_metrics_init();
    ss_histogram_observe(stats_metrics__batch, (int64_t)n);
}

void stats_metrics_queue_wait_ns(int64_t ns)
{
    stats_metrics_init();
    ss_histogram_observe(stats_metrics__wait, ns);
}

void stats_metrics_queue_depth(int64_t depth)
{
    stats_metrics_init();
    ss_gauge_set(stats_metrics__depth, depth);
}

void stats_metrics_duplicates(size_t n)
{
    stats_metrics_init();
    ss_counter_add(stats_metrics__dups, n);
}

void stats_metrics_pruned(size_t n)
{
    stats_metrics_init();
    ss_counter_add(stats_metrics__pruned, n);
}

void stats_metrics_client_seq(const char *verdict)
{
    stats_metrics_init();
    for (size_t i = 0; i < 3; i++)
        if (strcmp(verdict, stats_metrics__verdicts[i]) == 0)
            ss_counter_add(stats_metrics__seq[i], 1);
}

void stats_metrics_client_evicted(void)
{
    stats_metrics_init();
    ss_counter_add(stats_metrics__evicted, 1);
}
