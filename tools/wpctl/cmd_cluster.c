/* wpctl cluster — start, inspect and stop a local multi-process cluster.
 *
 *   wpctl cluster up [--preset tiny | --cities FRA,SIN,...] [--nodes-per-city N]
 *                    [--dir D] [--emulate-wan] [--probe-interval-ms MS]
 *                    [--gpus N] [--gpu-mem-gb G] [--timeout-s S]
 *   wpctl cluster status [--dir D] [--json]
 *   wpctl cluster restart ID|placement-N [--dir D] [--json]
 *   wpctl cluster down [--dir D] [--purge] [--json]
 *
 * `up` picks free loopback ports (bind to port 0, read it back, all held
 * until every port is chosen), starts each wp-node in its own session with
 * its log in DIR/logs/ID.log and its state in DIR/state/ID, writes
 * DIR/cluster.txt, and waits until every node's admin endpoint reports all
 * members alive. Each process is recorded in DIR/cluster.txt as soon as it
 * is spawned (pid and start time), so a Ctrl-C or SIGTERM during `up` stops
 * exactly what was started, and a `up` killed outright leaves a file that
 * `down` cleans up with. wp-node is found through $WP_NODE_BIN, else next to this
 * binary (/proc/self/exe: ../node/wp-node from build/tools/wpctl, or the
 * same directory), else on $PATH. */
#include "tools/wpctl/cluster.h"
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"
#include "gpu_worker/gpu_worker.h"
#include "placement/client.h"
#include "sim/sim.h"
#include "topology/topology.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Set by SIGINT/SIGTERM during `cluster up` (the signal number). */
static volatile sig_atomic_t up_stop;
static void on_up_signal(int sig)
{
    up_stop = sig;
}

/* Stops the cluster's running processes, nodes first (SIGTERM, grace_ms,
 * then SIGKILL), then the placement servers. Returns how many are left. */
static size_t stop_cluster(const wpctl_cluster *c, int grace_ms)
{
    wpctl_proc procs[WPCTL_CLUSTER_MAX_NODES];
    const char *names[WPCTL_CLUSTER_MAX_NODES];
    for (size_t i = 0; i < c->n; i++) {
        procs[i] = wpctl_node_proc(&c->nodes[i]);
        names[i] = "wp-node";
    }
    size_t left = wpctl_proc_stop(procs, c->n, names, grace_ms);
    for (size_t i = 0; i < c->n_placement; i++) {
        procs[i] = wpctl_placement_proc(&c->placement[i]);
        names[i] = "wp-placement";
    }
    return left + wpctl_proc_stop(procs, c->n_placement, names, grace_ms < 5000 ? grace_ms : 5000);
}

/* ---------------------------------------------------------------- up */

/* `up` was interrupted or failed after starting processes: stop them all.
 * The cluster file stays, naming each one ('cluster status' shows them
 * stopped; 'cluster down' cleans up if any could not be stopped). */
static int up_abort(wpctl_cluster *cl, int rc)
{
    size_t left = stop_cluster(cl, 5000);
    if (left)
        fprintf(stderr, "wpctl: %zu processes did not stop; 'wpctl cluster down --dir %s'\n",
                left, cl->dir);
    return rc;
}

static int up_interrupted(wpctl_cluster *cl)
{
    fprintf(stderr, "wpctl cluster up: interrupted; stopping what was started\n");
    return up_abort(cl, 128 + (int)up_stop);
}

/* Starts the n_placement servers of cl one by one, each in the cluster
 * file before the next, then loads the default catalog. */
static int up_start_placement(wpctl_cluster *cl, size_t n_placement, int timeout_s, bool quiet)
{
    wp_err err;
    wp_err_clear(&err);
    if (n_placement == 0) {
        wpctl_write_placement_endpoints(cl, &err); /* removes a stale file */
        return WPCTL_OK;
    }
    char pbin[1024];
    if (wpctl_find_bin("WP_PLACEMENT_BIN", "wp-placement", "placement", pbin, sizeof pbin) != 0)
        return wpctl_fail("WP_PLACEMENT_BIN=%s is not an executable file", pbin);
    for (size_t i = 0; i < n_placement; i++) {
        cl->n_placement = i + 1; /* what the cluster file names */
        pid_t pid = wpctl_spawn_placement(pbin, cl, i, n_placement, &err);
        if (pid < 0) {
            cl->n_placement = i;
            return up_abort(cl, wpctl_fail("%s", wp_err_text(&err)));
        }
        cl->placement[i].pid = pid;
        cl->placement[i].start_ticks = wpctl_proc_of(pid).start_ticks;
        if (wpctl_cluster_save(cl, &err))
            return up_abort(cl, wpctl_fail("%s", wp_err_text(&err)));
        if (up_stop)
            return up_interrupted(cl);
    }
    size_t added = 0;
    if (wpctl_write_placement_endpoints(cl, &err) ||
        wpctl_load_default_catalog(cl, timeout_s, &up_stop, &added, &err)) {
        if (up_stop)
            return up_interrupted(cl);
        return up_abort(cl, wpctl_fail("placement: %s; logs in %s/logs", wp_err_text(&err),
                                       cl->dir));
    }
    if (!quiet)
        printf("placement: %zu servers up, %zu catalog model(s) loaded\n", cl->n_placement,
               added);
    return WPCTL_OK;
}

/* Starts placement servers and nodes, each recorded in the cluster file
 * as it is spawned (cl->n and cl->n_placement count what was started), and
 * waits until every node sees every member alive. WPCTL_OK, or the exit
 * status after stopping what was started. */
static int up_start(wpctl_cluster *cl, size_t n_placement, size_t total, int gpus, double mem_gb,
                    int timeout_s, bool quiet)
{
    const char *dir = cl->dir;
    int rc;
    wp_err err;
    wp_err_clear(&err);
    char bin[1024];
    if (wpctl_find_node_bin(bin, sizeof bin) != 0)
        return wpctl_fail("WP_NODE_BIN=%s is not an executable file", bin);
    if ((rc = up_start_placement(cl, n_placement, timeout_s, quiet)) != WPCTL_OK)
        return rc;
    for (size_t i = 0; i < total; i++) {
        if (up_stop)
            return up_interrupted(cl);
        char joins[WP_GOSSIP_ADDR_MAX * 3 + 8];
        wpctl_join_list(cl, i, total, joins, sizeof joins);
        pid_t pid = wpctl_spawn_node(bin, cl, &cl->nodes[i], i == 0 ? "" : joins, gpus, mem_gb,
                                     &err);
        if (pid < 0)
            return up_abort(cl, wpctl_fail("%s", wp_err_text(&err)));
        cl->nodes[i].pid = pid;
        cl->nodes[i].start_ticks = wpctl_proc_of(pid).start_ticks;
        cl->n = i + 1;
        if (wpctl_cluster_save(cl, &err))
            return up_abort(cl, wpctl_fail("%s", wp_err_text(&err)));
    }
    /* Wait until every node sees every member alive. */
    uint64_t deadline = wp_clock_monotonic_ns() + (uint64_t)timeout_s * WP_NS_PER_S;
    size_t ready = 0;
    while (wp_clock_monotonic_ns() < deadline && !up_stop) {
        ready = 0;
        for (size_t i = 0; i < total && !up_stop; i++) {
            int st;
            if (waitpid(cl->nodes[i].pid, &st, WNOHANG) == cl->nodes[i].pid) {
                return up_abort(cl, wpctl_fail("node %s exited at start (exit %d); see "
                                               "%s/logs/%s.log",
                                               cl->nodes[i].id,
                                               WIFEXITED(st) ? WEXITSTATUS(st) : -1, dir,
                                               cl->nodes[i].id));
            }
            uint32_t alive = 0, tot = 0;
            wp_err qerr;
            if (wpctl_node_members(cl->nodes[i].admin, &alive, &tot, &qerr) == WP_OK &&
                alive == total)
                ready++;
        }
        if (ready == total)
            break;
        wpctl_sleep_ms(200);
    }
    if (up_stop)
        return up_interrupted(cl);
    if (ready != total)
        return up_abort(cl, wpctl_fail("only %zu of %zu nodes saw the whole cluster within %d s; "
                                       "logs in %s/logs",
                                       ready, total, timeout_s, dir));
    return WPCTL_OK;
}

/* The keys of a secure cluster in kdir (default DIR/keys; made absolute,
 * as a restart may run from another directory): the keys it lacks are
 * made, those present reused (their role checked). Records kdir in cl. */
static int up_keys(wpctl_cluster *cl, const char *kdir, size_t n_placement, size_t total,
                   bool quiet)
{
    char def[600], abs[PATH_MAX];
    wp_err err = {0};
    if (!kdir) {
        snprintf(def, sizeof def, "%s/keys", cl->dir);
        kdir = def;
    }
    struct stat kst;
    bool fresh = kdir == def && stat(kdir, &kst) != 0;
    if (wpctl_keys_dir_ready(kdir, &err) != WP_OK)
        return wpctl_fail("keys: %s", wp_err_text(&err));
    if (fresh) { /* up made DIR/keys: down --purge may take it (cluster.h) */
        char marker[700];
        snprintf(marker, sizeof marker, "%s/%s", kdir, WPCTL_KEYS_MARKER);
        FILE *fp = fopen(marker, "w");
        if (fp) {
            fputs("# made by wpctl cluster up: 'wpctl cluster down --purge' removes this "
                  "directory\n", fp);
            fclose(fp);
        }
    }
    if (!realpath(kdir, abs) || strlen(abs) >= sizeof cl->keys || strpbrk(abs, " \t"))
        return wpctl_fail("--keys %s: the path must resolve to under %zu bytes without spaces",
                          kdir, sizeof cl->keys);
    size_t made = 0;
    bool created;
    const struct {
        const char *name;
        wp_key_role role;
    } fixed[] = {{"cluster", WP_ROLE_SERVER}, {"operator", WP_ROLE_OPERATOR},
                 {"client", WP_ROLE_CLIENT}};
    for (size_t i = 0; i < WP_ARRAY_LEN(fixed); i++) {
        if (wpctl_key_make(abs, fixed[i].name, fixed[i].role, true, NULL, &created, &err) != WP_OK)
            return wpctl_fail("keys: %s", wp_err_text(&err));
        made += created;
    }
    for (size_t i = 0; i < total; i++) {
        if (wpctl_key_make(abs, cl->nodes[i].id, WP_ROLE_NODE, true, NULL, &created, &err) !=
            WP_OK)
            return wpctl_fail("keys: %s", wp_err_text(&err));
        made += created;
    }
    for (size_t i = 0; i < n_placement; i++) {
        char name[32];
        snprintf(name, sizeof name, "placement-%u", cl->placement[i].id);
        if (wpctl_key_make(abs, name, WP_ROLE_PLACEMENT, true, NULL, &created, &err) != WP_OK)
            return wpctl_fail("keys: %s", wp_err_text(&err));
        made += created;
    }
    memcpy(cl->keys, abs, strlen(abs) + 1); /* length checked above */
    if (!quiet && made)
        printf("keys: %zu made in %s\n", made, abs);
    return WPCTL_OK;
}

static int cluster_up_run(int argc, char **argv);

static int cluster_up(int argc, char **argv)
{
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_up_signal;
    sigemptyset(&sa.sa_mask);
    up_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int rc = cluster_up_run(argc, argv);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}

static int cluster_up_run(int argc, char **argv)
{
    const char *cmd = "cluster up";
    int64_t n_pl = 3;
    int backend = -1;
    const char *mfiles[WPCTL_CLUSTER_MAX_MODEL_FILES];
    size_t n_mf = 0;
    const char *preset = NULL, *cities = NULL, *backend_s = NULL;
    wpctl_target t = {0};
    int64_t per_city = 1, probe_ms = 0, gpus = 1, timeout_s = 30;
    double mem_gb = 24;
    bool wan = false, json = false, insecure = false;
    const char *rtt_params = NULL, *host = "127.0.0.1", *keys_flag = NULL;
    const wpctl_flag flags[] = {
        WPF_STR("preset", &preset, "P", "tiny (default) or edge: one node per city of it"),
        WPF_STR("host", &host, "IP",
                "IPv4 address of this host every daemon binds and advertises\n"
                "(default 127.0.0.1; another host's processes can then reach\n"
                "a cluster started on e.g. its LAN address)"),
        WPF_STR("cities", &cities, "LIST", "comma list of edge city codes instead (FRA,SIN,...)"),
        WPF_I64("nodes-per-city", &per_city, 1, 64, "N", "nodes in each city (default 1)"),
        WPF_DIR(&t),
        WPF_BOOL("emulate-wan", &wan, "nodes delay traffic by the RTT model"),
        WPF_STR("rtt-params", &rtt_params, "F",
                "the WAN emulation's RTT model for every node (wpctl topo fit\n"
                "--out F; default: the shipped v2 model)"),
        WPF_I64("probe-interval-ms", &probe_ms, 10, 600000, "MS",
                "gossip probe interval (default: memberlist's)"),
        WPF_I64("gpus", &gpus, 0, 1024, "N", "GPUs per node (default 1)"),
        WPF_DOUBLE("gpu-mem-gb", &mem_gb, 0, 1e6, "G", "free GPU memory per node (default 24)"),
        WPF_I64("timeout-s", &timeout_s, 1, 3600, "S",
                "wait this long for the cluster to form (default 30)"),
        WPF_I64("placement", &n_pl, 0, WPCTL_CLUSTER_MAX_PLACEMENT, "N",
                "placement servers (default 3; 0 = none)"),
        WPF_STR("gpu-backend", &backend_s, "B", "cuda, cpu or model (default: wp-node's)"),
        WPF_STR("model-file", &mfiles[0], "NAME=PATH",
                "a checkpoint given to every node (cpu/cuda); repeatable"),
        WPF_STR("keys", &keys_flag, "KDIR",
                "the cluster's key directory (default DIR/keys): the keys it\n"
                "lacks are made there (files 0600, directory 0700), those\n"
                "present are used as they are"),
        WPF_BOOL("insecure", &insecure,
                 "no keys: plain ZeroMQ and unsigned gossip records; any local\n"
                 "process can join, drain and pin (logged by every daemon,\n"
                 "shown by 'cluster status')"),
        WPF_JSON(&json, "every process started: [{id, role, city, pid, endpoint,\n"
                        "running, security, ...}] (as 'cluster status --json')"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = cmd,
        .about = "Starts N wp-placement servers (their API addresses go to\n"
                 "DIR/placement.endpoints and the simulator's default catalog is loaded\n"
                 "into them), then the nodes, each with a request endpoint\n"
                 "(proto/inference.proto) and the placement servers, and waits until all\n"
                 "have joined. Every process is recorded in DIR/cluster.txt as it is\n"
                 "started; Ctrl-C or SIGTERM stops what was started (exit 130 / 143).\n\n"
                 "Security is on unless --insecure: every daemon gets the key directory\n"
                 "(CurveZMQ on every socket, signed gossip records, raft peers by key),\n"
                 "with a key per node (ID), per placement server (placement-N), the\n"
                 "sockets' server key (cluster), an operator key (operator: what wpctl\n"
                 "uses for this cluster by default) and a client key (client: give it to\n"
                 "inference clients, 'wpctl --key KDIR/client.key traffic ...').\n",
        .flags = flags,
        .footer = "$WP_NODE_BIN and $WP_PLACEMENT_BIN override where the wp-node and\n"
                  "wp-placement binaries are found.\n",
    };
    /* --model-file repeats: collect every occurrence before the table's
     * single destination sees the last one. */
    if (!wpctl_collect_repeated("model-file", argc, argv, mfiles, WPCTL_CLUSTER_MAX_MODEL_FILES,
                                &n_mf))
        return wpctl_usage_error(cmd, "--model-file: at most %u", WPCTL_CLUSTER_MAX_MODEL_FILES);
    const char *first_mf = n_mf ? mfiles[0] : NULL;
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, NULL);
    if (n_mf)
        mfiles[0] = first_mf;
    for (size_t k = 0; k < n_mf; k++) {
        const char *eq = strchr(mfiles[k], '=');
        if (!eq || eq == mfiles[k] || !eq[1] || strchr(mfiles[k], ' ') || strlen(mfiles[k]) >= 512)
            return wpctl_usage_error(cmd, "--model-file: want NAME=PATH (no spaces), got '%s'",
                                     mfiles[k]);
    }
    if (backend_s && wp_gpu_kind_parse(backend_s, &backend) != WP_OK)
        return wpctl_usage_error(cmd, "--gpu-backend: want cuda, cpu or model, got '%s'",
                                 backend_s);
    if (preset && cities)
        return wpctl_usage_error(cmd, "give --preset or --cities, not both");
    if (keys_flag && insecure)
        return wpctl_usage_error(cmd, "--keys and --insecure exclude each other");
    struct in_addr host_in;
    if (inet_pton(AF_INET, host, &host_in) != 1 || host_in.s_addr == htonl(INADDR_ANY))
        return wpctl_usage_error(cmd, "--host: want an IPv4 address of this host (not 0.0.0.0), "
                                      "got '%s'", host);

    wp_err err;
    wp_err_clear(&err);
    const char *dir = wpctl_cluster_dir(t.dir);
    wpctl_cluster *cl = calloc(1, sizeof *cl);
    if (!cl)
        return wpctl_fail("out of memory");
    int rc = WPCTL_FAIL;
    /* Refuse to start over a cluster that is still running. */
    if (wpctl_cluster_load(dir, cl, &err) == WP_OK) {
        for (size_t i = 0; i < cl->n; i++)
            if (wpctl_node_running(&cl->nodes[i])) {
                rc = wpctl_fail("a cluster is already running in %s; 'wpctl cluster down "
                                "--dir %s' first",
                                dir, dir);
                free(cl);
                return rc;
            }
        for (size_t i = 0; i < cl->n_placement; i++)
            if (wpctl_placement_running(&cl->placement[i])) {
                rc = wpctl_fail("placement-%u of an earlier cluster is still running in %s; "
                                "'wpctl cluster down --dir %s' first",
                                cl->placement[i].id, dir, dir);
                free(cl);
                return rc;
            }
    }
    memset(cl, 0, sizeof *cl);
    if (strlen(dir) >= sizeof cl->dir - 64) {
        free(cl);
        return wpctl_usage_error(cmd, "--dir: path too long");
    }
    snprintf(cl->dir, sizeof cl->dir, "%s", dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        free(cl);
        return wpctl_fail("cannot create %s: %s", dir, strerror(errno));
    }
    /* The previous cluster's raft and node state (nothing of it runs). */
    if (wpctl_cluster_purge(dir, false) < 0) {
        rc = wpctl_fail("cannot remove the old state in %s: %s", dir, strerror(errno));
        free(cl);
        return rc;
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
        memcpy(cl->rtt_params, abs, strlen(abs) + 1); /* length checked above */
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
            return wpctl_usage_error(cmd, "--model-file: path too long or has a space");
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
        for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
            int ci = wp_topo_find(edge, tok);
            if (ci < 0 || ncity >= WPCTL_CLUSTER_MAX_NODES) {
                rc = ci < 0 ? wpctl_usage_error(cmd, "unknown city '%s' (not in the edge preset)",
                                                tok)
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
            rc = wpctl_usage_error(cmd, "--preset: tiny or edge for a local cluster, got '%s'",
                                   pname);
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
    size_t nports = 4 * total + 3 * (size_t)n_pl; /* + a metrics port each */
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
        snprintf(r->gossip, sizeof r->gossip, "tcp://%s:%d", host, ports[2 * i]);
        snprintf(r->admin, sizeof r->admin, "tcp://%s:%d", host, ports[2 * i + 1]);
        snprintf(r->request, sizeof r->request, "tcp://%s:%d", host, ports[2 * total + i]);
        snprintf(r->metrics, sizeof r->metrics, "%s:%d", host,
                 ports[3 * total + 2 * (size_t)n_pl + i]);
    }
    size_t n_placement = (size_t)n_pl;
    for (size_t i = 0; i < n_placement; i++) {
        wpctl_placement_rec *pr = &cl->placement[i];
        pr->id = (uint32_t)i + 1;
        snprintf(pr->api, sizeof pr->api, "tcp://%s:%d", host, ports[3 * total + 2 * i]);
        snprintf(pr->raft, sizeof pr->raft, "%s:%d", host, ports[3 * total + 2 * i + 1]);
        snprintf(pr->metrics, sizeof pr->metrics, "%s:%d", host,
                 ports[4 * total + 2 * (size_t)n_pl + i]);
    }
    free(ports);
    if (!insecure && (rc = up_keys(cl, keys_flag, n_placement, total, json)) != WPCTL_OK)
        goto out;
    /* The key wpctl itself uses for this cluster from here on (the
     * readiness polls below, and every later command). */
    if (wpctl_cluster_save(cl, &err) != WP_OK) {
        rc = wpctl_fail("%s", wp_err_text(&err));
        goto out;
    }
    wpctl_cluster_key_default(cl->dir);
    if (insecure)
        fprintf(stderr, "wpctl: cluster up --insecure: no keys; any process that reaches these "
                        "ports can join, drain and pin\n");
    if ((rc = up_start(cl, n_placement, total, (int)gpus, mem_gb, (int)timeout_s, json)) !=
        WPCTL_OK)
        goto out;
    if (wpctl_cluster_write_prometheus(cl, &err) != WP_OK) {
        rc = wpctl_fail("%s", wp_err_text(&err));
        goto out;
    }
    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wpctl_cluster_json(cl, &j);
        wp_json_end(&j);
    } else {
        printf("cluster up: %zu nodes in %zu cities, dir %s%s\n", total, ncity, dir,
               wan ? ", WAN emulation on" : "");
        wpctl_print_security(cl);
        for (size_t i = 0; i < total; i++)
            printf("  %-12s %-5s pid %-7ld gossip %s admin %s request %s metrics %s\n",
                   cl->nodes[i].id, cl->nodes[i].city, (long)cl->nodes[i].pid,
                   cl->nodes[i].gossip, cl->nodes[i].admin, cl->nodes[i].request,
                   cl->nodes[i].metrics);
        for (size_t i = 0; i < cl->n_placement; i++)
            printf("  placement-%-2u      pid %-7ld api %s raft %s metrics %s\n",
                   cl->placement[i].id, (long)cl->placement[i].pid, cl->placement[i].api,
                   cl->placement[i].raft, cl->placement[i].metrics);

        printf("prometheus: prometheus --config.file=%s/prometheus.yml\n", dir);
    }
    rc = WPCTL_OK;
out:
    wp_topo_free(edge);
    wp_topo_free(tiny);
    free(cl);
    return rc;
}

/* ---------------------------------------------------------------- status/down/restart */

/* Parses argv by spec, then loads the cluster recorded in t->dir (or the
 * default directory), heap-allocated (the record is large). NULL with *rc
 * the exit status when the command ends here (help, usage error, no
 * cluster: the reason printed on one line). */
static wpctl_cluster *parse_and_load(const wpctl_spec *spec, int argc, char **argv,
                                     const wpctl_target *t, wpctl_args *a, int *rc)
{
    *rc = wpctl_parse(spec, argc, argv, a);
    if (*rc != WPCTL_CONTINUE)
        return NULL;
    *rc = WPCTL_FAIL;
    wpctl_cluster *cl = malloc(sizeof *cl);
    if (!cl) {
        wpctl_fail("out of memory");
        return NULL;
    }
    wp_err err;
    if (wpctl_cluster_load(wpctl_cluster_dir(t->dir), cl, &err)) {
        free(cl);
        wpctl_fail("%s", wp_err_text(&err));
        return NULL;
    }
    return cl;
}

static int cluster_status(int argc, char **argv)
{
    wpctl_target t = {0};
    bool json = false;
    const wpctl_flag flags[] = {
        WPF_DIR(&t),
        WPF_JSON(&json, "[{id, role, city, pid, endpoint, metrics, running,\n"
                        "security (\"curve\" or \"insecure\"), keys (the key\n"
                        "directory, null when insecure), gossip, request_endpoint | raft}]"),
        WPF_END,
    };
    const wpctl_spec spec = {.name = "cluster status",
                             .about = "The cluster's security mode (CurveZMQ with its key\n"
                                      "directory, or --insecure), then every process: id, role,\n"
                                      "city, pid, endpoint, running.\n",
                             .flags = flags};
    int rc;
    wpctl_cluster *cl = parse_and_load(&spec, argc, argv, &t, NULL, &rc);
    if (!cl)
        return rc;
    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wpctl_cluster_json(cl, &j);
        wp_json_end(&j);
    } else {
        wpctl_print_security(cl);
        printf("%-12s %-9s %-5s %-8s %-26s %-26s %-21s %s\n", "ID", "ROLE", "CITY", "PID",
               "ENDPOINT", "REQUEST", "METRICS", "RUNNING");
        for (size_t i = 0; i < cl->n; i++)
            printf("%-12s %-9s %-5s %-8ld %-26s %-26s %-21s %s\n", cl->nodes[i].id, "node",
                   cl->nodes[i].city, (long)cl->nodes[i].pid, cl->nodes[i].admin,
                   cl->nodes[i].request[0] ? cl->nodes[i].request : "-",
                   cl->nodes[i].metrics[0] ? cl->nodes[i].metrics : "-",
                   wpctl_node_running(&cl->nodes[i]) ? "yes" : "no");
        for (size_t i = 0; i < cl->n_placement; i++) {
            char id_s[32];
            snprintf(id_s, sizeof id_s, "placement-%u", cl->placement[i].id);
            printf("%-12s %-9s %-5s %-8ld %-26s %-26s %-21s %s\n", id_s, "placement", "-",
                   (long)cl->placement[i].pid, cl->placement[i].api, "-",
                   cl->placement[i].metrics[0] ? cl->placement[i].metrics : "-",
                   wpctl_placement_running(&cl->placement[i]) ? "yes" : "no");
        }
    }
    free(cl);
    return WPCTL_OK;
}

static int cluster_down(int argc, char **argv)
{
    wpctl_target t = {0};
    bool json = false, purge = false;
    const wpctl_flag flags[] = {
        WPF_DIR(&t),
        WPF_BOOL("purge", &purge, "also remove the state: raft folders, node state, logs,\n"
                                  "the cluster file, DIR/keys when 'up' made it (keys you\n"
                                  "made there yourself stay otherwise; a --keys directory\n"
                                  "elsewhere always stays), and the directory when empty"),
        WPF_JSON(&json, "{stopped, still_running, purged}"),
        WPF_END,
    };
    const wpctl_spec spec = {.name = "cluster down",
                             .about = "Stops every process of the cluster (SIGTERM, then SIGKILL "
                                      "after 10 s),\nthrough pidfds.\n",
                             .flags = flags};
    int rc;
    wpctl_cluster *cl = parse_and_load(&spec, argc, argv, &t, NULL, &rc);
    if (!cl)
        return rc;
    size_t running = 0;
    for (size_t i = 0; i < cl->n; i++)
        running += wpctl_node_running(&cl->nodes[i]);
    for (size_t i = 0; i < cl->n_placement; i++)
        running += wpctl_placement_running(&cl->placement[i]);
    size_t left = stop_cluster(cl, 10000);
    int purged = 0;
    if (left == 0 && purge && (purged = wpctl_cluster_purge(cl->dir, true)) < 0) {
        rc = wpctl_fail("--purge: %s: %s", cl->dir, strerror(errno));
        free(cl);
        return rc;
    }
    free(cl);
    if (left)
        return wpctl_fail("%zu processes still running after SIGKILL", left);
    if (json) {
        printf("{\"stopped\":%zu,\"still_running\":0,\"purged\":%s}\n", running,
               purge ? "true" : "false");
    } else {
        printf("cluster down: stopped %zu processes%s\n", running,
               purge ? "; state removed" : "");
    }
    return WPCTL_OK;
}

/* Waits until the restarted node is up and sees someone. */
static int wait_node_back(wpctl_cluster *cl, size_t i, pid_t pid)
{
    for (int k = 0; k < 100; k++) {
        uint32_t alive = 0, tot = 0;
        wp_err qerr;
        if (wpctl_node_members(cl->nodes[i].admin, &alive, &tot, &qerr) == WP_OK && alive > 1)
            return WPCTL_OK;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return wpctl_fail("node %s exited at start; see %s/logs/%s.log", cl->nodes[i].id,
                              cl->dir, cl->nodes[i].id);
        wpctl_sleep_ms(100);
    }
    return WPCTL_OK;
}

static int cluster_restart(int argc, char **argv)
{
    wpctl_target t = {0};
    bool json = false;
    const wpctl_flag flags[] = {
        WPF_DIR(&t),
        WPF_JSON(&json, "{id, pid}"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "cluster restart",
        .args = "ID|placement-N",
        .about = "Starts node ID (or placement server N) again, with the same ports and\n"
                 "state: a node rejoins with a higher incarnation, a placement server\n"
                 "rejoins its raft group. Refused while it is running.\n",
        .flags = flags,
        .min_args = 1,
        .max_args = 1,
    };
    wpctl_args a;
    int rc;
    wpctl_cluster *cl = parse_and_load(&spec, argc, argv, &t, &a, &rc);
    if (!cl)
        return rc;
    const char *id = a.argv[0];
    wp_err err;
    wp_err_clear(&err);
    rc = WPCTL_FAIL;
    pid_t pid = -1;
    char bin[1024];
    size_t i = 0;
    while (i < cl->n && strcmp(cl->nodes[i].id, id) != 0)
        i++;
    size_t p = 0;
    while (p < cl->n_placement) {
        char pname[32];
        snprintf(pname, sizeof pname, "placement-%u", cl->placement[p].id);
        if (strcmp(pname, id) == 0)
            break;
        p++;
    }
    if (i < cl->n) {
        if (wpctl_node_running(&cl->nodes[i])) {
            rc = wpctl_fail("node %s is running (pid %ld)", id, (long)cl->nodes[i].pid);
            goto out;
        }
        char joins[WP_GOSSIP_ADDR_MAX * 3 + 8];
        if (wpctl_find_node_bin(bin, sizeof bin) != 0) {
            rc = wpctl_fail("WP_NODE_BIN=%s is not an executable file", bin);
            goto out;
        }
        wpctl_join_list(cl, i, cl->n, joins, sizeof joins);
        pid = wpctl_spawn_node(bin, cl, &cl->nodes[i], joins, (int)cl->gpus,
                         (double)cl->gpu_mem_mib / 1024.0, &err);
        if (pid >= 0) {
            cl->nodes[i].pid = pid;
            cl->nodes[i].start_ticks = wpctl_proc_of(pid).start_ticks;
        }
    } else if (p < cl->n_placement) {
        if (wpctl_placement_running(&cl->placement[p])) {
            rc = wpctl_fail("%s is running (pid %ld)", id, (long)cl->placement[p].pid);
            goto out;
        }
        if (wpctl_find_bin("WP_PLACEMENT_BIN", "wp-placement", "placement", bin, sizeof bin) != 0) {
            rc = wpctl_fail("WP_PLACEMENT_BIN=%s is not an executable file", bin);
            goto out;
        }
        pid = wpctl_spawn_placement(bin, cl, p, cl->n_placement, &err);
        if (pid >= 0) {
            cl->placement[p].pid = pid;
            cl->placement[p].start_ticks = wpctl_proc_of(pid).start_ticks;
        }
    } else {
        rc = wpctl_fail("no node or placement server '%s' in cluster %s", id, cl->dir);
        goto out;
    }
    if (pid < 0) {
        rc = wpctl_fail("%s", wp_err_text(&err));
        goto out;
    }
    if (wpctl_cluster_save(cl, &err)) {
        rc = wpctl_fail("%s", wp_err_text(&err));
        goto out;
    }
    if (i < cl->n && (rc = wait_node_back(cl, i, pid)) != WPCTL_OK)
        goto out;
    if (json)
        printf("{\"id\":\"%s\",\"pid\":%ld}\n", id, (long)pid);
    else
        printf("restarted %s: pid %ld\n", id, (long)pid);
    rc = WPCTL_OK;
out:
    free(cl);
    return rc;
}

int wpctl_cluster_main(int argc, char **argv)
{
    static const struct wpctl_cmd subs[] = {
        {"up", "start placement servers and nodes, wait until all have joined", cluster_up},
        {"status", "every process: id, role, city, pid, endpoint, running", cluster_status},
        {"restart", "start a stopped node or placement server again", cluster_restart},
        {"down", "stop every process (--purge: and remove the state)", cluster_down},
    };
    return wpctl_dispatch("cluster",
                          "A local cluster of wp-node and wp-placement processes on loopback,\n"
                          "recorded in a cluster directory (--dir D, else $WP_CLUSTER_DIR, else\n"
                          "./.cluster). 'wpctl logs ID' shows a process's log.\n",
                          subs, WP_ARRAY_LEN(subs), argc, argv);
}
