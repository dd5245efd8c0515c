/* wpctl model — model checkpoints. `wpctl model gen` writes a llama2.c
 * version-0 checkpoint with seeded random weights (for tests and
 * benchmarks); the same seed and sizes give the same file, byte for byte. */
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"

#include <stdio.h>
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

int wpctl_model_main(int argc, char **argv)
{
    static const struct wpctl_cmd subs[] = {
        {"gen", "write a checkpoint with seeded random weights", gen_main},
    };
    return wpctl_dispatch("model", "Model checkpoints (llama2.c layout).\n", subs,
                          WP_ARRAY_LEN(subs), argc, argv);
}
