/* wpctl pin / unpin — pin a model to cities (the placement service keeps
 * that many replicas warm in each city), or remove a pin.
 *
 *   wpctl pin MODEL CITY[,CITY...] [--replicas N] [--endpoint ... | --dir D] [--json]
 *   wpctl unpin MODEL [CITY] [--endpoint ... | --dir D] [--json] */
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"
#include "placement/client.h"

#include <stdlib.h>
#include <string.h>

#define PIN_MAX_CITIES 64

typedef struct pin_args {
    bool pin;
    const char *model;
    const char *cities[PIN_MAX_CITIES]; /* pin: 1..64; unpin: 0 (every city) or 1 */
    size_t n;
    int64_t replicas;
    char list[1024];
} pin_args;

/* Sends the pin or unpin and prints what it did. */
static int pin_run(pin_args *p, const wpctl_target *t, bool json)
{
    const char *what = p->pin ? "pin" : "unpin";
    wp_placement_client *c;
    int rv = wpctl_placement_connect(t->endpoint, t->dir, &c);
    if (rv != WPCTL_OK)
        return rv;
    uint64_t version = 0;
    wp_err err = {0};
    rv = p->pin ? wp_placement_client_pin(c, p->model, p->cities, p->n, (uint32_t)p->replicas,
                                          &version, &err)
                : wp_placement_client_unpin(c, p->model, p->n ? p->cities[0] : NULL, &version,
                                            &err);
    wp_placement_client_free(c);
    if (rv != WP_OK)
        return wpctl_fail("%s %s: %s", what, p->model, wp_err_text(&err));
    if (!json && p->pin) {
        printf("pinned %s to %s (%lld per city), placement version %llu\n", p->model, p->list,
               (long long)p->replicas, (unsigned long long)version);
    } else if (!json) {
        printf("unpinned %s%s%s, placement version %llu\n", p->model,
               p->n ? " in " : " everywhere", p->n ? p->cities[0] : "",
               (unsigned long long)version);
    } else {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "model");
        wp_json_str(&j, p->model);
        if (p->pin) {
            wp_json_key(&j, "cities");
            wp_json_arr_begin(&j);
            for (size_t i = 0; i < p->n; i++)
                wp_json_str(&j, p->cities[i]);
            wp_json_arr_end(&j);
            wp_json_key(&j, "replicas");
            wp_json_int(&j, p->replicas);
        } else {
            wp_json_key(&j, "city");
            if (p->n)
                wp_json_str(&j, p->cities[0]);
            else
                wp_json_null(&j);
        }
        wp_json_key(&j, "version");
        wp_json_uint(&j, version);
        wp_json_obj_end(&j);
        wp_json_end(&j);
    }
    return WPCTL_OK;
}

static int pin_main(bool pin, int argc, char **argv)
{
    wpctl_target t = {0};
    pin_args p = {.pin = pin, .replicas = 1};
    bool json = false;
    const wpctl_flag flags[] = {
        WPF_I64("replicas", &p.replicas, 1, 64, "N", "replicas per city, 1..64 (default 1)"),
        WPF_PLACEMENT(&t),
        WPF_JSON(&json, pin ? "{model, cities, replicas, version}"
                            : "{model, city (null: every city), version}"),
        WPF_END,
    };
    const wpctl_spec spec_pin = {
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
    const wpctl_spec spec_unpin = {
        .name = "unpin",
        .args = "MODEL [CITY]",
        .about = "Removes MODEL's pin in CITY, or in every city without CITY. The optimizer\n"
                 "may still keep the model warm where demand makes it worth it.\n",
        .flags = flags + 1, /* no --replicas */
        .min_args = 1,
        .max_args = 2,
    };
    wpctl_args a;
    WPCTL_PARSE_OR_RETURN(pin ? &spec_pin : &spec_unpin, argc, argv, &a);
    p.model = a.argv[0];
    if (!pin) {
        p.n = a.argc == 2;
        p.cities[0] = p.n ? a.argv[1] : NULL;
        return pin_run(&p, &t, json);
    }
    if (strlen(a.argv[1]) >= sizeof p.list)
        return wpctl_usage_error("pin", "city list too long");
    snprintf(p.list, sizeof p.list, "%s", a.argv[1]);
    char work[sizeof p.list];
    snprintf(work, sizeof work, "%s", a.argv[1]);
    char *save = NULL;
    for (char *tok = strtok_r(work, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (p.n >= PIN_MAX_CITIES)
            return wpctl_usage_error("pin", "at most %d cities", PIN_MAX_CITIES);
        p.cities[p.n++] = tok;
    }
    if (p.n == 0)
        return wpctl_usage_error("pin", "no city given");
    return pin_run(&p, &t, json);
}

int wpctl_pin_main(int argc, char **argv)
{
    return pin_main(true, argc, argv);
}

int wpctl_unpin_main(int argc, char **argv)
{
    return pin_main(false, argc, argv);
}
