/* Integration test of wp-placement with real processes on loopback: three
 * servers, nodes registered and models pinned through the client library
 * (and wpctl), the leader killed with SIGKILL (a new leader within 3 s,
 * every committed pin still there, new pins accepted), then all servers
 * stopped with SIGTERM (they must exit 0: clean shutdown) and restarted
 * from their data directories (state restored from disk).
 *
 * Every child is killed at exit, also when an assertion fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "placement/client.h"
#include "tests/integration/itest.h"

#define N 3
#define GB (1000ull * 1000 * 1000)

static pid_t pids[N];
static char dir[64];
static int raft_port[N], api_port[N];
static char peers[512];
static bool passed; /* keep the logs of a failed run */
static const char *node_timeout_ms = "0", *demand_period_ms = "10000";
static const char *segment_kib = "0"; /* --raft-segment-kib */

/* One free loopback port (common/net.c), or -1. */
static int free_port(void)
{
    int port;
    return wp_loopback_ports(&port, 1, NULL) == WP_OK ? port : -1;
}

static void kill_all(void)
{
    for (int i = 0; i < N; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
            pids[i] = 0;
        }
}

static char tmpfs_dir[128]; /* DIR/disk, mounted by test_full_disk */
static const char *tmpfs_size = ""; /* non-empty: data dirs on a tmpfs of this size */

static void cleanup(void)
{
    kill_all();
    if (tmpfs_dir[0]) {
        umount2(tmpfs_dir, MNT_DETACH);
        tmpfs_dir[0] = '\0';
    }
    if (dir[0] && wp_itest_dir_has_sanitizer_report(dir))
        passed = false;
    if (dir[0] && !passed) {
        fprintf(stderr, "logs kept in %s\n", dir);
        dir[0] = '\0';
    } else if (dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
        dir[0] = '\0';
    }
}

static void on_signal(int sig)
{
    (void)sig;
    cleanup();
    _exit(1);
}

static void api_addr(int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "tcp://127.0.0.1:%d", api_port[i]);
}

static void spawn(int i)
{
    char id[16], bind[64], raft[64], data[128], log[128];
    snprintf(id, sizeof id, "%d", i + 1);
    api_addr(i, bind, sizeof bind);
    snprintf(raft, sizeof raft, "127.0.0.1:%d", raft_port[i]);
    snprintf(data, sizeof data, "%s%s/data-%d", dir, tmpfs_dir[0] ? "/disk" : "", i + 1);
    snprintf(log, sizeof log, "%s/log-%d", dir, i + 1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execl(WP_BUILD_DIR "/placement/wp-placement", "wp-placement", "--id", id, "--bind", bind,
              "--raft", raft, "--peers", peers, "--data-dir", data, "--topology", "tiny",
              "--node-timeout-ms", node_timeout_ms, "--demand-period-ms", demand_period_ms,
              "--raft-segment-kib", segment_kib, (char *)NULL);
        _exit(127);
    }
    pids[i] = pid;
}

static double now_ms(void)
{
    return (double)wp_clock_monotonic_ns() / 1e6;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Index of the server that says it leads, with its term; -1 if none. */
static int find_leader(wp_placement_client *c, uint64_t *term, int skip)
{
    for (int i = 0; i < N; i++) {
        if (i == skip)
            continue;
        Warmpath__Placement__Response *r = NULL;
        if (wp_placement_client_status_of(c, (size_t)i, &r, NULL) != WP_OK)
            continue;
        bool lead = strcmp(r->status->role, "leader") == 0;
        if (lead && term)
            *term = r->status->term;
        warmpath__placement__response__free_unpacked(r, NULL);
        if (lead)
            return i;
    }
    return -1;
}

static int wait_leader(wp_placement_client *c, uint64_t *term, int skip, double max_ms)
{
    double t0 = now_ms();
    while (now_ms() - t0 < max_ms) {
        int l = find_leader(c, term, skip);
        if (l >= 0)
            return l;
        sleep_ms(20);
    }
    return -1;
}

static void must(int rv, const wp_err *err, const char *what)
{
    if (rv != WP_OK)
        fail_msg("%s: %s", what, wp_err_text(err));
}

static void add_model(wp_placement_client *c, const char *name, double gb)
{
    wp_model_profile m = {0};
    snprintf(m.name, sizeof m.name, "%s", name);
    m.size_bytes = (uint64_t)(gb * 1e9);
    m.prefill_base_ms = 20;
    m.decode_ms_per_token = 20;
    m.slots_per_gpu = 8;
    m.load_bytes_per_s = 2e9;
    m.load_fixed_ms = 500;
    wp_err err = {0};
    must(wp_placement_client_catalog_add(c, &m, NULL, &err), &err, "catalog add");
}

static void pin(wp_placement_client *c, const char *model, const char *city, uint32_t replicas)
{
    wp_err err = {0};
    const char *cities[] = {city};
    must(wp_placement_client_pin(c, model, cities, 1, replicas, NULL, &err), &err, "pin");
}

/* True when node_id keeps model warm, pinned. */
static bool pinned_on(wp_placement_client *c, const char *node_id, const char *model)
{
    wp_placement_warm *w = NULL;
    size_t n = 0;
    wp_err err = {0};
    must(wp_placement_client_assignment(c, node_id, &w, &n, NULL, &err), &err, "assignment");
    bool found = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(w[i].model, model) == 0 && w[i].pinned)
            found = true;
    free(w);
    return found;
}

static void check_state(wp_placement_client *c, bool with_new_pin)
{
    assert_true(pinned_on(c, "fra-1", "llama-8b") || pinned_on(c, "fra-2", "llama-8b"));
    assert_true(pinned_on(c, "sin-1", "llama-8b"));
    assert_true(pinned_on(c, "iad-1", "mistral-7b"));
    if (with_new_pin)
        assert_true(pinned_on(c, "nrt-1", "mistral-7b"));
    wp_model_profile *models = NULL;
    size_t n = 0;
    wp_err err = {0};
    must(wp_placement_client_catalog_list(c, &models, &n, &err), &err, "catalog list");
    assert_int_equal(n, 2);
    free(models);
}

/* Sends raw bytes to a server's API and returns its decoded answer. */
static Warmpath__Placement__Response *raw_call(const char *ep, const void *buf, size_t len)
{
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, wait_ms = 3000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &wait_ms, sizeof wait_ms);
    assert_int_equal(zmq_connect(s, ep), 0);
    assert_true(zmq_send(s, buf, len, 0) >= 0);
    char reply[65536];
    int n = zmq_recv(s, reply, sizeof reply, 0);
    Warmpath__Placement__Response *r = NULL;
    if (n > 0)
        wp_pl_unframe_response(reply, (size_t)n, &r, NULL);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return r;
}

/* Starts N servers in a fresh directory, on free ports. */
static void cluster_start(void)
{
    cleanup(); /* what a failed earlier test left: children killed, logs kept */
    passed = false;
    snprintf(dir, sizeof dir, "/tmp/wp-placement-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    if (tmpfs_size[0]) { /* the data dirs on a small tmpfs, the logs outside */
        char opts[64];
        snprintf(opts, sizeof opts, "size=%s", tmpfs_size);
        snprintf(tmpfs_dir, sizeof tmpfs_dir, "%s/disk", dir);
        assert_int_equal(mkdir(tmpfs_dir, 0755), 0);
        if (mount("tmpfs", tmpfs_dir, "tmpfs", 0, opts) != 0) {
            int e = errno;
            tmpfs_dir[0] = '\0';
            fail_msg("mount tmpfs on %s/disk: %s", dir, strerror(e));
        }
    }
    for (int i = 0; i < N; i++) {
        raft_port[i] = free_port();
        api_port[i] = free_port();
        assert_true(raft_port[i] > 0 && api_port[i] > 0);
    }
    size_t off = 0;
    for (int i = 0; i < N; i++) {
        char api[64];
        api_addr(i, api, sizeof api);
        off += (size_t)snprintf(peers + off, sizeof peers - off, "%s%d=127.0.0.1:%d@%s",
                                i ? "," : "", i + 1, raft_port[i], api);
    }
    for (int i = 0; i < N; i++)
        spawn(i);
}

static void test_cluster(void **state)
{
    (void)state;
    cluster_start();
    const char *eps[N];
    char epbuf[N][64];
    for (int i = 0; i < N; i++) {
        api_addr(i, epbuf[i], sizeof epbuf[i]);
        eps[i] = epbuf[i];
    }
    wp_placement_client *c;
    wp_err err = {0};
    must(wp_placement_client_new(eps, N, 5000, &c, &err), &err, "client");
    uint64_t term = 0;
    int leader = wait_leader(c, &term, -1, 10000);
    if (leader < 0)
        fail_msg("no leader within 10 s (logs in %s)", dir);

    /* Nodes, catalog, pins. */
    struct { const char *id, *city; } nodes[] = {
        {"fra-1", "FRA"}, {"fra-2", "FRA"}, {"iad-1", "IAD"}, {"sin-1", "SIN"}, {"nrt-1", "NRT"},
    };
    for (size_t i = 0; i < WP_ARRAY_LEN(nodes); i++)
        must(wp_placement_client_register(c, nodes[i].id, nodes[i].city, 1, 40 * GB, NULL, &err),
             &err, "register");
    add_model(c, "llama-8b", 16);
    add_model(c, "mistral-7b", 14);
    pin(c, "llama-8b", "FRA", 1);
    pin(c, "llama-8b", "SIN", 1);
    pin(c, "mistral-7b", "IAD", 1);
    check_state(c, false);
    /* Heartbeats: a known node is fine, an unknown one must register. */
    wp_placement_rate rates[] = {{"llama-8b", 12.5}};
    uint64_t version = 0;
    must(wp_placement_client_heartbeat(c, "fra-1", rates, 1, &version, &err), &err, "heartbeat");
    assert_true(version >= 10);
    assert_int_equal(wp_placement_client_heartbeat(c, "ghost", NULL, 0, NULL, &err),
                     WP_ENOTFOUND);

    /* Refusals come back with the reason. */
    const char *fra[] = {"FRA"}, *xxx[] = {"XXX"};
    assert_int_equal(wp_placement_client_pin(c, "nope", fra, 1, 1, NULL, &err), WP_EINVAL);
    assert_non_null(strstr(err.msg, "unknown model"));
    assert_int_equal(wp_placement_client_pin(c, "llama-8b", xxx, 1, 1, NULL, &err), WP_EINVAL);
    assert_non_null(strstr(err.msg, "unknown city"));
    assert_int_equal(wp_placement_client_pin(c, "llama-8b", fra, 1, 3, NULL, &err), WP_EINVAL);
    assert_non_null(strstr(err.msg, "capacity"));

    /* Malformed frames and requests missing fields: BAD_REQUEST with a
     * reason, and the server keeps serving. */
    {
        static const uint8_t junk[] = {'h', 'e', 'l', 'l', 'o'};
        Warmpath__Placement__Response *r = raw_call(eps[0], junk, sizeof junk);
        assert_non_null(r);
        assert_int_equal(r->code, WARMPATH__PLACEMENT__CODE__BAD_REQUEST);
        assert_non_null(strstr(r->error, "placement frame"));
        warmpath__placement__response__free_unpacked(r, NULL);
        Warmpath__Placement__Pin p = WARMPATH__PLACEMENT__PIN__INIT;
        p.model = "llama-8b"; /* no cities */
        Warmpath__Placement__Request q = WARMPATH__PLACEMENT__REQUEST__INIT;
        q.request_id = 5;
        q.op_case = WARMPATH__PLACEMENT__REQUEST__OP_PIN;
        q.pin = &p;
        void *fb;
        size_t fl;
        assert_int_equal(wp_pl_frame_request(&q, &fb, &fl, NULL), WP_OK);
        r = raw_call(eps[1], fb, fl);
        free(fb);
        assert_non_null(r);
        assert_int_equal(r->code, WARMPATH__PLACEMENT__CODE__BAD_REQUEST);
        assert_non_null(strstr(r->error, "at least one city"));
        warmpath__placement__response__free_unpacked(r, NULL);
        check_state(c, false);
    }

    /* wpctl talks to the same cluster. */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             WP_BUILD_DIR "/tools/wpctl placement --json --endpoint %s,%s,%s > %s/placement.json",
             eps[0], eps[1], eps[2], dir);
    assert_int_equal(system(cmd), 0);
    /* Through a follower only: it answers with the leader's address and
     * the client follows it. */
    int lead_now = find_leader(c, NULL, -1);
    assert_true(lead_now >= 0);
    snprintf(cmd, sizeof cmd,
             WP_BUILD_DIR "/tools/wpctl pin mistral-7b SIN --endpoint %s > /dev/null",
             eps[(lead_now + 1) % N]);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             WP_BUILD_DIR "/tools/wpctl pin nope SIN --endpoint %s 2> /dev/null", eps[1]);
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, WP_BUILD_DIR "/tools/wpctl unpin mistral-7b SIN --endpoint %s "
             "> /dev/null", eps[2]);
    assert_int_equal(system(cmd), 0);
    /* The same through a cluster directory's placement.endpoints. */
    snprintf(cmd, sizeof cmd, "printf '%s\n%s\n%s\n' > %s/placement.endpoints", eps[0], eps[1],
             eps[2], dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             WP_BUILD_DIR "/tools/wpctl models --json --dir %s > %s/models.json && "
             WP_BUILD_DIR "/tools/wpctl placement status --json --dir %s > %s/status.json",
             dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    const char *files[] = {"placement.json", "models.json", "status.json"};
    const char *needles[][2] = {{"\"kind\":\"pinned\"", "\"model\":\"llama-8b\""},
                                {"\"name\":\"mistral-7b\"", "\"city\":\"IAD\""},
                                {"\"role\":\"leader\"", "\"role\":\"follower\""}};
    for (size_t f = 0; f < 3; f++) {
        char path[128], text[8192] = "";
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        FILE *fp = fopen(path, "r");
        assert_non_null(fp);
        size_t got = fread(text, 1, sizeof text - 1, fp);
        text[got] = '\0';
        fclose(fp);
        for (size_t k = 0; k < 2; k++)
            if (strstr(text, needles[f][k]) == NULL)
                fail_msg("%s lacks %s: %s", files[f], needles[f][k], text);
    }

    /* Kill the leader: a new one within 3 s, nothing committed lost. */
    leader = find_leader(c, &term, -1);
    assert_true(leader >= 0);
    uint64_t old_term = term;
    double t0 = now_ms();
    kill(pids[leader], SIGKILL);
    waitpid(pids[leader], NULL, 0);
    pids[leader] = 0;
    int l2 = wait_leader(c, &term, leader, 5000);
    double failover_ms = now_ms() - t0;
    if (l2 < 0)
        fail_msg("no new leader within 5 s of killing server %d", leader + 1);
    printf("{\"metric\":\"placement_failover_ms\",\"value\":%.0f,\"old_term\":%llu,"
           "\"new_term\":%llu}\n",
           failover_ms, (unsigned long long)old_term, (unsigned long long)term);
    assert_true(failover_ms < 3000);
    assert_true(term > old_term);
    check_state(c, false);
    pin(c, "mistral-7b", "NRT", 1);
    check_state(c, true);
    spawn(leader); /* back as a follower; it catches up */

    /* Stop all three cleanly, restart from disk. */
    sleep_ms(300);
    for (int i = 0; i < N; i++) {
        kill(pids[i], SIGTERM);
        int st = 0;
        waitpid(pids[i], &st, 0);
        pids[i] = 0;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("server %d did not exit cleanly on SIGTERM (status %d)", i + 1, st);
    }
    for (int i = 0; i < N; i++)
        spawn(i);
    if (wait_leader(c, NULL, -1, 10000) < 0)
        fail_msg("no leader after restart (logs in %s)", dir);
    check_state(c, true);
    wp_placement_client_free(c);
    passed = true;
    cleanup();
}

/* up flag of node_id in the whole assignment; -1 if absent. */
static int node_up(wp_placement_client *c, const char *node_id)
{
    Warmpath__Placement__GetAssignment g = WARMPATH__PLACEMENT__GET_ASSIGNMENT__INIT;
    Warmpath__Placement__Request req = WARMPATH__PLACEMENT__REQUEST__INIT;
    req.op_case = WARMPATH__PLACEMENT__REQUEST__OP_GET_ASSIGNMENT;
    req.get_assignment = &g;
    Warmpath__Placement__Response *r = NULL;
    wp_err err = {0};
    must(wp_placement_client_call(c, &req, &r, &err), &err, "get assignment");
    int up = -1;
    if (r->body_case == WARMPATH__PLACEMENT__RESPONSE__BODY_ASSIGNMENT)
        for (size_t i = 0; i < r->assignment->n_nodes; i++)
            if (strcmp(r->assignment->nodes[i]->node_id, node_id) == 0)
                up = r->assignment->nodes[i]->up;
    warmpath__placement__response__free_unpacked(r, NULL);
    return up;
}

static uint64_t demand_entries(wp_placement_client *c)
{
    uint64_t n = 0;
    for (int i = 0; i < N; i++) {
        Warmpath__Placement__Response *r = NULL;
        if (wp_placement_client_status_of(c, (size_t)i, &r, NULL) != WP_OK)
            continue;
        if (strcmp(r->status->role, "leader") == 0)
            n = r->status->demand_entries;
        warmpath__placement__response__free_unpacked(r, NULL);
    }
    return n;
}

/* Leader-local duties: a silent node is marked down and comes back up on
 * its next heartbeat; request rates in heartbeats become measured demand. */
static void test_liveness_and_demand(void **state)
{
    (void)state;
    node_timeout_ms = "700";
    demand_period_ms = "300";
    cluster_start();
    const char *eps[N];
    char epbuf[N][64];
    for (int i = 0; i < N; i++) {
        api_addr(i, epbuf[i], sizeof epbuf[i]);
        eps[i] = epbuf[i];
    }
    wp_placement_client *c;
    wp_err err = {0};
    must(wp_placement_client_new(eps, N, 5000, &c, &err), &err, "client");
    if (wait_leader(c, NULL, -1, 10000) < 0)
        fail_msg("no leader (logs in %s)", dir);
    must(wp_placement_client_register(c, "n1", "FRA", 1, 40 * GB, NULL, &err), &err, "register");
    must(wp_placement_client_register(c, "n2", "SIN", 1, 40 * GB, NULL, &err), &err, "register");
    add_model(c, "llama-8b", 16);
    assert_int_equal(node_up(c, "n2"), 1);
    wp_placement_rate rates[] = {{"llama-8b", 5}};
    double t0 = now_ms();
    int n2_up = 1;
    while (now_ms() - t0 < 4000 && (n2_up == 1 || demand_entries(c) == 0)) {
        must(wp_placement_client_heartbeat(c, "n1", rates, 1, NULL, &err), &err, "heartbeat");
        sleep_ms(150);
        n2_up = node_up(c, "n2");
    }
    assert_int_equal(n2_up, 0);           /* silent for > 700 ms: down */
    assert_int_equal(node_up(c, "n1"), 1); /* heartbeating: up */
    assert_int_equal(demand_entries(c), 1);
    /* n2 speaks again: up within a tick or two. */
    must(wp_placement_client_heartbeat(c, "n2", NULL, 0, NULL, &err), &err, "heartbeat n2");
    t0 = now_ms();
    while (now_ms() - t0 < 2000 && node_up(c, "n2") != 1)
        sleep_ms(50);
    assert_int_equal(node_up(c, "n2"), 1);

    /* wp-node's once-a-second call: registers an unknown node, then
     * follows its assignment. */
    wp_placement_node_info n3 = {"n3", "NRT", 1, 40 * GB};
    uint64_t version = 0;
    wp_placement_warm *warm = NULL;
    size_t nwarm = 0;
    bool changed = false;
    must(wp_placement_client_sync(c, &n3, NULL, 0, &version, &warm, &nwarm, &changed, &err),
         &err, "sync");
    assert_non_null(warm);
    assert_true(version > 0);
    assert_int_equal(node_up(c, "n3"), 1);
    uint64_t v1 = version;
    must(wp_placement_client_sync(c, &n3, NULL, 0, &version, &warm, &nwarm, &changed, &err),
         &err, "sync again");
    assert_false(changed);
    pin(c, "llama-8b", "NRT", 1);
    must(wp_placement_client_sync(c, &n3, NULL, 0, &version, &warm, &nwarm, &changed, &err),
         &err, "sync after pin");
    assert_true(changed);
    assert_true(version > v1);
    assert_int_equal(nwarm, 1);
    assert_string_equal(warm[0].model, "llama-8b");
    assert_true(warm[0].pinned);
    free(warm);
    wp_placement_client_free(c);
    passed = true;
    cleanup();
}

/* The leader keeps a liveness entry per node id it hears of (at most
 * 4096), made when a register request arrives, before the registry
 * accepts it. Refused registrations used to leave their entries behind
 * for good: after 4096 of them (a burst of bad requests from anyone who
 * can reach the API) every later node went untracked and was never marked
 * down. Entries of ids the registry does not hold are now reused. */
static void test_live_table_reclaimed(void **state)
{
    (void)state;
    node_timeout_ms = "600";
    demand_period_ms = "10000";
    cluster_start();
    const char *eps[N];
    char epbuf[N][64];
    for (int i = 0; i < N; i++) {
        api_addr(i, epbuf[i], sizeof epbuf[i]);
        eps[i] = epbuf[i];
    }
    wp_placement_client *c;
    wp_err err = {0};
    must(wp_placement_client_new(eps, N, 5000, &c, &err), &err, "client");
    int leader = wait_leader(c, NULL, -1, 10000);
    if (leader < 0)
        fail_msg("no leader (logs in %s)", dir);
    /* A leader answers "catching up" until its barrier is applied: wait for
     * a read to go through (the client retries) before the raw socket. */
    wp_model_profile *none = NULL;
    size_t n_none = 0;
    must(wp_placement_client_catalog_list(c, &none, &n_none, &err), &err, "catalog list");
    free(none);
    /* 4224 (33 windows, > 4096) registrations in a city the topology lacks, pipelined on one
     * DEALER socket in windows of WP_PL_SOCKET_HWM/2 (raft batches them; the
     * server drops replies beyond its send high-water mark, and libzmq
     * learns that the peer read a batch only every HWM/2 messages): all
     * refused. */
    enum { WINDOW = WP_PL_SOCKET_HWM / 2, BOGUS = 33 * WINDOW };
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, wait_ms = 10000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &wait_ms, sizeof wait_ms);
    assert_int_equal(zmq_connect(s, eps[leader]), 0);
    int refused = 0;
    for (int w = 0; w < BOGUS; w += WINDOW) {
        for (int i = w; i < w + WINDOW; i++) {
            char id[32];
            snprintf(id, sizeof id, "junk-%d", i);
            Warmpath__Placement__RegisterNode rn = WARMPATH__PLACEMENT__REGISTER_NODE__INIT;
            rn.node_id = id;
            rn.city = "XXX";
            rn.gpus = 1;
            rn.gpu_mem_bytes = GB;
            Warmpath__Placement__Request req = WARMPATH__PLACEMENT__REQUEST__INIT;
            req.request_id = (uint64_t)i + 1;
            req.op_case = WARMPATH__PLACEMENT__REQUEST__OP_REGISTER_NODE;
            req.register_node = &rn;
            void *buf;
            size_t len;
            must(wp_pl_frame_request(&req, &buf, &len, &err), &err, "frame");
            assert_true(zmq_send(s, buf, len, 0) >= 0);
            free(buf);
        }
        for (int i = w; i < w + WINDOW; i++) {
            char reply[4096];
            int n = zmq_recv(s, reply, sizeof reply, 0);
            if (n <= 0)
                fail_msg("reply %d of %d did not come (logs in %s)", i, BOGUS, dir);
            Warmpath__Placement__Response *r = NULL;
            if (wp_pl_unframe_response(reply, (size_t)n, &r, NULL) == WP_OK) {
                refused += r->code == WARMPATH__PLACEMENT__CODE__REFUSED;
                warmpath__placement__response__free_unpacked(r, NULL);
            }
        }
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    assert_int_equal(refused, BOGUS);
    /* A real node registers and then falls silent: it must be marked down. */
    must(wp_placement_client_register(c, "real", "FRA", 1, 40 * GB, NULL, &err), &err,
         "register");
    assert_int_equal(node_up(c, "real"), 1);
    double t0 = now_ms();
    while (now_ms() - t0 < 4000 && node_up(c, "real") == 1)
        sleep_ms(50);
    assert_int_equal(node_up(c, "real"), 0);
    wp_placement_client_free(c);
    passed = true;
    cleanup();
}

/* ---------------------------------------------------------------- faults
 * Issue 13: size limits, slow readers, full restart, full disk. Run as
 * their own ctest entries ("test_placement_cluster faults"). */

/* A field of /proc/PID/status in KiB ("VmRSS", "VmSize"), or 0. */
static uint64_t proc_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    uint64_t v = 0;
    size_t fl = strlen(field);
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':')
            v = strtoull(line + fl + 1, NULL, 10);
    if (fp)
        fclose(fp);
    return v;
}

static wp_placement_client *client_all(void)
{
    const char *eps[N];
    char epbuf[N][64];
    for (int i = 0; i < N; i++) {
        api_addr(i, epbuf[i], sizeof epbuf[i]);
        eps[i] = epbuf[i];
    }
    wp_placement_client *c;
    wp_err err = {0};
    must(wp_placement_client_new(eps, N, 5000, &c, &err), &err, "client");
    return c;
}

/* A raw TCP connection to 127.0.0.1:port that completes a ZMTP 3.0 NULL
 * handshake as a DEALER and then declares one frame of declared_bytes,
 * followed by a few bytes of it; the socket is returned open (-1 if the
 * connection failed). */
static int zmtp_declare(int port, uint64_t declared_bytes)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    uint8_t g[64] = {0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0, 'N', 'U', 'L', 'L'};
    /* READY command: name, then property Socket-Type = DEALER. */
    static const uint8_t ready[] = {0x04, 28, 5, 'R', 'E', 'A', 'D', 'Y', 11, 'S', 'o', 'c', 'k',
                                    'e', 't', '-', 'T', 'y', 'p', 'e', 0, 0, 0, 6, 'D', 'E', 'A',
                                    'L', 'E', 'R'};
    uint8_t frame[9 + 64] = {0x02};
    for (int i = 0; i < 8; i++)
        frame[1 + i] = (uint8_t)(declared_bytes >> (56 - 8 * i));
    memset(frame + 9, 'x', 64);
    if (write(fd, g, sizeof g) != (ssize_t)sizeof g ||
        write(fd, ready, sizeof ready) != (ssize_t)sizeof ready ||
        write(fd, frame, sizeof frame) != (ssize_t)sizeof frame) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Issue 13 item 2: one 64 MiB frame and 20 connections each declaring an
 * 8 GiB frame must not grow the leader (address space or resident memory),
 * and real requests keep being answered. Then a client that never reads
 * its replies: they are dropped at the high-water mark and counted, and
 * others are still served. */
static void test_frame_limits(void **state)
{
    (void)state;
    node_timeout_ms = "0";
    cluster_start();
    wp_placement_client *c = client_all();
    int leader = wait_leader(c, NULL, -1, 10000);
    if (leader < 0)
        fail_msg("no leader (logs in %s)", dir);
    add_model(c, "llama-8b", 16);
    sleep_ms(300);
    uint64_t rss0 = proc_kib(pids[leader], "VmRSS"), vm0 = proc_kib(pids[leader], "VmSize");
    assert_true(rss0 > 0);

    char ep[64];
    api_addr(leader, ep, sizeof ep);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(s, ep), 0);
    size_t big = 64u << 20;
    char *buf = calloc(1, big);
    assert_non_null(buf);
    assert_true(zmq_send(s, buf, big, 0) >= 0);
    free(buf);
    int fds[20];
    for (int i = 0; i < 20; i++) {
        fds[i] = zmtp_declare(api_port[leader], 8ull << 30);
        assert_true(fds[i] >= 0);
    }
    sleep_ms(1500);
    uint64_t rss1 = proc_kib(pids[leader], "VmRSS"), vm1 = proc_kib(pids[leader], "VmSize");
    for (int i = 0; i < 20; i++)
        close(fds[i]);
    zmq_close(s);
    print_message("leader after a 64 MiB frame and 20 x 8 GiB declared: RSS %llu -> %llu KiB, "
                  "VmSize %llu -> %llu KiB\n", (unsigned long long)rss0,
                  (unsigned long long)rss1, (unsigned long long)vm0, (unsigned long long)vm1);
    assert_true(rss1 < rss0 + 16 * 1024);
    assert_true(vm1 < vm0 + 256 * 1024);
    /* Still serving; the refused connections were counted. */
    add_model(c, "mistral-7b", 14);
    Warmpath__Placement__Response *r = NULL;
    wp_err err = {0};
    must(wp_placement_client_status_of(c, (size_t)leader, &r, &err), &err, "status");
    assert_true(r->status->api_disconnects >= 21);
    warmpath__placement__response__free_unpacked(r, NULL);

    /* A slow reader: 20,000 catalog requests (~3 MB of answers; the client's
     * kernel buffer is kept small), no reply read. */
    s = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    int sndhwm = 0, rcvbuf = 4096; /* push them all; buffer little */
    zmq_setsockopt(s, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm);
    zmq_setsockopt(s, ZMQ_RCVBUF, &rcvbuf, sizeof rcvbuf);
    assert_int_equal(zmq_connect(s, ep), 0);
    Warmpath__Placement__Request q = WARMPATH__PLACEMENT__REQUEST__INIT;
    q.op_case = WARMPATH__PLACEMENT__REQUEST__OP_CATALOG_LIST;
    void *fb;
    size_t fl;
    assert_int_equal(wp_pl_frame_request(&q, &fb, &fl, NULL), WP_OK);
    for (int i = 0; i < 20000; i++)
        assert_true(zmq_send(s, fb, fl, 0) >= 0);
    free(fb);
    uint64_t dropped = 0;
    for (double t0 = now_ms(); now_ms() - t0 < 8000 && dropped == 0; sleep_ms(100)) {
        must(wp_placement_client_status_of(c, (size_t)leader, &r, &err), &err, "status");
        dropped = r->status->replies_dropped;
        warmpath__placement__response__free_unpacked(r, NULL);
    }
    uint64_t rss2 = proc_kib(pids[leader], "VmRSS");
    add_model(c, "qwen-7b", 14); /* others are served meanwhile */
    print_message("slow reader: %llu replies dropped, leader RSS %llu KiB\n",
                  (unsigned long long)dropped, (unsigned long long)rss2);
    assert_true(dropped > 0);
    assert_true(rss2 < rss0 + 16 * 1024);
    zmq_close(s);
    zmq_ctx_term(ctx);
    wp_placement_client_free(c);
    passed = true;
    cleanup();
}

/* Appends to fd until the file system is full (raft frees space as it
 * compacts its log: call again to keep it full). */
static void top_up(int fd)
{
    static char block[64 * 1024];
    memset(block, 'f', sizeof block);
    size_t chunk = sizeof block;
    while (chunk >= 512) {
        if (write(fd, block, chunk) < 0)
            chunk /= 2;
    }
}

/* One node registration (a write that changes the state); WP_OK,
 * WP_EUNKNOWN (outcome unknown) or another error. */
static int try_add(wp_placement_client *c, const char *name, wp_err *err)
{
    return wp_placement_client_register(c, name, "FRA", 1, 40 * GB, NULL, err);
}

/* Issue 13 item 6: the three servers' data on one small tmpfs, kept full
 * while models are added, then space freed. Afterwards: a leader serves
 * within 2 s of the space coming back, every acknowledged add is there,
 * and the replicas agree (same applied index, same state version and
 * counts). Before the shim, replicas ended with different states at the
 * same commit index and a leader could stay "catching up" for good. */
static void test_full_disk(void **state)
{
    (void)state;
    tmpfs_size = "40m";
    segment_kib = "64"; /* a full disk shows after ~64 KiB of log, not 8 MiB */
    cluster_start();
    wp_placement_client *c = client_all();
    if (wait_leader(c, NULL, -1, 10000) < 0)
        fail_msg("no leader (logs in %s)", dir);
    wp_err err = {0};
    must(wp_placement_client_register(c, "fra-1", "FRA", 1, 40 * GB, NULL, &err), &err,
         "register");
    char path[160], name[32];
    snprintf(path, sizeof path, "%s/filler", tmpfs_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    top_up(fd);
    /* Keep writing while full: acknowledged, outcome unknown, or refused. */
    enum { MAX_ADDS = 4000 }; /* under the registry's 4096 nodes */
    static bool acked[MAX_ADDS];
    memset(acked, 0, sizeof acked);
    int n_ok = 0, n_unknown = 0, n_err = 0, n = 0;
    wp_placement_client *fast;
    {
        const char *eps[N];
        char epbuf[N][64];
        for (int i = 0; i < N; i++) {
            api_addr(i, epbuf[i], sizeof epbuf[i]);
            eps[i] = epbuf[i];
        }
        must(wp_placement_client_new(eps, N, 300, &fast, &err), &err, "client");
    }
    double t0 = now_ms();
    while (n < MAX_ADDS && now_ms() - t0 < 12000) { /* a sanitizer build is ~3x slower */
        top_up(fd);
        snprintf(name, sizeof name, "n%04d", n);
        int rv = try_add(fast, name, &err);
        acked[n] = rv == WP_OK;
        n_ok += rv == WP_OK;
        n_unknown += rv == WP_EUNKNOWN;
        n_err += rv != WP_OK && rv != WP_EUNKNOWN;
        n++;
        /* While the log still has room the adds succeed; keep going until
         * the disk refuses and the cluster stops acknowledging. */
        if (n_err + n_unknown > 20 && now_ms() - t0 > 1500)
            break;
    }
    close(fd);
    assert_int_equal(unlink(path), 0);
    double t_free = now_ms();
    print_message("full disk: %d adds, %d acknowledged, %d outcome unknown, %d failed\n", n,
                  n_ok, n_unknown, n_err);
    assert_true(n_unknown + n_err > 0); /* the disk did fill */
    /* A leader serves within 2 s of the space coming back. */
    double served = -1;
    while (now_ms() - t_free < 5000) {
        if (try_add(fast, "after", &err) == WP_OK) {
            served = now_ms() - t_free;
            break;
        }
        sleep_ms(20);
    }
    print_message("leader served %.0f ms after space returned\n", served);
    if (served < 0)
        fail_msg("no leader served within 5 s of space returning (logs in %s): %s", dir,
                 wp_err_text(&err));
    assert_true(served <= 2000);
    /* Every acknowledged registration is there (one assignment read). */
    {
        Warmpath__Placement__GetAssignment g = WARMPATH__PLACEMENT__GET_ASSIGNMENT__INIT;
        Warmpath__Placement__Request req = WARMPATH__PLACEMENT__REQUEST__INIT;
        req.op_case = WARMPATH__PLACEMENT__REQUEST__OP_GET_ASSIGNMENT;
        req.get_assignment = &g;
        Warmpath__Placement__Response *r = NULL;
        must(wp_placement_client_call(c, &req, &r, &err), &err, "get assignment");
        assert_int_equal(r->body_case, WARMPATH__PLACEMENT__RESPONSE__BODY_ASSIGNMENT);
        static bool present[MAX_ADDS];
        memset(present, 0, sizeof present);
        for (size_t i = 0; i < r->assignment->n_nodes; i++) {
            int k;
            if (sscanf(r->assignment->nodes[i]->node_id, "n%d", &k) == 1 && k >= 0 &&
                k < MAX_ADDS)
                present[k] = true;
        }
        warmpath__placement__response__free_unpacked(r, NULL);
        for (int i = 0; i < n; i++)
            if (acked[i] && !present[i])
                fail_msg("acknowledged node n%04d lost (logs in %s)", i, dir);
    }
    /* The replicas agree: same applied index, same version and counts. */
    bool agree = false;
    char seen[N][160];
    for (double t1 = now_ms(); now_ms() - t1 < 5000 && !agree; sleep_ms(100)) {
        agree = true;
        for (int i = 0; i < N; i++) {
            Warmpath__Placement__Response *r = NULL;
            if (wp_placement_client_status_of(c, (size_t)i, &r, &err) != WP_OK) {
                snprintf(seen[i], sizeof seen[i], "unreachable");
                agree = false;
                continue;
            }
            snprintf(seen[i], sizeof seen[i],
                     "applied %llu version %llu nodes %llu models %llu pins %llu",
                     (unsigned long long)r->status->last_applied,
                     (unsigned long long)r->version, (unsigned long long)r->status->nodes,
                     (unsigned long long)r->status->models, (unsigned long long)r->status->pins);
            warmpath__placement__response__free_unpacked(r, NULL);
            if (i > 0 && strcmp(seen[i], seen[0]) != 0)
                agree = false;
        }
    }
    for (int i = 0; i < N; i++)
        print_message("server %d: %s\n", i + 1, seen[i]);
    if (!agree)
        fail_msg("replicas disagree (logs in %s)", dir);
    wp_placement_client_free(fast);
    wp_placement_client_free(c);
    passed = true;
    cleanup();
}

/* Issue 13 item 7: all three servers stop (SIGKILL) and start again from
 * their data directories; a leader must serve a write within 2 s of the
 * restart. Measured three times. The time went to raft_start reading its
 * preallocated 8 MiB open segments (~1.1 s per server here; consensus.c):
 * 1.3-2.0 s here before, 6-7 s on the reviewer's busier machine; with
 * 1 MiB segments 0.6-0.7 s, most of it the election timeout. */
static void test_full_restart(void **state)
{
    (void)state;
    node_timeout_ms = "0";
    tmpfs_size = "";
    segment_kib = "0"; /* the default */
    cluster_start();
    wp_placement_client *c = client_all();
    if (wait_leader(c, NULL, -1, 10000) < 0)
        fail_msg("no leader (logs in %s)", dir);
    wp_err err = {0};
    char name[32];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "n%02d", i);
        must(wp_placement_client_register(c, name, "FRA", 1, 40 * GB, NULL, &err), &err,
             "register");
    }
    double worst = 0;
    for (int round = 0; round < 3; round++) {
        kill_all();
        double t0 = now_ms();
        for (int i = 0; i < N; i++)
            spawn(i);
        double served = -1;
        uint64_t term = 0;
        while (now_ms() - t0 < 10000) {
            snprintf(name, sizeof name, "r%d", round);
            if (wp_placement_client_register(c, name, "FRA", 1, 40 * GB, NULL, &err) == WP_OK) {
                served = now_ms() - t0;
                break;
            }
            sleep_ms(10);
        }
        find_leader(c, &term, -1);
        print_message("full restart %d: a write served after %.0f ms (term %llu)\n", round + 1,
                      served, (unsigned long long)term);
        if (served < 0)
            fail_msg("no write served within 10 s of a full restart (logs in %s)", dir);
        if (served > worst)
            worst = served;
    }
    printf("{\"metric\":\"placement_full_restart_ms\",\"worst_of\":3,\"value\":%.0f}\n",
           worst);
    assert_true(worst <= 2000);
    wp_placement_client_free(c);
    passed = true;
    cleanup();
}

int main(int argc, char **argv)
{
    atexit(cleanup);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if (argc > 1 && strcmp(argv[1], "disk") == 0) {
        if (geteuid() != 0) {
            printf("SKIPPED: mounting the small tmpfs this test fills needs root\n");
            return 77;
        }
        const struct CMUnitTest disk[] = {
            cmocka_unit_test(test_full_disk),
        };
        return WP_ITEST_EXIT(cmocka_run_group_tests_name("placement_full_disk", disk, NULL, NULL));
    }
    if (argc > 1 && strcmp(argv[1], "faults") == 0) {
        const struct CMUnitTest faults[] = {
            cmocka_unit_test(test_frame_limits),
            cmocka_unit_test(test_full_restart),
        };
        return WP_ITEST_EXIT(cmocka_run_group_tests_name("placement_faults", faults, NULL, NULL));
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster),
        cmocka_unit_test(test_liveness_and_demand),
        cmocka_unit_test(test_live_table_reclaimed),
    };
    return WP_ITEST_EXIT(cmocka_run_group_tests(tests, NULL, NULL));
}
