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

static restore_opts restore__o;
static const ss_opt restore__opts[] = {
    SS_OPT_STR("from", NULL, &restore__o.from, NULL, "the backup's directory"),
    SS_OPT_STR("data-dir", NULL, &restore__o.data_dir, NULL, "the STATSYNC_DATA_DIR to restore into"),
    SS_OPT_STR("partition", NULL, &restore__o.partition, "all",
               "partitions to restore: a number, a set (0-31, 3,9) or all (the backup's)"),
    SS_OPT_BOOL("force", NULL, &restore__o.force, "false",
                "rename a partition folder in the way aside instead of refusing"),
    ADMIN_NATS_OPTS(restore__o.nats, ""),
    SS_OPT_BOOL("leases", NULL, &restore__o.leases, "false", "with NATS: refuse a held lease too"),
    ADMIN_OPT_JSON(&restore__o.json, "print one JSON object"),
};
static const admin_cmdline restore__cmdline =
    ADMIN_CMDLINE(restore__usage, restore__text, restore__opts, &restore__o.json, ADMIN_ARGS_NONE);

/* The restore under way: the backup's manifest, the partitions asked for
 * and, per partition, its place, its staged copy and what is in the way. */
typedef struct restore_run {
    const restore_opts *o;
    char from[ADMIN_PATH_MAX], data[ADMIN_PATH_MAX], stamp[64];
    admin_manifest *m;
    ss_partition_set sel;
    char target[SS_PARTITION_COUNT_MAX][ADMIN_PATH_MAX];
    char staged[SS_PARTITION_COUNT_MAX][ADMIN_PATH_MAX];
    int in_way[SS_PARTITION_COUNT_MAX];
    bool refused; /* an instance's STATUS refused the restore */
} restore_run;

/* Checks one instance's STATUS (admin_instance_fn): it serves none of the
 * partitions and counts them as the backup does. */
static bool restore__check_instance(void *arg, const char *name, const admin_instance *in,
                                    const char *why)
{
    (void)name;
    restore_run *r = arg;
    uint32_t count = r->m->partition_count;
    r->refused = true;
    if (in == NULL) {
        admin_error("%s: cannot tell which partitions it serves; refusing", why);
        return false;
    }
    if (count != 0 && in->partition_count != count) {
        admin_error("%s counts %u partitions, the backup %u: refusing", in->name,
                    in->partition_count, count);
        return false;
    }
    SS_PARTITION_SET_EACH(p, &r->sel) {
        if (ss_partition_set_has(&in->parts, p)) {
            admin_error("partition %u is served by %s: release it first (" ADMIN_PROG
                        " partition release %u --instance %s)",
                        p, in->name, p, in->name);
            return false;
        }
    }
    r->refused = false;
    return true;
}

/* With --leases: refuses (false) when a lease of the partitions is held. */
static bool restore__leases_free(const restore_run *r, admin_ctl *c)
{
    SS_PARTITION_SET_EACH(p, &r->sel) {
        char owner[256], why[600];
        if (admin_ctl_lease(c, p, owner, sizeof(owner), why, sizeof(why)) != SS_OK) {
            admin_error("%s; refusing", why);
            return false;
        }
        if (owner[0]) {
            admin_error("partition %u's lease is held by %s: refusing", p, owner);
            return false;
        }
    }
    return true;
}

/* With NATS: refuses (false) when an instance serves one of the partitions,
 * or (--leases) their lease is held. */
static bool restore__not_served(restore_run *r)
{
    admin_ctl *c = admin_connect(&r->o->nats);
    if (c == NULL) {
        admin_error("refusing to restore without checking the instances (or leave --nats and "
                    "STATSYNC_NATS_URL unset)");
        return false;
    }
    r->refused = false;
    admin_each_instance(c, NULL, restore__check_instance, r);
    bool ok = !r->refused && (!r->o->leases || restore__leases_free(r, c));
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


/* The backup's manifest, and the partitions of it asked for. */
static bool restore__load(restore_run *r)
{
    char why[700];
    ss_partition_set avail = {0};
    if (admin_manifest_read(r->from, r->m, why, sizeof(why)) != 0) {
        admin_error("%s", why);
        return false;
    }
    avail.count = r->m->partition_count ? r->m->partition_count : SS_PARTITION_COUNT_MAX;
    for (size_t i = 0; i < r->m->n_parts; i++)
        ss_partition_set_add(&avail, r->m->parts[i].partition);
    if (!admin_select(r->o->partition, &avail, &r->sel, "the backup", why, sizeof(why))) {
        admin_error("%s", why);
        return false;
    }
    return true;
}

/* Everything checked before anything is written: each of the backup's
 * copies against the manifest, and what is in the way of each. */
static bool restore__check(restore_run *r)
{
    char why[700];
    SS_PARTITION_SET_EACH(p, &r->sel) {
        char src[ADMIN_PATH_MAX];
        admin_env_sum sum;
        admin_path(src, sizeof(src), "%s/partitions/%u", r->from, p);
        admin_path(r->target[p], sizeof(r->target[p]), "%s/partitions/%u", r->data, p);
        if (admin_env_summarize(src, ADMIN_ENV_PRIVATE, p, r->m->partition_count, &sum, why,
                                sizeof(why)) != 0) {
            admin_error("partition %u: %s", p, why);
            return false;
        }
        if (!admin_env_sum_equal(&sum, &admin_manifest_find(r->m, p)->sum, why, sizeof(why))) {
            admin_error("partition %u: the backup's copy does not match its manifest: %s", p, why);
            return false;
        }
        if ((r->in_way[p] = restore__in_the_way(r->target[p], p, r->o->force)) < 0)
            return false;
    }
    admin_fmt(why, sizeof(why), "%s/partitions", r->data);
    if (admin_mkdirs(why, 0750) != 0) {
        admin_error("cannot create %s: %s", why, strerror(errno));
        return false;
    }
    return true;
}

/* Stages every partition beside its place and checks the copies against
 * the manifest. On a failure every staged copy is removed again. */
static bool restore__stage(restore_run *r)
{
    char why[700];
    bool ok = true;
    SS_PARTITION_SET_EACH(p, &r->sel) {
        char src[ADMIN_PATH_MAX];
        admin_env_sum sum;
        admin_path(src, sizeof(src), "%s/partitions/%u", r->from, p);
        admin_path(r->staged[p], sizeof(r->staged[p]), "%s/partitions/%u.restoring-%s", r->data,
                   p, r->stamp);
        int rc = admin_env_copy_checked(src, ADMIN_ENV_PRIVATE, r->staged[p], p,
                                        r->m->partition_count, &admin_manifest_find(r->m, p)->sum,
                                        &sum, why, sizeof(why));
        if (rc == -1) {
            admin_error("partition %u: %s", p, why);
            r->staged[p][0] = '\0';
        } else if (rc != 0) {
            admin_error("partition %u: the restored copy does not match the manifest: %s", p,
                        why);
        }
        if (rc != 0) {
            ok = false;
            break;
        }
    }
    if (ok)
        return true;
    SS_PARTITION_SET_EACH(p, &r->sel) {
        if (r->staged[p][0])
            admin_env_remove(r->staged[p]);
    }
    admin_error("nothing restored: %s is as it was", r->data);
    return false;
}

/* Renames partition p's staged copy into place (what is in the way aside
 * first). Its entry of the JSON result, or NULL (said). */
static json_t *restore__place_one(const restore_run *r, uint32_t p)
{
    const char *target = r->target[p], *staged = r->staged[p];
    const admin_manifest_part *mp = admin_manifest_find(r->m, p);
    char aside[ADMIN_PATH_MAX] = "";
    if (r->in_way[p] > 0) {
        admin_path(aside, sizeof(aside), "%s.replaced-%s", target, r->stamp);
        if (admin_rename_durable(target, aside) != 0) {
            admin_error("partition %u: cannot rename %s aside: %s (its restored copy is "
                        "left in %s)", p, target, strerror(errno), staged);
            return NULL;
        }
    }
    if (admin_rename_durable(staged, target) != 0) {
        admin_error("partition %u: cannot rename %s to %s: %s", p, staged, target,
                    strerror(errno));
        return NULL;
    }
    uint64_t d = admin_env_sum_entries(&mp->sum, ADMIN_DBI_DOCS);
    uint64_t i = admin_env_sum_entries(&mp->sum, ADMIN_DBI_IDEM);
    admin_note("partition %u restored in %s: %llu documents, %llu idempotency records "
               "(verified)%s%s",
               p, target, (unsigned long long)d, (unsigned long long)i,
               aside[0] ? "; the folder it replaced is now " : "", aside);
    return json_pack("{s:i,s:I,s:I,s:s?}", "partition", (int)p, "documents", (json_int_t)d,
                     "idempotency_records", (json_int_t)i, "replaced", aside[0] ? aside : NULL);
}

/* Every staged copy into place; one that cannot be is said and the others
 * still are. */
static int restore__place(const restore_run *r)
{
    json_t *restored = json_array();
    int status = ADMIN_EXIT_OK;
    SS_PARTITION_SET_EACH(p, &r->sel) {
        json_t *one = restore__place_one(r, p);
        if (one == NULL)
            status = ADMIN_EXIT_FAIL;
        else
            json_array_append_new(restored, one);
    }
    if (r->o->json)
        admin_print_json(json_pack("{s:b,s:o}", "ok", status == ADMIN_EXIT_OK, "restored",
                                   restored));
    else
        json_decref(restored);
    return status;
}

int cmd_restore(int argc, char **argv)
{
    int rc = admin_cmdline_parse(&restore__cmdline, argc, argv, NULL);
    if (rc >= 0)
        return rc;
    static restore_run r;
    memset(&r, 0, sizeof(r));
    r.o = &restore__o;
    if (!admin_abs_path(r.o->from, r.from) || !admin_abs_path(r.o->data_dir, r.data))
        return ADMIN_EXIT_USAGE;
    admin_stamp(r.stamp, sizeof(r.stamp));
    if ((r.m = calloc(1, sizeof(*r.m))) == NULL)
        return ADMIN_EXIT_FAIL;
    int status = ADMIN_EXIT_FAIL;
    if (restore__load(&r) && (!r.o->nats.url[0] || restore__not_served(&r)) &&
        restore__check(&r) && restore__stage(&r))
        status = restore__place(&r);
    free(r.m);
    return status;
}
