/* ss_lease.c — leases on a JetStream key-value bucket (see ss_lease.h).
 * Threads: the caller's (blocking JetStream requests). */
#include "ss_lease.h"

#include "ss_log.h"
#include "ss_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* How often a taker looks again while a previous incarnation's entry expires. */
#define SS_LEASE_POLL_MS 200

struct ss_lease_bucket {
    jsCtx *js;
    kvStore *kv;     /* the leases: entries expire ttl after their last write */
    kvStore *config; /* "<bucket>_config": never expires */
    int64_t ttl_ms;
    char holder[104];
    char value[128]; /* "<holder>/<incarnation>" */
};

static ss_err ss_lease__status(natsStatus s)
{
    return s == NATS_OK ? SS_OK : s == NATS_TIMEOUT ? SS_ERR_TIMEOUT : SS_ERR_UNAVAILABLE;
}

/* Binds to bucket name, creating it (ttl_ns 0: no expiry) when missing. */
static natsStatus ss_lease__kv(kvStore **out, jsCtx *js, const char *name, int64_t ttl_ms,
                               int replicas)
{
    natsStatus s = js_KeyValue(out, js, name);
    if (s == NATS_OK)
        return s;
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = name;
    cfg.History = 1;
    cfg.TTL = ttl_ms * 1000000; /* cnats takes the max age in nanoseconds */
    cfg.Replicas = replicas > 0 ? replicas : 1;
    cfg.StorageType = js_FileStorage;
    return js_CreateKeyValue(out, js, &cfg);
}

ss_err ss_lease_bucket_open(ss_lease_bucket **out, natsConnection *nc, const ss_lease_cfg *cfg,
                            char *why, size_t why_cap)
{
    *out = NULL;
    ss_lease_bucket *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return SS_ERR_INTERNAL;
    b->ttl_ms = cfg->ttl_ms;
    snprintf(b->holder, sizeof(b->holder), "%s", cfg->holder);
    unsigned char r[6] = {0};
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        memcpy(r, &(int64_t){ss_mono_ns() ^ getpid()}, sizeof(r));
    snprintf(b->value, sizeof(b->value), "%s/%02x%02x%02x%02x%02x%02x", b->holder, r[0], r[1],
             r[2], r[3], r[4], r[5]);
    char cfg_name[128];
    snprintf(cfg_name, sizeof(cfg_name), "%s_config", cfg->bucket);
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = 3000;
    natsStatus s = natsConnection_JetStream(&b->js, nc, &o);
    if (s == NATS_OK)
        s = ss_lease__kv(&b->kv, b->js, cfg->bucket, cfg->ttl_ms, cfg->replicas);
    if (s == NATS_OK)
        s = ss_lease__kv(&b->config, b->js, cfg_name, 0, cfg->replicas);
    if (s != NATS_OK) {
        snprintf(why, why_cap, "JetStream key-value bucket %s unusable: %s (%s)", cfg->bucket,
                 natsStatus_GetText(s), nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
        ss_lease_bucket_close(b);
        return ss_lease__status(s) == SS_OK ? SS_ERR_UNAVAILABLE : ss_lease__status(s);
    }
    *out = b;
    return SS_OK;
}

void ss_lease_bucket_close(ss_lease_bucket *b)
{
    if (b == NULL)
        return;
    kvStore_Destroy(b->kv);
    kvStore_Destroy(b->config);
    jsCtx_Destroy(b->js);
    free(b);
}

int64_t ss_lease_ttl_ms(const ss_lease_bucket *b)
{
    return b->ttl_ms;
}

const char *ss_lease_value(const ss_lease_bucket *b)
{
    return b->value;
}

/* The entry of key: SS_OK with *value and *rev, SS_ERR_NOT_FOUND, or the error. */
static ss_err ss_lease__get(kvStore *kv, const char *key, char *value, size_t cap, uint64_t *rev)
{
    kvEntry *e = NULL;
    natsStatus s = kvStore_Get(&e, kv, key);
    if (cap > 0)
        value[0] = '\0';
    if (s == NATS_NOT_FOUND)
        return SS_ERR_NOT_FOUND;
    if (s != NATS_OK)
        return ss_lease__status(s);
    snprintf(value, cap, "%.*s", kvEntry_ValueLen(e), (const char *)kvEntry_Value(e));
    if (rev)
        *rev = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    return SS_OK;
}

ss_err ss_lease_owner(ss_lease_bucket *b, const char *key, char *owner, size_t owner_cap)
{
    ss_err e = ss_lease__get(b->kv, key, owner, owner_cap, NULL);
    return e == SS_ERR_NOT_FOUND ? SS_OK : e;
}

/* True when value is "<our holder>/<another incarnation>". */
static bool ss_lease__previous_self(const ss_lease_bucket *b, const char *value)
{
    size_t n = strlen(b->holder);
    return strncmp(value, b->holder, n) == 0 && value[n] == '/' && strcmp(value, b->value) != 0;
}

/* One create attempt: SS_OK (held), SS_ERR_CONFLICT (*owner, *rev set), or
 * the error. */
static ss_err ss_lease__create(ss_lease_bucket *b, ss_lease *l, char *owner, size_t cap,
                               uint64_t *rev)
{
    int64_t start = ss_mono_ms();
    uint64_t r = 0;
    natsStatus s = kvStore_Create(&r, b->kv, l->key, b->value, (int)strlen(b->value));
    if (s == NATS_OK) {
        l->revision = r, l->written_ms = start, l->held = true;
        return SS_OK;
    }
    ss_err e = ss_lease__get(b->kv, l->key, owner, cap, rev);
    if (e == SS_OK && strcmp(owner, b->value) == 0) {
        /* Our own entry (a renewal the server took while we saw a timeout):
         * nobody else wrote it, so an update by its revision takes it back;
         * refused if the read was stale and someone else holds it now. */
        start = ss_mono_ms();
        if (kvStore_Update(&r, b->kv, l->key, b->value, (int)strlen(b->value), *rev) == NATS_OK) {
            l->revision = r, l->written_ms = start, l->held = true;
            return SS_OK;
        }
        return SS_ERR_UNAVAILABLE; /* look again */
    }
    if (e == SS_OK)
        return SS_ERR_CONFLICT;
    return e == SS_ERR_NOT_FOUND ? ss_lease__status(s) : e; /* gone meanwhile: try again */
}

ss_err ss_lease_take(ss_lease_bucket *b, ss_lease *l, const char *key, char *owner,
                     size_t owner_cap)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->key, sizeof(l->key), "%s", key);
    /* A previous incarnation's entry expires within the TTL unless a live
     * process with our name keeps renewing it: then it is still there at
     * the deadline. (Not "its revision changed": with replicas, reads may
     * come from a follower a little behind.) */
    int64_t deadline = ss_mono_ms() + b->ttl_ms + 2000;
    for (int attempt = 0;; attempt++) {
        uint64_t rev = 0;
        ss_err e = ss_lease__create(b, l, owner, owner_cap, &rev);
        if (e == SS_OK)
            return e;
        if (e == SS_ERR_CONFLICT && !ss_lease__previous_self(b, owner))
            return SS_ERR_CONFLICT;
        if (e != SS_ERR_CONFLICT && attempt > 3)
            return e;
        if (ss_mono_ms() >= deadline)
            return e;
        usleep(SS_LEASE_POLL_MS * 1000);
    }
}

ss_err ss_lease_renew(ss_lease_bucket *b, ss_lease *l)
{
    if (!l->held)
        return SS_ERR_CONFLICT;
    int64_t start = ss_mono_ms();
    uint64_t r = 0;
    natsStatus s =
        kvStore_Update(&r, b->kv, l->key, b->value, (int)strlen(b->value), l->revision);
    if (s == NATS_OK) {
        l->revision = r, l->written_ms = start;
        return SS_OK;
    }
    /* Refused or not answered? Look: ours at our revision means not answered. */
    char now[128];
    uint64_t rev = 0;
    ss_err e = ss_lease__get(b->kv, l->key, now, sizeof(now), &rev);
    if (e == SS_ERR_NOT_FOUND || (e == SS_OK && (rev != l->revision || strcmp(now, b->value) != 0)))
        return SS_ERR_CONFLICT;
    return e == SS_OK ? ss_lease__status(s) : e;
}

int64_t ss_lease_valid_until(const ss_lease_bucket *b, const ss_lease *l)
{
    int64_t margin = b->ttl_ms / 5 > 500 ? b->ttl_ms / 5 : 500;
    return l->held ? l->written_ms + b->ttl_ms - margin : 0;
}

bool ss_lease_expired(const ss_lease_bucket *b, const ss_lease *l, int64_t now_mono_ms)
{
    return !l->held || now_mono_ms >= ss_lease_valid_until(b, l);
}

ss_err ss_lease_release(ss_lease_bucket *b, ss_lease *l)
{
    if (!l->held)
        return SS_OK;
    l->held = false;
    char now[128];
    uint64_t rev = 0;
    ss_err e = ss_lease__get(b->kv, l->key, now, sizeof(now), &rev);
    if (e == SS_OK && rev == l->revision && strcmp(now, b->value) == 0)
        e = ss_lease__status(kvStore_Delete(b->kv, l->key));
    return e == SS_ERR_NOT_FOUND ? SS_OK : e;
}

ss_err ss_lease_config_get(ss_lease_bucket *b, const char *key, char *value, size_t cap)
{
    return ss_lease__get(b->config, key, value, cap, NULL);
}

ss_err ss_lease_config_put(ss_lease_bucket *b, const char *key, const char *value)
{
    uint64_t r = 0;
    return ss_lease__status(kvStore_Put(&r, b->config, key, value, (int)strlen(value)));
}

ss_err ss_lease_cluster_value(ss_lease_bucket *b, const char *key, const char *value,
                              char *stored, size_t stored_cap)
{
    uint64_t r = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        ss_err e = ss_lease__get(b->config, key, stored, stored_cap, NULL);
        if (e == SS_OK)
            return strcmp(stored, value) == 0 ? SS_OK : SS_ERR_CONFLICT;
        if (e != SS_ERR_NOT_FOUND)
            return e;
        if (kvStore_Create(&r, b->config, key, value, (int)strlen(value)) == NATS_OK) {
            snprintf(stored, stored_cap, "%s", value);
            return SS_OK;
        }
        /* someone created it at the same moment: read theirs */
    }
    return SS_ERR_UNAVAILABLE;
}
