/* The CUDA backend against the CPU reference (label gpu). Without a CUDA
 * device — or in a build without the toolkit — every test is skipped and
 * the program exits 0.
 *
 * Tolerance: at every position, max |cuda - cpu| over the logits must be
 * <= 1e-3 * max(1, max |cpu logit|). The two backends do the same float32
 * math in a different summation order (cuBLAS's reductions, block
 * reductions in the kernels, CUDA's expf/powf), so they differ by float
 * rounding grown over the layers: around 1e-6 relative per layer, far
 * below 1e-3; a wrong index or formula gives differences of order 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu_worker/gpu_worker.h"

#define CUDA_CPU_TOL 1e-3

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/test_gpu_cuda.XXXXXX", WP_BUILD_DIR);
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void need_device(void)
{
    if (wp_gpu_cuda_device_count() <= 0) {
        print_message("no CUDA device (%s): skipped\n",
                      wp_gpu_cuda_built() ? "built with CUDA" : "built without CUDA");
        skip();
    }
}

static void compare(const wp_llama_config *cfg, uint64_t seed, double init_std)
{
    char path[300];
    snprintf(path, sizeof path, "%s/m%llu.bin", dir, (unsigned long long)seed);
    wp_err err;
    assert_int_equal(wp_llama_gen(path, cfg, seed, init_std, &err), WP_OK);
    wp_gpu_model *cpu, *gpu;
    if (wp_gpu_model_load(WP_GPU_CPU, path, &cpu, &err) != WP_OK)
        fail_msg("cpu load: %s", wp_err_text(&err));
    if (wp_gpu_model_load(WP_GPU_CUDA, path, &gpu, &err) != WP_OK)
        fail_msg("cuda load: %s", wp_err_text(&err));
    assert_true(wp_gpu_model_mem_bytes(gpu) >= wp_llama_param_count(cfg) * 4);
    float *a = malloc(cfg->vocab_size * sizeof(float)), *b = malloc(cfg->vocab_size * sizeof(float));
    wp_rng rng;
    wp_rng_seed(&rng, seed);
    uint32_t n = cfg->seq_len; /* every position: > 256 exercises the strided loops */
    for (uint32_t pos = 0; pos < n; pos++) {
        int32_t tok = (int32_t)wp_rng_below(&rng, cfg->vocab_size);
        assert_int_equal(wp_gpu_model_forward(cpu, tok, pos, a, &err), WP_OK);
        if (wp_gpu_model_forward(gpu, tok, pos, b, &err) != WP_OK)
            fail_msg("cuda forward: %s", wp_err_text(&err));
        double mx = 1.0, diff = 0.0;
        for (uint32_t i = 0; i < cfg->vocab_size; i++) {
            mx = fmax(mx, fabs(a[i]));
            diff = fmax(diff, fabs((double)a[i] - b[i]));
        }
        if (pos % 50 == 0 || pos + 1 == n)
            print_message("seed %llu pos %u: max |logit| %.4g, max diff %.3g\n",
                      (unsigned long long)seed, (unsigned)pos, mx, diff);
        if (!(diff <= CUDA_CPU_TOL * mx))
            fail_msg("seed %llu pos %u: cuda and cpu logits differ by %.3g (> %.3g)",
                     (unsigned long long)seed, (unsigned)pos, diff, CUDA_CPU_TOL * mx);
    }
    /* Generation runs end to end on the device. */
    const int32_t prompt[2] = {1, 2};
    int32_t toks[8];
    wp_gen_request req = {prompt, 2, 8, 0.9f, 3};
    wp_gen_result res = {.tokens = toks};
    assert_int_equal(wp_gpu_generate(gpu, &req, &res, &err), WP_OK);
    assert_int_equal(res.n_tokens, 8);
    free(a);
    free(b);
    wp_gpu_model_unload(cpu);
    wp_gpu_model_unload(gpu);
}

static void test_cuda_matches_cpu_small(void **state)
{
    (void)state;
    need_device();
    wp_llama_config c = {.dim = 32, .hidden_dim = 48, .n_layers = 2, .n_heads = 4,
                         .n_kv_heads = 2, .vocab_size = 37, .seq_len = 16,
                         .shared_classifier = false};
    compare(&c, 1, 0.3);
}

static void test_cuda_matches_cpu_medium(void **state)
{
    (void)state;
    need_device();
    /* Head size 48 and more than one block of threads in several kernels. */
    wp_llama_config c = {.dim = 288, .hidden_dim = 768, .n_layers = 3, .n_heads = 6,
                         .n_kv_heads = 6, .vocab_size = 1000, .seq_len = 300,
                         .shared_classifier = true};
    compare(&c, 2, 0.05);
}

static void test_cuda_errors(void **state)
{
    (void)state;
    need_device();
    wp_err err;
    wp_gpu_model *m;
    char path[300];
    snprintf(path, sizeof path, "%s/missing.bin", dir);
    assert_int_equal(wp_gpu_model_load(WP_GPU_CUDA, path, &m, &err), WP_ENOTFOUND);
    uint64_t f, t;
    assert_int_equal(wp_gpu_cuda_mem_info(&f, &t), WP_OK);
    assert_true(t > 0 && f <= t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cuda_matches_cpu_small),
        cmocka_unit_test(test_cuda_matches_cpu_medium),
        cmocka_unit_test(test_cuda_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
