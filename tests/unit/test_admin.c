/* test_admin.c — statsync-admin's pure parts and its LMDB file handling
 * (stats-service/admin/): the command-line parser (env defaults, flags,
 * repeated options, positionals, refusals), partition selection, the
 * backup manifest (round trip, every refusal), store_key_user's layouts,
 * and on real LMDB files in a temporary directory: a compacted copy has the
 * summary of its source, a changed record changes the digest, keys of
 * another partition are found, a process's open environment is seen, a
 * tombstone is told from anything else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin.h"
#include "manifest.h"
#include "store.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- arguments ---------------------------------------------------------------------- */

typedef struct t_opts {
    const char *name, *dir, *url;
    int64_t n;
    int force;
    admin_list inst;
} t_opts;

static t_opts T;
static const ss_opt T_OPTS[] = {
    SS_OPT_STR("name", NULL, &T.name, NULL, "required"),
    SS_OPT_STR("dir", NULL, &T.dir, "", "optional"),
    SS_OPT_STR("nats", "STATSYNC_TEST_ADMIN_URL", &T.url, "nats://d", "from the env"),
    SS_OPT_INT("n", NULL, &T.n, "7", "a number"),
    SS_OPT_BOOL("force", NULL, &T.force, "false", "a flag"),
    {"instance", NULL, SS_OPT_T_STR, &T.inst, "", "repeatable", ADMIN_OPT_LIST},
};

static int parse(admin_positional *pos, char *why, int argc, ...)
{
    char *argv[16];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    return admin_args_parse(T_OPTS, SS_COUNT(T_OPTS), argc, argv, pos, why, 300);
}

static void test_args(void **state)
{
    (void)state;
    admin_positional pos;
    char why[300];
    unsetenv("STATSYNC_TEST_ADMIN_URL");
    assert_int_equal(parse(&pos, why, 8, "5", "--name", "a", "--instance", "x", "--force",
                           "--instance=y", "--n=12"),
                     0);
    assert_string_equal(T.name, "a");
    assert_string_equal(T.dir, "");
    assert_string_equal(T.url, "nats://d");
    assert_int_equal(T.n, 12);
    assert_int_equal(T.force, 1);
    assert_int_equal(T.inst.n, 2);
    assert_string_equal(T.inst.v[0], "x");
    assert_string_equal(T.inst.v[1], "y");
    assert_int_equal(pos.n, 1);
    assert_string_equal(pos.v[0], "5");

    /* the environment gives defaults; a flag wins; lists start empty again */
    setenv("STATSYNC_TEST_ADMIN_URL", "nats://env", 1);
    assert_int_equal(parse(&pos, why, 2, "--name", "b"), 0);
    assert_string_equal(T.url, "nats://env");
    assert_int_equal(T.inst.n, 0);
    assert_int_equal(T.force, 0);
    assert_int_equal(T.n, 7);
    assert_int_equal(parse(&pos, why, 4, "--name", "b", "--nats", "nats://flag"), 0);
    assert_string_equal(T.url, "nats://flag");
    unsetenv("STATSYNC_TEST_ADMIN_URL");

    assert_int_equal(parse(&pos, why, 1, "--help"), 1);
    assert_int_equal(parse(&pos, why, 3, "--name", "a", "--bogus"), -1);
    assert_non_null(strstr(why, "unknown option '--bogus'"));
    assert_int_equal(parse(&pos, why, 1, "--name"), -1);
    assert_non_null(strstr(why, "needs a value"));
    assert_int_equal(parse(&pos, why, 1, "--dir=x"), -1);
    assert_non_null(strstr(why, "--name is required"));
    assert_int_equal(parse(&pos, why, 3, "--name", "a", "--n=1x"), -1);
    assert_non_null(strstr(why, "not an integer"));
    assert_int_equal(parse(&pos, why, 3, "--name", "a", "--force=maybe"), -1);
    assert_int_equal(parse(&pos, why, 7, "--name", "a", "1", "2", "3", "4", "5"), -1);
    assert_non_null(strstr(why, "unexpected argument '5'"));

    unsigned long v = 0;
    assert_true(admin_args_uint("0", 63, &v) && v == 0);
    assert_true(admin_args_uint("63", 63, &v) && v == 63);
    assert_false(admin_args_uint("64", 63, &v));
    assert_false(admin_args_uint("07", 63, &v));
    assert_false(admin_args_uint("-1", 63, &v));
    assert_false(admin_args_uint("", 63, &v));
    assert_false(admin_args_uint("5a", 63, &v));
    assert_false(admin_args_uint("99999999999999999999999", 1023, &v));
}

static void test_select(void **state)
{
    (void)state;
    ss_partition_set avail = {.count = 64}, out;
    char why[300], text[64];
    ss_partition_set_add(&avail, 3);
    ss_partition_set_add(&avail, 4);
    ss_partition_set_add(&avail, 9);
    assert_true(admin_select("all", &avail, &out, "D", why, sizeof(why)));
    admin_set_text(&out, text, sizeof(text));
    assert_string_equal(text, "3-4,9");
    assert_true(admin_select("3-4", &avail, &out, "D", why, sizeof(why)));
    assert_int_equal(ss_partition_set_size(&out), 2);
    assert_false(admin_select("3-5", &avail, &out, "D", why, sizeof(why)));
    assert_string_equal(why, "partition 5 is not in D");
    assert_false(admin_select("64", &avail, &out, "D", why, sizeof(why)));
    ss_partition_set none = {.count = 64};
    assert_false(admin_select("all", &none, &out, "D", why, sizeof(why)));
    admin_set_text(&none, text, sizeof(text));
    assert_string_equal(text, "none");
}

/* ---- the manifest ----------------------------------------------------------------------- */

static admin_manifest *manifest_sample(void)
{
    admin_manifest *m = calloc(1, sizeof(*m));
    m->partition_count = 64;
    m->created_ms = 1796000000123;
    strcpy(m->source, "/var/lib/statsync");
    for (uint32_t i = 0; i < 2; i++) {
        admin_manifest_part *p = &m->parts[m->n_parts++];
        p->partition = 5 + i * 30;
        p->copy_ms = 3;
        p->sum.bytes = 12288;
        p->sum.n_dbis = 3;
        const char *names[] = {"docs", "idem", "idem_time"};
        for (size_t d = 0; d < 3; d++) {
            strcpy(p->sum.dbis[d].name, names[d]);
            p->sum.dbis[d].entries = 10 * (d + 1) + i;
            p->sum.dbis[d].digest = 0xfedcba9876543210ull + d + i;
        }
    }
    return m;
}

/* Parses text; returns the rc, why in why. */
static int manifest_parse(const char *text, admin_manifest *m, char *why)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    assert_non_null(j);
    int rc = admin_manifest_from_json(j, m, why, 300);
    json_decref(j);
    return rc;
}

/* The sample's JSON with one member replaced (path "partitions.0.documents"
 * style, only what the tests need), as text. */
static char *manifest_variant(const admin_manifest *m, const char *where, json_t *v)
{
    json_t *j = admin_manifest_to_json(m);
    json_t *p0 = json_array_get(json_object_get(j, "partitions"), 0);
    json_t *d0 = json_array_get(json_object_get(p0, "dbis"), 0);
    if (strncmp(where, "p0.", 3) == 0)
        json_object_set_new(p0, where + 3, v);
    else if (strncmp(where, "d0.", 3) == 0)
        json_object_set_new(d0, where + 3, v);
    else if (strcmp(where, "dup") == 0)
        json_array_append(json_object_get(j, "partitions"), p0), json_decref(v);
    else
        json_object_set_new(j, where, v);
    char *text = json_dumps(j, 0);
    json_decref(j);
    return text;
}

static void test_manifest(void **state)
{
    (void)state;
    admin_manifest *m = manifest_sample(), *r = calloc(1, sizeof(*r));
    char why[300];
    json_t *j = admin_manifest_to_json(m);
    assert_string_equal(json_string_value(json_object_get(j, "created")),
                        "2026-11-30T00:53:20.123Z");
    json_t *p0 = json_array_get(json_object_get(j, "partitions"), 0);
    assert_int_equal(json_integer_value(json_object_get(p0, "documents")), 10);
    assert_int_equal(json_integer_value(json_object_get(p0, "idempotency_records")), 20);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(p0, "dbis"), 0), "fnv1a64")),
                        "fedcba9876543210");
    char *text = json_dumps(j, 0);
    json_decref(j);
    assert_int_equal(manifest_parse(text, r, why), 0);
    free(text);
    assert_int_equal(r->partition_count, 64);
    assert_int_equal(r->n_parts, 2);
    assert_string_equal(r->source, "/var/lib/statsync");
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(r->parts[i].partition, m->parts[i].partition);
        assert_true(admin_env_sum_equal(&r->parts[i].sum, &m->parts[i].sum, why, sizeof(why)));
    }
    assert_non_null(admin_manifest_find(r, 35));
    assert_null(admin_manifest_find(r, 6));

    /* an unknown count is null */
    m->partition_count = 0;
    text = manifest_variant(m, "unused", json_null());
    assert_int_equal(manifest_parse(text, r, why), 0);
    assert_int_equal(r->partition_count, 0);
    free(text);
    m->partition_count = 64;

    struct {
        const char *where;
        json_t *v;
        const char *why;
    } bad[] = {
        {"format", json_string("something-else"), "not a statsync partition backup"},
        {"version", json_integer(2), "version 2"},
        {"partition_count", json_integer(0), "partition_count"},
        {"partition_count", json_integer(2000), "partition_count"},
        {"partitions", json_object(), "\"partitions\" must be an array"},
        {"p0.partition", json_integer(64), "\"partition\" must be an integer 0-63"},
        {"p0.documents", json_integer(11), "disagree with its dbis"},
        {"p0.idempotency_records", json_string("20"), "\"idempotency_records\" must be"},
        {"p0.bytes", json_integer(-1), "\"bytes\" must be"},
        {"p0.dbis", json_array(), "disagree with its dbis"},
        {"d0.fnv1a64", json_string("FEDCBA9876543210"), "16 lower-case hex"},
        {"d0.fnv1a64", json_string("fedcba987654321"), "16 lower-case hex"},
        {"d0.name", json_string("zzz"), "not in name order"},
        {"d0.entries", json_real(1.5), "\"entries\" must be"},
        {"dup", json_null(), "listed twice or out of order"},
    };
    for (size_t i = 0; i < SS_COUNT(bad); i++) {
        text = manifest_variant(m, bad[i].where, bad[i].v);
        int rc = manifest_parse(text, r, why);
        if (rc == 0 || strstr(why, bad[i].why) == NULL)
            fail_msg("%s: rc %d, why '%s' (expected '%s')", bad[i].where, rc, why, bad[i].why);
        free(text);
    }
    free(m);
    free(r);
}

/* ---- LMDB files --------------------------------------------------------------------------- */

typedef struct fixture {
    char dir[64];
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
    strcpy(f->dir, "/tmp/statsync-admin-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
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

/* The i-th user of partition p (of 64). */
static void user_of(uint32_t p, int i, char *buf, size_t cap)
{
    for (int n = 0, seen = 0;; n++) {
        snprintf(buf, cap, "user-%d", n);
        if (ss_partition_of(buf, 64) == p && seen++ == i)
            return;
    }
}

/* A partition environment as the stats-service writes it: users of p
 * (and `foreign` of partition p+1), each with two op records and one client
 * record (exactly-once per client). */
static void write_env(const char *dir, uint32_t p, int users, int foreign)
{
    stats_store *st = NULL;
    MDB_txn *txn = NULL;
    assert_int_equal(store_open(&st, dir, 8 << 20), SS_OK);
    assert_int_equal(store_write_begin(st, &txn), SS_OK);
    for (int i = 0; i < users + foreign; i++) {
        char user[64];
        stats_doc d;
        user_of(i < users ? p : p + 1, i, user, sizeof(user));
        doc_init_defaults(&d, user);
        d.xp = i;
        d.version = 2;
        assert_int_equal(store_doc_put(st, txn, &d), SS_OK);
        for (int k = 0; k < 2; k++) {
            char op[16];
            snprintf(op, sizeof(op), "op-%d", k);
            store_idem rec = {.applied_at_ms = 1000 + k, .version = (uint64_t)k + 1};
            assert_int_equal(store_idem_put(st, txn, user, op, &rec), SS_OK);
        }
        store_client c = {.last_seq = 2, .used_at_ms = 1001, .refused_floor = 0};
        assert_int_equal(store_client_put(st, txn, user, "install-1", &c), SS_OK);
        doc_free(&d);
    }
    assert_int_equal(store_commit(txn), SS_OK);
    store_close(st);
}

static void test_copy_has_the_source_summary(void **state)
{
    fixture *f = *state;
    char src[128], dst[128], why[700];
    snprintf(src, sizeof(src), "%s/src", f->dir);
    snprintf(dst, sizeof(dst), "%s/dst", f->dir);
    write_env(src, 7, 50, 0);
    admin_env_sum a, b;
    assert_int_equal(admin_env_summarize(src, ADMIN_ENV_LIVE, 7, 64, &a, why, sizeof(why)), 0);
    assert_int_equal(a.n_dbis, 4);
    assert_string_equal(a.dbis[0].name, "clients");
    assert_string_equal(a.dbis[1].name, "docs");
    assert_string_equal(a.dbis[2].name, "idem");
    assert_string_equal(a.dbis[3].name, "idem_time");
    assert_int_equal(admin_env_sum_entries(&a, "clients"), 50);
    assert_int_equal(admin_env_sum_entries(&a, ADMIN_DBI_DOCS), 50);
    assert_int_equal(admin_env_sum_entries(&a, ADMIN_DBI_IDEM), 100);
    assert_int_equal(admin_env_sum_entries(&a, ADMIN_DBI_IDEM_TIME), 100);
    assert_int_equal(a.foreign, 0);

    assert_int_equal(admin_env_copy(src, ADMIN_ENV_LIVE, dst, why, sizeof(why)), 0);
    assert_int_equal(admin_env_summarize(dst, ADMIN_ENV_PRIVATE, 7, 64, &b, why, sizeof(why)), 0);
    assert_true(admin_env_sum_equal(&a, &b, why, sizeof(why)));
    /* a private copy gets no lock file */
    char lock[160];
    snprintf(lock, sizeof(lock), "%s/lock.mdb", dst);
    assert_int_equal(admin_path_kind(lock), 0);
    /* refused onto an existing folder, and it stays */
    assert_int_equal(admin_env_copy(src, ADMIN_ENV_LIVE, dst, why, sizeof(why)), -1);
    assert_int_equal(admin_path_kind(dst), 1);

    /* one changed value: same count, another digest */
    stats_store *st = NULL;
    MDB_txn *txn = NULL;
    stats_doc d;
    char user[64];
    user_of(7, 3, user, sizeof(user));
    assert_int_equal(store_open(&st, src, 8 << 20), SS_OK);
    assert_int_equal(store_write_begin(st, &txn), SS_OK);
    doc_init_defaults(&d, user);
    d.xp = 999;
    assert_int_equal(store_doc_put(st, txn, &d), SS_OK);
    assert_int_equal(store_commit(txn), SS_OK);
    store_close(st);
    assert_int_equal(admin_env_summarize(src, ADMIN_ENV_LIVE, 7, 64, &a, why, sizeof(why)), 0);
    assert_false(admin_env_sum_equal(&a, &b, why, sizeof(why)));
    assert_string_equal(why, "DBI 'docs': 50 entries each but their content differs");

    /* no environment */
    assert_int_equal(admin_env_summarize(f->dir, ADMIN_ENV_PRIVATE, 0, 0, &a, why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "there is none"));
}

static void test_foreign_keys_are_found(void **state)
{
    fixture *f = *state;
    char dir[128], why[700];
    snprintf(dir, sizeof(dir), "%s/p", f->dir);
    write_env(dir, 9, 5, 2);
    admin_env_sum s;
    assert_int_equal(admin_env_summarize(dir, ADMIN_ENV_LIVE, 9, 64, &s, why, sizeof(why)), 0);
    assert_int_equal(s.foreign, 2 * 6); /* each foreign user: its doc, 2 idem, 2 idem_time, its client */
    assert_true(strlen(s.foreign_user) > 0);
    assert_int_equal(ss_partition_of(s.foreign_user, 64), 10);
    /* unchecked without a count */
    assert_int_equal(admin_env_summarize(dir, ADMIN_ENV_LIVE, 9, 0, &s, why, sizeof(why)), 0);
    assert_int_equal(s.foreign, 0);
}

static void test_key_layouts(void **state)
{
    (void)state;
    size_t off = 9, len = 9;
    assert_true(store_key_user("docs", "alice", 5, &off, &len) && off == 0 && len == 5);
    assert_true(store_key_user("idem", "alice\0op1", 9, &off, &len) && off == 0 && len == 5);
    assert_true(store_key_user("idem_time", "12345678alice\0op1", 17, &off, &len) && off == 8 &&
                len == 5);
    assert_false(store_key_user("idem", "alice", 5, &off, &len));         /* no \0 */
    assert_false(store_key_user("idem", "alice\0", 6, &off, &len));       /* no op id */
    assert_false(store_key_user("idem", "\0op", 3, &off, &len));          /* no user */
    assert_false(store_key_user("idem_time", "12345678", 8, &off, &len)); /* no key */
    assert_false(store_key_user("docs", "", 0, &off, &len));
    assert_false(store_key_user("clients", "alice", 5, &off, &len)); /* no \0 */
    /* exactly-once per client: "userId \0 clientId" */
    assert_true(store_key_user("clients", "alice\0c-1", 9, &off, &len) && off == 0 && len == 5);
    assert_false(store_key_user("clients", "alice\0", 6, &off, &len)); /* no client id */
    assert_false(store_key_user("nope", "alice\0c-1", 9, &off, &len)); /* not known here */
}

static void test_in_use_and_tombstones(void **state)
{
    fixture *f = *state;
    char dir[128], tomb[128];
    snprintf(dir, sizeof(dir), "%s/live", f->dir);
    snprintf(tomb, sizeof(tomb), "%s/5", f->dir);
    write_env(dir, 1, 1, 0);
    pid_t pid = 0;
    assert_int_equal(admin_env_in_use(dir, &pid), 0);
    assert_int_equal(admin_env_in_use(f->dir, &pid), 0); /* no lock file */
    int ready[2], done[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(done), 0);
    pid_t child = fork();
    if (child == 0) { /* another process with the environment open */
        stats_store *st = NULL;
        char c = 0;
        store_open(&st, dir, 8 << 20);
        (void)!write(ready[1], "r", 1);
        (void)!read(done[0], &c, 1);
        store_close(st);
        _exit(0);
    }
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(admin_env_in_use(dir, &pid), 1);
    assert_int_equal(pid, child);
    assert_int_equal(write(done[1], "d", 1), 1);
    waitpid(child, NULL, 0);
    assert_int_equal(admin_env_in_use(dir, &pid), 0);

    assert_false(admin_tombstone_is(tomb));
    assert_int_equal(admin_tombstone_write(tomb, "moved away\n"), 0);
    assert_true(admin_tombstone_is(tomb));
    assert_int_equal(admin_path_kind(tomb), 2);
    assert_int_equal(admin_tombstone_write(tomb, "again\n"), -1); /* never over anything */
    assert_false(admin_tombstone_is(dir));                        /* a directory */
    char other[160];
    snprintf(other, sizeof(other), "%s/data.mdb", dir);
    assert_false(admin_tombstone_is(other)); /* another file */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_key_layouts),
        cmocka_unit_test_setup_teardown(test_copy_has_the_source_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_keys_are_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_use_and_tombstones, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
