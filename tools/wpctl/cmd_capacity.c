/* wpctl capacity — change a node's advertised capacity (free GPU memory,
 * queue depth, warm models) for operators and tests; the record gets a new
 * version and is gossiped.
 *
 *   wpctl capacity NODE [--dir D] [--gpu-mem-free-gb G] [--queue-depth N]
 *                       [--warm m1,m2,...]
 *   wpctl capacity --endpoint ADDR ... */
#include "tools/wpctl/cluster.h"
#include "tools/wpctl/wpctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char *const help_capacity =
    "usage: wpctl capacity NODE [--dir D] [--gpu-mem-free-gb G] [--queue-depth N]\n"
    "                           [--warm MODEL,...]\n"
    "       wpctl capacity --endpoint ADDR [options]\n\n"
    "Sets fields of a node's capacity record through its admin endpoint; the\n"
    "record's version goes up and the change is gossiped to every member.\n"
    "This is an operator and test override: the node's GPU worker republishes\n"
    "its real free memory, warm models and queue as soon as they change (a\n"
    "model loads or unloads, requests queue), replacing what was set here.\n\n"
    "  --gpu-mem-free-gb G  free GPU memory to advertise, GiB\n"
    "  --queue-depth N      queue depth to advertise\n"
    "  --warm LIST          warm model names, comma-separated ('' for none)\n"
    "  --dir D / --endpoint ADDR  as for 'wpctl nodes'\n";

int wpctl_capacity_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"endpoint", required_argument, NULL, 'e'},
        {"gpu-mem-free-gb", required_argument, NULL, 'm'},
        {"queue-depth", required_argument, NULL, 'q'},
        {"warm", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "capacity";
    const char *dir = NULL, *endpoint = NULL, *node_id = NULL, *warm = NULL;
    Warmpath__Admin__SetCapacityRequest sc = WARMPATH__ADMIN__SET_CAPACITY_REQUEST__INIT;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'e': endpoint = optarg; break;
        case 'm': {
            double gb;
            if (wp_parse_double(optarg, &gb) || !(gb >= 0 && gb <= 1e6))
                return wpctl_usage_error(cmd, "--gpu-mem-free-gb must be 0..1000000, got '%s'",
                                         optarg);
            sc.set_gpu_mem_free = true;
            sc.gpu_mem_free_bytes = (uint64_t)(gb * 1073741824.0);
            break;
        }
        case 'q': {
            int64_t q;
            if (wp_parse_int64(optarg, &q) || q < 0 || q > 1000000000)
                return wpctl_usage_error(cmd, "--queue-depth must be 0..1e9, got '%s'", optarg);
            sc.set_queue_depth = true;
            sc.queue_depth = (uint32_t)q;
            break;
        }
        case 'w': warm = optarg; sc.set_warm_models = true; break;
        case 'h': fputs(help_capacity, stdout); return WPCTL_OK;
        default: return wpctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        node_id = argv[optind++];
    if (optind < argc)
        return wpctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!node_id && !endpoint)
        return wpctl_usage_error(cmd, "a NODE or --endpoint is required");
    if (node_id && endpoint)
        return wpctl_usage_error(cmd, "give NODE or --endpoint, not both");
    if (!sc.set_gpu_mem_free && !sc.set_queue_depth && !sc.set_warm_models)
        return wpctl_usage_error(cmd, "nothing to change");
    char *names[WP_GOSSIP_MAX_WARM];
    char *copy = NULL;
    if (warm) {
        copy = strdup(warm);
        for (char *t = strtok(copy, ","); t; t = strtok(NULL, ",")) {
            if (sc.n_warm_models >= WP_GOSSIP_MAX_WARM || strlen(t) >= WP_NAME_MAX) {
                free(copy);
                return wpctl_usage_error(cmd, "--warm: at most %u names of at most %u bytes",
                                         WP_GOSSIP_MAX_WARM, WP_NAME_MAX - 1);
            }
            names[sc.n_warm_models++] = t;
        }
        sc.warm_models = names;
    }
    wp_err err;
    wp_err_clear(&err);
    char ep[WP_GOSSIP_ADDR_MAX];
    int rc = WPCTL_OK;
    if (wpctl_resolve_admin(dir, endpoint, node_id, ep, sizeof ep, &err)) {
        rc = wpctl_fail("%s", wp_err_text(&err));
    } else {
        Warmpath__Admin__AdminRequest req = WARMPATH__ADMIN__ADMIN_REQUEST__INIT;
        req.req_case = WARMPATH__ADMIN__ADMIN_REQUEST__REQ_SET_CAPACITY;
        req.set_capacity = &sc;
        Warmpath__Admin__AdminResponse *resp;
        if (wpctl_admin_call(ep, &req, 2000, &resp, &err)) {
            rc = wpctl_fail("%s", wp_err_text(&err));
        } else {
            printf("%s: capacity updated\n", resp->status->id);
            warmpath__admin__admin_response__free_unpacked(resp, NULL);
        }
    }
    free(copy);
    return rc;
}
