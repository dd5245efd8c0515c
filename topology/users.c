/* topology/users.c — population points, their anycast ingress, and O(1)
 * population-weighted draws.
 *
 * Ingress. BGP anycast delivers a user to the "nearest" PoP; we model that
 * as the PoP with the lowest model RTT. The model is increasing in distance
 * (inflation > 0 is checked at topology load), so the lowest-RTT PoP is the
 * great-circle-nearest one, which is the PoP whose unit vector has the
 * largest dot product with the user's. Binding is a brute-force scan of
 * 3-component dot products: users × PoPs (7,453 × 338 ≈ 2.5 M multiply-adds,
 * a few ms), then one haversine per user for the RTT. Ties go to the lower
 * PoP index, so binding is deterministic.
 *
 * Draws. Walker's alias method in Vose's numerically stable form (M. D.
 * Vose, "A linear algorithm for generating random numbers with a given
 * distribution", IEEE TSE 1991): n columns of height 1; column i keeps
 * prob[i] of its own mass and gives the rest to alias[i]. A draw is one
 * uniform column plus one uniform coin: O(1). Building is O(n) with two
 * work lists ("small" < 1 and "large" >= 1). Points of zero population
 * get prob 0 and are never drawn (their column is wholly aliased).
 */
#include "topology/topology_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WP_USERS_MAX_POINTS 1000000u

struct wp_users {
    const wp_topology *pops;
    size_t n;
    wp_user_point *pts;
    double total_population;
    double *prob;     /* alias table: probability of keeping column i */
    uint32_t *alias;  /* alias table: the other outcome of column i */
    wp_access *access; /* access latency curves (pts[i].access points here) */
    wp__attach *att;   /* graph mode: each point's attachments to the backbone */
};

static void unit_vec(double lat, double lon, double v[3])
{
    const double d2r = 3.14159265358979323846 / 180.0;
    double p = lat * d2r, l = lon * d2r;
    v[0] = cos(p) * cos(l);
    v[1] = cos(p) * sin(l);
    v[2] = sin(p);
}

static int read_points(wp_csv *c, wp_users *u, wp_err *err)
{
    int rv = wp_csv_next(c, err);
    if (rv == WP_ENOTFOUND)
        return wp_errf(err, WP_EPARSE, "%s: empty file (expected a header line)", c->path);
    if (rv != WP_OK)
        return rv;
    static const char *const required[] = {"name", "country", "lat", "lon", "population"};
    int col[5];
    for (size_t i = 0; i < 5; i++) {
        col[i] = wp_csv_find(c, required[i]);
        if (col[i] < 0)
            return wp_errf(err, WP_EPARSE, "%s:%ld: missing column '%s'", c->path, c->line_no,
                           required[i]);
    }
    size_t cap = 0;
    for (;;) {
        rv = wp_csv_next(c, err);
        if (rv == WP_ENOTFOUND)
            break;
        if (rv != WP_OK)
            return rv;
        if (u->n == WP_USERS_MAX_POINTS)
            return wp_errf(err, WP_ETOOBIG, "%s:%ld: more than %u population points", c->path,
                           c->line_no, WP_USERS_MAX_POINTS);
        if (u->n == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            wp_user_point *np = realloc(u->pts, ncap * sizeof *np);
            if (np == NULL)
                return wp_errf(err, WP_ENOMEM, "%s: out of memory", c->path);
            u->pts = np;
            cap = ncap;
        }
        wp_user_point *p = &u->pts[u->n];
        memset(p, 0, sizeof *p);
        const char *s = NULL;
        if ((rv = wp__csv_field(c, col[0], "name", &s, err)) != WP_OK)
            return rv;
        /* Long names are cut (at a UTF-8 boundary): a user point's name is
         * only a label. */
        size_t len = strlen(s);
        if (len >= sizeof p->name) {
            len = sizeof p->name - 1;
            while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
                len--;
        }
        memcpy(p->name, s, len);
        p->name[len] = '\0';
        if ((rv = wp__csv_country(c, col[1], "country", p->country, &p->region, err)) != WP_OK)
            return rv;
        if ((rv = wp_topo_csv_lat(c, col[2], "lat", &p->lat, err)) != WP_OK)
            return rv;
        if ((rv = wp_topo_csv_lon(c, col[3], "lon", &p->lon, err)) != WP_OK)
            return rv;
        if ((rv = wp__csv_field(c, col[4], "population", &s, err)) != WP_OK)
            return rv;
        if (wp_parse_double(s, &p->population) != WP_OK || !(p->population >= 0) ||
            p->population > 1e11)
            return wp_errf(err, WP_EPARSE,
                           "%s:%ld: column population: expected a number in 0..1e11, got "
                           "'%.32s'",
                           c->path, c->line_no, s);
        u->total_population += p->population;
        u->n++;
    }
    if (u->n == 0)
        return wp_errf(err, WP_EPARSE, "%s: no population points", c->path);
    if (!(u->total_population > 0))
        return wp_errf(err, WP_EPARSE, "%s: total population is 0", c->path);
    return WP_OK;
}

/* Graph mode: each point's attachments to the backbone, and its ingress
 * RTT along the backbone (the PoPs' node distances are kept by the
 * topology, so this is a few lookups per point). The ingress itself stays
 * the great-circle-nearest PoP: anycast follows BGP, not the lowest RTT. */
static int graph_ingress_rtt(wp_users *u, const wp_graph *g, wp_err *err)
{
    const wp_rtt_params *params = wp_topo_params(u->pops);
    u->att = malloc(u->n * sizeof *u->att);
    if (u->att == NULL)
        return wp_errf(err, WP_ENOMEM, "users: out of memory");
    for (size_t k = 0; k < u->n; k++) {
        wp_user_point *p = &u->pts[k];
        wp__graph_attach(g, p->lat, p->lon, params->land_factor, &u->att[k]);
        p->ingress_rtt_ms = (float)wp_users_rtt_ms(u, k, p->ingress);
    }
    return WP_OK;
}

double wp_users_rtt_ms(const wp_users *u, size_t i, size_t city)
{
    const wp_rtt_params *params = wp_topo_params(u->pops);
    const wp_user_point *p = &u->pts[i];
    const wp_city *c = wp_topo_city(u->pops, city);
    double gc = wp_geo_distance_km(p->lat, p->lon, c->lat, c->lon);
    double border = wp_rtt_border_ms(params, p->country, c->country);
    if (u->att == NULL)
        return wp_rtt_ms_for_km(params, gc) + border;
    return wp_rtt_ms_for_km(params, wp__graph_point_km(wp__topo_node_km(u->pops, city),
                                                       &u->att[i], gc, params->land_factor)) +
           border;
}

static int bind_ingress(wp_users *u, wp_err *err)
{
    size_t np = wp_topo_count(u->pops);
    double *vec = malloc(np * 3 * sizeof *vec);
    if (vec == NULL)
        return wp_errf(err, WP_ENOMEM, "users: out of memory");
    for (size_t i = 0; i < np; i++) {
        const wp_city *c = wp_topo_city(u->pops, i);
        unit_vec(c->lat, c->lon, &vec[3 * i]);
    }
    for (size_t k = 0; k < u->n; k++) {
        wp_user_point *p = &u->pts[k];
        double v[3];
        unit_vec(p->lat, p->lon, v);
        size_t best = 0;
        double best_dot = -2.0;
        for (size_t i = 0; i < np; i++) {
            const double *w = &vec[3 * i];
            double dot = v[0] * w[0] + v[1] * w[1] + v[2] * w[2];
            if (dot > best_dot) {
                best_dot = dot;
                best = i;
            }
        }
        p->ingress = (uint32_t)best;
        p->ingress_rtt_ms = (float)wp_users_rtt_ms(u, k, best); /* u->att is not made yet */
    }
    free(vec);
    const wp_graph *g = wp__topo_graph(u->pops);
    return g ? graph_ingress_rtt(u, g, err) : WP_OK;
}

/* Vose's alias method (see the essay at the top). */
static int build_alias(wp_users *u, wp_err *err)
{
    size_t n = u->n;
    u->prob = malloc(n * sizeof *u->prob);
    u->alias = malloc(n * sizeof *u->alias);
    uint32_t *small = malloc(n * sizeof *small);
    uint32_t *large = malloc(n * sizeof *large);
    double *scaled = malloc(n * sizeof *scaled);
    if (!u->prob || !u->alias || !small || !large || !scaled) {
        free(small);
        free(large);
        free(scaled);
        return wp_errf(err, WP_ENOMEM, "users: out of memory for the alias table");
    }
    size_t ns = 0, nl = 0;
    for (size_t i = 0; i < n; i++) {
        scaled[i] = u->pts[i].population * (double)n / u->total_population;
        if (scaled[i] < 1.0)
            small[ns++] = (uint32_t)i;
        else
            large[nl++] = (uint32_t)i;
    }
    while (ns > 0 && nl > 0) {
        uint32_t s = small[--ns], l = large[--nl];
        u->prob[s] = scaled[s];
        u->alias[s] = l;
        scaled[l] = (scaled[l] + scaled[s]) - 1.0;
        if (scaled[l] < 1.0)
            small[ns++] = l;
        else
            large[nl++] = l;
    }
    /* What is left has mass 1 up to rounding. */
    while (nl > 0) {
        uint32_t l = large[--nl];
        u->prob[l] = 1.0;
        u->alias[l] = l;
    }
    while (ns > 0) {
        uint32_t s = small[--ns];
        u->prob[s] = 1.0;
        u->alias[s] = s;
    }
    free(small);
    free(large);
    free(scaled);
    return WP_OK;
}

int wp_users_load(const wp_topology *pops, const char *path, wp_users **out, wp_err *err)
{
    *out = NULL;
    if (pops == NULL || wp_topo_count(pops) == 0)
        return wp_errf(err, WP_EINVAL, "users: no topology to bind to");
    wp_users *u = calloc(1, sizeof *u);
    if (u == NULL)
        return wp_errf(err, WP_ENOMEM, "users: out of memory");
    u->pops = pops;
    wp_csv c;
    int rv = path ? wp_csv_open(&c, path, err) : wp__topo_open_blob("users", &c, err);
    if (rv != WP_OK) {
        free(u);
        return rv;
    }
    rv = read_points(&c, u, err);
    wp_csv_close(&c);
    if (rv == WP_OK)
        rv = bind_ingress(u, err);
    if (rv == WP_OK)
        rv = build_alias(u, err);
    if (rv == WP_OK)
        rv = wp_users_set_access(u, NULL, err);
    if (rv != WP_OK) {
        wp_users_free(u);
        return rv;
    }
    *out = u;
    return WP_OK;
}

int wp_users_countries_near(const double *lat, const double *lon, size_t n, double max_km,
                            char (*out)[3], wp_err *err)
{
    wp_users tmp;
    memset(&tmp, 0, sizeof tmp);
    wp_csv c;
    int rv = wp__topo_open_blob("users", &c, err);
    if (rv != WP_OK)
        return rv;
    rv = read_points(&c, &tmp, err);
    wp_csv_close(&c);
    double *vec = rv == WP_OK ? malloc((tmp.n ? tmp.n : 1) * 3 * sizeof *vec) : NULL;
    if (rv == WP_OK && vec == NULL)
        rv = wp_errf(err, WP_ENOMEM, "users: out of memory");
    for (size_t k = 0; rv == WP_OK && k < tmp.n; k++)
        unit_vec(tmp.pts[k].lat, tmp.pts[k].lon, &vec[3 * k]);
    /* the chord of max_km on the unit sphere, as a dot product */
    double min_dot = cos(max_km / WP_EARTH_RADIUS_KM);
    for (size_t i = 0; rv == WP_OK && i < n; i++) {
        double v[3], best_dot = -2.0;
        size_t best = 0;
        unit_vec(lat[i], lon[i], v);
        for (size_t k = 0; k < tmp.n; k++) {
            const double *w = &vec[3 * k];
            double dot = v[0] * w[0] + v[1] * w[1] + v[2] * w[2];
            if (dot > best_dot) {
                best_dot = dot;
                best = k;
            }
        }
        if (tmp.n && best_dot >= min_dot)
            memcpy(out[i], tmp.pts[best].country, 3);
        else
            out[i][0] = '\0';
    }
    free(vec);
    free(tmp.pts);
    return rv;
}

void wp_users_free(wp_users *u)
{
    if (u == NULL)
        return;
    free(u->pts);
    free(u->prob);
    free(u->alias);
    wp_access_free(u->access);
    free(u->att);
    free(u);
}

size_t wp_users_count(const wp_users *u)
{
    return u->n;
}

const wp_user_point *wp_users_point(const wp_users *u, size_t i)
{
    return i < u->n ? &u->pts[i] : NULL;
}

double wp_users_total_population(const wp_users *u)
{
    return u->total_population;
}

size_t wp_users_draw(const wp_users *u, wp_rng *rng)
{
    size_t i = (size_t)wp_rng_below(rng, u->n);
    return wp_rng_uniform(rng) < u->prob[i] ? i : u->alias[i];
}

void wp_users_coverage(const wp_users *u, double within_ms, double *overall,
                       double by_region[WP_REGION_COUNT])
{
    double total[WP_REGION_COUNT] = {0}, in[WP_REGION_COUNT] = {0};
    double all = 0, all_in = 0;
    for (size_t k = 0; k < u->n; k++) {
        const wp_user_point *p = &u->pts[k];
        total[p->region] += p->population;
        all += p->population;
        if (p->ingress_rtt_ms <= within_ms) {
            in[p->region] += p->population;
            all_in += p->population;
        }
    }
    if (overall)
        *overall = all > 0 ? all_in / all : 0.0;
    if (by_region)
        for (int r = 0; r < WP_REGION_COUNT; r++)
            by_region[r] = total[r] > 0 ? in[r] / total[r] : 0.0;
}

int wp_users_set_access(wp_users *u, const char *path, wp_err *err)
{
    wp_access *a = NULL;
    int rv = wp_access_load(path, &a, err);
    if (rv != WP_OK)
        return rv;
    wp_access_free(u->access);
    u->access = a;
    for (size_t k = 0; k < u->n; k++)
        u->pts[k].access = wp_access_for(a, u->pts[k].country, u->pts[k].region);
    return WP_OK;
}

double wp_users_access_draw(const wp_users *u, size_t i, wp_rng *rng)
{
    return wp_access_quantile(u->pts[i].access, wp_rng_uniform(rng));
}

/* With access: a point at network RTT x counts the share of its people
 * whose access latency is within within_ms - x (the access CDF): an
 * expectation, not a draw, so the figure is exact and deterministic. */
void wp_users_coverage_access(const wp_users *u, double within_ms, double *overall,
                              double by_region[WP_REGION_COUNT])
{
    double total[WP_REGION_COUNT] = {0}, in[WP_REGION_COUNT] = {0};
    double all = 0, all_in = 0;
    for (size_t k = 0; k < u->n; k++) {
        const wp_user_point *p = &u->pts[k];
        double share = wp_access_cdf(p->access, within_ms - p->ingress_rtt_ms);
        total[p->region] += p->population;
        all += p->population;
        in[p->region] += share * p->population;
        all_in += share * p->population;
    }
    if (overall)
        *overall = all > 0 ? all_in / all : 0.0;
    if (by_region)
        for (int r = 0; r < WP_REGION_COUNT; r++)
            by_region[r] = total[r] > 0 ? in[r] / total[r] : 0.0;
}
