/* The live-world worker: the TIMING MODEL path (loads and batches finish at
 * computed times; advance returns when next due), the cpu path (loads and
 * generation happen in the call, tokens match a direct generate), exactly
 * one completion per request, and a failed load that leaves the other
 * model serving. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu_worker/gpu_worker.h"

#define MB (1024ull * 1024ull)

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/test_gpu_worker.XXXXXX", WP_BUILD_DIR);
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

typedef struct done_log {
    size_t n;
    uint64_t ids[64];
    int errors[64];
    wp_gen_result res[64];
} done_log;

static void on_done(void *ctx, uint64_t id, int error, const wp_gen_result *res)
{
    done_log *d = ctx;
    assert_true(d->n < 64);
    for (size_t i = 0; i < d->n; i++)
        assert_true(d->ids[i] != id); /* exactly once */
    d->ids[d->n] = id;
    d->errors[d->n] = error;
    if (res)
        d->res[d->n] = *res;
    else
        memset(&d->res[d->n], 0, sizeof d->res[0]);
    assert_true(error != WP_OK || res != NULL);
    d->n++;
}

static void test_timing_worker(void **state)
{
    (void)state;
    done_log d = {0};
    wp_gpu_worker_config cfg = {.kind = WP_GPU_MODEL, .capacity_bytes = 100 * MB, .max_batch = 4,
                                .max_queue = 16, .on_done = on_done, .ctx = &d};
    wp_gpu_worker *w;
    wp_err err;
    assert_int_equal(wp_gpu_worker_new(&cfg, &w, &err), WP_OK);
    wp_model_profile a = {.name = "a", .size_bytes = 40 * MB, .prefill_base_ms = 10,
                          .prefill_ms_per_token = 1, .decode_ms_per_token = 2,
                          .slots_per_gpu = 2, .load_bytes_per_s = 40.0 * MB, .load_fixed_ms = 0};
    wp_model_profile b = a;
    b.size_bytes = 70 * MB;
    b.load_bytes_per_s = 70.0 * MB;
    assert_int_equal(wp_gpu_worker_add_model(w, "a", NULL, &a, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_add_model(w, "b", NULL, &b, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_add_model(w, "c", NULL, NULL, &err), WP_EINVAL);
    const int32_t prompt[4] = {0};
    wp_gen_request r = {prompt, 4, 3, 0, 0}; /* ttft 14 ms, total 18 ms */
    assert_int_equal(wp_gpu_worker_submit(w, 0, "a", 1, &r, NULL, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_submit(w, 0, "a", 1, &r, NULL, &err), WP_EEXIST);
    assert_int_equal(wp_gpu_worker_submit(w, 0, "zz", 2, &r, NULL, &err), WP_ENOTFOUND);
    uint64_t next = wp_gpu_worker_advance(w, 0);
    assert_int_equal(next, WP_NS_PER_S); /* 40 MB at 40 MB/s: a 1 s cold start */
    assert_int_equal(wp_res_model_state(wp_gpu_worker_res(w), "a"), WP_RES_LOADING);
    assert_int_equal(wp_gpu_worker_advance(w, next - 1), next); /* nothing early */
    assert_int_equal(d.n, 0);
    next = wp_gpu_worker_advance(w, next);
    assert_int_equal(next, WP_NS_PER_S + 18 * WP_NS_PER_MS);
    assert_int_equal(wp_gpu_worker_advance(w, next), UINT64_MAX);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.ids[0], 1);
    assert_int_equal(d.errors[0], WP_OK);
    assert_true(d.res[0].modelled);
    assert_int_equal(d.res[0].ttft_ns, 14 * WP_NS_PER_MS);
    wp_res_stats st;
    wp_res_get_stats(wp_gpu_worker_res(w), &st);
    assert_int_equal(st.last_load_ns, WP_NS_PER_S);

    /* b (70) needs a (40, idle, unpinned) evicted. */
    uint64_t t = 2 * WP_NS_PER_S;
    assert_int_equal(wp_gpu_worker_submit(w, t, "b", 2, &r, NULL, &err), WP_OK);
    next = wp_gpu_worker_advance(w, t);
    assert_int_equal(wp_res_model_state(wp_gpu_worker_res(w), "a"), WP_RES_COLD);
    assert_true(wp_res_used_bytes(wp_gpu_worker_res(w)) <= 100 * MB);
    while (next != UINT64_MAX)
        next = wp_gpu_worker_advance(w, next);
    assert_int_equal(d.n, 2);
    const char *warm[2];
    assert_int_equal(wp_res_warm_models(wp_gpu_worker_res(w), warm, 2), 1);
    assert_string_equal(warm[0], "b");
    /* A pinned a cannot fit next to a pinned b: requests for a fail. */
    const char *pins[2] = {"b"};
    assert_int_equal(wp_gpu_worker_assign(w, t, pins, 1, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_submit(w, t, "a", 3, &r, NULL, &err), WP_OK);
    wp_gpu_worker_advance(w, t);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.errors[2], WP_ENOSPC);
    wp_gpu_worker_free(w);
}

static void test_cpu_worker(void **state)
{
    (void)state;
    char good[300], bad[300];
    snprintf(good, sizeof good, "%s/good.bin", dir);
    snprintf(bad, sizeof bad, "%s/bad.bin", dir);
    wp_llama_config c = {.dim = 32, .hidden_dim = 64, .n_layers = 2, .n_heads = 4,
                         .n_kv_heads = 2, .vocab_size = 50, .seq_len = 32,
                         .shared_classifier = false};
    wp_err err;
    assert_int_equal(wp_llama_gen(good, &c, 3, 0.3, &err), WP_OK);
    assert_int_equal(wp_llama_gen(bad, &c, 4, 0.3, &err), WP_OK);

    /* The reference tokens, straight from the backend. */
    const int32_t prompt[3] = {4, 5, 6};
    wp_gen_request req = {prompt, 3, 10, 0.7f, 11};
    int32_t want[10];
    wp_gpu_model *m;
    assert_int_equal(wp_gpu_model_load(WP_GPU_CPU, good, &m, &err), WP_OK);
    wp_gen_result wr = {.tokens = want};
    assert_int_equal(wp_gpu_generate(m, &req, &wr, &err), WP_OK);
    uint64_t mem = wp_gpu_model_mem_bytes(m);
    wp_gpu_model_unload(m);

    done_log d = {0};
    wp_gpu_worker_config cfg = {.kind = WP_GPU_CPU, .capacity_bytes = 2 * mem + 1, .max_batch = 2,
                                .max_queue = 8, .on_done = on_done, .ctx = &d};
    wp_gpu_worker *w;
    assert_int_equal(wp_gpu_worker_new(&cfg, &w, &err), WP_OK);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/missing.bin", dir);
    assert_int_equal(wp_gpu_worker_add_model(w, "x", missing, NULL, &err), WP_ENOTFOUND);
    assert_int_equal(wp_gpu_worker_add_model(w, "good", good, NULL, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_add_model(w, "bad", bad, NULL, &err), WP_OK);
    assert_int_equal(wp_res_model_state(wp_gpu_worker_res(w), "good"), WP_RES_COLD);
    /* Break "bad" after it was registered: its load will fail. */
    assert_int_equal(truncate(bad, 1000), 0);

    int32_t toks[3][10];
    for (uint64_t id = 0; id < 3; id++)
        assert_int_equal(wp_gpu_worker_submit(w, 0, "good", id, &req, toks[id], &err), WP_OK);
    int32_t bt[10];
    assert_int_equal(wp_gpu_worker_submit(w, 0, "bad", 9, &req, bt, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_advance(w, 0), UINT64_MAX); /* all synchronous */
    assert_int_equal(d.n, 4);
    size_t ok = 0;
    for (size_t i = 0; i < d.n; i++) {
        if (d.ids[i] == 9) {
            assert_int_equal(d.errors[i], WP_ETRUNC);
            continue;
        }
        assert_int_equal(d.errors[i], WP_OK);
        assert_false(d.res[i].modelled);
        assert_int_equal(d.res[i].n_tokens, 10);
        assert_memory_equal(toks[d.ids[i]], want, sizeof want);
        ok++;
    }
    assert_int_equal(ok, 3);
    assert_int_equal(wp_res_model_state(wp_gpu_worker_res(w), "good"), WP_RES_WARM);
    assert_int_equal(wp_res_model_state(wp_gpu_worker_res(w), "bad"), WP_RES_COLD);
    assert_int_equal(wp_res_used_bytes(wp_gpu_worker_res(w)), mem);
    wp_res_stats st;
    wp_res_get_stats(wp_gpu_worker_res(w), &st);
    assert_true(st.last_load_ns > 0);
    assert_int_equal(st.load_failures, 1);
    /* A bad request completes with its error; the model keeps serving. */
    const int32_t bad_prompt[1] = {50};
    wp_gen_request breq = {bad_prompt, 1, 2, 0, 0};
    assert_int_equal(wp_gpu_worker_submit(w, 5, "good", 20, &breq, bt, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_submit(w, 5, "good", 21, &req, toks[0], &err), WP_OK);
    wp_gpu_worker_advance(w, 5);
    assert_int_equal(d.n, 6);
    assert_int_equal(d.errors[4], WP_ERANGE);
    assert_int_equal(d.errors[5], WP_OK);
    assert_memory_equal(toks[0], want, sizeof want);
    wp_gpu_worker_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timing_worker),
        cmocka_unit_test(test_cpu_worker),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
