/* Residency core (gpu_worker/residency.c), issue 12's GPU side: serving
 * keys (shorter service first within a bound), deadlines (work that can no
 * longer answer in time is dropped, never run), and failing every queued
 * request of a stopping node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "tests/unit/res_fixture.h"

/* One GPU; "long" has 1 slot per GPU, "short" 1 slot per GPU too, so one
 * request of either fills the device. Both warm. */
static wp_res *make(void)
{
    static const res_model_spec m[] = {{"long", 1, 0, 0}, {"short", 1, 0, 0}};
    return res_fixture(m, 2);
}

/* Next action, which must be of the given kind; returns its first id. */
static uint64_t expect(wp_res *r, int kind, const char *model)
{
    wp_res_action a;
    assert_true(wp_res_next_action(r, &a));
    assert_int_equal(a.kind, kind);
    assert_string_equal(a.model, model);
    return a.req_ids[0];
}

static void test_shorter_first_within_bound(void **state)
{
    (void)state;
    wp_res *r = make();
    wp_err err;
    assert_int_equal(wp_res_set_priority(r, "long", 2000 * MS, &err), WP_OK);
    assert_int_equal(wp_res_submit(r, 0, "long", 1, &err), WP_OK); /* runs at once */
    assert_int_equal(expect(r, WP_RES_RUN, "long"), 1);
    assert_int_equal(wp_res_submit(r, 1 * MS, "long", 2, &err), WP_OK);
    assert_int_equal(wp_res_submit(r, 5 * MS, "short", 3, &err), WP_OK);
    /* The slot frees: the short one, though later, starts first. */
    assert_int_equal(wp_res_run_done(r, 10 * MS, "long", 1, &err), WP_OK);
    assert_int_equal(expect(r, WP_RES_RUN, "short"), 3);
    /* Within the bound only: a short request 3 s after a waiting long one
     * (offset 2 s) waits behind it. */
    assert_int_equal(wp_res_submit(r, 3000 * MS, "short", 4, &err), WP_OK);
    assert_int_equal(wp_res_run_done(r, 3001 * MS, "short", 1, &err), WP_OK);
    assert_int_equal(expect(r, WP_RES_RUN, "long"), 2);
    assert_int_equal(wp_res_run_done(r, 3002 * MS, "long", 1, &err), WP_OK);
    assert_int_equal(expect(r, WP_RES_RUN, "short"), 4);
    wp_res_free(r);
}

static void test_deadline_drops_instead_of_running_late(void **state)
{
    (void)state;
    wp_res *r = make();
    wp_err err;
    wp_res_action a;
    assert_int_equal(wp_res_submit(r, 0, "long", 1, &err), WP_OK);
    assert_int_equal(expect(r, WP_RES_RUN, "long"), 1);
    assert_int_equal(wp_res_submit_by(r, 1 * MS, "short", 2, 50 * MS, &err), WP_OK);
    assert_int_equal(wp_res_submit_by(r, 2 * MS, "short", 3, 500 * MS, &err), WP_OK);
    assert_false(wp_res_next_action(r, &a));
    /* At 100 ms request 2 can no longer answer in time: FAILed, not run;
     * request 3 runs. */
    assert_int_equal(wp_res_run_done(r, 100 * MS, "long", 1, &err), WP_OK);
    assert_true(wp_res_next_action(r, &a));
    assert_int_equal(a.kind, WP_RES_FAIL);
    assert_int_equal(a.req_ids[0], 2);
    assert_int_equal(a.error, WP_ETIMEDOUT);
    assert_int_equal(expect(r, WP_RES_RUN, "short"), 3);
    wp_res_stats st;
    wp_res_get_stats(r, &st);
    assert_int_equal(st.expired, 1);
    assert_true(wp_res_busy_units(r) <= wp_res_capacity_units(r));
    wp_res_free(r);
}

static void test_fail_queued_keeps_running(void **state)
{
    (void)state;
    wp_res *r = make();
    wp_err err;
    wp_res_action a;
    assert_int_equal(wp_res_submit(r, 0, "long", 1, &err), WP_OK);
    assert_int_equal(expect(r, WP_RES_RUN, "long"), 1);
    assert_int_equal(wp_res_submit(r, 1, "long", 2, &err), WP_OK);
    assert_int_equal(wp_res_submit(r, 2, "short", 3, &err), WP_OK);
    assert_int_equal(wp_res_model_inflight(r, "long"), 2); /* running + queued */
    assert_int_equal(wp_res_model_inflight(r, "short"), 1);
    assert_int_equal(wp_res_model_inflight(r, "nope"), 0);
    wp_res_fail_queued(r, 3, WP_EUNAVAIL);
    assert_int_equal(wp_res_model_inflight(r, "long"), 1);
    int fails = 0;
    while (wp_res_next_action(r, &a)) {
        assert_int_equal(a.kind, WP_RES_FAIL);
        assert_int_equal(a.error, WP_EUNAVAIL);
        fails++;
    }
    assert_int_equal(fails, 2);
    assert_int_equal(wp_res_queue_depth(r), 1); /* the running one */
    assert_int_equal(wp_res_run_done(r, 10, "long", 1, &err), WP_OK);
    assert_false(wp_res_next_action(r, &a));
    wp_res_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shorter_first_within_bound),
        cmocka_unit_test(test_deadline_drops_instead_of_running_late),
        cmocka_unit_test(test_fail_queued_keeps_running),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
