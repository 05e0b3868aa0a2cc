/* cmd_move.c — `partition move P --from A --to B`: the partition's owner
 * changes with its data, and at no moment are two copies of it servable.
 *
 *   1. ask both instances (STATUS): A serves P, B does not, same count; the
 *      folders are reachable here (A's partitions/P is the one A has open);
 *   2. RELEASE P on A — from now on P's requests get partition_unavailable
 *      (clients retry) until step 7;
 *   3. once A has closed it, compact-copy A's partitions/P to
 *      B's partitions/P.moving-<t> (LMDB's own copy: every DBI);
 *   4. verify the copy against the source: every DBI's entries and content
 *      digest (documents, idempotency records, …), and that every key is a
 *      user of P;
 *   5. rename A's folder to partitions/P.moved-<t> and leave a tombstone file
 *      partitions/P, so nothing stale — nor a new empty partition — can be
 *      served from A's data directory;
 *   6. rename the copy to B's partitions/P;
 *   7. ACQUIRE P on B.
 * A failure anywhere before B serves P is rolled back in reverse (the copy
 * set aside, A's folder put back, ACQUIRE on A): P is served again from its
 * untouched original. When the outcome cannot be known (B did not answer),
 * nothing more is touched and what to check and run is printed.
 *
 * When A and B share a data directory there is nothing to copy: RELEASE on
 * A, ACQUIRE on B. */
#include "admin.h"

#include "ss_time.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long A may take to close P's environment after RELEASE (it waits up
 * to 5 s for reads in flight). */
#define MOVE_CLOSE_WAIT_MS 10000

typedef struct move_opts {
    admin_nats_opts nats;
    const char *from, *to, *from_dir, *to_dir;
    int json;
} move_opts;

typedef enum move_stage {
    MOVE_NOTHING,     /* nothing changed */
    MOVE_RELEASED,    /* A released P */
    MOVE_COPIED,      /* the copy is staged beside B's partitions/P */
    MOVE_SRC_RETIRED, /* A's folder renamed aside, a tombstone in its place */
    MOVE_DST_PLACED,  /* the copy is B's partitions/P */
} move_stage;

typedef struct move_ctx {
    const move_opts *o;
    admin_ctl *c;
    uint32_t p, count;
    bool same_dir;
    move_stage stage;
    char stamp[64];
    char src_dir[ADMIN_PATH_MAX], retired[ADMIN_PATH_MAX];
    char dst_dir[ADMIN_PATH_MAX], staged[ADMIN_PATH_MAX], failed[ADMIN_PATH_MAX];
    char to_data[ADMIN_PATH_MAX];
    admin_env_sum sum;
    int64_t released_at, copy_ms;
    char dst_tombstone[2048]; /* B's tombstone of an earlier move, replaced: put back on a roll-back */
} move_ctx;

static const char move__usage[] =
    ADMIN_PROG " partition move P --from INSTANCE --to INSTANCE [--nats URL]\n"
    "       [--from-data-dir D1] [--to-data-dir D2] [--json]";
static const char move__text[] =
    "Moves partition P from one stats-service instance to another on the same machine (or with\n"
    "both data directories reachable here): RELEASE on the source, compacted copy of its\n"
    "partitions/P into the destination's data directory, verification (every DBI's entries and\n"
    "content: documents, idempotency records), the source folder renamed to\n"
    "partitions/P.moved-<time> with a tombstone file in its place, ACQUIRE on the destination.\n"
    "P is unavailable (partition_unavailable: clients retry) from the release to the acquire.\n"
    "A failure before the destination serves P is rolled back: the source serves P again from\n"
    "its untouched folder. The data directories are the ones the instances report, unless given.\n"
    "Afterwards set STATSYNC_PARTITIONS of both instances to what they now serve.\n"
    "Across machines: release, backup, restore, acquire (stats-service/README.md).";

static move_opts move__o;
static const ss_opt move__opts[] = {
    SS_OPT_STR("from", NULL, &move__o.from, NULL, "the instance serving P now"),
    SS_OPT_STR("to", NULL, &move__o.to, NULL, "the instance to serve P"),
    ADMIN_NATS_OPTS(move__o.nats, "nats://127.0.0.1:4222"),
    SS_OPT_STR("from-data-dir", NULL, &move__o.from_dir, "",
               "the source's data directory as seen here (default: the one it reports)"),
    SS_OPT_STR("to-data-dir", NULL, &move__o.to_dir, "",
               "the destination's data directory as seen here (default: the one it reports)"),
    ADMIN_OPT_JSON(&move__o.json, "print one JSON object"),
};
static const admin_cmdline move__cmdline =
    ADMIN_CMDLINE(move__usage, move__text, move__opts, &move__o.json, ADMIN_ARGS_PARTITION);

/* Test hook (tests/integration/partition_move.test.js): fail as if the step
 * named in STATSYNC_TEST_ADMIN_FAIL_AT had failed, to exercise the
 * roll-back. */
static bool move__fail_at(const char *step)
{
    const char *v = getenv("STATSYNC_TEST_ADMIN_FAIL_AT");
    if (v == NULL || strcmp(v, step) != 0)
        return false;
    admin_error("failing at '%s' as STATSYNC_TEST_ADMIN_FAIL_AT asks", step);
    return true;
}

/* The data directory to use for an instance: given, or reported (absolute),
 * resolved (it must exist here). */
static bool move__data_dir(const char *given, const admin_instance *in, const char *flag,
                           char out[PATH_MAX])
{
    char abs[ADMIN_PATH_MAX];
    if (given == NULL || given[0] == '\0') {
        if (in->data_dir[0] != '/') {
            admin_error("%s reports its data directory as '%s', not an absolute path: give %s",
                        in->name, in->data_dir, flag);
            return false;
        }
        given = in->data_dir;
    }
    if (!admin_abs_path(given, abs))
        return false;
    if (realpath(abs, out) == NULL) {
        admin_error("%s's data directory %s cannot be reached here (%s): run this on the "
                    "instances' machine (or give %s); across machines use release, backup, "
                    "restore and acquire (stats-service/README.md)",
                    in->name, abs, strerror(errno), flag);
        return false;
    }
    return true;
}

/* Step 1a: A serves P, B does not, both count partitions alike; a (A) and
 * b (B) are what they said. */
static bool move__check_instances(move_ctx *m, admin_instance *a, admin_instance *b)
{
    const move_opts *o = m->o;
    char why[700];
    if (admin_ctl_command(m->c, o->from, ADMIN_STATUS, -1, a, why, sizeof(why)) != SS_OK ||
        admin_ctl_command(m->c, o->to, ADMIN_STATUS, -1, b, why, sizeof(why)) != SS_OK) {
        admin_error("%s", why);
        return false;
    }
    if (a->partition_count != b->partition_count) {
        admin_error("%s and %s count partitions differently (%u, %u)", o->from, o->to,
                    a->partition_count, b->partition_count);
        return false;
    }
    if (m->p >= a->partition_count) {
        admin_error("%s counts %u partitions: there is no partition %u", o->from,
                    a->partition_count, m->p);
        return false;
    }
    m->count = a->partition_count;
    char set[4096];
    if (!ss_partition_set_has(&a->parts, m->p)) {
        admin_set_text(&a->parts, set, sizeof(set));
        admin_error("%s does not serve partition %u (it serves %s)", o->from, m->p, set);
        return false;
    }
    if (ss_partition_set_has(&b->parts, m->p)) {
        admin_error("%s already serves partition %u", o->to, m->p);
        return false;
    }
    return true;
}

/* Step 1b: the folders of the move in the data directories d1 (A's) and
 * d2 (B's); A's partitions/P must be the one A has open, B's must be free
 * (or a tombstone). */
static bool move__paths(move_ctx *m, const char *d1, const char *d2)
{
    const move_opts *o = m->o;
    admin_path(m->to_data, sizeof(m->to_data), "%s", d2);
    admin_path(m->src_dir, sizeof(m->src_dir), "%s/partitions/%u", d1, m->p);
    admin_path(m->dst_dir, sizeof(m->dst_dir), "%s/partitions/%u", d2, m->p);
    admin_path(m->retired, sizeof(m->retired), "%s.moved-%s", m->src_dir, m->stamp);
    admin_path(m->staged, sizeof(m->staged), "%s.moving-%s", m->dst_dir, m->stamp);
    admin_path(m->failed, sizeof(m->failed), "%s.failed-move-%s", m->dst_dir, m->stamp);
    /* The folder seen here must be the one the source has open. */
    pid_t pid = 0;
    if (admin_path_kind(m->src_dir) != 1 || admin_env_in_use(m->src_dir, &pid) != 1) {
        admin_error("%s serves partition %u but %s is %s: is %s really its data directory "
                    "(--from-data-dir)?",
                    o->from, m->p, m->src_dir,
                    admin_path_kind(m->src_dir) == 1 ? "not open by any process" : "missing",
                    d1);
        return false;
    }
    if (m->same_dir)
        return true;
    if (admin_path_kind(m->dst_dir) != 0 && !admin_tombstone_is(m->dst_dir)) {
        admin_error("%s already exists (a stale copy?): move it away first", m->dst_dir);
        return false;
    }
    char parts[ADMIN_PATH_MAX];
    admin_path(parts, sizeof(parts), "%s/partitions", d2);
    if (admin_mkdirs(parts, 0750) != 0) {
        admin_error("cannot create %s: %s", parts, strerror(errno));
        return false;
    }
    return true;
}

/* Step 1: nothing is changed yet. */
static bool move__preflight(move_ctx *m)
{
    admin_instance a, b;
    char d1[PATH_MAX], d2[PATH_MAX];
    if (!move__check_instances(m, &a, &b) ||
        !move__data_dir(m->o->from_dir, &a, "--from-data-dir", d1) ||
        !move__data_dir(m->o->to_dir, &b, "--to-data-dir", d2))
        return false;
    m->same_dir = strcmp(d1, d2) == 0;
    return move__paths(m, d1, d2);
}

/* ACQUIRE p on instance; true when it serves p afterwards. *known false
 * when the outcome could not be learnt (no answer). */
static bool move__acquire(move_ctx *m, const char *instance, bool *known)
{
    admin_instance in;
    char why[700];
    *known = true;
    ss_err e = admin_ctl_command(m->c, instance, ADMIN_ACQUIRE, m->p, &in, why, sizeof(why));
    if (e == SS_OK && ss_partition_set_has(&in.parts, m->p))
        return true;
    admin_error("%s", why);
    if (e == SS_ERR_TIMEOUT || e == SS_ERR_UNAVAILABLE) { /* did it run? ask */
        e = admin_ctl_command(m->c, instance, ADMIN_STATUS, -1, &in, why, sizeof(why));
        if (e == SS_OK)
            return ss_partition_set_has(&in.parts, m->p);
        *known = e == SS_ERR_NOT_FOUND; /* not running: it serves nothing */
        if (!*known)
            admin_error("%s", why);
    }
    return false;
}

/* Undoes what was done, newest first. Returns true when P is served by
 * the source again. */
static bool move__rollback(move_ctx *m)
{
    const move_opts *o = m->o;
    admin_note("rolling back: partition %u goes back to %s", m->p, o->from);
    if (m->stage >= MOVE_DST_PLACED) {
        if (admin_rename_durable(m->dst_dir, m->failed) != 0) {
            admin_error("cannot rename %s to %s: %s. Do it by hand, then: rm %s; mv %s %s; "
                        ADMIN_PROG " partition acquire %u --instance %s",
                        m->dst_dir, m->failed, strerror(errno), m->src_dir, m->retired,
                        m->src_dir, m->p, o->from);
            return false;
        }
        admin_note("the copy is set aside as %s (remove it)", m->failed);
        if (m->dst_tombstone[0] && admin_tombstone_write(m->dst_dir, m->dst_tombstone) != 0)
            admin_error("could not put the tombstone %s back: %s", m->dst_dir, strerror(errno));
    } else if (m->stage >= MOVE_COPIED) {
        admin_env_remove(m->staged);
    }
    if (m->stage >= MOVE_SRC_RETIRED) {
        if ((admin_path_kind(m->src_dir) == 2 && unlink(m->src_dir) != 0) ||
            admin_rename_durable(m->retired, m->src_dir) != 0) {
            admin_error("cannot put %s back in place: %s. Do it by hand (rm %s; mv %s %s), "
                        "then: " ADMIN_PROG " partition acquire %u --instance %s",
                        m->retired, strerror(errno), m->src_dir, m->retired, m->src_dir, m->p,
                        o->from);
            return false;
        }
    }
    bool known = true;
    if (m->stage >= MOVE_RELEASED && !move__acquire(m, o->from, &known)) {
        admin_error("partition %u is served by nobody now; its data is in %s, untouched. Run "
                    ADMIN_PROG " partition acquire %u --instance %s",
                    m->p, m->src_dir, m->p, o->from);
        return false;
    }
    admin_note("rolled back: partition %u is served by %s again, from its own folder; nothing "
               "was lost (no instance served it meanwhile)",
               m->p, o->from);
    return true;
}

/* Step 2: RELEASE P on A; false (said) when A may still serve it. */
static bool move__release(move_ctx *m)
{
    const move_opts *o = m->o;
    admin_instance in;
    char why[700];
    m->released_at = ss_mono_ms();
    ss_err e = admin_ctl_command(m->c, o->from, ADMIN_RELEASE, m->p, &in, why, sizeof(why));
    if (e != SS_OK) {
        admin_error("%s", why);
        if (admin_ctl_command(m->c, o->from, ADMIN_STATUS, -1, &in, why, sizeof(why)) != SS_OK) {
            admin_error("%s. Cannot tell whether %s still serves partition %u: check with "
                        ADMIN_PROG " partition status; if nobody serves it, run " ADMIN_PROG
                        " partition acquire %u --instance %s",
                        why, o->from, m->p, m->p, o->from);
            return false;
        }
    }
    if (ss_partition_set_has(&in.parts, m->p)) {
        admin_error("%s still serves partition %u: nothing changed", o->from, m->p);
        return false;
    }
    m->stage = MOVE_RELEASED;
    admin_note("released partition %u on %s (%lld ms)", m->p, o->from,
               (long long)(ss_mono_ms() - m->released_at));
    return true;
}

/* Steps 3-4: once A has closed P, the compacting copy beside B's
 * partitions/P, verified against the source. */
static bool move__copy(move_ctx *m)
{
    char why[700];
    pid_t pid = 0;
    int64_t deadline = ss_mono_ms() + MOVE_CLOSE_WAIT_MS;
    while (admin_env_in_use(m->src_dir, &pid) == 1 && ss_mono_ms() < deadline)
        usleep(20000);
    if (admin_env_in_use(m->src_dir, &pid) == 1)
        admin_note("note: process %ld still has %s open (a read in flight when released?); "
                   "no writer serves it, and the copy is verified against it",
                   (long)pid, m->src_dir);
    int64_t t0 = ss_mono_ms();
    admin_env_sum copy;
    int rc = admin_env_summarize(m->src_dir, ADMIN_ENV_LIVE, m->p, m->count, &m->sum, why,
                                 sizeof(why)) != 0
                 ? -1
                 : admin_env_copy_checked(m->src_dir, ADMIN_ENV_LIVE, m->staged, m->p, m->count,
                                          &m->sum, &copy, why, sizeof(why));
    if (rc == -1) {
        admin_error("%s", why);
        return false;
    }
    m->stage = MOVE_COPIED;
    if (rc != 0) {
        admin_error("the copy does not match its source: %s", why);
        return false;
    }
    if (m->sum.foreign > 0) {
        admin_error("%s holds %llu keys of users of other partitions (e.g. '%s')", m->src_dir,
                    (unsigned long long)m->sum.foreign, m->sum.foreign_user);
        return false;
    }
    m->copy_ms = ss_mono_ms() - t0;
    admin_note("copied and verified partition %u: %llu documents, %llu idempotency records, "
               "%llu bytes compacted to %llu, %lld ms",
               m->p, (unsigned long long)admin_env_sum_entries(&m->sum, ADMIN_DBI_DOCS),
               (unsigned long long)admin_env_sum_entries(&m->sum, ADMIN_DBI_IDEM),
               (unsigned long long)m->sum.bytes, (unsigned long long)copy.bytes,
               (long long)m->copy_ms);
    return true;
}

/* Steps 5-6: A's folder aside behind a tombstone, then the copy becomes
 * B's partitions/P (replacing B's tombstone of an earlier move, kept for a
 * roll-back). */
static bool move__swap(move_ctx *m)
{
    const move_opts *o = m->o;
    char tomb[1200], when[SS_RFC3339_LEN];
    ss_rfc3339_format(ss_now_ms(), when);
    admin_fmt(tomb, sizeof(tomb),
             "Partition %u was moved to instance %s (data directory %s) at %s by "
             "`" ADMIN_PROG " partition move`.\n"
             "Its data as it was then is in %s.\n"
             "This file keeps any instance from serving partition %u from this data directory "
             "(an empty one would be created in its place). Remove it only to serve %u here "
             "again, after moving it back.\n",
             m->p, o->to, m->to_data, when, m->retired, m->p, m->p);
    if (admin_rename_durable(m->src_dir, m->retired) != 0) {
        admin_error("cannot rename %s to %s: %s", m->src_dir, m->retired, strerror(errno));
        return false;
    }
    m->stage = MOVE_SRC_RETIRED; /* (the rollback removes a missing tombstone harmlessly) */
    if (admin_tombstone_write(m->src_dir, tomb) != 0) {
        admin_error("cannot write the tombstone %s: %s", m->src_dir, strerror(errno));
        return false;
    }
    if (admin_tombstone_is(m->dst_dir) &&
        (admin_tombstone_read(m->dst_dir, m->dst_tombstone, sizeof(m->dst_tombstone)) != 0 ||
         unlink(m->dst_dir) != 0 || admin_fsync_parent(m->dst_dir) != 0)) {
        admin_error("cannot remove the old tombstone %s: %s", m->dst_dir, strerror(errno));
        return false;
    }
    if (admin_rename_durable(m->staged, m->dst_dir) != 0) {
        admin_error("cannot rename %s to %s: %s", m->staged, m->dst_dir, strerror(errno));
        return false;
    }
    m->stage = MOVE_DST_PLACED;
    admin_note("%s is now %s; tombstone left at %s", m->src_dir, m->retired, m->src_dir);
    return true;
}

/* Steps 2-6; false (said) on a failure, m->stage telling what to roll back. */
static bool move__run(move_ctx *m)
{
    if (!move__release(m) || move__fail_at("after-release"))
        return false;
    if (m->same_dir)
        return true;
    if (!move__copy(m) || move__fail_at("after-copy"))
        return false;
    return move__swap(m) && !move__fail_at("before-acquire");
}

/* Step 7: ACQUIRE P on B. False when B does not serve P: rolled back when
 * B surely does not (*rolled_back tells whether that worked), else what to
 * check and run is said. */
static bool move__acquire_dst(move_ctx *m, bool *rolled_back)
{
    const move_opts *o = m->o;
    bool known = true;
    if (move__acquire(m, o->to, &known))
        return true;
    if (known)
        *rolled_back = move__rollback(m);
    else if (m->same_dir)
        admin_error("cannot tell whether %s serves partition %u now: check with " ADMIN_PROG
                    " partition status. If nobody does, run " ADMIN_PROG
                    " partition acquire %u --instance %s",
                    o->to, m->p, m->p, o->from);
    else
        admin_error("cannot tell whether %s serves partition %u now: check with " ADMIN_PROG
                    " partition status. If it does, the move is done. If nobody does, roll "
                    "back by hand: mv %s %s; rm %s; mv %s %s; " ADMIN_PROG
                    " partition acquire %u --instance %s",
                    o->to, m->p, m->dst_dir, m->failed, m->src_dir, m->retired, m->src_dir, m->p,
                    o->from);
    return false;
}

/* The outcome: a line for a person, and the JSON object with --json. */
static void move__report(const move_ctx *m, bool ok, bool rolled_back, int64_t acquire_start)
{
    const move_opts *o = m->o;
    int64_t unavailable = m->released_at ? ss_mono_ms() - m->released_at : 0;
    if (ok)
        admin_note("moved partition %u from %s to %s: acquired in %lld ms; unavailable for %lld "
                   "ms in all. Set STATSYNC_PARTITIONS of both instances to what they serve now.",
                   m->p, o->from, o->to, (long long)(ss_mono_ms() - acquire_start),
                   (long long)unavailable);
    if (!o->json)
        return;
    admin_print_json(json_pack(
        "{s:b,s:i,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:b,s:b,s:s?}", "ok", ok, "partition", (int)m->p,
        "from", o->from, "to", o->to, "documents",
        (json_int_t)admin_env_sum_entries(&m->sum, ADMIN_DBI_DOCS), "idempotency_records",
        (json_int_t)admin_env_sum_entries(&m->sum, ADMIN_DBI_IDEM), "bytes",
        (json_int_t)m->sum.bytes, "copy_ms", (json_int_t)m->copy_ms, "unavailable_ms",
        (json_int_t)unavailable, "same_data_dir", m->same_dir, "rolled_back", rolled_back,
        "retired", ok && !m->same_dir ? m->retired : NULL));
}

int cmd_move(int argc, char **argv)
{
    const move_opts *o = &move__o;
    uint32_t p = 0;
    int rc = admin_cmdline_parse(&move__cmdline, argc, argv, &p);
    if (rc >= 0)
        return rc;
    if (strcmp(o->from, o->to) == 0) {
        admin_error("--from and --to name the same instance");
        return ADMIN_EXIT_USAGE;
    }
    static move_ctx m;
    memset(&m, 0, sizeof(m));
    m.o = o;
    m.p = p;
    admin_stamp(m.stamp, sizeof(m.stamp));
    if ((m.c = admin_connect(&o->nats)) == NULL)
        return ADMIN_EXIT_FAIL;
    bool ok = move__preflight(&m), rolled_back = false;
    if (!ok)
        admin_error("nothing changed");
    if (ok && !(ok = move__run(&m)) && m.stage > MOVE_NOTHING)
        rolled_back = move__rollback(&m);
    int64_t acquire_start = ss_mono_ms();
    ok = ok && move__acquire_dst(&m, &rolled_back);
    move__report(&m, ok, rolled_back, acquire_start);
    admin_ctl_close(m.c);
    return ok ? ADMIN_EXIT_OK : ADMIN_EXIT_FAIL;
}
