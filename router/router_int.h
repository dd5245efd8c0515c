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

typedef struct wp_router_model {
    char name[WP_NAME_MAX];
    uint64_t size_bytes;
    uint32_t slots_per_gpu;
    uint32_t units;   /* WP_ROUTER_GPU_UNITS / slots_per_gpu */
    float load_ms;    /* cold load: weights to GPU + runtime start */
    float service_ms; /* one request at typical token counts */
} wp_router_model;

struct wp_router_view {
    size_t ncities;
    wp_router_rtt_fn rtt_ms;
    const void *rtt_ctx;
    double queue_per_slot;

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
    uint32_t *inflight; /* cap_nodes * WP_ROUTER_MAX_MODELS */
    uint64_t *used;     /* work in flight per node, GPU units */

    /* ncities lists of cap_nodes entries each; list c holds nnodes. */
    wp_cand *cands;
};

static inline bool wp__router_warm(const wp_router_view *v, uint32_t node, uint32_t model)
{
    return (v->warm[(size_t)node * WP_ROUTER_WARM_WORDS + (model >> 6)] >> (model & 63)) & 1u;
}

#endif
