/* wpctl unpin — remove a model's pin in one city or everywhere.
 *
 *   wpctl unpin MODEL [CITY] [--endpoint ... | --dir D] */
#include "tools/wpctl/wpctl.h"
#include "placement/client.h"

#include <getopt.h>
#include <string.h>

static const char *const help_unpin =
    "usage: wpctl unpin MODEL [CITY] [--endpoint LIST | --dir D]\n\n"
    "Removes MODEL's pin in CITY, or in every city without CITY. The optimizer\n"
    "may still keep the model warm where demand makes it worth it.\n\n"
    "  --endpoint LIST  placement servers' API addresses\n"
    "  --dir D          cluster directory (default .cluster)\n";

int wpctl_unpin_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"endpoint", required_argument, 0, 'e'}, {"dir", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0},
    };
    const char *endpoint = NULL, *dir = NULL;
    int ch;
    opterr = 0; /* one line of our own, not getopt's too */
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'e': endpoint = optarg; break;
        case 'd': dir = optarg; break;
        case 'h': fputs(help_unpin, stdout); return WPCTL_OK;
        default:
            return wpctl_usage_error("unpin", "unknown option or missing value: '%s'",
                                     argv[optind - 1]);
        }
    }
    int nargs = argc - optind;
    if (nargs < 1 || nargs > 2)
        return wpctl_usage_error("unpin", "expected MODEL [CITY]");
    const char *model = argv[optind], *city = nargs == 2 ? argv[optind + 1] : NULL;
    wp_placement_client *c;
    int rv = wpctl_placement_connect(endpoint, dir, &c);
    if (rv != WPCTL_OK)
        return rv;
    uint64_t version = 0;
    wp_err err = {0};
    rv = wp_placement_client_unpin(c, model, city, &version, &err);
    wp_placement_client_free(c);
    if (rv != WP_OK)
        return wpctl_fail("unpin %s: %s", model, wp_err_text(&err));
    printf("unpinned %s%s%s, placement version %llu\n", model, city ? " in " : " everywhere",
           city ? city : "", (unsigned long long)version);
    return WPCTL_OK;
}
