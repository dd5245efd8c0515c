/* report.c — a run's results as a table, JSON or CSV. Latencies come from
 * the histograms (ns) and are printed in ms. */
#include "sim/sim.h"

#include <string.h>

static double q_ms(const wp_hist *h, double q)
{
    return (double)wp_hist_quantile(h, q) / 1e6;
}

void wp_sim_report_json_fields(wp_json *j, const wp_sim_stats *s)
{
    wp_json_key(j, "requests");
    wp_json_uint(j, s->requests);
    wp_json_key(j, "p50_ms");
    wp_json_double(j, q_ms(&s->ttft_ns, 0.50));
    wp_json_key(j, "p95_ms");
    wp_json_double(j, q_ms(&s->ttft_ns, 0.95));
    wp_json_key(j, "p99_ms");
    wp_json_double(j, q_ms(&s->ttft_ns, 0.99));
    wp_json_key(j, "total_p95_ms");
    wp_json_double(j, q_ms(&s->total_ns, 0.95));
    wp_json_key(j, "cold_starts");
    wp_json_uint(j, s->cold_starts);
    /* Added after issue 4's schema (which stays as it was): what the cold
     * starts were, and the per-tenant environments started. */
    wp_json_key(j, "model_loads");
    wp_json_uint(j, s->model_loads);
    wp_json_key(j, "container_starts");
    wp_json_uint(j, s->container_starts);
    wp_json_key(j, "isolate_starts");
    wp_json_uint(j, s->isolate_starts);
}

static void json_stats(wp_json *j, const wp_sim_stats *s)
{
    wp_json_obj_begin(j);
    wp_sim_report_json_fields(j, s);
    /* Issue 12: the explicit errors, by cause. */
    const struct {
        const char *key;
        uint64_t v;
    } errs[] = {{"errors", s->errors},   {"overloaded", s->overloaded}, {"expired", s->expired},
                {"failed", s->failed},   {"no_route", s->no_route}};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        wp_json_key(j, errs[i].key);
        wp_json_uint(j, errs[i].v);
    }
    /* How fast an error reaches its user (send -> error back), ms; null
     * without errors. */
    wp_json_key(j, "error_p95_ms");
    if (s->errors)
        wp_json_double(j, q_ms(&s->error_ns, 0.95));
    else
        wp_json_null(j);
    wp_json_obj_end(j);
}

static void json_timeline(wp_json *j, const wp_sim_result *r)
{
    wp_json_key(j, "models");
    wp_json_obj_begin(j);
    for (size_t m = 0; m < r->nmodels; m++) {
        wp_json_key(j, r->model_name[m]);
        wp_json_obj_begin(j);
        wp_json_key(j, "requests");
        wp_json_uint(j, r->model_requests[m]);
        wp_json_key(j, "errors");
        wp_json_uint(j, r->model_errors[m]);
        wp_json_obj_end(j);
    }
    wp_json_obj_end(j);
    if (r->routes_on_reports) { /* edge: how stale the load each route saw was */
        wp_json_key(j, "load_lag_ms");
        wp_json_obj_begin(j);
        wp_json_key(j, "min");
        wp_json_double(j, r->load_lag_min_ms);
        wp_json_key(j, "max");
        wp_json_double(j, r->load_lag_max_ms);
        wp_json_key(j, "routes");
        wp_json_uint(j, r->routes_on_reports);
        wp_json_obj_end(j);
    }
    wp_json_key(j, "timeline_interval_s");
    wp_json_double(j, r->tl_interval_s);
    wp_json_key(j, "timeline");
    wp_json_arr_begin(j);
    for (size_t i = 0; i < r->tl_n; i++) {
        wp_json_obj_begin(j);
        wp_json_key(j, "t_s");
        wp_json_double(j, (double)i * r->tl_interval_s);
        wp_json_key(j, "regions");
        wp_json_obj_begin(j);
        for (int g = 0; g < WP_REGION_COUNT; g++) {
            const wp_sim_tl_cell *c = &r->tl[i * WP_REGION_COUNT + (size_t)g];
            wp_json_key(j, wp_region_name((wp_region)g));
            wp_json_obj_begin(j);
            wp_json_key(j, "requests");
            wp_json_uint(j, c->requests);
            wp_json_key(j, "errors");
            wp_json_uint(j, c->errors);
            wp_json_key(j, "p95_ms");
            wp_json_double(j, wp_sim_tl_quantile_ms(c, 0.95));
            wp_json_obj_end(j);
        }
        wp_json_obj_end(j);
        wp_json_obj_end(j);
    }
    wp_json_arr_end(j);
    if (r->nfaults) {
        wp_json_key(j, "faults");
        wp_json_arr_begin(j);
        for (size_t f = 0; f < r->nfaults; f++) {
            wp_json_obj_begin(j);
            wp_json_key(j, "what");
            wp_json_str(j, r->faults[f].what);
            wp_json_key(j, "from_s");
            wp_json_double(j, r->faults[f].from_s);
            wp_json_key(j, "to_s");
            wp_json_double(j, r->faults[f].to_s);
            wp_json_obj_end(j);
        }
        wp_json_arr_end(j);
        wp_json_key(j, "detect_s");
        wp_json_double(j, r->detect_s);
        wp_json_key(j, "rejoin_s");
        wp_json_double(j, r->rejoin_s);
    }
}

void wp_sim_report_json(const wp_sim_result *r, double wall_s, FILE *fp)
{
    wp_json j;
    wp_json_init(&j, fp, false);
    wp_json_obj_begin(&j);
    wp_json_key(&j, "scenario");
    wp_json_str(&j, r->scenario);
    wp_json_key(&j, "rtt_model");
    wp_json_str(&j, r->rtt_model);
    wp_json_key(&j, "seed");
    wp_json_uint(&j, r->seed);
    wp_json_key(&j, "requests");
    wp_json_uint(&j, r->requests);
    /* Requests that ended in an explicit error (no route): they count in
     * "requests" but not in the latency quantiles, so a run where most
     * requests failed must say so (the table and CSV always did). */
    wp_json_key(&j, "errors");
    wp_json_uint(&j, r->all.errors);
    wp_json_key(&j, "wall_s");
    wp_json_double(&j, wall_s);
    wp_json_key(&j, "requests_per_s");
    wp_json_double(&j, wall_s > 0 ? (double)r->requests / wall_s : 0);
    wp_json_key(&j, "regions");
    wp_json_obj_begin(&j);
    for (int i = 0; i < WP_REGION_COUNT; i++) {
        wp_json_key(&j, wp_region_name((wp_region)i));
        json_stats(&j, &r->region[i]);
    }
    wp_json_obj_end(&j);
    wp_json_key(&j, "all");
    json_stats(&j, &r->all);
    json_timeline(&j, r);
    wp_json_obj_end(&j);
    wp_json_end(&j);
}

/* Fault runs: each region before, during and after the first fault's
 * window (intervals by their start time). */
static void table_phases(const wp_sim_result *r, FILE *fp)
{
    if (!r->nfaults || !r->tl_n)
        return;
    const wp_sim_fault *f = &r->faults[0];
    fprintf(fp, "\noutage %s %g-%g s (gossip detection %.1f s, rejoin seen %.1f s): TTFT p95 ms "
                "(errors) by %g s intervals\n",
            f->what, f->from_s, f->to_s, r->detect_s, r->rejoin_s, r->tl_interval_s);
    fprintf(fp, "%-14s %22s %22s %22s\n", "region", "before", "during", "after");
    for (int g = 0; g < WP_REGION_COUNT; g++) {
        wp_sim_tl_cell ph[3];
        memset(ph, 0, sizeof ph);
        for (size_t i = 0; i < r->tl_n; i++) {
            double t = (double)i * r->tl_interval_s;
            int p = t < f->from_s ? 0 : t < f->to_s ? 1 : 2;
            const wp_sim_tl_cell *c = &r->tl[i * WP_REGION_COUNT + (size_t)g];
            ph[p].requests += c->requests;
            ph[p].errors += c->errors;
            for (size_t b = 0; b < WP_SIM_TL_BUCKETS; b++)
                ph[p].ttft[b] += c->ttft[b];
        }
        fprintf(fp, "%-14s", wp_region_name((wp_region)g));
        for (int p = 0; p < 3; p++)
            fprintf(fp, " %13.1f (%6u)", wp_sim_tl_quantile_ms(&ph[p], 0.95), ph[p].errors);
        fputc('\n', fp);
    }
}

static void row(FILE *fp, const char *name, const wp_sim_stats *s)
{
    fprintf(fp, "%-14s %9llu %9.1f %9.1f %9.1f %13.1f %12llu %11llu %10llu %10llu\n", name,
            (unsigned long long)s->requests, q_ms(&s->ttft_ns, 0.50), q_ms(&s->ttft_ns, 0.95),
            q_ms(&s->ttft_ns, 0.99), q_ms(&s->total_ns, 0.95), (unsigned long long)s->cold_starts,
            (unsigned long long)s->model_loads, (unsigned long long)s->container_starts,
            (unsigned long long)s->isolate_starts);
}

static const char legend[] =
    "cold_starts = model_loads (GPU, edge) + containers (function containers cold-started,\n"
    "regional); isolates = V8 isolates started at the PoP (edge, a few ms), not counted as cold\n";

void wp_sim_report_table_rows(const wp_sim_result *r, FILE *fp)
{
    fprintf(fp, "latency = user send -> first token back (TTFT); total = full response\n");
    fprintf(fp, "%-14s %9s %9s %9s %9s %13s %12s %11s %10s %10s\n", "region", "requests",
            "p50_ms", "p95_ms", "p99_ms", "total_p95_ms", "cold_starts", "model_loads",
            "containers", "isolates");
    for (int i = 0; i < WP_REGION_COUNT; i++)
        row(fp, wp_region_name((wp_region)i), &r->region[i]);
    row(fp, "all", &r->all);
}

void wp_sim_report_table(const wp_sim_result *r, double wall_s, FILE *fp)
{
    fprintf(fp, "scenario %s (simulated), seed %llu, %llu requests", r->scenario,
            (unsigned long long)r->seed, (unsigned long long)r->requests);
    if (wall_s > 0)
        fprintf(fp, ", wall %.2f s (%.2f M requests/s)", wall_s,
                (double)r->requests / wall_s / 1e6);
    fprintf(fp, "\nRTT model: %s\n", r->rtt_model);
    wp_sim_report_table_rows(r, fp);
    fprintf(fp,
            "GPU sites %zu, simulated GPUs %llu (busy %.1f%%), simulated time %.1f s, "
            "errors %llu (overloaded %llu, expired %llu, failed %llu, no route %llu)",
            r->sites, (unsigned long long)r->gpus, 100.0 * r->gpu_busy_frac, r->sim_end_s,
            (unsigned long long)r->all.errors, (unsigned long long)r->all.overloaded,
            (unsigned long long)r->all.expired, (unsigned long long)r->all.failed,
            (unsigned long long)r->all.no_route);
    if (r->containers)
        fprintf(fp, ", containers started %llu", (unsigned long long)r->containers);
    if (r->isolates)
        fprintf(fp, ", isolates started %llu", (unsigned long long)r->isolates);
    fprintf(fp, ", (site, function) pools held %zu\n", r->env_pools);
    fputs(legend, fp);
    if (r->all.errors) {
        fprintf(fp, "errors by model:");
        for (size_t m = 0; m < r->nmodels; m++)
            fprintf(fp, " %s %llu/%llu", r->model_name[m], (unsigned long long)r->model_errors[m],
                    (unsigned long long)r->model_requests[m]);
        fputc('\n', fp);
    }
    table_phases(r, fp);
}

void wp_sim_report_csv(const wp_sim_result *r, FILE *fp)
{
    fprintf(fp, "scenario,seed,region,requests,p50_ms,p95_ms,p99_ms,total_p95_ms,cold_starts,"
                "errors,model_loads,container_starts,isolate_starts\n");
    for (int i = 0; i <= WP_REGION_COUNT; i++) {
        const wp_sim_stats *s = i < WP_REGION_COUNT ? &r->region[i] : &r->all;
        fprintf(fp, "%s,%llu,%s,%llu,%.3f,%.3f,%.3f,%.3f,%llu,%llu,%llu,%llu,%llu\n", r->scenario,
                (unsigned long long)r->seed,
                i < WP_REGION_COUNT ? wp_region_name((wp_region)i) : "all",
                (unsigned long long)s->requests, q_ms(&s->ttft_ns, 0.50),
                q_ms(&s->ttft_ns, 0.95), q_ms(&s->ttft_ns, 0.99), q_ms(&s->total_ns, 0.95),
                (unsigned long long)s->cold_starts, (unsigned long long)s->errors,
                (unsigned long long)s->model_loads, (unsigned long long)s->container_starts,
                (unsigned long long)s->isolate_starts);
    }
}

static void half(FILE *fp, const wp_sim_stats *s)
{
    fprintf(fp, "%7.1f %7.1f %7.1f %7llu %7llu", q_ms(&s->ttft_ns, 0.50),
            q_ms(&s->ttft_ns, 0.95), q_ms(&s->ttft_ns, 0.99), (unsigned long long)s->cold_starts,
            (unsigned long long)s->isolate_starts);
}

static void footer(FILE *fp, const wp_sim_result *r)
{
    fprintf(fp, "%s: GPU sites %zu, GPUs %llu (busy %.1f%%), model loads %llu, containers %llu, "
                "isolates %llu, errors %llu\n",
            r->scenario, r->sites, (unsigned long long)r->gpus, 100.0 * r->gpu_busy_frac,
            (unsigned long long)r->all.model_loads, (unsigned long long)r->containers,
            (unsigned long long)r->isolates, (unsigned long long)r->all.errors);
}

void wp_sim_report_compare(const wp_sim_result *a, const wp_sim_result *b, FILE *fp)
{
    fprintf(fp, "TTFT in ms (user send -> first token back), simulated, seed %llu\n",
            (unsigned long long)a->seed);
    fprintf(fp, "RTT model: %s\n", a->rtt_model);
    if (strcmp(a->rtt_model, b->rtt_model) != 0)
        fprintf(fp, "RTT model (%s): %s\n", b->scenario, b->rtt_model);
    fprintf(fp, "%-14s %8s | %-39s | %-39s\n", "", "", a->scenario, b->scenario);
    fprintf(fp, "%-14s %8s | %7s %7s %7s %7s %7s | %7s %7s %7s %7s %7s\n", "region", "requests",
            "p50", "p95", "p99", "cold", "isol", "p50", "p95", "p99", "cold", "isol");
    for (int i = 0; i <= WP_REGION_COUNT; i++) {
        const wp_sim_stats *x = i < WP_REGION_COUNT ? &a->region[i] : &a->all;
        const wp_sim_stats *y = i < WP_REGION_COUNT ? &b->region[i] : &b->all;
        fprintf(fp, "%-14s %8llu | ", i < WP_REGION_COUNT ? wp_region_name((wp_region)i) : "all",
                (unsigned long long)x->requests);
        half(fp, x);
        fputs(" | ", fp);
        half(fp, y);
        fputc('\n', fp);
    }
    footer(fp, a);
    footer(fp, b);
    fputs("cold = GPU model loads + function container cold starts (hundreds of ms to s);\n"
          "isol = V8 isolate starts at the edge PoP (a few ms), not counted in cold\n",
          fp);
}
