/* residency.c — which models are warm on one device: a pure core.
 *
 * What: the worker's catalog of models (name, bytes), each COLD, LOADING or
 * WARM, with a FIFO queue of request ids. Events come in with the time
 * (submit, assignment, load done, batch or request done); actions go out
 * through a queue the driver drains (LOAD, UNLOAD, RUN requests, FAIL a
 * request). No
 * clock, no I/O, no allocation after wp_res_add_model except the action
 * queue's growth.
 *
 * Invariants, checked by the tests after every call:
 *  - used_bytes == sum of mem_bytes of LOADING and WARM models, and
 *    used_bytes <= capacity_bytes (a load reserves its bytes up front);
 *  - a pinned model (in placement's current assignment) is never evicted;
 *  - a model with a running batch or queued requests is never evicted;
 *  - BATCH models: at most one batch per model runs at a time; a batch
 *    holds the oldest queued requests of one model, at most max_batch;
 *  - SLOTS models: busy units (sum over running requests of their model's
 *    units) <= gpus x WP_ROUTER_GPU_UNITS; requests start in arrival order;
 *  - a failed load releases its reservation, fails only that model's
 *    queued requests, and leaves every other model as it was.
 *
 * Eviction: to make room for a model, evict WARM, unpinned, idle models in
 * least-recently-used order (ties: lower catalog index), but only after
 * checking the evictable bytes suffice — we never evict for a load that
 * still could not start. A request whose model cannot fit even with every
 * unpinned model gone fails at once (WP_ENOSPC); one that only waits for
 * busy models stays queued and is retried whenever memory frees up (a batch
 * ends, a load fails). Pinned models that could not load are retried the
 * same way.
 *
 * Two ways to run a model's requests:
 *  - BATCH (slots_per_gpu 0, the default; cpu/cuda, which compute one
 *    request after another anyway): at most one batch per model runs at a
 *    time, holding the oldest queued requests, at most max_batch of them;
 *    wp_res_batch_done ends it.
 *  - SLOTS (wp_res_set_slots with s >= 1; the TIMING MODEL): continuous
 *    batching, the simulator's arithmetic (sim/engine.c, gpu_start and
 *    gpu_drain). The device has gpus x WP_ROUTER_GPU_UNITS work units
 *    (router/router.h); a running request of a model with s slots per GPU
 *    holds WP_ROUTER_GPU_UNITS / s of them. A request starts as soon as it
 *    is the earliest waiting request of the device's warm SLOTS models (by
 *    arrival order, across models; requests of loading models wait aside)
 *    and its units fit; it ends alone (wp_res_run_done) and frees its
 *    units, and the next ones start at once. A RUN then carries the
 *    requests that started together for one model (often just one).
 *    Invariant: busy units <= capacity units.
 *    "Earliest" is by serving key: submit time + the model's priority
 *    offset (wp_res_set_priority; 0 = plain arrival order), ties by
 *    arrival. Offsets of service class x a bound serve shorter models
 *    first, a longer one waiting at most that bound longer.
 *
 * Deadlines (wp_res_submit_by): a request carries the latest time it may
 * start and still answer in time, and errors are answered as soon as they
 * are known, not when the request reaches the head:
 *  - at submit, a request of a warm SLOTS model whose predicted start is
 *    already past its start-by is refused (WP_EOVERLOAD, nothing queued;
 *    stats.refused). Predicted start: now when its units fit behind the
 *    work queued ahead of it (smaller serving key); else a replay of this
 *    core's own rule on the service estimates (wp_res_set_service): each
 *    running request ends at its start + service (run_done does not say
 *    which ended: the oldest go first), the queued ones ahead start in
 *    key order as soon as their units fit, then it does. Models without
 *    an estimate run in no time: the prediction never refuses what it
 *    cannot estimate. The work ahead of a model is a prefix of its queue
 *    (keys grow with arrival), found by bisection; the replay is
 *    O(e log e) for e running + ahead requests, and beyond RES_REPLAY_MAX
 *    of them the fluid estimate stands in (the work drained at the
 *    device's full rate, sum(units x service) / capacity);
 *  - a queued request whose start-by passes is FAILed (WP_ETIMEDOUT) at
 *    that moment: the driver calls wp_res_expire at
 *    wp_res_next_expiry_ns (a timer), O(queued requests) each;
 *  - one that reaches the head past its start-by (a driver without the
 *    timer) is FAILed there instead of run.
 * So abandoned work never holds a slot. Queues stay bounded by max_queue
 * per model (WP_EOVERLOAD beyond), which the caller sizes to deadline /
 * service time.
 *
 * Bounds: WP_RES_MAX_MODELS models; each step is O(models) (eviction picks
 * are O(models) each, at most models of them; each SLOTS start scans the
 * models once).
 */
#include "gpu_worker/gpu_worker.h"

#include <math.h>

#include "router/router.h" /* WP_ROUTER_GPU_UNITS (the macro only) */

#include <stdlib.h>
#include <string.h>

/* A queued request: its id, arrival order, serving key (arrival + the
 * model's priority offset) and the latest start that still meets its
 * deadline (UINT64_MAX: none). */
typedef struct res_qent {
    uint64_t id, seq, key_ns, start_by_ns;
} res_qent;

typedef struct res_model {
    char name[WP_NAME_MAX];
    uint64_t mem_bytes;
    int state;
    bool pinned;
    bool running;
    bool retry_blocked; /* its last load failed: no automatic retry */
    uint32_t running_n;
    uint32_t units;     /* SLOTS: WP_ROUTER_GPU_UNITS / slots; 0: BATCH */
    uint64_t last_used_ns;
    uint64_t prio_off_ns; /* SLOTS serving key offset (wp_res_set_priority) */
    uint64_t svc_ns;      /* SLOTS service estimate (wp_res_set_service); 0: none */
    double arr_rate;            /* submits per ns, decayed over RES_RATE_TAU_NS ... */
    uint64_t arr_at;            /* ... as of this time */
    uint64_t arr_first;         /* the first submit (0: none yet) */
    uint64_t *run_start;        /* SLOTS: ring of the running requests' start times, the */
    uint32_t rcap, rhead, rlen; /* oldest at rhead (rcap a power of two; rlen <= running_n,
                                 * less only if the ring could not grow) */
    res_qent *queue; /* ring of qcap entries (a power of two), grown on
                      * demand up to the one holding max_queue */
    uint32_t qcap;
    uint32_t qhead, qlen;
} res_model;

struct wp_res {
    wp_res_config cfg;
    res_model models[WP_RES_MAX_MODELS];
    size_t n_models;
    uint64_t used_bytes;
    uint64_t cap_units, busy_units; /* SLOTS models' work units */
    uint64_t next_seq;
    wp_res_action *acts; /* FIFO: acts[head .. head + n) */
    size_t acts_head, acts_n, acts_cap;
    bool oom;            /* the action queue could not grow */
    wp_res_stats stats;
    /* predicted_start's scratch: a heap of (end, units), grown on demand. */
    struct res_end *heap;
    size_t heap_cap;
};

typedef struct res_end {
    uint64_t at;
    uint64_t units;
} res_end;

#define WP_RES_MAX_QUEUE 65536u

/* A request of m starts at now: its start time joins the ring (grown by
 * doubling; when that fails the oldest entry goes: that request then
 * counts as ending now, a prediction a little early, nothing else). */
static void run_push(res_model *m, uint64_t now_ns)
{
    if (m->rlen == m->rcap) {
        uint32_t cap = m->rcap ? m->rcap * 2 : 16;
        uint64_t *n = malloc((size_t)cap * sizeof *n);
        if (n) {
            for (uint32_t k = 0; k < m->rlen; k++)
                n[k] = m->run_start[(m->rhead + k) & (m->rcap - 1)];
            free(m->run_start);
            m->run_start = n;
            m->rcap = cap;
            m->rhead = 0;
        } else if (m->rcap == 0) {
            return;
        } else {
            m->rhead = (m->rhead + 1) & (m->rcap - 1);
            m->rlen--;
        }
    }
    m->run_start[(m->rhead + m->rlen++) & (m->rcap - 1)] = now_ns;
}

/* n requests of m ended: the oldest starts go. */
static void run_pop(res_model *m, uint32_t n)
{
    if (n > m->rlen)
        n = m->rlen;
    if (m->rcap)
        m->rhead = (m->rhead + n) & (m->rcap - 1);
    m->rlen -= n;
}

static bool grow_heap(wp_res *r, size_t need)
{
    size_t cap = r->heap_cap ? r->heap_cap : 64;
    while (cap < need)
        cap *= 2;
    res_end *h = realloc(r->heap, cap * sizeof *h);
    if (!h)
        return false;
    r->heap = h;
    r->heap_cap = cap;
    return true;
}


int wp_res_new(const wp_res_config *cfg, wp_res **out, wp_err *err)
{
    *out = NULL;
    if (cfg->capacity_bytes == 0)
        return wp_errf(err, WP_EINVAL, "residency: capacity must be positive");
    if (cfg->max_batch < 1 || cfg->max_batch > WP_RES_MAX_BATCH)
        return wp_errf(err, WP_EINVAL, "residency: max_batch %u outside 1..%u",
                       (unsigned)cfg->max_batch, WP_RES_MAX_BATCH);
    if (cfg->gpus > WP_RES_MAX_GPUS)
        return wp_errf(err, WP_EINVAL, "residency: gpus %u above %u", (unsigned)cfg->gpus,
                       WP_RES_MAX_GPUS);
    if (cfg->max_queue < 1 || cfg->max_queue > WP_RES_MAX_QUEUE)
        return wp_errf(err, WP_EINVAL, "residency: max_queue %u outside 1..%u",
                       (unsigned)cfg->max_queue, WP_RES_MAX_QUEUE);
    wp_res *r = calloc(1, sizeof *r);
    if (!r)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    r->cfg = *cfg;
    r->cfg.gpus = cfg->gpus ? cfg->gpus : 1;
    r->cap_units = (uint64_t)r->cfg.gpus * WP_ROUTER_GPU_UNITS;
    *out = r;
    return WP_OK;
}

void wp_res_free(wp_res *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_models; i++) {
        free(r->models[i].queue);
        free(r->models[i].run_start);
    }
    free(r->heap);
    free(r->acts);
    free(r);
}

static res_model *find(const wp_res *r, const char *name)
{
    for (size_t i = 0; i < r->n_models; i++)
        if (strcmp(r->models[i].name, name) == 0)
            return (res_model *)&r->models[i];
    return NULL;
}

static wp_res_action *push_action(wp_res *r, int kind, const res_model *m)
{
    if (r->acts_head > 0 && r->acts_head + r->acts_n == r->acts_cap) {
        memmove(r->acts, r->acts + r->acts_head, r->acts_n * sizeof *r->acts);
        r->acts_head = 0;
    }
    if (r->acts_n == r->acts_cap) {
        size_t cap = r->acts_cap ? 2 * r->acts_cap : 16;
        wp_res_action *a = realloc(r->acts, cap * sizeof *a);
        if (!a) {
            r->oom = true;
            return NULL;
        }
        r->acts = a;
        r->acts_cap = cap;
    }
    wp_res_action *a = &r->acts[r->acts_head + r->acts_n++];
    /* Only the header is cleared: req_ids beyond n_reqs are never read. */
    a->kind = kind;
    a->model_index = (uint32_t)(m - r->models);
    a->n_reqs = 0;
    a->error = 0;
    memcpy(a->model, m->name, sizeof a->model);
    return a;
}

bool wp_res_next_action_ref(wp_res *r, const wp_res_action **out)
{
    if (r->acts_n == 0)
        return false;
    *out = &r->acts[r->acts_head];
    r->acts_head++;
    r->acts_n--;
    if (r->acts_n == 0)
        r->acts_head = 0; /* the slot stays as it is until the next push */
    return true;
}

bool wp_res_next_action(wp_res *r, wp_res_action *out)
{
    if (r->acts_n == 0)
        return false;
    *out = r->acts[r->acts_head];
    r->acts_head++;
    r->acts_n--;
    if (r->acts_n == 0)
        r->acts_head = 0;
    return true;
}

int wp_res_add_model(wp_res *r, const char *name, uint64_t mem_bytes, wp_err *err)
{
    size_t len = strlen(name);
    if (len == 0 || len >= WP_NAME_MAX)
        return wp_errf(err, WP_EINVAL, "residency: model name must be 1..%u bytes",
                       WP_NAME_MAX - 1);
    if (mem_bytes == 0)
        return wp_errf(err, WP_EINVAL, "residency: model %s has no size", name);
    if (find(r, name))
        return wp_errf(err, WP_EEXIST, "residency: model %s already in the catalog", name);
    if (r->n_models == WP_RES_MAX_MODELS)
        return wp_errf(err, WP_ETOOBIG, "residency: more than %u models", WP_RES_MAX_MODELS);
    res_model *m = &r->models[r->n_models];
    memset(m, 0, sizeof *m);
    m->qcap = 16;
    m->queue = malloc(m->qcap * sizeof *m->queue);
    if (!m->queue)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    memcpy(m->name, name, len + 1);
    m->mem_bytes = mem_bytes;
    m->state = WP_RES_COLD;
    r->n_models++;
    return WP_OK;
}

/* Bytes held by pinned models (never evictable). */
static uint64_t pinned_used(const wp_res *r)
{
    uint64_t b = 0;
    for (size_t i = 0; i < r->n_models; i++)
        if (r->models[i].pinned && r->models[i].state != WP_RES_COLD)
            b += r->models[i].mem_bytes;
    return b;
}

static bool evictable(const res_model *m)
{
    return m->state == WP_RES_WARM && !m->pinned && !m->running && m->running_n == 0 &&
           m->qlen == 0;
}

/* The oldest queued request of m could not start by its deadline. */
static void fail_head(wp_res *r, uint64_t now_ns, res_model *m)
{
    wp_res_action *a = push_action(r, WP_RES_FAIL, m);
    uint64_t id = m->queue[m->qhead].id;
    m->qhead = (m->qhead + 1) & (m->qcap - 1);
    m->qlen--;
    r->stats.requests_failed++;
    r->stats.expired++;
    if (a) {
        a->n_reqs = 1;
        a->req_ids[0] = id;
        a->error = WP_ETIMEDOUT;
    }
    (void)now_ns;
}

static void fail_queue(wp_res *r, uint64_t now_ns, res_model *m, int code)
{
    while (m->qlen > 0) {
        wp_res_action *a = push_action(r, WP_RES_FAIL, m);
        uint64_t id = m->queue[m->qhead].id;
        m->qhead = (m->qhead + 1) & (m->qcap - 1);
        m->qlen--;
        r->stats.requests_failed++;
        if (a) {
            a->n_reqs = 1;
            a->req_ids[0] = id;
            a->error = code;
        }
        WP_CORE_LOG(&r->cfg.log, WP_LOG_WARN, now_ns, "residency: request %llu for %s failed: %s",
                    (unsigned long long)id, m->name, wp_strerror(code));
    }
}

int wp_res_cancel(wp_res *r, uint64_t now_ns, uint64_t req_id)
{
    (void)now_ns;
    for (size_t i = 0; i < r->n_models; i++) {
        res_model *m = &r->models[i];
        for (uint32_t k = 0; k < m->qlen; k++) {
            uint32_t at = (m->qhead + k) & (m->qcap - 1);
            if (m->queue[at].id != req_id)
                continue;
            /* Close the gap: the entries after it move one place up. */
            for (uint32_t j = k; j + 1 < m->qlen; j++)
                m->queue[(m->qhead + j) & (m->qcap - 1)] =
                    m->queue[(m->qhead + j + 1) & (m->qcap - 1)];
            m->qlen--;
            r->stats.requests_failed++;
            wp_res_action *a = push_action(r, WP_RES_FAIL, m);
            if (a) {
                a->n_reqs = 1;
                a->req_ids[0] = req_id;
                a->error = WP_ECANCELED;
            }
            return WP_OK;
        }
    }
    return WP_ENOTFOUND;
}

/* Starts loading m (COLD) if it fits, evicting LRU idle unpinned models.
 * WP_OK: LOAD emitted. WP_EBUSY: cannot fit now, may later. WP_ENOSPC:
 * cannot fit even with every unpinned model evicted. */
static int start_load(wp_res *r, uint64_t now_ns, res_model *m)
{
    uint64_t cap = r->cfg.capacity_bytes;
    uint64_t pinned = pinned_used(r);
    if (m->mem_bytes > cap || m->mem_bytes > cap - pinned)
        return WP_ENOSPC;
    uint64_t free_b = cap - r->used_bytes, evict_b = 0;
    for (size_t i = 0; i < r->n_models; i++)
        if (evictable(&r->models[i]))
            evict_b += r->models[i].mem_bytes;
    if (free_b + evict_b < m->mem_bytes)
        return WP_EBUSY;
    while (cap - r->used_bytes < m->mem_bytes) {
        res_model *victim = NULL;
        for (size_t i = 0; i < r->n_models; i++) {
            res_model *c = &r->models[i];
            if (evictable(c) && (!victim || c->last_used_ns < victim->last_used_ns))
                victim = c;
        }
        if (!victim) /* cannot happen: evict_b covered the need */
            return WP_EBUSY;
        victim->state = WP_RES_COLD;
        r->used_bytes -= victim->mem_bytes;
        r->stats.evictions++;
        push_action(r, WP_RES_UNLOAD, victim);
        WP_CORE_LOG(&r->cfg.log, WP_LOG_INFO, now_ns, "residency: evict %s (%llu bytes)",
                    victim->name, (unsigned long long)victim->mem_bytes);
    }
    m->state = WP_RES_LOADING;
    r->used_bytes += m->mem_bytes;
    r->stats.loads++;
    push_action(r, WP_RES_LOAD, m);
    WP_CORE_LOG(&r->cfg.log, WP_LOG_INFO, now_ns, "residency: load %s (%llu bytes)", m->name,
                (unsigned long long)m->mem_bytes);
    return WP_OK;
}

/* SLOTS: starts waiting requests in arrival order while the earliest one
 * (over warm SLOTS models) fits in the free units; sim/engine.c gpu_drain. */
static void slot_drain(wp_res *r, uint64_t now_ns)
{
    bool merge = false; /* the queue's tail is a RUN pushed by this call */
    for (;;) {
        res_model *best = NULL;
        for (size_t i = 0; i < r->n_models; i++) {
            res_model *c = &r->models[i];
            if (c->units == 0 || c->state != WP_RES_WARM || c->qlen == 0)
                continue;
            const res_qent *h = &c->queue[c->qhead];
            if (!best || h->key_ns < best->queue[best->qhead].key_ns ||
                (h->key_ns == best->queue[best->qhead].key_ns &&
                 h->seq < best->queue[best->qhead].seq))
                best = c;
        }
        if (!best)
            return;
        const res_qent *head = &best->queue[best->qhead];
        if (now_ns > head->start_by_ns) { /* too late to answer in time: drop */
            fail_head(r, now_ns, best);
            continue;
        }
        if (r->busy_units + best->units > r->cap_units)
            return;
        /* Requests that start together (this call) for one model share
         * one RUN. */
        wp_res_action *a = NULL;
        if (merge && r->acts_n > 0) {
            wp_res_action *tail = &r->acts[r->acts_head + r->acts_n - 1];
            if (tail->kind == WP_RES_RUN && tail->n_reqs < r->cfg.max_batch &&
                strcmp(tail->model, best->name) == 0)
                a = tail;
        }
        if (!a) {
            a = push_action(r, WP_RES_RUN, best);
            r->stats.batches++;
            merge = a != NULL;
        }
        if (a)
            a->req_ids[a->n_reqs++] = head->id;
        best->qhead = (best->qhead + 1) & (best->qcap - 1);
        best->qlen--;
        run_push(best, now_ns);
        best->running_n++;
        best->last_used_ns = now_ns;
        r->busy_units += best->units;
    }
}

static void dispatch(wp_res *r, uint64_t now_ns, res_model *m)
{
    if (m->units) {
        slot_drain(r, now_ns);
        return;
    }
    if (m->state != WP_RES_WARM || m->running || m->qlen == 0)
        return;
    while (m->qlen > 0 && now_ns > m->queue[m->qhead].start_by_ns)
        fail_head(r, now_ns, m); /* too late to answer in time: drop */
    if (m->qlen == 0)
        return;
    wp_res_action *a = push_action(r, WP_RES_RUN, m);
    uint32_t n = m->qlen < r->cfg.max_batch ? m->qlen : r->cfg.max_batch;
    for (uint32_t i = 0; i < n; i++) {
        if (a)
            a->req_ids[i] = m->queue[m->qhead].id;
        m->qhead = (m->qhead + 1) & (m->qcap - 1);
    }
    m->qlen -= n;
    if (a)
        a->n_reqs = n;
    m->running = true;
    m->running_n = n;
    m->last_used_ns = now_ns;
    r->stats.batches++;
}

/* Retries cold models that want to be warm (pinned first, then queued). */
static void retry_pending(wp_res *r, uint64_t now_ns)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < r->n_models; i++) {
            res_model *m = &r->models[i];
            if (m->state != WP_RES_COLD || (pass == 0 ? !m->pinned : (m->pinned || !m->qlen)))
                continue;
            if (pass == 0 && m->retry_blocked)
                continue;
            int rv = start_load(r, now_ns, m);
            if (rv == WP_ENOSPC)
                fail_queue(r, now_ns, m, WP_ENOSPC);
        }
}

int wp_res_assign(wp_res *r, uint64_t now_ns, const char *const *names, size_t n, wp_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (!find(r, names[i]))
            return wp_errf(err, WP_ENOTFOUND, "residency: assigned model %s is not in the catalog",
                           names[i]);
    for (size_t i = 0; i < r->n_models; i++) {
        r->models[i].pinned = false;
        r->models[i].retry_blocked = false;
    }
    for (size_t i = 0; i < n; i++)
        find(r, names[i])->pinned = true;
    retry_pending(r, now_ns);
    return WP_OK;
}

/* Queued entries of c with a serving key <= key (keys grow along c's
 * queue: submit times do, the offset is c's own): a prefix, by bisection. */
static uint32_t queued_ahead(const res_model *c, uint64_t key)
{
    uint32_t lo = 0, hi = c->qlen;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->queue[(c->qhead + mid) & (c->qcap - 1)].key_ns <= key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Min-heap of end times (predicted_start's replay). */
static void heap_push(res_end *h, size_t *n, res_end e)
{
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2].at > e.at) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = e;
}

static res_end heap_pop(res_end *h, size_t *n)
{
    res_end top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1].at < h[c].at)
            c++;
        if (h[c].at >= last.at)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = last;
    return top;
}

/* The replay's bound: beyond it (running + queued ahead + expected
 * overtakers), the fluid estimate stands in (work / capacity). */
#define RES_REPLAY_MAX 4096u
/* Arrival rates decay over this (a model's recent submits per second). */
#define RES_RATE_TAU_NS (10ull * 1000000000ull)

/* The decayed count of c's submits as of now (per ns: sum of
 * exp(-age / tau) / tau). */
static double arr_decayed(const res_model *c, uint64_t now_ns)
{
    if (c->arr_rate <= 0 || now_ns <= c->arr_at)
        return c->arr_rate;
    return c->arr_rate * exp(-(double)(now_ns - c->arr_at) / (double)RES_RATE_TAU_NS);
}

/* Submits per ns of c as of now: the decayed count, corrected for a
 * history shorter than tau (it would read low for the first seconds of
 * traffic, just when queues form); at least 1 s of history assumed. */
static double arr_rate(const res_model *c, uint64_t now_ns)
{
    double d = arr_decayed(c, now_ns);
    if (d <= 0 || c->arr_first == 0)
        return d;
    double age = now_ns > c->arr_first ? (double)(now_ns - c->arr_first) : 0;
    if (age < 1e9)
        age = 1e9;
    return d / (1.0 - exp(-age / (double)RES_RATE_TAU_NS));
}

/* The replay of predicted_start: the running requests end at start +
 * service (the oldest first), then the queued ones ahead[] of each model
 * start in key order as their units fit, then extra[] more of each model
 * (expected overtakers), then m. Its start, or UINT64_MAX when the replay
 * cannot run (too large, or no memory for its heap). */
static uint64_t replay(wp_res *r, uint64_t now_ns, const res_model *m, const uint32_t *ahead,
                       const uint32_t *extra)
{
    size_t events = 0;
    for (size_t i = 0; i < r->n_models; i++)
        events += (size_t)r->models[i].rlen + ahead[i] + extra[i];
    if (events > RES_REPLAY_MAX || (events > r->heap_cap && !grow_heap(r, events)))
        return UINT64_MAX;
    size_t n = 0;
    uint64_t lost = 0; /* running requests the ring lost (it could not grow) end now */
    for (size_t i = 0; i < r->n_models; i++) {
        const res_model *c = &r->models[i];
        if (c->units == 0 || c->state != WP_RES_WARM)
            continue;
        lost += (uint64_t)(c->running_n - c->rlen) * c->units;
        for (uint32_t k = 0; k < c->rlen; k++) {
            uint64_t end = c->run_start[(c->rhead + k) & (c->rcap - 1)] + c->svc_ns;
            heap_push(r->heap, &n, (res_end){end > now_ns ? end : now_ns, c->units});
        }
    }
    uint64_t t = now_ns, free_units = r->cap_units - r->busy_units + lost;
    uint32_t taken[WP_RES_MAX_MODELS] = {0}, xtaken[WP_RES_MAX_MODELS] = {0};
    for (;;) {
        /* The earliest waiting among the ahead (key order; ties: the model
         * listed first), then the expected overtakers, then m. */
        const res_model *next = NULL;
        size_t ni = 0;
        uint64_t nk = UINT64_MAX;
        for (size_t i = 0; i < r->n_models; i++) {
            const res_model *c = &r->models[i];
            if (taken[i] >= ahead[i])
                continue;
            const res_qent *q = &c->queue[(c->qhead + taken[i]) & (c->qcap - 1)];
            if (!next || q->key_ns < nk) {
                next = c;
                ni = i;
                nk = q->key_ns;
            }
        }
        bool extra_one = false;
        for (size_t i = 0; !next && i < r->n_models; i++)
            if (xtaken[i] < extra[i]) {
                next = &r->models[i];
                ni = i;
                extra_one = true;
            }
        uint64_t need = next ? next->units : m->units;
        while (free_units < need && n > 0) {
            res_end e = heap_pop(r->heap, &n);
            if (e.at > t)
                t = e.at;
            free_units += e.units;
        }
        if (free_units < need) /* cannot happen: every unit in use ends */
            return UINT64_MAX;
        if (!next)
            return t;
        free_units -= next->units;
        if (extra_one)
            xtaken[ni]++;
        else
            taken[ni]++;
        heap_push(r->heap, &n, (res_end){t + next->svc_ns, next->units});
    }
}

/* The predicted start of a request of m submitted at now (the essay).
 * now when m is not a warm SLOTS model (a load, or a batch, decides). */
static uint64_t predicted_start(wp_res *r, uint64_t now_ns, const res_model *m)
{
    if (m->units == 0 || m->state != WP_RES_WARM)
        return now_ns;
    uint64_t key = now_ns + m->prio_off_ns, units = 0;
    uint32_t ahead[WP_RES_MAX_MODELS] = {0}, extra[WP_RES_MAX_MODELS] = {0};
    double work = 0; /* unit-ns, for the fluid fallback */
    for (size_t i = 0; i < r->n_models; i++) {
        const res_model *c = &r->models[i];
        if (c->units == 0 || c->state != WP_RES_WARM || c->qlen == 0)
            continue;
        ahead[i] = queued_ahead(c, key);
        units += (uint64_t)ahead[i] * c->units;
        work += (double)ahead[i] * c->units * (double)c->svc_ns;
    }
    if (r->busy_units + units + m->units <= r->cap_units)
        return now_ns;
    uint64_t at = replay(r, now_ns, m, ahead, extra);
    if (at == UINT64_MAX) {
        double wait = work / (double)r->cap_units;
        return wait >= (double)(UINT64_MAX - now_ns) ? UINT64_MAX : now_ns + (uint64_t)wait;
    }
    /* It waits: shorter classes that arrive while it does, less than their
     * offset gap after it, start first (wp_res_set_priority). As many as
     * their recent rate brings in that time join the replay. */
    bool any = false;
    for (size_t i = 0; i < r->n_models; i++) {
        const res_model *c = &r->models[i];
        if (c->units == 0 || c->state != WP_RES_WARM || c->prio_off_ns >= m->prio_off_ns)
            continue;
        uint64_t gap = m->prio_off_ns - c->prio_off_ns, win = at - now_ns;
        double x = arr_rate(c, now_ns) * (double)(win < gap ? win : gap);
        x += sqrt(x); /* Poisson arrivals: one standard deviation more */
        extra[i] = x < (double)RES_REPLAY_MAX ? (uint32_t)(x + 0.5) : RES_REPLAY_MAX;
        any |= extra[i] > 0;
    }
    if (any) {
        uint64_t at2 = replay(r, now_ns, m, ahead, extra);
        if (at2 != UINT64_MAX)
            at = at2;
    }
    return at;
}

int wp_res_submit(wp_res *r, uint64_t now_ns, const char *model, uint64_t req_id, wp_err *err)
{
    return wp_res_submit_by(r, now_ns, model, req_id, UINT64_MAX, err);
}

int wp_res_submit_by(wp_res *r, uint64_t now_ns, const char *model, uint64_t req_id,
                     uint64_t start_by_ns, wp_err *err)
{
    res_model *m = find(r, model);
    if (!m)
        return wp_errf(err, WP_ENOTFOUND, "residency: unknown model %s", model);
    m->arr_rate = arr_decayed(m, now_ns) + 1.0 / (double)RES_RATE_TAU_NS;
    if (now_ns > m->arr_at)
        m->arr_at = now_ns;
    if (m->arr_first == 0)
        m->arr_first = now_ns ? now_ns : 1;
    if (m->qlen >= r->cfg.max_queue)
        return wp_errf(err, WP_EOVERLOAD, "residency: queue of %s is full (%u)", model,
                       (unsigned)r->cfg.max_queue);
    if (start_by_ns != UINT64_MAX) {
        uint64_t at = predicted_start(r, now_ns, m);
        if (at > start_by_ns) {
            r->stats.refused++;
            return wp_errf(err, WP_EOVERLOAD,
                           "residency: %s would start in ~%.0f ms, %.0f ms after its start-by",
                           model, (double)(at - now_ns) / 1e6,
                           (double)(at - start_by_ns) / 1e6);
        }
    }
    if (m->qlen == m->qcap) { /* grow the ring, oldest first at 0 */
        res_qent *q = malloc(2 * (size_t)m->qcap * sizeof *q);
        if (!q)
            return wp_errf(err, WP_ENOMEM, "residency: out of memory queueing for %s", model);
        for (uint32_t i = 0; i < m->qlen; i++)
            q[i] = m->queue[(m->qhead + i) & (m->qcap - 1)];
        free(m->queue);
        m->queue = q;
        m->qhead = 0;
        m->qcap *= 2;
    }
    uint32_t at = (m->qhead + m->qlen) & (m->qcap - 1);
    m->queue[at].id = req_id;
    m->queue[at].seq = r->next_seq++;
    m->queue[at].key_ns = now_ns + m->prio_off_ns;
    m->queue[at].start_by_ns = start_by_ns;
    m->qlen++;
    m->last_used_ns = now_ns;
    m->retry_blocked = false;
    if (m->state == WP_RES_COLD) {
        int rv = start_load(r, now_ns, m);
        if (rv == WP_ENOSPC)
            fail_queue(r, now_ns, m, WP_ENOSPC);
    } else {
        dispatch(r, now_ns, m);
    }
    return WP_OK;
}

int wp_res_load_done(wp_res *r, uint64_t now_ns, const char *model, int code, uint64_t load_ns,
                     wp_err *err)
{
    res_model *m = find(r, model);
    if (!m)
        return wp_errf(err, WP_ENOTFOUND, "residency: unknown model %s", model);
    if (m->state != WP_RES_LOADING)
        return wp_errf(err, WP_ESTATE, "residency: %s is not loading", model);
    if (code == WP_OK) {
        m->state = WP_RES_WARM;
        m->last_used_ns = now_ns;
        r->stats.last_load_ns = load_ns;
        r->stats.total_load_ns += load_ns;
        WP_CORE_LOG(&r->cfg.log, WP_LOG_INFO, now_ns, "residency: %s warm after %.1f ms", m->name,
                    (double)load_ns / 1e6);
        dispatch(r, now_ns, m);
    } else {
        m->state = WP_RES_COLD;
        r->used_bytes -= m->mem_bytes;
        r->stats.load_failures++;
        WP_CORE_LOG(&r->cfg.log, WP_LOG_WARN, now_ns, "residency: load of %s failed: %s",
                    m->name, wp_strerror(code));
        fail_queue(r, now_ns, m, code);
        /* No retry storm: a pinned model whose load failed stays pinned but
         * is retried only on the next assignment or request for it. */
        m->retry_blocked = true;
        retry_pending(r, now_ns);
    }
    return WP_OK;
}

int wp_res_batch_done(wp_res *r, uint64_t now_ns, const char *model, wp_err *err)
{
    res_model *m = find(r, model);
    if (!m)
        return wp_errf(err, WP_ENOTFOUND, "residency: unknown model %s", model);
    if (m->units)
        return wp_res_run_done(r, now_ns, model, m->running_n, err);
    if (!m->running)
        return wp_errf(err, WP_ESTATE, "residency: %s has no batch running", model);
    m->running = false;
    m->running_n = 0;
    m->last_used_ns = now_ns;
    dispatch(r, now_ns, m);
    retry_pending(r, now_ns);
    return WP_OK;
}

int wp_res_run_done(wp_res *r, uint64_t now_ns, const char *model, uint32_t n, wp_err *err)
{
    res_model *m = find(r, model);
    if (!m)
        return wp_errf(err, WP_ENOTFOUND, "residency: unknown model %s", model);
    if (m->units == 0) {
        if (!m->running || n != m->running_n)
            return wp_errf(err, WP_ESTATE, "residency: %s runs a batch of %u, not %u", model,
                           (unsigned)m->running_n, (unsigned)n);
        return wp_res_batch_done(r, now_ns, model, err);
    }
    if (n == 0 || n > m->running_n)
        return wp_errf(err, WP_ESTATE, "residency: %s has %u requests running, not %u", model,
                       (unsigned)m->running_n, (unsigned)n);
    /* Which ones ended is not said: the oldest go (a model's requests
     * start in order and share one service estimate). */
    run_pop(m, n);
    m->running_n -= n;
    r->busy_units -= (uint64_t)n * m->units;
    m->last_used_ns = now_ns;
    slot_drain(r, now_ns);
    retry_pending(r, now_ns);
    return WP_OK;
}

int wp_res_set_slots(wp_res *r, const char *model, uint32_t slots_per_gpu, wp_err *err)
{
    res_model *m = find(r, model);
    if (!m)
        return wp_errf(err, WP_ENOTFOUND, "residency: unknown model %s", model);
    if (slots_per_gpu > WP_ROUTER_GPU_UNITS)
        return wp_errf(err, WP_EINVAL, "residency: %u slots per GPU above %u",
                       (unsigned)slots_per_gpu, WP_ROUTER_GPU_UNITS);
    if (m->running || m->running_n || m->qlen)
        return wp_errf(err, WP_ESTATE, "residency: %s is busy; set its slots while idle",
                       model);
    m->units = slots_per_gpu ? WP_ROUTER_GPU_UNITS / slots_per_gpu : 0;
    return WP_OK;
}

int wp_res_set_service(wp_res *r, const char *model, uint64_t service_ns, wp_err *err)
{
    res_model *m = find(r, model);
    if (!m)
        return wp_errf(err, WP_ENOTFOUND, "residency: unknown model %s", model);
    m->svc_ns = service_ns;
    return WP_OK;
}

void wp_res_expire(wp_res *r, uint64_t now_ns)
{
    for (size_t i = 0; i < r->n_models; i++) {
        res_model *m = &r->models[i];
        uint32_t keep = 0, n = m->qlen;
        for (uint32_t k = 0; k < n; k++) {
            res_qent e = m->queue[(m->qhead + k) & (m->qcap - 1)];
            if (now_ns > e.start_by_ns) {
                wp_res_action *a = push_action(r, WP_RES_FAIL, m);
                r->stats.requests_failed++;
                r->stats.expired++;
                if (a) {
                    a->n_reqs = 1;
                    a->req_ids[0] = e.id;
                    a->error = WP_ETIMEDOUT;
                }
                continue;
            }
            m->queue[(m->qhead + keep++) & (m->qcap - 1)] = e;
        }
        m->qlen = keep;
    }
}

uint64_t wp_res_next_expiry_ns(const wp_res *r)
{
    uint64_t at = UINT64_MAX;
    for (size_t i = 0; i < r->n_models; i++) {
        const res_model *m = &r->models[i];
        for (uint32_t k = 0; k < m->qlen; k++) {
            uint64_t by = m->queue[(m->qhead + k) & (m->qcap - 1)].start_by_ns;
            if (by < at)
                at = by;
        }
    }
    /* A request expires once the time is PAST its start-by. */
    return at == UINT64_MAX ? UINT64_MAX : at + 1;
}

int wp_res_set_priority(wp_res *r, const char *model, uint64_t offset_ns, wp_err *err)
{
    res_model *m = find(r, model);
    if (!m)
        return wp_errf(err, WP_ENOTFOUND, "residency: unknown model %s", model);
    m->prio_off_ns = offset_ns;
    return WP_OK;
}

void wp_res_fail_queued(wp_res *r, uint64_t now_ns, int code)
{
    for (size_t i = 0; i < r->n_models; i++)
        fail_queue(r, now_ns, &r->models[i], code);
}

uint64_t wp_res_capacity_units(const wp_res *r) { return r->cap_units; }
uint64_t wp_res_busy_units(const wp_res *r) { return r->busy_units; }

uint64_t wp_res_capacity_bytes(const wp_res *r) { return r->cfg.capacity_bytes; }
uint64_t wp_res_used_bytes(const wp_res *r) { return r->used_bytes; }
uint64_t wp_res_free_bytes(const wp_res *r) { return r->cfg.capacity_bytes - r->used_bytes; }

size_t wp_res_warm_models(const wp_res *r, const char **names, size_t max)
{
    /* Selection by descending last use; ties by catalog index. */
    bool taken[WP_RES_MAX_MODELS] = {false};
    size_t total = 0;
    for (size_t i = 0; i < r->n_models; i++)
        if (r->models[i].state == WP_RES_WARM)
            total++;
    for (size_t k = 0; k < max && k < total; k++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < r->n_models; i++) {
            const res_model *m = &r->models[i];
            if (m->state != WP_RES_WARM || taken[i])
                continue;
            if (best == SIZE_MAX || m->last_used_ns > r->models[best].last_used_ns)
                best = i;
        }
        taken[best] = true;
        names[k] = r->models[best].name;
    }
    return total;
}

uint32_t wp_res_queue_depth(const wp_res *r)
{
    uint32_t d = 0;
    for (size_t i = 0; i < r->n_models; i++)
        d += r->models[i].qlen + r->models[i].running_n;
    return d;
}

uint32_t wp_res_model_inflight(const wp_res *r, const char *model)
{
    const res_model *m = find(r, model);
    return m ? m->qlen + m->running_n : 0;
}

void wp_res_model_counts(const wp_res *r, const char *model, uint32_t *queued, uint32_t *running)
{
    const res_model *m = find(r, model);
    *queued = m ? m->qlen : 0;
    *running = m ? m->running_n : 0;
}

int wp_res_model_state(const wp_res *r, const char *model)
{
    const res_model *m = find(r, model);
    return m ? m->state : -1;
}

bool wp_res_model_pinned(const wp_res *r, const char *model)
{
    const res_model *m = find(r, model);
    return m && m->pinned;
}

void wp_res_get_stats(const wp_res *r, wp_res_stats *out) { *out = r->stats; }
