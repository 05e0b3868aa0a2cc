/* registry.c — users, gateways and their sockets (see registry.h).
 *
 * Three hash tables (ss_htab: users, gateways, sockets keyed by gateway +
 * socket id); each gateway links its sockets in a list so that expiring or
 * replacing a gateway costs its own sockets only. */
#include "registry.h"

#include "ss_htab.h"
#include "ss_list.h"
#include "ss_presence_digest.h"

#include <stdlib.h>
#include <string.h>

#define REG_BUCKETS 64 /* first size of each table; they grow */

typedef struct reg_user {
    ss_hnode h;
    uint32_t count;
    int64_t changed_at; /* when count last changed */
    char id[REGISTRY_ID_MAX + 1];
} reg_user;

typedef struct reg_sock reg_sock;

typedef struct reg_gw {
    ss_hnode h;
    int64_t last_seen;  /* any message of the gateway */
    int64_t refreshed;  /* last heartbeat that vouched for all its sockets */
    int64_t interval_ms;
    uint64_t count;     /* its sockets */
    uint64_t digest;    /* ss_presence_digest of its sockets: the sum of their hashes */
    int synced;         /* its last heartbeat matched us, or a snapshot completed since */
    uint64_t snap_id;   /* snapshot in progress, when in_snap */
    uint32_t snap_next; /* next expected part */
    int in_snap;
    uint64_t gen;       /* generation of the snapshot in progress */
    ss_list socks;      /* its sockets, by reg_sock.link */
    char id[REGISTRY_ID_MAX + 1];
} reg_gw;

struct reg_sock {
    ss_hnode h;
    reg_gw *gw;
    reg_user *user;
    int64_t last_seen;
    uint64_t gen;
    uint64_t hash;         /* ss_presence_digest_socket(id, user) */
    ss_link link;          /* in its gateway's list */
    char id[REGISTRY_ID_MAX + 1];
};

static reg_sock *reg__sock_of(ss_link *k)
{
    return SS_LIST_ENTRY(k, reg_sock, link);
}

struct registry {
    registry_config cfg;
    ss_htab users, gws, socks;
};

/* ---- keys ------------------------------------------------------------------- */

static uint64_t reg__hash(const char *id)
{
    return ss_hash(SS_HASH_INIT, id, strlen(id));
}

/* A socket's key: its gateway's id, then its own (the NUL between the two
 * keeps "ab"+"c" apart from "a"+"bc"). */
typedef struct reg_sock_key {
    const char *gw, *id;
} reg_sock_key;

static uint64_t reg__sock_hash(const char *gw, const char *id)
{
    return ss_hash(ss_hash(SS_HASH_INIT, gw, strlen(gw) + 1), id, strlen(id));
}

static bool reg__user_eq(const ss_hnode *n, const void *id)
{
    return strcmp(SS_HTAB_ENTRY(n, reg_user, h)->id, id) == 0;
}

static bool reg__gw_eq(const ss_hnode *n, const void *id)
{
    return strcmp(SS_HTAB_ENTRY(n, reg_gw, h)->id, id) == 0;
}

static bool reg__sock_eq(const ss_hnode *n, const void *key)
{
    const reg_sock *s = SS_HTAB_ENTRY(n, reg_sock, h);
    const reg_sock_key *k = key;
    return strcmp(s->id, k->id) == 0 && strcmp(s->gw->id, k->gw) == 0;
}

static int reg__id_ok(const char *s)
{
    return s != NULL && s[0] != '\0' && strlen(s) <= REGISTRY_ID_MAX;
}

/* ---- lookups ------------------------------------------------------------------ */

static reg_user *reg__user(const registry *r, const char *id)
{
    ss_hnode *n = ss_htab_find(&r->users, reg__hash(id), id);
    return n != NULL ? SS_HTAB_ENTRY(n, reg_user, h) : NULL;
}

static reg_gw *reg__gw(const registry *r, const char *id)
{
    ss_hnode *n = ss_htab_find(&r->gws, reg__hash(id), id);
    return n != NULL ? SS_HTAB_ENTRY(n, reg_gw, h) : NULL;
}

static reg_sock *reg__sock(const registry *r, const char *gw, const char *id)
{
    const reg_sock_key k = {gw, id};
    ss_hnode *n = ss_htab_find(&r->socks, reg__sock_hash(gw, id), &k);
    return n != NULL ? SS_HTAB_ENTRY(n, reg_sock, h) : NULL;
}

/* The gateway entry, created when new (last_seen = now). NULL when full. */
static reg_gw *reg__gw_get(registry *r, const char *id, int64_t now)
{
    reg_gw *g = reg__gw(r, id);
    if (g == NULL) {
        if (r->gws.count >= r->cfg.max_gateways || (g = calloc(1, sizeof(*g))) == NULL)
            return NULL;
        strcpy(g->id, id);
        g->interval_ms = r->cfg.default_interval_ms;
        g->refreshed = now;
        ss_htab_add(&r->gws, &g->h, reg__hash(id));
    }
    g->last_seen = now;
    return g;
}

/* cause: the socket whose join / leave / ping changed the count, or NULL. */
static void reg__changed(registry *r, reg_user *u, const reg_sock *cause, int64_t now)
{
    u->changed_at = now;
    if (r->cfg.on_change)
        r->cfg.on_change(r->cfg.arg, u->id, u->count, cause ? cause->gw->id : NULL,
                         cause ? cause->id : NULL);
}

/* ---- sockets ------------------------------------------------------------------ */

static registry_rc reg__add(registry *r, reg_gw *g, const char *sock, const char *user,
                            int64_t now, int caused, reg_sock **out)
{
    reg_sock *s = reg__sock(r, g->id, sock);
    if (s != NULL) {
        s->last_seen = now;
        s->gen = g->gen;
        *out = s;
        if (strcmp(s->user->id, user) == 0)
            return REGISTRY_SAME;
        return REGISTRY_INVALID; /* a socket never changes user */
    }
    if (r->socks.count >= r->cfg.max_sockets)
        return REGISTRY_FULL;
    reg_user *u = reg__user(r, user);
    int new_user = u == NULL;
    if (new_user) {
        if ((u = calloc(1, sizeof(*u))) == NULL)
            return REGISTRY_INVALID;
        strcpy(u->id, user);
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        if (new_user)
            free(u);
        return REGISTRY_INVALID;
    }
    if (new_user)
        ss_htab_add(&r->users, &u->h, reg__hash(user));
    strcpy(s->id, sock);
    s->gw = g;
    s->user = u;
    s->last_seen = now;
    s->gen = g->gen;
    s->hash = ss_presence_digest_socket(sock, user);
    ss_htab_add(&r->socks, &s->h, reg__sock_hash(g->id, sock));
    ss_list_push_front(&g->socks, &s->link);
    g->count++;
    g->digest += s->hash;
    u->count++;
    reg__changed(r, u, caused ? s : NULL, now);
    *out = s;
    return REGISTRY_OK;
}

static void reg__remove(registry *r, reg_sock *s, int caused, int64_t now)
{
    reg_gw *g = s->gw;
    reg_user *u = s->user;
    ss_htab_del(&r->socks, &s->h);
    ss_list_remove(&g->socks, &s->link);
    g->count--;
    g->digest -= s->hash;
    u->count--;
    reg__changed(r, u, caused ? s : NULL, now);
    free(s);
    if (u->count == 0) {
        ss_htab_del(&r->users, &u->h);
        free(u);
    }
}

static void reg__gw_remove(registry *r, reg_gw *g, int64_t now)
{
    while (g->socks.head)
        reg__remove(r, reg__sock_of(g->socks.head), 0, now);
    ss_htab_del(&r->gws, &g->h);
    free(g);
}

/* ---- public ------------------------------------------------------------------- */

int registry_create(registry **out, const registry_config *cfg)
{
    registry *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -1;
    r->cfg = *cfg;
    if (r->cfg.default_interval_ms <= 0)
        r->cfg.default_interval_ms = 5000;
    if (ss_htab_init(&r->users, REG_BUCKETS, reg__user_eq) == 0 &&
        ss_htab_init(&r->gws, REG_BUCKETS, reg__gw_eq) == 0 &&
        ss_htab_init(&r->socks, REG_BUCKETS, reg__sock_eq) == 0) {
        *out = r;
        return 0;
    }
    registry_destroy(r); /* frees the tables that were made */
    return -1;
}

void registry_destroy(registry *r)
{
    if (r == NULL)
        return;
    r->cfg.on_change = NULL; /* no events while tearing down */
    ss_htab_iter it;
    for (ss_hnode *n = ss_htab_first(&it, &r->gws); n != NULL; n = ss_htab_next(&it))
        reg__gw_remove(r, SS_HTAB_ENTRY(n, reg_gw, h), 0);
    ss_htab_free(&r->users);
    ss_htab_free(&r->gws);
    ss_htab_free(&r->socks);
    free(r);
}

registry_rc registry_join(registry *r, const char *gw, const char *sock, const char *user,
                          int64_t now)
{
    if (!reg__id_ok(gw) || !reg__id_ok(sock) || !reg__id_ok(user))
        return REGISTRY_INVALID;
    reg_gw *g = reg__gw_get(r, gw, now);
    if (g == NULL)
        return REGISTRY_FULL;
    reg_sock *s;
    return reg__add(r, g, sock, user, now, 1, &s);
}

registry_rc registry_leave(registry *r, const char *gw, const char *sock, int64_t now)
{
    if (!reg__id_ok(gw) || !reg__id_ok(sock))
        return REGISTRY_INVALID;
    reg_gw *g = reg__gw(r, gw);
    if (g != NULL)
        g->last_seen = now; /* heard from, like any of its messages */
    reg_sock *s = reg__sock(r, gw, sock);
    if (s == NULL)
        return REGISTRY_SAME;
    reg__remove(r, s, 1, now);
    return REGISTRY_OK;
}

registry_rc registry_ping(registry *r, const char *gw, const char *sock, const char *user,
                          int64_t now, uint32_t *devices)
{
    *devices = 0;
    if (!reg__id_ok(gw) || !reg__id_ok(sock) || !reg__id_ok(user))
        return REGISTRY_INVALID;
    reg_gw *g = reg__gw_get(r, gw, now);
    registry_rc rc = REGISTRY_FULL;
    if (g != NULL) {
        reg_sock *s;
        rc = reg__add(r, g, sock, user, now, 1, &s);
    }
    *devices = registry_devices(r, user);
    return rc;
}

uint32_t registry_devices(const registry *r, const char *user)
{
    const reg_user *u = reg__id_ok(user) ? reg__user(r, user) : NULL;
    return u != NULL ? u->count : 0;
}

int registry_heartbeat(registry *r, const char *gw, uint64_t sockets, const uint64_t *digest,
                       int64_t interval_ms, int64_t now)
{
    if (!reg__id_ok(gw))
        return -1;
    reg_gw *g = reg__gw_get(r, gw, now);
    if (g == NULL)
        return -1;
    if (interval_ms > 0)
        g->interval_ms = interval_ms;
    if (g->count != sockets || (digest != NULL && g->digest != *digest)) {
        g->synced = 0;
        return 1;
    }
    g->refreshed = now;
    g->synced = 1;
    return 0;
}

registry_rc registry_snapshot(registry *r, const char *gw, uint64_t snapshot_id, uint32_t part,
                              int last, const registry_sock_ref *socks, size_t n,
                              int64_t interval_ms, int64_t now)
{
    if (!reg__id_ok(gw))
        return REGISTRY_INVALID;
    reg_gw *g = reg__gw_get(r, gw, now);
    if (g == NULL)
        return REGISTRY_FULL;
    if (interval_ms > 0)
        g->interval_ms = interval_ms;
    if (part == 0) {
        g->in_snap = 1;
        g->snap_id = snapshot_id;
        g->snap_next = 0;
        g->gen++;
    }
    if (!g->in_snap || g->snap_id != snapshot_id || g->snap_next != part)
        return REGISTRY_INVALID; /* a part of an abandoned or broken snapshot */
    g->snap_next++;
    registry_rc rc = REGISTRY_OK;
    for (size_t i = 0; i < n; i++) {
        reg_sock *s;
        if (!reg__id_ok(socks[i].sock) || !reg__id_ok(socks[i].user))
            continue;
        if (reg__add(r, g, socks[i].sock, socks[i].user, now, 0, &s) == REGISTRY_FULL)
            rc = REGISTRY_FULL;
    }
    if (last) {
        for (ss_link *k = g->socks.head, *next; k; k = next) {
            next = k->next;
            reg_sock *s = reg__sock_of(k);
            if (s->gen != g->gen)
                reg__remove(r, s, 0, now);
        }
        g->in_snap = 0;
        g->refreshed = now;
        g->synced = 1;
    }
    return rc;
}

void registry_expire(registry *r, int64_t now, size_t *gateways_out, size_t *sockets_out)
{
    size_t gws = 0, socks = 0;
    ss_htab_iter it;
    for (ss_hnode *n = ss_htab_first(&it, &r->gws); n != NULL; n = ss_htab_next(&it)) {
        reg_gw *g = SS_HTAB_ENTRY(n, reg_gw, h);
        if (now - g->last_seen > g->interval_ms * 19 / 10) {
            gws++;
            socks += g->count;
            reg__gw_remove(r, g, now);
            continue;
        }
        if (r->cfg.socket_ttl_ms <= 0 || now - g->refreshed <= r->cfg.socket_ttl_ms)
            continue; /* its heartbeat vouches for every socket */
        for (ss_link *k = g->socks.head, *kn; k; k = kn) {
            kn = k->next;
            reg_sock *s = reg__sock_of(k);
            if (now - s->last_seen > r->cfg.socket_ttl_ms) {
                socks++;
                reg__remove(r, s, 0, now);
            }
        }
    }
    if (gateways_out)
        *gateways_out = gws;
    if (sockets_out)
        *sockets_out = socks;
}

void registry_grace(registry *r, int64_t now)
{
    ss_htab_iter it;
    for (ss_hnode *n = ss_htab_first(&it, &r->gws); n != NULL; n = ss_htab_next(&it)) {
        reg_gw *g = SS_HTAB_ENTRY(n, reg_gw, h);
        g->last_seen = now;
        g->refreshed = now;
    }
}

registry_counts registry_get_counts(const registry *r)
{
    registry_counts c = {r->socks.count, r->users.count, r->gws.count};
    return c;
}

uint64_t registry_gateway_sockets(const registry *r, const char *gw)
{
    const reg_gw *g = reg__id_ok(gw) ? reg__gw(r, gw) : NULL;
    return g != NULL ? g->count : 0;
}

uint64_t registry_gateway_digest(const registry *r, const char *gw)
{
    const reg_gw *g = reg__id_ok(gw) ? reg__gw(r, gw) : NULL;
    return g != NULL ? g->digest : 0;
}

size_t registry_unsynced(const registry *r)
{
    size_t n = 0;
    ss_htab_iter it;
    for (ss_hnode *m = ss_htab_first(&it, &r->gws); m != NULL; m = ss_htab_next(&it))
        n += !SS_HTAB_ENTRY(m, reg_gw, h)->synced;
    return n;
}

size_t registry_each_user(const registry *r, int64_t since,
                          void (*fn)(void *arg, const char *user, uint32_t devices), void *arg)
{
    size_t n = 0;
    ss_htab_iter it;
    for (ss_hnode *m = ss_htab_first(&it, &r->users); m != NULL; m = ss_htab_next(&it)) {
        const reg_user *u = SS_HTAB_ENTRY(m, reg_user, h);
        if (u->changed_at >= since) {
            fn(arg, u->id, u->count);
            n++;
        }
    }
    return n;
}
