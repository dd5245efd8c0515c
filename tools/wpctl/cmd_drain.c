/* wpctl drain — set or clear a node's draining flag (its capacity record
 * changes version and is gossiped to every member).
 *
 *   wpctl drain NODE [--off] [--dir D] [--json]
 *   wpctl drain --endpoint ADDR [--off] [--json] */
#include "tools/wpctl/cluster.h"
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"

#include <string.h>

int wpctl_drain_main(int argc, char **argv)
{
    wpctl_target t = {0};
    bool off = false, json = false;
    const wpctl_flag flags[] = {
        WPF_DIR(&t),
        WPF_STR("endpoint", &t.endpoint, "ADDR", "the node's admin endpoint instead of NODE"),
        WPF_BOOL("off", &off, "clear the flag"),
        WPF_JSON(&json, "{node, draining}"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "drain",
        .args = "[NODE]",
        .about = "Marks a node as draining (or, with --off, not draining) through its admin\n"
                 "endpoint. The flag is part of the node's gossiped capacity record, so every\n"
                 "member sees it ('wpctl nodes'). NODE is a node id of the cluster directory;\n"
                 "give NODE or --endpoint.\n",
        .flags = flags,
        .max_args = 1,
    };
    wpctl_args a;
    int rv = wpctl_parse(&spec, argc, argv, &a);
    if (rv != WPCTL_CONTINUE)
        return rv;
    const char *node_id = a.argc ? a.argv[0] : NULL;
    if (!node_id && !t.endpoint)
        return wpctl_usage_error("drain", "a NODE or --endpoint is required");
    if (node_id && t.endpoint)
        return wpctl_usage_error("drain", "give NODE or --endpoint, not both");
    wp_err err;
    wp_err_clear(&err);
    char ep[WP_GOSSIP_ADDR_MAX];
    if (wpctl_resolve_admin(t.dir, t.endpoint, node_id, ep, sizeof ep, &err))
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
    if (json)
        wpctl_json_node_done(resp->status->id, "draining", !off);
    else
        printf("%s: draining %s\n", resp->status->id, off ? "off" : "on");
    warmpath__admin__admin_response__free_unpacked(resp, NULL);
    return WPCTL_OK;
}
