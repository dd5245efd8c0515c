/* Unit tests of router/: every policy, overload, dead/suspect/draining
 * nodes, stale deltas, no warm replica (cold flagged), explain. A small
 * hand-made RTT matrix keeps every expected cost exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "router/router.h"

/* Cities A=0 B=1 C=2 D=3, RTT in ms. */
static const double rtt4[4][4] = {
    {1, 10, 20, 40},
    {10, 1, 15, 30},
    {20, 15, 1, 25},
    {40, 30, 25, 1},
};

static double rtt_lookup(const void *ctx, size_t a, size_t b)
{
    (void)ctx;
    return rtt4[a][b];
}

#define GB 1000000000ull

/* One model: service 10 ms (prefill only, 1 token), 2 slots per GPU,
 * cold load 1 GB at 1 GB/s = 1000 ms. */
static wp_model_profile model_profile(const char *name, uint64_t size_bytes)
{
    wp_model_profile p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "%s", name);
    p.size_bytes = size_bytes;
    p.prefill_base_ms = 10;
    p.slots_per_gpu = 2;
    p.load_bytes_per_s = 1e9;
    p.typical_in_tokens = 1;
    p.typical_out_tokens = 1;
    return p;
}

typedef struct fixture {
    wp_router_view *v;
    uint32_t m;       /* the model */
    uint32_t n[4];    /* one node per city, 1 GPU, 10 GB free */
} fixture;

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof f);
    wp_router_config cfg = {.ncities = 4, .rtt_ms = rtt_lookup, .queue_per_slot = 1.0};
    wp_err err;
    assert_int_equal(wp_router_view_new(&cfg, &f.v, &err), WP_OK);
    wp_model_profile p = model_profile("llm", 1 * GB);
    assert_int_equal(wp_router_model_add(f.v, &p, &f.m, &err), WP_OK);
    static const char *ids[4] = {"a1", "b1", "c1", "d1"};
    /* Added out of city order on purpose: lists must sort by RTT. */
    static const uint32_t order[4] = {2, 0, 3, 1};
    for (int k = 0; k < 4; k++) {
        uint32_t c = order[k];
        wp_router_node_info info = {.id = ids[c], .city = c, .gpus = 1, .free_mem_bytes = 10 * GB};
        assert_int_equal(wp_router_node_add(f.v, &info, &f.n[c], &err), WP_OK);
    }
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    wp_router_view_free(f->v);
    return 0;
}

static wp_route_req req_at(uint32_t ingress, uint32_t model, wp_route_policy p)
{
    wp_route_req r = {.model = model, .ingress = ingress, .policy = p};
    return r;
}

static void test_nearest_warm_picks_lowest_rtt_warm(void **state)
{
    fixture *f = *state;
    wp_router_set_warm(f->v, f->n[2], f->m, true); /* C */
    wp_router_set_warm(f->v, f->n[3], f->m, true); /* D */
    wp_route_result r;
    wp_route_req q = req_at(0, f->m, WP_POLICY_NEAREST_WARM);
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[2]);
    assert_int_equal(r.city, 2);
    assert_true(r.rtt_ms == 20.0f);
    assert_false(r.cold);
    /* From D the nearest warm is D itself. */
    q.ingress = 3;
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[3]);
    assert_true(r.rtt_ms == 1.0f);
}

static void test_overloaded_node_skipped(void **state)
{
    fixture *f = *state;
    wp_router_set_warm(f->v, f->n[0], f->m, true);
    wp_router_set_warm(f->v, f->n[1], f->m, true);
    wp_route_result r;
    wp_route_req q = req_at(0, f->m, WP_POLICY_NEAREST_WARM);
    /* 2 slots, queue_per_slot 1 → full at 4 in flight. */
    wp_router_inflight_add(f->v, f->n[0], f->m, 3);
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[0]);
    assert_true(r.wait_ms == 10.0f); /* (3 - 2 + 1) * 10 / 2 */
    wp_router_inflight_add(f->v, f->n[0], f->m, 1);
    assert_int_equal(wp_router_node_inflight(f->v, f->n[0], f->m), 4);
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[1]);
    assert_false(r.cold);
    /* Both warm replicas full, nobody else has memory → overload. */
    wp_router_inflight_add(f->v, f->n[1], f->m, 4);
    wp_router_set_free_mem(f->v, f->n[2], 0);
    wp_router_set_free_mem(f->v, f->n[3], 0);
    assert_int_equal(wp_route(f->v, &q, &r), WP_EOVERLOAD);
    /* With memory at D, a cold load there. */
    wp_router_set_free_mem(f->v, f->n[3], 10 * GB);
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[3]);
    assert_true(r.cold);
    assert_true(r.cost_ms == 40.0f + 1000.0f);
    /* In-flight never goes below zero. */
    wp_router_inflight_add(f->v, f->n[0], f->m, -100);
    assert_int_equal(wp_router_node_inflight(f->v, f->n[0], f->m), 0);
}

static void test_dead_suspect_draining_skipped(void **state)
{
    fixture *f = *state;
    for (int c = 0; c < 4; c++)
        wp_router_set_warm(f->v, f->n[c], f->m, true);
    wp_route_result r;
    wp_route_req q = req_at(0, f->m, WP_POLICY_NEAREST_WARM);
    wp_router_set_status(f->v, f->n[0], WP_NODE_DEAD);
    wp_router_set_status(f->v, f->n[1], WP_NODE_SUSPECT);
    wp_router_set_status(f->v, f->n[2], WP_NODE_DRAINING);
    for (int p = 0; p < (int)WP_POLICY_COUNT; p++) {
        q.policy = (wp_route_policy)p;
        assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
        assert_int_equal(r.node, f->n[3]);
    }
    wp_router_set_status(f->v, f->n[3], WP_NODE_DEAD);
    q.policy = WP_POLICY_NEAREST_WARM;
    assert_int_equal(wp_route(f->v, &q, &r), WP_ENOROUTE);
    /* Explain names each reason. */
    wp_route_candidate cands[8];
    wp_route_explain ex = {.cands = cands, .cap = 8};
    assert_int_equal(wp_route_explain_run(f->v, &q, &r, &ex), WP_ENOROUTE);
    assert_int_equal(ex.n, 4);
    assert_int_equal(ex.total, 4);
    assert_int_equal(cands[0].verdict, WP_CAND_DEAD);
    assert_int_equal(cands[1].verdict, WP_CAND_SUSPECT);
    assert_int_equal(cands[2].verdict, WP_CAND_DRAINING);
    assert_int_equal(cands[3].verdict, WP_CAND_DEAD);
    assert_string_equal(wp_cand_verdict_name(cands[2].verdict), "draining");
}

static void test_no_warm_replica_goes_cold(void **state)
{
    fixture *f = *state;
    wp_route_result r;
    wp_route_req q = req_at(1, f->m, WP_POLICY_NEAREST_WARM);
    /* Nothing warm: the nearest node with memory (B itself), flagged cold. */
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[1]);
    assert_true(r.cold);
    assert_true(r.cost_ms == 1.0f + 1000.0f);
    /* B lacks memory → A (rtt 10). */
    wp_router_set_free_mem(f->v, f->n[1], GB - 1);
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[0]);
    assert_true(r.cold);
    /* Nobody has memory and nothing is warm: no route. */
    for (int c = 0; c < 4; c++)
        wp_router_set_free_mem(f->v, f->n[c], 0);
    assert_int_equal(wp_route(f->v, &q, &r), WP_ENOROUTE);
    /* A node without GPUs is never a target. */
    wp_err err;
    wp_router_node_info info = {.id = "b-ingress", .city = 1, .gpus = 0, .free_mem_bytes = 100 * GB};
    uint32_t idx;
    assert_int_equal(wp_router_node_add(f->v, &info, &idx, &err), WP_OK);
    assert_int_equal(wp_route(f->v, &q, &r), WP_ENOROUTE);
}

static void test_latency_policy_costs_and_early_stop(void **state)
{
    fixture *f = *state;
    for (int c = 0; c < 4; c++)
        wp_router_set_warm(f->v, f->n[c], f->m, true);
    /* A: rtt 1 but 3 in flight → wait (3-2+1)*10/2 = 10, cost 11.
     * B: rtt 10, idle → cost 10. C (rtt 20) cannot beat 10: stop. */
    wp_router_inflight_add(f->v, f->n[0], f->m, 3);
    wp_route_result r;
    wp_route_req q = req_at(0, f->m, WP_POLICY_LATENCY);
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[1]);
    assert_true(r.cost_ms == 10.0f);
    assert_true(r.wait_ms == 0.0f);
    wp_route_candidate cands[8];
    wp_route_explain ex = {.cands = cands, .cap = 8};
    wp_route_result r2;
    assert_int_equal(wp_route_explain_run(f->v, &q, &r2, &ex), WP_OK);
    assert_int_equal(r2.node, r.node);
    assert_true(ex.stopped_early);
    assert_int_equal(ex.considered, 2);
    assert_int_equal(cands[0].node, f->n[0]);
    assert_true(cands[0].cost_ms == 11.0f);
    assert_int_equal(cands[0].verdict, WP_CAND_BETTER_FOUND);
    assert_int_equal(cands[1].verdict, WP_CAND_CHOSEN);
    /* nearest-warm ignores the queue: A. */
    q.policy = WP_POLICY_NEAREST_WARM;
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[0]);
    /* latency weighs a cold load: with only D warm, from C, a cold load at
     * C costs 1 + 1000, the warm D costs 25: D wins. */
    for (int c = 0; c < 3; c++)
        wp_router_set_warm(f->v, f->n[c], f->m, false);
    q = req_at(2, f->m, WP_POLICY_LATENCY);
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[3]);
    assert_false(r.cold);
    assert_true(r.cost_ms == 25.0f);
}

static void test_nearest_ignores_warmth(void **state)
{
    fixture *f = *state;
    wp_router_set_warm(f->v, f->n[3], f->m, true);
    wp_route_result r;
    wp_route_req q = req_at(0, f->m, WP_POLICY_NEAREST);
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[0]);
    assert_true(r.cold);
    q.policy = WP_POLICY_NEAREST_WARM;
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[3]);
    assert_false(r.cold);
    /* nearest skips a node that cannot hold the model. */
    wp_router_set_free_mem(f->v, f->n[0], 0);
    q.policy = WP_POLICY_NEAREST;
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[1]);
}

static void test_stale_deltas_ignored(void **state)
{
    fixture *f = *state;
    uint32_t n = f->n[0];
    wp_node_delta d = {.version = 5,
                       .fields = WP_DELTA_WARM_SET | WP_DELTA_INFLIGHT | WP_DELTA_FREE_MEM,
                       .model = f->m,
                       .inflight = 3,
                       .free_mem_bytes = 7 * GB};
    assert_int_equal(wp_router_apply(f->v, n, &d), WP_OK);
    assert_true(wp_router_node_warm(f->v, n, f->m));
    assert_int_equal(wp_router_node_inflight(f->v, n, f->m), 3);
    assert_int_equal(wp_router_node_version(f->v, n), 5);
    /* An older delta (delivered late) changes nothing. */
    wp_node_delta old = {.version = 4,
                         .fields = WP_DELTA_WARM_UNSET | WP_DELTA_STATUS,
                         .model = f->m,
                         .status = WP_NODE_DEAD};
    assert_int_equal(wp_router_apply(f->v, n, &old), WP_ESTATE);
    assert_true(wp_router_node_warm(f->v, n, f->m));
    assert_int_equal(wp_router_node_status(f->v, n), WP_NODE_UP);
    assert_int_equal(wp_router_node_version(f->v, n), 5);
    /* A newer one applies. */
    old.version = 6;
    assert_int_equal(wp_router_apply(f->v, n, &old), WP_OK);
    assert_false(wp_router_node_warm(f->v, n, f->m));
    assert_int_equal(wp_router_node_status(f->v, n), WP_NODE_DEAD);
    assert_int_equal(wp_router_node_free_mem(f->v, n), 7 * GB);
    /* Bad deltas are refused. */
    wp_node_delta bad = {.version = 9, .fields = WP_DELTA_WARM_SET, .model = 99};
    assert_int_equal(wp_router_apply(f->v, n, &bad), WP_EINVAL);
    assert_int_equal(wp_router_apply(f->v, 1000, &d), WP_EINVAL);
    bad.fields = WP_DELTA_STATUS;
    bad.status = (wp_node_status)17;
    assert_int_equal(wp_router_apply(f->v, n, &bad), WP_EINVAL);
}

static void test_registry_and_errors(void **state)
{
    fixture *f = *state;
    wp_err err;
    wp_model_profile p = model_profile("llm", GB);
    assert_int_equal(wp_router_model_add(f->v, &p, NULL, &err), WP_EEXIST);
    p = model_profile("embed", GB);
    uint32_t e;
    assert_int_equal(wp_router_model_add(f->v, &p, &e, &err), WP_OK);
    assert_int_equal(e, 1);
    assert_int_equal(wp_router_model_find(f->v, "embed"), 1);
    assert_int_equal(wp_router_model_find(f->v, "nope"), -1);
    assert_string_equal(wp_router_model_name(f->v, 0), "llm");
    wp_route_result r;
    wp_route_req q = req_at(0, 7, WP_POLICY_NEAREST_WARM);
    assert_int_equal(wp_route(f->v, &q, &r), WP_ENOTFOUND);
    q = req_at(4, 0, WP_POLICY_NEAREST_WARM);
    assert_int_equal(wp_route(f->v, &q, &r), WP_EINVAL);
    wp_router_node_info dup = {.id = "a1", .city = 0, .gpus = 1};
    assert_int_equal(wp_router_node_add(f->v, &dup, NULL, &err), WP_EEXIST);
    wp_router_node_info badcity = {.id = "z", .city = 4, .gpus = 1};
    assert_int_equal(wp_router_node_add(f->v, &badcity, NULL, &err), WP_EINVAL);
    assert_non_null(strstr(err.msg, "out of range"));
    assert_int_equal(wp_router_node_find(f->v, "c1"), (int)f->n[2]);
    wp_route_policy pol;
    assert_int_equal(wp_route_policy_parse("latency", &pol), WP_OK);
    assert_int_equal(pol, WP_POLICY_LATENCY);
    assert_int_equal(wp_route_policy_parse("fastest", &pol), WP_ENOTFOUND);
    assert_string_equal(wp_route_policy_name(WP_POLICY_NEAREST_WARM), "nearest-warm");
}

static void test_equal_rtt_lower_index_wins(void **state)
{
    fixture *f = *state;
    wp_err err;
    /* A second node in C, added later (higher index): same RTT from A. */
    wp_router_node_info info = {.id = "c2", .city = 2, .gpus = 1, .free_mem_bytes = 10 * GB};
    uint32_t c2;
    assert_int_equal(wp_router_node_add(f->v, &info, &c2, &err), WP_OK);
    wp_router_set_warm(f->v, f->n[2], f->m, true);
    wp_router_set_warm(f->v, c2, f->m, true);
    wp_route_result r;
    wp_route_req q = req_at(0, f->m, WP_POLICY_LATENCY);
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[2]);
    /* c1 full → c2. */
    wp_router_inflight_add(f->v, f->n[2], f->m, 4);
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, c2);
}

static void test_models_share_a_node(void **state)
{
    fixture *f = *state;
    wp_err err;
    /* A small model with 64 slots per GPU: 1/64 of a GPU per request. */
    wp_model_profile p = model_profile("small", GB / 10);
    p.slots_per_gpu = 64;
    uint32_t s;
    assert_int_equal(wp_router_model_add(f->v, &p, &s, &err), WP_OK);
    assert_int_equal(wp_router_model_units(f->v, s), WP_ROUTER_GPU_UNITS / 64);
    assert_int_equal(wp_router_model_units(f->v, f->m), WP_ROUTER_GPU_UNITS / 2);
    wp_router_set_warm(f->v, f->n[0], f->m, true);
    wp_router_set_warm(f->v, f->n[0], s, true);
    wp_router_set_warm(f->v, f->n[1], s, true);
    /* 4 requests of the 2-slot model: 2 GPUs' worth = A's limit (1 GPU,
     * queue_per_slot 1). The small model no longer fits at A either. */
    wp_router_inflight_add(f->v, f->n[0], f->m, 4);
    assert_int_equal(wp_router_node_load_units(f->v, f->n[0]), 2 * WP_ROUTER_GPU_UNITS);
    wp_route_result r;
    wp_route_req q = req_at(0, s, WP_POLICY_NEAREST_WARM);
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[1]);
    /* One finishes: half a GPU frees, the small one fits again at A, and
     * waits behind the excess: (1.5 + 1/64 - 1) GPU / 1 GPU * 10 ms. */
    wp_router_inflight_add(f->v, f->n[0], f->m, -1);
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->n[0]);
    assert_true(fabsf(r.wait_ms - (0.5f + 1.0f / 64) * 10.0f) < 1e-4f);
    /* A versioned delta of a count moves the load by the difference. */
    wp_node_delta d = {.version = 1, .fields = WP_DELTA_INFLIGHT, .model = f->m, .inflight = 1};
    assert_int_equal(wp_router_apply(f->v, f->n[0], &d), WP_OK);
    assert_int_equal(wp_router_node_load_units(f->v, f->n[0]), WP_ROUTER_GPU_UNITS / 2);
}

static void test_many_nodes_grow(void **state)
{
    (void)state;
    /* Growth past the initial capacity keeps lists sorted. */
    wp_router_config cfg = {.ncities = 4, .rtt_ms = rtt_lookup};
    wp_router_view *v;
    wp_err err;
    assert_int_equal(wp_router_view_new(&cfg, &v, &err), WP_OK);
    wp_model_profile p = model_profile("m", GB);
    uint32_t m;
    assert_int_equal(wp_router_model_add(v, &p, &m, &err), WP_OK);
    for (int i = 0; i < 100; i++) {
        char id[16];
        snprintf(id, sizeof id, "n%d", i);
        wp_router_node_info info = {.id = id, .city = (uint32_t)(3 - i % 4), .gpus = 1,
                                    .free_mem_bytes = 10 * GB};
        assert_int_equal(wp_router_node_add(v, &info, NULL, &err), WP_OK);
    }
    wp_route_candidate cands[128];
    for (uint32_t c = 0; c < 4; c++) {
        wp_route_explain ex = {.cands = cands, .cap = 128};
        wp_route_req q = req_at(c, m, WP_POLICY_NEAREST_WARM);
        wp_route_result r;
        /* Nothing warm: the scan visits all 100 (first is the cold pick). */
        assert_int_equal(wp_route_explain_run(v, &q, &r, &ex), WP_OK);
        assert_int_equal(ex.n, 100);
        assert_true(r.cold);
        assert_int_equal(r.city, c);
        for (size_t i = 1; i < ex.n; i++) {
            assert_true(cands[i - 1].rtt_ms <= cands[i].rtt_ms);
            if (cands[i - 1].rtt_ms == cands[i].rtt_ms)
                assert_true(cands[i - 1].node < cands[i].node);
        }
    }
    wp_router_view_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nearest_warm_picks_lowest_rtt_warm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overloaded_node_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_suspect_draining_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_warm_replica_goes_cold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latency_policy_costs_and_early_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nearest_ignores_warmth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_deltas_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equal_rtt_lower_index_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_models_share_a_node, setup, teardown),
        cmocka_unit_test(test_many_nodes_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
