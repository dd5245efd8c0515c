/* Unit tests of the placement API framing (placement/client.c): round
 * trip, and refusal of short frames, wrong magic/version/kind, a length
 * that disagrees with the bytes, garbage protobuf, a request with no
 * operation (what an empty or cut protobuf message decodes to), and random
 * corruption (never a crash). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "placement/client.h"

static void make_pin(void **buf, size_t *len)
{
    static char *cities[] = {"FRA", "SIN"};
    Warmpath__Placement__Pin p = WARMPATH__PLACEMENT__PIN__INIT;
    p.model = "llama-8b";
    p.cities = cities;
    p.n_cities = 2;
    p.replicas = 2;
    Warmpath__Placement__Request r = WARMPATH__PLACEMENT__REQUEST__INIT;
    r.request_id = 77;
    r.op_case = WARMPATH__PLACEMENT__REQUEST__OP_PIN;
    r.pin = &p;
    assert_int_equal(wp_pl_frame_request(&r, buf, len, NULL), WP_OK);
}

static void test_round_trip(void **state)
{
    (void)state;
    void *buf;
    size_t len;
    make_pin(&buf, &len);
    Warmpath__Placement__Request *q = NULL;
    assert_int_equal(wp_pl_unframe_request(buf, len, &q, NULL), WP_OK);
    assert_int_equal(q->request_id, 77);
    assert_int_equal(q->op_case, WARMPATH__PLACEMENT__REQUEST__OP_PIN);
    assert_string_equal(q->pin->model, "llama-8b");
    assert_int_equal(q->pin->n_cities, 2);
    assert_string_equal(q->pin->cities[1], "SIN");
    warmpath__placement__request__free_unpacked(q, NULL);
    /* A request frame is not a response. */
    Warmpath__Placement__Response *r = NULL;
    wp_err err = {0};
    assert_int_equal(wp_pl_unframe_response(buf, len, &r, &err), WP_EPROTO);
    assert_non_null(strstr(err.msg, "kind"));
    free(buf);
}

static void test_bad_frames(void **state)
{
    (void)state;
    void *buf;
    size_t len;
    make_pin(&buf, &len);
    uint8_t *b = buf;
    Warmpath__Placement__Request *q = NULL;
    wp_err err = {0};
    /* Every cut: the header length no longer matches. */
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_not_equal(wp_pl_unframe_request(b, cut, &q, &err), WP_OK);
        assert_null(q);
    }
    uint8_t *m = malloc(len + 4);
    memcpy(m, b, len);
    m[0] = 'X';
    assert_int_equal(wp_pl_unframe_request(m, len, &q, &err), WP_EPROTO);
    memcpy(m, b, len);
    m[4] = 9;
    assert_int_equal(wp_pl_unframe_request(m, len, &q, &err), WP_EUNSUPPORTED);
    memcpy(m, b, len);
    m[9]++; /* length one more than the bytes that follow */
    assert_int_equal(wp_pl_unframe_request(m, len, &q, &err), WP_ETRUNC);
    /* Trailing bytes after the message. */
    memcpy(m, b, len);
    assert_int_equal(wp_pl_unframe_request(m, len + 4, &q, &err), WP_ETRUNC);
    /* A valid header around garbage protobuf. */
    static const uint8_t garbage[] = {'W', 'P', 'P', 'L', 1, 1, 0, 0, 0, 3, 0xff, 0xff, 0xff};
    assert_int_equal(wp_pl_unframe_request(garbage, sizeof garbage, &q, &err), WP_EPARSE);
    /* An empty protobuf message: no operation. */
    static const uint8_t empty[] = {'W', 'P', 'P', 'L', 1, 1, 0, 0, 0, 0};
    assert_int_equal(wp_pl_unframe_request(empty, sizeof empty, &q, &err), WP_EPROTO);
    assert_non_null(strstr(err.msg, "no operation"));
    /* Over the frame limit. */
    assert_int_equal(wp_pl_unframe_request(m, (size_t)WP_FRAME_MAX_BYTES + 1, &q, &err),
                     WP_ETOOBIG);
    /* Random corruption never crashes; what passes is a well-formed request. */
    wp_rng rng;
    wp_rng_seed(&rng, 9);
    for (int i = 0; i < 5000; i++) {
        memcpy(m, b, len);
        for (int k = 0; k < 3; k++)
            m[WP_PL_FRAME_HEADER + wp_rng_below(&rng, len - WP_PL_FRAME_HEADER)] =
                (uint8_t)wp_rng_u64(&rng);
        if (wp_pl_unframe_request(m, len, &q, &err) == WP_OK) {
            assert_true(q->op_case != WARMPATH__PLACEMENT__REQUEST__OP__NOT_SET);
            warmpath__placement__request__free_unpacked(q, NULL);
        }
    }
    free(m);
    free(buf);
}

static void test_client_args(void **state)
{
    (void)state;
    wp_placement_client *c = NULL;
    wp_err err = {0};
    assert_int_equal(wp_placement_client_new_list("", 100, &c, &err), WP_EINVAL);
    assert_int_equal(wp_placement_client_new_list("127.0.0.1:1,tcp://127.0.0.1:2", 100, &c, &err),
                     WP_OK);
    assert_int_equal(wp_placement_client_endpoint_count(c), 2);
    assert_string_equal(wp_placement_client_endpoint(c, 0), "tcp://127.0.0.1:1");
    /* Nobody listens there: a clear timeout, not a hang. */
    uint64_t t0 = wp_clock_monotonic_ns();
    assert_int_not_equal(wp_placement_client_register(c, "n", "FRA", 1, 1, NULL, &err), WP_OK);
    assert_true(err.msg[0] != '\0');
    assert_true(wp_clock_monotonic_ns() - t0 < 2 * WP_NS_PER_S);
    wp_placement_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_client_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
