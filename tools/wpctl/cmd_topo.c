/* wpctl topo — inspect topologies and the RTT model.
 *
 *   wpctl topo list [--preset P | --file F] [--json]
 *   wpctl topo rtt A B [--preset P | --file F] [--json]
 *   wpctl topo rtt --pairs FILE
 *   wpctl topo fit --measured FILE [--json]
 *   wpctl topo coverage [--preset P | --file F] [--within-ms MS] [--json]
 *
 * Exit status: 0 ok, 1 bad data (one line "wpctl: ..."), 2 usage error. */
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"
#include "topology/topology.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Options shared by the subcommands; each accepts only its own. */
enum { OPT_PRESET, OPT_FILE, OPT_JSON, OPT_PAIRS, OPT_MEASURED, OPT_WITHIN, OPT_INFLATION,
       OPT_OVERHEAD, OPT_END = -1 };

typedef struct topo_opts {
    const char *preset;
    const char *file;
    const char *pairs;
    const char *measured;
    bool json;
    double within_ms;
    bool have_within;
    wp_rtt_params params;
    int nargs;
    char **args;
} topo_opts;

static const char *const about_list =
    "Lists the cities of a topology: code, name, country, region, lat, lon,\n"
    "pop_weight (people whose nearest city in the preset is this one).\n";

static const char *const about_rtt =
    "Model round-trip time (no jitter) between two city codes A and B of the\n"
    "topology (case-insensitive), or for each row of --pairs FILE:\n"
    "2 * great-circle km * inflation / fiber speed (204.4 km/ms) + overhead.\n"
    "Defaults were fitted on Azure's measured inter-region pings (see\n"
    "topology/rtt.c). 'wpctl topo rtt --pairs FILE' takes no --preset, --file\n"
    "or --json.\n";

static const char *const about_fit =
    "Fits the RTT model's inflation and overhead to measured pings by least\n"
    "squares on relative error (fiber speed fixed at 204.4 km/ms) and reports\n"
    "the error of the fit and of the current defaults.\n";

static const char *const about_coverage =
    "Share of the population (shipped world-cities points) whose anycast PoP\n"
    "(the lowest-RTT city of the topology) is within MS of model RTT, overall\n"
    "and by region.\n";

/* Parses argv (argv[0] is the subcommand name) with the flags listed in
 * `allowed` (OPT_END-terminated). Returns WPCTL_CONTINUE, or the exit status
 * after printing help or a usage error. */
static int parse_opts(const wpctl_spec *base, const int *allowed, const char *json_help, int argc,
                      char **argv, topo_opts *o)
{
    memset(o, 0, sizeof *o);
    wp_rtt_params_default(&o->params);
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
                                 "CSV with columns src_lat,src_lon,dst_lat,dst_lon,rtt_ms"),
        [OPT_WITHIN] = WPF_DOUBLE("within-ms", &o->within_ms, 0, 1e6, "MS",
                                  "RTT bound in ms (default 50)"),
        [OPT_INFLATION] = WPF_POSITIVE("inflation", &o->params.inflation, 0, 1e3, "X",
                                       "path length / great-circle length (default 1.58)"),
        [OPT_OVERHEAD] = WPF_DOUBLE("overhead-ms", &o->params.overhead_ms, 0, 1e6, "Y",
                                    "fixed ms per round trip (default 5.8)"),
    };
    wpctl_flag flags[WP_ARRAY_LEN(all) + 1];
    size_t n = 0;
    for (const int *a = allowed; *a != OPT_END; a++) {
        flags[n] = all[*a];
        if (*a == OPT_WITHIN)
            flags[n].seen = &o->have_within;
        n++;
    }
    flags[n] = (wpctl_flag)WPF_END;
    wpctl_spec spec = *base;
    spec.flags = flags;
    wpctl_args a;
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, &a);
    if (o->preset && o->file)
        return wpctl_usage_error(base->name, "give --preset or --file, not both");
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
    static const wpctl_spec spec = {.name = "topo list", .args = NULL, .about = about_list, .max_args = 0};
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

/* ---------------------------------------------------------------- rtt */

/* The four coordinate columns of a pairs file, by header name. */
typedef struct pair_cols {
    int col[4];
} pair_cols;
static const char *const pair_names[4] = {"src_lat", "src_lon", "dst_lat", "dst_lon"};

static int find_pair_cols(const wp_csv *c, pair_cols *pc, wp_err *err)
{
    for (int i = 0; i < 4; i++) {
        pc->col[i] = wp_csv_find(c, pair_names[i]);
        if (pc->col[i] < 0)
            return wp_errf(err, WP_EPARSE, "%s:%ld: missing column '%s'", c->path, c->line_no,
                           pair_names[i]);
    }
    return WP_OK;
}

/* Great-circle km of the current record's pair. */
static int read_pair_km(const wp_csv *c, const pair_cols *pc, double *km, wp_err *err)
{
    double v[4];
    for (int i = 0; i < 4; i++) {
        int rv = (i % 2 == 0) ? wp_topo_csv_lat(c, pc->col[i], pair_names[i], &v[i], err)
                              : wp_topo_csv_lon(c, pc->col[i], pair_names[i], &v[i], err);
        if (rv != WP_OK)
            return rv;
    }
    *km = wp_geo_distance_km(v[0], v[1], v[2], v[3]);
    return WP_OK;
}

/* Reads the whole file first and writes to stdout only on success, so a
 * bad line never leaves half an output behind. */
static int rtt_pairs(const topo_opts *o)
{
    wp_err err = {0};
    wp_csv c;
    if (wp_csv_open(&c, o->pairs, &err) != WP_OK)
        return wpctl_fail("%s", wp_err_text(&err));
    char *buf = NULL;
    size_t buflen = 0;
    FILE *mem = open_memstream(&buf, &buflen);
    int rv = mem ? wp_csv_next(&c, &err) : wp_errf(&err, WP_ENOMEM, "out of memory");
    if (rv == WP_ENOTFOUND)
        rv = wp_errf(&err, WP_EPARSE, "%s: empty file (expected a header line)", c.path);
    pair_cols pc;
    if (rv == WP_OK)
        rv = find_pair_cols(&c, &pc, &err);
    if (rv == WP_OK)
        fprintf(mem, "%s,%s\n", c.raw, wp_csv_find(&c, "rtt_ms") >= 0 ? "model_rtt_ms" : "rtt_ms");
    while (rv == WP_OK) {
        rv = wp_csv_next(&c, &err);
        if (rv == WP_ENOTFOUND) {
            rv = WP_OK;
            break;
        }
        double km;
        if (rv == WP_OK)
            rv = read_pair_km(&c, &pc, &km, &err);
        if (rv == WP_OK)
            fprintf(mem, "%s,%.2f\n", c.raw, wp_rtt_ms_for_km(&o->params, km));
    }
    wp_csv_close(&c);
    if (mem)
        fclose(mem);
    if (rv == WP_OK && buf)
        fwrite(buf, 1, buflen, stdout);
    free(buf);
    return rv == WP_OK ? WPCTL_OK : wpctl_fail("%s", wp_err_text(&err));
}

static int topo_rtt(int argc, char **argv)
{
    static const int allowed[] = {OPT_PRESET, OPT_FILE, OPT_JSON, OPT_PAIRS, OPT_INFLATION,
                                  OPT_OVERHEAD, OPT_END};
    static const wpctl_spec spec = {.name = "topo rtt", .args = "A B", .about = about_rtt, .max_args = 2};
    topo_opts o;
    int rv = parse_opts(&spec, allowed, "{src, dst, km, rtt_ms}", argc, argv, &o);
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
        wp_json_obj_end(&j);
        wp_json_end(&j);
    } else {
        printf("%s (%s) -> %s (%s): %.1f ms RTT (model), %.0f km great circle\n", a->code,
               a->name, b->code, b->name, rtt_ms, km);
    }
    wp_topo_free(t);
    return WPCTL_OK;
}

/* ---------------------------------------------------------------- fit */

static int read_measured(const char *path, double **km_out, double **rtt_out, size_t *n_out,
                         wp_err *err)
{
    wp_csv c;
    int rv = wp_csv_open(&c, path, err);
    if (rv != WP_OK)
        return rv;
    double *km = NULL, *rtt = NULL;
    size_t n = 0, cap = 0;
    pair_cols pc;
    int col_rtt = -1;
    rv = wp_csv_next(&c, err);
    if (rv == WP_ENOTFOUND)
        rv = wp_errf(err, WP_EPARSE, "%s: empty file (expected a header line)", c.path);
    if (rv == WP_OK)
        rv = find_pair_cols(&c, &pc, err);
    if (rv == WP_OK && (col_rtt = wp_csv_find(&c, "rtt_ms")) < 0)
        rv = wp_errf(err, WP_EPARSE, "%s:%ld: missing column 'rtt_ms'", c.path, c.line_no);
    while (rv == WP_OK) {
        rv = wp_csv_next(&c, err);
        if (rv == WP_ENOTFOUND) {
            rv = WP_OK;
            break;
        }
        if (rv != WP_OK)
            break;
        if (n == 10000000) {
            rv = wp_errf(err, WP_ETOOBIG, "%s:%ld: more than 10 million pairs", c.path,
                         c.line_no);
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            double *nk = realloc(km, ncap * sizeof *nk);
            if (nk)
                km = nk;
            double *nr = realloc(rtt, ncap * sizeof *nr);
            if (nr)
                rtt = nr;
            if (!nk || !nr) {
                rv = wp_errf(err, WP_ENOMEM, "%s: out of memory", c.path);
                break;
            }
            cap = ncap;
        }
        if ((rv = read_pair_km(&c, &pc, &km[n], err)) != WP_OK)
            break;
        if ((size_t)col_rtt >= c.nfields) {
            rv = wp_errf(err, WP_EPARSE, "%s:%ld: column rtt_ms: missing (the row has %zu fields)",
                         c.path, c.line_no, c.nfields);
            break;
        }
        if ((rv = wp_csv_double(&c, (size_t)col_rtt, "rtt_ms", &rtt[n], err)) != WP_OK)
            break;
        if (!(rtt[n] > 0)) {
            rv = wp_errf(err, WP_EPARSE, "%s:%ld: column rtt_ms: expected a number > 0, got '%s'",
                         c.path, c.line_no, c.fields[col_rtt]);
            break;
        }
        n++;
    }
    if (rv == WP_OK && n < 2)
        rv = wp_errf(err, WP_EPARSE, "%s: need at least 2 measured pairs, got %zu", c.path, n);
    wp_csv_close(&c);
    if (rv != WP_OK) {
        free(km);
        free(rtt);
        return rv;
    }
    *km_out = km;
    *rtt_out = rtt;
    *n_out = n;
    return WP_OK;
}

static int topo_fit(int argc, char **argv)
{
    static const int allowed[] = {OPT_MEASURED, OPT_JSON, OPT_END};
    static const wpctl_spec spec = {.name = "topo fit", .args = "--measured FILE", .about = about_fit, .max_args = 0};
    topo_opts o;
    int rv = parse_opts(&spec, allowed, "keys inflation, overhead_ms, pairs, median_abs_pct_err,\n"
                              "p90_abs_pct_err (percent: 12.5 means 12.5%)", argc, argv, &o);
    if (rv != WPCTL_CONTINUE)
        return rv;
    if (o.nargs > 0)
        return wpctl_usage_error("topo fit", "unexpected argument '%s'", o.args[0]);
    if (!o.measured)
        return wpctl_usage_error("topo fit", "--measured FILE is required");
    wp_err err = {0};
    double *km = NULL, *rtt = NULL;
    size_t n = 0;
    if (read_measured(o.measured, &km, &rtt, &n, &err) != WP_OK)
        return wpctl_fail("%s", wp_err_text(&err));
    wp_rtt_params def;
    wp_rtt_params_default(&def);
    wp_rtt_fit fit, cur;
    rv = wp_rtt_fit_pairs(km, rtt, n, def.fiber_km_per_ms, &fit, &err);
    if (rv == WP_OK)
        rv = wp_rtt_evaluate(&def, km, rtt, n, &cur, &err);
    free(km);
    free(rtt);
    if (rv != WP_OK)
        return wpctl_fail("%s", wp_err_text(&err));
    if (o.json) {
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
        wp_json_obj_end(&j);
        wp_json_end(&j);
    } else {
        printf("pairs                %zu\n", fit.pairs);
        printf("fitted               inflation %.3f, overhead %.2f ms (fiber %.1f km/ms)\n",
               fit.inflation, fit.overhead_ms, def.fiber_km_per_ms);
        printf("  error              median %.1f%%, p90 %.1f%%\n", fit.median_abs_pct_err,
               fit.p90_abs_pct_err);
        printf("current defaults     inflation %.3f, overhead %.2f ms\n", cur.inflation,
               cur.overhead_ms);
        printf("  error              median %.1f%%, p90 %.1f%%\n", cur.median_abs_pct_err,
               cur.p90_abs_pct_err);
    }
    return WPCTL_OK;
}

/* ---------------------------------------------------------------- coverage */

static int topo_coverage(int argc, char **argv)
{
    static const int allowed[] = {OPT_PRESET, OPT_FILE, OPT_JSON, OPT_WITHIN, OPT_INFLATION,
                                  OPT_OVERHEAD, OPT_END};
    static const wpctl_spec spec = {.name = "topo coverage", .args = NULL, .about = about_coverage, .max_args = 0};
    topo_opts o;
    int rv = parse_opts(&spec, allowed, "keys within_ms, population_fraction, regions {name: fraction}", argc, argv, &o);
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
    double overall, by_region[WP_REGION_COUNT];
    wp_users_coverage(u, within_ms, &overall, by_region);
    if (o.json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "topology");
        wp_json_str(&j, wp_topo_name(t));
        wp_json_key(&j, "within_ms");
        wp_json_double(&j, within_ms);
        wp_json_key(&j, "population_fraction");
        wp_json_double(&j, overall);
        wp_json_key(&j, "regions");
        wp_json_obj_begin(&j);
        for (int r = 0; r < WP_REGION_COUNT; r++) {
            wp_json_key(&j, wp_region_name((wp_region)r));
            wp_json_double(&j, by_region[r]);
        }
        wp_json_obj_end(&j);
        wp_json_obj_end(&j);
        wp_json_end(&j);
    } else {
        printf("population within %.1f ms RTT of its anycast PoP (%s, %zu cities)\n", within_ms,
               wp_topo_name(t), wp_topo_count(t));
        for (int r = 0; r < WP_REGION_COUNT; r++)
            printf("  %-14s %6.1f%%\n", wp_region_name((wp_region)r), 100.0 * by_region[r]);
        printf("  %-14s %6.1f%%\n", "all", 100.0 * overall);
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
        {"fit", "fit the RTT model (inflation, overhead) to measured pings", topo_fit},
        {"coverage", "share of the population whose anycast PoP is within an RTT",
         topo_coverage},
    };
    return wpctl_dispatch("topo",
                          "Topologies (cities, regions, presets) and the geographic RTT model.\n"
                          "Presets: edge (Cloudflare PoPs, default), aws, azure, gcp, tiny.\n",
                          subs, WP_ARRAY_LEN(subs), argc, argv);
}
