/* rng.c — xoshiro256** with splitmix64 seeding, and the draws the
 * simulator needs (uniform, bounded, exponential, normal, lognormal, Zipf).
 *
 * xoshiro256** is Blackman & Vigna's all-purpose generator ("Scrambled
 * linear pseudorandom number generators", 2018): 256 bits of state, period
 * 2^256 - 1, passes BigCrush. Written here from the published recurrence. */
#include "common/common.h"

#include <math.h>
#include <stdlib.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void wp_rng_seed(wp_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t wp_rng_u64(wp_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double wp_rng_uniform(wp_rng *r) { return (double)(wp_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t wp_rng_below(wp_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift with rejection of the biased low band. */
    __uint128_t m = (__uint128_t)wp_rng_u64(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t t = -n % n;
        while (lo < t) {
            m = (__uint128_t)wp_rng_u64(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double wp_rng_exp(wp_rng *r, double mean)
{
    /* 1 - U is in (0, 1], so the log is finite. */
    return -mean * log(1.0 - wp_rng_uniform(r));
}

double wp_rng_normal(wp_rng *r)
{
    double u, v, s;
    do {
        u = 2.0 * wp_rng_uniform(r) - 1.0;
        v = 2.0 * wp_rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    /* The polar method yields two normals; we keep one so a draw always
     * consumes the generator the same way regardless of history. */
    return u * sqrt(-2.0 * log(s) / s);
}

double wp_rng_lognormal(wp_rng *r, double mu, double sigma)
{
    return exp(mu + sigma * wp_rng_normal(r));
}

void wp_rng_fork(wp_rng *parent, wp_rng *child) { wp_rng_seed(child, wp_rng_u64(parent)); }

int wp_zipf_init(wp_zipf *z, size_t n, double s)
{
    z->n = 0;
    z->cdf = NULL;
    if (n == 0 || !(s >= 0.0) || !isfinite(s))
        return WP_EINVAL;
    z->cdf = malloc(n * sizeof *z->cdf);
    if (z->cdf == NULL)
        return WP_ENOMEM;
    double acc = 0.0;
    for (size_t k = 0; k < n; k++) {
        acc += pow((double)(k + 1), -s);
        z->cdf[k] = acc;
    }
    for (size_t k = 0; k < n; k++)
        z->cdf[k] /= acc;
    z->cdf[n - 1] = 1.0;
    z->n = n;
    z->s = s;
    return WP_OK;
}

void wp_zipf_close(wp_zipf *z)
{
    free(z->cdf);
    z->cdf = NULL;
    z->n = 0;
}

size_t wp_zipf_draw(const wp_zipf *z, wp_rng *r)
{
    double u = wp_rng_uniform(r);
    size_t lo = 0, hi = z->n - 1;
    while (lo < hi) { /* first k with cdf[k] > u */
        size_t mid = lo + (hi - lo) / 2;
        if (z->cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

double wp_zipf_pmf(const wp_zipf *z, size_t k)
{
    if (k >= z->n)
        return 0.0;
    return k == 0 ? z->cdf[0] : z->cdf[k] - z->cdf[k - 1];
}
