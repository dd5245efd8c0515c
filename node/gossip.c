/* gossip.c — the SWIM membership core with Lifeguard's refinements, carrying
 * each member's GPU capacity record. Pure: events in (a frame, a tick, a
 * command, each with now_ns), actions out (frames in the outbox, one next
 * deadline). No sockets, no clock, no globals; randomness from the caller's
 * wp_rng, so a seeded simulation replays exactly.
 *
 * What it does (SWIM, Das, Gupta & Motivala, DSN 2002):
 *  - Failure detection. Every probe interval the core pings the next member
 *    of a shuffled round-robin list (each member is probed once per round,
 *    the list is reshuffled when a round ends, as memberlist does). No ack
 *    within the probe timeout: it asks `indirect_checks` random members to
 *    ping the target for it (PING_REQ); an ack, direct or relayed, any time
 *    before the end of the probe interval saves the target. Otherwise the
 *    target becomes SUSPECT.
 *  - Suspicion and refutation. A suspect member that hears the rumour
 *    refutes it by gossiping ALIVE with a higher incarnation. Otherwise,
 *    when the suspicion timer expires, the suspecting member declares it
 *    DEAD and gossips that. Ordering at one member: a higher incarnation
 *    always wins; at equal incarnation dead > suspect > alive; DEAD and
 *    LEFT are final until the member itself returns with a higher
 *    incarnation (the daemon keeps incarnations across restarts for this).
 *  - Dissemination. Every state change the core accepts is queued for
 *    piggybacking on pings, acks and gossip frames (fanout members every
 *    gossip interval), fewest-transmitted first, each update at most
 *    retransmit_mult * ceil(log10(N + 1)) times (memberlist's
 *    TransmitLimitedQueue; the λ·log N of the SWIM paper). Frames keep to a
 *    1400-byte budget, like memberlist's UDP packets.
 *  - Anti-entropy. Every push-pull interval (scaled up above 32 members as
 *    memberlist's pushPullScale) the core exchanges its full state with one
 *    random member; joining is a push-pull with the seed addresses. A remote
 *    DEAD learnt by push-pull is taken as SUSPECT, as memberlist does.
 *  - One refinement of ours: a frame from a sender missing from our view
 *    (its alive update was spent before we were anyone's gossip target,
 *    which happens when many members start at once) triggers a push-pull
 *    with that sender, at most one per probe interval, instead of waiting
 *    up to a push-pull interval for anti-entropy.
 *  - Dead and left members still receive gossip for gossip_to_dead_ns (so a
 *    wrongly declared member learns it and refutes), then are reaped at the
 *    end of a probe round.
 *
 * Lifeguard (Dadgar, Phillips & Currey, 2018), as memberlist implements it:
 *  - Dynamic suspicion timeout: min = suspicion_mult * max(1, log10 N) *
 *    probe interval, max = suspicion_max_mult * min. A suspicion starts at
 *    max and shrinks towards min as independent confirmations (suspect
 *    rumours from distinct members other than the first) arrive:
 *      timeout(c) = max - (max - min) * log(c + 1) / log(k + 1),
 *    k = suspicion_mult - 2 expected confirmations (0 when N - 2 < k).
 *  - Local health awareness: a score in [0, awareness_max) raised by failed
 *    probes (by the number of NACKs missing from the relays; by one when no
 *    relay was asked) and by having to refute, lowered by successful
 *    probes; probe interval and probe timeout are scaled by (score + 1), so
 *    a slow member probes more gently instead of accusing others.
 *  - Buddy system: a ping to a member we suspect carries our suspect
 *    record of it, so the member hears the rumour and refutes at once.
 *    Conversely a member receiving an already-refuted rumour about itself
 *    sends its current record straight back to that sender (on the ack,
 *    or alone), so one missed refutation does not become a false death.
 *  - NACKs: a relay that gets no ack from the target within the probe
 *    timeout tells the origin so, letting it tell "target down" from "I am
 *    the one not hearing".
 *
 * Capacity: each member's record (GPUs, free GPU memory, warm models, queue
 * depth, draining) has a version only its owner increments; every other
 * member keeps the highest version it has seen, independently of status.
 * Records travel whole in every update (wire format: codec.c).
 *
 * Invariants: members[0] is this member; the id index (open addressing,
 * rebuilt on reap/reshuffle) maps every id to its slot; bq[0..n_bcast)
 * holds exactly the members with a pending broadcast and each one's bq_pos
 * points back at it; a member's incarnation never decreases; at most one
 * probe is outstanding; at most MAX_RELAYS relayed probes are remembered
 * (the oldest is dropped); the outbox holds the frames of one event only.
 * Bounds per event: broadcast selection O(pending x 64) (the best 64 are
 * kept by insertion), target choice O(k^2) expected by rejection sampling
 * (O(N) fallback), a merge O(records) with O(1) id lookups, a frame at most
 * 1400 bytes except push-pull (the full state, <= WP_FRAME_MAX_BYTES);
 * once per probe round an O(N) reap + reshuffle; N <= WP_GOSSIP_MAX_MEMBERS.
 *
 * Defaults are memberlist's DefaultLANConfig (github.com/hashicorp/memberlist,
 * config.go): probe 1 s, timeout 500 ms, gossip 200 ms, 3 gossip nodes,
 * 3 indirect checks, retransmit mult 4, suspicion mult 4, suspicion max
 * timeout mult 6, push-pull 30 s, gossip-to-the-dead 30 s, awareness max 8.
 */
#include "node/node.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RELAYS 64u

/* A pending broadcast, for ordering. */
typedef struct cand {
    uint32_t transmits;
    uint64_t bcast_seq;
    size_t idx;
} cand;

#define MAX_CONFIRM 8u

typedef struct member {
    wp_gossip_member m;
    uint64_t susp_start_ns;
    uint64_t susp_deadline_ns; /* 0: not suspected by this view */
    uint32_t susp_k;
    uint32_t n_confirm;
    uint64_t susp_first_hash;
    uint64_t confirm_hash[MAX_CONFIRM];
    bool bcast;
    uint32_t transmits;
    uint64_t bcast_seq;
    size_t bq_pos; /* index in the broadcast queue while bcast */
} member;

typedef struct relay {
    bool used;
    uint64_t seq;        /* our ping's seq */
    uint64_t origin_seq;
    uint64_t nack_at_ns;
    char origin_id[WP_NAME_MAX];
    char origin_addr[WP_GOSSIP_ADDR_MAX];
} relay;

struct wp_gossip {
    wp_gossip_config cfg;
    wp_rng *rng;
    wp_logger log;
    bool has_log;
    wp_gossip_hooks hooks;
    bool has_hooks;

    member *mem;
    size_t n, cap;
    int32_t *slots;
    size_t nslots; /* power of two, > 2 * cap */
    size_t *scratch;
    struct cand *cands;
    size_t *bq; /* indices of members with a pending broadcast (n_bcast of them) */
    uint64_t susp_next_ns; /* <= every pending suspicion deadline (may be stale-early) */

    uint64_t seq_next;
    uint64_t bcast_counter;
    size_t n_bcast;

    size_t probe_idx;
    struct {
        bool active;
        bool acked;
        bool indirect_sent;
        char target_id[WP_NAME_MAX];
        uint64_t seq;
        uint64_t timeout_at;
        uint64_t end_at;
        uint32_t expected_nacks;
        uint32_t nacks;
    } probe;
    uint64_t next_probe_at;
    uint64_t next_gossip_at;
    uint64_t next_pushpull_at;
    relay relays[MAX_RELAYS];

    uint32_t awareness;
    bool leaving;
    uint64_t last_stranger_pp_ns;
    int force_idx;       /* member record to put first in the next frame, or -1 */
    bool stale_about_me; /* the frame being handled carried an old rumour about us */
    wp_gossip_stats st;

    wp_gossip_out *out;
    size_t n_out, cap_out;
};

/* ---------------------------------------------------------------- config */

void wp_gossip_config_default(wp_gossip_config *c)
{
    memset(c, 0, sizeof *c);
    c->probe_interval_ns = 1000 * WP_NS_PER_MS;
    c->probe_timeout_ns = 500 * WP_NS_PER_MS;
    c->gossip_interval_ns = 200 * WP_NS_PER_MS;
    c->gossip_fanout = 3;
    c->indirect_checks = 3;
    c->retransmit_mult = 4;
    c->suspicion_mult = 4;
    c->suspicion_max_mult = 6;
    c->push_pull_interval_ns = 30 * WP_NS_PER_S;
    c->gossip_to_dead_ns = 30 * WP_NS_PER_S;
    c->awareness_max = 8;
}

int wp_gossip_config_check(const wp_gossip_config *c, wp_err *err)
{
    if (!c->probe_interval_ns || !c->probe_timeout_ns || !c->gossip_interval_ns ||
        !c->push_pull_interval_ns)
        return wp_errf(err, WP_EINVAL, "gossip: intervals must be positive");
    if (c->probe_timeout_ns >= c->probe_interval_ns)
        return wp_errf(err, WP_EINVAL, "gossip: probe timeout must be below the probe interval");
    if (c->gossip_fanout < 1 || c->gossip_fanout > 64)
        return wp_errf(err, WP_EINVAL, "gossip: fanout must be 1..64");
    if (c->indirect_checks > 16)
        return wp_errf(err, WP_EINVAL, "gossip: indirect checks must be 0..16");
    if (c->retransmit_mult < 1 || c->retransmit_mult > 64)
        return wp_errf(err, WP_EINVAL, "gossip: retransmit multiplier must be 1..64");
    if (c->suspicion_mult < 1 || c->suspicion_mult > 64 || c->suspicion_max_mult < 1 ||
        c->suspicion_max_mult > 64)
        return wp_errf(err, WP_EINVAL, "gossip: suspicion multipliers must be 1..64");
    if (c->awareness_max < 1 || c->awareness_max > 64)
        return wp_errf(err, WP_EINVAL, "gossip: awareness max must be 1..64");
    return WP_OK;
}

const char *wp_member_status_name(wp_member_status s)
{
    switch (s) {
    case WP_MEMBER_ALIVE: return "alive";
    case WP_MEMBER_SUSPECT: return "suspect";
    case WP_MEMBER_DEAD: return "dead";
    case WP_MEMBER_LEFT: return "left";
    }
    return "unknown";
}

uint64_t wp_gossip_suspicion_min_ns(const wp_gossip_config *c, size_t n)
{
    double nodes = n < 1 ? 1.0 : (double)n;
    double scale = log10(nodes);
    if (scale < 1.0)
        scale = 1.0;
    return (uint64_t)((double)c->suspicion_mult * scale * (double)c->probe_interval_ns);
}

uint64_t wp_gossip_suspicion_max_ns(const wp_gossip_config *c, size_t n)
{
    return (uint64_t)c->suspicion_max_mult * wp_gossip_suspicion_min_ns(c, n);
}

uint32_t wp_gossip_retransmit_limit(const wp_gossip_config *c, size_t n)
{
    return c->retransmit_mult * (uint32_t)ceil(log10((double)n + 1.0));
}

/* ---------------------------------------------------------------- index */

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static int find_idx(const wp_gossip *g, const char *id)
{
    size_t mask = g->nslots - 1;
    for (size_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
        int32_t s = g->slots[i];
        if (s < 0)
            return -1;
        if (strcmp(g->mem[s].m.id, id) == 0)
            return s;
    }
}

static void index_insert(wp_gossip *g, size_t idx)
{
    size_t mask = g->nslots - 1;
    size_t i = hash_id(g->mem[idx].m.id) & mask;
    while (g->slots[i] >= 0)
        i = (i + 1) & mask;
    g->slots[i] = (int32_t)idx;
}

static void index_rebuild(wp_gossip *g)
{
    for (size_t i = 0; i < g->nslots; i++)
        g->slots[i] = -1;
    for (size_t i = 0; i < g->n; i++)
        index_insert(g, i);
}

static int grow(wp_gossip *g)
{
    size_t ncap = g->cap ? g->cap * 2 : 16;
    if (ncap > WP_GOSSIP_MAX_MEMBERS)
        ncap = WP_GOSSIP_MAX_MEMBERS;
    if (ncap <= g->cap)
        return WP_ENOSPC;
    member *nm = realloc(g->mem, ncap * sizeof *nm);
    if (!nm)
        return WP_ENOMEM;
    g->mem = nm;
    size_t *ns = realloc(g->scratch, ncap * sizeof *ns);
    if (!ns)
        return WP_ENOMEM;
    g->scratch = ns;
    struct cand *nca = realloc(g->cands, ncap * sizeof *nca);
    if (!nca)
        return WP_ENOMEM;
    g->cands = nca;
    size_t *nbq = realloc(g->bq, ncap * sizeof *nbq);
    if (!nbq)
        return WP_ENOMEM;
    g->bq = nbq;
    size_t nslots = 1;
    while (nslots <= 2 * ncap)
        nslots <<= 1;
    int32_t *sl = realloc(g->slots, nslots * sizeof *sl);
    if (!sl)
        return WP_ENOMEM;
    g->slots = sl;
    g->nslots = nslots;
    g->cap = ncap;
    index_rebuild(g);
    return WP_OK;
}

/* ---------------------------------------------------------------- helpers */

static size_t live_count(const wp_gossip *g)
{
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++)
        if (g->mem[i].m.status <= WP_MEMBER_SUSPECT)
            k++;
    return k;
}

static uint64_t scaled(const wp_gossip *g, uint64_t t)
{
    return t * (uint64_t)(g->awareness + 1);
}

static void awareness_delta(wp_gossip *g, int d)
{
    int64_t a = (int64_t)g->awareness + d;
    if (a < 0)
        a = 0;
    if (a > (int64_t)g->cfg.awareness_max - 1)
        a = (int64_t)g->cfg.awareness_max - 1;
    g->awareness = (uint32_t)a;
}

static void bq_rebuild(wp_gossip *g)
{
    g->n_bcast = 0;
    for (size_t i = 0; i < g->n; i++)
        if (g->mem[i].bcast) {
            g->mem[i].bq_pos = g->n_bcast;
            g->bq[g->n_bcast++] = i;
        }
}

static void bq_remove(wp_gossip *g, size_t idx)
{
    member *x = &g->mem[idx];
    size_t pos = x->bq_pos;
    size_t last = g->bq[--g->n_bcast];
    g->bq[pos] = last;
    g->mem[last].bq_pos = pos;
    x->bcast = false;
}

static void queue_bcast(wp_gossip *g, size_t idx)
{
    member *x = &g->mem[idx];
    if (!x->bcast) {
        x->bq_pos = g->n_bcast;
        g->bq[g->n_bcast++] = idx;
    }
    x->bcast = true;
    x->transmits = 0;
    x->bcast_seq = ++g->bcast_counter;
}

static void notify(wp_gossip *g, uint64_t now, size_t idx, wp_member_status old, bool is_new,
                   bool by_timer)
{
    g->mem[idx].m.status_change_ns = now;
    if (g->has_hooks && g->hooks.member_status)
        g->hooks.member_status(g->hooks.ctx, now, &g->mem[idx].m, old, is_new, by_timer);
    WP_CORE_LOG(g->has_log ? &g->log : NULL, WP_LOG_INFO, now, "%s: member %s is %s (inc %llu)",
                g->mem[0].m.id, g->mem[idx].m.id, wp_member_status_name(g->mem[idx].m.status),
                (unsigned long long)g->mem[idx].m.incarnation);
}

static size_t record_estimate(const wp_gossip_member *m)
{
    size_t s = 64 + strlen(m->id) + strlen(m->city) + strlen(m->addr) + strlen(m->status_from);
    for (uint32_t w = 0; w < m->cap.n_warm && w < WP_GOSSIP_MAX_WARM; w++)
        s += strlen(m->cap.warm[w]) + 2;
    return s;
}

/* Fewest transmissions first, then the newest update. */
static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->transmits != y->transmits)
        return x->transmits < y->transmits ? -1 : 1;
    if (x->bcast_seq != y->bcast_seq)
        return x->bcast_seq > y->bcast_seq ? -1 : 1;
    return 0;
}

/* Encodes and queues one frame. Piggybacks pending broadcasts within the
 * packet budget unless full_state (push-pull: every member). */
static void send_frame(wp_gossip *g, uint64_t now, const char *to_addr, const char *to_id,
                       uint32_t type, uint64_t seq, const char *target_id,
                       const char *target_addr, bool full_state, bool only_self)
{
    (void)now;
    if (!to_addr || !to_addr[0])
        return;
    if (g->n_out == g->cap_out) {
        size_t nc = g->cap_out ? g->cap_out * 2 : 16;
        wp_gossip_out *no = realloc(g->out, nc * sizeof *no);
        if (!no)
            return;
        g->out = no;
        g->cap_out = nc;
    }
    wp_gossip_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = type;
    msg.seq = seq;
    snprintf(msg.from_id, sizeof msg.from_id, "%s", g->mem[0].m.id);
    snprintf(msg.from_addr, sizeof msg.from_addr, "%s", g->mem[0].m.addr);
    snprintf(msg.target_id, sizeof msg.target_id, "%s", target_id ? target_id : "");
    snprintf(msg.target_addr, sizeof msg.target_addr, "%s", target_addr ? target_addr : "");

    const wp_gossip_member *recs_small[64];
    const wp_gossip_member **recs = recs_small;
    size_t nrec = 0;
    if (full_state) {
        recs = malloc((g->n ? g->n : 1) * sizeof *recs);
        if (!recs)
            return;
        for (size_t i = 0; i < g->n && i < WP_MSG_MAX_ARRAY; i++)
            recs[nrec++] = &g->mem[i].m;
    } else if (only_self) {
        recs[nrec++] = &g->mem[0].m;
    }
    if (!full_state && !only_self && g->force_idx >= 0 && (size_t)g->force_idx < g->n)
        recs[nrec++] = &g->mem[g->force_idx].m;
    if (!full_state && !only_self && g->n_bcast) {
        /* The best WP_ARRAY_LEN(recs_small) pending broadcasts, kept sorted
         * by insertion: O(pending) per frame, not a full sort. */
        size_t nc = 0;
        const size_t keep = WP_ARRAY_LEN(recs_small);
        for (size_t q = 0; q < g->n_bcast; q++) {
            size_t i = g->bq[q];
            cand c = {g->mem[i].transmits, g->mem[i].bcast_seq, i};
            if (nc == keep && cmp_cand(&c, &g->cands[nc - 1]) >= 0)
                continue;
            size_t j = nc < keep ? nc++ : nc - 1;
            while (j > 0 && cmp_cand(&c, &g->cands[j - 1]) < 0) {
                g->cands[j] = g->cands[j - 1];
                j--;
            }
            g->cands[j] = c;
        }
        size_t budget = WP_GOSSIP_PACKET_BYTES;
        size_t used = 32 + strlen(msg.from_id) + strlen(msg.from_addr) + strlen(msg.target_id) +
                      strlen(msg.target_addr);
        uint32_t limit = wp_gossip_retransmit_limit(&g->cfg, g->n);
        for (size_t k = 0; k < nc && nrec < WP_ARRAY_LEN(recs_small); k++) {
            member *x = &g->mem[g->cands[k].idx];
            if ((int)g->cands[k].idx == g->force_idx)
                continue; /* already in */
            size_t est = record_estimate(&x->m);
            if (used + est > budget)
                continue;
            used += est;
            recs[nrec++] = &x->m;
            if (++x->transmits >= limit)
                bq_remove(g, g->cands[k].idx);
        }
    }
    if (type == WP_GMSG_GOSSIP && nrec == 0)
        return;
    wp_gossip_out *o = &g->out[g->n_out];
    wp_err err;
    int rv = wp_gossip_msg_encode(&msg, recs, nrec, &o->data, &o->len, &err);
    if (recs != recs_small)
        free(recs);
    if (rv)
        return;
    snprintf(o->to_addr, sizeof o->to_addr, "%s", to_addr);
    snprintf(o->to_id, sizeof o->to_id, "%s", to_id ? to_id : "");
    g->n_out++;
    g->st.frames_out++;
    g->st.bytes_out += o->len;
}

/* Picks up to k random members (not self, not in `skip`) that pass the
 * filter; returns how many, indices in g->scratch[0..]. */
static bool pickable(const wp_gossip *g, uint64_t now, size_t i, bool allow_recent_dead)
{
    const member *x = &g->mem[i];
    return x->m.status <= WP_MEMBER_SUSPECT ||
           (allow_recent_dead && now - x->m.status_change_ns < g->cfg.gossip_to_dead_ns);
}

static size_t pick_random(wp_gossip *g, uint64_t now, size_t k, int skip, bool allow_recent_dead)
{
    size_t pool = g->n - 1;
    if (k == 0 || pool == 0)
        return 0;
    /* Large view: rejection sampling, O(k^2) expected; falls back to the
     * scan below when too many draws are refused. */
    if (pool > 4 * k + 8) {
        size_t got = 0;
        for (size_t tries = 0; got < k && tries < 8 * k + 32; tries++) {
            size_t i = 1 + (size_t)wp_rng_below(g->rng, pool);
            if ((int)i == skip || !pickable(g, now, i, allow_recent_dead))
                continue;
            bool dup = false;
            for (size_t d = 0; d < got && !dup; d++)
                dup = g->scratch[d] == i;
            if (!dup)
                g->scratch[got++] = i;
        }
        if (got == k)
            return k;
    }
    size_t nc = 0;
    for (size_t i = 1; i < g->n; i++) {
        if ((int)i == skip)
            continue;
        if (pickable(g, now, i, allow_recent_dead))
            g->scratch[nc++] = i;
    }
    if (k > nc)
        k = nc;
    for (size_t i = 0; i < k; i++) {
        size_t j = i + (size_t)wp_rng_below(g->rng, nc - i);
        size_t t = g->scratch[i];
        g->scratch[i] = g->scratch[j];
        g->scratch[j] = t;
    }
    return k;
}

/* ---------------------------------------------------------------- suspicion */

static uint64_t susp_timeout(const wp_gossip *g, const member *x)
{
    uint64_t lo = wp_gossip_suspicion_min_ns(&g->cfg, g->n);
    uint64_t hi = wp_gossip_suspicion_max_ns(&g->cfg, g->n);
    if (x->susp_k == 0)
        return lo;
    double frac = log((double)x->n_confirm + 1.0) / log((double)x->susp_k + 1.0);
    double t = (double)hi - frac * (double)(hi - lo);
    if (t < (double)lo)
        t = (double)lo;
    return (uint64_t)t;
}

static void start_suspicion(wp_gossip *g, uint64_t now, member *x, const char *from)
{
    uint32_t k = g->cfg.suspicion_mult >= 2 ? g->cfg.suspicion_mult - 2 : 0;
    if (g->n < 2 || g->n - 2 < k)
        k = 0;
    x->susp_k = k;
    x->n_confirm = 0;
    x->susp_first_hash = hash_id(from);
    x->susp_start_ns = now;
    x->susp_deadline_ns = now + susp_timeout(g, x);
    if (x->susp_deadline_ns == 0)
        x->susp_deadline_ns = 1;
    if (x->susp_deadline_ns < g->susp_next_ns)
        g->susp_next_ns = x->susp_deadline_ns;
}

/* A suspect rumour from `from` about an already suspected member: true if
 * it is a new independent confirmation (the timeout then shrinks). */
static bool confirm_suspicion(wp_gossip *g, member *x, const char *from)
{
    if (!x->susp_deadline_ns || x->n_confirm >= x->susp_k || x->n_confirm >= MAX_CONFIRM)
        return false;
    uint64_t h = hash_id(from);
    if (h == x->susp_first_hash)
        return false;
    for (uint32_t i = 0; i < x->n_confirm; i++)
        if (x->confirm_hash[i] == h)
            return false;
    x->confirm_hash[x->n_confirm++] = h;
    x->susp_deadline_ns = x->susp_start_ns + susp_timeout(g, x);
    if (x->susp_deadline_ns < g->susp_next_ns)
        g->susp_next_ns = x->susp_deadline_ns;
    return true;
}

/* ---------------------------------------------------------------- merge */

static void refute(wp_gossip *g, uint64_t now, uint64_t their_inc)
{
    member *self = &g->mem[0];
    if (their_inc >= self->m.incarnation)
        self->m.incarnation = their_inc + 1;
    self->m.status = WP_MEMBER_ALIVE;
    self->m.status_from[0] = '\0';
    g->st.refutations++;
    awareness_delta(g, 1);
    queue_bcast(g, 0);
    WP_CORE_LOG(g->has_log ? &g->log : NULL, WP_LOG_INFO, now,
                "%s: refuting a rumour, incarnation now %llu", self->m.id,
                (unsigned long long)self->m.incarnation);
}

static int add_member(wp_gossip *g, const wp_gossip_member *r)
{
    if (g->n == g->cap) {
        int rv = grow(g);
        if (rv)
            return -1;
    }
    size_t idx = g->n++;
    member *x = &g->mem[idx];
    memset(x, 0, sizeof *x);
    x->m = *r;
    index_insert(g, idx);
    return (int)idx;
}

static void merge_record(wp_gossip *g, uint64_t now, const wp_gossip_member *r_in,
                         bool from_push_pull, const char *sender)
{
    wp_gossip_member r = *r_in;
    if (r.cap.n_warm > WP_GOSSIP_MAX_WARM)
        r.cap.n_warm = WP_GOSSIP_MAX_WARM;
    if (from_push_pull && r.status == WP_MEMBER_DEAD) {
        r.status = WP_MEMBER_SUSPECT;
        snprintf(r.status_from, sizeof r.status_from, "%s", sender);
    }
    if (!r.status_from[0])
        snprintf(r.status_from, sizeof r.status_from, "%s", sender);
    member *self = &g->mem[0];
    if (strcmp(r.id, self->m.id) == 0) {
        if (g->leaving)
            return;
        if (r.status != WP_MEMBER_ALIVE && r.incarnation >= self->m.incarnation)
            refute(g, now, r.incarnation);
        else if (r.status != WP_MEMBER_ALIVE)
            g->stale_about_me = true; /* already refuted; the sender missed it */
        else if (r.status == WP_MEMBER_ALIVE && r.incarnation > self->m.incarnation)
            refute(g, now, r.incarnation); /* an older life of ours claims more */
        return;
    }
    int idx = find_idx(g, r.id);
    if (idx < 0) {
        if (r.status != WP_MEMBER_ALIVE)
            return; /* memberlist ignores suspect/dead rumours about strangers */
        r.status_from[0] = '\0';
        idx = add_member(g, &r);
        if (idx < 0)
            return;
        queue_bcast(g, (size_t)idx);
        notify(g, now, (size_t)idx, WP_MEMBER_ALIVE, true, false);
        return;
    }
    member *x = &g->mem[idx];
    bool changed = false;
    if (r.cap.version > x->m.cap.version) {
        x->m.cap = r.cap;
        changed = true;
    }
    wp_member_status old = x->m.status;
    bool status_changed = false;
    switch (r.status) {
    case WP_MEMBER_ALIVE:
        if (r.incarnation > x->m.incarnation) {
            x->m.incarnation = r.incarnation;
            x->m.status = WP_MEMBER_ALIVE;
            x->m.status_from[0] = '\0';
            snprintf(x->m.addr, sizeof x->m.addr, "%s", r.addr);
            snprintf(x->m.city, sizeof x->m.city, "%s", r.city);
            x->susp_deadline_ns = 0;
            changed = true;
            status_changed = old != WP_MEMBER_ALIVE;
        }
        break;
    case WP_MEMBER_SUSPECT:
        if (r.incarnation < x->m.incarnation)
            break;
        if (x->m.status == WP_MEMBER_SUSPECT && r.incarnation > x->m.incarnation) {
            /* A suspicion of a newer life: the old one was refuted (we
             * just have not heard the refutation yet). Start afresh. */
            x->m.incarnation = r.incarnation;
            snprintf(x->m.status_from, sizeof x->m.status_from, "%s", r.status_from);
            start_suspicion(g, now, x, r.status_from);
            changed = true;
        } else if (x->m.status == WP_MEMBER_SUSPECT) {
            if (confirm_suspicion(g, x, r.status_from)) {
                snprintf(x->m.status_from, sizeof x->m.status_from, "%s", r.status_from);
                changed = true;
            }
        } else if (x->m.status == WP_MEMBER_ALIVE) {
            x->m.incarnation = r.incarnation;
            x->m.status = WP_MEMBER_SUSPECT;
            snprintf(x->m.status_from, sizeof x->m.status_from, "%s", r.status_from);
            start_suspicion(g, now, x, r.status_from);
            changed = true;
            status_changed = true;
        }
        break;
    case WP_MEMBER_DEAD:
    case WP_MEMBER_LEFT:
        if (r.incarnation < x->m.incarnation)
            break;
        if (x->m.status == WP_MEMBER_DEAD || x->m.status == WP_MEMBER_LEFT)
            break;
        x->m.incarnation = r.incarnation;
        x->m.status = r.status;
        snprintf(x->m.status_from, sizeof x->m.status_from, "%s", r.status_from);
        x->susp_deadline_ns = 0;
        changed = true;
        status_changed = true;
        break;
    }
    if (changed)
        queue_bcast(g, (size_t)idx);
    if (status_changed)
        notify(g, now, (size_t)idx, old, false, false);
}

/* ---------------------------------------------------------------- lifecycle */

int wp_gossip_new(const wp_gossip_config *cfg, const wp_gossip_self *self, uint64_t now_ns,
                  wp_rng *rng, const wp_logger *log, const wp_gossip_hooks *hooks,
                  wp_gossip **out, wp_err *err)
{
    *out = NULL;
    wp_gossip_config dflt;
    if (!cfg) {
        wp_gossip_config_default(&dflt);
        cfg = &dflt;
    }
    int rv = wp_gossip_config_check(cfg, err);
    if (rv)
        return rv;
    if (!self || !self->id || !self->id[0] || strlen(self->id) >= WP_NAME_MAX)
        return wp_errf(err, WP_EINVAL, "gossip: member id must be 1..%u bytes", WP_NAME_MAX - 1);
    if (!self->addr || strlen(self->addr) >= WP_GOSSIP_ADDR_MAX)
        return wp_errf(err, WP_EINVAL, "gossip: bad address");
    if (!self->city || strlen(self->city) >= WP_GOSSIP_CITY_MAX)
        return wp_errf(err, WP_EINVAL, "gossip: bad city code");
    if (!rng)
        return wp_errf(err, WP_EINVAL, "gossip: an rng is required");
    wp_gossip *g = calloc(1, sizeof *g);
    if (!g)
        return wp_errf(err, WP_ENOMEM, "gossip: out of memory");
    g->cfg = *cfg;
    g->rng = rng;
    if (log) {
        g->log = *log;
        g->has_log = true;
    }
    if (hooks) {
        g->hooks = *hooks;
        g->has_hooks = true;
    }
    if (grow(g)) {
        wp_gossip_free(g);
        return wp_errf(err, WP_ENOMEM, "gossip: out of memory");
    }
    wp_gossip_member me;
    memset(&me, 0, sizeof me);
    snprintf(me.id, sizeof me.id, "%s", self->id);
    snprintf(me.city, sizeof me.city, "%s", self->city);
    snprintf(me.addr, sizeof me.addr, "%s", self->addr);
    me.incarnation = self->incarnation;
    me.status = WP_MEMBER_ALIVE;
    me.status_change_ns = now_ns;
    if (self->cap)
        me.cap = *self->cap;
    if (me.cap.n_warm > WP_GOSSIP_MAX_WARM)
        me.cap.n_warm = WP_GOSSIP_MAX_WARM;
    add_member(g, &me);
    g->seq_next = wp_rng_u64(rng) >> 16;
    g->susp_next_ns = UINT64_MAX;
    g->force_idx = -1;
    /* Spread the first timers over one interval so members started together
     * do not probe in lock step. */
    g->next_probe_at = now_ns + wp_rng_below(rng, cfg->probe_interval_ns) + 1;
    g->next_gossip_at = now_ns + wp_rng_below(rng, cfg->gossip_interval_ns) + 1;
    g->next_pushpull_at = now_ns + cfg->push_pull_interval_ns +
                          wp_rng_below(rng, cfg->push_pull_interval_ns);
    *out = g;
    return WP_OK;
}

void wp_gossip_free(wp_gossip *g)
{
    if (!g)
        return;
    wp_gossip_outbox_clear(g);
    free(g->out);
    free(g->mem);
    free(g->slots);
    free(g->scratch);
    free(g->cands);
    free(g->bq);
    free(g);
}

size_t wp_gossip_outbox(wp_gossip *g, const wp_gossip_out **out)
{
    *out = g->out;
    return g->n_out;
}

void wp_gossip_outbox_clear(wp_gossip *g)
{
    for (size_t i = 0; i < g->n_out; i++)
        free(g->out[i].data);
    g->n_out = 0;
}

size_t wp_gossip_member_count(const wp_gossip *g) { return g->n; }

const wp_gossip_member *wp_gossip_member_at(const wp_gossip *g, size_t i)
{
    return i < g->n ? &g->mem[i].m : NULL;
}

const wp_gossip_member *wp_gossip_find(const wp_gossip *g, const char *id)
{
    int i = find_idx(g, id);
    return i < 0 ? NULL : &g->mem[i].m;
}

const wp_gossip_member *wp_gossip_find_addr(const wp_gossip *g, const char *addr)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->mem[i].m.addr, addr) == 0)
            return &g->mem[i].m;
    return NULL;
}

const wp_gossip_member *wp_gossip_self_member(const wp_gossip *g) { return &g->mem[0].m; }

void wp_gossip_get_stats(const wp_gossip *g, wp_gossip_stats *out)
{
    *out = g->st;
    out->awareness = g->awareness;
}

size_t wp_gossip_count_status(const wp_gossip *g, wp_member_status s)
{
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++)
        if (g->mem[i].m.status == s)
            k++;
    return k;
}

/* ---------------------------------------------------------------- commands */

void wp_gossip_join(wp_gossip *g, uint64_t now_ns, const char *const *addrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!addrs[i] || strcmp(addrs[i], g->mem[0].m.addr) == 0)
            continue;
        send_frame(g, now_ns, addrs[i], "", WP_GMSG_PUSH_PULL, 0, "", "", true, false);
        g->st.push_pulls++;
    }
}

void wp_gossip_set_capacity(wp_gossip *g, uint64_t now_ns, const wp_gossip_capacity *cap)
{
    (void)now_ns;
    uint64_t v = g->mem[0].m.cap.version;
    g->mem[0].m.cap = *cap;
    if (g->mem[0].m.cap.n_warm > WP_GOSSIP_MAX_WARM)
        g->mem[0].m.cap.n_warm = WP_GOSSIP_MAX_WARM;
    g->mem[0].m.cap.version = v + 1;
    queue_bcast(g, 0);
}

void wp_gossip_leave(wp_gossip *g, uint64_t now_ns)
{
    if (g->leaving)
        return;
    g->leaving = true;
    member *self = &g->mem[0];
    self->m.status = WP_MEMBER_LEFT;
    snprintf(self->m.status_from, sizeof self->m.status_from, "%s", self->m.id);
    size_t k = pick_random(g, now_ns, 2 * (size_t)g->cfg.gossip_fanout, -1, false);
    size_t targets[128];
    if (k > WP_ARRAY_LEN(targets))
        k = WP_ARRAY_LEN(targets);
    memcpy(targets, g->scratch, k * sizeof *targets);
    for (size_t i = 0; i < k; i++)
        send_frame(g, now_ns, g->mem[targets[i]].m.addr, g->mem[targets[i]].m.id,
                   WP_GMSG_GOSSIP, 0, "", "", false, true);
}

/* ---------------------------------------------------------------- receive */

static relay *relay_find(wp_gossip *g, uint64_t seq)
{
    for (size_t i = 0; i < MAX_RELAYS; i++)
        if (g->relays[i].used && g->relays[i].seq == seq)
            return &g->relays[i];
    return NULL;
}

static relay *relay_alloc(wp_gossip *g)
{
    relay *oldest = &g->relays[0];
    for (size_t i = 0; i < MAX_RELAYS; i++) {
        if (!g->relays[i].used)
            return &g->relays[i];
        if (g->relays[i].nack_at_ns < oldest->nack_at_ns)
            oldest = &g->relays[i];
    }
    return oldest;
}

int wp_gossip_receive(wp_gossip *g, uint64_t now_ns, const uint8_t *buf, size_t len)
{
    wp_gossip_msg msg;
    wp_err err;
    g->st.frames_in++;
    int rv = wp_gossip_msg_decode(buf, len, &msg, &err);
    if (rv) {
        g->st.frames_bad++;
        WP_CORE_LOG(g->has_log ? &g->log : NULL, WP_LOG_DEBUG, now_ns, "%s: dropped frame: %s",
                    g->mem[0].m.id, wp_err_text(&err));
        return rv;
    }
    if (strcmp(msg.from_id, g->mem[0].m.id) == 0) {
        /* Our own id from elsewhere: a stale life of ours, or a duplicate. */
        bool pp = msg.type == WP_GMSG_PUSH_PULL || msg.type == WP_GMSG_PUSH_PULL_RESP;
        for (size_t i = 0; i < msg.n_updates; i++)
            merge_record(g, now_ns, &msg.updates[i], pp, msg.from_id);
        wp_gossip_msg_clear(&msg);
        return WP_OK;
    }
    bool pp = msg.type == WP_GMSG_PUSH_PULL || msg.type == WP_GMSG_PUSH_PULL_RESP;
    g->stale_about_me = false;
    for (size_t i = 0; i < msg.n_updates; i++)
        merge_record(g, now_ns, &msg.updates[i], pp, msg.from_id);
    /* The sender holds an old rumour about us that we refuted already:
     * correct it directly (our record rides on the ack, or goes alone). */
    bool correct_sender = g->stale_about_me && !g->leaving && msg.from_addr[0];
    if (correct_sender && msg.type != WP_GMSG_PING)
        send_frame(g, now_ns, msg.from_addr, msg.from_id, WP_GMSG_GOSSIP, 0, "", "", false, true);
    /* A sender we have never heard of knows us: sync with it (at most one
     * such push-pull per probe interval). */
    if (!pp && !g->leaving && msg.from_addr[0] && find_idx(g, msg.from_id) < 0 &&
        now_ns - g->last_stranger_pp_ns >= g->cfg.probe_interval_ns) {
        g->last_stranger_pp_ns = now_ns;
        g->st.push_pulls++;
        send_frame(g, now_ns, msg.from_addr, msg.from_id, WP_GMSG_PUSH_PULL, 0, "", "", true,
                   false);
    }
    if (g->leaving) {
        wp_gossip_msg_clear(&msg);
        return WP_OK;
    }
    switch (msg.type) {
    case WP_GMSG_PING:
        if (msg.target_id[0] && strcmp(msg.target_id, g->mem[0].m.id) != 0)
            break; /* meant for someone who had our address before */
        if (correct_sender)
            g->force_idx = 0;
        send_frame(g, now_ns, msg.from_addr, msg.from_id, WP_GMSG_ACK, msg.seq, "", "", false,
                   false);
        g->force_idx = -1;
        break;
    case WP_GMSG_PING_REQ: {
        if (!msg.target_addr[0])
            break;
        relay *r = relay_alloc(g);
        memset(r, 0, sizeof *r);
        r->used = true;
        r->seq = g->seq_next++;
        r->origin_seq = msg.seq;
        r->nack_at_ns = now_ns + g->cfg.probe_timeout_ns;
        snprintf(r->origin_id, sizeof r->origin_id, "%s", msg.from_id);
        snprintf(r->origin_addr, sizeof r->origin_addr, "%s", msg.from_addr);
        send_frame(g, now_ns, msg.target_addr, msg.target_id, WP_GMSG_PING, r->seq,
                   msg.target_id, msg.target_addr, false, false);
        break;
    }
    case WP_GMSG_ACK: {
        if (g->probe.active && msg.seq == g->probe.seq) {
            if (!g->probe.acked) {
                g->probe.acked = true;
                g->probe.active = false;
                awareness_delta(g, g->probe.indirect_sent ? 0 : -1);
            }
            break;
        }
        relay *r = relay_find(g, msg.seq);
        if (r) {
            char oa[WP_GOSSIP_ADDR_MAX], oi[WP_NAME_MAX];
            memcpy(oa, r->origin_addr, sizeof oa);
            memcpy(oi, r->origin_id, sizeof oi);
            uint64_t os = r->origin_seq;
            r->used = false;
            send_frame(g, now_ns, oa, oi, WP_GMSG_ACK, os, "", "", false, false);
        }
        break;
    }
    case WP_GMSG_NACK:
        if (g->probe.active && msg.seq == g->probe.seq)
            g->probe.nacks++;
        break;
    case WP_GMSG_PUSH_PULL:
        send_frame(g, now_ns, msg.from_addr, msg.from_id, WP_GMSG_PUSH_PULL_RESP, msg.seq, "",
                   "", true, false);
        break;
    default:
        break;
    }
    wp_gossip_msg_clear(&msg);
    return WP_OK;
}

/* ---------------------------------------------------------------- timers */

static void shuffle_and_reap(wp_gossip *g, uint64_t now)
{
    /* Reap dead/left members past the gossip-to-the-dead window. */
    size_t w = 1;
    for (size_t i = 1; i < g->n; i++) {
        member *x = &g->mem[i];
        bool gone = x->m.status >= WP_MEMBER_DEAD &&
                    now - x->m.status_change_ns >= g->cfg.gossip_to_dead_ns;
        if (gone)
            continue;
        if (w != i)
            g->mem[w] = *x;
        w++;
    }
    g->n = w;
    for (size_t i = g->n - 1; i > 1; i--) {
        size_t j = 1 + (size_t)wp_rng_below(g->rng, i);
        member t = g->mem[i];
        g->mem[i] = g->mem[j];
        g->mem[j] = t;
    }
    index_rebuild(g);
    bq_rebuild(g);
    g->probe_idx = 1;
}

static void start_probe(wp_gossip *g, uint64_t now)
{
    uint64_t interval = scaled(g, g->cfg.probe_interval_ns);
    g->next_probe_at = now + interval;
    size_t tries = 0;
    while (tries < g->n) {
        if (g->probe_idx >= g->n || g->probe_idx < 1) {
            shuffle_and_reap(g, now);
            if (g->n <= 1)
                return;
        }
        member *x = &g->mem[g->probe_idx++];
        tries++;
        if (x->m.status >= WP_MEMBER_DEAD)
            continue;
        g->probe.active = true;
        g->probe.acked = false;
        g->probe.indirect_sent = false;
        g->probe.seq = g->seq_next++;
        g->probe.nacks = 0;
        g->probe.expected_nacks = 0;
        g->probe.timeout_at = now + scaled(g, g->cfg.probe_timeout_ns);
        g->probe.end_at = now + interval;
        snprintf(g->probe.target_id, sizeof g->probe.target_id, "%s", x->m.id);
        g->st.probes++;
        /* Lifeguard's buddy system: a suspect hears the rumour on our ping. */
        if (x->m.status == WP_MEMBER_SUSPECT)
            g->force_idx = (int)(x - g->mem);
        send_frame(g, now, x->m.addr, x->m.id, WP_GMSG_PING, g->probe.seq, x->m.id, x->m.addr,
                   false, false);
        g->force_idx = -1;
        return;
    }
}

static void probe_timeout(wp_gossip *g, uint64_t now)
{
    g->probe.indirect_sent = true;
    int t = find_idx(g, g->probe.target_id);
    if (t < 0)
        return;
    char tid[WP_NAME_MAX], taddr[WP_GOSSIP_ADDR_MAX];
    memcpy(tid, g->mem[t].m.id, sizeof tid);
    memcpy(taddr, g->mem[t].m.addr, sizeof taddr);
    size_t k = pick_random(g, now, g->cfg.indirect_checks, t, false);
    size_t via[16];
    memcpy(via, g->scratch, k * sizeof *via);
    /* Only alive members relay (suspects are likely in trouble themselves). */
    for (size_t i = 0; i < k; i++) {
        member *r = &g->mem[via[i]];
        if (r->m.status != WP_MEMBER_ALIVE)
            continue;
        g->probe.expected_nacks++;
        send_frame(g, now, r->m.addr, r->m.id, WP_GMSG_PING_REQ, g->probe.seq, tid, taddr, false,
                   false);
    }
}

static void probe_failed(wp_gossip *g, uint64_t now)
{
    g->probe.active = false;
    g->st.probes_failed++;
    if (g->probe.expected_nacks > 0) {
        if (g->probe.nacks < g->probe.expected_nacks)
            awareness_delta(g, (int)(g->probe.expected_nacks - g->probe.nacks));
    } else {
        awareness_delta(g, 1);
    }
    int t = find_idx(g, g->probe.target_id);
    if (t < 0)
        return;
    member *x = &g->mem[t];
    wp_gossip_member r = x->m;
    r.status = WP_MEMBER_SUSPECT;
    snprintf(r.status_from, sizeof r.status_from, "%s", g->mem[0].m.id);
    if (x->m.status == WP_MEMBER_ALIVE)
        g->st.suspicions++;
    merge_record(g, now, &r, false, g->mem[0].m.id);
}

static void gossip_round(wp_gossip *g, uint64_t now)
{
    if (!g->n_bcast)
        return;
    size_t k = pick_random(g, now, g->cfg.gossip_fanout, -1, true);
    size_t targets[64];
    if (k > WP_ARRAY_LEN(targets))
        k = WP_ARRAY_LEN(targets);
    memcpy(targets, g->scratch, k * sizeof *targets);
    for (size_t i = 0; i < k && g->n_bcast; i++)
        send_frame(g, now, g->mem[targets[i]].m.addr, g->mem[targets[i]].m.id, WP_GMSG_GOSSIP, 0,
                   "", "", false, false);
}

static uint64_t push_pull_interval(const wp_gossip *g)
{
    /* memberlist pushPullScale: multiply by ceil(log2(N) - log2(32)) + 1
     * above 32 members. */
    size_t n = live_count(g);
    if (n <= 32)
        return g->cfg.push_pull_interval_ns;
    double mult = ceil(log2((double)n) - log2(32.0)) + 1.0;
    return (uint64_t)(mult * (double)g->cfg.push_pull_interval_ns);
}

void wp_gossip_tick(wp_gossip *g, uint64_t now)
{
    if (g->leaving)
        return;
    /* Suspicion timers, scanned only when the cached earliest one is due. */
    if (g->susp_next_ns <= now) {
        g->susp_next_ns = UINT64_MAX;
    g->force_idx = -1;
        for (size_t i = 1; i < g->n; i++) {
            member *x = &g->mem[i];
            if (!x->susp_deadline_ns)
                continue;
            if (x->susp_deadline_ns > now) {
                if (x->susp_deadline_ns < g->susp_next_ns)
                    g->susp_next_ns = x->susp_deadline_ns;
                continue;
            }
            x->susp_deadline_ns = 0;
            if (x->m.status != WP_MEMBER_SUSPECT)
                continue;
            wp_member_status old = x->m.status;
            x->m.status = WP_MEMBER_DEAD;
            snprintf(x->m.status_from, sizeof x->m.status_from, "%s", g->mem[0].m.id);
            g->st.deaths_declared++;
            queue_bcast(g, i);
            notify(g, now, i, old, false, true);
        }
    }
    /* Relayed probes without an ack: tell the origin (Lifeguard NACK). */
    for (size_t i = 0; i < MAX_RELAYS; i++) {
        relay *r = &g->relays[i];
        if (r->used && r->nack_at_ns <= now) {
            r->used = false;
            send_frame(g, now, r->origin_addr, r->origin_id, WP_GMSG_NACK, r->origin_seq, "", "",
                       false, false);
        }
    }
    if (g->probe.active && !g->probe.acked) {
        if (!g->probe.indirect_sent && g->probe.timeout_at <= now)
            probe_timeout(g, now);
        if (g->probe.end_at <= now)
            probe_failed(g, now);
    }
    if (g->next_probe_at <= now) {
        if (g->probe.active) /* cannot happen: end_at <= next_probe_at */
            probe_failed(g, now);
        start_probe(g, now);
    }
    if (g->next_gossip_at <= now) {
        gossip_round(g, now);
        g->next_gossip_at = now + g->cfg.gossip_interval_ns;
    }
    if (g->next_pushpull_at <= now) {
        g->next_pushpull_at = now + push_pull_interval(g);
        size_t k = pick_random(g, now, 1, -1, false);
        if (k == 1) {
            member *x = &g->mem[g->scratch[0]];
            if (x->m.status == WP_MEMBER_ALIVE) {
                g->st.push_pulls++;
                send_frame(g, now, x->m.addr, x->m.id, WP_GMSG_PUSH_PULL, 0, "", "", true, false);
            }
        }
    }
}

uint64_t wp_gossip_next_deadline_ns(const wp_gossip *g)
{
    if (g->leaving)
        return UINT64_MAX;
    uint64_t d = g->next_probe_at;
    if (g->next_gossip_at < d)
        d = g->next_gossip_at;
    if (g->next_pushpull_at < d)
        d = g->next_pushpull_at;
    if (g->probe.active && !g->probe.acked) {
        if (!g->probe.indirect_sent && g->probe.timeout_at < d)
            d = g->probe.timeout_at;
        if (g->probe.end_at < d)
            d = g->probe.end_at;
    }
    if (g->susp_next_ns < d)
        d = g->susp_next_ns;
    for (size_t i = 0; i < MAX_RELAYS; i++)
        if (g->relays[i].used && g->relays[i].nack_at_ns < d)
            d = g->relays[i].nack_at_ns;
    return d;
}
