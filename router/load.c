/* load.c — the load an ingress believes each node carries.
 *
 * believed(node) = reported(node) + own sends not yet in that report.
 *
 * Reported. Live: the latest wp_load_report, per class (units), with the
 * node's time of the snapshot. Simulated: a ring of snapshots of the
 * view's own counts (the truth the simulator keeps), one per report period;
 * an ingress whose one-way delay to the node is d reads, at time t, the
 * snapshot of tick floor((t - d) / P): the newest one that could have
 * reached it. That is O(1) per candidate and no event per (ingress, node)
 * pair: the ring is shared by all simulated ingresses.
 *
 * Own sends. Per (ingress, node): WP_ROUTER_SEND_BUCKETS time buckets of
 * width P keyed by arrival time at the node, per class. A report at time T
 * counts what arrived by T, so the ingress adds buckets whose index is at
 * least floor(T / P): in the simulator (T a multiple of P) that is exact;
 * live, the bucket holding T is counted whole (an overestimate of at most
 * one period's own sends). A send further ahead than the ring reaches
 * merges the oldest buckets into the next (counted until a report covers
 * the merged bucket: again an overestimate, never an underestimate).
 *
 * Staleness: the reported part is at most P + d old. The view has no
 * clock: the caller passes now (route) and the arrival times (sends).
 */
#include "router/router_int.h"

#include <stdlib.h>
#include <string.h>

int wp_router_load_report(wp_router_view *v, uint32_t node, const wp_load_report *r)
{
    if (node >= v->nnodes || v->hist_ticks || r->n > WP_ROUTER_MAX_MODELS)
        return WP_EINVAL;
    for (size_t i = 0; i < r->n; i++)
        if (r->models[i] >= v->nmodels)
            return WP_EINVAL;
    wp_node_load *l = &v->rep[node];
    if (l->at_ns != UINT64_MAX && r->at_ns < l->at_ns)
        return WP_ESTATE;
    uint64_t *cls = l->cls;
    memset(cls, 0, WP_ROUTER_CLASSES * sizeof *cls);
    for (size_t i = 0; i < r->n; i++) {
        const wp_router_model *m = &v->models[r->models[i]];
        cls[m->cls] += (uint64_t)r->inflight[i] * m->units;
    }
    l->at_ns = r->at_ns;
    l->at_bucket = r->at_ns / v->period_ns;
    l->free_units = r->free_units;
    v->any_report = true;
    return WP_OK;
}

int wp_router_load_publish(wp_router_view *v, uint64_t at_ns)
{
    if (!v->hist_ticks || at_ns % v->period_ns != 0 || at_ns / v->period_ns != v->hist_next)
        return WP_EINVAL;
    if (!v->hist) {
        v->hist_nodes = v->nnodes;
        v->hist = calloc((size_t)v->hist_ticks * (v->hist_nodes ? v->hist_nodes : 1) *
                             WP_ROUTER_CLASSES,
                         sizeof *v->hist);
        if (!v->hist)
            return WP_ENOMEM;
    }
    size_t per = v->hist_nodes * WP_ROUTER_CLASSES;
    memcpy(v->hist + (size_t)(v->hist_next % v->hist_ticks) * per, v->used_cls,
           per * sizeof *v->hist);
    v->hist_next++;
    return WP_OK;
}

uint64_t wp_router_load_seen(const wp_router_view *v, uint32_t ingress_city, uint32_t node,
                             uint64_t now_ns, uint64_t *units)
{
    for (uint32_t c = 0; c < WP_ROUTER_CLASSES; c++)
        units[c] = 0;
    if (node >= v->nnodes || ingress_city >= v->ncities)
        return UINT64_MAX;
    float oneway = (float)(0.5 * v->rtt_ms(v->rtt_ctx, ingress_city, v->city[node]));
    return wp__router_believed(v, NULL, node, oneway, now_ns, units);
}

/* ------------------------------------------------------------ own sends */

int wp_router_sends_new(wp_router_sends **out, wp_err *err)
{
    *out = calloc(1, sizeof **out);
    return *out ? WP_OK : wp_errf(err, WP_ENOMEM, "router: out of memory");
}

void wp_router_sends_free(wp_router_sends *s)
{
    if (!s)
        return;
    free(s->n);
    free(s);
}

static int sends_grow(wp_router_sends *s, size_t nodes)
{
    size_t cap = s->cap ? s->cap : 16;
    while (cap < nodes)
        cap *= 2;
    wp_sends_node *n = realloc(s->n, cap * sizeof *n);
    if (!n)
        return WP_ENOMEM;
    memset(n + s->cap, 0, (cap - s->cap) * sizeof *n);
    s->n = n;
    s->cap = cap;
    return WP_OK;
}

static inline bool sends_empty(const wp_sends_node *sn)
{
    for (uint32_t i = 0; i < WP_ROUTER_SEND_BUCKETS; i++)
        for (uint32_t c = 0; c < WP_ROUTER_CLASSES; c++)
            if (sn->units[i][c])
                return false;
    return true;
}

int wp_router_sends_note(wp_router_sends *s, const wp_router_view *v, uint32_t node,
                         uint32_t model, uint64_t arrive_at_ns)
{
    if (model >= v->nmodels)
        return WP_EINVAL;
    if (node >= s->cap && sends_grow(s, (size_t)node + 1) != WP_OK)
        return WP_ENOMEM;
    wp_sends_node *sn = &s->n[node];
    uint64_t b64 = arrive_at_ns / v->period_ns;
    uint32_t b = b64 > UINT32_MAX ? UINT32_MAX : (uint32_t)b64;
    const wp_router_model *m = &v->models[model];
    if (sends_empty(sn)) {
        sn->b0 = b;
        sn->hi = 0;
    } else if (b >= sn->b0 + 2 * WP_ROUTER_SEND_BUCKETS) {
        /* far ahead: everything held collapses into the oldest bucket of
         * the new window (an overestimate until a report covers it) */
        for (uint32_t i = 1; i < WP_ROUTER_SEND_BUCKETS; i++)
            for (uint32_t c = 0; c < WP_ROUTER_CLASSES; c++) {
                sn->units[0][c] += sn->units[i][c];
                sn->units[i][c] = 0;
            }
        sn->b0 = b - (WP_ROUTER_SEND_BUCKETS - 1);
        sn->hi = 1;
    }
    if (b < sn->b0)
        b = sn->b0; /* arrives before the window: counted with the oldest */
    while (b >= sn->b0 + WP_ROUTER_SEND_BUCKETS) { /* slide: merge the oldest */
        for (uint32_t c = 0; c < WP_ROUTER_CLASSES; c++)
            sn->units[1][c] += sn->units[0][c];
        memmove(sn->units[0], sn->units[1], (WP_ROUTER_SEND_BUCKETS - 1) * sizeof sn->units[0]);
        memset(sn->units[WP_ROUTER_SEND_BUCKETS - 1], 0, sizeof sn->units[0]);
        sn->b0++;
        sn->hi = sn->hi >= 2 ? sn->hi - 1 : sn->hi;
    }
    if (b - sn->b0 + 1 > sn->hi)
        sn->hi = b - sn->b0 + 1;
    uint32_t *u = &sn->units[b - sn->b0][m->cls];
    *u = *u > UINT32_MAX - m->units ? UINT32_MAX : *u + m->units;
    return WP_OK;
}

void wp_router_sends_done(wp_router_sends *s, const wp_router_view *v, uint32_t node,
                          uint32_t model, uint64_t arrive_at_ns)
{
    if (node >= s->cap || model >= v->nmodels)
        return;
    wp_sends_node *sn = &s->n[node];
    uint64_t b = arrive_at_ns / v->period_ns;
    if (b < sn->b0)
        b = sn->b0; /* merged into the oldest bucket (or already covered) */
    if (b >= (uint64_t)sn->b0 + WP_ROUTER_SEND_BUCKETS)
        return;
    const wp_router_model *m = &v->models[model];
    uint32_t *u = &sn->units[b - sn->b0][m->cls];
    *u = *u > m->units ? *u - m->units : 0;
}

uint64_t wp_router_sends_pending(const wp_router_sends *s, const wp_router_view *v,
                                 uint32_t node, uint64_t report_at_ns, uint64_t *units)
{
    for (uint32_t c = 0; c < WP_ROUTER_CLASSES; c++)
        units[c] = 0;
    uint64_t k = report_at_ns == UINT64_MAX ? 0 : report_at_ns / v->period_ns;
    return wp__sends_pending(s, node, k, units);
}
