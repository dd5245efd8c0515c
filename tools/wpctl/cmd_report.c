/* wpctl report — p50/p95/p99, cold starts and errors by region of a traffic
 * results file (written by `wpctl traffic --out`), in `wpctl sim`'s format.
 *
 *   wpctl report [FILE] [--json] [--vs-sim SCENARIO [--seed S]] [--html OUT] */
#include "tools/wpctl/html_report.h"
#include "tools/wpctl/results.h"
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"

#include <math.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

static double q_ms(const wp_hist *h, double q)
{
    return (double)wp_hist_quantile(h, q) / 1e6;
}

/* (live - sim) / sim in percent; NAN when either side has no latency. */
static double diff_pct(const wp_sim_stats *live, const wp_sim_stats *sim)
{
    if (live->ttft_ns.count == 0 || sim->ttft_ns.count == 0)
        return NAN;
    double s = q_ms(&sim->ttft_ns, 0.95);
    return s > 0 ? 100.0 * (q_ms(&live->ttft_ns, 0.95) - s) / s : NAN;
}

static void compare_table(const wpctl_report *rep, const wp_sim_result *sim, FILE *fp)
{
    fprintf(fp, "TTFT by region, ms: live (measured) vs simulated (%s, seed %llu)\n",
            sim->scenario, (unsigned long long)sim->seed);
    fprintf(fp, "%-14s | %8s %8s %8s | %8s %8s %8s | %9s\n", "region", "live_n", "p50", "p95",
            "sim_n", "p50", "p95", "p95_diff");
    int within = 0, compared = 0;
    for (int i = 0; i <= WP_REGION_COUNT; i++) {
        const wp_sim_stats *l = i < WP_REGION_COUNT ? &rep->res->region[i] : &rep->res->all;
        const wp_sim_stats *s = i < WP_REGION_COUNT ? &sim->region[i] : &sim->all;
        double d = diff_pct(l, s);
        char dbuf[32];
        if (isnan(d))
            snprintf(dbuf, sizeof dbuf, "-");
        else
            snprintf(dbuf, sizeof dbuf, "%+.1f%%", d);
        if (i < WP_REGION_COUNT && !isnan(d)) {
            compared++;
            within += fabs(d) <= 25.0;
        }
        fprintf(fp, "%-14s | %8llu %8.1f %8.1f | %8llu %8.1f %8.1f | %9s\n",
                i < WP_REGION_COUNT ? wp_region_name((wp_region)i) : "all",
                (unsigned long long)l->ttft_ns.count, q_ms(&l->ttft_ns, 0.5),
                q_ms(&l->ttft_ns, 0.95), (unsigned long long)s->ttft_ns.count,
                q_ms(&s->ttft_ns, 0.5), q_ms(&s->ttft_ns, 0.95), dbuf);
    }
    fprintf(fp, "p95 within 25%%: %d of %d regions (live_n counts successful requests)\n",
            within, compared);
}

static int run_twin(const char *scenario, uint64_t seed, uint64_t requests, wp_sim_result **out,
                    wp_err *err)
{
    *out = NULL;
    wp_sim_scenario sc;
    int rv = wp_sim_scenario_builtin(scenario, &sc, err);
    if (rv != WP_OK) {
        wp_err_clear(err);
        rv = wp_sim_scenario_load(scenario, &sc, err);
    }
    if (rv != WP_OK)
        return rv;
    wp_sim_result *r = wp_sim_result_new();
    if (!r)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    wp_sim_options opt = {.seed = seed, .max_requests = requests ? requests : 1};
    if ((rv = wp_sim_run(&sc, &opt, r, err)) != WP_OK) {
        wp_sim_result_free(r);
        return rv;
    }
    *out = r;
    return WP_OK;
}

int wpctl_report_main(int argc, char **argv)
{
    bool json = false;
    const char *twin = NULL, *html_path = NULL;
    uint64_t seed = 1;
    const wpctl_flag flags[] = {
        WPF_JSON(&json, "one JSON object: scenario, seed, requests, wall_s, requests_per_s,\n"
                        "sent, ok, errors, counts_add_up, retried, errors_by_reason,\n"
                        "regions{REGION{requests, p50_ms, p95_ms, p99_ms, total_p95_ms,\n"
                        "cold_starts, model_loads, container_starts, isolate_starts, sent,\n"
                        "ok, errors}}, all{...}"),
        WPF_STR("vs-sim", &twin, "[SCENARIO]",
                "also simulate SCENARIO (a `wpctl sim` scenario file or\n"
                "built-in, describing the same cities, models and rate; without\n"
                "SCENARIO: FILE.twin, which `wpctl traffic --out FILE` writes)\n"
                "for as many requests as FILE has, and print p50/p95 by region\n"
                "side by side with the p95 difference (live - sim) / sim; with\n"
                "--json: {regions: {REGION: {live: {requests, p50_ms, p95_ms},\n"
                "sim: {...}, p95_diff_pct}}, all: {...}} (requests: successful)"),
        WPF_U64("seed", &seed, 1, 0, "S", "the simulation's seed (default 1)"),
        WPF_STR("html", &html_path, "OUT",
                "also write a self-contained HTML report to OUT: a world map of\n"
                "the users' p95 TTFT by city and the nodes that served, TTFT CDFs\n"
                "by region, the tables (and the --vs-sim table)"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "report",
        .args = "[FILE]",
        .about = "Reads a traffic results file (CSV written by `wpctl traffic --out FILE`;\n"
                 "FILE - or none reads stdin) and prints, by region of the user, requests\n"
                 "sent, p50/p95/p99 of TTFT (user send -> first token back), p95 of the\n"
                 "full response and cold starts, in the same table and JSON as `wpctl sim`,\n"
                 "plus sent, ok and errors (sent = ok + errors; every request is one row,\n"
                 "timeouts included) and the errors by reason. Latency percentiles cover\n"
                 "the successful requests.\n\n"
                 "Columns of FILE:\n  " WPCTL_RESULTS_HEADER "\n",
        .flags = flags,
        .max_args = 1,
    };
    /* --vs-sim with no SCENARIO (last, or before another option): the twin
     * `wpctl traffic --out FILE` wrote beside FILE. */
    bool auto_twin = false;
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--vs-sim") == 0 && (i + 1 == argc || argv[i + 1][0] == '-')) {
            auto_twin = true;
            continue;
        }
        argv[kept++] = argv[i];
    }
    argc = kept;
    wpctl_args a;
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, &a);
    const char *path = a.argc ? a.argv[0] : "-";
    char twin_path[1024];
    if (auto_twin) {
        if (strcmp(path, "-") == 0)
            return wpctl_usage_error("report", "--vs-sim without SCENARIO needs FILE (its twin "
                                               "is FILE.twin)");
        if (snprintf(twin_path, sizeof twin_path, "%s.twin", path) >= (int)sizeof twin_path)
            return wpctl_usage_error("report", "FILE: path too long");
        if (access(path, R_OK) != 0) /* the results first: they are what was asked for */
            return wpctl_fail("%s: %s", path, strerror(errno));
        if (access(twin_path, R_OK) != 0)
            return wpctl_fail("--vs-sim: no %s (written by `wpctl traffic --out %s`)", twin_path,
                              path);
        twin = twin_path;
    }
    wp_err err;
    wp_err_clear(&err);
    wpctl_report rep;
    if (wpctl_report_load(path, &rep, &err) != WP_OK)
        return wpctl_fail("%s", wp_err_text(&err));
    wp_sim_result *sim = NULL;
    if (twin && run_twin(twin, seed, rep.sent, &sim, &err) != WP_OK) {
        wpctl_report_free(&rep);
        return wpctl_fail("--vs-sim %s: %s", twin, wp_err_text(&err));
    }
    wpctl_html_vs_sim vs = {.scenario = twin, .sim = sim};
    if (html_path && wpctl_html_live(html_path, &rep, path, sim ? &vs : NULL, &err) != WP_OK) {
        wp_sim_result_free(sim);
        wpctl_report_free(&rep);
        return wpctl_fail("--html: %s", wp_err_text(&err));
    }
    if (json && sim) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "regions");
        wp_json_obj_begin(&j);
        for (int i = 0; i <= WP_REGION_COUNT; i++) {
            const wp_sim_stats *l = i < WP_REGION_COUNT ? &rep.res->region[i] : &rep.res->all;
            const wp_sim_stats *s = i < WP_REGION_COUNT ? &sim->region[i] : &sim->all;
            if (i == WP_REGION_COUNT) {
                wp_json_obj_end(&j);
                wp_json_key(&j, "all");
            } else {
                if (l->ttft_ns.count == 0 && s->ttft_ns.count == 0)
                    continue;
                wp_json_key(&j, wp_region_name((wp_region)i));
            }
            wp_json_obj_begin(&j);
            for (int side = 0; side < 2; side++) {
                const wp_sim_stats *x = side ? s : l;
                wp_json_key(&j, side ? "sim" : "live");
                wp_json_obj_begin(&j);
                wp_json_key(&j, "requests");
                wp_json_uint(&j, x->ttft_ns.count);
                wp_json_key(&j, "p50_ms");
                wp_json_double(&j, q_ms(&x->ttft_ns, 0.5));
                wp_json_key(&j, "p95_ms");
                wp_json_double(&j, q_ms(&x->ttft_ns, 0.95));
                wp_json_obj_end(&j);
            }
            double d = diff_pct(l, s);
            wp_json_key(&j, "p95_diff_pct");
            if (isnan(d))
                wp_json_null(&j);
            else
                wp_json_double(&j, d);
            wp_json_obj_end(&j);
        }
        wp_json_obj_end(&j);
        wp_json_end(&j);
    } else if (json) {
        wpctl_report_print_json(&rep, "live", stdout);
    } else {
        wpctl_report_print_table(&rep, path, stdout);
        if (sim) {
            fputc('\n', stdout);
            compare_table(&rep, sim, stdout);
        }
    }
    wp_sim_result_free(sim);
    wpctl_report_free(&rep);
    return WPCTL_OK;
}
