/* peers.c — the live set of presence-service instances (see peers.h).
 * A small array searched linearly: a cluster has a handful of instances. */
#include "peers.h"

#include "owner.h"

#include <stdlib.h>
#include <string.h>

typedef struct peer {
    char id[PEERS_ID_MAX + 1];
    uint64_t incarnation;
    bool ready;
    int64_t interval_ms;
    int64_t last_seen;
    int64_t last_ready; /* last announcement as ready */
    uint64_t gateways;  /* in its picture, as it last said */
} peer;

struct peers {
    char self[PEERS_ID_MAX + 1];
    uint64_t incarnation;
    bool self_ready;
    size_t n;
    peer p[PEERS_MAX];
};

static bool peers__id_ok(const char *id)
{
    return id != NULL && id[0] != '\0' && strlen(id) <= PEERS_ID_MAX;
}

int peers_create(peers **out, const char *self, uint64_t incarnation)
{
    if (!peers__id_ok(self))
        return -1;
    peers *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -1;
    strcpy(p->self, self);
    p->incarnation = incarnation;
    *out = p;
    return 0;
}

void peers_destroy(peers *p)
{
    free(p);
}

const char *peers_self(const peers *p)
{
    return p->self;
}

void peers_set_ready(peers *p, bool ready)
{
    p->self_ready = ready;
}

bool peers_self_ready(const peers *p)
{
    return p->self_ready;
}

static peer *peers__find(peers *p, const char *id)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->p[i].id, id) == 0)
            return &p->p[i];
    return NULL;
}

static peer *peers__add(peers *p, const char *id, uint64_t incarnation)
{
    if (p->n >= PEERS_MAX)
        return NULL;
    peer *e = &p->p[p->n++];
    memset(e, 0, sizeof(*e));
    strcpy(e->id, id);
    e->incarnation = incarnation;
    return e;
}

peers_rc peers_seen(peers *p, const peers_word *w, int64_t now, int64_t *last_ready)
{
    if (!peers__id_ok(w->id))
        return PEERS_INVALID;
    if (strcmp(w->id, p->self) == 0)
        return w->incarnation == p->incarnation ? PEERS_SAME : PEERS_CLASH;
    peer *e = peers__find(p, w->id);
    if (e == NULL && (e = peers__add(p, w->id, w->incarnation)) == NULL)
        return PEERS_FULL;
    e->last_seen = now;
    if (w->interval_ms > 0)
        e->interval_ms = w->interval_ms;
    e->gateways = w->gateways;
    bool was = e->ready, ready = w->ready;
    int64_t was_ready_at = e->last_ready;
    if (e->incarnation != w->incarnation) {
        /* restarted: whatever it says, out of the set until its next word */
        e->incarnation = w->incarnation;
        ready = false;
    }
    e->ready = ready;
    if (ready)
        e->last_ready = now;
    if (was == ready)
        return PEERS_SAME;
    if (!ready && last_ready != NULL)
        *last_ready = was_ready_at;
    return ready ? PEERS_JOINED : PEERS_LEFT;
}

size_t peers_expire(peers *p, int64_t now,
                    void (*gone)(void *arg, const char *id, int64_t last_ready), void *arg)
{
    size_t dropped = 0;
    for (size_t i = 0; i < p->n;) {
        peer *e = &p->p[i];
        int64_t interval = e->interval_ms > 0 ? e->interval_ms : 1000;
        if (now - e->last_seen <= PEERS_EXPIRY * interval) {
            i++;
            continue;
        }
        peer was = *e;
        p->p[i] = p->p[--p->n]; /* order does not matter */
        dropped++;
        if (was.ready && gone != NULL)
            gone(arg, was.id, was.last_ready);
    }
    return dropped;
}

size_t peers_ready_count(const peers *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += p->p[i].ready;
    return n;
}

size_t peers_count(const peers *p)
{
    return p->n;
}

uint64_t peers_most_gateways(const peers *p)
{
    uint64_t most = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->p[i].ready && p->p[i].gateways > most)
            most = p->p[i].gateways;
    return most;
}

bool peers_sync_done(int64_t elapsed, int64_t settle, int64_t cap, size_t unsynced,
                     uint64_t gateways, uint64_t most_known)
{
    if (elapsed >= cap)
        return true;
    return elapsed >= settle && unsynced == 0 && gateways >= most_known;
}

bool peers_owns(const peers *p, const char *user)
{
    if (!p->self_ready)
        return false;
    for (size_t i = 0; i < p->n; i++)
        if (p->p[i].ready && owner_beats(p->p[i].id, p->self, user))
            return false;
    return true;
}

bool peers_took_over(const peers *p, const char *gone, const char *user)
{
    return peers_owns(p, user) && owner_beats(gone, p->self, user);
}
