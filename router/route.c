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
 * Load. Capacity is shared by the models on a node: a GPU is
 * WP_ROUTER_GPU_UNITS of work, a request of a model with s slots per GPU
 * takes 1/s of that. The load weighed is what this ingress BELIEVES
 * (load.c: the node's last report it can have seen, plus its own sends
 * since), kept per service class. Expected wait for a request of class k:
 *   ahead = work of classes <= k + min(work of longer classes, C) + its own
 *   wait  = max(0, ahead - C) / C * service(model)
 * i.e. the queue ahead of it drains at the node's full rate, measured in
 * this model's service time; longer work delays it only by the slots it
 * already holds (its queue is served after ours, see below). Full: ahead
 * > C * (1 + queue_per_slot), the same sum: a long model's queue does not
 * make a node full for a shorter class (issue 12: bge refused "all-full"
 * while llama was over capacity everywhere).
 *
 * Admission (a deadline in the request: budget_ms). A candidate whose
 * expected time to first token (cost + the model's TTFT) exceeds the
 * budget is TOO_LATE and skipped; when every candidate is, the request
 * fails at once with WP_EOVERLOAD and why = DEADLINE (never a timeout
 * later). Because wait grows by service/slots per queued request, this
 * bounds each node's queue of a model to about budget / service per slot:
 * the "deadline / service time" bound, without a separate knob.
 *
 * Why classes (shortest service first within a bound) and not per-model
 * shares or WFQ: the starvation seen in issue 12 is a 6.6 ms embedding
 * request stuck behind seconds of LLM work in one FIFO. Shares need a
 * demand estimate per (node, model) and leave capacity idle when a model
 * is quiet; WFQ needs per-flow virtual times at the target and its wait
 * is hard to predict at the ingress from a few numbers. Serving shorter
 * classes first (with aging at the target so a long request waits at
 * most a bound) costs the short ones almost nothing from the long ones'
 * overload, keeps every GPU busy, and the ingress can predict the wait
 * from four per-class sums a report carries. The price: a long model's
 * requests absorb all of the delay in an overload, which is what the
 * admission above then turns into fast OVERLOADED answers for them.
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
    "no-gpu", "not-warm",     "no-memory", "full", "too-late"};

const char *wp_cand_verdict_name(wp_cand_verdict v)
{
    return (unsigned)v < WP_CAND_VERDICT_COUNT ? verdict_names[v] : "unknown";
}

static const char *const why_names[WP_ROUTE_WHY_COUNT] = {"routed", "no-replica", "all-full",
                                                           "deadline"};

const char *wp_route_why_name(wp_route_why w)
{
    return (unsigned)w < WP_ROUTE_WHY_COUNT ? why_names[w] : "unknown";
}

/* Records a candidate; returns its slot in ex->cands or -1. */
static inline long record(wp_route_explain *ex, const wp_route_req *req, uint32_t node,
                          float rtt, float cost, bool warm, wp_cand_verdict verdict)
{
    ex->considered++;
    if (ex->n >= ex->cap)
        return -1;
    wp_route_candidate *c = &ex->cands[ex->n];
    c->node = node;
    c->rtt_ms = rtt;
    c->user_ms = req->user_ms;
    c->wait_ms = 0;
    c->cost_ms = cost;
    c->load_age_ms = -1;
    c->load_units = 0;
    c->warm = warm;
    c->verdict = verdict;
    return (long)ex->n++;
}

static inline void set_verdict(wp_route_explain *ex, long slot, wp_cand_verdict verdict)
{
    if (ex && slot >= 0)
        ex->cands[slot].verdict = verdict;
}

static inline void set_load(wp_route_explain *ex, long slot, float wait, uint64_t units,
                            uint64_t at_ns, uint64_t now_ns)
{
    if (slot < 0)
        return;
    wp_route_candidate *c = &ex->cands[slot];
    c->wait_ms = wait;
    c->load_units = units;
    c->load_age_ms =
        at_ns == UINT64_MAX ? -1 : (float)((double)(now_ns > at_ns ? now_ns - at_ns : 0) / 1e6);
}

static const wp_cand_verdict status_verdict[WP_NODE_STATUS_COUNT] = {
    WP_CAND_CHOSEN, WP_CAND_SUSPECT, WP_CAND_DRAINING, WP_CAND_DEAD};

__attribute__((always_inline)) static inline int
route_impl(const wp_router_view *v, const wp_route_req *req, wp_route_result *out, wp_route_explain *ex)
{
    out->why = WP_ROUTE_WHY_NO_REPLICA;
    out->best_late_ms = 0;
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
    const float budget = req->budget_ms;
    const uint32_t mcls = m->cls;
    const bool fast = !v->any_report && !v->hist_ticks && !req->sends;
    if (ex) {
        ex->n = ex->considered = 0;
        ex->total = total;
        ex->stopped_early = false;
    }

    long best = -1, best_slot = -1;
    float best_cost = INFINITY, best_wait = 0;
    bool best_cold = false;
    uint64_t best_at = UINT64_MAX, cold_at = UINT64_MAX;
    long cold_first = -1, cold_slot = -1;
    float cold_cost = 0, cold_wait = 0;
    bool any_warm = false, any_late = false;
    float best_late = INFINITY;

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
                record(ex, req, n, rtt, -1, false, WP_CAND_NOT_WARM);
            continue; /* already have a cold fallback: only warm ones matter */
        }
        if (v->status[n] != WP_NODE_UP) {
            if (ex)
                record(ex, req, n, rtt, -1, warm, status_verdict[v->status[n]]);
            continue;
        }
        const uint32_t g = v->gpus[n];
        if (g == 0) {
            if (ex)
                record(ex, req, n, rtt, -1, warm, WP_CAND_NO_GPU);
            continue;
        }
        /* latency: a cold node whose RTT + load time alone cannot beat the
         * best cannot win whatever its load; skip weighing it (the same
         * decision; explain still weighs every candidate). */
        if (!ex && policy == WP_POLICY_LATENCY && !warm && rtt + m->load_ms >= best_cost)
            continue;
        /* The load this ingress believes the node carries (load.c); with
         * no report ever seen and no history, the view's own counts. */
        uint64_t le = 0, gt = 0, rep_at = UINT64_MAX;
        if (fast) {
            const uint64_t *uc = &v->used_cls[(size_t)n * WP_ROUTER_CLASSES];
            le = uc[0];
            for (uint32_t c = 1; c <= mcls; c++)
                le += uc[c];
            gt = v->used[n] - le;
        } else {
            uint64_t cls[WP_ROUTER_CLASSES];
            rep_at = wp__router_believed(v, req->sends, n, 0.5f * rtt, req->now_ns, cls);
            for (uint32_t c = 0; c < WP_ROUTER_CLASSES; c++) {
                if (c <= mcls)
                    le += cls[c];
                else
                    gt += cls[c];
            }
        }
        const uint64_t cap = (uint64_t)g * WP_ROUTER_GPU_UNITS;
        const uint64_t after = le + gt + m->units; /* work in flight with this one */
        /* Work ahead of this request: its class and shorter ones, plus the
         * longer work that holds slots (at most the capacity). Longer work
         * queued beyond the slots is served after this one (the target's
         * class offsets), so it neither delays it nor makes the node full
         * for it: a short model is not refused because a long one is over
         * capacity there. */
        const uint64_t ahead = le + (gt < cap ? gt : cap) + m->units;
        if (warm)
            any_warm = true;
        if ((double)ahead > (double)cap * qmul) {
            if (ex)
                set_load(ex, record(ex, req, n, rtt, -1, warm, WP_CAND_FULL), 0, after - m->units,
                         rep_at, req->now_ns);
            continue;
        }
        if (!warm && (v->free_mem[n] < m->size_bytes ||
                      (v->noload[(size_t)n * WP_ROUTER_WARM_WORDS + word] & bit))) {
            if (ex)
                record(ex, req, n, rtt, -1, warm, WP_CAND_NO_MEMORY);
            continue;
        }
        const float wait =
            ahead > cap ? (float)((double)(ahead - cap) / (double)cap) * m->service_ms : 0;
        const float cost = rtt + wait + (warm ? 0 : m->load_ms);
        if (budget > 0 && cost + m->ttft_ms > budget) {
            any_late = true;
            if (cost + m->ttft_ms < best_late)
                best_late = cost + m->ttft_ms;
            if (ex)
                set_load(ex, record(ex, req, n, rtt, cost, warm, WP_CAND_TOO_LATE), wait,
                         after - m->units, rep_at, req->now_ns);
            continue;
        }
        if (policy == WP_POLICY_NEAREST_WARM && !warm) {
            cold_first = (long)i;
            cold_at = rep_at;
            cold_cost = cost;
            cold_wait = wait;
            cold_slot = ex ? record(ex, req, n, rtt, cost, false, WP_CAND_NOT_WARM) : -1;
            if (ex)
                set_load(ex, cold_slot, wait, after - m->units, rep_at, req->now_ns);
            continue;
        }
        long slot = ex ? record(ex, req, n, rtt, cost, warm, WP_CAND_BETTER_FOUND) : -1;
        if (ex)
            set_load(ex, slot, wait, after - m->units, rep_at, req->now_ns);
        if (cost < best_cost) {
            set_verdict(ex, best_slot, WP_CAND_BETTER_FOUND);
            best = (long)i;
            best_slot = slot;
            best_cost = cost;
            best_wait = wait;
            best_cold = !warm;
            best_at = rep_at;
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
        best_at = cold_at;
    }
    if (best < 0) {
        if (any_late) {
            out->why = WP_ROUTE_WHY_DEADLINE;
            out->best_late_ms = best_late;
            return WP_EOVERLOAD;
        }
        out->why = any_warm ? WP_ROUTE_WHY_FULL : WP_ROUTE_WHY_NO_REPLICA;
        return any_warm ? WP_EOVERLOAD : WP_ENOROUTE;
    }
    set_verdict(ex, best_slot, WP_CAND_CHOSEN);
    out->why = WP_ROUTE_ROUTED;
    out->node = list[best].node;
    out->city = v->city[out->node];
    out->rtt_ms = list[best].rtt_ms;
    out->wait_ms = best_wait;
    out->cost_ms = best_cost;
    out->cold = best_cold;
    out->load_at_ns = best_at;
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
