/* ss_htab.h — the one hash function (FNV-1a, 64 bit) and one small
 * intrusive chained hash table, for every map of ours that is keyed by ids.
 *
 * Intrusive: the caller embeds an ss_hnode in its own struct (one `next`
 * pointer and the cached hash: 16 bytes per entry, nothing allocated per
 * entry) and gets the struct back with SS_HTAB_ENTRY. The table never owns
 * an entry: it links and unlinks them; freeing them is the caller's.
 * Generic over the key: the caller hashes the key (ss_hash) and gives the
 * table an equality callback that compares a node with a key of its own
 * kind (a string, two strings, anything).
 *
 *   typedef struct user { ss_hnode h; char id[65]; } user;
 *   static bool user_eq(const ss_hnode *n, const void *key)
 *   { return strcmp(SS_HTAB_ENTRY(n, user, h)->id, key) == 0; }
 *   ss_htab_init(&t, 64, user_eq);
 *   ss_htab_add(&t, &u->h, ss_hash(SS_HASH_INIT, u->id, strlen(u->id)));
 *   ss_hnode *n = ss_htab_find(&t, ss_hash(SS_HASH_INIT, id, strlen(id)), id);
 *
 * The bucket array doubles when there are more entries than buckets; when
 * that allocation fails the table keeps working with longer chains.
 *
 * Threads: none inside; the caller serialises every call on one table. */
#ifndef SS_HTAB_H
#define SS_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64 offset basis: the hash of nothing, where a hash starts. */
#define SS_HASH_INIT 14695981039346656037ULL

/* FNV-1a 64 of n bytes at p, continuing from h (SS_HASH_INIT to start; the
 * result of an earlier call to hash a key made of several parts). */
uint64_t ss_hash(uint64_t h, const void *p, size_t n);

typedef struct ss_hnode {
    struct ss_hnode *next;
    uint64_t hash;
} ss_hnode;

/* The struct of type `type` whose member `member` is the node n. */
#define SS_HTAB_ENTRY(n, type, member) ((type *)(void *)((char *)(n) - offsetof(type, member)))

/* True when node n holds key (the key given to ss_htab_find). */
typedef bool (*ss_htab_eq_fn)(const ss_hnode *n, const void *key);

typedef struct ss_htab {
    ss_hnode **b;
    size_t mask;  /* buckets - 1; buckets is a power of two */
    size_t count; /* entries linked */
    ss_htab_eq_fn eq;
} ss_htab;

/* buckets: the initial bucket count (rounded up to a power of two, at least
 * 1). Returns 0, or -1 when out of memory (t is then empty and needs no
 * ss_htab_free, which is nonetheless harmless). */
int ss_htab_init(ss_htab *t, size_t buckets, ss_htab_eq_fn eq);
/* Frees the bucket array; the entries stay the caller's (unlink or forget
 * them first). */
void ss_htab_free(ss_htab *t);

/* The entry with this hash holding key, or NULL. */
ss_hnode *ss_htab_find(const ss_htab *t, uint64_t hash, const void *key);
/* Links n (not linked in any table) under hash. The caller has made sure no
 * entry holds the same key. */
void ss_htab_add(ss_htab *t, ss_hnode *n, uint64_t hash);
/* Unlinks n; false when it was not linked in t. */
bool ss_htab_del(ss_htab *t, ss_hnode *n);

/* Visits every entry once, in no particular order:
 *   ss_htab_iter it;
 *   for (ss_hnode *n = ss_htab_first(&it, &t); n; n = ss_htab_next(&it)) ...
 * The entry just returned may be unlinked (and freed) before the next call;
 * no other entry may be unlinked, and none added, until the walk ends. */
typedef struct ss_htab_iter {
    const ss_htab *t;
    size_t bucket;  /* where the walk goes on once `next` is NULL */
    ss_hnode *next; /* the entry after the one returned last */
} ss_htab_iter;
ss_hnode *ss_htab_first(ss_htab_iter *it, const ss_htab *t);
ss_hnode *ss_htab_next(ss_htab_iter *it);

#endif
