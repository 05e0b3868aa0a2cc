/* lg_hist.c — see lg_hist.h. */
#include "lg_hist.h"

#include <string.h>

void lg_hist_init(lg_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

uint32_t lg_hist_index(uint64_t v)
{
    if (v > LG_HIST_MAX)
        v = LG_HIST_MAX;
    if (v < LG_HIST_LINEAR)
        return (uint32_t)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= 8 */
    unsigned shift = msb - LG_HIST_SUB_BITS;           /* >= 1: v >> shift is in [128, 255] */
    return LG_HIST_LINEAR + (shift - 1) * LG_HIST_SUB + (uint32_t)((v >> shift) - LG_HIST_SUB);
}

uint64_t lg_hist_bucket_low(uint32_t i)
{
    if (i < LG_HIST_LINEAR)
        return i;
    unsigned shift = (i - LG_HIST_LINEAR) / LG_HIST_SUB + 1;
    uint64_t sub = (i - LG_HIST_LINEAR) % LG_HIST_SUB + LG_HIST_SUB;
    return sub << shift;
}

uint64_t lg_hist_bucket_high(uint32_t i)
{
    if (i < LG_HIST_LINEAR)
        return i;
    unsigned shift = (i - LG_HIST_LINEAR) / LG_HIST_SUB + 1;
    uint64_t sub = (i - LG_HIST_LINEAR) % LG_HIST_SUB + LG_HIST_SUB;
    return ((sub + 1) << shift) - 1;
}

void lg_hist_record(lg_hist *h, uint64_t v)
{
    if (v > LG_HIST_MAX)
        v = LG_HIST_MAX;
    h->counts[lg_hist_index(v)]++;
    h->total++;
    h->sum += (double)v;
    if (v > h->max)
        h->max = v;
    if (v < h->min)
        h->min = v;
}

uint64_t lg_hist_percentile(const lg_hist *h, double p)
{
    if (h->total == 0)
        return 0;
    if (p > 100.0)
        p = 100.0;
    double want = p / 100.0 * (double)h->total;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < LG_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t hi = lg_hist_bucket_high(i);
            return hi < h->max ? hi : h->max;
        }
    }
    return h->max;
}

double lg_hist_mean(const lg_hist *h)
{
    return h->total ? h->sum / (double)h->total : 0.0;
}
