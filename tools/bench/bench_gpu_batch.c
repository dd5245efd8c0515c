/* bench_gpu_batch — continuous batching on the cpu backend (and cuda when
 * a device exists): decode throughput of a generated ~15M-parameter model
 * of the llama2.c "stories15M" shape (dim 288, 6 layers, 6 heads, hidden
 * 768, vocab 32000, seq_len 256) at batch 1, 4 and 16 with all cores, and
 * at batch 1 with one core, then the two ratios the task asks for
 * (batch 16 over batch 1 total tokens/s; all cores over one core at batch
 * 1). Each figure is the median of --runs runs of wp_gpu_measure (the
 * best run beside it). The load average and the process CPU time per
 * token are printed beside the figures: on a shared machine the wall-clock
 * rates move with the other users' load, the CPU time much less.
 * The model is written to a temporary file and removed.
 *
 * usage: bench_gpu_batch [--steps N] [--prompt N] [--runs N] [--threads N]
 *        (defaults 64, 8, 3, 0 = all online cores)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "gpu_worker/gpu_worker.h"

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct sample {
    double tps[16], wall[16], ttft[16], tpot[16], cpu[16];
} sample;

static int measure_once(wp_gpu_model *m, uint32_t batch, uint32_t n_prompt, uint32_t steps,
                        sample *s, int r)
{
    wp_gpu_rate rate;
    wp_err err;
    double c0 = cpu_s();
    if (wp_gpu_measure(m, batch, n_prompt, steps, &rate, &err) != WP_OK) {
        fprintf(stderr, "bench_gpu_batch: %s\n", wp_err_text(&err));
        return 1;
    }
    s->cpu[r] = (cpu_s() - c0) * 1e3 / ((double)batch * steps);
    s->tps[r] = rate.tokens_per_s;
    s->wall[r] = rate.wall_tokens_per_s;
    s->ttft[r] = rate.ttft_ms;
    s->tpot[r] = rate.tpot_ms;
    return 0;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return v[n / 2];
}

/* Prints the medians of one batch size's runs; returns its tokens/s. */
static double report(int kind, uint32_t threads, uint32_t batch, uint32_t n_prompt,
                     uint32_t steps, int runs, sample *s)
{
    double tps = median(s->tps, runs), best = s->tps[runs - 1];
    double load[1] = {-1};
    (void)getloadavg(load, 1);
    wp_json j;
    wp_json_init(&j, stdout, false);
    wp_json_obj_begin(&j);
    wp_json_key(&j, "bench");
    wp_json_str(&j, "gpu_batch");
    wp_json_key(&j, "backend");
    wp_json_str(&j, wp_gpu_kind_name(kind));
    wp_json_key(&j, "threads");
    wp_json_uint(&j, threads);
    wp_json_key(&j, "batch");
    wp_json_uint(&j, batch);
    wp_json_key(&j, "prompt_tokens");
    wp_json_uint(&j, n_prompt);
    wp_json_key(&j, "steps");
    wp_json_uint(&j, steps);
    wp_json_key(&j, "runs");
    wp_json_int(&j, runs);
    wp_json_key(&j, "ttft_ms_median");
    wp_json_double(&j, median(s->ttft, runs));
    wp_json_key(&j, "tpot_ms_median");
    wp_json_double(&j, median(s->tpot, runs));
    wp_json_key(&j, "tokens_per_s");
    wp_json_double(&j, tps);
    wp_json_key(&j, "tokens_per_s_best");
    wp_json_double(&j, best);
    wp_json_key(&j, "wall_tokens_per_s");
    wp_json_double(&j, median(s->wall, runs));
    wp_json_key(&j, "cpu_ms_per_token"); /* process CPU time, all threads */
    wp_json_double(&j, median(s->cpu, runs));
    wp_json_key(&j, "loadavg_1m");
    wp_json_double(&j, load[0]);
    wp_json_obj_end(&j);
    wp_json_end(&j);
    fflush(stdout);
    return tps;
}

static void ratio(const char *name, double num, double den)
{
    printf("{\"bench\":\"gpu_batch\",\"ratio\":\"%s\",\"value\":%.3f}\n", name,
           den > 0 ? num / den : 0.0);
    fflush(stdout);
}

/* Runs are interleaved (batch 1, 4, 16, [one core], then again) so a
 * change in the machine's load touches every figure alike. */
/* --only-batch B (0: all): that batch alone, for a profiler. */
static uint32_t only_batch;

static int run(int kind, const char *path, uint32_t threads, uint32_t n_prompt, uint32_t steps,
               int runs)
{
    static const uint32_t batches[] = {1, 4, 16};
    if (only_batch) {
        wp_err err;
        wp_gpu_model *m;
        wp_gpu_load_opts o = {.threads = threads, .max_seqs = only_batch};
        if (wp_gpu_model_load_opts(kind, path, &o, &m, &err) != WP_OK) {
            fprintf(stderr, "bench_gpu_batch: %s\n", wp_err_text(&err));
            return 1;
        }
        static sample s1;
        int rv = 0;
        for (int r = 0; r < runs && rv == 0; r++)
            rv = measure_once(m, only_batch, n_prompt, steps, &s1, r);
        if (rv == 0)
            report(kind, wp_gpu_model_threads(m), only_batch, n_prompt, steps, runs, &s1);
        wp_gpu_model_unload(m);
        return rv;
    }
    static sample smp[4];
    wp_err err;
    wp_gpu_model *m, *one = NULL;
    wp_gpu_load_opts o = {.threads = threads, .max_seqs = 16};
    if (wp_gpu_model_load_opts(kind, path, &o, &m, &err) != WP_OK) {
        fprintf(stderr, "bench_gpu_batch: %s: %s\n", wp_gpu_kind_name(kind), wp_err_text(&err));
        return 1;
    }
    uint32_t all = wp_gpu_model_threads(m);
    wp_gpu_load_opts o1 = {.threads = 1, .max_seqs = 1};
    if (kind == WP_GPU_CPU && all > 1 &&
        wp_gpu_model_load_opts(kind, path, &o1, &one, &err) != WP_OK) {
        fprintf(stderr, "bench_gpu_batch: %s\n", wp_err_text(&err));
        wp_gpu_model_unload(m);
        return 1;
    }
    int rv = 0;
    for (int r = 0; r < runs && rv == 0; r++) {
        for (size_t i = 0; i < 3 && rv == 0; i++)
            rv = measure_once(m, batches[i], n_prompt, steps, &smp[i], r);
        if (one && rv == 0)
            rv = measure_once(one, 1, n_prompt, steps, &smp[3], r);
    }
    if (rv == 0) {
        double tps[3];
        for (size_t i = 0; i < 3; i++)
            tps[i] = report(kind, all, batches[i], n_prompt, steps, runs, &smp[i]);
        ratio(kind == WP_GPU_CPU ? "cpu_batch16_over_batch1" : "cuda_batch16_over_batch1",
              tps[2], tps[0]);
        if (one)
            ratio("cpu_batch1_all_cores_over_one", tps[0],
                  report(kind, 1, 1, n_prompt, steps, runs, &smp[3]));
    }
    wp_gpu_model_unload(one);
    wp_gpu_model_unload(m);
    return rv;
}

int main(int argc, char **argv)
{
    int64_t steps = 64, n_prompt = 8, runs = 3, threads = 0, only = 0;
    for (int i = 1; i < argc; i++) {
        int64_t *dst = NULL;
        if (strcmp(argv[i], "--steps") == 0)
            dst = &steps;
        else if (strcmp(argv[i], "--prompt") == 0)
            dst = &n_prompt;
        else if (strcmp(argv[i], "--runs") == 0)
            dst = &runs;
        else if (strcmp(argv[i], "--threads") == 0)
            dst = &threads;
        else if (strcmp(argv[i], "--only-batch") == 0)
            dst = &only;
        else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: bench_gpu_batch [--steps N] [--prompt N] [--runs N] [--threads N]\n"
                   "                       [--only-batch B]  (that batch alone: for a profiler)\n"
                   "Continuous-batching decode throughput of a generated ~15M-parameter model\n"
                   "(stories15M shape) at batch 1, 4, 16 on the cpu backend (all cores, or\n"
                   "--threads), batch 1 on one core, and on cuda when a device exists.\n"
                   "JSON lines, with the 1-minute load average beside each figure.\n");
            return 0;
        }
        if (!dst || i + 1 >= argc || wp_parse_int64(argv[++i], dst) != WP_OK) {
            fprintf(stderr, "bench_gpu_batch: bad argument '%s' (try --help)\n", argv[i]);
            return 2;
        }
    }
    if (steps < 2 || n_prompt < 1 || n_prompt > 128 || steps + n_prompt > 256 || runs < 1 ||
        runs > 16 || threads < 0 || threads > 256 || only < 0 || only > 16) {
        fprintf(stderr, "bench_gpu_batch: need 2 <= steps, 1 <= prompt <= 128, prompt + steps <= "
                        "256, 1 <= runs <= 16, 0 <= threads <= 256, 0 <= only-batch <= 16\n");
        return 2;
    }
    const wp_llama_config cfg = {.dim = 288, .hidden_dim = 768, .n_layers = 6, .n_heads = 6,
                                 .n_kv_heads = 6, .vocab_size = 32000, .seq_len = 256,
                                 .shared_classifier = true};
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[512];
    snprintf(path, sizeof path, "%s/bench_gpu_batch.XXXXXX", tmp);
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("bench_gpu_batch: mkstemp");
        return 1;
    }
    close(fd);
    wp_err err;
    if (wp_llama_gen(path, &cfg, 1, 0.02, &err) != WP_OK) {
        fprintf(stderr, "bench_gpu_batch: %s\n", wp_err_text(&err));
        remove(path);
        return 1;
    }
    only_batch = (uint32_t)only;
    int rv = run(WP_GPU_CPU, path, (uint32_t)threads, (uint32_t)n_prompt, (uint32_t)steps,
                 (int)runs);
    if (rv == 0) {
        if (wp_gpu_cuda_device_count() > 0)
            rv = run(WP_GPU_CUDA, path, 0, (uint32_t)n_prompt, (uint32_t)steps, (int)runs);
        else
            printf("{\"bench\":\"gpu_batch\",\"backend\":\"cuda\",\"skipped\":true,"
                   "\"reason\":\"%s\"}\n",
                   wp_gpu_cuda_built() ? "no CUDA device" : "built without CUDA");
    }
    remove(path);
    return rv;
}
