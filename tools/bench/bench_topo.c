/* bench_topo — what every wpctl/sim run pays for topology: loading a
 * preset (parse + RTT matrix), loading and binding the population points
 * (anycast scan), and one population-weighted draw. Prints JSON lines. */
#include "topology/topology.h"

#include <stdio.h>

static void line(const char *figure, const char *preset, double value, const char *unit)
{
    printf("{\"bench\":\"topo\",\"figure\":\"%s\",\"preset\":\"%s\",\"value\":%.3f,"
           "\"unit\":\"%s\"}\n",
           figure, preset, value, unit);
}

int main(void)
{
    static const char *const presets[] = {"edge", "aws", "tiny"};
    for (size_t p = 0; p < WP_ARRAY_LEN(presets); p++) {
        const int reps = 20;
        wp_err err = {0};
        uint64_t t0 = wp_clock_monotonic_ns();
        for (int i = 0; i < reps; i++) {
            wp_topology *t = NULL;
            if (wp_topo_load_preset(presets[p], NULL, &t, &err) != WP_OK) {
                fprintf(stderr, "bench_topo: %s\n", wp_err_text(&err));
                return 1;
            }
            wp_topo_free(t);
        }
        uint64_t t1 = wp_clock_monotonic_ns();
        line("preset_load_ms", presets[p], (double)(t1 - t0) / reps / 1e6, "ms");

        wp_topology *t = NULL;
        wp_users *u = NULL;
        wp_topo_load_preset(presets[p], NULL, &t, &err);
        t0 = wp_clock_monotonic_ns();
        for (int i = 0; i < reps; i++) {
            if (wp_users_load(t, NULL, &u, &err) != WP_OK) {
                fprintf(stderr, "bench_topo: %s\n", wp_err_text(&err));
                return 1;
            }
            if (i + 1 < reps)
                wp_users_free(u);
        }
        t1 = wp_clock_monotonic_ns();
        line("users_load_bind_ms", presets[p], (double)(t1 - t0) / reps / 1e6, "ms");

        wp_rng rng;
        wp_rng_seed(&rng, 1);
        const int draws = 5000000;
        size_t sink = 0;
        t0 = wp_clock_monotonic_ns();
        for (int i = 0; i < draws; i++)
            sink += wp_users_draw(u, &rng);
        t1 = wp_clock_monotonic_ns();
        line("user_draw_ns", presets[p], (double)(t1 - t0) / draws, "ns");
        if (sink == 0)
            fprintf(stderr, "bench_topo: (sink)\n");
        wp_users_free(u);
        wp_topo_free(t);
    }
    return 0;
}
