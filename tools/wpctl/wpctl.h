/* tools/wpctl/wpctl.h — internal to wpctl: the command table and the few
 * helpers every subcommand shares. Each subcommand lives in cmd_<name>.c and
 * describes its flags in one table (flags.h: the getopt table, bounds, the
 * one-line usage errors and --help come from it); all print a human table
 * by default, JSON with --json, and on failure one line "wpctl: ..." and
 * exit status 1 (2 for a usage error, 128 + signal when interrupted). */
#ifndef WPCTL_H
#define WPCTL_H

#include "common/common.h"

typedef int (*wpctl_main_fn)(int argc, char **argv);

struct wpctl_cmd {
    const char *name;
    const char *summary;
    wpctl_main_fn fn;
};

/* Exit codes. */
#define WPCTL_OK 0
#define WPCTL_FAIL 1
#define WPCTL_USAGE 2

/* Prints "wpctl: <message>" on stderr and returns WPCTL_FAIL. */
int wpctl_fail(const char *fmt, ...) WP_PRINTF(1, 2);
/* Prints one line "wpctl <cmd>: <message>" on stderr and returns
 * WPCTL_USAGE. */
int wpctl_usage_error(const char *cmd, const char *fmt, ...) WP_PRINTF(2, 3);

/* Prints {"node": id, key: value} on stdout: what a write command to one
 * node did, for --json. */
void wpctl_json_node_done(const char *id, const char *key, bool value);

/* Subcommands (one file each). */
int wpctl_cluster_main(int argc, char **argv);
int wpctl_nodes_main(int argc, char **argv);
int wpctl_drain_main(int argc, char **argv);
int wpctl_capacity_main(int argc, char **argv);
int wpctl_model_main(int argc, char **argv);
int wpctl_infer_main(int argc, char **argv);
int wpctl_topo_main(int argc, char **argv);
int wpctl_models_main(int argc, char **argv);
int wpctl_catalog_main(int argc, char **argv);
int wpctl_pin_main(int argc, char **argv);
int wpctl_unpin_main(int argc, char **argv);
int wpctl_placement_main(int argc, char **argv);
int wpctl_keys_main(int argc, char **argv);

/* Placement servers from --endpoint, else DIR/placement.endpoints (DIR from
 * --dir, default .cluster). Prints the error and returns WPCTL_FAIL. */
struct wp_placement_client;
int wpctl_placement_connect(const char *endpoint, const char *dir,
                            struct wp_placement_client **out);
int wpctl_sim_main(int argc, char **argv);
int wpctl_report_main(int argc, char **argv);
int wpctl_traffic_main(int argc, char **argv);
int wpctl_route_main(int argc, char **argv);
int wpctl_logs_main(int argc, char **argv);
/* `wpctl sim gossip`: defined by the gossip simulation; cmd_sim.c holds a
 * weak default that says it is not built yet. */
int wpctl_sim_gossip_main(int argc, char **argv);

#endif
