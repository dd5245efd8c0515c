/* wpctl model — model checkpoints. `wpctl model gen` writes a llama2.c
 * version-0 checkpoint with seeded random weights (for tests and
 * benchmarks); the same seed and sizes give the same file, byte for byte.
 * `wpctl model profile` measures a checkpoint on this machine (cpu or cuda
 * backend) and fits the catalog's latency profile (wp_model_profile) to it:
 *   prefill  TTFT of one request at several prompt lengths (batch 1),
 *            least-squares line: prefill_base_ms + tokens x per-token;
 *   decode   time per output token with 1, 4, 16 ... sequences decoding
 *            together (continuous batching); slots = the batch with the
 *            most tokens/s (the smallest within 5% of it), decode =
 *            its per-stream time per token (the timing model gives every
 *            stream that rate up to slots at once);
 *   load     the measured cold start (read, copy, warm-up) as a rate
 *            over size (load_fixed_ms 0); size = weights, activations and
 *            the KV caches of `slots` sequences (what the worker reserves).
 * Timing on a shared machine moves with its load; the load average is
 * printed with the profile. */
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_worker/gpu_worker.h"

static int gen_main(int argc, char **argv)
{
    wp_llama_config c = {.shared_classifier = true};
    uint64_t seed = 0;
    bool have_seed = false, json = false, unshared = false;
    double std = 0.02;
    const char *out = NULL;
    wpctl_flag flags[] = {
        WPF_U32("dim", &c.dim, 1, INT32_MAX, "D", "model width (required)"),
        WPF_U32("layers", &c.n_layers, 1, INT32_MAX, "L", "transformer layers (required)"),
        WPF_U32("heads", &c.n_heads, 1, INT32_MAX, "H", "attention heads (required)"),
        WPF_U32("kv-heads", &c.n_kv_heads, 1, INT32_MAX, "K", "key/value heads (default H)"),
        WPF_U32("hidden-dim", &c.hidden_dim, 1, INT32_MAX, "F", "feed-forward width"),
        WPF_U32("vocab", &c.vocab_size, 1, INT32_MAX, "V", "vocabulary size (required)"),
        WPF_U32("seq-len", &c.seq_len, 1, INT32_MAX, "S", "context length (required)"),
        WPF_U64("seed", &seed, 1, 0, "X", "weights' seed (required)"),
        WPF_POSITIVE("std", &std, 0, 10, "SIGMA", "weights' standard deviation (default 0.02)"),
        WPF_BOOL("unshared-classifier", &unshared, "a classifier of its own, not the embedding"),
        WPF_JSON(&json, "what was written, as one JSON object"),
        {.name = "output", .short_name = 'o', .kind = WPCTL_F_STR, .dest = &out, .lo = 1,
         .metavar = "FILE", .help = "the checkpoint to write (required)"},
        WPF_END,
    };
    flags[7].seen = &have_seed;
    const wpctl_spec spec = {
        .name = "model gen",
        .about = "Writes a transformer checkpoint in the public llama2.c layout (version 0:\n"
                "seven int32 header fields, then float32 tensors) with random weights drawn\n"
                "from N(0, SIGMA) (default 0.02) by a generator seeded with X; RMSNorm\n"
                "weights are 1. Same arguments, same file. Defaults: --kv-heads = --heads,\n"
                "--hidden-dim = 8*D/3 rounded up to a multiple of 32. Load it with\n"
                "'wpctl infer --model FILE'.\n",
        .flags = flags,
    };
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, NULL);
    c.shared_classifier = !unshared;
    if (!c.dim || !c.n_layers || !c.n_heads || !c.vocab_size || !c.seq_len || !have_seed || !out)
        return wpctl_usage_error("model gen",
                                 "--dim, --layers, --heads, --vocab, --seq-len, --seed and -o "
                                 "are required");
    if (!c.n_kv_heads)
        c.n_kv_heads = c.n_heads;
    if (!c.hidden_dim) {
        uint64_t h = ((uint64_t)c.dim * 8 / 3 + 31) / 32 * 32;
        c.hidden_dim = h > UINT32_MAX ? UINT32_MAX : (uint32_t)h;
    }
    wp_err err;
    wp_err_clear(&err);
    uint64_t bytes = 0;
    if (wp_llama_config_check(&c, &bytes, &err) != WP_OK)
        return wpctl_fail("model gen: %s", wp_err_text(&err));
    if (wp_llama_gen(out, &c, seed, std, &err) != WP_OK)
        return wpctl_fail("model gen: %s", wp_err_text(&err));
    uint64_t params = wp_llama_param_count(&c);
    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "file");
        wp_json_str(&j, out);
        const char *keys[7] = {"dim", "hidden_dim", "n_layers", "n_heads",
                               "n_kv_heads", "vocab_size", "seq_len"};
        uint32_t vals[7] = {c.dim, c.hidden_dim, c.n_layers, c.n_heads,
                            c.n_kv_heads, c.vocab_size, c.seq_len};
        for (int i = 0; i < 7; i++) {
            wp_json_key(&j, keys[i]);
            wp_json_uint(&j, vals[i]);
        }
        wp_json_key(&j, "shared_classifier");
        wp_json_bool(&j, c.shared_classifier);
        wp_json_key(&j, "params");
        wp_json_uint(&j, params);
        wp_json_key(&j, "file_bytes");
        wp_json_uint(&j, bytes);
        wp_json_key(&j, "seed");
        wp_json_uint(&j, seed);
        wp_json_obj_end(&j);
        wp_json_end(&j);
    } else {
        printf("wrote %s: dim %u, hidden %u, %u layers, %u heads (%u kv), vocab %u, seq_len %u; "
               "%.2fM parameters, %llu bytes\n",
               out, c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size,
               c.seq_len, (double)params / 1e6, (unsigned long long)bytes);
    }
    return WPCTL_OK;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define PROFILE_MAX_POINTS 8

typedef struct profile_run {
    uint32_t prompt[PROFILE_MAX_POINTS];
    double ttft_ms[PROFILE_MAX_POINTS];
    size_t n_prefill;
    wp_gpu_rate rate[PROFILE_MAX_POINTS];
    size_t n_decode;
    wp_model_profile p;
    double load_ms, loadavg;
    uint32_t threads;
} profile_run;

/* Median TTFT (ms) of one request with an n-token prompt, over 3 runs. */
static int ttft_of(wp_gpu_model *m, uint32_t n, double *out, wp_err *err)
{
    double v[3];
    for (int r = 0; r < 3; r++) {
        wp_gpu_rate rate;
        int rv = wp_gpu_measure(m, 1, n, 2, &rate, err);
        if (rv != WP_OK)
            return rv;
        v[r] = rate.ttft_ms;
    }
    qsort(v, 3, sizeof v[0], cmp_dbl);
    *out = v[1];
    return WP_OK;
}

static int profile_measure(wp_gpu_model *m, uint32_t max_batch, uint32_t steps, profile_run *pr,
                           wp_err *err)
{
    const wp_llama_config *c = wp_gpu_model_config(m);
    uint32_t room = c->seq_len > steps ? c->seq_len - steps : 1;
    wp_gpu_rate warm;
    int rv = wp_gpu_measure(m, 1, room < 8 ? room : 8, 2, &warm, err); /* warm-up */
    if (rv != WP_OK)
        return rv;
    /* Prefill: prompt lengths 4, 16, 64, 256, ... below seq_len - 2. */
    for (uint32_t n = 4; n + 2 <= c->seq_len && pr->n_prefill < 5; n *= 4) {
        pr->prompt[pr->n_prefill] = n;
        rv = ttft_of(m, n, &pr->ttft_ms[pr->n_prefill], err);
        if (rv != WP_OK)
            return rv;
        pr->n_prefill++;
    }
    if (pr->n_prefill == 0) {
        pr->prompt[0] = 1;
        rv = ttft_of(m, 1, &pr->ttft_ms[0], err);
        if (rv != WP_OK)
            return rv;
        pr->n_prefill = 1;
    }
    /* Decode at batch 1, 4, 16, ... up to max_batch. */
    uint32_t prompt = room < 8 ? room : 8;
    for (uint32_t b = 1; b <= max_batch && pr->n_decode < PROFILE_MAX_POINTS; b *= 4) {
        wp_gpu_rate r[3];
        for (int k = 0; k < 3; k++) {
            rv = wp_gpu_measure(m, b, prompt, steps, &r[k], err);
            if (rv != WP_OK)
                return rv;
        }
        /* The run with the median tokens/s: at most one other is above it. */
        int med = 0;
        for (int k = 0; k < 3; k++) {
            int above = 0, below = 0;
            for (int q = 0; q < 3; q++) {
                above += q != k && r[q].tokens_per_s > r[k].tokens_per_s;
                below += q != k && r[q].tokens_per_s < r[k].tokens_per_s;
            }
            if (above <= 1 && below <= 1)
                med = k;
        }
        pr->rate[pr->n_decode++] = r[med];
    }
    return WP_OK;
}

static void profile_fit(const wp_gpu_model *m, const char *name, profile_run *pr)
{
    wp_model_profile *p = &pr->p;
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    const wp_llama_config *cfg = wp_gpu_model_config(m);
    /* Least squares ttft = base + n * per_token; one point: all per token. */
    double sx = 0, sy = 0, sxx = 0, sxy = 0, k = (double)pr->n_prefill;
    for (size_t i = 0; i < pr->n_prefill; i++) {
        double x = pr->prompt[i], y = pr->ttft_ms[i];
        sx += x, sy += y, sxx += x * x, sxy += x * y;
    }
    double den = k * sxx - sx * sx;
    double slope = den > 0 ? (k * sxy - sx * sy) / den : sy / (sx > 0 ? sx : 1);
    double base = den > 0 ? (sy - slope * sx) / k : 0.0;
    if (slope < 0)
        slope = 0;
    if (base < 0) /* a line through the origin instead */
        base = 0, slope = sxx > 0 ? sxy / sxx : slope;
    p->prefill_base_ms = base;
    p->prefill_ms_per_token = slope;
    size_t best = 0;
    for (size_t i = 1; i < pr->n_decode; i++)
        if (pr->rate[i].tokens_per_s > pr->rate[best].tokens_per_s)
            best = i;
    size_t pick = best;
    for (size_t i = 0; i < best; i++)
        if (pr->rate[i].tokens_per_s >= 0.95 * pr->rate[best].tokens_per_s) {
            pick = i;
            break;
        }
    p->slots_per_gpu = pr->rate[pick].batch;
    /* What the worker reserves for that many sequences. */
    p->size_bytes = wp_llama_mem_bytes(cfg) + (uint64_t)(p->slots_per_gpu - 1) * wp_llama_seq_bytes(cfg);
    p->decode_ms_per_token = pr->rate[pick].tpot_ms;
    /* The measured cold start as a rate over size (no fixed part), so
     * wp_model_load_ms gives it back. */
    p->load_fixed_ms = 0;
    p->load_bytes_per_s = pr->load_ms > 0 ? (double)p->size_bytes / (pr->load_ms / 1e3) : 0;
    p->typical_in_tokens = pr->prompt[pr->n_prefill - 1];
    p->typical_out_tokens = 32;
}

static void profile_print(const profile_run *pr, const char *file, int kind, bool json)
{
    const wp_model_profile *p = &pr->p;
    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "file");
        wp_json_str(&j, file);
        wp_json_key(&j, "backend");
        wp_json_str(&j, wp_gpu_kind_name(kind));
        wp_json_key(&j, "threads");
        wp_json_uint(&j, pr->threads);
        wp_json_key(&j, "loadavg_1m");
        wp_json_double(&j, pr->loadavg);
        wp_json_key(&j, "profile");
        wp_json_obj_begin(&j);
        wp_json_key(&j, "name");
        wp_json_str(&j, p->name);
        wp_json_key(&j, "size_bytes");
        wp_json_uint(&j, p->size_bytes);
        wp_json_key(&j, "prefill_base_ms");
        wp_json_double(&j, p->prefill_base_ms);
        wp_json_key(&j, "prefill_ms_per_token");
        wp_json_double(&j, p->prefill_ms_per_token);
        wp_json_key(&j, "decode_ms_per_token");
        wp_json_double(&j, p->decode_ms_per_token);
        wp_json_key(&j, "slots_per_gpu");
        wp_json_uint(&j, p->slots_per_gpu);
        wp_json_key(&j, "load_bytes_per_s");
        wp_json_double(&j, p->load_bytes_per_s);
        wp_json_key(&j, "load_fixed_ms");
        wp_json_double(&j, p->load_fixed_ms);
        wp_json_key(&j, "typical_in_tokens");
        wp_json_uint(&j, p->typical_in_tokens);
        wp_json_key(&j, "typical_out_tokens");
        wp_json_uint(&j, p->typical_out_tokens);
        wp_json_obj_end(&j);
        wp_json_key(&j, "prefill");
        wp_json_arr_begin(&j);
        for (size_t i = 0; i < pr->n_prefill; i++) {
            wp_json_obj_begin(&j);
            wp_json_key(&j, "prompt_tokens");
            wp_json_uint(&j, pr->prompt[i]);
            wp_json_key(&j, "ttft_ms");
            wp_json_double(&j, pr->ttft_ms[i]);
            wp_json_obj_end(&j);
        }
        wp_json_arr_end(&j);
        wp_json_key(&j, "decode");
        wp_json_arr_begin(&j);
        for (size_t i = 0; i < pr->n_decode; i++) {
            wp_json_obj_begin(&j);
            wp_json_key(&j, "batch");
            wp_json_uint(&j, pr->rate[i].batch);
            wp_json_key(&j, "tpot_ms");
            wp_json_double(&j, pr->rate[i].tpot_ms);
            wp_json_key(&j, "tokens_per_s");
            wp_json_double(&j, pr->rate[i].tokens_per_s);
            wp_json_obj_end(&j);
        }
        wp_json_arr_end(&j);
        wp_json_obj_end(&j);
        wp_json_end(&j);
        return;
    }
    printf("%s on %s (%u threads, load average %.2f), measured:\n", file,
           wp_gpu_kind_name(kind), (unsigned)pr->threads, pr->loadavg);
    printf("  cold start %.1f ms\n", pr->load_ms);
    for (size_t i = 0; i < pr->n_prefill; i++)
        printf("  prompt %4u tokens: time to first token %.3f ms\n", (unsigned)pr->prompt[i],
               pr->ttft_ms[i]);
    for (size_t i = 0; i < pr->n_decode; i++)
        printf("  batch %3u: %.3f ms per token per stream, %.1f tokens/s in total\n",
               (unsigned)pr->rate[i].batch, pr->rate[i].tpot_ms, pr->rate[i].tokens_per_s);
    printf("profile (catalog terms):\n"
           "  wpctl catalog add %s --size-gb %.9g --prefill-base-ms %.4g "
           "--prefill-ms-per-token %.4g --decode-ms-per-token %.4g --slots %u "
           "--load-gbps %.4g --load-fixed-ms 0 --in-tokens %u --out-tokens %u\n",
           p->name, (double)p->size_bytes / 1e9, p->prefill_base_ms, p->prefill_ms_per_token,
           p->decode_ms_per_token, (unsigned)p->slots_per_gpu, p->load_bytes_per_s / 1e9,
           (unsigned)p->typical_in_tokens, (unsigned)p->typical_out_tokens);
}

static int profile_main(int argc, char **argv)
{
    int kind = WP_GPU_CPU;
    uint32_t threads = 0, max_batch = 16, steps = 32;
    const char *name = NULL, *backend = NULL;
    bool json = false;
    const wpctl_flag flags[] = {
        WPF_STR("backend", &backend, "cpu|cuda", "backend to measure (default cpu)"),
        WPF_U32("threads", &threads, 1, 256, "N", "cpu compute threads (default: all cores)"),
        WPF_U32("max-batch", &max_batch, 1, WP_GPU_MAX_SEQS, "B",
                "largest batch measured (default 16)"),
        WPF_U32("steps", &steps, 2, 4096, "S", "tokens generated per sequence (default 32)"),
        WPF_STR("name", &name, "NAME", "the profile's model name (default: FILE's base name)"),
        WPF_JSON(&json, "the profile (wp_model_profile fields) and every measured point"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "model profile",
        .args = "FILE",
        .min_args = 1,
        .max_args = 1,
        .about = "Measures FILE on this machine (after a warm-up): time to first token at\n"
                 "several prompt lengths, and time per output token with 1, 4, 16, ... up to\n"
                 "B sequences decoding together, S tokens each. Prints the fitted latency\n"
                 "profile in the catalog's terms (the flags of 'wpctl catalog add') and every\n"
                 "measured point. Figures move with the machine's load (printed beside them).\n",
        .flags = flags,
    };
    wpctl_args a;
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, &a);
    if (backend && (wp_gpu_kind_parse(backend, &kind) != WP_OK || kind == WP_GPU_MODEL))
        return wpctl_usage_error("model profile", "--backend: cpu or cuda, got '%s'", backend);
    const char *file = a.argv[0];
    char base[WP_NAME_MAX];
    if (!name) { /* the file's name without directories and .bin */
        const char *slash = strrchr(file, '/');
        snprintf(base, sizeof base, "%s", slash ? slash + 1 : file);
        char *dot = strrchr(base, '.');
        if (dot && dot != base)
            *dot = '\0';
        name = base;
    }
    if (strlen(name) >= WP_NAME_MAX)
        return wpctl_usage_error("model profile", "--name: at most %d characters", WP_NAME_MAX - 1);
    wp_err err;
    wp_err_clear(&err);
    wp_llama_config c;
    if (wp_llama_read_config(file, &c, &err) != WP_OK)
        return wpctl_fail("model profile: %s", wp_err_text(&err));
    if (steps + 1 > c.seq_len)
        return wpctl_fail("model profile: --steps %u leaves no room for a prompt (seq_len %u)",
                          (unsigned)steps, (unsigned)c.seq_len);
    wp_gpu_load_opts o = {.threads = threads, .max_seqs = max_batch};
    wp_gpu_model *m;
    if (wp_gpu_model_load_opts(kind, file, &o, &m, &err) != WP_OK)
        return wpctl_fail("model profile: %s", wp_err_text(&err));
    profile_run *pr = calloc(1, sizeof *pr);
    if (!pr) {
        wp_gpu_model_unload(m);
        return wpctl_fail("model profile: out of memory");
    }
    pr->load_ms = (double)wp_gpu_model_load_ns(m) / 1e6;
    pr->threads = wp_gpu_model_threads(m);
    int rv = profile_measure(m, max_batch, steps, pr, &err);
    if (rv == WP_OK) {
        double la[1] = {-1};
        (void)getloadavg(la, 1);
        pr->loadavg = la[0];
        profile_fit(m, name, pr);
        pr->p.typical_out_tokens = steps;
        profile_print(pr, file, kind, json);
    }
    free(pr);
    wp_gpu_model_unload(m);
    return rv == WP_OK ? WPCTL_OK : wpctl_fail("model profile: %s", wp_err_text(&err));
}

int wpctl_model_main(int argc, char **argv)
{
    static const struct wpctl_cmd subs[] = {
        {"gen", "write a checkpoint with seeded random weights", gen_main},
        {"profile", "measure a checkpoint here and fit the catalog's latency profile",
         profile_main},
    };
    return wpctl_dispatch("model", "Model checkpoints (llama2.c layout).\n", subs,
                          WP_ARRAY_LEN(subs), argc, argv);
}
