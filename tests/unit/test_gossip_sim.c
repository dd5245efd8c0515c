/* The gossip simulation targets of issue 5, on the edge preset's geographic
 * delays (simulated network, real cores): with 330 members at memberlist's
 * LAN defaults and 1% loss over 10 simulated minutes, a capacity change
 * reaches 99.99% of members within 2.5 s (p50 and max over 10 trials), a
 * killed member is dead everywhere within the suspicion bound, and no live
 * member is ever declared dead. Also: the same seed replays exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "node/node.h"
#include "topology/topology.h"

static int run(size_t n, double loss, double duration_s, uint64_t seed,
               wp_gossip_sim_result *r)
{
    wp_topology *t = NULL;
    wp_err err;
    assert_int_equal(wp_topo_load_preset("edge", NULL, &t, &err), WP_OK);
    float *d = malloc(n * n * sizeof *d);
    wp_gossip_sim_place(t, n, d, NULL);
    wp_gossip_sim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.nodes = n;
    cfg.oneway_ms = d;
    wp_gossip_config_default(&cfg.gossip);
    cfg.loss = loss;
    cfg.seed = seed;
    cfg.duration_s = duration_s;
    cfg.trials = 10;
    int rv = wp_gossip_sim_run(&cfg, r, &err);
    if (rv)
        print_error("sim: %s\n", wp_err_text(&err));
    free(d);
    wp_topo_free(t);
    return rv;
}

static void test_targets_330_members(void **state)
{
    (void)state;
    const uint64_t seed = 1;
    wp_gossip_sim_result r;
    assert_int_equal(run(330, 0.01, 600, seed, &r), WP_OK);
    print_message("seed %llu: 330 members, 1%% loss, 600 s: joined %.1f s, convergence p50 %.3f s "
                  "max %.3f s (%u unconverged), detection %.2f s (bound %.1f..%.1f s), "
                  "false positives %llu, suspicions %llu, frames %llu\n",
                  (unsigned long long)seed, r.joined_s, r.convergence_s_p50, r.convergence_s_max,
                  r.trials_unconverged, r.detection_s, r.suspicion_min_s, r.suspicion_max_s,
                  (unsigned long long)r.false_positives, (unsigned long long)r.suspicions,
                  (unsigned long long)r.messages);
    assert_false(isnan(r.joined_s));
    assert_int_equal(r.trials_unconverged, 0);
    assert_true(r.convergence_s_p50 <= 2.5);
    assert_true(r.convergence_s_max <= 2.5);
    assert_true(r.detected);
    assert_true(r.detection_s >= r.suspicion_min_s);
    /* Dead everywhere within the max suspicion timeout plus one probe
     * interval to start suspecting and a few seconds to spread the news. */
    assert_true(r.detection_s <= r.suspicion_max_s + 1.0 + 5.0);
    assert_int_equal(r.false_positives, 0);
    assert_true(r.messages_lost > 0); /* the loss model did act */
    assert_true(r.simulated_s >= 599.0);
}

static void test_same_seed_same_run(void **state)
{
    (void)state;
    wp_gossip_sim_result a, b, c;
    assert_int_equal(run(40, 0.05, 150, 9, &a), WP_OK);
    assert_int_equal(run(40, 0.05, 150, 9, &b), WP_OK);
    assert_int_equal(run(40, 0.05, 150, 10, &c), WP_OK);
    assert_int_equal(a.messages, b.messages);
    assert_int_equal(a.messages_lost, b.messages_lost);
    assert_true(a.convergence_s_p50 == b.convergence_s_p50);
    assert_true(a.detection_s == b.detection_s);
    assert_true(a.messages != c.messages || a.messages_lost != c.messages_lost);
}

static void test_rejects_bad_config(void **state)
{
    (void)state;
    wp_gossip_sim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    wp_gossip_sim_result r;
    wp_err err;
    float d[9] = {0};
    cfg.nodes = 3;
    cfg.oneway_ms = d;
    wp_gossip_config_default(&cfg.gossip);
    cfg.duration_s = 600;
    cfg.trials = 1;
    cfg.loss = 1.0;
    assert_int_equal(wp_gossip_sim_run(&cfg, &r, &err), WP_EINVAL);
    cfg.loss = 0;
    cfg.nodes = 2;
    assert_int_equal(wp_gossip_sim_run(&cfg, &r, &err), WP_EINVAL);
}

/* Small clusters, no loss, push-pull pushed out of the run: a capacity
 * change must reach every member by piggybacked gossip alone, within the
 * retransmit limit's gossip intervals (plus delays). With memberlist's
 * limit of 4 sends below 10 members a member misses an update with
 * probability ~e^-4 (~2%): the campaign's seed 108 (8 members) was such a
 * miss, repaired only by a push-pull 20 s later. The floor of 8 sends
 * makes it ~3e-4 per member (~0.1 misses expected over these 5 runs x
 * 10 trials x 7 members). With the old limit this test saw one miss. */
static void test_small_cluster_epidemic_reaches_everyone(void **state)
{
    (void)state;
    const size_t n = 8;
    float d[8 * 8];
    for (size_t i = 0; i < n * n; i++)
        d[i] = i % (n + 1) == 0 ? 0.0f : 20.0f;
    wp_gossip_sim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.nodes = n;
    cfg.oneway_ms = d;
    wp_gossip_config_default(&cfg.gossip);
    cfg.gossip.push_pull_interval_ns = 3600 * WP_NS_PER_S;
    cfg.duration_s = 150;
    cfg.trials = 10;
    uint32_t limit = wp_gossip_retransmit_limit(&cfg.gossip, n);
    assert_true(limit >= 8);
    cfg.converge_limit_s = (double)limit * (double)cfg.gossip.gossip_interval_ns / 1e9 + 1.0;
    uint32_t missed = 0;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        cfg.seed = seed;
        wp_gossip_sim_result r;
        wp_err err;
        assert_int_equal(wp_gossip_sim_run(&cfg, &r, &err), WP_OK);
        missed += r.trials_unconverged;
        assert_true(r.convergence_s_max <= cfg.converge_limit_s);
    }
    assert_int_equal(missed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejects_bad_config),
        cmocka_unit_test(test_same_seed_same_run),
        cmocka_unit_test(test_small_cluster_epidemic_reaches_everyone),
        cmocka_unit_test(test_targets_330_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
