/* metrics.c — wp-node's Prometheus metrics (metrics/metrics.h): the
 * families, the hooks the request path calls (one line each in ingress.c
 * and target.c), and a 500 ms refresh timer that copies the loop thread's
 * state (gossip, GPU residency, jobs, the daemon's counters) into gauges and
 * mirrored counters. The HTTP thread only ever reads the registry.
 *
 * Labels are bounded: `model` is a catalog name or "other" (a client's
 * unknown model name never becomes a label), `outcome` one of at most 16
 * response statuses, `role` ingress or target, `state` the four member
 * states, `socket` the node's four sockets.
 *
 * TTFT: the first-token time stream_final put in the final answer's
 * timings (the ingress's view, client legs included).
 */
#include "node/node_int.h"
#include "metrics/metrics.h"

#include <ctype.h>

#define NM_OUTCOMES 16 /* response statuses; unnamed ones read unknown_status */
#define NM_REFRESH_MS 500

struct node_metrics {
    wp_metrics *reg;
    wp_metrics_http *http;
    uv_timer_t timer;
    bool timer_on;
    wp_metric_family *info, *requests, *ttft, *latency, *inflight, *warm, *model_loads_hist;
    wp_metric_family *queued, *running;
    wp_metric_family *members, *frames_bad, *events[NM_EVENT_COUNT];
    wp_metric *queue_depth, *gpu_free, *gpu_total, *warm_count, *loads, *load_failures;
    wp_metric *evictions, *probes, *probes_failed, *suspicions, *deaths, *refutations;
    wp_metric *forged;
    wp_metric_family *auth_refused;
    wp_metric *refused[WP_ZSOCK_COUNT];
    wp_metric *push_pulls, *push_pull_retries, *reconnects, *awareness, *members_st[4],
        *bad_gossip, *bad_request, *bad_admin;
    wp_metric *bad_peer, *client_drops, *drain_yields;
    wp_metric *late, *retries, *forwarded, *dropped_sends, *ev[NM_EVENT_COUNT];
    /* (model index, outcome) -> series, per role; index n_cat_cached = "other" */
    wp_metric **req_cache[2];
    wp_metric **ttft_cache, **lat_cache;
    size_t n_cat_cached;
    uint64_t last_loads, last_total_load_ns;
    char outcome[NM_OUTCOMES][24];
};

static const struct {
    const char *family, *help, *label, *value;
} nm_event_def[NM_EVENT_COUNT] = {
#define NM_DEF(sym, fam, help, label, value) {fam, help, label, value},
    NM_EVENTS(NM_DEF)
#undef NM_DEF
};

static wp_metric_family *fam(node_metrics *m, wp_metric_type t, const char *name,
                             const char *help, const char *labels)
{
    return wp_metrics_family(m->reg, t, name, help, labels, wp_metrics_latency_buckets_s,
                             wp_metrics_latency_n_buckets);
}

static wp_metric *scalar(node_metrics *m, wp_metric_type t, const char *name, const char *help)
{
    return wp_metric_get0(fam(m, t, name, help, NULL));
}

static void define(node *n, node_metrics *m)
{
    const wp_metric_type C = WP_METRIC_COUNTER, G = WP_METRIC_GAUGE, H = WP_METRIC_HISTOGRAM;
    m->info = fam(m, G, "warmpath_node_info", "This node (value 1).", "node,backend");
    m->requests = fam(m, C, "warmpath_requests_total",
                      "Requests answered, by model, role (ingress: answered to a client; "
                      "target: served for an ingress) and outcome (response status).",
                      "model,role,outcome");
    m->ttft = fam(m, H, "warmpath_ttft_seconds",
                  "Time to first token seen by the client, at the ingress, incl. the emulated "
                  "client leg (a request whose first token came with the answer: its total).",
                  "model");
    m->latency = fam(m, H, "warmpath_request_duration_seconds",
                     "Total latency at the ingress, arrival to response, incl. the emulated "
                     "client leg.", "model");
    m->inflight = fam(m, G, "warmpath_work_in_flight",
                      "Requests accepted by this node's target and not yet answered, by model.",
                      "model");
    m->queue_depth = scalar(m, G, "warmpath_queue_depth",
                            "Requests queued or running in the GPU worker, all models.");
    m->queued = fam(m, G, "warmpath_model_queued",
                    "Requests waiting in the GPU worker's queue for a slot, by model.", "model");
    m->running = fam(m, G, "warmpath_model_running",
                     "Requests started (holding a slot) in the GPU worker, by model.", "model");
    m->gpu_free = scalar(m, G, "warmpath_gpu_memory_free_bytes", "GPU memory free.");
    m->gpu_total = scalar(m, G, "warmpath_gpu_memory_bytes", "GPU memory managed.");
    m->warm = fam(m, G, "warmpath_model_warm", "1 when the model is warm (resident) here.",
                  "model");
    m->warm_count = scalar(m, G, "warmpath_warm_models", "Models warm on this node.");
    m->loads = scalar(m, C, "warmpath_model_loads_total", "Model loads (cold starts) started.");
    m->load_failures = scalar(m, C, "warmpath_model_load_failures_total", "Model loads failed.");
    m->evictions = scalar(m, C, "warmpath_model_evictions_total", "Models unloaded for room.");
    m->model_loads_hist = fam(m, H, "warmpath_model_load_duration_seconds",
                              "Duration of completed model loads.", NULL);
    m->members = fam(m, G, "warmpath_gossip_members", "Members in this node's view, by state.",
                     "state");
    for (int s = 0; s < 4; s++)
        m->members_st[s] = wp_metric_get1(m->members, wp_member_status_name((wp_member_status)s));
    m->probes = scalar(m, C, "warmpath_gossip_probes_total", "Probes sent.");
    m->probes_failed = scalar(m, C, "warmpath_gossip_probes_failed_total",
                              "Probes without an ack by the end of the probe interval.");
    m->suspicions = scalar(m, C, "warmpath_gossip_suspicions_total",
                           "Members this node started suspecting.");
    m->deaths = scalar(m, C, "warmpath_gossip_deaths_declared_total",
                       "Suspicion timers that expired here.");
    m->refutations = scalar(m, C, "warmpath_gossip_refutations_total",
                            "Times this node refuted a rumour about itself.");
    m->push_pulls = scalar(m, C, "warmpath_gossip_push_pulls_total", "Push-pull exchanges.");
    m->push_pull_retries = scalar(m, C, "warmpath_gossip_push_pull_retries_total",
                                  "Push-pulls sent again: no answer within a probe interval.");
    m->reconnects = scalar(m, C, "warmpath_gossip_reconnects_total",
                           "Push-pulls sent to a member held dead (reconnect after a partition).");
    m->forged = scalar(m, C, "warmpath_gossip_records_forged_total",
                       "Gossip records refused: unsigned or badly signed (--keys).");
    m->auth_refused = fam(m, C, "warmpath_auth_refused_total",
                          "Connections refused by CurveZMQ (--keys): a key not in the "
                          "keyring, of the wrong role, or no CURVE at all, by socket.",
                          "socket");
    for (int z = 0; z < WP_ZSOCK_GOSSIP + 3; z++)
        m->refused[z] = wp_metric_get1(m->auth_refused, wp_zsock_name((wp_zsock)z));
    m->awareness = scalar(m, G, "warmpath_gossip_awareness",
                          "Lifeguard local health score (0 = healthy).");
    m->frames_bad = fam(m, C, "warmpath_frames_bad_total",
                        "Frames dropped as undecodable or nonsense, by socket.", "socket");
    m->bad_gossip = wp_metric_get1(m->frames_bad, "gossip");
    m->bad_request = wp_metric_get1(m->frames_bad, "request");
    m->bad_admin = wp_metric_get1(m->frames_bad, "admin");
    m->bad_peer = wp_metric_get1(m->frames_bad, "peer"); /* request-path frames between nodes */
    m->late = scalar(m, C, "warmpath_late_answers_total",
                     "Target answers that came after their request was closed (late or "
                     "duplicate).");
    m->retries = scalar(m, C, "warmpath_retries_total", "Forwarded requests retried once.");
    m->forwarded = scalar(m, C, "warmpath_forwards_total", "Attempts forwarded to a target.");
    m->dropped_sends = scalar(m, C, "warmpath_dropped_sends_total",
                              "Frames to peers dropped (queue full).");
    m->drain_yields = scalar(m, C, "warmpath_drain_yields_total",
                             "Socket drains that stopped at their per-wake-up bound.");
    m->client_drops = scalar(m, C, "warmpath_client_drops_total",
                             "Responses to clients that could not be sent (client gone or "
                             "at its high-water mark).");
    for (int e = 0; e < NM_EVENT_COUNT; e++) {
        wp_metric_family *f = NULL;
        for (int k = 0; k < e && !f; k++)
            if (strcmp(nm_event_def[k].family, nm_event_def[e].family) == 0)
                f = m->events[k];
        if (!f)
            f = fam(m, C, nm_event_def[e].family, nm_event_def[e].help, nm_event_def[e].label);
        m->events[e] = f;
        m->ev[e] = wp_metric_get1(f, nm_event_def[e].value);
    }
    for (int s = 0; s < NM_OUTCOMES; s++) {
        const char *nm = wp_infer_status_name(s);
        size_t i = 0;
        for (; nm[i] && i + 1 < sizeof m->outcome[s]; i++)
            m->outcome[s][i] = (char)tolower((unsigned char)nm[i]);
        m->outcome[s][i] = '\0';
    }
}

int nm_open(node *n, const char *addr, wp_err *err)
{
    node_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return wp_errf(err, WP_ENOMEM, "metrics: out of memory");
    int rc = wp_metrics_new(&m->reg, err);
    if (rc == WP_OK) {
        define(n, m);
        rc = wp_metrics_http_start(m->reg, addr, &m->http, err);
    }
    if (rc != WP_OK) {
        wp_metrics_free(m->reg);
        free(m);
        return rc;
    }
    n->nm = m;
    return WP_OK;
}

/* The catalog's index of a model name; n_cat for any other name. */
static size_t cat_index(const node *n, const char *model)
{
    for (size_t i = 0; model && i < n->n_cat; i++)
        if (strcmp(n->cat[i].name, model) == 0)
            return i;
    return n->n_cat;
}

/* Grows the caches with the catalog (loop thread only; the HTTP thread
 * never sees them). */
static bool cache_fit(node *n, node_metrics *m)
{
    if (m->n_cat_cached == n->n_cat && m->ttft_cache)
        return true;
    size_t slots = n->n_cat + 1;
    wp_metric **r0 = calloc(slots * NM_OUTCOMES, sizeof *r0);
    wp_metric **r1 = calloc(slots * NM_OUTCOMES, sizeof *r1);
    wp_metric **t = calloc(slots, sizeof *t), **l = calloc(slots, sizeof *l);
    if (!r0 || !r1 || !t || !l) {
        free(r0), free(r1), free(t), free(l);
        return false;
    }
    free(m->req_cache[0]), free(m->req_cache[1]), free(m->ttft_cache), free(m->lat_cache);
    m->req_cache[0] = r0, m->req_cache[1] = r1, m->ttft_cache = t, m->lat_cache = l;
    m->n_cat_cached = n->n_cat;
    return true;
}

static const char *model_label(const node *n, size_t idx)
{
    return idx < n->n_cat ? n->cat[idx].name : "other";
}

static void count_request(node *n, int role, const char *model, int status)
{
    node_metrics *m = n->nm;
    if (!m || !cache_fit(n, m))
        return;
    size_t idx = cat_index(n, model);
    int st = status >= 0 && status < NM_OUTCOMES ? status : WARMPATH__INFER__STATUS__INTERNAL;
    wp_metric **slot = &m->req_cache[role][idx * NM_OUTCOMES + (size_t)st];
    if (!*slot)
        *slot = wp_metric_get3(m->requests, model_label(n, idx), role ? "target" : "ingress",
                               m->outcome[st]);
    wp_metric_inc(*slot, 1);
}

void nm_first_token(node *n, const char *model, double ttft_s)
{
    node_metrics *m = n->nm;
    if (!m || !cache_fit(n, m))
        return;
    size_t idx = cat_index(n, model);
    if (!m->ttft_cache[idx])
        m->ttft_cache[idx] = wp_metric_get1(m->ttft, model_label(n, idx));
    wp_metric_observe(m->ttft_cache[idx], ttft_s);
}

void nm_ingress_done(node *n, const Warmpath__Infer__InferResponse *resp)
{
    node_metrics *m = n->nm;
    if (!m)
        return;
    count_request(n, 0, resp->model, (int)resp->status);
    if (resp->status != WARMPATH__INFER__STATUS__OK || !resp->timings || !cache_fit(n, m))
        return;
    double total_s = (double)resp->timings->total_us / 1e6;
    size_t idx = cat_index(n, resp->model);
    if (!m->lat_cache[idx])
        m->lat_cache[idx] = wp_metric_get1(m->latency, model_label(n, idx));
    wp_metric_observe(m->lat_cache[idx], total_s);
    /* The first token as the ingress saw it leave (stream_final), or the
     * whole answer when the first token came with it. */
    double first_s = resp->timings->first_token_us ? (double)resp->timings->first_token_us / 1e6
                                                   : total_s;
    nm_first_token(n, resp->model, first_s);
}

void nm_target_done(node *n, const char *model, int status)
{
    count_request(n, 1, model, status);
}

void nm_bump(node *n, nm_event e)
{
    if (n->nm && e >= 0 && e < NM_EVENT_COUNT)
        wp_metric_inc(n->nm->ev[e], 1);
}

static void refresh(node *n)
{
    node_metrics *m = n->nm;
    wp_gossip_stats gs;
    wp_gossip_get_stats(n->g, &gs);
    for (int s = 0; s < 4; s++)
        wp_metric_set(m->members_st[s], (double)wp_gossip_count_status(n->g, (wp_member_status)s));
    wp_metric_counter_set(m->probes, gs.probes);
    wp_metric_counter_set(m->probes_failed, gs.probes_failed);
    wp_metric_counter_set(m->suspicions, gs.suspicions);
    wp_metric_counter_set(m->deaths, gs.deaths_declared);
    wp_metric_counter_set(m->refutations, gs.refutations);
    wp_metric_counter_set(m->push_pulls, gs.push_pulls);
    wp_metric_counter_set(m->push_pull_retries, gs.push_pull_retries);
    wp_metric_counter_set(m->reconnects, gs.reconnects);
    wp_metric_counter_set(m->forged, gs.records_forged);
    for (int z = 0; z < WP_ZSOCK_GOSSIP + 3; z++)
        wp_metric_counter_set(m->refused[z], wp_zap_refused(n->zap, (wp_zsock)z));
    wp_metric_set(m->awareness, gs.awareness);
    wp_metric_counter_set(m->bad_gossip, gs.frames_bad);
    wp_metric_counter_set(m->bad_request, n->st_bad);
    wp_metric_counter_set(m->bad_admin, n->admin_bad);
    wp_metric_counter_set(m->bad_peer, n->st_bad_node);
    wp_metric_counter_set(m->client_drops, n->st_client_drops);
    wp_metric_counter_set(m->drain_yields, n->st_drain_yields);
    /* DEADLINE_EXCEEDED answers, counted by the ingress (never nm_bump'ed) */
    wp_metric_counter_set(m->ev[NM_DEADLINE_INGRESS_EXPIRED], n->st_deadline);
    wp_metric_counter_set(m->late, n->st_late);
    wp_metric_counter_set(m->retries, n->st_retries);
    wp_metric_counter_set(m->forwarded, n->st_fwd);
    wp_metric_counter_set(m->dropped_sends, n->dropped_sends);
    /* work in flight at the target, by model (the job list is bounded by
     * JOB_CAPACITY; the catalog is small) */
    if (cache_fit(n, m)) {
        size_t slots = n->n_cat + 1;
        uint32_t *cnt = calloc(slots, sizeof *cnt);
        if (cnt) {
            for (const tgt_job *j = n->jobs; j; j = j->next)
                cnt[cat_index(n, j->model)]++;
            for (size_t i = 0; i < slots; i++)
                if (cnt[i] || i < n->n_cat)
                    wp_metric_set(wp_metric_get1(m->inflight, model_label(n, i)), cnt[i]);
            free(cnt);
        }
    }
    if (!n->gw)
        return;
    const wp_res *r = wp_gpu_worker_res(n->gw);
    wp_metric_set(m->queue_depth, wp_res_queue_depth(r));
    wp_metric_set(m->gpu_free, (double)wp_res_free_bytes(r));
    wp_metric_set(m->gpu_total, (double)wp_res_capacity_bytes(r));
    const char *warm[WP_GOSSIP_MAX_WARM];
    size_t nw = wp_res_warm_models(r, warm, WP_ARRAY_LEN(warm));
    wp_metric_set(m->warm_count, (double)nw);
    for (size_t i = 0; i < n->n_cat; i++) {
        uint32_t q, run;
        wp_res_model_counts(r, n->cat[i].name, &q, &run);
        wp_metric_set(wp_metric_get1(m->queued, n->cat[i].name), q);
        wp_metric_set(wp_metric_get1(m->running, n->cat[i].name), run);
        bool w = false;
        for (size_t k = 0; k < nw && k < WP_ARRAY_LEN(warm) && !w; k++)
            w = strcmp(warm[k], n->cat[i].name) == 0;
        wp_metric_set(wp_metric_get1(m->warm, n->cat[i].name), w ? 1 : 0);
    }
    wp_res_stats rs;
    wp_res_get_stats(r, &rs);
    wp_metric_counter_set(m->loads, rs.loads);
    wp_metric_counter_set(m->load_failures, rs.load_failures);
    wp_metric_counter_set(m->evictions, rs.evictions);
    /* Completed loads' durations: the residency core keeps their total and
     * the last one; when several finished since the last refresh, each is
     * observed at their mean. */
    if (rs.total_load_ns > m->last_total_load_ns) {
        uint64_t d = rs.total_load_ns - m->last_total_load_ns;
        uint64_t k = rs.loads > m->last_loads ? rs.loads - m->last_loads : 1;
        wp_metric *h = wp_metric_get0(m->model_loads_hist);
        if (k == 1)
            wp_metric_observe(h, (double)rs.last_load_ns / 1e9);
        else
            for (uint64_t i = 0; i < k && i < 1024; i++)
                wp_metric_observe(h, (double)d / (double)k / 1e9);
        m->last_total_load_ns = rs.total_load_ns;
        m->last_loads = rs.loads;
    }
}

static void on_nm_timer(uv_timer_t *t)
{
    refresh(t->data);
}

void nm_start(node *n)
{
    node_metrics *m = n->nm;
    if (!m)
        return;
    uv_timer_init(&n->loop, &m->timer);
    m->timer.data = n;
    m->timer_on = true;
    /* the worker exists by now */
    wp_metric_set(wp_metric_get2(m->info, n->id, n->gw ? wp_gpu_kind_name(n->gpu_kind) : "none"),
                  1);
    refresh(n);
    uv_timer_start(&m->timer, on_nm_timer, NM_REFRESH_MS, NM_REFRESH_MS);
}

static void on_nm_closed(uv_handle_t *h) { (void)h; }

void nm_close(node *n)
{
    node_metrics *m = n->nm;
    if (m && m->timer_on && !uv_is_closing((uv_handle_t *)&m->timer))
        uv_close((uv_handle_t *)&m->timer, on_nm_closed);
}

void nm_free(node *n)
{
    node_metrics *m = n->nm;
    if (!m)
        return;
    wp_metrics_http_stop(m->http); /* no reader left after this */
    wp_metrics_free(m->reg);
    free(m->req_cache[0]), free(m->req_cache[1]), free(m->ttft_cache), free(m->lat_cache);
    free(m);
    n->nm = NULL;
}
