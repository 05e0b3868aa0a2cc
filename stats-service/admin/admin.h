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

/* Parses a command's options; on --help prints its usage. Returns -1 to go
 * on, else the exit code (0 after --help, 2 on a usage error, said). */
int admin_parse(const char *usage, const char *text, const ss_opt *opts, size_t n, int argc,
                char **argv, admin_positional *pos);

/* Connects to n->url, or says why not (NULL). */
admin_ctl *admin_connect(const admin_nats_opts *n);

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
