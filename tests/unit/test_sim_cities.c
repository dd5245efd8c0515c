/* The simulator's `cities` scenario key (added for make demo's live-vs-sim
 * comparison): a fixed city list is the only set of PoPs and GPU sites, and
 * users enter at the nearest of them. */
#include "sim/sim.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static wp_sim_result *run(const char *cities, uint32_t gpus)
{
    char text[1024];
    snprintf(text, sizeof text,
             "serving = edge\npreset = edge\ncities = %s\ngpus_total = %u\n"
             "models = bge-base-en-v1.5\nrate_rps = 200\ndiurnal_amplitude = 0\n"
             "functions = 1\nfunction_sigma = 0\nisolate_start_ms = 0\ninvoke_ms = 0\n"
             "intra_city_rtt_ms = 0\n",
             cities, gpus);
    wp_sim_scenario sc;
    wp_err err;
    wp_err_clear(&err);
    assert_int_equal(wp_sim_scenario_parse(text, "t.scn", &sc, &err), WP_OK);
    /* The v1 model (great circle, no access latency): this tests the
     * cities key, not the RTT model (test_rtt2.c does that). */
    wp_rtt_params_v1(&sc.rtt);
    wp_sim_options opt = {.seed = 7, .max_requests = 20000};
    wp_sim_result *r = wp_sim_result_new();
    assert_non_null(r);
    int rv = wp_sim_run(&sc, &opt, r, &err);
    if (rv != WP_OK)
        fail_msg("%s", wp_err_text(&err));
    return r;
}

static double p50_ms(const wp_sim_stats *s)
{
    return (double)wp_hist_quantile(&s->ttft_ns, 0.5) / 1e6;
}

static void test_fixed_cities(void **state)
{
    (void)state;
    wp_topology *t = NULL;
    wp_err err;
    wp_err_clear(&err);
    wp_rtt_params v1;
    wp_rtt_params_v1(&v1);
    assert_int_equal(wp_topo_load_preset("edge", &v1, &t, &err), WP_OK);
    int fra = wp_topo_find(t, "FRA"), syd = wp_topo_find(t, "SYD");
    assert_true(fra >= 0 && syd >= 0);
    double fra_syd = wp_topo_rtt_ms(t, (size_t)fra, (size_t)syd);
    wp_topo_free(t);

    /* Only FRA: Oceania's users cross the world to it. */
    wp_sim_result *one = run("FRA", 2);
    assert_int_equal(one->sites, 1);
    assert_int_equal(one->gpus, 2);
    assert_int_equal(one->all.errors, 0);
    assert_true(one->region[WP_REGION_OCEANIA].requests > 0);
    assert_true(p50_ms(&one->region[WP_REGION_OCEANIA]) > 0.8 * fra_syd);
    assert_true(p50_ms(&one->region[WP_REGION_EUROPE]) < 60.0);

    /* FRA and SYD: Oceania now enters (and is served) at SYD. */
    wp_sim_result *two = run("FRA,SYD", 2);
    assert_int_equal(two->sites, 2);
    assert_true(p50_ms(&two->region[WP_REGION_OCEANIA]) < 0.3 * fra_syd);
    wp_sim_result_free(one);
    wp_sim_result_free(two);
}

static void test_cities_errors(void **state)
{
    (void)state;
    wp_sim_scenario sc;
    wp_err err;
    wp_err_clear(&err);
    assert_int_not_equal(
        wp_sim_scenario_parse("serving = regional\ncities = FRA\n", "r.scn", &sc, &err), WP_OK);
    assert_non_null(strstr(wp_err_text(&err), "'cities' applies to serving = edge only"));

    assert_int_equal(wp_sim_scenario_parse("cities = FRA,XXX\nfunctions = 1\n", "x.scn", &sc, &err),
                     WP_OK);
    wp_sim_options opt = {.seed = 1, .max_requests = 10};
    wp_sim_result *r = wp_sim_result_new();
    assert_int_not_equal(wp_sim_run(&sc, &opt, r, &err), WP_OK);
    assert_non_null(strstr(wp_err_text(&err), "city 'XXX' is not in preset edge"));
    wp_sim_result_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_cities),
        cmocka_unit_test(test_cities_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
