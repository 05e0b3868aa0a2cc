/* legacy_store_writer.c — writes a data directory in the layout from before
 * partitions (one LMDB environment, DIR/data.mdb, for every user), with
 * stats_core's own store.c as the stats-service of that time did, for
 * tests/integration/partition_split_legacy.test.js.
 *
 *   statsync-test-legacy-store DIR USERS OPS [MAP_MB]
 *
 * User i gets OPS applied ops: xp (i+1)·OPS, diamonds i, version OPS, and
 * an idempotency record "legacy-<i>-<k>" for each (applied now, so none is
 * pruned). Some userIds need subject encoding ("auth0|…", e-mail, non-ASCII).
 * Prints one JSON line per user: {"user","xp","diamonds","version","ops":[…]}.
 * Exit 0, or 1 with the error on stderr. */
#include "doc.h"
#include "ss_time.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>

static void legacy__user(char *buf, size_t cap, long i)
{
    switch (i % 4) {
    case 1:
        snprintf(buf, cap, "auth0|legacy%ld", i);
        break;
    case 2:
        snprintf(buf, cap, "legacy.%ld@example.com", i);
        break;
    case 3:
        snprintf(buf, cap, "\xc3\xbc-legacy-%ld", i); /* ü */
        break;
    default:
        snprintf(buf, cap, "legacy-%ld", i);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s DIR USERS OPS [MAP_MB]\n", argv[0]);
        return 2;
    }
    long users = atol(argv[2]), ops = atol(argv[3]), map_mb = argc == 5 ? atol(argv[4]) : 64;
    stats_store *st = NULL;
    MDB_txn *txn = NULL;
    if (store_open(&st, argv[1], (size_t)map_mb << 20) != SS_OK ||
        store_write_begin(st, &txn) != SS_OK) {
        fprintf(stderr, "cannot open an LMDB environment in %s\n", argv[1]);
        store_close(st);
        return 1;
    }
    int64_t now = ss_now_ms();
    ss_err e = SS_OK;
    for (long i = 0; i < users && e == SS_OK; i++) {
        char user[64];
        stats_doc d;
        legacy__user(user, sizeof(user), i);
        doc_init_defaults(&d, user);
        d.xp = (i + 1) * ops;
        d.diamonds = i;
        d.version = (uint64_t)ops;
        d.updated_at_ms = now - 1000 + i;
        e = store_doc_put(st, txn, &d);
        printf("{\"user\":\"%s\",\"xp\":%ld,\"diamonds\":%ld,\"version\":%ld,\"ops\":[", user,
               (long)d.xp, i, ops);
        for (long k = 0; k < ops && e == SS_OK; k++) {
            char op[64];
            snprintf(op, sizeof(op), "legacy-%ld-%ld", i, k);
            store_idem rec = {.applied_at_ms = now - 1000 + k, .version = (uint64_t)k + 1};
            e = store_idem_put(st, txn, user, op, &rec);
            printf("%s\"%s\"", k ? "," : "", op);
        }
        printf("]}\n");
        doc_free(&d);
    }
    e = e == SS_OK ? store_commit(txn) : (store_abort(txn), e);
    store_close(st);
    if (e != SS_OK)
        fprintf(stderr, "writing failed: %s\n", ss_err_code(e));
    return e == SS_OK ? 0 : 1;
}
