/* wpctl catalog — add a model to the placement catalog.
 *
 *   wpctl catalog add NAME --size-gb G [profile flags] [--endpoint ... | --dir D]
 *   wpctl catalog list [--json]        (same as wpctl models) */
#include "tools/wpctl/wpctl.h"
#include "placement/client.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int wpctl_models_main(int argc, char **argv);

static const char *const help_catalog =
    "usage: wpctl catalog add NAME --size-gb G [OPTIONS] [--endpoint LIST | --dir D]\n"
    "       wpctl catalog list [--json] [--endpoint LIST | --dir D]\n\n"
    "add: adds NAME to the placement catalog (an existing name is updated),\n"
    "with the timing profile the simulator and the timing-model backend use:\n"
    "time to first token = prefill-base-ms + in_tokens * prefill-ms-per-token,\n"
    "then decode-ms-per-token per output token; a cold load takes\n"
    "size / load-gbps + load-fixed-ms.\n"
    "list: the catalog (see 'wpctl models').\n\n"
    "  --size-gb G                weights resident in GPU memory, GB (1e9 bytes), > 0\n"
    "  --prefill-base-ms X        default 20\n"
    "  --prefill-ms-per-token X   default 0.2\n"
    "  --decode-ms-per-token X    default 20\n"
    "  --slots N                  concurrent requests per GPU, default 8\n"
    "  --load-gbps X              cold-load rate, GB/s, default 2\n"
    "  --load-fixed-ms X          runtime start and warm-up, default 500\n"
    "  --in-tokens N              typical input tokens, default 512\n"
    "  --out-tokens N             typical output tokens, default 128\n"
    "  --endpoint LIST            placement servers' API addresses\n"
    "  --dir D                    cluster directory (default .cluster)\n";

static int num(const char *s, const char *flag, double min, double *out)
{
    if (wp_parse_double(s, out) != WP_OK || !isfinite(*out) || *out < min)
        return wpctl_usage_error("catalog", "%s: expected a number >= %g, got '%s'", flag, min, s);
    return WPCTL_OK;
}

int wpctl_catalog_main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return wpctl_models_main(argc - 1, argv + 1);
    enum { O_SIZE = 1000, O_PB, O_PT, O_DT, O_SLOTS, O_GBPS, O_FIXED, O_IN, O_OUT };
    static const struct option opts[] = {
        {"size-gb", required_argument, 0, O_SIZE},
        {"prefill-base-ms", required_argument, 0, O_PB},
        {"prefill-ms-per-token", required_argument, 0, O_PT},
        {"decode-ms-per-token", required_argument, 0, O_DT},
        {"slots", required_argument, 0, O_SLOTS},
        {"load-gbps", required_argument, 0, O_GBPS},
        {"load-fixed-ms", required_argument, 0, O_FIXED},
        {"in-tokens", required_argument, 0, O_IN},
        {"out-tokens", required_argument, 0, O_OUT},
        {"endpoint", required_argument, 0, 'e'},
        {"dir", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *endpoint = NULL, *dir = NULL;
    double size_gb = -1, pb = 20, pt = 0.2, dt = 20, slots = 8, gbps = 2, fixed = 500, in = 512,
           out = 128;
    int ch, rv;
    opterr = 0; /* one line of our own, not getopt's too */
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case O_SIZE: if ((rv = num(optarg, "--size-gb", 0, &size_gb))) return rv; break;
        case O_PB: if ((rv = num(optarg, "--prefill-base-ms", 0, &pb))) return rv; break;
        case O_PT: if ((rv = num(optarg, "--prefill-ms-per-token", 0, &pt))) return rv; break;
        case O_DT: if ((rv = num(optarg, "--decode-ms-per-token", 0, &dt))) return rv; break;
        case O_SLOTS: if ((rv = num(optarg, "--slots", 1, &slots))) return rv; break;
        case O_GBPS: if ((rv = num(optarg, "--load-gbps", 1e-6, &gbps))) return rv; break;
        case O_FIXED: if ((rv = num(optarg, "--load-fixed-ms", 0, &fixed))) return rv; break;
        case O_IN: if ((rv = num(optarg, "--in-tokens", 0, &in))) return rv; break;
        case O_OUT: if ((rv = num(optarg, "--out-tokens", 1, &out))) return rv; break;
        case 'e': endpoint = optarg; break;
        case 'd': dir = optarg; break;
        case 'h': fputs(help_catalog, stdout); return WPCTL_OK;
        default:
            return wpctl_usage_error("catalog", "unknown option or missing value: '%s'",
                                     argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return wpctl_usage_error("catalog", "missing command (add or list)");
    if (strcmp(argv[optind], "add") != 0)
        return wpctl_usage_error("catalog", "unknown command '%s'", argv[optind]);
    if (optind + 2 != argc)
        return wpctl_usage_error("catalog", "add takes exactly one NAME");
    const char *name = argv[optind + 1];
    if (strlen(name) == 0 || strlen(name) >= WP_NAME_MAX)
        return wpctl_usage_error("catalog", "NAME must be 1..%u characters", WP_NAME_MAX - 1);
    if (size_gb <= 0)
        return wpctl_usage_error("catalog", "--size-gb G (> 0) is required");
    if (slots > 1e6 || in > 1e9 || out > 1e9 || size_gb > 1e9)
        return wpctl_usage_error("catalog", "a value is out of range");
    wp_model_profile m = {0};
    snprintf(m.name, sizeof m.name, "%s", name);
    m.size_bytes = (uint64_t)llround(size_gb * 1e9);
    m.prefill_base_ms = pb;
    m.prefill_ms_per_token = pt;
    m.decode_ms_per_token = dt;
    m.slots_per_gpu = (uint32_t)slots;
    m.load_bytes_per_s = gbps * 1e9;
    m.load_fixed_ms = fixed;
    m.typical_in_tokens = (uint32_t)in;
    m.typical_out_tokens = (uint32_t)out;
    wp_placement_client *c;
    if ((rv = wpctl_placement_connect(endpoint, dir, &c)) != WPCTL_OK)
        return rv;
    uint64_t version = 0;
    wp_err err = {0};
    rv = wp_placement_client_catalog_add(c, &m, &version, &err);
    wp_placement_client_free(c);
    if (rv != WP_OK)
        return wpctl_fail("catalog add %s: %s", name, wp_err_text(&err));
    printf("catalog: %s (%.2f GB) added, placement version %llu\n", name, size_gb,
           (unsigned long long)version);
    return WPCTL_OK;
}
