/* gossip_state.c — the gossip core's membership state changes: the
 * broadcast queue and frame building (piggy-backed updates, newest and
 * least-sent first, within the packet budget), random member picks,
 * Lifeguard suspicion timers and confirmations, refutation, and the merge
 * of a received member record (the ordering rules are in gossip.c's essay).
 * Pure, like the rest of the core.
 */
#include "node/gossip_int.h"

/* ---------------------------------------------------------------- helpers */

size_t wp_gossip__live_count(const wp_gossip *g)
{
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++)
        if (g->mem[i].m.status <= WP_MEMBER_SUSPECT)
            k++;
    return k;
}

uint64_t wp_gossip__scaled(const wp_gossip *g, uint64_t t)
{
    return t * (uint64_t)(g->awareness + 1);
}

void wp_gossip__awareness_delta(wp_gossip *g, int d)
{
    int64_t a = (int64_t)g->awareness + d;
    if (a < 0)
        a = 0;
    if (a > (int64_t)g->cfg.awareness_max - 1)
        a = (int64_t)g->cfg.awareness_max - 1;
    g->awareness = (uint32_t)a;
}

void wp_gossip__bq_rebuild(wp_gossip *g)
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

void wp_gossip__queue_bcast(wp_gossip *g, size_t idx)
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

/* The reconnect list (gossip_int.h): a member dead is added (or its entry
 * refreshed), one alive, suspect or left again removed. */
static void failed_update(wp_gossip *g, uint64_t now, const wp_gossip_member *m)
{
    size_t i = 0;
    while (i < g->n_failed && strcmp(g->failed[i].id, m->id) != 0)
        i++;
    if (m->status != WP_MEMBER_DEAD) {
        if (i < g->n_failed)
            g->failed[i] = g->failed[--g->n_failed];
        return;
    }
    if (!g->cfg.reconnect_interval_ns || !m->addr[0])
        return;
    if (i == g->n_failed) {
        if (g->n_failed == WP_GOSSIP_FAILED_MAX) { /* drop the oldest */
            size_t o = 0;
            for (size_t k = 1; k < g->n_failed; k++)
                if (g->failed[k].since_ns < g->failed[o].since_ns)
                    o = k;
            i = o;
        } else {
            g->n_failed++;
        }
    }
    snprintf(g->failed[i].id, sizeof g->failed[i].id, "%s", m->id);
    snprintf(g->failed[i].addr, sizeof g->failed[i].addr, "%s", m->addr);
    g->failed[i].since_ns = now;
    if (g->next_reconnect_at == 0 || g->next_reconnect_at == UINT64_MAX)
        g->next_reconnect_at = now + g->cfg.reconnect_interval_ns;
}

void wp_gossip__notify(wp_gossip *g, uint64_t now, size_t idx, wp_member_status old, bool is_new,
                       bool by_timer)
{
    g->mem[idx].m.status_change_ns = now;
    failed_update(g, now, &g->mem[idx].m);
    if (g->has_hooks && g->hooks.member_status)
        g->hooks.member_status(g->hooks.ctx, now, &g->mem[idx].m, old, is_new, by_timer);
    WP_CORE_LOG(g->has_log ? &g->log : NULL, WP_LOG_INFO, now, "%s: member %s is %s (inc %llu)",
                g->mem[0].m.id, g->mem[idx].m.id, wp_member_status_name(g->mem[idx].m.status),
                (unsigned long long)g->mem[idx].m.incarnation);
}

static size_t record_estimate(const member *x)
{
    const wp_gossip_member *m = &x->m;
    size_t s = 24 + strlen(m->status_from) + (x->has_sig ? WP_GOSSIP_SIG_BYTES : 0);
    if (x->owned_len)
        return s + 3 + x->owned_len;
    s += 64 + strlen(m->id) + strlen(m->city) + strlen(m->addr);
    for (uint32_t w = 0; w < m->cap.n_warm && w < WP_GOSSIP_MAX_WARM; w++)
        s += strlen(m->cap.warm[w]) + 2;
    for (uint32_t k = 0; m->cap.servable_listed && k < m->cap.n_servable &&
                         k < WP_GOSSIP_MAX_SERVABLE;
         k++)
        s += strlen(m->cap.servable[k]) + 2;
    for (uint32_t k = 0; k < m->cap.n_svc && k < WP_GOSSIP_MAX_SVC; k++)
        s += strlen(m->cap.svc[k].model) + 2 + 1 + 4 * 5;
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

/* The owner part held for the member behind m, or NULL where the view
 * says alive/left at another incarnation than it does (the codec then
 * encodes one from the view, unsigned; receivers with keys refuse that
 * record, and no frame carries a record the codec would reject). */
static const wp_gossip_owned *owned_of(const wp_gossip_member *m, wp_gossip_owned *out)
{
    const member *x = (const member *)(const void *)((const char *)m - offsetof(member, m));
    if (!x->owned_len)
        return NULL;
    bool word = m->status == WP_MEMBER_ALIVE || m->status == WP_MEMBER_LEFT;
    if (word && (x->owned_inc != m->incarnation ||
                 x->owned_left != (m->status == WP_MEMBER_LEFT)))
        return NULL;
    out->bytes = x->owned;
    out->len = x->owned_len;
    out->has_sig = x->has_sig;
    memcpy(out->sig, x->sig, sizeof out->sig);
    out->incarnation = x->owned_inc;
    out->left = x->owned_left;
    return out;
}

/* Encodes and queues one frame. Piggybacks pending broadcasts within the
 * packet budget unless full_state (push-pull: every member). */
void wp_gossip__send_frame(wp_gossip *g, uint64_t now, const char *to_addr, const char *to_id,
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
            size_t est = record_estimate(x);
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
    /* Each record's owner part as held, relayed verbatim. */
    wp_gossip_owned own_small[WP_ARRAY_LEN(recs_small)];
    const wp_gossip_owned *optr_small[WP_ARRAY_LEN(recs_small)];
    wp_gossip_owned *own = own_small;
    const wp_gossip_owned **optr = optr_small;
    if (nrec > WP_ARRAY_LEN(recs_small)) {
        own = malloc(nrec * sizeof *own);
        optr = malloc(nrec * sizeof *optr);
    }
    wp_gossip_out *o = &g->out[g->n_out];
    wp_err err;
    int rv = WP_ENOMEM;
    if (own && optr) {
        for (size_t i = 0; i < nrec; i++)
            optr[i] = owned_of(recs[i], &own[i]);
        rv = wp_gossip_msg_encode_owned(&msg, recs, optr, nrec, &o->data, &o->len, &err);
    }
    if (own != own_small)
        free(own);
    if (optr != optr_small)
        free(optr);
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

size_t wp_gossip__pick_random(wp_gossip *g, uint64_t now, size_t k, int skip,
                              bool allow_recent_dead)
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
    x->susp_first_hash = wp_gossip__hash_id(from);
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
    uint64_t h = wp_gossip__hash_id(from);
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
        self->m.incarnation = wp_gossip__inc_sat(their_inc);
    self->m.status = WP_MEMBER_ALIVE;
    self->m.status_from[0] = '\0';
    wp_gossip__reseal_self(g);
    g->st.refutations++;
    wp_gossip__awareness_delta(g, 1);
    wp_gossip__queue_bcast(g, 0);
    WP_CORE_LOG(g->has_log ? &g->log : NULL, WP_LOG_INFO, now,
                "%s: refuting a rumour, incarnation now %llu", self->m.id,
                (unsigned long long)self->m.incarnation);
}

int wp_gossip__add_member(wp_gossip *g, const wp_gossip_member *r)
{
    if (g->n == g->cap) {
        int rv = wp_gossip__grow(g);
        if (rv)
            return -1;
    }
    size_t idx = g->n++;
    member *x = &g->mem[idx];
    memset(x, 0, sizeof *x);
    x->m = *r;
    wp_gossip__index_insert(g, idx);
    return (int)idx;
}

/* Holds own as x's owner part if it is newer than the one held. */
static void keep_owned(member *x, const wp_gossip_owned *own, uint64_t cap_version)
{
    if (!own || !own->len)
        return;
    if (x->owned_len && wp_gossip__owned_cmp(own->incarnation, own->left, cap_version,
                                             x->owned_inc, x->owned_left, x->owned_ver) <= 0)
        return;
    if (!wp_gossip__owned_set(x, own->bytes, own->len))
        return;
    x->has_sig = own->has_sig;
    if (own->has_sig)
        memcpy(x->sig, own->sig, sizeof x->sig);
    x->owned_inc = own->incarnation;
    x->owned_left = own->left;
    x->owned_ver = cap_version;
}

void wp_gossip__merge_record(wp_gossip *g, uint64_t now, const wp_gossip_member *r_in,
                             const wp_gossip_owned *own, bool from_push_pull,
                             const char *sender)
{
    wp_gossip_member r = *r_in;
    wp_gossip__cap_clamp(&r.cap);
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
        if (wp_gossip__jump_over(self->m.incarnation, r.incarnation, WP_GOSSIP_INC_JUMP_MAX)) {
            g->st.records_refused++; /* not ours to follow: refuse, do not refute */
            return;
        }
        if (r.incarnation == self->m.incarnation && r.cap.version > self->m.cap.version) {
            /* A capacity record of ours we never produced: outbid it with
             * a new incarnation, which makes peers take our record. */
            refute(g, now, r.incarnation);
            return;
        }
        if (r.status != WP_MEMBER_ALIVE && r.incarnation >= self->m.incarnation)
            refute(g, now, r.incarnation);
        else if (r.status != WP_MEMBER_ALIVE)
            g->stale_about_me = true; /* already refuted; the sender missed it */
        else if (r.status == WP_MEMBER_ALIVE && r.incarnation > self->m.incarnation)
            refute(g, now, r.incarnation); /* an older life of ours claims more */
        return;
    }
    int idx = wp_gossip__find_idx(g, r.id);
    if (idx < 0) {
        if (r.status != WP_MEMBER_ALIVE)
            return; /* memberlist ignores suspect/dead rumours about strangers */
        r.status_from[0] = '\0';
        idx = wp_gossip__add_member(g, &r);
        if (idx < 0)
            return;
        keep_owned(&g->mem[idx], own, r.cap.version);
        wp_gossip__queue_bcast(g, (size_t)idx);
        wp_gossip__notify(g, now, (size_t)idx, WP_MEMBER_ALIVE, true, false);
        return;
    }
    member *x = &g->mem[idx];
    if (wp_gossip__jump_over(x->m.incarnation, r.incarnation, WP_GOSSIP_INC_JUMP_MAX)) {
        g->st.records_refused++;
        return;
    }
    if ((r.status == WP_MEMBER_ALIVE && r.incarnation > x->m.incarnation) ||
        !wp_gossip__jump_over(x->m.cap.version, r.cap.version, WP_GOSSIP_CAP_JUMP_MAX))
        keep_owned(x, own, r.cap.version);
    bool changed = false;
    if (r.status == WP_MEMBER_ALIVE && r.incarnation > x->m.incarnation) {
        x->m.cap = r.cap; /* the member's own record of a newer life */
        changed = true;
    } else if (r.incarnation >= x->m.incarnation && r.cap.version > x->m.cap.version) {
        if (wp_gossip__jump_over(x->m.cap.version, r.cap.version, WP_GOSSIP_CAP_JUMP_MAX)) {
            g->st.records_refused++;
        } else {
            x->m.cap = r.cap;
            changed = true;
        }
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
        wp_gossip__queue_bcast(g, (size_t)idx);
    if (status_changed)
        wp_gossip__notify(g, now, (size_t)idx, old, false, false);
}

