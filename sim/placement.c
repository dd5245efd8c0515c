/* placement.c — the edge world's placement: where the GPUs are, how many,
 * and which models each site keeps warm.
 *
 * Two steps, the second delegated:
 *  1. Sites (the simulated deployment, not a placement decision): the
 *     gpu_cities cities with the most demand (demand = the population
 *     whose anycast ingress is that city; ties by lower index) get one
 *     simulated node each. Every city is served by its lowest-RTT GPU
 *     city; GPUs go one per site and the rest in proportion to the demand
 *     each site serves (largest remainder). A node's GPU memory is its
 *     GPUs x the memory per GPU.
 *  2. Warm models: placement/'s optimizer (wp_place_optimize_topo, the
 *     topology form of wp_place_optimize) — the same code the live
 *     placement service (wp-placement) runs after every accepted command,
 *     so the simulated edge keeps warm exactly what the real cluster would
 *     for the same nodes and demand. Its input here: every city of the
 *     topology with the topology's RTT matrix; the nodes of step 1, all
 *     up, each with its GPUs' memory; demand[c][m] = population whose
 *     ingress is c x model m's request share (Zipf); a miss (no replica
 *     anywhere) costs the farthest RTT plus the model's cold load; no
 *     pins; no cap on replicas (memory is filled while a replica still
 *     lowers the demand-weighted latency). See placement/optimizer.c for
 *     the method (lazy greedy by gain per byte) and its bounds.
 *
 * Deterministic: index order everywhere, and the optimizer is bit-for-bit
 * reproducible.
 */
#include "sim/sim_int.h"

#include "placement/placement.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct rank_item {
    double key;
    uint32_t idx;
} rank_item;

static int by_key_desc(const void *a, const void *b)
{
    const rank_item *x = a, *y = b;
    if (x->key != y->key)
        return x->key > y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

void wp_sim__spread_gpus(const double *site_demand, size_t n, uint32_t total, uint32_t *gpus)
{
    double sum = 0;
    for (size_t s = 0; s < n; s++) {
        gpus[s] = 1;
        sum += site_demand[s];
    }
    uint32_t rest = total - (uint32_t)n, given = 0;
    if (rest == 0 || sum <= 0)
        return;
    rank_item *rem = malloc(n * sizeof *rem);
    for (size_t s = 0; s < n; s++) {
        double exact = rest * (site_demand[s] / sum);
        uint32_t whole = (uint32_t)floor(exact);
        gpus[s] += whole;
        given += whole;
        if (rem) {
            rem[s].key = exact - whole;
            rem[s].idx = (uint32_t)s;
        }
    }
    if (!rem) { /* out of memory: the leftovers go round-robin */
        for (size_t s = 0; given < rest; s = (s + 1) % n, given++)
            gpus[s]++;
        return;
    }
    qsort(rem, n, sizeof *rem, by_key_desc);
    for (size_t k = 0; given < rest; k = (k + 1) % n, given++)
        gpus[rem[k].idx]++;
    free(rem);
}

void wp_sim_placement_free(wp_sim_placement *p)
{
    free(p->city);
    free(p->gpus);
    free(p->warm);
    memset(p, 0, sizeof *p);
}

/* Step 1: the k cities with the most demand, and their GPUs. */
static int choose_sites(const wp_topology *t, const double *demand, size_t k, uint32_t gpus_total,
                        wp_sim_placement *out)
{
    size_t nc = wp_topo_count(t);
    rank_item *rank = malloc(nc * sizeof *rank);
    double *site_demand = calloc(k, sizeof *site_demand);
    out->nsites = k;
    out->city = malloc(k * sizeof *out->city);
    out->gpus = malloc(k * sizeof *out->gpus);
    out->warm = calloc(k, sizeof *out->warm);
    int rv = WP_OK;
    if (!rank || !site_demand || !out->city || !out->gpus || !out->warm) {
        rv = WP_ENOMEM;
        goto out;
    }
    for (size_t c = 0; c < nc; c++) {
        rank[c].key = demand[c];
        rank[c].idx = (uint32_t)c;
    }
    qsort(rank, nc, sizeof *rank, by_key_desc);
    for (size_t s = 0; s < k; s++)
        out->city[s] = rank[s].idx;
    for (size_t c = 0; c < nc; c++) {
        const float *row = wp_topo_rtt_row(t, c);
        size_t bs = 0;
        for (size_t s = 1; s < k; s++)
            if (row[out->city[s]] < row[out->city[bs]])
                bs = s;
        site_demand[bs] += demand[c];
    }
    wp_sim__spread_gpus(site_demand, k, gpus_total, out->gpus);
out:
    free(rank);
    free(site_demand);
    return rv;
}

int wp_sim_place(const wp_topology *t, const double *demand, const wp_model_profile *models,
                 const double *share, size_t nmodels, uint32_t gpu_cities, uint32_t gpus_total,
                 uint64_t mem_per_gpu_bytes, wp_sim_placement *out, wp_err *err)
{
    memset(out, 0, sizeof *out);
    size_t nc = wp_topo_count(t);
    size_t k = (gpu_cities == 0 || gpu_cities > nc) ? nc : gpu_cities;
    if (nmodels > 64)
        return wp_errf(err, WP_EINVAL, "placement: more than 64 models");
    if (gpus_total < k)
        return wp_errf(err, WP_EINVAL, "placement: gpus_total %u is less than the %zu GPU cities",
                       gpus_total, k);
    if (choose_sites(t, demand, k, gpus_total, out) != WP_OK) {
        wp_sim_placement_free(out);
        return wp_errf(err, WP_ENOMEM, "placement: out of memory");
    }
    /* Step 2: the placement service's optimizer. */
    wp_place_node_in *nodes = malloc(k * sizeof *nodes);
    double *dem = malloc((nc * nmodels + 1) * sizeof *dem);
    wp_place_solution sol;
    memset(&sol, 0, sizeof sol);
    int rv = WP_OK;
    if (!nodes || !dem) {
        rv = wp_errf(err, WP_ENOMEM, "placement: out of memory");
        goto out;
    }
    for (size_t s = 0; s < k; s++)
        nodes[s] = (wp_place_node_in){.city = out->city[s],
                                      .gpu_mem_bytes = out->gpus[s] * mem_per_gpu_bytes,
                                      .up = true};
    for (size_t c = 0; c < nc; c++)
        for (size_t m = 0; m < nmodels; m++)
            dem[c * nmodels + m] = demand[c] * share[m];
    rv = wp_place_optimize_topo(t, nodes, k, models, nmodels, dem, NULL, 0, 0, &sol, err);
    if (rv != WP_OK) {
        wp_err_wrap(err, "placement");
        goto out;
    }
    for (size_t i = 0; i < sol.n; i++)
        out->warm[sol.replicas[i].node] |= 1ull << sol.replicas[i].model;
out:
    wp_place_solution_close(&sol);
    free(nodes);
    free(dem);
    if (rv != WP_OK)
        wp_sim_placement_free(out);
    return rv;
}
