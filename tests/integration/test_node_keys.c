/* wp-node --keys DIR (issue 14): two real nodes with node keys gossip over
 * CurveZMQ and see each other (asked through the admin socket with the
 * operator's key, $WP_KEY). The review's forged push-pull frame (a fake
 * member "evil-1" with 8 GPUs, and lhr-1's capacity record at its version
 * + 1 saying draining, no warm models) is pushed to fra-1's gossip socket:
 *  - from a socket without CURVE, and from one with a client key: the
 *    connection is refused (warmpath_auth_refused_total{socket="gossip"}
 *    grows, a log line says so) and the frame never reaches the gossip
 *    core (no evil-1, and no "refused record" line: the core never saw it);
 *  - from an insider with a node key of the cluster (mallory-1): the
 *    connection is admitted and the signatures refuse both records.
 * The admin socket refuses a node key and no key (counted); the request
 * socket takes a client key (a bad frame is answered) and refuses no key
 * (counted, no answer). A node started --insecure takes the forged frame
 * (evil-1 appears), which is what the keys prevent. Nodes exit 0 on
 * SIGINT. Children are killed at exit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "auth/auth.h"
#include "tests/integration/itest.h"
#include "node/node.h"
#include "tools/wpctl/cluster.h"

static pid_t pids[3];
static char dir[64];
static bool passed;

static void cleanup(void)
{
    for (int i = 0; i < 3; i++)
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

static pid_t spawn(const char *id, const char *city, const char *gossip, const char *admin,
                   const char *join, const char *keys, const char *request, const char *metrics)
{
    char log[128];
    snprintf(log, sizeof log, "%s/%s.log", dir, id);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        const char *argv[28];
        int a = 0;
        argv[a++] = WP_BUILD_DIR "/node/wp-node";
        argv[a++] = "--id", argv[a++] = id, argv[a++] = "--city", argv[a++] = city;
        argv[a++] = "--bind", argv[a++] = gossip, argv[a++] = "--admin", argv[a++] = admin;
        argv[a++] = "--probe-interval-ms", argv[a++] = "200";
        argv[a++] = "--gpus", argv[a++] = "1", argv[a++] = "--gpu-mem-gb", argv[a++] = "40";
        if (join)
            argv[a++] = "--join", argv[a++] = join;
        if (request)
            argv[a++] = "--request", argv[a++] = request;
        if (metrics)
            argv[a++] = "--metrics", argv[a++] = metrics;
        if (keys)
            argv[a++] = "--keys", argv[a++] = keys;
        else
            argv[a++] = "--insecure";
        argv[a] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static Warmpath__Admin__AdminResponse *members(const char *ep)
{
    Warmpath__Admin__AdminRequest req = WARMPATH__ADMIN__ADMIN_REQUEST__INIT;
    Warmpath__Admin__MembersRequest mr = WARMPATH__ADMIN__MEMBERS_REQUEST__INIT;
    req.req_case = WARMPATH__ADMIN__ADMIN_REQUEST__REQ_MEMBERS;
    req.members = &mr;
    Warmpath__Admin__AdminResponse *resp = NULL;
    wp_err err;
    if (wpctl_admin_call(ep, &req, 1000, &resp, &err) != WP_OK)
        return NULL;
    return resp;
}

/* The member id as seen at ep (a copy in *out); false if absent. */
static bool member_of(const char *ep, const char *id, Warmpath__Admin__Member *out)
{
    Warmpath__Admin__AdminResponse *r = members(ep);
    bool found = false;
    for (size_t i = 0; r && i < r->n_members; i++)
        if (strcmp(r->members[i]->id, id) == 0 && strcmp(r->members[i]->status, "alive") == 0) {
            *out = *r->members[i];
            found = true;
        }
    if (r)
        warmpath__admin__admin_response__free_unpacked(r, NULL);
    return found;
}

static bool wait_member(const char *ep, const char *id, int ms)
{
    Warmpath__Admin__Member m;
    for (int t = 0; t < ms; t += 50) {
        if (member_of(ep, id, &m))
            return true;
        usleep(50000);
    }
    return false;
}

/* The review's forged push-pull: evil-1 (8 GPUs) and lhr-1 draining at
 * its version + 1, unsigned, from "evil-1". */
static void forge(void *ctx, const char *to, uint64_t lhr_inc, uint64_t lhr_version,
                  const wp_curve_id *as)
{
    wp_gossip_member evil, lhr;
    memset(&evil, 0, sizeof evil);
    memset(&lhr, 0, sizeof lhr);
    snprintf(evil.id, sizeof evil.id, "evil-1");
    snprintf(evil.city, sizeof evil.city, "FRA");
    snprintf(evil.addr, sizeof evil.addr, "tcp://127.0.0.1:1");
    evil.incarnation = 1;
    evil.cap.version = 1;
    evil.cap.gpus = 8;
    evil.cap.gpu_mem_free_bytes = 640ULL << 30;
    snprintf(lhr.id, sizeof lhr.id, "lhr-1");
    snprintf(lhr.city, sizeof lhr.city, "LHR");
    lhr.incarnation = lhr_inc;
    lhr.cap.version = lhr_version + 1;
    lhr.cap.gpus = 1;
    lhr.cap.draining = true;
    wp_gossip_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = WP_GMSG_PUSH_PULL;
    snprintf(msg.from_id, sizeof msg.from_id, "evil-1");
    snprintf(msg.from_addr, sizeof msg.from_addr, "tcp://127.0.0.1:1");
    const wp_gossip_member *recs[] = {&evil, &lhr};
    uint8_t *buf;
    size_t len;
    wp_err err;
    assert_int_equal(wp_gossip_msg_encode(&msg, recs, 2, &buf, &len, &err), WP_OK);
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 1000;
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    if (as)
        assert_int_equal(wp_curve_id_apply(as, push), 0);
    assert_int_equal(zmq_connect(push, to), 0);
    assert_true(zmq_send(push, buf, len, 0) >= 0);
    zmq_close(push);
    free(buf);
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

/* Waits (up to 5 s) for the series at the metrics port to exceed before
 * (before < 0: just reads it); returns the value read. */
static double refused_metric(int port, const char *series, double before)
{
    double v = -1;
    for (int t = 0; t < 5000; t += 50) {
        v = wp_itest_metric(port, series);
        if (before < 0 ? v >= 0 : v > before)
            return v;
        usleep(50000);
    }
    fail_msg("%s stayed at %g (logs in %s)", series, v, dir);
    return v;
}

/* A bad frame to the request socket (as: CURVE key, NULL: none): whether
 * any answer comes back within 1.5 s (a frame that reaches the node is
 * answered BAD_REQUEST). */
static bool request_answered(void *ctx, const char *ep, const wp_curve_id *as)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, wait_ms = 1500;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &wait_ms, sizeof wait_ms);
    if (as)
        assert_int_equal(wp_curve_id_apply(as, s), 0);
    assert_int_equal(zmq_connect(s, ep), 0);
    zmq_send(s, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(s, "hello", 5, ZMQ_DONTWAIT);
    char buf[256];
    bool got = zmq_recv(s, buf, sizeof buf, 0) >= 0;
    zmq_close(s);
    return got;
}

static void test_keyed_nodes_refuse_forgery(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/wp-node-keys-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char keys[96];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    assert_int_equal(mkdir(keys, 0700), 0);
    const char *names[] = {"fra-1", "lhr-1", "mallory-1", "cluster", "operator", "cli-1"};
    const wp_key_role roles[] = {WP_ROLE_NODE,   WP_ROLE_NODE,     WP_ROLE_NODE,
                                 WP_ROLE_SERVER, WP_ROLE_OPERATOR, WP_ROLE_CLIENT};
    for (int i = 0; i < 6; i++) {
        wp_key k;
        wp_err err = {0};
        char path[160];
        assert_int_equal(wp_key_generate(&k, names[i], roles[i], &err), WP_OK);
        snprintf(path, sizeof path, "%s/%s.key", keys, names[i]);
        assert_int_equal(wp_key_save(&k, path, true, &err), WP_OK);
        snprintf(path, sizeof path, "%s/%s.pub", keys, names[i]);
        assert_int_equal(wp_key_save(&k, path, false, &err), WP_OK);
    }
    wp_curve_id as_node, as_client, as_mallory;
    {
        wp_err err = {0};
        char path[160];
        snprintf(path, sizeof path, "%s/fra-1.key", keys);
        assert_int_equal(wp_curve_id_load(&as_node, path, &err), WP_OK);
        snprintf(path, sizeof path, "%s/cli-1.key", keys);
        assert_int_equal(wp_curve_id_load(&as_client, path, &err), WP_OK);
        snprintf(path, sizeof path, "%s/mallory-1.key", keys);
        assert_int_equal(wp_curve_id_load(&as_mallory, path, &err), WP_OK);
    }
    char op_key[160];
    snprintf(op_key, sizeof op_key, "%s/operator.key", keys);
    setenv("WP_KEY", op_key, 1); /* wpctl_admin_call speaks as the operator */
    int ports[8];
    assert_int_equal(wp_loopback_ports(ports, 8, NULL), WP_OK);
    char g[3][64], adm[3][64], req[64], met[32];
    for (int i = 0; i < 3; i++) {
        snprintf(g[i], sizeof g[i], "tcp://127.0.0.1:%d", ports[2 * i]);
        snprintf(adm[i], sizeof adm[i], "tcp://127.0.0.1:%d", ports[2 * i + 1]);
    }
    snprintf(req, sizeof req, "tcp://127.0.0.1:%d", ports[6]);
    snprintf(met, sizeof met, "127.0.0.1:%d", ports[7]);
    pids[0] = spawn("fra-1", "FRA", g[0], adm[0], NULL, keys, req, met);
    pids[1] = spawn("lhr-1", "LHR", g[1], adm[1], g[0], keys, NULL, NULL);
    if (!wait_member(adm[0], "lhr-1", 15000) || !wait_member(adm[1], "fra-1", 15000))
        fail_msg("keyed nodes did not see each other (logs in %s)", dir);
    Warmpath__Admin__Member lhr;
    assert_true(member_of(adm[0], "lhr-1", &lhr));
    assert_false(lhr.draining);
    char log[128];
    snprintf(log, sizeof log, "%s/fra-1.log", dir);

    /* Outsiders on the gossip socket: no CURVE, then a client key. */
    void *ctx = zmq_ctx_new();
    const char *gossip_refused = "warmpath_auth_refused_total{socket=\"gossip\"}";
    double before = refused_metric(ports[7], gossip_refused, -1);
    assert_true(before >= 0);
    forge(ctx, g[0], lhr.incarnation, lhr.version, NULL);
    before = refused_metric(ports[7], gossip_refused, before);
    forge(ctx, g[0], lhr.incarnation, lhr.version, &as_client);
    before = refused_metric(ports[7], gossip_refused, before);
    usleep(500000);
    Warmpath__Admin__Member m;
    assert_false(member_of(adm[0], "evil-1", &m));
    assert_true(member_of(adm[0], "lhr-1", &m));
    assert_false(m.draining);
    assert_true(file_has(log, "refused a connection on the gossip socket"));
    /* The core never saw those frames. */
    assert_false(file_has(log, "refused record (alive) about evil-1"));

    /* An insider with a node key is let in; the signatures refuse. */
    forge(ctx, g[0], lhr.incarnation, lhr.version, &as_mallory);
    usleep(1500000);
    assert_false(member_of(adm[0], "evil-1", &m));
    assert_true(member_of(adm[0], "lhr-1", &m));
    assert_false(m.draining);
    assert_true(file_has(log, "refused record (alive) about evil-1 from evil-1: unsigned"));

    /* The admin socket: a node key, then no key, refused and counted. */
    const char *admin_refused = "warmpath_auth_refused_total{socket=\"admin\"}";
    before = refused_metric(ports[7], admin_refused, -1);
    char node_key[160];
    snprintf(node_key, sizeof node_key, "%s/fra-1.key", keys);
    setenv("WP_KEY", node_key, 1);
    Warmpath__Admin__AdminResponse *r = members(adm[0]);
    assert_null(r);
    before = refused_metric(ports[7], admin_refused, before);
    unsetenv("WP_KEY");
    assert_null(members(adm[0]));
    refused_metric(ports[7], admin_refused, before);
    setenv("WP_KEY", op_key, 1);
    assert_true(member_of(adm[0], "lhr-1", &m));

    /* The request socket: a client key is answered, no key refused. */
    assert_true(request_answered(ctx, req, &as_client));
    const char *req_refused = "warmpath_auth_refused_total{socket=\"request\"}";
    before = refused_metric(ports[7], req_refused, -1);
    assert_false(request_answered(ctx, req, NULL));
    refused_metric(ports[7], req_refused, before);
    (void)as_node;

    /* An --insecure node takes the same frame: what the keys prevent. */
    unsetenv("WP_KEY");
    pids[2] = spawn("ams-1", "AMS", g[2], adm[2], NULL, NULL, NULL, NULL);
    assert_true(wait_member(adm[2], "ams-1", 15000));
    forge(ctx, g[2], 1, 1, NULL);
    assert_true(wait_member(adm[2], "evil-1", 5000));
    zmq_ctx_term(ctx);

    for (int i = 0; i < 3; i++)
        kill(pids[i], SIGINT);
    for (int i = 0; i < 3; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        pids[i] = 0;
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    passed = true;
    cleanup();
}

int main(void)
{
    atexit(cleanup);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyed_nodes_refuse_forgery),
    };
    return WP_ITEST_EXIT(cmocka_run_group_tests(tests, NULL, NULL));
}
