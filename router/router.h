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
 * Load (issue 12). A target's load is what it last REPORTED (work in flight
 * per service class, in GPU units, and free units, stamped with the node's
 * time) plus what THIS ingress has itself sent to it since (wp_router_sends),
 * so an ingress does not overshoot between reports. Two ways to feed the
 * reported part, one route code path:
 *   live       wp_router_load_report() on every report gossip (or a faster
 *              path) delivers; the route reads the latest;
 *   simulated  the owner of the truth keeps the view's own counts
 *              (wp_router_inflight_add) and calls wp_router_load_publish()
 *              every report period; ingress i then reads node j's snapshot
 *              published at the latest tick <= now - oneway(i, j), exactly
 *              what a live ingress would hold (config.history_ticks > 0).
 * STALENESS BOUND: the reported part is at most report_period + one-way
 * delay (RTT/2 of the candidate list) old; own sends cover the gap, so the
 * only load an ingress cannot see is what OTHER ingresses sent in that
 * window. A node with no report yet counts only the view's own counts.
 *
 * The live side, step by step (what wp-node is expected to do):
 *   - create the view with report_period_ns = the period nodes report at,
 *     history_ticks = 0; one wp_router_sends for the node (it is one
 *     ingress);
 *   - a node reports its own load (per model: running + queued, from its
 *     residency core; free units) with its clock's time; on receipt:
 *     wp_router_load_report(view, node, &rep) (older ones are refused);
 *   - route with req.now_ns = now, req.sends, req.budget_ms = time left to
 *     the request's deadline less the user's return leg, req.user_ms; on
 *     WP_EOVERLOAD answer OVERLOADED at once (result.why says full or
 *     deadline, best_late_ms how late the best one would have been);
 *   - on forwarding: wp_router_sends_note(sends, view, node, model,
 *     now + rtt_ms/2 in ns); on its answer or error:
 *     wp_router_sends_done(... same arrival time);
 *   - wp_router_inflight_add stays for a node's own counts (and for nodes
 *     that never report); once a node reports, routes ignore those counts;
 *   - for `wpctl route`: wp_route_explain_run gives every candidate with
 *     RTT from the ingress, the user's leg, expected wait, the load it was
 *     weighed with, the age of that report and the verdict;
 *   - at a node, for its report: per model wp_res_model_inflight, free
 *     units wp_res_capacity_units - wp_res_busy_units (gpu_worker.h);
 *   - at the target: wp_res_submit_by with the latest start that still
 *     meets the deadline, and wp_res_set_priority(model, class x bound)
 *     with wp_router_model_class (gpu_worker.h).
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
/* The default queue_per_slot of every router, live and simulated: work
 * beyond the slots may queue up to as much again. The request's deadline
 * (budget_ms) is the tighter bound when it has one; this one bounds work
 * that has none, and leaves room for short classes (served first) while a
 * long model fills the slots. */
#define WP_ROUTER_QUEUE_PER_SLOT_DEFAULT 1.0

/* ---------------------------------------------------------------- view */

/* RTT between two city indices, ms (symmetric or not; row = from). */
typedef double (*wp_router_rtt_fn)(const void *ctx, size_t from_city, size_t to_city);

typedef struct wp_router_config {
    size_t ncities;          /* city indices are 0..ncities-1 */
    wp_router_rtt_fn rtt_ms; /* used while nodes are added */
    const void *rtt_ctx;     /* must outlive the view only while adding nodes */
    /* A node is full for a request when the work that would be served
     * before it or with it (its class and shorter ones, plus longer work
     * up to the slots it holds; route.c) plus the request's would exceed
     * gpus * WP_ROUTER_GPU_UNITS * (1 + queue_per_slot). 0: full as soon as the GPUs are (a free slot
     * is "room"); 1.0: as much may wait as runs. At most 1000. */
    double queue_per_slot;
    /* (WP_ROUTER_QUEUE_PER_SLOT_DEFAULT: the one default of wp-node's
     * --queue-per-slot and the simulator's queue_per_slot key.) */
    /* Load reports (see the header essay). report_period_ns: how often a
     * node reports; also the width of the time buckets wp_router_sends
     * keeps (0 = 100 ms). history_ticks: 0 for the live world (the route
     * reads the latest wp_router_load_report); > 0 for the simulator: a
     * ring of that many published snapshots, enough to cover the largest
     * one-way delay (ticks * period > max RTT/2 + period), at most 4096. */
    uint64_t report_period_ns;
    uint32_t history_ticks;
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
/* The model's service time (full response at typical tokens), its time to
 * first token at typical input, and its service class (below). */
double wp_router_model_service_ms(const wp_router_view *v, uint32_t model);
/* Service times measured where the model runs (issue 15: nodes publish
 * them in gossip) replace the profile's for wait estimates and the
 * deadline check: service_ms a whole request, ttft_ms its first token,
 * both without queueing. The service class stays the profile's (work in
 * flight is accounted per class). Ignored unless service_ms > 0. */
void wp_router_model_set_measured(wp_router_view *v, uint32_t model, double service_ms,
                                  double ttft_ms);
double wp_router_model_ttft_ms(const wp_router_view *v, uint32_t model);
uint32_t wp_router_model_class(const wp_router_view *v, uint32_t model);
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
/* Whether the node can load the model at all (a cpu/cuda node only has the
 * checkpoints it was given). Default: yes. A node that cannot is never a
 * cold candidate (verdict NO_MEMORY); a warm one still serves. */
void wp_router_set_loadable(wp_router_view *v, uint32_t node, uint32_t model, bool loadable);
bool wp_router_node_loadable(const wp_router_view *v, uint32_t node, uint32_t model);
void wp_router_set_free_mem(wp_router_view *v, uint32_t node, uint64_t free_mem_bytes);
void wp_router_inflight_add(wp_router_view *v, uint32_t node, uint32_t model, int32_t delta);

/* ---------------------------------------------------------------- load */

/* Service classes: a model's class is fixed by its service time (< 100 ms,
 * < 1 s, < 10 s, longer). Load is kept per class because targets serve
 * shorter classes first within a bound (route.c's essay says why), so the
 * wait a request expects depends on the work of its class and shorter. */
#define WP_ROUTER_CLASSES 4u
/* Targets serve a queued request of class c as if it had arrived c x this
 * later (wp_res_set_priority): a shorter class overtakes longer work that
 * arrived less than (class gap) x bound before it, never older work. The
 * simulator's edge GPUs and wp-node use the same bound. */
#define WP_ROUTER_CLASS_BOUND_NS 1000000000ull
/* The class of a service time (ms): 0..WP_ROUTER_CLASSES-1. */
uint32_t wp_router_service_class(double service_ms);

/* One node's load report, as the node publishes it: for each model with
 * work, the requests in flight there (running + queued). The view turns
 * counts into GPU units per class with its registry. */
typedef struct wp_load_report {
    uint64_t at_ns;          /* the node's time of the snapshot (cluster clock) */
    uint64_t free_units;     /* GPU units not held by running work (free slots) */
    size_t n;                /* entries below, at most WP_ROUTER_MAX_MODELS */
    const uint32_t *models;  /* model indices (this view's registry) */
    const uint32_t *inflight;
} wp_load_report;

/* Live world: applies a node's report. A report older than the one held
 * (at_ns lower) is ignored: WP_ESTATE. WP_EINVAL for a bad node or model,
 * or a view in history mode. O(report entries). */
int wp_router_load_report(wp_router_view *v, uint32_t node, const wp_load_report *r);
/* Simulated world (history_ticks > 0): snapshot every node's own counts
 * (wp_router_inflight_add) as their report at at_ns; at_ns must be a
 * multiple of the report period and increase by one period per call.
 * O(nodes). WP_EINVAL otherwise. */
int wp_router_load_publish(wp_router_view *v, uint64_t at_ns);
/* What an ingress at `ingress_city` believes about node at now_ns from
 * reports alone: per-class units (units[WP_ROUTER_CLASSES]) and the time
 * of the report used (UINT64_MAX: none yet, units are the view's own).
 * For display (wpctl route) and tests. */
uint64_t wp_router_load_seen(const wp_router_view *v, uint32_t ingress_city, uint32_t node,
                             uint64_t now_ns, uint64_t *units);

/* Own sends of one ingress, since each node's last report. Time buckets of
 * report_period by ARRIVAL at the target (send time + one-way delay): a
 * report at time T already counts the requests that arrived by T, so
 * buckets before T's drop out of the sum by themselves (no clean-up pass).
 * WP_ROUTER_SEND_BUCKETS buckets per node; a send beyond them merges the
 * oldest into the next (counted longer: an overestimate, never an under-
 * estimate). Grows with the nodes it is told about. */
#define WP_ROUTER_SEND_BUCKETS 4u
typedef struct wp_router_sends wp_router_sends;

int wp_router_sends_new(wp_router_sends **out, wp_err *err);
void wp_router_sends_free(wp_router_sends *s);
/* A request of model was sent to node and arrives there at arrive_at_ns
 * (send time + RTT/2: wp_route_result.rtt_ms). WP_ENOMEM if it cannot
 * grow (nothing noted). */
int wp_router_sends_note(wp_router_sends *s, const wp_router_view *v, uint32_t node,
                         uint32_t model, uint64_t arrive_at_ns);
/* The request noted with that arrival time finished (its answer, or an
 * error, came back): it no longer loads the node. */
void wp_router_sends_done(wp_router_sends *s, const wp_router_view *v, uint32_t node,
                          uint32_t model, uint64_t arrive_at_ns);
/* Units this ingress counts as sent to node and not in a report at
 * report_at_ns (per class into units[], total returned). */
uint64_t wp_router_sends_pending(const wp_router_sends *s, const wp_router_view *v,
                                 uint32_t node, uint64_t report_at_ns, uint64_t *units);

/* ---------------------------------------------------------------- route */

typedef enum wp_route_policy {
    WP_POLICY_NEAREST_WARM = 0, /* lowest RTT warm node with room */
    WP_POLICY_LATENCY,          /* lowest expected time to first token:
                                 * RTT + expected wait + cold load + TTFT,
                                 * within the deadline; spills to the next
                                 * node as soon as the wait makes it worse.
                                 * The load-aware default (wp-node, sim). */
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
    /* Load-aware fields (all optional: zero/NULL keeps the old behaviour). */
    uint64_t now_ns;  /* the ingress's time: picks which reports it has seen */
    /* Time left, at the ingress, until the first token must be back at the
     * ingress (the request's deadline less the user's return leg); 0 = no
     * deadline. A candidate whose expected TTFT exceeds it is TOO_LATE; if
     * every one is, the route fails WP_EOVERLOAD / WP_ROUTE_WHY_DEADLINE. */
    float budget_ms;
    float user_ms;    /* user <-> ingress RTT: shown in explain only */
    const wp_router_sends *sends; /* this ingress's own sends, or NULL */
} wp_route_req;

/* Why a route failed (wp_route_result.why), or ROUTED. */
typedef enum wp_route_why {
    WP_ROUTE_ROUTED = 0,
    WP_ROUTE_WHY_NO_REPLICA, /* WP_ENOROUTE: nothing can serve the model */
    WP_ROUTE_WHY_FULL,       /* WP_EOVERLOAD: every candidate full */
    WP_ROUTE_WHY_DEADLINE,   /* WP_EOVERLOAD: none could answer in time */
    WP_ROUTE_WHY_COUNT
} wp_route_why;
const char *wp_route_why_name(wp_route_why w);

typedef struct wp_route_result {
    uint32_t node;
    uint32_t city;
    float rtt_ms;  /* ingress → node */
    float wait_ms; /* expected queue wait at the node */
    float cost_ms; /* rtt + wait + (cold ? load : 0); + the model's TTFT must fit the budget */
    bool cold;     /* the model is not warm there: a cold load */
    wp_route_why why; /* set on every return */
    float best_late_ms; /* DEADLINE: the lowest expected TTFT seen (> budget) */
    /* Time of the chosen node's load report the decision used (UINT64_MAX:
     * none, the view's own counts): now_ns - load_at_ns is its age. */
    uint64_t load_at_ns;
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
    WP_CAND_TOO_LATE, /* could not answer within the request's budget */
    WP_CAND_VERDICT_COUNT
} wp_cand_verdict;

const char *wp_cand_verdict_name(wp_cand_verdict v);

typedef struct wp_route_candidate {
    uint32_t node;
    float rtt_ms;  /* ingress → node */
    float user_ms; /* user ↔ ingress (the request's user_ms; same for all) */
    float wait_ms; /* expected queue wait (0 when not computed) */
    float cost_ms; /* < 0 when it could not serve */
    float load_age_ms; /* age of the load report used; < 0: none */
    uint64_t load_units; /* work in flight it was weighed with (all classes) */
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
