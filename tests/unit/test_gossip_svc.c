/* The gossip capacity record's long form (issue 15): the servable list and
 * the measured service records, inside the owner's signed part of a wire
 * version 2 record (node/codec.c). Round trip next to a short (11-field
 * owned part) record in one frame; a hand-built short record decodes;
 * every truncation of a long frame fails; the decoder refuses too many
 * servable names or svc records, an svc record of the wrong shape, a value
 * beyond 32 bits, a servable field that is neither nil nor an array, and a
 * 12-field owned part; the encoder writes at most the caps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "node/node.h"

static void base_member(wp_gossip_member *m, const char *id)
{
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", id);
    snprintf(m->city, sizeof m->city, "FRA");
    snprintf(m->addr, sizeof m->addr, "tcp://127.0.0.1:7001");
    m->incarnation = 5;
    m->cap.version = 9;
    m->cap.gpus = 1;
    m->cap.gpu_mem_free_bytes = 1u << 30;
    m->cap.n_warm = 1;
    snprintf(m->cap.warm[0], WP_NAME_MAX, "distilbert-sst2");
}

static void long_member(wp_gossip_member *m)
{
    base_member(m, "fra-1");
    m->cap.servable_listed = true;
    m->cap.n_servable = 2;
    snprintf(m->cap.servable[0], WP_NAME_MAX, "distilbert-sst2");
    snprintf(m->cap.servable[1], WP_NAME_MAX, "stories260k");
    m->cap.n_svc = 1;
    snprintf(m->cap.svc[0].model, WP_NAME_MAX, "distilbert-sst2");
    m->cap.svc[0].first_us = 43420;
    m->cap.svc[0].tpot_us = 14070;
    m->cap.svc[0].service_us = 254470;
    m->cap.svc[0].samples = 17;
}

static void encode(const wp_gossip_member *const *recs, size_t n, uint8_t **buf, size_t *len)
{
    wp_gossip_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = WP_GMSG_GOSSIP;
    msg.seq = 77;
    snprintf(msg.from_id, sizeof msg.from_id, "iad-1");
    wp_err err;
    assert_int_equal(wp_gossip_msg_encode(&msg, recs, n, buf, len, &err), WP_OK);
}

static void test_round_trip_mixed(void **state)
{
    (void)state;
    wp_gossip_member a, b;
    long_member(&a);
    base_member(&b, "iad-1");
    const wp_gossip_member *recs[2] = {&a, &b};
    uint8_t *buf;
    size_t len;
    encode(recs, 2, &buf, &len);
    wp_gossip_msg m;
    wp_err err;
    assert_int_equal(wp_gossip_msg_decode(buf, len, &m, &err), WP_OK);
    assert_int_equal(m.n_updates, 2);
    const wp_gossip_capacity *c = &m.updates[0].cap;
    assert_true(c->servable_listed);
    assert_int_equal(c->n_servable, 2);
    assert_string_equal(c->servable[1], "stories260k");
    assert_int_equal(c->n_svc, 1);
    assert_string_equal(c->svc[0].model, "distilbert-sst2");
    assert_int_equal(c->svc[0].first_us, 43420);
    assert_int_equal(c->svc[0].tpot_us, 14070);
    assert_int_equal(c->svc[0].service_us, 254470);
    assert_int_equal(c->svc[0].samples, 17);
    assert_string_equal(c->warm[0], "distilbert-sst2");
    /* the short record: nothing listed (any model), no svc */
    assert_false(m.updates[1].cap.servable_listed);
    assert_int_equal(m.updates[1].cap.n_svc, 0);
    assert_int_equal(m.updates[1].cap.version, 9);
    wp_gossip_msg_clear(&m);
    /* A record with nothing to say is written short (11 owned fields): listing
     * an empty servable set costs exactly the two empty arrays more. */
    uint8_t *sb, *lb;
    size_t sl, ll;
    const wp_gossip_member *one[1] = {&b};
    encode(one, 1, &sb, &sl);
    b.cap.servable_listed = true;
    encode(one, 1, &lb, &ll);
    assert_int_equal(ll, sl + 2);
    assert_int_equal(wp_gossip_msg_decode(lb, ll, &m, &err), WP_OK);
    assert_true(m.updates[0].cap.servable_listed);
    assert_int_equal(m.updates[0].cap.n_servable, 0);
    wp_gossip_msg_clear(&m);
    free(sb);
    free(lb);
    /* every truncation of the long frame fails, none crashes */
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_not_equal(wp_gossip_msg_decode(buf, cut, &m, &err), WP_OK);
        assert_null(m.updates);
    }
    free(buf);
}

static void test_encoder_caps(void **state)
{
    (void)state;
    wp_gossip_member a;
    long_member(&a);
    a.cap.n_servable = 40; /* beyond the arrays: the encoder writes the caps */
    a.cap.n_svc = 40;
    for (uint32_t i = 0; i < WP_GOSSIP_MAX_SERVABLE; i++)
        snprintf(a.cap.servable[i], WP_NAME_MAX, "m%u", i);
    for (uint32_t i = 0; i < WP_GOSSIP_MAX_SVC; i++) {
        snprintf(a.cap.svc[i].model, WP_NAME_MAX, "m%u", i);
        a.cap.svc[i].service_us = i + 1;
    }
    const wp_gossip_member *recs[1] = {&a};
    uint8_t *buf;
    size_t len;
    encode(recs, 1, &buf, &len);
    wp_gossip_msg m;
    wp_err err;
    assert_int_equal(wp_gossip_msg_decode(buf, len, &m, &err), WP_OK);
    assert_int_equal(m.updates[0].cap.n_servable, WP_GOSSIP_MAX_SERVABLE);
    assert_int_equal(m.updates[0].cap.n_svc, WP_GOSSIP_MAX_SVC);
    assert_int_equal(m.updates[0].cap.svc[WP_GOSSIP_MAX_SVC - 1].service_us, WP_GOSSIP_MAX_SVC);
    wp_gossip_msg_clear(&m);
    free(buf);
}

static void pk_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* A frame of one record built by hand; fields is the owned part's length:
 * 11 (short), 12 or 13 (long).
 * variant (13 fields): 0 valid; 1 17 servable names; 2 9 svc records;
 * 3 an svc record of 4 fields; 4 a value of 2^32; 5 servable an integer;
 * 6 svc not an array; 7 an empty servable name; 8 servable nil. */
static size_t build(msgpack_sbuffer *sb, unsigned fields, int variant)
{
    msgpack_sbuffer ob;
    msgpack_sbuffer_init(&ob);
    msgpack_packer opk;
    msgpack_packer_init(&opk, &ob, msgpack_sbuffer_write);
    msgpack_pack_array(&opk, fields);
    pk_str(&opk, "fra-1");
    pk_str(&opk, "FRA");
    pk_str(&opk, "tcp://127.0.0.1:7001");
    msgpack_pack_uint64(&opk, 1);
    msgpack_pack_uint32(&opk, 0);
    msgpack_pack_uint64(&opk, 3);
    msgpack_pack_uint32(&opk, 1);
    msgpack_pack_uint64(&opk, 1000);
    msgpack_pack_uint32(&opk, 0);
    msgpack_pack_false(&opk);
    msgpack_pack_array(&opk, 0);
    if (fields >= 12) {
        if (variant == 5) {
            msgpack_pack_uint32(&opk, 3);
        } else if (variant == 8) {
            msgpack_pack_nil(&opk);
        } else {
            unsigned ns = variant == 1 ? WP_GOSSIP_MAX_SERVABLE + 1 : 1;
            msgpack_pack_array(&opk, ns);
            for (unsigned i = 0; i < ns; i++)
                pk_str(&opk, variant == 7 ? "" : "distilbert-sst2");
        }
    }
    if (fields >= 13) {
        if (variant == 6) {
            msgpack_pack_uint32(&opk, 1);
        } else {
            unsigned nv = variant == 2 ? WP_GOSSIP_MAX_SVC + 1 : 1;
            msgpack_pack_array(&opk, nv);
            for (unsigned i = 0; i < nv; i++) {
                msgpack_pack_array(&opk, variant == 3 ? 4 : 5);
                pk_str(&opk, "distilbert-sst2");
                msgpack_pack_uint64(&opk, variant == 4 ? (1ull << 32) : 40000);
                msgpack_pack_uint32(&opk, 12000);
                msgpack_pack_uint32(&opk, 220000);
                if (variant != 3)
                    msgpack_pack_uint32(&opk, 5);
            }
        }
    }
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 8);
    msgpack_pack_uint32(&pk, WP_GOSSIP_WIRE_VERSION);
    msgpack_pack_uint32(&pk, WP_GMSG_GOSSIP);
    msgpack_pack_uint64(&pk, 1);
    pk_str(&pk, "iad-1");
    pk_str(&pk, "");
    pk_str(&pk, "");
    pk_str(&pk, "");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, 5); /* owned, sig, status, incarnation, status_from */
    msgpack_pack_bin(&pk, ob.size);
    msgpack_pack_bin_body(&pk, ob.data, ob.size);
    msgpack_pack_bin(&pk, 0);
    msgpack_pack_uint32(&pk, 0);
    msgpack_pack_uint64(&pk, 1);
    pk_str(&pk, "");
    msgpack_sbuffer_destroy(&ob);
    return sb->size;
}

static void test_hand_built(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    wp_gossip_msg m;
    wp_err err;
    /* the short owned part */
    build(&sb, 11, 0);
    assert_int_equal(wp_gossip_msg_decode((uint8_t *)sb.data, sb.size, &m, &err), WP_OK);
    assert_false(m.updates[0].cap.servable_listed);
    assert_int_equal(m.updates[0].cap.n_svc, 0);
    wp_gossip_msg_clear(&m);
    msgpack_sbuffer_destroy(&sb);
    /* the valid long form, and servable nil */
    build(&sb, 13, 0);
    assert_int_equal(wp_gossip_msg_decode((uint8_t *)sb.data, sb.size, &m, &err), WP_OK);
    assert_true(m.updates[0].cap.servable_listed);
    assert_int_equal(m.updates[0].cap.svc[0].first_us, 40000);
    wp_gossip_msg_clear(&m);
    msgpack_sbuffer_destroy(&sb);
    build(&sb, 13, 8);
    assert_int_equal(wp_gossip_msg_decode((uint8_t *)sb.data, sb.size, &m, &err), WP_OK);
    assert_false(m.updates[0].cap.servable_listed);
    assert_int_equal(m.updates[0].cap.n_svc, 1);
    wp_gossip_msg_clear(&m);
    msgpack_sbuffer_destroy(&sb);
    /* refused: 12 owned fields, and each bad variant */
    build(&sb, 12, 0);
    assert_int_equal(wp_gossip_msg_decode((uint8_t *)sb.data, sb.size, &m, &err), WP_EPROTO);
    assert_null(m.updates);
    msgpack_sbuffer_destroy(&sb);
    static const int want[] = {0, WP_ETOOBIG, WP_ETOOBIG, WP_EPROTO, WP_ERANGE,
                               WP_EPROTO, WP_EPROTO, WP_EPROTO};
    for (int v = 1; v <= 7; v++) {
        build(&sb, 13, v);
        int rv = wp_gossip_msg_decode((uint8_t *)sb.data, sb.size, &m, &err);
        if (rv != want[v])
            fail_msg("variant %d: got %d (%s), want %d", v, rv, err.msg, want[v]);
        assert_null(m.updates);
        assert_true(strlen(err.msg) > 0);
        msgpack_sbuffer_destroy(&sb);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_mixed),
        cmocka_unit_test(test_encoder_caps),
        cmocka_unit_test(test_hand_built),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
