/* ss_partition.c — the partition function, partition sets and partitioned
 * subjects (see ss_partition.h). */
#include "ss_partition.h"

#include "ss_subjects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t ss_partition_hash(const char *user_id, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a 32: offset basis, prime 16777619 */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)user_id[i];
        h *= 16777619u;
    }
    return h;
}

uint32_t ss_partition_of(const char *user_id, uint32_t count)
{
    if (count == 0)
        return 0;
    return ss_partition_hash(user_id, strlen(user_id)) % count;
}

void ss_partition_set_all(ss_partition_set *out, uint32_t count)
{
    memset(out, 0, sizeof(*out));
    out->count = count;
    for (uint32_t p = 0; p < count; p++)
        ss_partition_set_add(out, p);
}

bool ss_partition_set_has(const ss_partition_set *s, uint32_t p)
{
    return p < s->count && (s->bits[p / 64] >> (p % 64) & 1u) != 0;
}

void ss_partition_set_add(ss_partition_set *s, uint32_t p)
{
    if (p < s->count)
        s->bits[p / 64] |= (uint64_t)1 << (p % 64);
}

void ss_partition_set_del(ss_partition_set *s, uint32_t p)
{
    if (p < s->count)
        s->bits[p / 64] &= ~((uint64_t)1 << (p % 64));
}

uint32_t ss_partition_set_size(const ss_partition_set *s)
{
    uint32_t n = 0;
    for (uint32_t p = 0; p < s->count; p++)
        n += ss_partition_set_has(s, p);
    return n;
}

uint32_t ss_partition_set_next(const ss_partition_set *s, uint32_t p)
{
    while (p < s->count && !ss_partition_set_has(s, p))
        p++;
    return p < s->count ? p : s->count;
}

/* A decimal number in [b, e) with no sign, no leading zero (but "0"). */
static bool ss_part__number(const char *b, const char *e, uint32_t *out)
{
    if (b == e || e - b > 6 || (e - b > 1 && *b == '0'))
        return false;
    uint32_t v = 0;
    for (const char *p = b; p < e; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (uint32_t)(*p - '0');
    }
    *out = v;
    return true;
}

/* One item "n" or "a-b" in [b, e), trimmed; adds it to out. */
static bool ss_part__item(ss_partition_set *out, const char *b, const char *e, char *why,
                          size_t cap)
{
    while (b < e && *b == ' ')
        b++;
    while (e > b && e[-1] == ' ')
        e--;
    int n = (int)(e - b > 40 ? 40 : e - b);
    const char *dash = memchr(b, '-', (size_t)(e - b));
    uint32_t lo = 0, hi = 0;
    if (b == e) {
        snprintf(why, cap, "an empty item in the partition list");
        return false;
    }
    if (!(dash ? ss_part__number(b, dash, &lo) && ss_part__number(dash + 1, e, &hi)
               : ss_part__number(b, e, &lo))) {
        snprintf(why, cap, "'%.*s' is not a partition number or a range like 0-31", n, b);
        return false;
    }
    if (!dash)
        hi = lo;
    if (lo > hi || hi >= out->count) {
        snprintf(why, cap, "'%.*s' is not within partitions 0-%u (STATSYNC_PARTITION_COUNT %u)%s",
                 n, b, out->count - 1, out->count, lo > hi ? ", or is reversed" : "");
        return false;
    }
    for (uint32_t p = lo; p <= hi; p++) {
        if (ss_partition_set_has(out, p)) {
            snprintf(why, cap, "partition %u is listed twice ('%.*s')", p, n, b);
            return false;
        }
        ss_partition_set_add(out, p);
    }
    return true;
}

bool ss_partition_set_parse(ss_partition_set *out, const char *spec, uint32_t count, char *why,
                            size_t why_cap)
{
    memset(out, 0, sizeof(*out));
    if (why_cap > 0)
        why[0] = '\0';
    if (count == 0 || count > SS_PARTITION_COUNT_MAX) { /* an empty set of no partitions */
        snprintf(why, why_cap, "the partition count must be 1-%d", SS_PARTITION_COUNT_MAX);
        return false;
    }
    out->count = count;
    const char *p = spec ? spec : "";
    while (*p == ' ')
        p++;
    if (*p == '\0' || strcmp(p, "all") == 0) {
        ss_partition_set_all(out, count);
        return true;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        if (!ss_part__item(out, p, end, why, why_cap)) {
            memset(out->bits, 0, sizeof(out->bits));
            return false;
        }
        if (!comma)
            return true;
        p = comma + 1;
    }
}

bool ss_partition_set_format(const ss_partition_set *s, char *buf, size_t cap)
{
    size_t w = 0;
    if (cap == 0)
        return false;
    buf[0] = '\0';
    for (uint32_t p = 0; p < s->count; p++) {
        if (!ss_partition_set_has(s, p))
            continue;
        uint32_t q = p;
        while (q + 1 < s->count && ss_partition_set_has(s, q + 1))
            q++;
        int n = q == p ? snprintf(buf + w, cap - w, "%s%u", w ? "," : "", p)
                       : snprintf(buf + w, cap - w, "%s%u-%u", w ? "," : "", p, q);
        if (n < 0 || (size_t)n >= cap - w) {
            buf[0] = '\0';
            return false;
        }
        w += (size_t)n;
        p = q;
    }
    return true;
}

bool ss_subject_partitioned(char *buf, size_t cap, const char *base, uint32_t count,
                            const char *user_id)
{
    char prefix[128];
    if (cap > 0)
        buf[0] = '\0';
    if (!ss_userid_valid_cstr(user_id))
        return false;
    int n = snprintf(prefix, sizeof(prefix), "%s.%u", base, ss_partition_of(user_id, count));
    if (n < 0 || (size_t)n >= sizeof(prefix))
        return false;
    return ss_subject_user(buf, cap, prefix, user_id);
}

bool ss_subject_partition_parse(const char *subject, const char *base, uint32_t *partition)
{
    size_t bl = strlen(base);
    if (subject == NULL || strncmp(subject, base, bl) != 0 || subject[bl] != '.')
        return false;
    const char *b = subject + bl + 1, *e = strchr(b, '.');
    return e != NULL && ss_part__number(b, e, partition);
}
