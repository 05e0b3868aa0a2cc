/* admin.h — what statsync-admin's commands share: exit codes, the NATS
 * options, messages, partitions on disk.
 *
 * Output: a command's result goes to stdout — lines for a person, or with
 * --json one JSON object (progress lines then go to stderr, so stdout
 * stays parseable); errors go to stderr as "statsync-admin: …".
 *
 * Threads: the tool has one. */
#ifndef ADMIN_H
#define ADMIN_H

#include "args.h"
#include "ctl.h"
#include "fmt.h"
#include "partenv.h"
#include "ss_nats_auth.h"
#include "ss_partition.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum { ADMIN_EXIT_OK = 0, ADMIN_EXIT_FAIL = 1, ADMIN_EXIT_USAGE = 2 };

#define ADMIN_PROG "statsync-admin"
/* Every path buffer; a directory given on the command line may be at most
 * ADMIN_DIR_MAX long (absolute), so anything built from it fits. */
#define ADMIN_PATH_MAX 4200
#define ADMIN_DIR_MAX 3800

/* The options every command that speaks to NATS has. */
typedef struct admin_nats_opts {
    const char *url;
    ss_nats_auth auth;
    int64_t timeout_ms;
} admin_nats_opts;

/* url_def: the default of --nats (NULL: none, NATS only when asked). */
#define ADMIN_NATS_OPTS(n, url_def)                                                          \
    SS_OPT_STR("nats", "STATSYNC_NATS_URL", &(n).url, url_def,                                \
               "NATS server URL(s), comma separated"),                                        \
        SS_NATS_AUTH_OPTS((n).auth),                                                          \
        SS_OPT_INT("timeout-ms", NULL, &(n).timeout_ms, "15000",                              \
                   "longest wait for one answer of an instance")

/* Set by --json (read by admin_note). */
extern bool admin_json;

/* "statsync-admin: <message>" on stderr. */
void admin_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A progress / result line for a person: stdout, or stderr under --json. */
void admin_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints j (and frees it) on stdout, one line. */
void admin_print_json(json_t *j);

/* Every command's --json. */
#define ADMIN_OPT_JSON(out, what) SS_OPT_BOOL("json", NULL, out, "false", what)

/* What may follow a command's options. */
typedef enum admin_args_kind {
    ADMIN_ARGS_NONE,      /* nothing */
    ADMIN_ARGS_PARTITION, /* one partition number (move 5) */
} admin_args_kind;

/* A command's line, as data (each cmd_*.c has one at file scope). */
typedef struct admin_cmdline {
    const char *usage, *text; /* its --help */
    const ss_opt *opts;
    size_t n_opts;
    const int *json;          /* its --json option's value: admin_json once parsed */
    admin_args_kind args;
} admin_cmdline;

/* A command's admin_cmdline from its parts (opts an array). */
#define ADMIN_CMDLINE(usage, text, opts, json, args) {usage, text, opts, SS_COUNT(opts), json, args}

/* Parses a command's options (on --help prints its usage), sets admin_json
 * and checks what follows them: nothing, or one partition number, into
 * *partition. Returns -1 to go on, else the exit code (0 after --help, 2 on
 * a usage error, said). */
int admin_cmdline_parse(const admin_cmdline *cl, int argc, char **argv, uint32_t *partition);

/* Connects to n->url, or says why not (NULL). Close it with admin_ctl_close. */
admin_ctl *admin_connect(const admin_nats_opts *n);

/* Most instances one command asks. */
#define ADMIN_MAX_INSTANCES 64

/* One instance's answer to STATUS: in, or NULL when it gave none (why says
 * why; nothing said yet). Returns false to stop the walk. */
typedef bool (*admin_instance_fn)(void *arg, const char *name, const admin_instance *in,
                                  const char *why);
/* Asks the instances named (none, or named NULL: every one that answers the
 * health probe, admin_ctl_discover) for their STATUS one after another, and
 * gives each answer to fn until it returns false. Returns how many
 * instances there were to ask (0: none answered the probe). */
size_t admin_each_instance(admin_ctl *c, const admin_list *named, admin_instance_fn fn,
                           void *arg);

/* dir made absolute (against the working directory; need not exist) into
 * out (ADMIN_PATH_MAX). False (said) when longer than ADMIN_DIR_MAX. */
bool admin_abs_path(const char *dir, char *out);

/* "2026-12-01T12-00-00.123Z": now, for folder names (no ':' — scp). */
void admin_stamp(char *buf, size_t cap);

/* The partitions with a folder in <data_dir>/partitions/ (decimal names;
 * "5.moved-…" and other names are not partitions). count: the range
 * (SS_PARTITION_COUNT_MAX when unknown). 0, or -1 (errno) when the folder
 * cannot be read; a missing one is empty. */
int admin_partitions_on_disk(const char *data_dir, uint32_t count, ss_partition_set *out);
/* Which of the partitions to work on: "all" (every one in avail) or a set
 * ("5", "0-31", "3,9"), each of which must be in avail (named in why when
 * not). */
bool admin_select(const char *spec, const ss_partition_set *avail, ss_partition_set *out,
                  const char *avail_what, char *why, size_t cap);
/* A set as text ("0-31,40"; "none" when empty). */
void admin_set_text(const ss_partition_set *s, char *buf, size_t cap);
/* A set as a JSON array of numbers. */
json_t *admin_set_json(const ss_partition_set *s);

/* A partition folder's tombstone: a file left where a partition was moved
 * away from, so no instance can serve an empty partition in its place (the
 * stats-service cannot open a file as an environment and refuses). */
int admin_tombstone_write(const char *path, const char *text);
bool admin_tombstone_is(const char *path);
/* Its text (after the first line), for writing it back. 0, or -1 (errno). */
int admin_tombstone_read(const char *path, char *text, size_t cap);

/* The statsync-admin commands (argv after the command words). */
int cmd_status(int argc, char **argv);
int cmd_release(int argc, char **argv);
int cmd_acquire(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_move(int argc, char **argv);
int cmd_split_legacy(int argc, char **argv);

#endif
