/* wpctl — warmpath's admin CLI: one binary, one subcommand per area. */
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"
#include "tools/wpctl/cluster.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WPCTL_VERSION "0.1.0"

static int version_main(int argc, char **argv)
{
    bool json = false;
    const wpctl_flag flags[] = {WPF_JSON(&json, "{name, version}"), WPF_END};
    const wpctl_spec spec = {.name = "version", .about = "Prints wpctl's version.\n",
                             .flags = flags};
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, NULL);
    if (json)
        printf("{\"name\":\"wpctl\",\"version\":\"" WPCTL_VERSION "\"}\n");
    else
        printf("wpctl (warmpath) " WPCTL_VERSION "\n");
    return WPCTL_OK;
}

/* Grouped by what an operator does: run a cluster, place models, measure
 * (live and simulated), and work with model checkpoints. A NULL fn starts a
 * new group in --help (its name is the group's title). */
static const struct wpctl_cmd commands[] = {
    {"cluster", NULL, NULL},
    {"cluster", "start, inspect and stop a local cluster (up|status|restart|down)",
     wpctl_cluster_main},
    {"logs", "a node's or placement server's log (-f: follow)", wpctl_logs_main},
    {"nodes", "members and their capacity as a node's gossip view has them", wpctl_nodes_main},
    {"drain", "set or clear a node's draining flag", wpctl_drain_main},
    {"capacity", "change a node's advertised capacity (free GPU memory, warm models)",
     wpctl_capacity_main},
    {"keys", "the cluster's keys: generate, list, show", wpctl_keys_main},
    {"placement", NULL, NULL},
    {"models", "the placement catalog, pins and warm counts", wpctl_models_main},
    {"catalog", "add a model to the placement catalog, or remove one", wpctl_catalog_main},
    {"pin", "pin a model to cities", wpctl_pin_main},
    {"unpin", "remove a model's pin", wpctl_unpin_main},
    {"placement", "models -> nodes, and placement server status", wpctl_placement_main},
    {"traffic and latency", NULL, NULL},
    {"traffic", "live open-loop traffic: emulated users -> anycast ingress, results recorded",
     wpctl_traffic_main},
    {"report", "latency by region of a traffic results file (sim's format)", wpctl_report_main},
    {"route", "the routing decision an ingress would take now, with candidates and costs",
     wpctl_route_main},
    {"sim", "simulate global traffic: latency by region (edge vs regional)", wpctl_sim_main},
    {"topo", "topologies, the RTT model, fit and coverage", wpctl_topo_main},
    {"models on GPUs", NULL, NULL},
    {"model", "model checkpoints: gen writes one with seeded random weights", wpctl_model_main},
    {"infer", "run a checkpoint on the cpu or cuda backend", wpctl_infer_main},
    {"version", "print the version", version_main},
};

int wpctl_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("wpctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return WPCTL_FAIL;
}

int wpctl_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "wpctl %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return WPCTL_USAGE;
}

void wpctl_json_node_done(const char *id, const char *key, bool value)
{
    wp_json j;
    wp_json_init(&j, stdout, false);
    wp_json_obj_begin(&j);
    wp_json_key(&j, "node");
    wp_json_str(&j, id);
    wp_json_key(&j, key);
    wp_json_bool(&j, value);
    wp_json_obj_end(&j);
    wp_json_end(&j);
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: wpctl [--key FILE] COMMAND [ARGS...]\n\n"
                "warmpath admin CLI.\n\n"
                "  --key FILE  speak CurveZMQ to the daemons as this key (an operator key\n"
                "              for admin and placement writes, a client key for inference;\n"
                "              cluster.pub must be next to it). Default: $WP_KEY; else,\n"
                "              for a cluster 'cluster up' started, its operator key\n"
                "              (DIR/keys/operator.key); else plain ZeroMQ (daemons\n"
                "              started --insecure). WP_KEY= (empty): plain, always.\n\n");
    for (size_t i = 0; i < WP_ARRAY_LEN(commands); i++) {
        if (commands[i].fn == NULL)
            fprintf(fp, "%s%s:\n", i ? "\n" : "", commands[i].name);
        else
            fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(fp, "\n'wpctl COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return WPCTL_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return WPCTL_OK;
    }
    if (strcmp(argv[1], "--key") == 0 || strncmp(argv[1], "--key=", 6) == 0) {
        const char *file = argv[1][5] == '=' ? argv[1] + 6 : (argc > 2 ? argv[2] : NULL);
        if (!file || !file[0]) {
            fprintf(stderr, "wpctl: --key: missing value\n");
            return WPCTL_USAGE;
        }
        /* Every socket that connects to a daemon reads $WP_KEY (the
         * placement client too): one place for the choice. */
        setenv("WP_KEY", file, 1);
        int shift = argv[1][5] == '=' ? 1 : 2;
        argc -= shift;
        argv += shift;
        if (argc < 2) {
            usage(stderr);
            return WPCTL_USAGE;
        }
    }
    wpctl_note_user_key();
    if (strcmp(argv[1], "--version") == 0) {
        printf("wpctl (warmpath) " WPCTL_VERSION "\n");
        return WPCTL_OK;
    }
    for (size_t i = 0; i < WP_ARRAY_LEN(commands); i++)
        if (commands[i].fn != NULL && strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    return wpctl_unknown_command(NULL, argv[1], commands, WP_ARRAY_LEN(commands));
}
