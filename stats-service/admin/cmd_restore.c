/* cmd_restore.c — `partition restore`: a backup's partitions back into a
 * data directory, each verified against the manifest before it is put in
 * place, never over a partition that is served. */
#include "admin.h"
#include "manifest.h"

#include "ss_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESTORE_MAX_INSTANCES 64

typedef struct restore_opts {
    admin_nats_opts nats;
    const char *from, *data_dir, *partition;
    int force, leases, json;
} restore_opts;

static const char restore__usage[] =
    ADMIN_PROG " partition restore --from DIR --data-dir D [--partition P|all] [--force]\n"
    "       [--nats URL [--leases]] [--json]";
static const char restore__text[] =
    "Copies partitions of the backup in DIR (made by `partition backup`) into D/partitions/<p>/.\n"
    "First the backup's copy is checked against DIR/manifest.json (every DBI's entries and\n"
    "content digest), then it is copied to D/partitions/<p>.restoring-<time>, checked again, and\n"
    "only when every partition asked for passed are they renamed into place: all or none.\n"
    "A partition folder (or a move's tombstone) already in D is refused; with --force it is\n"
    "renamed aside to <p>.replaced-<time> — unless a process has it open.\n"
    "With a NATS server (--nats or STATSYNC_NATS_URL) every running instance is asked first and\n"
    "a partition some instance serves is refused (release it first); --leases also refuses a\n"
    "partition whose lease is held. Start or `partition acquire` the owner afterwards.";

/* With NATS: refuses (false) when an instance serves one of sel, or its
 * lease is held (leases). count: the manifest's, checked against theirs. */
static bool restore__not_served(const restore_opts *o, const ss_partition_set *sel,
                                uint32_t count)
{
    admin_ctl *c = admin_connect(&o->nats);
    if (c == NULL) {
        admin_error("refusing to restore without checking the instances (or leave --nats and "
                    "STATSYNC_NATS_URL unset)");
        return false;
    }
    static char names[RESTORE_MAX_INSTANCES][ADMIN_NAME_MAX];
    size_t n = admin_ctl_discover(c, names, RESTORE_MAX_INSTANCES);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        admin_instance in;
        char why[600];
        if (admin_ctl_command(c, names[i], ADMIN_STATUS, -1, &in, why, sizeof(why)) != SS_OK) {
            admin_error("%s: cannot tell which partitions it serves; refusing", why);
            ok = false;
            break;
        }
        if (count != 0 && in.partition_count != count) {
            admin_error("%s counts %u partitions, the backup %u: refusing", in.name,
                        in.partition_count, count);
            ok = false;
        }
        for (uint32_t p = 0; ok && p < sel->count; p++) {
            if (ss_partition_set_has(sel, p) && ss_partition_set_has(&in.parts, p)) {
                admin_error("partition %u is served by %s: release it first (" ADMIN_PROG
                            " partition release %u --instance %s)",
                            p, in.name, p, in.name);
                ok = false;
            }
        }
    }
    for (uint32_t p = 0; ok && o->leases && p < sel->count; p++) {
        char owner[256], why[600];
        if (!ss_partition_set_has(sel, p))
            continue;
        if (admin_ctl_lease(c, p, owner, sizeof(owner), why, sizeof(why)) != SS_OK) {
            admin_error("%s; refusing", why);
            ok = false;
        } else if (owner[0]) {
            admin_error("partition %u's lease is held by %s: refusing", p, owner);
            ok = false;
        }
    }
    admin_ctl_close(c);
    return ok;
}

/* What is in the way of restoring p at target: 0 nothing; 1 something that
 * --force may rename aside; -1 refused (said). */
static int restore__in_the_way(const char *target, uint32_t p, bool force)
{
    int kind = admin_path_kind(target);
    if (kind == 0)
        return 0;
    if (!force) {
        admin_error("%s already exists%s: refusing to overwrite it (--force renames it aside)",
                    target, admin_tombstone_is(target) ? " (the tombstone of a move)" : "");
        return -1;
    }
    pid_t pid = 0;
    int used = kind == 1 ? admin_env_in_use(target, &pid) : 0;
    if (used != 0) {
        if (used > 0)
            admin_error("partition %u: %s is open by process %ld (a stats-service serving it?): "
                        "refusing even with --force", p, target, (long)pid);
        else
            admin_error("partition %u: cannot tell whether %s is in use: %s", p, target,
                        strerror(errno));
        return -1;
    }
    return 1;
}

int cmd_restore(int argc, char **argv)
{
    static restore_opts o;
    const ss_opt opts[] = {
        SS_OPT_STR("from", NULL, &o.from, NULL, "the backup's directory"),
        SS_OPT_STR("data-dir", NULL, &o.data_dir, NULL, "the STATSYNC_DATA_DIR to restore into"),
        SS_OPT_STR("partition", NULL, &o.partition, "all",
                   "partitions to restore: a number, a set (0-31, 3,9) or all (the backup's)"),
        SS_OPT_BOOL("force", NULL, &o.force, "false",
                    "rename a partition folder in the way aside instead of refusing"),
        ADMIN_NATS_OPTS(o.nats, ""),
        SS_OPT_BOOL("leases", NULL, &o.leases, "false", "with NATS: refuse a held lease too"),
        SS_OPT_BOOL("json", NULL, &o.json, "false", "print one JSON object"),
    };
    admin_positional pos;
    int rc = admin_parse(restore__usage, restore__text, opts, SS_COUNT(opts), argc, argv, &pos);
    if (rc >= 0)
        return rc;
    admin_json = o.json;
    if (pos.n > 0) {
        admin_error("unexpected argument '%s' (try --help)", pos.v[0]);
        return ADMIN_EXIT_USAGE;
    }
    char from[ADMIN_PATH_MAX], data[ADMIN_PATH_MAX], why[700], stamp[64];
    if (!admin_abs_path(o.from, from) || !admin_abs_path(o.data_dir, data))
        return ADMIN_EXIT_USAGE;
    admin_stamp(stamp, sizeof(stamp));
    admin_manifest *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return ADMIN_EXIT_FAIL;
    int status = ADMIN_EXIT_FAIL;
    ss_partition_set avail = {.count = m->partition_count}, sel;
    if (admin_manifest_read(from, m, why, sizeof(why)) != 0) {
        admin_error("%s", why);
        goto done;
    }
    avail.count = m->partition_count ? m->partition_count : SS_PARTITION_COUNT_MAX;
    for (size_t i = 0; i < m->n_parts; i++)
        ss_partition_set_add(&avail, m->parts[i].partition);
    if (!admin_select(o.partition, &avail, &sel, "the backup", why, sizeof(why))) {
        admin_error("%s", why);
        goto done;
    }
    if (o.nats.url[0] && !restore__not_served(&o, &sel, m->partition_count))
        goto done;

    /* Check everything before writing anything. */
    static char target[SS_PARTITION_COUNT_MAX][ADMIN_PATH_MAX];
    static char staged[SS_PARTITION_COUNT_MAX][ADMIN_PATH_MAX];
    static int in_way[SS_PARTITION_COUNT_MAX];
    for (uint32_t p = 0; p < sel.count; p++) {
        if (!ss_partition_set_has(&sel, p))
            continue;
        const admin_manifest_part *mp = admin_manifest_find(m, p);
        char src[ADMIN_PATH_MAX];
        admin_env_sum sum;
        admin_path(src, sizeof(src), "%s/partitions/%u", from, p);
        admin_path(target[p], sizeof(target[p]), "%s/partitions/%u", data, p);
        if (admin_env_summarize(src, ADMIN_ENV_PRIVATE, p, m->partition_count, &sum, why,
                                sizeof(why)) != 0) {
            admin_error("partition %u: %s", p, why);
            goto done;
        }
        if (!admin_env_sum_equal(&sum, &mp->sum, why, sizeof(why))) {
            admin_error("partition %u: the backup's copy does not match its manifest: %s", p, why);
            goto done;
        }
        if ((in_way[p] = restore__in_the_way(target[p], p, o.force)) < 0)
            goto done;
    }
    admin_fmt(why, sizeof(why), "%s/partitions", data);
    if (admin_mkdirs(why, 0750) != 0) {
        admin_error("cannot create %s: %s", why, strerror(errno));
        goto done;
    }
    /* Stage every partition beside its place, and check the copies. */
    bool staged_ok = true;
    for (uint32_t p = 0; p < sel.count && staged_ok; p++) {
        if (!ss_partition_set_has(&sel, p))
            continue;
        char src[ADMIN_PATH_MAX];
        admin_env_sum sum;
        admin_path(src, sizeof(src), "%s/partitions/%u", from, p);
        admin_path(staged[p], sizeof(staged[p]), "%s/partitions/%u.restoring-%s", data, p, stamp);
        if (admin_env_copy(src, ADMIN_ENV_PRIVATE, staged[p], why, sizeof(why)) != 0) {
            admin_error("partition %u: %s", p, why);
            staged[p][0] = '\0';
            staged_ok = false;
            break;
        }
        if (admin_env_summarize(staged[p], ADMIN_ENV_PRIVATE, p, m->partition_count, &sum, why,
                                sizeof(why)) != 0 ||
            !admin_env_sum_equal(&sum, &admin_manifest_find(m, p)->sum, why, sizeof(why))) {
            admin_error("partition %u: the restored copy does not match the manifest: %s", p,
                        why);
            staged_ok = false;
        }
    }
    if (!staged_ok) {
        for (uint32_t p = 0; p < sel.count; p++)
            if (ss_partition_set_has(&sel, p) && staged[p][0])
                admin_env_remove(staged[p]);
        admin_error("nothing restored: %s is as it was", data);
        goto done;
    }
    /* Put them in place. */
    json_t *restored = json_array();
    status = ADMIN_EXIT_OK;
    for (uint32_t p = 0; p < sel.count; p++) {
        if (!ss_partition_set_has(&sel, p))
            continue;
        const admin_manifest_part *mp = admin_manifest_find(m, p);
        char aside[ADMIN_PATH_MAX] = "";
        if (in_way[p] > 0) {
            admin_path(aside, sizeof(aside), "%s.replaced-%s", target[p], stamp);
            if (admin_rename_durable(target[p], aside) != 0) {
                admin_error("partition %u: cannot rename %s aside: %s (its restored copy is "
                            "left in %s)", p, target[p], strerror(errno), staged[p]);
                status = ADMIN_EXIT_FAIL;
                continue;
            }
        }
        if (admin_rename_durable(staged[p], target[p]) != 0) {
            admin_error("partition %u: cannot rename %s to %s: %s", p, staged[p], target[p],
                        strerror(errno));
            status = ADMIN_EXIT_FAIL;
            continue;
        }
        uint64_t d = admin_env_sum_entries(&mp->sum, ADMIN_DBI_DOCS);
        uint64_t i = admin_env_sum_entries(&mp->sum, ADMIN_DBI_IDEM);
        admin_note("partition %u restored in %s: %llu documents, %llu idempotency records "
                   "(verified)%s%s",
                   p, target[p], (unsigned long long)d, (unsigned long long)i,
                   aside[0] ? "; the folder it replaced is now " : "", aside);
        json_array_append_new(restored, json_pack("{s:i,s:I,s:I,s:s?}", "partition", (int)p,
                                                  "documents", (json_int_t)d,
                                                  "idempotency_records", (json_int_t)i,
                                                  "replaced", aside[0] ? aside : NULL));
    }
    if (o.json)
        admin_print_json(json_pack("{s:b,s:o}", "ok", status == ADMIN_EXIT_OK, "restored",
                                   restored));
    else
        json_decref(restored);
done:
    free(m);
    return status;
}
