/* wpctl pin — pin a model to cities (the placement service keeps that many
 * replicas warm in each city).
 *
 *   wpctl pin MODEL CITY[,CITY...] [--replicas N] [--endpoint ... | --dir D] [--json] */
#include "tools/wpctl/wpctl.h"
#include "tools/wpctl/flags.h"
#include "placement/client.h"

#include <stdlib.h>
#include <string.h>

int wpctl_pin_main(int argc, char **argv)
{
    wpctl_target t = {0};
    int64_t replicas = 1;
    bool json = false;
    const wpctl_flag flags[] = {
        WPF_I64("replicas", &replicas, 1, 64, "N", "replicas per city, 1..64 (default 1)"),
        WPF_STR("endpoint", &t.endpoint, "LIST", "placement servers' API addresses"),
        WPF_DIR(&t),
        WPF_JSON(&json, "{model, cities, replicas, version}"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "pin",
        .args = "MODEL CITY[,CITY...]",
        .about = "Pins MODEL to each CITY (codes of the cluster's topology, e.g. FRA): N nodes\n"
                 "in every listed city keep it warm. A pin that cannot be met in full (unknown\n"
                 "model or city, not enough nodes or GPU memory) is refused with the reason and\n"
                 "changes nothing. Pinning again changes the replica count.\n",
        .flags = flags,
        .min_args = 2,
        .max_args = 2,
    };
    wpctl_args a;
    int prv = wpctl_parse(&spec, argc, argv, &a);
    if (prv != WPCTL_CONTINUE)
        return prv;
    const char *model = a.argv[0];
    char list[1024];
    if (strlen(a.argv[1]) >= sizeof list)
        return wpctl_usage_error("pin", "city list too long");
    snprintf(list, sizeof list, "%s", a.argv[1]);
    const char *cities[64];
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n >= 64)
            return wpctl_usage_error("pin", "at most 64 cities");
        cities[n++] = tok;
    }
    if (n == 0)
        return wpctl_usage_error("pin", "no city given");
    wp_placement_client *c;
    int rv = wpctl_placement_connect(t.endpoint, t.dir, &c);
    if (rv != WPCTL_OK)
        return rv;
    uint64_t version = 0;
    wp_err err = {0};
    rv = wp_placement_client_pin(c, model, cities, n, (uint32_t)replicas, &version, &err);
    wp_placement_client_free(c);
    if (rv != WP_OK)
        return wpctl_fail("pin %s: %s", model, wp_err_text(&err));
    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "model");
        wp_json_str(&j, model);
        wp_json_key(&j, "cities");
        wp_json_arr_begin(&j);
        for (size_t i = 0; i < n; i++)
            wp_json_str(&j, cities[i]);
        wp_json_arr_end(&j);
        wp_json_key(&j, "replicas");
        wp_json_int(&j, replicas);
        wp_json_key(&j, "version");
        wp_json_uint(&j, version);
        wp_json_obj_end(&j);
        wp_json_end(&j);
        return WPCTL_OK;
    }
    printf("pinned %s to %s (%lld per city), placement version %llu\n", model, a.argv[1],
           (long long)replicas, (unsigned long long)version);
    return WPCTL_OK;
}
