/* Residency core (gpu_worker/residency.c): errors as soon as they are
 * known (issue 12, "errors must be fast"). A request whose predicted start
 * is already past its start-by is refused at submit (nothing queued); a
 * queued one whose start-by passes is FAILed at that moment
 * (wp_res_expire at wp_res_next_expiry_ns), not when a slot frees. And the
 * worker (timing model) drives that expiry from its own timers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "tests/unit/res_fixture.h"

/* One GPU; "long" (1 slot, 3 s of service) and "short" (2 slots, 10 ms).
 * Both warm. */
static wp_res *make(void)
{
    static const res_model_spec m[] = {{"long", 1, 3000, 0}, {"short", 2, 10, 0}};
    return res_fixture(m, 2);
}

static void test_refused_at_submit(void **state)
{
    (void)state;
    wp_res *r = make();
    wp_err err;
    wp_res_action a;
    assert_int_equal(wp_res_submit(r, 0, "long", 1, &err), WP_OK); /* holds the GPU */
    assert_true(wp_res_next_action(r, &a) && a.kind == WP_RES_RUN);
    /* Two more long ones queue: the third would start after 6 s of work. */
    assert_int_equal(wp_res_submit_by(r, 1 * MS, "long", 2, 10000 * MS, &err), WP_OK);
    assert_int_equal(wp_res_submit_by(r, 2 * MS, "long", 3, 10000 * MS, &err), WP_OK);
    assert_int_equal(wp_res_submit_by(r, 3 * MS, "long", 4, 2000 * MS, &err), WP_EOVERLOAD);
    assert_int_equal(wp_res_model_inflight(r, "long"), 3); /* nothing queued for 4 */
    assert_false(wp_res_next_action(r, &a));
    /* One whose start-by is already past is refused too. */
    assert_int_equal(wp_res_submit_by(r, 5 * MS, "short", 5, 4 * MS, &err), WP_EOVERLOAD);
    /* The 6 s of long work queued ahead start only once the running one
     * ends (3 s after it started): the next would start at ~9 s. A start-by
     * of 7 s is refused now (it would have expired in the queue at 7 s);
     * 9.5 s is taken. */
    assert_int_equal(wp_res_submit_by(r, 6 * MS, "long", 6, 7000 * MS, &err), WP_EOVERLOAD);
    assert_int_equal(wp_res_submit_by(r, 6 * MS, "long", 7, 9500 * MS, &err), WP_OK);
    wp_res_stats st;
    wp_res_get_stats(r, &st);
    assert_int_equal(st.refused, 3);
    wp_res_free(r);
}

/* Nothing queued, the GPU full with running work: a request that must wait
 * for it is refused at submit when the running work outlasts its start-by
 * (before, only queued work counted and it was taken, to expire later). */
static void test_running_work_counts(void **state)
{
    (void)state;
    wp_res *r = make();
    wp_err err;
    wp_res_action a;
    assert_int_equal(wp_res_submit(r, 0, "long", 1, &err), WP_OK); /* 0 .. 3 s */
    assert_true(wp_res_next_action(r, &a) && a.kind == WP_RES_RUN);
    /* At 1 s, 2 s remain: a short with 1 s to start cannot make it. */
    assert_int_equal(wp_res_submit_by(r, 1000 * MS, "short", 2, 2000 * MS, &err), WP_EOVERLOAD);
    /* One with 2.5 s to start can. */
    assert_int_equal(wp_res_submit_by(r, 1000 * MS, "short", 3, 3500 * MS, &err), WP_OK);
    /* Once the long one ended, the short starts at once; the GPU holds two
     * shorts (10 ms each), so a third short is taken with little room. */
    assert_int_equal(wp_res_run_done(r, 3000 * MS, "long", 1, &err), WP_OK);
    assert_true(wp_res_next_action(r, &a) && a.kind == WP_RES_RUN && a.req_ids[0] == 3);
    assert_int_equal(wp_res_submit_by(r, 3000 * MS, "short", 4, 3001 * MS, &err), WP_OK);
    assert_int_equal(wp_res_submit_by(r, 3000 * MS, "short", 5, 3001 * MS, &err), WP_EOVERLOAD);
    assert_int_equal(wp_res_submit_by(r, 3000 * MS, "short", 6, 3015 * MS, &err), WP_OK);
    wp_res_free(r);
}

/* Staggered running work: eight requests of an 8-slot model (8 s each)
 * started a second apart; the next one starts when the oldest ends (at
 * 8 s), not after the mean of what they still hold (a fluid estimate would
 * say 11.5 s and refuse it). The core's own rule, replayed. */
static void test_replay_staggered(void **state)
{
    (void)state;
    static const res_model_spec m[] = {{"m8", 8, 8000, 0}};
    wp_res *r = res_fixture(m, 1);
    wp_err err;
    wp_res_action a;
    for (uint64_t k = 0; k < 8; k++) {
        assert_int_equal(wp_res_submit(r, k * 1000 * MS, "m8", k + 1, &err), WP_OK);
        assert_true(wp_res_next_action(r, &a) && a.kind == WP_RES_RUN);
    }
    assert_int_equal(wp_res_submit_by(r, 7500 * MS, "m8", 9, 8500 * MS, &err), WP_OK);
    /* Behind it, the next starts when the second oldest ends (9 s). */
    assert_int_equal(wp_res_submit_by(r, 7500 * MS, "m8", 10, 8900 * MS, &err), WP_EOVERLOAD);
    assert_int_equal(wp_res_submit_by(r, 7500 * MS, "m8", 11, 9100 * MS, &err), WP_OK);
    /* The oldest ends: 9 starts; then the next: 11 starts. */
    assert_int_equal(wp_res_run_done(r, 8000 * MS, "m8", 1, &err), WP_OK);
    assert_true(wp_res_next_action(r, &a) && a.kind == WP_RES_RUN && a.req_ids[0] == 9);
    assert_int_equal(wp_res_run_done(r, 9000 * MS, "m8", 1, &err), WP_OK);
    assert_true(wp_res_next_action(r, &a) && a.kind == WP_RES_RUN && a.req_ids[0] == 11);
    wp_res_free(r);
}

/* Overtakers: a shorter class ("mid", 0.5 s, priority offset 1 s) arrives
 * at 2/s and keeps the GPU busy; a long request ("long", offset 2 s) that
 * would start when the running mid ends (0.4 s from now) is in fact
 * overtaken by the mids that arrive meanwhile (any within 1 s of it): the
 * replay counts them from their recent rate, and refuses a start-by that
 * only the running work would allow. */
static void test_overtakers_counted(void **state)
{
    (void)state;
    static const res_model_spec m[] = {{"long", 1, 1000, 2000}, {"mid", 1, 500, 1000}};
    wp_res *r = res_fixture(m, 2);
    wp_err err;
    wp_res_action a;
    for (uint64_t k = 0; k < 20; k++) {
        if (k > 0)
            assert_int_equal(wp_res_run_done(r, k * 500 * MS, "mid", 1, &err), WP_OK);
        assert_int_equal(wp_res_submit(r, k * 500 * MS, "mid", k + 1, &err), WP_OK);
        assert_true(wp_res_next_action(r, &a) && a.kind == WP_RES_RUN);
    }
    /* At 9.6 s the running mid ends at 10 s; ~1-2 mids more come first. */
    assert_int_equal(wp_res_submit_by(r, 9600 * MS, "long", 100, 10100 * MS, &err), WP_EOVERLOAD);
    assert_int_equal(wp_res_submit_by(r, 9600 * MS, "long", 101, 11500 * MS, &err), WP_OK);
    wp_res_free(r);
}

static void test_expired_when_start_by_passes(void **state)
{
    (void)state;
    wp_res *r = make();
    wp_err err;
    wp_res_action a;
    /* No service estimate for the long model: its running work is not
     * predicted, so the shorts are taken, and expire when their start-by
     * passes. */
    assert_int_equal(wp_res_set_service(r, "long", 0, &err), WP_OK);
    assert_int_equal(wp_res_submit(r, 0, "long", 1, &err), WP_OK);
    assert_true(wp_res_next_action(r, &a) && a.kind == WP_RES_RUN);
    assert_int_equal(wp_res_submit_by(r, 1 * MS, "short", 2, 50 * MS, &err), WP_OK);
    assert_int_equal(wp_res_submit_by(r, 2 * MS, "short", 3, 80 * MS, &err), WP_OK);
    assert_int_equal(wp_res_next_expiry_ns(r), 50 * MS + 1);
    wp_res_expire(r, 50 * MS); /* not past yet */
    assert_false(wp_res_next_action(r, &a));
    wp_res_expire(r, 50 * MS + 1);
    assert_true(wp_res_next_action(r, &a));
    assert_int_equal(a.kind, WP_RES_FAIL);
    assert_int_equal(a.req_ids[0], 2);
    assert_int_equal(a.error, WP_ETIMEDOUT);
    assert_false(wp_res_next_action(r, &a));
    assert_int_equal(wp_res_next_expiry_ns(r), 80 * MS + 1);
    assert_int_equal(wp_res_model_inflight(r, "short"), 1);
    wp_res_expire(r, 100 * MS);
    assert_true(wp_res_next_action(r, &a) && a.req_ids[0] == 3);
    assert_int_equal(wp_res_next_expiry_ns(r), UINT64_MAX);
    wp_res_stats st;
    wp_res_get_stats(r, &st);
    assert_int_equal(st.expired, 2);
    wp_res_free(r);
}

/* The worker (timing model) drives the same: a request queued while its
 * model loads (no prediction for a cold model) is answered at its start-by
 * by the worker's own timer, not when the load ends; once warm, one that the
 * running request would make late is refused at submit. */
typedef struct done_log {
    uint64_t id[8];
    int err[8];
    uint64_t at[8];
    size_t n;
    uint64_t now;
} done_log;

static void on_done(void *ctx, uint64_t id, int error, const wp_gen_result *res)
{
    (void)res;
    done_log *d = ctx;
    d->id[d->n] = id;
    d->err[d->n] = error;
    d->at[d->n] = d->now;
    d->n++;
}

static void test_worker_expires_on_time(void **state)
{
    (void)state;
    done_log d;
    memset(&d, 0, sizeof d);
    wp_gpu_worker_config cfg = {.kind = WP_GPU_MODEL, .capacity_bytes = 100000000000ull,
                                .max_batch = 64, .max_queue = 64, .gpus = 1,
                                .on_done = on_done, .ctx = &d};
    wp_gpu_worker *w;
    wp_err err;
    assert_int_equal(wp_gpu_worker_new(&cfg, &w, &err), WP_OK);
    wp_model_profile p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "big");
    p.size_bytes = 1000;
    p.prefill_base_ms = 3000;
    p.slots_per_gpu = 1;
    p.load_bytes_per_s = 1e9;
    p.typical_in_tokens = 1;
    p.typical_out_tokens = 1;
    p.load_fixed_ms = 500;
    assert_int_equal(wp_gpu_worker_add_model(w, "big", NULL, &p, &err), WP_OK);
    const char *names[1] = {"big"};
    assert_int_equal(wp_gpu_worker_assign(w, 0, names, 1, &err), WP_OK);
    uint64_t loaded = wp_gpu_worker_advance(w, 0);
    assert_true(loaded >= 500 * MS && loaded < 501 * MS);
    int32_t prompt[1] = {1};
    wp_gen_request g = {.prompt = prompt, .n_prompt = 1, .steps = 1};
    /* While it loads: start-by 100 ms is taken, then expired at 100 ms. */
    assert_int_equal(wp_gpu_worker_submit_by(w, 1 * MS, "big", 2, &g, NULL, 100 * MS, &err),
                     WP_OK);
    uint64_t next = wp_gpu_worker_advance(w, 1 * MS);
    assert_int_equal(next, 100 * MS + 1);
    d.now = next;
    assert_int_equal(wp_gpu_worker_advance(w, next), loaded);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.id[0], 2);
    assert_int_equal(d.err[0], WP_ETIMEDOUT);
    assert_true(d.at[0] < 101 * MS); /* not at the load's end (500 ms) */
    d.now = loaded;
    assert_int_equal(wp_gpu_worker_advance(w, loaded), UINT64_MAX); /* warm, idle */
    /* Warm: one request holds the GPU for 3 s; another that must start
     * within 0.5 s is refused at once, one that may wait 3.5 s is taken. */
    uint64_t t0 = loaded;
    assert_int_equal(wp_gpu_worker_submit(w, t0, "big", 1, &g, NULL, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_advance(w, t0), t0 + 3000 * MS);
    assert_int_equal(wp_gpu_worker_submit_by(w, t0 + 1 * MS, "big", 3, &g, NULL,
                                             t0 + 500 * MS, &err),
                     WP_EOVERLOAD);
    assert_int_equal(wp_gpu_worker_submit_by(w, t0 + 1 * MS, "big", 4, &g, NULL,
                                             t0 + 3500 * MS, &err),
                     WP_OK);
    assert_int_equal(d.n, 1);
    wp_gpu_worker_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_at_submit),
        cmocka_unit_test(test_running_work_counts),
        cmocka_unit_test(test_replay_staggered),
        cmocka_unit_test(test_overtakers_counted),
        cmocka_unit_test(test_expired_when_start_by_passes),
        cmocka_unit_test(test_worker_expires_on_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
