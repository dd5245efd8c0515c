/* Faults against real wp-node processes on loopback (issue 13, the node
 * half). One program, one ctest entry per case (argv[1] picks it):
 *   flood     ~100k+ garbage frames/s at node A's request socket for 3 s
 *             while real requests flow: every real request is answered OK
 *             within 2 s, and peer B never sees A as other than alive.
 *   deadline  requests with a 5 s absolute deadline; the node is paused
 *             (SIGSTOP) 6 s and resumed: no answer is OK after its deadline;
 *             those read late are answered DEADLINE_EXCEEDED.
 *   admin     garbage on the admin endpoint (raw TCP bytes, envelopes
 *             without a delimiter, multi-part, empty): then 3 real admin
 *             requests are all answered.
 *   readers   4 clients send 50,000 requests each and never read the
 *             answers: the node's RSS grows < 16 MB and it counts the
 *             answers it dropped.
 *   oversize  a 64 MiB frame at each of the gossip, admin and request
 *             sockets: refused without being buffered (RSS stays small),
 *             and the node still answers.
 * Every case checks the daemons' logs for sanitizer reports and that the
 * node exits 0 on SIGINT. WP_NODE_BIN overrides the binary (to run a case
 * against an older build). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "node/infer.h"
#include "proto/inference.pb-c.h"
#include "tests/integration/itest.h"
#include "tools/wpctl/cluster.h"

#define MODEL "distilbert-sst2"

typedef struct dnode {
    pid_t pid;
    char gossip[64], admin[64], request[64], log[512];
} dnode;

static char g_dir[256];
static void *g_ctx;
static dnode *g_nodes[8]; /* killed by the teardown if a case failed midway */
static size_t g_n_nodes;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *node_bin(void)
{
    static char bin[512];
    const char *e = getenv("WP_NODE_BIN");
    if (e && *e)
        return e;
    snprintf(bin, sizeof bin, "%s/node/wp-node", WP_BUILD_DIR);
    return bin;
}

/* Starts a node (model backend, 1 GPU, 24 GiB unless gpus == 0). */
static void start(dnode *d, const char *id, const char *city, int gpus, const char *join)
{
    int p[3];
    assert_int_equal(wp_loopback_ports(p, 3, NULL), WP_OK);
    snprintf(d->gossip, sizeof d->gossip, "tcp://127.0.0.1:%d", p[0]);
    snprintf(d->admin, sizeof d->admin, "tcp://127.0.0.1:%d", p[1]);
    snprintf(d->request, sizeof d->request, "tcp://127.0.0.1:%d", p[2]);
    snprintf(d->log, sizeof d->log, "%s/%s.log", g_dir, id);
    if (g_n_nodes < 8)
        g_nodes[g_n_nodes++] = d;
    d->pid = fork();
    assert_true(d->pid >= 0);
    if (d->pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        const char *b = node_bin();
        char g[8];
        snprintf(g, sizeof g, "%d", gpus);
        const char *argv[32];
        int a = 0;
        argv[a++] = b;
        argv[a++] = "--id"; argv[a++] = id;
        argv[a++] = "--city"; argv[a++] = city;
        argv[a++] = "--bind"; argv[a++] = d->gossip;
        argv[a++] = "--admin"; argv[a++] = d->admin;
        argv[a++] = "--request"; argv[a++] = d->request;
        argv[a++] = "--gpus"; argv[a++] = g;
        argv[a++] = "--gpu-mem-gb"; argv[a++] = gpus ? "24" : "0";
        argv[a++] = "--gpu-backend"; argv[a++] = "model";
        argv[a++] = "--probe-interval-ms"; argv[a++] = "200";
        argv[a++] = "--log-level"; argv[a++] = "info";
        if (join) {
            argv[a++] = "--join";
            argv[a++] = join;
        }
        argv[a] = NULL;
        execv(b, (char *const *)argv);
        _exit(127);
    }
}

static Warmpath__Admin__AdminResponse *admin_call(const dnode *d, bool members, int timeout_ms)
{
    Warmpath__Admin__AdminRequest req = WARMPATH__ADMIN__ADMIN_REQUEST__INIT;
    Warmpath__Admin__StatusRequest sr = WARMPATH__ADMIN__STATUS_REQUEST__INIT;
    Warmpath__Admin__MembersRequest mr = WARMPATH__ADMIN__MEMBERS_REQUEST__INIT;
    if (members) {
        req.req_case = WARMPATH__ADMIN__ADMIN_REQUEST__REQ_MEMBERS;
        req.members = &mr;
    } else {
        req.req_case = WARMPATH__ADMIN__ADMIN_REQUEST__REQ_STATUS;
        req.status = &sr;
    }
    Warmpath__Admin__AdminResponse *resp = NULL;
    wp_err err;
    if (wpctl_admin_call(d->admin, &req, timeout_ms, &resp, &err) != WP_OK)
        return NULL;
    return resp;
}

static void wait_up(const dnode *d, uint32_t alive)
{
    for (int i = 0; i < 200; i++) {
        Warmpath__Admin__AdminResponse *r = admin_call(d, false, 500);
        bool ok = r && r->status->members_alive >= alive;
        if (r)
            warmpath__admin__admin_response__free_unpacked(r, NULL);
        if (ok)
            return;
        sleep_ms(50);
    }
    fail_msg("node at %s did not come up with %u alive members", d->admin, alive);
}

/* Stops the node with SIGINT (SIGCONT first, in case it was paused):
 * exit 0, and no sanitizer report in its log. */
static void stop(dnode *d)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, SIGCONT);
    kill(d->pid, SIGINT);
    int st = 0;
    for (int i = 0; i < 200 && waitpid(d->pid, &st, WNOHANG) == 0; i++)
        sleep_ms(50);
    if (waitpid(d->pid, &st, WNOHANG) == 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, &st, 0);
        d->pid = 0;
        fail_msg("node %s did not stop on SIGINT", d->log);
    }
    d->pid = 0;
    assert_false(wp_itest_log_has_sanitizer_report(d->log));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void *dealer(const char *ep, int rcvhwm)
{
    void *s = zmq_socket(g_ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    assert_int_equal(zmq_connect(s, ep), 0);
    return s;
}

static void send_infer(void *s, uint64_t id, uint32_t timeout_ms, uint64_t deadline_unix_ns)
{
    Warmpath__Infer__InferRequest r = WARMPATH__INFER__INFER_REQUEST__INIT;
    uint32_t toks[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    r.request_id = id;
    r.model = MODEL;
    r.n_input_tokens = 8;
    r.input_tokens = toks;
    r.max_output_tokens = 4;
    r.timeout_ms = timeout_ms;
    r.deadline_unix_ns = deadline_unix_ns;
    uint8_t buf[512];
    size_t len = wp_infer_encode_into(WP_INFER_KIND_INFER_REQUEST, &r.base, buf, sizeof buf);
    assert_true(len > 0);
    assert_true(zmq_send(s, buf, len, 0) >= 0);
}

static Warmpath__Infer__InferResponse *recv_infer(void *s, int timeout_ms)
{
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, s, 0) < 0) {
        zmq_msg_close(&m);
        return NULL;
    }
    wp_infer_kind kind;
    size_t plen;
    Warmpath__Infer__InferResponse *r = NULL;
    if (wp_infer_frame_check(zmq_msg_data(&m), zmq_msg_size(&m), &kind, &plen, NULL) != WP_OK ||
        kind != WP_INFER_KIND_INFER_RESPONSE ||
        wp_infer_decode_response((const uint8_t *)zmq_msg_data(&m) + WP_INFER_HDR_BYTES, plen,
                                 &r, NULL) != WP_OK)
        r = NULL;
    zmq_msg_close(&m);
    return r;
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* ---------------------------------------------------------------- flood */

typedef struct flood_arg {
    const char *ep;
    double seconds;
    uint64_t max_frames;
    uint64_t sent;
    double elapsed_s;
} flood_arg;

static void *flooder(void *p)
{
    flood_arg *a = p;
    void *ctx = zmq_ctx_new();
    void *s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = zmq_socket(ctx, ZMQ_DEALER);
        int zero = 0, hwm = 100000, one = 1;
        zmq_setsockopt(s[i], ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(s[i], ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(s[i], ZMQ_RCVHWM, &one, sizeof one); /* never read */
        zmq_connect(s[i], a->ep);
    }
    uint64_t t0 = wp_clock_monotonic_ns(), end = t0 + (uint64_t)(a->seconds * 1e9);
    const char junk[16] = "garbage-garbage";
    for (uint64_t k = 0; a->sent < a->max_frames; k++) {
        if ((k & 1023) == 0 && wp_clock_monotonic_ns() >= end)
            break;
        if (zmq_send(s[k & 3], junk, sizeof junk, ZMQ_DONTWAIT) >= 0)
            a->sent++;
    }
    a->elapsed_s = (double)(wp_clock_monotonic_ns() - t0) / 1e9;
    for (int i = 0; i < 4; i++)
        zmq_close(s[i]);
    zmq_ctx_term(ctx);
    return NULL;
}

/* B's view of A: its status name, or "none". */
static void member_status(const dnode *b, const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "no-answer");
    Warmpath__Admin__AdminResponse *r = admin_call(b, true, 1000);
    if (!r)
        return;
    snprintf(out, cap, "none");
    for (size_t i = 0; i < r->n_members; i++)
        if (strcmp(r->members[i]->id, id) == 0)
            snprintf(out, cap, "%s", r->members[i]->status);
    warmpath__admin__admin_response__free_unpacked(r, NULL);
}

static void test_flood(void **state)
{
    (void)state;
    dnode a, b;
    start(&a, "gpu-fra", "FRA", 1, NULL);
    wait_up(&a, 1);
    start(&b, "gpu-ams", "AMS", 1, a.gossip);
    wait_up(&b, 2);
    wait_up(&a, 2);

    flood_arg fa = {.ep = a.request, .seconds = 3.0, .max_frames = 3000000};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, flooder, &fa), 0);
    sleep_ms(300); /* the flood is on */
    void *c = dealer(a.request, 1000);
    int ok = 0, sent = 0, not_alive = 0;
    char st[32];
    for (int i = 0; i < 10; i++) {
        send_infer(c, (uint64_t)i + 1, 2000, 0);
        sent++;
        Warmpath__Infer__InferResponse *r = recv_infer(c, 2000);
        if (r && r->status == WARMPATH__INFER__STATUS__OK)
            ok++;
        else
            print_message("request %d: %s\n", i + 1,
                          r ? wp_infer_status_name(r->status) : "no answer in 2 s");
        if (r)
            warmpath__infer__infer_response__free_unpacked(r, NULL);
        member_status(&b, "gpu-fra", st, sizeof st);
        if (strcmp(st, "alive") != 0) {
            not_alive++;
            print_message("B sees A as %s\n", st);
        }
        sleep_ms(150);
    }
    pthread_join(th, NULL);
    zmq_close(c);
    double rate = fa.elapsed_s > 0 ? (double)fa.sent / fa.elapsed_s : 0;
    Warmpath__Admin__AdminResponse *s = admin_call(&a, false, 2000);
    assert_non_null(s);
    print_message("flood: %llu garbage frames in %.2f s (%.0f/s); node A read %llu bad, yielded "
                  "%llu times, dropped %llu answers; real requests ok %d/%d; B saw A not "
                  "alive %d times\n",
                  (unsigned long long)fa.sent, fa.elapsed_s, rate,
                  (unsigned long long)s->status->req_bad,
                  (unsigned long long)s->status->drain_yields,
                  (unsigned long long)s->status->client_drops, ok, sent, not_alive);
    warmpath__admin__admin_response__free_unpacked(s, NULL);
    /* Let suspicion that started late show up too. */
    sleep_ms(500);
    member_status(&b, "gpu-fra", st, sizeof st);
    stop(&b);
    stop(&a);
    assert_int_equal(ok, sent);
    assert_int_equal(not_alive, 0);
    assert_string_equal(st, "alive");
}

/* ---------------------------------------------------------------- deadline */

static void test_deadline(void **state)
{
    (void)state;
    dnode a;
    start(&a, "gpu-fra", "FRA", 1, NULL);
    wait_up(&a, 1);
    void *c = dealer(a.request, 1000);
    enum { N_BEFORE = 5, N_PAUSED = 20 };
    uint64_t sent_rt[N_BEFORE + N_PAUSED + 1];
    const uint64_t budget_ns = 5000ull * 1000000ull;
    /* Before: answered OK in time (the first one loads the model). */
    int ok = 0, dx = 0, late_ok = 0, other = 0, got = 0;
    for (int i = 1; i <= N_BEFORE; i++) {
        sent_rt[i] = wp_clock_realtime_ns();
        send_infer(c, (uint64_t)i, 5000, sent_rt[i] + budget_ns);
        Warmpath__Infer__InferResponse *r = recv_infer(c, 5000);
        assert_non_null(r);
        assert_int_equal(r->status, WARMPATH__INFER__STATUS__OK);
        warmpath__infer__infer_response__free_unpacked(r, NULL);
        ok++;
        got++;
    }
    assert_int_equal(kill(a.pid, SIGSTOP), 0);
    for (int i = N_BEFORE + 1; i <= N_BEFORE + N_PAUSED; i++) {
        sent_rt[i] = wp_clock_realtime_ns();
        send_infer(c, (uint64_t)i, 5000, sent_rt[i] + budget_ns);
        sleep_ms(10);
    }
    sleep_ms(6200);
    assert_int_equal(kill(a.pid, SIGCONT), 0);
    for (;;) {
        Warmpath__Infer__InferResponse *r = recv_infer(c, 3000);
        if (!r)
            break;
        uint64_t at = wp_clock_realtime_ns();
        got++;
        uint64_t id = r->request_id;
        assert_true(id >= 1 && id <= N_BEFORE + N_PAUSED);
        if (r->status == WARMPATH__INFER__STATUS__OK) {
            ok++;
            if (at > sent_rt[id] + budget_ns) {
                late_ok++;
                print_message("request %llu answered OK %.2f s after it was sent\n",
                              (unsigned long long)id, (double)(at - sent_rt[id]) / 1e9);
            }
        } else if (r->status == WARMPATH__INFER__STATUS__DEADLINE_EXCEEDED) {
            dx++;
            if (id <= N_BEFORE)
                print_message("request %llu (before the pause): %s\n", (unsigned long long)id,
                              r->reason);
        } else {
            other++;
            print_message("request %llu: %s: %s\n", (unsigned long long)id,
                          wp_infer_status_name(r->status), r->reason);
        }
        warmpath__infer__infer_response__free_unpacked(r, NULL);
        if (got == N_BEFORE + N_PAUSED)
            break;
    }
    zmq_close(c);
    Warmpath__Admin__AdminResponse *s = admin_call(&a, false, 2000);
    assert_non_null(s);
    print_message("deadline: %d answers: %d ok (%d late), %d DEADLINE_EXCEEDED, %d other; node "
                  "counted %llu\n",
                  got, ok, late_ok, dx, other,
                  (unsigned long long)s->status->req_deadline_exceeded);
    warmpath__admin__admin_response__free_unpacked(s, NULL);
    stop(&a);
    assert_int_equal(late_ok, 0);
    assert_int_equal(got, N_BEFORE + N_PAUSED);
    assert_int_equal(ok, N_BEFORE);
    assert_int_equal(dx, N_PAUSED);
}

/* ---------------------------------------------------------------- admin */

static void raw_tcp(const char *ep, const void *buf, size_t len)
{
    int port = atoi(strrchr(ep, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        ssize_t w = write(fd, buf, len);
        (void)w;
        sleep_ms(50);
    }
    close(fd);
}

static void test_admin_garbage(void **state)
{
    (void)state;
    dnode a;
    start(&a, "gpu-fra", "FRA", 1, NULL);
    wait_up(&a, 1);
    /* Raw TCP: random bytes, a ZeroMQ greeting then junk, a ZMTP/1.0-style
     * length-prefixed junk with the "more" bit, a partial greeting. */
    wp_rng rng;
    wp_rng_seed(&rng, 13);
    uint8_t junk[512];
    for (size_t k = 0; k < sizeof junk; k++)
        junk[k] = (uint8_t)wp_rng_u64(&rng);
    raw_tcp(a.admin, junk, sizeof junk);
    const uint8_t greet[] = {0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0, 'N', 'U', 'L', 'L'};
    uint8_t g2[sizeof greet + 64];
    memcpy(g2, greet, sizeof greet);
    memset(g2 + sizeof greet, 0, 64);
    raw_tcp(a.admin, g2, sizeof g2);
    const uint8_t z1[] = {0x05, 0x01, 'a', 'b', 'c', 'd', 0x05, 0x01, 'e', 'f', 'g', 'h'};
    raw_tcp(a.admin, z1, sizeof z1);
    raw_tcp(a.admin, greet, 5);
    /* ZeroMQ peers with odd envelopes, left connected. */
    void *d1 = zmq_socket(g_ctx, ZMQ_DEALER); /* no delimiter */
    void *d2 = zmq_socket(g_ctx, ZMQ_DEALER); /* multi-part, delimiter first */
    void *d3 = zmq_socket(g_ctx, ZMQ_DEALER); /* a delimiter and nothing else */
    void *d4 = zmq_socket(g_ctx, ZMQ_DEALER); /* non-empty label then payload */
    void *socks[] = {d1, d2, d3, d4};
    for (int i = 0; i < 4; i++) {
        int zero = 0;
        zmq_setsockopt(socks[i], ZMQ_LINGER, &zero, sizeof zero);
        assert_int_equal(zmq_connect(socks[i], a.admin), 0);
    }
    zmq_send(d1, "XX", 2, 0);
    zmq_send(d1, junk, 64, 0);
    zmq_send(d2, "", 0, ZMQ_SNDMORE);
    zmq_send(d2, "p1", 2, ZMQ_SNDMORE);
    zmq_send(d2, "p2", 2, 0);
    zmq_send(d3, "", 0, 0);
    zmq_send(d4, "label", 5, ZMQ_SNDMORE);
    zmq_send(d4, junk, 32, 0);
    sleep_ms(200);
    int answered = 0;
    for (int i = 0; i < 3; i++) {
        Warmpath__Admin__AdminResponse *r = admin_call(&a, i == 1, 1500);
        if (r) {
            answered++;
            warmpath__admin__admin_response__free_unpacked(r, NULL);
        }
    }
    print_message("admin: %d of 3 real requests answered after the garbage\n", answered);
    for (int i = 0; i < 4; i++)
        zmq_close(socks[i]);
    stop(&a);
    assert_int_equal(answered, 3);
}

/* ---------------------------------------------------------------- slow readers */

static void test_slow_readers(void **state)
{
    (void)state;
    dnode a;
    start(&a, "gpu-fra", "FRA", 1, NULL);
    wait_up(&a, 1);
    sleep_ms(300);
    long before = rss_kb(a.pid);
    enum { CLIENTS = 4, PER = 50000 };
    void *c[CLIENTS];
    const char junk[24] = "not-a-request-not-a-req";
    for (int i = 0; i < CLIENTS; i++) {
        c[i] = dealer(a.request, 1); /* reads nothing, holds little */
        int hwm = 0;                 /* no client-side send limit */
        zmq_setsockopt(c[i], ZMQ_SNDHWM, &hwm, sizeof hwm);
    }
    for (int k = 0; k < PER; k++)
        for (int i = 0; i < CLIENTS; i++)
            assert_true(zmq_send(c[i], junk, sizeof junk, 0) >= 0);
    /* Until the node has read them all (or 10 s). */
    Warmpath__Admin__AdminResponse *s = NULL;
    for (int i = 0; i < 100; i++) {
        s = admin_call(&a, false, 2000);
        assert_non_null(s);
        if (s->status->req_in >= (uint64_t)CLIENTS * PER)
            break;
        warmpath__admin__admin_response__free_unpacked(s, NULL);
        s = NULL;
        sleep_ms(100);
    }
    assert_non_null(s);
    sleep_ms(300);
    long after = rss_kb(a.pid);
    print_message("slow readers: %d clients x %d unread answers: RSS %ld -> %ld kB (+%ld kB); "
                  "node read %llu, dropped %llu answers\n",
                  CLIENTS, PER, before, after, after - before,
                  (unsigned long long)s->status->req_in,
                  (unsigned long long)s->status->client_drops);
    uint64_t in = s->status->req_in, drops = s->status->client_drops;
    warmpath__admin__admin_response__free_unpacked(s, NULL);
    for (int i = 0; i < CLIENTS; i++)
        zmq_close(c[i]);
    stop(&a);
    assert_true(in >= (uint64_t)CLIENTS * PER);
    assert_true(after - before < 16 * 1024);
    assert_true(drops > 0);
}

/* ---------------------------------------------------------------- oversize */

static void test_oversize(void **state)
{
    (void)state;
    dnode a;
    start(&a, "gpu-fra", "FRA", 1, NULL);
    wait_up(&a, 1);
    long before = rss_kb(a.pid);
    size_t big = 64u << 20;
    uint8_t *buf = calloc(1, big);
    assert_non_null(buf);
    void *p = zmq_socket(g_ctx, ZMQ_PUSH);
    void *d = zmq_socket(g_ctx, ZMQ_DEALER);
    void *q = zmq_socket(g_ctx, ZMQ_REQ);
    void *socks[] = {p, d, q};
    const char *eps[] = {a.gossip, a.request, a.admin};
    for (int i = 0; i < 3; i++) {
        int lg = 2000;
        zmq_setsockopt(socks[i], ZMQ_LINGER, &lg, sizeof lg);
        assert_int_equal(zmq_connect(socks[i], eps[i]), 0);
        assert_true(zmq_send(socks[i], buf, big, 0) >= 0);
    }
    sleep_ms(1500);
    long after = rss_kb(a.pid);
    Warmpath__Admin__AdminResponse *s = admin_call(&a, false, 2000);
    print_message("oversize: 3 x 64 MiB frames: RSS %ld -> %ld kB; admin %s\n", before, after,
                  s ? "answers" : "does not answer");
    bool answered = s != NULL;
    if (s)
        warmpath__admin__admin_response__free_unpacked(s, NULL);
    for (int i = 0; i < 3; i++) {
        int zero = 0;
        zmq_setsockopt(socks[i], ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(socks[i]);
    }
    free(buf);
    stop(&a);
    assert_true(answered);
    assert_true(after - before < 32 * 1024);
}

/* ---------------------------------------------------------------- main */

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/wp-faults.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_dir))
        return -1;
    g_ctx = zmq_ctx_new();
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < g_n_nodes; i++)
        if (g_nodes[i]->pid > 0) {
            kill(g_nodes[i]->pid, SIGKILL);
            waitpid(g_nodes[i]->pid, NULL, 0);
        }
    zmq_ctx_term(g_ctx);
    if (!getenv("WP_KEEP_DIR")) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        if (system(cmd) != 0)
            return -1;
    } else {
        fprintf(stderr, "kept %s\n", g_dir);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flood),         cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_admin_garbage), cmocka_unit_test(test_slow_readers),
        cmocka_unit_test(test_oversize),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
