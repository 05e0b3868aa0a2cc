/* test_writer.c — stats-service/writer.c with a real LMDB file and no NATS:
 * concurrent submitters (no lost increments), idempotent repeats, refusals
 * that record nothing, conflicts answered with the stored document,
 * pruning driven by an injected clock, drain on stop, and a full map that
 * answers 507 without applying anything, and idempotency records that
 * outlive neither a wall-clock step (forward or back) nor a restart with the
 * clock set back. Exactly-once per client (clientId + seq): in order,
 * repeats of applied and of refused seqs, gaps that record nothing, repeats
 * long after the idempotency TTL and across a restart, refusals from before
 * the writer, the LRU bound on a user's clients, and a failed commit that
 * records nothing. Every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clients.h"
#include "ss_metrics.h"
#include "ss_time.h"
#include "store.h"
#include "writer.h"

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- results collected by the done callback ---- */

#define MAX_RESULTS 4096

typedef struct result {
    char user[SS_USERID_MAX + 1];
    ss_err err;
    bool has_doc, duplicate, changed, has_delta;
    int64_t xp, diamonds, delta_xp;
    uint64_t version;
    uint64_t expected_seq;
} result;

typedef struct collector {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    size_t n;
    result r[MAX_RESULTS];
} collector;

static collector col = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void on_done(stats_job *job, void *arg)
{
    (void)arg;
    result r;
    memset(&r, 0, sizeof(r));
    snprintf(r.user, sizeof(r.user), "%s", job->m->user_id);
    r.err = job->err;
    r.has_doc = job->has_doc;
    r.duplicate = job->duplicate;
    r.changed = job->changed;
    r.has_delta = job->has_delta;
    r.expected_seq = job->expected_seq;
    if (job->has_doc) {
        r.xp = job->doc.xp;
        r.diamonds = job->doc.diamonds;
        r.version = job->doc.version;
    }
    if (job->has_delta && job->delta.delta.add && job->delta.delta.add->has_xp)
        r.delta_xp = job->delta.delta.add->xp;
    stats_job_free(job);
    pthread_mutex_lock(&col.mu);
    if (col.n < MAX_RESULTS)
        col.r[col.n] = r;
    col.n++;
    pthread_cond_broadcast(&col.cond);
    pthread_mutex_unlock(&col.mu);
}

static void collector_reset(void)
{
    pthread_mutex_lock(&col.mu);
    col.n = 0;
    pthread_mutex_unlock(&col.mu);
}

/* Waits (at most 10 s) until n results arrived; returns how many did. */
static size_t wait_results(size_t n)
{
    int64_t deadline = ss_mono_ms() + 10000;
    pthread_mutex_lock(&col.mu);
    while (col.n < n && ss_mono_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&col.cond, &col.mu, &ts);
    }
    size_t got = col.n;
    pthread_mutex_unlock(&col.mu);
    return got;
}

static result last_result(void)
{
    pthread_mutex_lock(&col.mu);
    result r = col.r[col.n - 1];
    pthread_mutex_unlock(&col.mu);
    return r;
}

/* ---- mutations (built on the stack, packed, unpacked to the heap) ---- */

typedef struct opspec {
    const char *op_id;
    int64_t xp, diamonds;
    const char *game_results;
    int64_t full_updated_at; /* > 0: a full write with this updatedAt and xp */
    const char *client_id;   /* with seq: numbered by this client */
    uint64_t seq;
} opspec;

static Statsync__Mutation *mk(const char *user, const opspec *spec, size_t n)
{
    Statsync__Mutation m = STATSYNC__MUTATION__INIT;
    Statsync__Operation ops[8], *opp[8];
    Statsync__Delta deltas[8];
    Statsync__StatsFields fields[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        Statsync__Operation o = STATSYNC__OPERATION__INIT;
        Statsync__Delta d = STATSYNC__DELTA__INIT;
        Statsync__StatsFields f = STATSYNC__STATS_FIELDS__INIT;
        ops[i] = o;
        deltas[i] = d;
        fields[i] = f;
        ops[i].op_id = (char *)spec[i].op_id;
        ops[i].client_id = (char *)spec[i].client_id;
        ops[i].has_seq = spec[i].seq > 0;
        ops[i].seq = spec[i].seq;
        if (spec[i].xp) {
            fields[i].has_xp = 1;
            fields[i].xp = spec[i].xp;
        }
        if (spec[i].diamonds) {
            fields[i].has_diamonds = 1;
            fields[i].diamonds = spec[i].diamonds;
        }
        fields[i].last_game_results = (char *)spec[i].game_results;
        if (spec[i].full_updated_at > 0) {
            fields[i].has_updated_at_ms = 1;
            fields[i].updated_at_ms = spec[i].full_updated_at;
            ops[i].kind_case = STATSYNC__OPERATION__KIND_FULL;
            ops[i].full = &fields[i];
        } else {
            deltas[i].add = &fields[i];
            ops[i].kind_case = STATSYNC__OPERATION__KIND_DELTA;
            ops[i].delta = &deltas[i];
        }
        opp[i] = &ops[i];
    }
    m.user_id = (char *)user;
    m.n_ops = n;
    m.ops = opp;
    size_t len = statsync__mutation__get_packed_size(&m);
    uint8_t *buf = malloc(len);
    statsync__mutation__pack(&m, buf);
    Statsync__Mutation *out = statsync__mutation__unpack(NULL, len, buf);
    free(buf);
    assert_non_null(out);
    return out;
}

static void submit(stats_writer *w, Statsync__Mutation *m)
{
    stats_job *j = stats_job_new(m, NULL);
    assert_non_null(j);
    assert_int_equal(writer_submit(w, j), SS_OK);
}

/* Submits one mutation and waits for its result. */
static result run1(stats_writer *w, const char *user, const opspec *spec, size_t n)
{
    collector_reset();
    submit(w, mk(user, spec, n));
    assert_int_equal(wait_results(1), 1);
    return last_result();
}

/* ---- fixture ---- */

/* The injected clocks: the wall clock (now_ms) and the monotonic clock
 * (mono_ms). Time passing moves both (advance); a wall-clock step moves
 * only the first (step_wall). */
static _Atomic int64_t fake_now = 1700000000000LL;
static _Atomic int64_t fake_mono = 5000;
static int64_t clock_fn(void)
{
    return atomic_load(&fake_now);
}
static int64_t mono_fn(void)
{
    return atomic_load(&fake_mono);
}
static void advance(int64_t ms)
{
    atomic_fetch_add(&fake_now, ms);
    atomic_fetch_add(&fake_mono, ms);
}
static void step_wall(int64_t ms)
{
    atomic_fetch_add(&fake_now, ms);
}

typedef struct fixture {
    char dir[64];
    stats_store *store;
    stats_writer *w;
} fixture;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static writer_config cfg_default(void)
{
    writer_config c = {
        .max_batch = 64,
        .max_queue = 100000,
        .idem_ttl_ms = 1000,
        .prune_chunk = 3,
        .prune_interval_ms = 3600 * 1000, /* only batch-time pruning unless a test wants more */
        .now_ms = clock_fn,
        .mono_ms = mono_fn,
    };
    return c;
}

static int setup_sized(void **state, size_t map_bytes, const writer_config *c)
{
    fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/statsync-writer-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    if (store_open(&f->store, f->dir, map_bytes) != SS_OK)
        return -1;
    atomic_store(&fake_now, 1700000000000LL);
    atomic_store(&fake_mono, 5000);
    if (writer_start(&f->w, f->store, c, on_done, NULL) != SS_OK)
        return -1;
    collector_reset();
    *state = f;
    return 0;
}

static int setup(void **state)
{
    writer_config c = cfg_default();
    return setup_sized(state, 16 << 20, &c);
}

static void stop_writer(fixture *f)
{
    if (f->w == NULL)
        return;
    writer_stop(f->w);
    assert_true(writer_join(f->w, 10000));
    writer_destroy(f->w);
    f->w = NULL;
}

static int teardown(void **state)
{
    fixture *f = *state;
    stop_writer(f);
    store_close(f->store);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static int64_t read_xp(fixture *f, const char *user, uint64_t *version)
{
    MDB_txn *txn;
    stats_doc d;
    bool found;
    assert_int_equal(store_read_begin(f->store, &txn), SS_OK);
    assert_int_equal(store_doc_get(f->store, txn, user, &d, &found), SS_OK);
    store_read_end(f->store, txn);
    int64_t xp = d.xp;
    if (version)
        *version = d.version;
    doc_free(&d);
    return xp;
}

/* ---- tests ---- */

typedef struct submitter {
    stats_writer *w;
    int n;
} submitter;

static void *submit_thread(void *p)
{
    submitter *s = p;
    for (int i = 0; i < s->n; i++) {
        opspec o = {.xp = 1};
        submit(s->w, mk("alice", &o, 1));
    }
    return NULL;
}

static uint64_t metric_count(const char *name)
{
    size_t len = 0;
    char *text = ss_metrics_render(&len);
    char key[128];
    snprintf(key, sizeof(key), "\n%s_count ", name);
    char *p = strstr(text, key);
    uint64_t v = p ? strtoull(p + strlen(key), NULL, 10) : 0;
    free(text);
    return v;
}

static void test_concurrent_increments_all_apply(void **state)
{
    fixture *f = *state;
    uint64_t batches_before = metric_count("statsync_stats_batch_size");
    enum { THREADS = 4, EACH = 250 };
    pthread_t th[THREADS];
    submitter s[THREADS];
    for (int i = 0; i < THREADS; i++) {
        s[i] = (submitter){f->w, EACH};
        pthread_create(&th[i], NULL, submit_thread, &s[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(wait_results(THREADS * EACH), THREADS * EACH);
    uint64_t version = 0;
    assert_int_equal(read_xp(f, "alice", &version), THREADS * EACH);
    assert_int_equal(version, THREADS * EACH);
    pthread_mutex_lock(&col.mu);
    for (size_t i = 0; i < col.n; i++) {
        assert_int_equal(col.r[i].err, SS_OK);
        assert_true(col.r[i].changed);
        assert_int_equal(col.r[i].delta_xp, 1);
    }
    pthread_mutex_unlock(&col.mu);
    uint64_t batches = metric_count("statsync_stats_batch_size") - batches_before;
    print_message("1000 mutations committed in %llu write transactions\n",
                  (unsigned long long)batches);
    assert_true(batches >= 1 && batches <= THREADS * EACH);
}

static void test_idempotent_repeats(void **state)
{
    fixture *f = *state;
    stats_writer *w = f->w;
    opspec a = {.op_id = "a", .xp = 5};
    result r = run1(w, "bob", &a, 1);
    assert_int_equal(r.err, SS_OK);
    assert_false(r.duplicate);
    assert_true(r.changed);
    assert_int_equal(r.xp, 5);
    assert_int_equal(r.version, 1);

    r = run1(w, "bob", &a, 1); /* the same op again: nothing applied */
    assert_int_equal(r.err, SS_OK);
    assert_true(r.duplicate);
    assert_false(r.changed);
    assert_true(r.has_doc);
    assert_int_equal(r.xp, 5);
    assert_int_equal(r.version, 1);

    opspec ab[2] = {{.op_id = "a", .xp = 5}, {.op_id = "b", .xp = 1}};
    r = run1(w, "bob", ab, 2); /* only b applies */
    assert_int_equal(r.err, SS_OK);
    assert_false(r.duplicate);
    assert_int_equal(r.xp, 6);
    assert_int_equal(r.delta_xp, 1);

    opspec cc[2] = {{.op_id = "c", .xp = 1}, {.op_id = "c", .xp = 1}};
    r = run1(w, "bob", cc, 2); /* one op id twice in a mutation: once */
    assert_int_equal(r.xp, 7);

    opspec none[2] = {{.op_id = NULL, .xp = 1}, {.op_id = "", .xp = 1}};
    r = run1(w, "bob", none, 2); /* no op id: never deduplicated */
    assert_int_equal(r.xp, 9);
    r = run1(w, "bob", none, 2);
    assert_int_equal(r.xp, 11);

    r = run1(w, "carol", &a, 1); /* op ids are per user */
    assert_false(r.duplicate);
    assert_int_equal(r.xp, 5);
}

static void test_refusals_record_nothing(void **state)
{
    fixture *f = *state;
    stats_writer *w = f->w;
    opspec spend = {.op_id = "spend", .diamonds = -3};
    result r = run1(w, "dave", &spend, 1);
    assert_int_equal(r.err, SS_ERR_INSUFFICIENT_FUNDS);
    assert_true(r.has_doc); /* the stored (here: default) document */
    assert_int_equal(r.diamonds, 0);
    assert_false(r.changed);

    opspec earn = {.op_id = "earn", .diamonds = 5};
    r = run1(w, "dave", &earn, 1);
    assert_int_equal(r.diamonds, 5);
    r = run1(w, "dave", &spend, 1); /* re-evaluated, now it fits */
    assert_int_equal(r.err, SS_OK);
    assert_false(r.duplicate);
    assert_int_equal(r.diamonds, 2);

    /* a mutation with one bad op changes nothing, records no op id */
    opspec mixed[2] = {{.op_id = "x1", .xp = 10}, {.op_id = "x2", .diamonds = -100}};
    r = run1(w, "dave", mixed, 2);
    assert_int_equal(r.err, SS_ERR_INSUFFICIENT_FUNDS);
    opspec x1 = {.op_id = "x1", .xp = 10};
    r = run1(w, "dave", &x1, 1);
    assert_false(r.duplicate);
    assert_int_equal(r.xp, 10);
}

static void test_full_write_conflict_returns_stored(void **state)
{
    fixture *f = *state;
    stats_writer *w = f->w;
    int64_t now = atomic_load(&fake_now);
    opspec full = {.op_id = "f1", .xp = 70, .full_updated_at = now - 1000};
    result r = run1(w, "erin", &full, 1);
    assert_int_equal(r.err, SS_OK);
    assert_int_equal(r.xp, 70);
    assert_false(r.has_delta); /* no delta for a full write */
    opspec older = {.op_id = "f2", .xp = 1, .full_updated_at = now - 2000};
    r = run1(w, "erin", &older, 1);
    assert_int_equal(r.err, SS_ERR_CONFLICT);
    assert_true(r.has_doc);
    assert_int_equal(r.xp, 70);
    opspec future = {.op_id = "f3", .xp = 1, .full_updated_at = now + 10 * 60 * 1000};
    r = run1(w, "erin", &future, 1);
    assert_int_equal(r.err, SS_ERR_INVALID_VALUE);
    assert_false(r.has_doc);
}

static void test_pruning_forgets_after_ttl(void **state)
{
    fixture *f = *state;
    stats_writer *w = f->w;
    opspec p[5] = {{.op_id = "p0", .xp = 1}, {.op_id = "p1", .xp = 1}, {.op_id = "p2", .xp = 1},
                   {.op_id = "p3", .xp = 1}, {.op_id = "p4", .xp = 1}};
    result r = run1(w, "frank", p, 5);
    assert_int_equal(r.xp, 5);
    r = run1(w, "frank", p, 5);
    assert_true(r.duplicate);
    /* after the TTL, each batch prunes a chunk of 3 (prune_chunk) */
    advance(5000);
    opspec other = {.op_id = "other", .xp = 0, .diamonds = 1};
    run1(w, "gina", &other, 1); /* prunes p0..p2 */
    MDB_txn *txn;
    uint64_t count = 0;
    assert_int_equal(store_read_begin(f->store, &txn), SS_OK);
    assert_int_equal(store_idem_count(f->store, txn, &count), SS_OK);
    store_read_end(f->store, txn);
    assert_int_equal(count, 3); /* p3, p4 and gina's "other" */
    run1(w, "gina", &(opspec){.op_id = "other2", .diamonds = 1}, 1); /* prunes p3, p4 */
    r = run1(w, "frank", p, 1); /* p0 forgotten: applies again */
    assert_false(r.duplicate);
    assert_int_equal(r.xp, 6);
}

static void test_idle_pruning(void **state)
{
    (void)state;
    fixture *f = NULL;
    writer_config c = cfg_default();
    c.prune_interval_ms = 20;
    c.prune_chunk = 2;
    void *st = NULL;
    assert_int_equal(setup_sized(&st, 16 << 20, &c), 0);
    f = st;
    opspec p[5] = {{.op_id = "q0", .xp = 1}, {.op_id = "q1", .xp = 1}, {.op_id = "q2", .xp = 1},
                   {.op_id = "q3", .xp = 1}, {.op_id = "q4", .xp = 1}};
    run1(f->w, "hank", p, 5);
    advance(5000);
    uint64_t count = 5;
    for (int i = 0; i < 200 && count > 0; i++) { /* bounded: 200 x 10 ms */
        MDB_txn *txn;
        assert_int_equal(store_read_begin(f->store, &txn), SS_OK);
        assert_int_equal(store_idem_count(f->store, txn, &count), SS_OK);
        store_read_end(f->store, txn);
        if (count > 0)
            usleep(10000);
    }
    assert_int_equal(count, 0);
    teardown(&st);
}

/* Idempotency records in the store. */
static uint64_t idem_count(fixture *f)
{
    MDB_txn *txn;
    uint64_t count = 0;
    assert_int_equal(store_read_begin(f->store, &txn), SS_OK);
    assert_int_equal(store_idem_count(f->store, txn, &count), SS_OK);
    store_read_end(f->store, txn);
    return count;
}

static void test_clock_step_forward_prunes_nothing_early(void **state)
{
    fixture *f = *state;
    opspec s1 = {.op_id = "s1", .xp = 1};
    run1(f->w, "ivy", &s1, 1);
    step_wall(3600 * 1000); /* NTP steps the clock an hour ahead; no time passed */
    run1(f->w, "jack", &(opspec){.op_id = "j1", .xp = 1}, 1); /* a batch prunes what expired */
    assert_int_equal(idem_count(f), 2);
    result r = run1(f->w, "ivy", &s1, 1);
    assert_true(r.duplicate); /* still remembered: the retry is not applied twice */
    assert_int_equal(r.xp, 1);
    advance(999); /* the TTL is 1000 ms of real time: not yet */
    assert_true(run1(f->w, "ivy", &s1, 1).duplicate);
    advance(2);
    run1(f->w, "jack", &(opspec){.xp = 1}, 1);
    assert_false(run1(f->w, "ivy", &s1, 1).duplicate); /* forgotten after the TTL, no sooner */
}

static void test_clock_step_back_still_forgets(void **state)
{
    fixture *f = *state;
    opspec b1 = {.op_id = "b1", .xp = 1};
    run1(f->w, "kim", &b1, 1);
    step_wall(-3600 * 1000); /* the clock goes back an hour */
    run1(f->w, "kim", &(opspec){.op_id = "b2", .xp = 1}, 1);
    advance(1500); /* past the TTL of b1 and of b2, in real time */
    run1(f->w, "lou", &(opspec){.xp = 1}, 1);
    assert_int_equal(idem_count(f), 0); /* not kept for the hour the clock went back */
    result r = run1(f->w, "kim", &b1, 1);
    assert_false(r.duplicate);
    assert_int_equal(r.xp, 3);
}

/* A restart with the wall clock set back: the clock resumes from the newest
 * record, so a record keeps its TTL of real time, no more, no less; with the
 * wall clock ahead (the service was down a while) records expire by it. */
static void test_clock_resumes_from_newest_record(void **state)
{
    fixture *f = *state;
    writer_config c = cfg_default();
    opspec r1 = {.op_id = "r1", .xp = 1};
    run1(f->w, "max", &r1, 1);
    stop_writer(f);
    step_wall(-3600 * 1000);
    atomic_store(&fake_mono, 1); /* a reboot: the monotonic clock starts over */
    assert_int_equal(writer_start(&f->w, f->store, &c, on_done, NULL), SS_OK);
    advance(600);
    assert_true(run1(f->w, "max", &r1, 1).duplicate);
    advance(500); /* 1100 ms after r1 on the resumed clock */
    run1(f->w, "ned", &(opspec){.xp = 1}, 1);
    assert_false(run1(f->w, "max", &r1, 1).duplicate); /* applied again, recorded again */
    stop_writer(f);
    step_wall(2 * 3600 * 1000); /* down for two hours by the wall clock */
    assert_int_equal(writer_start(&f->w, f->store, &c, on_done, NULL), SS_OK);
    run1(f->w, "ned", &(opspec){.xp = 1}, 1);
    assert_false(run1(f->w, "max", &r1, 1).duplicate);
}

static void test_stop_drains_queue(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 300; i++) {
        opspec o = {.xp = 2};
        submit(f->w, mk("ivan", &o, 1));
    }
    writer_stop(f->w);
    stats_job *late = stats_job_new(mk("ivan", &(opspec){.xp = 1}, 1), NULL);
    assert_int_equal(writer_submit(f->w, late), SS_ERR_UNAVAILABLE);
    stats_job_free(late);
    assert_true(writer_join(f->w, 10000));
    writer_destroy(f->w);
    f->w = NULL;
    assert_int_equal(wait_results(300), 300);
    assert_int_equal(read_xp(f, "ivan", NULL), 600);
}

static void test_map_full_fails_whole_batch(void **state)
{
    (void)state;
    writer_config c = cfg_default();
    void *st = NULL;
    assert_int_equal(setup_sized(&st, 256 * 1024, &c), 0);
    fixture *f = st;
    char *big = malloc(DOC_MAX_GAME_RESULTS + 1);
    memset(big, 'x', DOC_MAX_GAME_RESULTS);
    memcpy(big, "{\"k\":\"", 6);
    big[DOC_MAX_GAME_RESULTS - 2] = '"';
    big[DOC_MAX_GAME_RESULTS - 1] = '}';
    big[DOC_MAX_GAME_RESULTS] = '\0';
    /* 64 users x 16 KB cannot fit in 256 KB: submit them all at once */
    enum { N = 64 };
    for (int i = 0; i < N; i++) {
        char user[32];
        snprintf(user, sizeof(user), "u%d", i);
        opspec o = {.xp = 1, .game_results = big};
        submit(f->w, mk(user, &o, 1));
    }
    assert_int_equal(wait_results(N), N);
    size_t ok = 0, full = 0;
    char stored[N][SS_USERID_MAX + 1]; /* the users answered 200, for after the reopen */
    pthread_mutex_lock(&col.mu);
    for (size_t i = 0; i < N; i++) {
        if (col.r[i].err == SS_OK)
            snprintf(stored[ok++], sizeof(stored[0]), "%s", col.r[i].user);
        else if (col.r[i].err == SS_ERR_STORAGE_FULL) {
            full++;
            assert_false(col.r[i].changed);
            assert_false(col.r[i].has_doc);
        }
    }
    pthread_mutex_unlock(&col.mu);
    assert_int_equal(ok + full, N);
    assert_true(full > 0);
    /* what was answered 200 is stored; what was answered 507 is not */
    uint64_t users = 0;
    assert_int_equal(store_count_users(f->store, &users), SS_OK);
    assert_int_equal(users, ok);
    pthread_mutex_lock(&col.mu);
    for (size_t i = 0; i < N; i++) {
        uint64_t version = 0;
        int64_t xp = read_xp(f, col.r[i].user, &version);
        assert_int_equal(xp, col.r[i].err == SS_OK ? 1 : 0);
    }
    pthread_mutex_unlock(&col.mu);
    /* the writer is still alive: a small write gets an answer (200 or 507) */
    result r = run1(f->w, "tiny", &(opspec){.xp = 1}, 1);
    assert_true(r.err == SS_OK || r.err == SS_ERR_STORAGE_FULL);
    stop_writer(f);
    store_close(f->store);

    /* more room: everything works again and nothing was lost */
    assert_int_equal(store_open(&f->store, f->dir, 8 << 20), SS_OK);
    assert_int_equal(writer_start(&f->w, f->store, &c, on_done, NULL), SS_OK);
    /* a user surely not stored yet (u0 may or may not have fit before) */
    r = run1(f->w, "after-reopen", &(opspec){.xp = 1, .game_results = big}, 1);
    assert_int_equal(r.err, SS_OK);
    assert_int_equal(store_count_users(f->store, &users), SS_OK);
    assert_true(users >= ok + 1);
    for (size_t i = 0; i < ok; i++)
        assert_int_equal(read_xp(f, stored[i], NULL), 1);
    free(big);
    teardown(&st);
}


/* ---- exactly-once per client (clientId + seq) ---- */

/* The record of (user, client); false when there is none. */
static bool client_rec(fixture *f, const char *user, const char *client, store_client *rec)
{
    MDB_txn *txn;
    bool found = false;
    assert_int_equal(store_read_begin(f->store, &txn), SS_OK);
    assert_int_equal(store_client_get(f->store, txn, user, client, rec, &found), SS_OK);
    store_read_end(f->store, txn);
    return found;
}

static uint64_t client_count(fixture *f)
{
    MDB_txn *txn;
    uint64_t n = 0;
    assert_int_equal(store_read_begin(f->store, &txn), SS_OK);
    assert_int_equal(store_client_count(f->store, txn, &n), SS_OK);
    store_read_end(f->store, txn);
    return n;
}

/* One op of client c numbered seq: xp (or diamonds when xp is 0). */
static result seq1(stats_writer *w, const char *user, const char *c, uint64_t seq, int64_t xp,
                   int64_t diamonds, const char *op_id)
{
    opspec o = {.op_id = op_id, .xp = xp, .diamonds = diamonds, .client_id = c, .seq = seq};
    return run1(w, user, &o, 1);
}

/* A job refused before the writer (handlers.c: merge_validate_ops). */
static result run_refused(stats_writer *w, const char *user, const opspec *spec, size_t n,
                          ss_err e, const char *why)
{
    collector_reset();
    stats_job *j = stats_job_new(mk(user, spec, n), NULL);
    assert_non_null(j);
    j->refused = e;
    snprintf(j->message, sizeof(j->message), "%s", why);
    assert_int_equal(writer_submit(w, j), SS_OK);
    assert_int_equal(wait_results(1), 1);
    return last_result();
}

static void test_client_seq_in_order_and_repeats(void **state)
{
    fixture *f = *state;
    stats_writer *w = f->w;
    result r = seq1(w, "ola", "c1", 1, 5, 0, "o1");
    assert_int_equal(r.err, SS_OK);
    assert_true(r.changed);
    assert_false(r.duplicate);
    assert_int_equal(r.xp, 5);
    r = seq1(w, "ola", "c1", 2, 1, 0, "o2");
    assert_int_equal(r.xp, 6);
    assert_int_equal(r.version, 2);
    /* the ack of 2 was lost: 2 again (its opId too) is a repeat, applied before */
    r = seq1(w, "ola", "c1", 2, 1, 0, "o2");
    assert_int_equal(r.err, SS_OK);
    assert_true(r.duplicate);
    assert_false(r.changed);
    assert_true(r.has_doc); /* the current document */
    assert_int_equal(r.xp, 6);
    assert_int_equal(r.version, 2);
    /* the seq decides, whatever the op carries: even without the opId */
    r = seq1(w, "ola", "c1", 1, 100, 0, NULL);
    assert_true(r.duplicate);
    assert_int_equal(r.xp, 6);
    store_client rec;
    assert_true(client_rec(f, "ola", "c1", &rec));
    assert_int_equal(rec.last_seq, 2);
    assert_int_equal(rec.n_refused, 0);
    /* records are per user and per client */
    assert_false(client_rec(f, "ola", "c2", &rec));
    r = seq1(w, "ola", "c2", 1, 1, 0, NULL); /* another install: its own numbers */
    assert_false(r.duplicate);
    assert_int_equal(r.xp, 7);
    r = seq1(w, "pia", "c1", 2, 1, 0, NULL); /* another user: c1 is new there */
    assert_false(r.duplicate);
    assert_int_equal(r.xp, 1);
    /* a batch numbered 3, 4 with an op of no number between: one change */
    opspec batch[3] = {{.xp = 1, .client_id = "c1", .seq = 3}, {.xp = 10},
                       {.xp = 100, .client_id = "c1", .seq = 4}};
    r = run1(w, "ola", batch, 3);
    assert_int_equal(r.xp, 118);
    assert_true(client_rec(f, "ola", "c1", &rec));
    assert_int_equal(rec.last_seq, 4);
    /* re-sent with one more op: 3, 4 decided, 5 new — only 5 and the unnumbered op apply */
    opspec more[4] = {{.xp = 1, .client_id = "c1", .seq = 3}, {.xp = 10},
                      {.xp = 100, .client_id = "c1", .seq = 4},
                      {.xp = 1000, .client_id = "c1", .seq = 5}};
    r = run1(w, "ola", more, 4);
    assert_int_equal(r.xp, 1128);
    /* numbering against the rules: refused, nothing recorded */
    opspec bad[2] = {{.xp = 1, .client_id = "c1", .seq = 6}, {.xp = 1, .client_id = "c1", .seq = 8}};
    r = run1(w, "ola", bad, 2);
    assert_int_equal(r.err, SS_ERR_BAD_REQUEST);
    assert_true(client_rec(f, "ola", "c1", &rec));
    assert_int_equal(rec.last_seq, 5);
}

static void test_client_seq_refusals_are_recorded(void **state)
{
    fixture *f = *state;
    stats_writer *w = f->w;
    assert_int_equal(seq1(w, "quin", "c", 1, 0, 2, "earn").err, SS_OK);
    result r = seq1(w, "quin", "c", 2, 0, -5, "spend");
    assert_int_equal(r.err, SS_ERR_INSUFFICIENT_FUNDS);
    assert_true(r.has_doc);
    assert_int_equal(r.diamonds, 2);
    store_client rec;
    assert_true(client_rec(f, "quin", "c", &rec));
    assert_int_equal(rec.last_seq, 2); /* decided: the next op is no gap */
    assert_int_equal(clients_outcome(&rec, 2), SS_ERR_INSUFFICIENT_FUNDS);
    r = seq1(w, "quin", "c", 3, 0, 10, "earn2");
    assert_int_equal(r.err, SS_OK);
    assert_int_equal(r.diamonds, 12);
    /* the spend again, now that it would fit: refused as it was, not re-evaluated */
    r = seq1(w, "quin", "c", 2, 0, -5, "spend");
    assert_int_equal(r.err, SS_ERR_INSUFFICIENT_FUNDS);
    assert_true(r.has_doc);
    assert_int_equal(r.diamonds, 12);
    assert_false(r.changed);
    /* a full write refused by a rule (400), recorded the same way */
    int64_t now = atomic_load(&fake_now);
    opspec future = {.xp = 1, .full_updated_at = now + 10 * 60 * 1000, .client_id = "c", .seq = 4};
    r = run1(w, "quin", &future, 1);
    assert_int_equal(r.err, SS_ERR_INVALID_VALUE);
    future.full_updated_at = now; /* a retry of seq 4 with other data gets seq 4's outcome */
    r = run1(w, "quin", &future, 1);
    assert_int_equal(r.err, SS_ERR_INVALID_VALUE);
    assert_int_equal(read_xp(f, "quin", NULL), 0);
    /* a refusal from before the writer (merge_validate_ops): recorded for seq 5 */
    opspec v5 = {.xp = 1, .client_id = "c", .seq = 5};
    r = run_refused(w, "quin", &v5, 1, SS_ERR_BAD_REQUEST, "operation 0 is empty");
    assert_int_equal(r.err, SS_ERR_BAD_REQUEST);
    assert_false(r.changed);
    r = seq1(w, "quin", "c", 6, 7, 0, NULL); /* so 6 is next, not a gap */
    assert_int_equal(r.err, SS_OK);
    assert_int_equal(r.xp, 7);
    r = seq1(w, "quin", "c", 5, 7, 0, NULL); /* and 5 keeps its refusal */
    assert_int_equal(r.err, SS_ERR_BAD_REQUEST);
    assert_int_equal(read_xp(f, "quin", NULL), 7);
    /* a pre-refused re-send of an applied seq gets its outcome: applied */
    opspec v6 = {.xp = 7, .client_id = "c", .seq = 6};
    r = run_refused(w, "quin", &v6, 1, SS_ERR_BAD_REQUEST, "re-sent malformed");
    assert_int_equal(r.err, SS_OK);
    assert_true(r.duplicate);
    /* not numbered: refused, nothing recorded (as before) */
    opspec plain = {.xp = 1};
    r = run_refused(w, "quin", &plain, 1, SS_ERR_BAD_REQUEST, "operation 0 is empty");
    assert_int_equal(r.err, SS_ERR_BAD_REQUEST);
    assert_true(client_rec(f, "quin", "c", &rec));
    assert_int_equal(rec.last_seq, 6);
    assert_int_equal(clients_outcome(&rec, 4), SS_ERR_INVALID_VALUE);
    assert_int_equal(clients_outcome(&rec, 3), SS_OK);
}

static void test_client_seq_gap_records_nothing(void **state)
{
    fixture *f = *state;
    stats_writer *w = f->w;
    assert_int_equal(seq1(w, "rai", "c", 1, 1, 0, "g1").err, SS_OK);
    assert_int_equal(seq1(w, "rai", "c", 2, 1, 0, "g2").err, SS_OK);
    /* 3 was lost on the way: 4 arrives */
    result r = seq1(w, "rai", "c", 4, 1, 0, "g4");
    assert_int_equal(r.err, SS_ERR_SEQ_GAP);
    assert_int_equal(r.expected_seq, 3);
    assert_false(r.changed);
    assert_int_equal(read_xp(f, "rai", NULL), 2);
    store_client rec;
    assert_true(client_rec(f, "rai", "c", &rec));
    assert_int_equal(rec.last_seq, 2);
    assert_int_equal(rec.n_refused, 0);
    /* nor its opId: the client re-sends from 3 and 4 applies then */
    assert_int_equal(seq1(w, "rai", "c", 3, 1, 0, "g3").err, SS_OK);
    r = seq1(w, "rai", "c", 4, 1, 0, "g4");
    assert_int_equal(r.err, SS_OK);
    assert_false(r.duplicate);
    assert_int_equal(r.xp, 4);
    /* a batch starting past the next seq is a gap as a whole */
    opspec batch[2] = {{.xp = 1, .client_id = "c", .seq = 6}, {.xp = 1, .client_id = "c", .seq = 7}};
    r = run1(w, "rai", batch, 2);
    assert_int_equal(r.err, SS_ERR_SEQ_GAP);
    assert_int_equal(r.expected_seq, 5);
    assert_int_equal(read_xp(f, "rai", NULL), 4);
}

/* The point of it: a repeat is recognised however late it comes — long
 * after STATSYNC_IDEMPOTENCY_TTL_S forgot its opId, and across a restart. */
static void test_client_seq_outlives_the_idempotency_ttl(void **state)
{
    fixture *f = *state;
    assert_int_equal(seq1(f->w, "sam", "c", 1, 3, 0, "late-1").err, SS_OK);
    assert_int_equal(run1(f->w, "tom", &(opspec){.op_id = "late-1", .xp = 3}, 1).err, SS_OK);
    advance(30LL * 24 * 3600 * 1000); /* a month offline; the TTL is 1 s */
    run1(f->w, "uma", &(opspec){.xp = 1}, 1); /* a batch prunes what expired */
    run1(f->w, "uma", &(opspec){.xp = 1}, 1);
    assert_int_equal(idem_count(f), 0);
    result r = seq1(f->w, "sam", "c", 1, 3, 0, "late-1");
    assert_true(r.duplicate);
    assert_int_equal(r.xp, 3); /* applied once */
    /* the same late retry with only its opId is applied twice: the time window */
    r = run1(f->w, "tom", &(opspec){.op_id = "late-1", .xp = 3}, 1);
    assert_false(r.duplicate);
    assert_int_equal(r.xp, 6);
    /* and across a restart, with the wall clock set back meanwhile */
    stop_writer(f);
    store_close(f->store);
    assert_int_equal(store_open(&f->store, f->dir, 16 << 20), SS_OK);
    step_wall(-3600 * 1000);
    writer_config c = cfg_default();
    assert_int_equal(writer_start(&f->w, f->store, &c, on_done, NULL), SS_OK);
    r = seq1(f->w, "sam", "c", 1, 3, 0, "late-1");
    assert_true(r.duplicate);
    assert_int_equal(read_xp(f, "sam", NULL), 3);
    assert_int_equal(seq1(f->w, "sam", "c", 2, 1, 0, NULL).xp, 4);
}

/* At most max_clients records per user; a new client evicts the least
 * recently used. The evicted client is new again at its next op: its seqs
 * are taken from there, and its re-sent old ops are caught by their opId
 * within the idempotency TTL only. */
static void test_client_seq_lru_bound(void **state)
{
    (void)state;
    writer_config c = cfg_default();
    c.max_clients = 3;
    c.idem_ttl_ms = 60000;
    void *st = NULL;
    assert_int_equal(setup_sized(&st, 16 << 20, &c), 0);
    fixture *f = st;
    stats_writer *w = f->w;
    const char *ids[] = {"c1", "c2", "c3"};
    for (int i = 0; i < 3; i++) {
        char op[16];
        snprintf(op, sizeof(op), "%s-1", ids[i]);
        assert_int_equal(seq1(w, "vic", ids[i], 1, 1, 0, op).err, SS_OK);
        advance(10);
    }
    assert_int_equal(seq1(w, "vic", "c1", 2, 1, 0, "c1-2").err, SS_OK); /* c1 used again */
    advance(10);
    assert_int_equal(seq1(w, "wes", "c9", 1, 1, 0, NULL).err, SS_OK); /* another user's: apart */
    advance(10);
    assert_int_equal(client_count(f), 4);
    /* a fourth client of vic: c2 is the least recently used and goes */
    assert_int_equal(seq1(w, "vic", "c4", 1, 1, 0, "c4-1").err, SS_OK);
    advance(10);
    assert_int_equal(client_count(f), 4);
    store_client rec;
    assert_false(client_rec(f, "vic", "c2", &rec));
    assert_true(client_rec(f, "vic", "c1", &rec));
    assert_true(client_rec(f, "vic", "c3", &rec));
    assert_true(client_rec(f, "vic", "c4", &rec));
    assert_true(client_rec(f, "wes", "c9", &rec));
    assert_int_equal(read_xp(f, "vic", NULL), 5);
    /* c2 re-sends its seq 1 within the TTL: new again, caught by its opId;
     * c3 is the least recently used now */
    result r = seq1(w, "vic", "c2", 1, 1, 0, "c2-1");
    advance(10);
    assert_int_equal(r.err, SS_OK);
    assert_true(r.duplicate);
    assert_int_equal(read_xp(f, "vic", NULL), 5);
    assert_true(client_rec(f, "vic", "c2", &rec)); /* back, at seq 1 */
    assert_int_equal(rec.last_seq, 1);
    assert_false(client_rec(f, "vic", "c3", &rec));
    /* c3, evicted, goes on with its next op: taken as new, no gap; c1 goes */
    r = seq1(w, "vic", "c3", 2, 1, 0, "c3-2");
    advance(10);
    assert_int_equal(r.err, SS_OK);
    assert_int_equal(r.xp, 6);
    assert_false(client_rec(f, "vic", "c1", &rec));
    assert_int_equal(seq1(w, "vic", "c5", 1, 1, 0, NULL).err, SS_OK); /* c4 goes */
    advance(10);
    assert_false(client_rec(f, "vic", "c4", &rec));
    /* after the TTL an evicted client's re-sent op applies again: the documented cost */
    advance(61000);
    for (int i = 0; i < 3; i++) /* each batch prunes a chunk of 3 */
        run1(w, "wes", &(opspec){.xp = 1}, 1);
    assert_int_equal(idem_count(f), 0);
    r = seq1(w, "vic", "c1", 2, 1, 0, "c1-2"); /* c2 goes */
    assert_false(r.duplicate);
    assert_int_equal(r.xp, 8);
    MDB_txn *txn;
    size_t count = 0;
    char lru[SS_CLIENT_ID_MAX + 1];
    assert_int_equal(store_read_begin(f->store, &txn), SS_OK);
    assert_int_equal(store_client_lru(f->store, txn, "vic", &count, lru), SS_OK);
    store_read_end(f->store, txn);
    assert_int_equal(count, 3); /* never more than the bound */
    assert_string_equal(lru, "c3"); /* c5, c1 were used after it */
    assert_false(client_rec(f, "vic", "c2", &rec));
    assert_int_equal(client_count(f), 4);
    teardown(&st);
}

/* The record is part of the change's transaction: a failed commit (507)
 * records nothing, so the client's retry of the same seq is applied, once. */
static void test_client_seq_failed_commit_records_nothing(void **state)
{
    (void)state;
    writer_config c = cfg_default();
    void *st = NULL;
    assert_int_equal(setup_sized(&st, 256 * 1024, &c), 0);
    fixture *f = st;
    char *big = malloc(DOC_MAX_GAME_RESULTS + 1);
    memset(big, 'x', DOC_MAX_GAME_RESULTS);
    memcpy(big, "{\"k\":\"", 6);
    big[DOC_MAX_GAME_RESULTS - 2] = '"';
    big[DOC_MAX_GAME_RESULTS - 1] = '}';
    big[DOC_MAX_GAME_RESULTS] = '\0';
    enum { N = 32 };
    ss_err outcome[N];
    size_t full = 0;
    for (int i = 0; i < N; i++) { /* one transaction each, until the map is full */
        char user[32];
        snprintf(user, sizeof(user), "s%d", i);
        opspec o = {.xp = 1, .game_results = big, .client_id = "c", .seq = 1};
        outcome[i] = run1(f->w, user, &o, 1).err;
        assert_true(outcome[i] == SS_OK || outcome[i] == SS_ERR_STORAGE_FULL);
        full += outcome[i] == SS_ERR_STORAGE_FULL;
    }
    assert_true(full > 0 && full < N);
    for (int i = 0; i < N; i++) {
        char user[32];
        snprintf(user, sizeof(user), "s%d", i);
        store_client rec;
        assert_int_equal(client_rec(f, user, "c", &rec), outcome[i] == SS_OK);
    }
    stop_writer(f);
    store_close(f->store);
    assert_int_equal(store_open(&f->store, f->dir, 8 << 20), SS_OK);
    assert_int_equal(writer_start(&f->w, f->store, &c, on_done, NULL), SS_OK);
    for (int i = 0; i < N; i++) { /* every client retries its seq 1 */
        char user[32];
        snprintf(user, sizeof(user), "s%d", i);
        result r = seq1(f->w, user, "c", 1, 1, 0, NULL);
        assert_int_equal(r.err, SS_OK);
        assert_int_equal(r.duplicate, outcome[i] == SS_OK); /* applied before, or now */
        assert_int_equal(r.xp, 1);
    }
    free(big);
    teardown(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_increments_all_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_repeats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_record_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_write_conflict_returns_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pruning_forgets_after_ttl, setup, teardown),
        cmocka_unit_test(test_idle_pruning),
        cmocka_unit_test_setup_teardown(test_clock_step_forward_prunes_nothing_early, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_clock_step_back_still_forgets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_resumes_from_newest_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_drains_queue, setup, teardown),
        cmocka_unit_test(test_map_full_fails_whole_batch),
        cmocka_unit_test_setup_teardown(test_client_seq_in_order_and_repeats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_seq_refusals_are_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_seq_gap_records_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_seq_outlives_the_idempotency_ttl, setup,
                                        teardown),
        cmocka_unit_test(test_client_seq_lru_bound),
        cmocka_unit_test(test_client_seq_failed_commit_records_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
