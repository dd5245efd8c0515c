/* tools/wpctl/cluster.h — internal to wpctl: the local cluster directory
 * (cluster.txt written by `wpctl cluster up`) and the wp-node admin client
 * (protobuf over ZeroMQ REQ, framed as proto/admin.proto describes). */
#ifndef WPCTL_CLUSTER_H
#define WPCTL_CLUSTER_H

#include "common/common.h"
#include "auth/auth.h"
#include "node/node.h"
#include "node/infer.h"
#include "proto/admin.pb-c.h"

#include <signal.h>
#include <sys/types.h>

#define WPCTL_CLUSTER_MAX_NODES 512u
#define WPCTL_CLUSTER_FILE "cluster.txt"
/* In DIR/keys when `cluster up` made that directory: `down --purge` then
 * removes it with every key in it (and only then). */
#define WPCTL_KEYS_MARKER ".made-by-cluster-up"

/* A process the cluster started: its pid and its start time (field 22 of
 * /proc/PID/stat, clock ticks since boot), which together name one process
 * even after the pid is reused. start_ticks 0: unknown (a version 1 file). */
typedef struct wpctl_proc {
    pid_t pid;
    uint64_t start_ticks;
} wpctl_proc;

typedef struct wpctl_node_rec {
    char id[WP_NAME_MAX];
    char city[WP_GOSSIP_CITY_MAX];
    pid_t pid;
    uint64_t start_ticks;
    char gossip[WP_GOSSIP_ADDR_MAX];
    char admin[WP_GOSSIP_ADDR_MAX];
    char request[WP_GOSSIP_ADDR_MAX]; /* client request endpoint ("" = none) */
    char metrics[WP_GOSSIP_ADDR_MAX]; /* Prometheus HOST:PORT ("" = none) */
} wpctl_node_rec;

#define WPCTL_CLUSTER_MAX_PLACEMENT 7u
#define WPCTL_CLUSTER_MAX_MODEL_FILES 8u

/* A wp-placement server started by `cluster up --placement N`. */
typedef struct wpctl_placement_rec {
    uint32_t id;
    pid_t pid;
    uint64_t start_ticks;
    char api[WP_GOSSIP_ADDR_MAX];
    char raft[WP_GOSSIP_ADDR_MAX];
    char metrics[WP_GOSSIP_ADDR_MAX]; /* Prometheus HOST:PORT ("" = none) */
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
    char rtt_params[512];       /* --rtt-params FILE given to every node ("" = v2 default) */
    char keys[512];             /* the key directory every daemon is given (--keys); "" =
                                 * started --insecure (plain ZeroMQ, unsigned records) */
} wpctl_cluster;

/* Cluster directory: --dir if given, else $WP_CLUSTER_DIR, else ./.cluster.
 * It also picks the key this wpctl speaks CurveZMQ with (see
 * wpctl_cluster_key_default): every command that finds its cluster through
 * the directory passes here before it opens a socket. */
const char *wpctl_cluster_dir(const char *flag);

/* ---- keys (cmd_keys.c, cluster_util.c) */

/* The operator key of the cluster in dir, when the user gave none: when
 * neither `wpctl --key` nor $WP_KEY was set at start, and DIR/cluster.txt
 * names a key directory (a cluster started without --insecure), $WP_KEY
 * becomes KEYDIR/operator.key; for a cluster started --insecure it is
 * unset again. A key the user gave always wins. */
void wpctl_cluster_key_default(const char *dir);
/* main(): whether the user gave a key (--key, or $WP_KEY set, even empty). */
void wpctl_note_user_key(void);
/* Creates the key directory DIR (0700) if missing; refuses one that group
 * or others can write. */
int wpctl_keys_dir_ready(const char *dir, wp_err *err);
/* DIR/NAME.key (0600) and DIR/NAME.pub for a new key of this role. An
 * existing NAME.key is an error, unless reuse: then it is loaded and must
 * hold its secret and have this role (its .pub is written if missing).
 * *pub (may be NULL) gets the public parts; *created says which happened. */
int wpctl_key_make(const char *dir, const char *name, wp_key_role role, bool reuse, wp_key *pub,
                   bool *created, wp_err *err);
/* Reads DIR/cluster.txt (line and field lengths bounded; errors name the
 * line). c is large: allocate it on the heap. */
int wpctl_cluster_load(const char *dir, wpctl_cluster *c, wp_err *err);
int wpctl_cluster_save(const wpctl_cluster *c, wp_err *err);
/* Process supervision with pidfds (Linux >= 5.3; pidfd_open and
 * pidfd_send_signal through syscall(2)): a recorded process is ours when its
 * pid is alive and its start time matches the record, checked after its
 * pidfd is open, so the pidfd names our process or a dead one, never a
 * stranger that reused the pid. Signals go through the pidfd; waiting is
 * poll(2) on it. Without pidfds (ENOSYS) kill(2) and polling stand in. */

/* Start time of pid (0 when it does not exist or is a zombie). */
uint64_t wpctl_proc_start_ticks(pid_t pid);
/* The record of a process just started (pid, start time). */
wpctl_proc wpctl_proc_of(pid_t pid);
/* A pidfd for the recorded process if it is running (>= 0), -2 if it is
 * running but pidfds are not available, -1 if it is not running. A record
 * without a start time (version 1 file) is checked by argv[0] containing
 * `name` instead. */
int wpctl_proc_open(wpctl_proc p, const char *name);
/* True if the recorded process is running. */
bool wpctl_proc_running(wpctl_proc p, const char *name);
/* Sends sig to the recorded process if it is running (through its pidfd):
 * true when sent. */
bool wpctl_proc_signal(wpctl_proc p, const char *name, int sig);
/* Stops the running processes among procs[0..n): SIGTERM, up to grace_ms
 * for them to exit, then SIGKILL and up to 2 s more; reaps those that are
 * our children. Returns how many are still running. */
size_t wpctl_proc_stop(const wpctl_proc *procs, size_t n, const char *const *names, int grace_ms);

/* The node's / placement server's process record. */
static inline wpctl_proc wpctl_node_proc(const wpctl_node_rec *r)
{
    return (wpctl_proc){r->pid, r->start_ticks};
}
static inline wpctl_proc wpctl_placement_proc(const wpctl_placement_rec *r)
{
    return (wpctl_proc){r->pid, r->start_ticks};
}
/* True if the node's recorded wp-node process is running. */
bool wpctl_node_running(const wpctl_node_rec *r);
bool wpctl_placement_running(const wpctl_placement_rec *r);

/* cluster_prom.c: DIR/prometheus.yml and its file_sd target list
 * DIR/prometheus_targets.json (every daemon with a metrics address). */
int wpctl_cluster_write_prometheus(const wpctl_cluster *c, wp_err *err);

/* ---- cluster_spawn.c: the processes of a local cluster (`wpctl cluster`) */

/* A daemon binary: $ENVNAME, else next to wpctl (../SUBDIR/NAME, NAME,
 * ../bin/NAME), else NAME on $PATH. -1 if $ENVNAME is not executable. */
int wpctl_find_bin(const char *envname, const char *name, const char *subdir, char *out,
                   size_t cap);
int wpctl_find_node_bin(char *out, size_t cap); /* wp-node, $WP_NODE_BIN */
/* Starts node r of c (its own session, log DIR/logs/ID.log, state
 * DIR/state/ID) joining `joins`; its pid, or -1 with err set. */
pid_t wpctl_spawn_node(const char *bin, const wpctl_cluster *c, const wpctl_node_rec *r,
                       const char *joins, int gpus, double mem_gb, wp_err *err);
/* Starts placement server i of the n planned in c (raft state in
 * DIR/placement-ID, log DIR/logs/placement-ID.log). */
pid_t wpctl_spawn_placement(const char *bin, const wpctl_cluster *c, size_t i, size_t n,
                            wp_err *err);
/* Join addresses for node i: up to 3 others among the first n. */
void wpctl_join_list(const wpctl_cluster *c, size_t i, size_t n, char *out, size_t cap);
/* DIR/placement.endpoints (removed when there are no placement servers). */
int wpctl_write_placement_endpoints(const wpctl_cluster *c, wp_err *err);
/* Waits for a placement leader (up to timeout_s, or until *stop) and adds
 * the simulator's default catalog models it lacks. */
int wpctl_load_default_catalog(const wpctl_cluster *c, int timeout_s, volatile sig_atomic_t *stop,
                               size_t *added, wp_err *err);
/* Members a node sees alive, of total, from its admin endpoint. */
int wpctl_node_members(const char *endpoint, uint32_t *alive, uint32_t *total, wp_err *err);
/* Removes a cluster's state in dir: raft folders and node state; with
 * `all` also logs, the cluster file, placement.endpoints and dir itself
 * when that leaves it empty. Only names wpctl writes are touched. Returns
 * how many entries went, or -1 (errno). */
int wpctl_cluster_purge(const char *dir, bool all);
/* The security line(s) of `cluster up` and `cluster status`. */
void wpctl_print_security(const wpctl_cluster *c);
/* Every process of c as a JSON list (status and up --json). */
void wpctl_cluster_json(const wpctl_cluster *c, wp_json *j);
void wpctl_sleep_ms(int ms);

/* Admin endpoint of `node_id` (or of the first running node when NULL) in
 * the cluster at dir, or `endpoint` itself when given. */
int wpctl_resolve_admin(const char *dir_flag, const char *endpoint, const char *node_id,
                        char *out, size_t cap, wp_err *err);

/* One request/response with a wp-node admin endpoint, timeout_ms for the
 * whole exchange. On success *resp must be freed with
 * warmpath__admin__admin_response__free_unpacked; a response whose `error`
 * is set is returned as WP_EPROTO with the message in err. */
/* Makes sock (not yet connected) a CURVE client with the key in $WP_KEY
 * (wpctl --key FILE sets it; cluster.pub next to it), read at each call;
 * a no-op without one. An error when the key cannot be loaded. */
int wpctl_curve_client(void *sock, wp_err *err);

int wpctl_admin_call(const char *endpoint, const Warmpath__Admin__AdminRequest *req,
                     int timeout_ms, Warmpath__Admin__AdminResponse **resp, wp_err *err);

#endif
