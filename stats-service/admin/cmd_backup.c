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

int cmd_backup(int argc, char **argv)
{
    static backup_opts o;
    const ss_opt opts[] = {
        SS_OPT_STR("data-dir", NULL, &o.data_dir, NULL, "the stats-service's STATSYNC_DATA_DIR"),
        SS_OPT_STR("out", NULL, &o.out, NULL, "directory of the backup (created when missing)"),
        SS_OPT_STR("partition", NULL, &o.partition, "all",
                   "partitions to copy: a number, a set (0-31, 3,9) or all (every one in D)"),
        SS_OPT_INT("partition-count", NULL, &o.partition_count, "0",
                   "the cluster's STATSYNC_PARTITION_COUNT, when known (0: not known)"),
        SS_OPT_BOOL("json", NULL, &o.json, "false", "print the manifest as one JSON object"),
    };
    admin_positional pos;
    int rc = admin_parse(backup__usage, backup__text, opts, SS_COUNT(opts), argc, argv, &pos);
    if (rc >= 0)
        return rc;
    admin_json = o.json;
    if (pos.n > 0) {
        admin_error("unexpected argument '%s' (try --help)", pos.v[0]);
        return ADMIN_EXIT_USAGE;
    }
    if (o.partition_count < 0 || o.partition_count > SS_PARTITION_COUNT_MAX) {
        admin_error("--partition-count must be 1-%d (or 0: not known)", SS_PARTITION_COUNT_MAX);
        return ADMIN_EXIT_USAGE;
    }
    uint32_t count = (uint32_t)o.partition_count;
    char data[ADMIN_PATH_MAX], out[ADMIN_PATH_MAX], why[600];
    if (!admin_abs_path(o.data_dir, data) || !admin_abs_path(o.out, out))
        return ADMIN_EXIT_USAGE;
    ss_partition_set avail, sel;
    if (admin_partitions_on_disk(data, count ? count : SS_PARTITION_COUNT_MAX, &avail) != 0) {
        admin_error("cannot read %s/partitions: %s", data, strerror(errno));
        return ADMIN_EXIT_FAIL;
    }
    char what[ADMIN_PATH_MAX];
    admin_path(what, sizeof(what), "%s/partitions", data);
    if (!admin_select(o.partition, &avail, &sel, what, why, sizeof(why))) {
        admin_error("%s", why);
        return ADMIN_EXIT_FAIL;
    }
    /* Refuse before copying anything: a backup never mixes with another. */
    char path[ADMIN_PATH_MAX];
    admin_path(path, sizeof(path), "%s/%s", out, ADMIN_MANIFEST_FILE);
    if (admin_path_kind(path) != 0) {
        admin_error("%s already holds a backup (%s): choose a new directory", out, path);
        return ADMIN_EXIT_FAIL;
    }
    for (uint32_t p = 0; p < sel.count; p++) {
        admin_path(path, sizeof(path), "%s/partitions/%u", out, p);
        if (ss_partition_set_has(&sel, p) && admin_path_kind(path) != 0) {
            admin_error("%s already exists: choose a new directory", path);
            return ADMIN_EXIT_FAIL;
        }
    }
    admin_path(path, sizeof(path), "%s/partitions", out);
    if (admin_mkdirs(path, 0750) != 0) {
        admin_error("cannot create %s: %s", path, strerror(errno));
        return ADMIN_EXIT_FAIL;
    }
    admin_manifest *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return ADMIN_EXIT_FAIL;
    m->partition_count = count;
    m->created_ms = ss_now_ms();
    admin_path(m->source, sizeof(m->source), "%s", data);
    int64_t started = ss_mono_ms();
    uint64_t docs = 0, idem = 0, bytes = 0;
    int status = ADMIN_EXIT_OK;
    for (uint32_t p = 0; p < sel.count && status == ADMIN_EXIT_OK; p++) {
        if (!ss_partition_set_has(&sel, p))
            continue;
        char src[ADMIN_PATH_MAX], dst[ADMIN_PATH_MAX];
        admin_path(src, sizeof(src), "%s/partitions/%u", data, p);
        admin_path(dst, sizeof(dst), "%s/partitions/%u", out, p);
        admin_manifest_part *mp = &m->parts[m->n_parts];
        int64_t t0 = ss_mono_ms();
        if (admin_env_copy(src, ADMIN_ENV_LIVE, dst, why, sizeof(why)) != 0 ||
            admin_env_summarize(dst, ADMIN_ENV_PRIVATE, p, count, &mp->sum, why, sizeof(why)) !=
                0) {
            admin_error("partition %u: %s", p, why);
            status = ADMIN_EXIT_FAIL;
            break;
        }
        if (mp->sum.foreign > 0) {
            admin_error("partition %u holds %llu keys of users of other partitions (e.g. '%s'): "
                        "is %u the cluster's partition count?",
                        p, (unsigned long long)mp->sum.foreign, mp->sum.foreign_user, count);
            status = ADMIN_EXIT_FAIL;
            break;
        }
        mp->partition = p;
        mp->copy_ms = ss_mono_ms() - t0;
        m->n_parts++;
        uint64_t d = admin_env_sum_entries(&mp->sum, ADMIN_DBI_DOCS);
        uint64_t i = admin_env_sum_entries(&mp->sum, ADMIN_DBI_IDEM);
        docs += d, idem += i, bytes += mp->sum.bytes;
        admin_note("partition %u: %llu documents, %llu idempotency records, %llu bytes in %lld ms",
                   p, (unsigned long long)d, (unsigned long long)i,
                   (unsigned long long)mp->sum.bytes, (long long)mp->copy_ms);
    }
    if (status == ADMIN_EXIT_OK && admin_manifest_write(m, out, why, sizeof(why)) != 0) {
        admin_error("%s", why);
        status = ADMIN_EXIT_FAIL;
    }
    if (status == ADMIN_EXIT_OK) {
        admin_note("backup of %zu partitions in %s: %llu documents, %llu idempotency records, "
                   "%llu bytes, %lld ms",
                   m->n_parts, out, (unsigned long long)docs, (unsigned long long)idem,
                   (unsigned long long)bytes, (long long)(ss_mono_ms() - started));
        if (o.json)
            admin_print_json(admin_manifest_to_json(m));
    } else {
        admin_error("the backup in %s is incomplete (it has no manifest): remove it", out);
    }
    free(m);
    return status;
}
