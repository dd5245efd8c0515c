/* placement_greedy.c — a deterministic greedy placement by population
 * demand: which cities get GPUs, how many, and which models they keep warm.
 *
 * STAND-IN: placement/'s optimizer (the Raft-backed placement service's
 * core, being written separately) will replace this. The simulator calls
 * only wp_sim_place_greedy(), once, in engine.c; swapping in the optimizer
 * is a one-line change there.
 *
 * Algorithm.
 *  1. GPU cities: the gpu_cities cities with the most demand (demand = the
 *     population whose anycast ingress is that city); ties by lower index.
 *  2. Every city is served by its lowest-RTT GPU city; a GPU city's demand
 *     is the sum over the cities it serves. GPUs: one per GPU city, the
 *     rest spread in proportion to that demand (largest remainder).
 *  3. Warm models. If every model fits in the smallest site's GPU memory,
 *     every site keeps every model warm (more replicas only help). Else,
 *     models in order of request share get a replica budget
 *     r = share x total memory / size (at least 1, at most the sites), and
 *     replicas are added one at a time where they most reduce the
 *     demand-weighted RTT to the nearest replica (greedy k-median), among
 *     sites with memory left. O(r x sites x cities) per model.
 */
#include "sim/sim_int.h"

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

int wp_sim_place_greedy(const wp_topology *t, const double *demand,
                        const wp_model_profile *models, const double *share, size_t nmodels,
                        uint32_t gpu_cities, uint32_t gpus_total, uint64_t mem_per_gpu_bytes,
                        wp_sim_placement *out, wp_err *err)
{
    memset(out, 0, sizeof *out);
    size_t nc = wp_topo_count(t);
    size_t k = (gpu_cities == 0 || gpu_cities > nc) ? nc : gpu_cities;
    if (nmodels > 64)
        return wp_errf(err, WP_EINVAL, "placement: more than 64 models");
    if (gpus_total < k)
        return wp_errf(err, WP_EINVAL, "placement: gpus_total %u is less than the %zu GPU cities",
                       gpus_total, k);
    rank_item *rank = malloc(nc * sizeof *rank);
    double *site_demand = calloc(k, sizeof *site_demand);
    double *best = malloc(nc * sizeof *best);
    uint64_t *mem_left = malloc(k * sizeof *mem_left);
    rank_item *order = malloc(nmodels * sizeof *order + 1);
    out->nsites = k;
    out->city = malloc(k * sizeof *out->city);
    out->gpus = malloc(k * sizeof *out->gpus);
    out->warm = calloc(k, sizeof *out->warm);
    if (!rank || !site_demand || !best || !mem_left || !order || !out->city || !out->gpus ||
        !out->warm) {
        free(rank);
        free(site_demand);
        free(best);
        free(mem_left);
        free(order);
        wp_sim_placement_free(out);
        return wp_errf(err, WP_ENOMEM, "placement: out of memory");
    }
    /* 1. the k cities with the most demand */
    for (size_t c = 0; c < nc; c++) {
        rank[c].key = demand[c];
        rank[c].idx = (uint32_t)c;
    }
    qsort(rank, nc, sizeof *rank, by_key_desc);
    for (size_t s = 0; s < k; s++)
        out->city[s] = rank[s].idx;
    /* 2. demand served by each site, GPUs in proportion */
    for (size_t c = 0; c < nc; c++) {
        const float *row = wp_topo_rtt_row(t, c);
        size_t bs = 0;
        for (size_t s = 1; s < k; s++)
            if (row[out->city[s]] < row[out->city[bs]])
                bs = s;
        site_demand[bs] += demand[c];
    }
    wp_sim__spread_gpus(site_demand, k, gpus_total, out->gpus);
    uint64_t min_mem = UINT64_MAX, total_mem = 0, all_size = 0;
    for (size_t s = 0; s < k; s++) {
        mem_left[s] = out->gpus[s] * mem_per_gpu_bytes;
        if (mem_left[s] < min_mem)
            min_mem = mem_left[s];
        total_mem += mem_left[s];
    }
    for (size_t m = 0; m < nmodels; m++)
        all_size += models[m].size_bytes;
    /* 3. warm models */
    if (all_size <= min_mem) {
        uint64_t all = nmodels == 64 ? ~0ull : ((1ull << nmodels) - 1);
        for (size_t s = 0; s < k; s++)
            out->warm[s] = all;
    } else {
        for (size_t m = 0; m < nmodels; m++) {
            order[m].key = share[m];
            order[m].idx = (uint32_t)m;
        }
        qsort(order, nmodels, sizeof *order, by_key_desc);
        for (size_t oi = 0; oi < nmodels; oi++) {
            uint32_t m = order[oi].idx;
            uint64_t size = models[m].size_bytes ? models[m].size_bytes : 1;
            double want = floor(share[m] * (double)total_mem / (double)size);
            size_t r = want < 1 ? 1 : (want > (double)k ? k : (size_t)want);
            for (size_t c = 0; c < nc; c++)
                best[c] = 1e4; /* "no replica yet": worse than any RTT */
            for (size_t placed = 0; placed < r; placed++) {
                long pick = -1;
                double pick_gain = -1;
                for (size_t s = 0; s < k; s++) {
                    if ((out->warm[s] >> m) & 1u || mem_left[s] < size)
                        continue;
                    const float *row = wp_topo_rtt_row(t, out->city[s]);
                    double gain = 0;
                    for (size_t c = 0; c < nc; c++)
                        if (row[c] < best[c])
                            gain += demand[c] * (best[c] - row[c]);
                    if (gain > pick_gain) {
                        pick_gain = gain;
                        pick = (long)s;
                    }
                }
                if (pick < 0)
                    break; /* no site has memory left for this model */
                out->warm[pick] |= 1ull << m;
                mem_left[pick] -= size;
                const float *row = wp_topo_rtt_row(t, out->city[pick]);
                for (size_t c = 0; c < nc; c++)
                    if (row[c] < best[c])
                        best[c] = row[c];
            }
        }
    }
    free(rank);
    free(site_demand);
    free(best);
    free(mem_left);
    free(order);
    return WP_OK;
}
