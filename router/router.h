/* router/router.h — the routing core: a view of the cluster and the
 * decision "which node serves this request". The one public header of the
 * wp_router library.
 *
 * Pure: no clock, no sockets, no globals, no randomness. The same code runs
 * inside every live node (fed by gossip) and inside the simulator (fed
 * directly). A view knows:
 *   - the cities (indices into a topology) and the RTT between them, given
 *     once as a lookup function at creation (copied into per-ingress
 *     candidate lists, so the lookup is not used after node adds);
 *   - a model registry: name → index (at most WP_ROUTER_MAX_MODELS), with
 *     each model's size, cold-load time and service time;
 *   - nodes: id, city, status, GPU count, free GPU memory, warm models (a
 *     bitset over model indices), requests in flight per model (running +
 *     queued), and a version.
 *
 * The hot path (wp_route) allocates nothing and reads only the view. Each
 * ingress city keeps every node sorted by RTT from it; a scan walks that
 * list and stops as soon as RTT alone cannot beat the best cost found.
 *
 * Ownership: a view is opaque (wp_router_view_new / wp_router_view_free).
 * Nodes are never removed (indices stay stable); a departed node is DEAD.
 */
#ifndef WP_ROUTER_H
#define WP_ROUTER_H

#include "common/common.h"

#define WP_ROUTER_MAX_MODELS 256u
/* Capacity of one GPU in work units. Models on a node share its GPUs: one
 * request of a model with s slots per GPU takes WP_ROUTER_GPU_UNITS / s
 * units while in flight (so a GPU runs s of them alone, or a mix). */
#define WP_ROUTER_GPU_UNITS 65536u
#define WP_ROUTER_MAX_NODES 65536u

/* ---------------------------------------------------------------- view */

/* RTT between two city indices, ms (symmetric or not; row = from). */
typedef double (*wp_router_rtt_fn)(const void *ctx, size_t from_city, size_t to_city);

typedef struct wp_router_config {
    size_t ncities;          /* city indices are 0..ncities-1 */
    wp_router_rtt_fn rtt_ms; /* used while nodes are added */
    const void *rtt_ctx;     /* must outlive the view only while adding nodes */
    /* A node is full for a request when the work in flight (all models)
     * plus the request's would exceed gpus * WP_ROUTER_GPU_UNITS *
     * (1 + queue_per_slot). 0: full as soon as the GPUs are (a free slot
     * is "room"); 1.0: as much may wait as runs. At most 1000. */
    double queue_per_slot;
} wp_router_config;

typedef struct wp_router_view wp_router_view;

int wp_router_view_new(const wp_router_config *cfg, wp_router_view **out, wp_err *err);
void wp_router_view_free(wp_router_view *v);

/* ---------------------------------------------------------------- models */

/* Registers a model from its timing profile; service time for queue-wait
 * estimates is the full response at the profile's typical token counts.
 * Returns its index in *index. WP_EEXIST if the name is taken, WP_ENOSPC
 * beyond WP_ROUTER_MAX_MODELS. */
int wp_router_model_add(wp_router_view *v, const wp_model_profile *p, uint32_t *index,
                        wp_err *err);
/* Index of a model by exact name, or -1. */
int wp_router_model_find(const wp_router_view *v, const char *name);
size_t wp_router_model_count(const wp_router_view *v);
const char *wp_router_model_name(const wp_router_view *v, uint32_t model);

/* ---------------------------------------------------------------- nodes */

typedef enum wp_node_status {
    WP_NODE_UP = 0,
    WP_NODE_SUSPECT,  /* gossip suspects it: skipped until refuted */
    WP_NODE_DRAINING, /* finishing its work, takes nothing new */
    WP_NODE_DEAD,
    WP_NODE_STATUS_COUNT
} wp_node_status;

const char *wp_node_status_name(wp_node_status s);

typedef struct wp_router_node_info {
    const char *id;      /* unique, < WP_NAME_MAX bytes */
    uint32_t city;       /* index < ncities */
    uint32_t gpus;       /* 0 = ingress only, never a target */
    uint64_t free_mem_bytes;
} wp_router_node_info;

/* Adds a node (status UP, nothing warm, version 0). O(ncities * nodes).
 * WP_EEXIST for a duplicate id, WP_EINVAL for a bad city or id. */
int wp_router_node_add(wp_router_view *v, const wp_router_node_info *info, uint32_t *index,
                       wp_err *err);
/* Index of a node by id, or -1 (linear search: not for the hot path).
 * The accessors below and the direct setters take a valid index (< count)
 * and a registered model; they do not check (wp_router_apply does). */
int wp_router_node_find(const wp_router_view *v, const char *id);
size_t wp_router_node_count(const wp_router_view *v);
const char *wp_router_node_id(const wp_router_view *v, uint32_t node);
uint32_t wp_router_node_city(const wp_router_view *v, uint32_t node);
wp_node_status wp_router_node_status(const wp_router_view *v, uint32_t node);
uint64_t wp_router_node_version(const wp_router_view *v, uint32_t node);
bool wp_router_node_warm(const wp_router_view *v, uint32_t node, uint32_t model);
uint32_t wp_router_node_inflight(const wp_router_view *v, uint32_t node, uint32_t model);
uint64_t wp_router_node_free_mem(const wp_router_view *v, uint32_t node);
/* Work in flight at the node, all models, in GPU units. */
uint64_t wp_router_node_load_units(const wp_router_view *v, uint32_t node);
/* Units one request of the model takes. */
uint32_t wp_router_model_units(const wp_router_view *v, uint32_t model);
uint32_t wp_router_node_gpus(const wp_router_view *v, uint32_t node);

/* A delta about one node, as gossip carries it. Only the fields named in
 * `fields` are applied. A delta whose version is lower than the node's is
 * stale and ignored (WP_ESTATE returned, nothing changed); an equal or
 * higher version is applied and becomes the node's version. */
enum {
    WP_DELTA_STATUS = 1u << 0,
    WP_DELTA_GPUS = 1u << 1,
    WP_DELTA_FREE_MEM = 1u << 2,
    WP_DELTA_WARM_SET = 1u << 3,   /* model becomes warm */
    WP_DELTA_WARM_UNSET = 1u << 4, /* model no longer warm */
    WP_DELTA_INFLIGHT = 1u << 5,   /* in-flight count of `model` */
};

typedef struct wp_node_delta {
    uint64_t version;
    uint32_t fields;
    wp_node_status status;
    uint32_t gpus;
    uint64_t free_mem_bytes;
    uint32_t model;    /* for WARM_SET / WARM_UNSET / INFLIGHT */
    uint32_t inflight;
} wp_node_delta;

/* WP_OK applied, WP_ESTATE stale (ignored), WP_EINVAL bad node/model. */
int wp_router_apply(wp_router_view *v, uint32_t node, const wp_node_delta *d);

/* Direct, unversioned updates for the owner of the truth (the simulator,
 * or a node about itself). In-flight never goes below zero. The node's
 * work in flight (units, see WP_ROUTER_GPU_UNITS) follows the counts. */
void wp_router_set_status(wp_router_view *v, uint32_t node, wp_node_status s);
void wp_router_set_warm(wp_router_view *v, uint32_t node, uint32_t model, bool warm);
void wp_router_set_free_mem(wp_router_view *v, uint32_t node, uint64_t free_mem_bytes);
void wp_router_inflight_add(wp_router_view *v, uint32_t node, uint32_t model, int32_t delta);

/* ---------------------------------------------------------------- route */

typedef enum wp_route_policy {
    WP_POLICY_NEAREST_WARM = 0, /* default: lowest RTT warm node with room */
    WP_POLICY_LATENCY,          /* min RTT + expected wait + cold load */
    WP_POLICY_NEAREST,          /* lowest RTT node with room, warm or not */
    WP_POLICY_COUNT
} wp_route_policy;

const char *wp_route_policy_name(wp_route_policy p);
/* "nearest-warm" | "latency" | "nearest"; WP_ENOTFOUND otherwise. */
int wp_route_policy_parse(const char *s, wp_route_policy *out);

typedef struct wp_route_req {
    uint32_t model;   /* index in the registry */
    uint32_t ingress; /* city index where the request entered */
    wp_route_policy policy;
} wp_route_req;

typedef struct wp_route_result {
    uint32_t node;
    uint32_t city;
    float rtt_ms;  /* ingress → node */
    float wait_ms; /* expected queue wait at the node */
    float cost_ms; /* rtt + wait + (cold ? load : 0) */
    bool cold;     /* the model is not warm there: a cold load */
} wp_route_result;

/* Routes one request. WP_OK and *out filled; or
 *   WP_ENOTFOUND  unknown model, WP_EINVAL ingress out of range,
 *   WP_EOVERLOAD  warm replicas exist but all are full and no node can
 *                 take a cold load,
 *   WP_ENOROUTE   no node can serve the model at all.
 * Dead, suspect and draining nodes, nodes without GPUs and full nodes are
 * skipped. nearest-warm falls back to the nearest node that can load the
 * model (cold) when no warm replica has room. Allocation-free. */
int wp_route(const wp_router_view *v, const wp_route_req *req, wp_route_result *out);

/* Why a candidate was or was not taken. */
typedef enum wp_cand_verdict {
    WP_CAND_CHOSEN = 0,
    WP_CAND_BETTER_FOUND, /* could serve, but a cheaper one was chosen */
    WP_CAND_DEAD,
    WP_CAND_SUSPECT,
    WP_CAND_DRAINING,
    WP_CAND_NO_GPU,
    WP_CAND_NOT_WARM, /* nearest-warm: skipped while looking for a warm one */
    WP_CAND_NO_MEMORY,
    WP_CAND_FULL,
    WP_CAND_VERDICT_COUNT
} wp_cand_verdict;

const char *wp_cand_verdict_name(wp_cand_verdict v);

typedef struct wp_route_candidate {
    uint32_t node;
    float rtt_ms;
    float cost_ms; /* < 0 when it could not serve */
    bool warm;
    wp_cand_verdict verdict;
} wp_route_candidate;

typedef struct wp_route_explain {
    wp_route_candidate *cands; /* caller's array */
    size_t cap;
    size_t n;          /* candidates recorded (at most cap) */
    size_t considered; /* candidates the scan looked at (may exceed cap) */
    size_t total;      /* nodes in the ingress's list */
    bool stopped_early; /* the scan stopped: RTT alone exceeded the best cost */
} wp_route_explain;

/* The same decision as wp_route (same code path), recording each candidate
 * the scan looked at, in RTT order, with its cost and verdict. */
int wp_route_explain_run(const wp_router_view *v, const wp_route_req *req, wp_route_result *out,
                         wp_route_explain *ex);

#endif /* WP_ROUTER_H */
