/* Streamed answers at the codec level (proto/inference.proto "Streaming",
 * node/stream.c): the order check of parts (FIRST, CHUNKs, the final),
 * a lost chunk, a stale/duplicate part, a part after the final message,
 * malformed orders; the StreamPart decoder's bounds; the new frame kinds
 * round-trip and an unknown kind is still refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "node/node.h"
#include "node/infer.h"
#include "proto/inference.pb-c.h"

enum { FIRST = 1, CHUNK = 2 };

static void test_in_order(void **state)
{
    (void)state;
    wp_stream_rx s;
    wp_stream_rx_init(&s);
    assert_int_equal(wp_stream_rx_part(&s, FIRST, 0), WP_STREAM_IN_ORDER);
    for (uint32_t q = 1; q <= 5; q++)
        assert_int_equal(wp_stream_rx_part(&s, CHUNK, q), WP_STREAM_IN_ORDER);
    assert_int_equal(s.received, 6);
    assert_int_equal(wp_stream_rx_final(&s, 6), 0);
    assert_true(s.closed);
    assert_int_equal(s.lost, 0);
    assert_int_equal(s.dropped, 0);
}

static void test_lost_chunk(void **state)
{
    (void)state;
    wp_stream_rx s;
    wp_stream_rx_init(&s);
    assert_int_equal(wp_stream_rx_part(&s, FIRST, 0), WP_STREAM_IN_ORDER);
    assert_int_equal(wp_stream_rx_part(&s, CHUNK, 1), WP_STREAM_IN_ORDER);
    /* seq 2 and 3 never come */
    assert_int_equal(wp_stream_rx_part(&s, CHUNK, 4), WP_STREAM_GAP);
    assert_int_equal(s.lost, 2);
    assert_int_equal(wp_stream_rx_part(&s, CHUNK, 5), WP_STREAM_IN_ORDER);
    /* the late arrival of a lost one is stale, not counted again */
    assert_int_equal(wp_stream_rx_part(&s, CHUNK, 3), WP_STREAM_STALE);
    assert_int_equal(s.lost, 2);
    assert_int_equal(s.dropped, 1);
    assert_int_equal(wp_stream_rx_final(&s, 6), 2);
}

static void test_lost_tail(void **state)
{
    (void)state;
    /* The last chunks are lost: only the final's count reveals it. */
    wp_stream_rx s;
    wp_stream_rx_init(&s);
    assert_int_equal(wp_stream_rx_part(&s, FIRST, 0), WP_STREAM_IN_ORDER);
    assert_int_equal(wp_stream_rx_final(&s, 3), 2);
    /* A lost FIRST: the first chunk is a gap of one. */
    wp_stream_rx_init(&s);
    assert_int_equal(wp_stream_rx_part(&s, CHUNK, 1), WP_STREAM_GAP);
    assert_int_equal(s.lost, 1);
    /* No parts at all, none announced: nothing lost. */
    wp_stream_rx_init(&s);
    assert_int_equal(wp_stream_rx_final(&s, 0), 0);
}

static void test_after_final(void **state)
{
    (void)state;
    wp_stream_rx s;
    wp_stream_rx_init(&s);
    assert_int_equal(wp_stream_rx_part(&s, FIRST, 0), WP_STREAM_IN_ORDER);
    assert_int_equal(wp_stream_rx_final(&s, 1), 0);
    /* a chunk after the final message is dropped, whatever its seq */
    assert_int_equal(wp_stream_rx_part(&s, CHUNK, 1), WP_STREAM_AFTER_FINAL);
    assert_int_equal(wp_stream_rx_part(&s, FIRST, 0), WP_STREAM_AFTER_FINAL);
    assert_int_equal(s.dropped, 2);
    assert_int_equal(s.received, 1);
    /* a second final changes nothing */
    assert_int_equal(wp_stream_rx_final(&s, 9), 0);
    assert_string_equal(wp_stream_verdict_name(WP_STREAM_AFTER_FINAL), "after-final");
}

static void test_bad_order(void **state)
{
    (void)state;
    wp_stream_rx s;
    wp_stream_rx_init(&s);
    assert_int_equal(wp_stream_rx_part(&s, CHUNK, 0), WP_STREAM_BAD);   /* chunk at 0 */
    assert_int_equal(wp_stream_rx_part(&s, FIRST, 3), WP_STREAM_BAD);   /* first not at 0 */
    assert_int_equal(wp_stream_rx_part(&s, 3, 1), WP_STREAM_BAD);       /* FINAL as a part */
    assert_int_equal(wp_stream_rx_part(&s, 0, 0), WP_STREAM_BAD);
    assert_int_equal(wp_stream_rx_part(&s, CHUNK, WP_STREAM_MAX_PARTS), WP_STREAM_BAD);
    assert_int_equal(s.dropped, 5);
    assert_int_equal(s.received, 0);
    assert_int_equal(wp_stream_rx_part(&s, FIRST, 0), WP_STREAM_IN_ORDER);
    assert_int_equal(wp_stream_rx_part(&s, FIRST, 0), WP_STREAM_STALE); /* duplicate */
}

static uint8_t *encode_part(int kind, uint32_t seq, uint32_t ntok, uint32_t count, size_t *len)
{
    Warmpath__Infer__StreamPart p = WARMPATH__INFER__STREAM_PART__INIT;
    uint32_t toks[4] = {5, 6, 7, 8};
    p.id = 42;
    p.kind = (Warmpath__Infer__PartKind)kind;
    p.seq = seq;
    p.n_tokens = ntok;
    p.tokens = toks;
    p.output_count = count;
    p.first_token_us = 1234;
    uint8_t *buf = NULL;
    assert_int_equal(wp_infer_encode(WP_INFER_KIND_FORWARD_PART, &p.base, &buf, len, NULL), WP_OK);
    return buf;
}

static int decode(const uint8_t *buf, size_t len, Warmpath__Infer__StreamPart **out)
{
    wp_infer_kind kind;
    size_t plen;
    int rc = wp_infer_frame_check(buf, len, &kind, &plen, NULL);
    if (rc)
        return rc;
    assert_int_equal(kind, WP_INFER_KIND_FORWARD_PART);
    return wp_infer_decode_part(buf + WP_INFER_HDR_BYTES, plen, out, NULL);
}

static void test_part_codec(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = encode_part(FIRST, 0, 1, 1, &len);
    Warmpath__Infer__StreamPart *p = NULL;
    assert_int_equal(decode(b, len, &p), WP_OK);
    assert_int_equal(p->id, 42);
    assert_int_equal(p->kind, WARMPATH__INFER__PART_KIND__PART_FIRST);
    assert_int_equal(p->n_tokens, 1);
    assert_int_equal(p->tokens[0], 5);
    assert_int_equal(p->first_token_us, 1234);
    warmpath__infer__stream_part__free_unpacked(p, NULL);
    /* every truncation fails cleanly */
    for (size_t cut = 0; cut < len; cut++) {
        Warmpath__Infer__StreamPart *q = NULL;
        assert_int_not_equal(decode(b, cut, &q), WP_OK);
        assert_null(q);
    }
    free(b);
    /* bounds */
    Warmpath__Infer__StreamPart *q = NULL;
    b = encode_part(CHUNK, 1, 4, 3, &len); /* more tokens than output_count */
    assert_int_not_equal(decode(b, len, &q), WP_OK);
    free(b);
    b = encode_part(3, 1, 1, 1, &len); /* a FINAL is never a part */
    assert_int_not_equal(decode(b, len, &q), WP_OK);
    free(b);
    b = encode_part(CHUNK, WP_STREAM_MAX_PARTS, 1, 1, &len);
    assert_int_not_equal(decode(b, len, &q), WP_OK);
    free(b);
    b = encode_part(CHUNK, 1, 1, WP_INFER_MAX_OUTPUT_TOKENS + 1, &len);
    assert_int_not_equal(decode(b, len, &q), WP_OK);
    free(b);
    assert_null(q);
    /* garbage payload */
    uint8_t g[WP_INFER_HDR_BYTES + 6] = {0};
    memset(g + WP_INFER_HDR_BYTES, 0xff, 6);
    wp_infer_frame_header(g, WP_INFER_KIND_INFER_PART, 6);
    assert_int_not_equal(wp_infer_decode_part(g + WP_INFER_HDR_BYTES, 6, &q, NULL), WP_OK);
    assert_null(q);
    /* kinds: 7 and 8 are known, 9 is not */
    wp_infer_kind k;
    size_t pl;
    assert_int_equal(wp_infer_frame_check(g, sizeof g, &k, &pl, NULL), WP_OK);
    assert_int_equal(k, WP_INFER_KIND_INFER_PART);
    g[3] = WP_INFER_KIND_MAX + 1;
    assert_int_not_equal(wp_infer_frame_check(g, sizeof g, &k, &pl, NULL), WP_OK);
}

static void test_final_fields(void **state)
{
    (void)state;
    /* The final message carries the part count and both first-token times. */
    Warmpath__Infer__InferResponse r = WARMPATH__INFER__INFER_RESPONSE__INIT;
    Warmpath__Infer__Timings tm = WARMPATH__INFER__TIMINGS__INIT;
    tm.first_token_us = 900;
    tm.service_first_us = 400;
    tm.total_us = 5000;
    r.timings = &tm;
    r.part = WARMPATH__INFER__PART_KIND__PART_FINAL;
    r.stream_parts = 7;
    r.request_id = 3;
    uint8_t *buf;
    size_t len, plen;
    assert_int_equal(wp_infer_encode(WP_INFER_KIND_INFER_RESPONSE, &r.base, &buf, &len, NULL),
                     WP_OK);
    wp_infer_kind k;
    assert_int_equal(wp_infer_frame_check(buf, len, &k, &plen, NULL), WP_OK);
    Warmpath__Infer__InferResponse *d = NULL;
    assert_int_equal(wp_infer_decode_response(buf + WP_INFER_HDR_BYTES, plen, &d, NULL), WP_OK);
    assert_int_equal(d->stream_parts, 7);
    assert_int_equal(d->part, WARMPATH__INFER__PART_KIND__PART_FINAL);
    assert_int_equal(d->timings->first_token_us, 900);
    assert_int_equal(d->timings->service_first_us, 400);
    warmpath__infer__infer_response__free_unpacked(d, NULL);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),    cmocka_unit_test(test_lost_chunk),
        cmocka_unit_test(test_lost_tail),   cmocka_unit_test(test_after_final),
        cmocka_unit_test(test_bad_order),   cmocka_unit_test(test_part_codec),
        cmocka_unit_test(test_final_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
