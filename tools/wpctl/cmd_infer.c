/* wpctl infer — run a checkpoint on the cpu or cuda backend: prompt tokens
 * in, generated tokens out (stdout), timings on stderr. Same inputs, same
 * tokens, every run. */
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_worker/gpu_worker.h"

/* Parses "1,2,3"; *out is malloc'd. */
static int parse_tokens(const char *s, int32_t **out, uint32_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        if (*p == ',')
            cap++;
    if (cap > WP_LLAMA_MAX_SEQ)
        return wpctl_usage_error("infer", "--prompt-tokens: more than %d tokens", WP_LLAMA_MAX_SEQ);
    int32_t *t = malloc(cap * sizeof *t);
    char *copy = strdup(s);
    if (!t || !copy) {
        free(t);
        free(copy);
        return wpctl_fail("out of memory");
    }
    size_t k = 0;
    int rv = WPCTL_OK;
    /* strtok would skip empty fields; walk by hand so "1,,2" is an error. */
    char *p = copy;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        int64_t v;
        if (wp_parse_int64(p, &v) != WP_OK || v < 0 || v > INT32_MAX) {
            rv = wpctl_usage_error("infer", "--prompt-tokens: '%s' is not a token id (0..2^31-1)",
                                   p);
            break;
        }
        t[k++] = (int32_t)v;
        if (!comma)
            break;
        p = comma + 1;
    }
    free(copy);
    if (rv != WPCTL_OK) {
        free(t);
        return rv;
    }
    *out = t;
    *n = (uint32_t)k;
    return WPCTL_OK;
}

int wpctl_infer_main(int argc, char **argv)
{
    const char *path = NULL, *prompt_s = NULL, *backend = NULL;
    int kind = wp_gpu_cuda_device_count() > 0 ? WP_GPU_CUDA : WP_GPU_CPU;
    int64_t steps = 16;
    double temp = 0.0;
    uint64_t seed = 0;
    bool json = false;
    const wpctl_flag flags[] = {
        WPF_STR("model", &path, "FILE", "a llama2.c version-0 checkpoint (required)"),
        WPF_STR("prompt-tokens", &prompt_s, "T1,T2,...", "prompt token ids (required)"),
        WPF_I64("steps", &steps, 1, WP_LLAMA_MAX_SEQ, "N", "tokens to generate (default 16)"),
        WPF_STR("backend", &backend, "B", "cpu or cuda (default: cuda if a device exists)"),
        WPF_DOUBLE("temperature", &temp, 0, 1e6, "T", "0 = greedy (default)"),
        WPF_U64("seed", &seed, 1, 0, "S", "sampling seed (default 0)"),
        WPF_JSON(&json, "one JSON object on stdout: tokens and timings"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "infer",
        .args = "--model FILE --prompt-tokens T1,T2,...",
        .about = "Loads a llama2.c (version 0) checkpoint, feeds the prompt's token ids and\n"
            "generates N more (default 16): greedy when T is 0 (the default), else\n"
            "sampled from softmax(logits / T) with a generator seeded with S (default 0).\n"
            "Prints the generated token ids on stdout, one line; the cold-load time, time\n"
            "to first token and time per output token on stderr (with --json, one JSON\n"
            "object on stdout instead). Backend: cuda when built with CUDA and a device\n"
            "exists, else cpu; the 'model' backend is a TIMING MODEL that computes no\n"
            "tokens, so infer does not offer it. Token ids must be below the vocabulary\n"
            "size and prompt + steps must fit in the model's seq_len.\n",
        .flags = flags,
    };
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, NULL);
    if (backend && wp_gpu_kind_parse(backend, &kind) != WP_OK)
        return wpctl_usage_error("infer", "--backend: expected cpu or cuda, got '%s'", backend);
    if (backend && kind == WP_GPU_MODEL)
        return wpctl_usage_error("infer", "--backend model is a TIMING MODEL and computes "
                                          "no tokens; use cpu or cuda");
    if (!path || !prompt_s)
        return wpctl_usage_error("infer", "--model and --prompt-tokens are required");
    int32_t *prompt = NULL;
    uint32_t n_prompt = 0;
    int rv = parse_tokens(prompt_s, &prompt, &n_prompt);
    if (rv != WPCTL_OK)
        return rv;

    wp_err err;
    wp_err_clear(&err);
    wp_gpu_model *m = NULL;
    if (wp_gpu_model_load(kind, path, &m, &err) != WP_OK) {
        free(prompt);
        return wpctl_fail("infer: %s", wp_err_text(&err));
    }
    wp_gen_request req = {.prompt = prompt,
                          .n_prompt = n_prompt,
                          .steps = (uint32_t)steps,
                          .temperature = (float)temp,
                          .seed = seed};
    int32_t *tokens = malloc((size_t)steps * sizeof *tokens);
    wp_gen_result res = {.tokens = tokens};
    if (!tokens)
        rv = wpctl_fail("out of memory");
    else if (wp_gpu_generate(m, &req, &res, &err) != WP_OK)
        rv = wpctl_fail("infer: %s", wp_err_text(&err));
    if (rv == WPCTL_OK) {
        double load_ms = (double)wp_gpu_model_load_ns(m) / 1e6;
        double ttft_ms = (double)res.ttft_ns / 1e6;
        double tpot_ms = wp_gen_tpot_ns(&res, res.n_tokens) / 1e6;
        double tok_s = tpot_ms > 0 ? 1000.0 / tpot_ms : 0.0;
        if (json) {
            wp_json j;
            wp_json_init(&j, stdout, false);
            wp_json_obj_begin(&j);
            wp_json_key(&j, "backend");
            wp_json_str(&j, wp_gpu_kind_name(kind));
            wp_json_key(&j, "model");
            wp_json_str(&j, path);
            wp_json_key(&j, "tokens");
            wp_json_arr_begin(&j);
            for (uint32_t i = 0; i < res.n_tokens; i++)
                wp_json_int(&j, tokens[i]);
            wp_json_arr_end(&j);
            wp_json_key(&j, "load_ms");
            wp_json_double(&j, load_ms);
            wp_json_key(&j, "ttft_ms");
            wp_json_double(&j, ttft_ms);
            wp_json_key(&j, "tpot_ms");
            wp_json_double(&j, tpot_ms);
            wp_json_key(&j, "tokens_per_s");
            wp_json_double(&j, tok_s);
            wp_json_key(&j, "mem_bytes");
            wp_json_uint(&j, wp_gpu_model_mem_bytes(m));
            wp_json_obj_end(&j);
            wp_json_end(&j);
        } else {
            for (uint32_t i = 0; i < res.n_tokens; i++)
                printf("%s%d", i ? " " : "", (int)tokens[i]);
            printf("\n");
            fprintf(stderr,
                    "backend %s: cold load %.1f ms, time to first token %.2f ms, "
                    "%.3f ms per output token (%.1f tokens/s)\n",
                    wp_gpu_kind_name(kind), load_ms, ttft_ms, tpot_ms, tok_s);
        }
    }
    free(tokens);
    free(prompt);
    wp_gpu_model_unload(m);
    return rv;
}
