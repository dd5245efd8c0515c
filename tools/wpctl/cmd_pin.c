/* wpctl pin — pin a model to cities (the placement service keeps that many
 * replicas warm in each city).
 *
 *   wpctl pin MODEL CITY[,CITY...] [--replicas N] [--endpoint ... | --dir D] */
#include "tools/wpctl/wpctl.h"
#include "placement/client.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char *const help_pin =
    "usage: wpctl pin MODEL CITY[,CITY...] [--replicas N] [--endpoint LIST | --dir D]\n\n"
    "Pins MODEL to each CITY (codes of the cluster's topology, e.g. FRA): N nodes\n"
    "in every listed city keep it warm. A pin that cannot be met in full (unknown\n"
    "model or city, not enough nodes or GPU memory) is refused with the reason and\n"
    "changes nothing. Pinning again changes the replica count.\n\n"
    "  --replicas N     replicas per city, 1..64 (default 1)\n"
    "  --endpoint LIST  placement servers' API addresses\n"
    "  --dir D          cluster directory (default .cluster)\n";

int wpctl_pin_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"replicas", required_argument, 0, 'r'}, {"endpoint", required_argument, 0, 'e'},
        {"dir", required_argument, 0, 'd'},      {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *endpoint = NULL, *dir = NULL;
    int64_t replicas = 1;
    int ch;
    opterr = 0; /* one line of our own, not getopt's too */
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            if (wp_parse_int64(optarg, &replicas) != WP_OK || replicas < 1 || replicas > 64)
                return wpctl_usage_error("pin", "--replicas: expected 1..64, got '%s'", optarg);
            break;
        case 'e': endpoint = optarg; break;
        case 'd': dir = optarg; break;
        case 'h': fputs(help_pin, stdout); return WPCTL_OK;
        default:
            return wpctl_usage_error("pin", "unknown option or missing value: '%s'",
                                     argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return wpctl_usage_error("pin", "expected MODEL and CITY[,CITY...]");
    const char *model = argv[optind];
    char list[1024];
    if (strlen(argv[optind + 1]) >= sizeof list)
        return wpctl_usage_error("pin", "city list too long");
    snprintf(list, sizeof list, "%s", argv[optind + 1]);
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
    int rv = wpctl_placement_connect(endpoint, dir, &c);
    if (rv != WPCTL_OK)
        return rv;
    uint64_t version = 0;
    wp_err err = {0};
    rv = wp_placement_client_pin(c, model, cities, n, (uint32_t)replicas, &version, &err);
    wp_placement_client_free(c);
    if (rv != WP_OK)
        return wpctl_fail("pin %s: %s", model, wp_err_text(&err));
    printf("pinned %s to %s (%lld per city), placement version %llu\n", model, argv[optind + 1],
           (long long)replicas, (unsigned long long)version);
    return WPCTL_OK;
}
