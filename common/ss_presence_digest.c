/* ss_presence_digest.c — see ss_presence_digest.h. Threads: any (pure). */
#include "ss_presence_digest.h"

#include "ss_htab.h"

#include <string.h>

uint64_t ss_presence_mix(uint64_t h)
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

uint64_t ss_presence_digest_socket(const char *socket_id, const char *user_id)
{
    uint64_t h = ss_hash(SS_HASH_INIT, socket_id, strlen(socket_id) + 1); /* the NUL splits them */
    return ss_presence_mix(ss_hash(h, user_id, strlen(user_id)));
}
