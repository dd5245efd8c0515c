/* wpctl capacity — change a node's advertised capacity (free GPU memory,
 * queue depth, warm models) for operators and tests; the record gets a new
 * version and is gossiped.
 *
 *   wpctl capacity NODE [--dir D] [--gpu-mem-free-gb G] [--queue-depth N]
 *                       [--warm m1,m2,...] [--json]
 *   wpctl capacity --endpoint ADDR ...
 *   wpctl drain NODE|--endpoint ADDR [--off] [--dir D] [--json]   (the draining flag) */
#include "tools/wpctl/cluster.h"
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"

#include <stdlib.h>
#include <string.h>

/* Sends sc to NODE (an id of the cluster directory) or to --endpoint; the
 * node's id in id on success. Prints the one-line error otherwise. */
static int set_capacity(const char *cmd, const wpctl_target *t, const char *node_id,
                        Warmpath__Admin__SetCapacityRequest *sc, char *id, size_t cap)
{
    if (!node_id && !t->endpoint)
        return wpctl_usage_error(cmd, "a NODE or --endpoint is required");
    if (node_id && t->endpoint)
        return wpctl_usage_error(cmd, "give NODE or --endpoint, not both");
    wp_err err;
    wp_err_clear(&err);
    char ep[WP_GOSSIP_ADDR_MAX];
    if (wpctl_resolve_admin(t->dir, t->endpoint, node_id, ep, sizeof ep, &err))
        return wpctl_fail("%s", wp_err_text(&err));
    Warmpath__Admin__AdminRequest req = WARMPATH__ADMIN__ADMIN_REQUEST__INIT;
    req.req_case = WARMPATH__ADMIN__ADMIN_REQUEST__REQ_SET_CAPACITY;
    req.set_capacity = sc;
    Warmpath__Admin__AdminResponse *resp;
    if (wpctl_admin_call(ep, &req, 2000, &resp, &err))
        return wpctl_fail("%s", wp_err_text(&err));
    snprintf(id, cap, "%s", resp->status->id);
    warmpath__admin__admin_response__free_unpacked(resp, NULL);
    return WPCTL_OK;
}

static void print_json(const char *id, const Warmpath__Admin__SetCapacityRequest *sc)
{
    wp_json j;
    wp_json_init(&j, stdout, false);
    wp_json_obj_begin(&j);
    wp_json_key(&j, "node");
    wp_json_str(&j, id);
    if (sc->set_gpu_mem_free) {
        wp_json_key(&j, "gpu_mem_free_bytes");
        wp_json_uint(&j, sc->gpu_mem_free_bytes);
    }
    if (sc->set_queue_depth) {
        wp_json_key(&j, "queue_depth");
        wp_json_uint(&j, sc->queue_depth);
    }
    if (sc->set_warm_models) {
        wp_json_key(&j, "warm_models");
        wp_json_arr_begin(&j);
        for (size_t i = 0; i < sc->n_warm_models; i++)
            wp_json_str(&j, sc->warm_models[i]);
        wp_json_arr_end(&j);
    }
    wp_json_obj_end(&j);
    wp_json_end(&j);
}

int wpctl_capacity_main(int argc, char **argv)
{
    const char *cmd = "capacity";
    wpctl_target t = {0};
    const char *warm = NULL;
    double gb = 0;
    uint32_t queue_depth = 0;
    bool json = false, have_gb = false, have_queue = false;
    Warmpath__Admin__SetCapacityRequest sc = WARMPATH__ADMIN__SET_CAPACITY_REQUEST__INIT;
    wpctl_flag flags[] = {
        WPF_DOUBLE("gpu-mem-free-gb", &gb, 0, 1e6, "G", "free GPU memory to advertise, GiB"),
        WPF_U32("queue-depth", &queue_depth, 0, 1e9, "N", "queue depth to advertise"),
        WPF_STR("warm", &warm, "LIST", "warm model names, comma-separated ('' for none)"),
        WPF_DIR(&t),
        WPF_STR("endpoint", &t.endpoint, "ADDR", "the node's admin endpoint instead of NODE"),
        WPF_JSON(&json, "{node, gpu_mem_free_bytes, queue_depth, warm_models} (those set)"),
        WPF_END,
    };
    flags[0].seen = &have_gb;
    flags[1].seen = &have_queue;
    const wpctl_spec spec = {
        .name = cmd,
        .args = "[NODE]",
        .about = "Sets fields of a node's capacity record through its admin endpoint; the\n"
                 "record's version goes up and the change is gossiped to every member.\n"
                 "This is an operator and test override: the node's GPU worker republishes\n"
                 "its real free memory, warm models and queue as soon as they change (a\n"
                 "model loads or unloads, requests queue), replacing what was set here.\n"
                 "Give NODE (an id of the cluster directory) or --endpoint.\n",
        .flags = flags,
        .max_args = 1,
    };
    wpctl_args a;
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, &a);
    const char *node_id = a.argc ? a.argv[0] : NULL;
    sc.set_gpu_mem_free = have_gb;
    sc.gpu_mem_free_bytes = (uint64_t)(gb * 1073741824.0);
    sc.set_queue_depth = have_queue;
    sc.queue_depth = queue_depth;
    sc.set_warm_models = warm != NULL;
    if (!sc.set_gpu_mem_free && !sc.set_queue_depth && !sc.set_warm_models)
        return wpctl_usage_error(cmd, "nothing to change");
    char *names[WP_GOSSIP_MAX_WARM];
    char *copy = NULL;
    if (warm) {
        copy = strdup(warm);
        for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
            if (sc.n_warm_models >= WP_GOSSIP_MAX_WARM || strlen(tok) >= WP_NAME_MAX) {
                free(copy);
                return wpctl_usage_error(cmd, "--warm: at most %u names of at most %u bytes",
                                         WP_GOSSIP_MAX_WARM, WP_NAME_MAX - 1);
            }
            names[sc.n_warm_models++] = tok;
        }
        sc.warm_models = names;
    }
    char id[WP_NAME_MAX];
    int rc = set_capacity(cmd, &t, node_id, &sc, id, sizeof id);
    if (rc == WPCTL_OK && json)
        print_json(id, &sc);
    else if (rc == WPCTL_OK)
        printf("%s: capacity updated\n", id);
    free(copy);
    return rc;
}

/* wpctl drain — set or clear a node's draining flag (its capacity record
 * changes version and is gossiped to every member). */
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
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, &a);
    Warmpath__Admin__SetCapacityRequest sc = WARMPATH__ADMIN__SET_CAPACITY_REQUEST__INIT;
    sc.set_draining = true;
    sc.draining = !off;
    char id[WP_NAME_MAX];
    int rc = set_capacity("drain", &t, a.argc ? a.argv[0] : NULL, &sc, id, sizeof id);
    if (rc == WPCTL_OK && json)
        wpctl_json_node_done(id, "draining", !off);
    else if (rc == WPCTL_OK)
        printf("%s: draining %s\n", id, off ? "off" : "on");
    return rc;
}
