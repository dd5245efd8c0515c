/* route.c — one routing decision: request {model, ingress} → node.
 *
 * The scan. Every ingress city has all nodes sorted by RTT from it
 * (view.c). A decision walks that list once, in RTT order:
 *   nearest-warm  takes the first node that is UP, has GPUs, holds the
 *                 model warm and is not full. While walking it remembers
 *                 the first node that could load the model cold (UP, GPUs,
 *                 enough free GPU memory); if no warm node has room, that
 *                 one is chosen and the route is flagged cold.
 *   latency       cost = RTT + expected queue wait + (not warm ? load : 0);
 *                 keeps the cheapest. Because cost >= RTT and the list is
 *                 sorted by RTT, the walk stops at the first node whose RTT
 *                 alone is >= the best cost so far: nothing later can win.
 *   nearest       the first node that can serve at all, warm or not (a
 *                 baseline that ignores warmth; flagged cold if not warm).
 * Ties: the list is ordered by (RTT, node index) and only a strictly lower
 * cost replaces the best, so the lower index wins a tie.
 *
 * Capacity is shared by the models on a node: a GPU is WP_ROUTER_GPU_UNITS
 * of work, a request of a model with s slots per GPU takes 1/s of that.
 * With W units in flight (this request included) on capacity C:
 * expected wait = 0 while W <= C, else (W - C) / C * service — the excess
 * drains at the node's full rate, approximated with this model's service
 * time. Full: W > C * (1 + queue_per_slot).
 *
 * Bounds: O(nodes) per decision at worst (no node can serve), usually a
 * handful of entries; no allocation, no writes to the view. The explain
 * variant runs the same function with a recorder attached.
 */
#include "router/router_int.h"

#include <math.h>
#include <string.h>

static const char *const policy_names[WP_POLICY_COUNT] = {"nearest-warm", "latency", "nearest"};

const char *wp_route_policy_name(wp_route_policy p)
{
    return (unsigned)p < WP_POLICY_COUNT ? policy_names[p] : "unknown";
}

int wp_route_policy_parse(const char *s, wp_route_policy *out)
{
    for (int i = 0; i < (int)WP_POLICY_COUNT; i++)
        if (strcmp(s, policy_names[i]) == 0) {
            *out = (wp_route_policy)i;
            return WP_OK;
        }
    return WP_ENOTFOUND;
}

static const char *const verdict_names[WP_CAND_VERDICT_COUNT] = {
    "chosen", "better-found", "dead", "suspect", "draining",
    "no-gpu", "not-warm",     "no-memory", "full"};

const char *wp_cand_verdict_name(wp_cand_verdict v)
{
    return (unsigned)v < WP_CAND_VERDICT_COUNT ? verdict_names[v] : "unknown";
}

/* Records a candidate; returns its slot in ex->cands or -1. */
static inline long record(wp_route_explain *ex, uint32_t node, float rtt, float cost, bool warm,
                          wp_cand_verdict verdict)
{
    ex->considered++;
    if (ex->n >= ex->cap)
        return -1;
    wp_route_candidate *c = &ex->cands[ex->n];
    c->node = node;
    c->rtt_ms = rtt;
    c->cost_ms = cost;
    c->warm = warm;
    c->verdict = verdict;
    return (long)ex->n++;
}

static inline void set_verdict(wp_route_explain *ex, long slot, wp_cand_verdict verdict)
{
    if (ex && slot >= 0)
        ex->cands[slot].verdict = verdict;
}

static const wp_cand_verdict status_verdict[WP_NODE_STATUS_COUNT] = {
    WP_CAND_CHOSEN, WP_CAND_SUSPECT, WP_CAND_DRAINING, WP_CAND_DEAD};

__attribute__((always_inline)) static inline int
route_impl(const wp_router_view *v, const wp_route_req *req, wp_route_result *out, wp_route_explain *ex)
{
    if (req->model >= v->nmodels)
        return WP_ENOTFOUND;
    if (req->ingress >= v->ncities || (unsigned)req->policy >= WP_POLICY_COUNT)
        return WP_EINVAL;
    const wp_router_model *m = &v->models[req->model];
    const wp_cand *list = v->cands + (size_t)req->ingress * v->cap_nodes;
    const size_t total = v->nnodes;
    const uint32_t word = req->model >> 6;
    const uint64_t bit = 1ull << (req->model & 63);
    const wp_route_policy policy = req->policy;
    const double qmul = 1.0 + v->queue_per_slot;
    if (ex) {
        ex->n = ex->considered = 0;
        ex->total = total;
        ex->stopped_early = false;
    }

    long best = -1, best_slot = -1;
    float best_cost = INFINITY, best_wait = 0;
    bool best_cold = false;
    long cold_first = -1, cold_slot = -1;
    float cold_cost = 0, cold_wait = 0;
    bool any_warm = false;

    for (size_t i = 0; i < total; i++) {
        const float rtt = list[i].rtt_ms;
        const uint32_t n = list[i].node;
        if (policy == WP_POLICY_LATENCY && rtt >= best_cost) {
            if (ex)
                ex->stopped_early = true;
            break;
        }
        const bool warm = (v->warm[(size_t)n * WP_ROUTER_WARM_WORDS + word] & bit) != 0;
        if (policy == WP_POLICY_NEAREST_WARM && !warm && cold_first >= 0) {
            if (ex)
                record(ex, n, rtt, -1, false, WP_CAND_NOT_WARM);
            continue; /* already have a cold fallback: only warm ones matter */
        }
        if (v->status[n] != WP_NODE_UP) {
            if (ex)
                record(ex, n, rtt, -1, warm, status_verdict[v->status[n]]);
            continue;
        }
        const uint32_t g = v->gpus[n];
        if (g == 0) {
            if (ex)
                record(ex, n, rtt, -1, warm, WP_CAND_NO_GPU);
            continue;
        }
        const uint64_t cap = (uint64_t)g * WP_ROUTER_GPU_UNITS;
        const uint64_t after = v->used[n] + m->units; /* work in flight with this one */
        if (warm)
            any_warm = true;
        if ((double)after > (double)cap * qmul) {
            if (ex)
                record(ex, n, rtt, -1, warm, WP_CAND_FULL);
            continue;
        }
        if (!warm && v->free_mem[n] < m->size_bytes) {
            if (ex)
                record(ex, n, rtt, -1, warm, WP_CAND_NO_MEMORY);
            continue;
        }
        const float wait =
            after > cap ? (float)((double)(after - cap) / (double)cap) * m->service_ms : 0;
        const float cost = rtt + wait + (warm ? 0 : m->load_ms);
        if (policy == WP_POLICY_NEAREST_WARM && !warm) {
            cold_first = (long)i;
            cold_cost = cost;
            cold_wait = wait;
            cold_slot = ex ? record(ex, n, rtt, cost, false, WP_CAND_NOT_WARM) : -1;
            continue;
        }
        long slot = ex ? record(ex, n, rtt, cost, warm, WP_CAND_BETTER_FOUND) : -1;
        if (cost < best_cost) {
            set_verdict(ex, best_slot, WP_CAND_BETTER_FOUND);
            best = (long)i;
            best_slot = slot;
            best_cost = cost;
            best_wait = wait;
            best_cold = !warm;
        }
        if (policy != WP_POLICY_LATENCY)
            break; /* nearest-warm (warm here) and nearest take the first */
    }

    if (best < 0 && cold_first >= 0) {
        best = cold_first;
        best_slot = cold_slot;
        best_wait = cold_wait;
        best_cost = cold_cost;
        best_cold = true;
    }
    if (best < 0)
        return any_warm ? WP_EOVERLOAD : WP_ENOROUTE;
    set_verdict(ex, best_slot, WP_CAND_CHOSEN);
    out->node = list[best].node;
    out->city = v->city[out->node];
    out->rtt_ms = list[best].rtt_ms;
    out->wait_ms = best_wait;
    out->cost_ms = best_cost;
    out->cold = best_cold;
    return WP_OK;
}

int wp_route(const wp_router_view *v, const wp_route_req *req, wp_route_result *out)
{
    return route_impl(v, req, out, NULL);
}

int wp_route_explain_run(const wp_router_view *v, const wp_route_req *req, wp_route_result *out,
                         wp_route_explain *ex)
{
    return route_impl(v, req, out, ex);
}
