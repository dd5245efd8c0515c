/* Inference framing + validated decoders (proto/inference.proto): round
 * trip, every truncation of a valid frame, bad headers, hostile payloads
 * (garbage bytes, absurd declared lengths, seeded random mutations), and
 * the hand validation of required fields (missing model, empty input,
 * oversized names, too many tokens). Nothing may crash (run under ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "node/node.h"
#include "node/infer.h"
#include "proto/inference.pb-c.h"

static uint8_t *encode_req(const char *model, uint32_t ntok, const char *text, size_t *len)
{
    Warmpath__Infer__InferRequest r = WARMPATH__INFER__INFER_REQUEST__INIT;
    uint32_t toks[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    r.request_id = 77;
    r.model = (char *)model;
    r.n_input_tokens = ntok;
    r.input_tokens = toks;
    r.input_text = (char *)text;
    r.max_output_tokens = 16;
    r.client_city = "FRA";
    uint8_t *buf = NULL;
    assert_int_equal(wp_infer_encode(WP_INFER_KIND_INFER_REQUEST, &r.base, &buf, len, NULL),
                     WP_OK);
    return buf;
}

static int decode_frame(const uint8_t *buf, size_t len, Warmpath__Infer__InferRequest **out,
                        wp_err *err)
{
    wp_infer_kind kind;
    size_t plen;
    int rc = wp_infer_frame_check(buf, len, &kind, &plen, err);
    if (rc)
        return rc;
    if (kind != WP_INFER_KIND_INFER_REQUEST)
        return WP_EPROTO;
    return wp_infer_decode_request(buf + WP_INFER_HDR_BYTES, plen, out, err);
}

static void test_round_trip(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = encode_req("llm-7b", 5, "", &len);
    Warmpath__Infer__InferRequest *r = NULL;
    wp_err err = {0};
    assert_int_equal(decode_frame(buf, len, &r, &err), WP_OK);
    assert_non_null(r);
    assert_int_equal(r->request_id, 77);
    assert_string_equal(r->model, "llm-7b");
    assert_int_equal(r->n_input_tokens, 5);
    assert_int_equal(r->input_tokens[4], 5);
    assert_string_equal(r->client_city, "FRA");
    warmpath__infer__infer_request__free_unpacked(r, NULL);
    free(buf);
}

static void test_truncations(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = encode_req("llm-7b", 8, "", &len);
    for (size_t n = 0; n < len; n++) {
        Warmpath__Infer__InferRequest *r = NULL;
        wp_err err = {0};
        /* The header length no longer matches: always refused. */
        assert_int_not_equal(decode_frame(buf, n, &r, &err), WP_OK);
        assert_null(r);
        assert_true(err.msg[0] != 0);
    }
    /* Payload cut at every point with a consistent header: protobuf-c may
     * accept a prefix, but the hand validation then refuses a prefix that
     * lost the model or the input; never a crash. */
    size_t plen = len - WP_INFER_HDR_BYTES;
    for (size_t n = 0; n < plen; n++) {
        uint8_t *b = malloc(WP_INFER_HDR_BYTES + n + 1);
        memcpy(b + WP_INFER_HDR_BYTES, buf + WP_INFER_HDR_BYTES, n);
        wp_infer_frame_header(b, WP_INFER_KIND_INFER_REQUEST, n);
        Warmpath__Infer__InferRequest *r = NULL;
        if (decode_frame(b, WP_INFER_HDR_BYTES + n, &r, NULL) == WP_OK) {
            assert_true(r->model[0] != 0);
            assert_true(r->n_input_tokens > 0);
            warmpath__infer__infer_request__free_unpacked(r, NULL);
        }
        free(b);
    }
    free(buf);
}

static void test_bad_headers(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = encode_req("llm-7b", 3, "", &len);
    wp_infer_kind kind;
    size_t plen;
    wp_err err = {0};
    uint8_t save;

    save = buf[0];
    buf[0] = 'X';
    assert_int_equal(wp_infer_frame_check(buf, len, &kind, &plen, &err), WP_EPROTO);
    buf[0] = save;
    save = buf[2];
    buf[2] = 9;
    assert_int_equal(wp_infer_frame_check(buf, len, &kind, &plen, &err), WP_EUNSUPPORTED);
    buf[2] = save;
    save = buf[3];
    buf[3] = 0;
    assert_int_equal(wp_infer_frame_check(buf, len, &kind, &plen, &err), WP_EPROTO);
    buf[3] = 200;
    assert_int_equal(wp_infer_frame_check(buf, len, &kind, &plen, &err), WP_EPROTO);
    buf[3] = save;
    /* A declared length far beyond the cap: refused before anything else. */
    uint8_t big[WP_INFER_HDR_BYTES];
    wp_infer_frame_header(big, WP_INFER_KIND_INFER_REQUEST, 0xffffffffu);
    assert_int_equal(wp_infer_frame_check(big, sizeof big, &kind, &plen, &err), WP_ETOOBIG);
    wp_infer_frame_header(big, WP_INFER_KIND_INFER_REQUEST, WP_FRAME_MAX_BYTES + 1u);
    assert_int_equal(wp_infer_frame_check(big, sizeof big, &kind, &plen, &err), WP_ETOOBIG);
    assert_int_equal(wp_infer_frame_check(buf, len, &kind, &plen, &err), WP_OK);
    assert_int_equal(kind, WP_INFER_KIND_INFER_REQUEST);
    assert_int_equal(plen, len - WP_INFER_HDR_BYTES);
    free(buf);
}

static void test_missing_fields(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf;
    Warmpath__Infer__InferRequest *r = NULL;
    wp_err err = {0};

    buf = encode_req("", 3, "", &len); /* no model */
    assert_int_equal(decode_frame(buf, len, &r, &err), WP_EINVAL);
    assert_non_null(strstr(err.msg, "model"));
    free(buf);
    buf = encode_req("llm-7b", 0, "", &len); /* empty input */
    assert_int_equal(decode_frame(buf, len, &r, &err), WP_EINVAL);
    assert_non_null(strstr(err.msg, "empty input"));
    free(buf);
    buf = encode_req("llm-7b", 0, "hello", &len); /* text input is fine */
    assert_int_equal(decode_frame(buf, len, &r, &err), WP_OK);
    warmpath__infer__infer_request__free_unpacked(r, NULL);
    r = NULL;
    free(buf);
    char longname[100];
    memset(longname, 'm', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    buf = encode_req(longname, 3, "", &len);
    assert_int_equal(decode_frame(buf, len, &r, &err), WP_EINVAL);
    free(buf);
    buf = encode_req("bad\nname", 3, "", &len);
    assert_int_equal(decode_frame(buf, len, &r, &err), WP_EINVAL);
    free(buf);
    assert_null(r);

    /* Too many input tokens. */
    Warmpath__Infer__InferRequest q = WARMPATH__INFER__INFER_REQUEST__INIT;
    q.model = "llm-7b";
    q.n_input_tokens = WP_INFER_MAX_INPUT_TOKENS + 1u;
    q.input_tokens = calloc(q.n_input_tokens, sizeof(uint32_t));
    assert_int_equal(wp_infer_request_check(&q, &err), WP_EINVAL);
    free(q.input_tokens);

    /* Forward request without its inner request; response without response. */
    Warmpath__Infer__ForwardRequest f = WARMPATH__INFER__FORWARD_REQUEST__INIT;
    f.hop_id = 5;
    f.ingress_node = "n1";
    uint8_t pb[64];
    size_t n = warmpath__infer__forward_request__pack(&f, pb);
    Warmpath__Infer__ForwardRequest *fo = NULL;
    assert_int_equal(wp_infer_decode_forward_request(pb, n, &fo, &err), WP_EINVAL);
    assert_null(fo);
    Warmpath__Infer__ForwardResponse fr = WARMPATH__INFER__FORWARD_RESPONSE__INIT;
    fr.hop_id = 5;
    n = warmpath__infer__forward_response__pack(&fr, pb);
    Warmpath__Infer__ForwardResponse *fro = NULL;
    assert_int_equal(wp_infer_decode_forward_response(pb, n, &fro, &err), WP_EINVAL);
    assert_null(fro);
}

static void test_garbage(void **state)
{
    (void)state;
    wp_rng rng;
    wp_rng_seed(&rng, 7);
    uint8_t buf[512];
    size_t ok = 0;
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)wp_rng_below(&rng, sizeof buf - WP_INFER_HDR_BYTES);
        for (size_t j = 0; j < n; j++)
            buf[WP_INFER_HDR_BYTES + j] = (uint8_t)wp_rng_below(&rng, 256);
        wp_infer_frame_header(buf, (wp_infer_kind)(1 + i % 6), n);
        Warmpath__Infer__InferRequest *r = NULL;
        if (wp_infer_decode_request(buf + WP_INFER_HDR_BYTES, n, &r, NULL) == WP_OK) {
            ok++;
            warmpath__infer__infer_request__free_unpacked(r, NULL);
        }
        Warmpath__Infer__ForwardRequest *f = NULL;
        if (wp_infer_decode_forward_request(buf + WP_INFER_HDR_BYTES, n, &f, NULL) == WP_OK)
            warmpath__infer__forward_request__free_unpacked(f, NULL);
        Warmpath__Infer__InferResponse *s = NULL;
        if (wp_infer_decode_response(buf + WP_INFER_HDR_BYTES, n, &s, NULL) == WP_OK)
            warmpath__infer__infer_response__free_unpacked(s, NULL);
    }
    /* Mutations of a valid frame. */
    size_t len;
    uint8_t *valid = encode_req("llm-7b", 8, "", &len);
    for (int i = 0; i < 20000; i++) {
        uint8_t *m = malloc(len);
        memcpy(m, valid, len);
        for (int k = 0; k < 3; k++)
            m[WP_INFER_HDR_BYTES + wp_rng_below(&rng, len - WP_INFER_HDR_BYTES)] =
                (uint8_t)wp_rng_below(&rng, 256);
        Warmpath__Infer__InferRequest *r = NULL;
        if (decode_frame(m, len, &r, NULL) == WP_OK) {
            assert_true(r->model[0] != 0 && strlen(r->model) < WP_NAME_MAX);
            assert_true(r->n_input_tokens > 0 || r->input_text[0]);
            warmpath__infer__infer_request__free_unpacked(r, NULL);
        }
        free(m);
    }
    free(valid);
    (void)ok;
}

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(wp_infer_status_name(WARMPATH__INFER__STATUS__OK), "OK");
    assert_string_equal(wp_infer_status_name(WARMPATH__INFER__STATUS__UNKNOWN_MODEL),
                        "UNKNOWN_MODEL");
    assert_string_equal(wp_infer_status_name(WARMPATH__INFER__STATUS__INTERNAL), "INTERNAL");
    assert_string_equal(wp_infer_status_name(99), "UNKNOWN_STATUS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_bad_headers),  cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_garbage),      cmocka_unit_test(test_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
