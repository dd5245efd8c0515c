/* wpctl sim — the global traffic simulator (sim/), and the dispatcher for
 * simulator subcommands (`wpctl sim gossip` lives in another file).
 *
 *   wpctl sim --scenario edge|regional|central|FILE [--requests N]
 *             [--duration S] [--seed S] [--trace FILE] [--json] [--csv FILE]
 *             [--compare SCN] [--show NAME] [--fault "outage WHAT FROM-TO"]...
 *             [--timeline S]
 *
 * Exit status: 0 ok, 1 bad data or a failed run (one line), 2 usage error. */
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"
#include "sim/sim.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Weak default: the gossip simulation is built by another part of the
 * project, which defines the strong symbol in its own file. */
__attribute__((weak)) int wpctl_sim_gossip_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wpctl sim gossip: not built yet\n");
    return WPCTL_FAIL;
}

typedef struct progress {
    uint64_t last_pct;
} progress;

static void show_progress(void *ctx, uint64_t done, uint64_t total)
{
    progress *p = ctx;
    if (total == 0 || total == UINT64_MAX)
        return;
    uint64_t pct = done * 100 / total;
    if (pct == p->last_pct && done != total)
        return;
    p->last_pct = pct;
    int width = 40, fill = (int)(pct * (uint64_t)width / 100);
    fprintf(stderr, "\r[%.*s%*s] %3llu%%", fill, "########################################",
            width - fill, "", (unsigned long long)pct);
    if (done == total)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

static int load_scenario(const char *name, wp_sim_scenario *sc, wp_err *err)
{
    return wp_sim_scenario_text(name) ? wp_sim_scenario_builtin(name, sc, err)
                                      : wp_sim_scenario_load(name, sc, err);
}

int wpctl_sim_main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "gossip") == 0)
        return wpctl_sim_gossip_main(argc - 1, argv + 1);
    const char *rtt_params = NULL;
    const char *scenario = "edge", *trace_path = NULL, *csv_path = NULL, *compare = NULL,
               *show = NULL;
    uint64_t requests = 0, seed = 1;
    double duration_s = 0, timeline_s = 0;
    bool json = false, have_requests = false;
    const char *fault_text[WP_SIM_MAX_FAULTS];
    wp_sim_fault faults[WP_SIM_MAX_FAULTS];
    size_t nfaults = 0;
    wpctl_flag flags[] = {
        WPF_STR("scenario", &scenario, "SCN", "edge (default), regional, central or a FILE"),
        WPF_U64("requests", &requests, 1, 10000000000.0, "N",
                "requests to simulate (default 100000; with --trace, all rows)"),
        WPF_POSITIVE("duration", &duration_s, 0, 1e8, "S",
                     "stop generating after S simulated seconds"),
        WPF_U64("seed", &seed, 1, 0, "S", "random seed (default 1); same seed, same figures"),
        WPF_STR("trace", &trace_path, "FILE",
                "replay a trace: Azure LLM (TIMESTAMP,ContextTokens,\n"
                "GeneratedTokens) or Mooncake (timestamp_ms,input_length,\n"
                "output_length,...); users are drawn by population"),
        WPF_JSON(&json, "{scenario, rtt_model, seed, requests, errors, wall_s, requests_per_s,\n"
                        " regions: {REGION: {requests, p50_ms, p95_ms, p99_ms,\n"
                        " total_p95_ms, cold_starts, model_loads, container_starts,\n"
                        " isolate_starts, errors, overloaded, expired, failed,\n"
                        " no_route}}, all: {...}, models: {MODEL: {requests, errors}},\n"
                        " load_lag_ms (edge), timeline_interval_s, timeline, and with\n"
                        " faults: faults, detect_s, rejoin_s}; with --compare one\n"
                        " document {compare: [first, second]}"),
        WPF_STR("csv", &csv_path, "FILE", "also write the table as CSV to FILE"),
        WPF_STR("compare", &compare, "SCN",
                "also run scenario SCN (same seed and workload) and print\n"
                "both side by side"),
        WPF_STR("show", &show, "NAME", "print a built-in scenario in the file format and exit"),
        WPF_STR("fault", &fault_text[0], "\"outage WHAT FROM-TO\"",
                "(repeatable; edge) take WHAT down from FROM to TO\n"
                "simulated seconds: a region (europe), the city code of a\n"
                "GPU site (FRA) or a node id (FRA-gpu); scenario files take\n"
                "the same as `fault = ...` lines. Ingresses learn of it\n"
                "after the gossip core's SIMULATED detection time; the table\n"
                "then shows p95 and errors before/during/after"),
        WPF_POSITIVE("timeline", &timeline_s, 0, 1e7, "S",
                     "timeline interval, simulated seconds (default 10): --json\n"
                     "carries \"timeline\": [{t_s, regions: {REGION: {requests,\n"
                     "errors, p95_ms}}}]"),
        WPF_STR("rtt-params", &rtt_params, "F",
                "RTT model parameters (`wpctl topo fit --out F`) for every\n"
                "scenario of the run (default: the scenario's rtt_params key, else\n"
                "the shipped v2 model: backbone paths, users' access latency on\n"
                "their leg); recorded as rtt_model"),
        WPF_END,
    };
    flags[1].seen = &have_requests;
    const wpctl_spec spec = {
        .name = "sim",
        .args = "[gossip ...]",
        .about = "Simulates global inference traffic, deterministically from a seed, and\n"
    "prints time-to-first-token percentiles by region of the user. Everything\n"
    "is SIMULATED: the network is the geographic RTT model, GPUs are a timing\n"
    "model (slots per GPU, cold loads) driven at the edge by the residency core\n"
    "wp-node runs, containers are a model. Each edge ingress routes on the GPU\n"
    "nodes' load reports (every load_report_ms, seen a one-way delay later)\n"
    "plus its own sends, as a live ingress does.\n\n"
    "Scenarios:\n"
    "  edge      ~330 PoP cities (anycast ingress), GPUs in the 190 with the most\n"
    "            demand, models kept warm, routed by lowest expected TTFT from the\n"
    "            nodes' load reports (policy latency; Workers-AI-like);\n"
    "            each request runs in its function's V8 isolate at the PoP (one\n"
    "            per PoP and function; a start costs 5 ms, Cloudflare: < 5 ms)\n"
    "  regional  the user's nearest AWS region; containers per (region,\n"
    "            function), one request each, lognormal cold starts, 10 min\n"
    "            keep-alive, calling the region's shared inference endpoint\n"
    "            (Lambda -> Bedrock-like)\n"
    "  central   like regional, one region (us-east-1)\n"
    "  FILE      a scenario file: `key = value` lines (see README, sim/sim.h);\n"
    "            `wpctl sim --show edge` prints a built-in as a starting point\n"
    "Requests spread over 1500 tenant functions with lognormal popularity fitted\n"
    "to the Azure Functions trace (Shahrad et al., ATC 2020); all three scenarios\n"
    "draw the same users, times, models and functions for a seed.\n\n",
        .flags = flags,
        .footer = "p50/p95/p99: user send -> first token back at the user (TTFT, both network\n"
    "legs included); total_p95_ms: the full response.\n"
    "Counts (requests that met each): model_loads = a GPU model load (edge);\n"
    "container_starts = a function container cold start (regional, hundreds of\n"
    "ms to s); cold_starts = model_loads + container_starts, in both worlds;\n"
    "isolate_starts = a V8 isolate start at the edge PoP (ms), not in cold_starts.\n",
    };
    /* --fault repeats: collect every occurrence before the table's single
     * destination sees the last one. */
    if (!wpctl_collect_repeated("fault", argc, argv, fault_text, WP_SIM_MAX_FAULTS, &nfaults))
        return wpctl_usage_error("sim", "--fault: at most %u", WP_SIM_MAX_FAULTS);
    const char *first_fault = nfaults ? fault_text[0] : NULL;
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, NULL);
    if (nfaults)
        fault_text[0] = first_fault;
    for (size_t k = 0; k < nfaults; k++) {
        wp_err ferr;
        if (wp_sim_fault_parse(fault_text[k], &faults[k], &ferr) != WP_OK)
            return wpctl_usage_error("sim", "--fault: %s", wp_err_text(&ferr));
    }
    if (show) {
        const char *text = wp_sim_scenario_text(show);
        if (!text)
            return wpctl_usage_error("sim", "--show: no built-in scenario '%s'", show);
        fputs(text, stdout);
        return WPCTL_OK;
    }

    wp_err err;
    wp_err_clear(&err);
    wp_sim_scenario sc[2];
    int nsc = compare ? 2 : 1;
    if (load_scenario(scenario, &sc[0], &err) != WP_OK ||
        (compare && load_scenario(compare, &sc[1], &err) != WP_OK))
        return wpctl_fail("%s", wp_err_text(&err));
    /* --rtt-params: one parameter set for both scenarios (over their
     * rtt_params keys), so a comparison differs in the serving world only. */
    for (int i = 0; rtt_params && i < nsc; i++) {
        if (wp_rtt_params_load(rtt_params, &sc[i].rtt, &err) != WP_OK)
            return wpctl_fail("%s", wp_err_text(&err));
        snprintf(sc[i].rtt_params, sizeof sc[i].rtt_params, "%s", rtt_params);
    }
    wp_sim_trace *trace = NULL;
    if (trace_path && wp_sim_trace_load(trace_path, &trace, &err) != WP_OK)
        return wpctl_fail("%s", wp_err_text(&err));
    if (!have_requests && duration_s == 0 && !trace)
        requests = 100000;

    wp_sim_result *res[2] = {wp_sim_result_new(), wp_sim_result_new()};
    double wall_s[2] = {0, 0};
    int status = WPCTL_OK;
    if (!res[0] || !res[1]) {
        status = wpctl_fail("out of memory");
        goto out;
    }
    for (int i = 0; i < nsc; i++) {
        progress prog = {.last_pct = UINT64_MAX};
        wp_sim_options opt = {.seed = seed, .max_requests = requests, .duration_s = duration_s,
                              .trace = trace, .timeline_s = timeline_s, .faults = faults,
                              .nfaults = nfaults};
        if (isatty(STDERR_FILENO)) {
            opt.progress = show_progress;
            opt.progress_ctx = &prog;
        }
        uint64_t t0 = wp_clock_monotonic_ns();
        if (wp_sim_run(&sc[i], &opt, res[i], &err) != WP_OK) {
            status = wpctl_fail("%s", wp_err_text(&err));
            goto out;
        }
        wall_s[i] = (double)(wp_clock_monotonic_ns() - t0) / 1e9;
    }
    if (csv_path) {
        FILE *fp = fopen(csv_path, "w");
        if (!fp) {
            status = wpctl_fail("%s: cannot write", csv_path);
            goto out;
        }
        for (int i = 0; i < nsc; i++)
            wp_sim_report_csv(res[i], fp);
        if (fclose(fp) != 0) {
            status = wpctl_fail("%s: write error", csv_path);
            goto out;
        }
    }
    if (json && nsc == 2)
        fputs("{\"compare\":[", stdout);
    for (int i = 0; json && i < nsc; i++) {
        if (i)
            fputc(',', stdout);
        wp_sim_report_json(res[i], wall_s[i], stdout);
    }
    if (json && nsc == 2)
        fputs("]}\n", stdout);
    if (!json && nsc == 1)
        wp_sim_report_table(res[0], wall_s[0], stdout);
    if (!json && nsc == 2)
        wp_sim_report_compare(res[0], res[1], stdout);
out:
    wp_sim_trace_free(trace);
    wp_sim_result_free(res[0]);
    wp_sim_result_free(res[1]);
    return status;
}
