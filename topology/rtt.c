/* topology/rtt.c — great-circle distance and the geographic RTT model.
 *
 * Model: RTT(km) = 2 * km * inflation / fiber_km_per_ms + overhead_ms.
 *   - fiber_km_per_ms: light in silica fiber, c / n with n ≈ 1.467
 *     → 299,792.458 / 1.467 ≈ 204.36 km/ms (≈ 4.9 µs per km).
 *   - inflation: real paths are longer than the great circle (cable routes,
 *     peering detours). The textbook rule of thumb (Bozkurt et al.,
 *     "Dissecting Latency in the Internet's Fiber Infrastructure") is 2.1.
 *   - overhead_ms: a fixed cost per round trip (switching, last hops,
 *     in-metro distances the city coordinates cannot see).
 *
 * Defaults come from fitting the measured Azure inter-region p50 matrix
 * (MicrosoftDocs/azure-docs, 2026-07; 2,862 directed pairs between 54
 * regions; tests/fixtures/topo/azure_rtt_p50.csv) with wp_rtt_fit_pairs:
 *   textbook (inflation 2.1, overhead 2 ms): median |error| 25.7%, p90 52.9%
 *     — it overestimates every long path: backbones between cloud regions
 *     are far straighter than the general Internet the rule describes;
 *   fitted: inflation 1.582, overhead 5.84 ms: median 12.3%, p90 31.8%;
 *   the defaults round these to 1.58 and 5.8 ms (median 12.3%, p90 31.6%).
 * Frankfurt–Singapore (10,260 km) then comes out at ~165 ms, inside the
 * 150–170 ms measured by public pings.
 *
 * The fit. We choose the (a, b) of rtt ≈ a*km + b that minimises the sum of
 * squared RELATIVE errors, Σ ((a*km_i + b − y_i) / y_i)², i.e. weighted
 * least squares with weights 1/y_i². Plain least squares minimises
 * absolute errors, so it is ruled by the longest (200–300 ms) paths and
 * leaves the short ones — the ones an edge router cares about — with large
 * relative errors (on the Azure matrix: inflation 1.50, overhead 20 ms,
 * median 16.2%, p90 48%). The relative weighting matches the figure we report (the
 * absolute percentage error) and halves p90. Pairs at 0 km (two regions in
 * one metro) are kept: they pin the overhead. The normal equations are
 * solved in closed form (2×2); n ≥ 2 pairs with at least two distinct
 * distances are required. inflation = a * fiber_km_per_ms / 2.
 */
#include "topology/topology_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEG2RAD (3.14159265358979323846 / 180.0)

double wp_geo_distance_km(double lat1, double lon1, double lat2, double lon2)
{
    double p1 = lat1 * DEG2RAD, p2 = lat2 * DEG2RAD;
    double dp = p2 - p1, dl = (lon2 - lon1) * DEG2RAD;
    double sdp = sin(dp / 2), sdl = sin(dl / 2);
    double h = sdp * sdp + cos(p1) * cos(p2) * sdl * sdl;
    if (h > 1.0)
        h = 1.0;
    return 2.0 * WP_EARTH_RADIUS_KM * asin(sqrt(h));
}

/* Fitted on the Azure matrix (see the essay above). */
#define WP_FIBER_KM_PER_MS (299792.458 / 1.467 / 1000.0)
#define WP_RTT_DEFAULT_INFLATION 1.58
#define WP_RTT_DEFAULT_OVERHEAD_MS 5.8

void wp_rtt_params_default(wp_rtt_params *p)
{
    p->fiber_km_per_ms = WP_FIBER_KM_PER_MS;
    p->inflation = WP_RTT_DEFAULT_INFLATION;
    p->overhead_ms = WP_RTT_DEFAULT_OVERHEAD_MS;
    p->jitter_ms = 0.0;
}

int wp__rtt_params_check(const wp_rtt_params *p, wp_err *err)
{
    if (!(isfinite(p->fiber_km_per_ms) && p->fiber_km_per_ms > 0))
        return wp_errf(err, WP_EINVAL, "rtt model: fiber_km_per_ms must be > 0");
    if (!(isfinite(p->inflation) && p->inflation > 0))
        return wp_errf(err, WP_EINVAL, "rtt model: inflation must be > 0");
    if (!(isfinite(p->overhead_ms) && p->overhead_ms >= 0))
        return wp_errf(err, WP_EINVAL, "rtt model: overhead_ms must be >= 0");
    if (!(isfinite(p->jitter_ms) && p->jitter_ms >= 0))
        return wp_errf(err, WP_EINVAL, "rtt model: jitter_ms must be >= 0");
    return WP_OK;
}

double wp_rtt_ms_for_km(const wp_rtt_params *p, double km)
{
    return 2.0 * km * p->inflation / p->fiber_km_per_ms + p->overhead_ms;
}

double wp_rtt_ms_between(const wp_rtt_params *p, double lat1, double lon1, double lat2,
                         double lon2)
{
    return wp_rtt_ms_for_km(p, wp_geo_distance_km(lat1, lon1, lat2, lon2));
}

double wp_rtt_jitter(const wp_rtt_params *p, double base_ms, wp_rng *rng)
{
    if (p->jitter_ms <= 0 || rng == NULL)
        return base_ms;
    return base_ms + wp_rng_exp(rng, p->jitter_ms);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile q of sorted v[0..n-1] by linear interpolation between ranks. */
static double quantile_sorted(const double *v, size_t n, double q)
{
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)pos;
    if (lo + 1 >= n)
        return v[n - 1];
    double f = pos - (double)lo;
    return v[lo] + f * (v[lo + 1] - v[lo]);
}

static int check_pairs(const double *km, const double *rtt_ms, size_t n, wp_err *err)
{
    if (n == 0)
        return wp_errf(err, WP_EINVAL, "rtt fit: no pairs");
    for (size_t i = 0; i < n; i++) {
        if (!(isfinite(km[i]) && km[i] >= 0))
            return wp_errf(err, WP_EINVAL, "rtt fit: pair %zu: distance must be >= 0 km", i + 1);
        if (!(isfinite(rtt_ms[i]) && rtt_ms[i] > 0))
            return wp_errf(err, WP_EINVAL, "rtt fit: pair %zu: rtt_ms must be > 0, got %g",
                           i + 1, rtt_ms[i]);
    }
    return WP_OK;
}

/* Fills out from the absolute percentage errors of p on the pairs. */
static int fill_errors(const wp_rtt_params *p, const double *km, const double *rtt_ms, size_t n,
                       wp_rtt_fit *out, wp_err *err)
{
    double *pct = malloc(n * sizeof *pct);
    if (pct == NULL)
        return wp_errf(err, WP_ENOMEM, "rtt fit: out of memory");
    for (size_t i = 0; i < n; i++)
        pct[i] = fabs(wp_rtt_ms_for_km(p, km[i]) - rtt_ms[i]) / rtt_ms[i] * 100.0;
    qsort(pct, n, sizeof *pct, cmp_double);
    out->inflation = p->inflation;
    out->overhead_ms = p->overhead_ms;
    out->pairs = n;
    out->median_abs_pct_err = quantile_sorted(pct, n, 0.5);
    out->p90_abs_pct_err = quantile_sorted(pct, n, 0.9);
    free(pct);
    return WP_OK;
}

int wp_rtt_evaluate(const wp_rtt_params *p, const double *km, const double *rtt_ms, size_t n,
                    wp_rtt_fit *out, wp_err *err)
{
    int rv = check_pairs(km, rtt_ms, n, err);
    if (rv != WP_OK)
        return rv;
    if ((rv = wp__rtt_params_check(p, err)) != WP_OK)
        return rv;
    return fill_errors(p, km, rtt_ms, n, out, err);
}

int wp_rtt_fit_pairs(const double *km, const double *rtt_ms, size_t n, double fiber_km_per_ms,
                     wp_rtt_fit *out, wp_err *err)
{
    int rv = check_pairs(km, rtt_ms, n, err);
    if (rv != WP_OK)
        return rv;
    if (!(isfinite(fiber_km_per_ms) && fiber_km_per_ms > 0))
        return wp_errf(err, WP_EINVAL, "rtt fit: fiber_km_per_ms must be > 0");
    if (n < 2)
        return wp_errf(err, WP_EINVAL, "rtt fit: need at least 2 pairs, got %zu", n);
    /* Weighted normal equations, weights 1/y². Distances are scaled to
     * 1000s of km to keep the sums well conditioned. */
    double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        double w = 1.0 / (rtt_ms[i] * rtt_ms[i]);
        double x = km[i] / 1000.0, y = rtt_ms[i];
        sw += w;
        sx += w * x;
        sy += w * y;
        sxx += w * x * x;
        sxy += w * x * y;
    }
    double det = sw * sxx - sx * sx;
    if (!(fabs(det) > 1e-12 * sw * sxx))
        return wp_errf(err, WP_EINVAL,
                       "rtt fit: all %zu pairs have the same distance; cannot separate "
                       "inflation from overhead",
                       n);
    double a = (sw * sxy - sx * sy) / det / 1000.0; /* ms per km */
    double b = (sy - a * 1000.0 * sx) / sw;
    wp_rtt_params p = {
        .fiber_km_per_ms = fiber_km_per_ms,
        .inflation = a * fiber_km_per_ms / 2.0,
        .overhead_ms = b,
        .jitter_ms = 0,
    };
    /* RTT that does not grow with distance is data this model cannot
     * describe: say so rather than report a meaningless inflation. A
     * negative overhead, by contrast, is a fact about the data (paths
     * straighter than assumed at short range) and is reported as it is. */
    if (!(p.inflation > 0))
        return wp_errf(err, WP_ERANGE,
                       "rtt fit: measured RTTs do not grow with distance (fitted inflation "
                       "%.3f); the model cannot describe these %zu pairs",
                       p.inflation, n);
    return fill_errors(&p, km, rtt_ms, n, out, err);
}
