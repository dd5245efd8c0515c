/* wpctl unpin — remove a model's pin in one city or everywhere.
 *
 *   wpctl unpin MODEL [CITY] [--endpoint ... | --dir D] [--json] */
#include "tools/wpctl/wpctl.h"
#include "tools/wpctl/flags.h"
#include "placement/client.h"

#include <string.h>

int wpctl_unpin_main(int argc, char **argv)
{
    wpctl_target t = {0};
    bool json = false;
    const wpctl_flag flags[] = {
        WPF_STR("endpoint", &t.endpoint, "LIST", "placement servers' API addresses"),
        WPF_DIR(&t),
        WPF_JSON(&json, "{model, city (null: every city), version}"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "unpin",
        .args = "MODEL [CITY]",
        .about = "Removes MODEL's pin in CITY, or in every city without CITY. The optimizer\n"
                 "may still keep the model warm where demand makes it worth it.\n",
        .flags = flags,
        .min_args = 1,
        .max_args = 2,
    };
    wpctl_args a;
    int rv = wpctl_parse(&spec, argc, argv, &a);
    if (rv != WPCTL_CONTINUE)
        return rv;
    const char *model = a.argv[0], *city = a.argc == 2 ? a.argv[1] : NULL;
    wp_placement_client *c;
    rv = wpctl_placement_connect(t.endpoint, t.dir, &c);
    if (rv != WPCTL_OK)
        return rv;
    uint64_t version = 0;
    wp_err err = {0};
    rv = wp_placement_client_unpin(c, model, city, &version, &err);
    wp_placement_client_free(c);
    if (rv != WP_OK)
        return wpctl_fail("unpin %s: %s", model, wp_err_text(&err));
    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "model");
        wp_json_str(&j, model);
        wp_json_key(&j, "city");
        if (city)
            wp_json_str(&j, city);
        else
            wp_json_null(&j);
        wp_json_key(&j, "version");
        wp_json_uint(&j, version);
        wp_json_obj_end(&j);
        wp_json_end(&j);
        return WPCTL_OK;
    }
    printf("unpinned %s%s%s, placement version %llu\n", model, city ? " in " : " everywhere",
           city ? city : "", (unsigned long long)version);
    return WPCTL_OK;
}
