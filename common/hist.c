/* hist.c — a mergeable log-linear latency histogram.
 *
 * What it does. Records non-negative integers (nanoseconds, by our
 * convention) into fixed buckets and answers quantiles without keeping
 * samples, so a simulator can record a hundred million latencies in 58 KiB
 * and two runs (or two regions) can be merged by adding bucket counts.
 *
 * The buckets. Values 0..255 each have their own bucket (exact). Above, the
 * range [2^e, 2^(e+1)) is split into 128 equal sub-buckets of width
 * 2^(e-7). A value v with top bit e therefore lands in sub-bucket
 * m = v >> (e-7), m in [128, 256), at index (e-6)*128 + (m-128). This is
 * the layout HdrHistogram uses with 7 significant bits, computed from the
 * bit length alone (one clz, one shift) rather than a logarithm.
 *
 * The bound. A bucket [lo, lo + w) has w <= lo/128. Reporting its midpoint
 * errs by at most w/2 <= lo/256 < 0.4% of any value in it — inside the 1%
 * the reports promise. Clamping the answer to the exact [min, max] seen
 * keeps the extremes exact.
 *
 * Quantiles use the nearest-rank definition: the q-quantile is the value of
 * rank ceil(q*n) in sorted order (rank 1 for q = 0). One pass over the
 * buckets: O(buckets), 7424 additions at worst.
 */
#include "common/common.h"

#include <math.h>
#include <string.h>

void wp_hist_init(wp_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

size_t wp_hist_bucket_of(uint64_t v)
{
    if (v < 2 * WP_HIST_SUB)
        return (size_t)v;
    int e = 63 - __builtin_clzll(v);
    int shift = e - WP_HIST_SUB_BITS;
    uint64_t m = v >> shift; /* in [128, 256) */
    return (size_t)(shift + 1) * WP_HIST_SUB + (size_t)(m - WP_HIST_SUB);
}

void wp_hist_bucket_range(size_t idx, uint64_t *lo, uint64_t *hi)
{
    if (idx < 2 * WP_HIST_SUB) {
        *lo = *hi = idx;
        return;
    }
    size_t group = idx / WP_HIST_SUB; /* >= 2 */
    int shift = (int)group - 1;
    uint64_t m = WP_HIST_SUB + idx % WP_HIST_SUB;
    *lo = m << shift;
    *hi = *lo + ((1ULL << shift) - 1);
}

void wp_hist_record_n(wp_hist *h, uint64_t v, uint64_t n)
{
    if (n == 0)
        return;
    h->buckets[wp_hist_bucket_of(v)] += n;
    h->count += n;
    h->sum += (double)v * (double)n;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void wp_hist_record(wp_hist *h, uint64_t v) { wp_hist_record_n(h, v, 1); }

void wp_hist_merge(wp_hist *into, const wp_hist *from)
{
    if (from->count == 0)
        return;
    for (size_t i = 0; i < WP_HIST_BUCKETS; i++)
        into->buckets[i] += from->buckets[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t wp_hist_quantile(const wp_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (!(q > 0.0))
        return h->min;
    if (q >= 1.0)
        return h->max;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1)
        rank = 1;
    uint64_t cum = 0;
    for (size_t i = 0; i < WP_HIST_BUCKETS; i++) {
        cum += h->buckets[i];
        if (cum >= rank) {
            uint64_t lo, hi;
            wp_hist_bucket_range(i, &lo, &hi);
            uint64_t mid = lo + (hi - lo) / 2;
            if (mid < h->min)
                mid = h->min;
            if (mid > h->max)
                mid = h->max;
            return mid;
        }
    }
    return h->max;
}

double wp_hist_mean(const wp_hist *h) { return h->count ? h->sum / (double)h->count : 0.0; }
