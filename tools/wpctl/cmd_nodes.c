/* wpctl nodes — the members of a cluster as one node sees them (its gossip
 * view: status and capacity record of every member).
 *
 *   wpctl nodes [--dir D | --endpoint ADDR] [--node ID] [--json] */
#include "tools/wpctl/cluster.h"
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"

#include <stdlib.h>
#include <string.h>

static int cmp_member(const void *a, const void *b)
{
    const Warmpath__Admin__Member *x = *(Warmpath__Admin__Member *const *)a;
    const Warmpath__Admin__Member *y = *(Warmpath__Admin__Member *const *)b;
    return strcmp(x->id, y->id);
}

int wpctl_nodes_main(int argc, char **argv)
{
    wpctl_target t = {0};
    bool json = false;
    const wpctl_flag flags[] = {
        WPF_TARGET(&t, "ask the wp-node admin endpoint at ADDR instead"),
        WPF_JSON(&json, "a JSON list of objects: id, city, status, gpus,\n"
                        "gpu_mem_free_bytes, warm_models, version, incarnation,\n"
                        "queue_depth, draining, addr"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "nodes",
        .about = "Lists the members of the cluster as one node's gossip view has them:\n"
                 "id, city, status (alive/suspect/dead/left), GPUs, free GPU memory, warm\n"
                 "models, queue depth, draining, capacity version and incarnation.\n",
        .flags = flags,
    };
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, NULL);
    if (t.endpoint && (t.dir || t.node))
        return wpctl_usage_error("nodes", "give --endpoint, or --dir/--node, not both");
    wp_err err;
    wp_err_clear(&err);
    char ep[WP_GOSSIP_ADDR_MAX];
    if (wpctl_resolve_admin(t.dir, t.endpoint, t.node, ep, sizeof ep, &err))
        return wpctl_fail("%s", wp_err_text(&err));
    Warmpath__Admin__AdminRequest req = WARMPATH__ADMIN__ADMIN_REQUEST__INIT;
    Warmpath__Admin__MembersRequest mr = WARMPATH__ADMIN__MEMBERS_REQUEST__INIT;
    req.req_case = WARMPATH__ADMIN__ADMIN_REQUEST__REQ_MEMBERS;
    req.members = &mr;
    Warmpath__Admin__AdminResponse *resp;
    if (wpctl_admin_call(ep, &req, 2000, &resp, &err))
        return wpctl_fail("%s", wp_err_text(&err));
    qsort(resp->members, resp->n_members, sizeof *resp->members, cmp_member);
    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_arr_begin(&j);
        for (size_t i = 0; i < resp->n_members; i++) {
            const Warmpath__Admin__Member *m = resp->members[i];
            wp_json_obj_begin(&j);
            wp_json_key(&j, "id");
            wp_json_str(&j, m->id);
            wp_json_key(&j, "city");
            wp_json_str(&j, m->city);
            wp_json_key(&j, "status");
            wp_json_str(&j, m->status);
            wp_json_key(&j, "gpus");
            wp_json_uint(&j, m->gpus);
            wp_json_key(&j, "gpu_mem_free_bytes");
            wp_json_uint(&j, m->gpu_mem_free_bytes);
            wp_json_key(&j, "warm_models");
            wp_json_arr_begin(&j);
            for (size_t w = 0; w < m->n_warm_models; w++)
                wp_json_str(&j, m->warm_models[w]);
            wp_json_arr_end(&j);
            wp_json_key(&j, "version");
            wp_json_uint(&j, m->version);
            wp_json_key(&j, "incarnation");
            wp_json_uint(&j, m->incarnation);
            wp_json_key(&j, "queue_depth");
            wp_json_uint(&j, m->queue_depth);
            wp_json_key(&j, "draining");
            wp_json_bool(&j, m->draining);
            wp_json_key(&j, "addr");
            wp_json_str(&j, m->addr);
            wp_json_obj_end(&j);
        }
        wp_json_arr_end(&j);
        wp_json_end(&j);
    } else {
        printf("view of %s (%s)\n", resp->status->id, ep);
        printf("%-14s %-5s %-8s %4s %12s %5s %5s %7s %4s  %s\n", "ID", "CITY", "STATUS", "GPUS",
               "MEM_FREE_GB", "QUEUE", "DRAIN", "VERSION", "INC", "WARM");
        for (size_t i = 0; i < resp->n_members; i++) {
            const Warmpath__Admin__Member *m = resp->members[i];
            printf("%-14s %-5s %-8s %4u %12.1f %5u %5s %7llu %4llu  ", m->id, m->city, m->status,
                   m->gpus, (double)m->gpu_mem_free_bytes / 1073741824.0, m->queue_depth,
                   m->draining ? "yes" : "no", (unsigned long long)m->version,
                   (unsigned long long)m->incarnation);
            for (size_t w = 0; w < m->n_warm_models; w++)
                printf("%s%s", w ? "," : "", m->warm_models[w]);
            printf("%s\n", m->n_warm_models ? "" : "-");
        }
    }
    warmpath__admin__admin_response__free_unpacked(resp, NULL);
    return WPCTL_OK;
}
