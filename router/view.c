/* view.c — the router's view of the cluster: models, nodes, deltas.
 *
 * Adding a node inserts it into every ingress city's candidate list at its
 * RTT rank (binary search + memmove): O(ncities * nodes) per add, done
 * rarely (a node joins). Everything after that is O(1) per delta.
 * Versions: a delta older than what the view holds is ignored, so gossip
 * may deliver updates out of order and twice without harm.
 */
#include "router/router_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const status_names[WP_NODE_STATUS_COUNT] = {"up", "suspect", "draining",
                                                                 "dead"};

const char *wp_node_status_name(wp_node_status s)
{
    return (unsigned)s < WP_NODE_STATUS_COUNT ? status_names[s] : "unknown";
}

int wp_router_view_new(const wp_router_config *cfg, wp_router_view **out, wp_err *err)
{
    *out = NULL;
    if (!cfg || cfg->ncities == 0 || cfg->ncities > 1000000 || !cfg->rtt_ms)
        return wp_errf(err, WP_EINVAL, "router: need ncities (1..1000000) and an RTT lookup");
    if (cfg->queue_per_slot < 0 || cfg->queue_per_slot > 1000)
        return wp_errf(err, WP_EINVAL, "router: queue_per_slot must be in 0..1000");
    if (cfg->history_ticks > 4096)
        return wp_errf(err, WP_EINVAL, "router: history_ticks must be in 0..4096");
    wp_router_view *v = calloc(1, sizeof *v);
    if (!v)
        return wp_errf(err, WP_ENOMEM, "router: out of memory");
    v->ncities = cfg->ncities;
    v->rtt_ms = cfg->rtt_ms;
    v->rtt_ctx = cfg->rtt_ctx;
    v->queue_per_slot = cfg->queue_per_slot;
    v->period_ns = cfg->report_period_ns ? cfg->report_period_ns : 100 * WP_NS_PER_MS;
    v->inv_period = 1.0 / (double)v->period_ns;
    v->hist_ticks = cfg->history_ticks;
    *out = v;
    return WP_OK;
}

void wp_router_view_free(wp_router_view *v)
{
    if (!v)
        return;
    free(v->ids);
    free(v->city);
    free(v->status);
    free(v->gpus);
    free(v->free_mem);
    free(v->version);
    free(v->warm);
    free(v->noload);
    free(v->inflight);
    free(v->used);
    free(v->used_cls);
    free(v->rep);
    free(v->hist);
    free(v->cands);
    free(v);
}

int wp_router_model_add(wp_router_view *v, const wp_model_profile *p, uint32_t *index,
                        wp_err *err)
{
    size_t len = strnlen(p->name, WP_NAME_MAX);
    if (len == 0 || len >= WP_NAME_MAX)
        return wp_errf(err, WP_EINVAL, "router: model name must be 1..%u bytes",
                       WP_NAME_MAX - 1);
    if (wp_router_model_find(v, p->name) >= 0)
        return wp_errf(err, WP_EEXIST, "router: model '%s' already registered", p->name);
    if (v->nmodels >= WP_ROUTER_MAX_MODELS)
        return wp_errf(err, WP_ENOSPC, "router: more than %u models", WP_ROUTER_MAX_MODELS);
    if (p->slots_per_gpu == 0 || p->slots_per_gpu > WP_ROUTER_GPU_UNITS)
        return wp_errf(err, WP_EINVAL, "router: model '%s': slots per GPU must be 1..%u",
                       p->name, WP_ROUTER_GPU_UNITS);
    wp_router_model *m = &v->models[v->nmodels];
    memcpy(m->name, p->name, len + 1);
    m->size_bytes = p->size_bytes;
    m->slots_per_gpu = p->slots_per_gpu;
    m->units = WP_ROUTER_GPU_UNITS / p->slots_per_gpu;
    m->load_ms = (float)wp_model_load_ms(p);
    m->service_ms = (float)wp_model_total_ms(p, p->typical_in_tokens, p->typical_out_tokens);
    m->ttft_ms = (float)wp_model_ttft_ms(p, p->typical_in_tokens);
    m->cls = wp_router_service_class(m->service_ms);
    if (index)
        *index = (uint32_t)v->nmodels;
    v->nmodels++;
    return WP_OK;
}

uint32_t wp_router_service_class(double service_ms)
{
    return service_ms < 100 ? 0 : service_ms < 1000 ? 1 : service_ms < 10000 ? 2 : 3;
}

int wp_router_model_find(const wp_router_view *v, const char *name)
{
    for (size_t i = 0; i < v->nmodels; i++)
        if (strcmp(v->models[i].name, name) == 0)
            return (int)i;
    return -1;
}

size_t wp_router_model_count(const wp_router_view *v)
{
    return v->nmodels;
}

const char *wp_router_model_name(const wp_router_view *v, uint32_t model)
{
    return model < v->nmodels ? v->models[model].name : NULL;
}

/* Grows every per-node array to hold `cap` nodes; the candidate lists are
 * re-laid out (each list keeps its first nnodes entries). */
static int grow(wp_router_view *v, size_t cap)
{
#define GROW(field, per)                                                              \
    do {                                                                              \
        void *p_ = realloc(v->field, cap * (per) * sizeof *v->field);                 \
        if (!p_)                                                                      \
            return WP_ENOMEM;                                                         \
        v->field = p_;                                                                \
    } while (0)
    GROW(ids, 1);
    GROW(city, 1);
    GROW(status, 1);
    GROW(gpus, 1);
    GROW(free_mem, 1);
    GROW(version, 1);
    GROW(warm, WP_ROUTER_WARM_WORDS);
    GROW(noload, WP_ROUTER_WARM_WORDS);
    GROW(inflight, WP_ROUTER_MAX_MODELS);
    GROW(used, 1);
    GROW(used_cls, WP_ROUTER_CLASSES);
    GROW(rep, 1);
#undef GROW
    wp_cand *nc = malloc(v->ncities * cap * sizeof *nc);
    if (!nc)
        return WP_ENOMEM;
    for (size_t c = 0; c < v->ncities && v->cands; c++)
        memcpy(nc + c * cap, v->cands + c * v->cap_nodes, v->nnodes * sizeof *nc);
    free(v->cands);
    v->cands = nc;
    v->cap_nodes = cap;
    return WP_OK;
}

int wp_router_node_add(wp_router_view *v, const wp_router_node_info *info, uint32_t *index,
                       wp_err *err)
{
    size_t len = info->id ? strnlen(info->id, WP_NAME_MAX) : 0;
    if (len == 0 || len >= WP_NAME_MAX)
        return wp_errf(err, WP_EINVAL, "router: node id must be 1..%u bytes", WP_NAME_MAX - 1);
    if (info->city >= v->ncities)
        return wp_errf(err, WP_EINVAL, "router: node '%s': city index %u out of range (%zu)",
                       info->id, info->city, v->ncities);
    if (wp_router_node_find(v, info->id) >= 0)
        return wp_errf(err, WP_EEXIST, "router: node '%s' already in the view", info->id);
    if (v->nnodes >= WP_ROUTER_MAX_NODES)
        return wp_errf(err, WP_ENOSPC, "router: more than %u nodes", WP_ROUTER_MAX_NODES);
    if (v->nnodes == v->cap_nodes) {
        size_t cap = v->cap_nodes ? v->cap_nodes * 2 : 16;
        if (grow(v, cap) != WP_OK)
            return wp_errf(err, WP_ENOMEM, "router: out of memory adding node '%s'", info->id);
    }
    uint32_t n = (uint32_t)v->nnodes;
    memcpy(v->ids[n], info->id, len + 1);
    v->city[n] = info->city;
    v->status[n] = WP_NODE_UP;
    v->gpus[n] = info->gpus;
    v->free_mem[n] = info->free_mem_bytes;
    v->version[n] = 0;
    v->used[n] = 0;
    memset(&v->used_cls[(size_t)n * WP_ROUTER_CLASSES], 0, WP_ROUTER_CLASSES * sizeof *v->used_cls);
    memset(&v->rep[n], 0, sizeof v->rep[n]);
    v->rep[n].at_ns = UINT64_MAX;
    memset(&v->warm[(size_t)n * WP_ROUTER_WARM_WORDS], 0,
           WP_ROUTER_WARM_WORDS * sizeof *v->warm);
    memset(&v->noload[(size_t)n * WP_ROUTER_WARM_WORDS], 0,
           WP_ROUTER_WARM_WORDS * sizeof *v->noload);
    memset(&v->inflight[(size_t)n * WP_ROUTER_MAX_MODELS], 0,
           WP_ROUTER_MAX_MODELS * sizeof *v->inflight);
    for (size_t c = 0; c < v->ncities; c++) {
        wp_cand *list = v->cands + c * v->cap_nodes;
        float rtt = (float)v->rtt_ms(v->rtt_ctx, c, info->city);
        /* First position whose rtt is greater (the new node has the highest
         * index, so among equal RTTs it goes last). */
        size_t lo = 0, hi = v->nnodes;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (list[mid].rtt_ms <= rtt)
                lo = mid + 1;
            else
                hi = mid;
        }
        memmove(list + lo + 1, list + lo, (v->nnodes - lo) * sizeof *list);
        list[lo].rtt_ms = rtt;
        list[lo].node = n;
    }
    v->nnodes++;
    if (index)
        *index = n;
    return WP_OK;
}

int wp_router_node_find(const wp_router_view *v, const char *id)
{
    for (size_t i = 0; i < v->nnodes; i++)
        if (strcmp(v->ids[i], id) == 0)
            return (int)i;
    return -1;
}

size_t wp_router_node_count(const wp_router_view *v)
{
    return v->nnodes;
}

const char *wp_router_node_id(const wp_router_view *v, uint32_t node)
{
    return node < v->nnodes ? v->ids[node] : NULL;
}

uint32_t wp_router_node_city(const wp_router_view *v, uint32_t node)
{
    return v->city[node];
}

wp_node_status wp_router_node_status(const wp_router_view *v, uint32_t node)
{
    return (wp_node_status)v->status[node];
}

uint64_t wp_router_node_version(const wp_router_view *v, uint32_t node)
{
    return v->version[node];
}

bool wp_router_node_warm(const wp_router_view *v, uint32_t node, uint32_t model)
{
    return node < v->nnodes && model < WP_ROUTER_MAX_MODELS && wp__router_warm(v, node, model);
}

uint32_t wp_router_node_inflight(const wp_router_view *v, uint32_t node, uint32_t model)
{
    return v->inflight[(size_t)node * WP_ROUTER_MAX_MODELS + model];
}

uint64_t wp_router_node_free_mem(const wp_router_view *v, uint32_t node)
{
    return v->free_mem[node];
}

uint64_t wp_router_node_load_units(const wp_router_view *v, uint32_t node)
{
    return v->used[node];
}

uint32_t wp_router_model_units(const wp_router_view *v, uint32_t model)
{
    return model < v->nmodels ? v->models[model].units : 0;
}

double wp_router_model_service_ms(const wp_router_view *v, uint32_t model)
{
    return model < v->nmodels ? v->models[model].service_ms : 0;
}

double wp_router_model_ttft_ms(const wp_router_view *v, uint32_t model)
{
    return model < v->nmodels ? v->models[model].ttft_ms : 0;
}

uint32_t wp_router_model_class(const wp_router_view *v, uint32_t model)
{
    return model < v->nmodels ? v->models[model].cls : 0;
}

uint32_t wp_router_node_gpus(const wp_router_view *v, uint32_t node)
{
    return v->gpus[node];
}

void wp_router_set_status(wp_router_view *v, uint32_t node, wp_node_status s)
{
    v->status[node] = (uint8_t)s;
}

void wp_router_set_loadable(wp_router_view *v, uint32_t node, uint32_t model, bool loadable)
{
    uint64_t *w = &v->noload[(size_t)node * WP_ROUTER_WARM_WORDS + (model >> 6)];
    uint64_t bit = 1ull << (model & 63);
    *w = loadable ? (*w & ~bit) : (*w | bit);
}

bool wp_router_node_loadable(const wp_router_view *v, uint32_t node, uint32_t model)
{
    return node < v->nnodes && model < WP_ROUTER_MAX_MODELS &&
           !((v->noload[(size_t)node * WP_ROUTER_WARM_WORDS + (model >> 6)] >> (model & 63)) & 1u);
}

void wp_router_model_set_measured(wp_router_view *v, uint32_t model, double service_ms,
                                  double ttft_ms)
{
    if (model >= v->nmodels || !(service_ms > 0) || !(ttft_ms >= 0))
        return;
    v->models[model].service_ms = (float)service_ms;
    v->models[model].ttft_ms = (float)ttft_ms;
}

void wp_router_set_warm(wp_router_view *v, uint32_t node, uint32_t model, bool warm)
{
    uint64_t *w = &v->warm[(size_t)node * WP_ROUTER_WARM_WORDS + (model >> 6)];
    uint64_t bit = 1ull << (model & 63);
    *w = warm ? (*w | bit) : (*w & ~bit);
}

void wp_router_set_free_mem(wp_router_view *v, uint32_t node, uint64_t free_mem_bytes)
{
    v->free_mem[node] = free_mem_bytes;
}

/* Sets a count and moves the node's work in flight by the difference. */
static void set_inflight(wp_router_view *v, uint32_t node, uint32_t model, uint32_t count)
{
    uint32_t *q = &v->inflight[(size_t)node * WP_ROUTER_MAX_MODELS + model];
    uint64_t units = v->models[model].units;
    uint64_t *uc = &v->used_cls[(size_t)node * WP_ROUTER_CLASSES + v->models[model].cls];
    v->used[node] = v->used[node] - (uint64_t)*q * units + (uint64_t)count * units;
    *uc = *uc - (uint64_t)*q * units + (uint64_t)count * units;
    *q = count;
}

void wp_router_inflight_add(wp_router_view *v, uint32_t node, uint32_t model, int32_t delta)
{
    set_inflight(v, node, model, delta < 0 && (uint32_t)(-(int64_t)delta) >
                                     v->inflight[(size_t)node * WP_ROUTER_MAX_MODELS + model]
                                     ? 0
                                     : (uint32_t)((int64_t)v->inflight[(size_t)node *
                                                                        WP_ROUTER_MAX_MODELS +
                                                                    model] +
                                                  delta));
}

int wp_router_apply(wp_router_view *v, uint32_t node, const wp_node_delta *d)
{
    if (node >= v->nnodes)
        return WP_EINVAL;
    if ((d->fields & (WP_DELTA_WARM_SET | WP_DELTA_WARM_UNSET | WP_DELTA_INFLIGHT)) &&
        d->model >= v->nmodels)
        return WP_EINVAL;
    if ((d->fields & WP_DELTA_STATUS) && (unsigned)d->status >= WP_NODE_STATUS_COUNT)
        return WP_EINVAL;
    if (d->version < v->version[node])
        return WP_ESTATE;
    v->version[node] = d->version;
    if (d->fields & WP_DELTA_STATUS)
        v->status[node] = (uint8_t)d->status;
    if (d->fields & WP_DELTA_GPUS)
        v->gpus[node] = d->gpus;
    if (d->fields & WP_DELTA_FREE_MEM)
        v->free_mem[node] = d->free_mem_bytes;
    if (d->fields & WP_DELTA_WARM_SET)
        wp_router_set_warm(v, node, d->model, true);
    if (d->fields & WP_DELTA_WARM_UNSET)
        wp_router_set_warm(v, node, d->model, false);
    if (d->fields & WP_DELTA_INFLIGHT)
        set_inflight(v, node, d->model, d->inflight);
    return WP_OK;
}
