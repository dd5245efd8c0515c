/* Unit tests of the router's load-aware half (issue 12): spill-over
 * between two warm nodes, stale views (reports + own sends), deadline
 * admission, a short model not starved by a long one, and the simulated
 * report history (what an ingress at one-way delay d sees at time t). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "router/router.h"

/* Cities A=0 B=1 C=2, RTT in ms: A and B 10 ms apart, C far. */
static const double rtt3[3][3] = {
    {1, 10, 200},
    {10, 1, 200},
    {200, 200, 1},
};

static double rtt_lookup(const void *ctx, size_t a, size_t b)
{
    (void)ctx;
    return rtt3[a][b];
}

#define GB 1000000000ull
#define MS 1000000ull

static wp_model_profile profile(const char *name, double prefill_ms, double decode_ms,
                                uint32_t out_tok, uint32_t slots)
{
    wp_model_profile p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "%s", name);
    p.size_bytes = 1 * GB;
    p.prefill_base_ms = prefill_ms;
    p.decode_ms_per_token = decode_ms;
    p.slots_per_gpu = slots;
    p.load_bytes_per_s = 1e9;
    p.typical_in_tokens = 1;
    p.typical_out_tokens = out_tok;
    return p;
}

typedef struct fixture {
    wp_router_view *v;
    uint32_t shortm, longm; /* 10 ms x 2 slots; ~3 s x 4 slots */
    uint32_t a, b, c;       /* one node per city, 1 GPU, both models warm */
} fixture;

static int setup_mode(void **state, uint32_t history)
{
    static fixture f;
    memset(&f, 0, sizeof f);
    wp_router_config cfg = {.ncities = 3, .rtt_ms = rtt_lookup, .queue_per_slot = 100,
                            .report_period_ns = 100 * MS, .history_ticks = history};
    wp_err err;
    assert_int_equal(wp_router_view_new(&cfg, &f.v, &err), WP_OK);
    wp_model_profile s = profile("short", 10, 0, 1, 2);
    wp_model_profile l = profile("long", 100, 10, 291, 4); /* 100 + 290 x 10 = 3000 ms */
    assert_int_equal(wp_router_model_add(f.v, &s, &f.shortm, &err), WP_OK);
    assert_int_equal(wp_router_model_add(f.v, &l, &f.longm, &err), WP_OK);
    const char *ids[3] = {"a1", "b1", "c1"};
    uint32_t *idx[3] = {&f.a, &f.b, &f.c};
    for (uint32_t c = 0; c < 3; c++) {
        wp_router_node_info info = {.id = ids[c], .city = c, .gpus = 1, .free_mem_bytes = 10 * GB};
        assert_int_equal(wp_router_node_add(f.v, &info, idx[c], &err), WP_OK);
        wp_router_set_warm(f.v, *idx[c], f.shortm, true);
        wp_router_set_warm(f.v, *idx[c], f.longm, true);
    }
    *state = &f;
    return 0;
}

static int setup_live(void **state)
{
    return setup_mode(state, 0);
}

static int setup_hist(void **state)
{
    return setup_mode(state, 8);
}

static int teardown(void **state)
{
    fixture *f = *state;
    wp_router_view_free(f->v);
    return 0;
}

static void report(fixture *f, uint32_t node, uint64_t at_ns, uint32_t nshort, uint32_t nlong)
{
    uint32_t models[2] = {f->shortm, f->longm};
    uint32_t counts[2] = {nshort, nlong};
    wp_load_report r = {.at_ns = at_ns, .n = 2, .models = models, .inflight = counts};
    assert_int_equal(wp_router_load_report(f->v, node, &r), WP_OK);
}

/* Two warm nodes 10 ms apart: the near one is taken while its wait is
 * below the 9 ms extra RTT of the far one, and the route spills to the far
 * one as soon as the reported load makes the near one worse. */
static void test_spill_over(void **state)
{
    fixture *f = *state;
    wp_route_req q = {.model = f->shortm, .ingress = 0, .policy = WP_POLICY_LATENCY,
                      .now_ns = 150 * MS};
    wp_route_result r;
    report(f, f->a, 100 * MS, 2, 0); /* both slots busy: wait (3-2)/2 x 10 = 5 ms */
    report(f, f->b, 100 * MS, 0, 0);
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->a);
    assert_true(fabsf(r.wait_ms - 5.0f) < 1e-3f);
    assert_true(r.cost_ms < 10.0f + 1.0f);
    report(f, f->a, 200 * MS, 4, 0); /* wait (5-2)/2 x 10 = 15 ms: 1 + 15 > 10 */
    q.now_ns = 250 * MS;
    wp_route_candidate cands[8];
    wp_route_explain ex = {.cands = cands, .cap = 8};
    q.user_ms = 7;
    assert_int_equal(wp_route_explain_run(f->v, &q, &r, &ex), WP_OK);
    assert_int_equal(r.node, f->b);
    assert_true(r.wait_ms == 0);
    /* Every candidate weighed, with its RTT, the user's leg, wait, verdict. */
    assert_true(ex.n >= 2);
    assert_int_equal(cands[0].node, f->a);
    assert_int_equal(cands[0].verdict, WP_CAND_BETTER_FOUND);
    assert_true(fabsf(cands[0].wait_ms - 15.0f) < 1e-3f);
    assert_true(fabsf(cands[0].load_age_ms - 50.0f) < 1e-3f);
    assert_true(cands[0].user_ms == 7.0f);
    assert_int_equal(cands[1].node, f->b);
    assert_int_equal(cands[1].verdict, WP_CAND_CHOSEN);
    assert_true(cands[1].rtt_ms == 10.0f);
}

/* A stale report plus this ingress's own sends since: the ingress does not
 * overshoot between reports, and a later report that counts those sends
 * replaces them (no double count). */
static void test_stale_view_merges_own_sends(void **state)
{
    fixture *f = *state;
    wp_router_sends *s;
    wp_err err;
    assert_int_equal(wp_router_sends_new(&s, &err), WP_OK);
    report(f, f->a, 100 * MS, 0, 0);
    report(f, f->b, 100 * MS, 0, 0);
    wp_route_req q = {.model = f->shortm, .ingress = 0, .policy = WP_POLICY_LATENCY,
                      .sends = s};
    wp_route_result r;
    /* Send 5 requests at 120 ms (arrival 120.5 ms): the report of 100 ms
     * cannot count them; this ingress does. */
    int to_a = 0;
    for (int i = 0; i < 5; i++) {
        q.now_ns = 120 * MS;
        assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
        to_a += r.node == f->a;
        assert_int_equal(wp_router_sends_note(s, f->v, r.node, f->shortm,
                                              q.now_ns + (uint64_t)(r.rtt_ms * 0.5 * 1e6)),
                         WP_OK);
    }
    /* Without its own sends the ingress would have sent all 5 to A (idle
     * in the report); with them it spills once A's believed wait exceeds
     * the 9 ms extra RTT of B: the 4th sees (3+1-2)/2 x 10 = 10 ms at A
     * (cost 11) and B idle at 10 ms: B. */
    assert_int_equal(to_a, 3);
    uint64_t units[WP_ROUTER_CLASSES];
    assert_int_equal(wp_router_sends_pending(s, f->v, f->a, 100 * MS, units),
                     3ull * wp_router_model_units(f->v, f->shortm));
    /* A's next report (at 200 ms) counts the 3 that arrived: the own sends
     * before it drop out of the sum by themselves. */
    report(f, f->a, 200 * MS, 3, 0);
    assert_int_equal(wp_router_sends_pending(s, f->v, f->a, 200 * MS, units), 0);
    uint64_t seen[WP_ROUTER_CLASSES];
    assert_int_equal(wp_router_load_seen(f->v, 0, f->a, 250 * MS, seen), 200 * MS);
    assert_int_equal(seen[0], 3ull * wp_router_model_units(f->v, f->shortm));
    /* B holds the other 2 (not in its 100 ms report); a completion of an
     * own send not yet in any report removes it. */
    assert_int_equal(wp_router_sends_note(s, f->v, f->b, f->shortm, 260 * MS), WP_OK);
    assert_int_equal(wp_router_sends_pending(s, f->v, f->b, 100 * MS, units),
                     3ull * wp_router_model_units(f->v, f->shortm));
    wp_router_sends_done(s, f->v, f->b, f->shortm, 260 * MS);
    assert_int_equal(wp_router_sends_pending(s, f->v, f->b, 100 * MS, units),
                     2ull * wp_router_model_units(f->v, f->shortm));
    /* An older report is ignored. */
    uint32_t models[1] = {f->shortm}, counts[1] = {9};
    wp_load_report old = {.at_ns = 150 * MS, .n = 1, .models = models, .inflight = counts};
    assert_int_equal(wp_router_load_report(f->v, f->a, &old), WP_ESTATE);
    wp_router_sends_free(s);
}

/* No candidate can answer within the budget: OVERLOADED at once, with the
 * reason and every candidate TOO_LATE. */
static void test_admission_deadline(void **state)
{
    fixture *f = *state;
    report(f, f->a, 100 * MS, 50, 0); /* wait (51-2)/2 x 10 = 245 ms */
    report(f, f->b, 100 * MS, 50, 0);
    report(f, f->c, 100 * MS, 0, 0);  /* idle but 200 ms away */
    wp_route_req q = {.model = f->shortm, .ingress = 0, .policy = WP_POLICY_LATENCY,
                      .now_ns = 150 * MS, .budget_ms = 150};
    wp_route_result r;
    wp_route_candidate cands[8];
    wp_route_explain ex = {.cands = cands, .cap = 8};
    assert_int_equal(wp_route_explain_run(f->v, &q, &r, &ex), WP_EOVERLOAD);
    assert_int_equal(r.why, WP_ROUTE_WHY_DEADLINE);
    assert_string_equal(wp_route_why_name(r.why), "deadline");
    assert_true(r.best_late_ms > 150);
    assert_int_equal(ex.n, 3);
    for (size_t i = 0; i < ex.n; i++)
        assert_int_equal(cands[i].verdict, WP_CAND_TOO_LATE);
    /* A larger budget: the idle far node answers in time (200 + 10 TTFT)
     * and beats the near ones (1 + 245). */
    q.budget_ms = 250;
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->c);
    /* The queue bound is budget / service: with 150 ms and a 10 ms model
     * on 2 slots, about 2 x 150 / 10 = 30 may wait. 28 queued + 2 running
     * still fits at A (wait (31-2)/2 x 10 = 145 + 1 + ttft 10 > 150? no:
     * 28 in flight gives (29-2)/2 x 10 = 135, + 1 RTT + 10 TTFT = 146). */
    report(f, f->a, 200 * MS, 28, 0);
    q.now_ns = 250 * MS;
    q.budget_ms = 150;
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->a);
    report(f, f->a, 300 * MS, 30, 0); /* (31-2)/2 x 10 = 145 + 11 > 150 */
    q.now_ns = 350 * MS;
    assert_int_equal(wp_route(f->v, &q, &r), WP_EOVERLOAD);
}

/* A long model over capacity at every node does not starve the short one:
 * short requests are admitted with a small wait, long ones get OVERLOADED
 * at once. */
static void test_short_not_starved_by_long(void **state)
{
    fixture *f = *state;
    for (uint32_t n = 0; n < 3; n++)
        report(f, n, 100 * MS, 0, 40); /* 4 slots of 3 s busy + 36 queued */
    wp_route_req q = {.model = f->longm, .ingress = 0, .policy = WP_POLICY_LATENCY,
                      .now_ns = 150 * MS, .budget_ms = 5000};
    wp_route_result r;
    assert_int_equal(wp_route(f->v, &q, &r), WP_EOVERLOAD);
    assert_int_equal(r.why, WP_ROUTE_WHY_DEADLINE);
    q.model = f->shortm;
    q.budget_ms = 100;
    assert_int_equal(wp_route(f->v, &q, &r), WP_OK);
    assert_int_equal(r.node, f->a);
    assert_true(r.wait_ms < 20);
    assert_int_equal(wp_router_model_class(f->v, f->shortm), 0);
    assert_int_equal(wp_router_model_class(f->v, f->longm), 2);
}

/* Simulated world: an ingress at one-way delay d reads, at time t, the
 * snapshot of the latest tick <= t - d; the truth moves at once. */
static void test_history_lags_truth(void **state)
{
    fixture *f = *state;
    uint64_t units[WP_ROUTER_CLASSES];
    uint32_t u = wp_router_model_units(f->v, f->shortm);
    /* No snapshot yet: nothing reported (not the truth). */
    wp_router_inflight_add(f->v, f->c, f->shortm, 3);
    assert_int_equal(wp_router_load_seen(f->v, 0, f->c, 50 * MS, units), UINT64_MAX);
    assert_int_equal(units[0], 0);
    for (uint64_t k = 0; k <= 5; k++) {
        assert_int_equal(wp_router_load_publish(f->v, k * 100 * MS), WP_OK);
        wp_router_inflight_add(f->v, f->c, f->shortm, 1); /* 3 + k + 1 after tick k */
    }
    /* From A, C is 100 ms away one way: at 560 ms the newest snapshot it
     * can have is tick floor(460/100) = 4, which held 3 + 4 = 7. */
    assert_int_equal(wp_router_load_seen(f->v, 0, f->c, 560 * MS, units), 400 * MS);
    assert_int_equal(units[0], 7ull * u);
    /* From C itself (0.5 ms): tick 5, 8 in flight; the truth is 9. */
    assert_int_equal(wp_router_load_seen(f->v, 2, f->c, 560 * MS, units), 500 * MS);
    assert_int_equal(units[0], 8ull * u);
    assert_int_equal(wp_router_node_load_units(f->v, f->c), 9ull * u);
    /* Ticks must come in order, one period apart. */
    assert_int_equal(wp_router_load_publish(f->v, 700 * MS), WP_EINVAL);
    uint32_t models[1] = {f->shortm}, counts[1] = {1};
    wp_load_report r = {.at_ns = 0, .n = 1, .models = models, .inflight = counts};
    assert_int_equal(wp_router_load_report(f->v, f->a, &r), WP_EINVAL);
}

/* A long model queued far beyond the slots (and beyond queue_per_slot) at
 * every node does not make the nodes full for the short model: its queue is
 * served after the short one's. The long model itself is FULL there. */
static void test_long_queue_not_full_for_short(void **state)
{
    fixture *f = *state;
    wp_err err;
    wp_router_view *v;
    wp_router_config cfg = {.ncities = 3, .rtt_ms = rtt_lookup, .queue_per_slot = 1.0,
                            .report_period_ns = 100 * MS};
    assert_int_equal(wp_router_view_new(&cfg, &v, &err), WP_OK);
    wp_model_profile s = profile("short", 10, 0, 1, 2);
    wp_model_profile l = profile("long", 100, 10, 291, 4);
    uint32_t sm, lm, a;
    assert_int_equal(wp_router_model_add(v, &s, &sm, &err), WP_OK);
    assert_int_equal(wp_router_model_add(v, &l, &lm, &err), WP_OK);
    wp_router_node_info info = {.id = "a1", .city = 0, .gpus = 1, .free_mem_bytes = 10 * GB};
    assert_int_equal(wp_router_node_add(v, &info, &a, &err), WP_OK);
    wp_router_set_warm(v, a, sm, true);
    wp_router_set_warm(v, a, lm, true);
    uint32_t models[2] = {sm, lm}, counts[2] = {0, 12}; /* 4 running, 8 queued: 3 x C */
    wp_load_report rep = {.at_ns = 100 * MS, .n = 2, .models = models, .inflight = counts};
    assert_int_equal(wp_router_load_report(v, a, &rep), WP_OK);
    wp_route_req q = {.model = lm, .ingress = 0, .policy = WP_POLICY_LATENCY, .now_ns = 150 * MS};
    wp_route_result r;
    assert_int_equal(wp_route(v, &q, &r), WP_EOVERLOAD);
    assert_int_equal(r.why, WP_ROUTE_WHY_FULL);
    q.model = sm;
    assert_int_equal(wp_route(v, &q, &r), WP_OK);
    assert_int_equal(r.node, a);
    assert_true(r.wait_ms < 10.0f); /* one slot's turn: (C + u - C) / C x 10 ms */
    wp_router_view_free(v);
    (void)f;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spill_over, setup_live, teardown),
        cmocka_unit_test_setup_teardown(test_stale_view_merges_own_sends, setup_live, teardown),
        cmocka_unit_test_setup_teardown(test_admission_deadline, setup_live, teardown),
        cmocka_unit_test_setup_teardown(test_short_not_starved_by_long, setup_live, teardown),
        cmocka_unit_test_setup_teardown(test_history_lags_truth, setup_hist, teardown),
        cmocka_unit_test_setup_teardown(test_long_queue_not_full_for_short, setup_live, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
