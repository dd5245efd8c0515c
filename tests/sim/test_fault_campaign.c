/* The fault campaign (faultsim/faultsim.h) in ctest: 500 seeded schedules
 * of kills, pauses, partitions, one-way loss, disk failures and proposals
 * on five placement replicas over raft's fixture, each ending with the
 * invariants checked (a leader, every replica converged, no acknowledged
 * command lost, byte-identical states). A failing seed prints itself; rerun
 * it alone with WP_FSIM_SEED=N. Then the three seeds of 10,000 that raft
 * 0.15 failed on a follower's snapshot ahead of its leader's view. Then
 * 500 seeded runs of the gossip simulation (WP_FSIM_GOSSIP_SEED=N for one).
 * tools/bench/bench_faults runs 10,000 of either. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>

#include "faultsim/faultsim.h"

static void test_campaign(void **state)
{
    (void)state;
    uint64_t first = 1, n = 500;
    const char *one = getenv("WP_FSIM_SEED");
    if (one != NULL && wp_parse_u64(one, &first) == WP_OK)
        n = 1;
    wp_fsim_opts o = {.shim = true, .disk_faults = true};
    unsigned failed = 0, kills = 0, pauses = 0, parts = 0, losses = 0, disks = 0, acked = 0;
    uint64_t trimmed = 0, mismatched = 0;
    for (uint64_t seed = first; seed < first + n; seed++) {
        wp_fsim_report rep;
        wp_err err = {0};
        if (wp_fsim_raft_run(seed, &o, &rep, &err) != WP_OK)
            fail_msg("seed %llu: %s", (unsigned long long)seed, wp_err_text(&err));
        if (!rep.ok) {
            printf("{\"seed\":%llu,\"failure\":\"%s\"}\n", (unsigned long long)seed, rep.why);
            failed++;
        }
        kills += rep.kills;
        pauses += rep.pauses;
        parts += rep.partitions;
        losses += rep.losses;
        disks += rep.disk_faults;
        acked += rep.acked;
        trimmed += rep.trimmed;
        mismatched += rep.trim_mismatched;
    }
    printf("{\"schedules\":%llu,\"failed\":%u,\"kills\":%u,\"pauses\":%u,\"partitions\":%u,"
           "\"losses\":%u,\"disk_faults\":%u,\"acked\":%u,\"trimmed\":%llu}\n",
           (unsigned long long)n, failed, kills, pauses, parts, losses, disks, acked,
           (unsigned long long)trimmed);
    assert_int_equal(failed, 0);
    /* The shim's rewrite (consensus.c, fault 3) never met a request whose
     * entry at the follower's snapshot index had another term. */
    assert_int_equal(mismatched, 0);
    /* The schedules do exercise every fault. */
    if (n > 1)
        assert_true(kills > 0 && pauses > 0 && parts > 0 && losses > 0 && disks > 0);
}

/* raft 0.15 left a follower behind for good when the leader's view of it
 * (next 9, match 8) lay below the follower's own snapshot (13): the leader
 * probed down to its older snapshot (8), which the follower ignores, over
 * and over (consensus.c, fault 3). These three of the first 10,000 seeds
 * failed that way ("server N left behind") until the shim started such
 * requests at the follower's snapshot; each one needs that rewrite. */
static void test_follower_snapshot_ahead(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {2355, 3193, 4585};
    const wp_fsim_opts o = {.shim = true, .disk_faults = true};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        wp_fsim_report rep;
        wp_err err = {0};
        assert_int_equal(wp_fsim_raft_run(seeds[i], &o, &rep, &err), WP_OK);
        if (!rep.ok)
            fail_msg("seed %llu: %s", (unsigned long long)seeds[i], rep.why);
        assert_true(rep.trimmed > 0);
    }
}

/* The gossip side: 500 seeded runs of the gossip simulation (sizes,
 * loss, delays, one kill, then pauses, partitions and restarts),
 * invariants in faultsim.h. Without the core's reconnect, 59 of these 500
 * end split in two after a partition (checked below on the first such
 * seeds: the invariant does catch it). */
static void test_gossip_campaign(void **state)
{
    (void)state;
    uint64_t first = 1, n = 500;
    const char *one = getenv("WP_FSIM_GOSSIP_SEED");
    if (one != NULL && wp_parse_u64(one, &first) == WP_OK)
        n = 1;
    unsigned failed = 0, lossy = 0, unconverged = 0, pauses = 0, parts = 0, restarts = 0;
    for (uint64_t seed = first; seed < first + n; seed++) {
        wp_fsim_report rep;
        wp_err err = {0};
        if (wp_fsim_gossip_run(seed, NULL, &rep, &err) != WP_OK)
            fail_msg("gossip seed %llu: %s", (unsigned long long)seed, wp_err_text(&err));
        lossy += rep.losses;
        pauses += rep.pauses;
        parts += rep.partitions;
        restarts += rep.restarts;
        unconverged += rep.unconverged > 0;
        if (!rep.ok) {
            printf("{\"gossip_seed\":%llu,\"failure\":\"%s\"}\n", (unsigned long long)seed,
                   rep.why);
            failed++;
        }
    }
    printf("{\"gossip_runs\":%llu,\"failed\":%u,\"with_loss\":%u,"
           "\"runs_with_unconverged_capacity\":%u,\"pauses\":%u,\"partitions\":%u,"
           "\"restarts\":%u}\n",
           (unsigned long long)n, failed, lossy, unconverged, pauses, parts, restarts);
    assert_int_equal(failed, 0);
    if (n > 1)
        assert_true(pauses > 0 && parts > 0 && restarts > 0);
}

/* The invariant catches a split: with the reconnect off, seeds 2, 4 and 14
 * (a partition longer than detection + the gossip-to-the-dead window) end
 * with views that never heal. */
static void test_gossip_split_caught(void **state)
{
    (void)state;
    const wp_fsim_opts o = {.no_reconnect = true};
    static const uint64_t seeds[] = {2, 4, 14};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        wp_fsim_report rep;
        wp_err err = {0};
        assert_int_equal(wp_fsim_gossip_run(seeds[i], &o, &rep, &err), WP_OK);
        assert_false(rep.ok);
        assert_non_null(strstr(rep.why, "views wrong"));
        assert_non_null(strstr(rep.why, "partition"));
        assert_int_equal(wp_fsim_gossip_run(seeds[i], NULL, &rep, &err), WP_OK);
        assert_true(rep.ok);
    }
}

int main(void)
{
    wp_log_set_level(WP_LOG_ERROR); /* fenced servers warn once each */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_campaign),
        cmocka_unit_test(test_follower_snapshot_ahead),
        cmocka_unit_test(test_gossip_campaign),
        cmocka_unit_test(test_gossip_split_caught),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
