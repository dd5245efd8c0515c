/* Deterministic tests of the placement state machine replicated by canonical
 * raft, on raft's in-memory fixture (raft/fixture.h: simulated time and
 * network, no disk, no sockets): leader loss, a minority partition holding
 * the old leader, and no committed command lost. Every server runs its own
 * wp_place_state through consensus/'s raft_fsm adapter; at the end all
 * servers' snapshots must be byte-identical. Snapshots are taken every few
 * entries so a server that was down catches up by InstallSnapshot, which
 * exercises restore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <raft.h>
#include <raft/fixture.h>
#include <stdlib.h>
#include <string.h>

#include "faultsim/faultsim.h"

#define GB (1000ull * 1000 * 1000)

typedef wp_fsim_world world;
typedef wp_fsim_req req;

static void world_init(world *w, unsigned n)
{
    wp_err err = {0};
    if (wp_fsim_world_init(w, n, true, &err) != WP_OK)
        fail_msg("world: %s", wp_err_text(&err));
}

static req *propose(world *w, unsigned i, const wp_place_cmd *cmd)
{
    return wp_fsim_propose(w, i, cmd);
}

static req *add_model(world *w, unsigned i, const char *name)
{
    return wp_fsim_add_model(w, i, name);
}

static unsigned leader(world *w)
{
    unsigned l = raft_fixture_leader_index(&w->f);
    assert_true(l < w->n);
    return l;
}

/* Steps until r has its callback (or max_ms passes). */
static void wait_done(world *w, req *r, unsigned max_ms)
{
    for (unsigned t = 0; t < max_ms && !r->done; t += 10)
        raft_fixture_step_until_elapsed(&w->f, 10);
    assert_true(r->done);
}

/* faultsim's invariants: every server applies the leader's last index,
 * no acknowledged command is lost, the states are byte-identical. */
static void check_converged(world *w)
{
    char why[256];
    if (!wp_fsim_check(w, why, sizeof why))
        fail_msg("%s", why);
}

static void test_leader_loss(void **state)
{
    (void)state;
    world *w = malloc(sizeof *w);
    world_init(w, 3);
    unsigned l = leader(w);
    wp_place_cmd reg = {.type = WP_PLACE_CMD_REGISTER_NODE, .gpus = 1, .gpu_mem_bytes = 40 * GB};
    snprintf(reg.node, sizeof reg.node, "fra-1");
    snprintf(reg.city, sizeof reg.city, "FRA");
    req *r0 = propose(w, l, &reg);
    assert_non_null(r0);
    char name[32];
    req *last = NULL;
    for (int k = 0; k < 12; k++) {
        snprintf(name, sizeof name, "m%02d", k);
        last = add_model(w, l, name);
        assert_non_null(last);
    }
    wait_done(w, last, 5000);
    assert_int_equal(last->status, 0);
    assert_int_equal(last->code, WP_OK);
    /* A refused command is committed too, but as a refusal. */
    snprintf(reg.city, sizeof reg.city, "XXX");
    req *bad = propose(w, l, &reg);
    wait_done(w, bad, 5000);
    assert_int_equal(bad->status, 0);
    assert_int_equal(bad->code, WP_ENOTFOUND);

    /* Kill the leader: no leader, then a new one among the other two. */
    raft_fixture_kill(&w->f, l);
    assert_true(raft_fixture_step_until_has_no_leader(&w->f, 10000));
    assert_true(raft_fixture_step_until_has_leader(&w->f, 10000));
    unsigned l2 = leader(w);
    assert_int_not_equal(l2, l);
    /* A non-leader refuses to propose. */
    unsigned follower = (l2 + 1) % 3 == l ? (l2 + 2) % 3 : (l2 + 1) % 3;
    assert_null(add_model(w, follower, "refused"));
    for (int k = 12; k < 24; k++) {
        snprintf(name, sizeof name, "m%02d", k);
        last = add_model(w, l2, name);
        assert_non_null(last);
    }
    wait_done(w, last, 5000);
    assert_int_equal(last->status, 0);
    /* The old leader comes back, catches up (by snapshot: it is 12+ entries
     * behind with snapshots every 8) and agrees with the others. */
    raft_fixture_revive(&w->f, l);
    check_converged(w);
    assert_int_equal(wp_place_state_model_count(w->s[l].state), 24);
    assert_true(w->s[l].restores >= 1);
    wp_fsim_world_close(w);
    free(w);
}

static void test_minority_partition(void **state)
{
    (void)state;
    world *w = malloc(sizeof *w);
    world_init(w, 5);
    unsigned l = leader(w);
    req *r = add_model(w, l, "before");
    wait_done(w, r, 5000);
    assert_int_equal(r->status, 0);
    /* Cut the leader and one follower off from the other three. */
    unsigned buddy = (l + 1) % 5;
    for (unsigned i = 0; i < 5; i++) {
        if (i == l || i == buddy)
            continue;
        raft_fixture_disconnect(&w->f, l, i);
        raft_fixture_disconnect(&w->f, buddy, i);
    }
    /* The old leader accepts a proposal but cannot commit it. */
    req *stuck = add_model(w, l, "minority");
    raft_fixture_step_until_elapsed(&w->f, 3000);
    assert_true(!stuck->done || stuck->status != 0);
    /* The majority elects its own leader and commits. */
    unsigned l2 = 5;
    for (unsigned t = 0; t < 10000 && l2 == 5; t += 10) {
        raft_fixture_step_until_elapsed(&w->f, 10);
        for (unsigned i = 0; i < 5; i++)
            if (i != l && i != buddy && raft_state(raft_fixture_get(&w->f, i)) == RAFT_LEADER)
                l2 = i;
    }
    assert_true(l2 < 5);
    req *maj = add_model(w, l2, "majority");
    assert_non_null(maj);
    wait_done(w, maj, 5000);
    assert_int_equal(maj->status, 0);
    assert_int_equal(maj->code, WP_OK);
    /* Heal: the old leader steps down, its uncommitted entry is dropped. */
    for (unsigned i = 0; i < 5; i++) {
        if (i == l || i == buddy)
            continue;
        raft_fixture_reconnect(&w->f, l, i);
        raft_fixture_reconnect(&w->f, buddy, i);
    }
    wait_done(w, stuck, 10000);
    assert_int_not_equal(stuck->status, 0);
    assert_true(raft_fixture_step_until_has_leader(&w->f, 10000));
    check_converged(w);
    for (unsigned i = 0; i < 5; i++) {
        assert_true(wp_place_state_find_model(w->s[i].state, "before") >= 0);
        assert_true(wp_place_state_find_model(w->s[i].state, "majority") >= 0);
        assert_true(wp_place_state_find_model(w->s[i].state, "minority") < 0);
    }
    wp_fsim_world_close(w);
    free(w);
}

/* The follower raft 0.15 leaves behind, reproduced, and fixed by
 * consensus/'s shim (consensus.c has the essay). Without the shim some
 * schedules end with followers holding entries of an older term that the
 * leader counts as matched; their commit index stays behind for good (the
 * old version of this test saw 6 of 40 and accepted them; one was seed 5:
 * two followers with term-2 entries at 24-25 under a term-3 leader whose
 * progress said match 25, commit stuck at 23). The count without the shim
 * is printed, not asserted (a newer raft fixes it); with the shim every
 * one of the same schedules must converge. The 500-seed campaign with all
 * faults is test_fault_campaign. */
static void test_lagging_follower(void **state)
{
    (void)state;
    wp_fsim_report rep;
    wp_err err = {0};
    wp_fsim_opts bare = {.shim = false}, shim = {.shim = true};
    unsigned lagging = 0;
    uint64_t first = 0, capped = 0;
    for (uint64_t seed = 1; seed <= 100; seed++) {
        assert_int_equal(wp_fsim_raft_run(seed, &bare, &rep, &err), WP_OK);
        if (!rep.ok && lagging++ == 0) {
            first = seed;
            printf("seed %llu without the shim: %s\n", (unsigned long long)seed, rep.why);
        }
        assert_int_equal(wp_fsim_raft_run(seed, &shim, &rep, &err), WP_OK);
        if (!rep.ok)
            fail_msg("seed %llu with the shim: %s", (unsigned long long)seed, rep.why);
        capped += rep.capped;
    }
    printf("100 schedules: without the shim %u left a follower behind (first: seed %llu); "
           "with it all converged (%llu answers capped)\n",
           lagging, (unsigned long long)first, (unsigned long long)capped);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leader_loss),
        cmocka_unit_test(test_minority_partition),
        cmocka_unit_test(test_lagging_follower),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
