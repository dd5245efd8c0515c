/* faultsim/gossip_campaign.c — seeded sweeps over the gossip simulation
 * (node/gossip_sim.c drives n pure SWIM/Lifeguard cores on simulated time):
 * a seed picks the size (3..16 members), the message loss (0, 1, 3 or 5%),
 * random one-way delays (1..80 ms) and the simulation's own seed (which
 * picks the member killed 5 s after joining, and the capacity-change
 * trials). The schedule is the simulation's: join, capacity changes, one
 * kill; partitions and pauses are not modelled there (see faultsim.h). */
#include "faultsim/faultsim.h"
#include "node/node.h"

#include <stdlib.h>
#include <string.h>

int wp_fsim_gossip_run(uint64_t seed, wp_fsim_report *rep, wp_err *err)
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
    wp_gossip_sim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.nodes = n;
    cfg.oneway_ms = d;
    wp_gossip_config_default(&cfg.gossip);
    cfg.loss = loss;
    cfg.seed = seed;
    cfg.duration_s = 120;
    cfg.trials = 3;
    wp_gossip_sim_result r;
    int rv = wp_gossip_sim_run(&cfg, &r, err);
    free(d);
    if (rv != WP_OK)
        return rv;
    rep->kills = 1;
    rep->losses = loss > 0;
    rep->ok = true;
    rep->unconverged = r.trials_unconverged;
    if (!r.detected)
        rep->ok = false, snprintf(rep->why, sizeof rep->why,
                                  "%zu members, loss %.2f: the killed member is not dead in "
                                  "every live view", n, loss);
    else if (loss == 0 && r.false_positives > 0)
        rep->ok = false, snprintf(rep->why, sizeof rep->why,
                                  "%zu members, no loss: %llu live members declared dead", n,
                                  (unsigned long long)r.false_positives);
    return WP_OK;
}
