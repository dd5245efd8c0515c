/* The CPU backend's full forward pass on tiny generated models against a
 * naive double-precision Llama written here (it reads the checkpoint with
 * its own offsets, so a loader bug cannot hide in both); generation is
 * reproducible (same seed, same tokens); the TIMING MODEL's arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu_worker/gpu_worker.h"
#include "ref_llama.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/test_gpu_forward.XXXXXX", WP_BUILD_DIR);
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- tests */

/* Relative tolerance on logits: max |cpu - ref| <= TOL * max(1, max |ref|). */
#define FORWARD_TOL 1e-4

static void check_model(const wp_llama_config *cfg, uint64_t seed)
{
    char path[300];
    snprintf(path, sizeof path, "%s/m%llu.bin", dir, (unsigned long long)seed);
    wp_err err;
    /* A larger init scale than the default so activations are not tiny. */
    assert_int_equal(wp_llama_gen(path, cfg, seed, 0.3, &err), WP_OK);
    ref_model r;
    ref_load(&r, path);
    wp_gpu_model *m;
    if (wp_gpu_model_load(WP_GPU_CPU, path, &m, &err) != WP_OK)
        fail_msg("load: %s", wp_err_text(&err));
    assert_true(wp_gpu_model_mem_bytes(m) > 0);
    float *lg = malloc(cfg->vocab_size * sizeof(float));
    double *ref = malloc(cfg->vocab_size * sizeof(double));
    const int toks[6] = {1, 5, 0, (int)cfg->vocab_size - 1, 3, 3};
    for (uint32_t pos = 0; pos < 6 && pos < cfg->seq_len; pos++) {
        assert_int_equal(wp_gpu_model_forward(m, toks[pos], pos, lg, &err), WP_OK);
        ref_forward(&r, toks[pos], (int)pos, ref);
        double mx = 1.0, diff = 0.0;
        for (uint32_t i = 0; i < cfg->vocab_size; i++) {
            mx = fmax(mx, fabs(ref[i]));
            diff = fmax(diff, fabs(lg[i] - ref[i]));
        }
        if (!(diff <= FORWARD_TOL * mx))
            fail_msg("seed %llu pos %u: max logit diff %.3g > %.3g (max |logit| %.3g)",
                     (unsigned long long)seed, (unsigned)pos, diff, FORWARD_TOL * mx, mx);
        assert_true(mx > 0.5); /* the model does real work: logits are not ~0 */
    }
    /* Bad inputs are refused, not computed. */
    assert_int_equal(wp_gpu_model_forward(m, (int32_t)cfg->vocab_size, 0, lg, &err), WP_ERANGE);
    assert_int_equal(wp_gpu_model_forward(m, -1, 0, lg, &err), WP_ERANGE);
    assert_int_equal(wp_gpu_model_forward(m, 0, cfg->seq_len, lg, &err), WP_ERANGE);
    free(lg);
    free(ref);
    wp_gpu_model_unload(m);
    ref_free(&r);
}

static void test_forward_mha(void **state)
{
    (void)state;
    wp_llama_config c = {.dim = 32, .hidden_dim = 48, .n_layers = 2, .n_heads = 4,
                         .n_kv_heads = 4, .vocab_size = 37, .seq_len = 8,
                         .shared_classifier = true};
    check_model(&c, 1);
}

static void test_forward_gqa_unshared(void **state)
{
    (void)state;
    wp_llama_config c = {.dim = 24, .hidden_dim = 40, .n_layers = 3, .n_heads = 6,
                         .n_kv_heads = 2, .vocab_size = 29, .seq_len = 10,
                         .shared_classifier = false};
    check_model(&c, 2);
}

static void gen_tokens(const char *path, float temp, uint64_t seed, int32_t *out, uint32_t steps)
{
    wp_err err;
    wp_gpu_model *m;
    assert_int_equal(wp_gpu_model_load(WP_GPU_CPU, path, &m, &err), WP_OK);
    const int32_t prompt[3] = {1, 2, 3};
    wp_gen_request req = {prompt, 3, steps, temp, seed};
    wp_gen_result res = {.tokens = out};
    assert_int_equal(wp_gpu_generate(m, &req, &res, &err), WP_OK);
    assert_int_equal(res.n_tokens, steps);
    assert_false(res.modelled);
    assert_true(res.total_ns >= res.ttft_ns);
    wp_gpu_model_unload(m);
}

static void test_generation_reproducible(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/gen.bin", dir);
    wp_llama_config c = {.dim = 32, .hidden_dim = 64, .n_layers = 2, .n_heads = 4,
                         .n_kv_heads = 2, .vocab_size = 50, .seq_len = 32,
                         .shared_classifier = false};
    wp_err err;
    assert_int_equal(wp_llama_gen(path, &c, 9, 0.3, &err), WP_OK);
    int32_t a[20], b[20], d[20];
    gen_tokens(path, 0.0f, 0, a, 20);
    gen_tokens(path, 0.0f, 77, b, 20); /* greedy ignores the seed */
    assert_memory_equal(a, b, sizeof a);
    gen_tokens(path, 1.0f, 5, a, 20);
    gen_tokens(path, 1.0f, 5, b, 20);
    assert_memory_equal(a, b, sizeof a);
    gen_tokens(path, 1.0f, 6, d, 20);
    assert_true(memcmp(a, d, sizeof a) != 0); /* 50^20 to 1 against equality by chance */
    for (int i = 0; i < 20; i++)
        assert_true(a[i] >= 0 && a[i] < 50);

    /* Greedy tokens are the argmax of the reference's logits. */
    ref_model r;
    ref_load(&r, path);
    int32_t g[5];
    gen_tokens(path, 0.0f, 0, g, 5);
    double *lg = malloc(50 * sizeof(double));
    int feed[8] = {1, 2, 3};
    for (int i = 0; i < 3; i++)
        feed[3 + i] = g[i];
    for (int pos = 0; pos < 6; pos++) {
        ref_forward(&r, feed[pos], pos, lg);
        if (pos >= 2) {
            int best = 0;
            for (int i = 1; i < 50; i++)
                if (lg[i] > lg[best])
                    best = i;
            assert_int_equal(best, g[pos - 2]);
        }
    }
    free(lg);
    ref_free(&r);

    /* Requests that do not fit are refused with a reason. */
    wp_gpu_model *m;
    assert_int_equal(wp_gpu_model_load(WP_GPU_CPU, path, &m, &err), WP_OK);
    int32_t toks[40];
    const int32_t bad_prompt[2] = {1, 50};
    const int32_t ok_prompt[2] = {1, 2};
    wp_gen_request req = {bad_prompt, 2, 4, 0.0f, 0};
    wp_gen_result res = {.tokens = toks};
    assert_int_equal(wp_gpu_generate(m, &req, &res, &err), WP_ERANGE);
    req.prompt = ok_prompt;
    req.steps = 31;
    assert_int_equal(wp_gpu_generate(m, &req, &res, &err), WP_ERANGE);
    req.steps = 30;
    assert_int_equal(wp_gpu_generate(m, &req, &res, &err), WP_OK);
    req.n_prompt = 0;
    assert_int_equal(wp_gpu_generate(m, &req, &res, &err), WP_EINVAL);
    wp_gpu_model_unload(m);
}

static void test_timing_model(void **state)
{
    (void)state;
    wp_model_profile p = {.name = "t", .size_bytes = 1000, .prefill_base_ms = 10,
                          .prefill_ms_per_token = 1, .decode_ms_per_token = 2,
                          .slots_per_gpu = 2, .load_bytes_per_s = 1000, .load_fixed_ms = 5};
    wp_err err;
    wp_gpu_model *m;
    assert_int_equal(wp_gpu_model_open_timing(&p, &m, &err), WP_OK);
    assert_int_equal(wp_gpu_model_kind(m), WP_GPU_MODEL);
    assert_int_equal(wp_gpu_model_mem_bytes(m), 1000);
    assert_int_equal(wp_gpu_model_load_ns(m), 1005 * WP_NS_PER_MS); /* 1 s + 5 ms */
    assert_string_equal(wp_gpu_kind_name(WP_GPU_MODEL), "model (TIMING MODEL)");
    const int32_t prompt[4] = {0, 0, 0, 0};
    wp_gen_request reqs[3] = {{prompt, 4, 3, 0, 0}, {prompt, 2, 1, 0, 0}, {prompt, 4, 5, 0, 0}};
    wp_gen_result res[3];
    assert_int_equal(wp_gpu_run_batch(m, reqs, res, 3, NULL, &err), WP_OK);
    /* Wave 1 (slots 2): r0 ttft 14, total 18; r1 ttft 12, total 12. Wave 2 at 18. */
    assert_true(res[0].modelled && res[0].n_tokens == 0);
    assert_int_equal(res[0].ttft_ns, 14 * WP_NS_PER_MS);
    assert_int_equal(res[0].total_ns, 18 * WP_NS_PER_MS);
    assert_int_equal(res[1].total_ns, 12 * WP_NS_PER_MS);
    assert_int_equal(res[2].ttft_ns, (18 + 14) * WP_NS_PER_MS);
    assert_int_equal(res[2].total_ns, (18 + 22) * WP_NS_PER_MS);
    float lg[4];
    assert_int_equal(wp_gpu_model_forward(m, 0, 0, lg, &err), WP_EUNSUPPORTED);
    wp_gpu_model_unload(m);
    /* Only cpu and cuda load checkpoints; cuda without a device says so. */
    assert_int_equal(wp_gpu_model_load(WP_GPU_MODEL, "x", &m, &err), WP_EINVAL);
    if (wp_gpu_cuda_device_count() == 0) {
        assert_int_equal(wp_gpu_model_load(WP_GPU_CUDA, "x", &m, &err), WP_EUNAVAIL);
        assert_int_equal(wp_gpu_kind_default(), WP_GPU_MODEL);
    }
    int k;
    assert_int_equal(wp_gpu_kind_parse("cuda", &k), WP_OK);
    assert_int_equal(k, WP_GPU_CUDA);
    assert_int_equal(wp_gpu_kind_parse("gpu", &k), WP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_mha),
        cmocka_unit_test(test_forward_gqa_unshared),
        cmocka_unit_test(test_generation_reproducible),
        cmocka_unit_test(test_timing_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
