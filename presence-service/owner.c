/* owner.c — rendezvous hashing (see owner.h). Threads: any (pure). */
#include "owner.h"

#include "ss_htab.h"
#include "ss_presence_digest.h"

#include <string.h>

uint64_t owner_score(const char *instance, const char *user)
{
    uint64_t h = ss_hash(SS_HASH_INIT, instance, strlen(instance) + 1); /* NUL splits them */
    return ss_presence_mix(ss_hash(h, user, strlen(user)));
}

bool owner_beats(const char *a, const char *b, const char *user)
{
    uint64_t sa = owner_score(a, user), sb = owner_score(b, user);
    return sa != sb ? sa > sb : strcmp(a, b) < 0;
}

int owner_pick(const char *const *ids, size_t n, const char *user)
{
    int best = -1;
    for (size_t i = 0; i < n; i++)
        if (best < 0 || owner_beats(ids[i], ids[best], user))
            best = (int)i;
    return best;
}
