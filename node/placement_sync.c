/* placement_sync.c — published capacity and the placement client. The
 * capacity timer puts the worker's warm models, free memory and queue depth
 * into this member's gossip record when they change; about once a second
 * the placement client (on the libuv thread pool) registers, heartbeats
 * with per-model request rates, and fetches the assignment and catalog,
 * which are applied on the loop (models to keep warm go to the worker).
 */
#include "node/node_int.h"

/* ---------------------------------------------------------------- capacity + placement */

void cap_servable(node *n, wp_gossip_capacity *cap)
{
    cap->servable_listed = n->gpu_kind != WP_GPU_MODEL;
    cap->n_servable = 0;
    for (size_t m = 0; cap->servable_listed && m < n->n_cat; m++)
        if (n->served[m] && cap->n_servable < WP_GOSSIP_MAX_SERVABLE)
            snprintf(cap->servable[cap->n_servable++], WP_NAME_MAX, "%s",
                     wp_router_model_name(n->view, (uint32_t)m));
}

/* Publishes the worker's warm models and free memory in the gossip record
 * when they changed (queue depth at most once a second). */
void on_cap_timer(uv_timer_t *t)
{
    node *n = t->data;
    if (!n->gw || n->stopping)
        return;
    char warm[WP_GOSSIP_MAX_WARM][WP_NAME_MAX];
    uint32_t nw = 0;
    uint64_t free_b;
    uint32_t queue;
    if (n->gpu_kind == WP_GPU_MODEL) {
        const wp_res *res = wp_gpu_worker_res(n->gw);
        const char *names[WP_GOSSIP_MAX_WARM];
        size_t k = wp_res_warm_models(res, names, WP_GOSSIP_MAX_WARM);
        nw = (uint32_t)(k < WP_GOSSIP_MAX_WARM ? k : WP_GOSSIP_MAX_WARM);
        for (uint32_t i = 0; i < nw; i++)
            snprintf(warm[i], WP_NAME_MAX, "%s", names[i]);
        free_b = wp_res_free_bytes(res);
        queue = wp_res_queue_depth(res);
    } else {
        uv_mutex_lock(&n->wmu);
        nw = n->snap_n_warm;
        memcpy(warm, n->snap_warm, sizeof warm);
        free_b = n->snap_free;
        queue = n->snap_queue;
        uv_mutex_unlock(&n->wmu);
    }
    /* Warm sets compare as sets (the worker lists them in LRU order). */
    bool warm_changed = nw != n->pub_n_warm;
    for (uint32_t i = 0; i < nw && !warm_changed; i++) {
        bool found = false;
        for (uint32_t k = 0; k < n->pub_n_warm && !found; k++)
            found = strcmp(warm[i], n->pub_warm[k]) == 0;
        warm_changed = !found;
    }
    uint64_t now = wp_clock_monotonic_ns();
    bool queue_due = queue != n->pub_queue && now - n->pub_at_ns >= WP_NS_PER_S;
    /* Measured service times (svc.c): a warm-up seeds a new model's; idle
     * models relax toward it. */
    svc_take_warmup(n);
    svc_idle_relax(n, n->svc_relax_at_ns ? now - n->svc_relax_at_ns : 0);
    n->svc_relax_at_ns = now;
    wp_gossip_svc svc[WP_GOSSIP_MAX_SVC];
    uint32_t nsvc = svc_records(n, svc, WP_GOSSIP_MAX_SVC);
    bool svc_due = svc_changed(n, svc, nsvc);
    if (!warm_changed && free_b == n->pub_free && !queue_due && !svc_due && n->pub_at_ns)
        return;
    wp_gossip_capacity cap = wp_gossip_self_member(n->g)->cap;
    cap_servable(n, &cap);
    cap.n_svc = nsvc;
    memcpy(cap.svc, svc, nsvc * sizeof *svc);
    if (svc_due) {
        n->pub_n_svc = nsvc;
        memcpy(n->pub_svc, svc, nsvc * sizeof *svc);
        n->pub_svc_at_ns = now;
    }
    cap.n_warm = nw;
    memcpy(cap.warm, warm, sizeof cap.warm);
    cap.gpu_mem_free_bytes = free_b;
    cap.queue_depth = queue;
    wp_gossip_set_capacity(n->g, now, &cap);
    if (warm_changed)
        WP_INFO(n->id, "capacity: %u warm model(s), %.1f GiB free (version %llu)", nw,
                (double)free_b / 1073741824.0,
                (unsigned long long)wp_gossip_self_member(n->g)->cap.version);
    n->pub_n_warm = nw;
    memcpy(n->pub_warm, warm, sizeof warm);
    n->pub_free = free_b;
    n->pub_queue = queue;
    n->pub_at_ns = now;
    after_event(n);
}

static void pl_work(uv_work_t *w)
{
    node *n = w->data;
    wp_err err;
    wp_err_clear(&err);
    wp_placement_node_info info = {.node_id = n->id, .city = n->city, .gpus = n->gpus,
                                   .gpu_mem_bytes = n->gpu_cap_bytes};
    bool changed = false;
    uint64_t old = n->pl_version;
    n->pl_rc = wp_placement_client_sync(n->pc, &info, n->pl_rates, n->pl_n_rates,
                                        &n->pl_version, &n->pl_models, &n->pl_n, &changed, &err);
    n->pl_changed = changed;
    if (n->pl_rc == WP_OK && (n->pl_version != old || !n->pl_cat_loaded)) {
        wp_model_profile *cat = NULL;
        size_t nc = 0;
        if (wp_placement_client_catalog_list(n->pc, &cat, &nc, &err) == WP_OK) {
            free(n->pl_cat);
            n->pl_cat = cat;
            n->pl_n_cat = nc;
            n->pl_cat_new = true;
            n->pl_cat_loaded = true;
        }
    }
    snprintf(n->pl_err, sizeof n->pl_err, "%s", n->pl_rc ? wp_err_text(&err) : "");
}

static void apply_assignment(node *n)
{
    if (!n->gw)
        return;
    char (*names)[WP_NAME_MAX] = calloc(n->pl_n ? n->pl_n : 1, WP_NAME_MAX);
    if (!names)
        return;
    size_t k = 0;
    for (size_t i = 0; i < n->pl_n && k < WP_RES_MAX_MODELS; i++) {
        int mi = wp_router_model_find(n->view, n->pl_models[i].model);
        if (mi < 0 || !n->served[mi]) {
            WP_WARN(n->id, "assignment names %s, which this node cannot serve (backend %s)",
                    n->pl_models[i].model, wp_gpu_kind_name(n->gpu_kind));
            continue;
        }
        snprintf(names[k++], WP_NAME_MAX, "%s", n->pl_models[i].model);
    }
    WP_INFO(n->id, "placement: assignment version %llu, %zu model(s) to keep warm",
            (unsigned long long)n->pl_version, k);
    if (n->gpu_kind == WP_GPU_MODEL) {
        const char *ptrs[WP_RES_MAX_MODELS];
        for (size_t i = 0; i < k; i++)
            ptrs[i] = names[i];
        wp_err err;
        if (wp_gpu_worker_assign(n->gw, wp_clock_monotonic_ns(), ptrs, k, &err) != WP_OK)
            WP_WARN(n->id, "assignment: %s", wp_err_text(&err));
        free(names);
        gpu_kick(n);
        return;
    }
    wop *op = calloc(1, sizeof *op);
    if (!op) {
        free(names);
        return;
    }
    op->kind = 2;
    op->names = names;
    op->n = k;
    wops_push(n, op);
}

static void pl_after(uv_work_t *w, int status)
{
    node *n = w->data;
    n->pl_busy = false;
    if (status != 0 || n->stopping)
        return;
    if (n->pl_rc != WP_OK) {
        if (!n->pl_failing)
            WP_WARN(n->id, "placement: %s (retrying every second)", n->pl_err);
        n->pl_failing = true;
        return;
    }
    if (n->pl_failing || !n->pl_ok_once)
        WP_INFO(n->id, "placement: in sync (state version %llu)",
                (unsigned long long)n->pl_version);
    n->pl_failing = false;
    n->pl_ok_once = true;
    bool grew = false;
    if (n->pl_cat_new) {
        n->pl_cat_new = false;
        for (size_t i = 0; i < n->pl_n_cat; i++) {
            if (wp_router_model_find(n->view, n->pl_cat[i].name) < 0) {
                grew = model_register(n, &n->pl_cat[i]) >= 0 || grew;
            }
        }
    }
    if (n->pl_changed || grew)
        apply_assignment(n);
    drain_rsock(n);
}

void on_pl_timer(uv_timer_t *t)
{
    node *n = t->data;
    if (n->pl_busy || n->stopping)
        return;
    /* Measured request rates per model (this node as an ingress) go with
     * the heartbeat: the optimizer's demand when nodes report it. */
    size_t nm = wp_router_model_count(n->view);
    if (nm > n->rate_cap) {
        uint64_t *rc = realloc(n->rate_count, nm * sizeof *rc);
        wp_placement_rate *pr = realloc(n->pl_rates, nm * sizeof *pr);
        if (rc) {
            memset(rc + n->rate_cap, 0, (nm - n->rate_cap) * sizeof *rc);
            n->rate_count = rc;
        }
        if (pr)
            n->pl_rates = pr;
        if (rc && pr)
            n->rate_cap = nm;
    }
    uint64_t now = wp_clock_monotonic_ns();
    double el_s = n->rate_since_ns ? (double)(now - n->rate_since_ns) / 1e9 : 0.0;
    n->pl_n_rates = 0;
    for (size_t i = 0; i < n->rate_cap && el_s > 0; i++) {
        if (!n->rate_count[i])
            continue;
        /* Only models the placement catalog has (a demand entry naming an
         * unknown model would be refused). */
        const char *name = wp_router_model_name(n->view, (uint32_t)i);
        bool known = false;
        for (size_t k = 0; k < n->pl_n_cat && !known; k++)
            known = strcmp(n->pl_cat[k].name, name) == 0;
        if (!known)
            continue;
        wp_placement_rate *pr = &n->pl_rates[n->pl_n_rates++];
        snprintf(pr->model, sizeof pr->model, "%s", name);
        pr->requests_per_s = (double)n->rate_count[i] / el_s;
    }
    if (n->rate_cap)
        memset(n->rate_count, 0, n->rate_cap * sizeof *n->rate_count);
    n->rate_since_ns = now;
    n->pl_busy = true;
    n->pl_req.data = n;
    if (uv_queue_work(&n->loop, &n->pl_req, pl_work, pl_after) != 0)
        n->pl_busy = false;
}
