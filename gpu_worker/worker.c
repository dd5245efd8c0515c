/* worker.c — the live-world driver of one device: a residency core plus
 * the backend models it decides to hold.
 *
 * The core (residency.c) decides; this file executes. wp_gpu_worker_advance
 * loops until nothing is left to do at now_ns:
 *   1. drain the core's actions:
 *        LOAD   cpu/cuda: load now, measuring the cold start, and report it
 *               to the core at once; timing model: a timer at now + the
 *               profile's load time;
 *        UNLOAD free the backend model;
 *        RUN    cpu/cuda (SLOTS models too, max_batch slots on one
 *               device): each request joins the model's continuous batch
 *               (wp_gpu_seq_start) and runs from the next step; timing
 *               model (SLOTS
 *               models, continuous batching as in sim/engine.c): each
 *               request of the RUN started now, on a slot of its own; it
 *               gets ttft/total from wp_model_ttft_ms / wp_model_total_ms
 *               (via wp_gpu_timing_batch of one request) measured from now,
 *               and a timer at now + total completes it and reports its
 *               slot free (wp_res_run_done), so the next waiting request
 *               starts then, not when a whole batch is over;
 *        FAIL   complete the request with the error;
 *   (streaming, when on_progress is set: the timing model reports each
 *   request's first token by a T_FIRST timer at start + ttft; cpu/cuda
 *   report every active sequence's token count after each step)
 *   2. TIMING MODEL: fire the earliest timer due at or before now_ns (in
 *      time order, ties in the order they were set), which feeds the core,
 *      and go to 1. cpu/cuda: run ONE step (one batched forward pass) of
 *      every model with active sequences, complete the sequences that
 *      finished and free their slots (wp_res_run_done), which may start
 *      waiting requests; they join at the next step.
 *   Queued requests whose start-by passed are FAILed then (wp_res_expire
 *   at wp_res_next_expiry_ns, in time order with the timers; cpu/cuda at
 *   each call), so their ingress hears OVERLOADED at once, not when a slot
 *   frees.
 * It returns the next timer's time so the caller (libuv timer, simulator
 * event) knows when to call again; cpu/cuda return now_ns while sequences
 * are active, so the caller loops, taking new requests in between steps
 * (bounded work per call: one forward pass per model).
 *
 * Requests are kept by id until completed (a linear array: the number in
 * flight is bounded by models x max_queue). Every accepted request is
 * completed exactly once: by a batch, by a FAIL, never both.
 */
#include "gpu_worker/gpu_worker.h"

#include "router/router.h" /* WP_ROUTER_GPU_UNITS (the macro only) */

#include <stdlib.h>
#include <string.h>

typedef struct wk_model {
    char name[WP_NAME_MAX];
    char *path;                /* cpu/cuda */
    wp_model_profile profile;  /* timing model */
    wp_gpu_model *m;           /* loaded backend model, or NULL */
    wp_gpu_rate warm;          /* cpu/cuda: measured after the load */
    bool warm_ok;
} wk_model;

typedef struct wk_req {
    uint64_t id;
    wp_gen_request req;
    int32_t *tokens;
    uint64_t submit_ns;
} wk_req;

enum { T_LOAD = 1, T_REQ, T_FIRST };

typedef struct wk_timer {
    uint64_t at_ns;
    uint64_t seq;
    int kind;
    size_t model;
    uint64_t id;        /* T_REQ: the request it completes */
    wp_gen_result res;  /* T_REQ: its modelled times, from its own start */
} wk_timer;

struct wp_gpu_worker {
    wp_gpu_worker_config cfg;
    wp_res *res;
    wk_model models[WP_RES_MAX_MODELS];
    size_t n_models;
    wk_req *reqs;
    size_t n_reqs, cap_reqs;
    wk_timer *timers;
    size_t n_timers, cap_timers;
    uint64_t timer_seq;
};

int wp_gpu_worker_new(const wp_gpu_worker_config *cfg, wp_gpu_worker **out, wp_err *err)
{
    *out = NULL;
    if (cfg->kind != WP_GPU_CPU && cfg->kind != WP_GPU_CUDA && cfg->kind != WP_GPU_MODEL)
        return wp_errf(err, WP_EINVAL, "worker: unknown backend kind %d", cfg->kind);
    if (!cfg->on_done)
        return wp_errf(err, WP_EINVAL, "worker: on_done is required");
    if (cfg->kind != WP_GPU_MODEL && (cfg->max_batch < 1 || cfg->max_batch > WP_GPU_MAX_SEQS))
        return wp_errf(err, WP_EINVAL, "worker: max_batch %u outside 1..%u",
                       (unsigned)cfg->max_batch, WP_GPU_MAX_SEQS);
    if (cfg->kind == WP_GPU_CUDA && wp_gpu_cuda_device_count() <= 0)
        return wp_errf(err, WP_EUNAVAIL, "worker: cuda backend unavailable (no CUDA device)");
    wp_gpu_worker *w = calloc(1, sizeof *w);
    if (!w)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    w->cfg = *cfg;
    /* cpu/cuda: one device, one continuous batch of max_batch sequences
     * shared by its models. */
    wp_res_config rc = {.capacity_bytes = cfg->capacity_bytes,
                        .max_batch = cfg->max_batch,
                        .max_queue = cfg->max_queue,
                        .log = cfg->log,
                        .gpus = cfg->kind == WP_GPU_MODEL ? cfg->gpus : 1};
    int rv = wp_res_new(&rc, &w->res, err);
    if (rv != WP_OK) {
        free(w);
        return rv;
    }
    *out = w;
    return WP_OK;
}

void wp_gpu_worker_free(wp_gpu_worker *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_models; i++) {
        wp_gpu_model_unload(w->models[i].m);
        free(w->models[i].path);
    }
    wp_res_free(w->res);
    free(w->reqs);
    free(w->timers);
    free(w);
}

const wp_res *wp_gpu_worker_res(const wp_gpu_worker *w) { return w->res; }

static wk_model *find_model(wp_gpu_worker *w, const char *name, size_t *idx)
{
    for (size_t i = 0; i < w->n_models; i++)
        if (strcmp(w->models[i].name, name) == 0) {
            if (idx)
                *idx = i;
            return &w->models[i];
        }
    return NULL;
}

int wp_gpu_worker_add_model(wp_gpu_worker *w, const char *name, const char *path,
                            const wp_model_profile *profile, wp_err *err)
{
    if (w->n_models == WP_RES_MAX_MODELS)
        return wp_errf(err, WP_ETOOBIG, "worker: more than %u models", WP_RES_MAX_MODELS);
    wk_model *m = &w->models[w->n_models];
    memset(m, 0, sizeof *m);
    uint64_t mem;
    if (w->cfg.kind == WP_GPU_MODEL) {
        if (!profile)
            return wp_errf(err, WP_EINVAL, "worker: the TIMING MODEL needs a profile for %s", name);
        if (profile->slots_per_gpu > WP_ROUTER_GPU_UNITS)
            return wp_errf(err, WP_EINVAL, "worker: %s: %u slots per GPU above %u", name,
                           (unsigned)profile->slots_per_gpu, WP_ROUTER_GPU_UNITS);
        m->profile = *profile;
        mem = profile->size_bytes;
    } else {
        if (!path)
            return wp_errf(err, WP_EINVAL, "worker: model %s needs a checkpoint path", name);
        wp_llama_config c;
        int rv = wp_llama_read_config(path, &c, err);
        if (rv != WP_OK)
            return wp_err_wrap(err, "worker: model %s", name);
        /* Room for every sequence the batch may hold (caches are
         * allocated as sequences first use them). */
        mem = wp_llama_mem_bytes(&c) + (uint64_t)(w->cfg.max_batch - 1) * wp_llama_seq_bytes(&c);
        m->path = strdup(path);
        if (!m->path)
            return wp_errf(err, WP_ENOMEM, "out of memory");
    }
    int rv = wp_res_add_model(w->res, name, mem, err);
    if (rv != WP_OK) {
        free(m->path);
        m->path = NULL;
        return rv;
    }
    uint32_t slots = w->cfg.kind == WP_GPU_MODEL
                         ? (profile->slots_per_gpu ? profile->slots_per_gpu : 1)
                         : w->cfg.max_batch;
    rv = wp_res_set_slots(w->res, name, slots, err);
    if (rv != WP_OK) /* cannot happen: slots checked, the model is idle */
        return rv;
    /* Timing model: the profile's service at typical sizes, for the core's
     * predicted start (a request that could not start in time is refused
     * at submit). cpu/cuda: none (expiry at the start-by still applies). */
    if (w->cfg.kind == WP_GPU_MODEL) {
        double ms = wp_model_total_ms(profile, profile->typical_in_tokens,
                                      profile->typical_out_tokens);
        (void)wp_res_set_service(w->res, name, ms > 0 ? (uint64_t)(ms * 1e6) : 0, NULL);
    }
    snprintf(m->name, sizeof m->name, "%s", name);
    w->n_models++;
    return WP_OK;
}

static wk_req *find_req(wp_gpu_worker *w, uint64_t id, size_t *idx)
{
    for (size_t i = 0; i < w->n_reqs; i++)
        if (w->reqs[i].id == id) {
            if (idx)
                *idx = i;
            return &w->reqs[i];
        }
    return NULL;
}

static void drop_req(wp_gpu_worker *w, size_t idx)
{
    w->reqs[idx] = w->reqs[--w->n_reqs];
}

int wp_gpu_worker_submit(wp_gpu_worker *w, uint64_t now_ns, const char *model, uint64_t req_id,
                         const wp_gen_request *req, int32_t *tokens, wp_err *err)
{
    return wp_gpu_worker_submit_by(w, now_ns, model, req_id, req, tokens, UINT64_MAX, err);
}

int wp_gpu_worker_set_priority(wp_gpu_worker *w, const char *model, uint64_t offset_ns,
                               wp_err *err)
{
    return wp_res_set_priority(w->res, model, offset_ns, err);
}

int wp_gpu_worker_submit_by(wp_gpu_worker *w, uint64_t now_ns, const char *model,
                            uint64_t req_id, const wp_gen_request *req, int32_t *tokens,
                            uint64_t start_by_ns, wp_err *err)
{
    if (!find_model(w, model, NULL))
        return wp_errf(err, WP_ENOTFOUND, "worker: unknown model %s", model);
    if (find_req(w, req_id, NULL))
        return wp_errf(err, WP_EEXIST, "worker: request %llu already pending",
                       (unsigned long long)req_id);
    if (w->cfg.kind != WP_GPU_MODEL && !tokens)
        return wp_errf(err, WP_EINVAL, "worker: no token buffer");
    if (w->n_reqs == w->cap_reqs) {
        size_t cap = w->cap_reqs ? 2 * w->cap_reqs : 16;
        wk_req *r = realloc(w->reqs, cap * sizeof *r);
        if (!r)
            return wp_errf(err, WP_ENOMEM, "out of memory");
        w->reqs = r;
        w->cap_reqs = cap;
    }
    int rv = wp_res_submit_by(w->res, now_ns, model, req_id, start_by_ns, err);
    if (rv != WP_OK)
        return rv;
    w->reqs[w->n_reqs++] = (wk_req){req_id, *req, tokens, now_ns};
    return WP_OK;
}

int wp_gpu_worker_assign(wp_gpu_worker *w, uint64_t now_ns, const char *const *names, size_t n,
                         wp_err *err)
{
    return wp_res_assign(w->res, now_ns, names, n, err);
}

static wk_timer *add_timer(wp_gpu_worker *w)
{
    if (w->n_timers == w->cap_timers) {
        size_t cap = w->cap_timers ? 2 * w->cap_timers : 8;
        wk_timer *t = realloc(w->timers, cap * sizeof *t);
        if (!t)
            return NULL;
        w->timers = t;
        w->cap_timers = cap;
    }
    wk_timer *t = &w->timers[w->n_timers++];
    memset(t, 0, sizeof *t);
    t->seq = w->timer_seq++;
    return t;
}

static void complete(wp_gpu_worker *w, uint64_t id, int error, const wp_gen_result *res)
{
    size_t idx;
    if (!find_req(w, id, &idx))
        return;
    drop_req(w, idx);
    w->cfg.on_done(w->cfg.ctx, id, error, res);
}

static void do_load(wp_gpu_worker *w, uint64_t now_ns, size_t mi)
{
    wk_model *m = &w->models[mi];
    wp_err err;
    wp_err_clear(&err);
    if (w->cfg.kind == WP_GPU_MODEL) {
        int rv = wp_gpu_model_open_timing(&m->profile, &m->m, &err);
        wk_timer *t = rv == WP_OK ? add_timer(w) : NULL;
        if (!t) {
            wp_res_load_done(w->res, now_ns, m->name, rv == WP_OK ? WP_ENOMEM : rv, 0, NULL);
            return;
        }
        t->kind = T_LOAD;
        t->model = mi;
        t->at_ns = now_ns + wp_gpu_model_load_ns(m->m);
        return;
    }
    wp_gpu_load_opts opts = {.threads = w->cfg.threads, .max_seqs = w->cfg.max_batch};
    int rv = wp_gpu_model_load_opts(w->cfg.kind, m->path, &opts, &m->m, &err);
    if (rv != WP_OK)
        WP_CORE_LOG(&w->cfg.log, WP_LOG_WARN, now_ns, "worker: load %s: %s", m->name,
                    wp_err_text(&err));
    uint64_t load_ns = rv == WP_OK ? wp_gpu_model_load_ns(m->m) : 0;
    if (rv == WP_OK) {
        /* Warm-up: one short request through the engine, measured, before
         * any real one runs (the node's first service estimate; the
         * engine is idle right after the load). */
        uint32_t seq = wp_gpu_model_config(m->m)->seq_len;
        uint32_t np = seq >= 48 ? 16 : seq / 3 > 0 ? seq / 3 : 1;
        uint32_t st = seq >= 48 ? 8 : seq > np + 2 ? 2 : 0;
        m->warm_ok = st >= 2 && wp_gpu_measure(m->m, 1, np, st, &m->warm, &err) == WP_OK;
    }
    wp_res_load_done(w->res, now_ns + load_ns, m->name, rv, load_ns, NULL);
}

bool wp_gpu_worker_warmup(const wp_gpu_worker *w, const char *model, wp_gpu_rate *out)
{
    for (size_t i = 0; i < w->n_models; i++)
        if (strcmp(w->models[i].name, model) == 0) {
            if (!w->models[i].m || !w->models[i].warm_ok)
                return false;
            *out = w->models[i].warm;
            return true;
        }
    return false;
}

int wp_gpu_worker_cancel(wp_gpu_worker *w, uint64_t now_ns, uint64_t req_id)
{
    if (!find_req(w, req_id, NULL))
        return WP_ENOTFOUND;
    if (wp_res_cancel(w->res, now_ns, req_id) == WP_OK)
        return WP_OK; /* queued: its FAIL completes it at the next drain */
    if (w->cfg.kind != WP_GPU_MODEL) {
        for (size_t i = 0; i < w->n_models; i++)
            if (w->models[i].m && wp_gpu_seq_cancel(w->models[i].m, req_id) == WP_OK)
                return WP_OK; /* collected after the next step, slot freed then */
        return WP_ENOTFOUND;
    }
    /* Timing model: running requests are their timers. */
    size_t model = SIZE_MAX;
    for (size_t i = 0; i < w->n_timers;) {
        if (w->timers[i].id == req_id && w->timers[i].kind != T_LOAD) {
            if (w->timers[i].kind == T_REQ)
                model = w->timers[i].model;
            w->timers[i] = w->timers[--w->n_timers];
        } else {
            i++;
        }
    }
    if (model == SIZE_MAX)
        return WP_ENOTFOUND;
    complete(w, req_id, WP_ECANCELED, NULL);
    wp_res_run_done(w->res, now_ns, w->models[model].name, 1, NULL);
    return WP_OK;
}

static void do_run(wp_gpu_worker *w, uint64_t now_ns, size_t mi, const wp_res_action *a)
{
    wk_model *m = &w->models[mi];
    if (!m->m) { /* cannot happen: RUN only follows a successful load */
        for (uint32_t i = 0; i < a->n_reqs; i++)
            complete(w, a->req_ids[i], WP_ESTATE, NULL);
        wp_res_batch_done(w->res, now_ns, m->name, NULL);
        return;
    }
    if (w->cfg.kind == WP_GPU_MODEL) {
        /* Each request holds its own slot from now until now + total. */
        for (uint32_t i = 0; i < a->n_reqs; i++) {
            const wk_req *r = find_req(w, a->req_ids[i], NULL);
            if (!r) { /* cannot happen: ids stay until completed */
                wp_res_run_done(w->res, now_ns, m->name, 1, NULL);
                continue;
            }
            wp_err err;
            int rv = wp_gpu_request_check(m->m, &r->req, &err);
            wk_timer *t = rv == WP_OK ? add_timer(w) : NULL;
            if (!t) {
                complete(w, a->req_ids[i], rv == WP_OK ? WP_ENOMEM : rv, NULL);
                wp_res_run_done(w->res, now_ns, m->name, 1, NULL);
                continue;
            }
            t->kind = T_REQ;
            t->model = mi;
            t->id = r->id;
            uint32_t in = r->req.n_prompt, out = r->req.steps;
            /* A slot freed by a timer fired late never starts a request
             * before it arrived. */
            uint64_t start_ns = now_ns > r->submit_ns ? now_ns : r->submit_ns;
            t->at_ns = start_ns + wp_gpu_timing_batch(&m->profile, &in, &out, 1, &t->res);
            /* Streaming: the first token at the modelled time, through a
             * timer of its own (at equal times a T_FIRST fires before
             * any other timer, so it never follows its completion). */
            wk_timer *f = w->cfg.on_progress ? add_timer(w) : NULL;
            if (f) {
                const wk_timer *tc = &w->timers[w->n_timers - 2];
                f->kind = T_FIRST;
                f->model = mi;
                f->id = tc->id;
                f->res = tc->res;
                f->at_ns = start_ns + tc->res.ttft_ns;
            }
        }
        return;
    }
    for (uint32_t i = 0; i < a->n_reqs; i++) {
        const wk_req *r = find_req(w, a->req_ids[i], NULL);
        if (!r) { /* cannot happen: ids stay until completed */
            wp_res_run_done(w->res, now_ns, m->name, 1, NULL);
            continue;
        }
        wp_err err;
        wp_err_clear(&err);
        uint64_t id = r->id;
        int rv = wp_gpu_seq_start(m->m, &r->req, r->tokens, id, &err);
        if (rv != WP_OK) {
            WP_CORE_LOG(&w->cfg.log, WP_LOG_WARN, now_ns, "worker: request %llu: %s",
                        (unsigned long long)id, wp_err_text(&err));
            complete(w, id, rv, NULL);
            wp_res_run_done(w->res, now_ns, m->name, 1, NULL);
        }
    }
}

static void drain(wp_gpu_worker *w, uint64_t now_ns)
{
    wp_res_action a;
    while (wp_res_next_action(w->res, &a)) {
        size_t mi;
        if (!find_model(w, a.model, &mi))
            continue;
        switch (a.kind) {
        case WP_RES_LOAD:
            do_load(w, now_ns, mi);
            break;
        case WP_RES_UNLOAD:
            wp_gpu_model_unload(w->models[mi].m);
            w->models[mi].m = NULL;
            break;
        case WP_RES_RUN:
            do_run(w, now_ns, mi, &a);
            break;
        case WP_RES_FAIL:
            complete(w, a.req_ids[0], a.error, NULL);
            break;
        }
    }
}

/* cpu/cuda: one step of every model with active sequences. */
static uint64_t advance_live(wp_gpu_worker *w, uint64_t now_ns)
{
    wp_res_expire(w->res, now_ns);
    drain(w, now_ns);
    uint64_t t0 = wp_clock_monotonic_ns(), at = now_ns;
    for (size_t i = 0; i < w->n_models; i++) {
        wk_model *m = &w->models[i];
        if (!m->m || wp_gpu_active(m->m) == 0)
            continue;
        wp_err err;
        wp_err_clear(&err);
        if (wp_gpu_step(m->m, &err) != WP_OK)
            WP_CORE_LOG(&w->cfg.log, WP_LOG_WARN, now_ns, "worker: %s: %s", m->name,
                        wp_err_text(&err));
        at = now_ns + (wp_clock_monotonic_ns() - t0);
        if (w->cfg.on_progress) {
            wp_gpu_progress pg[WP_GPU_MAX_SEQS];
            size_t np = wp_gpu_seq_progress(m->m, pg, WP_GPU_MAX_SEQS);
            for (size_t k = 0; k < np; k++)
                if (pg[k].n_out > 0)
                    w->cfg.on_progress(w->cfg.ctx, pg[k].tag, pg[k].n_out, pg[k].ttft_ns);
        }
        uint64_t id;
        int e;
        wp_gen_result res;
        while (wp_gpu_seq_done(m->m, &id, &e, &res)) {
            complete(w, id, e, e == WP_OK ? &res : NULL);
            wp_res_run_done(w->res, at, m->name, 1, NULL);
        }
    }
    drain(w, at); /* freed slots admit waiting requests: they join next step */
    for (size_t i = 0; i < w->n_models; i++)
        if (w->models[i].m && wp_gpu_active(w->models[i].m) > 0)
            return now_ns;
    return wp_res_next_expiry_ns(w->res); /* queued work's start-by timer */
}

uint64_t wp_gpu_worker_advance(wp_gpu_worker *w, uint64_t now_ns)
{
    if (w->cfg.kind != WP_GPU_MODEL)
        return advance_live(w, now_ns);
    /* Actions are executed at the time of the event that emitted them: a
     * request that starts because a timer freed its slot starts at the
     * timer's time (or at its own arrival, if later), as in the simulator,
     * even when advance is called late. */
    uint64_t ev_ns = now_ns;
    for (;;) {
        drain(w, ev_ns);
        /* Queued work whose start-by passed is answered then, in time
         * order with the timers (an expiry before a timer at the same
         * time: the slot that timer frees would come too late for it). */
        uint64_t exp = wp_res_next_expiry_ns(w->res);
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < w->n_timers; i++) {
            const wk_timer *t = &w->timers[i];
            const wk_timer *b = best == SIZE_MAX ? NULL : &w->timers[best];
            if (!b || t->at_ns < b->at_ns ||
                (t->at_ns == b->at_ns && (t->kind == T_FIRST) > (b->kind == T_FIRST)) ||
                (t->at_ns == b->at_ns && (t->kind == T_FIRST) == (b->kind == T_FIRST) &&
                 t->seq < b->seq))
                best = i;
        }
        uint64_t next = best == SIZE_MAX ? UINT64_MAX : w->timers[best].at_ns;
        if (exp <= next && exp != UINT64_MAX) {
            if (exp > now_ns)
                return exp;
            ev_ns = exp > ev_ns ? exp : ev_ns;
            wp_res_expire(w->res, ev_ns);
            continue;
        }
        if (best == SIZE_MAX)
            return UINT64_MAX;
        if (w->timers[best].at_ns > now_ns)
            return w->timers[best].at_ns;
        wk_timer t = w->timers[best];
        w->timers[best] = w->timers[--w->n_timers];
        ev_ns = t.at_ns;
        wk_model *m = &w->models[t.model];
        if (t.kind == T_LOAD) {
            wp_res_load_done(w->res, t.at_ns, m->name, WP_OK, wp_gpu_model_load_ns(m->m), NULL);
        } else if (t.kind == T_FIRST) {
            if (find_req(w, t.id, NULL))
                w->cfg.on_progress(w->cfg.ctx, t.id, 1, t.res.ttft_ns);
        } else {
            complete(w, t.id, WP_OK, &t.res);
            wp_res_run_done(w->res, t.at_ns, m->name, 1, NULL);
        }
    }
}
