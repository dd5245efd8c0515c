/* wpctl topo — inspect topologies and the RTT model.
 *
 *   wpctl topo list [--preset P | --file F] [--json]
 *   wpctl topo rtt A B [--preset P | --file F] [--json]
 *   wpctl topo rtt --pairs FILE
 *   wpctl topo fit --measured FILE [--out PARAMS] [--eval PAIRS] [--json]
 *   wpctl topo coverage [--preset P | --file F] [--within-ms MS] [--json]
 * Model options (rtt, coverage, list): --rtt-params FILE (from topo fit),
 * --great-circle (v1 paths), --inflation X, --overhead-ms Y.
 *
 * Exit status: 0 ok, 1 bad data (one line "wpctl: ..."), 2 usage error. */
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"
#include "topology/topology.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Options shared by the subcommands; each accepts only its own. */
enum { OPT_PRESET, OPT_FILE, OPT_JSON, OPT_PAIRS, OPT_MEASURED, OPT_WITHIN, OPT_INFLATION,
       OPT_OVERHEAD, OPT_RTT_PARAMS, OPT_GREAT_CIRCLE, OPT_OUT, OPT_EVAL,
       OPT_CITIES_PER_COUNTRY, OPT_ACCESS_Q, OPT_END = -1 };

typedef struct topo_opts {
    const char *preset;
    const char *file;
    const char *pairs;
    const char *measured;
    bool json;
    double within_ms;
    bool have_within;
    wp_rtt_params params;
    const char *out;
    const char *eval;
    uint32_t cities_per_country;
    double access_quantile;
    int nargs;
    char **args;
} topo_opts;

#define ABOUT_MODEL                                                                        \
    "The model (v2, default): RTT = 2 x path km x inflation / 204.4 km/ms +\n"             \
    "overhead, the path following the backbone graph (land links x land\n"                 \
    "factor, submarine cables); users' legs add their country's access latency\n"          \
    "(M-Lab). --rtt-params FILE loads a `topo fit --out` file; --great-circle\n"           \
    "selects v1 paths (great circle x 1.58 + 5.8 ms, Azure-fitted).\n"

static const char *const about_list =
    "Lists the cities of a topology: code, name, country, region, lat, lon,\n"
    "pop_weight (people whose nearest city in the preset is this one).\n";

static const char *const about_rtt =
    "Model round-trip time, network only (no access latency, no jitter),\n"
    "between two city codes A and B of the topology (case-insensitive), or for\n"
    "each row of --pairs FILE. 'wpctl topo rtt --pairs FILE' takes no --preset,\n"
    "--file or --json.\n\n" ABOUT_MODEL;

static const char *const about_fit =
    "With the RIPE Atlas country table (cty1,cty2,rtt_cnt,rtt_avg, e.g.\n"
    "ripe_atlas_country_rtt_2025.csv as shipped): calibrates the v2 model\n"
    "(land factor, inflation, overhead; robust IRLS on relative error after\n"
    "removing the q10 access latency of both ends; then a border term per\n"
    "country, added at each end of a leg between two countries; a quarter of\n"
    "the rows held out) and reports the error on fitted and held-out rows, by\n"
    "distance band, and on held-out rows without the border terms.\n"
    "With a pairs file (src_lat,src_lon,dst_lat,dst_lon and rtt_ms or\n"
    "rtt_p50_ms, e.g. the Azure matrix as shipped): fits the v1 line to the\n"
    "great circles and reports the error of the model in force, by band.\n"
    "Errors are in percent (12.5 means 12.5%): median_abs_pct_err,\n"
    "p90_abs_pct_err, median_signed_pct_err.\n";

static const char *const about_coverage =
    "Share of the population (shipped world-cities points) whose anycast PoP\n"
    "(the great-circle-nearest city of the topology) is within MS of model RTT,\n"
    "overall and by region: network only, and with each user's access latency\n"
    "(the expected share from the country's M-Lab distribution).\n\n" ABOUT_MODEL;

/* Parses argv (argv[0] is the subcommand name) with the flags listed in
 * `allowed` (OPT_END-terminated). Returns WPCTL_CONTINUE, or the exit status
 * after printing help or a usage error. The model: the v2 defaults, then
 * --rtt-params, then --great-circle, then --inflation / --overhead-ms. */
static int parse_opts(const wpctl_spec *base, const int *allowed, const char *json_help, int argc,
                      char **argv, topo_opts *o)
{
    memset(o, 0, sizeof *o);
    wp_rtt_params_default(&o->params);
    const char *params_file = NULL;
    double inflation = 0, overhead_ms = 0;
    bool great_circle = false, have_inflation = false, have_overhead = false;
    const wpctl_flag all[] = {
        [OPT_PRESET] = WPF_STR("preset", &o->preset, "P", "edge (default), aws, azure, gcp or tiny"),
        [OPT_FILE] = WPF_STR("file", &o->file, "F",
                             "a CSV with columns code,name,country,lat,lon\n"
                             "[,region,pop_weight], instead of a preset"),
        [OPT_JSON] = WPF_JSON(&o->json, json_help),
        [OPT_PAIRS] = WPF_STR("pairs", &o->pairs, "FILE",
                              "a CSV whose header includes src_lat,src_lon,dst_lat,dst_lon;\n"
                              "written to stdout with a column rtt_ms appended (model_rtt_ms\n"
                              "if the file already has an rtt_ms column)"),
        [OPT_MEASURED] = WPF_STR("measured", &o->measured, "FILE",
                                 "the RIPE Atlas country table, or a pairs CSV with\n"
                                 "src_lat,src_lon,dst_lat,dst_lon and rtt_ms or rtt_p50_ms"),
        [OPT_WITHIN] = WPF_DOUBLE("within-ms", &o->within_ms, 0, 1e6, "MS",
                                  "RTT bound in ms (default 50)"),
        [OPT_INFLATION] = WPF_POSITIVE("inflation", &inflation, 0, 1e3, "X",
                                       "override the model's inflation"),
        [OPT_OVERHEAD] = WPF_DOUBLE("overhead-ms", &overhead_ms, 0, 1e6, "Y",
                                    "override the model's fixed ms per round trip"),
        [OPT_RTT_PARAMS] = WPF_STR("rtt-params", &params_file, "F",
                                   "model parameters from `wpctl topo fit --out F`\n"
                                   "(default: the shipped v2 model, topology/data/rtt_v2.params)"),
        [OPT_GREAT_CIRCLE] = WPF_BOOL("great-circle", &great_circle,
                                      "v1 paths: the great circle (x 1.58 + 5.8 ms unless a\n"
                                      "parameter file or --inflation/--overhead-ms say otherwise)"),
        [OPT_OUT] = WPF_STR("out", &o->out, "PARAMS",
                            "(country table) write the fitted parameter file"),
        [OPT_EVAL] = WPF_STR("eval", &o->eval, "PAIRS",
                             "(country table) also report the fitted model's error on a\n"
                             "pairs file of data-centre pings (network only)"),
        [OPT_CITIES_PER_COUNTRY] = WPF_U32("cities-per-country", &o->cities_per_country, 1, 100,
                                           "N", "(country table) a country is its N most populous\n"
                                           "points, population-weighted (default 5)"),
        [OPT_ACCESS_Q] = WPF_POSITIVE("access-quantile", &o->access_quantile, 0, 0.99, "Q",
                                      "(country table) the access quantile removed at each end\n"
                                      "before fitting (default 0.10)"),
    };
    wpctl_flag flags[WP_ARRAY_LEN(all) + 1];
    size_t n = 0;
    for (const int *a = allowed; *a != OPT_END; a++) {
        flags[n] = all[*a];
        if (*a == OPT_WITHIN)
            flags[n].seen = &o->have_within;
        if (*a == OPT_INFLATION)
            flags[n].seen = &have_inflation;
        if (*a == OPT_OVERHEAD)
            flags[n].seen = &have_overhead;
        n++;
    }
    flags[n] = (wpctl_flag)WPF_END;
    wpctl_spec spec = *base;
    spec.flags = flags;
    wpctl_args a;
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, &a);
    if (o->preset && o->file)
        return wpctl_usage_error(base->name, "give --preset or --file, not both");
    if (params_file) {
        wp_err err = {0};
        if (wp_rtt_params_load(params_file, &o->params, &err) != WP_OK)
            return wpctl_fail("%s", wp_err_text(&err));
    }
    if (great_circle) {
        bool access = o->params.access;
        if (params_file)
            o->params.paths = WP_RTT_PATHS_GREAT_CIRCLE;
        else
            wp_rtt_params_v1(&o->params);
        o->params.access = access;
    }
    if (have_inflation)
        o->params.inflation = inflation;
    if (have_overhead)
        o->params.overhead_ms = overhead_ms;
    o->nargs = a.argc;
    o->args = a.argv;
    return WPCTL_CONTINUE;
}

static int load_topology(const topo_opts *o, wp_topology **t)
{
    wp_err err = {0};
    int rv = o->file ? wp_topo_load_file(o->file, &o->params, t, &err)
                     : wp_topo_load_preset(o->preset ? o->preset : "edge", &o->params, t, &err);
    if (rv != WP_OK)
        return wpctl_fail("%s", wp_err_text(&err));
    return WPCTL_OK;
}

/* ---------------------------------------------------------------- list */

/* Prints s in exactly `width` columns, counting UTF-8 characters rather
 * than bytes (names like "São Paulo"), cutting at a character boundary. */
static void print_padded(const char *s, int width)
{
    int cols = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p && cols < width) {
        const unsigned char *start = p++;
        while ((*p & 0xC0) == 0x80)
            p++;
        fwrite(start, 1, (size_t)(p - start), stdout);
        cols++;
    }
    for (; cols < width; cols++)
        putchar(' ');
}

static int topo_list(int argc, char **argv)
{
    static const int allowed[] = {OPT_PRESET, OPT_FILE, OPT_JSON, OPT_END};
    static const wpctl_spec spec = {.name = "topo list", .args = NULL, .about = about_list,
                                    .max_args = 0};
    topo_opts o;
    int rv = parse_opts(&spec, allowed, "a JSON list of city objects", argc, argv, &o);
    if (rv != WPCTL_CONTINUE)
        return rv;
    if (o.nargs > 0)
        return wpctl_usage_error("topo list", "unexpected argument '%s'", o.args[0]);
    wp_topology *t = NULL;
    if ((rv = load_topology(&o, &t)) != WPCTL_OK)
        return rv;
    size_t n = wp_topo_count(t);
    if (o.json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_arr_begin(&j);
        for (size_t i = 0; i < n; i++) {
            const wp_city *c = wp_topo_city(t, i);
            wp_json_obj_begin(&j);
            wp_json_key(&j, "code");
            wp_json_str(&j, c->code);
            wp_json_key(&j, "name");
            wp_json_str(&j, c->name);
            wp_json_key(&j, "country");
            wp_json_str(&j, c->country);
            wp_json_key(&j, "region");
            wp_json_str(&j, wp_region_name(c->region));
            wp_json_key(&j, "lat");
            wp_json_double(&j, c->lat);
            wp_json_key(&j, "lon");
            wp_json_double(&j, c->lon);
            wp_json_key(&j, "pop_weight");
            wp_json_double(&j, c->pop_weight);
            wp_json_obj_end(&j);
        }
        wp_json_arr_end(&j);
        wp_json_end(&j);
    } else {
        printf("%-24s %-28s %-7s %-14s %9s %10s %14s\n", "CODE", "NAME", "COUNTRY", "REGION",
               "LAT", "LON", "POP_WEIGHT");
        for (size_t i = 0; i < n; i++) {
            const wp_city *c = wp_topo_city(t, i);
            printf("%-24s ", c->code);
            print_padded(c->name, 28);
            printf(" %-7s %-14s %9.4f %10.4f %14.0f\n", c->country, wp_region_name(c->region),
                   c->lat, c->lon, c->pop_weight);
        }
        printf("%zu cities (%s)\n", n, wp_topo_name(t));
    }
    wp_topo_free(t);
    return WPCTL_OK;
}

/* ---------------------------------------------------------------- pairs files */

/* A CSV of coordinate pairs (header src_lat,src_lon,dst_lat,dst_lon and,
 * when measured, rtt_ms or rtt_p50_ms), read whole. Each raw line is kept
 * for `rtt --pairs`, which echoes it. */
typedef struct pairs {
    size_t n, cap;
    double *lat1, *lon1, *lat2, *lon2, *rtt_ms;
    char *text;    /* raw lines, NUL-separated */
    size_t *line;  /* offset of each raw line in text */
    size_t text_len, text_cap;
    char *header;
    bool header_has_rtt;
} pairs;

#define PAIRS_MAX 10000000

static void pairs_free(pairs *p)
{
    free(p->lat1);
    free(p->lon1);
    free(p->lat2);
    free(p->lon2);
    free(p->rtt_ms);
    free(p->text);
    free(p->line);
    free(p->header);
}

static int pairs_grow(pairs *p, size_t len)
{
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 1024;
        double **arr[] = {&p->lat1, &p->lon1, &p->lat2, &p->lon2, &p->rtt_ms};
        for (size_t k = 0; k < WP_ARRAY_LEN(arr); k++) {
            double *na = realloc(*arr[k], ncap * sizeof *na);
            if (na == NULL)
                return WP_ENOMEM;
            *arr[k] = na;
        }
        size_t *nl = realloc(p->line, ncap * sizeof *nl);
        if (nl == NULL)
            return WP_ENOMEM;
        p->line = nl;
        p->cap = ncap;
    }
    if (p->text_len + len + 1 > p->text_cap) {
        size_t ncap = p->text_cap ? p->text_cap * 2 : 65536;
        while (ncap < p->text_len + len + 1)
            ncap *= 2;
        char *nt = realloc(p->text, ncap);
        if (nt == NULL)
            return WP_ENOMEM;
        p->text = nt;
        p->text_cap = ncap;
    }
    return WP_OK;
}

static const char *const pair_names[4] = {"src_lat", "src_lon", "dst_lat", "dst_lon"};

/* need_rtt: the file must carry a measured RTT (rtt_ms or rtt_p50_ms). */
static int read_pairs(const char *path, bool need_rtt, pairs *p, wp_err *err)
{
    memset(p, 0, sizeof *p);
    wp_csv c;
    int rv = wp_csv_open(&c, path, err);
    if (rv != WP_OK)
        return rv;
    int col[4], col_rtt = -1;
    const char *rtt_name = "rtt_ms";
    rv = wp_csv_next(&c, err);
    if (rv == WP_ENOTFOUND)
        rv = wp_errf(err, WP_EPARSE, "%s: empty file (expected a header line)", c.path);
    for (int i = 0; i < 4 && rv == WP_OK; i++)
        if ((col[i] = wp_csv_find(&c, pair_names[i])) < 0)
            rv = wp_errf(err, WP_EPARSE, "%s:%ld: missing column '%s'", c.path, c.line_no,
                         pair_names[i]);
    if (rv == WP_OK) {
        p->header = strdup(c.raw);
        col_rtt = wp_csv_find(&c, "rtt_ms");
        if (col_rtt < 0 && (col_rtt = wp_csv_find(&c, "rtt_p50_ms")) >= 0)
            rtt_name = "rtt_p50_ms";
        p->header_has_rtt = wp_csv_find(&c, "rtt_ms") >= 0;
        if (p->header == NULL)
            rv = wp_errf(err, WP_ENOMEM, "out of memory");
        else if (need_rtt && col_rtt < 0)
            rv = wp_errf(err, WP_EPARSE, "%s:%ld: missing column 'rtt_ms' (or rtt_p50_ms)",
                         c.path, c.line_no);
    }
    while (rv == WP_OK) {
        rv = wp_csv_next(&c, err);
        if (rv == WP_ENOTFOUND) {
            rv = WP_OK;
            break;
        }
        if (rv != WP_OK)
            break;
        if (p->n == PAIRS_MAX) {
            rv = wp_errf(err, WP_ETOOBIG, "%s:%ld: more than %d pairs", c.path, c.line_no,
                         PAIRS_MAX);
            break;
        }
        size_t len = strlen(c.raw);
        if (pairs_grow(p, len) != WP_OK) {
            rv = wp_errf(err, WP_ENOMEM, "%s: out of memory", c.path);
            break;
        }
        double *dst[4] = {&p->lat1[p->n], &p->lon1[p->n], &p->lat2[p->n], &p->lon2[p->n]};
        for (int i = 0; i < 4 && rv == WP_OK; i++)
            rv = (i % 2 == 0) ? wp_topo_csv_lat(&c, col[i], pair_names[i], dst[i], err)
                              : wp_topo_csv_lon(&c, col[i], pair_names[i], dst[i], err);
        if (rv == WP_OK && need_rtt) {
            if ((size_t)col_rtt >= c.nfields)
                rv = wp_errf(err, WP_EPARSE, "%s:%ld: column %s: missing (the row has %zu "
                             "fields)", c.path, c.line_no, rtt_name, c.nfields);
            else if ((rv = wp_csv_double(&c, (size_t)col_rtt, rtt_name, &p->rtt_ms[p->n],
                                         err)) == WP_OK &&
                     !(p->rtt_ms[p->n] > 0))
                rv = wp_errf(err, WP_EPARSE, "%s:%ld: column %s: expected a number > 0, got "
                             "'%s'", c.path, c.line_no, rtt_name, c.fields[col_rtt]);
        }
        if (rv != WP_OK)
            break;
        p->line[p->n] = p->text_len;
        memcpy(p->text + p->text_len, c.raw, len + 1);
        p->text_len += len + 1;
        p->n++;
    }
    if (rv == WP_OK && need_rtt && p->n < 2)
        rv = wp_errf(err, WP_EPARSE, "%s: need at least 2 measured pairs, got %zu", c.path, p->n);
    wp_csv_close(&c);
    if (rv != WP_OK)
        pairs_free(p);
    return rv;
}

/* ---------------------------------------------------------------- rtt */

/* Reads the whole file first and writes to stdout only on success, so a
 * bad line never leaves half an output behind. */
static int rtt_pairs(const topo_opts *o)
{
    wp_err err = {0};
    pairs p;
    if (read_pairs(o->pairs, false, &p, &err) != WP_OK)
        return wpctl_fail("%s", wp_err_text(&err));
    double *ms = malloc((p.n ? p.n : 1) * sizeof *ms);
    int rv = ms ? wp_rtt_model_pairs(&o->params, p.lat1, p.lon1, p.lat2, p.lon2, p.n, ms, &err)
                : wp_errf(&err, WP_ENOMEM, "out of memory");
    if (rv == WP_OK) {
        printf("%s,%s\n", p.header, p.header_has_rtt ? "model_rtt_ms" : "rtt_ms");
        for (size_t i = 0; i < p.n; i++)
            printf("%s,%.2f\n", p.text + p.line[i], ms[i]);
    }
    free(ms);
    pairs_free(&p);
    return rv == WP_OK ? WPCTL_OK : wpctl_fail("%s", wp_err_text(&err));
}

static int topo_rtt(int argc, char **argv)
{
    static const int allowed[] = {OPT_PRESET,    OPT_FILE,     OPT_JSON,       OPT_PAIRS,
                                  OPT_INFLATION, OPT_OVERHEAD, OPT_RTT_PARAMS, OPT_GREAT_CIRCLE,
                                  OPT_END};
    static const wpctl_spec spec = {.name = "topo rtt", .args = "A B", .about = about_rtt,
                                    .max_args = 2};
    topo_opts o;
    int rv = parse_opts(&spec, allowed, "{src, dst, km (great circle), rtt_ms, rtt_model}", argc,
                        argv, &o);
    if (rv != WPCTL_CONTINUE)
        return rv;
    if (o.pairs) {
        if (o.nargs > 0)
            return wpctl_usage_error("topo rtt", "give two city codes or --pairs FILE, not both");
        if (o.preset || o.file || o.json)
            return wpctl_usage_error("topo rtt", "--pairs takes no --preset, --file or --json");
        return rtt_pairs(&o);
    }
    if (o.nargs != 2)
        return wpctl_usage_error("topo rtt", "expected two city codes (e.g. FRA SIN), got %d",
                                 o.nargs);
    wp_topology *t = NULL;
    if ((rv = load_topology(&o, &t)) != WPCTL_OK)
        return rv;
    int idx[2];
    for (int i = 0; i < 2; i++) {
        idx[i] = wp_topo_find(t, o.args[i]);
        if (idx[i] < 0) {
            rv = wpctl_fail("unknown city code '%s' in %s (see 'wpctl topo list')", o.args[i],
                            wp_topo_name(t));
            wp_topo_free(t);
            return rv;
        }
    }
    const wp_city *a = wp_topo_city(t, (size_t)idx[0]), *b = wp_topo_city(t, (size_t)idx[1]);
    double km = wp_geo_distance_km(a->lat, a->lon, b->lat, b->lon);
    double rtt_ms = wp_topo_rtt_ms(t, (size_t)idx[0], (size_t)idx[1]);
    char model[256];
    wp_rtt_params_describe(&o.params, model, sizeof model);
    if (o.json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "src");
        wp_json_str(&j, a->code);
        wp_json_key(&j, "dst");
        wp_json_str(&j, b->code);
        wp_json_key(&j, "km");
        wp_json_double(&j, km);
        wp_json_key(&j, "rtt_ms");
        wp_json_double(&j, rtt_ms);
        wp_json_key(&j, "rtt_model");
        wp_json_str(&j, model);
        wp_json_obj_end(&j);
        wp_json_end(&j);
    } else {
        printf("%s (%s) -> %s (%s): %.1f ms RTT (model, network only), %.0f km great circle\n"
               "model: %s\n",
               a->code, a->name, b->code, b->name, rtt_ms, km, model);
    }
    wp_topo_free(t);
    return WPCTL_OK;
}

/* ---------------------------------------------------------------- fit */

static void json_stats(wp_json *j, const char *key, const wp_err_stats *st)
{
    wp_json_key(j, key);
    wp_json_obj_begin(j);
    wp_json_key(j, "pairs");
    wp_json_uint(j, st->n);
    wp_json_key(j, "median_abs_pct_err");
    wp_json_double(j, st->median_abs_pct);
    wp_json_key(j, "p90_abs_pct_err");
    wp_json_double(j, st->p90_abs_pct);
    wp_json_key(j, "median_signed_pct_err");
    wp_json_double(j, st->median_signed_pct);
    wp_json_obj_end(j);
}

static void print_stats(const char *label, const wp_err_stats *st)
{
    printf("  %-22s %6zu pairs  median |err| %5.1f%%  p90 |err| %5.1f%%  median signed %+5.1f%%\n",
           label, st->n, st->median_abs_pct, st->p90_abs_pct, st->median_signed_pct);
}

static void band_label(int b, char *buf, size_t len)
{
    if (b == WP_CALIB_BANDS - 1)
        snprintf(buf, len, ">= %.0f km", wp_calib_band_km[b]);
    else
        snprintf(buf, len, "%.0f-%.0f km", wp_calib_band_km[b], wp_calib_band_km[b + 1]);
}

/* Evaluation on DC-to-DC pairs (no access): all and by band. */
typedef struct dc_eval {
    wp_err_stats all, band[WP_CALIB_BANDS];
} dc_eval;

static int eval_pairs_file(const char *path, const wp_rtt_params *p, dc_eval *ev, wp_err *err)
{
    pairs pr;
    int rv = read_pairs(path, true, &pr, err);
    if (rv != WP_OK)
        return rv;
    rv = wp_rtt_eval_pairs(p, pr.lat1, pr.lon1, pr.lat2, pr.lon2, pr.rtt_ms, pr.n, &ev->all,
                           ev->band, err);
    pairs_free(&pr);
    return rv;
}

static void json_bands(wp_json *j, const char *key, const wp_err_stats *band)
{
    wp_json_key(j, key);
    wp_json_obj_begin(j);
    for (int b = 0; b < WP_CALIB_BANDS; b++) {
        char lab[48];
        band_label(b, lab, sizeof lab);
        json_stats(j, lab, &band[b]);
    }
    wp_json_obj_end(j);
}

/* Is the file the RIPE Atlas country table (cty1,cty2,...)? */
static int is_country_table(const char *path, bool *yes, wp_err *err)
{
    wp_csv c;
    int rv = wp_csv_open(&c, path, err);
    if (rv != WP_OK)
        return rv;
    rv = wp_csv_next(&c, err);
    if (rv == WP_ENOTFOUND)
        rv = wp_errf(err, WP_EPARSE, "%s: empty file (expected a header line)", c.path);
    *yes = rv == WP_OK && wp_csv_find(&c, "cty1") >= 0;
    wp_csv_close(&c);
    return rv;
}

/* v1 fit (a line over great circles) of a pairs file, and the error of
 * the v1 defaults and of the v2 parameters in force on it. */
static int fit_pairs(const topo_opts *o)
{
    wp_err err = {0};
    pairs p;
    if (read_pairs(o->measured, true, &p, &err) != WP_OK)
        return wpctl_fail("%s", wp_err_text(&err));
    double *km = malloc(p.n * sizeof *km);
    if (km == NULL) {
        pairs_free(&p);
        return wpctl_fail("out of memory");
    }
    for (size_t i = 0; i < p.n; i++)
        km[i] = wp_geo_distance_km(p.lat1[i], p.lon1[i], p.lat2[i], p.lon2[i]);
    wp_rtt_params def;
    wp_rtt_params_v1(&def);
    wp_rtt_fit fit, cur;
    dc_eval v2;
    int rv = wp_rtt_fit_pairs(km, p.rtt_ms, p.n, def.fiber_km_per_ms, &fit, &err);
    if (rv == WP_OK)
        rv = wp_rtt_evaluate(&def, km, p.rtt_ms, p.n, &cur, &err);
    if (rv == WP_OK)
        rv = wp_rtt_eval_pairs(&o->params, p.lat1, p.lon1, p.lat2, p.lon2, p.rtt_ms, p.n,
                               &v2.all, v2.band, &err);
    free(km);
    pairs_free(&p);
    if (rv != WP_OK)
        return wpctl_fail("%s", wp_err_text(&err));
    char model[256];
    wp_rtt_params_describe(&o->params, model, sizeof model);
    if (o->json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "inflation");
        wp_json_double(&j, fit.inflation);
        wp_json_key(&j, "overhead_ms");
        wp_json_double(&j, fit.overhead_ms);
        wp_json_key(&j, "pairs");
        wp_json_uint(&j, fit.pairs);
        wp_json_key(&j, "median_abs_pct_err");
        wp_json_double(&j, fit.median_abs_pct_err);
        wp_json_key(&j, "p90_abs_pct_err");
        wp_json_double(&j, fit.p90_abs_pct_err);
        wp_json_key(&j, "fiber_km_per_ms");
        wp_json_double(&j, def.fiber_km_per_ms);
        wp_json_key(&j, "rtt_model");
        wp_json_str(&j, model);
        json_stats(&j, "model", &v2.all);
        json_bands(&j, "model_by_band", v2.band);
        wp_json_obj_end(&j);
        wp_json_end(&j);
    } else {
        printf("pairs                %zu\n", fit.pairs);
        printf("v1 line, fitted      inflation %.3f, overhead %.2f ms (fiber %.1f km/ms, "
               "great circle)\n", fit.inflation, fit.overhead_ms, def.fiber_km_per_ms);
        printf("  error              median %.1f%%, p90 %.1f%%\n", fit.median_abs_pct_err,
               fit.p90_abs_pct_err);
        printf("v1 defaults          inflation %.3f, overhead %.2f ms\n", cur.inflation,
               cur.overhead_ms);
        printf("  error              median %.1f%%, p90 %.1f%%\n", cur.median_abs_pct_err,
               cur.p90_abs_pct_err);
        printf("model in force: %s\n", model);
        print_stats("all", &v2.all);
        for (int b = 0; b < WP_CALIB_BANDS; b++) {
            char lab[48];
            band_label(b, lab, sizeof lab);
            print_stats(lab, &v2.band[b]);
        }
    }
    return WPCTL_OK;
}

/* v2 calibration on the RIPE Atlas country table. */
static int fit_countries(const topo_opts *o)
{
    wp_err err = {0};
    wp_calib_opts co = {.measured_path = o->measured,
                        .cities_per_country = (int)o->cities_per_country,
                        .access_quantile = o->access_quantile};
    wp_calib_result res;
    if (wp_calibrate(&co, &res, &err) != WP_OK)
        return wpctl_fail("%s", wp_err_text(&err));
    dc_eval ev;
    if (o->eval && eval_pairs_file(o->eval, &res.params, &ev, &err) != WP_OK)
        return wpctl_fail("%s", wp_err_text(&err));
    if (o->out) {
        FILE *fp = fopen(o->out, "w");
        if (fp == NULL)
            return wpctl_fail("%s: cannot write: %s", o->out, strerror(errno));
        fprintf(fp, "# fitted on %s: %zu rows kept, %zu fitted, %zu held out\n", o->measured,
                res.rows_kept, res.rows_fit, res.rows_held);
        fprintf(fp, "# held out: median |err| %.1f%%, p90 %.1f%%, median signed %+.1f%%\n",
                res.held.median_abs_pct, res.held.p90_abs_pct, res.held.median_signed_pct);
        int wr = wp_rtt_params_write(fp, &res.params);
        if (fclose(fp) != 0 || wr != WP_OK)
            return wpctl_fail("%s: write failed", o->out);
    }
    char model[256];
    wp_rtt_params_describe(&res.params, model, sizeof model);
    if (o->json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "inflation");
        wp_json_double(&j, res.params.inflation);
        wp_json_key(&j, "overhead_ms");
        wp_json_double(&j, res.params.overhead_ms);
        wp_json_key(&j, "land_factor");
        wp_json_double(&j, res.params.land_factor);
        wp_json_key(&j, "fiber_km_per_ms");
        wp_json_double(&j, res.params.fiber_km_per_ms);
        wp_json_key(&j, "access_quantile_removed");
        wp_json_double(&j, res.access_quantile);
        wp_json_key(&j, "rows");
        wp_json_obj_begin(&j);
        wp_json_key(&j, "read");
        wp_json_uint(&j, res.rows_read);
        wp_json_key(&j, "dropped_count_below_100");
        wp_json_uint(&j, res.dropped_count);
        wp_json_key(&j, "dropped_unknown_country");
        wp_json_uint(&j, res.dropped_unknown);
        wp_json_key(&j, "dropped_faster_than_light");
        wp_json_uint(&j, res.dropped_ftl);
        wp_json_key(&j, "dropped_access_exceeds_rtt");
        wp_json_uint(&j, res.dropped_access);
        wp_json_key(&j, "fit");
        wp_json_uint(&j, res.rows_fit);
        wp_json_key(&j, "held_out");
        wp_json_uint(&j, res.rows_held);
        wp_json_obj_end(&j);
        json_stats(&j, "fit", &res.fit);
        json_stats(&j, "held_out", &res.held);
        json_bands(&j, "held_out_by_band", res.held_band);
        json_stats(&j, "held_out_without_border", &res.held_no_border);
        wp_json_key(&j, "border_terms");
        wp_json_uint(&j, res.params.n_border);
        if (o->eval) {
            json_stats(&j, "eval", &ev.all);
            json_bands(&j, "eval_by_band", ev.band);
        }
        if (o->out) {
            wp_json_key(&j, "out");
            wp_json_str(&j, o->out);
        }
        wp_json_obj_end(&j);
        wp_json_end(&j);
    } else {
        printf("rows                 %zu read; dropped %zu (rtt_cnt < 100), %zu (unknown "
               "country), %zu (faster than light), %zu (access term >= rtt); %zu fitted, %zu held "
               "out\n",
               res.rows_read, res.dropped_count, res.dropped_unknown, res.dropped_ftl,
               res.dropped_access,
               res.rows_fit, res.rows_held);
        printf("fitted               %s\n", model);
        printf("access removed       q%02.0f of each end's access curve (M-Lab)\n",
               100.0 * res.access_quantile);
        printf("RIPE Atlas (network + access of both ends vs rtt_avg)\n");
        print_stats("fit rows", &res.fit);
        print_stats("held-out rows", &res.held);
        for (int b = 0; b < WP_CALIB_BANDS; b++) {
            char lab[48];
            band_label(b, lab, sizeof lab);
            print_stats(lab, &res.held_band[b]);
        }
        print_stats("held-out, no border", &res.held_no_border);
        printf("border terms         %u countries > 0 ms (%u rounds)\n", res.params.n_border,
               res.border_rounds);
        if (o->eval) {
            printf("%s (data-centre pairs: paths and border terms, no access)\n", o->eval);
            print_stats("all", &ev.all);
            for (int b = 0; b < WP_CALIB_BANDS; b++) {
                char lab[48];
                band_label(b, lab, sizeof lab);
                print_stats(lab, &ev.band[b]);
            }
        }
        if (o->out)
            printf("wrote %s\n", o->out);
    }
    return WPCTL_OK;
}

static int topo_fit(int argc, char **argv)
{
    static const int allowed[] = {OPT_MEASURED,     OPT_JSON,   OPT_OUT,
                                  OPT_EVAL,         OPT_RTT_PARAMS,
                                  OPT_GREAT_CIRCLE, OPT_CITIES_PER_COUNTRY,
                                  OPT_ACCESS_Q,     OPT_END};
    static const wpctl_spec spec = {.name = "topo fit", .args = "--measured FILE",
                                    .about = about_fit, .max_args = 0};
    topo_opts o;
    int rv = parse_opts(&spec, allowed,
                        "one object: the fitted parameters, rows used and dropped,\n"
                        "error statistics (fit, held_out, by band; eval)",
                        argc, argv, &o);
    if (rv != WPCTL_CONTINUE)
        return rv;
    if (o.nargs > 0)
        return wpctl_usage_error("topo fit", "unexpected argument '%s'", o.args[0]);
    if (!o.measured)
        return wpctl_usage_error("topo fit", "--measured FILE is required");
    wp_err err = {0};
    bool countries = false;
    if (is_country_table(o.measured, &countries, &err) != WP_OK)
        return wpctl_fail("%s", wp_err_text(&err));
    if (!countries && (o.out || o.eval))
        return wpctl_usage_error("topo fit", "--out and --eval apply to a country table "
                                 "(cty1,cty2,rtt_cnt,rtt_avg)");
    return countries ? fit_countries(&o) : fit_pairs(&o);
}

/* ---------------------------------------------------------------- coverage */

static void json_regions(wp_json *j, const double *by_region)
{
    wp_json_key(j, "regions");
    wp_json_obj_begin(j);
    for (int r = 0; r < WP_REGION_COUNT; r++) {
        wp_json_key(j, wp_region_name((wp_region)r));
        wp_json_double(j, by_region[r]);
    }
    wp_json_obj_end(j);
}

static int topo_coverage(int argc, char **argv)
{
    static const int allowed[] = {OPT_PRESET,    OPT_FILE,     OPT_JSON,       OPT_WITHIN,
                                  OPT_INFLATION, OPT_OVERHEAD, OPT_RTT_PARAMS, OPT_GREAT_CIRCLE,
                                  OPT_END};
    static const wpctl_spec spec = {.name = "topo coverage", .args = NULL,
                                    .about = about_coverage, .max_args = 0};
    topo_opts o;
    int rv = parse_opts(&spec, allowed,
                        "keys within_ms, rtt_model, population_fraction, regions\n"
                        "{name: fraction} (network only), with_access {population_fraction,\n"
                        "regions}",
                        argc, argv, &o);
    if (rv != WPCTL_CONTINUE)
        return rv;
    if (o.nargs > 0)
        return wpctl_usage_error("topo coverage", "unexpected argument '%s'", o.args[0]);
    double within_ms = o.have_within ? o.within_ms : 50.0;
    wp_topology *t = NULL;
    if ((rv = load_topology(&o, &t)) != WPCTL_OK)
        return rv;
    wp_err err = {0};
    wp_users *u = NULL;
    if (wp_users_load(t, NULL, &u, &err) != WP_OK) {
        wp_topo_free(t);
        return wpctl_fail("%s", wp_err_text(&err));
    }
    double overall, by_region[WP_REGION_COUNT], acc_all, acc_region[WP_REGION_COUNT];
    wp_users_coverage(u, within_ms, &overall, by_region);
    wp_users_coverage_access(u, within_ms, &acc_all, acc_region);
    char model[256];
    wp_rtt_params_describe(&o.params, model, sizeof model);
    if (o.json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "topology");
        wp_json_str(&j, wp_topo_name(t));
        wp_json_key(&j, "within_ms");
        wp_json_double(&j, within_ms);
        wp_json_key(&j, "rtt_model");
        wp_json_str(&j, model);
        wp_json_key(&j, "population_fraction");
        wp_json_double(&j, overall);
        json_regions(&j, by_region);
        wp_json_key(&j, "with_access");
        wp_json_obj_begin(&j);
        wp_json_key(&j, "population_fraction");
        wp_json_double(&j, acc_all);
        json_regions(&j, acc_region);
        wp_json_obj_end(&j);
        wp_json_obj_end(&j);
        wp_json_end(&j);
    } else {
        printf("population within %.1f ms RTT of its anycast PoP (%s, %zu cities)\n"
               "model: %s\n", within_ms, wp_topo_name(t), wp_topo_count(t), model);
        printf("  %-14s %12s %12s\n", "region", "network", "with access");
        for (int r = 0; r < WP_REGION_COUNT; r++)
            printf("  %-14s %11.1f%% %11.1f%%\n", wp_region_name((wp_region)r),
                   100.0 * by_region[r], 100.0 * acc_region[r]);
        printf("  %-14s %11.1f%% %11.1f%%\n", "all", 100.0 * overall, 100.0 * acc_all);
    }
    wp_users_free(u);
    wp_topo_free(t);
    return WPCTL_OK;
}

/* ---------------------------------------------------------------- dispatch */

int wpctl_topo_main(int argc, char **argv)
{
    static const struct wpctl_cmd subs[] = {
        {"list", "list the cities of a preset or CSV file", topo_list},
        {"rtt", "model RTT between two cities, or for coordinate pairs in a CSV", topo_rtt},
        {"fit", "calibrate the model on public pings (RIPE Atlas country table), or fit\n"
                "the v1 line to coordinate pairs", topo_fit},
        {"coverage", "share of the population whose anycast PoP is within an RTT, network\n"
                     "only and with the users' access latency", topo_coverage},
    };
    return wpctl_dispatch("topo",
                          "Topologies (cities, regions, presets) and the RTT model (v2: backbone\n"
                          "paths, users' access latency; --great-circle for v1).\n"
                          "Presets: edge (Cloudflare PoPs, default), aws, azure, gcp, tiny.\n",
                          subs, WP_ARRAY_LEN(subs), argc, argv);
}
