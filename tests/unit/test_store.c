/* test_store.c — stats-service/store.c against a real LMDB file in a
 * temporary directory: documents round trip, idempotency records and their
 * bounded pruning, reads on another thread, and a full map (tiny map size)
 * that answers storage_full, keeps serving what was committed, and works
 * again once reopened with a larger map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "doc.h"
#include "store.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fixture {
    char dir[64];
    char data[96];
} fixture;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/statsync-store-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->data, sizeof(f->data), "%s/nested/data", f->dir); /* created by store_open */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void put_doc(stats_store *s, const stats_doc *d)
{
    MDB_txn *txn;
    assert_int_equal(store_write_begin(s, &txn), SS_OK);
    assert_int_equal(store_doc_put(s, txn, d), SS_OK);
    assert_int_equal(store_commit(txn), SS_OK);
}

static void test_doc_round_trip(void **state)
{
    fixture *f = *state;
    stats_store *s = NULL;
    assert_int_equal(store_open(&s, f->data, 8 << 20), SS_OK);

    stats_doc d, got;
    bool found = true;
    MDB_txn *txn;
    assert_int_equal(store_read_begin(s, &txn), SS_OK);
    assert_int_equal(store_doc_get(s, txn, "nobody", &got, &found), SS_OK);
    store_read_end(s, txn);
    assert_false(found);
    assert_int_equal(got.hearts, 5);
    assert_int_equal(got.level, 1);
    assert_int_equal(got.version, 0);
    doc_free(&got);

    doc_init_defaults(&d, "alice");
    d.xp = 42;
    d.diamonds = 7;
    d.version = 3;
    d.updated_at_ms = 1700000000123;
    double t[2] = {1.25, 2.5};
    doc_times_set(&d, t, 2);
    assert_int_equal(doc_set_game_results(&d, "{\"score\":9}"), SS_OK);
    put_doc(s, &d);

    uint64_t users = 0;
    assert_int_equal(store_count_users(s, &users), SS_OK);
    assert_int_equal(users, 1);
    store_close(s);

    /* survives a reopen */
    assert_int_equal(store_open(&s, f->data, 8 << 20), SS_OK);
    assert_int_equal(store_read_begin(s, &txn), SS_OK);
    assert_int_equal(store_doc_get(s, txn, "alice", &got, &found), SS_OK);
    store_read_end(s, txn);
    assert_true(found);
    assert_int_equal(got.xp, 42);
    assert_int_equal(got.diamonds, 7);
    assert_int_equal(got.hearts, 5);
    assert_int_equal(got.version, 3);
    assert_int_equal(got.updated_at_ms, 1700000000123);
    assert_int_equal(got.n_times, 2);
    assert_true(got.times[1] == 2.5);
    assert_string_equal(got.last_game_results, "{\"score\":9}");
    doc_free(&got);
    doc_free(&d);
    store_close(s);
}

static void test_write_txn_sees_own_puts(void **state)
{
    fixture *f = *state;
    stats_store *s = NULL;
    assert_int_equal(store_open(&s, f->data, 8 << 20), SS_OK);
    stats_doc d, got;
    bool found = false;
    doc_init_defaults(&d, "bob");
    d.xp = 1;
    MDB_txn *txn;
    assert_int_equal(store_write_begin(s, &txn), SS_OK);
    assert_int_equal(store_doc_put(s, txn, &d), SS_OK);
    assert_int_equal(store_doc_get(s, txn, "bob", &got, &found), SS_OK);
    assert_true(found);
    assert_int_equal(got.xp, 1);
    doc_free(&got);
    store_abort(txn); /* nothing stays */
    assert_int_equal(store_read_begin(s, &txn), SS_OK);
    assert_int_equal(store_doc_get(s, txn, "bob", &got, &found), SS_OK);
    store_read_end(s, txn);
    assert_false(found);
    doc_free(&got);
    doc_free(&d);
    store_close(s);
}

static void test_idempotency_records_and_pruning(void **state)
{
    fixture *f = *state;
    stats_store *s = NULL;
    assert_int_equal(store_open(&s, f->data, 8 << 20), SS_OK);
    MDB_txn *txn;
    assert_int_equal(store_write_begin(s, &txn), SS_OK);
    char op[32];
    for (int i = 0; i < 10; i++) {
        snprintf(op, sizeof(op), "op-%d", i);
        store_idem rec = {1000 + i * 100, (uint64_t)i + 1};
        assert_int_equal(store_idem_put(s, txn, "alice", op, &rec), SS_OK);
    }
    store_idem rec = {5000, 9};
    assert_int_equal(store_idem_put(s, txn, "bob", "op-0", &rec), SS_OK);
    assert_int_equal(store_commit(txn), SS_OK);

    bool found = false;
    store_idem got = {0, 0};
    assert_int_equal(store_read_begin(s, &txn), SS_OK);
    assert_int_equal(store_idem_get(s, txn, "alice", "op-3", &got, &found), SS_OK);
    assert_true(found);
    assert_int_equal(got.applied_at_ms, 1300);
    assert_int_equal(got.version, 4);
    assert_int_equal(store_idem_get(s, txn, "alice", "op-99", &got, &found), SS_OK);
    assert_false(found);
    assert_int_equal(store_idem_get(s, txn, "carol", "op-0", &got, &found), SS_OK);
    assert_false(found); /* per user */
    assert_int_equal(store_idem_get(s, txn, "bob", "op-0", &got, &found), SS_OK);
    assert_true(found);
    assert_int_equal(got.version, 9);
    int64_t oldest = 0;
    assert_int_equal(store_idem_oldest(s, txn, &oldest, &found), SS_OK);
    assert_true(found);
    assert_int_equal(oldest, 1000);
    store_read_end(s, txn);

    /* bounded chunks: cutoff 1550 expires op-0..op-5 (1000..1500) */
    size_t pruned = 0, total = 0;
    for (int round = 0; round < 10; round++) {
        assert_int_equal(store_write_begin(s, &txn), SS_OK);
        assert_int_equal(store_idem_prune(s, txn, 1550, 4, &pruned), SS_OK);
        assert_true(pruned <= 4);
        assert_int_equal(store_commit(txn), SS_OK);
        total += pruned;
        if (pruned == 0)
            break;
    }
    assert_int_equal(total, 6);
    uint64_t count = 0;
    assert_int_equal(store_read_begin(s, &txn), SS_OK);
    assert_int_equal(store_idem_count(s, txn, &count), SS_OK);
    assert_int_equal(count, 5); /* op-6..op-9 + bob's */
    assert_int_equal(store_idem_get(s, txn, "alice", "op-5", &got, &found), SS_OK);
    assert_false(found);
    assert_int_equal(store_idem_get(s, txn, "alice", "op-6", &got, &found), SS_OK);
    assert_true(found);
    assert_int_equal(store_idem_oldest(s, txn, &oldest, &found), SS_OK);
    assert_int_equal(oldest, 1600);
    store_read_end(s, txn);

    /* a pruned op can be recorded again (a retry after the TTL applies) */
    assert_int_equal(store_write_begin(s, &txn), SS_OK);
    store_idem again = {9000, 20};
    assert_int_equal(store_idem_put(s, txn, "alice", "op-0", &again), SS_OK);
    assert_int_equal(store_idem_prune(s, txn, INT64_MAX, 100, &pruned), SS_OK);
    assert_int_equal(pruned, 6);
    assert_int_equal(store_idem_count(s, txn, &count), SS_OK);
    assert_int_equal(count, 0);
    store_abort(txn);
    /* bad keys are refused, not stored */
    assert_int_equal(store_write_begin(s, &txn), SS_OK);
    assert_int_equal(store_idem_put(s, txn, "alice", "", &again), SS_ERR_BAD_REQUEST);
    store_abort(txn);
    store_close(s);
}

typedef struct reader_arg {
    stats_store *s;
    int64_t xp;
    ss_err err;
} reader_arg;

static void *reader_thread(void *p)
{
    reader_arg *a = p;
    MDB_txn *txn;
    stats_doc d;
    bool found;
    a->err = store_read_begin(a->s, &txn);
    if (a->err != SS_OK)
        return NULL;
    a->err = store_doc_get(a->s, txn, "alice", &d, &found);
    store_read_end(a->s, txn);
    if (a->err == SS_OK) {
        a->xp = d.xp;
        doc_free(&d);
    }
    return NULL;
}

static void test_reads_on_other_threads(void **state)
{
    fixture *f = *state;
    stats_store *s = NULL;
    assert_int_equal(store_open(&s, f->data, 8 << 20), SS_OK);
    stats_doc d;
    doc_init_defaults(&d, "alice");
    d.xp = 5;
    put_doc(s, &d);
    /* the main thread holds a read txn while others open theirs (MDB_NOTLS) */
    MDB_txn *mine;
    assert_int_equal(store_read_begin(s, &mine), SS_OK);
    pthread_t th[4];
    reader_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (reader_arg){s, -1, SS_ERR_INTERNAL};
        pthread_create(&th[i], NULL, reader_thread, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].err, SS_OK);
        assert_int_equal(args[i].xp, 5);
    }
    store_read_end(s, mine);
    doc_free(&d);
    store_close(s);
}

static void test_map_full_is_storage_full_and_recoverable(void **state)
{
    fixture *f = *state;
    stats_store *s = NULL;
    const size_t tiny = 256 * 1024;
    assert_int_equal(store_open(&s, f->data, tiny), SS_OK);

    /* documents with a 16 KB lastGameResults, one per transaction */
    char *big = malloc(DOC_MAX_GAME_RESULTS + 1);
    memset(big, 'x', DOC_MAX_GAME_RESULTS);
    memcpy(big, "{\"k\":\"", 6);
    big[DOC_MAX_GAME_RESULTS - 2] = '"';
    big[DOC_MAX_GAME_RESULTS - 1] = '}';
    big[DOC_MAX_GAME_RESULTS] = '\0';
    int committed = 0;
    ss_err last = SS_OK;
    for (int i = 0; i < 1000 && last == SS_OK; i++) {
        stats_doc d;
        char user[32];
        snprintf(user, sizeof(user), "user-%d", i);
        doc_init_defaults(&d, user);
        d.xp = i;
        assert_int_equal(doc_set_game_results(&d, big), SS_OK);
        MDB_txn *txn;
        last = store_write_begin(s, &txn);
        if (last == SS_OK) {
            last = store_doc_put(s, txn, &d);
            if (last == SS_OK)
                last = store_commit(txn);
            else
                store_abort(txn);
        }
        if (last == SS_OK)
            committed++;
        doc_free(&d);
    }
    assert_int_equal(last, SS_ERR_STORAGE_FULL);
    assert_true(committed > 0);

    /* still serving reads, and small writes fail cleanly, not crash */
    uint64_t users = 0;
    assert_int_equal(store_count_users(s, &users), SS_OK);
    assert_int_equal(users, (uint64_t)committed);
    store_close(s);

    /* reopen with the same tiny map: the previous data is all there */
    assert_int_equal(store_open(&s, f->data, tiny), SS_OK);
    MDB_txn *txn;
    assert_int_equal(store_read_begin(s, &txn), SS_OK);
    for (int i = 0; i < committed; i++) {
        char user[32];
        snprintf(user, sizeof(user), "user-%d", i);
        stats_doc got;
        bool found = false;
        assert_int_equal(store_doc_get(s, txn, user, &got, &found), SS_OK);
        assert_true(found);
        assert_int_equal(got.xp, i);
        doc_free(&got);
    }
    store_read_end(s, txn);
    store_close(s);

    /* a larger map: writes work again */
    assert_int_equal(store_open(&s, f->data, 4 << 20), SS_OK);
    stats_doc d;
    doc_init_defaults(&d, "after-resize");
    assert_int_equal(doc_set_game_results(&d, big), SS_OK);
    put_doc(s, &d);
    doc_free(&d);
    assert_int_equal(store_count_users(s, &users), SS_OK);
    assert_int_equal(users, (uint64_t)committed + 1);
    store_close(s);
    free(big);
}

static void test_error_mapping(void **state)
{
    (void)state;
    assert_int_equal(store_err_from_mdb(0), SS_OK);
    assert_int_equal(store_err_from_mdb(MDB_MAP_FULL), SS_ERR_STORAGE_FULL);
    assert_int_equal(store_err_from_mdb(ENOSPC), SS_ERR_STORAGE_FULL);
    assert_int_equal(store_err_from_mdb(EACCES), SS_ERR_STORAGE_FULL);
    assert_int_equal(store_err_from_mdb(EROFS), SS_ERR_STORAGE_FULL);
    assert_int_equal(store_err_from_mdb(MDB_CORRUPTED), SS_ERR_INTERNAL);
    assert_int_equal(store_err_from_mdb(EIO), SS_ERR_INTERNAL);
}

static void test_open_fails_cleanly(void **state)
{
    fixture *f = *state;
    char path[160];
    snprintf(path, sizeof(path), "%s/file", f->dir);
    FILE *fp = fopen(path, "w"); /* a regular file where a directory is expected */
    fclose(fp);
    stats_store *s = (stats_store *)1;
    assert_int_not_equal(store_open(&s, path, 1 << 20), SS_OK);
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_doc_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_txn_sees_own_puts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_records_and_pruning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_on_other_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full_is_storage_full_and_recoverable, setup,
                                        teardown),
        cmocka_unit_test(test_error_mapping),
        cmocka_unit_test_setup_teardown(test_open_fails_cleanly, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
