/* wp-placement --keys DIR (issue 14): three real servers whose raft peers
 * authenticate with placement keys elect a leader and commit pins through
 * their CurveZMQ API with the operator's key; on that API a node key may
 * register and heartbeat as itself only, never pin, unpin or add to the
 * catalog, and a client key, a key not in the keyring or no CURVE at all
 * cannot connect; every refusal is counted
 * (warmpath_auth_refused_total{socket="placement"}). A raw
 * TCP client without a key sending raft 0.15 traffic (a RequestVote a
 * million terms ahead, with the disrupt-leader flag) to a follower's raft
 * port is refused, logged, and changes neither the term nor the leader;
 * a server whose key file is missing, or has the wrong role, does not
 * start, with a one-line error naming the file. Every child is killed at
 * exit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "tests/integration/itest.h"
#include "placement/client.h"

#define N 3
#define GB (1000ull * 1000 * 1000)

static pid_t pids[N];
static char dir[64], keys[96], peers[512];
static int raft_port[N], api_port[N], metrics_port[N];
static bool passed;

static void cleanup(void)
{
    for (int i = 0; i < N; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
            pids[i] = 0;
        }
    if (dir[0] && wp_itest_dir_has_sanitizer_report(dir))
        passed = false;
    if (dir[0] && !passed) {
        fprintf(stderr, "logs kept in %s\n", dir);
    } else if (dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    dir[0] = '\0';
}

static void on_signal(int sig)
{
    (void)sig;
    cleanup();
    _exit(1);
}

static pid_t spawn_with(int i, const char *keydir)
{
    char id[16], bind[64], raft[64], data[128], log[128], met[32];
    snprintf(met, sizeof met, "127.0.0.1:%d", metrics_port[i]);
    snprintf(id, sizeof id, "%d", i + 1);
    snprintf(bind, sizeof bind, "tcp://127.0.0.1:%d", api_port[i]);
    snprintf(raft, sizeof raft, "127.0.0.1:%d", raft_port[i]);
    snprintf(data, sizeof data, "%s/data-%d", dir, i + 1);
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
              "--keys", keydir, "--metrics", met, (char *)NULL);
        _exit(127);
    }
    return pid;
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

static void must(int rv, const wp_err *err, const char *what)
{
    if (rv != WP_OK)
        fail_msg("%s: %s (logs in %s)", what, wp_err_text(err), dir);
}

/* Leader index and term (-1 if none answers as leader). */
static int find_leader(wp_placement_client *c, uint64_t *term)
{
    for (int i = 0; i < N; i++) {
        Warmpath__Placement__Response *r = NULL;
        if (wp_placement_client_status_of(c, (size_t)i, &r, NULL) != WP_OK)
            continue;
        bool lead = strcmp(r->status->role, "leader") == 0;
        if (lead)
            *term = r->status->term;
        warmpath__placement__response__free_unpacked(r, NULL);
        if (lead)
            return i;
    }
    return -1;
}

static uint64_t max_term(wp_placement_client *c)
{
    uint64_t t = 0;
    for (int i = 0; i < N; i++) {
        Warmpath__Placement__Response *r = NULL;
        if (wp_placement_client_status_of(c, (size_t)i, &r, NULL) != WP_OK)
            continue;
        if (r->status->term > t)
            t = r->status->term;
        warmpath__placement__response__free_unpacked(r, NULL);
    }
    return t;
}

static void save_key(const char *name, wp_key_role role)
{
    wp_key k;
    wp_err err = {0};
    char path[160];
    must(wp_key_generate(&k, name, role, &err), &err, "generate");
    snprintf(path, sizeof path, "%s/%s.key", keys, name);
    must(wp_key_save(&k, path, true, &err), &err, "save key");
    snprintf(path, sizeof path, "%s/%s.pub", keys, name);
    must(wp_key_save(&k, path, false, &err), &err, "save pub");
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static bool file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static double refused_at(int i)
{
    return wp_itest_metric(metrics_port[i], "warmpath_auth_refused_total{socket=\"placement\"}");
}

/* Waits until server i's refusal count exceeds before (metrics refresh
 * on the daemon's tick). */
static bool refused_grows(int i, double before)
{
    for (double t0 = now_ms(); now_ms() - t0 < 3000; sleep_ms(50))
        if (refused_at(i) > before)
            return true;
    return false;
}

/* A client with the key NAME (NULL: plain ZMTP; "outsider": a key made
 * here, in no keyring), at the leader only. */
static wp_placement_client *client_as(const char *ep, const char *name, int timeout_ms)
{
    wp_placement_client *c;
    wp_err err = {0};
    must(wp_placement_client_new(&ep, 1, timeout_ms, &c, &err), &err, "client");
    wp_curve_id id;
    char path[160];
    if (name && strcmp(name, "outsider") == 0) {
        wp_key k;
        must(wp_key_generate(&k, "outsider", WP_ROLE_OPERATOR, &err), &err, "generate");
        must(wp_curve_id_from(&id, &k, keys, &err), &err, "outsider id");
    } else if (name) {
        snprintf(path, sizeof path, "%s/%s.key", keys, name);
        must(wp_curve_id_load(&id, path, &err), &err, "key");
    }
    wp_placement_client_set_curve(c, name ? &id : NULL);
    return c;
}

static void check_api_roles(const char *const *eps, int leader)
{
    wp_err err = {0};
    /* A node key: its own registration, yes; another node's, a pin, an
     * unpin or a catalog add, no (REFUSED, counted). */
    wp_placement_client *nc = client_as(eps[leader], "fra-1", 3000);
    must(wp_placement_client_register(nc, "fra-1", "FRA", 1, 40 * GB, NULL, &err), &err,
         "fra-1 registers itself");
    double before = refused_at(leader);
    assert_true(before >= 0);
    assert_int_not_equal(wp_placement_client_register(nc, "lhr-1", "LHR", 8, 640 * GB, NULL,
                                                      &err), WP_OK);
    print_message("node key registering another node: %s\n", wp_err_text(&err));
    const char *cities[] = {"FRA"};
    assert_int_not_equal(wp_placement_client_pin(nc, "llama-8b", cities, 1, 1, NULL, &err), WP_OK);
    assert_non_null(strstr(wp_err_text(&err), "operator"));
    assert_int_not_equal(wp_placement_client_unpin(nc, "llama-8b", NULL, NULL, &err), WP_OK);
    wp_model_profile m = {0};
    snprintf(m.name, sizeof m.name, "junk-1");
    m.size_bytes = 1 * GB;
    m.slots_per_gpu = 1;
    m.load_bytes_per_s = 1e9;
    assert_int_not_equal(wp_placement_client_catalog_add(nc, &m, NULL, &err), WP_OK);
    assert_true(refused_grows(leader, before + 3));
    wp_placement_client_free(nc);

    /* No CURVE, a client key, a key in no keyring: no connection at all
     * (the call times out), each refusal counted. */
    const char *who[] = {NULL, "cli-1", "outsider"};
    for (size_t k = 0; k < WP_ARRAY_LEN(who); k++) {
        before = refused_at(leader);
        wp_placement_client *oc = client_as(eps[leader], who[k], 400);
        assert_int_not_equal(wp_placement_client_pin(oc, "llama-8b", cities, 1, 1, NULL, &err),
                             WP_OK);
        wp_placement_client_free(oc);
        if (!refused_grows(leader, before))
            fail_msg("%s: no refusal counted (logs in %s)", who[k] ? who[k] : "no CURVE", dir);
    }
    char log[128];
    snprintf(log, sizeof log, "%s/log-%d", dir, leader + 1);
    assert_true(file_has(log, "refused a connection on the placement socket"));
    assert_true(file_has(log, "refused request"));
}

static void test_keyed_cluster(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/wp-placement-keys-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(keys, sizeof keys, "%s/keys", dir);
    assert_int_equal(mkdir(keys, 0700), 0);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "placement-%d", i + 1);
        save_key(name, WP_ROLE_PLACEMENT);
    }
    save_key("cluster", WP_ROLE_SERVER);
    save_key("operator", WP_ROLE_OPERATOR);
    save_key("fra-1", WP_ROLE_NODE);
    save_key("cli-1", WP_ROLE_CLIENT);
    int ports[3 * N];
    assert_int_equal(wp_loopback_ports(ports, 3 * N, NULL), WP_OK);
    size_t off = 0;
    for (int i = 0; i < N; i++) {
        raft_port[i] = ports[3 * i];
        api_port[i] = ports[3 * i + 1];
        metrics_port[i] = ports[3 * i + 2];
        off += (size_t)snprintf(peers + off, sizeof peers - off,
                                "%s%d=127.0.0.1:%d@tcp://127.0.0.1:%d", i ? "," : "", i + 1,
                                raft_port[i], api_port[i]);
    }
    for (int i = 0; i < N; i++)
        pids[i] = spawn_with(i, keys);

    const char *eps[N];
    char epbuf[N][64];
    for (int i = 0; i < N; i++) {
        snprintf(epbuf[i], sizeof epbuf[i], "tcp://127.0.0.1:%d", api_port[i]);
        eps[i] = epbuf[i];
    }
    wp_placement_client *c;
    wp_err err = {0};
    must(wp_placement_client_new(eps, N, 5000, &c, &err), &err, "client");
    wp_curve_id op;
    char path[160];
    snprintf(path, sizeof path, "%s/operator.key", keys);
    must(wp_curve_id_load(&op, path, &err), &err, "operator key");
    wp_placement_client_set_curve(c, &op);
    uint64_t term = 0;
    int leader = -1;
    for (double t0 = now_ms(); leader < 0 && now_ms() - t0 < 10000; sleep_ms(20))
        leader = find_leader(c, &term);
    if (leader < 0)
        fail_msg("no leader within 10 s (logs in %s)", dir);

    /* Pins commit. */
    must(wp_placement_client_register(c, "fra-1", "FRA", 1, 40 * GB, NULL, &err), &err,
         "register");
    wp_model_profile m = {0};
    snprintf(m.name, sizeof m.name, "llama-8b");
    m.size_bytes = 16 * GB;
    m.prefill_base_ms = 20;
    m.decode_ms_per_token = 20;
    m.slots_per_gpu = 8;
    m.load_bytes_per_s = 2e9;
    m.load_fixed_ms = 500;
    must(wp_placement_client_catalog_add(c, &m, NULL, &err), &err, "catalog add");
    const char *cities[] = {"FRA"};
    must(wp_placement_client_pin(c, "llama-8b", cities, 1, 1, NULL, &err), &err, "pin");
    wp_placement_warm *w = NULL;
    size_t nw = 0;
    must(wp_placement_client_assignment(c, "fra-1", &w, &nw, NULL, &err), &err, "assignment");
    assert_int_equal(nw, 1);
    assert_string_equal(w[0].model, "llama-8b");
    assert_true(w[0].pinned);
    free(w);
    leader = find_leader(c, &term);
    assert_true(leader >= 0);
    check_api_roles(eps, leader);

    /* The outsider: raft's TCP preamble claiming to be the other follower,
     * then a RequestVote (term + 10^6, disrupt leader). */
    int victim = (leader + 1) % N, other = (leader + 2) % N;
    uint8_t buf[256];
    char from[64];
    snprintf(from, sizeof from, "127.0.0.1:%d", raft_port[other]);
    size_t alen = (strlen(from) + 1 + 7) & ~(size_t)7, o = 0;
    memset(buf, 0, sizeof buf);
    put64(buf + o, 1), o += 8;
    put64(buf + o, (uint64_t)other + 1), o += 8;
    put64(buf + o, alen), o += 8;
    memcpy(buf + o, from, strlen(from)), o += alen;
    uint64_t huge = term + 1000000;
    uint64_t rv[] = {3 /* RAFT_IO_REQUEST_VOTE */, 40, huge, (uint64_t)other + 1, 1u << 30, huge, 1};
    for (size_t i = 0; i < WP_ARRAY_LEN(rv); i++)
        put64(buf + o, rv[i]), o += 8;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)raft_port[victim])};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(write(fd, buf, o), (ssize_t)o);
    sleep_ms(3000); /* past the 2 s handshake timeout */
    close(fd);
    uint64_t term_after = max_term(c);
    int leader_after = find_leader(c, &term_after);
    print_message("term %llu before the forged RequestVote, %llu after; leader %d, then %d\n",
                  (unsigned long long)term, (unsigned long long)term_after, leader + 1,
                  leader_after + 1);
    assert_int_equal(term_after, term);
    assert_int_equal(leader_after, leader);
    char log[128];
    snprintf(log, sizeof log, "%s/log-%d", dir, victim + 1);
    assert_true(file_has(log, "raft peer refused"));
    /* Still committing. */
    must(wp_placement_client_unpin(c, "llama-8b", NULL, NULL, &err), &err, "unpin");

    /* Clean stop. */
    for (int i = 0; i < N; i++)
        kill(pids[i], SIGTERM);
    for (int i = 0; i < N; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        pids[i] = 0;
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    wp_placement_client_free(c);

    /* A server without its key, and one with a node key, do not start. */
    char empty[128];
    snprintf(empty, sizeof empty, "%s/nokeys", dir);
    assert_int_equal(mkdir(empty, 0700), 0);
    pid_t p = spawn_with(0, empty);
    int st;
    waitpid(p, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    snprintf(log, sizeof log, "%s/log-1", dir);
    assert_true(file_has(log, "placement-1.key"));
    snprintf(path, sizeof path, "%s/placement-2.key", keys);
    unlink(path);
    snprintf(path, sizeof path, "%s/placement-2.pub", keys);
    unlink(path);
    save_key("placement-2", WP_ROLE_NODE);
    p = spawn_with(1, keys);
    waitpid(p, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    snprintf(log, sizeof log, "%s/log-2", dir);
    assert_true(file_has(log, "needs role placement"));
    passed = true;
    cleanup();
}

int main(void)
{
    atexit(cleanup);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyed_cluster),
    };
    return WP_ITEST_EXIT(cmocka_run_group_tests(tests, NULL, NULL));
}
