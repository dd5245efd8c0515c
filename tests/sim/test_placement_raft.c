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

#include "consensus/consensus.h"
#include "placement/placement.h"

#define GB (1000ull * 1000 * 1000)
#define MAX_SERVERS 5
#define MAX_REQS 256

/* The seed of the randomized test running now (0: a fixed scenario), for
 * failure messages. */
static uint64_t current_seed;
/* Schedules after which not every server caught up (see test_random_faults). */
static unsigned n_lagging;

typedef struct server {
    wp_place_state *state;
    wp_consensus_sm sm;
    struct raft_fsm fsm;
    wp_place_result last;
    unsigned restores;
} server;

typedef struct req {
    struct raft_apply apply;
    bool done;
    int status;
    int code; /* the state machine's result code */
    char model[WP_NAME_MAX];
} req;

typedef struct world {
    struct raft_fixture f;
    wp_place_geo geo;
    server s[MAX_SERVERS];
    unsigned n;
    req reqs[MAX_REQS];
    unsigned n_reqs;
} world;

static int sm_apply(void *ctx, const void *cmd, size_t len, const void **result)
{
    server *sv = ctx;
    int rv = wp_place_state_apply(sv->state, cmd, len, &sv->last);
    *result = &sv->last;
    return rv;
}

static int sm_snapshot(void *ctx, void **buf, size_t *len)
{
    server *sv = ctx;
    return wp_place_state_snapshot(sv->state, buf, len, NULL);
}

static int sm_restore(void *ctx, const void *buf, size_t len, wp_err *err)
{
    server *sv = ctx;
    sv->restores++;
    return wp_place_state_restore(sv->state, buf, len, err);
}

static void world_init(world *w, unsigned n)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    assert_int_equal(wp_place_geo_init(&w->geo, 3, NULL), WP_OK);
    const char *codes[] = {"FRA", "JFK", "SIN"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(w->geo.cities[i].code, WP_PLACE_CODE_MAX, "%s", codes[i]);
        w->geo.cities[i].pop_weight = 1;
        for (size_t j = 0; j < 3; j++)
            w->geo.rtt_ms[i * 3 + j] = i == j ? 1.0f : 80.0f;
    }
    memset(&w->f, 0, sizeof w->f); /* the fixture reads fields it never set otherwise */
    assert_int_equal(raft_fixture_initialize(&w->f), 0);
    for (unsigned i = 0; i < n; i++) {
        server *sv = &w->s[i];
        assert_int_equal(wp_place_state_new(&w->geo, &sv->state, NULL), WP_OK);
        sv->sm = (wp_consensus_sm){sv, sm_apply, sm_snapshot, sm_restore};
        wp_consensus_fsm_init(&sv->fsm, &sv->sm);
        assert_int_equal(raft_fixture_grow(&w->f, &sv->fsm), 0);
        struct raft *r = raft_fixture_get(&w->f, i);
        raft_set_pre_vote(r, true);
        raft_set_snapshot_threshold(r, 8);
        raft_set_snapshot_trailing(r, 4);
    }
    struct raft_configuration conf;
    assert_int_equal(raft_fixture_configuration(&w->f, n, &conf), 0);
    assert_int_equal(raft_fixture_bootstrap(&w->f, &conf), 0);
    raft_configuration_close(&conf);
    assert_int_equal(raft_fixture_start(&w->f), 0);
    assert_true(raft_fixture_step_until_has_leader(&w->f, 10000));
}

static void world_close(world *w)
{
    raft_fixture_close(&w->f);
    for (unsigned i = 0; i < w->n; i++)
        wp_place_state_free(w->s[i].state);
    wp_place_geo_close(&w->geo);
}

static void apply_done(struct raft_apply *a, int status, void *result)
{
    req *r = a->data;
    r->done = true;
    r->status = status;
    r->code = status == 0 ? ((const wp_place_result *)result)->code : -1;
}

/* Proposes cmd on server i; returns the request (or NULL if refused). */
static req *propose(world *w, unsigned i, const wp_place_cmd *cmd)
{
    void *buf;
    size_t len;
    assert_int_equal(wp_place_cmd_encode(cmd, &buf, &len, NULL), WP_OK);
    assert_true(w->n_reqs < MAX_REQS);
    req *r = &w->reqs[w->n_reqs];
    memset(r, 0, sizeof *r);
    r->apply.data = r;
    if (cmd->type == WP_PLACE_CMD_CATALOG_ADD)
        snprintf(r->model, sizeof r->model, "%s", cmd->profile.name);
    size_t flen = wp_consensus_frame(NULL, buf, len);
    struct raft_buffer rb = {raft_malloc(flen), flen};
    wp_consensus_frame(rb.base, buf, len);
    free(buf);
    if (raft_apply(raft_fixture_get(&w->f, i), &r->apply, &rb, 1, apply_done) != 0) {
        raft_free(rb.base);
        return NULL;
    }
    w->n_reqs++;
    return r;
}

static req *add_model(world *w, unsigned i, const char *name)
{
    wp_place_cmd c = {.type = WP_PLACE_CMD_CATALOG_ADD};
    snprintf(c.profile.name, sizeof c.profile.name, "%s", name);
    c.profile.size_bytes = 4 * GB;
    c.profile.slots_per_gpu = 4;
    c.profile.load_bytes_per_s = 2e9;
    return propose(w, i, &c);
}

static unsigned leader(world *w)
{
    unsigned l = raft_fixture_leader_index(&w->f);
    assert_true(l < w->n);
    return l;
}

/* Steps until every request has its callback (or max_ms passes). */
static void wait_done(world *w, req *r, unsigned max_ms)
{
    for (unsigned t = 0; t < max_ms && !r->done; t += 10)
        raft_fixture_step_until_elapsed(&w->f, 10);
    assert_true(r->done);
}

/* Every committed catalog-add is in the state of every server that has
 * applied the leader's last index, and those servers' snapshots are
 * byte-identical. With require_all every server must get there; else a
 * majority must (see test_random_faults for why). */
static void check_converged(world *w, bool require_all)
{
    if (!raft_fixture_step_until_has_leader(&w->f, 10000))
        fail_msg("seed %llu: no leader", (unsigned long long)current_seed);
    raft_index last = raft_last_index(raft_fixture_get(&w->f, leader(w)));
    bool all = raft_fixture_step_until_applied(&w->f, w->n, last, 10000);
    unsigned caught_up = 0;
    for (unsigned i = 0; i < w->n; i++)
        if (raft_last_applied(raft_fixture_get(&w->f, i)) >= last)
            caught_up++;
    if (!all)
        n_lagging++;
    if ((require_all && !all) || caught_up * 2 <= w->n) {
        for (unsigned i = 0; i < w->n; i++) {
            struct raft *r = raft_fixture_get(&w->f, i);
            fprintf(stderr, "server %u: state %d term %llu commit %llu applied %llu last %llu\n",
                    i, raft_state(r), (unsigned long long)r->current_term,
                    (unsigned long long)r->commit_index, (unsigned long long)raft_last_applied(r),
                    (unsigned long long)raft_last_index(r));
        }
        fail_msg("seed %llu: %u of %u servers applied index %llu",
                 (unsigned long long)current_seed, caught_up, w->n, (unsigned long long)last);
    }
    void *ref = NULL;
    size_t ref_len = 0;
    for (unsigned i = 0; i < w->n; i++) {
        if (raft_last_applied(raft_fixture_get(&w->f, i)) < last)
            continue;
        for (unsigned k = 0; k < w->n_reqs; k++) {
            const req *r = &w->reqs[k];
            if (r->done && r->status == 0 && r->code == WP_OK && r->model[0])
                if (wp_place_state_find_model(w->s[i].state, r->model) < 0)
                    fail_msg("seed %llu: server %u lost committed model %s",
                             (unsigned long long)current_seed, i, r->model);
        }
        void *buf;
        size_t len;
        assert_int_equal(wp_place_state_snapshot(w->s[i].state, &buf, &len, NULL), WP_OK);
        if (ref == NULL) {
            ref = buf;
            ref_len = len;
        } else {
            if (len != ref_len || memcmp(buf, ref, len) != 0)
                fail_msg("seed %llu: server %u's state differs", (unsigned long long)current_seed,
                         i);
            free(buf);
        }
    }
    free(ref);
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
    check_converged(w, true);
    assert_int_equal(wp_place_state_model_count(w->s[l].state), 24);
    assert_true(w->s[l].restores >= 1);
    world_close(w);
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
    check_converged(w, true);
    for (unsigned i = 0; i < 5; i++) {
        assert_true(wp_place_state_find_model(w->s[i].state, "before") >= 0);
        assert_true(wp_place_state_find_model(w->s[i].state, "majority") >= 0);
        assert_true(wp_place_state_find_model(w->s[i].state, "minority") < 0);
    }
    world_close(w);
    free(w);
}

/* Seeded random fault schedules on 5 servers: kills and revivals (never
 * more than two down), links cut and healed (both directions at once),
 * proposals to whoever leads, time passing. After healing everything:
 * a majority applies the leader's whole log, and on every server that did,
 * every command whose commit was reported is there and the states are
 * byte-identical. Not required: that all five catch up — raft 0.15 was
 * seen to leave a follower's commit index stuck behind after some of these
 * schedules (seed 5: two followers at commit 23 with entries up to 25 in
 * their logs, the leader counting them as matched at 25 and sending
 * heartbeats); a liveness problem of the library, not a loss. */
static void test_random_faults(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        current_seed = seed;
        world *w = malloc(sizeof *w);
        world_init(w, 5);
        wp_rng rng;
        wp_rng_seed(&rng, seed);
        bool dead[5] = {false};
        unsigned n_dead = 0, k = 0;
        for (int step = 0; step < 80 && w->n_reqs < MAX_REQS - 2; step++) {
            unsigned a = (unsigned)wp_rng_below(&rng, 5), b = (unsigned)wp_rng_below(&rng, 5);
            switch (wp_rng_below(&rng, 6)) {
            case 0:
                if (!dead[a] && n_dead < 2) {
                    raft_fixture_kill(&w->f, a);
                    dead[a] = true;
                    n_dead++;
                }
                break;
            case 1:
                if (dead[a]) {
                    raft_fixture_revive(&w->f, a);
                    dead[a] = false;
                    n_dead--;
                }
                break;
            case 2: /* a link fails both ways */
                if (a != b) {
                    raft_fixture_disconnect(&w->f, a, b);
                    raft_fixture_disconnect(&w->f, b, a);
                }
                break;
            case 3:
                if (a != b) {
                    raft_fixture_reconnect(&w->f, a, b);
                    raft_fixture_reconnect(&w->f, b, a);
                }
                break;
            default: {
                for (unsigned i = 0; i < 5; i++)
                    if (!dead[i] && raft_state(raft_fixture_get(&w->f, i)) == RAFT_LEADER) {
                        char name[32];
                        snprintf(name, sizeof name, "m%03u", k++);
                        add_model(w, i, name);
                        break;
                    }
                break;
            }
            }
            raft_fixture_step_until_elapsed(&w->f, 50 + (unsigned)wp_rng_below(&rng, 400));
        }
        for (unsigned i = 0; i < 5; i++) {
            if (dead[i])
                raft_fixture_revive(&w->f, i);
            for (unsigned j = 0; j < 5; j++)
                if (i != j)
                    raft_fixture_reconnect(&w->f, i, j);
        }
        if (!raft_fixture_step_until_has_leader(&w->f, 20000))
            fail_msg("seed %llu: no leader after healing", (unsigned long long)seed);
        req *last = add_model(w, leader(w), "final");
        if (last == NULL)
            fail_msg("seed %llu: leader refused a proposal", (unsigned long long)seed);
        wait_done(w, last, 10000);
        if (last->status != 0)
            fail_msg("seed %llu: final command not committed", (unsigned long long)seed);
        check_converged(w, false);
        world_close(w);
        free(w);
    }
    printf("random fault schedules: 40, with a follower left behind by raft: %u\n", n_lagging);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leader_loss),
        cmocka_unit_test(test_minority_partition),
        cmocka_unit_test(test_random_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
