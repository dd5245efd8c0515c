/* topology/topology.c — cities loaded from CSV (a user file or a preset
 * embedded in the binary), with a precomputed RTT matrix.
 *
 * Loading is strict: every problem is one line naming file, line and
 * column ("edge.csv:12: column lat: expected a latitude in -90..90, got
 * '200'"). Duplicate codes (case-insensitive) are errors. The matrix holds
 * n*n floats (n <= WP_TOPO_MAX_CITIES) computed once at load: in v1
 * n(n-1)/2 haversines (~2 ms for the 338-city edge preset), in v2 one
 * Dijkstra over the backbone graph per city (graph.c; bench_topo measures
 * it). A lookup is a table read either way. */
#include "topology/topology_int.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct wp_topology {
    char name[256];
    wp_rtt_params params;
    size_t n;
    wp_city *cities;
    float *rtt_ms; /* n * n, row-major */
    wp_graph *graph; /* graph mode: the backbone, kept for binding users */
    float *node_km;  /* graph mode: n * node_count path km, city -> node */
};

static const char *const preset_names[] = {"edge", "aws", "azure", "gcp", "tiny", NULL};

const char *const *wp_topo_preset_names(void)
{
    return preset_names;
}

/* ---------------------------------------------------------------- CSV helpers */

int wp__topo_open_blob(const char *name, wp_csv *c, wp_err *err)
{
    for (size_t i = 0; i < wp_topo_blob_count; i++) {
        const wp_topo_blob *b = &wp_topo_blobs[i];
        if (strcmp(b->name, name) != 0)
            continue;
        /* fmemopen needs a non-const pointer; mode "r" never writes. */
        FILE *fp = fmemopen((void *)b->data, b->len, "r");
        if (fp == NULL)
            return wp_errf(err, WP_EIO, "%s.csv: cannot open embedded data", name);
        char fname[64];
        snprintf(fname, sizeof fname, "%s.csv", name);
        int rv = wp_csv_open_fp(c, fp, fname, err);
        if (rv != WP_OK) {
            fclose(fp);
            return rv;
        }
        c->own_fp = true;
        return WP_OK;
    }
    return wp_errf(err, WP_ENOTFOUND, "no embedded data named '%s'", name);
}

int wp__csv_field(const wp_csv *c, int col, const char *colname, const char **out, wp_err *err)
{
    if (col < 0 || (size_t)col >= c->nfields)
        return wp_errf(err, WP_EPARSE, "%s:%ld: column %s: missing (the row has %zu fields)",
                       c->path, c->line_no, colname, c->nfields);
    *out = c->fields[col];
    return WP_OK;
}

int wp__csv_country(const wp_csv *c, int col, const char *colname, char out[3],
                    wp_region *region, wp_err *err)
{
    const char *s = NULL;
    int rv = wp__csv_field(c, col, colname, &s, err);
    if (rv != WP_OK)
        return rv;
    if (wp_region_of_country(s, region) != WP_OK)
        return wp_errf(err, WP_EPARSE,
                       "%s:%ld: column %s: expected an ISO 3166-1 alpha-2 country code, got "
                       "'%.32s'",
                       c->path, c->line_no, colname, s);
    out[0] = (char)toupper((unsigned char)s[0]);
    out[1] = (char)toupper((unsigned char)s[1]);
    out[2] = '\0';
    return WP_OK;
}

static int csv_coord(const wp_csv *c, int col, const char *colname, double limit,
                     const char *what, double *out, wp_err *err)
{
    const char *s = NULL;
    int rv = wp__csv_field(c, col, colname, &s, err);
    if (rv != WP_OK)
        return rv;
    double v;
    if (wp_parse_double(s, &v) != WP_OK || !(v >= -limit && v <= limit))
        return wp_errf(err, WP_EPARSE, "%s:%ld: column %s: expected a %s in %g..%g, got '%.32s'",
                       c->path, c->line_no, colname, what, -limit, limit, s);
    *out = v;
    return WP_OK;
}

int wp_topo_csv_lat(const wp_csv *c, int col, const char *colname, double *out, wp_err *err)
{
    return csv_coord(c, col, colname, 90.0, "latitude", out, err);
}

int wp_topo_csv_lon(const wp_csv *c, int col, const char *colname, double *out, wp_err *err)
{
    return csv_coord(c, col, colname, 180.0, "longitude", out, err);
}

/* ---------------------------------------------------------------- loading */

/* The border terms of every pair of cities in different countries. */
static void add_borders(wp_topology *t)
{
    if (t->params.n_border == 0)
        return;
    size_t n = t->n;
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++)
            t->rtt_ms[a * n + b] += (float)wp_rtt_border_ms(&t->params, t->cities[a].country,
                                                            t->cities[b].country);
}

/* The RTT matrix: great circle (v1) or graph paths (v2), through the
 * model's km -> ms line, plus the border terms. Graph mode keeps the graph
 * for the users. */
static int build_matrix(wp_topology *t, wp_err *err)
{
    size_t n = t->n;
    if (t->params.paths == WP_RTT_PATHS_GREAT_CIRCLE) {
        for (size_t a = 0; a < n; a++) {
            t->rtt_ms[a * n + a] = (float)wp_rtt_ms_for_km(&t->params, 0.0);
            for (size_t b = a + 1; b < n; b++) {
                const wp_city *ca = &t->cities[a], *cb = &t->cities[b];
                float v =
                    (float)wp_rtt_ms_between(&t->params, ca->lat, ca->lon, cb->lat, cb->lon);
                t->rtt_ms[a * n + b] = v;
                t->rtt_ms[b * n + a] = v;
            }
        }
        add_borders(t);
        return WP_OK;
    }
    int rv = wp_graph_load(NULL, NULL, &t->graph, err);
    if (rv != WP_OK)
        return rv;
    double *lat = malloc(n * sizeof *lat), *lon = malloc(n * sizeof *lon);
    if (!lat || !lon) {
        free(lat);
        free(lon);
        return wp_errf(err, WP_ENOMEM, "%s: out of memory for paths", t->name);
    }
    for (size_t i = 0; i < n; i++) {
        lat[i] = t->cities[i].lat;
        lon[i] = t->cities[i].lon;
    }
    size_t nn = wp_graph_node_count(t->graph);
    t->node_km = malloc(n * nn * sizeof *t->node_km);
    rv = t->node_km ? wp__graph_path_matrix(t->graph, lat, lon, n, t->params.land_factor,
                                            t->rtt_ms, t->node_km, err)
                    : wp_errf(err, WP_ENOMEM, "%s: out of memory for paths", t->name);
    free(lat);
    free(lon);
    if (rv != WP_OK)
        return rv;
    for (size_t i = 0; i < n * n; i++)
        t->rtt_ms[i] = (float)wp_rtt_ms_for_km(&t->params, t->rtt_ms[i]);
    add_borders(t);
    return WP_OK;
}

const float *wp__topo_node_km(const wp_topology *t, size_t i)
{
    return &t->node_km[i * wp_graph_node_count(t->graph)];
}

const wp_graph *wp__topo_graph(const wp_topology *t)
{
    return t->graph;
}

static int load_stream(wp_csv *c, const char *name, const wp_rtt_params *params,
                       wp_topology **out, wp_err *err)
{
    wp_topology *t = calloc(1, sizeof *t);
    if (t == NULL)
        return wp_errf(err, WP_ENOMEM, "%s: out of memory", c->path);
    snprintf(t->name, sizeof t->name, "%s", name);
    if (params)
        t->params = *params;
    else
        wp_rtt_params_default(&t->params);
    int rv = wp__rtt_params_check(&t->params, err);
    if (rv != WP_OK)
        goto fail;

    rv = wp_csv_next(c, err);
    if (rv == WP_ENOTFOUND) {
        rv = wp_errf(err, WP_EPARSE, "%s: empty file (expected a header line)", c->path);
        goto fail;
    }
    if (rv != WP_OK)
        goto fail;
    static const char *const required[] = {"code", "name", "country", "lat", "lon"};
    int col[5];
    for (size_t i = 0; i < 5; i++) {
        col[i] = wp_csv_find(c, required[i]);
        if (col[i] < 0) {
            rv = wp_errf(err, WP_EPARSE, "%s:%ld: missing column '%s'", c->path, c->line_no,
                         required[i]);
            goto fail;
        }
    }
    int col_region = wp_csv_find(c, "region");
    int col_pop = wp_csv_find(c, "pop_weight");

    size_t cap = 0;
    for (;;) {
        rv = wp_csv_next(c, err);
        if (rv == WP_ENOTFOUND)
            break;
        if (rv != WP_OK)
            goto fail;
        if (t->n == WP_TOPO_MAX_CITIES) {
            rv = wp_errf(err, WP_ETOOBIG, "%s:%ld: more than %d cities", c->path, c->line_no,
                         WP_TOPO_MAX_CITIES);
            goto fail;
        }
        if (t->n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            wp_city *nc = realloc(t->cities, ncap * sizeof *nc);
            if (nc == NULL) {
                rv = wp_errf(err, WP_ENOMEM, "%s: out of memory", c->path);
                goto fail;
            }
            t->cities = nc;
            cap = ncap;
        }
        wp_city *city = &t->cities[t->n];
        memset(city, 0, sizeof *city);
        const char *s = NULL;
        if ((rv = wp__csv_field(c, col[0], "code", &s, err)) != WP_OK)
            goto fail;
        size_t len = strlen(s);
        bool bad = len == 0 || len >= WP_CITY_CODE_MAX;
        for (size_t k = 0; k < len && !bad; k++)
            bad = isspace((unsigned char)s[k]) || iscntrl((unsigned char)s[k]);
        if (bad) {
            rv = wp_errf(err, WP_EPARSE,
                         "%s:%ld: column code: expected 1..%d characters without spaces, got "
                         "'%.40s'",
                         c->path, c->line_no, WP_CITY_CODE_MAX - 1, s);
            goto fail;
        }
        memcpy(city->code, s, len + 1);
        if ((rv = wp__csv_field(c, col[1], "name", &s, err)) != WP_OK)
            goto fail;
        len = strlen(s);
        if (len >= WP_CITY_NAME_MAX) {
            rv = wp_errf(err, WP_EPARSE, "%s:%ld: column name: longer than %d bytes", c->path,
                         c->line_no, WP_CITY_NAME_MAX - 1);
            goto fail;
        }
        memcpy(city->name, s, len + 1);
        if ((rv = wp__csv_country(c, col[2], "country", city->country, &city->region, err)) !=
            WP_OK)
            goto fail;
        if ((rv = wp_topo_csv_lat(c, col[3], "lat", &city->lat, err)) != WP_OK)
            goto fail;
        if ((rv = wp_topo_csv_lon(c, col[4], "lon", &city->lon, err)) != WP_OK)
            goto fail;
        if (col_region >= 0 && (size_t)col_region < c->nfields &&
            c->fields[col_region][0] != '\0') {
            if (wp_region_parse(c->fields[col_region], &city->region) != WP_OK) {
                rv = wp_errf(err, WP_EPARSE,
                             "%s:%ld: column region: expected one of africa, asia, europe, "
                             "middle-east, north-america, oceania, south-america, got '%.32s'",
                             c->path, c->line_no, c->fields[col_region]);
                goto fail;
            }
        }
        city->pop_weight = 1.0;
        if (col_pop >= 0 && (size_t)col_pop < c->nfields && c->fields[col_pop][0] != '\0') {
            double w;
            if (wp_parse_double(c->fields[col_pop], &w) != WP_OK || !(w >= 0)) {
                rv = wp_errf(err, WP_EPARSE,
                             "%s:%ld: column pop_weight: expected a number >= 0, got '%.32s'",
                             c->path, c->line_no, c->fields[col_pop]);
                goto fail;
            }
            city->pop_weight = w;
        }
        for (size_t k = 0; k < t->n; k++) {
            if (strcasecmp(t->cities[k].code, city->code) == 0) {
                rv = wp_errf(err, WP_EPARSE, "%s:%ld: column code: duplicate code '%s'",
                             c->path, c->line_no, city->code);
                goto fail;
            }
        }
        t->n++;
    }
    if (t->n == 0) {
        rv = wp_errf(err, WP_EPARSE, "%s: no cities (expected at least one row after the header)",
                     c->path);
        goto fail;
    }

    t->rtt_ms = malloc(t->n * t->n * sizeof *t->rtt_ms);
    if (t->rtt_ms == NULL) {
        rv = wp_errf(err, WP_ENOMEM, "%s: out of memory for the RTT matrix", c->path);
        goto fail;
    }
    if ((rv = build_matrix(t, err)) != WP_OK)
        goto fail;
    *out = t;
    return WP_OK;
fail:
    wp_topo_free(t);
    return rv;
}

int wp_topo_load_preset(const char *name, const wp_rtt_params *params, wp_topology **out,
                        wp_err *err)
{
    *out = NULL;
    bool known = false;
    for (size_t i = 0; preset_names[i]; i++)
        known = known || (name && strcmp(name, preset_names[i]) == 0);
    if (!known)
        return wp_errf(err, WP_ENOTFOUND,
                       "unknown preset '%s' (expected edge, aws, azure, gcp or tiny)",
                       name ? name : "(null)");
    wp_csv c;
    int rv = wp__topo_open_blob(name, &c, err);
    if (rv != WP_OK)
        return rv;
    rv = load_stream(&c, name, params, out, err);
    wp_csv_close(&c);
    return rv;
}

int wp_topo_load_file(const char *path, const wp_rtt_params *params, wp_topology **out,
                      wp_err *err)
{
    *out = NULL;
    if (path == NULL)
        return wp_errf(err, WP_EINVAL, "topology: no file given");
    wp_csv c;
    int rv = wp_csv_open(&c, path, err);
    if (rv != WP_OK)
        return rv;
    rv = load_stream(&c, path, params, out, err);
    wp_csv_close(&c);
    return rv;
}

void wp_topo_free(wp_topology *t)
{
    if (t == NULL)
        return;
    free(t->cities);
    free(t->rtt_ms);
    wp_graph_free(t->graph);
    free(t->node_km);
    free(t);
}

/* ---------------------------------------------------------------- access */

const char *wp_topo_name(const wp_topology *t)
{
    return t->name;
}

size_t wp_topo_count(const wp_topology *t)
{
    return t->n;
}

const wp_city *wp_topo_city(const wp_topology *t, size_t i)
{
    return i < t->n ? &t->cities[i] : NULL;
}

int wp_topo_find(const wp_topology *t, const char *code)
{
    if (code == NULL)
        return -1;
    for (size_t i = 0; i < t->n; i++)
        if (strcasecmp(t->cities[i].code, code) == 0)
            return (int)i;
    return -1;
}

const wp_rtt_params *wp_topo_params(const wp_topology *t)
{
    return &t->params;
}

double wp_topo_rtt_ms(const wp_topology *t, size_t a, size_t b)
{
    return t->rtt_ms[a * t->n + b];
}

const float *wp_topo_rtt_row(const wp_topology *t, size_t a)
{
    return &t->rtt_ms[a * t->n];
}

double wp_topo_rtt_point_ms(const wp_topology *t, double lat, double lon, size_t city)
{
    return wp_topo_rtt_point_country_ms(t, lat, lon, NULL, city);
}

double wp_topo_rtt_point_country_ms(const wp_topology *t, double lat, double lon,
                                    const char *country, size_t city)
{
    const wp_city *c = &t->cities[city];
    double gc = wp_geo_distance_km(lat, lon, c->lat, c->lon);
    double border = wp_rtt_border_ms(&t->params, country, c->country);
    if (t->graph == NULL)
        return wp_rtt_ms_for_km(&t->params, gc) + border;
    wp__attach a;
    wp__graph_attach(t->graph, lat, lon, t->params.land_factor, &a);
    return wp_rtt_ms_for_km(&t->params, wp__graph_point_km(wp__topo_node_km(t, city), &a, gc,
                                                           t->params.land_factor)) +
           border;
}
