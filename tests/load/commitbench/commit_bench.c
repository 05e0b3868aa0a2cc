/* commit_bench.c — the two numbers that decide how a partition could be
 * replicated (stats-service/README.md, "Next: replicas of a partition"):
 * the latency of one durable LMDB commit (one ~1 KB document per write
 * transaction, as the stats-service's writer does at low rate) and of one
 * JetStream publish acknowledged by a stream of R replicas (the replicated
 * log a partition would append to before applying).
 *
 *   statsync-commit-bench --lmdb DIR [--nats URL --replicas R] [--n N] [--batch B]
 *
 * Prints one line per measure: count, mean, p50, p99, max in microseconds.
 * --batch B: B documents per LMDB transaction / B async publishes awaited
 * together (group commit on both sides). Benchmark only; no assertions. */
#include <lmdb.h>
#include <nats/nats.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int64_t now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, int64_t *v, int n, int batch)
{
    if (n <= 0) {
        printf("%-34s no samples\n", what);
        return;
    }
    qsort(v, (size_t)n, sizeof(*v), cmp64);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)v[i];
    printf("%-34s n=%d batch=%d mean=%.0fus p50=%lldus p99=%lldus max=%lldus per-doc=%.1fus\n",
           what, n, batch, sum / n, (long long)v[n / 2], (long long)v[(n * 99) / 100],
           (long long)v[n - 1], sum / n / batch);
}

static int bench_lmdb(const char *dir, int n, int batch, const char *doc, size_t len)
{
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    mkdir(dir, 0750);
    if (mdb_env_create(&env) || mdb_env_set_mapsize(env, (size_t)1 << 30) ||
        mdb_env_set_maxdbs(env, 4) || mdb_env_open(env, dir, MDB_NOTLS, 0640)) {
        fprintf(stderr, "lmdb open %s failed\n", dir);
        return 1;
    }
    mdb_txn_begin(env, NULL, 0, &txn);
    mdb_dbi_open(txn, "docs", MDB_CREATE, &dbi);
    mdb_txn_commit(txn);
    int64_t *lat = calloc((size_t)n, sizeof(*lat));
    for (int i = 0; i < n; i++) {
        int64_t t0 = now_us();
        mdb_txn_begin(env, NULL, 0, &txn);
        for (int b = 0; b < batch; b++) {
            char key[32];
            snprintf(key, sizeof(key), "user-%d", (i * batch + b) % 10000);
            MDB_val k = {strlen(key), key}, v = {len, (void *)doc};
            mdb_put(txn, dbi, &k, &v, 0);
        }
        if (mdb_txn_commit(txn) != 0) { /* durable: no MDB_NOSYNC */
            fprintf(stderr, "lmdb commit failed\n");
            return 1;
        }
        lat[i] = now_us() - t0;
    }
    report("lmdb durable commit", lat, n, batch);
    free(lat);
    mdb_env_close(env);
    return 0;
}

static int bench_js(const char *url, int replicas, int n, int batch, const char *doc, size_t len)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamConfig sc;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if (natsConnection_ConnectTo(&nc, url) != NATS_OK ||
        natsConnection_JetStream(&js, nc, NULL) != NATS_OK) {
        fprintf(stderr, "nats connect %s failed\n", url);
        return 1;
    }
    const char *subj[] = {"bench.partition.7"};
    jsStreamConfig_Init(&sc);
    sc.Name = "COMMIT_BENCH";
    sc.Subjects = subj;
    sc.SubjectsLen = 1;
    sc.Replicas = replicas;
    sc.Storage = js_FileStorage;
    js_DeleteStream(js, "COMMIT_BENCH", NULL, NULL);
    if (js_AddStream(&si, js, &sc, NULL, &jerr) != NATS_OK) {
        fprintf(stderr, "stream R%d not created: %s (%d)\n", replicas, nats_GetLastError(NULL),
                (int)jerr);
        return 1;
    }
    jsStreamInfo_Destroy(si);
    int64_t *lat = calloc((size_t)n, sizeof(*lat));
    for (int i = 0; i < n; i++) {
        int64_t t0 = now_us();
        natsStatus s = NATS_OK;
        if (batch == 1) {
            jsPubAck *pa = NULL;
            s = js_Publish(&pa, js, subj[0], doc, (int)len, NULL, &jerr);
            jsPubAck_Destroy(pa);
        } else {
            for (int b = 0; s == NATS_OK && b < batch; b++)
                s = js_PublishAsync(js, subj[0], doc, (int)len, NULL);
            if (s == NATS_OK)
                s = js_PublishAsyncComplete(js, NULL);
        }
        if (s != NATS_OK) {
            fprintf(stderr, "publish failed: %s\n", natsStatus_GetText(s));
            return 1;
        }
        lat[i] = now_us() - t0;
    }
    char what[64];
    snprintf(what, sizeof(what), "jetstream publish R%d (acked)", replicas);
    report(what, lat, n, batch);
    js_DeleteStream(js, "COMMIT_BENCH", NULL, NULL);
    free(lat);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *url = NULL;
    int replicas = 3, n = 2000, batch = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--lmdb"))
            dir = argv[i + 1];
        else if (!strcmp(argv[i], "--nats"))
            url = argv[i + 1];
        else if (!strcmp(argv[i], "--replicas"))
            replicas = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--n"))
            n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: %s --lmdb DIR [--nats URL --replicas R] [--n N] [--batch B]\n",
                    argv[0]);
            return 2;
        }
    }
    if ((dir == NULL && url == NULL) || n <= 0 || batch <= 0) {
        fprintf(stderr, "usage: %s --lmdb DIR [--nats URL --replicas R] [--n N] [--batch B]\n",
                argv[0]);
        return 2;
    }
    char doc[1024];
    memset(doc, 'x', sizeof(doc));
    int rc = 0;
    if (dir != NULL)
        rc |= bench_lmdb(dir, n, batch, doc, sizeof(doc));
    if (url != NULL)
        rc |= bench_js(url, replicas, n, batch, doc, sizeof(doc));
    return rc;
}
