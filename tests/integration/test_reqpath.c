/* The live request path with real processes: a 3-node cluster (FRA, IAD,
 * SIN) started by `wpctl cluster up --placement 0` (timing-model backend),
 * driven over the nodes' request endpoints (DEALER, proto/inference.proto).
 *
 *   1. route + forward: whisper is made warm at IAD and SIN by requests to
 *      their own ingresses (served locally, cold); then a request entering
 *      at FRA is routed to a warm node elsewhere and answered through FRA
 *      (serving node != ingress, hop RTT set, not cold). `route` explains.
 *   2. bad requests: garbage, bad magic, a header claiming 2 MiB, a 1.5 MiB
 *      frame, empty input, no model, unknown model, a multi-part message:
 *      each gets one BAD_REQUEST / UNKNOWN_MODEL answer, and a good request
 *      sent in the middle of them is still answered OK.
 *   3. drain: after `wpctl drain sin-1`, requests entering at FRA and at
 *      SIN itself are all served, none by sin-1 (SIN still works as an
 *      ingress).
 *   4. kill the target during a request: FRA forwards a ~1 s whisper
 *      request to IAD, IAD is SIGKILLed; exactly one answer comes back: OK
 *      from the retry (retried = true, first_target = iad-1) or one
 *      explicit error; nothing else arrives afterwards.
 *   5. shutdown answers: a request pending at an ingress that gets SIGTERM
 *      is answered (SHUTTING_DOWN) before the process exits.
 *   6. the cpu backend: a node serving a generated llama2.c checkpoint
 *      (--gpu-backend cpu --model-file) answers with the tokens `wpctl
 *      infer --backend cpu` prints.
 *   7. WAN emulation (a second cluster, FRA + SYD, --emulate-wan): the hop
 *      and the client leg carry the model RTTs; the answer takes at least
 *      their sum.
 * The cluster is torn down at the end (and on failure, by the teardown).
 * Both clusters run --insecure: these are tests of the request path with
 * plain sockets, and case 6 joins a node started by hand, whose key the
 * running daemons' keyrings would not hold. The keyed path is tested by
 * test_node_keys, test_placement_keys and cli_cluster (up's default). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "node/node.h"
#include "node/infer.h"
#include "proto/inference.pb-c.h"
#include "tools/wpctl/cluster.h"
#include "tests/integration/itest.h"

static char g_dir[256];
static char g_wpctl[512];
static void *g_ctx;
static wpctl_cluster *g_cl;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const wpctl_node_rec *node_rec(const char *id)
{
    for (size_t i = 0; i < g_cl->n; i++)
        if (strcmp(g_cl->nodes[i].id, id) == 0)
            return &g_cl->nodes[i];
    fail_msg("no node %s", id);
    return NULL;
}

static void *dealer(const char *node_id)
{
    void *s = zmq_socket(g_ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(s, node_rec(node_id)->request), 0);
    return s;
}

static void send_infer(void *s, uint64_t id, const char *model, uint32_t ntok, uint32_t out,
                       const char *client_city)
{
    Warmpath__Infer__InferRequest r = WARMPATH__INFER__INFER_REQUEST__INIT;
    uint32_t toks[16];
    for (uint32_t i = 0; i < 16; i++)
        toks[i] = i + 1;
    r.request_id = id;
    r.model = (char *)model;
    r.n_input_tokens = ntok;
    r.input_tokens = toks;
    r.max_output_tokens = out;
    r.client_city = (char *)(client_city ? client_city : "");
    uint8_t *buf;
    size_t len;
    assert_int_equal(wp_infer_encode(WP_INFER_KIND_INFER_REQUEST, &r.base, &buf, &len, NULL),
                     WP_OK);
    assert_true(zmq_send(s, buf, len, 0) >= 0);
    free(buf);
}

/* Next InferResponse within timeout_ms, or NULL. */
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
    wp_err err;
    assert_int_equal(wp_infer_frame_check(zmq_msg_data(&m), zmq_msg_size(&m), &kind, &plen, &err),
                     WP_OK);
    assert_int_equal(kind, WP_INFER_KIND_INFER_RESPONSE);
    Warmpath__Infer__InferResponse *r = NULL;
    assert_int_equal(wp_infer_decode_response((const uint8_t *)zmq_msg_data(&m) + WP_INFER_HDR_BYTES,
                                              plen, &r, &err),
                     WP_OK);
    zmq_msg_close(&m);
    return r;
}

static Warmpath__Infer__InferResponse *call(const char *node_id, uint64_t id, const char *model,
                                            uint32_t out, int timeout_ms)
{
    void *s = dealer(node_id);
    send_infer(s, id, model, 8, out, NULL);
    Warmpath__Infer__InferResponse *r = recv_infer(s, timeout_ms);
    zmq_close(s);
    return r;
}

/* Waits until node `viewer` sees model warm on `holder` (wpctl nodes). */
static void wait_warm(const char *viewer, const char *holder, const char *model)
{
    for (int i = 0; i < 50; i++) {
        if (run("%s nodes --dir %s --node %s --json 2>/dev/null | grep -q '\"id\":\"%s\"[^}]*%s'",
                g_wpctl, g_dir, viewer, holder, model) == 0)
            return;
        sleep_ms(200);
    }
    fail_msg("%s never saw %s warm on %s", viewer, model, holder);
}

static void reload(void)
{
    wp_err err;
    assert_int_equal(wpctl_cluster_load(g_dir, g_cl, &err), WP_OK);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/reqpath-cluster-%ld", WP_BUILD_DIR, (long)getpid());
    snprintf(g_wpctl, sizeof g_wpctl, "%s/tools/wpctl", WP_BUILD_DIR);
    if (run("%s cluster up --dir %s --cities FRA,IAD,SIN --placement 0 --probe-interval-ms 200 "
            "--gpu-backend model --insecure >/dev/null 2>&1",
            g_wpctl, g_dir) != 0)
        return -1;
    g_ctx = zmq_ctx_new();
    g_cl = malloc(sizeof *g_cl);
    reload();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    run("%s cluster down --dir %s >/dev/null 2>&1", g_wpctl, g_dir);
    run("%s cluster down --dir %s-wan >/dev/null 2>&1", g_wpctl, g_dir);
    char wan[300];
    snprintf(wan, sizeof wan, "%s-wan", g_dir);
    if (!wp_itest_dir_has_sanitizer_report(wan))
        run("rm -rf %s", wan);
    if (wp_itest_dir_has_sanitizer_report(g_dir))
        setenv("WP_KEEP_CLUSTER", "1", 1); /* the logs stay for whoever looks */
    if (g_ctx)
        zmq_ctx_term(g_ctx);
    free(g_cl);
    if (!getenv("WP_KEEP_CLUSTER"))
        run("rm -rf %s", g_dir);
    return 0;
}

static void test_route_and_forward(void **state)
{
    (void)state;
    const char *W = "whisper-large-v3-turbo";
    /* Warm it at IAD and SIN (each serves itself, cold). */
    Warmpath__Infer__InferResponse *a = call("iad-1", 1, W, 4, 10000);
    Warmpath__Infer__InferResponse *b = call("sin-1", 2, W, 4, 10000);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->status, WARMPATH__INFER__STATUS__OK);
    assert_int_equal(b->status, WARMPATH__INFER__STATUS__OK);
    assert_string_equal(a->serving_node, "iad-1");
    assert_true(a->cold);
    assert_true(a->timings->cold_load_us > 1000000); /* 1.8 s modelled load */
    assert_int_equal(a->output_count, 4);
    assert_int_equal(a->request_id, 1);
    warmpath__infer__infer_response__free_unpacked(a, NULL);
    warmpath__infer__infer_response__free_unpacked(b, NULL);
    wait_warm("fra-1", "iad-1", W);
    wait_warm("fra-1", "sin-1", W);
    /* Enters at FRA, served warm elsewhere (nearest warm from FRA: IAD). */
    Warmpath__Infer__InferResponse *r = call("fra-1", 3, W, 4, 5000);
    assert_non_null(r);
    assert_int_equal(r->status, WARMPATH__INFER__STATUS__OK);
    assert_string_equal(r->ingress_node, "fra-1");
    assert_string_equal(r->serving_node, "iad-1");
    assert_false(r->cold);
    assert_false(r->retried);
    assert_non_null(r->timings);
    assert_true(r->timings->service_us > 0);
    assert_true(r->timings->total_us >= r->timings->service_us);
    assert_non_null(strstr(r->backend, "TIMING MODEL"));
    warmpath__infer__infer_response__free_unpacked(r, NULL);
    /* The explanation agrees. */
    assert_int_equal(run("%s route --help >/dev/null 2>&1 || true", g_wpctl), 0);
    void *s = dealer("fra-1");
    Warmpath__Infer__RouteRequest rq = WARMPATH__INFER__ROUTE_REQUEST__INIT;
    rq.request_id = 9;
    rq.model = (char *)W;
    uint8_t *buf;
    size_t len;
    assert_int_equal(wp_infer_encode(WP_INFER_KIND_ROUTE_REQUEST, &rq.base, &buf, &len, NULL),
                     WP_OK);
    assert_true(zmq_send(s, buf, len, 0) >= 0);
    free(buf);
    int to = 3000;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &to, sizeof to);
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, s, 0) >= 0);
    wp_infer_kind kind;
    size_t plen;
    assert_int_equal(wp_infer_frame_check(zmq_msg_data(&m), zmq_msg_size(&m), &kind, &plen, NULL),
                     WP_OK);
    assert_int_equal(kind, WP_INFER_KIND_ROUTE_RESPONSE);
    Warmpath__Infer__RouteResponse *rr = NULL;
    assert_int_equal(wp_infer_decode_route_response(
                         (const uint8_t *)zmq_msg_data(&m) + WP_INFER_HDR_BYTES, plen, &rr, NULL),
                     WP_OK);
    assert_int_equal(rr->status, WARMPATH__INFER__STATUS__OK);
    assert_string_equal(rr->chosen_node, "iad-1");
    assert_true(rr->n_candidates >= 2);
    assert_string_equal(rr->candidates[0]->node, "fra-1");
    /* The default policy (latency) weighs the cold node too: its load time
     * makes it the costlier one. */
    assert_false(rr->candidates[0]->warm);
    assert_string_equal(rr->candidates[0]->verdict, "better-found");
    warmpath__infer__route_response__free_unpacked(rr, NULL);
    zmq_msg_close(&m);
    zmq_close(s);
}

static void expect_error(void *s, int status, const char *needle)
{
    Warmpath__Infer__InferResponse *r = recv_infer(s, 3000);
    assert_non_null(r);
    if ((int)r->status != status || !strstr(r->reason, needle))
        fail_msg("expected %s '%s', got %s '%s'", wp_infer_status_name(status), needle,
                 wp_infer_status_name(r->status), r->reason);
    warmpath__infer__infer_response__free_unpacked(r, NULL);
}

static void test_bad_requests(void **state)
{
    (void)state;
    void *s = dealer("fra-1");
    assert_true(zmq_send(s, "garbage!", 8, 0) >= 0);
    expect_error(s, WARMPATH__INFER__STATUS__BAD_REQUEST, "magic");
    uint8_t hdr[WP_INFER_HDR_BYTES + 4];
    wp_infer_frame_header(hdr, WP_INFER_KIND_INFER_REQUEST, 2u << 20);
    assert_true(zmq_send(s, hdr, WP_INFER_HDR_BYTES, 0) >= 0);
    expect_error(s, WARMPATH__INFER__STATUS__BAD_REQUEST, "payload");
    size_t big = (3u << 19);
    uint8_t *bb = calloc(1, big + WP_INFER_HDR_BYTES);
    wp_infer_frame_header(bb, WP_INFER_KIND_INFER_REQUEST, big);
    assert_true(zmq_send(s, bb, big + WP_INFER_HDR_BYTES, 0) >= 0);
    free(bb);
    expect_error(s, WARMPATH__INFER__STATUS__BAD_REQUEST, "payload");
    /* Garbage protobuf after a good header. */
    memcpy(hdr + WP_INFER_HDR_BYTES, "\xff\xff\xff\xff", 4);
    wp_infer_frame_header(hdr, WP_INFER_KIND_INFER_REQUEST, 4);
    assert_true(zmq_send(s, hdr, sizeof hdr, 0) >= 0);
    expect_error(s, WARMPATH__INFER__STATUS__BAD_REQUEST, "protobuf");
    /* A good one in the middle. */
    send_infer(s, 100, "distilbert-sst2", 4, 1, "FRA");
    Warmpath__Infer__InferResponse *ok = recv_infer(s, 5000);
    assert_non_null(ok);
    assert_int_equal(ok->request_id, 100);
    assert_int_equal(ok->status, WARMPATH__INFER__STATUS__OK);
    warmpath__infer__infer_response__free_unpacked(ok, NULL);
    send_infer(s, 101, "distilbert-sst2", 0, 1, NULL);
    expect_error(s, WARMPATH__INFER__STATUS__BAD_REQUEST, "empty input");
    send_infer(s, 102, "", 3, 1, NULL);
    expect_error(s, WARMPATH__INFER__STATUS__BAD_REQUEST, "model");
    send_infer(s, 103, "no-such-model", 3, 1, NULL);
    expect_error(s, WARMPATH__INFER__STATUS__UNKNOWN_MODEL, "no-such-model");
    send_infer(s, 104, "distilbert-sst2", 3, 1, "ZZZ");
    expect_error(s, WARMPATH__INFER__STATUS__BAD_REQUEST, "client_city");
    assert_true(zmq_send(s, "a", 1, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(s, "b", 1, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(s, "c", 1, 0) >= 0);
    expect_error(s, WARMPATH__INFER__STATUS__BAD_REQUEST, "one frame");
    /* Nothing else is pending on this socket. */
    assert_null(recv_infer(s, 300));
    zmq_close(s);
}

static void test_drain(void **state)
{
    (void)state;
    const char *W = "whisper-large-v3-turbo";
    assert_int_equal(run("%s drain sin-1 --dir %s >/dev/null", g_wpctl, g_dir), 0);
    /* Every node's view has sin-1 draining within the gossip time. */
    for (int i = 0; i < 50; i++) {
        if (run("%s nodes --dir %s --node fra-1 --json 2>/dev/null | grep -q "
                "'\"id\":\"sin-1\"[^}]*\"draining\":true'",
                g_wpctl, g_dir) == 0)
            break;
        sleep_ms(200);
    }
    sleep_ms(300); /* one view refresh */
    const char *ingress[] = {"fra-1", "sin-1", "iad-1", "sin-1"};
    for (int i = 0; i < 4; i++) {
        Warmpath__Infer__InferResponse *r = call(ingress[i], 200 + (uint64_t)i, W, 2, 10000);
        assert_non_null(r);
        assert_int_equal(r->status, WARMPATH__INFER__STATUS__OK);
        assert_string_not_equal(r->serving_node, "sin-1");
        assert_string_equal(r->ingress_node, ingress[i]);
        warmpath__infer__infer_response__free_unpacked(r, NULL);
    }
}

static void test_kill_target(void **state)
{
    (void)state;
    const char *W = "whisper-large-v3-turbo";
    /* Undrain SIN so the retry has a warm place to go. */
    assert_int_equal(run("%s drain sin-1 --off --dir %s >/dev/null", g_wpctl, g_dir), 0);
    for (int i = 0; i < 50; i++) {
        if (run("%s nodes --dir %s --node fra-1 --json 2>/dev/null | grep -q "
                "'\"id\":\"sin-1\"[^}]*\"draining\":false'",
                g_wpctl, g_dir) == 0)
            break;
        sleep_ms(200);
    }
    void *s = dealer("fra-1");
    send_infer(s, 300, W, 8, 250, NULL); /* ~1 s of service at IAD */
    sleep_ms(300);
    const wpctl_node_rec *iad = node_rec("iad-1");
    assert_int_equal(kill(iad->pid, SIGKILL), 0);
    Warmpath__Infer__InferResponse *r = recv_infer(s, 20000);
    assert_non_null(r);
    assert_int_equal(r->request_id, 300);
    printf("kill during request: %s, served by %s, retried %d (first target %s), %s\n",
           wp_infer_status_name(r->status), r->serving_node, r->retried, r->first_target,
           r->reason);
    if (r->status == WARMPATH__INFER__STATUS__OK) {
        assert_true(r->retried);
        assert_string_equal(r->first_target, "iad-1");
        assert_string_not_equal(r->serving_node, "iad-1");
    } else {
        assert_true(r->reason[0] != 0);
    }
    warmpath__infer__infer_response__free_unpacked(r, NULL);
    /* Exactly one answer. */
    assert_null(recv_infer(s, 1500));
    zmq_close(s);
}

static void test_shutdown_answers(void **state)
{
    (void)state;
    /* A long request that FRA serves itself (nearest policy, cold llama:
     * about 11 s of modelled load), then SIGTERM to FRA. */
    void *s = dealer("fra-1");
    Warmpath__Infer__InferRequest r = WARMPATH__INFER__INFER_REQUEST__INIT;
    uint32_t toks[2] = {1, 2};
    r.request_id = 400;
    r.model = "llama-3.1-8b-instruct";
    r.n_input_tokens = 2;
    r.input_tokens = toks;
    r.max_output_tokens = 8;
    r.policy = "nearest";
    uint8_t *buf;
    size_t len;
    assert_int_equal(wp_infer_encode(WP_INFER_KIND_INFER_REQUEST, &r.base, &buf, &len, NULL),
                     WP_OK);
    assert_true(zmq_send(s, buf, len, 0) >= 0);
    free(buf);
    sleep_ms(300);
    assert_int_equal(kill(node_rec("fra-1")->pid, SIGTERM), 0);
    Warmpath__Infer__InferResponse *a = recv_infer(s, 5000);
    assert_non_null(a);
    assert_int_equal(a->request_id, 400);
    assert_int_equal(a->status, WARMPATH__INFER__STATUS__SHUTTING_DOWN);
    warmpath__infer__infer_response__free_unpacked(a, NULL);
    assert_null(recv_infer(s, 500));
    zmq_close(s);
}

/* The cpu backend: one node with a generated llama2.c checkpoint answers
 * with the same tokens `wpctl infer --backend cpu` prints. */
static void test_cpu_backend(void **state)
{
    (void)state;
    char model[512], bin[512], req[WP_GOSSIP_ADDR_MAX], gos[WP_GOSSIP_ADDR_MAX], cmd[2048];
    snprintf(model, sizeof model, "%s/tiny.bin", g_dir);
    snprintf(bin, sizeof bin, "%s/node/wp-node", WP_BUILD_DIR);
    assert_int_equal(run("%s model gen --dim 64 --layers 2 --heads 4 --vocab 256 --seq-len 128 "
                         "--seed 1 -o %s >/dev/null 2>&1",
                         g_wpctl, model),
                     0);
    snprintf(cmd, sizeof cmd, "%s infer --model %s --prompt-tokens 1,2,3 --steps 8 --backend cpu "
             "2>/dev/null",
             g_wpctl, model);
    FILE *fp = popen(cmd, "r");
    assert_non_null(fp);
    char expect[256] = "";
    assert_non_null(fgets(expect, sizeof expect, fp));
    pclose(fp);
    /* A port pair from the stopped FRA node (its process is gone). */
    const wpctl_node_rec *fra = node_rec("fra-1");
    snprintf(gos, sizeof gos, "%s", fra->gossip);
    snprintf(req, sizeof req, "%s", fra->request);
    char mf[600];
    snprintf(mf, sizeof mf, "tiny=%s", model);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(bin, bin, "--city", "FRA", "--id", "cpu-1", "--bind", gos, "--request", req,
              "--gpus", "1", "--gpu-mem-gb", "1", "--gpu-backend", "cpu", "--model-file", mf,
              "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    void *s = zmq_socket(g_ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(s, req), 0);
    Warmpath__Infer__InferRequest r = WARMPATH__INFER__INFER_REQUEST__INIT;
    uint32_t toks[3] = {1, 2, 3};
    r.request_id = 500;
    r.model = "tiny";
    r.n_input_tokens = 3;
    r.input_tokens = toks;
    r.max_output_tokens = 8;
    uint8_t *buf;
    size_t len;
    assert_int_equal(wp_infer_encode(WP_INFER_KIND_INFER_REQUEST, &r.base, &buf, &len, NULL),
                     WP_OK);
    assert_true(zmq_send(s, buf, len, 0) >= 0);
    free(buf);
    Warmpath__Infer__InferResponse *a = recv_infer(s, 10000);
    assert_non_null(a);
    assert_int_equal(a->status, WARMPATH__INFER__STATUS__OK);
    assert_string_equal(a->backend, "cpu");
    assert_int_equal(a->n_output_tokens, 8);
    assert_int_equal(a->output_count, 8);
    char got[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < a->n_output_tokens; i++)
        used += (size_t)snprintf(got + used, sizeof got - used, "%s%u", i ? " " : "",
                                 a->output_tokens[i]);
    expect[strcspn(expect, "\n")] = '\0';
    assert_string_equal(got, expect);
    assert_true(a->cold);
    warmpath__infer__infer_response__free_unpacked(a, NULL);
    zmq_close(s);
    assert_int_equal(kill(pid, SIGTERM), 0);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* WAN emulation: a 2-node cluster (FRA, SYD) with --emulate-wan. A request
 * from a client in LHR entering at FRA, served warm at SYD, carries the
 * FRA<->SYD model RTT on the hop and the LHR<->FRA RTT on the client leg,
 * and takes at least their sum. */
static void test_wan_emulation(void **state)
{
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s-wan", g_dir);
    assert_int_equal(run("%s cluster up --dir %s --cities FRA,SYD --placement 0 "
                         "--probe-interval-ms 200 --gpu-backend model --emulate-wan --insecure "
                         ">/dev/null 2>&1",
                         g_wpctl, dir),
                     0);
    wpctl_cluster *cl = malloc(sizeof *cl);
    wp_err err;
    assert_int_equal(wpctl_cluster_load(dir, cl, &err), WP_OK);
    const char *fra = NULL, *syd = NULL;
    for (size_t i = 0; i < cl->n; i++) {
        if (strcmp(cl->nodes[i].id, "fra-1") == 0)
            fra = cl->nodes[i].request;
        if (strcmp(cl->nodes[i].id, "syd-1") == 0)
            syd = cl->nodes[i].request;
    }
    assert_non_null(fra);
    assert_non_null(syd);
    const char *M = "distilbert-sst2";
    void *s = zmq_socket(g_ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(s, syd), 0);
    send_infer(s, 600, M, 4, 1, "SYD");
    Warmpath__Infer__InferResponse *a = recv_infer(s, 5000);
    assert_non_null(a);
    assert_int_equal(a->status, WARMPATH__INFER__STATUS__OK);
    assert_string_equal(a->serving_node, "syd-1");
    warmpath__infer__infer_response__free_unpacked(a, NULL);
    zmq_close(s);
    int ok = 0;
    for (int i = 0; i < 50 && !ok; i++) {
        ok = run("%s nodes --dir %s --node fra-1 --json 2>/dev/null | grep -q "
                 "'\"id\":\"syd-1\"[^}]*%s'",
                 g_wpctl, dir, M) == 0;
        if (!ok)
            sleep_ms(200);
    }
    assert_true(ok);
    sleep_ms(300);
    s = zmq_socket(g_ctx, ZMQ_DEALER);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(s, fra), 0);
    uint64_t t0 = wp_clock_monotonic_ns();
    send_infer(s, 601, M, 4, 1, "LHR");
    Warmpath__Infer__InferResponse *r = recv_infer(s, 10000);
    uint64_t el_us = (wp_clock_monotonic_ns() - t0) / 1000;
    assert_non_null(r);
    assert_int_equal(r->status, WARMPATH__INFER__STATUS__OK);
    assert_string_equal(r->serving_node, "syd-1");
    assert_string_equal(r->ingress_node, "fra-1");
    /* Model RTTs (topology edge preset): FRA-SYD ~ 280-330 ms, LHR-FRA ~ 15-25 ms. */
    printf("wan: hop rtt %.1f ms, client rtt %.1f ms, total %.1f ms, measured %.1f ms\n",
           r->timings->hop_rtt_us / 1e3, r->timings->client_rtt_us / 1e3,
           r->timings->total_us / 1e3, el_us / 1e3);
    assert_true(r->timings->hop_rtt_us > 200000 && r->timings->hop_rtt_us < 400000);
    assert_true(r->timings->client_rtt_us > 5000 && r->timings->client_rtt_us < 40000);
    assert_true(el_us >= r->timings->hop_rtt_us + r->timings->client_rtt_us);
    assert_true(r->timings->total_us >= r->timings->hop_rtt_us + r->timings->client_rtt_us);
    warmpath__infer__infer_response__free_unpacked(r, NULL);
    zmq_close(s);
    free(cl);
    run("%s cluster down --dir %s >/dev/null 2>&1", g_wpctl, dir);
    if (!wp_itest_dir_has_sanitizer_report(dir))
        run("rm -rf %s", dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_and_forward),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_kill_target),
        cmocka_unit_test(test_shutdown_answers),
        cmocka_unit_test(test_cpu_backend),
        cmocka_unit_test(test_wan_emulation),
    };
    return WP_ITEST_EXIT(cmocka_run_group_tests(tests, setup, teardown));
}
