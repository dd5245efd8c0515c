/* Streamed answers through a real wp-node (cpu backend, a generated
 * checkpoint), one node started by `wpctl cluster up --cities FRA
 * --placement 0 --gpu-backend cpu --model-file tiny=...`:
 *
 *   1. order: a streaming request gets FIRST (seq 0, >= 1 token), CHUNKs
 *      (seq 1, 2, ...) and then exactly one final answer (PART_FINAL) whose
 *      stream_parts equals the parts received and whose output starts with
 *      the tokens the parts carried; nothing arrives after it. The first
 *      part arrives before the final and its time (first_token_us) is
 *      below the total.
 *   2. a request without `stream` gets the final answer alone, with the
 *      first-token time still in its timings.
 *   3. a chunk after the final message: FORWARD_PART frames for hops the
 *      ingress does not have open (as a target's late chunk would be) are
 *      dropped and counted (the node's "late parts dropped" at shutdown).
 *   4. a client that disconnects mid-stream: after its FIRST part the
 *      client closes its socket; the ingress ends the request (counted as
 *      "requests ended by a departed client", or, when ZeroMQ registers
 *      the disconnect only after the generation ended, as a dropped final
 *      send), nothing stays pending, and it keeps serving others.
 * The counters are read from the node's log line at shutdown.
 * The cluster runs --insecure: the cases speak plain ZeroMQ to the node,
 * one of them (parts after the final) as a forging peer on its gossip
 * socket; the keyed path is tested by test_node_keys and cli_cluster.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

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

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/stream-cluster-%ld", WP_BUILD_DIR, (long)getpid());
    snprintf(g_wpctl, sizeof g_wpctl, "%s/tools/wpctl", WP_BUILD_DIR);
    if (run("mkdir -p %s && %s model gen --dim 64 --layers 2 --heads 4 --vocab 256 --seq-len 512 "
            "--seed 1 -o %s/tiny.bin >/dev/null 2>&1",
            g_dir, g_wpctl, g_dir) != 0)
        return -1;
    if (run("%s cluster up --dir %s --cities FRA --placement 0 --gpu-backend cpu "
            "--model-file tiny=%s/tiny.bin --insecure >/dev/null 2>&1",
            g_wpctl, g_dir, g_dir) != 0)
        return -1;
    g_ctx = zmq_ctx_new();
    g_cl = malloc(sizeof *g_cl);
    wp_err err;
    return wpctl_cluster_load(g_dir, g_cl, &err) == WP_OK && g_cl->n == 1 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    run("%s cluster down --dir %s >/dev/null 2>&1", g_wpctl, g_dir);
    if (wp_itest_dir_has_sanitizer_report(g_dir))
        setenv("WP_KEEP_CLUSTER", "1", 1); /* the logs stay for whoever looks */
    if (g_ctx)
        zmq_ctx_shutdown(g_ctx); /* a failed test may leave a socket open: no term */
    free(g_cl);
    if (!getenv("WP_KEEP_CLUSTER"))
        run("rm -rf %s", g_dir);
    return 0;
}

static void *dealer(void)
{
    void *s = zmq_socket(g_ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(s, g_cl->nodes[0].request), 0);
    return s;
}

static void send_req(void *s, uint64_t id, uint32_t out, bool stream)
{
    Warmpath__Infer__InferRequest r = WARMPATH__INFER__INFER_REQUEST__INIT;
    uint32_t toks[3] = {1, 2, 3};
    r.request_id = id;
    r.model = "tiny";
    r.n_input_tokens = 3;
    r.input_tokens = toks;
    r.max_output_tokens = out;
    r.stream = stream;
    r.timeout_ms = 20000;
    uint8_t *buf;
    size_t len;
    assert_int_equal(wp_infer_encode(WP_INFER_KIND_INFER_REQUEST, &r.base, &buf, &len, NULL),
                     WP_OK);
    assert_true(zmq_send(s, buf, len, 0) >= 0);
    free(buf);
}

/* Next frame within timeout_ms: a part or a final answer (one of them set);
 * false on timeout. */
static bool recv_frame(void *s, int timeout_ms, Warmpath__Infer__StreamPart **part,
                       Warmpath__Infer__InferResponse **resp)
{
    *part = NULL;
    *resp = NULL;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, s, 0) < 0) {
        zmq_msg_close(&m);
        return false;
    }
    wp_infer_kind kind;
    size_t plen;
    const uint8_t *b = zmq_msg_data(&m);
    assert_int_equal(wp_infer_frame_check(b, zmq_msg_size(&m), &kind, &plen, NULL), WP_OK);
    if (kind == WP_INFER_KIND_INFER_PART)
        assert_int_equal(wp_infer_decode_part(b + WP_INFER_HDR_BYTES, plen, part, NULL), WP_OK);
    else {
        assert_int_equal(kind, WP_INFER_KIND_INFER_RESPONSE);
        assert_int_equal(wp_infer_decode_response(b + WP_INFER_HDR_BYTES, plen, resp, NULL),
                         WP_OK);
    }
    zmq_msg_close(&m);
    return true;
}

static void test_stream_order(void **state)
{
    (void)state;
    void *s = dealer();
    send_req(s, 7, 100, true);
    uint32_t parts = 0, got[128], ngot = 0;
    uint64_t t0 = wp_clock_monotonic_ns(), t_first = 0, t_final = 0;
    Warmpath__Infer__InferResponse *fin = NULL;
    while (!fin) {
        Warmpath__Infer__StreamPart *p;
        assert_true(recv_frame(s, 20000, &p, &fin));
        if (p) {
            assert_int_equal(p->id, 7);
            assert_int_equal(p->seq, parts);
            assert_int_equal(p->kind, parts == 0 ? WARMPATH__INFER__PART_KIND__PART_FIRST
                                                 : WARMPATH__INFER__PART_KIND__PART_CHUNK);
            if (parts == 0) {
                /* At least the first token (more when the loop woke
                 * after further steps). */
                t_first = wp_clock_monotonic_ns();
                assert_true(p->n_tokens >= 1);
                assert_true(p->first_token_us > 0);
            }
            for (size_t i = 0; i < p->n_tokens && ngot < 128; i++)
                got[ngot++] = p->tokens[i];
            assert_int_equal(p->output_count, ngot);
            parts++;
            warmpath__infer__stream_part__free_unpacked(p, NULL);
        }
    }
    t_final = wp_clock_monotonic_ns();
    assert_int_equal(fin->status, WARMPATH__INFER__STATUS__OK);
    assert_int_equal(fin->request_id, 7);
    assert_int_equal(fin->part, WARMPATH__INFER__PART_KIND__PART_FINAL);
    assert_int_equal(fin->stream_parts, parts);
    assert_true(parts >= 2); /* FIRST and at least one CHUNK of 16 tokens */
    assert_int_equal(fin->n_output_tokens, 100);
    for (uint32_t i = 0; i < ngot; i++)
        assert_int_equal(got[i], fin->output_tokens[i]);
    assert_true(fin->timings->first_token_us > 0);
    assert_true(fin->timings->first_token_us < fin->timings->total_us);
    assert_true(fin->timings->service_first_us < fin->timings->service_us);
    assert_true(t_first > t0 && t_first < t_final);
    warmpath__infer__infer_response__free_unpacked(fin, NULL);
    /* Nothing after the final message. */
    Warmpath__Infer__StreamPart *p;
    assert_false(recv_frame(s, 300, &p, &fin));
    zmq_close(s);
}

static void test_no_stream(void **state)
{
    (void)state;
    void *s = dealer();
    send_req(s, 8, 40, false);
    Warmpath__Infer__StreamPart *p;
    Warmpath__Infer__InferResponse *fin;
    assert_true(recv_frame(s, 20000, &p, &fin));
    assert_null(p); /* the final alone */
    assert_non_null(fin);
    assert_int_equal(fin->status, WARMPATH__INFER__STATUS__OK);
    assert_int_equal(fin->stream_parts, 0);
    assert_true(fin->timings->first_token_us > 0);
    assert_true(fin->timings->first_token_us <= fin->timings->total_us);
    warmpath__infer__infer_response__free_unpacked(fin, NULL);
    zmq_close(s);
}

static void test_part_after_final(void **state)
{
    (void)state;
    /* Parts for hops that are not open, as the node's PULL socket gets
     * them from a target whose request already has its answer. */
    void *push = zmq_socket(g_ctx, ZMQ_PUSH);
    int zero = 0;
    zmq_setsockopt(push, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(push, g_cl->nodes[0].gossip), 0);
    for (uint32_t i = 0; i < 5; i++) {
        Warmpath__Infer__StreamPart sp = WARMPATH__INFER__STREAM_PART__INIT;
        uint32_t tok = 9;
        sp.id = 0x7fff0000u + i;
        sp.kind = WARMPATH__INFER__PART_KIND__PART_CHUNK;
        sp.seq = 3;
        sp.n_tokens = 1;
        sp.tokens = &tok;
        sp.output_count = 40;
        uint8_t *buf;
        size_t len;
        assert_int_equal(wp_infer_encode(WP_INFER_KIND_FORWARD_PART, &sp.base, &buf, &len, NULL),
                         WP_OK);
        assert_true(zmq_send(push, buf, len, 0) >= 0);
        free(buf);
    }
    sleep_ms(300);
    zmq_close(push);
    /* The node still answers. */
    void *s = dealer();
    send_req(s, 9, 4, true);
    Warmpath__Infer__StreamPart *p = NULL;
    Warmpath__Infer__InferResponse *fin = NULL;
    while (!fin) {
        assert_true(recv_frame(s, 20000, &p, &fin));
        if (p)
            warmpath__infer__stream_part__free_unpacked(p, NULL);
    }
    assert_int_equal(fin->status, WARMPATH__INFER__STATUS__OK);
    warmpath__infer__infer_response__free_unpacked(fin, NULL);
    zmq_close(s);
}

static void test_client_gone(void **state)
{
    (void)state;
    void *s = dealer();
    send_req(s, 10, 480, true);
    Warmpath__Infer__StreamPart *p = NULL;
    Warmpath__Infer__InferResponse *fin = NULL;
    assert_true(recv_frame(s, 20000, &p, &fin));
    assert_non_null(p); /* the FIRST part */
    assert_int_equal(p->kind, WARMPATH__INFER__PART_KIND__PART_FIRST);
    warmpath__infer__stream_part__free_unpacked(p, NULL);
    zmq_close(s); /* gone mid-stream */
    sleep_ms(2000); /* the rest of the generation */
    /* Another client is served as before. */
    s = dealer();
    send_req(s, 11, 4, false);
    assert_true(recv_frame(s, 20000, &p, &fin));
    assert_non_null(fin);
    assert_int_equal(fin->status, WARMPATH__INFER__STATUS__OK);
    warmpath__infer__infer_response__free_unpacked(fin, NULL);
    zmq_close(s);
    /* Stop the node and read its counters. */
    assert_int_equal(run("%s cluster down --dir %s >/dev/null 2>&1", g_wpctl, g_dir), 0);
    char log[600];
    snprintf(log, sizeof log, "%s/logs/%s.log", g_dir, g_cl->nodes[0].id);
    /* The request ended: normally the ingress notices the departed client
     * at its next chunk; on a loaded machine ZeroMQ may register the
     * disconnect only after the generation finished, and then the final
     * answer is the dropped send. Either way nothing is left pending. */
    assert_int_equal(run("grep -q '1 requests ended by a departed client' %s || "
                         "grep -Eq ' [1-9][0-9]* client sends dropped' %s",
                         log, log),
                     0);
    assert_int_not_equal(run("grep -q 'pending request(s) with SHUTTING_DOWN' %s", log), 0);
    assert_int_equal(run("grep -Eq ' 0 parts lost' %s", log), 0);
    /* 5 injected, plus the departed client's parts that came after its end */
    assert_int_equal(run("grep -Eq ' ([5-9]|[1-9][0-9]+) late parts dropped' %s", log), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_order),
        cmocka_unit_test(test_no_stream),
        cmocka_unit_test(test_part_after_final),
        cmocka_unit_test(test_client_gone),
    };
    return WP_ITEST_EXIT(cmocka_run_group_tests(tests, setup, teardown));
}
