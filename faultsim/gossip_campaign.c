/* faultsim/gossip_campaign.c — seeded sweeps over the gossip simulation
 * (node/gossip_sim.c drives n pure SWIM/Lifeguard cores on simulated time):
 * a seed picks the size (3..16 members), the message loss (0, 1, 3 or 5%),
 * random one-way delays (1..80 ms) and the simulation's own seed (which
 * picks the member killed 5 s after joining, and the capacity-change
 * trials). The schedule is the simulation's: join, capacity changes, one
 * kill; then, from 70 s, up to three faults (node.h's wp_gossip_sim_fault):
 * a pause of 2-25 s, a partition of 5-40 s into two random sides, a
 * restart after 0.5-10 s down, each member named by one fault at most, all
 * healed by 180 s; the run ends at 240 s. */
#include "faultsim/faultsim.h"
#include "node/node.h"

#include <stdlib.h>
#include <string.h>

double wp_fsim_gossip_bound_s(const wp_gossip_config *c, size_t n, double max_oneway_ms)
{
    /* Every informed member sends an update at most L times, fanout per
     * gossip interval, so the epidemic is over within L gossip intervals;
     * a member it missed starts its next push-pull at most one push-pull
     * interval later (n <= 32: no pushPullScale). Its answer is in one
     * round trip, or, when the request or the answer was lost (or the
     * target was the member just killed), the core sends the exchange
     * again to another member one probe interval later (gossip.c's essay,
     * "Anti-entropy"), answered one round trip after that. So the bound
     * holds with one lost exchange; beyond it it takes the epidemic
     * missing the member (~e^-L, about 3e-4), two exchanges in a row lost
     * (~(2 x loss)^2, 1% at 5% loss) and no other member's push-pull
     * drawn to it: not seen in 10,000 schedules. */
    uint32_t limit = wp_gossip_retransmit_limit(c, n);
    return ((double)limit * (double)c->gossip_interval_ns + (double)c->push_pull_interval_ns +
            (double)c->probe_interval_ns) /
               1e9 +
           2.0 * max_oneway_ms / 1e3;
}

int wp_fsim_gossip_run(uint64_t seed, const wp_fsim_opts *o, wp_fsim_report *rep, wp_err *err)
{
    memset(rep, 0, sizeof *rep);
    rep->seed = seed;
    wp_rng rng;
    wp_rng_seed(&rng, seed ^ 0x9e3779b97f4a7c15ull);
    static const double losses[] = {0, 0.01, 0.03, 0.05};
    size_t n = 3 + (size_t)wp_rng_below(&rng, 14);
    double loss = losses[wp_rng_below(&rng, 4)];
    float *d = malloc(n * n * sizeof *d);
    if (d == NULL)
        return wp_errf(err, WP_ENOMEM, "faultsim: out of memory");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j <= i; j++)
            d[i * n + j] = d[j * n + i] = i == j ? 0.0f : 1.0f + (float)wp_rng_below(&rng, 80);
    wp_gossip_sim_fault faults[3];
    size_t nf = (size_t)wp_rng_below(&rng, 4);
    uint64_t named = 0; /* members a pause or restart names */
    for (size_t f = 0; f < nf; f++) {
        wp_gossip_sim_fault *x = &faults[f];
        memset(x, 0, sizeof *x);
        x->kind = (wp_gossip_sim_fault_kind)(WP_GSIM_PAUSE + wp_rng_below(&rng, 3));
        x->from_s = 70.0 + (double)wp_rng_below(&rng, 80000) / 1000.0;
        double len = x->kind == WP_GSIM_PAUSE       ? 2.0 + (double)wp_rng_below(&rng, 23000) / 1e3
                     : x->kind == WP_GSIM_PARTITION ? 5.0 + (double)wp_rng_below(&rng, 35000) / 1e3
                                                    : 0.5 + (double)wp_rng_below(&rng, 9500) / 1e3;
        x->to_s = x->from_s + len;
        if (x->kind == WP_GSIM_PARTITION) {
            /* a random side that is neither empty nor everyone */
            x->side = 1 + wp_rng_below(&rng, (1ull << n) - 2);
            rep->partitions++;
        } else {
            x->node = (uint32_t)wp_rng_below(&rng, n);
            for (size_t k = 0; k < n && ((named >> x->node) & 1); k++)
                x->node = (x->node + 1) % (uint32_t)n;
            if ((named >> x->node) & 1 || (size_t)__builtin_popcountll(named) + 2 >= n) {
                nf = f; /* no member left for it: fewer faults */
                break;
            }
            named |= 1ull << x->node;
            if (x->kind == WP_GSIM_PAUSE)
                rep->pauses++;
            else
                rep->restarts++;
        }
    }
    wp_gossip_sim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.nodes = n;
    cfg.oneway_ms = d;
    wp_gossip_config_default(&cfg.gossip);
    if (o && o->no_reconnect)
        cfg.gossip.reconnect_interval_ns = 0;
    cfg.loss = loss;
    cfg.seed = seed;
    cfg.duration_s = 240;
    cfg.faults = faults;
    cfg.n_faults = nf;
    cfg.trials = 3;
    cfg.converge_limit_s = wp_fsim_gossip_bound_s(&cfg.gossip, n, 80.0);
    wp_gossip_sim_result r;
    int rv = wp_gossip_sim_run(&cfg, &r, err);
    free(d);
    if (rv != WP_OK)
        return rv;
    rep->kills = 1;
    rep->losses = loss > 0;
    rep->ok = true;
    char what[160] = "";
    for (size_t f = 0, at = 0; f < nf && at < sizeof what; f++) {
        const wp_gossip_sim_fault *x = &faults[f];
        int k = x->kind == WP_GSIM_PARTITION
                    ? snprintf(what + at, sizeof what - at, " partition %llx %.0f-%.0f s",
                               (unsigned long long)x->side, x->from_s, x->to_s)
                    : snprintf(what + at, sizeof what - at, " %s n%u %.0f-%.0f s",
                               x->kind == WP_GSIM_PAUSE ? "pause" : "restart", x->node,
                               x->from_s, x->to_s);
        at += k > 0 ? (size_t)k : 0;
    }
    if (r.views_unconverged > 0)
        rep->ok = false, snprintf(rep->why, sizeof rep->why,
                                  "%zu members, loss %.2f: %llu (observer, member) views wrong "
                                  "60 s after the last fault healed;%s", n, loss,
                                  (unsigned long long)r.views_unconverged, what);
    rep->unconverged = r.trials_unconverged;
    if (r.trials_unconverged > 0 && rep->ok)
        rep->ok = false, snprintf(rep->why, sizeof rep->why,
                                  "%zu members, loss %.2f: %u of %u capacity changes not at "
                                  "every member within %.1f s", n, loss, r.trials_unconverged,
                                  r.trials, cfg.converge_limit_s);
    if (!r.detected)
        rep->ok = false, snprintf(rep->why, sizeof rep->why,
                                  "%zu members, loss %.2f: the killed member is not dead in "
                                  "every live view", n, loss);
    else if (loss == 0 && r.false_deaths_unfaulted > 0)
        rep->ok = false, snprintf(rep->why, sizeof rep->why,
                                  "%zu members, no loss: %llu live members declared dead with no "
                                  "fault between them", n,
                                  (unsigned long long)r.false_deaths_unfaulted);
    return WP_OK;
}
