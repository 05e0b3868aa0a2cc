/* ratelimit.c — token buckets, socket counts and the gateway's limits (see
 * ratelimit.h). */
#include "ratelimit.h"

#include "ss_htab.h"
#include "ss_list.h"
#include "ss_metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- keys ---------------------------------------------------------------------- */

static uint64_t rl__hash(const char *key)
{
    return ss_hash(SS_HASH_INIT, key, strlen(key));
}

static void rl__key_copy(char dst[RL_KEY_MAX + 1], const char *key)
{
    size_t n = 0;
    while (n < RL_KEY_MAX && key[n] != '\0')
        n++;
    memcpy(dst, key, n);
    dst[n] = '\0';
}

/* A token bucket begins with its node and its key. */
struct rl__keyed {
    ss_hnode h;
    char key[RL_KEY_MAX + 1];
};

/* A bucket is found by the key after its node. */
static bool rl__key_eq(const ss_hnode *n, const void *key)
{
    return strcmp(SS_HTAB_ENTRY(n, struct rl__keyed, h)->key, key) == 0;
}

/* ---- token buckets -------------------------------------------------------------- */

typedef struct rl_bucket {
    ss_hnode h;                         /* in the table, by key (first: rl__keyed) */
    char key[RL_KEY_MAX + 1];
    double tokens;
    int64_t last_ms;                    /* when tokens was last brought up to date */
    ss_link lru;                        /* in the table's LRU order */
} rl_bucket;

struct rl_table {
    pthread_mutex_t mu;
    double per_s, burst;
    int64_t idle_ms;     /* a bucket unused this long is full again: dropped */
    size_t max_keys;
    ss_htab keys;        /* rl_bucket by key */
    ss_list lru;         /* rl_bucket.lru: head = most recently used */
};

int rl_table_create(rl_table **out, double per_s, double burst, size_t max_keys)
{
    *out = NULL;
    rl_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    t->per_s = per_s;
    t->burst = burst >= 1 ? burst : 1;
    t->max_keys = max_keys > 0 ? max_keys : 1;
    t->idle_ms = per_s > 0 ? (int64_t)ceil(t->burst * 1000.0 / per_s) : 0;
    if (per_s > 0 && ss_htab_init(&t->keys, t->max_keys, rl__key_eq) != 0) {
        free(t);
        return -1;
    }
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return 0;
}

void rl_table_destroy(rl_table *t)
{
    if (t == NULL)
        return;
    for (ss_link *k = t->lru.head, *next; k; k = next) {
        next = k->next;
        free(SS_LIST_ENTRY(k, rl_bucket, lru));
    }
    ss_htab_free(&t->keys);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* The least recently used bucket, or NULL. */
static rl_bucket *rl__lru_oldest(const rl_table *t)
{
    return t->lru.tail ? SS_LIST_ENTRY(t->lru.tail, rl_bucket, lru) : NULL;
}

static void rl__remove(rl_table *t, rl_bucket *b)
{
    ss_htab_del(&t->keys, &b->h);
    ss_list_remove(&t->lru, &b->lru);
    free(b);
}

int64_t rl_table_take(rl_table *t, const char *key, int64_t now_ms)
{
    if (t == NULL || t->per_s <= 0)
        return 0;
    char k[RL_KEY_MAX + 1];
    rl__key_copy(k, key);
    pthread_mutex_lock(&t->mu);
    /* idle buckets (least recently used first) are full again: forget them */
    rl_bucket *old;
    while ((old = rl__lru_oldest(t)) != NULL && now_ms - old->last_ms >= t->idle_ms)
        rl__remove(t, old);
    uint64_t hash = rl__hash(k);
    ss_hnode *n = ss_htab_find(&t->keys, hash, k);
    rl_bucket *b = n ? SS_HTAB_ENTRY(n, rl_bucket, h) : NULL;
    if (b == NULL) {
        if (t->keys.count >= t->max_keys) /* full of busy keys: the oldest one goes */
            rl__remove(t, rl__lru_oldest(t));
        b = calloc(1, sizeof(*b));
        if (b == NULL) { /* fail open: a limiter must not refuse for its own lack of memory */
            pthread_mutex_unlock(&t->mu);
            return 0;
        }
        memcpy(b->key, k, sizeof(k));
        b->tokens = t->burst;
        b->last_ms = now_ms;
        ss_htab_add(&t->keys, &b->h, hash);
    } else {
        ss_list_remove(&t->lru, &b->lru);
        if (now_ms > b->last_ms) {
            b->tokens += (double)(now_ms - b->last_ms) * t->per_s / 1000.0;
            if (b->tokens > t->burst)
                b->tokens = t->burst;
            b->last_ms = now_ms;
        }
    }
    ss_list_push_front(&t->lru, &b->lru);
    int64_t wait = 0;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        wait = (int64_t)ceil((1.0 - b->tokens) * 1000.0 / t->per_s);
        if (wait < 1)
            wait = 1;
    }
    pthread_mutex_unlock(&t->mu);
    return wait;
}

size_t rl_table_count(rl_table *t)
{
    if (t == NULL)
        return 0;
    pthread_mutex_lock(&t->mu);
    size_t n = t->keys.count;
    pthread_mutex_unlock(&t->mu);
    return n;
}

int64_t rl_retry_after_s(int64_t wait_ms)
{
    int64_t s = (wait_ms + 999) / 1000;
    return s < 1 ? 1 : s;
}

/* ---- concurrent sockets per key ------------------------------------------------ */

/* One per user with a socket: sized to its key (an idle connection's memory
 * is mostly such per-user and per-socket records). */
typedef struct rl_slot {
    ss_hnode h; /* in the table, by key */
    int64_t held;
    char key[]; /* NUL-terminated, at most RL_KEY_MAX bytes */
} rl_slot;

struct rl_slots {
    int64_t max;
    ss_htab keys; /* rl_slot by key; an entry lives while it holds a slot */
};

_Static_assert(offsetof(rl_bucket, h) == offsetof(struct rl__keyed, h) &&
                   offsetof(rl_bucket, key) == offsetof(struct rl__keyed, key),
               "token buckets begin like rl__keyed");

static bool rl__slot_eq(const ss_hnode *n, const void *key)
{
    return strcmp(SS_HTAB_ENTRY(n, rl_slot, h)->key, key) == 0;
}

int rl_slots_create(rl_slots **out, int64_t max)
{
    *out = NULL;
    rl_slots *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    s->max = max;
    if (ss_htab_init(&s->keys, 1024, rl__slot_eq) != 0) {
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void rl_slots_destroy(rl_slots *s)
{
    if (s == NULL)
        return;
    ss_htab_iter it;
    for (ss_hnode *n = ss_htab_first(&it, &s->keys); n; n = ss_htab_next(&it))
        free(SS_HTAB_ENTRY(n, rl_slot, h));
    ss_htab_free(&s->keys);
    free(s);
}

static rl_slot *rl_slots__find(const rl_slots *s, const char *k)
{
    ss_hnode *n = ss_htab_find(&s->keys, rl__hash(k), k);
    return n ? SS_HTAB_ENTRY(n, rl_slot, h) : NULL;
}

bool rl_slots_acquire(rl_slots *s, const char *key)
{
    char k[RL_KEY_MAX + 1];
    rl__key_copy(k, key);
    rl_slot *e = rl_slots__find(s, k);
    if (e == NULL) {
        size_t n = strlen(k) + 1;
        if ((e = calloc(1, sizeof(*e) + n)) == NULL)
            return false;
        memcpy(e->key, k, n);
        ss_htab_add(&s->keys, &e->h, rl__hash(k));
    }
    if (s->max > 0 && e->held >= s->max)
        return false;
    e->held++;
    return true;
}

void rl_slots_release(rl_slots *s, const char *key)
{
    char k[RL_KEY_MAX + 1];
    rl__key_copy(k, key);
    rl_slot *e = rl_slots__find(s, k);
    if (e == NULL)
        return;
    if (--e->held <= 0) {
        ss_htab_del(&s->keys, &e->h);
        free(e);
    }
}

int64_t rl_slots_held(const rl_slots *s, const char *key)
{
    char k[RL_KEY_MAX + 1];
    rl__key_copy(k, key);
    rl_slot *e = rl_slots__find(s, k);
    return e ? e->held : 0;
}

size_t rl_slots_count(const rl_slots *s)
{
    return s->keys.count;
}

/* ---- client addresses --------------------------------------------------------- */

bool rl_ip_key(const char *ip, char out[RL_IP_KEY_MAX + 1])
{
    unsigned char a[16];
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, ip, a) == 1) {
        inet_ntop(AF_INET, a, text, sizeof(text));
        snprintf(out, RL_IP_KEY_MAX + 1, "%s", text);
        return true;
    }
    if (inet_pton(AF_INET6, ip, a) == 1) {
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
            inet_ntop(AF_INET, a + 12, text, sizeof(text));
            snprintf(out, RL_IP_KEY_MAX + 1, "%s", text);
            return true;
        }
        memset(a + 8, 0, 8);
        inet_ntop(AF_INET6, a, text, sizeof(text));
        snprintf(out, RL_IP_KEY_MAX + 1, "%s/64", text);
        return true;
    }
    snprintf(out, RL_IP_KEY_MAX + 1, "%.*s", RL_IP_KEY_MAX, ip);
    return false;
}

/* ---- the gateway's limits ---------------------------------------------------- */

#define RL_EXEMPT_MAX 16

struct ratelimit {
    rl_table *tables[RL_HANDSHAKE_IP + 1];
    rl_slots *sockets;
    rl_slots *polls;
    int64_t sockets_per_user;
    bool exempt_loopback;
    int nexempt;
    char exempt[RL_EXEMPT_MAX][RL_KEY_MAX + 1]; /* rl_ip_key form */
    ss_counter *refused[RL_KIND__COUNT];
};

const char *ratelimit_kind_name(rl_kind kind)
{
    static const char *const names[RL_KIND__COUNT] = {"mutation", "rest_ip", "handshake_ip",
                                                      "sockets_per_user", "polling_ip"};
    return kind < RL_KIND__COUNT ? names[kind] : "unknown";
}

static int ratelimit__parse_exempt(ratelimit *r, const char *list)
{
    if (list == NULL || strcmp(list, "none") == 0)
        return 0;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char item[RL_KEY_MAX + 1];
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n > RL_KEY_MAX)
            return -1;
        memcpy(item, p, n);
        item[n] = '\0';
        if (n == 0) {
            /* empty item: skip */
        } else if (strcmp(item, "loopback") == 0) {
            r->exempt_loopback = true;
        } else {
            if (r->nexempt >= RL_EXEMPT_MAX || !rl_ip_key(item, r->exempt[r->nexempt]))
                return -1;
            r->nexempt++;
        }
        p += end ? (size_t)(end - p) + 1 : strlen(p);
    }
    return 0;
}

int ratelimit_create(ratelimit **out, const ratelimit_config *c)
{
    *out = NULL;
    ratelimit *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -1;
    if (ratelimit__parse_exempt(r, c->exempt) != 0)
        goto fail;
    if (rl_table_create(&r->tables[RL_MUTATION], c->mutation_per_s, c->mutation_burst,
                        c->max_keys) != 0 ||
        rl_table_create(&r->tables[RL_REST_IP], c->rest_ip_per_s, c->rest_ip_burst,
                        c->max_keys) != 0 ||
        rl_table_create(&r->tables[RL_HANDSHAKE_IP], c->handshake_ip_per_s,
                        c->handshake_ip_burst, c->max_keys) != 0 ||
        rl_slots_create(&r->sockets, c->sockets_per_user) != 0 ||
        rl_slots_create(&r->polls, c->polls_per_ip) != 0)
        goto fail;
    r->sockets_per_user = c->sockets_per_user;
    for (int k = 0; k < RL_KIND__COUNT; k++) {
        char labels[48];
        ss_metric_labels(labels, sizeof(labels), "kind", ratelimit_kind_name((rl_kind)k), NULL);
        r->refused[k] = ss_counter_get("statsync_rate_limited_total",
                                       "requests and connections refused by a rate limit", labels);
    }
    *out = r;
    return 0;
fail:
    ratelimit_destroy(r);
    return -1;
}

void ratelimit_destroy(ratelimit *r)
{
    if (r == NULL)
        return;
    for (int k = 0; k <= RL_HANDSHAKE_IP; k++)
        rl_table_destroy(r->tables[k]);
    rl_slots_destroy(r->sockets);
    rl_slots_destroy(r->polls);
    free(r);
}

int64_t ratelimit_take(ratelimit *r, rl_kind kind, const char *key, int64_t now_ms)
{
    if (r == NULL || kind > RL_HANDSHAKE_IP)
        return 0;
    int64_t wait = rl_table_take(r->tables[kind], key, now_ms);
    if (wait > 0)
        ss_counter_add(r->refused[kind], 1);
    return wait;
}

/* A slot of a concurrency cap; a refusal is counted under kind. */
static bool ratelimit__acquire(ratelimit *r, rl_slots *slots, rl_kind kind, const char *key)
{
    if (r == NULL || rl_slots_acquire(slots, key))
        return true;
    ss_counter_add(r->refused[kind], 1);
    return false;
}

bool ratelimit_socket_acquire(ratelimit *r, const char *user)
{
    return ratelimit__acquire(r, r ? r->sockets : NULL, RL_SOCKETS_USER, user);
}

void ratelimit_socket_release(ratelimit *r, const char *user)
{
    if (r != NULL)
        rl_slots_release(r->sockets, user);
}

bool ratelimit_poll_acquire(ratelimit *r, const char *ip_key)
{
    return ratelimit__acquire(r, r ? r->polls : NULL, RL_POLLING_IP, ip_key);
}

void ratelimit_poll_release(ratelimit *r, const char *ip_key)
{
    if (r != NULL)
        rl_slots_release(r->polls, ip_key);
}

int64_t ratelimit_sockets_per_user(const ratelimit *r)
{
    return r ? r->sockets_per_user : 0;
}

bool ratelimit_exempt(const ratelimit *r, const char *ip)
{
    if (r == NULL || ip == NULL)
        return false;
    char k[RL_KEY_MAX + 1];
    if (!rl_ip_key(ip, k))
        return false;
    if (r->exempt_loopback) {
        struct in6_addr a6;
        if (strncmp(k, "127.", 4) == 0 ||
            (inet_pton(AF_INET6, ip, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6)))
            return true;
    }
    for (int i = 0; i < r->nexempt; i++)
        if (strcmp(r->exempt[i], k) == 0)
            return true;
    return false;
}
