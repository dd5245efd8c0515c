/* tools/wpctl/cluster.h — internal to wpctl: the local cluster directory
 * (cluster.txt written by `wpctl cluster up`) and the wp-node admin client
 * (protobuf over ZeroMQ REQ, framed as proto/admin.proto describes). */
#ifndef WPCTL_CLUSTER_H
#define WPCTL_CLUSTER_H

#include "common/common.h"
#include "node/node.h"
#include "node/infer.h"
#include "proto/admin.pb-c.h"

#include <sys/types.h>

#define WPCTL_CLUSTER_MAX_NODES 512u
#define WPCTL_CLUSTER_FILE "cluster.txt"

typedef struct wpctl_node_rec {
    char id[WP_NAME_MAX];
    char city[WP_GOSSIP_CITY_MAX];
    pid_t pid;
    char gossip[WP_GOSSIP_ADDR_MAX];
    char admin[WP_GOSSIP_ADDR_MAX];
    char request[WP_GOSSIP_ADDR_MAX]; /* client request endpoint ("" = none) */
} wpctl_node_rec;

#define WPCTL_CLUSTER_MAX_PLACEMENT 7u
#define WPCTL_CLUSTER_MAX_MODEL_FILES 8u

/* A wp-placement server started by `cluster up --placement N`. */
typedef struct wpctl_placement_rec {
    uint32_t id;
    pid_t pid;
    char api[WP_GOSSIP_ADDR_MAX];
    char raft[WP_GOSSIP_ADDR_MAX];
} wpctl_placement_rec;

typedef struct wpctl_cluster {
    char dir[512];
    bool emulate_wan;
    uint32_t probe_interval_ms; /* 0 = wp-node default */
    uint32_t gpus;              /* per node, as started */
    uint64_t gpu_mem_mib;       /* free GPU memory per node, as started */
    uint32_t gpu_backend;       /* 0 = wp-node default, else 1 + enum wp_gpu_kind */
    size_t n;
    wpctl_node_rec nodes[WPCTL_CLUSTER_MAX_NODES];
    size_t n_placement;
    wpctl_placement_rec placement[WPCTL_CLUSTER_MAX_PLACEMENT];
    size_t n_model_files;       /* --model-file NAME=PATH given to every node */
    char model_files[WPCTL_CLUSTER_MAX_MODEL_FILES][512];
} wpctl_cluster;

/* Cluster directory: --dir if given, else $WP_CLUSTER_DIR, else ./.cluster. */
const char *wpctl_cluster_dir(const char *flag);
/* Reads DIR/cluster.txt (line and field lengths bounded; errors name the
 * line). c is large: allocate it on the heap. */
int wpctl_cluster_load(const char *dir, wpctl_cluster *c, wp_err *err);
int wpctl_cluster_save(const wpctl_cluster *c, wp_err *err);
/* True if pid is a live (not zombie) wp-node process. */
bool wpctl_pid_is_node(pid_t pid);
/* True if pid is a live (not zombie) process whose argv[0] contains name. */
bool wpctl_pid_is_proc(pid_t pid, const char *name);

/* Admin endpoint of `node_id` (or of the first running node when NULL) in
 * the cluster at dir, or `endpoint` itself when given. */
int wpctl_resolve_admin(const char *dir_flag, const char *endpoint, const char *node_id,
                        char *out, size_t cap, wp_err *err);

/* One request/response with a wp-node admin endpoint, timeout_ms for the
 * whole exchange. On success *resp must be freed with
 * warmpath__admin__admin_response__free_unpacked; a response whose `error`
 * is set is returned as WP_EPROTO with the message in err. */
int wpctl_admin_call(const char *endpoint, const Warmpath__Admin__AdminRequest *req,
                     int timeout_ms, Warmpath__Admin__AdminResponse **resp, wp_err *err);

#endif
