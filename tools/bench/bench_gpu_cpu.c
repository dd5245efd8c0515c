/* bench_gpu_cpu — generation speed of a ~15M-parameter generated model (the
 * llama2.c "stories15M" shape: dim 288, 6 layers, 6 heads, vocab 32000,
 * seq_len 256): time to first token and tokens/s after the first, on the
 * cpu backend and, when a device exists, on cuda. The model is written to
 * a temporary file and removed. One JSON object per figure on stdout.
 *
 * usage: bench_gpu_cpu [--steps N] [--prompt N] [--runs N]   (defaults 128, 8, 3)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "gpu_worker/gpu_worker.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int run_backend(int kind, const char *path, const wp_llama_config *cfg, uint32_t n_prompt,
                       uint32_t steps, int runs)
{
    wp_err err;
    wp_gpu_model *m;
    if (wp_gpu_model_load(kind, path, &m, &err) != WP_OK) {
        fprintf(stderr, "bench_gpu_cpu: %s: %s\n", wp_gpu_kind_name(kind), wp_err_text(&err));
        return 1;
    }
    int32_t prompt[256], *toks = malloc(steps * sizeof *toks);
    for (uint32_t i = 0; i < n_prompt; i++)
        prompt[i] = (int32_t)(1 + i * 37 % (cfg->vocab_size - 1));
    uint64_t ttft[16], tpot[16];
    for (int r = 0; r < runs; r++) {
        wp_gen_request req = {prompt, n_prompt, steps, 0.0f, 0};
        wp_gen_result res = {.tokens = toks};
        if (wp_gpu_generate(m, &req, &res, &err) != WP_OK) {
            fprintf(stderr, "bench_gpu_cpu: %s\n", wp_err_text(&err));
            return 1;
        }
        ttft[r] = res.ttft_ns;
        tpot[r] = (uint64_t)wp_gen_tpot_ns(&res, steps);
    }
    qsort(ttft, (size_t)runs, sizeof ttft[0], cmp_u64);
    qsort(tpot, (size_t)runs, sizeof tpot[0], cmp_u64);
    double tpot_ms = (double)tpot[runs / 2] / 1e6;
    wp_json j;
    wp_json_init(&j, stdout, false);
    wp_json_obj_begin(&j);
    wp_json_key(&j, "bench");
    wp_json_str(&j, "gpu_generate");
    wp_json_key(&j, "backend");
    wp_json_str(&j, wp_gpu_kind_name(kind));
    wp_json_key(&j, "params");
    wp_json_uint(&j, wp_llama_param_count(cfg));
    wp_json_key(&j, "prompt_tokens");
    wp_json_uint(&j, n_prompt);
    wp_json_key(&j, "steps");
    wp_json_uint(&j, steps);
    wp_json_key(&j, "runs");
    wp_json_int(&j, runs);
    wp_json_key(&j, "load_ms");
    wp_json_double(&j, (double)wp_gpu_model_load_ns(m) / 1e6);
    wp_json_key(&j, "ttft_ms_median");
    wp_json_double(&j, (double)ttft[runs / 2] / 1e6);
    wp_json_key(&j, "tpot_ms_median");
    wp_json_double(&j, tpot_ms);
    wp_json_key(&j, "tokens_per_s");
    wp_json_double(&j, tpot_ms > 0 ? 1000.0 / tpot_ms : 0.0);
    wp_json_key(&j, "mem_bytes");
    wp_json_uint(&j, wp_gpu_model_mem_bytes(m));
    wp_json_obj_end(&j);
    wp_json_end(&j);
    free(toks);
    wp_gpu_model_unload(m);
    return 0;
}

int main(int argc, char **argv)
{
    int64_t steps = 128, n_prompt = 8, runs = 3;
    for (int i = 1; i < argc; i++) {
        int64_t *dst = NULL;
        if (strcmp(argv[i], "--steps") == 0)
            dst = &steps;
        else if (strcmp(argv[i], "--prompt") == 0)
            dst = &n_prompt;
        else if (strcmp(argv[i], "--runs") == 0)
            dst = &runs;
        else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: bench_gpu_cpu [--steps N] [--prompt N] [--runs N]\n"
                   "Generation speed (TTFT, tokens/s) of a generated ~15M-parameter model on\n"
                   "the cpu backend, and on cuda when a device exists. JSON lines.\n");
            return 0;
        }
        if (!dst || i + 1 >= argc || wp_parse_int64(argv[++i], dst) != WP_OK) {
            fprintf(stderr, "bench_gpu_cpu: bad argument '%s' (try --help)\n", argv[i]);
            return 2;
        }
    }
    if (steps < 2 || n_prompt < 1 || n_prompt > 128 || steps + n_prompt > 256 || runs < 1 ||
        runs > 16) {
        fprintf(stderr, "bench_gpu_cpu: need 2 <= steps, 1 <= prompt <= 128, prompt + steps <= "
                        "256, 1 <= runs <= 16\n");
        return 2;
    }
    const wp_llama_config cfg = {.dim = 288, .hidden_dim = 768, .n_layers = 6, .n_heads = 6,
                                 .n_kv_heads = 6, .vocab_size = 32000, .seq_len = 256,
                                 .shared_classifier = true};
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[512];
    snprintf(path, sizeof path, "%s/bench_gpu_cpu.XXXXXX", tmp);
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("bench_gpu_cpu: mkstemp");
        return 1;
    }
    close(fd);
    wp_err err;
    if (wp_llama_gen(path, &cfg, 1, 0.02, &err) != WP_OK) {
        fprintf(stderr, "bench_gpu_cpu: %s\n", wp_err_text(&err));
        remove(path);
        return 1;
    }
    int rv = run_backend(WP_GPU_CPU, path, &cfg, (uint32_t)n_prompt, (uint32_t)steps, (int)runs);
    if (rv == 0) {
        if (wp_gpu_cuda_device_count() > 0) {
            rv = run_backend(WP_GPU_CUDA, path, &cfg, (uint32_t)n_prompt, (uint32_t)steps,
                             (int)runs);
        } else {
            printf("{\"bench\":\"gpu_generate\",\"backend\":\"cuda\",\"skipped\":true,"
                   "\"reason\":\"%s\"}\n",
                   wp_gpu_cuda_built() ? "no CUDA device" : "built without CUDA");
        }
    }
    remove(path);
    return rv;
}
