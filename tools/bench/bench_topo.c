/* bench_topo — what every wpctl/sim run pays for topology: loading a
 * preset (parse + RTT matrix: in v2 the backbone graph and one Dijkstra
 * per city), building the path matrix alone, loading and binding the
 * population points (anycast scan), one RTT lookup (a table read), and
 * one population-weighted draw. Prints JSON lines. */
#include "topology/topology.h"

#include <stdio.h>
#include <stdlib.h>

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
        const int reps = 5;
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
        /* The path matrix alone (graph already parsed). */
        wp_graph *g = NULL;
        if (wp_graph_load(NULL, NULL, &g, &err) != WP_OK) {
            fprintf(stderr, "bench_topo: %s\n", wp_err_text(&err));
            return 1;
        }
        size_t n = wp_topo_count(t);
        double *lat = malloc(n * sizeof *lat), *lon = malloc(n * sizeof *lon);
        float *km = malloc(n * n * sizeof *km);
        if (!lat || !lon || !km)
            return 1;
        for (size_t i = 0; i < n; i++) {
            lat[i] = wp_topo_city(t, i)->lat;
            lon[i] = wp_topo_city(t, i)->lon;
        }
        t0 = wp_clock_monotonic_ns();
        for (int i = 0; i < reps; i++)
            wp_graph_path_matrix(g, lat, lon, n, wp_topo_params(t)->land_factor, km, &err);
        t1 = wp_clock_monotonic_ns();
        line("path_matrix_ms", presets[p], (double)(t1 - t0) / reps / 1e6, "ms");
        free(lat);
        free(lon);
        free(km);
        wp_graph_free(g);
        /* One RTT lookup: a table read. */
        const int lookups = 20000000;
        double acc = 0;
        t0 = wp_clock_monotonic_ns();
        for (int i = 0; i < lookups; i++)
            acc += wp_topo_rtt_ms(t, (size_t)i % n, (size_t)(i / 7) % n);
        t1 = wp_clock_monotonic_ns();
        line("rtt_lookup_ns", presets[p], (double)(t1 - t0) / lookups, "ns");
        if (acc < 0)
            fprintf(stderr, "bench_topo: (sink)\n");
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
