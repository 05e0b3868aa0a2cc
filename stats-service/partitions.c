/* partitions.c — owned partitions: leases, LMDB environments, subscriptions
 * (see partitions.h).
 *
 * Threads: main thread (start/stop), control handler (control.c) and the
 * keeper thread (partitions__keeper) call acquire/release under part_mu;
 * handlers.c reads a partition's state/store/apply_drained atomically. */
#include "partitions.h"

#include "control.h"
#include "handlers.h"
#include "ss_log.h"
#include "ss_stop.h"
#include "ss_metrics.h"
#include "ss_nats.h"
#include "ss_subjects.h"
#include "ss_time.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PARTITIONS_BUCKET "statsync_partitions"
/* How long a start keeps retrying JetStream that does not answer yet. */
#define PARTITIONS_START_WAIT_MS 30000

static void partitions__key(char *buf, size_t cap, uint32_t p)
{
    snprintf(buf, cap, "p.%u", p);
}

static void partitions__dir(const stats_service *svc, uint32_t p, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/partitions/%u", svc->data_dir, p);
}

/* A data directory written before partitions (one environment for every
 * user) must not be silently ignored: its documents would seem lost. */
static bool partitions__legacy_data(const stats_service *svc)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof(path), "%s/data.mdb", svc->data_dir);
    if (stat(path, &st) != 0)
        return false;
    ss_log(SS_LOG_ERROR,
           "the data directory holds an LMDB file from before partitions: split it with "
           "`statsync-admin partition split-legacy` (stats-service/README.md) and start again",
           "{s:s}", "file", path);
    return true;
}

/* Subscribes p's subjects (apply: synchronous, drained by the NATS I/O
 * thread; get: cnats' delivery pool). part_mu held. */
static natsStatus partitions__subscribe(stats_service *svc, stats_partition *sp)
{
    char apply[96], get[96];
    snprintf(apply, sizeof(apply), "%s.%u.*", SS_SUBJ_STATS_APPLY, sp->id);
    snprintf(get, sizeof(get), "%s.%u.*", SS_SUBJ_STATS_GET, sp->id);
    natsStatus s = natsConnection_SubscribeSync(&sp->apply_sub, svc->core.nc, apply);
    /* The writer bounds the queue itself; let cnats hold a burst meanwhile. */
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(sp->apply_sub, 1 << 20, 256 << 20);
    if (s == NATS_OK)
        s = ss_nats_subscribe(&sp->subs, &sp->get_sub, svc->core.nc, get, NULL, handlers_on_get,
                              sp);
    if (s == NATS_OK) {
        atomic_store(&sp->apply_drained, sp->apply_sub);
        handlers_kick(svc); /* drains what arrived before the pointer was set */
    }
    return s;
}

/* Undoes partitions__subscribe: no handler of p runs once it returns; apply
 * requests still pending are refused (partition_unavailable) so their
 * clients retry at once instead of waiting for a timeout. part_mu held. */
static void partitions__unsubscribe(stats_service *svc, stats_partition *sp)
{
    if (sp->apply_sub != NULL)
        natsSubscription_Unsubscribe(sp->apply_sub);
    if (sp->get_sub != NULL)
        natsSubscription_Unsubscribe(sp->get_sub);
    atomic_store(&sp->apply_drained, NULL);
    handlers_kick(svc); /* waits for a drain in progress: none sees apply_sub after this */
    for (natsMsg *msg = NULL;
         sp->apply_sub != NULL && natsSubscription_NextMsg(&msg, sp->apply_sub, 0) == NATS_OK;
         msg = NULL)
        handlers_refuse_msg(svc, msg, SS_ERR_PARTITION_UNAVAILABLE,
                            "the user's partition is moving to another instance; retry");
    if (sp->apply_sub != NULL)
        natsSubscription_Destroy(sp->apply_sub);
    sp->apply_sub = NULL;
    ss_nats_unsubscribe(&sp->get_sub);
    if (!ss_nats_subs_wait(&sp->subs, 5000))
        ss_log(SS_LOG_ERROR, "partition subscription not released by cnats", "{s:i}", "partition",
               (int)sp->id);
}

/* Keeps a shut store until exit (threads may still hold its pointer). */
static void partitions__retire(stats_service *svc, stats_store *st)
{
    stats_store **n = realloc(svc->retired, (svc->n_retired + 1) * sizeof(*n));
    if (n == NULL)
        return; /* leaked: never freed while a pointer may be held */
    svc->retired = n;
    svc->retired[svc->n_retired++] = st;
}

static ss_err partitions__open_store(stats_service *svc, stats_partition *sp, char *why,
                                     size_t cap)
{
    char dir[4200];
    stats_store *st = NULL;
    partitions__dir(svc, sp->id, dir, sizeof(dir));
    ss_err e = store_open(&st, dir, (size_t)svc->map_size_mb << 20);
    if (e != SS_OK) {
        snprintf(why, cap, "partition %u: cannot open %s (%s)", sp->id, dir, ss_err_code(e));
        return e;
    }
    if (!writer_attach(svc->writer, st)) {
        store_close(st);
        snprintf(why, cap, "partition %u: the writer is stopping", sp->id);
        return SS_ERR_UNAVAILABLE;
    }
    atomic_store(&sp->store, st);
    return SS_OK;
}

static void partitions__close_store(stats_service *svc, stats_partition *sp)
{
    stats_store *st = atomic_exchange(&sp->store, NULL);
    if (st == NULL)
        return;
    writer_detach(svc->writer, st); /* false only when stopped: then it is joined */
    store_shut(st);
    partitions__retire(svc, st);
}

/* A partition's data lives in one folder. Started where that folder is not,
 * an instance would serve every user of the partition an empty document:
 * refused when the cluster remembers the partition's home (the bucket key
 * "home.<p>") as another instance. SS_OK, or the refusal with *why. */
static ss_err partitions__check_home(stats_service *svc, stats_partition *sp, char *why,
                                     size_t cap)
{
    char path[4200], key[32], home[160] = "";
    struct stat st;
    partitions__dir(svc, sp->id, path, sizeof(path));
    strncat(path, "/data.mdb", sizeof(path) - strlen(path) - 1);
    if (stat(path, &st) == 0)
        return SS_OK; /* the data is here (its own, or moved here) */
    snprintf(key, sizeof(key), "home.%u", sp->id);
    ss_err e = ss_lease_config_get(svc->leases, key, home, sizeof(home));
    if (e == SS_ERR_NOT_FOUND || (e == SS_OK && strcmp(home, svc->instance_id) == 0))
        return SS_OK; /* a new partition, or our own folder was lost (logged by the caller) */
    if (e == SS_OK)
        snprintf(why, cap, "partition %u keeps its data on %s, not here: move it "
                 "(statsync-admin partition move) instead of starting it empty", sp->id, home);
    else
        snprintf(why, cap, "partition %u: its home could not be read (%s)", sp->id, ss_err_code(e));
    return e == SS_OK ? SS_ERR_CONFLICT : e;
}

/* Remembers this instance as p's home (after its folder is open here). */
static void partitions__note_home(stats_service *svc, stats_partition *sp)
{
    char key[32], home[160] = "";
    snprintf(key, sizeof(key), "home.%u", sp->id);
    if (ss_lease_config_get(svc->leases, key, home, sizeof(home)) == SS_OK &&
        strcmp(home, svc->instance_id) == 0)
        return;
    if (ss_lease_config_put(svc->leases, key, svc->instance_id) != SS_OK)
        ss_log(SS_LOG_WARN, "partition home not recorded", "{s:i}", "partition", (int)sp->id);
}

static ss_err partitions__acquire_locked(stats_service *svc, stats_partition *sp, char *why,
                                         size_t cap)
{
    char key[32], owner[160] = "";
    if (atomic_load(&sp->state) == PART_SERVING)
        return SS_OK;
    partitions__key(key, sizeof(key), sp->id);
    ss_err e = ss_lease_take(svc->leases, &sp->lease, key, owner, sizeof(owner));
    if (e == SS_ERR_CONFLICT) {
        snprintf(why, cap, "partition %u is owned by %s", sp->id, owner);
        return e;
    }
    if (e != SS_OK) {
        snprintf(why, cap, "partition %u: its lease could not be taken (%s)", sp->id,
                 ss_err_code(e));
        return e;
    }
    e = partitions__check_home(svc, sp, why, cap);
    if (e == SS_OK)
        e = partitions__open_store(svc, sp, why, cap);
    if (e == SS_OK)
        partitions__note_home(svc, sp);
    atomic_store(&sp->valid_until_ms, ss_lease_valid_until(svc->leases, &sp->lease));
    if (e == SS_OK && partitions__subscribe(svc, sp) != NATS_OK) {
        snprintf(why, cap, "partition %u: subscribing failed", sp->id);
        e = SS_ERR_UNAVAILABLE;
    }
    if (e != SS_OK) {
        partitions__unsubscribe(svc, sp);
        partitions__close_store(svc, sp);
        ss_lease_release(svc->leases, &sp->lease);
        atomic_store(&sp->valid_until_ms, 0);
        return e;
    }
    atomic_store(&sp->state, PART_SERVING);
    sp->wanted = true;
    return SS_OK;
}

ss_err partition_acquire(stats_service *svc, uint32_t p, char *why, size_t why_cap)
{
    if (p >= (uint32_t)svc->partition_count) {
        snprintf(why, why_cap, "partition %u is not within 0-%u", p,
                 (unsigned)svc->partition_count - 1);
        return SS_ERR_INVALID_VALUE;
    }
    pthread_mutex_lock(&svc->part_mu);
    ss_err e = partitions__acquire_locked(svc, &svc->parts[p], why, why_cap);
    pthread_mutex_unlock(&svc->part_mu);
    if (e == SS_OK)
        ss_log(SS_LOG_INFO, "partition acquired", "{s:i,s:s}", "partition", (int)p, "lease",
               ss_lease_value(svc->leases));
    return e;
}

static void partitions__release_locked(stats_service *svc, stats_partition *sp, bool give_back)
{
    if (atomic_load(&sp->state) == PART_OFF)
        return;
    atomic_store(&sp->state, PART_STOPPING); /* handlers and the writer refuse from now on */
    /* A lost lease vouches for nothing from now on; a lease given back is
     * still ours until deleted, so what commits before the writer lets go
     * of the store is acknowledged. */
    if (!give_back)
        atomic_store(&sp->valid_until_ms, 0);
    partitions__unsubscribe(svc, sp);
    partitions__close_store(svc, sp);
    atomic_store(&sp->valid_until_ms, 0);
    /* JetStream unreachable (shutdown with NATS gone): the lease expires by
     * itself; asking for each partition would cost a timeout each. */
    if (give_back && !atomic_load(&svc->leases_unreachable) &&
        ss_lease_release(svc->leases, &sp->lease) != SS_OK)
        atomic_store(&svc->leases_unreachable, true);
    sp->lease.held = false;
    atomic_store(&sp->state, PART_OFF);
}

void partition_release(stats_service *svc, uint32_t p, bool give_back)
{
    if (p >= (uint32_t)svc->partition_count)
        return;
    pthread_mutex_lock(&svc->part_mu);
    if (give_back) /* an operator's release (or shutdown): no automatic re-take */
        svc->parts[p].wanted = false;
    bool was = atomic_load(&svc->parts[p].state) != PART_OFF;
    partitions__release_locked(svc, &svc->parts[p], give_back);
    pthread_mutex_unlock(&svc->part_mu);
    if (was)
        ss_log(give_back ? SS_LOG_INFO : SS_LOG_ERROR,
               give_back ? "partition released" : "partition lease lost: no longer served here",
               "{s:i}", "partition", (int)p);
}

/* ---- the keeper thread ---------------------------------------------------- */

/* A wanted partition not served (its lease was lost: JetStream away longer
 * than the TTL, a pause): taken again as soon as it can be. Keeper thread. */
static void partitions__retake(stats_service *svc, stats_partition *sp)
{
    char why[300] = "";
    pthread_mutex_lock(&svc->part_mu);
    bool retry = sp->wanted && atomic_load(&sp->state) == PART_OFF;
    ss_err e = retry ? partitions__acquire_locked(svc, sp, why, sizeof(why)) : SS_OK;
    pthread_mutex_unlock(&svc->part_mu);
    if (retry)
        ss_log(e == SS_OK ? SS_LOG_INFO : SS_LOG_DEBUG,
               e == SS_OK ? "partition taken again" : "partition not taken again yet",
               "{s:i,s:s}", "partition", (int)sp->id, "error", why);
}

/* Renews every held lease; a lease refused or not renewed in time is lost:
 * its partition stops being served (before anyone else may take it). */
static void partitions__renew_all(stats_service *svc)
{
    for (uint32_t p = 0; p < (uint32_t)svc->partition_count && !atomic_load(&svc->keeper_stop); p++) {
        stats_partition *sp = &svc->parts[p];
        /* NATS away: a renewal could only time out (seconds each); the
         * leases run out by themselves and are counted lost in time. */
        bool reachable = ss_nats_connected(svc->core.nc);
        pthread_mutex_lock(&svc->part_mu);
        bool lost = false;
        if (atomic_load(&sp->state) == PART_SERVING) {
            ss_err e = reachable ? ss_lease_renew(svc->leases, &sp->lease) : SS_ERR_UNAVAILABLE;
            lost = e == SS_ERR_CONFLICT || ss_lease_expired(svc->leases, &sp->lease, ss_mono_ms());
            if (e == SS_OK)
                atomic_store(&sp->valid_until_ms, ss_lease_valid_until(svc->leases, &sp->lease));
            else if (!lost && reachable)
                ss_log(SS_LOG_WARN, "partition lease not renewed (will retry)", "{s:i,s:s}",
                       "partition", (int)p, "error", ss_err_code(e));
        }
        pthread_mutex_unlock(&svc->part_mu);
        if (atomic_load(&svc->draining))
            continue; /* partitions_drain reads the subscriptions: none changes now */
        if (lost)
            partition_release(svc, p, false);
        else if (reachable)
            partitions__retake(svc, sp);
    }
}

static void *partitions__keeper(void *arg)
{
    stats_service *svc = arg;
    int64_t every = svc->lease_ttl_ms / 4;
    while (!atomic_load(&svc->keeper_stop)) {
        int64_t next = ss_mono_ms() + every;
        partitions__renew_all(svc);
        while (!atomic_load(&svc->keeper_stop) && ss_mono_ms() < next) {
            if (!atomic_load(&svc->draining))
                control_poll(svc);
            usleep(20000);
        }
    }
    return NULL;
}

/* ---- start / stop ----------------------------------------------------------- */

static ss_err partitions__check_count(stats_service *svc)
{
    char count[16], stored[64] = "";
    snprintf(count, sizeof(count), "%u", (unsigned)svc->partition_count);
    ss_err e = ss_lease_cluster_value(svc->leases, "partition_count", count, stored,
                                      sizeof(stored));
    if (e == SS_ERR_CONFLICT)
        ss_log(SS_LOG_ERROR, "STATSYNC_PARTITION_COUNT differs from the cluster's: it is fixed "
                             "per cluster", "{s:s,s:s}", "ours", count, "cluster", stored);
    else if (e != SS_OK)
        ss_log(SS_LOG_ERROR, "the cluster's partition count could not be read", "{s:s}",
               "error", ss_err_code(e));
    return e;
}

/* SIGTERM / SIGINT arrived while starting (they are blocked in every
 * thread and taken by ss_service_wait later): stop retrying. */
static ss_err partitions__open(stats_service *svc)
{
    svc->parts = calloc((size_t)svc->partition_count, sizeof(*svc->parts));
    if (svc->parts == NULL)
        return SS_ERR_INTERNAL;
    for (uint32_t p = 0; p < (uint32_t)svc->partition_count; p++) {
        svc->parts[p].id = p;
        svc->parts[p].svc = svc;
        ss_nats_subs_init(&svc->parts[p].subs);
    }
    char why[300] = "";
    const ss_lease_cfg cfg = {PARTITIONS_BUCKET, svc->lease_ttl_ms, (int)svc->lease_replicas,
                              svc->instance_id};
    /* JetStream may still be electing its leader (a cluster starting, a
     * node restarting): transient failures are retried for a while. */
    int64_t deadline = ss_mono_ms() + PARTITIONS_START_WAIT_MS;
    ss_err e;
    while ((e = ss_lease_bucket_open(&svc->leases, svc->core.nc, &cfg, why, sizeof(why))) != SS_OK &&
           ss_mono_ms() < deadline && !ss_stop_pending())
        usleep(500 * 1000);
    if (e != SS_OK) {
        ss_log(SS_LOG_ERROR, "partition leases unusable: nats-server needs JetStream", "{s:s}",
               "error", why);
        return e;
    }
    while ((e = partitions__check_count(svc)) != SS_OK && e != SS_ERR_CONFLICT &&
           ss_mono_ms() < deadline && !ss_stop_pending())
        usleep(500 * 1000);
    return e;
}

/* Acquires p at start: a partition owned elsewhere refuses the start at
 * once; JetStream not answering is retried until the start deadline. */
static ss_err partitions__acquire_at_start(stats_service *svc, uint32_t p, int64_t deadline)
{
    char why[300] = "";
    ss_err e;
    /* only JetStream's silence is worth waiting for; a data directory that
     * cannot be opened, or an owner elsewhere, is the start's answer */
    while ((e = partition_acquire(svc, p, why, sizeof(why))) != SS_OK &&
           (e == SS_ERR_UNAVAILABLE || e == SS_ERR_TIMEOUT) && ss_mono_ms() < deadline &&
           !ss_stop_pending()) {
        ss_log(SS_LOG_WARN, "partition not acquired yet (will retry)", "{s:i,s:s}", "partition",
               (int)p, "error", why);
        usleep(500 * 1000);
    }
    if (e != SS_OK)
        ss_log(SS_LOG_ERROR, "refusing to start: a partition of STATSYNC_PARTITIONS is "
                             "not ours to take", "{s:i,s:s}", "partition", (int)p, "error", why);
    return e;
}

ss_err partitions_start(stats_service *svc)
{
    if (partitions__legacy_data(svc))
        return SS_ERR_INTERNAL;
    ss_err e = partitions__open(svc);
    int64_t deadline = ss_mono_ms() + PARTITIONS_START_WAIT_MS;
    for (uint32_t p = 0; e == SS_OK && p < (uint32_t)svc->partition_count; p++)
        if (ss_partition_set_has(&svc->configured, p))
            e = partitions__acquire_at_start(svc, p, deadline);
    if (e == SS_OK && pthread_create(&svc->keeper, NULL, partitions__keeper, svc) == 0)
        svc->keeper_started = true;
    else if (e == SS_OK)
        e = SS_ERR_INTERNAL;
    return e;
}

void partitions_drain(stats_service *svc, int64_t deadline_mono_ms)
{
    atomic_store(&svc->draining, true);
    /* a release or acquire in progress finishes first; none starts after */
    pthread_mutex_lock(&svc->part_mu);
    pthread_mutex_unlock(&svc->part_mu);
    if (svc->parts == NULL || !ss_nats_connected(svc->core.nc))
        return; /* a drain needs the server; unanswered requests were never acknowledged */
    for (uint32_t p = 0; p < (uint32_t)svc->partition_count; p++) {
        stats_partition *sp = &svc->parts[p];
        if (sp->apply_sub != NULL)
            natsSubscription_Drain(sp->apply_sub);
        if (sp->get_sub != NULL)
            natsSubscription_Drain(sp->get_sub);
    }
    for (uint32_t p = 0; p < (uint32_t)svc->partition_count; p++) {
        stats_partition *sp = &svc->parts[p];
        natsSubscription *subs[] = {sp->apply_sub, sp->get_sub};
        for (size_t i = 0; i < 2; i++) {
            int64_t left = deadline_mono_ms - ss_mono_ms();
            if (subs[i] != NULL)
                natsSubscription_WaitForDrainCompletion(subs[i], left > 0 ? left : 1);
        }
    }
}

void partitions_stop(stats_service *svc)
{
    if (svc->keeper_started) {
        atomic_store(&svc->keeper_stop, true);
        pthread_join(svc->keeper, NULL);
        svc->keeper_started = false;
    }
    if (svc->ctl_sub != NULL) { /* the keeper polled it: only now may it go */
        natsSubscription_Unsubscribe(svc->ctl_sub);
        natsSubscription_Destroy(svc->ctl_sub);
        svc->ctl_sub = NULL;
    }
    if (!ss_nats_connected(svc->core.nc))
        atomic_store(&svc->leases_unreachable, true);
    for (uint32_t p = 0; svc->parts != NULL && p < (uint32_t)svc->partition_count; p++)
        partition_release(svc, p, true);
    for (size_t i = 0; i < svc->n_retired; i++)
        store_close(svc->retired[i]);
    free(svc->retired);
    svc->retired = NULL;
    svc->n_retired = 0;
    ss_lease_bucket_close(svc->leases);
    svc->leases = NULL;
    for (uint32_t p = 0; svc->parts != NULL && p < (uint32_t)svc->partition_count; p++)
        ss_nats_subs_destroy(&svc->parts[p].subs);
    free(svc->parts);
    svc->parts = NULL;
}

size_t partitions_serving(stats_service *svc, uint32_t *out, size_t cap)
{
    size_t n = 0;
    for (uint32_t p = 0; svc->parts != NULL && p < (uint32_t)svc->partition_count; p++)
        if (atomic_load(&svc->parts[p].state) == PART_SERVING &&
            ss_mono_ms() < atomic_load(&svc->parts[p].valid_until_ms) && n < cap)
            out[n++] = p; /* and its lease surely holds: what it would answer */
    return n;
}

uint64_t partitions_total_users(stats_service *svc)
{
    uint64_t total = 0;
    for (uint32_t p = 0; svc->parts != NULL && p < (uint32_t)svc->partition_count; p++) {
        stats_store *st = atomic_load(&svc->parts[p].store);
        uint64_t n = 0;
        if (st != NULL && atomic_load(&svc->parts[p].state) == PART_SERVING &&
            store_count_users(st, &n) == SS_OK)
            total += n;
    }
    return total;
}
