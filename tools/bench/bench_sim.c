/* bench_sim — simulated requests per wall-clock second on one core, for
 * the built-in scenarios (1M requests each, seed 1, setup included), and
 * for regional and edge with a million tenant functions (the per-function
 * pool map under churn: most pools are touched once and swept). One JSON
 * line per run. */
#include "common/common.h"
#include "sim/sim.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    uint64_t requests = 1000000;
    if (argc > 1 && wp_parse_u64(argv[1], &requests) != WP_OK) {
        fprintf(stderr, "usage: bench_sim [REQUESTS]\n");
        return 2;
    }
    wp_sim_result *res = wp_sim_result_new();
    if (!res)
        return 1;
    static const char *const runs[] = {"edge", "regional", "central", "edge", "regional"};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        const char *const *name = &runs[i];
        wp_err err;
        wp_sim_scenario sc;
        if (wp_sim_scenario_builtin(*name, &sc, &err) != WP_OK) {
            fprintf(stderr, "bench_sim: %s\n", wp_err_text(&err));
            return 1;
        }
        if (i >= 3)
            sc.functions = 1000000;
        wp_sim_options opt = {.seed = 1, .max_requests = requests};
        uint64_t t0 = wp_clock_monotonic_ns(), c0 = wp_clock_thread_cpu_ns();
        if (wp_sim_run(&sc, &opt, res, &err) != WP_OK) {
            fprintf(stderr, "bench_sim: %s\n", wp_err_text(&err));
            return 1;
        }
        double wall_s = (double)(wp_clock_monotonic_ns() - t0) / 1e9;
        double cpu_s = (double)(wp_clock_thread_cpu_ns() - c0) / 1e9;
        printf("{\"bench\":\"sim\",\"scenario\":\"%s\",\"functions\":%u,\"requests\":%llu,"
               "\"wall_s\":%.4f,\"requests_per_s\":%.0f,\"cpu_s\":%.4f,"
               "\"requests_per_cpu_s\":%.0f,\"all_p95_ms\":%.1f}\n",
               *name, sc.functions, (unsigned long long)res->requests, wall_s,
               (double)res->requests / wall_s, cpu_s, (double)res->requests / cpu_s,
               (double)wp_hist_quantile(&res->all.ttft_ns, 0.95) / 1e6);
    }
    wp_sim_result_free(res);
    return 0;
}
