/* topology/rtt.c — great-circle distance and the geographic RTT model.
 *
 * Two versions share one formula, RTT = 2 * km * inflation / fiber + overhead:
 *   v2 (the default): km is the shortest path over the backbone graph
 *     (graph.c) with land links x land_factor, and users' legs add their
 *     country's access latency (access.c). Calibrated on RIPE Atlas public
 *     pings between countries by calib.c: land_factor 1.8, inflation 1.252,
 *     overhead 0 ms (a negative intercept clamped: see calib.c). On held-out
 *     RIPE rows (network + access vs rtt_avg) median |error| 17.0%, p90
 *     50.4%, median signed -9.2%; on Azure's DC-to-DC matrix (network only)
 *     14.1% / 30.4% / +9.0% (public paths lie above Azure's backbone).
 *   v1 (--great-circle, wp_rtt_params_v1): the great circle x 1.58 + 5.8 ms,
 *     fitted on Azure's private backbone, as described below.
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

#include <ctype.h>
#include <errno.h>
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
/* v2: what `wpctl topo fit --measured ripe_atlas_country_rtt_2025.csv`
 * wrote to topology/data/rtt_v2.params, which is embedded and read by
 * wp_rtt_params_default (with its border terms). These constants are the
 * fallback should the embedded file not parse (test_rtt2 checks it does
 * and that they agree). */
#define WP_RTT_V2_INFLATION 1.251898
#define WP_RTT_V2_OVERHEAD_MS 0.0
#define WP_RTT_V2_LAND_FACTOR 1.8

void wp_rtt_params_v1(wp_rtt_params *p)
{
    memset(p, 0, sizeof *p);
    p->fiber_km_per_ms = WP_FIBER_KM_PER_MS;
    p->inflation = WP_RTT_DEFAULT_INFLATION;
    p->overhead_ms = WP_RTT_DEFAULT_OVERHEAD_MS;
    p->paths = WP_RTT_PATHS_GREAT_CIRCLE;
    p->land_factor = 1.0;
    snprintf(p->source, sizeof p->source, "v1 default");
}

static void params_builtin(wp_rtt_params *p)
{
    memset(p, 0, sizeof *p);
    p->fiber_km_per_ms = WP_FIBER_KM_PER_MS;
    p->inflation = WP_RTT_V2_INFLATION;
    p->overhead_ms = WP_RTT_V2_OVERHEAD_MS;
    p->paths = WP_RTT_PATHS_GRAPH;
    p->land_factor = WP_RTT_V2_LAND_FACTOR;
    p->access = true;
}

static int params_parse(const char *name, const char *text, size_t len, wp_rtt_params *q,
                        wp_err *err);

void wp_rtt_params_default(wp_rtt_params *p)
{
    params_builtin(p);
    for (size_t i = 0; i < wp_topo_blob_count; i++)
        if (strcmp(wp_topo_blobs[i].name, "rtt_v2") == 0) {
            wp_rtt_params q;
            wp_err err;
            if (params_parse("rtt_v2.params", (const char *)wp_topo_blobs[i].data,
                             wp_topo_blobs[i].len, &q, &err) == WP_OK)
                *p = q;
        }
    snprintf(p->source, sizeof p->source, "v2 default");
}

static int border_slot(const char *iso2)
{
    if (!iso2 || !isupper((unsigned char)iso2[0]) || !isupper((unsigned char)iso2[1]) ||
        iso2[2] != '\0')
        return -1;
    return (iso2[0] - 'A') * 26 + (iso2[1] - 'A');
}

double wp_rtt_border_ms(const wp_rtt_params *p, const char *c1, const char *c2)
{
    if (p->n_border == 0)
        return 0.0;
    int a = border_slot(c1), b = border_slot(c2);
    if (a < 0 || b < 0 || a == b)
        return 0.0;
    return (double)p->border_ms[a] + (double)p->border_ms[b];
}

int wp_rtt_border_set(wp_rtt_params *p, const char *iso2, double ms, wp_err *err)
{
    int k = border_slot(iso2);
    if (k < 0)
        return wp_errf(err, WP_EINVAL, "border: '%.8s' is not an ISO 3166-1 alpha-2 code",
                       iso2 ? iso2 : "");
    if (!(isfinite(ms) && ms >= 0 && ms <= 1000))
        return wp_errf(err, WP_EINVAL, "border %s: expected 0..1000 ms, got %g", iso2, ms);
    if ((p->border_ms[k] != 0) != (ms != 0))
        p->n_border += ms != 0 ? 1 : -1u;
    p->border_ms[k] = (float)ms;
    return WP_OK;
}

void wp_rtt_params_describe(const wp_rtt_params *p, char *buf, size_t len)
{
    char borders[40] = "";
    if (p->n_border)
        snprintf(borders, sizeof borders, ", border terms for %u countries", p->n_border);
    if (p->paths == WP_RTT_PATHS_GRAPH)
        snprintf(buf, len, "graph paths (land x%.2f), inflation %.3f, overhead %.2f ms, access %s"
                 "%s [%s]", p->land_factor, p->inflation, p->overhead_ms,
                 p->access ? "on" : "off", borders, p->source[0] ? p->source : "given");
    else
        snprintf(buf, len, "great circle, inflation %.3f, overhead %.2f ms, access %s%s [%s]",
                 p->inflation, p->overhead_ms, p->access ? "on" : "off", borders,
                 p->source[0] ? p->source : "given");
}

int wp_rtt_params_write(FILE *fp, const wp_rtt_params *p)
{
    fprintf(fp, "# warmpath RTT model parameters (wpctl topo fit; see topology/rtt.c)\n");
    fprintf(fp, "version 2\n");
    fprintf(fp, "paths %s\n", p->paths == WP_RTT_PATHS_GRAPH ? "graph" : "great-circle");
    fprintf(fp, "fiber_km_per_ms %.6f\n", p->fiber_km_per_ms);
    fprintf(fp, "inflation %.6f\n", p->inflation);
    fprintf(fp, "overhead_ms %.6f\n", p->overhead_ms);
    fprintf(fp, "land_factor %.6f\n", p->land_factor);
    fprintf(fp, "access %s\n", p->access ? "mlab" : "none");
    fprintf(fp, "jitter_ms %.6f\n", p->jitter_ms);
    if (p->n_border)
        fprintf(fp, "# border CC MS: added at each end of a leg between two countries\n");
    for (int k = 0; k < 26 * 26; k++)
        if (p->border_ms[k] != 0)
            fprintf(fp, "border %c%c %.2f\n", 'A' + k / 26, 'A' + k % 26, p->border_ms[k]);
    return ferror(fp) ? WP_EIO : WP_OK;
}

/* One "key value" line of a parameter file. */
static int params_line(const char *path, long line, char *s, wp_rtt_params *p, wp_err *err)
{
    char *key = strtok(s, " \t\r\n");
    if (key == NULL || key[0] == '#')
        return WP_OK;
    char *val = strtok(NULL, " \t\r\n");
    char *extra = val ? strtok(NULL, " \t\r\n") : NULL;
    if (strcmp(key, "border") == 0) { /* border CC MS */
        double ms = 0;
        char *more = extra ? strtok(NULL, " \t\r\n") : NULL;
        if (val == NULL || extra == NULL || (more && more[0] != '#') ||
            wp_parse_double(extra, &ms) != WP_OK)
            return wp_errf(err, WP_EPARSE, "%s:%ld: expected 'border CC MS'", path, line);
        wp_err why;
        if (wp_rtt_border_set(p, val, ms, &why) != WP_OK)
            return wp_errf(err, WP_EPARSE, "%s:%ld: %s", path, line, why.msg);
        return WP_OK;
    }
    if (val == NULL || (extra && extra[0] != '#'))
        return wp_errf(err, WP_EPARSE, "%s:%ld: expected 'key value', got '%.40s'", path, line,
                       key);
    double v = 0;
    bool num = wp_parse_double(val, &v) == WP_OK && isfinite(v);
    if (strcmp(key, "version") == 0) {
        if (!num || (v != 1 && v != 2))
            return wp_errf(err, WP_EPARSE, "%s:%ld: version: expected 1 or 2, got '%.32s'",
                           path, line, val);
    } else if (strcmp(key, "paths") == 0) {
        if (strcmp(val, "graph") == 0)
            p->paths = WP_RTT_PATHS_GRAPH;
        else if (strcmp(val, "great-circle") == 0)
            p->paths = WP_RTT_PATHS_GREAT_CIRCLE;
        else
            return wp_errf(err, WP_EPARSE,
                           "%s:%ld: paths: expected graph or great-circle, got '%.32s'", path,
                           line, val);
    } else if (strcmp(key, "access") == 0) {
        if (strcmp(val, "mlab") == 0)
            p->access = true;
        else if (strcmp(val, "none") == 0)
            p->access = false;
        else
            return wp_errf(err, WP_EPARSE, "%s:%ld: access: expected mlab or none, got '%.32s'",
                           path, line, val);
    } else {
        static const char *const keys[] = {"fiber_km_per_ms", "inflation", "overhead_ms",
                                           "land_factor", "jitter_ms"};
        double *slot[] = {&p->fiber_km_per_ms, &p->inflation, &p->overhead_ms, &p->land_factor,
                          &p->jitter_ms};
        size_t k = 0;
        while (k < 5 && strcmp(key, keys[k]) != 0)
            k++;
        if (k == 5)
            return wp_errf(err, WP_EPARSE, "%s:%ld: unknown key '%.40s'", path, line, key);
        if (!num)
            return wp_errf(err, WP_EPARSE, "%s:%ld: %s: expected a number, got '%.32s'", path,
                           line, key, val);
        *slot[k] = v;
    }
    return WP_OK;
}

#define PARAMS_MAX_BYTES (64u << 10)
#define PARAMS_MAX_LINE 512

/* Parses a parameter file's text (name for messages) over the built-in
 * v2 values without border terms. */
static int params_parse(const char *name, const char *text, size_t len, wp_rtt_params *p,
                        wp_err *err)
{
    wp_rtt_params q;
    params_builtin(&q);
    char buf[PARAMS_MAX_LINE];
    long line = 0;
    int rv = WP_OK;
    for (size_t at = 0; rv == WP_OK && at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        line++;
        if (line > 1000)
            rv = wp_errf(err, WP_ETOOBIG, "%s: more than 1000 lines (not a parameter file)",
                         name);
        else if (n >= sizeof buf)
            rv = wp_errf(err, WP_EPARSE, "%s:%ld: line longer than %zu bytes", name, line,
                         sizeof buf - 1);
        else if (memchr(text + at, '\0', n))
            rv = wp_errf(err, WP_EPARSE, "%s:%ld: a NUL byte (not a parameter file)", name,
                         line);
        else {
            memcpy(buf, text + at, n);
            buf[n] = '\0';
            rv = params_line(name, line, buf, &q, err);
        }
        at += n + 1;
    }
    if (rv != WP_OK)
        return rv;
    if (line == 0)
        return wp_errf(err, WP_EPARSE, "%s: empty parameter file", name);
    wp_err why = {0};
    if ((rv = wp__rtt_params_check(&q, &why)) != WP_OK)
        return wp_errf(err, rv, "%s: %s", name, why.msg);
    snprintf(q.source, sizeof q.source, "%s", name);
    *p = q;
    return WP_OK;
}

int wp_rtt_params_load(const char *path, wp_rtt_params *p, wp_err *err)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return wp_errf(err, WP_EIO, "%s: cannot open: %s", path, strerror(errno));
    char *text = malloc(PARAMS_MAX_BYTES + 1);
    size_t len = text ? fread(text, 1, PARAMS_MAX_BYTES + 1, fp) : 0;
    bool bad = text && ferror(fp);
    fclose(fp);
    int rv;
    if (!text)
        rv = wp_errf(err, WP_ENOMEM, "%s: out of memory", path);
    else if (bad)
        rv = wp_errf(err, WP_EIO, "%s: read error", path);
    else if (len > PARAMS_MAX_BYTES)
        rv = wp_errf(err, WP_ETOOBIG, "%s: over %u bytes (not a parameter file)", path,
                     PARAMS_MAX_BYTES);
    else
        rv = params_parse(path, text, len, p, err);
    free(text);
    return rv;
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
    if (p->paths == WP_RTT_PATHS_GRAPH && !(isfinite(p->land_factor) && p->land_factor >= 1 &&
                                            p->land_factor <= 10))
        return wp_errf(err, WP_EINVAL, "rtt model: land_factor must be in 1..10");
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

/* ---------------------------------------------------------------- robust fit
 *
 * Why not weighted least squares on 1/y² alone (v1's fit): on RIPE Atlas
 * country pairs a few percent of the rows are wild (AS-registration
 * countries: a "Brazil" probe hosted in Miami), and squared relative
 * errors let them pull the line. IRLS with Huber weights: each round
 * solves the weighted normal equations with weights h(r_i) / y_i², where
 * r_i = (pred_i - y_i) / y_i and h = 1 inside k*scale, k*scale/|r| outside
 * (k = 1.345, scale = 1.4826 * MAD of r: 95% efficiency on clean normal
 * residuals, bounded influence of outliers). Stops when the coefficients
 * move less than 1e-9 relative, or after 100 rounds. With z, the third
 * coefficient s is kept in [0, 1]: outside, it is fixed at the bound and
 * the other two refitted.
 */

/* Solves the k x k system A x = b (k <= 3) by Gaussian elimination with
 * partial pivoting; WP_ERANGE if singular. */
static int solve_small(double A[3][3], double b[3], int k, double x[3])
{
    for (int c = 0; c < k; c++) {
        int piv = c;
        for (int r = c + 1; r < k; r++)
            if (fabs(A[r][c]) > fabs(A[piv][c]))
                piv = r;
        if (!(fabs(A[piv][c]) > 1e-14))
            return WP_ERANGE;
        if (piv != c) {
            for (int j = 0; j < k; j++) {
                double t = A[c][j];
                A[c][j] = A[piv][j];
                A[piv][j] = t;
            }
            double t = b[c];
            b[c] = b[piv];
            b[piv] = t;
        }
        for (int r = c + 1; r < k; r++) {
            double f = A[r][c] / A[c][c];
            for (int j = c; j < k; j++)
                A[r][j] -= f * A[c][j];
            b[r] -= f * b[c];
        }
    }
    for (int r = k - 1; r >= 0; r--) {
        double acc = b[r];
        for (int j = r + 1; j < k; j++)
            acc -= A[r][j] * x[j];
        x[r] = acc / A[r][r];
    }
    return WP_OK;
}

/* One weighted solve for (a, b[, s]); with s_fixed >= 0, s is that value.
 * An overhead below 0 is not a property of a network: b is then fixed at 0
 * and the rest refitted. */
static int weighted_solve(const double *x, const double *z, const double *y, const double *w,
                          size_t n, double s_fixed, double coef[3])
{
    bool use_s = z && s_fixed < 0;
    for (int pass = 0; pass < 2; pass++) {
        bool use_b = pass == 0;
        int cols[3], k = 0;
        cols[k++] = 0;
        if (use_b)
            cols[k++] = 1;
        if (use_s)
            cols[k++] = 2;
        double A[3][3] = {{0}}, rhs[3] = {0};
        for (size_t i = 0; i < n; i++) {
            double full[3] = {x[i] / 1000.0, 1.0, z ? z[i] : 0.0};
            double yi = y[i] - ((z && s_fixed >= 0) ? s_fixed * z[i] : 0.0);
            for (int r = 0; r < k; r++) {
                for (int c = 0; c < k; c++)
                    A[r][c] += w[i] * full[cols[r]] * full[cols[c]];
                rhs[r] += w[i] * full[cols[r]] * yi;
            }
        }
        double sol[3] = {0, 0, 0};
        if (solve_small(A, rhs, k, sol) != WP_OK)
            return WP_ERANGE;
        double c3[3] = {0, 0, (z && s_fixed >= 0) ? s_fixed : 0.0};
        for (int r = 0; r < k; r++)
            c3[cols[r]] = sol[r];
        if (use_b && c3[1] < 0)
            continue;
        coef[0] = c3[0] / 1000.0;
        coef[1] = c3[1];
        coef[2] = c3[2];
        return WP_OK;
    }
    return WP_OK;
}

static double median_of(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return quantile_sorted(v, n, 0.5);
}

int wp_irls_relative(const double *x, const double *z, const double *y, size_t n,
                     wp_irls_fit *out, wp_err *err)
{
    if (n < (z ? 3u : 2u))
        return wp_errf(err, WP_EINVAL, "rtt fit: need at least %d pairs, got %zu", z ? 3 : 2, n);
    for (size_t i = 0; i < n; i++)
        if (!(isfinite(x[i]) && isfinite(y[i]) && y[i] > 0 && (!z || isfinite(z[i]))))
            return wp_errf(err, WP_EINVAL, "rtt fit: pair %zu: not a finite positive RTT", i + 1);
    double *w = malloc(n * sizeof *w), *r = malloc(n * sizeof *r), *ar = malloc(n * sizeof *ar);
    if (!w || !r || !ar) {
        free(w);
        free(r);
        free(ar);
        return wp_errf(err, WP_ENOMEM, "rtt fit: out of memory");
    }
    for (size_t i = 0; i < n; i++)
        w[i] = 1.0 / (y[i] * y[i]);
    double coef[3] = {0, 0, 0}, s_fixed = -1.0;
    int it, rv = WP_OK;
    for (it = 1; it <= 100; it++) {
        double prev[3] = {coef[0], coef[1], coef[2]};
        if ((rv = weighted_solve(x, z, y, w, n, s_fixed, coef)) != WP_OK)
            break;
        if (z && s_fixed < 0 && (coef[2] < 0 || coef[2] > 1)) {
            s_fixed = coef[2] < 0 ? 0.0 : 1.0;
            if ((rv = weighted_solve(x, z, y, w, n, s_fixed, coef)) != WP_OK)
                break;
        }
        for (size_t i = 0; i < n; i++) {
            double pred = coef[0] * x[i] + coef[1] + (z ? coef[2] * z[i] : 0.0);
            r[i] = (pred - y[i]) / y[i];
            ar[i] = fabs(r[i]);
        }
        double scale = 1.4826 * median_of(ar, n);
        double cut = 1.345 * (scale > 1e-9 ? scale : 1e-9);
        for (size_t i = 0; i < n; i++) {
            double h = fabs(r[i]) <= cut ? 1.0 : cut / fabs(r[i]);
            w[i] = h / (y[i] * y[i]);
        }
        double moved = 0;
        for (int k = 0; k < 3; k++) {
            double d = fabs(coef[k] - prev[k]) / (fabs(coef[k]) + 1e-12);
            moved = d > moved ? d : moved;
        }
        if (it > 1 && moved < 1e-9)
            break;
    }
    free(w);
    free(r);
    free(ar);
    if (rv != WP_OK)
        return wp_errf(err, WP_ERANGE,
                       "rtt fit: the pairs cannot separate the coefficients (all at one "
                       "distance?)");
    out->a = coef[0];
    out->b = coef[1];
    out->s = coef[2];
    out->iterations = it > 100 ? 100 : it;
    return WP_OK;
}

int wp_err_stats_of(const double *pred, const double *meas, size_t n, wp_err_stats *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return WP_OK;
    double *ab = malloc(n * sizeof *ab), *sg = malloc(n * sizeof *sg);
    if (!ab || !sg) {
        free(ab);
        free(sg);
        return WP_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        sg[i] = (pred[i] - meas[i]) / meas[i] * 100.0;
        ab[i] = fabs(sg[i]);
    }
    qsort(ab, n, sizeof *ab, cmp_double);
    qsort(sg, n, sizeof *sg, cmp_double);
    out->n = n;
    out->median_abs_pct = quantile_sorted(ab, n, 0.5);
    out->p90_abs_pct = quantile_sorted(ab, n, 0.9);
    out->median_signed_pct = quantile_sorted(sg, n, 0.5);
    free(ab);
    free(sg);
    return WP_OK;
}
