/* wpctl model — model checkpoints. `wpctl model gen` writes a llama2.c
 * version-0 checkpoint with seeded random weights (for tests and
 * benchmarks); the same seed and sizes give the same file, byte for byte. */
#include "tools/wpctl/wpctl.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "gpu_worker/gpu_worker.h"

static void model_usage(FILE *fp)
{
    fprintf(fp, "usage: wpctl model gen --dim D --layers L --heads H [--kv-heads K]\n"
                "                       [--hidden-dim F] --vocab V --seq-len S --seed X\n"
                "                       [--std SIGMA] [--unshared-classifier] [--json] -o FILE\n\n"
                "Writes a transformer checkpoint in the public llama2.c layout (version 0:\n"
                "seven int32 header fields, then float32 tensors) with random weights drawn\n"
                "from N(0, SIGMA) (default 0.02) by a generator seeded with X; RMSNorm\n"
                "weights are 1. Same arguments, same file. Defaults: --kv-heads = --heads,\n"
                "--hidden-dim = 8*D/3 rounded up to a multiple of 32. Load it with\n"
                "'wpctl infer --model FILE'.\n");
}

static int parse_u32_opt(const char *name, const char *s, uint32_t *out)
{
    int64_t v;
    if (wp_parse_int64(s, &v) != WP_OK || v < 1 || v > INT32_MAX)
        return wpctl_usage_error("model gen", "--%s: expected a positive integer, got '%s'", name,
                                 s);
    *out = (uint32_t)v;
    return WPCTL_OK;
}

static int gen_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dim", required_argument, NULL, 'd'},     {"layers", required_argument, NULL, 'l'},
        {"heads", required_argument, NULL, 'H'},   {"kv-heads", required_argument, NULL, 'k'},
        {"hidden-dim", required_argument, NULL, 'f'}, {"vocab", required_argument, NULL, 'v'},
        {"seq-len", required_argument, NULL, 's'}, {"seed", required_argument, NULL, 'x'},
        {"std", required_argument, NULL, 'e'},     {"unshared-classifier", no_argument, NULL, 'u'},
        {"json", no_argument, NULL, 'j'},          {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    wp_llama_config c = {.shared_classifier = true};
    uint64_t seed = 0;
    bool have_seed = false, json = false;
    double std = 0.02;
    const char *out = NULL;
    int rv, ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        rv = WPCTL_OK;
        switch (ch) {
        case 'd': rv = parse_u32_opt("dim", optarg, &c.dim); break;
        case 'l': rv = parse_u32_opt("layers", optarg, &c.n_layers); break;
        case 'H': rv = parse_u32_opt("heads", optarg, &c.n_heads); break;
        case 'k': rv = parse_u32_opt("kv-heads", optarg, &c.n_kv_heads); break;
        case 'f': rv = parse_u32_opt("hidden-dim", optarg, &c.hidden_dim); break;
        case 'v': rv = parse_u32_opt("vocab", optarg, &c.vocab_size); break;
        case 's': rv = parse_u32_opt("seq-len", optarg, &c.seq_len); break;
        case 'x':
            if (wp_parse_u64(optarg, &seed) != WP_OK)
                return wpctl_usage_error("model gen", "--seed: expected an unsigned integer, got '%s'",
                                         optarg);
            have_seed = true;
            break;
        case 'e':
            if (wp_parse_double(optarg, &std) != WP_OK || !(std > 0) || std > 10)
                return wpctl_usage_error("model gen", "--std: expected a number in (0, 10], got '%s'",
                                         optarg);
            break;
        case 'u': c.shared_classifier = false; break;
        case 'j': json = true; break;
        case 'o': out = optarg; break;
        case 'h': model_usage(stdout); return WPCTL_OK;
        default:
            return wpctl_usage_error("model gen", "unknown or incomplete option '%s'",
                                     argv[optind - 1]);
        }
        if (rv != WPCTL_OK)
            return rv;
    }
    if (optind < argc)
        return wpctl_usage_error("model gen", "unexpected argument '%s'", argv[optind]);
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
    if (argc < 2)
        return wpctl_usage_error("model", "missing subcommand (expected: gen)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        model_usage(stdout);
        return WPCTL_OK;
    }
    if (strcmp(argv[1], "gen") == 0)
        return gen_main(argc - 1, argv + 1);
    return wpctl_usage_error("model", "unknown subcommand '%s' (expected: gen)", argv[1]);
}
