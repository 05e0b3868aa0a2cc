/* partenv.h — one partition's LMDB environment as files, for
 * statsync-admin: a compacting copy (LMDB's own mdb_env_copy2, so every DBI
 * goes along, those added later too), a summary to verify a copy by, whether
 * a process has the environment open, and durable renames.
 *
 * A summary lists every named DBI of the environment with its number of
 * entries and a digest of its content: FNV-1a 64 over BE32(key length), key,
 * BE32(value length), value of every record in key order. Compaction keeps
 * keys, values and their order, so a faithful copy has the same summary.
 *
 * Environments are only ever opened read-only: a LIVE one (a stats-service
 * may be serving it) as one more LMDB reader, through its lock file, so a
 * copy is a consistent snapshot while the service writes; a PRIVATE one (a
 * backup, a copy made here that nothing else opens) without a lock file.
 *
 * Threads: the caller's (the tool has one). */
#ifndef ADMIN_PARTENV_H
#define ADMIN_PARTENV_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ADMIN_MAX_DBIS 16
#define ADMIN_DBI_NAME_MAX 64

typedef struct admin_dbi_sum {
    char name[ADMIN_DBI_NAME_MAX];
    uint64_t entries;
    uint64_t digest;
} admin_dbi_sum;

typedef struct admin_env_sum {
    size_t n_dbis;
    admin_dbi_sum dbis[ADMIN_MAX_DBIS]; /* in name order */
    uint64_t foreign;     /* keys of users of another partition (when a count was given) */
    char foreign_user[160]; /* the first such user, for a message */
    uint64_t bytes;       /* size of data.mdb */
} admin_env_sum;

typedef enum admin_env_mode { ADMIN_ENV_LIVE, ADMIN_ENV_PRIVATE } admin_env_mode;

/* The DBIs the stats-service keeps (store.h). */
#define ADMIN_DBI_DOCS "docs"
#define ADMIN_DBI_IDEM "idem"
#define ADMIN_DBI_IDEM_TIME "idem_time"

/* Opens the environment in dir read-only (LIVE / PRIVATE as above), room
 * for ADMIN_MAX_DBIS DBIs, for a walk of the caller's own; close it with
 * mdb_env_close. 0, or -1 with why. */
int admin_env_open(MDB_env **env, const char *dir, admin_env_mode mode, char *why, size_t cap);

/* The digest of records, one at a time (start from admin_digest_init()). */
uint64_t admin_digest_init(void);
void admin_digest_add(uint64_t *h, const void *key, size_t klen, const void *val, size_t vlen);

/* Summarizes the environment in dir (one read transaction). When count > 0,
 * the keys of the DBIs whose layout store.c knows are checked against
 * partition: out->foreign counts those of another partition's users.
 * 0, or -1 with why. */
int admin_env_summarize(const char *dir, admin_env_mode mode, uint32_t partition, uint32_t count,
                        admin_env_sum *out, char *why, size_t cap);
/* Entries of the DBI named name (0 when there is none). */
uint64_t admin_env_sum_entries(const admin_env_sum *s, const char *name);
/* True when a and b list the same DBIs with the same entries and digests;
 * else why names the first difference. */
bool admin_env_sum_equal(const admin_env_sum *a, const admin_env_sum *b, char *why, size_t cap);

/* Compacting copy of the environment in src into dst, a new directory
 * (created here; refused when it exists): dst/data.mdb, flushed to disk
 * with dst. On failure dst is removed again. 0, or -1 with why. */
int admin_env_copy(const char *src, admin_env_mode mode, const char *dst, char *why, size_t cap);

/* admin_env_copy, then the copy summarized (as admin_env_summarize with
 * partition and count) into *copy and, when expect is not NULL, compared
 * with it. 0; -1 when the copy failed (nothing left at dst); -2 when the
 * copy cannot be read back or differs from expect (it stays at dst for the
 * caller to remove). why says it. */
int admin_env_copy_checked(const char *src, admin_env_mode mode, const char *dst,
                           uint32_t partition, uint32_t count, const admin_env_sum *expect,
                           admin_env_sum *copy, char *why, size_t cap);

/* Whether another process has the environment in dir open (a POSIX lock on
 * its lock.mdb: LMDB holds one while it is open). 1: yes, *pid set; 0: no
 * (or no lock file); -1: the lock file cannot be read (errno). Never call it
 * while this process has that environment open: closing any descriptor of
 * the file drops the process's own POSIX locks on it. */
int admin_env_in_use(const char *dir, pid_t *pid);

/* Removes an environment directory this tool made (data.mdb, lock.mdb and
 * the directory; nothing else is touched, so a non-empty one stays). */
void admin_env_remove(const char *dir);

/* Kind of path: 0 absent, 1 directory, 2 another file; -1 error. */
int admin_path_kind(const char *path);
/* rename(from, to), then fsync of both parent directories. 0, or -1 (errno). */
int admin_rename_durable(const char *from, const char *to);
/* fsync of a file or directory; of the directory holding path. 0, or -1 (errno). */
int admin_fsync_path(const char *path);
int admin_fsync_parent(const char *path);
/* mkdir -p. 0, or -1 (errno). */
int admin_mkdirs(const char *dir, mode_t mode);

#endif
