/* test_sim_city: the simulator's per-city figures (wp_sim_options.by_city),
 * which the --html map draws: they account for every request and error of
 * the run, do not change the run, place each city in its region, and the
 * log-bucket quantile is within its stated +-5%. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

static void test_city_quantile_bound(void **state)
{
    (void)state;
    wp_sim_tl_cell c;
    memset(&c, 0, sizeof c);
    assert_true(wp_sim_tl_quantile_ms(&c, 0.95) == 0);
    /* 1..1000 ms, one each: the true p95 (nearest rank) is 950 ms. */
    for (uint64_t v = 1; v <= 1000; v++)
        wp_sim_tl_record(&c, v * 1000000u);
    double p95 = wp_sim_tl_quantile_ms(&c, 0.95), p50 = wp_sim_tl_quantile_ms(&c, 0.5);
    assert_true(fabs(p95 - 950) <= 0.05 * 950);
    assert_true(fabs(p50 - 500) <= 0.05 * 500);
    /* Out of range on both sides lands in the end buckets, not outside. */
    wp_sim_tl_record(&c, 0);
    wp_sim_tl_record(&c, UINT64_MAX / 2);
    assert_true(c.ttft[0] >= 1);
    assert_true(c.ttft[WP_SIM_TL_BUCKETS - 1] >= 1);
}

static void run(const char *scenario, bool by_city, wp_sim_result *r)
{
    wp_sim_scenario sc;
    wp_err err;
    wp_err_clear(&err);
    assert_int_equal(wp_sim_scenario_builtin(scenario, &sc, &err), WP_OK);
    wp_sim_options opt = {.seed = 3, .max_requests = 5000, .by_city = by_city};
    assert_int_equal(wp_sim_run(&sc, &opt, r, &err), WP_OK);
}

static void check_scenario(const char *scenario)
{
    wp_sim_result *a = wp_sim_result_new(), *b = wp_sim_result_new();
    assert_non_null(a);
    assert_non_null(b);
    run(scenario, false, a);
    run(scenario, true, b);
    assert_null(a->city);
    assert_int_equal(a->ncities, 0);
    /* Same run with or without the per-city figures. */
    assert_int_equal(a->all.requests, b->all.requests);
    assert_int_equal(a->all.errors, b->all.errors);
    assert_int_equal(wp_hist_quantile(&a->all.ttft_ns, 0.95), wp_hist_quantile(&b->all.ttft_ns, 0.95));
    /* Every request and error belongs to exactly one city, of its region. */
    uint64_t req = 0, errs = 0, ok_lat = 0, by_region[WP_REGION_COUNT] = {0};
    assert_true(b->ncities > 0);
    for (size_t i = 0; i < b->ncities; i++) {
        const wp_sim_city *c = &b->city[i];
        assert_true(c->fig.requests > 0);
        assert_true(c->name[0] != '\0');
        assert_true(c->lat >= -90 && c->lat <= 90 && c->lon >= -180 && c->lon <= 180);
        req += c->fig.requests;
        errs += c->fig.errors;
        by_region[c->region] += c->fig.requests;
        for (size_t k = 0; k < WP_SIM_TL_BUCKETS; k++)
            ok_lat += c->fig.ttft[k];
    }
    assert_int_equal(req, b->all.requests);
    assert_int_equal(errs, b->all.errors);
    assert_int_equal(ok_lat, b->all.ttft_ns.count);
    for (int g = 0; g < WP_REGION_COUNT; g++)
        assert_int_equal(by_region[g], b->region[g].requests);
    /* The sites: as many as the run reports, each placed on the globe. */
    assert_int_equal(b->nsite_marks, b->sites);
    for (size_t s = 0; s < b->nsite_marks; s++)
        assert_true(b->site[s].lat >= -90 && b->site[s].lat <= 90 && b->site[s].gpus > 0);
    /* A result run again keeps no stale cities (result_init frees them). */
    run(scenario, false, b);
    assert_null(b->city);
    wp_sim_result_free(a);
    wp_sim_result_free(b);
}

static void test_by_city_edge(void **state)
{
    (void)state;
    check_scenario("edge");
}

static void test_by_city_regional(void **state)
{
    (void)state;
    check_scenario("regional");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_city_quantile_bound),
        cmocka_unit_test(test_by_city_edge),
        cmocka_unit_test(test_by_city_regional),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
