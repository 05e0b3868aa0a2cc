/* cmd_status.c — `partition status`: which instance serves which
 * partition, and which partitions nobody serves; `partition release` and
 * `partition acquire`: one command to one instance. */
#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct status_opts {
    admin_nats_opts nats;
    admin_list instances;
    int json, leases;
} status_opts;

static const char status__usage[] =
    ADMIN_PROG " partition status [--nats URL] [--instance ID]... [--leases] [--json]";
static const char status__text[] =
    "Asks every stats-service instance (or the ones named with --instance) which partitions it\n"
    "serves, its data directory and partition count, and lists the partitions no instance\n"
    "serves (without --instance, every instance that answers the health probe is asked), and\n"
    "those two instances serve at once (never expected: the leases forbid it).\n"
    "With --leases it also reads each partition's lease from the JetStream KV bucket\n"
    "statsync_partitions (the NATS user needs read rights on it; see stats-service/README.md).\n"
    "Exit status: 0 when every partition has exactly one owner and every instance answered;\n"
    "1 otherwise (the report is printed either way); 2 on a usage error.";

/* Text output of one instance. */
static void status__print_instance(const admin_instance *in)
{
    char set[4096];
    admin_set_text(&in->parts, set, sizeof(set));
    admin_note("%-20s serves %u of %u: %s   (data dir %s)", in->name,
               ss_partition_set_size(&in->parts), in->partition_count, set,
               in->data_dir[0] ? in->data_dir : "?");
}

/* The leases of every partition, checked against who serves it. Adds
 * "leases" (p -> value) and "lease_mismatch" to out; false on a mismatch or
 * when they cannot be read. */
static bool status__leases(admin_ctl *c, uint32_t count, const char (*owner)[ADMIN_NAME_MAX],
                           json_t *out)
{
    json_t *leases = json_object(), *mismatch = json_array();
    bool ok = true;
    char why[600] = "";
    for (uint32_t p = 0; p < count; p++) {
        char value[256], key[16];
        if (admin_ctl_lease(c, p, value, sizeof(value), why, sizeof(why)) != SS_OK) {
            admin_error("%s", why);
            json_object_set_new(out, "lease_error", json_string(why));
            ok = false;
            break;
        }
        snprintf(key, sizeof(key), "%u", p);
        json_object_set_new(leases, key, value[0] ? json_string(value) : json_null());
        size_t n = strlen(owner[p]);
        bool same = n == 0 ? value[0] == '\0'
                           : strncmp(value, owner[p], n) == 0 && value[n] == '/';
        if (!same) {
            json_array_append_new(mismatch, json_integer(p));
            admin_note("partition %u: lease %s, served by %s", p, value[0] ? value : "free",
                       owner[p][0] ? owner[p] : "nobody");
            ok = false;
        }
    }
    json_object_set_new(out, "leases", leases);
    json_object_set_new(out, "lease_mismatch", mismatch);
    return ok;
}

static status_opts status__o;
static const ss_opt status__opts[] = {
    ADMIN_NATS_OPTS(status__o.nats, "nats://127.0.0.1:4222"),
    {"instance", NULL, SS_OPT_T_STR, &status__o.instances, "",
     "an instance to ask (its STATSYNC_INSTANCE_ID)", ADMIN_OPT_LIST},
    SS_OPT_BOOL("leases", NULL, &status__o.leases, "false", "also read the lease bucket"),
    ADMIN_OPT_JSON(&status__o.json, "print one JSON object"),
};
static const admin_cmdline status__cmdline =
    ADMIN_CMDLINE(status__usage, status__text, status__opts, &status__o.json, ADMIN_ARGS_NONE);

/* What the instances said, gathered. */
typedef struct status_run {
    uint32_t count; /* the first answer's partition count */
    bool all_answered, mismatch;
    char owner[SS_PARTITION_COUNT_MAX][ADMIN_NAME_MAX]; /* "" nobody */
    ss_partition_set twice;
    json_t *inst, *unreachable;
} status_run;

/* One instance's STATUS (admin_instance_fn): printed, its partitions'
 * owner noted. */
static bool status__on_instance(void *arg, const char *name, const admin_instance *in,
                                const char *why)
{
    status_run *s = arg;
    if (in == NULL) {
        admin_error("%s", why);
        json_array_append_new(s->unreachable,
                              json_pack("{s:s,s:s}", "instance", name, "error", why));
        s->all_answered = false;
        return true;
    }
    if (s->count == 0)
        s->count = in->partition_count, s->twice.count = s->count;
    s->mismatch |= in->partition_count != s->count;
    status__print_instance(in);
    char set[4096];
    admin_set_text(&in->parts, set, sizeof(set));
    json_array_append_new(s->inst, json_pack("{s:s,s:s,s:i,s:o,s:s}", "instance", in->name,
                                             "data_dir", in->data_dir, "partition_count",
                                             (int)in->partition_count, "partitions",
                                             admin_set_json(&in->parts), "partitions_text", set));
    SS_PARTITION_SET_EACH(p, &in->parts) {
        if (p >= s->count)
            break;
        if (s->owner[p][0])
            ss_partition_set_add(&s->twice, p);
        else
            snprintf(s->owner[p], ADMIN_NAME_MAX, "%s", in->name);
    }
    return true;
}

/* The partitions without owner and those served twice: said, and added to
 * out. True when every partition has exactly one owner. */
static bool status__summary(const status_run *s, size_t n, bool asked, json_t *out)
{
    ss_partition_set none = {.count = s->count};
    for (uint32_t p = 0; p < s->count; p++)
        if (!s->owner[p][0])
            ss_partition_set_add(&none, p);
    char text[4096];
    admin_set_text(&none, text, sizeof(text));
    if (n == 0)
        admin_error("no stats-service instance answered");
    else if (s->mismatch)
        admin_note("instances count partitions differently: STATSYNC_PARTITION_COUNT must be the same on all");
    admin_note("partition count %u; without owner%s: %s", s->count,
               asked ? " (among the instances asked)" : "", text);
    if (ss_partition_set_size(&s->twice) > 0) {
        admin_set_text(&s->twice, text, sizeof(text));
        admin_note("served by two instances: %s", text);
    }
    json_object_set_new(out, "partition_count", json_integer(s->count));
    json_object_set_new(out, "instances", s->inst);
    json_object_set_new(out, "unreachable", s->unreachable);
    json_object_set_new(out, "without_owner", admin_set_json(&none));
    json_object_set_new(out, "served_twice", admin_set_json(&s->twice));
    json_object_set_new(out, "count_mismatch", json_boolean(s->mismatch));
    return !s->mismatch && ss_partition_set_size(&none) == 0 &&
           ss_partition_set_size(&s->twice) == 0;
}

int cmd_status(int argc, char **argv)
{
    const status_opts *o = &status__o;
    int rc = admin_cmdline_parse(&status__cmdline, argc, argv, NULL);
    if (rc >= 0)
        return rc;
    admin_ctl *c = admin_connect(&o->nats);
    if (c == NULL)
        return ADMIN_EXIT_FAIL;
    static status_run s;
    memset(&s, 0, sizeof(s));
    s.all_answered = true;
    s.inst = json_array();
    s.unreachable = json_array();
    size_t n = admin_each_instance(c, &o->instances, status__on_instance, &s);
    json_t *out = json_object();
    bool ok = status__summary(&s, n, o->instances.n > 0, out) && n > 0 && s.all_answered;
    if (o->leases && s.count > 0 &&
        !status__leases(c, s.count, (const char(*)[ADMIN_NAME_MAX])s.owner, out))
        ok = false;
    json_object_set_new(out, "ok", json_boolean(ok));
    admin_ctl_close(c);
    if (o->json)
        admin_print_json(out);
    else
        json_decref(out);
    return ok ? ADMIN_EXIT_OK : ADMIN_EXIT_FAIL;
}

/* ---- release / acquire -------------------------------------------------------- */

typedef struct one_opts {
    admin_nats_opts nats;
    const char *instance;
    int json;
} one_opts;

static one_opts one__o;
static const ss_opt one__opts[] = {
    ADMIN_NATS_OPTS(one__o.nats, "nats://127.0.0.1:4222"),
    SS_OPT_STR("instance", NULL, &one__o.instance, NULL, "the instance (its STATSYNC_INSTANCE_ID)"),
    ADMIN_OPT_JSON(&one__o.json, "print one JSON object"),
};
static const admin_cmdline one__release = ADMIN_CMDLINE(
    ADMIN_PROG " partition release P --instance ID [--nats URL] [--json]",
    "Tells the instance to stop serving partition P: its requests are refused\n"
    "with partition_unavailable (clients retry) from that moment, its LMDB\n"
    "environment is closed and its lease given back. Nobody serves P until an\n"
    "instance acquires it. For moving a partition between machines (see\n"
    "stats-service/README.md); `partition move` does it all on one machine.",
    one__opts, &one__o.json, ADMIN_ARGS_PARTITION);
static const admin_cmdline one__acquire = ADMIN_CMDLINE(
    ADMIN_PROG " partition acquire P --instance ID [--nats URL] [--json]",
    "Tells the instance to take partition P's lease (refused, naming the owner,\n"
    "when another instance holds it), open <its data dir>/partitions/P/ and serve\n"
    "it. A missing folder is created empty: acquire a partition only where its\n"
    "data is.",
    one__opts, &one__o.json, ADMIN_ARGS_PARTITION);

static int one__run(int argc, char **argv, admin_action action, const admin_cmdline *cl)
{
    const one_opts *o = &one__o;
    uint32_t p = 0;
    int rc = admin_cmdline_parse(cl, argc, argv, &p);
    if (rc >= 0)
        return rc;
    admin_ctl *c = admin_connect(&o->nats);
    if (c == NULL)
        return ADMIN_EXIT_FAIL;
    admin_instance in;
    char why[600] = "";
    ss_err e = admin_ctl_command(c, o->instance, action, (int64_t)p, &in, why, sizeof(why));
    admin_ctl_close(c);
    bool serving = e == SS_OK && ss_partition_set_has(&in.parts, p);
    bool ok = e == SS_OK && serving == (action == ADMIN_ACQUIRE);
    if (e != SS_OK)
        admin_error("%s", why);
    else
        status__print_instance(&in);
    if (o->json)
        admin_print_json(json_pack("{s:b,s:s,s:i,s:b,s:s}", "ok", ok, "instance", o->instance,
                                   "partition", (int)p, "serving", serving, "error", why));
    return ok ? ADMIN_EXIT_OK : ADMIN_EXIT_FAIL;
}

int cmd_release(int argc, char **argv)
{
    return one__run(argc, argv, ADMIN_RELEASE, &one__release);
}

int cmd_acquire(int argc, char **argv)
{
    return one__run(argc, argv, ADMIN_ACQUIRE, &one__acquire);
}
