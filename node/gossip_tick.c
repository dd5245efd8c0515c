/* gossip_tick.c — the gossip core's timers: probe rounds (shuffle, reap,
 * probe, indirect probes, failure), gossip rounds, push-pull, suspicion
 * expiry, and the next deadline the driver must wake up for. Pure; the
 * caller passes now_ns. gossip.c's essay has the protocol and the bounds.
 */
#include "node/gossip_int.h"

/* ---------------------------------------------------------------- timers */

static void shuffle_and_reap(wp_gossip *g, uint64_t now)
{
    /* Reap dead/left members past the gossip-to-the-dead window. */
    size_t w = 1;
    for (size_t i = 1; i < g->n; i++) {
        member *x = &g->mem[i];
        bool gone = x->m.status >= WP_MEMBER_DEAD &&
                    now - x->m.status_change_ns >= g->cfg.gossip_to_dead_ns;
        if (gone) {
            free(x->owned);
            continue;
        }
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
    wp_gossip__index_rebuild(g);
    wp_gossip__bq_rebuild(g);
    g->probe_idx = 1;
}

static void start_probe(wp_gossip *g, uint64_t now)
{
    uint64_t interval = wp_gossip__scaled(g, g->cfg.probe_interval_ns);
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
        g->probe.timeout_at = now + wp_gossip__scaled(g, g->cfg.probe_timeout_ns);
        g->probe.end_at = now + interval;
        snprintf(g->probe.target_id, sizeof g->probe.target_id, "%s", x->m.id);
        g->st.probes++;
        /* Lifeguard's buddy system: a suspect hears the rumour on our ping. */
        if (x->m.status == WP_MEMBER_SUSPECT)
            g->force_idx = (int)(x - g->mem);
        wp_gossip__send_frame(g, now, x->m.addr, x->m.id, WP_GMSG_PING, g->probe.seq, x->m.id,
                              x->m.addr, false, false);
        g->force_idx = -1;
        return;
    }
}

static void probe_timeout(wp_gossip *g, uint64_t now)
{
    g->probe.indirect_sent = true;
    int t = wp_gossip__find_idx(g, g->probe.target_id);
    if (t < 0)
        return;
    char tid[WP_NAME_MAX], taddr[WP_GOSSIP_ADDR_MAX];
    memcpy(tid, g->mem[t].m.id, sizeof tid);
    memcpy(taddr, g->mem[t].m.addr, sizeof taddr);
    size_t k = wp_gossip__pick_random(g, now, g->cfg.indirect_checks, t, false);
    size_t via[16];
    memcpy(via, g->scratch, k * sizeof *via);
    /* Only alive members relay (suspects are likely in trouble themselves). */
    for (size_t i = 0; i < k; i++) {
        member *r = &g->mem[via[i]];
        if (r->m.status != WP_MEMBER_ALIVE)
            continue;
        g->probe.expected_nacks++;
        wp_gossip__send_frame(g, now, r->m.addr, r->m.id, WP_GMSG_PING_REQ, g->probe.seq, tid,
                              taddr, false, false);
    }
}

static void probe_failed(wp_gossip *g, uint64_t now)
{
    g->probe.active = false;
    g->st.probes_failed++;
    if (g->probe.expected_nacks > 0) {
        if (g->probe.nacks < g->probe.expected_nacks)
            wp_gossip__awareness_delta(g, (int)(g->probe.expected_nacks - g->probe.nacks));
    } else {
        wp_gossip__awareness_delta(g, 1);
    }
    int t = wp_gossip__find_idx(g, g->probe.target_id);
    if (t < 0)
        return;
    member *x = &g->mem[t];
    wp_gossip_member r = x->m;
    r.status = WP_MEMBER_SUSPECT;
    snprintf(r.status_from, sizeof r.status_from, "%s", g->mem[0].m.id);
    if (x->m.status == WP_MEMBER_ALIVE)
        g->st.suspicions++;
    wp_gossip__merge_record(g, now, &r, NULL, false, g->mem[0].m.id);
}

static void gossip_round(wp_gossip *g, uint64_t now)
{
    if (!g->n_bcast)
        return;
    size_t k = wp_gossip__pick_random(g, now, g->cfg.gossip_fanout, -1, true);
    size_t targets[64];
    if (k > WP_ARRAY_LEN(targets))
        k = WP_ARRAY_LEN(targets);
    memcpy(targets, g->scratch, k * sizeof *targets);
    for (size_t i = 0; i < k && g->n_bcast; i++)
        wp_gossip__send_frame(g, now, g->mem[targets[i]].m.addr, g->mem[targets[i]].m.id,
                              WP_GMSG_GOSSIP, 0, "", "", false, false);
}

static uint64_t push_pull_interval(const wp_gossip *g)
{
    /* memberlist pushPullScale: multiply by ceil(log2(N) - log2(32)) + 1
     * above 32 members. */
    size_t n = wp_gossip__live_count(g);
    if (n <= 32)
        return g->cfg.push_pull_interval_ns;
    double mult = ceil(log2((double)n) - log2(32.0)) + 1.0;
    return (uint64_t)(mult * (double)g->cfg.push_pull_interval_ns);
}

/* One push-pull to the next member of the reconnect list (entries past
 * reconnect_timeout_ns dropped first). It goes like a join (no member id:
 * a restarted member answers under any incarnation); the answer merges
 * both views, and each side refutes the death the other held. */
static void reconnect(wp_gossip *g, uint64_t now)
{
    g->next_reconnect_at = now + g->cfg.reconnect_interval_ns;
    for (size_t i = 0; i < g->n_failed;) {
        if (now - g->failed[i].since_ns > g->cfg.reconnect_timeout_ns)
            g->failed[i] = g->failed[--g->n_failed];
        else
            i++;
    }
    if (g->n_failed == 0)
        return;
    size_t i = g->failed_next++ % g->n_failed;
    g->st.reconnects++;
    g->st.push_pulls++;
    wp_gossip__send_frame(g, now, g->failed[i].addr, "", WP_GMSG_PUSH_PULL, 0, "", "", true,
                          false);
}

/* The periodic push-pull (anti-entropy) to x, waiting for its answer for
 * one probe interval: more than any round trip a probe allows (the probe
 * timeout is below it). */
static void push_pull_send(wp_gossip *g, uint64_t now, const member *x)
{
    g->pp.waiting = true;
    g->pp.seq = g->seq_next++;
    g->pp.answer_by = now + g->cfg.probe_interval_ns;
    snprintf(g->pp.target_id, sizeof g->pp.target_id, "%s", x->m.id);
    g->st.push_pulls++;
    wp_gossip__send_frame(g, now, x->m.addr, x->m.id, WP_GMSG_PUSH_PULL, g->pp.seq, "", "", true,
                          false);
}

/* The periodic push-pull got no answer (the request or the answer was
 * lost, or its target is down), or its target was a suspect: the same
 * exchange with a random alive member other than `not_id` (that one only
 * if it is the only one alive), at most WP_GOSSIP_PP_RETRIES times until
 * the next periodic push-pull. O(N). */
static void push_pull_retry(wp_gossip *g, uint64_t now, const char *not_id)
{
    g->pp.waiting = false;
    if (g->pp.retries >= WP_GOSSIP_PP_RETRIES)
        return;
    char skip_id[WP_NAME_MAX];
    snprintf(skip_id, sizeof skip_id, "%s", not_id);
    size_t k = wp_gossip__pick_random(g, now, g->n - 1, -1, false);
    const member *pick = NULL, *fallback = NULL;
    for (size_t i = 0; i < k && !pick; i++) {
        const member *x = &g->mem[g->scratch[i]];
        if (x->m.status != WP_MEMBER_ALIVE)
            continue;
        if (strcmp(x->m.id, skip_id) != 0)
            pick = x;
        else
            fallback = x;
    }
    if (!pick)
        pick = fallback;
    if (!pick)
        return;
    g->pp.retries++;
    g->st.push_pull_retries++;
    push_pull_send(g, now, pick);
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
            wp_gossip__queue_bcast(g, i);
            wp_gossip__notify(g, now, i, old, false, true);
        }
    }
    /* Relayed probes without an ack: tell the origin (Lifeguard NACK). */
    for (size_t i = 0; i < MAX_RELAYS; i++) {
        relay *r = &g->relays[i];
        if (r->used && r->nack_at_ns <= now) {
            r->used = false;
            wp_gossip__send_frame(g, now, r->origin_addr, r->origin_id, WP_GMSG_NACK, r->origin_seq,
                                  "", "", false, false);
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
    if (g->n_failed && g->next_reconnect_at <= now)
        reconnect(g, now);
    if (g->next_pushpull_at <= now) {
        g->next_pushpull_at = now + push_pull_interval(g);
        g->pp.waiting = false;
        g->pp.retries = 0;
        size_t k = wp_gossip__pick_random(g, now, 1, -1, false);
        if (k == 1) {
            member *x = &g->mem[g->scratch[0]];
            if (x->m.status == WP_MEMBER_ALIVE)
                push_pull_send(g, now, x);
            else
                push_pull_retry(g, now, x->m.id); /* a suspect: ask an alive member */
        }
    } else if (g->pp.waiting && g->pp.answer_by <= now) {
        push_pull_retry(g, now, g->pp.target_id);
    }
}

uint64_t wp_gossip_next_deadline_ns(const wp_gossip *g)
{
    if (g->leaving)
        return UINT64_MAX;
    uint64_t d = g->next_probe_at;
    if (g->n_failed && g->next_reconnect_at < d)
        d = g->next_reconnect_at;
    if (g->next_gossip_at < d)
        d = g->next_gossip_at;
    if (g->next_pushpull_at < d)
        d = g->next_pushpull_at;
    if (g->pp.waiting && g->pp.answer_by < d)
        d = g->pp.answer_by;
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
