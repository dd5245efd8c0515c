/* cluster_spawn.c — starting and cleaning up the processes of a local
 * cluster for `wpctl cluster` (see cluster.h): finding the binaries,
 * spawning wp-node and wp-placement as daemons with their logs, the
 * placement endpoints file and default catalog, the members a node sees,
 * removing a cluster's state, and the cluster as JSON. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "tools/wpctl/cluster.h"
#include "gpu_worker/gpu_worker.h"
#include "placement/client.h"
#include "sim/sim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


int wpctl_find_bin(const char *envname, const char *name, const char *subdir, char *out,
                   size_t cap)
{
    const char *env = getenv(envname);
    if (env && env[0]) {
        snprintf(out, cap, "%s", env);
        return access(out, X_OK) == 0 ? 0 : -1;
    }
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            char c1[128], c2[128];
            snprintf(c1, sizeof c1, "../%s/%s", subdir, name);
            snprintf(c2, sizeof c2, "../bin/%s", name);
            const char *cands[] = {c1, name, c2};
            for (size_t i = 0; i < WP_ARRAY_LEN(cands); i++) {
                int w = snprintf(out, cap, "%s/%s", self, cands[i]);
                if (w > 0 && (size_t)w < cap && access(out, X_OK) == 0)
                    return 0;
            }
        }
    }
    snprintf(out, cap, "%s", name); /* execvp searches $PATH */
    return 0;
}

int wpctl_find_node_bin(char *out, size_t cap)
{
    return wpctl_find_bin("WP_NODE_BIN", "wp-node", "node", out, cap);
}

/* Starts bin with argv as a daemon of the cluster: its own session (so a
 * Ctrl-C at the terminal that ran `cluster up` does not reach it), stdin from
 * /dev/null, stdout and stderr appended to logpath. Returns its pid, or -1
 * with err set. */
static pid_t spawn_daemon(const char *bin, const char *const *argv, const char *logpath,
                          wp_err *err)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        wp_errf(err, WP_EIO, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setsid();
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int nul = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (nul >= 0)
            dup2(nul, 0);
        execvp(bin, (char *const *)argv);
        fprintf(stderr, "wpctl: exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    return pid;
}

pid_t wpctl_spawn_node(const char *bin, const wpctl_cluster *c, const wpctl_node_rec *r,
                       const char *joins, int gpus, double mem_gb, wp_err *err)
{
    char logdir[600], statedir[700], logpath[700];
    snprintf(logdir, sizeof logdir, "%s/logs", c->dir);
    mkdir(logdir, 0755);
    snprintf(statedir, sizeof statedir, "%s/state", c->dir);
    mkdir(statedir, 0755);
    snprintf(statedir, sizeof statedir, "%s/state/%s", c->dir, r->id);
    snprintf(logpath, sizeof logpath, "%s/%s.log", logdir, r->id);
    char gpus_s[32], mem_s[32], probe_s[32];
    snprintf(gpus_s, sizeof gpus_s, "%d", gpus);
    snprintf(mem_s, sizeof mem_s, "%g", mem_gb);
    snprintf(probe_s, sizeof probe_s, "%u", c->probe_interval_ms);
    const char *argv[56];
    int a = 0;
    argv[a++] = bin;
    argv[a++] = "--id";
    argv[a++] = r->id;
    argv[a++] = "--city";
    argv[a++] = r->city;
    argv[a++] = "--bind";
    argv[a++] = r->gossip;
    argv[a++] = "--admin";
    argv[a++] = r->admin;
    argv[a++] = "--state-dir";
    argv[a++] = statedir;
    argv[a++] = "--gpus";
    argv[a++] = gpus_s;
    argv[a++] = "--gpu-mem-gb";
    argv[a++] = mem_s;
    if (joins && joins[0]) {
        argv[a++] = "--join";
        argv[a++] = joins;
    }
    if (c->emulate_wan)
        argv[a++] = "--emulate-wan";
    if (c->rtt_params[0]) {
        argv[a++] = "--rtt-params";
        argv[a++] = c->rtt_params;
    }
    if (c->probe_interval_ms) {
        argv[a++] = "--probe-interval-ms";
        argv[a++] = probe_s;
    }
    if (r->request[0]) {
        argv[a++] = "--request";
        argv[a++] = r->request;
    }
    if (r->metrics[0]) {
        argv[a++] = "--metrics";
        argv[a++] = r->metrics;
    }
    char pl_list[WPCTL_CLUSTER_MAX_PLACEMENT * (WP_GOSSIP_ADDR_MAX + 1) + 1];
    pl_list[0] = '\0';
    size_t pl_used = 0;
    for (size_t i = 0; i < c->n_placement; i++) {
        int w = snprintf(pl_list + pl_used, sizeof pl_list - pl_used, "%s%s", i ? "," : "",
                         c->placement[i].api);
        if (w > 0 && (size_t)w < sizeof pl_list - pl_used)
            pl_used += (size_t)w;
    }
    if (pl_list[0]) {
        argv[a++] = "--placement";
        argv[a++] = pl_list;
    }
    for (size_t i = 0; i < c->n_model_files; i++) {
        argv[a++] = "--model-file";
        argv[a++] = c->model_files[i];
    }
    if (c->gpu_backend) {
        argv[a++] = "--gpu-backend";
        argv[a++] = wp_gpu_kind_name((int)c->gpu_backend - 1);
        if (c->gpu_backend - 1 == WP_GPU_MODEL)
            argv[a - 1] = "model";
    }
    /* Secure unless the cluster was started --insecure (cluster.h). */
    argv[a++] = c->keys[0] ? "--keys" : "--insecure";
    if (c->keys[0])
        argv[a++] = c->keys;
    argv[a] = NULL;
    return spawn_daemon(bin, argv, logpath, err);
}

void wpctl_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int wpctl_node_members(const char *endpoint, uint32_t *alive, uint32_t *total, wp_err *err)
{
    Warmpath__Admin__AdminRequest req = WARMPATH__ADMIN__ADMIN_REQUEST__INIT;
    Warmpath__Admin__StatusRequest sr = WARMPATH__ADMIN__STATUS_REQUEST__INIT;
    req.req_case = WARMPATH__ADMIN__ADMIN_REQUEST__REQ_STATUS;
    req.status = &sr;
    Warmpath__Admin__AdminResponse *resp;
    int rv = wpctl_admin_call(endpoint, &req, 500, &resp, err);
    if (rv)
        return rv;
    *alive = resp->status->members_alive;
    *total = resp->status->members_total;
    warmpath__admin__admin_response__free_unpacked(resp, NULL);
    return WP_OK;
}

/* Join addresses for node i: up to 3 other nodes, the first ones of the
 * n planned (during `up` the later ones are not started yet). */
void wpctl_join_list(const wpctl_cluster *c, size_t i, size_t n, char *out, size_t cap)
{
    out[0] = '\0';
    size_t used = 0, k = 0;
    for (size_t j = 0; j < n && k < 3; j++) {
        if (j == i)
            continue;
        int w = snprintf(out + used, cap - used, "%s%s", k ? "," : "", c->nodes[j].gossip);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
        k++;
    }
}

/* Starts placement server i of the n planned in c (argv as
 * scripts/placement-up.sh). */
pid_t wpctl_spawn_placement(const char *bin, const wpctl_cluster *c, size_t i, size_t n,
                            wp_err *err)
{
    char peers[WPCTL_CLUSTER_MAX_PLACEMENT * (2 * WP_GOSSIP_ADDR_MAX + 16)];
    size_t used = 0;
    peers[0] = '\0';
    for (size_t k = 0; k < n; k++) {
        const char *raft = c->placement[k].raft;
        if (strncmp(raft, "tcp://", 6) == 0)
            raft += 6;
        int w = snprintf(peers + used, sizeof peers - used, "%s%u=%s@%s", k ? "," : "",
                         c->placement[k].id, raft, c->placement[k].api);
        if (w > 0 && (size_t)w < sizeof peers - used)
            used += (size_t)w;
    }
    char id_s[16], datadir[700], logpath[700], logdir[600];
    snprintf(id_s, sizeof id_s, "%u", c->placement[i].id);
    /* One raft folder per server id: `cluster up` removes the previous
     * cluster's (see purge_state), so a fresh cluster starts a fresh raft
     * group and the folders do not pile up; `restart` finds its own. */
    snprintf(datadir, sizeof datadir, "%s/placement-%u", c->dir, c->placement[i].id);
    snprintf(logdir, sizeof logdir, "%s/logs", c->dir);
    mkdir(logdir, 0755);
    snprintf(logpath, sizeof logpath, "%s/placement-%u.log", logdir, c->placement[i].id);
    const char *raft = c->placement[i].raft;
    if (strncmp(raft, "tcp://", 6) == 0)
        raft += 6;
    const char *argv[] = {bin,      "--id",       id_s,  "--bind", c->placement[i].api,
                          "--raft", raft,         "--peers", peers, "--data-dir",
                          datadir,  "--topology", "edge", NULL, NULL, NULL, NULL, NULL, NULL};
    size_t a = 13; /* the spare slots */
    if (c->placement[i].metrics[0]) {
        argv[a++] = "--metrics";
        argv[a++] = c->placement[i].metrics;
    }
    argv[a++] = c->keys[0] ? "--keys" : "--insecure";
    if (c->keys[0])
        argv[a++] = c->keys;
    return spawn_daemon(bin, argv, logpath, err);
}

int wpctl_write_placement_endpoints(const wpctl_cluster *c, wp_err *err)
{
    char path[600], tmp[610];
    snprintf(path, sizeof path, "%s/placement.endpoints", c->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (c->n_placement == 0) {
        unlink(path);
        return WP_OK;
    }
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return wp_errf(err, WP_EIO, "%s: %s", tmp, strerror(errno));
    for (size_t i = 0; i < c->n_placement; i++)
        fprintf(fp, "%s\n", c->placement[i].api);
    if (fclose(fp) != 0 || rename(tmp, path) != 0)
        return wp_errf(err, WP_EIO, "%s: %s", path, strerror(errno));
    return WP_OK;
}

/* Waits for a leader and loads the simulator's default catalog (models the
 * placement already has are left as they are). */
int wpctl_load_default_catalog(const wpctl_cluster *c, int timeout_s, volatile sig_atomic_t *stop,
                               size_t *added, wp_err *err)
{
    *added = 0;
    const char *eps[WPCTL_CLUSTER_MAX_PLACEMENT];
    for (size_t i = 0; i < c->n_placement; i++)
        eps[i] = c->placement[i].api;
    wp_placement_client *pc;
    int rv = wp_placement_client_new(eps, c->n_placement, 2000, &pc, err);
    if (rv)
        return rv;
    uint64_t deadline = wp_clock_monotonic_ns() + (uint64_t)timeout_s * WP_NS_PER_S;
    wp_model_profile *have = NULL;
    size_t n_have = 0;
    for (;;) {
        rv = wp_placement_client_catalog_list(pc, &have, &n_have, err);
        if (rv == WP_OK || wp_clock_monotonic_ns() > deadline || *stop)
            break;
        struct timespec ts = {0, 200000000L};
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; rv == WP_OK && i < wp_sim_catalog_count(); i++) {
        const wp_model_profile *m = wp_sim_catalog_model(i);
        bool known = false;
        for (size_t k = 0; k < n_have && !known; k++)
            known = strcmp(have[k].name, m->name) == 0;
        if (known)
            continue;
        rv = wp_placement_client_catalog_add(pc, m, NULL, err);
        if (rv == WP_OK)
            (*added)++;
    }
    free(have);
    wp_placement_client_free(pc);
    return rv;
}

/* Removes path and everything under it (no symlinks are followed). */
static int rm_tree_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

static int rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_tree_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Removes the state a cluster leaves in dir: raft folders (placement-N,
 * and the placement-N-PORT of earlier versions), node state folders, and
 * with `all` also logs, the cluster file, placement.endpoints, the
 * Prometheus configuration and targets, and DIR/keys when `up` made it
 * (its WPCTL_KEYS_MARKER; keys generated by hand into a DIR/keys that up
 * did not make stay, and a --keys directory elsewhere is never touched) (and dir
 * itself when that leaves it empty). Only names wpctl writes are touched.
 * Returns how many entries were removed, or -1 on an error (errno). */
static bool keys_made_by_up(const char *dir)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/keys/%s", dir, WPCTL_KEYS_MARKER);
    return access(p, F_OK) == 0;
}

int wpctl_cluster_purge(const char *dir, bool all)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    int removed = 0, rv = 0;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        bool raft = strncmp(n, "placement-", 10) == 0 && n[10] >= '0' && n[10] <= '9' &&
                    strspn(n + 10, "0123456789-") == strlen(n + 10);
        bool mine = raft || strcmp(n, "state") == 0 ||
                    (all && (strcmp(n, "logs") == 0 || strcmp(n, WPCTL_CLUSTER_FILE) == 0 ||
                             strcmp(n, "placement.endpoints") == 0 ||
                             strcmp(n, "prometheus.yml") == 0 ||
                             strcmp(n, "prometheus_targets.json") == 0 ||
                             (strcmp(n, "keys") == 0 && keys_made_by_up(dir)) ||
                             strcmp(n, WPCTL_CLUSTER_FILE ".tmp") == 0));
        if (!mine)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, n);
        if (rm_tree(path) != 0)
            rv = -1;
        else
            removed++;
    }
    closedir(d);
    if (all)
        rmdir(dir); /* only when empty: the operator's own files stay */
    return rv ? -1 : removed;
}

void wpctl_print_security(const wpctl_cluster *cl)
{
    if (cl->keys[0])
        printf("security: CurveZMQ on every socket, signed gossip records, raft peers by key;\n"
               "          keys in %s (wpctl uses operator.key; clients: client.key)\n",
               cl->keys);
    else
        printf("security: OFF (--insecure): plain ZeroMQ, unsigned gossip records; any process\n"
               "          that reaches these ports can join, drain and pin\n");
}

static void json_proc(wp_json *j, const wpctl_cluster *cl, const char *id, const char *role,
                      const char *city, pid_t pid, const char *endpoint, const char *metrics,
                      bool running)
{
    wp_json_obj_begin(j);
    wp_json_key(j, "id");
    wp_json_str(j, id);
    wp_json_key(j, "role");
    wp_json_str(j, role);
    wp_json_key(j, "city");
    wp_json_str(j, city);
    wp_json_key(j, "pid");
    wp_json_int(j, pid);
    wp_json_key(j, "endpoint");
    wp_json_str(j, endpoint);
    wp_json_key(j, "metrics"); /* Prometheus host:port, null when none */
    if (metrics[0])
        wp_json_str(j, metrics);
    else
        wp_json_null(j);
    wp_json_key(j, "running");
    wp_json_bool(j, running);
    wp_json_key(j, "security");
    wp_json_str(j, cl->keys[0] ? "curve" : "insecure");
    wp_json_key(j, "keys");
    if (cl->keys[0])
        wp_json_str(j, cl->keys);
    else
        wp_json_null(j);
}

/* Every process of the cluster as a JSON list (status, up). */
void wpctl_cluster_json(const wpctl_cluster *cl, wp_json *j)
{
    wp_json_arr_begin(j);
    for (size_t i = 0; i < cl->n; i++) {
        json_proc(j, cl, cl->nodes[i].id, "node", cl->nodes[i].city, cl->nodes[i].pid,
                  cl->nodes[i].admin, cl->nodes[i].metrics, wpctl_node_running(&cl->nodes[i]));
        wp_json_key(j, "gossip");
        wp_json_str(j, cl->nodes[i].gossip);
        wp_json_key(j, "request_endpoint");
        wp_json_str(j, cl->nodes[i].request);
        wp_json_obj_end(j);
    }
    for (size_t i = 0; i < cl->n_placement; i++) {
        char id_s[32];
        snprintf(id_s, sizeof id_s, "placement-%u", cl->placement[i].id);
        json_proc(j, cl, id_s, "placement", "", cl->placement[i].pid, cl->placement[i].api,
                  cl->placement[i].metrics, wpctl_placement_running(&cl->placement[i]));
        wp_json_key(j, "raft");
        wp_json_str(j, cl->placement[i].raft);
        wp_json_obj_end(j);
    }
    wp_json_arr_end(j);
}

