/* placement/geo.c — a placement geography from a topology (topology/). */
#include "placement/placement.h"

#include <stdlib.h>
#include <string.h>

int wp_place_geo_from_topology(wp_place_geo *g, const wp_topology *t, wp_err *err)
{
    size_t n = wp_topo_count(t);
    int rv = wp_place_geo_init(g, n, err);
    if (rv != WP_OK)
        return rv;
    for (size_t i = 0; i < n; i++) {
        const wp_city *c = wp_topo_city(t, i);
        snprintf(g->cities[i].code, sizeof g->cities[i].code, "%s", c->code);
        g->cities[i].pop_weight = c->pop_weight;
        memcpy(g->rtt_ms + i * n, wp_topo_rtt_row(t, i), n * sizeof *g->rtt_ms);
    }
    return WP_OK;
}

int wp_place_optimize_topo(const wp_topology *t, const wp_place_node_in *nodes, size_t n_nodes,
                           const wp_model_profile *models, size_t n_models, const double *demand,
                           const wp_place_pin_in *pins, size_t n_pins,
                           uint32_t max_placed_per_model, wp_place_solution *out, wp_err *err)
{
    memset(out, 0, sizeof *out);
    size_t C = wp_topo_count(t), M = n_models;
    const float **rows = calloc(C + 1, sizeof *rows);
    uint64_t *sizes = calloc(M + 1, sizeof *sizes);
    double *miss = calloc(M + 1, sizeof *miss);
    double *dem = demand ? NULL : calloc(C * M + 1, sizeof *dem);
    int rv = WP_OK;
    if (!rows || !sizes || !miss || (!demand && !dem)) {
        rv = wp_errf(err, WP_ENOMEM, "optimizer: out of memory");
        goto done;
    }
    double max_rtt = 0, pop = 0;
    for (size_t c = 0; c < C; c++) {
        rows[c] = wp_topo_rtt_row(t, c);
        for (size_t k = 0; k < C; k++)
            if (rows[c][k] > max_rtt)
                max_rtt = rows[c][k];
        pop += wp_topo_city(t, c)->pop_weight;
    }
    for (size_t m = 0; m < M; m++) {
        sizes[m] = models[m].size_bytes;
        miss[m] = max_rtt + wp_model_load_ms(&models[m]);
    }
    if (dem != NULL)
        for (size_t c = 0; c < C; c++) {
            double share = pop > 0 ? wp_topo_city(t, c)->pop_weight / pop : 1.0 / (double)C;
            for (size_t m = 0; m < M; m++)
                dem[c * M + m] = share / (double)M;
        }
    wp_place_problem p = {
        .n_cities = C, .rtt_rows = rows, .n_nodes = n_nodes, .nodes = nodes, .n_models = M,
        .model_size_bytes = sizes, .miss_ms = miss, .demand = demand ? demand : dem,
        .n_pins = n_pins, .pins = pins, .max_placed_per_model = max_placed_per_model,
    };
    rv = wp_place_optimize(&p, out, err);
done:
    free((void *)rows);
    free(sizes);
    free(miss);
    free(dem);
    return rv;
}
