/* store.c — LMDB environment, DBIs and the key layouts of the stats-service.
 * Thread rules: see store.h. */
#include "store.h"

#include "merge.h"
#include "ss_client_seq.h"
#include "ss_log.h"
#include "ss_time.h"

#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Longest "userId \0 opId" key. */
#define STORE_IDEM_KEY_MAX (SS_USERID_MAX + 1 + MERGE_MAX_OP_ID)
/* Longest "userId \0 clientId" key. */
#define STORE_CLIENT_KEY_MAX (SS_USERID_MAX + 1 + SS_CLIENT_ID_MAX)
/* The client record's format byte, and its size without refusals. */
#define STORE_CLIENT_FORMAT 1
#define STORE_CLIENT_HEAD (1 + 8 + 8 + 8 + 1)
/* How long store_close waits for reads in flight. */
#define STORE_CLOSE_WAIT_MS 5000

struct stats_store {
    MDB_env *env;
    MDB_dbi docs, idem, idem_time, clients;
    atomic_int readers;  /* read transactions in flight */
    atomic_bool closing; /* set by store_shut: no new reads */
    bool shut;           /* the environment is closed (store_shut) */
    bool attached;       /* the writer's: served by it (writer thread only) */
};

ss_err store_err_from_mdb(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return SS_OK;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
    case EACCES:
    case EROFS:
        return SS_ERR_STORAGE_FULL;
    default:
        return SS_ERR_INTERNAL;
    }
}

/* mkdir -p for the data directory. */
static int store__mkdirs(const char *dir)
{
    char path[4096];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof(path))
        return -1;
    memcpy(path, dir, len + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0750) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(path, 0750) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static void store__log_mdb(const char *what, int rc)
{
    ss_log(SS_LOG_ERROR, what, "{s:i,s:s}", "rc", rc, "error", mdb_strerror(rc));
}

ss_err store_open(stats_store **out, const char *dir, size_t map_bytes)
{
    *out = NULL;
    stats_store *s = calloc(1, sizeof(*s));
    MDB_txn *txn = NULL;
    int rc = 0;
    if (s == NULL)
        return SS_ERR_INTERNAL;
    if (store__mkdirs(dir) != 0) {
        rc = errno;
        ss_log(SS_LOG_ERROR, "cannot create data directory", "{s:s,s:s}", "dir", dir, "error",
               strerror(rc));
        goto fail;
    }
    if ((rc = mdb_env_create(&s->env)) != 0)
        goto fail_mdb;
    if ((rc = mdb_env_set_maxdbs(s->env, 8)) != 0)
        goto fail_mdb;
    if ((rc = mdb_env_set_mapsize(s->env, map_bytes)) != 0)
        goto fail_mdb;
    if ((rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0640)) != 0)
        goto fail_mdb;
    /* Reader slots left by a crashed process (kill -9) would pin old pages
     * and make the file grow: clear them. */
    int dead = 0;
    if (mdb_reader_check(s->env, &dead) == 0 && dead > 0)
        ss_log(SS_LOG_WARN, "stale lmdb readers cleared", "{s:i}", "count", dead);
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
        goto fail_mdb;
    if ((rc = mdb_dbi_open(txn, "docs", MDB_CREATE, &s->docs)) != 0)
        goto fail_mdb;
    if ((rc = mdb_dbi_open(txn, "idem", MDB_CREATE, &s->idem)) != 0)
        goto fail_mdb;
    if ((rc = mdb_dbi_open(txn, "idem_time", MDB_CREATE, &s->idem_time)) != 0)
        goto fail_mdb;
    if ((rc = mdb_dbi_open(txn, "clients", MDB_CREATE, &s->clients)) != 0)
        goto fail_mdb;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0)
        goto fail_mdb;
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    ss_log(SS_LOG_INFO, "lmdb opened", "{s:s,s:I}", "dir", dir, "map_bytes",
           (json_int_t)info.me_mapsize);
    *out = s;
    return SS_OK;
fail_mdb:
    store__log_mdb("lmdb open failed", rc);
fail:
    if (txn)
        mdb_txn_abort(txn);
    if (s->env)
        mdb_env_close(s->env);
    free(s);
    return rc == 0 ? SS_ERR_INTERNAL : store_err_from_mdb(rc);
}

bool store_shut(stats_store *s)
{
    if (s == NULL || s->shut)
        return true;
    atomic_store(&s->closing, true);
    int64_t deadline = ss_mono_ms() + STORE_CLOSE_WAIT_MS;
    while (atomic_load(&s->readers) > 0 && ss_mono_ms() < deadline)
        usleep(1000);
    if (atomic_load(&s->readers) > 0) {
        /* Closing under a live read would be a use-after-free: leak instead. */
        ss_log(SS_LOG_ERROR, "lmdb reads still in flight; environment left open", NULL);
        return false;
    }
    mdb_env_close(s->env);
    s->env = NULL;
    s->shut = true;
    return true;
}

void store_close(stats_store *s)
{
    if (s != NULL && store_shut(s))
        free(s);
}

bool store_attached(const stats_store *s)
{
    return s->attached;
}

void store_set_attached(stats_store *s, bool attached)
{
    s->attached = attached;
}

ss_err store_write_begin(stats_store *s, MDB_txn **txn)
{
    int rc = mdb_txn_begin(s->env, NULL, 0, txn);
    if (rc != 0) {
        store__log_mdb("lmdb write txn begin failed", rc);
        *txn = NULL;
    }
    return store_err_from_mdb(rc);
}

ss_err store_nested_begin(stats_store *s, MDB_txn *parent, MDB_txn **txn)
{
    int rc = mdb_txn_begin(s->env, parent, 0, txn);
    if (rc != 0)
        *txn = NULL;
    return store_err_from_mdb(rc);
}

/* Below this much free space in the data directory, a failed write is taken
 * to be the disk filling up. */
#define STORE_LOW_SPACE_BYTES (4u << 20)

/* A full disk often reaches LMDB as a short write, reported as EIO: tell it
 * apart from a failing device by looking at the free space. */
static bool store__disk_nearly_full(MDB_env *env)
{
    const char *path = NULL;
    struct statvfs st;
    if (mdb_env_get_path(env, &path) != 0 || path == NULL || statvfs(path, &st) != 0)
        return false;
    return (uint64_t)st.f_bavail * st.f_frsize < STORE_LOW_SPACE_BYTES;
}

ss_err store_commit(MDB_txn *txn)
{
    MDB_env *env = mdb_txn_env(txn); /* read before the commit frees txn */
    int rc = mdb_txn_commit(txn);
    if (rc != 0)
        store__log_mdb("lmdb commit failed", rc);
    if (rc == EIO && store__disk_nearly_full(env))
        return SS_ERR_STORAGE_FULL;
    return store_err_from_mdb(rc);
}

void store_abort(MDB_txn *txn)
{
    if (txn)
        mdb_txn_abort(txn);
}

ss_err store_read_begin(stats_store *s, MDB_txn **txn)
{
    *txn = NULL;
    atomic_fetch_add(&s->readers, 1);
    if (atomic_load(&s->closing)) {
        atomic_fetch_sub(&s->readers, 1);
        return SS_ERR_UNAVAILABLE;
    }
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
    if (rc != 0) {
        atomic_fetch_sub(&s->readers, 1);
        store__log_mdb("lmdb read txn begin failed", rc);
        *txn = NULL;
        return SS_ERR_INTERNAL;
    }
    return SS_OK;
}

void store_read_end(stats_store *s, MDB_txn *txn)
{
    if (txn == NULL)
        return;
    mdb_txn_abort(txn);
    atomic_fetch_sub(&s->readers, 1);
}

ss_err store_doc_get(stats_store *s, MDB_txn *txn, const char *user_id, stats_doc *out,
                     bool *found)
{
    MDB_val k = {strlen(user_id), (void *)user_id}, v;
    int rc = mdb_get(txn, s->docs, &k, &v);
    if (rc == MDB_NOTFOUND) {
        *found = false;
        doc_init_defaults(out, user_id);
        return SS_OK;
    }
    if (rc != 0) {
        store__log_mdb("lmdb get document failed", rc);
        return store_err_from_mdb(rc);
    }
    *found = true;
    ss_err e = doc_unpack(v.mv_data, v.mv_size, out);
    if (e != SS_OK)
        ss_log(SS_LOG_ERROR, "stored document does not decode", "{s:s}", "user", user_id);
    return e;
}

ss_err store_doc_put(stats_store *s, MDB_txn *txn, const stats_doc *d)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    ss_err e = doc_pack(d, &buf, &len);
    if (e != SS_OK)
        return e;
    MDB_val k = {strlen(d->user_id), (void *)d->user_id}, v = {len, buf};
    int rc = mdb_put(txn, s->docs, &k, &v, 0);
    free(buf);
    return store_err_from_mdb(rc);
}

static void store__be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t store__get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* The value of key in dbi: *found, and v when found. SS_OK;
 * SS_ERR_BAD_REQUEST when klen is 0 (no key could be built); or the
 * storage error. */
static ss_err store__get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, MDB_val *v,
                         bool *found)
{
    *found = false;
    if (klen == 0)
        return SS_ERR_BAD_REQUEST;
    MDB_val k = {klen, (void *)key};
    int rc = mdb_get(txn, dbi, &k, v);
    *found = rc == 0;
    return rc == 0 || rc == MDB_NOTFOUND ? SS_OK : store_err_from_mdb(rc);
}

/* "a \0 b" into buf (room for it checked by the caller); its length. */
static size_t store__pair_key(uint8_t *buf, const char *a, size_t al, const char *b, size_t bl)
{
    memcpy(buf, a, al);
    buf[al] = '\0';
    memcpy(buf + al + 1, b, bl);
    return al + 1 + bl;
}

/* "userId \0 opId" into buf (STORE_IDEM_KEY_MAX); returns its length or 0. */
static size_t store__idem_key(uint8_t *buf, const char *user_id, const char *op_id)
{
    size_t ul = strlen(user_id), ol = strlen(op_id);
    if (ul == 0 || ul > SS_USERID_MAX || ol == 0 || ol > MERGE_MAX_OP_ID)
        return 0;
    return store__pair_key(buf, user_id, ul, op_id, ol);
}

ss_err store_idem_get(stats_store *s, MDB_txn *txn, const char *user_id, const char *op_id,
                      store_idem *rec, bool *found)
{
    uint8_t key[STORE_IDEM_KEY_MAX];
    MDB_val v;
    ss_err e = store__get(txn, s->idem, key, store__idem_key(key, user_id, op_id), &v, found);
    if (e != SS_OK || !*found)
        return e;
    if (rec != NULL && v.mv_size >= 16) {
        rec->applied_at_ms = (int64_t)store__get_be64(v.mv_data);
        rec->version = store__get_be64((const uint8_t *)v.mv_data + 8);
    }
    return SS_OK;
}

ss_err store_idem_put(stats_store *s, MDB_txn *txn, const char *user_id, const char *op_id,
                      const store_idem *rec)
{
    uint8_t tkey[8 + STORE_IDEM_KEY_MAX];
    size_t kl = store__idem_key(tkey + 8, user_id, op_id);
    if (kl == 0)
        return SS_ERR_BAD_REQUEST;
    int64_t at = rec->applied_at_ms < 0 ? 0 : rec->applied_at_ms;
    store__be64(tkey, (uint64_t)at);
    uint8_t val[16];
    store__be64(val, (uint64_t)at);
    store__be64(val + 8, rec->version);
    MDB_val k = {kl, tkey + 8}, v = {sizeof(val), val};
    int rc = mdb_put(txn, s->idem, &k, &v, 0);
    if (rc == 0) {
        MDB_val tk = {8 + kl, tkey}, tv = {0, NULL};
        rc = mdb_put(txn, s->idem_time, &tk, &tv, 0);
    }
    return store_err_from_mdb(rc);
}

ss_err store_idem_prune(stats_store *s, MDB_txn *txn, int64_t cutoff_ms, size_t max,
                        size_t *pruned)
{
    *pruned = 0;
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(txn, s->idem_time, &cur);
    if (rc != 0)
        return store_err_from_mdb(rc);
    while (*pruned < max) {
        MDB_val k, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc != 0)
            break;
        if (k.mv_size < 8 || (int64_t)store__get_be64(k.mv_data) >= cutoff_ms)
            break;
        MDB_val ik = {k.mv_size - 8, (uint8_t *)k.mv_data + 8};
        rc = mdb_del(txn, s->idem, &ik, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        (*pruned)++;
    }
    mdb_cursor_close(cur);
    return store_err_from_mdb(rc);
}

/* The time-index entry at one end (MDB_FIRST / MDB_LAST): its stamp. */
static ss_err store__idem_end(stats_store *s, MDB_txn *txn, MDB_cursor_op end, int64_t *at_ms,
                              bool *found)
{
    *found = false;
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(txn, s->idem_time, &cur);
    if (rc != 0)
        return store_err_from_mdb(rc);
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, end);
    if (rc == 0 && k.mv_size >= 8) {
        *found = true;
        *at_ms = (int64_t)store__get_be64(k.mv_data);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? SS_OK : store_err_from_mdb(rc);
}

ss_err store_idem_oldest(stats_store *s, MDB_txn *txn, int64_t *at_ms, bool *found)
{
    return store__idem_end(s, txn, MDB_FIRST, at_ms, found);
}

ss_err store_idem_newest(stats_store *s, MDB_txn *txn, int64_t *at_ms, bool *found)
{
    return store__idem_end(s, txn, MDB_LAST, at_ms, found);
}

ss_err store_idem_count(stats_store *s, MDB_txn *txn, uint64_t *n)
{
    MDB_stat st;
    int rc = mdb_stat(txn, s->idem, &st);
    *n = rc == 0 ? st.ms_entries : 0;
    return store_err_from_mdb(rc);
}

/* ---- client records ---- */

/* "userId \0 clientId" into buf (STORE_CLIENT_KEY_MAX); returns its length or 0. */
static size_t store__client_key(uint8_t *buf, const char *user_id, const char *client_id)
{
    size_t ul = strlen(user_id), cl = strlen(client_id);
    if (ul == 0 || ul > SS_USERID_MAX || !ss_client_id_valid(client_id, cl))
        return 0;
    return store__pair_key(buf, user_id, ul, client_id, cl);
}

static bool store__client_decode(const uint8_t *p, size_t len, store_client *rec)
{
    memset(rec, 0, sizeof(*rec));
    if (len < STORE_CLIENT_HEAD || p[0] != STORE_CLIENT_FORMAT)
        return false;
    rec->last_seq = store__get_be64(p + 1);
    rec->used_at_ms = (int64_t)store__get_be64(p + 9);
    rec->refused_floor = store__get_be64(p + 17);
    size_t n = p[25], off = STORE_CLIENT_HEAD;
    if (n > STORE_CLIENT_REFUSALS_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (off + 17 > len || off + 17 + p[off + 16] > len)
            return false;
        char code[256];
        size_t cl = p[off + 16];
        memcpy(code, p + off + 17, cl);
        code[cl] = '\0';
        rec->refused[i] = (store_refusal){store__get_be64(p + off), store__get_be64(p + off + 8),
                                          ss_err_from_code(code)};
        off += 17 + cl;
    }
    rec->n_refused = n;
    return off == len;
}

ss_err store_client_get(stats_store *s, MDB_txn *txn, const char *user_id, const char *client_id,
                        store_client *rec, bool *found)
{
    uint8_t key[STORE_CLIENT_KEY_MAX];
    MDB_val v;
    ss_err e =
        store__get(txn, s->clients, key, store__client_key(key, user_id, client_id), &v, found);
    if (e != SS_OK || !*found)
        return e;
    if (!store__client_decode(v.mv_data, v.mv_size, rec)) {
        *found = false;
        ss_log(SS_LOG_ERROR, "stored client record does not decode", "{s:s,s:s}", "user",
               user_id, "client", client_id);
        return SS_ERR_INTERNAL;
    }
    return SS_OK;
}

ss_err store_client_put(stats_store *s, MDB_txn *txn, const char *user_id, const char *client_id,
                        const store_client *rec)
{
    uint8_t key[STORE_CLIENT_KEY_MAX];
    size_t kl = store__client_key(key, user_id, client_id);
    if (kl == 0 || rec->n_refused > STORE_CLIENT_REFUSALS_MAX)
        return SS_ERR_BAD_REQUEST;
    uint8_t val[STORE_CLIENT_HEAD + STORE_CLIENT_REFUSALS_MAX * (17 + 255)];
    val[0] = STORE_CLIENT_FORMAT;
    store__be64(val + 1, rec->last_seq);
    store__be64(val + 9, (uint64_t)(rec->used_at_ms < 0 ? 0 : rec->used_at_ms));
    store__be64(val + 17, rec->refused_floor);
    val[25] = (uint8_t)rec->n_refused;
    size_t off = STORE_CLIENT_HEAD;
    for (size_t i = 0; i < rec->n_refused; i++) {
        const char *code = ss_err_code(rec->refused[i].err);
        size_t cl = strlen(code);
        if (cl > 255)
            return SS_ERR_INTERNAL;
        store__be64(val + off, rec->refused[i].first);
        store__be64(val + off + 8, rec->refused[i].last);
        val[off + 16] = (uint8_t)cl;
        memcpy(val + off + 17, code, cl);
        off += 17 + cl;
    }
    MDB_val k = {kl, key}, v = {off, val};
    return store_err_from_mdb(mdb_put(txn, s->clients, &k, &v, 0));
}

ss_err store_client_del(stats_store *s, MDB_txn *txn, const char *user_id, const char *client_id)
{
    uint8_t key[STORE_CLIENT_KEY_MAX];
    size_t kl = store__client_key(key, user_id, client_id);
    if (kl == 0)
        return SS_ERR_BAD_REQUEST;
    MDB_val k = {kl, key};
    int rc = mdb_del(txn, s->clients, &k, NULL);
    return rc == MDB_NOTFOUND ? SS_OK : store_err_from_mdb(rc);
}

ss_err store_client_lru(stats_store *s, MDB_txn *txn, const char *user_id, size_t *count,
                        char *lru_id)
{
    *count = 0;
    lru_id[0] = '\0';
    size_t ul = strlen(user_id);
    if (ul == 0 || ul > SS_USERID_MAX)
        return SS_ERR_BAD_REQUEST;
    uint8_t prefix[SS_USERID_MAX + 1];
    memcpy(prefix, user_id, ul);
    prefix[ul] = '\0'; /* a userId holds no NUL: "userId \0" starts exactly its records */
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(txn, s->clients, &cur);
    if (rc != 0)
        return store_err_from_mdb(rc);
    MDB_val k = {ul + 1, prefix}, v;
    int64_t oldest = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size <= ul + 1 || memcmp(k.mv_data, prefix, ul + 1) != 0)
            break;
        size_t cl = k.mv_size - ul - 1;
        if (v.mv_size < STORE_CLIENT_HEAD || cl > SS_CLIENT_ID_MAX)
            continue; /* not ours to judge: store_client_get reports it */
        int64_t used = (int64_t)store__get_be64((const uint8_t *)v.mv_data + 9);
        if (*count == 0 || used < oldest) {
            oldest = used;
            memcpy(lru_id, (const uint8_t *)k.mv_data + ul + 1, cl);
            lru_id[cl] = '\0';
        }
        (*count)++;
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? SS_OK : store_err_from_mdb(rc);
}

ss_err store_client_count(stats_store *s, MDB_txn *txn, uint64_t *n)
{
    MDB_stat st;
    int rc = mdb_stat(txn, s->clients, &st);
    *n = rc == 0 ? st.ms_entries : 0;
    return store_err_from_mdb(rc);
}

ss_err store_count_users(stats_store *s, uint64_t *n)
{
    *n = 0;
    MDB_txn *txn = NULL;
    ss_err e = store_read_begin(s, &txn);
    if (e != SS_OK)
        return e;
    MDB_stat st;
    int rc = mdb_stat(txn, s->docs, &st);
    if (rc == 0)
        *n = st.ms_entries;
    store_read_end(s, txn);
    return store_err_from_mdb(rc);
}

bool store_key_user(const char *dbi, const void *key, size_t len, size_t *user_off,
                    size_t *user_len)
{
    const uint8_t *k = key;
    size_t off = 0;
    if (strcmp(dbi, "docs") == 0) {
        *user_off = 0, *user_len = len;
        return len > 0 && len <= SS_USERID_MAX;
    }
    if (strcmp(dbi, "idem_time") == 0) {
        if (len <= 8)
            return false;
        off = 8;
    } else if (strcmp(dbi, "idem") != 0 && strcmp(dbi, "clients") != 0) {
        return false;
    }
    const uint8_t *nul = memchr(k + off, '\0', len - off); /* "userId \0 opId|clientId" */
    if (nul == NULL)
        return false;
    *user_off = off, *user_len = (size_t)(nul - (k + off));
    return *user_len > 0 && *user_len <= SS_USERID_MAX && (size_t)(nul - k) + 1 < len;
}
