/* lg_hist.h — HDR-style latency histogram: log-linear buckets, 1 µs units.
 *
 * Values below 256 are counted exactly; above, every power of two is split
 * into 128 equal sub-buckets, so a reported value is at most 1/128 (0.79 %)
 * above the true one. Values are capped at LG_HIST_MAX (about 12 days in µs).
 * Fixed size (35 KB), no allocation, not thread-safe (one per event loop). */
#ifndef LG_HIST_H
#define LG_HIST_H

#include <stdint.h>

#define LG_HIST_SUB_BITS 7
#define LG_HIST_SUB (1u << LG_HIST_SUB_BITS)          /* 128 sub-buckets per octave */
#define LG_HIST_LINEAR (2u * LG_HIST_SUB)             /* 0..255 counted exactly     */
#define LG_HIST_MAX_BITS 40
#define LG_HIST_MAX ((UINT64_C(1) << LG_HIST_MAX_BITS) - 1)
#define LG_HIST_BUCKETS (LG_HIST_LINEAR + (LG_HIST_MAX_BITS - LG_HIST_SUB_BITS - 1) * LG_HIST_SUB)

typedef struct lg_hist {
    uint64_t counts[LG_HIST_BUCKETS];
    uint64_t total;
    uint64_t max;
    uint64_t min;
    double sum;
} lg_hist;

void lg_hist_init(lg_hist *h);
void lg_hist_record(lg_hist *h, uint64_t value);

/* The value at percentile p (0 < p <= 100): the upper edge of the bucket that
 * holds the ceil(p% * total)-th smallest value, clamped to the exact max.
 * 0 when empty. */
uint64_t lg_hist_percentile(const lg_hist *h, double p);
double lg_hist_mean(const lg_hist *h);

/* Bucket arithmetic, exposed for the unit test. */
uint32_t lg_hist_index(uint64_t value);
uint64_t lg_hist_bucket_low(uint32_t index);
uint64_t lg_hist_bucket_high(uint32_t index);

#endif
