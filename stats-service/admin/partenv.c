/* partenv.c — a partition's LMDB environment as files (see partenv.h). */
#include "partenv.h"

#include "fmt.h"
#include "ss_partition.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PARTENV_PATH_MAX 4400

uint64_t admin_digest_init(void)
{
    return 14695981039346656037ull; /* FNV-1a 64 offset basis */
}

static void partenv__fnv(uint64_t *h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        *h ^= p[i];
        *h *= 1099511628211ull;
    }
}

static void partenv__fnv_len(uint64_t *h, size_t n)
{
    uint8_t be[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    partenv__fnv(h, be, sizeof(be));
}

void admin_digest_add(uint64_t *h, const void *key, size_t klen, const void *val, size_t vlen)
{
    partenv__fnv_len(h, klen);
    partenv__fnv(h, key, klen);
    partenv__fnv_len(h, vlen);
    partenv__fnv(h, val, vlen);
}

int admin_env_open(MDB_env **env, const char *dir, admin_env_mode mode, char *why, size_t cap)
{
    *env = NULL;
    int rc = mdb_env_create(env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(*env, ADMIN_MAX_DBIS);
    unsigned flags = MDB_RDONLY | (mode == ADMIN_ENV_PRIVATE ? MDB_NOLOCK : 0);
    if (rc == 0)
        rc = mdb_env_open(*env, dir, flags, 0640);
    if (rc != 0) {
        admin_fmt(why, cap, "cannot open the LMDB environment in %s: %s", dir,
                 rc == ENOENT ? "there is none (no data.mdb)" : mdb_strerror(rc));
        if (*env != NULL)
            mdb_env_close(*env);
        *env = NULL;
        return -1;
    }
    return 0;
}

/* Counts, digests and (count > 0) checks one DBI. */
static int partenv__walk(MDB_txn *txn, MDB_dbi dbi, admin_dbi_sum *d, uint32_t partition,
                         uint32_t count, admin_env_sum *out)
{
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0)
        return rc;
    d->digest = admin_digest_init();
    MDB_val k, v;
    size_t off = 0, len = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        d->entries++;
        admin_digest_add(&d->digest, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
        if (count == 0 || !store_key_user(d->name, k.mv_data, k.mv_size, &off, &len))
            continue;
        const char *user = (const char *)k.mv_data + off;
        if (ss_partition_hash(user, len) % count != partition && out->foreign++ == 0)
            snprintf(out->foreign_user, sizeof(out->foreign_user), "%.*s",
                     (int)(len < 128 ? len : 128), user);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int admin_env_summarize(const char *dir, admin_env_mode mode, uint32_t partition, uint32_t count,
                        admin_env_sum *out, char *why, size_t cap)
{
    memset(out, 0, sizeof(*out));
    char path[PARTENV_PATH_MAX];
    struct stat st;
    admin_path(path, sizeof(path), "%s/data.mdb", dir);
    if (stat(path, &st) == 0)
        out->bytes = (uint64_t)st.st_size;
    MDB_env *env = NULL;
    if (admin_env_open(&env, dir, mode, why, cap) != 0)
        return -1;
    MDB_txn *txn = NULL;
    MDB_cursor *names = NULL;
    MDB_dbi main_dbi;
    int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
    if (rc == 0)
        rc = mdb_cursor_open(txn, main_dbi, &names);
    MDB_val k, v;
    const char *what = "reading its DBIs";
    for (int c = rc == 0 ? mdb_cursor_get(names, &k, &v, MDB_FIRST) : rc; rc == 0;
         c = mdb_cursor_get(names, &k, &v, MDB_NEXT)) {
        if (c == MDB_NOTFOUND)
            break;
        if ((rc = c) != 0)
            break;
        if (out->n_dbis >= ADMIN_MAX_DBIS || k.mv_size == 0 || k.mv_size >= ADMIN_DBI_NAME_MAX ||
            memchr(k.mv_data, '\0', k.mv_size) != NULL) {
            rc = MDB_INCOMPATIBLE;
            what = "more DBIs, or other names, than a stats-service keeps";
            break;
        }
        admin_dbi_sum *d = &out->dbis[out->n_dbis++];
        memcpy(d->name, k.mv_data, k.mv_size);
        d->name[k.mv_size] = '\0';
        MDB_dbi dbi;
        what = d->name;
        if ((rc = mdb_dbi_open(txn, d->name, 0, &dbi)) != 0 ||
            (rc = partenv__walk(txn, dbi, d, partition, count, out)) != 0)
            break;
    }
    if (names != NULL)
        mdb_cursor_close(names);
    if (txn != NULL)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    if (rc != 0) {
        admin_fmt(why, cap, "%s: %s: %s", dir, what, mdb_strerror(rc));
        return -1;
    }
    return 0;
}

uint64_t admin_env_sum_entries(const admin_env_sum *s, const char *name)
{
    for (size_t i = 0; i < s->n_dbis; i++)
        if (strcmp(s->dbis[i].name, name) == 0)
            return s->dbis[i].entries;
    return 0;
}

bool admin_env_sum_equal(const admin_env_sum *a, const admin_env_sum *b, char *why, size_t cap)
{
    for (size_t i = 0; i < a->n_dbis || i < b->n_dbis; i++) {
        const admin_dbi_sum *x = i < a->n_dbis ? &a->dbis[i] : NULL;
        const admin_dbi_sum *y = i < b->n_dbis ? &b->dbis[i] : NULL;
        if (x == NULL || y == NULL || strcmp(x->name, y->name) != 0) {
            admin_fmt(why, cap, "DBI '%s' is in one and not the other", x ? x->name : y->name);
            return false;
        }
        if (x->entries != y->entries) {
            admin_fmt(why, cap, "DBI '%s': %llu entries against %llu", x->name,
                     (unsigned long long)x->entries, (unsigned long long)y->entries);
            return false;
        }
        if (x->digest != y->digest) {
            admin_fmt(why, cap, "DBI '%s': %llu entries each but their content differs", x->name,
                     (unsigned long long)x->entries);
            return false;
        }
    }
    return true;
}

int admin_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

void admin_env_remove(const char *dir)
{
    char path[PARTENV_PATH_MAX];
    admin_path(path, sizeof(path), "%s/data.mdb", dir);
    unlink(path);
    admin_path(path, sizeof(path), "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

int admin_env_copy(const char *src, admin_env_mode mode, const char *dst, char *why, size_t cap)
{
    if (mkdir(dst, 0750) != 0) {
        admin_fmt(why, cap, "cannot create %s: %s", dst, strerror(errno));
        return -1;
    }
    MDB_env *env = NULL;
    if (admin_env_open(&env, src, mode, why, cap) != 0) {
        rmdir(dst);
        return -1;
    }
    int rc = mdb_env_copy2(env, dst, MDB_CP_COMPACT);
    mdb_env_close(env);
    char file[PARTENV_PATH_MAX];
    admin_path(file, sizeof(file), "%s/data.mdb", dst);
    if (rc == 0 && (admin_fsync_path(file) != 0 || admin_fsync_path(dst) != 0))
        rc = errno;
    if (rc != 0) {
        admin_fmt(why, cap, "copying %s to %s failed: %s", src, dst, mdb_strerror(rc));
        admin_env_remove(dst);
        return -1;
    }
    return 0;
}

int admin_env_copy_checked(const char *src, admin_env_mode mode, const char *dst,
                           uint32_t partition, uint32_t count, const admin_env_sum *expect,
                           admin_env_sum *copy, char *why, size_t cap)
{
    if (admin_env_copy(src, mode, dst, why, cap) != 0)
        return -1;
    if (admin_env_summarize(dst, ADMIN_ENV_PRIVATE, partition, count, copy, why, cap) != 0)
        return -2;
    if (expect != NULL && !admin_env_sum_equal(expect, copy, why, cap))
        return -2;
    return 0;
}

int admin_env_in_use(const char *dir, pid_t *pid)
{
    char path[PARTENV_PATH_MAX];
    admin_path(path, sizeof(path), "%s/lock.mdb", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    int rc = fcntl(fd, F_GETLK, &fl);
    int e = errno;
    close(fd);
    if (rc != 0) {
        errno = e;
        return -1;
    }
    if (fl.l_type == F_UNLCK)
        return 0;
    *pid = fl.l_pid;
    return 1;
}

int admin_path_kind(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    return S_ISDIR(st.st_mode) ? 1 : 2;
}

int admin_fsync_parent(const char *path)
{
    char buf[PARTENV_PATH_MAX];
    admin_path(buf, sizeof(buf), "%s", path);
    return admin_fsync_path(dirname(buf));
}

int admin_rename_durable(const char *from, const char *to)
{
    if (rename(from, to) != 0)
        return -1;
    if (admin_fsync_parent(to) != 0 || admin_fsync_parent(from) != 0)
        return -1;
    return 0;
}

int admin_mkdirs(const char *dir, mode_t mode)
{
    char path[PARTENV_PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, len + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(path, mode) != 0 && errno != EEXIST)
        return -1;
    return admin_path_kind(path) == 1 ? 0 : (errno = ENOTDIR, -1);
}
