/* bench_placement — pin commit latency of wp-placement on loopback, with
 * real processes: three servers (raft on disk under a temporary directory,
 * election 300 ms / heartbeat 30 ms), one client that issues pin and unpin
 * commands one after the other and times each round trip (client → leader
 * → raft commit on a majority → apply → reply). Then the leader is killed
 * with SIGKILL and the time until another server reports itself leader is
 * measured. First, the optimizer alone at edge scale (no processes).
 * Prints JSON lines.
 *
 *   bench_placement [--pins N] [--daemon PATH] [--runs-failover K]
 */
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "placement/client.h"
#include "placement/placement.h"

#define N 3
#define GB (1000ull * 1000 * 1000)

static pid_t pids[N];
static char dir[64];
static char daemon_path[1024];
static char peers[512];
static int raft_port[N], api_port[N];

/* One free loopback port (common/net.c), or -1. */
static int free_port(void)
{
    int port;
    return wp_loopback_ports(&port, 1, NULL) == WP_OK ? port : -1;
}

static void cleanup(void)
{
    for (int i = 0; i < N; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
            pids[i] = 0;
        }
    if (dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_placement: could not remove %s\n", dir);
        dir[0] = '\0';
    }
}

static void on_signal(int sig)
{
    (void)sig;
    cleanup();
    _exit(1);
}

static void spawn(int i)
{
    char id[16], bind[64], raft[64], data[128], log[128];
    snprintf(id, sizeof id, "%d", i + 1);
    snprintf(bind, sizeof bind, "tcp://127.0.0.1:%d", api_port[i]);
    snprintf(raft, sizeof raft, "127.0.0.1:%d", raft_port[i]);
    snprintf(data, sizeof data, "%s/data-%d", dir, i + 1);
    snprintf(log, sizeof log, "%s/log-%d", dir, i + 1);
    pid_t pid = fork();
    if (pid == 0) {
        /* Die with the bench, however it ends (a SIGPIPE from `| head`, a
         * crash): servers must never outlive it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
            _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execl(daemon_path, "wp-placement", "--id", id, "--bind", bind, "--raft", raft, "--peers",
              peers, "--data-dir", data, "--topology", "tiny", "--node-timeout-ms", "0",
              (char *)NULL);
        _exit(127);
    }
    pids[i] = pid;
}

static double now_ms(void)
{
    return (double)wp_clock_monotonic_ns() / 1e6;
}

static int find_leader(wp_placement_client *c, int skip)
{
    for (int i = 0; i < N; i++) {
        if (i == skip)
            continue;
        Warmpath__Placement__Response *r = NULL;
        if (wp_placement_client_status_of(c, (size_t)i, &r, NULL) != WP_OK)
            continue;
        bool lead = strcmp(r->status->role, "leader") == 0;
        warmpath__placement__response__free_unpacked(r, NULL);
        if (lead)
            return i;
    }
    return -1;
}

static int wait_leader(wp_placement_client *c, int skip, double max_ms)
{
    double t0 = now_ms();
    while (now_ms() - t0 < max_ms) {
        int l = find_leader(c, skip);
        if (l >= 0)
            return l;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static int die(const char *what, const wp_err *err)
{
    fprintf(stderr, "bench_placement: %s: %s (logs in %s)\n", what, err ? wp_err_text(err) : "",
            dir);
    dir[0] = '\0'; /* keep the logs */
    cleanup();
    return 1;
}

/* The optimizer alone at edge scale: the edge preset, 2 nodes of 80 GB in
 * each of 190 cities spread over the list, 20 models of 4..61 GB,
 * population demand. The state machine runs this after every command. */
static int bench_optimizer(void)
{
    wp_topology *t = NULL;
    wp_err err = {0};
    if (wp_topo_load_preset("edge", NULL, &t, &err) != WP_OK) {
        fprintf(stderr, "bench_placement: edge: %s\n", wp_err_text(&err));
        return 1;
    }
    size_t C = wp_topo_count(t), sites = C < 190 ? C : 190, nn = 0;
    wp_place_node_in *nodes = calloc(2 * sites, sizeof *nodes);
    wp_model_profile models[20];
    memset(models, 0, sizeof models);
    if (nodes == NULL) {
        wp_topo_free(t);
        return 1;
    }
    for (size_t k = 0; k < sites; k++)
        for (int j = 0; j < 2; j++)
            nodes[nn++] = (wp_place_node_in){(uint32_t)(k * C / sites), 80 * GB, true};
    for (int m = 0; m < 20; m++) {
        snprintf(models[m].name, sizeof models[m].name, "m%d", m);
        models[m].size_bytes = (uint64_t)(4 + 3 * m) * GB;
        models[m].load_bytes_per_s = 2e9;
    }
    static wp_hist h;
    wp_hist_init(&h);
    wp_place_solution s = {0};
    for (int run = 0; run < 10; run++) {
        wp_place_solution_close(&s);
        uint64_t t0 = wp_clock_monotonic_ns();
        if (wp_place_optimize_topo(t, nodes, nn, models, 20, NULL, NULL, 0, 0, &s, &err)) {
            fprintf(stderr, "bench_placement: optimize: %s\n", wp_err_text(&err));
            free(nodes);
            wp_topo_free(t);
            return 1;
        }
        wp_hist_record(&h, wp_clock_monotonic_ns() - t0);
    }
    printf("{\"bench\":\"placement\",\"metric\":\"optimizer_edge\",\"cities\":%zu,"
           "\"nodes\":%zu,\"models\":20,\"replicas\":%zu,\"cost_ms\":%.2f,\"p50_ms\":%.2f,"
           "\"max_ms\":%.2f}\n",
           C, nn, s.n, s.cost_ms, (double)wp_hist_quantile(&h, 0.5) / 1e6, (double)h.max / 1e6);
    fflush(stdout);
    wp_place_solution_close(&s);
    free(nodes);
    wp_topo_free(t);
    return 0;
}

int main(int argc, char **argv)
{
    int64_t pins = 1000, failovers = 3;
    static const struct option opts[] = {
        {"pins", required_argument, 0, 'p'},
        {"daemon", required_argument, 0, 'd'},
        {"runs-failover", required_argument, 0, 'f'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            if (wp_parse_int64(optarg, &pins) != WP_OK || pins < 10 || pins > 1000000) {
                fprintf(stderr, "bench_placement: --pins: expected 10..1000000\n");
                return 2;
            }
            break;
        case 'd': snprintf(daemon_path, sizeof daemon_path, "%s", optarg); break;
        case 'f':
            if (wp_parse_int64(optarg, &failovers) != WP_OK || failovers < 0 || failovers > 20) {
                fprintf(stderr, "bench_placement: --runs-failover: expected 0..20\n");
                return 2;
            }
            break;
        case 'h':
            printf("usage: bench_placement [--pins N] [--daemon PATH] [--runs-failover K]\n\n"
                   "Starts three wp-placement servers on loopback (data on disk in a temporary\n"
                   "directory) and prints, as JSON lines, the pin commit latency seen by a\n"
                   "client (p50/p99 over N sequential pin/unpin commands, default 1000) and the\n"
                   "time from SIGKILL of the leader to a new leader (K times, default 3).\n"
                   "--daemon defaults to ../placement/wp-placement from this program's folder.\n");
            return 0;
        default: return 2;
        }
    }
    if (daemon_path[0] == '\0') {
        char self[900];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) {
            fprintf(stderr, "bench_placement: cannot find myself; give --daemon\n");
            return 2;
        }
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(daemon_path, sizeof daemon_path, "%s/../placement/wp-placement", self);
    }
    if (access(daemon_path, X_OK) != 0) {
        fprintf(stderr, "bench_placement: %s: not executable; give --daemon\n", daemon_path);
        return 2;
    }
    if (bench_optimizer() != 0)
        return 1;
    atexit(cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, on_signal); /* stdout closed (| head): clean up, then stop */
    snprintf(dir, sizeof dir, "/tmp/wp-bench-placement-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    for (int i = 0; i < N; i++) {
        raft_port[i] = free_port();
        api_port[i] = free_port();
        if (raft_port[i] <= 0 || api_port[i] <= 0) {
            fprintf(stderr, "bench_placement: no free port\n");
            return 1;
        }
    }
    const char *eps[N];
    char epbuf[N][64];
    size_t off = 0;
    for (int i = 0; i < N; i++) {
        snprintf(epbuf[i], sizeof epbuf[i], "tcp://127.0.0.1:%d", api_port[i]);
        eps[i] = epbuf[i];
        off += (size_t)snprintf(peers + off, sizeof peers - off, "%s%d=127.0.0.1:%d@%s",
                                i ? "," : "", i + 1, raft_port[i], epbuf[i]);
    }
    for (int i = 0; i < N; i++)
        spawn(i);
    wp_placement_client *c;
    wp_err err = {0};
    if (wp_placement_client_new(eps, N, 5000, &c, &err) != WP_OK)
        return die("client", &err);
    if (wait_leader(c, -1, 10000) < 0)
        return die("no leader", NULL);
    const char *nodes[][2] = {{"fra-1", "FRA"}, {"fra-2", "FRA"}, {"iad-1", "IAD"},
                              {"sin-1", "SIN"}, {"nrt-1", "NRT"}, {"gru-1", "GRU"},
                              {"jnb-1", "JNB"}, {"syd-1", "SYD"}};
    for (size_t i = 0; i < WP_ARRAY_LEN(nodes); i++)
        if (wp_placement_client_register(c, nodes[i][0], nodes[i][1], 1, 80 * GB, NULL, &err))
            return die("register", &err);
    wp_model_profile m = {.size_bytes = 16 * GB, .slots_per_gpu = 8, .load_bytes_per_s = 2e9};
    snprintf(m.name, sizeof m.name, "llama-8b");
    if (wp_placement_client_catalog_add(c, &m, NULL, &err) != WP_OK)
        return die("catalog add", &err);

    static wp_hist h;
    wp_hist_init(&h);
    const char *cities[] = {"FRA", "IAD", "SIN", "NRT", "GRU", "JNB", "SYD"};
    for (int64_t k = 0; k < pins; k++) {
        const char *city = cities[(k / 2) % WP_ARRAY_LEN(cities)];
        uint64_t t0 = wp_clock_monotonic_ns();
        int rv = (k % 2 == 0) ? wp_placement_client_pin(c, "llama-8b", &city, 1, 1, NULL, &err)
                              : wp_placement_client_unpin(c, "llama-8b", city, NULL, &err);
        uint64_t dt = wp_clock_monotonic_ns() - t0;
        if (rv != WP_OK)
            return die("pin", &err);
        wp_hist_record(&h, dt);
    }
    printf("{\"bench\":\"placement\",\"metric\":\"pin_commit_latency\",\"servers\":3,"
           "\"commands\":%llu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,"
           "\"storage\":\"disk (raft libuv, %s)\"}\n",
           (unsigned long long)h.count, (double)wp_hist_quantile(&h, 0.5) / 1e6,
           (double)wp_hist_quantile(&h, 0.99) / 1e6, (double)h.max / 1e6, wp_hist_mean(&h) / 1e6,
           dir);
    fflush(stdout);

    for (int64_t r = 0; r < failovers; r++) {
        int l = wait_leader(c, -1, 10000);
        if (l < 0)
            return die("no leader before failover", NULL);
        double t0 = now_ms();
        kill(pids[l], SIGKILL);
        waitpid(pids[l], NULL, 0);
        pids[l] = 0;
        int l2 = wait_leader(c, l, 10000);
        double ms = now_ms() - t0;
        if (l2 < 0)
            return die("no leader after kill", NULL);
        /* A committed pin through the new leader. */
        const char *city = "FRA";
        double t1 = now_ms();
        if (wp_placement_client_pin(c, "llama-8b", &city, 1, 2, NULL, &err) != WP_OK)
            return die("pin after failover", &err);
        double pin_ms = now_ms() - t1;
        printf("{\"bench\":\"placement\",\"metric\":\"leader_failover\",\"run\":%lld,"
               "\"election_ms\":300,\"heartbeat_ms\":30,\"new_leader_ms\":%.0f,"
               "\"first_pin_after_ms\":%.1f}\n",
               (long long)r + 1, ms, pin_ms);
        fflush(stdout);
        spawn(l);
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
    }
    wp_placement_client_free(c);
    cleanup();
    return 0;
}
