/* cmd_split.c — `partition split-legacy`: a data directory from before
 * partitions (one LMDB environment, D/data.mdb, for every user) into the
 * partition layout D/partitions/<p>/, so that the stats-service starts on it.
 *
 * Every record of every DBI (documents, idempotency records and their time
 * index) goes, bytes unchanged, to the partition of the user its key names
 * (store_key_user: the key layouts are store.c's; a key that fits none is
 * refused, nothing is guessed). The partitions are built in
 * D/partitions.splitting/, each flushed and verified — every DBI's entries
 * and content digest against what was routed to it, the totals against the
 * old file — then renamed to D/partitions/ in one step; last, data.mdb and
 * lock.mdb become *.pre-partitions (kept: nothing is deleted). */
#include "admin.h"

#include "ss_time.h"
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Partitions built per pass over the old file (each has two open files). */
#define SPLIT_GROUP 128
/* Records per write transaction of one partition. */
#define SPLIT_TXN_RECORDS 20000

typedef struct split_opts {
    const char *data_dir;
    int64_t count;
    int force, json;
} split_opts;

/* One DBI of the old file. */
typedef struct split_dbi {
    char name[ADMIN_DBI_NAME_MAX];
    unsigned flags;
    uint64_t entries;
} split_dbi;

/* One partition being built. */
typedef struct split_part {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi[ADMIN_MAX_DBIS];
    size_t pending;
    uint64_t entries[ADMIN_MAX_DBIS];
    uint64_t digest[ADMIN_MAX_DBIS];
} split_part;

typedef struct split_ctx {
    const char *data;
    uint32_t count;
    char tmp[ADMIN_PATH_MAX];
    MDB_env *old;
    size_t map_bytes;
    size_t n_dbis;
    split_dbi dbis[ADMIN_MAX_DBIS];
    split_part *parts; /* count of them */
} split_ctx;

static const char split__usage[] =
    ADMIN_PROG " partition split-legacy --data-dir D --partition-count N [--force] [--json]";
static const char split__text[] =
    "Splits a data directory written before partitions (D/data.mdb: one LMDB environment for\n"
    "every user, which the stats-service now refuses to start on) into D/partitions/<p>/ for p in\n"
    "0..N-1, N the cluster's STATSYNC_PARTITION_COUNT: every document and exactly-once record\n"
    "(idem, idem_time) goes to its user's partition, bytes unchanged. The partitions are built\n"
    "aside, verified (entries and content digests per partition and DBI, totals against the old\n"
    "file) and renamed into place in one step; then data.mdb and lock.mdb are renamed to\n"
    "*.pre-partitions (keep them until the service runs well; delete them after). Refused while\n"
    "a process has data.mdb open (stop the old stats-service first) and when D/partitions/\n"
    "already holds anything (--force renames that aside to partitions.before-split-<time>).";

/* Removes a D/partitions.splitting left by an interrupted run (only what
 * this command writes in it). */
static int split__clear_tmp(const char *tmp)
{
    if (admin_path_kind(tmp) == 0)
        return 0;
    DIR *d = opendir(tmp);
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char sub[ADMIN_PATH_MAX];
        unsigned long p = 0;
        admin_path(sub, sizeof(sub), "%s/%s", tmp, e->d_name);
        if (admin_args_uint(e->d_name, SS_PARTITION_COUNT_MAX, &p))
            admin_env_remove(sub);
    }
    closedir(d);
    admin_note("removed %s, left by an interrupted split-legacy", tmp);
    return rmdir(tmp);
}

/* The old file's DBIs (name, flags, entries). */
static int split__old_dbis(split_ctx *s, char *why, size_t cap)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_dbi main_dbi;
    MDB_envinfo info;
    mdb_env_info(s->old, &info);
    s->map_bytes = info.me_mapsize;
    int rc = mdb_txn_begin(s->old, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
    if (rc == 0)
        rc = mdb_cursor_open(txn, main_dbi, &cur);
    MDB_val k, v;
    for (int c = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_FIRST) : MDB_NOTFOUND;
         c != MDB_NOTFOUND; c = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if ((rc = c) != 0)
            break;
        if (s->n_dbis >= ADMIN_MAX_DBIS || k.mv_size == 0 || k.mv_size >= ADMIN_DBI_NAME_MAX) {
            rc = MDB_INCOMPATIBLE;
            break;
        }
        split_dbi *d = &s->dbis[s->n_dbis++];
        memcpy(d->name, k.mv_data, k.mv_size);
        d->name[k.mv_size] = '\0';
        MDB_dbi dbi;
        MDB_stat st;
        if ((rc = mdb_dbi_open(txn, d->name, 0, &dbi)) != 0 ||
            (rc = mdb_dbi_flags(txn, dbi, &d->flags)) != 0 || (rc = mdb_stat(txn, dbi, &st)) != 0)
            break;
        d->entries = st.ms_entries;
        if (d->flags & (MDB_DUPSORT | MDB_INTEGERKEY | MDB_REVERSEKEY)) {
            admin_fmt(why, cap, "DBI '%s' has flags a stats-service never used (0x%x)", d->name,
                     d->flags);
            rc = -1;
            break;
        }
    }
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL)
        mdb_txn_abort(txn);
    if (rc > 0 || rc < -1)
        admin_fmt(why, cap, "reading the DBIs of %s/data.mdb: %s", s->data, mdb_strerror(rc));
    else if (rc == 0 && s->n_dbis == 0)
        admin_fmt(why, cap, "%s/data.mdb holds no DBI", s->data), rc = -1;
    return rc == 0 ? 0 : -1;
}

/* Creates partition p's environment in the temporary folder, with the old
 * file's DBIs, a write transaction open. */
static int split__part_open(split_ctx *s, uint32_t p, char *why, size_t cap)
{
    split_part *sp = &s->parts[p];
    char dir[ADMIN_PATH_MAX];
    admin_path(dir, sizeof(dir), "%s/%u", s->tmp, p);
    int rc = mkdir(dir, 0750) == 0 ? 0 : errno;
    if (rc == 0)
        rc = mdb_env_create(&sp->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(sp->env, ADMIN_MAX_DBIS);
    if (rc == 0)
        rc = mdb_env_set_mapsize(sp->env, s->map_bytes);
    /* Nothing else knows the folder: no lock file; one flush at the end. */
    if (rc == 0)
        rc = mdb_env_open(sp->env, dir, MDB_NOLOCK | MDB_NOSYNC | MDB_NOMETASYNC, 0640);
    if (rc == 0)
        rc = mdb_txn_begin(sp->env, NULL, 0, &sp->txn);
    for (size_t d = 0; rc == 0 && d < s->n_dbis; d++) {
        rc = mdb_dbi_open(sp->txn, s->dbis[d].name, MDB_CREATE | s->dbis[d].flags, &sp->dbi[d]);
        sp->digest[d] = admin_digest_init();
    }
    if (rc != 0)
        admin_fmt(why, cap, "creating %s: %s", dir, mdb_strerror(rc));
    return rc == 0 ? 0 : -1;
}

/* Commits p's transaction (and opens the next one when more follows). */
static int split__part_commit(split_part *sp, bool more)
{
    int rc = mdb_txn_commit(sp->txn);
    sp->txn = NULL;
    sp->pending = 0;
    if (rc == 0 && more)
        rc = mdb_txn_begin(sp->env, NULL, 0, &sp->txn);
    return rc;
}

/* Closes p's environment: flushed to disk when ok, else just closed. */
static int split__part_close(split_part *sp, bool ok)
{
    int rc = 0;
    if (sp->txn != NULL) {
        if (ok)
            rc = split__part_commit(sp, false);
        else
            mdb_txn_abort(sp->txn);
    }
    sp->txn = NULL;
    if (sp->env != NULL) {
        if (ok && rc == 0)
            rc = mdb_env_sync(sp->env, 1);
        mdb_env_close(sp->env);
        sp->env = NULL;
    }
    return rc;
}

/* One pass over the old file for the partitions [lo, hi). */
static int split__pass(split_ctx *s, uint32_t lo, uint32_t hi, char *why, size_t cap)
{
    for (uint32_t p = lo; p < hi; p++)
        if (split__part_open(s, p, why, cap) != 0)
            return -1;
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->old, NULL, MDB_RDONLY, &txn);
    for (size_t d = 0; rc == 0 && d < s->n_dbis; d++) {
        MDB_dbi dbi;
        MDB_cursor *cur = NULL;
        if ((rc = mdb_dbi_open(txn, s->dbis[d].name, 0, &dbi)) != 0 ||
            (rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
            break;
        MDB_val k, v;
        uint64_t n = 0;
        for (int c = mdb_cursor_get(cur, &k, &v, MDB_FIRST); c != MDB_NOTFOUND;
             c = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
            size_t off = 0, len = 0;
            if ((rc = c) != 0)
                break;
            if (!store_key_user(s->dbis[d].name, k.mv_data, k.mv_size, &off, &len)) {
                admin_fmt(why, cap, "DBI '%s', record %llu: its key fits no layout this version "
                         "knows (store.c): nothing was changed", s->dbis[d].name,
                         (unsigned long long)n);
                rc = -1;
                break;
            }
            uint32_t p = ss_partition_hash((const char *)k.mv_data + off, len) % s->count;
            if (p < lo || p >= hi)
                continue;
            split_part *sp = &s->parts[p];
            /* Keys come in order, so each partition's are in order too. */
            if ((rc = mdb_put(sp->txn, sp->dbi[d], &k, &v, MDB_APPEND)) != 0)
                break;
            sp->entries[d]++;
            admin_digest_add(&sp->digest[d], k.mv_data, k.mv_size, v.mv_data, v.mv_size);
            if (++sp->pending >= SPLIT_TXN_RECORDS && (rc = split__part_commit(sp, true)) != 0)
                break;
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    if (rc > 0 || rc < -1)
        admin_fmt(why, cap, "copying records: %s", mdb_strerror(rc));
    for (uint32_t p = lo; p < hi; p++) {
        int crc = split__part_close(&s->parts[p], rc == 0);
        if (rc == 0 && crc != 0) {
            admin_fmt(why, cap, "partition %u: writing it out: %s", p, mdb_strerror(crc));
            rc = crc;
        }
    }
    return rc == 0 ? 0 : -1;
}

/* Every partition's environment has exactly what was routed to it, and
 * the partitions together have every record of the old file. */
static int split__verify(split_ctx *s, json_t *parts, char *why, size_t cap)
{
    uint64_t total[ADMIN_MAX_DBIS] = {0};
    for (uint32_t p = 0; p < s->count; p++) {
        char dir[ADMIN_PATH_MAX], inner[700];
        admin_env_sum sum;
        admin_path(dir, sizeof(dir), "%s/%u", s->tmp, p);
        if (admin_env_summarize(dir, ADMIN_ENV_PRIVATE, p, s->count, &sum, inner,
                                sizeof(inner)) != 0) {
            admin_fmt(why, cap, "partition %u: %s", p, inner);
            return -1;
        }
        if (sum.n_dbis != s->n_dbis || sum.foreign != 0) {
            admin_fmt(why, cap, "partition %u: %s", p,
                     sum.foreign ? "holds another partition's user" : "lacks a DBI");
            return -1;
        }
        for (size_t d = 0; d < s->n_dbis; d++) {
            const split_part *sp = &s->parts[p];
            if (strcmp(sum.dbis[d].name, s->dbis[d].name) != 0 ||
                sum.dbis[d].entries != sp->entries[d] || sum.dbis[d].digest != sp->digest[d]) {
                admin_fmt(why, cap, "partition %u, DBI '%s': %llu entries written, %llu read back",
                         p, s->dbis[d].name, (unsigned long long)sp->entries[d],
                         (unsigned long long)sum.dbis[d].entries);
                return -1;
            }
            total[d] += sp->entries[d];
        }
        json_array_append_new(
            parts, json_pack("{s:i,s:I,s:I}", "partition", (int)p, "documents",
                             (json_int_t)admin_env_sum_entries(&sum, ADMIN_DBI_DOCS),
                             "idempotency_records",
                             (json_int_t)admin_env_sum_entries(&sum, ADMIN_DBI_IDEM)));
    }
    for (size_t d = 0; d < s->n_dbis; d++) {
        if (total[d] != s->dbis[d].entries) {
            admin_fmt(why, cap, "DBI '%s': %llu records in data.mdb, %llu in the partitions",
                     s->dbis[d].name, (unsigned long long)s->dbis[d].entries,
                     (unsigned long long)total[d]);
            return -1;
        }
    }
    return 0;
}

/* Checks before anything is written (an empty partitions folder is
 * removed: it is in nobody's way). */
static bool split__preflight(const split_opts *o, const char *data)
{
    char path[ADMIN_PATH_MAX];
    admin_path(path, sizeof(path), "%s/data.mdb", data);
    if (admin_path_kind(path) != 2) {
        admin_error("%s is not there: no data directory from before partitions to split", path);
        return false;
    }
    pid_t pid = 0;
    int used = admin_env_in_use(data, &pid);
    if (used != 0) {
        if (used > 0)
            admin_error("process %ld has %s open (an old stats-service?): stop it first",
                        (long)pid, path);
        else
            admin_error("cannot tell whether %s is in use: %s", path, strerror(errno));
        return false;
    }
    admin_path(path, sizeof(path), "%s/partitions", data);
    int kind = admin_path_kind(path);
    if (kind == 1 && rmdir(path) == 0) /* empty: nothing in the way */
        kind = 0;
    if (kind != 0 && !o->force) {
        admin_error("%s already exists and is not empty: refusing (--force renames it aside)",
                    path);
        return false;
    }
    return true;
}

/* Puts the verified partitions in place (what --force lets go aside
 * first) and the old file aside. */
static bool split__commit(split_ctx *s, const char *stamp)
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    char dst[ADMIN_PATH_MAX];
    admin_path(dst, sizeof(dst), "%s/partitions", s->data);
    if (admin_path_kind(dst) != 0) {
        char aside[ADMIN_PATH_MAX];
        admin_path(aside, sizeof(aside), "%s.before-split-%s", dst, stamp);
        if (admin_rename_durable(dst, aside) != 0) {
            admin_error("cannot rename %s aside: %s", dst, strerror(errno));
            return false;
        }
        admin_note("renamed the existing %s to %s", dst, aside);
    }
    if (admin_fsync_path(s->tmp) != 0 || admin_rename_durable(s->tmp, dst) != 0) {
        admin_error("cannot rename %s to %s: %s", s->tmp, dst, strerror(errno));
        return false;
    }
    for (size_t i = 0; i < 2; i++) {
        char from[ADMIN_PATH_MAX], to[ADMIN_PATH_MAX];
        admin_path(from, sizeof(from), "%s/%s", s->data, files[i]);
        admin_path(to, sizeof(to), "%s.pre-partitions", from);
        if (admin_path_kind(from) == 0)
            continue;
        if (admin_rename_durable(from, to) != 0) {
            admin_error("the partitions are in place but %s could not be renamed to %s (%s): "
                        "rename it by hand, the stats-service refuses to start beside it",
                        from, to, strerror(errno));
            return false;
        }
    }
    return true;
}

static split_opts split__o;
static const ss_opt split__opts[] = {
    SS_OPT_STR("data-dir", NULL, &split__o.data_dir, NULL,
               "the data directory holding the old data.mdb"),
    SS_OPT_INT("partition-count", NULL, &split__o.count, "0",
               "the cluster's STATSYNC_PARTITION_COUNT (required)"),
    SS_OPT_BOOL("force", NULL, &split__o.force, "false",
                "rename an existing non-empty partitions/ aside instead of refusing"),
    ADMIN_OPT_JSON(&split__o.json, "print one JSON object"),
};
static const admin_cmdline split__cmdline =
    ADMIN_CMDLINE(split__usage, split__text, split__opts, &split__o.json, ADMIN_ARGS_NONE);

/* Builds every partition aside from the old file, in passes of
 * SPLIT_GROUP, and verifies them (into parts, the JSON list). On a failure
 * the temporary folder is removed again. */
static bool split__build(split_ctx *s, json_t *parts)
{
    char why[800] = "";
    bool ok = s->parts != NULL && split__clear_tmp(s->tmp) == 0 && mkdir(s->tmp, 0750) == 0;
    if (!ok)
        admin_fmt(why, sizeof(why), "cannot prepare %s: %s", s->tmp, strerror(errno));
    ok = ok && admin_env_open(&s->old, s->data, ADMIN_ENV_LIVE, why, sizeof(why)) == 0 &&
         split__old_dbis(s, why, sizeof(why)) == 0;
    for (uint32_t lo = 0; ok && lo < s->count; lo += SPLIT_GROUP)
        ok = split__pass(s, lo, lo + SPLIT_GROUP < s->count ? lo + SPLIT_GROUP : s->count, why,
                         sizeof(why)) == 0;
    if (s->old != NULL)
        mdb_env_close(s->old);
    ok = ok && split__verify(s, parts, why, sizeof(why)) == 0;
    if (!ok) {
        admin_error("%s", why);
        split__clear_tmp(s->tmp);
        admin_error("nothing changed: %s/data.mdb is as it was", s->data);
    }
    return ok;
}

/* The entries of the old file's DBI named name (0 when it has none). */
static uint64_t split__old_entries(const split_ctx *s, const char *name)
{
    for (size_t d = 0; d < s->n_dbis; d++)
        if (strcmp(s->dbis[d].name, name) == 0)
            return s->dbis[d].entries;
    return 0;
}

/* The outcome: a line for a person, and the JSON object with --json (it
 * takes parts). */
static void split__report(const split_ctx *s, bool ok, json_t *parts, int64_t ms)
{
    uint64_t docs = split__old_entries(s, ADMIN_DBI_DOCS);
    uint64_t idem = split__old_entries(s, ADMIN_DBI_IDEM);
    if (ok)
        admin_note("split %s/data.mdb into %u partitions in %s/partitions/: %llu documents, "
                   "%llu idempotency records, verified, %lld ms; the old file is now "
                   "data.mdb.pre-partitions",
                   s->data, s->count, s->data, (unsigned long long)docs,
                   (unsigned long long)idem, (long long)ms);
    if (split__o.json)
        admin_print_json(json_pack("{s:b,s:i,s:I,s:I,s:I,s:o}", "ok", ok, "partition_count",
                                   (int)s->count, "documents", (json_int_t)docs,
                                   "idempotency_records", (json_int_t)idem, "ms",
                                   (json_int_t)ms, "partitions", parts));
    else
        json_decref(parts);
}

int cmd_split_legacy(int argc, char **argv)
{
    const split_opts *o = &split__o;
    int rc = admin_cmdline_parse(&split__cmdline, argc, argv, NULL);
    if (rc >= 0)
        return rc;
    if (o->count < 1 || o->count > SS_PARTITION_COUNT_MAX) {
        admin_error("--partition-count must be 1-%d, the cluster's STATSYNC_PARTITION_COUNT "
                    "(try --help)", SS_PARTITION_COUNT_MAX);
        return ADMIN_EXIT_USAGE;
    }
    static split_ctx s;
    char data[ADMIN_PATH_MAX], stamp[64];
    if (!admin_abs_path(o->data_dir, data))
        return ADMIN_EXIT_USAGE;
    admin_stamp(stamp, sizeof(stamp));
    memset(&s, 0, sizeof(s));
    s.data = data;
    s.count = (uint32_t)o->count;
    admin_path(s.tmp, sizeof(s.tmp), "%s/partitions.splitting", data);
    int64_t t0 = ss_mono_ms();
    if (!split__preflight(o, data))
        return ADMIN_EXIT_FAIL;
    s.parts = calloc(s.count, sizeof(*s.parts));
    json_t *parts = json_array();
    bool ok = split__build(&s, parts) && split__commit(&s, stamp);
    split__report(&s, ok, parts, ss_mono_ms() - t0);
    free(s.parts);
    return ok ? ADMIN_EXIT_OK : ADMIN_EXIT_FAIL;
}
