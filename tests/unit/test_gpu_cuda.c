/* The CUDA backend against the CPU reference (label gpu). Without a CUDA
 * device — or in a build without the toolkit — the program exits 77, which
 * ctest reports as SKIPPED.
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
#include <stdio.h>
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

/* Batched passes: three sequences at different positions, one joining in
 * prefill, in one pass each, on both backends. */
static void test_cuda_batch_matches_cpu(void **state)
{
    (void)state;
    need_device();
    wp_llama_config c = {.dim = 64, .hidden_dim = 96, .n_layers = 2, .n_heads = 8,
                         .n_kv_heads = 4, .vocab_size = 101, .seq_len = 40,
                         .shared_classifier = true};
    char path[300];
    snprintf(path, sizeof path, "%s/batch.bin", dir);
    wp_err err;
    assert_int_equal(wp_llama_gen(path, &c, 9, 0.2, &err), WP_OK);
    wp_gpu_load_opts o = {.max_seqs = 4};
    wp_gpu_model *cpu, *gpu;
    assert_int_equal(wp_gpu_model_load_opts(WP_GPU_CPU, path, &o, &cpu, &err), WP_OK);
    if (wp_gpu_model_load_opts(WP_GPU_CUDA, path, &o, &gpu, &err) != WP_OK)
        fail_msg("cuda load: %s", wp_err_text(&err));
    float *a = malloc(8 * c.vocab_size * sizeof(float)), *b = malloc(8 * c.vocab_size * sizeof(float));
    uint32_t next[4] = {0, 0, 0, 0};
    wp_rng rng;
    wp_rng_seed(&rng, 4);
    for (int step = 0; step < 12; step++) {
        wp_gpu_row ra[8], rb[8];
        size_t n = 0;
        for (uint32_t s = 0; s < 4; s++) {
            if (s == 3 && step < 4)
                continue; /* sequence 3 joins later, with a 3-token prefill */
            uint32_t k = (s == 3 && step == 4) ? 3 : (s == 1 && step == 0 ? 2 : 1);
            for (uint32_t j = 0; j < k; j++, n++) {
                int32_t tok = (int32_t)wp_rng_below(&rng, c.vocab_size);
                ra[n] = (wp_gpu_row){s, tok, next[s]++, a + n * c.vocab_size};
                rb[n] = ra[n];
                rb[n].logits = b + n * c.vocab_size;
            }
        }
        assert_int_equal(wp_gpu_model_forward_batch(cpu, ra, n, &err), WP_OK);
        if (wp_gpu_model_forward_batch(gpu, rb, n, &err) != WP_OK)
            fail_msg("cuda batch: %s", wp_err_text(&err));
        double mx = 1.0, diff = 0.0;
        for (size_t i = 0; i < n * c.vocab_size; i++) {
            mx = fmax(mx, fabs(a[i]));
            diff = fmax(diff, fabs((double)a[i] - b[i]));
        }
        if (!(diff <= CUDA_CPU_TOL * mx))
            fail_msg("step %d: batched cuda and cpu logits differ by %.3g", step, diff);
    }
    free(a);
    free(b);
    wp_gpu_model_unload(cpu);
    wp_gpu_model_unload(gpu);
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
    if (wp_gpu_cuda_device_count() <= 0) {
        printf("no CUDA device (%s): SKIPPED\n",
               wp_gpu_cuda_built() ? "built with CUDA" : "built without CUDA");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cuda_matches_cpu_small),
        cmocka_unit_test(test_cuda_matches_cpu_medium),
        cmocka_unit_test(test_cuda_batch_matches_cpu),
        cmocka_unit_test(test_cuda_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
