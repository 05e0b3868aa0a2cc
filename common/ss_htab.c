/* ss_htab.c — FNV-1a 64 and the intrusive chained hash table (ss_htab.h). */
#include "ss_htab.h"

#include <stdlib.h>

#define SS_HASH_PRIME 1099511628211ULL /* FNV-1a 64 prime */

uint64_t ss_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * SS_HASH_PRIME;
    return h;
}

int ss_htab_init(ss_htab *t, size_t buckets, ss_htab_eq_fn eq)
{
    size_t n = 1;
    while (n < buckets && n < ((size_t)1 << (sizeof(size_t) * 8 - 2)))
        n *= 2;
    t->b = calloc(n, sizeof(*t->b));
    t->mask = t->b != NULL ? n - 1 : 0;
    t->count = 0;
    t->eq = eq;
    return t->b != NULL ? 0 : -1;
}

void ss_htab_free(ss_htab *t)
{
    free(t->b);
    t->b = NULL;
    t->mask = 0;
    t->count = 0;
}

/* Twice the buckets, every entry moved to its new chain. Out of memory:
 * nothing changes (the chains only get longer). */
static void ss_htab__grow(ss_htab *t)
{
    size_t n = (t->mask + 1) * 2;
    ss_hnode **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return;
    for (size_t i = 0; i <= t->mask; i++) {
        for (ss_hnode *e = t->b[i], *next; e != NULL; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(t->b);
    t->b = b;
    t->mask = n - 1;
}

ss_hnode *ss_htab_find(const ss_htab *t, uint64_t hash, const void *key)
{
    if (t->b == NULL)
        return NULL;
    for (ss_hnode *e = t->b[hash & t->mask]; e != NULL; e = e->next)
        if (e->hash == hash && t->eq(e, key))
            return e;
    return NULL;
}

void ss_htab_add(ss_htab *t, ss_hnode *n, uint64_t hash)
{
    if (t->count + 1 > t->mask + 1)
        ss_htab__grow(t);
    n->hash = hash;
    n->next = t->b[hash & t->mask];
    t->b[hash & t->mask] = n;
    t->count++;
}

bool ss_htab_del(ss_htab *t, ss_hnode *n)
{
    if (t->b == NULL)
        return false;
    ss_hnode **pp = &t->b[n->hash & t->mask];
    while (*pp != NULL && *pp != n)
        pp = &(*pp)->next;
    if (*pp == NULL)
        return false;
    *pp = n->next;
    n->next = NULL;
    t->count--;
    return true;
}

/* The first entry of the first non-empty bucket from it->bucket on. */
static ss_hnode *ss_htab__from_bucket(ss_htab_iter *it)
{
    const ss_htab *t = it->t;
    while (t->b != NULL && it->bucket <= t->mask) {
        ss_hnode *e = t->b[it->bucket++];
        if (e != NULL) {
            it->next = e->next;
            return e;
        }
    }
    return NULL;
}

ss_hnode *ss_htab_first(ss_htab_iter *it, const ss_htab *t)
{
    it->t = t;
    it->bucket = 0;
    it->next = NULL;
    return ss_htab__from_bucket(it);
}

ss_hnode *ss_htab_next(ss_htab_iter *it)
{
    ss_hnode *e = it->next;
    if (e == NULL)
        return ss_htab__from_bucket(it);
    it->next = e->next;
    return e;
}
