/* router/router_int.h — private to wp_router: the view's layout.
 *
 * Structure of arrays, so the scan touches only what it tests: one status
 * byte per node, the warm bitsets packed per node, in-flight counts in a
 * nodes x WP_ROUTER_MAX_MODELS table. Candidate lists: for each ingress
 * city, every node as {rtt_ms, node} sorted by (rtt_ms, node index), so
 * equal RTTs break ties by the lower index (deterministic).
 */
#ifndef WP_ROUTER_INT_H
#define WP_ROUTER_INT_H

#include "router/router.h"

#define WP_ROUTER_WARM_WORDS (WP_ROUTER_MAX_MODELS / 64u)

typedef struct wp_cand {
    float rtt_ms;
    uint32_t node;
} wp_cand;

/* A node's last report (live), one cache line's worth per node. */
typedef struct wp_node_load {
    uint64_t cls[WP_ROUTER_CLASSES];
    uint64_t at_ns; /* UINT64_MAX: none */
    uint64_t at_bucket; /* at_ns / period (0 when none) */
    uint64_t free_units;
} wp_node_load;

typedef struct wp_router_model {
    char name[WP_NAME_MAX];
    uint64_t size_bytes;
    uint32_t slots_per_gpu;
    uint32_t units;   /* WP_ROUTER_GPU_UNITS / slots_per_gpu */
    float load_ms;    /* cold load: weights to GPU + runtime start */
    float service_ms; /* one request at typical token counts (or measured) */
    float ttft_ms;    /* first token at typical input (or measured) */
    uint32_t cls;     /* service class, 0..WP_ROUTER_CLASSES-1 */
} wp_router_model;

struct wp_router_view {
    size_t ncities;
    wp_router_rtt_fn rtt_ms;
    const void *rtt_ctx;
    double queue_per_slot;
    uint64_t period_ns;     /* report period (bucket width) */
    double inv_period;      /* 1 / period_ns */
    uint32_t hist_ticks;    /* 0: live (latest report); else ring size */

    size_t nmodels;
    wp_router_model models[WP_ROUTER_MAX_MODELS];

    size_t nnodes, cap_nodes;
    char (*ids)[WP_NAME_MAX];
    uint32_t *city;
    uint8_t *status;
    uint32_t *gpus;
    uint64_t *free_mem;
    uint64_t *version;
    uint64_t *warm;     /* cap_nodes * WP_ROUTER_WARM_WORDS */
    uint64_t *noload;   /* the same shape: set = the node cannot load the model */
    uint32_t *inflight; /* cap_nodes * WP_ROUTER_MAX_MODELS */
    uint64_t *used;     /* work in flight per node, GPU units */
    uint64_t *used_cls; /* the same per class: cap_nodes * WP_ROUTER_CLASSES */
    /* Live reports: per node, per class units, time (UINT64_MAX: none),
     * free units. */
    wp_node_load *rep;
    bool any_report; /* a report was ever applied (else the fast path) */
    /* Simulated reports: hist_ticks snapshots of nodes x classes, tick k in
     * slot k % hist_ticks; hist_last = latest tick published (+1; 0 none). */
    uint64_t *hist;
    size_t hist_nodes; /* nodes per snapshot (fixed at the first publish) */
    uint64_t hist_next; /* next tick index to publish */

    /* ncities lists of cap_nodes entries each; list c holds nnodes. */
    wp_cand *cands;
};

static inline bool wp__router_warm(const wp_router_view *v, uint32_t node, uint32_t model)
{
    return (v->warm[(size_t)node * WP_ROUTER_WARM_WORDS + (model >> 6)] >> (model & 63)) & 1u;
}

/* Own sends of one node: bucket b0 + i holds units per class of requests
 * arriving at the node in [ (b0+i) P, (b0+i+1) P ). */
typedef struct wp_sends_node {
    uint32_t b0;
    uint32_t hi; /* buckets hi.. are empty (the sum stops there) */
    uint32_t units[WP_ROUTER_SEND_BUCKETS][WP_ROUTER_CLASSES];
} wp_sends_node;

struct wp_router_sends {
    wp_sends_node *n;
    size_t cap;
};

/* Sum of own pending units for a node not in a report whose bucket index
 * (report time / period) is k: buckets k and later. */
static inline uint64_t wp__sends_pending(const wp_router_sends *s, uint32_t node, uint64_t k,
                                         uint64_t *units)
{
    if (!s || node >= s->cap)
        return 0;
    const wp_sends_node *sn = &s->n[node];
    uint64_t total = 0;
    for (uint64_t i = k > sn->b0 ? k - sn->b0 : 0; i < sn->hi; i++)
        for (uint32_t c = 0; c < WP_ROUTER_CLASSES; c++) {
            units[c] += sn->units[i][c];
            total += sn->units[i][c];
        }
    return total;
}

/* The reported units (per class, into cls: a pointer to the report's row)
 * an ingress at one-way delay oneway_ms sees at now_ns; returns the report
 * time or UINT64_MAX (none: *cls is NULL), its bucket index in *kb. */
static inline uint64_t wp__seen_report(const wp_router_view *v, uint32_t node,
                                       float oneway_ms, uint64_t now_ns, const uint64_t **cls,
                                       uint64_t *kb)
{
    if (!v->hist_ticks) {
        *cls = v->rep[node].cls;
        *kb = v->rep[node].at_bucket;
        return v->rep[node].at_ns;
    }
    uint64_t d_ns = (uint64_t)((double)oneway_ms * 1e6);
    *kb = 0;
    if (v->hist_next == 0 || node >= v->hist_nodes || now_ns < d_ns) {
        *cls = NULL;
        return UINT64_MAX;
    }
    uint64_t k = (uint64_t)((double)(now_ns - d_ns) * v->inv_period);
    if (k * v->period_ns > now_ns - d_ns) /* rounding of the reciprocal */
        k--;
    else if ((k + 1) * v->period_ns <= now_ns - d_ns)
        k++;
    if (k >= v->hist_next)
        k = v->hist_next - 1;
    if (k + v->hist_ticks < v->hist_next) /* older than the ring: its oldest */
        k = v->hist_next - v->hist_ticks;
    *cls = v->hist + ((size_t)(k % v->hist_ticks) * v->hist_nodes + node) * WP_ROUTER_CLASSES;
    *kb = k;
    return k * v->period_ns;
}

static inline uint64_t wp__router_believed(const wp_router_view *v, const wp_router_sends *s,
                                           uint32_t node, float oneway_ms, uint64_t now_ns, uint64_t *units)
{
    const uint64_t *cls;
    uint64_t kb;
    uint64_t at = wp__seen_report(v, node, oneway_ms, now_ns, &cls, &kb);
    if (at == UINT64_MAX && !v->hist_ticks) { /* live, no report yet: own counts */
        cls = &v->used_cls[(size_t)node * WP_ROUTER_CLASSES];
        for (uint32_t c = 0; c < WP_ROUTER_CLASSES; c++)
            units[c] = cls[c];
        return at;
    }
    for (uint32_t c = 0; c < WP_ROUTER_CLASSES; c++)
        units[c] = cls ? cls[c] : 0;
    wp__sends_pending(s, node, kb, units);
    return at;
}

#endif
