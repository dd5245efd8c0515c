/* svc.c — service times measured where models actually run, published in
 * gossip, and used for routing, deadlines and admission (issue 15).
 *
 * Why. The catalog's profile of a model says how fast it runs on the GPU
 * it was written for; a cpu node running a real checkpoint can be a
 * hundred times slower. Wait estimates, attempt deadlines and a target's
 * start-by time taken from the profile then drop or time out most of the
 * work (13.6% errors at half capacity before this file).
 *
 * Measured as a TARGET. When a cpu/cuda worker loads a model it runs one
 * short warm-up request through the engine (wp_gpu_worker_warmup): the
 * model's first estimate, before any real request. Then every request it
 * answers OK updates an exponentially weighted moving average (weight 1/8)
 * of three figures, none of which includes queueing: the time from the
 * request's start in the batch to its first token, the time per later
 * token, and the whole service. They are taken under the load the node
 * really carries, so a full batch's slower steps show in them. While a
 * model has no work at the node they relax back toward the warm-up's
 * (idle) figures, time constant 1 s: otherwise a figure taken in a burst
 * would make every ingress refuse the model (its deadline check), and no
 * answer would ever come to bring it down.
 *
 * Published. The node puts its figures (at most WP_GOSSIP_MAX_SVC models)
 * in its gossip capacity record (node/codec.c's long record form), again
 * when one moves by 10% or more (at most once a second), and lists the
 * models it can load at all (the checkpoints it was given). A timing-model
 * node publishes neither: its times are the profile's and it can load the
 * whole catalog.
 *
 * Used. On a view sync (100 ms) after a capacity record or a member's
 * status changed, each ingress takes, per model, the mean of the live
 * members' published figures: the router's wait estimate (queue
 * ahead / capacity x service) and its deadline check (expected first
 * token) use it instead of the profile (wp_router_model_set_measured), an
 * attempt's deadline is built on it (ingress.c), and the router's budget
 * for the tokens after the first. A target's start-by time uses its own
 * figure. A member that cannot load a model is never a cold candidate for
 * it (wp_router_set_loadable).
 */
#include "node/node_int.h"

#include <math.h>

#define TSVC_WEIGHT (1.0 / 8.0)
#define SVC_REPUBLISH_NS WP_NS_PER_S

static void ewma(double *x, double sample, bool first)
{
    *x = first ? sample : *x + TSVC_WEIGHT * (sample - *x);
}

void svc_target_learn(node *n, uint32_t model, const wp_gen_result *res)
{
    if (model >= WP_ROUTER_MAX_MODELS || !res || res->modelled || res->n_tokens == 0 ||
        res->total_ns == 0)
        return;
    struct tsvc_est *e = &n->tsvc[model];
    bool first = e->samples == 0;
    ewma(&e->first_ms, (double)res->ttft_ns / 1e6, first);
    ewma(&e->service_ms, (double)res->total_ns / 1e6, first);
    if (res->n_tokens > 1 && res->total_ns > res->ttft_ns)
        ewma(&e->tpot_ms, (double)(res->total_ns - res->ttft_ns) / 1e6 / (res->n_tokens - 1),
             first || e->tpot_ms == 0);
    e->samples++;
}

void svc_take_warmup(node *n)
{
    if (!n->gw || n->gpu_kind == WP_GPU_MODEL)
        return;
    struct snap_wu wu[WP_GOSSIP_MAX_WARM];
    uv_mutex_lock(&n->wmu);
    uint32_t k = n->snap_n_wu;
    memcpy(wu, n->snap_wu, k * sizeof *wu);
    uv_mutex_unlock(&n->wmu);
    for (uint32_t i = 0; i < k; i++) {
        int mi = wp_router_model_find(n->view, wu[i].model);
        if (mi < 0 || n->tsvc[mi].samples)
            continue;
        struct tsvc_est *e = &n->tsvc[mi];
        e->first_ms = wu[i].first_ms;
        e->tpot_ms = wu[i].tpot_ms;
        /* A whole request at the warm-up's speed, with the profile's
         * typical output (at least one token). */
        uint32_t out = n->cat[mi].typical_out_tokens ? n->cat[mi].typical_out_tokens : 1;
        e->service_ms = wu[i].first_ms + wu[i].tpot_ms * (out - 1);
        e->samples = 1;
        e->idle_known = true;
        e->idle_first_ms = e->first_ms;
        e->idle_tpot_ms = e->tpot_ms;
        e->idle_service_ms = e->service_ms;
        WP_INFO(n->id, "measured %s on load: first token %.2f ms, %.2f ms per token",
                wu[i].model, wu[i].first_ms, wu[i].tpot_ms);
    }
}

#define SVC_IDLE_TAU_NS WP_NS_PER_S

void svc_idle_relax(node *n, uint64_t dt_ns)
{
    double w = 1.0 - exp(-(double)dt_ns / (double)SVC_IDLE_TAU_NS);
    for (size_t m = 0; m < n->n_cat && m < WP_ROUTER_MAX_MODELS; m++) {
        struct tsvc_est *e = &n->tsvc[m];
        if (!e->idle_known || n->tgt_inflight[m])
            continue;
        e->first_ms += w * (e->idle_first_ms - e->first_ms);
        e->tpot_ms += w * (e->idle_tpot_ms - e->tpot_ms);
        e->service_ms += w * (e->idle_service_ms - e->service_ms);
    }
}

static uint32_t us_of(double ms)
{
    double us = ms * 1000.0 + 0.5;
    return us <= 0 ? 0 : us >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

uint32_t svc_records(node *n, wp_gossip_svc *out, uint32_t cap)
{
    uint32_t k = 0;
    if (n->gpu_kind == WP_GPU_MODEL)
        return 0;
    for (size_t m = 0; m < n->n_cat && m < WP_ROUTER_MAX_MODELS && k < cap; m++) {
        const struct tsvc_est *e = &n->tsvc[m];
        if (!e->samples || !n->served[m])
            continue;
        wp_gossip_svc *r = &out[k++];
        memset(r, 0, sizeof *r);
        snprintf(r->model, sizeof r->model, "%s", wp_router_model_name(n->view, (uint32_t)m));
        r->first_us = us_of(e->first_ms);
        r->tpot_us = us_of(e->tpot_ms);
        r->service_us = us_of(e->service_ms);
        r->samples = e->samples;
    }
    return k;
}

static bool moved(uint32_t a, uint32_t b)
{
    uint32_t d = a > b ? a - b : b - a;
    return (uint64_t)d * 10 > (uint64_t)(a > b ? a : b);
}

bool svc_changed(const node *n, const wp_gossip_svc *recs, uint32_t nrec)
{
    if (nrec != n->pub_n_svc)
        return true;
    if (wp_clock_monotonic_ns() - n->pub_svc_at_ns < SVC_REPUBLISH_NS)
        return false;
    for (uint32_t i = 0; i < nrec; i++) {
        const wp_gossip_svc *a = &recs[i], *b = &n->pub_svc[i];
        if (strcmp(a->model, b->model) != 0 || moved(a->first_us, b->first_us) ||
            moved(a->tpot_us, b->tpot_us) || moved(a->service_us, b->service_us))
            return true;
    }
    return false;
}

void svc_member_loadable(node *n, uint32_t idx, const wp_gossip_member *m)
{
    size_t nm = wp_router_model_count(n->view);
    for (size_t k = 0; k < nm; k++) {
        bool ok = !m->cap.servable_listed;
        const char *name = wp_router_model_name(n->view, (uint32_t)k);
        for (uint32_t s = 0; s < m->cap.n_servable && !ok; s++)
            ok = strcmp(m->cap.servable[s], name) == 0;
        wp_router_set_loadable(n->view, idx, (uint32_t)k, ok);
    }
    n->svc_dirty = true;
}

void svc_sync_view(node *n)
{
    size_t nm = wp_router_model_count(n->view);
    if (nm > WP_ROUTER_MAX_MODELS)
        nm = WP_ROUTER_MAX_MODELS;
    size_t members = wp_gossip_member_count(n->g);
    if (nm != n->svc_nmodels) { /* new models: every member's list again */
        for (size_t i = 0; i < members; i++) {
            const wp_gossip_member *m = wp_gossip_member_at(n->g, i);
            int idx = wp_router_node_find(n->view, m->id);
            if (idx >= 0)
                svc_member_loadable(n, (uint32_t)idx, m);
        }
        n->svc_nmodels = nm;
    }
    /* Bounded work: the mean is taken again only after a capacity record
     * or a member's status changed (view_sync sets svc_dirty). */
    if (!n->svc_dirty)
        return;
    n->svc_dirty = false;
    double sum_first[WP_ROUTER_MAX_MODELS] = {0}, sum_tpot[WP_ROUTER_MAX_MODELS] = {0},
           sum_svc[WP_ROUTER_MAX_MODELS] = {0};
    uint32_t cnt[WP_ROUTER_MAX_MODELS] = {0};
    for (size_t i = 0; i < members; i++) {
        const wp_gossip_member *m = wp_gossip_member_at(n->g, i);
        if (m->status != WP_MEMBER_ALIVE)
            continue;
        for (uint32_t s = 0; s < m->cap.n_svc; s++) {
            const wp_gossip_svc *r = &m->cap.svc[s];
            int mi = wp_router_model_find(n->view, r->model);
            if (mi < 0 || r->service_us == 0)
                continue;
            sum_first[mi] += r->first_us / 1000.0;
            sum_tpot[mi] += r->tpot_us / 1000.0;
            sum_svc[mi] += r->service_us / 1000.0;
            cnt[mi]++;
        }
    }
    for (size_t k = 0; k < nm; k++) {
        struct csvc_est *c = &n->csvc[k];
        c->nodes = cnt[k];
        if (!cnt[k])
            continue;
        c->first_ms = sum_first[k] / cnt[k];
        c->tpot_ms = sum_tpot[k] / cnt[k];
        c->service_ms = sum_svc[k] / cnt[k];
        wp_router_model_set_measured(n->view, (uint32_t)k, c->service_ms, c->first_ms);
    }
}

double svc_measured_ms(const node *n, uint32_t model, uint32_t out_tokens, bool own_first,
                       double *first_ms)
{
    if (model >= WP_ROUTER_MAX_MODELS)
        return -1;
    double f, t;
    if (own_first && n->tsvc[model].samples) {
        f = n->tsvc[model].first_ms;
        t = n->tsvc[model].tpot_ms;
    } else if (n->csvc[model].nodes) {
        f = n->csvc[model].first_ms;
        t = n->csvc[model].tpot_ms;
    } else {
        return -1;
    }
    if (first_ms)
        *first_ms = f;
    return f + t * (out_tokens > 1 ? (double)(out_tokens - 1) : 0.0);
}

double svc_tail_ms(const node *n, uint32_t model, uint32_t in_tokens, uint32_t out_tokens)
{
    double first = 0;
    double all = svc_measured_ms(n, model, out_tokens, false, &first);
    if (all >= 0)
        return all - first;
    const wp_model_profile *p = &n->cat[model];
    double tail = wp_model_total_ms(p, in_tokens, out_tokens) - wp_model_ttft_ms(p, in_tokens);
    return tail > 0 ? tail : 0;
}

void svc_cancel_attempt(node *n, int32_t target, uint64_t hop)
{
    if (target < 0)
        return;
    n->st_cancel_sent++;
    if (target == n->self_rn) {
        target_cancel(n, hop, NULL, true);
        return;
    }
    if ((size_t)target >= n->rn_cap || !n->rn[target].addr[0])
        return;
    Warmpath__Infer__ForwardCancel c = WARMPATH__INFER__FORWARD_CANCEL__INIT;
    c.hop_id = hop;
    c.ingress_node = n->id;
    c.reply_addr = n->bind_addr;
    size_t len = wp_infer_encode_into(WP_INFER_KIND_FORWARD_CANCEL, &c.base, n->tx,
                                      WP_INFER_HDR_BYTES + WP_FRAME_MAX_BYTES);
    int tcity = (int)wp_router_node_city(n->view, (uint32_t)target);
    if (len)
        node_send(n, n->rn[target].addr, n->tx, len, oneway_ns_cities(n, n->my_city, tcity),
                  false);
}
