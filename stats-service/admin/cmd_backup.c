/* cmd_backup.c — `partition backup`: an online, compacted copy of
 * partitions while their stats-service keeps serving and writing them, with
 * a manifest to verify a restore by (manifest.h). */
#include "admin.h"
#include "manifest.h"

#include "ss_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct backup_opts {
    const char *data_dir, *out, *partition;
    int64_t partition_count;
    int json;
} backup_opts;

static const char backup__usage[] =
    ADMIN_PROG " partition backup --data-dir D --out DIR [--partition P|all] "
    "[--partition-count N] [--json]";
static const char backup__text[] =
    "Copies each partition's LMDB environment in D/partitions/<p>/ to DIR/partitions/<p>/data.mdb\n"
    "with LMDB's compacting copy (mdb_env_copy2, MDB_CP_COMPACT): a consistent snapshot of every\n"
    "DBI taken while the stats-service keeps serving and writing (it opens the environment as one\n"
    "more reader; writers are not held up). Then writes DIR/manifest.json: per partition the\n"
    "documents, idempotency records and every DBI's entries and content digest, read from the\n"
    "copy, so `partition restore` can verify what it restores. DIR may exist, but must not hold a\n"
    "manifest or any of the partitions. With --partition-count, every key is checked to belong\n"
    "to its partition (and the count is recorded).";

static backup_opts backup__o;
static const ss_opt backup__opts[] = {
    SS_OPT_STR("data-dir", NULL, &backup__o.data_dir, NULL, "the stats-service's STATSYNC_DATA_DIR"),
    SS_OPT_STR("out", NULL, &backup__o.out, NULL, "directory of the backup (created when missing)"),
    SS_OPT_STR("partition", NULL, &backup__o.partition, "all",
               "partitions to copy: a number, a set (0-31, 3,9) or all (every one in D)"),
    SS_OPT_INT("partition-count", NULL, &backup__o.partition_count, "0",
               "the cluster's STATSYNC_PARTITION_COUNT, when known (0: not known)"),
    ADMIN_OPT_JSON(&backup__o.json, "print the manifest as one JSON object"),
};
static const admin_cmdline backup__cmdline =
    ADMIN_CMDLINE(backup__usage, backup__text, backup__opts, &backup__o.json, ADMIN_ARGS_NONE);

/* The backup being made: the manifest it fills, and the totals. */
typedef struct backup_run {
    char data[ADMIN_PATH_MAX], out[ADMIN_PATH_MAX];
    uint32_t count; /* 0: not known */
    ss_partition_set sel;
    admin_manifest *m;
    uint64_t docs, idem, bytes;
} backup_run;

/* The partitions asked for, among those in data/partitions. */
static int backup__select(backup_run *b, const char *spec)
{
    char what[ADMIN_PATH_MAX], why[600];
    ss_partition_set avail;
    if (admin_partitions_on_disk(b->data, b->count ? b->count : SS_PARTITION_COUNT_MAX, &avail) !=
        0) {
        admin_error("cannot read %s/partitions: %s", b->data, strerror(errno));
        return ADMIN_EXIT_FAIL;
    }
    admin_path(what, sizeof(what), "%s/partitions", b->data);
    if (!admin_select(spec, &avail, &b->sel, what, why, sizeof(why))) {
        admin_error("%s", why);
        return ADMIN_EXIT_FAIL;
    }
    return -1;
}

/* Refuses before copying anything (a backup never mixes with another),
 * then creates out/partitions. */
static int backup__prepare_out(const backup_run *b)
{
    char path[ADMIN_PATH_MAX];
    admin_path(path, sizeof(path), "%s/%s", b->out, ADMIN_MANIFEST_FILE);
    if (admin_path_kind(path) != 0) {
        admin_error("%s already holds a backup (%s): choose a new directory", b->out, path);
        return ADMIN_EXIT_FAIL;
    }
    SS_PARTITION_SET_EACH(p, &b->sel) {
        admin_path(path, sizeof(path), "%s/partitions/%u", b->out, p);
        if (admin_path_kind(path) != 0) {
            admin_error("%s already exists: choose a new directory", path);
            return ADMIN_EXIT_FAIL;
        }
    }
    admin_path(path, sizeof(path), "%s/partitions", b->out);
    if (admin_mkdirs(path, 0750) != 0) {
        admin_error("cannot create %s: %s", path, strerror(errno));
        return ADMIN_EXIT_FAIL;
    }
    return -1;
}

/* Copies partition p (online) into the backup and adds it to the manifest. */
static bool backup__one(backup_run *b, uint32_t p)
{
    char src[ADMIN_PATH_MAX], dst[ADMIN_PATH_MAX], why[600];
    admin_path(src, sizeof(src), "%s/partitions/%u", b->data, p);
    admin_path(dst, sizeof(dst), "%s/partitions/%u", b->out, p);
    admin_manifest_part *mp = &b->m->parts[b->m->n_parts];
    int64_t t0 = ss_mono_ms();
    if (admin_env_copy_checked(src, ADMIN_ENV_LIVE, dst, p, b->count, NULL, &mp->sum, why,
                               sizeof(why)) != 0) {
        admin_error("partition %u: %s", p, why);
        return false;
    }
    if (mp->sum.foreign > 0) {
        admin_error("partition %u holds %llu keys of users of other partitions (e.g. '%s'): "
                    "is %u the cluster's partition count?",
                    p, (unsigned long long)mp->sum.foreign, mp->sum.foreign_user, b->count);
        return false;
    }
    mp->partition = p;
    mp->copy_ms = ss_mono_ms() - t0;
    b->m->n_parts++;
    uint64_t d = admin_env_sum_entries(&mp->sum, ADMIN_DBI_DOCS);
    uint64_t i = admin_env_sum_entries(&mp->sum, ADMIN_DBI_IDEM);
    b->docs += d, b->idem += i, b->bytes += mp->sum.bytes;
    admin_note("partition %u: %llu documents, %llu idempotency records, %llu bytes in %lld ms", p,
               (unsigned long long)d, (unsigned long long)i, (unsigned long long)mp->sum.bytes,
               (long long)mp->copy_ms);
    return true;
}

/* Every partition, then the manifest (last: a backup without one is
 * incomplete). */
static int backup__copy_all(backup_run *b)
{
    char why[600];
    int64_t started = ss_mono_ms();
    b->m->partition_count = b->count;
    b->m->created_ms = ss_now_ms();
    admin_path(b->m->source, sizeof(b->m->source), "%s", b->data);
    SS_PARTITION_SET_EACH(p, &b->sel) {
        if (!backup__one(b, p))
            return ADMIN_EXIT_FAIL;
    }
    if (admin_manifest_write(b->m, b->out, why, sizeof(why)) != 0) {
        admin_error("%s", why);
        return ADMIN_EXIT_FAIL;
    }
    admin_note("backup of %zu partitions in %s: %llu documents, %llu idempotency records, "
               "%llu bytes, %lld ms",
               b->m->n_parts, b->out, (unsigned long long)b->docs, (unsigned long long)b->idem,
               (unsigned long long)b->bytes, (long long)(ss_mono_ms() - started));
    return ADMIN_EXIT_OK;
}

int cmd_backup(int argc, char **argv)
{
    const backup_opts *o = &backup__o;
    int rc = admin_cmdline_parse(&backup__cmdline, argc, argv, NULL);
    if (rc >= 0)
        return rc;
    if (o->partition_count < 0 || o->partition_count > SS_PARTITION_COUNT_MAX) {
        admin_error("--partition-count must be 1-%d (or 0: not known)", SS_PARTITION_COUNT_MAX);
        return ADMIN_EXIT_USAGE;
    }
    static backup_run b;
    memset(&b, 0, sizeof(b));
    b.count = (uint32_t)o->partition_count;
    if (!admin_abs_path(o->data_dir, b.data) || !admin_abs_path(o->out, b.out))
        return ADMIN_EXIT_USAGE;
    if ((rc = backup__select(&b, o->partition)) >= 0 || (rc = backup__prepare_out(&b)) >= 0)
        return rc;
    if ((b.m = calloc(1, sizeof(*b.m))) == NULL)
        return ADMIN_EXIT_FAIL;
    int status = backup__copy_all(&b);
    if (status == ADMIN_EXIT_OK && o->json)
        admin_print_json(admin_manifest_to_json(b.m));
    else if (status != ADMIN_EXIT_OK)
        admin_error("the backup in %s is incomplete (it has no manifest): remove it", b.out);
    free(b.m);
    return status;
}
