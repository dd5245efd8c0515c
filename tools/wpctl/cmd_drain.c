/* wpctl drain — set or clear a node's draining flag (its capacity record
 * changes version and is gossiped to every member).
 *
 *   wpctl drain NODE [--off] [--dir D]
 *   wpctl drain --endpoint ADDR [--off] */
#include "tools/wpctl/cluster.h"
#include "tools/wpctl/wpctl.h"

#include <getopt.h>
#include <string.h>

static const char *const help_drain =
    "usage: wpctl drain NODE [--off] [--dir D]\n"
    "       wpctl drain --endpoint ADDR [--off]\n\n"
    "Marks a node as draining (or, with --off, not draining) through its admin\n"
    "endpoint. The flag is part of the node's gossiped capacity record, so every\n"
    "member sees it ('wpctl nodes').\n\n"
    "  NODE             node id in the cluster directory\n"
    "  --dir D          cluster directory (else $WP_CLUSTER_DIR, else ./.cluster)\n"
    "  --endpoint ADDR  the node's admin endpoint instead of NODE\n"
    "  --off            clear the flag\n";

int wpctl_drain_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'}, {"endpoint", required_argument, NULL, 'e'},
        {"off", no_argument, NULL, 'o'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *endpoint = NULL, *node_id = NULL;
    bool off = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'e': endpoint = optarg; break;
        case 'o': off = true; break;
        case 'h': fputs(help_drain, stdout); return WPCTL_OK;
        default: return wpctl_usage_error("drain", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        node_id = argv[optind++];
    if (optind < argc)
        return wpctl_usage_error("drain", "unexpected argument '%s'", argv[optind]);
    if (!node_id && !endpoint)
        return wpctl_usage_error("drain", "a NODE or --endpoint is required");
    if (node_id && endpoint)
        return wpctl_usage_error("drain", "give NODE or --endpoint, not both");
    wp_err err;
    wp_err_clear(&err);
    char ep[WP_GOSSIP_ADDR_MAX];
    if (wpctl_resolve_admin(dir, endpoint, node_id, ep, sizeof ep, &err))
        return wpctl_fail("%s", wp_err_text(&err));
    Warmpath__Admin__AdminRequest req = WARMPATH__ADMIN__ADMIN_REQUEST__INIT;
    Warmpath__Admin__SetCapacityRequest sc = WARMPATH__ADMIN__SET_CAPACITY_REQUEST__INIT;
    sc.set_draining = true;
    sc.draining = !off;
    req.req_case = WARMPATH__ADMIN__ADMIN_REQUEST__REQ_SET_CAPACITY;
    req.set_capacity = &sc;
    Warmpath__Admin__AdminResponse *resp;
    if (wpctl_admin_call(ep, &req, 2000, &resp, &err))
        return wpctl_fail("%s", wp_err_text(&err));
    printf("%s: draining %s\n", resp->status->id, off ? "off" : "on");
    warmpath__admin__admin_response__free_unpacked(resp, NULL);
    return WPCTL_OK;
}
