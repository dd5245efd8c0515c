/* engine.c — one simulated run: workload → serving world → latencies.
 *
 * Time is integer nanoseconds (uint64_t) from simulated 0; every delay is
 * computed in ms as a double and rounded to ns once, when its event is
 * scheduled. Randomness comes from five generators forked from the seed in
 * a fixed order — arrivals, users, models, cold starts, functions — so a
 * change in one (say, a different cold-start draw) never shifts another,
 * and two scenarios run with the same seed see the same users at the same
 * times asking the same models from the same functions (common random
 * numbers: their difference is the serving world, not luck). The function
 * stream was added last, so the first four draw exactly as before.
 *
 * Workload. Synthetic: candidate arrivals are Poisson at rate_rps x (1+A);
 * each candidate draws a user point by population (alias table, O(1)) and
 * is kept with probability f/(1+A), f = 1 + A cos(2pi (h - peak)/24) with
 * h the user's local hour (UTC hour + longitude/15). That is exact
 * thinning of a non-homogeneous Poisson process whose rate per user
 * follows local time; the mean over a day is rate_rps. Model by Zipf over
 * the scenario's models; token counts are the model's typical ones. Trace:
 * arrival times and token counts from the rows, users still drawn by
 * population, every row a request to trace_model.
 *
 * Tenants. Every request also belongs to one of `functions` tenant
 * functions, drawn independently of the model (a function may call any
 * model). Popularity is lognormal: function k gets weight exp(sigma z_k),
 * z_k the normal quantile at 1 - (k + 0.5)/n (a stratified sample, no
 * randomness), shares normalised. Source: Shahrad et al., "Serverless in
 * the Wild" (USENIX ATC 2020), the Azure Functions trace: invocation rates
 * span ~8 orders of magnitude, 45% of applications are invoked at most
 * once per hour and 81% at most once per minute, and a small share of
 * them carries nearly all invocations. A lognormal through the two
 * quantiles has sigma = ln(3600/60) / (z(0.81) - z(0.45)) = 4.08 in ln
 * units (1.77 decades; its central 95% spans 8 decades; its top 18.6%
 * carry 99.9% of calls, the paper says 99.6%). The default 1500 functions
 * is the count at which, with 1000 requests/s, the simulated functions
 * meet both quantiles (45.3% at <= 1/h, 81.3% at <= 1/min; the test
 * checks it); more traffic means more functions. Consequence to keep in
 * mind: with a finite sample of a sigma-4 lognormal the top function
 * carries ~half of all requests, and cold starts come from the long tail.
 *
 * Edge world, per request (events in capitals):
 *   Placement (setup, placement.c): GPU sites in the cities with the most
 *   demand; which models each keeps warm is decided by placement/'s
 *   optimizer — the same code the live placement service runs, so the
 *   simulated edge and the real cluster share it — from population x
 *   model-popularity demand and each node's GPU memory.
 *   GEN at t0 (user sends) → INGRESS at t0 + rtt(user, PoP)/2: the
 *   request runs in its function's V8 isolate at the PoP (one per (PoP,
 *   function), serving any number of concurrent requests, Workers-like;
 *   if none is alive it starts: isolate_start_ms, default 5 ms from
 *   Cloudflare's "under 5 ms"; it stays alive isolate_keepalive_s after
 *   its last use — no published figure, the default is the container's
 *   600 s so the two worlds differ only in what a start costs) → the
 *   router core picks a node; the ingress counts it in flight →
 *   GPU_ARRIVE after isolate start + invoke_ms + rtt(PoP, node)/2 → the
 *   node's GPUs, shared by its models (and by all tenants: models are
 *   per platform, not per tenant)
 *   (work units as in router.h; waiting is FIFO across the node's models)
 *   → first token travels node → PoP → user. A cold route
 *   (no warm replica with room) starts loading the model at the node:
 *   requests queue behind the load (LOAD_DONE). GPU_DONE frees the slot.
 * Regional world:
 *   GEN → FN_ARRIVE at t0 + rtt(user, region)/2: containers belong to one
 *   (region, function) and serve one request at a time (Lambda's
 *   execution environments). An idle container of the request's function
 *   is reused if its idle time < keepalive_s (most recently idle first),
 *   else a new one cold-starts (lognormal). keepalive_s defaults to 600:
 *   AWS Lambda's fixed 10 min as Shahrad et al. report it (Azure's is
 *   20 min; third-party measurements put Lambda at 5-15 min) → the
 *   function calls the region's inference endpoint: GPU_ARRIVE after
 *   cold + invoke + endpoint_rtt/2 → same GPU timing model (endpoint
 *   models always warm, shared by all tenants) → first token goes
 *   endpoint → function → user. The container is free again when it has
 *   relayed the last token (FN_FREE).
 *   Environments are kept in sim/fnpool.c's map, keyed by (site,
 *   function): storage follows the pools alive, not sites x functions.
 * Counted per region: cold_starts = model_loads (a route that had to load
 * a model on a GPU: edge) + container_starts (regional); isolate_starts
 * (edge, a few ms each) are reported apart and not counted as cold.
 * Latency recorded per request: TTFT = (service start + ttft + one-way
 * legs back) - t0; total = (service end + legs back) - t0.
 *
 * One world with the daemons (issue 12), edge serving:
 *   - Load: every GPU node's own count of its work (running + queued,
 *     counted when a request reaches it) is published every
 *     load_report_ms; ingress i routes on node j's report of the latest
 *     tick <= t - oneway(i, j) plus its own sends since (router/load.c:
 *     a shared ring of snapshots, O(1) per candidate, no event per pair).
 *     Staleness: 0 <= age - oneway < load_report_ms (checked per route,
 *     reported as load_lag_ms).
 *   - GPUs: each node runs the residency core wp-node runs
 *     (gpu_worker/residency.c, SLOTS mode: continuous batching, LRU
 *     eviction of unpinned idle models, cold loads, shorter service
 *     classes first within CLASS_BOUND_NS, deadline drops); the sim only
 *     executes its actions (res_drain). Regional endpoints keep the FIFO
 *     slot model below (someone else's service, all models warm).
 *   - Deadlines (deadline_ms): the ingress answers OVERLOADED at once when
 *     no node can return the first token in time; a node drops work that
 *     can no longer start in time. Every request ends in one latency
 *     record or one counted error (errors = overloaded + expired + failed
 *     + no_route).
 *   - Faults (fault = outage WHAT FROM-TO): the sites stop at FROM (queued
 *     requests fail; running ones complete, their first token was already
 *     accounted), ingresses keep routing there until FROM + the detection
 *     time the gossip core measures for this very cluster (wp_gossip_sim_run
 *     over the GPU nodes' WAN delays, memberlist defaults, 1% loss, this
 *     seed; requests arriving meanwhile fail), sites return at TO and are
 *     routed to again after the core's convergence time. Every ingress
 *     learns at the same moment (the core's "every live member has it
 *     dead"): a conservative upper bound.
 * What is not modelled: batching efficiency beyond the fixed slots, GPU
 * interference between co-resident models beyond sharing capacity,
 * network jitter and loss, retries after a failed forward (live retries
 * once on the next candidate: the sim counts the error), the gossip delay
 * of warm-set changes (a cold route marks the model warm in the shared
 * view at once), Lambda's concurrency cap.
 *
 * Bounds: pending events and live requests ~ requests in flight; memory
 * O(users + sites x models + functions + (site, function) pools alive +
 * in flight), the last bounded as fnpool.c says; no allocation per
 * request once the pools have grown to the peak concurrency. Per request:
 * O(log functions) for the draw, O(1) expected for the pool lookup.
 */
#include "sim/sim_int.h"
#include "node/node.h" /* the gossip core's simulation: failure detection delays */
#include "gpu_worker/gpu_worker.h" /* the residency core (pure part only: wp_gpu_core) */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

enum ev_type { EV_GEN, EV_INGRESS, EV_FN_ARRIVE, EV_GPU_ARRIVE, EV_GPU_DONE, EV_LOAD_DONE,
               EV_FN_FREE, EV_FAULT_DOWN, EV_FAULT_SEEN_DOWN, EV_FAULT_UP, EV_FAULT_SEEN_UP,
               EV_RES_EXPIRE };

/* Serving order at a node: shorter service classes first within a bound.
 * A waiting request's key is its arrival time plus its class times this
 * bound, and the smallest key starts first: a short request overtakes
 * longer ones that arrived less than (class gap) x bound before it, never
 * older ones (see router/route.c for why). */
#define CLASS_BOUND_NS WP_ROUTER_CLASS_BOUND_NS

typedef struct req {
    uint64_t t0_ns;
    uint64_t arr_ns;  /* edge: expected arrival at the node (own-sends key) */
    uint32_t ingress; /* edge: the PoP city that routed it */
    uint32_t fn;   /* tenant function */
    uint32_t pool; /* its environment pool (isolate or containers) */
    uint64_t qseq; /* serving key at the GPU site: arrival + class offset */
    float ur_ms;  /* user ↔ ingress PoP (edge) or region (regional) RTT */
    float leg_ms; /* ingress ↔ node (edge) or function ↔ endpoint RTT */
    uint32_t in_tok, out_tok;
    uint32_t site;
    uint32_t next; /* FIFO link while queued; free-list link when free */
    uint32_t point; /* the user point that sent it */
    uint8_t region;
    uint8_t model;
    bool noted; /* counted in the ingress's own sends */
} req;

typedef struct upoint {
    float ur_ms;
    uint32_t dest;     /* edge: ingress city; regional: serving site */
    float lon_hours;   /* longitude / 15 */
    uint8_t region;
} upoint;

typedef struct gpu_q { /* the waiting line of one (site, model) */
    uint32_t head, tail, n;
    bool loading; /* a cold load is in progress: nobody starts */
} gpu_q;

typedef struct site_gpu { /* the GPUs of one site, shared by its models */
    uint64_t used_units, cap_units;
    uint32_t ready_waiting; /* queued in queues that are not loading */
} site_gpu;

typedef struct engine {
    const wp_sim_scenario *sc;
    const wp_sim_options *opt;
    wp_sim_result *res;
    wp_err *err;

    wp_topology *topo;
    wp_users *users;
    size_t npoints;
    upoint *pts;

    size_t nm;
    const wp_model_profile *prof[WP_SIM_MAX_MODELS];
    double share[WP_SIM_MAX_MODELS];
    wp_zipf zipf;
    uint32_t trace_model;
    double *fn_cdf; /* functions entries, most popular first */
    uint32_t nfn;

    size_t nsites;
    uint32_t *site_city;
    uint32_t *site_gpus;
    gpu_q *gq;     /* nsites * nm */
    site_gpu *sg;  /* nsites */
    uint32_t units[WP_SIM_MAX_MODELS];
    uint64_t cls_off_ns[WP_SIM_MAX_MODELS]; /* class x CLASS_BOUND_NS */
    /* Edge: each GPU node runs the residency core wp-node runs (SLOTS
     * mode: continuous batching, LRU eviction, cold loads, deadlines). */
    wp_res **res_site;
    uint64_t *res_exp_at; /* per site: the armed EV_RES_EXPIRE (UINT64_MAX: none) */
    uint32_t watch_r;     /* res_arrive: the request whose start it watches (NONE) */
    bool watch_started;
    wp_fnpool env; /* containers per (region, function) or isolates per (PoP, function) */
    wp_router_view *view;
    /* Load-aware edge (router/load.c): one own-sends record per ingress
     * city, the report period and the next tick to publish. */
    wp_router_sends **sends; /* ncities, allocated on first use */
    size_t ncities;
    uint64_t period_ns, next_pub_ns;
    uint64_t deadline_ns;    /* 0: none */
    /* Faults: the sites each one takes down, sites down now (truth). */
    size_t nfaults;
    const wp_sim_fault *faults[2 * WP_SIM_MAX_FAULTS];
    uint32_t *fault_sites[2 * WP_SIM_MAX_FAULTS];
    size_t fault_nsites[2 * WP_SIM_MAX_FAULTS];
    uint8_t *down; /* per site: outages covering it now */
    uint64_t detect_ns, rejoin_ns;
    /* Timeline. */
    uint64_t tl_ns;

    req *rq;
    uint32_t nrq, cap_rq, free_rq;

    wp_eventq q;
    wp_rng rng_arrival, rng_user, rng_model, rng_cold, rng_function, rng_access;
    wp_sim_city *city; /* npoints, with opt->by_city; handed to the result */

    /* the next arrival, drawn ahead */
    uint64_t gen_count, gen_limit, trace_i;
    double cand_t_s;
    uint64_t duration_ns;
    double gpu_busy_ms;
    uint64_t now_ns;
} engine;

static inline uint64_t ms_to_ns(double ms)
{
    return ms <= 0 ? 0 : (uint64_t)llround(ms * 1e6);
}

static int oom(engine *e)
{
    return wp_errf(e->err, WP_ENOMEM, "sim: out of memory");
}

static int push(engine *e, uint64_t at_ns, uint32_t type, uint32_t arg)
{
    return wp_eventq_push(&e->q, at_ns, type, arg) == WP_OK ? WP_OK : oom(e);
}

static int req_alloc(engine *e, uint32_t *out)
{
    if (e->free_rq != NONE) {
        *out = e->free_rq;
        e->free_rq = e->rq[*out].next;
        return WP_OK;
    }
    if (e->nrq == e->cap_rq) {
        uint32_t cap = e->cap_rq ? e->cap_rq * 2 : 4096;
        req *n = realloc(e->rq, (size_t)cap * sizeof *n);
        if (!n)
            return oom(e);
        e->rq = n;
        e->cap_rq = cap;
    }
    *out = e->nrq++;
    return WP_OK;
}

static void req_free(engine *e, uint32_t r)
{
    e->rq[r].next = e->free_rq;
    e->free_rq = r;
}

/* ------------------------------------------------------------ workload */

static double diurnal(const engine *e, const upoint *p, double t_s)
{
    double h = e->sc->start_utc_h + t_s / 3600.0 + p->lon_hours;
    return 1.0 + e->sc->diurnal_amplitude * cos(2.0 * M_PI * (h - e->sc->diurnal_peak_h) / 24.0);
}

/* Draws the next arrival and schedules its GEN event; nothing when the
 * workload is exhausted. The user point rides in the event's arg. */
static int schedule_next_arrival(engine *e)
{
    if (e->gen_count >= e->gen_limit)
        return WP_OK;
    uint64_t at_ns;
    uint32_t point;
    if (e->opt->trace) {
        if (e->trace_i >= e->opt->trace->nrows)
            return WP_OK;
        at_ns = e->opt->trace->rows[e->trace_i].at_ns;
        point = (uint32_t)wp_users_draw(e->users, &e->rng_user);
    } else {
        double a = e->sc->diurnal_amplitude;
        double mean_gap_s = 1.0 / (e->sc->rate_rps * (1.0 + a));
        for (;;) {
            e->cand_t_s += wp_rng_exp(&e->rng_arrival, mean_gap_s);
            point = (uint32_t)wp_users_draw(e->users, &e->rng_user);
            if (e->duration_ns && e->cand_t_s * 1e9 > (double)e->duration_ns)
                return WP_OK;
            if (a == 0 ||
                wp_rng_uniform(&e->rng_arrival) * (1.0 + a) < diurnal(e, &e->pts[point], e->cand_t_s))
                break;
        }
        at_ns = (uint64_t)llround(e->cand_t_s * 1e9);
    }
    if (e->duration_ns && at_ns > e->duration_ns)
        return WP_OK;
    return push(e, at_ns, EV_GEN, point);
}

/* The request's tenant function: inversion of the popularity CDF. */
static uint32_t draw_function(engine *e)
{
    double u = wp_rng_uniform(&e->rng_function);
    uint32_t lo = 0, hi = e->nfn - 1;
    while (lo < hi) { /* first k with cdf[k] > u */
        uint32_t mid = lo + (hi - lo) / 2;
        if (e->fn_cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* ------------------------------------------------------------ timeline */

#define TL_MAX_INTERVALS 1000000u

/* The timeline cell of a request sent at t0_ns by a user of region; NULL
 * past TL_MAX_INTERVALS or when the timeline cannot grow. */
static wp_sim_tl_cell *tl_cell(engine *e, uint64_t t0_ns, uint8_t region)
{
    wp_sim_result *res = e->res;
    uint64_t i = t0_ns / e->tl_ns;
    if (i >= res->tl_n) {
        if (i >= TL_MAX_INTERVALS)
            return NULL;
        size_t n = res->tl_n ? res->tl_n : 16;
        while (n <= i)
            n *= 2;
        wp_sim_tl_cell *t = realloc(res->tl, n * WP_REGION_COUNT * sizeof *t);
        if (!t)
            return NULL;
        memset(t + res->tl_n * WP_REGION_COUNT, 0,
               (n - res->tl_n) * WP_REGION_COUNT * sizeof *t);
        res->tl = t;
        res->tl_n = n;
    }
    return &res->tl[i * WP_REGION_COUNT + region];
}

void wp_sim_tl_record(wp_sim_tl_cell *c, uint64_t ns)
{
    double ms = (double)ns / 1e6;
    int b = ms <= 0.5 ? 0 : (int)(log(ms / 0.5) / log(1.1));
    c->ttft[b < (int)WP_SIM_TL_BUCKETS ? b : (int)WP_SIM_TL_BUCKETS - 1]++;
}

double wp_sim_tl_quantile_ms(const wp_sim_tl_cell *c, double q)
{
    uint64_t n = 0;
    for (size_t b = 0; b < WP_SIM_TL_BUCKETS; b++)
        n += c->ttft[b];
    if (n == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)n), acc = 0;
    if (rank == 0)
        rank = 1;
    for (size_t b = 0; b < WP_SIM_TL_BUCKETS; b++) {
        acc += c->ttft[b];
        if (acc >= rank)
            return 0.5 * pow(1.1, (double)b + 0.5);
    }
    return 0.5 * pow(1.1, WP_SIM_TL_BUCKETS - 0.5);
}

enum err_kind { ERR_NO_ROUTE, ERR_OVERLOADED, ERR_EXPIRED, ERR_FAILED };

/* A request ends in an explicit error: counted once, its resources back. */
/* The way back from a node to the user (node -> ingress -> user). */
static double node_back_ms(const req *q)
{
    return 0.5 * ((double)q->leg_ms + (double)q->ur_ms);
}

/* back_ms: the error's way back to the user from where it is decided. */
static int req_error(engine *e, uint32_t r, enum err_kind kind, double back_ms)
{
    req *q = &e->rq[r];
    wp_sim_stats *st = &e->res->region[q->region];
    st->errors++;
    wp_hist_record(&st->error_ns, e->now_ns + ms_to_ns(back_ms) - q->t0_ns);
    e->res->model_errors[q->model]++;
    switch (kind) {
    case ERR_NO_ROUTE: st->no_route++; break;
    case ERR_OVERLOADED: st->overloaded++; break;
    case ERR_EXPIRED: st->expired++; break;
    case ERR_FAILED: st->failed++; break;
    }
    wp_sim_tl_cell *c = tl_cell(e, q->t0_ns, q->region);
    if (c)
        c->errors++;
    if (e->city)
        e->city[q->point].fig.errors++;
    if (q->noted)
        wp_router_sends_done(e->sends[q->ingress], e->view, q->site, q->model, q->arr_ns);
    int rv = wp_fnpool_release(&e->env, q->pool, e->now_ns);
    req_free(e, r);
    return rv == WP_OK ? WP_OK : wp_errf(e->err, rv, "sim: pool released while not in use");
}

/* ------------------------------------------------------------ GPU model */

/* A site's GPUs are shared by its models: capacity gpus x GPU_UNITS, a
 * request of model m holds units[m] = GPU_UNITS / slots_per_gpu while it
 * runs (the router counts the same units). Waiting is FIFO per (site,
 * model); across the site's models the smallest key (arrival + class x
 * CLASS_BOUND_NS: shorter service first within a bound) starts first, and
 * only when it fits (queues of loading models aside). */

static int gpu_start(engine *e, uint32_t r, bool via_res)
{
    req *q = &e->rq[r];
    const wp_model_profile *p = e->prof[q->model];
    double ttft_ms = wp_model_ttft_ms(p, q->in_tok);
    double total_ms = wp_model_total_ms(p, q->in_tok, q->out_tok);
    double back_ms = 0.5 * ((double)q->leg_ms + (double)q->ur_ms);
    uint64_t first_at = e->now_ns + ms_to_ns(ttft_ms + back_ms);
    uint64_t last_at = e->now_ns + ms_to_ns(total_ms + back_ms);
    if (!via_res) /* the residency core holds the units of its own */
        e->sg[q->site].used_units += e->units[q->model];
    wp_sim_stats *st = &e->res->region[q->region];
    wp_hist_record(&st->ttft_ns, first_at - q->t0_ns);
    wp_sim_tl_cell *c = tl_cell(e, q->t0_ns, q->region);
    if (c)
        wp_sim_tl_record(c, first_at - q->t0_ns);
    if (e->city)
        wp_sim_tl_record(&e->city[q->point].fig, first_at - q->t0_ns);
    wp_hist_record(&st->total_ns, last_at - q->t0_ns);
    if (r == e->watch_r)
        e->watch_started = true;
    e->gpu_busy_ms += total_ms * (double)e->units[q->model] / WP_ROUTER_GPU_UNITS;
    return push(e, e->now_ns + ms_to_ns(total_ms), EV_GPU_DONE, r);
}

static int res_arrive(engine *e, uint32_t r);

static int gpu_arrive(engine *e, uint32_t r)
{
    req *q = &e->rq[r];
    if (e->view) { /* edge: the node's own count of its work (what it reports) */
        if (e->down && e->down[q->site])
            return req_error(e, r, ERR_FAILED, node_back_ms(q));
        wp_router_inflight_add(e->view, q->site, q->model, 1);
        return res_arrive(e, r);
    }
    site_gpu *sg = &e->sg[q->site];
    gpu_q *g = &e->gq[(size_t)q->site * e->nm + q->model];
    if (!g->loading && sg->ready_waiting == 0 &&
        sg->used_units + e->units[q->model] <= sg->cap_units)
        return gpu_start(e, r, false);
    q->next = NONE;
    q->qseq = e->now_ns + e->cls_off_ns[q->model];
    if (g->tail == NONE)
        g->head = r;
    else
        e->rq[g->tail].next = r;
    g->tail = r;
    g->n++;
    if (!g->loading)
        sg->ready_waiting++;
    return WP_OK;
}

/* Starts waiting requests in arrival order while the earliest one fits. */
static int gpu_drain(engine *e, uint32_t site)
{
    site_gpu *sg = &e->sg[site];
    while (sg->ready_waiting > 0) {
        gpu_q *best = NULL;
        uint32_t best_m = 0;
        for (uint32_t m = 0; m < e->nm; m++) {
            gpu_q *g = &e->gq[(size_t)site * e->nm + m];
            if (g->loading || g->head == NONE)
                continue;
            if (!best || e->rq[g->head].qseq < e->rq[best->head].qseq) { /* ties: lower m */
                best = g;
                best_m = m;
            }
        }
        if (!best || sg->used_units + e->units[best_m] > sg->cap_units)
            break;
        uint32_t r = best->head;
        best->head = e->rq[r].next;
        if (best->head == NONE)
            best->tail = NONE;
        best->n--;
        sg->ready_waiting--;
        int rv = gpu_start(e, r, false);
        if (rv != WP_OK)
            return rv;
    }
    return WP_OK;
}

/* Executes what a node's residency core asks (gpu_worker.h): RUN starts
 * requests (their first token and end are computed now), LOAD completes
 * after the model's load time, UNLOAD frees memory in the node's report,
 * FAIL ends a request in an explicit error. */
static int res_drain(engine *e, uint32_t site)
{
    wp_res *rs = e->res_site[site];
    const wp_res_action *ap;
    /* Nothing below calls back into rs, so *ap stays valid (gpu_worker.h). */
    while (wp_res_next_action_ref(rs, &ap)) {
        const wp_res_action a = {.kind = ap->kind, .model_index = ap->model_index,
                                 .n_reqs = ap->n_reqs, .error = ap->error};
        uint32_t m = a.model_index; /* models were added in e->prof order */
        if (m >= e->nm)
            return wp_errf(e->err, WP_ESTATE, "sim: residency named model %u of %zu", m, e->nm);
        int rv = WP_OK;
        switch (a.kind) {
        case WP_RES_RUN:
            for (uint32_t i = 0; i < a.n_reqs && rv == WP_OK; i++)
                rv = gpu_start(e, (uint32_t)ap->req_ids[i], true);
            break;
        case WP_RES_LOAD:
            rv = push(e, e->now_ns + ms_to_ns(wp_model_load_ms(e->prof[m])), EV_LOAD_DONE,
                      (uint32_t)((size_t)site * e->nm + m));
            break;
        case WP_RES_UNLOAD:
            wp_router_set_warm(e->view, site, m, false);
            wp_router_set_free_mem(e->view, site,
                                   wp_router_node_free_mem(e->view, site) + e->prof[m]->size_bytes);
            break;
        case WP_RES_FAIL: {
            uint32_t r = (uint32_t)ap->req_ids[0];
            wp_router_inflight_add(e->view, site, m, -1);
            rv = req_error(e, r,
                           a.error == WP_ETIMEDOUT  ? ERR_EXPIRED
                           : a.error == WP_EUNAVAIL ? ERR_FAILED
                                                    : ERR_OVERLOADED,
                           node_back_ms(&e->rq[r]));
            break;
        }
        default: rv = wp_errf(e->err, WP_ESTATE, "sim: unknown residency action %d", a.kind);
        }
        if (rv != WP_OK)
            return rv;
    }
    return WP_OK;
}

/* One expiry timer per site, as the node's worker keeps (gpu_worker.h):
 * armed at `at` unless one is armed earlier; an event that is no longer
 * the armed one is stale and ignored. */
static int res_expiry_arm(engine *e, uint32_t site, uint64_t at)
{
    if (at >= e->res_exp_at[site])
        return WP_OK;
    e->res_exp_at[site] = at;
    return push(e, at, EV_RES_EXPIRE, site);
}

static int on_res_expire(engine *e, uint32_t site)
{
    if (e->res_exp_at[site] != e->now_ns)
        return WP_OK; /* stale: an earlier arm replaced it */
    e->res_exp_at[site] = UINT64_MAX;
    wp_res_expire(e->res_site[site], e->now_ns);
    int rv = res_drain(e, site);
    uint64_t next = wp_res_next_expiry_ns(e->res_site[site]);
    if (rv == WP_OK && next != UINT64_MAX)
        rv = res_expiry_arm(e, site, next > e->now_ns ? next : e->now_ns + 1);
    return rv;
}

/* Edge: a request reaches its node: into the node's residency core, with
 * the latest start that still meets its deadline. */
static int res_arrive(engine *e, uint32_t r)
{
    req *q = &e->rq[r];
    uint64_t start_by = UINT64_MAX;
    if (e->deadline_ns) {
        /* As the daemon's target (node/target.c): the whole answer must be
         * back by the deadline, so it must start by deadline - service -
         * the way back. */
        const wp_model_profile *p = e->prof[q->model];
        uint64_t need = ms_to_ns(wp_model_total_ms(p, q->in_tok, q->out_tok) +
                                 0.5 * ((double)q->leg_ms + (double)q->ur_ms));
        uint64_t dl = q->t0_ns + e->deadline_ns;
        start_by = dl > need ? dl - need : 0;
    }
    wp_err rerr;
    int rv = wp_res_submit_by(e->res_site[q->site], e->now_ns, e->prof[q->model]->name, r, start_by,
                              &rerr);
    if (rv == WP_EOVERLOAD) { /* the node's queue bound */
        wp_router_inflight_add(e->view, q->site, q->model, -1);
        return req_error(e, r, ERR_OVERLOADED, node_back_ms(q));
    }
    if (rv != WP_OK)
        return wp_errf(e->err, rv, "sim: %s", wp_err_text(&rerr));
    /* The drain may start r, or fail and free it: what it did is watched
     * (e->watch_*), not read from r afterwards. */
    uint32_t site = q->site;
    e->watch_r = r;
    e->watch_started = false;
    rv = res_drain(e, site);
    e->watch_r = NONE;
    /* Not started: the node's timer answers it at its start-by if it has
     * not started by then (gpu_worker's wp_res_expire, in time order); an
     * arm for a request that failed meanwhile finds nothing to do. */
    if (rv == WP_OK && start_by != UINT64_MAX && !e->watch_started)
        rv = res_expiry_arm(e, site, start_by + 1);
    return rv;
}

/* Edge only (a regional endpoint keeps every model warm): a LOAD the
 * residency core asked for is done. */
static int on_load_done(engine *e, uint32_t slot)
{
    uint32_t site = (uint32_t)(slot / e->nm), m = (uint32_t)(slot % e->nm);
    wp_err rerr;
    if (!e->res_site || wp_res_load_done(e->res_site[site], e->now_ns, e->prof[m]->name, WP_OK,
                                         ms_to_ns(wp_model_load_ms(e->prof[m])),
                                         &rerr) != WP_OK)
        return wp_errf(e->err, WP_ESTATE, "sim: unexpected load done at site %u", site);
    return res_drain(e, site);
}

/* ------------------------------------------------------------ handlers */

static int on_gen(engine *e, uint32_t point)
{
    uint32_t r = NONE;
    int rv = req_alloc(e, &r);
    if (rv != WP_OK)
        return rv;
    req *q = &e->rq[r];
    const upoint *p = &e->pts[point];
    q->t0_ns = e->now_ns;
    q->point = point;
    q->ur_ms = p->ur_ms;
    /* The user's leg: network RTT to the ingress (or region) plus, with
     * the v2 model, this user's access latency, drawn from the country's
     * distribution (topology/access.c). Data-centre legs carry none. */
    if (e->sc->rtt.access)
        q->ur_ms += (float)wp_users_access_draw(e->users, point, &e->rng_access);
    q->region = p->region;
    q->site = p->dest;
    if (e->opt->trace) {
        const wp_sim_trace_row *row = &e->opt->trace->rows[e->trace_i++];
        q->model = (uint8_t)e->trace_model;
        q->in_tok = row->in_tokens;
        q->out_tok = row->out_tokens;
    } else {
        q->model = (uint8_t)(e->nm > 1 ? wp_zipf_draw(&e->zipf, &e->rng_model) : 0);
        q->in_tok = e->prof[q->model]->typical_in_tokens;
        q->out_tok = e->prof[q->model]->typical_out_tokens;
    }
    q->fn = e->nfn > 1 ? draw_function(e) : 0;
    e->res->region[q->region].requests++;
    e->res->model_requests[q->model]++;
    wp_sim_tl_cell *cell = tl_cell(e, q->t0_ns, q->region);
    if (cell)
        cell->requests++;
    if (e->city)
        e->city[point].fig.requests++;
    q->noted = false;
    e->gen_count++;
    if (e->opt->progress && (e->gen_count & 0xffff) == 0)
        e->opt->progress(e->opt->progress_ctx, e->gen_count, e->gen_limit);
    uint64_t at = e->now_ns + ms_to_ns(0.5 * q->ur_ms);
    rv = push(e, at, e->sc->serving == WP_SIM_SERVING_EDGE ? EV_INGRESS : EV_FN_ARRIVE, r);
    if (rv != WP_OK)
        return rv;
    return schedule_next_arrival(e);
}

/* The own-sends record of an ingress city (created on first use). */
static wp_router_sends *sends_of(engine *e, uint32_t city)
{
    if (!e->sends[city] && wp_router_sends_new(&e->sends[city], e->err) != WP_OK)
        return NULL;
    return e->sends[city];
}

static int on_ingress(engine *e, uint32_t r)
{
    req *q = &e->rq[r];
    /* The function's isolate at this PoP runs the request's code. */
    bool started = false;
    int rv = wp_fnpool_acquire(&e->env, q->site, q->fn, e->now_ns, &q->pool, &started);
    if (rv != WP_OK)
        return oom(e);
    double isolate_ms = 0;
    if (started) {
        isolate_ms = e->sc->isolate_start_ms;
        e->res->region[q->region].isolate_starts++;
        e->res->isolates++;
    }
    /* This ingress's view: the nodes' load reports as they reach it, plus
     * its own sends since (router/load.c); the deadline as time left for
     * the first token to be back here. */
    wp_router_sends *own = sends_of(e, q->site);
    if (!own)
        return oom(e);
    wp_route_req rr = {.model = q->model, .ingress = q->site, .policy = e->sc->policy,
                       .now_ns = e->now_ns, .user_ms = q->ur_ms, .sends = own};
    if (e->deadline_ns) {
        /* As the daemon's ingress (node/ingress.c ing_budget_ms): the
         * router budgets to the first token, so the answer's tail after it
         * comes off the time left. */
        const wp_model_profile *p = e->prof[q->model];
        double tail_ms = wp_model_total_ms(p, q->in_tok, q->out_tok) - wp_model_ttft_ms(p, q->in_tok);
        double left_ms = ((double)(q->t0_ns + e->deadline_ns) - (double)e->now_ns) / 1e6 -
                         0.5 * q->ur_ms - isolate_ms - e->sc->invoke_ms - (tail_ms > 0 ? tail_ms : 0);
        rr.budget_ms = left_ms > 0.001 ? (float)left_ms : 0.001f;
    }
    wp_route_result out;
    int rc = wp_route(e->view, &rr, &out);
    if (rc != WP_OK)
        return req_error(e, r, rc == WP_EOVERLOAD ? ERR_OVERLOADED : ERR_NO_ROUTE,
                         0.5 * q->ur_ms);
    if (out.load_at_ns != UINT64_MAX) {
        double lag_ms = (double)(e->now_ns - out.load_at_ns) / 1e6 - 0.5 * out.rtt_ms;
        wp_sim_result *res = e->res;
        if (res->routes_on_reports++ == 0 || lag_ms < res->load_lag_min_ms)
            res->load_lag_min_ms = lag_ms;
        if (res->routes_on_reports == 1 || lag_ms > res->load_lag_max_ms)
            res->load_lag_max_ms = lag_ms;
    }
    q->ingress = q->site;
    q->site = out.node; /* node index == site index */
    q->leg_ms = out.rtt_ms;
    uint64_t at_node =
        e->now_ns + ms_to_ns(isolate_ms + e->sc->invoke_ms + 0.5 * out.rtt_ms);
    q->arr_ns = at_node;
    if (wp_router_sends_note(own, e->view, out.node, q->model, at_node) != WP_OK)
        return oom(e);
    q->noted = true;
    if (out.cold) {
        /* The node's residency core starts the load when the request
         * arrives (evicting LRU idle models if it must); the view marks it
         * warm now, so later requests queue behind the load there. */
        const wp_model_profile *p = e->prof[q->model];
        wp_router_set_warm(e->view, out.node, q->model, true);
        uint64_t free_mem = wp_router_node_free_mem(e->view, out.node);
        wp_router_set_free_mem(e->view, out.node,
                               free_mem > p->size_bytes ? free_mem - p->size_bytes : 0);
        e->res->region[q->region].cold_starts++;
        e->res->region[q->region].model_loads++;
    }
    return push(e, at_node, EV_GPU_ARRIVE, r);
}

static int on_fn_arrive(engine *e, uint32_t r)
{
    req *q = &e->rq[r];
    /* A container of the request's function in this region: the most
     * recently idle one if it is within the keep-alive, else a cold start. */
    bool started = false;
    if (wp_fnpool_acquire(&e->env, q->site, q->fn, e->now_ns, &q->pool, &started) != WP_OK)
        return oom(e);
    double delay_ms = e->sc->invoke_ms;
    if (started) {
        delay_ms += wp_rng_lognormal(&e->rng_cold, log(e->sc->cold_median_ms), e->sc->cold_sigma);
        e->res->region[q->region].cold_starts++;
        e->res->region[q->region].container_starts++;
        e->res->containers++;
    }
    q->leg_ms = (float)e->sc->endpoint_rtt_ms;
    return push(e, e->now_ns + ms_to_ns(delay_ms + 0.5 * q->leg_ms), EV_GPU_ARRIVE, r);
}

static int on_gpu_done(engine *e, uint32_t r)
{
    req *q = &e->rq[r];
    uint32_t site = q->site;
    uint32_t model = q->model;
    int rv = WP_OK;
    if (!e->res_site)
        e->sg[site].used_units -= e->units[q->model];
    if (e->sc->serving == WP_SIM_SERVING_EDGE) {
        /* The isolate relays the answer; it counts as used from now on
         * (the relay's sub-ms is immaterial beside a keep-alive). */
        wp_router_inflight_add(e->view, q->site, q->model, -1);
        if (q->noted)
            wp_router_sends_done(e->sends[q->ingress], e->view, q->site, q->model, q->arr_ns);
        rv = wp_fnpool_release(&e->env, q->pool, e->now_ns);
    } else {
        /* The container is free once it has relayed the answer. */
        rv = push(e, e->now_ns + ms_to_ns(0.5 * q->leg_ms), EV_FN_FREE, q->pool);
    }
    req_free(e, r);
    if (rv != WP_OK)
        return rv;
    if (e->res_site) {
        wp_err rerr;
        if (wp_res_run_done(e->res_site[site], e->now_ns, e->prof[model]->name, 1, &rerr) != WP_OK)
            return wp_errf(e->err, WP_ESTATE, "sim: %s", wp_err_text(&rerr));
        return res_drain(e, site);
    }
    return gpu_drain(e, site);
}

static int on_fn_free(engine *e, uint32_t pool)
{
    int rv = wp_fnpool_release(&e->env, pool, e->now_ns);
    if (rv == WP_ENOMEM)
        return oom(e);
    if (rv != WP_OK)
        return wp_errf(e->err, rv, "sim: container pool %u released while not in use", pool);
    return WP_OK;
}

/* ------------------------------------------------------------ faults */

/* A fault starts: its sites stop. Requests queued there fail now; those
 * already running complete (their first token was accounted at start).
 * Every ingress keeps routing there until EV_FAULT_SEEN_DOWN. */
static int on_fault_down(engine *e, uint32_t f)
{
    for (size_t k = 0; k < e->fault_nsites[f]; k++) {
        uint32_t s = e->fault_sites[f][k];
        if (e->down[s]++ > 0)
            continue; /* already down under another fault */
        wp_res_fail_queued(e->res_site[s], e->now_ns, WP_EUNAVAIL);
        int rv = res_drain(e, s);
        if (rv != WP_OK)
            return rv;
    }
    return WP_OK;
}

/* The gossip core's detection time later, every ingress has them dead. */
static int on_fault_seen(engine *e, uint32_t f, bool up)
{
    for (size_t k = 0; k < e->fault_nsites[f]; k++) {
        uint32_t s = e->fault_sites[f][k];
        if ((e->down[s] == 0) == up)
            wp_router_set_status(e->view, s, up ? WP_NODE_UP : WP_NODE_DEAD);
    }
    return WP_OK;
}

static int on_fault_up(engine *e, uint32_t f)
{
    for (size_t k = 0; k < e->fault_nsites[f]; k++)
        e->down[e->fault_sites[f][k]]--;
    return WP_OK;
}

/* ------------------------------------------------------------ setup */

/* RTT for the router's view: the topology's model between cities; inside
 * one city (ingress PoP and GPU node in the same metro) the scenario's
 * intra_city_rtt_ms instead of the WAN model's fixed overhead. */
static double topo_rtt(const void *ctx, size_t a, size_t b)
{
    const engine *e = ctx;
    return a == b ? e->sc->intra_city_rtt_ms : wp_topo_rtt_ms(e->topo, a, b);
}

static int setup_models(engine *e)
{
    const wp_sim_scenario *sc = e->sc;
    if (strcmp(sc->models, "all") == 0) {
        e->nm = wp_catalog_count();
        if (e->nm > WP_SIM_MAX_MODELS)
            e->nm = WP_SIM_MAX_MODELS;
        for (size_t i = 0; i < e->nm; i++)
            e->prof[i] = wp_catalog_model(i);
    } else {
        char buf[WP_SIM_LIST_LEN];
        snprintf(buf, sizeof buf, "%s", sc->models);
        for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
             tok = strtok_r(NULL, ", ", &save)) {
            int idx = wp_catalog_find(tok);
            if (idx < 0)
                return wp_errf(e->err, WP_EINVAL, "scenario %s: unknown model '%s'", sc->name, tok);
            if (e->nm == WP_SIM_MAX_MODELS)
                return wp_errf(e->err, WP_EINVAL, "scenario %s: more than %u models", sc->name,
                               WP_SIM_MAX_MODELS);
            e->prof[e->nm++] = wp_catalog_model((size_t)idx);
        }
    }
    if (e->nm == 0)
        return wp_errf(e->err, WP_EINVAL, "scenario %s: no models", sc->name);
    if (wp_zipf_init(&e->zipf, e->nm, sc->zipf_s) != WP_OK)
        return oom(e);
    for (size_t i = 0; i < e->nm; i++)
        e->share[i] = wp_zipf_pmf(&e->zipf, i);
    for (size_t m = 0; m < e->nm; m++) {
        const wp_model_profile *p = e->prof[m];
        e->units[m] = WP_ROUTER_GPU_UNITS / p->slots_per_gpu;
        /* Our edge serves shorter classes first; a regional endpoint is
         * someone else's service: plain FIFO. */
        e->cls_off_ns[m] = e->sc->serving != WP_SIM_SERVING_EDGE
                               ? 0
                               : CLASS_BOUND_NS * wp_router_service_class(wp_model_total_ms(
                                                      p, p->typical_in_tokens, p->typical_out_tokens));
    }

    e->trace_model = 0;
    if (sc->trace_model[0]) {
        size_t i = 0;
        while (i < e->nm && strcmp(e->prof[i]->name, sc->trace_model) != 0)
            i++;
        if (i == e->nm)
            return wp_errf(e->err, WP_EINVAL,
                           "scenario %s: trace_model '%s' is not among the scenario's models",
                           sc->name, sc->trace_model);
        e->trace_model = (uint32_t)i;
    }
    return WP_OK;
}

/* Phi^-1(p) for 0 < p < 1: Newton's method on Phi(z) - p (Phi from
 * erfc) from the guess z0, kept inside a shrinking bracket so it cannot
 * diverge; converges to ~1e-12 in a handful of steps, two or three from
 * a neighbouring quantile. */
static double normal_quantile(double p, double z0)
{
    double lo = -40, hi = 40, z = z0;
    for (int i = 0; i < 100; i++) {
        double f = 0.5 * erfc(-z / M_SQRT2) - p;
        if (f > 0)
            hi = z;
        else
            lo = z;
        double step = f / (exp(-0.5 * z * z) / sqrt(2 * M_PI));
        double next = z - step;
        if (!(next > lo && next < hi)) /* outside the bracket (or NaN): bisect */
            next = 0.5 * (lo + hi);
        if (fabs(next - z) < 1e-12)
            return next;
        z = next;
    }
    return z;
}

int wp_sim_function_shares(size_t n, double sigma, double *share)
{
    if (n == 0 || !(sigma >= 0 && sigma <= 20))
        return WP_EINVAL;
    /* ln weight = sigma z, taken relative to the largest so that exp()
     * never overflows (ratios are what matter). */
    double z = 0, sum = 0;
    for (size_t k = 0; k < (n + 1) / 2; k++) { /* z is odd about the median */
        z = normal_quantile(1.0 - ((double)k + 0.5) / (double)n, k == 0 ? 0 : z);
        share[k] = z;
        share[n - 1 - k] = -z;
    }
    double zmax = share[0];
    for (size_t k = 0; k < n; k++) {
        share[k] = exp(sigma * (share[k] - zmax));
        sum += share[k];
    }
    for (size_t k = 0; k < n; k++)
        share[k] /= sum;
    return WP_OK;
}

/* Tenant functions: the popularity CDF the workload draws from, and the
 * environment pools of the serving world. */
static int setup_functions(engine *e)
{
    const wp_sim_scenario *sc = e->sc;
    e->nfn = sc->functions ? sc->functions : 1;
    e->fn_cdf = malloc((size_t)e->nfn * sizeof *e->fn_cdf);
    if (!e->fn_cdf)
        return oom(e);
    if (wp_sim_function_shares(e->nfn, sc->function_sigma, e->fn_cdf) != WP_OK)
        return wp_errf(e->err, WP_EINVAL, "scenario %s: function_sigma must be 0..20",
                       sc->name);
    double acc = 0;
    for (uint32_t k = 0; k < e->nfn; k++) {
        acc += e->fn_cdf[k];
        e->fn_cdf[k] = acc;
    }
    e->fn_cdf[e->nfn - 1] = 1.0;
    bool edge = sc->serving == WP_SIM_SERVING_EDGE;
    double keep_s = edge ? sc->isolate_keepalive_s : sc->keepalive_s;
    if (wp_fnpool_init(&e->env, edge ? WP_FNPOOL_ISOLATE : WP_FNPOOL_CONTAINERS,
                       ms_to_ns(keep_s * 1000.0)) != WP_OK)
        return oom(e);
    return WP_OK;
}

static int alloc_sites(engine *e, size_t n)
{
    e->nsites = n;
    e->site_city = calloc(n, sizeof *e->site_city);
    e->site_gpus = calloc(n, sizeof *e->site_gpus);
    e->gq = calloc(n * e->nm, sizeof *e->gq);
    e->sg = calloc(n, sizeof *e->sg);
    if (!e->site_city || !e->site_gpus || !e->gq || !e->sg)
        return oom(e);
    return WP_OK;
}

static void init_gpu_queues(engine *e)
{
    for (size_t s = 0; s < e->nsites; s++) {
        e->sg[s].cap_units = (uint64_t)e->site_gpus[s] * WP_ROUTER_GPU_UNITS;
        for (size_t m = 0; m < e->nm; m++) {
            gpu_q *g = &e->gq[s * e->nm + m];
            g->head = g->tail = NONE;
        }
    }
}

/* A comma list of city codes of the preset into topology indices
 * (duplicates dropped); sites must hold wp_topo_count entries. */
static int parse_city_list(engine *e, const char *list, const char *what, uint32_t *sites,
                           size_t *n)
{
    size_t nc = wp_topo_count(e->topo);
    char buf[WP_SIM_LIST_LEN];
    snprintf(buf, sizeof buf, "%s", list);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save)) {
        int c = wp_topo_find(e->topo, tok);
        if (c < 0)
            return wp_errf(e->err, WP_EINVAL, "scenario %s: %s '%s' is not in preset %s",
                           e->sc->name, what, tok, e->sc->preset);
        bool dup = false;
        for (size_t k = 0; k < *n; k++)
            dup |= sites[k] == (uint32_t)c;
        if (!dup && *n < nc)
            sites[(*n)++] = (uint32_t)c;
    }
    return WP_OK;
}

/* Index into sites[0..n) of the city nearest (model RTT) to user point i. */
static size_t nearest_site(const engine *e, size_t i, const uint32_t *sites, size_t n,
                           double *rtt_ms)
{
    size_t best = 0;
    double best_rtt = INFINITY;
    for (size_t s = 0; s < n; s++) {
        double rtt = wp_users_rtt_ms(e->users, i, sites[s]);
        if (rtt < best_rtt) {
            best_rtt = rtt;
            best = s;
        }
    }
    *rtt_ms = best_rtt;
    return best;
}

/* The residency core of edge site s: its GPUs' memory, every model in
 * SLOTS mode with its slots per GPU and serving offset, the placement's
 * warm models pinned and loaded before time 0 (prewarm). Queues hold at
 * most RES_MAX_QUEUE per model (beyond: OVERLOADED at the node). */
#define RES_MAX_QUEUE 16384u
static int setup_residency(engine *e, size_t s, uint64_t mem_bytes, uint64_t warm)
{
    if (!e->res_site) {
        e->res_site = calloc(e->nsites, sizeof *e->res_site);
        e->res_exp_at = malloc(e->nsites * sizeof *e->res_exp_at);
        if (!e->res_site || !e->res_exp_at)
            return oom(e);
        for (size_t k = 0; k < e->nsites; k++)
            e->res_exp_at[k] = UINT64_MAX;
    }
    wp_res_config cfg = {.capacity_bytes = mem_bytes ? mem_bytes : 1,
                         .max_batch = WP_RES_MAX_BATCH,
                         .max_queue = RES_MAX_QUEUE,
                         .gpus = e->site_gpus[s]};
    int rv = wp_res_new(&cfg, &e->res_site[s], e->err);
    const char *pinned[WP_SIM_MAX_MODELS];
    size_t npinned = 0;
    for (size_t m = 0; rv == WP_OK && m < e->nm; m++) {
        const wp_model_profile *p = e->prof[m];
        rv = wp_res_add_model(e->res_site[s], p->name, p->size_bytes ? p->size_bytes : 1, e->err);
        if (rv == WP_OK)
            rv = wp_res_set_slots(e->res_site[s], p->name, p->slots_per_gpu, e->err);
        if (rv == WP_OK)
            rv = wp_res_set_priority(e->res_site[s], p->name, e->cls_off_ns[m], e->err);
        /* The service estimate the node's worker gives its core (the
         * profile's typical request): the same refusals at submit. */
        double svc_ms = wp_model_total_ms(p, p->typical_in_tokens, p->typical_out_tokens);
        if (rv == WP_OK)
            rv = wp_res_set_service(e->res_site[s], p->name,
                                    svc_ms > 0 ? (uint64_t)(svc_ms * 1e6) : 0, e->err);
        if ((warm >> m) & 1u)
            pinned[npinned++] = p->name;
    }
    if (rv == WP_OK)
        rv = wp_res_assign(e->res_site[s], 0, pinned, npinned, e->err);
    wp_res_action a;
    while (rv == WP_OK && wp_res_next_action(e->res_site[s], &a))
        if (a.kind == WP_RES_LOAD) /* prewarmed: resident before time 0 */
            rv = wp_res_load_done(e->res_site[s], 0, a.model, WP_OK, 0, e->err);
    return rv == WP_OK ? WP_OK : wp_err_wrap(e->err, "sim: residency of site %zu", s);
}

static int setup_edge(engine *e)
{
    const wp_sim_scenario *sc = e->sc;
    size_t nc = wp_topo_count(e->topo);
    double *demand = calloc(nc, sizeof *demand);
    wp_model_profile *profs = calloc(e->nm, sizeof *profs);
    if (!demand || !profs) {
        free(demand);
        free(profs);
        return oom(e);
    }
    /* A fixed city list (`cities`): the only PoPs and GPU sites; users
     * enter at the nearest of them, and each listed city gets a tiny floor
     * of demand so the site choice (top gpu_cities by demand) takes exactly
     * these even if one of them is nobody's nearest. */
    uint32_t *fixed = NULL;
    size_t nfixed = 0;
    uint32_t gpu_cities = sc->gpu_cities;
    if (sc->cities[0]) {
        fixed = malloc(nc * sizeof *fixed);
        if (!fixed) {
            free(demand);
            free(profs);
            return oom(e);
        }
        int prv = parse_city_list(e, sc->cities, "city", fixed, &nfixed);
        if (prv == WP_OK && nfixed == 0)
            prv = wp_errf(e->err, WP_EINVAL, "scenario %s: empty cities list", sc->name);
        if (prv != WP_OK) {
            free(fixed);
            free(demand);
            free(profs);
            return prv;
        }
        for (size_t k = 0; k < nfixed; k++)
            demand[fixed[k]] = 1e-9;
        gpu_cities = (uint32_t)nfixed;
    }
    for (size_t i = 0; i < e->npoints; i++) {
        const wp_user_point *u = wp_users_point(e->users, i);
        uint32_t dest = u->ingress;
        double rtt = u->ingress_rtt_ms;
        if (fixed)
            dest = fixed[nearest_site(e, i, fixed, nfixed, &rtt)];
        demand[dest] += u->population;
        e->pts[i].dest = dest;
        e->pts[i].ur_ms = (float)rtt;
    }
    free(fixed);
    for (size_t m = 0; m < e->nm; m++)
        profs[m] = *e->prof[m];
    uint64_t mem_per_gpu = (uint64_t)(sc->gpu_mem_gb * 1e9);
    wp_sim_placement pl;
    /* The placement: sites, then placement/'s optimizer (placement.c). */
    int rv = wp_sim_place(e->topo, demand, profs, e->share, e->nm, gpu_cities, sc->gpus_total,
                          mem_per_gpu, &pl, e->err);
    free(demand);
    free(profs);
    if (rv != WP_OK)
        return wp_err_wrap(e->err, "scenario %s", sc->name);
    rv = alloc_sites(e, pl.nsites);
    /* Load reports every load_report_ms; the history must reach back one
     * period past the largest one-way delay (RTTs stay under 1 s). */
    e->period_ns = ms_to_ns(sc->load_report_ms);
    uint32_t ticks = (uint32_t)ceil(1000.0 / sc->load_report_ms) + 2;
    wp_router_config cfg = {.ncities = nc, .rtt_ms = topo_rtt, .rtt_ctx = e,
                            .queue_per_slot = sc->queue_per_slot,
                            .report_period_ns = e->period_ns,
                            .history_ticks = ticks > 4096 ? 4096 : ticks};
    e->ncities = nc;
    e->sends = calloc(nc, sizeof *e->sends);
    if (!e->sends)
        rv = oom(e);
    if (rv == WP_OK)
        rv = wp_router_view_new(&cfg, &e->view, e->err);
    for (size_t m = 0; rv == WP_OK && m < e->nm; m++)
        rv = wp_router_model_add(e->view, e->prof[m], NULL, e->err);
    for (size_t s = 0; rv == WP_OK && s < pl.nsites; s++) {
        e->site_city[s] = pl.city[s];
        e->site_gpus[s] = pl.gpus[s];
        char id[WP_NAME_MAX];
        snprintf(id, sizeof id, "%s-gpu", wp_topo_city(e->topo, pl.city[s])->code);
        uint64_t mem = (uint64_t)pl.gpus[s] * mem_per_gpu;
        if (!sc->prewarm)
            pl.warm[s] = 0; /* start cold: models load on first demand */
        for (size_t m = 0; m < e->nm; m++)
            if ((pl.warm[s] >> m) & 1u)
                mem -= e->prof[m]->size_bytes;
        wp_router_node_info info = {.id = id, .city = pl.city[s], .gpus = pl.gpus[s],
                                    .free_mem_bytes = mem};
        uint32_t idx;
        rv = wp_router_node_add(e->view, &info, &idx, e->err);
        for (size_t m = 0; rv == WP_OK && m < e->nm; m++)
            if ((pl.warm[s] >> m) & 1u)
                wp_router_set_warm(e->view, idx, (uint32_t)m, true);
        if (rv == WP_OK)
            rv = setup_residency(e, s, (uint64_t)pl.gpus[s] * mem_per_gpu, pl.warm[s]);
    }
    wp_sim_placement_free(&pl);
    if (rv == WP_OK)
        init_gpu_queues(e);
    return rv;
}

/* Parses the scenario's site list into city indices (all = every city). */
static int setup_regional(engine *e)
{
    const wp_sim_scenario *sc = e->sc;
    size_t nc = wp_topo_count(e->topo);
    uint32_t *sites = malloc(nc * sizeof *sites);
    double *site_demand = NULL;
    if (!sites)
        return oom(e);
    size_t n = 0;
    int rv = WP_OK;
    if (strcmp(sc->sites, "all") == 0) {
        for (size_t c = 0; c < nc; c++)
            sites[n++] = (uint32_t)c;
    } else if ((rv = parse_city_list(e, sc->sites, "site", sites, &n)) != WP_OK) {
        goto out;
    }
    if (n == 0) {
        rv = wp_errf(e->err, WP_EINVAL, "scenario %s: no sites", sc->name);
        goto out;
    }
    if (sc->gpus_total < n) {
        rv = wp_errf(e->err, WP_EINVAL, "scenario %s: gpus_total %u is less than the %zu sites",
                     sc->name, sc->gpus_total, n);
        goto out;
    }
    if ((rv = alloc_sites(e, n)) != WP_OK)
        goto out;
    site_demand = calloc(n, sizeof *site_demand);
    if (!site_demand) {
        rv = oom(e);
        goto out;
    }
    for (size_t i = 0; i < e->npoints; i++) {
        const wp_user_point *u = wp_users_point(e->users, i);
        double best_rtt;
        size_t best = nearest_site(e, i, sites, n, &best_rtt);
        e->pts[i].dest = (uint32_t)best;
        e->pts[i].ur_ms = (float)best_rtt;
        site_demand[best] += u->population;
    }
    for (size_t s = 0; s < n; s++)
        e->site_city[s] = sites[s];
    wp_sim__spread_gpus(site_demand, n, sc->gpus_total, e->site_gpus);
    init_gpu_queues(e);
out:
    free(sites);
    free(site_demand);
    return rv;
}

/* Resolves the faults (the scenario's, then the options') to GPU sites,
 * measures the failure-detection and rejoin delays by running the gossip
 * core (node/gossip_sim.c) over this cluster's GPU nodes and WAN delays,
 * and schedules the events. Edge serving only. */
static int setup_faults(engine *e)
{
    const wp_sim_scenario *sc = e->sc;
    const wp_sim_options *opt = e->opt;
    size_t total = sc->nfaults + opt->nfaults;
    if (total == 0)
        return WP_OK;
    if (total > 2 * WP_SIM_MAX_FAULTS)
        return wp_errf(e->err, WP_EINVAL, "sim: more than %u faults", 2 * WP_SIM_MAX_FAULTS);
    if (sc->serving != WP_SIM_SERVING_EDGE)
        return wp_errf(e->err, WP_EINVAL, "scenario %s: faults need serving = edge", sc->name);
    if (e->nsites < 3)
        return wp_errf(e->err, WP_EINVAL,
                       "scenario %s: faults need at least 3 GPU nodes (gossip detection)",
                       sc->name);
    e->down = calloc(e->nsites, 1);
    if (!e->down)
        return oom(e);
    for (size_t f = 0; f < total; f++) {
        const wp_sim_fault *ft = f < sc->nfaults ? &sc->faults[f] : &opt->faults[f - sc->nfaults];
        e->faults[f] = ft;
        e->res->faults[f] = *ft;
        e->fault_sites[f] = malloc(e->nsites * sizeof(uint32_t));
        e->nfaults = f + 1;
        if (!e->fault_sites[f])
            return oom(e);
        wp_region reg;
        bool is_region = wp_region_parse(ft->what, &reg) == WP_OK;
        int city = is_region ? -1 : wp_topo_find(e->topo, ft->what);
        int node = wp_router_node_find(e->view, ft->what);
        size_t n = 0;
        for (uint32_t s = 0; s < e->nsites; s++) {
            const wp_city *c = wp_topo_city(e->topo, e->site_city[s]);
            if ((is_region && c->region == reg) || (city >= 0 && e->site_city[s] == (uint32_t)city) ||
                (node >= 0 && s == (uint32_t)node))
                e->fault_sites[f][n++] = s;
        }
        if (n == 0)
            return wp_errf(e->err, WP_EINVAL,
                           "fault 'outage %s': no GPU node there (a region, the city code of a "
                           "GPU site, or a node id such as FRA-gpu)",
                           ft->what);
        e->fault_nsites[f] = n;
    }
    e->res->nfaults = total;

    /* Detection through the real gossip core: this cluster's GPU nodes, the
     * same WAN delays, memberlist's defaults, 1% loss, this seed. */
    size_t n = e->nsites;
    float *oneway = malloc(n * n * sizeof *oneway);
    if (!oneway)
        return oom(e);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            oneway[i * n + j] = (float)(0.5 * topo_rtt(e, e->site_city[i], e->site_city[j]));
    wp_gossip_sim_config gc = {.nodes = n, .oneway_ms = oneway, .loss = 0.01,
                               .seed = e->opt->seed, .duration_s = 120, .trials = 1};
    wp_gossip_config_default(&gc.gossip);
    wp_gossip_sim_result gr;
    int rv = wp_gossip_sim_run(&gc, &gr, e->err);
    free(oneway);
    if (rv != WP_OK)
        return wp_err_wrap(e->err, "sim: failure detection (gossip core)");
    if (!gr.detected)
        return wp_errf(e->err, WP_ESTATE, "sim: the gossip core did not detect a failure");
    e->detect_ns = ms_to_ns(gr.detection_s * 1000);
    e->rejoin_ns = ms_to_ns(gr.convergence_s_p50 * 1000);
    e->res->detect_s = gr.detection_s;
    e->res->rejoin_s = gr.convergence_s_p50;
    for (size_t f = 0; f < total; f++) {
        uint64_t from = ms_to_ns(e->faults[f]->from_s * 1000);
        uint64_t to = ms_to_ns(e->faults[f]->to_s * 1000);
        if ((rv = push(e, from, EV_FAULT_DOWN, (uint32_t)f)) != WP_OK ||
            (rv = push(e, from + e->detect_ns, EV_FAULT_SEEN_DOWN, (uint32_t)f)) != WP_OK ||
            (rv = push(e, to, EV_FAULT_UP, (uint32_t)f)) != WP_OK ||
            (rv = push(e, to + e->rejoin_ns, EV_FAULT_SEEN_UP, (uint32_t)f)) != WP_OK)
            return rv;
    }
    return WP_OK;
}

static void engine_close(engine *e)
{
    for (size_t s = 0; e->res_site && s < e->nsites; s++)
        wp_res_free(e->res_site[s]);
    free(e->res_site);
    free(e->res_exp_at);
    for (size_t c = 0; e->sends && c < e->ncities; c++)
        wp_router_sends_free(e->sends[c]);
    free(e->sends);
    for (size_t f = 0; f < e->nfaults; f++)
        free(e->fault_sites[f]);
    free(e->down);
    wp_fnpool_close(&e->env);
    free(e->fn_cdf);
    free(e->gq);
    free(e->sg);
    free(e->site_city);
    free(e->site_gpus);
    free(e->pts);
    free(e->rq);
    wp_router_view_free(e->view);
    wp_eventq_close(&e->q);
    wp_zipf_close(&e->zipf);
    wp_users_free(e->users);
    wp_topo_free(e->topo);
    free(e->city);
}

wp_sim_result *wp_sim_result_new(void)
{
    return calloc(1, sizeof(wp_sim_result));
}

void wp_sim_result_free(wp_sim_result *r)
{
    if (r) {
        free(r->tl);
        free(r->city);
        free(r->site);
    }
    free(r);
}

/* Hands the per-city figures (the cities that sent requests) and the sites
 * to the result (opt->by_city). */
static int keep_cities(engine *e)
{
    wp_sim_result *res = e->res;
    size_t n = 0;
    for (size_t i = 0; i < e->npoints; i++) {
        if (e->city[i].fig.requests == 0)
            continue;
        const wp_user_point *u = wp_users_point(e->users, i);
        wp_sim_city *c = &e->city[n++];
        if (c != &e->city[i])
            *c = e->city[i];
        snprintf(c->name, sizeof c->name, "%s", u->name);
        c->lat = u->lat;
        c->lon = u->lon;
        c->region = u->region;
    }
    res->city = e->city;
    res->ncities = n;
    e->city = NULL;
    res->site = calloc(e->nsites ? e->nsites : 1, sizeof *res->site);
    if (!res->site)
        return oom(e);
    for (size_t s = 0; s < e->nsites; s++) {
        const wp_city *c = wp_topo_city(e->topo, e->site_city[s]);
        wp_sim_site *out = &res->site[s];
        snprintf(out->name, sizeof out->name, "%s", c->name[0] ? c->name : c->code);
        out->lat = c->lat;
        out->lon = c->lon;
        out->gpus = e->site_gpus[s];
    }
    res->nsite_marks = e->nsites;
    return WP_OK;
}

static void result_init(wp_sim_result *res, const wp_sim_scenario *sc, uint64_t seed)
{
    free(res->tl);
    free(res->city);
    free(res->site);
    memset(res, 0, sizeof *res);
    snprintf(res->scenario, sizeof res->scenario, "%s", sc->name);
    wp_rtt_params_describe(&sc->rtt, res->rtt_model, sizeof res->rtt_model);
    res->seed = seed;
    for (int r = 0; r < WP_REGION_COUNT; r++) {
        wp_hist_init(&res->region[r].ttft_ns);
        wp_hist_init(&res->region[r].total_ns);
        wp_hist_init(&res->region[r].error_ns);
    }
    wp_hist_init(&res->all.ttft_ns);
    wp_hist_init(&res->all.total_ns);
    wp_hist_init(&res->all.error_ns);
}

int wp_sim_run(const wp_sim_scenario *sc, const wp_sim_options *opt, wp_sim_result *res,
               wp_err *err)
{
    if (opt->max_requests == 0 && opt->duration_s <= 0 && !opt->trace)
        return wp_errf(err, WP_EINVAL, "sim: give a request count or a duration");
    if (opt->duration_s < 0 || opt->duration_s > 1e8)
        return wp_errf(err, WP_EINVAL, "sim: duration must be 0..1e8 s");
    result_init(res, sc, opt->seed);
    engine eng, *e = &eng;
    memset(e, 0, sizeof *e);
    e->watch_r = NONE;
    e->sc = sc;
    e->opt = opt;
    e->res = res;
    e->err = err;
    e->free_rq = NONE;
    e->gen_limit = opt->max_requests ? opt->max_requests : UINT64_MAX;
    if (opt->trace && opt->trace->nrows < e->gen_limit)
        e->gen_limit = opt->trace->nrows;
    e->duration_ns = (uint64_t)(opt->duration_s * 1e9);
    wp_rng master;
    wp_rng_seed(&master, opt->seed);
    wp_rng_fork(&master, &e->rng_arrival);
    wp_rng_fork(&master, &e->rng_user);
    wp_rng_fork(&master, &e->rng_model);
    wp_rng_fork(&master, &e->rng_cold);
    wp_rng_fork(&master, &e->rng_function); /* the first four streams are unchanged */
    wp_rng_fork(&master, &e->rng_access);   /* last: the streams above are unchanged */

    int rv = wp_topo_load_preset(sc->preset, &sc->rtt, &e->topo, err);
    if (rv != WP_OK) {
        wp_err_wrap(err, "scenario %s", sc->name);
        goto out;
    }
    if ((rv = wp_users_load(e->topo, NULL, &e->users, err)) != WP_OK)
        goto out;
    e->npoints = wp_users_count(e->users);
    e->pts = calloc(e->npoints ? e->npoints : 1, sizeof *e->pts);
    if (!e->pts) {
        rv = oom(e);
        goto out;
    }
    for (size_t i = 0; i < e->npoints; i++) {
        const wp_user_point *u = wp_users_point(e->users, i);
        e->pts[i].region = (uint8_t)u->region;
        e->pts[i].lon_hours = (float)(u->lon / 15.0);
    }
    if (opt->by_city && !(e->city = calloc(e->npoints ? e->npoints : 1, sizeof *e->city))) {
        rv = oom(e);
        goto out;
    }
    if ((rv = setup_models(e)) != WP_OK || (rv = setup_functions(e)) != WP_OK)
        goto out;
    res->nmodels = e->nm;
    for (size_t m = 0; m < e->nm; m++)
        snprintf(res->model_name[m], sizeof res->model_name[m], "%s", e->prof[m]->name);
    rv = sc->serving == WP_SIM_SERVING_EDGE ? setup_edge(e) : setup_regional(e);
    if (rv != WP_OK)
        goto out;
    for (size_t s = 0; s < e->nsites; s++)
        res->gpus += e->site_gpus[s];
    res->sites = e->nsites;
    if (wp_eventq_init(&e->q, 4096) != WP_OK) {
        rv = oom(e);
        goto out;
    }
    if (opt->timeline_s < 0 || opt->timeline_s > 1e7) {
        rv = wp_errf(err, WP_EINVAL, "sim: timeline interval must be 0..1e7 s");
        goto out;
    }
    res->tl_interval_s = opt->timeline_s > 0 ? opt->timeline_s : 10;
    e->tl_ns = ms_to_ns(res->tl_interval_s * 1000);
    if (e->tl_ns == 0)
        e->tl_ns = 1;
    if (sc->serving == WP_SIM_SERVING_EDGE)
        e->deadline_ns = ms_to_ns(sc->deadline_ms);
    if ((rv = setup_faults(e)) != WP_OK || (rv = schedule_next_arrival(e)) != WP_OK)
        goto out;
    wp_event ev;
    while (wp_eventq_pop(&e->q, &ev)) {
        /* Load reports: every node's count at each tick up to now, read by
         * each ingress one-way delay later (router/load.c). */
        while (e->view && e->next_pub_ns <= ev.at_ns) {
            if (wp_router_load_publish(e->view, e->next_pub_ns) != WP_OK) {
                rv = oom(e);
                goto out;
            }
            e->next_pub_ns += e->period_ns;
            res->load_reports++;
        }
        e->now_ns = ev.at_ns;
        switch (ev.type) {
        case EV_FAULT_DOWN: rv = on_fault_down(e, ev.arg); break;
        case EV_FAULT_SEEN_DOWN: rv = on_fault_seen(e, ev.arg, false); break;
        case EV_FAULT_UP: rv = on_fault_up(e, ev.arg); break;
        case EV_FAULT_SEEN_UP: rv = on_fault_seen(e, ev.arg, true); break;
        case EV_GEN: rv = on_gen(e, ev.arg); break;
        case EV_INGRESS: rv = on_ingress(e, ev.arg); break;
        case EV_FN_ARRIVE: rv = on_fn_arrive(e, ev.arg); break;
        case EV_GPU_ARRIVE: rv = gpu_arrive(e, ev.arg); break;
        case EV_GPU_DONE: rv = on_gpu_done(e, ev.arg); break;
        case EV_LOAD_DONE: rv = on_load_done(e, ev.arg); break;
        case EV_RES_EXPIRE: rv = on_res_expire(e, ev.arg); break;
        case EV_FN_FREE: rv = on_fn_free(e, ev.arg); break;
        default: rv = wp_errf(err, WP_ESTATE, "sim: unknown event type %u", ev.type);
        }
        if (rv != WP_OK)
            goto out;
    }
    if (opt->progress)
        opt->progress(opt->progress_ctx, e->gen_count, e->gen_count);
    res->requests = e->gen_count;
    res->env_pools = e->env.nlive;
    while (res->tl_n > 0) { /* drop the empty tail of the timeline */
        const wp_sim_tl_cell *last = &res->tl[(res->tl_n - 1) * WP_REGION_COUNT];
        bool any = false;
        for (int g = 0; g < WP_REGION_COUNT; g++)
            any |= last[g].requests > 0;
        if (any)
            break;
        res->tl_n--;
    }
    res->sim_end_s = (double)e->now_ns / 1e9;
    if (res->gpus > 0 && e->now_ns > 0)
        res->gpu_busy_frac = e->gpu_busy_ms / ((double)res->gpus * (double)e->now_ns / 1e6);
    for (int r = 0; r < WP_REGION_COUNT; r++) {
        wp_sim_stats *st = &res->region[r];
        res->all.requests += st->requests;
        res->all.errors += st->errors;
        res->all.no_route += st->no_route;
        res->all.overloaded += st->overloaded;
        res->all.expired += st->expired;
        res->all.failed += st->failed;
        res->all.cold_starts += st->cold_starts;
        res->all.model_loads += st->model_loads;
        res->all.container_starts += st->container_starts;
        res->all.isolate_starts += st->isolate_starts;
        wp_hist_merge(&res->all.ttft_ns, &st->ttft_ns);
        wp_hist_merge(&res->all.total_ns, &st->total_ns);
        wp_hist_merge(&res->all.error_ns, &st->error_ns);
    }
    if (e->city)
        rv = keep_cities(e);
out:
    engine_close(e);
    return rv;
}
