/* wpctl cluster — start, inspect and stop a local multi-process cluster.
 *
 *   wpctl cluster up [--preset tiny | --cities FRA,SIN,...] [--nodes-per-city N]
 *                    [--dir D] [--emulate-wan] [--probe-interval-ms MS]
 *                    [--gpus N] [--gpu-mem-gb G] [--timeout-s S]
 *   wpctl cluster status [--dir D] [--json]
 *   wpctl cluster restart ID [--dir D]
 *   wpctl cluster down [--dir D]
 *
 * `up` picks free loopback ports (bind to port 0, read it back, all held
 * until every port is chosen), starts each wp-node in its own session with
 * its log in DIR/logs/ID.log and its state in DIR/state/ID, writes
 * DIR/cluster.txt, and waits until every node's admin endpoint reports all
 * members alive. wp-node is found through $WP_NODE_BIN, else next to this
 * binary (/proc/self/exe: ../node/wp-node from build/tools/wpctl, or the
 * same directory), else on $PATH. */
#include "tools/wpctl/cluster.h"
#include "tools/wpctl/wpctl.h"
#include "gpu_worker/gpu_worker.h"
#include "placement/client.h"
#include "sim/sim.h"
#include "topology/topology.h"

#include <arpa/inet.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const help_cluster =
    "usage: wpctl cluster COMMAND [OPTIONS]\n\n"
    "A local cluster of wp-node processes on loopback, recorded in a cluster\n"
    "directory (--dir D, else $WP_CLUSTER_DIR, else ./.cluster).\n\n"
    "  up [--preset tiny | --cities FRA,SIN,...] [--nodes-per-city N] [--dir D]\n"
    "     [--emulate-wan] [--probe-interval-ms MS] [--gpus N] [--gpu-mem-gb G]\n"
    "     [--timeout-s S] [--placement N] [--gpu-backend cuda|cpu|model]\n"
    "     [--model-file NAME=PATH]... [--rtt-params FILE]\n"
    "        start N wp-placement servers (default 3; 0 = none; their API\n"
    "        addresses go to DIR/placement.endpoints and the simulator's default\n"
    "        catalog is loaded into them), then the nodes, each with a request\n"
    "        endpoint (proto/inference.proto) and the placement servers, and wait\n"
    "        until all have joined; --model-file (cpu/cuda) is given to every node,\n"
    "        --rtt-params (the WAN emulation's RTT model, wpctl topo fit --out) too\n"
    "        (default: --preset tiny, 1 node per city, memberlist timings,\n"
    "        1 GPU and 24 GiB free per node, wait up to 30 s)\n"
    "  status [--dir D] [--json]\n"
    "        every process: id, role, city, pid, endpoint, running\n"
    "  restart ID [--dir D]\n"
    "        start node ID again (same ports and state dir: it rejoins with a\n"
    "        higher incarnation)\n"
    "  down [--dir D]\n"
    "        stop every process (SIGTERM, then SIGKILL after 10 s)\n\n"
    "$WP_NODE_BIN and $WP_PLACEMENT_BIN override where the wp-node and\n"
    "wp-placement binaries are found.\n";

/* ---------------------------------------------------------------- helpers */

static int find_bin(const char *envname, const char *name, const char *subdir, char *out,
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

static int find_node_bin(char *out, size_t cap)
{
    const char *env = getenv("WP_NODE_BIN");
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
            const char *cands[] = {"../node/wp-node", "wp-node", "../bin/wp-node"};
            for (size_t i = 0; i < WP_ARRAY_LEN(cands); i++) {
                int w = snprintf(out, cap, "%s/%s", self, cands[i]);
                if (w > 0 && (size_t)w < cap && access(out, X_OK) == 0)
                    return 0;
            }
        }
    }
    snprintf(out, cap, "wp-node"); /* execvp searches $PATH */
    return 0;
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

static pid_t spawn_node(const char *bin, const wpctl_cluster *c, const wpctl_node_rec *r,
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
    const char *argv[48];
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
    argv[a] = NULL;
    return spawn_daemon(bin, argv, logpath, err);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Stops pids: SIGTERM, wait up to grace_ms, then SIGKILL. Returns how many
 * were still running at the end. */
static size_t stop_all(wpctl_cluster *c, int grace_ms)
{
    for (size_t i = 0; i < c->n; i++)
        if (wpctl_pid_is_node(c->nodes[i].pid))
            kill(c->nodes[i].pid, SIGTERM);
    for (int waited = 0; waited < grace_ms; waited += 50) {
        size_t alive = 0;
        for (size_t i = 0; i < c->n; i++) {
            waitpid(c->nodes[i].pid, NULL, WNOHANG); /* ours when called from `up` */
            alive += wpctl_pid_is_node(c->nodes[i].pid);
        }
        if (!alive)
            return 0;
        sleep_ms(50);
    }
    for (size_t i = 0; i < c->n; i++)
        if (wpctl_pid_is_node(c->nodes[i].pid))
            kill(c->nodes[i].pid, SIGKILL);
    size_t left = 0;
    for (int waited = 0; waited < 2000; waited += 50) {
        left = 0;
        for (size_t i = 0; i < c->n; i++) {
            waitpid(c->nodes[i].pid, NULL, WNOHANG);
            left += wpctl_pid_is_node(c->nodes[i].pid);
        }
        if (!left)
            break;
        sleep_ms(50);
    }
    return left;
}

static int query_status(const char *endpoint, uint32_t *alive, uint32_t *total, wp_err *err)
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

/* Join addresses for node i: up to 3 other nodes, the first ones. */
static void join_list(const wpctl_cluster *c, size_t i, char *out, size_t cap)
{
    out[0] = '\0';
    size_t used = 0, k = 0;
    for (size_t j = 0; j < c->n && k < 3; j++) {
        if (j == i)
            continue;
        int w = snprintf(out + used, cap - used, "%s%s", k ? "," : "", c->nodes[j].gossip);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
        k++;
    }
}

/* Starts placement server i of c (argv as scripts/placement-up.sh). */
static pid_t spawn_placement(const char *bin, const wpctl_cluster *c, size_t i, wp_err *err)
{
    char peers[WPCTL_CLUSTER_MAX_PLACEMENT * (2 * WP_GOSSIP_ADDR_MAX + 16)];
    size_t used = 0;
    peers[0] = '\0';
    for (size_t k = 0; k < c->n_placement; k++) {
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
    /* Named by the API port too: a fresh `cluster up` (new ports) starts a
     * fresh raft cluster instead of finding another's state. */
    const char *port = strrchr(c->placement[i].api, ':');
    snprintf(datadir, sizeof datadir, "%s/placement-%u-%s", c->dir, c->placement[i].id,
             port ? port + 1 : "0");
    snprintf(logdir, sizeof logdir, "%s/logs", c->dir);
    mkdir(logdir, 0755);
    snprintf(logpath, sizeof logpath, "%s/placement-%u.log", logdir, c->placement[i].id);
    const char *raft = c->placement[i].raft;
    if (strncmp(raft, "tcp://", 6) == 0)
        raft += 6;
    const char *argv[] = {bin,      "--id",       id_s,  "--bind", c->placement[i].api,
                          "--raft", raft,         "--peers", peers, "--data-dir",
                          datadir,  "--topology", "edge", NULL};
    return spawn_daemon(bin, argv, logpath, err);
}

static int write_placement_endpoints(const wpctl_cluster *c, wp_err *err)
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
static int load_default_catalog(const wpctl_cluster *c, int timeout_s, size_t *added, wp_err *err)
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
        if (rv == WP_OK || wp_clock_monotonic_ns() > deadline)
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

static size_t stop_placement(wpctl_cluster *c, int grace_ms)
{
    for (size_t i = 0; i < c->n_placement; i++)
        if (wpctl_pid_is_proc(c->placement[i].pid, "wp-placement"))
            kill(c->placement[i].pid, SIGTERM);
    size_t alive = 0;
    for (int waited = 0; waited <= grace_ms; waited += 50) {
        alive = 0;
        for (size_t i = 0; i < c->n_placement; i++) {
            waitpid(c->placement[i].pid, NULL, WNOHANG);
            alive += wpctl_pid_is_proc(c->placement[i].pid, "wp-placement");
        }
        if (!alive)
            return 0;
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < c->n_placement; i++)
        if (wpctl_pid_is_proc(c->placement[i].pid, "wp-placement"))
            kill(c->placement[i].pid, SIGKILL);
    struct timespec ts = {0, 200000000L};
    nanosleep(&ts, NULL);
    alive = 0;
    for (size_t i = 0; i < c->n_placement; i++) {
        waitpid(c->placement[i].pid, NULL, WNOHANG);
        alive += wpctl_pid_is_proc(c->placement[i].pid, "wp-placement");
    }
    return alive;
}

/* ---------------------------------------------------------------- up */

static int cluster_up(int argc, char **argv)
{
    static const struct option opts[] = {
        {"preset", required_argument, NULL, 'p'},    {"cities", required_argument, NULL, 'c'},
        {"nodes-per-city", required_argument, NULL, 'n'}, {"dir", required_argument, NULL, 'd'},
        {"emulate-wan", no_argument, NULL, 'w'},     {"probe-interval-ms", required_argument, NULL, 'i'},
        {"gpus", required_argument, NULL, 'g'},      {"gpu-mem-gb", required_argument, NULL, 'm'},
        {"timeout-s", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {"placement", required_argument, NULL, 'P'}, {"gpu-backend", required_argument, NULL, 'B'},
        {"model-file", required_argument, NULL, 'M'}, {"rtt-params", required_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "cluster up";
    const char *rtt_params = NULL;
    int64_t n_pl = 3;
    int backend = -1;
    const char *mfiles[WPCTL_CLUSTER_MAX_MODEL_FILES];
    size_t n_mf = 0;
    const char *preset = NULL, *cities = NULL, *dir_flag = NULL;
    int64_t per_city = 1, probe_ms = 0, gpus = 1, timeout_s = 30;
    double mem_gb = 24;
    bool wan = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': preset = optarg; break;
        case 'c': cities = optarg; break;
        case 'd': dir_flag = optarg; break;
        case 'w': wan = true; break;
        case 'R': rtt_params = optarg; break;
        case 'n':
            if (wp_parse_int64(optarg, &per_city) || per_city < 1 || per_city > 64)
                return wpctl_usage_error(cmd, "--nodes-per-city must be 1..64, got '%s'", optarg);
            break;
        case 'i':
            if (wp_parse_int64(optarg, &probe_ms) || probe_ms < 10 || probe_ms > 600000)
                return wpctl_usage_error(cmd, "--probe-interval-ms must be 10..600000, got '%s'",
                                         optarg);
            break;
        case 'g':
            if (wp_parse_int64(optarg, &gpus) || gpus < 0 || gpus > 1024)
                return wpctl_usage_error(cmd, "--gpus must be 0..1024, got '%s'", optarg);
            break;
        case 'm':
            if (wp_parse_double(optarg, &mem_gb) || !(mem_gb >= 0 && mem_gb <= 1e6))
                return wpctl_usage_error(cmd, "--gpu-mem-gb must be 0..1000000, got '%s'", optarg);
            break;
        case 't':
            if (wp_parse_int64(optarg, &timeout_s) || timeout_s < 1 || timeout_s > 3600)
                return wpctl_usage_error(cmd, "--timeout-s must be 1..3600, got '%s'", optarg);
            break;
        case 'P':
            if (wp_parse_int64(optarg, &n_pl) || n_pl < 0 ||
                n_pl > (int64_t)WPCTL_CLUSTER_MAX_PLACEMENT)
                return wpctl_usage_error(cmd, "--placement must be 0..%u, got '%s'",
                                         WPCTL_CLUSTER_MAX_PLACEMENT, optarg);
            break;
        case 'M': {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || !eq[1] || strchr(optarg, ' ') || strlen(optarg) >= 512)
                return wpctl_usage_error(cmd, "--model-file wants NAME=PATH (no spaces), got '%s'",
                                         optarg);
            if (n_mf == WPCTL_CLUSTER_MAX_MODEL_FILES)
                return wpctl_usage_error(cmd, "at most %u --model-file",
                                         WPCTL_CLUSTER_MAX_MODEL_FILES);
            mfiles[n_mf++] = optarg;
            break;
        }
        case 'B':
            if (wp_gpu_kind_parse(optarg, &backend) != WP_OK)
                return wpctl_usage_error(cmd, "--gpu-backend must be cuda, cpu or model, got '%s'",
                                         optarg);
            break;
        case 'h':
            fputs(help_cluster, stdout);
            return WPCTL_OK;
        default:
            return wpctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return wpctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (preset && cities)
        return wpctl_usage_error(cmd, "give --preset or --cities, not both");

    wp_err err;
    wp_err_clear(&err);
    const char *dir = wpctl_cluster_dir(dir_flag);
    wpctl_cluster *cl = calloc(1, sizeof *cl);
    if (!cl)
        return wpctl_fail("out of memory");
    int rc = WPCTL_FAIL;
    /* Refuse to start over a cluster that is still running. */
    if (wpctl_cluster_load(dir, cl, &err) == WP_OK) {
        for (size_t i = 0; i < cl->n; i++)
            if (wpctl_pid_is_node(cl->nodes[i].pid)) {
                rc = wpctl_fail("a cluster is already running in %s; 'wpctl cluster down "
                                "--dir %s' first",
                                dir, dir);
                free(cl);
                return rc;
            }
    }
    memset(cl, 0, sizeof *cl);
    if (strlen(dir) >= sizeof cl->dir - 64) {
        free(cl);
        return wpctl_usage_error(cmd, "--dir path too long");
    }
    snprintf(cl->dir, sizeof cl->dir, "%s", dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        free(cl);
        return wpctl_fail("cannot create %s: %s", dir, strerror(errno));
    }
    cl->emulate_wan = wan;
    if (rtt_params) {
        /* Checked here, so a bad file is one line now rather than N dead
         * nodes; absolute, as a restart may run from another directory. */
        wp_rtt_params rp;
        wp_err perr;
        wp_err_clear(&perr);
        char abs[PATH_MAX];
        if (wp_rtt_params_load(rtt_params, &rp, &perr) != WP_OK) {
            free(cl);
            return wpctl_fail("%s", wp_err_text(&perr));
        }
        if (!realpath(rtt_params, abs) || strlen(abs) >= sizeof cl->rtt_params ||
            strpbrk(abs, " \t")) {
            free(cl);
            return wpctl_fail("--rtt-params %s: the path must resolve to under %zu bytes "
                              "without spaces", rtt_params, sizeof cl->rtt_params);
        }
        snprintf(cl->rtt_params, sizeof cl->rtt_params, "%s", abs);
    }
    cl->probe_interval_ms = (uint32_t)probe_ms;
    cl->gpus = (uint32_t)gpus;
    cl->gpu_backend = backend >= 0 ? (uint32_t)backend + 1u : 0u;
    for (size_t i = 0; i < n_mf; i++) {
        /* A restart may run from another directory: an absolute path. */
        const char *eq = strchr(mfiles[i], '=');
        char abs[PATH_MAX];
        if (!realpath(eq + 1, abs)) {
            free(cl);
            return wpctl_fail("--model-file %s: %s", mfiles[i], strerror(errno));
        }
        int w = snprintf(cl->model_files[i], sizeof cl->model_files[i], "%.*s=%s",
                         (int)(eq - mfiles[i]), mfiles[i], abs);
        if (w < 0 || (size_t)w >= sizeof cl->model_files[i] || strchr(abs, ' ')) {
            free(cl);
            return wpctl_usage_error(cmd, "--model-file path too long or has a space");
        }
    }
    cl->n_model_files = n_mf;
    cl->gpu_mem_mib = (uint64_t)(mem_gb * 1024.0 + 0.5);

    /* City list: validated against the edge preset (what wp-node checks). */
    wp_topology *edge = NULL, *tiny = NULL;
    if (wp_topo_load_preset("edge", NULL, &edge, &err)) {
        free(cl);
        return wpctl_fail("%s", wp_err_text(&err));
    }
    char codes[WPCTL_CLUSTER_MAX_NODES][WP_GOSSIP_CITY_MAX];
    size_t ncity = 0;
    if (cities) {
        char *copy = strdup(cities);
        for (char *t = strtok(copy, ","); t; t = strtok(NULL, ",")) {
            int ci = wp_topo_find(edge, t);
            if (ci < 0 || ncity >= WPCTL_CLUSTER_MAX_NODES) {
                rc = ci < 0 ? wpctl_usage_error(cmd, "unknown city '%s' (not in the edge preset)", t)
                            : wpctl_usage_error(cmd, "too many cities");
                free(copy);
                goto out;
            }
            snprintf(codes[ncity++], WP_GOSSIP_CITY_MAX, "%s", wp_topo_city(edge, (size_t)ci)->code);
        }
        free(copy);
    } else {
        const char *pname = preset ? preset : "tiny";
        if (strcmp(pname, "tiny") != 0 && strcmp(pname, "edge") != 0) {
            rc = wpctl_usage_error(cmd, "--preset must be tiny or edge for a local cluster");
            goto out;
        }
        if (wp_topo_load_preset(pname, NULL, &tiny, &err)) {
            rc = wpctl_fail("%s", wp_err_text(&err));
            goto out;
        }
        for (size_t i = 0; i < wp_topo_count(tiny) && ncity < WPCTL_CLUSTER_MAX_NODES; i++)
            snprintf(codes[ncity++], WP_GOSSIP_CITY_MAX, "%s", wp_topo_city(tiny, i)->code);
    }
    if (ncity == 0) {
        rc = wpctl_usage_error(cmd, "no cities");
        goto out;
    }
    size_t total = ncity * (size_t)per_city;
    if (total > WPCTL_CLUSTER_MAX_NODES) {
        rc = wpctl_usage_error(cmd, "%zu nodes is more than %u", total, WPCTL_CLUSTER_MAX_NODES);
        goto out;
    }
    size_t nports = 3 * total + 2 * (size_t)n_pl;
    int *ports = calloc(nports, sizeof *ports);
    if (!ports || wp_loopback_ports(ports, nports, &err)) {
        free(ports);
        rc = wpctl_fail("%s", wp_err_text(&err));
        goto out;
    }
    for (size_t i = 0; i < total; i++) {
        wpctl_node_rec *r = &cl->nodes[i];
        const char *code = codes[i / (size_t)per_city];
        snprintf(r->city, sizeof r->city, "%s", code);
        snprintf(r->id, sizeof r->id, "%.31s-%zu", code, i % (size_t)per_city + 1);
        for (char *p = r->id; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        snprintf(r->gossip, sizeof r->gossip, "tcp://127.0.0.1:%d", ports[2 * i]);
        snprintf(r->admin, sizeof r->admin, "tcp://127.0.0.1:%d", ports[2 * i + 1]);
        snprintf(r->request, sizeof r->request, "tcp://127.0.0.1:%d", ports[2 * total + i]);
    }
    cl->n_placement = (size_t)n_pl;
    for (size_t i = 0; i < (size_t)n_pl; i++) {
        wpctl_placement_rec *pr = &cl->placement[i];
        pr->id = (uint32_t)i + 1;
        snprintf(pr->api, sizeof pr->api, "tcp://127.0.0.1:%d", ports[3 * total + 2 * i]);
        snprintf(pr->raft, sizeof pr->raft, "127.0.0.1:%d", ports[3 * total + 2 * i + 1]);
    }
    free(ports);
    cl->n = total;
    char bin[1024];
    if (find_node_bin(bin, sizeof bin) != 0) {
        rc = wpctl_fail("WP_NODE_BIN=%s is not an executable file", bin);
        goto out;
    }
    if (cl->n_placement) {
        char pbin[1024];
        if (find_bin("WP_PLACEMENT_BIN", "wp-placement", "placement", pbin, sizeof pbin) != 0) {
            rc = wpctl_fail("WP_PLACEMENT_BIN=%s is not an executable file", pbin);
            goto out;
        }
        for (size_t i = 0; i < cl->n_placement; i++) {
            pid_t pid = spawn_placement(pbin, cl, i, &err);
            if (pid < 0) {
                cl->n_placement = i;
                stop_placement(cl, 3000);
                rc = wpctl_fail("%s", wp_err_text(&err));
                goto out;
            }
            cl->placement[i].pid = pid;
        }
        size_t added = 0;
        if (write_placement_endpoints(cl, &err) ||
            load_default_catalog(cl, (int)timeout_s, &added, &err)) {
            stop_placement(cl, 3000);
            rc = wpctl_fail("placement: %s; logs in %s/logs", wp_err_text(&err), dir);
            goto out;
        }
        printf("placement: %zu servers up, %zu catalog model(s) loaded\n", cl->n_placement,
               added);
    } else {
        write_placement_endpoints(cl, &err);
    }
    for (size_t i = 0; i < total; i++) {
        char joins[WP_GOSSIP_ADDR_MAX * 3 + 8];
        join_list(cl, i, joins, sizeof joins);
        pid_t pid = spawn_node(bin, cl, &cl->nodes[i], i == 0 ? "" : joins, (int)gpus, mem_gb,
                               &err);
        if (pid < 0) {
            cl->n = i;
            stop_all(cl, 5000);
            stop_placement(cl, 3000);
            rc = wpctl_fail("%s", wp_err_text(&err));
            goto out;
        }
        cl->nodes[i].pid = pid;
    }
    if (wpctl_cluster_save(cl, &err)) {
        stop_all(cl, 5000);
            stop_placement(cl, 3000);
        rc = wpctl_fail("%s", wp_err_text(&err));
        goto out;
    }
    /* Wait until every node sees every member alive. */
    uint64_t deadline = wp_clock_monotonic_ns() + (uint64_t)timeout_s * WP_NS_PER_S;
    size_t ready = 0;
    while (wp_clock_monotonic_ns() < deadline) {
        ready = 0;
        for (size_t i = 0; i < total; i++) {
            int st;
            if (waitpid(cl->nodes[i].pid, &st, WNOHANG) == cl->nodes[i].pid) {
                stop_all(cl, 5000);
            stop_placement(cl, 3000);
                rc = wpctl_fail("node %s exited at start (exit %d); see %s/logs/%s.log",
                                cl->nodes[i].id, WIFEXITED(st) ? WEXITSTATUS(st) : -1, dir,
                                cl->nodes[i].id);
                goto out;
            }
            uint32_t alive = 0, tot = 0;
            wp_err qerr;
            if (query_status(cl->nodes[i].admin, &alive, &tot, &qerr) == WP_OK &&
                alive == total)
                ready++;
        }
        if (ready == total)
            break;
        sleep_ms(200);
    }
    if (ready != total) {
        stop_all(cl, 5000);
            stop_placement(cl, 3000);
        rc = wpctl_fail("only %zu of %zu nodes saw the whole cluster within %lld s; logs in %s/logs",
                        ready, total, (long long)timeout_s, dir);
        goto out;
    }
    printf("cluster up: %zu nodes in %zu cities, dir %s%s\n", total, ncity, dir,
           wan ? ", WAN emulation on" : "");
    for (size_t i = 0; i < total; i++)
        printf("  %-12s %-5s pid %-7ld gossip %s admin %s request %s\n", cl->nodes[i].id,
               cl->nodes[i].city, (long)cl->nodes[i].pid, cl->nodes[i].gossip,
               cl->nodes[i].admin, cl->nodes[i].request);
    for (size_t i = 0; i < cl->n_placement; i++)
        printf("  placement-%-2u      pid %-7ld api %s raft %s\n", cl->placement[i].id,
               (long)cl->placement[i].pid, cl->placement[i].api, cl->placement[i].raft);
    rc = WPCTL_OK;
out:
    wp_topo_free(edge);
    wp_topo_free(tiny);
    free(cl);
    return rc;
}

/* ---------------------------------------------------------------- status/down/restart */

static int parse_dir_json(const char *cmd, int argc, char **argv, const char **dir, bool *json,
                          bool allow_json, const char **pos)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': *dir = optarg; break;
        case 'j':
            if (!allow_json)
                return wpctl_usage_error(cmd, "--json is not an option here");
            *json = true;
            break;
        case 'h':
            fputs(help_cluster, stdout);
            return -1;
        default:
            return wpctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (pos) {
        if (optind >= argc)
            return wpctl_usage_error(cmd, "a node id is required");
        *pos = argv[optind++];
    }
    if (optind < argc)
        return wpctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* The cluster recorded in --dir (or the default directory), heap-allocated
 * (the record is large); NULL after printing the one-line reason. */
static wpctl_cluster *load_cluster_or_fail(const char *dir_flag)
{
    wpctl_cluster *cl = malloc(sizeof *cl);
    if (!cl) {
        wpctl_fail("out of memory");
        return NULL;
    }
    wp_err err;
    if (wpctl_cluster_load(wpctl_cluster_dir(dir_flag), cl, &err)) {
        free(cl);
        wpctl_fail("%s", wp_err_text(&err));
        return NULL;
    }
    return cl;
}

static int cluster_status(int argc, char **argv)
{
    const char *dir_flag = NULL;
    bool json = false;
    int r = parse_dir_json("cluster status", argc, argv, &dir_flag, &json, true, NULL);
    if (r)
        return r < 0 ? WPCTL_OK : r;
    wpctl_cluster *cl = load_cluster_or_fail(dir_flag);
    if (!cl)
        return WPCTL_FAIL;
    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_arr_begin(&j);
        for (size_t i = 0; i < cl->n; i++) {
            wp_json_obj_begin(&j);
            wp_json_key(&j, "id");
            wp_json_str(&j, cl->nodes[i].id);
            wp_json_key(&j, "role");
            wp_json_str(&j, "node");
            wp_json_key(&j, "city");
            wp_json_str(&j, cl->nodes[i].city);
            wp_json_key(&j, "pid");
            wp_json_int(&j, cl->nodes[i].pid);
            wp_json_key(&j, "endpoint");
            wp_json_str(&j, cl->nodes[i].admin);
            wp_json_key(&j, "gossip");
            wp_json_str(&j, cl->nodes[i].gossip);
            wp_json_key(&j, "request_endpoint");
            wp_json_str(&j, cl->nodes[i].request);
            wp_json_key(&j, "running");
            wp_json_bool(&j, wpctl_pid_is_node(cl->nodes[i].pid));
            wp_json_obj_end(&j);
        }
        for (size_t i = 0; i < cl->n_placement; i++) {
            char pid_s[32];
            snprintf(pid_s, sizeof pid_s, "placement-%u", cl->placement[i].id);
            wp_json_obj_begin(&j);
            wp_json_key(&j, "id");
            wp_json_str(&j, pid_s);
            wp_json_key(&j, "role");
            wp_json_str(&j, "placement");
            wp_json_key(&j, "city");
            wp_json_str(&j, "");
            wp_json_key(&j, "pid");
            wp_json_int(&j, cl->placement[i].pid);
            wp_json_key(&j, "endpoint");
            wp_json_str(&j, cl->placement[i].api);
            wp_json_key(&j, "raft");
            wp_json_str(&j, cl->placement[i].raft);
            wp_json_key(&j, "running");
            wp_json_bool(&j, wpctl_pid_is_proc(cl->placement[i].pid, "wp-placement"));
            wp_json_obj_end(&j);
        }
        wp_json_arr_end(&j);
        wp_json_end(&j);
    } else {
        printf("%-12s %-9s %-5s %-8s %-26s %-26s %s\n", "ID", "ROLE", "CITY", "PID", "ENDPOINT",
               "REQUEST", "RUNNING");
        for (size_t i = 0; i < cl->n; i++)
            printf("%-12s %-9s %-5s %-8ld %-26s %-26s %s\n", cl->nodes[i].id, "node",
                   cl->nodes[i].city, (long)cl->nodes[i].pid, cl->nodes[i].admin,
                   cl->nodes[i].request[0] ? cl->nodes[i].request : "-",
                   wpctl_pid_is_node(cl->nodes[i].pid) ? "yes" : "no");
        for (size_t i = 0; i < cl->n_placement; i++) {
            char id_s[32];
            snprintf(id_s, sizeof id_s, "placement-%u", cl->placement[i].id);
            printf("%-12s %-9s %-5s %-8ld %-26s %-26s %s\n", id_s, "placement", "-",
                   (long)cl->placement[i].pid, cl->placement[i].api, "-",
                   wpctl_pid_is_proc(cl->placement[i].pid, "wp-placement") ? "yes" : "no");
        }
    }
    free(cl);
    return WPCTL_OK;
}

static int cluster_down(int argc, char **argv)
{
    const char *dir_flag = NULL;
    bool json = false;
    int r = parse_dir_json("cluster down", argc, argv, &dir_flag, &json, false, NULL);
    if (r)
        return r < 0 ? WPCTL_OK : r;
    wpctl_cluster *cl = load_cluster_or_fail(dir_flag);
    if (!cl)
        return WPCTL_FAIL;
    size_t running = 0;
    for (size_t i = 0; i < cl->n; i++)
        running += wpctl_pid_is_node(cl->nodes[i].pid);
    for (size_t i = 0; i < cl->n_placement; i++)
        running += wpctl_pid_is_proc(cl->placement[i].pid, "wp-placement");
    size_t left = stop_all(cl, 10000);
    left += stop_placement(cl, 5000);
    free(cl);
    if (left)
        return wpctl_fail("%zu processes still running after SIGKILL", left);
    printf("cluster down: stopped %zu processes\n", running);
    return WPCTL_OK;
}

static int cluster_restart(int argc, char **argv)
{
    const char *dir_flag = NULL, *id = NULL;
    bool json = false;
    int r = parse_dir_json("cluster restart", argc, argv, &dir_flag, &json, false, &id);
    if (r)
        return r < 0 ? WPCTL_OK : r;
    wpctl_cluster *cl = load_cluster_or_fail(dir_flag);
    if (!cl)
        return WPCTL_FAIL;
    wp_err err;
    wp_err_clear(&err);
    int rc = WPCTL_FAIL;
    size_t i = 0;
    while (i < cl->n && strcmp(cl->nodes[i].id, id) != 0)
        i++;
    if (i == cl->n) {
        rc = wpctl_fail("no node '%s' in cluster %s", id, cl->dir);
        goto out;
    }
    if (wpctl_pid_is_node(cl->nodes[i].pid)) {
        rc = wpctl_fail("node %s is running (pid %ld)", id, (long)cl->nodes[i].pid);
        goto out;
    }
    char bin[1024], joins[WP_GOSSIP_ADDR_MAX * 3 + 8];
    if (find_node_bin(bin, sizeof bin) != 0) {
        rc = wpctl_fail("WP_NODE_BIN=%s is not an executable file", bin);
        goto out;
    }
    join_list(cl, i, joins, sizeof joins);
    pid_t pid = spawn_node(bin, cl, &cl->nodes[i], joins, (int)cl->gpus,
                           (double)cl->gpu_mem_mib / 1024.0, &err);
    if (pid < 0) {
        rc = wpctl_fail("%s", wp_err_text(&err));
        goto out;
    }
    cl->nodes[i].pid = pid;
    if (wpctl_cluster_save(cl, &err)) {
        rc = wpctl_fail("%s", wp_err_text(&err));
        goto out;
    }
    /* Wait until it is up and sees someone. */
    for (int k = 0; k < 100; k++) {
        uint32_t alive = 0, tot = 0;
        wp_err qerr;
        if (query_status(cl->nodes[i].admin, &alive, &tot, &qerr) == WP_OK && alive > 1)
            break;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            rc = wpctl_fail("node %s exited at start; see %s/logs/%s.log", id, cl->dir, id);
            goto out;
        }
        sleep_ms(100);
    }
    printf("restarted %s: pid %ld\n", id, (long)pid);
    rc = WPCTL_OK;
out:
    free(cl);
    return rc;
}

int wpctl_cluster_main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(help_cluster, stderr);
        return WPCTL_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(help_cluster, stdout);
        return WPCTL_OK;
    }
    if (strcmp(argv[1], "up") == 0)
        return cluster_up(argc - 1, argv + 1);
    if (strcmp(argv[1], "status") == 0)
        return cluster_status(argc - 1, argv + 1);
    if (strcmp(argv[1], "down") == 0)
        return cluster_down(argc - 1, argv + 1);
    if (strcmp(argv[1], "restart") == 0)
        return cluster_restart(argc - 1, argv + 1);
    return wpctl_usage_error("cluster", "unknown command '%s'", argv[1]);
}
