/* wpctl catalog — add a model to the placement catalog, or remove one.
 *
 *   wpctl catalog add NAME --size-gb G [profile flags] [--endpoint ... | --dir D] [--json]
 *   wpctl catalog remove NAME [--endpoint ... | --dir D] [--json]
 *   wpctl catalog list [--json]        (same as wpctl models) */
#include "tools/wpctl/wpctl.h"
#include "tools/wpctl/flags.h"
#include "placement/client.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int wpctl_models_main(int argc, char **argv);

static int catalog_remove(int argc, char **argv)
{
    wpctl_target t = {0};
    bool json = false;
    const wpctl_flag flags[] = {
        WPF_PLACEMENT(&t),
        WPF_JSON(&json, "{name, removed, version}"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "catalog remove",
        .args = "NAME",
        .about = "Removes NAME from the placement catalog (an operator key when the\n"
                 "cluster is keyed). Refused while NAME is pinned anywhere: 'wpctl\n"
                 "unpin NAME' first. Nodes unload it at their next assignment.\n",
        .flags = flags,
        .min_args = 1,
        .max_args = 1,
    };
    wpctl_args a;
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, &a);
    const char *name = a.argv[0];
    if (strlen(name) == 0 || strlen(name) >= WP_NAME_MAX)
        return wpctl_usage_error("catalog remove", "NAME must be 1..%u characters",
                                 WP_NAME_MAX - 1);
    wp_placement_client *c;
    int rv;
    if ((rv = wpctl_placement_connect(t.endpoint, t.dir, &c)) != WPCTL_OK)
        return rv;
    uint64_t version = 0;
    wp_err err = {0};
    rv = wp_placement_client_catalog_remove(c, name, &version, &err);
    wp_placement_client_free(c);
    if (rv != WP_OK)
        return wpctl_fail("catalog remove %s: %s", name, wp_err_text(&err));
    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "name");
        wp_json_str(&j, name);
        wp_json_key(&j, "removed");
        wp_json_bool(&j, true);
        wp_json_key(&j, "version");
        wp_json_uint(&j, version);
        wp_json_obj_end(&j);
        wp_json_end(&j);
        return WPCTL_OK;
    }
    printf("catalog: %s removed, placement version %llu\n", name, (unsigned long long)version);
    return WPCTL_OK;
}

int wpctl_catalog_main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return wpctl_models_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "remove") == 0)
        return catalog_remove(argc - 1, argv + 1);
    wpctl_target t = {0};
    double size_gb = -1, pb = 20, pt = 0.2, dt = 20, gbps = 2, fixed = 500;
    uint32_t slots = 8, in = 512, out = 128;
    bool json = false;
    const wpctl_flag flags[] = {
        WPF_POSITIVE("size-gb", &size_gb, 0, 1e9, "G",
                     "weights resident in GPU memory, GB (1e9 bytes), > 0 (required)"),
        WPF_DOUBLE("prefill-base-ms", &pb, 0, 1e9, "X", "default 20"),
        WPF_DOUBLE("prefill-ms-per-token", &pt, 0, 1e9, "X", "default 0.2"),
        WPF_DOUBLE("decode-ms-per-token", &dt, 0, 1e9, "X", "default 20"),
        WPF_U32("slots", &slots, 1, 1e6, "N", "concurrent requests per GPU, default 8"),
        WPF_POSITIVE("load-gbps", &gbps, 0, 1e9, "X", "cold-load rate, GB/s, default 2"),
        WPF_DOUBLE("load-fixed-ms", &fixed, 0, 1e9, "X",
                   "runtime start and warm-up, default 500"),
        WPF_U32("in-tokens", &in, 0, 1e9, "N", "typical input tokens, default 512"),
        WPF_U32("out-tokens", &out, 1, 1e9, "N", "typical output tokens, default 128"),
        WPF_PLACEMENT(&t),
        WPF_JSON(&json, "{name, size_bytes, version}"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "catalog",
        .args = "add NAME --size-gb G",
        .about = "add: adds NAME to the placement catalog (an existing name is updated),\n"
                 "with the timing profile the simulator and the timing-model backend use:\n"
                 "time to first token = prefill-base-ms + in_tokens * prefill-ms-per-token,\n"
                 "then decode-ms-per-token per output token; a cold load takes\n"
                 "size / load-gbps + load-fixed-ms.\n"
                 "'wpctl catalog list [--json]': the catalog (see 'wpctl models').\n"
                 "'wpctl catalog remove NAME': removes an unpinned model.\n",
        .flags = flags,
        .min_args = 2,
        .max_args = 2,
    };
    wpctl_args a;
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, &a);
    if (strcmp(a.argv[0], "add") != 0)
        return wpctl_usage_error("catalog", "unknown command '%s' (add, remove or list)",
                                 a.argv[0]);
    const char *name = a.argv[1];
    if (strlen(name) == 0 || strlen(name) >= WP_NAME_MAX)
        return wpctl_usage_error("catalog", "NAME must be 1..%u characters", WP_NAME_MAX - 1);
    if (size_gb <= 0)
        return wpctl_usage_error("catalog", "--size-gb G (> 0) is required");
    wp_model_profile m = {0};
    snprintf(m.name, sizeof m.name, "%s", name);
    m.size_bytes = (uint64_t)llround(size_gb * 1e9);
    m.prefill_base_ms = pb;
    m.prefill_ms_per_token = pt;
    m.decode_ms_per_token = dt;
    m.slots_per_gpu = slots;
    m.load_bytes_per_s = gbps * 1e9;
    m.load_fixed_ms = fixed;
    m.typical_in_tokens = in;
    m.typical_out_tokens = out;
    wp_placement_client *c;
    int rv;
    if ((rv = wpctl_placement_connect(t.endpoint, t.dir, &c)) != WPCTL_OK)
        return rv;
    uint64_t version = 0;
    wp_err err = {0};
    rv = wp_placement_client_catalog_add(c, &m, &version, &err);
    wp_placement_client_free(c);
    if (rv != WP_OK)
        return wpctl_fail("catalog add %s: %s", name, wp_err_text(&err));
    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "name");
        wp_json_str(&j, name);
        wp_json_key(&j, "size_bytes");
        wp_json_uint(&j, m.size_bytes);
        wp_json_key(&j, "version");
        wp_json_uint(&j, version);
        wp_json_obj_end(&j);
        wp_json_end(&j);
        return WPCTL_OK;
    }
    printf("catalog: %s (%.2f GB) added, placement version %llu\n", name, size_gb,
           (unsigned long long)version);
    return WPCTL_OK;
}
