/* Decoder tests for the gossip wire format: round trip, every truncation of
 * a valid frame, absurd declared counts (the 6-byte 268M-element array of
 * DEPS.md), wrong element types, trailing bytes, empty input, and seeded
 * random mutations. None may crash or allocate absurdly (run under ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "node/node.h"

static void sample_member(wp_gossip_member *m, int i)
{
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "fra-%d", i);
    snprintf(m->city, sizeof m->city, "FRA");
    snprintf(m->addr, sizeof m->addr, "tcp://127.0.0.1:%d", 7000 + i);
    m->incarnation = 3 + (uint64_t)i;
    m->status = (wp_member_status)(i % 4);
    snprintf(m->status_from, sizeof m->status_from, "sin-%d", i);
    m->cap.version = 42;
    m->cap.gpus = 2;
    m->cap.gpu_mem_free_bytes = 80ULL << 30;
    m->cap.queue_depth = 7;
    m->cap.draining = i % 2;
    m->cap.n_warm = 2;
    snprintf(m->cap.warm[0], WP_NAME_MAX, "llama-7b");
    snprintf(m->cap.warm[1], WP_NAME_MAX, "tiny-15m");
}

static void encode_sample(uint8_t **buf, size_t *len, size_t nrec)
{
    static wp_gossip_member recs[4];
    const wp_gossip_member *ptrs[4];
    for (size_t i = 0; i < nrec; i++) {
        sample_member(&recs[i], (int)i);
        ptrs[i] = &recs[i];
    }
    wp_gossip_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = WP_GMSG_PING;
    msg.seq = 123456789;
    snprintf(msg.from_id, sizeof msg.from_id, "ams-1");
    snprintf(msg.from_addr, sizeof msg.from_addr, "tcp://127.0.0.1:7100");
    snprintf(msg.target_id, sizeof msg.target_id, "fra-0");
    snprintf(msg.target_addr, sizeof msg.target_addr, "tcp://127.0.0.1:7000");
    wp_err err;
    assert_int_equal(wp_gossip_msg_encode(&msg, ptrs, nrec, buf, len, &err), WP_OK);
}

static void test_round_trip(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len;
    encode_sample(&buf, &len, 3);
    wp_gossip_msg m;
    wp_err err;
    assert_int_equal(wp_gossip_msg_decode(buf, len, &m, &err), WP_OK);
    assert_int_equal(m.type, WP_GMSG_PING);
    assert_int_equal(m.seq, 123456789);
    assert_string_equal(m.from_id, "ams-1");
    assert_string_equal(m.target_addr, "tcp://127.0.0.1:7000");
    assert_int_equal(m.n_updates, 3);
    wp_gossip_member want;
    for (int i = 0; i < 3; i++) {
        sample_member(&want, i);
        assert_string_equal(m.updates[i].id, want.id);
        assert_string_equal(m.updates[i].addr, want.addr);
        assert_int_equal(m.updates[i].incarnation, want.incarnation);
        assert_int_equal(m.updates[i].status, want.status);
        assert_string_equal(m.updates[i].status_from, want.status_from);
        assert_int_equal(m.updates[i].cap.version, 42);
        assert_int_equal(m.updates[i].cap.gpu_mem_free_bytes, 80ULL << 30);
        assert_int_equal(m.updates[i].cap.draining, i % 2);
        assert_int_equal(m.updates[i].cap.n_warm, 2);
        assert_string_equal(m.updates[i].cap.warm[1], "tiny-15m");
    }
    wp_gossip_msg_clear(&m);
    free(buf);
}

static void test_every_truncation_fails(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len;
    encode_sample(&buf, &len, 2);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan catches over-reads */
        memcpy(copy, buf, cut);
        wp_gossip_msg m;
        wp_err err;
        int rv = wp_gossip_msg_decode(copy, cut, &m, &err);
        if (rv == WP_OK)
            fail_msg("truncated frame of %zu/%zu bytes was accepted", cut, len);
        assert_null(m.updates);
        free(copy);
    }
    free(buf);
}

static void test_trailing_bytes_fail(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len;
    encode_sample(&buf, &len, 1);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0xc0;
    wp_gossip_msg m;
    wp_err err;
    assert_int_equal(wp_gossip_msg_decode(longer, len + 1, &m, &err), WP_EPARSE);
    assert_non_null(strstr(err.msg, "trailing"));
    free(longer);
    free(buf);
}

static void test_empty_and_null(void **state)
{
    (void)state;
    wp_gossip_msg m;
    wp_err err;
    uint8_t one = 0;
    assert_int_equal(wp_gossip_msg_decode(&one, 0, &m, &err), WP_ETRUNC);
    uint8_t nil = 0xc0;
    assert_int_equal(wp_gossip_msg_decode(&nil, 1, &m, &err), WP_EPROTO);
    uint8_t reserved = 0xc1;
    assert_int_equal(wp_gossip_msg_decode(&reserved, 1, &m, &err), WP_EPARSE);
}

static void test_huge_declared_counts(void **state)
{
    (void)state;
    wp_gossip_msg m;
    wp_err err;
    /* The DEPS.md case: array32 declaring 0x0fffffff elements, 6 bytes. */
    const uint8_t arr32[] = {0xdd, 0x0f, 0xff, 0xff, 0xff, 0x00};
    assert_int_equal(wp_gossip_msg_decode(arr32, sizeof arr32, &m, &err), WP_ETOOBIG);
    const uint8_t map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0x00};
    assert_int_equal(wp_gossip_msg_decode(map32, sizeof map32, &m, &err), WP_ETOOBIG);
    const uint8_t str32[] = {0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'};
    assert_int_equal(wp_gossip_msg_decode(str32, sizeof str32, &m, &err), WP_ETOOBIG);
    const uint8_t bin32[] = {0xc6, 0x7f, 0xff, 0xff, 0xff, 'a'};
    assert_int_equal(wp_gossip_msg_decode(bin32, sizeof bin32, &m, &err), WP_ETOOBIG);
    const uint8_t ext32[] = {0xc9, 0x7f, 0xff, 0xff, 0xff, 1, 'a'};
    assert_int_equal(wp_gossip_msg_decode(ext32, sizeof ext32, &m, &err), WP_ETOOBIG);
    /* Under the cap but more than the bytes left. */
    const uint8_t arr16[] = {0xdc, 0x0f, 0xa0, 0x01, 0x02};
    assert_int_equal(wp_gossip_msg_decode(arr16, sizeof arr16, &m, &err), WP_ETRUNC);
    /* A big array nested in a valid-looking frame header. */
    const uint8_t nested[] = {0x98, 0x01, 0x01, 0x00, 0xa1, 'a', 0xa0, 0xa0, 0xa0,
                              0xdd, 0x00, 0x10, 0x00, 0x00};
    assert_int_not_equal(wp_gossip_msg_decode(nested, sizeof nested, &m, &err), WP_OK);
    /* Nesting deeper than the frame needs. */
    uint8_t deep[64];
    for (size_t i = 0; i < sizeof deep; i++)
        deep[i] = 0x91;
    deep[63] = 0x00;
    assert_int_equal(wp_gossip_msg_decode(deep, sizeof deep, &m, &err), WP_ETOOBIG);
    /* Frame over the size cap is refused before any parsing. */
    uint8_t *big = calloc(WP_FRAME_MAX_BYTES + 1, 1);
    assert_int_equal(wp_gossip_msg_decode(big, WP_FRAME_MAX_BYTES + 1, &m, &err), WP_ETOOBIG);
    free(big);
}

/* Builds a frame (wire version 2) with one field replaced by a value of
 * the wrong type, or an inconsistency; which == 17 is a valid frame. */
#define BAD_VARIANTS 17
static size_t build_bad(uint8_t *out, size_t cap, int which)
{
    /* The owned part first: its own msgpack bytes. */
    msgpack_sbuffer ob;
    msgpack_sbuffer_init(&ob);
    msgpack_packer opk;
    msgpack_packer_init(&opk, &ob, msgpack_sbuffer_write);
    msgpack_pack_array(&opk, which == 7 ? 10 : 11);
    msgpack_pack_str_with_body(&opk, "m", 1);
    msgpack_pack_str_with_body(&opk, "FRA", 3);
    msgpack_pack_str_with_body(&opk, "a", 1);
    msgpack_pack_uint64(&opk, 1);
    msgpack_pack_uint32(&opk, which == 16 ? WP_MEMBER_SUSPECT : WP_MEMBER_ALIVE);
    msgpack_pack_uint64(&opk, 1);
    msgpack_pack_uint32(&opk, 1);
    if (which == 9)
        msgpack_pack_double(&opk, 1.5);
    else
        msgpack_pack_uint64(&opk, 1);
    msgpack_pack_uint32(&opk, 0);
    if (which == 10)
        msgpack_pack_uint32(&opk, 1); /* draining not a bool */
    else
        msgpack_pack_true(&opk);
    if (which == 11) {
        msgpack_pack_array(&opk, WP_GOSSIP_MAX_WARM + 1);
        for (unsigned i = 0; i < WP_GOSSIP_MAX_WARM + 1; i++)
            msgpack_pack_str_with_body(&opk, "w", 1);
    } else if (which == 12) {
        msgpack_pack_array(&opk, 1);
        char longname[WP_NAME_MAX + 8];
        memset(longname, 'x', sizeof longname);
        msgpack_pack_str_with_body(&opk, longname, sizeof longname);
    } else if (which != 7) {
        msgpack_pack_array(&opk, 0);
    }

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 8);
    if (which == 0)
        msgpack_pack_str_with_body(&pk, "2", 1);
    else
        msgpack_pack_uint32(&pk, which == 1 ? 99 : WP_GOSSIP_WIRE_VERSION); /* 1: unknown version */
    if (which == 2)
        msgpack_pack_int32(&pk, -1);
    else
        msgpack_pack_uint32(&pk, which == 3 ? 77 : 1); /* 3: unknown type */
    msgpack_pack_uint64(&pk, 1);
    if (which == 4)
        msgpack_pack_uint32(&pk, 5); /* from_id not a string */
    else
        msgpack_pack_str_with_body(&pk, which == 5 ? "" : "x", which == 5 ? 0 : 1);
    msgpack_pack_str_with_body(&pk, "a", 1);
    msgpack_pack_str_with_body(&pk, "", 0);
    msgpack_pack_str_with_body(&pk, "", 0);
    if (which == 6) {
        msgpack_pack_map(&pk, 0); /* updates not an array */
    } else {
        msgpack_pack_array(&pk, 1);
        msgpack_pack_array(&pk, 5);
        msgpack_pack_bin_with_body(&pk, ob.data, ob.size);
        if (which == 14) {
            msgpack_pack_bin_with_body(&pk, "short", 5); /* 14: not 0 or 64 bytes */
        } else {
            msgpack_pack_bin(&pk, 0);
        }
        msgpack_pack_uint32(&pk, which == 8 ? 9 : 0); /* 8: unknown status */
        msgpack_pack_uint64(&pk, which == 15 ? 7 : 1); /* 15: alive at another incarnation */
        msgpack_pack_str_with_body(&pk, "", 0);
    }
    size_t n = sb.size < cap ? sb.size : cap;
    memcpy(out, sb.data, n);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&ob);
    return n;
}

static void test_wrong_types(void **state)
{
    (void)state;
    uint8_t buf[2048];
    wp_gossip_msg m;
    wp_err err;
    /* The control: the same builder gives a valid frame. */
    size_t n = build_bad(buf, sizeof buf, BAD_VARIANTS);
    assert_int_equal(wp_gossip_msg_decode(buf, n, &m, &err), WP_OK);
    assert_int_equal(m.n_updates, 1);
    assert_false(m.owned[0].has_sig);
    wp_gossip_msg_clear(&m);
    for (int which = 0; which < BAD_VARIANTS; which++) {
        if (which == 13)
            continue; /* (retired variant number) */
        n = build_bad(buf, sizeof buf, which);
        int rv = wp_gossip_msg_decode(buf, n, &m, &err);
        if (rv == WP_OK)
            fail_msg("bad frame variant %d accepted", which);
        assert_null(m.updates);
        assert_true(strlen(err.msg) > 0);
    }
}

static void test_random_mutations(void **state)
{
    (void)state;
    const uint64_t seed = 20261123;
    wp_rng r;
    wp_rng_seed(&r, seed);
    uint8_t *buf;
    size_t len;
    encode_sample(&buf, &len, 3);
    int accepted = 0;
    for (int it = 0; it < 20000; it++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, buf, len);
        int flips = 1 + (int)wp_rng_below(&r, 4);
        for (int f = 0; f < flips; f++)
            copy[wp_rng_below(&r, len)] = (uint8_t)wp_rng_u64(&r);
        size_t use = wp_rng_below(&r, 4) == 0 ? (size_t)wp_rng_below(&r, len + 1) : len;
        wp_gossip_msg m;
        wp_err err;
        if (wp_gossip_msg_decode(copy, use, &m, &err) == WP_OK) {
            accepted++;
            assert_true(m.n_updates <= WP_MSG_MAX_ARRAY);
            wp_gossip_msg_clear(&m);
        }
        free(copy);
    }
    /* Pure random garbage. */
    for (int it = 0; it < 20000; it++) {
        size_t n = 1 + (size_t)wp_rng_below(&r, 64);
        uint8_t *g = malloc(n);
        for (size_t i = 0; i < n; i++)
            g[i] = (uint8_t)wp_rng_u64(&r);
        wp_gossip_msg m;
        wp_err err;
        if (wp_gossip_msg_decode(g, n, &m, &err) == WP_OK)
            wp_gossip_msg_clear(&m);
        free(g);
    }
    print_message("seed %llu: %d mutated frames still decoded\n", (unsigned long long)seed,
                  accepted);
    free(buf);
}

static void test_check_limits_direct(void **state)
{
    (void)state;
    wp_err err;
    const uint8_t fixarr3[] = {0x93, 0x01, 0x02, 0x03};
    assert_int_equal(wp_msgpack_check(fixarr3, sizeof fixarr3, 3, 16, 4, &err), WP_OK);
    assert_int_equal(wp_msgpack_check(fixarr3, sizeof fixarr3, 2, 16, 4, &err), WP_ETOOBIG);
    const uint8_t str5[] = {0xa5, 'h', 'e', 'l', 'l', 'o'};
    assert_int_equal(wp_msgpack_check(str5, sizeof str5, 3, 5, 4, &err), WP_OK);
    assert_int_equal(wp_msgpack_check(str5, sizeof str5, 3, 4, 4, &err), WP_ETOOBIG);
    const uint8_t map1[] = {0x81, 0xa1, 'k', 0xcb, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(wp_msgpack_check(map1, sizeof map1, 3, 16, 4, &err), WP_OK);
    assert_int_equal(wp_msgpack_check(map1, sizeof map1 - 1, 3, 16, 4, &err), WP_ETRUNC);
    const uint8_t fixext[] = {0xd4, 0x01, 0x02};
    assert_int_equal(wp_msgpack_check(fixext, sizeof fixext, 3, 16, 4, &err), WP_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_trailing_bytes_fail),
        cmocka_unit_test(test_empty_and_null),
        cmocka_unit_test(test_huge_declared_counts),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_random_mutations),
        cmocka_unit_test(test_check_limits_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
