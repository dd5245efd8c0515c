/* topology/access.c — users' access ("last mile") latency, per country.
 *
 * Data: M-Lab NDT download tests, October 2025 (topology/data/
 * access_mlab.csv; SOURCES.md): per country the quantiles q01..q99 of each
 * test's minimum RTT between the user's machine and the nearest M-Lab
 * server. That is the access network plus the way to the nearest M-Lab
 * site.
 *
 * Distribution. The nine quantiles define a piecewise-linear inverse CDF:
 * u in [p_k, p_k+1] interpolates q_k..q_k+1; below p = 0.01 it is q01 and
 * above 0.99 it is q99 (the tails are clamped, not extrapolated). The CDF
 * is the inverse of the same function, so cdf(quantile(u)) = u between
 * q01 and q99. A draw is quantile(uniform).
 *
 * Countries without a local server. Where the nearest M-Lab site is
 * abroad the figures are mostly distance, not access (China's median reads
 * ~306 ms). Such a country is recognised by its best tests: if even its
 * q05 is above WP_ACCESS_LOCAL_Q05_MS, nobody there is near a server.
 * Those countries, countries with fewer than WP_ACCESS_MIN_TESTS tests and
 * countries absent from the data use their region's curve: for each
 * quantile, the test-weighted mean of that quantile over the region's
 * countries with a local server (Vincentisation: averaging quantile
 * functions keeps the shape of the members). A region with no such country
 * uses the world's curve.
 */
#include "topology/topology_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WP_ACCESS_LOCAL_Q05_MS 20.0
#define WP_ACCESS_MIN_TESTS 100
#define WP_ACCESS_MAX_ROWS 1000

const double wp_access_probs[WP_ACCESS_NQ] = {0.01, 0.05, 0.10, 0.25, 0.50,
                                              0.75, 0.90, 0.95, 0.99};
static const char *const qcols[WP_ACCESS_NQ] = {
    "min_rtt_ms_q01", "min_rtt_ms_q05", "min_rtt_ms_q10", "min_rtt_ms_q25", "min_rtt_ms_q50",
    "min_rtt_ms_q75", "min_rtt_ms_q90", "min_rtt_ms_q95", "min_rtt_ms_q99"};

struct wp_access {
    size_t n;
    wp_access_curve *rows; /* countries, as read (local or not) */
    double *tests;
    wp_access_curve region[WP_REGION_COUNT];
};

void wp_access_free(wp_access *a)
{
    if (a == NULL)
        return;
    free(a->rows);
    free(a->tests);
    free(a);
}

static int read_rows(wp_csv *c, wp_access *a, wp_err *err)
{
    int rv = wp_csv_next(c, err);
    if (rv == WP_ENOTFOUND)
        return wp_errf(err, WP_EPARSE, "%s: empty file (expected a header line)", c->path);
    if (rv != WP_OK)
        return rv;
    int col_c = wp_csv_find(c, "country"), col_t = wp_csv_find(c, "ndt_download_tests");
    int col_q[WP_ACCESS_NQ];
    if (col_c < 0)
        return wp_errf(err, WP_EPARSE, "%s:%ld: missing column 'country'", c->path, c->line_no);
    if (col_t < 0)
        return wp_errf(err, WP_EPARSE, "%s:%ld: missing column 'ndt_download_tests'", c->path,
                       c->line_no);
    for (int k = 0; k < WP_ACCESS_NQ; k++)
        if ((col_q[k] = wp_csv_find(c, qcols[k])) < 0)
            return wp_errf(err, WP_EPARSE, "%s:%ld: missing column '%s'", c->path, c->line_no,
                           qcols[k]);
    a->rows = malloc(WP_ACCESS_MAX_ROWS * sizeof *a->rows);
    a->tests = malloc(WP_ACCESS_MAX_ROWS * sizeof *a->tests);
    if (!a->rows || !a->tests)
        return wp_errf(err, WP_ENOMEM, "%s: out of memory", c->path);
    for (;;) {
        rv = wp_csv_next(c, err);
        if (rv == WP_ENOTFOUND)
            break;
        if (rv != WP_OK)
            return rv;
        if (a->n == WP_ACCESS_MAX_ROWS)
            return wp_errf(err, WP_ETOOBIG, "%s:%ld: more than %d countries", c->path,
                           c->line_no, WP_ACCESS_MAX_ROWS);
        wp_access_curve *r = &a->rows[a->n];
        memset(r, 0, sizeof *r);
        if ((rv = wp__csv_country(c, col_c, "country", r->country, &r->region, err)) != WP_OK)
            return rv;
        const char *s = NULL;
        if ((rv = wp__csv_field(c, col_t, "ndt_download_tests", &s, err)) != WP_OK)
            return rv;
        double t;
        if (wp_parse_double(s, &t) != WP_OK || !(t >= 0))
            return wp_errf(err, WP_EPARSE,
                           "%s:%ld: column ndt_download_tests: expected a count >= 0, got "
                           "'%.32s'", c->path, c->line_no, s);
        a->tests[a->n] = t;
        for (int k = 0; k < WP_ACCESS_NQ; k++) {
            if ((rv = wp__csv_field(c, col_q[k], qcols[k], &s, err)) != WP_OK)
                return rv;
            double v;
            if (wp_parse_double(s, &v) != WP_OK || !(v >= 0 && v <= 60000))
                return wp_errf(err, WP_EPARSE,
                               "%s:%ld: column %s: expected a latency in 0..60000 ms, got "
                               "'%.32s'", c->path, c->line_no, qcols[k], s);
            if (k > 0 && v < r->q_ms[k - 1])
                return wp_errf(err, WP_EPARSE,
                               "%s:%ld: column %s: quantiles must not decrease (%g after %g)",
                               c->path, c->line_no, qcols[k], v, r->q_ms[k - 1]);
            r->q_ms[k] = v;
        }
        r->local = t >= WP_ACCESS_MIN_TESTS && r->q_ms[1] <= WP_ACCESS_LOCAL_Q05_MS;
        for (size_t k = 0; k < a->n; k++)
            if (strcmp(a->rows[k].country, r->country) == 0)
                return wp_errf(err, WP_EPARSE, "%s:%ld: column country: duplicate '%s'",
                               c->path, c->line_no, r->country);
        a->n++;
    }
    if (a->n == 0)
        return wp_errf(err, WP_EPARSE, "%s: no countries", c->path);
    return WP_OK;
}

/* Region curves (see the essay). */
static void build_regions(wp_access *a)
{
    double world[WP_ACCESS_NQ] = {0}, wsum = 0;
    double sum[WP_REGION_COUNT][WP_ACCESS_NQ] = {{0}}, w[WP_REGION_COUNT] = {0};
    for (size_t i = 0; i < a->n; i++) {
        const wp_access_curve *r = &a->rows[i];
        if (!r->local)
            continue;
        double t = a->tests[i] > 0 ? a->tests[i] : 1.0;
        for (int k = 0; k < WP_ACCESS_NQ; k++) {
            sum[r->region][k] += t * r->q_ms[k];
            world[k] += t * r->q_ms[k];
        }
        w[r->region] += t;
        wsum += t;
    }
    for (int g = 0; g < WP_REGION_COUNT; g++) {
        wp_access_curve *c = &a->region[g];
        memset(c, 0, sizeof *c);
        c->region = (wp_region)g;
        for (int k = 0; k < WP_ACCESS_NQ; k++) {
            if (w[g] > 0)
                c->q_ms[k] = sum[g][k] / w[g];
            else if (wsum > 0)
                c->q_ms[k] = world[k] / wsum;
            else /* no local country anywhere: the plain mean of all rows */
                for (size_t i = 0; i < a->n; i++)
                    c->q_ms[k] += a->rows[i].q_ms[k] / (double)a->n;
        }
    }
}

int wp_access_load(const char *path, wp_access **out, wp_err *err)
{
    *out = NULL;
    wp_access *a = calloc(1, sizeof *a);
    if (a == NULL)
        return wp_errf(err, WP_ENOMEM, "access: out of memory");
    wp_csv c;
    int rv = path ? wp_csv_open(&c, path, err) : wp__topo_open_blob("access_mlab", &c, err);
    if (rv != WP_OK) {
        free(a);
        return rv;
    }
    rv = read_rows(&c, a, err);
    wp_csv_close(&c);
    if (rv != WP_OK) {
        wp_access_free(a);
        return rv;
    }
    build_regions(a);
    *out = a;
    return WP_OK;
}

const wp_access_curve *wp_access_for(const wp_access *a, const char *iso2, wp_region region)
{
    for (size_t i = 0; iso2 && i < a->n; i++)
        if (strcasecmp(a->rows[i].country, iso2) == 0) {
            if (a->rows[i].local)
                return &a->rows[i];
            return &a->region[a->rows[i].region];
        }
    return &a->region[(int)region >= 0 && region < WP_REGION_COUNT ? region : 0];
}

double wp_access_quantile(const wp_access_curve *c, double u)
{
    const double *p = wp_access_probs;
    if (!(u > p[0]))
        return c->q_ms[0];
    for (int k = 1; k < WP_ACCESS_NQ; k++)
        if (u <= p[k])
            return c->q_ms[k - 1] + (u - p[k - 1]) / (p[k] - p[k - 1]) *
                                        (c->q_ms[k] - c->q_ms[k - 1]);
    return c->q_ms[WP_ACCESS_NQ - 1];
}

double wp_access_cdf(const wp_access_curve *c, double ms)
{
    const double *p = wp_access_probs, *q = c->q_ms;
    if (ms < q[0])
        return 0.0;
    if (ms >= q[WP_ACCESS_NQ - 1])
        return 1.0;
    /* Largest k with q[k] <= ms; ms < q[NQ-1] so k + 1 exists. */
    int k = 0;
    while (k + 1 < WP_ACCESS_NQ - 1 && q[k + 1] <= ms)
        k++;
    if (q[k + 1] <= q[k])
        return p[k + 1];
    return p[k] + (ms - q[k]) / (q[k + 1] - q[k]) * (p[k + 1] - p[k]);
}
