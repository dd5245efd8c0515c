/* gossip_sim.c — a deterministic discrete-event run of N gossip cores over a
 * simulated WAN, for `wpctl sim gossip` and the sim tests.
 *
 * The cores are the real ones (gossip.c), exchanging real encoded frames
 * (codec.c); only the network and the clock are simulated. Events sit in a
 * binary min-heap ordered by (time, sequence number): the sequence number
 * breaks ties in insertion order, so a seed replays exactly. A frame from
 * member i to member j is dropped with probability `loss` (independently),
 * else delivered after oneway_ms[i][j]. Each member has one timer: after
 * every event the member's next deadline is read and, when it moved, a new
 * timer event is pushed; a popped timer event that no longer matches the
 * member's scheduled deadline is stale and skipped.
 *
 * The run (all simulated):
 *   1. members join one after another (5 ms apart) through member 0, each
 *      retrying every second until it knows someone; `joined_s` is when
 *      every member first sees all N alive;
 *   2. after the warm-up (max(joined, 30 s)), `trials` capacity changes,
 *      10 s apart, each on a random member: convergence is the time until
 *      ceil(99.99% of the other N - 1) members hold the new version (a
 *      killed member counts as reached); each trial is followed on its own,
 *      and one still open converge_limit_s (default 30 s) after it started,
 *      or at the end of the run, counts as unconverged;
 *   3. 5 s later one random member is killed (it stops sending, receiving
 *      and ticking): detection is the time until every live member has it
 *      dead (or left) in its view;
 *   4. the run continues to duration_s; every suspicion timer that expires
 *      on a member that is in fact alive counts as a false positive.
 * Faults (cfg->faults, for faultsim's campaign; see node.h): pauses,
 * partitions and restarts at given times, never of the killed member (it
 * is drawn among the members no pause or restart names). A false death
 * that no fault explains is counted apart (false_deaths_unfaulted), and at
 * the end every live member's view is checked against the truth
 * (views_unconverged).
 * Bounds: memory O(N^2) for the delay matrix (caller's) and O(N) cores;
 * events O(frames in flight).
 */
#include "node/node.h"
#include "topology/topology.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    EV_TIMER = 1,
    EV_DELIVER,
    EV_JOIN,
    EV_TRIAL,
    EV_KILL,
    EV_CHECK,
    EV_FAULT_ON,  /* node: the fault's index */
    EV_FAULT_OFF,
    EV_REJOIN     /* a restarted member joins through a live one */
};

typedef struct ev {
    uint64_t at;
    uint64_t seq;
    uint32_t kind;
    uint32_t node;
    uint8_t *data;
    size_t len;
} ev;

typedef struct sim sim;

typedef struct trial {
    bool open;
    uint32_t node;
    uint64_t version;
    uint64_t start;
    size_t seen_count;
} trial;

typedef struct hook_ctx {
    sim *s;
    uint32_t node;
} hook_ctx;

struct sim {
    const wp_gossip_sim_config *cfg;
    size_t n;
    wp_rng rng;
    wp_rng *node_rng;
    wp_gossip **g;
    hook_ctx *hctx;
    char (*addr)[32];
    char (*id)[24];
    uint64_t *sched;
    bool *dead;
    bool *paused; /* a PAUSE in force: no ticks, frames to it wait */
    bool *down;   /* a RESTART in progress: no ticks, frames to it lost */
    uint64_t *resume_at; /* while paused: when the pause ends */
    uint64_t *incarnation; /* of member i's current core */
    uint64_t grace_ns;     /* a fault explains deaths this long after it ends */

    wp_heap events; /* of ev, by (at, seq) */
    uint64_t evseq;
    bool oom;

    /* trials: each followed on its own until it converges or its limit */
    uint32_t n_trials;  /* started */
    trial *trials;      /* cfg->trials */
    bool *seen;         /* cfg->trials x n */
    size_t seen_target;
    uint64_t limit_ns;
    double *conv_s;
    uint32_t n_conv;
    uint32_t unconverged;

    /* kill */
    bool killed_any;
    uint32_t killed;
    uint64_t kill_at;
    bool *saw_dead;
    size_t saw_dead_count;

    bool all_joined;
    wp_gossip_sim_result *res;
};

/* ---------------------------------------------------------------- events */

static bool ev_less(const void *pa, const void *pb)
{
    const ev *a = pa, *b = pb;
    return a->at != b->at ? a->at < b->at : a->seq < b->seq;
}

static const wp_heap_kind EVENTS = {sizeof(ev), ev_less};

/* Schedules e (common/heap.c's heap; allocated on first use). On out of
 * memory the run stops (s->oom) and the frame is freed. */
static void push(sim *s, ev e)
{
    e.seq = s->evseq;
    if ((!s->events.v && wp_heap_init(&s->events, &EVENTS, 1024) != WP_OK) ||
        wp_heap_push(&s->events, &EVENTS, &e) != WP_OK) {
        s->oom = true;
        free(e.data);
        return;
    }
    s->evseq++;
}

static ev pop(sim *s)
{
    ev top;
    wp_heap_pop(&s->events, &EVENTS, &top);
    return top;
}

/* ---------------------------------------------------------------- faults */

/* Does a fault of cfg explain observer h declaring member j dead at now:
 * a pause or restart of either, or any partition (see below), active or
 * ended within the grace? */
static bool fault_explains(const sim *s, uint32_t h, uint32_t j, uint64_t now)
{
    for (size_t f = 0; f < s->cfg->n_faults; f++) {
        const wp_gossip_sim_fault *x = &s->cfg->faults[f];
        uint64_t from = (uint64_t)(x->from_s * 1e9), to = (uint64_t)(x->to_s * 1e9);
        if (now < from || now > to + s->grace_ns)
            continue;
        if (x->kind == WP_GSIM_PARTITION) {
            /* Split from h, or from anyone: the members across the cut
             * suspect j, rightly from where they stand, and after the heal
             * (or through a second, overlapping cut) their rumors reach
             * members that always saw j, whose suspicion timers (short,
             * with many confirmations) can beat j's refutation. Measured:
             * 12 of 10,000 schedules, every one within the grace after a
             * heal, h and j never split from each other. */
            (void)h;
            return true;
        } else if (x->node == h || x->node == j) {
            return true;
        }
    }
    return false;
}

/* Is member i paused or restarted by a fault of the run? */
static bool named_by_fault(const sim *s, uint32_t i)
{
    for (size_t f = 0; f < s->cfg->n_faults; f++)
        if (s->cfg->faults[f].kind != WP_GSIM_PARTITION && s->cfg->faults[f].node == i)
            return true;
    return false;
}

static bool partitioned(const sim *s, uint32_t i, uint32_t j, uint64_t now)
{
    for (size_t f = 0; f < s->cfg->n_faults; f++) {
        const wp_gossip_sim_fault *x = &s->cfg->faults[f];
        if (x->kind == WP_GSIM_PARTITION && now >= (uint64_t)(x->from_s * 1e9) &&
            now < (uint64_t)(x->to_s * 1e9) && ((x->side >> i) & 1) != ((x->side >> j) & 1))
            return true;
    }
    return false;
}

/* ---------------------------------------------------------------- plumbing */

static void hook_status(void *ctx, uint64_t now, const wp_gossip_member *m, wp_member_status old,
                        bool is_new, bool by_timer)
{
    (void)old;
    (void)is_new;
    hook_ctx *h = ctx;
    sim *s = h->s;
    unsigned j = 0;
    if (sscanf(m->id, "n%u", &j) != 1 || j >= s->n)
        return;
    if (m->status == WP_MEMBER_DEAD && by_timer && !s->dead[j]) {
        s->res->false_positives++;
        if (!fault_explains(s, h->node, j, now))
            s->res->false_deaths_unfaulted++;
    }
    if (s->killed_any && j == s->killed && m->status >= WP_MEMBER_DEAD && !s->dead[h->node] &&
        !s->saw_dead[h->node]) {
        s->saw_dead[h->node] = true;
        s->saw_dead_count++;
        if (s->saw_dead_count == s->n - 1 && !s->res->detected) {
            s->res->detected = true;
            s->res->detection_s = (double)(now - s->kill_at) / 1e9;
        }
    }
}

static void schedule(sim *s, uint32_t i, uint64_t now)
{
    if (s->dead[i] || s->paused[i] || s->down[i])
        return;
    uint64_t d = wp_gossip_next_deadline_ns(s->g[i]);
    if (d < now)
        d = now;
    if (d != s->sched[i] && d != UINT64_MAX) {
        s->sched[i] = d;
        push(s, (ev){.at = d, .kind = EV_TIMER, .node = i});
    }
}

static void flush(sim *s, uint32_t i, uint64_t now)
{
    const wp_gossip_out *o;
    size_t k = wp_gossip_outbox(s->g[i], &o);
    for (size_t x = 0; x < k; x++) {
        unsigned j;
        s->res->messages++;
        if (sscanf(o[x].to_addr, "sim:%u", &j) != 1 || j >= s->n || s->dead[j] || s->down[j])
            continue;
        if (partitioned(s, i, j, now)) {
            s->res->messages_lost++;
            continue;
        }
        if (s->cfg->loss > 0 && wp_rng_uniform(&s->rng) < s->cfg->loss) {
            s->res->messages_lost++;
            continue;
        }
        uint8_t *copy = malloc(o[x].len);
        if (!copy) {
            s->oom = true;
            continue;
        }
        memcpy(copy, o[x].data, o[x].len);
        double ms = s->cfg->oneway_ms[(size_t)i * s->n + j];
        uint64_t delay = (uint64_t)(ms * 1e6);
        push(s, (ev){.at = now + delay, .kind = EV_DELIVER, .node = j, .data = copy,
                     .len = o[x].len});
    }
    wp_gossip_outbox_clear(s->g[i]);
    schedule(s, i, now);
}

/* Member j counts for trial t once it holds the trial's version (a killed
 * member counts as reached: it cannot take part any more). */
static void trial_reach(sim *s, uint32_t t, uint32_t j, uint64_t now)
{
    trial *tr = &s->trials[t];
    bool *seen = &s->seen[(size_t)t * s->n];
    if (!tr->open || seen[j] || j == tr->node || s->down[j])
        return;
    if (!s->dead[j]) {
        const wp_gossip_member *m = wp_gossip_find(s->g[j], s->id[tr->node]);
        if (!m || m->cap.version < tr->version)
            return;
    }
    seen[j] = true;
    if (++tr->seen_count >= s->seen_target) {
        s->conv_s[s->n_conv++] = (double)(now - tr->start) / 1e9;
        tr->open = false;
    }
}

static void check_trial(sim *s, uint32_t j, uint64_t now)
{
    for (uint32_t t = 0; t < s->n_trials; t++)
        trial_reach(s, t, j, now);
}

/* Trials open past their limit are unconverged. */
static void expire_trials(sim *s, uint64_t now, bool all)
{
    for (uint32_t t = 0; t < s->n_trials; t++) {
        trial *tr = &s->trials[t];
        if (tr->open && (all || now - tr->start > s->limit_ns)) {
            tr->open = false;
            s->unconverged++;
        }
    }
}

/* Member i's core: a new one at incarnation inc, started at `start`. */
static int make_core(sim *s, uint32_t i, uint64_t start, uint64_t inc, wp_err *err)
{
    const wp_gossip_sim_config *cfg = s->cfg;
    wp_gossip_hooks hooks = {.member_status = hook_status, .ctx = &s->hctx[i]};
    wp_gossip_capacity cap;
    memset(&cap, 0, sizeof cap);
    cap.version = 1;
    cap.gpus = 1 + (uint32_t)(i % 4);
    cap.gpu_mem_free_bytes = (uint64_t)cap.gpus * 80ULL * 1024 * 1024 * 1024;
    wp_gossip_self self = {.id = s->id[i],
                           .city = cfg->cities ? cfg->cities[i] : "SIM",
                           .addr = s->addr[i],
                           .incarnation = inc,
                           .cap = &cap,
                           .auth = cfg->auth_of ? cfg->auth_of(cfg->auth_ctx, i) : NULL};
    return wp_gossip_new(&cfg->gossip, &self, start, &s->node_rng[i], NULL, &hooks, &s->g[i], err);
}

/* A live member other than i to join through (none: n). */
static uint32_t join_seed(const sim *s, uint32_t i)
{
    for (uint32_t j = 0; j < s->n; j++)
        if (j != i && !s->dead[j] && !s->down[j] && !s->paused[j])
            return j;
    return (uint32_t)s->n;
}

static void fault_on(sim *s, const wp_gossip_sim_fault *f, uint64_t now)
{
    uint32_t i = f->node;
    if (f->kind == WP_GSIM_PARTITION || i >= s->n || s->dead[i])
        return; /* a partition acts in flush() */
    if (f->kind == WP_GSIM_PAUSE) {
        s->paused[i] = true;
        s->resume_at[i] = (uint64_t)(f->to_s * 1e9);
    } else {
        s->down[i] = true;
        s->incarnation[i] = wp_gossip_self_member(s->g[i])->incarnation;
        wp_gossip_free(s->g[i]);
        s->g[i] = NULL;
    }
    s->sched[i] = 0;
    (void)now;
}

static int fault_off(sim *s, const wp_gossip_sim_fault *f, uint64_t now, wp_err *err)
{
    uint32_t i = f->node;
    if (f->kind == WP_GSIM_PARTITION || i >= s->n || s->dead[i])
        return WP_OK;
    if (f->kind == WP_GSIM_PAUSE) {
        s->paused[i] = false;
    } else if (s->down[i]) {
        int rv = make_core(s, i, now, s->incarnation[i] + 1, err);
        if (rv != WP_OK)
            return rv;
        s->down[i] = false;
        push(s, (ev){.at = now, .kind = EV_REJOIN, .node = i});
        /* The new core never knew the killed member: it is not alive in its
         * view (count_unconverged checks that it never becomes so). */
        if (s->killed_any && !s->saw_dead[i]) {
            s->saw_dead[i] = true;
            if (++s->saw_dead_count == s->n - 1 && !s->res->detected) {
                s->res->detected = true;
                s->res->detection_s = (double)(now - s->kill_at) / 1e9;
            }
        }
    }
    s->sched[i] = 0;
    schedule(s, i, now);
    return WP_OK;
}

/* At the end: pairs of live members whose views disagree with the truth
 * (a live member absent, or dead/left for more than 10 s; the killed one
 * alive or suspect). */
static uint64_t count_unconverged(const sim *s, uint64_t now)
{
    uint64_t bad = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        if (s->dead[i] || s->down[i] || !s->g[i])
            continue;
        for (uint32_t j = 0; j < s->n; j++) {
            if (j == i)
                continue;
            const wp_gossip_member *m = wp_gossip_find(s->g[i], s->id[j]);
            if (s->dead[j]) {
                bad += m && m->status <= WP_MEMBER_SUSPECT;
                continue;
            }
            if (s->down[j])
                continue;
            bad += !m || (m->status >= WP_MEMBER_DEAD &&
                          now - m->status_change_ns > 10 * WP_NS_PER_S);
        }
    }
    return bad;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---------------------------------------------------------------- run */

int wp_gossip_sim_run(const wp_gossip_sim_config *cfg, wp_gossip_sim_result *res, wp_err *err)
{
    memset(res, 0, sizeof *res);
    if (cfg->nodes < 3 || cfg->nodes > WP_GOSSIP_MAX_MEMBERS)
        return wp_errf(err, WP_EINVAL, "sim gossip: nodes must be 3..%u", WP_GOSSIP_MAX_MEMBERS);
    if (!cfg->oneway_ms)
        return wp_errf(err, WP_EINVAL, "sim gossip: no delay matrix");
    if (!(cfg->loss >= 0 && cfg->loss < 1))
        return wp_errf(err, WP_EINVAL, "sim gossip: loss must be in [0, 1)");
    if (!(cfg->duration_s >= 120 && cfg->duration_s <= 86400))
        return wp_errf(err, WP_EINVAL, "sim gossip: duration must be 120..86400 s");
    if (cfg->trials < 1 || cfg->trials > 100)
        return wp_errf(err, WP_EINVAL, "sim gossip: trials must be 1..100");
    int rv = wp_gossip_config_check(&cfg->gossip, err);
    if (rv)
        return rv;

    sim s;
    memset(&s, 0, sizeof s);
    s.cfg = cfg;
    s.n = cfg->nodes;
    s.res = res;
    res->nodes = s.n;
    res->trials = cfg->trials;
    res->suspicion_min_s = (double)wp_gossip_suspicion_min_ns(&cfg->gossip, s.n) / 1e9;
    res->suspicion_max_s = (double)wp_gossip_suspicion_max_ns(&cfg->gossip, s.n) / 1e9;
    wp_rng_seed(&s.rng, cfg->seed);
    size_t n = s.n;
    s.node_rng = calloc(n, sizeof *s.node_rng);
    s.g = calloc(n, sizeof *s.g);
    s.hctx = calloc(n, sizeof *s.hctx);
    s.addr = calloc(n, sizeof *s.addr);
    s.id = calloc(n, sizeof *s.id);
    s.sched = calloc(n, sizeof *s.sched);
    s.dead = calloc(n, sizeof *s.dead);
    s.paused = calloc(n, sizeof *s.paused);
    s.down = calloc(n, sizeof *s.down);
    s.resume_at = calloc(n, sizeof *s.resume_at);
    s.incarnation = calloc(n, sizeof *s.incarnation);
    s.grace_ns = wp_gossip_suspicion_max_ns(&cfg->gossip, n) + 5 * WP_NS_PER_S;
    s.trials = calloc(cfg->trials, sizeof *s.trials);
    s.seen = calloc(n * cfg->trials, sizeof *s.seen);
    s.limit_ns = (uint64_t)((cfg->converge_limit_s > 0 ? cfg->converge_limit_s : 30.0) * 1e9);
    s.seen_target = (size_t)ceil(0.9999 * (double)(n - 1));
    s.saw_dead = calloc(n, sizeof *s.saw_dead);
    s.conv_s = calloc(cfg->trials, sizeof *s.conv_s);
    rv = WP_OK;
    if (!s.node_rng || !s.g || !s.hctx || !s.addr || !s.id || !s.sched || !s.dead || !s.seen ||
        !s.trials || !s.saw_dead || !s.conv_s || !s.paused || !s.down || !s.resume_at ||
        !s.incarnation) {
        rv = wp_errf(err, WP_ENOMEM, "sim gossip: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(s.addr[i], sizeof s.addr[i], "sim:%zu", i);
        snprintf(s.id[i], sizeof s.id[i], "n%zu", i);
        wp_rng_fork(&s.rng, &s.node_rng[i]);
        s.hctx[i] = (hook_ctx){.s = &s, .node = (uint32_t)i};
        uint64_t start = (uint64_t)i * 5 * WP_NS_PER_MS;
        rv = make_core(&s, (uint32_t)i, start, 1, err);
        if (rv)
            goto out;
        push(&s, (ev){.at = start, .kind = EV_JOIN, .node = (uint32_t)i});
    }
    if (cfg->n_faults > WP_GOSSIP_SIM_FAULTS_MAX) {
        rv = wp_errf(err, WP_EINVAL, "sim gossip: at most %d faults", WP_GOSSIP_SIM_FAULTS_MAX);
        goto out;
    }
    for (size_t f = 0; f < cfg->n_faults; f++) {
        const wp_gossip_sim_fault *x = &cfg->faults[f];
        if (!(x->from_s >= 0 && x->to_s >= x->from_s && x->to_s <= cfg->duration_s) ||
            (x->kind != WP_GSIM_PARTITION && x->node >= n) ||
            (x->kind == WP_GSIM_PARTITION && n > 64) || x->kind < WP_GSIM_PAUSE ||
            x->kind > WP_GSIM_RESTART) {
            rv = wp_errf(err, WP_EINVAL, "sim gossip: fault %zu is out of range", f);
            goto out;
        }
        push(&s, (ev){.at = (uint64_t)(x->from_s * 1e9), .kind = EV_FAULT_ON, .node = (uint32_t)f});
        push(&s, (ev){.at = (uint64_t)(x->to_s * 1e9), .kind = EV_FAULT_OFF, .node = (uint32_t)f});
    }
    push(&s, (ev){.at = WP_NS_PER_S, .kind = EV_CHECK});
    uint64_t end = (uint64_t)(cfg->duration_s * 1e9);
    uint64_t warm_end = 0;

    while (wp_heap_len(&s.events) && !s.oom) {
        ev e = pop(&s);
        if (e.at > end) {
            free(e.data);
            break;
        }
        uint64_t now = e.at;
        res->simulated_s = (double)now / 1e9;
        expire_trials(&s, now, false);
        switch (e.kind) {
        case EV_TIMER:
            if (s.dead[e.node] || s.paused[e.node] || s.down[e.node] || s.sched[e.node] != e.at)
                break;
            s.sched[e.node] = 0;
            wp_gossip_tick(s.g[e.node], now);
            flush(&s, e.node, now);
            break;
        case EV_DELIVER:
            if (s.paused[e.node]) { /* read when the pause ends, in order */
                push(&s, (ev){.at = s.resume_at[e.node], .kind = EV_DELIVER, .node = e.node,
                              .data = e.data, .len = e.len});
                e.data = NULL;
                break;
            }
            if (!s.dead[e.node] && !s.down[e.node]) {
                wp_gossip_receive(s.g[e.node], now, e.data, e.len);
                check_trial(&s, e.node, now);
                flush(&s, e.node, now);
            }
            break;
        case EV_JOIN:
            if (s.down[e.node])
                break;
            if (e.node > 0 && wp_gossip_member_count(s.g[e.node]) <= 1) {
                const char *seed = s.addr[0];
                wp_gossip_join(s.g[e.node], now, &seed, 1);
                push(&s, (ev){.at = now + WP_NS_PER_S, .kind = EV_JOIN, .node = e.node});
            }
            flush(&s, e.node, now);
            break;
        case EV_REJOIN:
            if (!s.dead[e.node] && !s.down[e.node] && !s.paused[e.node] &&
                wp_gossip_member_count(s.g[e.node]) <= 1) {
                uint32_t j = join_seed(&s, e.node);
                if (j < n) {
                    const char *seed = s.addr[j];
                    wp_gossip_join(s.g[e.node], now, &seed, 1);
                }
                push(&s, (ev){.at = now + WP_NS_PER_S, .kind = EV_REJOIN, .node = e.node});
                flush(&s, e.node, now);
            }
            break;
        case EV_FAULT_ON:
            fault_on(&s, &cfg->faults[e.node], now);
            break;
        case EV_FAULT_OFF:
            rv = fault_off(&s, &cfg->faults[e.node], now, err);
            if (rv != WP_OK) {
                free(e.data);
                goto out;
            }
            break;
        case EV_CHECK: {
            bool all = true;
            for (size_t i = 0; i < n && all; i++)
                if (!s.g[i] || wp_gossip_count_status(s.g[i], WP_MEMBER_ALIVE) != n)
                    all = false;
            if (all || now >= 120 * WP_NS_PER_S) {
                if (all)
                    res->joined_s = (double)now / 1e9;
                s.all_joined = all;
                warm_end = now < 30 * WP_NS_PER_S ? 30 * WP_NS_PER_S : now;
                for (uint32_t t = 0; t < cfg->trials; t++)
                    push(&s, (ev){.at = warm_end + (uint64_t)t * 10 * WP_NS_PER_S,
                                  .kind = EV_TRIAL});
                push(&s, (ev){.at = warm_end + (uint64_t)cfg->trials * 10 * WP_NS_PER_S +
                                    5 * WP_NS_PER_S,
                              .kind = EV_KILL});
            } else {
                push(&s, (ev){.at = now + WP_NS_PER_S, .kind = EV_CHECK});
            }
            break;
        }
        case EV_TRIAL: {
            uint32_t x = (uint32_t)wp_rng_below(&s.rng, n);
            for (size_t k = 0; k < n && (s.dead[x] || s.paused[x] || s.down[x]); k++)
                x = (x + 1) % (uint32_t)n;
            if (s.dead[x] || s.paused[x] || s.down[x])
                break;
            const wp_gossip_member *me = wp_gossip_self_member(s.g[x]);
            wp_gossip_capacity cap = me->cap;
            cap.gpu_mem_free_bytes = cap.gpu_mem_free_bytes > WP_NS_PER_S
                                         ? cap.gpu_mem_free_bytes - WP_NS_PER_S
                                         : 80ULL << 30;
            wp_gossip_set_capacity(s.g[x], now, &cap);
            s.trials[s.n_trials++] = (trial){.open = true,
                                             .node = x,
                                             .version = wp_gossip_self_member(s.g[x])->cap.version,
                                             .start = now};
            schedule(&s, x, now);
            break;
        }
        case EV_KILL: {
            uint32_t k = (uint32_t)wp_rng_below(&s.rng, n);
            for (size_t x = 0; x < n && named_by_fault(&s, k); x++)
                k = (k + 1) % (uint32_t)n;
            if (named_by_fault(&s, k) || s.down[k])
                break;
            s.dead[k] = true;
            for (uint32_t t = 0; t < s.n_trials; t++)
                trial_reach(&s, t, k, now);
            s.killed = k;
            s.killed_any = true;
            s.kill_at = now;
            break;
        }
        }
        free(e.data);
    }
    expire_trials(&s, 0, true);
    res->views_unconverged = count_unconverged(&s, (uint64_t)(res->simulated_s * 1e9));
    if (s.oom) {
        rv = wp_errf(err, WP_ENOMEM, "sim gossip: out of memory");
        goto out;
    }
    res->trials_unconverged = s.unconverged;
    if (s.n_conv) {
        qsort(s.conv_s, s.n_conv, sizeof *s.conv_s, cmp_double);
        res->convergence_s_p50 = s.conv_s[(s.n_conv - 1) / 2];
        res->convergence_s_max = s.conv_s[s.n_conv - 1];
    } else {
        res->convergence_s_p50 = res->convergence_s_max = NAN;
    }
    if (!res->detected)
        res->detection_s = NAN;
    for (size_t i = 0; i < n; i++) {
        wp_gossip_stats st;
        if (!s.g[i])
            continue;
        wp_gossip_get_stats(s.g[i], &st);
        res->suspicions += st.suspicions;
        res->records_forged += st.records_forged;
    }
    if (!s.all_joined)
        res->joined_s = NAN;
out:
    while (wp_heap_len(&s.events)) {
        ev e = pop(&s);
        free(e.data);
    }
    wp_heap_close(&s.events);
    if (s.g)
        for (size_t i = 0; i < n; i++)
            wp_gossip_free(s.g[i]);
    free(s.g);
    free(s.node_rng);
    free(s.hctx);
    free(s.addr);
    free(s.id);
    free(s.sched);
    free(s.dead);
    free(s.paused);
    free(s.down);
    free(s.resume_at);
    free(s.incarnation);
    free(s.seen);
    free(s.trials);
    free(s.saw_dead);
    free(s.conv_s);
    return rv;
}

void wp_gossip_sim_place(const wp_topology *t, size_t n, float *oneway_ms, size_t *city_idx)
{
    size_t nc = wp_topo_count(t);
    for (size_t i = 0; i < n; i++) {
        size_t ci = n <= nc ? i * nc / n : i % nc;
        if (city_idx)
            city_idx[i] = ci;
    }
    for (size_t i = 0; i < n; i++) {
        size_t a = n <= nc ? i * nc / n : i % nc;
        const float *row = wp_topo_rtt_row(t, a);
        for (size_t j = 0; j < n; j++) {
            size_t b = n <= nc ? j * nc / n : j % nc;
            oneway_ms[i * n + j] = row[b] / 2.0f;
        }
    }
}
