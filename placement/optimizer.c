/* placement/optimizer.c — which nodes keep which models warm.
 *
 * Objective. Requests for model m enter the network at city c (the anycast
 * ingress) at a rate d[c][m]. A request is served by the replica of m with
 * the lowest RTT from c; with no replica of m anywhere it pays miss[m] (the
 * caller's cost of a cold start far away). The cost of a placement is
 *     J = Σ_c Σ_m d[c][m] · min( miss[m], min_{r ∈ replicas(m)} rtt(c, city(r)) )
 * and we minimise J subject to every node's GPU memory: the models a node
 * keeps warm must fit in its gpu_mem_bytes. Reported: J / Σ d, the
 * demand-weighted mean latency in ms.
 *
 * This is a facility-location problem per model (uncapacitated on the
 * demand side, capacitated on memory across models), NP-hard in general.
 *
 * Method.
 *  1. Pins first. Operators' pins are honoured before anything else, in a
 *     fixed order (model index, then city index). A pin of k replicas in
 *     city X takes the k up nodes of X with the most free memory that can
 *     hold the model (ties: lower node index). Pins that cannot be met in
 *     full are reported (pin_placed, pin_shortfall); the state machine
 *     refuses commands that would create such a shortfall.
 *  2. Greedy by marginal gain per byte. A candidate is (model m, city k)
 *     such that some up node of k has room for m and does not hold it yet.
 *     Its gain is the drop in J if m were added in k:
 *         g(m, k) = Σ_c d[c][m] · max(0, best[c][m] − rtt(c, k))
 *     where best[c][m] is c's current cost for m. Each step takes the
 *     candidate with the highest g / size_bytes (a knapsack density, so a
 *     small model with the same gain wins memory), puts m on the node of k
 *     with the most free memory, and updates best[·][m]. It stops when no
 *     candidate has positive gain or fits, or a model reached the caller's
 *     cap on placed replicas.
 *  Lazy evaluation (Minoux's "accelerated greedy", as in CELF): gains only
 *  shrink as replicas are added (best[][] only decreases, so the gain of
 *  any candidate can only fall: the coverage gain is submodular), so a
 *  max-heap of stale scores is kept; the top is re-evaluated and taken only
 *  if it still beats the next one, else pushed back with its fresh score.
 *  This picks exactly what the plain greedy picks, with far fewer
 *  evaluations.
 *
 * Bounds. With one model and a cardinality limit, greedy on this
 * submodular coverage gain is within (1 − 1/e) of the optimum (Nemhauser,
 * Wolsey & Fisher 1978). With memory as a knapsack constraint per node and
 * many models the density greedy has no constant guarantee in the worst
 * case; it is the standard heuristic and is what edge CDNs describe
 * (replicate the most demanded content closest to the demand). Work: the
 * initial scores cost M·K·C (M models, K cities with nodes, C cities);
 * each step costs O(C) to update best and O(C) per re-evaluation, and the
 * heap O(log(M·K)). Memory: M·C doubles for best plus N·M bytes for "node
 * holds model". Greedy places at most one replica of a model per city
 * (a second one in the same city has zero gain); redundancy within a city
 * is what pins are for.
 *
 * Determinism. Every loop runs in index order; the heap orders by
 * (score desc, model asc, city asc) — a total order, so equal scores never
 * depend on heap history; node choice ties break on index; no hashing, no
 * pointers compared, no randomness. Floating-point sums are done in the
 * same order on every replica, so the same binary gives bit-identical
 * results everywhere it runs.
 */
#include "placement/placement.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    double score; /* gain per byte */
    uint32_t model;
    uint32_t city;
} cand;

/* a is "better" than b: higher score, then lower model, then lower city. */
static bool cand_better(const cand *a, const cand *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    if (a->model != b->model)
        return a->model < b->model;
    return a->city < b->city;
}

/* The candidates: common/heap.c's heap with "better" first (a max-heap
 * of scores). (model, city) is unique among live entries, so the order is
 * total and the pops do not depend on the heap's layout. */
static bool cand_first(const void *a, const void *b)
{
    return cand_better(a, b);
}

static const wp_heap_kind CANDS = {sizeof(cand), cand_first};

/* Cannot fail: the heap is allocated for every (model, city) at once. */
static void heap_push(wp_heap *h, cand c)
{
    (void)wp_heap_push(h, &CANDS, &c);
}

static cand heap_pop(wp_heap *h)
{
    cand top;
    wp_heap_pop(h, &CANDS, &top);
    return top;
}

typedef struct ctx {
    const wp_place_problem *p;
    uint64_t *free_bytes;   /* per node */
    uint8_t *holds;         /* n_nodes × n_models */
    double *best;           /* n_cities × n_models */
    uint32_t *city_first;   /* n_cities + 1: offsets into city_nodes */
    uint32_t *city_nodes;   /* up node indices grouped by city, ascending */
    uint32_t *placed;       /* per model: optimizer-placed replicas */
    wp_place_replica *out;
    size_t n_out, cap_out;
} ctx;

/* The up node of `city` that can take `model` with the most free memory
 * (ties: lowest index), or -1. */
static long pick_node(const ctx *x, uint32_t model, uint32_t city)
{
    const wp_place_problem *p = x->p;
    long best = -1;
    uint64_t size = p->model_size_bytes[model];
    for (uint32_t i = x->city_first[city]; i < x->city_first[city + 1]; i++) {
        uint32_t n = x->city_nodes[i];
        if (x->holds[(size_t)n * p->n_models + model] || x->free_bytes[n] < size)
            continue;
        if (best < 0 || x->free_bytes[n] > x->free_bytes[best])
            best = n;
    }
    return best;
}

static int add_replica(ctx *x, uint32_t node, uint32_t model, bool pinned)
{
    const wp_place_problem *p = x->p;
    if (x->n_out == x->cap_out) {
        size_t cap = x->cap_out ? 2 * x->cap_out : 64;
        wp_place_replica *v = realloc(x->out, cap * sizeof *v);
        if (v == NULL)
            return WP_ENOMEM;
        x->out = v;
        x->cap_out = cap;
    }
    x->out[x->n_out++] = (wp_place_replica){node, model, pinned};
    x->holds[(size_t)node * p->n_models + model] = 1;
    x->free_bytes[node] -= p->model_size_bytes[model];
    uint32_t k = p->nodes[node].city;
    for (size_t c = 0; c < p->n_cities; c++) {
        double r = p->rtt_rows[c][k];
        double *b = &x->best[c * p->n_models + model];
        if (r < *b)
            *b = r;
    }
    return WP_OK;
}

static double gain_of(const ctx *x, uint32_t model, uint32_t city)
{
    const wp_place_problem *p = x->p;
    double g = 0;
    for (size_t c = 0; c < p->n_cities; c++) {
        double d = p->demand[c * p->n_models + model];
        if (d <= 0)
            continue;
        double diff = x->best[c * p->n_models + model] - (double)p->rtt_rows[c][city];
        if (diff > 0)
            g += d * diff;
    }
    return g;
}

static int cmp_replica(const void *a, const void *b)
{
    const wp_place_replica *x = a, *y = b;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    if (x->model != y->model)
        return x->model < y->model ? -1 : 1;
    return 0;
}

/* Pin order: (model, city, input index). */
static int cmp_pin_idx(const void *a, const void *b, const wp_place_pin_in *pins)
{
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    if (pins[i].model != pins[j].model)
        return pins[i].model < pins[j].model ? -1 : 1;
    if (pins[i].city != pins[j].city)
        return pins[i].city < pins[j].city ? -1 : 1;
    return i < j ? -1 : (i > j);
}

static void sort_pins(uint32_t *idx, size_t n, const wp_place_pin_in *pins)
{
    /* insertion sort: pins are few, and qsort has no context argument in C11 */
    for (size_t i = 1; i < n; i++) {
        uint32_t v = idx[i];
        size_t j = i;
        while (j > 0 && cmp_pin_idx(&idx[j - 1], &v, pins) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

void wp_place_solution_close(wp_place_solution *s)
{
    if (s == NULL)
        return;
    free(s->replicas);
    free(s->pin_placed);
    memset(s, 0, sizeof *s);
}

static int validate(const wp_place_problem *p, wp_err *err)
{
    if (p->n_cities > 0 && p->rtt_rows == NULL)
        return wp_errf(err, WP_EINVAL, "optimizer: no RTT rows");
    if ((p->n_nodes && !p->nodes) || (p->n_models && !p->model_size_bytes) ||
        (p->n_pins && !p->pins) || (p->n_models && p->n_cities && !p->demand))
        return wp_errf(err, WP_EINVAL, "optimizer: missing input array");
    for (size_t i = 0; i < p->n_nodes; i++)
        if (p->nodes[i].city >= p->n_cities)
            return wp_errf(err, WP_EINVAL, "optimizer: node %zu: city %u out of range", i,
                           p->nodes[i].city);
    for (size_t m = 0; m < p->n_models; m++)
        if (p->model_size_bytes[m] == 0)
            return wp_errf(err, WP_EINVAL, "optimizer: model %zu has size 0", m);
    for (size_t i = 0; i < p->n_pins; i++)
        if (p->pins[i].model >= p->n_models || p->pins[i].city >= p->n_cities)
            return wp_errf(err, WP_EINVAL, "optimizer: pin %zu out of range", i);
    for (size_t i = 0; i < p->n_cities * p->n_models; i++)
        if (!(p->demand[i] >= 0) || !isfinite(p->demand[i]))
            return wp_errf(err, WP_EINVAL, "optimizer: demand must be finite and >= 0");
    return WP_OK;
}

int wp_place_optimize(const wp_place_problem *p, wp_place_solution *out, wp_err *err)
{
    memset(out, 0, sizeof *out);
    int rv = validate(p, err);
    if (rv != WP_OK)
        return rv;
    size_t N = p->n_nodes, M = p->n_models, C = p->n_cities;
    ctx x = {.p = p};
    wp_heap h = {0};
    x.free_bytes = calloc(N ? N : 1, sizeof *x.free_bytes);
    x.holds = calloc(N * M + 1, 1);
    x.best = calloc(C * M + 1, sizeof *x.best);
    x.city_first = calloc(C + 1, sizeof *x.city_first);
    x.city_nodes = calloc(N ? N : 1, sizeof *x.city_nodes);
    x.placed = calloc(M ? M : 1, sizeof *x.placed);
    out->pin_placed = calloc(p->n_pins ? p->n_pins : 1, sizeof *out->pin_placed);
    uint32_t *pin_order = calloc(p->n_pins ? p->n_pins : 1, sizeof *pin_order);
    wp_heap_init(&h, &CANDS, M * C + 1);
    if (!x.free_bytes || !x.holds || !x.best || !x.city_first || !x.city_nodes || !x.placed ||
        !out->pin_placed || !pin_order || !h.v) {
        rv = wp_errf(err, WP_ENOMEM, "optimizer: out of memory");
        goto done;
    }

    /* Up nodes grouped by city (counting sort keeps index order). */
    for (size_t i = 0; i < N; i++)
        if (p->nodes[i].up) {
            x.free_bytes[i] = p->nodes[i].gpu_mem_bytes;
            x.city_first[p->nodes[i].city + 1]++;
        }
    for (size_t c = 0; c < C; c++)
        x.city_first[c + 1] += x.city_first[c];
    {
        uint32_t *fill = calloc(C ? C : 1, sizeof *fill);
        if (fill == NULL) {
            rv = wp_errf(err, WP_ENOMEM, "optimizer: out of memory");
            goto done;
        }
        for (size_t i = 0; i < N; i++)
            if (p->nodes[i].up) {
                uint32_t c = p->nodes[i].city;
                x.city_nodes[x.city_first[c] + fill[c]++] = (uint32_t)i;
            }
        free(fill);
    }

    /* Cost with no replicas. */
    double max_rtt = 0;
    for (size_t a = 0; a < C; a++)
        for (size_t b = 0; b < C; b++)
            if (p->rtt_rows[a][b] > max_rtt)
                max_rtt = p->rtt_rows[a][b];
    for (size_t m = 0; m < M; m++) {
        double miss = p->miss_ms ? p->miss_ms[m] : 2 * max_rtt + 1000.0;
        for (size_t c = 0; c < C; c++)
            x.best[c * M + m] = miss;
    }

    /* 1. Pins. */
    for (size_t i = 0; i < p->n_pins; i++)
        pin_order[i] = (uint32_t)i;
    sort_pins(pin_order, p->n_pins, p->pins);
    for (size_t k = 0; k < p->n_pins; k++) {
        const wp_place_pin_in *pin = &p->pins[pin_order[k]];
        uint32_t got = 0;
        for (; got < pin->replicas; got++) {
            long n = pick_node(&x, pin->model, pin->city);
            if (n < 0)
                break;
            if ((rv = add_replica(&x, (uint32_t)n, pin->model, true)) != WP_OK) {
                wp_errf(err, rv, "optimizer: out of memory");
                goto done;
            }
        }
        out->pin_placed[pin_order[k]] = got;
        out->pin_shortfall += pin->replicas - got;
    }

    /* 2. Greedy by gain per byte, lazily evaluated. */
    for (uint32_t m = 0; m < M; m++)
        for (uint32_t c = 0; c < C; c++) {
            if (x.city_first[c] == x.city_first[c + 1] || pick_node(&x, m, c) < 0)
                continue;
            double g = gain_of(&x, m, c);
            if (g > 0)
                heap_push(&h, (cand){g / (double)p->model_size_bytes[m], m, c});
        }
    while (wp_heap_len(&h) > 0) {
        cand top = heap_pop(&h);
        if (p->max_placed_per_model && x.placed[top.model] >= p->max_placed_per_model)
            continue;
        long n = pick_node(&x, top.model, top.city);
        if (n < 0)
            continue; /* no room left there; it never comes back */
        double g = gain_of(&x, top.model, top.city);
        if (!(g > 0))
            continue;
        cand fresh = {g / (double)p->model_size_bytes[top.model], top.model, top.city};
        if (wp_heap_len(&h) > 0 && cand_better(wp_heap_top(&h), &fresh)) {
            heap_push(&h, fresh); /* stale: someone else is better now */
            continue;
        }
        if ((rv = add_replica(&x, (uint32_t)n, top.model, false)) != WP_OK) {
            wp_errf(err, rv, "optimizer: out of memory");
            goto done;
        }
        x.placed[top.model]++;
        /* The same (model, city) may take another node only if it gains,
         * which it cannot (best is already rtt(c, city)); drop it. */
    }

    /* Cost. */
    double total = 0, cost = 0;
    for (size_t c = 0; c < C; c++)
        for (size_t m = 0; m < M; m++) {
            double d = p->demand[c * M + m];
            total += d;
            cost += d * x.best[c * M + m];
        }
    out->total_demand = total;
    out->cost_ms = total > 0 ? cost / total : 0;
    if (x.n_out > 1)
        qsort(x.out, x.n_out, sizeof *x.out, cmp_replica);
    out->replicas = x.out;
    out->n = x.n_out;
    out->n_pins = p->n_pins;
    x.out = NULL;
    rv = WP_OK;
done:
    free(x.free_bytes);
    free(x.holds);
    free(x.best);
    free(x.city_first);
    free(x.city_nodes);
    free(x.placed);
    free(x.out);
    free(pin_order);
    wp_heap_close(&h);
    if (rv != WP_OK) {
        free(out->pin_placed);
        memset(out, 0, sizeof *out);
    }
    return rv;
}
