/* view.c — gossip view -> router view sync. Every 100 ms the members of
 * the gossip view become router nodes (city, address), their capacity
 * records become versioned capacity deltas, suspect/dead/left/draining
 * become node status; the model catalog (the default one, then the
 * placement service's) is registered with the router view.
 */
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
        if (wp_gpu_worker_add_model(n->gw, p->name, NULL, p, &err) == WP_OK)
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
        if (r->status != (int)st && r->status >= 0)
            WP_DEBUG(n->id, "router: %s is now %s", m->id, wp_node_status_name(st));
        r->cap_version = m->cap.version;
        r->status = (int)st;
    }
}

void on_view_timer(uv_timer_t *t)
{
    view_sync(t->data);
}
