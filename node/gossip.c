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
 *    retransmit_mult * max(2, ceil(log10(N + 1))) times (memberlist's
 *    TransmitLimitedQueue, the λ·log N of the SWIM paper, floored: below
 *    10 members memberlist's 4 sends miss a member ~2% of the time, see
 *    wp_gossip_retransmit_limit). A member the epidemic missed gets the
 *    record by its next push-pull: every capacity change is everywhere
 *    within limit x gossip interval + push-pull interval + one probe
 *    interval (a lost exchange, below) + a round trip (the fault campaign
 *    asserts it). Frames keep to a 1400-byte budget, like memberlist's UDP
 *    packets.
 *  - Anti-entropy. Every push-pull interval (scaled up above 32 members as
 *    memberlist's pushPullScale) the core exchanges its full state with one
 *    random member; joining is a push-pull with the seed addresses. A remote
 *    DEAD learnt by push-pull is taken as SUSPECT, as memberlist does.
 *    memberlist runs push-pull over TCP and learns when it fails; here it
 *    rides the same lossy frames as the rest (transport.c drops what it
 *    cannot queue), so the core waits for the answer (PUSH_PULL_RESP with
 *    the request's seq) for one probe interval and, without it, sends the
 *    exchange again to another random alive member, at most
 *    WP_GOSSIP_PP_RETRIES times per push-pull interval; a push-pull drawn
 *    to a suspect goes to an alive member the same way. Without this one
 *    lost frame (request or answer, ~2 x loss per exchange) cost a whole
 *    push-pull interval: a member the epidemic had missed kept the old
 *    capacity record for up to two intervals (the fault campaign's seeds
 *    2747, 3041 and 4717: one member never addressed by the update's 8
 *    sends per holder, its push-pull lost, no other member's push-pull
 *    drawn to it in the 30 s).
 *  - One refinement of ours: a frame from a sender missing from our view
 *    (its alive update was spent before we were anyone's gossip target,
 *    which happens when many members start at once) triggers a push-pull
 *    with that sender, at most one per probe interval, instead of waiting
 *    up to a push-pull interval for anti-entropy.
 *  - Dead and left members still receive gossip for gossip_to_dead_ns (so a
 *    wrongly declared member learns it and refutes), then are reaped at the
 *    end of a probe round.
 *  - Reconnect, as Serf does on top of memberlist: every
 *    reconnect_interval_ns the core push-pulls with the next member it
 *    holds dead (round robin over at most 64, for reconnect_timeout_ns
 *    after the death). Without it, two sides of a partition that outlasts
 *    detection and the gossip-to-the-dead window have reaped each other and
 *    never speak again: the fault campaign (faultsim/gossip_campaign.c)
 *    found 59 of 500 seeded schedules ending split, 0 with it.
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
 * Forged records (issue 14; signatures are in gossip_sign.c, these are bounds
 * that hold without it). Nobody but X can push X's incarnation or
 * capacity version to the maximum, and nothing wraps:
 *  - every +1 (refutation, set_capacity) saturates at 2^64 - 1;
 *  - a record about X that moves X's incarnation more than
 *    WP_GOSSIP_INC_JUMP_MAX (2^16) past the one held is refused, by X
 *    about itself too (it does not refute an absurd claim, so it is never
 *    forced near the maximum). A real member's incarnation moves by one
 *    per refutation or restart: 65,536 of them unseen by a peer is far
 *    beyond any partition we expect, while 2^64 / 2^16 = 2^48 accepted
 *    forgeries in a row would be needed to reach the top;
 *  - a capacity record about X moving the version more than
 *    WP_GOSSIP_CAP_JUMP_MAX (2^24: a change every 10 ms for 46 h) past the
 *    held one is refused, and one from an older life of X (lower
 *    incarnation) is ignored;
 *  - X's own record wins: X hearing a record about itself at its own
 *    incarnation with a capacity version it never produced bumps its
 *    incarnation (as a refutation), and an ALIVE record at a higher
 *    incarnation, which only X makes, replaces the capacity record
 *    whatever its version: a forged version is overwritten by X's next
 *    refutation. A forger who keeps forging costs X one refutation per
 *    forgery; with keys (wp_gossip_self.auth) a forgery is refused before
 *    it gets here: only X's signed record speaks for X (gossip_sign.c).
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
#include "node/gossip_int.h"

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
    c->reconnect_interval_ns = 10 * WP_NS_PER_S;
    c->reconnect_timeout_ns = 3600 * WP_NS_PER_S;
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
    /* memberlist's mult * ceil(log10(N + 1)), floored at 2 * mult: with L
     * sends per informed member, a given member misses an update that every
     * other member holds with probability about e^-L; memberlist's L = 4
     * below 10 members is ~2% per member per update, the floor (8) is
     * ~3e-4, what 10..99 members already get. */
    uint32_t steps = (uint32_t)ceil(log10((double)n + 1.0));
    return c->retransmit_mult * (steps < 2 ? 2 : steps);
}

/* ---------------------------------------------------------------- index */

uint64_t wp_gossip__hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

int wp_gossip__find_idx(const wp_gossip *g, const char *id)
{
    size_t mask = g->nslots - 1;
    for (size_t i = wp_gossip__hash_id(id) & mask;; i = (i + 1) & mask) {
        int32_t s = g->slots[i];
        if (s < 0)
            return -1;
        if (strcmp(g->mem[s].m.id, id) == 0)
            return s;
    }
}

void wp_gossip__index_insert(wp_gossip *g, size_t idx)
{
    size_t mask = g->nslots - 1;
    size_t i = wp_gossip__hash_id(g->mem[idx].m.id) & mask;
    while (g->slots[i] >= 0)
        i = (i + 1) & mask;
    g->slots[i] = (int32_t)idx;
}

void wp_gossip__index_rebuild(wp_gossip *g)
{
    for (size_t i = 0; i < g->nslots; i++)
        g->slots[i] = -1;
    for (size_t i = 0; i < g->n; i++)
        wp_gossip__index_insert(g, i);
}

int wp_gossip__grow(wp_gossip *g)
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
    wp_gossip__index_rebuild(g);
    return WP_OK;
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
    if (self->auth) {
        if (!self->auth->sign || !self->auth->verify) {
            free(g);
            return wp_errf(err, WP_EINVAL, "gossip: auth needs sign and verify");
        }
        g->auth = *self->auth;
        g->has_auth = true;
    }
    if (wp_gossip__grow(g)) {
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
    wp_gossip__cap_clamp(&me.cap);
    wp_gossip__add_member(g, &me);
    wp_gossip__reseal_self(g);
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
    for (size_t i = 0; i < g->n; i++)
        free(g->mem[i].owned);
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
    int i = wp_gossip__find_idx(g, id);
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
        wp_gossip__send_frame(g, now_ns, addrs[i], "", WP_GMSG_PUSH_PULL, 0, "", "", true, false);
        g->st.push_pulls++;
    }
}

void wp_gossip_set_capacity(wp_gossip *g, uint64_t now_ns, const wp_gossip_capacity *cap)
{
    (void)now_ns;
    uint64_t v = g->mem[0].m.cap.version;
    g->mem[0].m.cap = *cap;
    wp_gossip__cap_clamp(&g->mem[0].m.cap);
    g->mem[0].m.cap.version = wp_gossip__inc_sat(v);
    wp_gossip__reseal_self(g);
    wp_gossip__queue_bcast(g, 0);
}

void wp_gossip_leave(wp_gossip *g, uint64_t now_ns)
{
    if (g->leaving)
        return;
    g->leaving = true;
    member *self = &g->mem[0];
    self->m.status = WP_MEMBER_LEFT;
    snprintf(self->m.status_from, sizeof self->m.status_from, "%s", self->m.id);
    wp_gossip__reseal_self(g);
    size_t k = wp_gossip__pick_random(g, now_ns, 2 * (size_t)g->cfg.gossip_fanout, -1, false);
    size_t targets[128];
    if (k > WP_ARRAY_LEN(targets))
        k = WP_ARRAY_LEN(targets);
    memcpy(targets, g->scratch, k * sizeof *targets);
    for (size_t i = 0; i < k; i++)
        wp_gossip__send_frame(g, now_ns, g->mem[targets[i]].m.addr, g->mem[targets[i]].m.id,
                   WP_GMSG_GOSSIP, 0, "", "", false, true);
}

