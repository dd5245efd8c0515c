/* Withdrawing work the ingress gave up on (issue 15): the worker's cancel
 * on the TIMING MODEL (a queued request, then a running one whose slot
 * goes at once to the next in line) and on cpu (a running sequence leaves
 * the batch; the other sequence's tokens are unchanged), exactly one
 * completion each, WP_ECANCELED; unknown and finished ids are refused; a
 * cpu model is measured by its warm-up right after the load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu_worker/gpu_worker.h"

#define MB (1024ull * 1024ull)
#define MS 1000000ull

typedef struct done_log {
    size_t n;
    uint64_t ids[16];
    int errors[16];
} done_log;

static void on_done(void *ctx, uint64_t id, int error, const wp_gen_result *res)
{
    done_log *d = ctx;
    (void)res;
    assert_true(d->n < 16);
    for (size_t i = 0; i < d->n; i++)
        assert_true(d->ids[i] != id); /* exactly once */
    d->ids[d->n] = id;
    d->errors[d->n++] = error;
}

static void test_timing_cancel(void **state)
{
    (void)state;
    done_log d = {0};
    wp_gpu_worker_config cfg = {.kind = WP_GPU_MODEL, .capacity_bytes = 100 * MB, .max_batch = 4,
                                .max_queue = 16, .on_done = on_done, .ctx = &d};
    wp_gpu_worker *w;
    wp_err err;
    assert_int_equal(wp_gpu_worker_new(&cfg, &w, &err), WP_OK);
    wp_model_profile a = {.name = "a", .size_bytes = 10 * MB, .prefill_base_ms = 10,
                          .decode_ms_per_token = 10, .slots_per_gpu = 1,
                          .load_bytes_per_s = 1000.0 * MB};
    assert_int_equal(wp_gpu_worker_add_model(w, "a", NULL, &a, &err), WP_OK);
    const int32_t prompt[1] = {1};
    wp_gen_request q = {prompt, 1, 10, 0.0f, 0};
    for (uint64_t id = 1; id <= 3; id++)
        assert_int_equal(wp_gpu_worker_submit(w, 0, "a", id, &q, NULL, &err), WP_OK);
    uint64_t t = 0;
    while (t < 50 * MS) /* loaded, 1 running (100 ms), 2 and 3 queued */
        t = wp_gpu_worker_advance(w, t) == UINT64_MAX ? 50 * MS : t + MS;
    assert_int_equal(d.n, 0);
    assert_int_equal(wp_gpu_worker_cancel(w, t, 99), WP_ENOTFOUND);
    /* queued: FAILed at the next advance */
    assert_int_equal(wp_gpu_worker_cancel(w, t, 2), WP_OK);
    wp_gpu_worker_advance(w, t);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.ids[0], 2);
    assert_int_equal(d.errors[0], WP_ECANCELED);
    /* running: completed at once, its slot goes to 3 now */
    assert_int_equal(wp_gpu_worker_cancel(w, t, 1), WP_OK);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.ids[1], 1);
    assert_int_equal(d.errors[1], WP_ECANCELED);
    assert_int_equal(wp_gpu_worker_cancel(w, t, 1), WP_ENOTFOUND);
    uint64_t next = wp_gpu_worker_advance(w, t);
    assert_true(next != UINT64_MAX && next <= t + 120 * MS); /* 3 runs from t, not t + 50 */
    while (next != UINT64_MAX)
        next = wp_gpu_worker_advance(w, next);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.ids[2], 3);
    assert_int_equal(d.errors[2], WP_OK);
    assert_int_equal(wp_res_queue_depth(wp_gpu_worker_res(w)), 0);
    wp_gpu_worker_free(w);
}

static void test_cpu_cancel(void **state)
{
    (void)state;
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/test_worker_cancel.XXXXXX", WP_BUILD_DIR);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.bin", dir);
    wp_llama_config c = {.dim = 32, .hidden_dim = 64, .n_layers = 2, .n_heads = 4,
                         .n_kv_heads = 4, .vocab_size = 40, .seq_len = 64,
                         .shared_classifier = true};
    wp_err err;
    assert_int_equal(wp_llama_gen(path, &c, 5, 0.3, &err), WP_OK);
    const int32_t prompt[2] = {3, 4};
    wp_gen_request r = {prompt, 2, 30, 0.0f, 0};
    int32_t want[30];
    wp_gpu_model *m;
    assert_int_equal(wp_gpu_model_load(WP_GPU_CPU, path, &m, &err), WP_OK);
    wp_gen_result g = {.tokens = want};
    assert_int_equal(wp_gpu_generate(m, &r, &g, &err), WP_OK);
    wp_gpu_model_unload(m);

    done_log d = {0};
    wp_gpu_worker_config cfg = {.kind = WP_GPU_CPU, .capacity_bytes = 100 * MB, .max_batch = 2,
                                .max_queue = 8, .on_done = on_done, .ctx = &d, .threads = 1};
    wp_gpu_worker *w;
    assert_int_equal(wp_gpu_worker_new(&cfg, &w, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_add_model(w, "m", path, NULL, &err), WP_OK);
    wp_gpu_rate rate;
    assert_false(wp_gpu_worker_warmup(w, "m", &rate)); /* not loaded yet */
    int32_t t1[30], t2[30];
    assert_int_equal(wp_gpu_worker_submit(w, 0, "m", 1, &r, t1, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_submit(w, 0, "m", 2, &r, t2, &err), WP_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(wp_gpu_worker_advance(w, 0), 0);
    assert_true(wp_gpu_worker_warmup(w, "m", &rate));
    assert_true(rate.ttft_ms > 0 && rate.tpot_ms > 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(wp_gpu_worker_cancel(w, 0, 1), WP_OK);
    wp_gpu_worker_advance(w, 0);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.ids[0], 1);
    assert_int_equal(d.errors[0], WP_ECANCELED);
    assert_int_equal(wp_res_queue_depth(wp_gpu_worker_res(w)), 1); /* its slot is free */
    while (wp_gpu_worker_advance(w, 0) != UINT64_MAX)
        ;
    assert_int_equal(d.n, 2);
    assert_int_equal(d.errors[1], WP_OK);
    assert_memory_equal(t2, want, sizeof want); /* the other sequence is untouched */
    assert_int_equal(wp_gpu_worker_cancel(w, 0, 2), WP_ENOTFOUND);
    wp_gpu_worker_free(w);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timing_cancel),
        cmocka_unit_test(test_cpu_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
