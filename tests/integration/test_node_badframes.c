/* One real wp-node process fed bad input: garbage gossip frames (the
 * 6-byte 268M-element array of DEPS.md, random bytes, multi-part messages)
 * and bad admin requests (bad magic, short header, length mismatch, bytes
 * that are not protobuf, a request naming no operation, a capacity change
 * that changes nothing). Every bad admin request gets an error answer; the
 * node keeps running, counts what it dropped, still answers a good request,
 * and exits 0 on SIGINT (graceful leave, uv_loop_close == 0). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "tools/wpctl/cluster.h"

/* One free loopback port (common/net.c), or -1. */
static int free_port(void)
{
    int port;
    return wp_loopback_ports(&port, 1, NULL) == WP_OK ? port : -1;
}

static Warmpath__Admin__AdminResponse *status(const char *ep, wp_err *err)
{
    Warmpath__Admin__AdminRequest req = WARMPATH__ADMIN__ADMIN_REQUEST__INIT;
    Warmpath__Admin__StatusRequest sr = WARMPATH__ADMIN__STATUS_REQUEST__INIT;
    req.req_case = WARMPATH__ADMIN__ADMIN_REQUEST__REQ_STATUS;
    req.status = &sr;
    Warmpath__Admin__AdminResponse *resp = NULL;
    if (wpctl_admin_call(ep, &req, 1000, &resp, err) != WP_OK)
        return NULL;
    return resp;
}

/* Sends raw bytes on a fresh REQ socket; returns the error text of the
 * answer ("" if none) in out. */
static void raw_admin(void *ctx, const char *ep, const void *buf, size_t len, char *out,
                      size_t cap)
{
    void *s = zmq_socket(ctx, ZMQ_REQ);
    int zero = 0, to = 2000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &to, sizeof to);
    assert_int_equal(zmq_connect(s, ep), 0);
    assert_true(zmq_send(s, buf, len, 0) >= 0);
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, s, 0) >= 0);
    size_t plen;
    wp_err err;
    assert_int_equal(wp_admin_frame_check(zmq_msg_data(&m), zmq_msg_size(&m), &plen, &err), WP_OK);
    Warmpath__Admin__AdminResponse *r = warmpath__admin__admin_response__unpack(
        NULL, plen, (const uint8_t *)zmq_msg_data(&m) + WP_ADMIN_HDR_BYTES);
    assert_non_null(r);
    snprintf(out, cap, "%s", r->error ? r->error : "");
    warmpath__admin__admin_response__free_unpacked(r, NULL);
    zmq_msg_close(&m);
    zmq_close(s);
}

static void test_bad_input_then_clean_exit(void **state)
{
    (void)state;
    char gossip[64], admin[64], bin[512];
    snprintf(gossip, sizeof gossip, "tcp://127.0.0.1:%d", free_port());
    snprintf(admin, sizeof admin, "tcp://127.0.0.1:%d", free_port());
    snprintf(bin, sizeof bin, "%s/node/wp-node", WP_BUILD_DIR);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(bin, bin, "--city", "FRA", "--bind", gossip, "--admin", admin, "--log-level",
              "warn", (char *)NULL);
        _exit(127);
    }
    wp_err err;
    Warmpath__Admin__AdminResponse *r = NULL;
    for (int i = 0; i < 100 && !r; i++) {
        r = status(admin, &err);
        if (!r)
            usleep(50000);
    }
    assert_non_null(r);
    assert_non_null(strstr(r->status->id, "fra-"));
    assert_int_equal(r->status->frames_bad, 0);
    warmpath__admin__admin_response__free_unpacked(r, NULL);

    void *ctx = zmq_ctx_new();
    /* Gossip garbage. */
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    assert_int_equal(zmq_connect(push, gossip), 0);
    const uint8_t arr32[] = {0xdd, 0x0f, 0xff, 0xff, 0xff, 0x00};
    zmq_send(push, arr32, sizeof arr32, 0);
    wp_rng rng;
    wp_rng_seed(&rng, 99);
    for (int i = 0; i < 50; i++) {
        uint8_t junk[64];
        for (size_t k = 0; k < sizeof junk; k++)
            junk[k] = (uint8_t)wp_rng_u64(&rng);
        zmq_send(push, junk, 1 + wp_rng_below(&rng, sizeof junk), 0);
    }
    zmq_send(push, "part1", 5, ZMQ_SNDMORE);
    zmq_send(push, "part2", 5, 0);
    zmq_send(push, "", 0, 0);

    /* Admin garbage: each gets an error answer. */
    char out[512];
    raw_admin(ctx, admin, "XX", 2, out, sizeof out);
    assert_non_null(strstr(out, "admin"));
    uint8_t hdr[WP_ADMIN_HDR_BYTES + 4];
    wp_admin_frame_header(hdr, 10); /* says 10, sends 4 */
    memset(hdr + WP_ADMIN_HDR_BYTES, 0, 4);
    raw_admin(ctx, admin, hdr, sizeof hdr, out, sizeof out);
    assert_true(strlen(out) > 0);
    uint8_t bad_magic[WP_ADMIN_HDR_BYTES];
    wp_admin_frame_header(bad_magic, 0);
    bad_magic[0] = 'Z';
    raw_admin(ctx, admin, bad_magic, sizeof bad_magic, out, sizeof out);
    assert_non_null(strstr(out, "magic"));
    uint8_t notpb[WP_ADMIN_HDR_BYTES + 3];
    wp_admin_frame_header(notpb, 3);
    notpb[8] = 0xff;
    notpb[9] = 0xff;
    notpb[10] = 0xff;
    raw_admin(ctx, admin, notpb, sizeof notpb, out, sizeof out);
    assert_true(strlen(out) > 0);
    uint8_t empty[WP_ADMIN_HDR_BYTES];
    wp_admin_frame_header(empty, 0); /* unpacks as a request naming nothing */
    raw_admin(ctx, admin, empty, sizeof empty, out, sizeof out);
    assert_non_null(strstr(out, "no operation"));
    {
        Warmpath__Admin__AdminRequest req = WARMPATH__ADMIN__ADMIN_REQUEST__INIT;
        Warmpath__Admin__SetCapacityRequest sc = WARMPATH__ADMIN__SET_CAPACITY_REQUEST__INIT;
        req.req_case = WARMPATH__ADMIN__ADMIN_REQUEST__REQ_SET_CAPACITY;
        req.set_capacity = &sc;
        size_t n = warmpath__admin__admin_request__get_packed_size(&req);
        uint8_t *b = malloc(WP_ADMIN_HDR_BYTES + n);
        wp_admin_frame_header(b, n);
        warmpath__admin__admin_request__pack(&req, b + WP_ADMIN_HDR_BYTES);
        raw_admin(ctx, admin, b, WP_ADMIN_HDR_BYTES + n, out, sizeof out);
        assert_non_null(strstr(out, "changes nothing"));
        free(b);
    }

    /* Still alive, and it counted what it dropped. */
    r = NULL;
    for (int i = 0; i < 40; i++) {
        r = status(admin, &err);
        assert_non_null(r);
        if (r->status->frames_bad >= 51)
            break;
        warmpath__admin__admin_response__free_unpacked(r, NULL);
        r = NULL;
        usleep(50000);
    }
    assert_non_null(r);
    print_message("frames_bad %llu, admin_bad %llu\n", (unsigned long long)r->status->frames_bad,
                  (unsigned long long)r->status->admin_bad);
    assert_true(r->status->frames_bad >= 51);
    assert_true(r->status->admin_bad >= 6);
    warmpath__admin__admin_response__free_unpacked(r, NULL);
    zmq_close(push);
    zmq_ctx_term(ctx);

    assert_int_equal(kill(pid, SIGINT), 0);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input_then_clean_exit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
