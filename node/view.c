/* view.c — gossip view -> router view sync, and load reports. Every
 * LOAD_PERIOD_MS (100 ms) the members of the gossip view become router
 * nodes (city, address), their capacity records become versioned capacity
 * deltas, suspect/dead/left/draining become node status; the model catalog
 * (the default one, then the placement service's) is registered with the
 * router view.
 *
 * Load (issue 12). On the same tick every node with GPUs publishes a load
 * report: for each model with work there, its requests in flight (accepted
 * by target.c and not yet answered: running + queued), the GPU units not
 * held by running work, and its clock's time. The report is applied to the
 * node's own view at once and pushed as a LOAD_REPORT frame to every peer
 * through the WAN queue (the same modelled one-way delay as any node
 * frame); a peer applies it with wp_router_load_report, which refuses one
 * older than the one it holds. The gossip capacity record still carries
 * the total queue depth (placement_sync.c) for `wpctl nodes`; the router
 * routes on the reports. Between reports the ingress adds what it has sent
 * itself (ingress.c: wp_router_sends, by modelled arrival time), so it does
 * not overshoot a node it alone is filling.
 *
 * STALENESS BOUND: a report an ingress routes on was taken at most
 * LOAD_PERIOD_MS + the one-way delay to the node + one loop wake-up ago
 * (10 ms apart in one metro, ~100-200 ms across oceans); a report lost on
 * the wire (a full peer queue) makes it one period older. What an ingress
 * cannot see is only what OTHER ingresses sent to the node in that window.
 * Reports are stamped with CLOCK_MONOTONIC: the nodes of a cluster run on
 * one host today; nodes on several hosts would need their clocks in step
 * (or the receiver's time less the one-way delay) for the age to be right.
 * Cost: one small frame per (node, peer) per period, O(nodes^2) frames per
 * period for the cluster: fine for tens of nodes, not for thousands
 * (those would want it piggybacked on gossip alone). */
#include "node/node_int.h"

double rtt_fn(const void *ctx, size_t a, size_t b)
{
    return wp_topo_rtt_ms((const wp_topology *)ctx, a, b);
}

/* ---------------------------------------------------------------- the view */

static int rn_ensure(node *n, size_t idx)
{
    if (idx < n->rn_cap)
        return 0;
    size_t cap = n->rn_cap ? n->rn_cap : 64;
    while (cap <= idx)
        cap *= 2;
    rnode *r = realloc(n->rn, cap * sizeof *r);
    if (!r)
        return -1;
    memset(r + n->rn_cap, 0, (cap - n->rn_cap) * sizeof *r);
    n->rn = r;
    n->rn_cap = cap;
    return 0;
}

/* Registers a model profile with the router (and the timing-model worker).
 * Returns its router index, or -1. */
int model_register(node *n, const wp_model_profile *p)
{
    int idx = wp_router_model_find(n->view, p->name);
    if (idx >= 0)
        return idx;
    uint32_t ui;
    wp_err err;
    if (wp_router_model_add(n->view, p, &ui, &err) != WP_OK) {
        WP_WARN(n->id, "model %s: %s", p->name, wp_err_text(&err));
        return -1;
    }
    if (ui >= n->cap_cat) {
        size_t cap = n->cap_cat ? 2 * n->cap_cat : 16;
        while (cap <= ui)
            cap *= 2;
        wp_model_profile *c = realloc(n->cat, cap * sizeof *c);
        bool *s = realloc(n->served, cap * sizeof *s);
        if (c)
            n->cat = c;
        if (s)
            n->served = s;
        if (!c || !s)
            return -1;
        n->cap_cat = cap;
    }
    n->cat[ui] = *p;
    n->served[ui] = false;
    if (n->gpu_kind == WP_GPU_MODEL && n->gw) {
        /* Shorter service classes first within a bound (router/route.c
         * says why), as the simulator's GPUs do. */
        uint64_t off = WP_ROUTER_CLASS_BOUND_NS * wp_router_model_class(n->view, ui);
        if (wp_gpu_worker_add_model(n->gw, p->name, NULL, p, &err) == WP_OK &&
            wp_gpu_worker_set_priority(n->gw, p->name, off, &err) == WP_OK)
            n->served[ui] = true;
        else
            WP_WARN(n->id, "timing model %s: %s", p->name, wp_err_text(&err));
    }
    if (ui + 1 > n->n_cat)
        n->n_cat = ui + 1;
    return (int)ui;
}

static wp_node_status member_router_status(const wp_gossip_member *m)
{
    switch (m->status) {
    case WP_MEMBER_ALIVE: return m->cap.draining ? WP_NODE_DRAINING : WP_NODE_UP;
    case WP_MEMBER_SUSPECT: return WP_NODE_SUSPECT;
    default: return WP_NODE_DEAD;
    }
}

/* Feeds the router view from the gossip view (every 100 ms). */
void view_sync(node *n)
{
    size_t cnt = wp_gossip_member_count(n->g);
    for (size_t i = 0; i < cnt; i++) {
        const wp_gossip_member *m = wp_gossip_member_at(n->g, i);
        int idx = wp_router_node_find(n->view, m->id);
        if (idx < 0) {
            int city = wp_topo_find(n->topo, m->city);
            if (city < 0)
                continue; /* a city we cannot place: not routable */
            wp_router_node_info info = {.id = m->id, .city = (uint32_t)city, .gpus = m->cap.gpus,
                                        .free_mem_bytes = m->cap.gpu_mem_free_bytes};
            uint32_t ui;
            wp_err err;
            if (wp_router_node_add(n->view, &info, &ui, &err) != WP_OK || rn_ensure(n, ui)) {
                WP_WARN(n->id, "router: node %s: %s", m->id, wp_err_text(&err));
                continue;
            }
            idx = (int)ui;
            n->rn[idx].known = true;
            n->rn[idx].cap_version = UINT64_MAX; /* force the first delta */
            n->rn[idx].status = -1;
            if (strcmp(m->id, n->id) == 0)
                n->self_rn = idx;
        }
        rnode *r = &n->rn[idx];
        if (strcmp(r->addr, m->addr) != 0) {
            snprintf(r->addr, sizeof r->addr, "%s", m->addr);
            r->sock = NULL;
        }
        wp_node_status st = member_router_status(m);
        if (r->cap_version == m->cap.version && r->status == (int)st)
            continue;
        uint64_t ver = m->cap.version;
        if (ver < wp_router_node_version(n->view, (uint32_t)idx))
            ver = wp_router_node_version(n->view, (uint32_t)idx); /* restart: new record */
        wp_node_delta d = {.version = ver,
                           .fields = WP_DELTA_STATUS | WP_DELTA_GPUS | WP_DELTA_FREE_MEM,
                           .status = st,
                           .gpus = m->cap.gpus,
                           .free_mem_bytes = m->cap.gpu_mem_free_bytes};
        wp_router_apply(n->view, (uint32_t)idx, &d);
        size_t nm = wp_router_model_count(n->view);
        for (size_t k = 0; k < nm; k++) {
            const char *name = wp_router_model_name(n->view, (uint32_t)k);
            bool warm = false;
            for (uint32_t w = 0; w < m->cap.n_warm && !warm; w++)
                warm = strcmp(m->cap.warm[w], name) == 0;
            if (warm != wp_router_node_warm(n->view, (uint32_t)idx, (uint32_t)k)) {
                wp_node_delta wd = {.version = ver,
                                    .fields = warm ? WP_DELTA_WARM_SET : WP_DELTA_WARM_UNSET,
                                    .model = (uint32_t)k};
                wp_router_apply(n->view, (uint32_t)idx, &wd);
            }
        }
        svc_member_loadable(n, (uint32_t)idx, m); /* and svc_dirty (svc.c) */
        if (r->status != (int)st && r->status >= 0)
            WP_DEBUG(n->id, "router: %s is now %s", m->id, wp_node_status_name(st));
        r->cap_version = m->cap.version;
        r->status = (int)st;
    }
}

/* ---------------------------------------------------------------- load */

/* This node's load now, in wp_load_report form over the router registry. */
static size_t load_snapshot(node *n, uint32_t *models, uint32_t *inflight, uint64_t *free_units)
{
    size_t k = 0;
    uint64_t busy = 0;
    for (size_t m = 0; m < n->n_cat && m < WP_ROUTER_MAX_MODELS; m++) {
        if (!n->tgt_inflight[m])
            continue;
        models[k] = (uint32_t)m;
        inflight[k] = n->tgt_inflight[m];
        busy += (uint64_t)n->tgt_inflight[m] * wp_router_model_units(n->view, (uint32_t)m);
        k++;
    }
    uint64_t cap = (uint64_t)n->gpus * WP_ROUTER_GPU_UNITS;
    if (n->gpu_kind == WP_GPU_MODEL) {
        /* the timing model's core lives on this thread: its exact figure */
        const wp_res *res = wp_gpu_worker_res(n->gw);
        cap = wp_res_capacity_units(res);
        busy = wp_res_busy_units(res);
    }
    *free_units = cap > busy ? cap - busy : 0; /* cpu/cuda: queued work counted too */
    return k;
}

static void load_publish(node *n)
{
    if (!n->gw || n->self_rn < 0 || n->stopping)
        return;
    uint32_t models[WP_ROUTER_MAX_MODELS], inflight[WP_ROUTER_MAX_MODELS];
    uint64_t free_units;
    size_t k = load_snapshot(n, models, inflight, &free_units);
    uint64_t now = wp_clock_monotonic_ns();
    wp_load_report rep = {.at_ns = now, .free_units = free_units, .n = k, .models = models,
                          .inflight = inflight};
    wp_router_load_report(n->view, (uint32_t)n->self_rn, &rep);

    Warmpath__Infer__LoadEntry ents[WP_ROUTER_MAX_MODELS];
    Warmpath__Infer__LoadEntry *ep[WP_ROUTER_MAX_MODELS];
    for (size_t i = 0; i < k; i++) {
        warmpath__infer__load_entry__init(&ents[i]);
        ents[i].model = (char *)wp_router_model_name(n->view, models[i]);
        ents[i].inflight = inflight[i];
        ep[i] = &ents[i];
    }
    Warmpath__Infer__LoadReport lr = WARMPATH__INFER__LOAD_REPORT__INIT;
    lr.node = n->id;
    lr.at_ns = now;
    lr.free_units = free_units;
    lr.n_models = k;
    lr.models = ep;
    size_t len = wp_infer_encode_into(WP_INFER_KIND_LOAD_REPORT, &lr.base, n->tx,
                                      WP_INFER_HDR_BYTES + WP_FRAME_MAX_BYTES);
    if (!len)
        return;
    size_t cnt = wp_router_node_count(n->view);
    for (size_t i = 0; i < cnt; i++) {
        if ((int)i == n->self_rn || !n->rn[i].addr[0] ||
            wp_router_node_status(n->view, (uint32_t)i) == WP_NODE_DEAD)
            continue;
        node_send(n, n->rn[i].addr, n->tx, len, wan_delay_ns(n, n->rn[i].addr), true);
        n->load_sent++;
    }
}

void view_load_frame(node *n, const uint8_t *buf, size_t len)
{
    wp_infer_kind kind;
    size_t plen;
    Warmpath__Infer__LoadReport *lr = NULL;
    if (wp_infer_frame_check(buf, len, &kind, &plen, NULL) != WP_OK ||
        kind != WP_INFER_KIND_LOAD_REPORT ||
        wp_infer_decode_load_report(buf + WP_INFER_HDR_BYTES, plen, &lr, NULL) != WP_OK) {
        n->st_bad_node++;
        return;
    }
    int idx = wp_router_node_find(n->view, lr->node);
    if (idx >= 0 && idx != n->self_rn) {
        uint32_t models[WP_INFER_MAX_LOAD_MODELS], inflight[WP_INFER_MAX_LOAD_MODELS];
        size_t k = 0;
        for (size_t i = 0; i < lr->n_models; i++) {
            int mi = wp_router_model_find(n->view, lr->models[i]->model);
            if (mi < 0)
                continue; /* a model this node does not know yet */
            models[k] = (uint32_t)mi;
            inflight[k++] = lr->models[i]->inflight;
        }
        wp_load_report rep = {.at_ns = lr->at_ns, .free_units = lr->free_units, .n = k,
                              .models = models, .inflight = inflight};
        if (wp_router_load_report(n->view, (uint32_t)idx, &rep) == WP_OK)
            n->load_applied++;
        else
            n->load_stale++;
    }
    warmpath__infer__load_report__free_unpacked(lr, NULL);
}

void on_view_timer(uv_timer_t *t)
{
    node *n = t->data;
    view_sync(n);
    svc_sync_view(n);
    load_publish(n);
    after_event(n);
}
