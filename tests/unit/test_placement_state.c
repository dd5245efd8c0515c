/* Unit tests of the placement state machine (placement/state.c) and its
 * msgpack codec (placement/codec.c): commands applied, refusals change
 * nothing (the snapshot bytes are identical before and after), snapshot
 * round trip, and decoding with limits (truncated frames, absurd declared
 * counts, wrong types, trailing bytes, random corruption). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "placement/placement.h"

#define GB (1000ull * 1000 * 1000)

static const char *const CODES[] = {"FRA", "LHR", "CDG", "JFK", "SIN", "NRT"};

static void geo_make(wp_place_geo *g)
{
    assert_int_equal(wp_place_geo_init(g, 6, NULL), WP_OK);
    for (size_t i = 0; i < 6; i++) {
        snprintf(g->cities[i].code, sizeof g->cities[i].code, "%s", CODES[i]);
        g->cities[i].pop_weight = 1e6 * (double)(i + 1);
        for (size_t j = 0; j < 6; j++)
            g->rtt_ms[i * 6 + j] = (float)(i == j ? 1 : 5 + 30 * (i > j ? i - j : j - i));
    }
}

static void encode(const wp_place_cmd *c, void **buf, size_t *len)
{
    wp_err err = {0};
    if (wp_place_cmd_encode(c, buf, len, &err) != WP_OK)
        fail_msg("encode: %s", wp_err_text(&err));
}

/* Applies c; returns the result code. */
static int apply(wp_place_state *s, const wp_place_cmd *c, wp_place_result *res)
{
    void *buf;
    size_t len;
    encode(c, &buf, &len);
    assert_int_equal(wp_place_state_apply(s, buf, len, res), WP_OK);
    free(buf);
    return res->code;
}

static int reg(wp_place_state *s, const char *id, const char *city, uint64_t mem)
{
    wp_place_cmd c = {.type = WP_PLACE_CMD_REGISTER_NODE, .gpus = 1, .gpu_mem_bytes = mem};
    snprintf(c.node, sizeof c.node, "%s", id);
    snprintf(c.city, sizeof c.city, "%s", city);
    wp_place_result r;
    return apply(s, &c, &r);
}

static int add_model(wp_place_state *s, const char *name, uint64_t size)
{
    wp_place_cmd c = {.type = WP_PLACE_CMD_CATALOG_ADD};
    snprintf(c.profile.name, sizeof c.profile.name, "%s", name);
    c.profile.size_bytes = size;
    c.profile.prefill_base_ms = 20;
    c.profile.prefill_ms_per_token = 0.1;
    c.profile.decode_ms_per_token = 15;
    c.profile.slots_per_gpu = 8;
    c.profile.load_bytes_per_s = 2e9;
    c.profile.load_fixed_ms = 500;
    c.profile.typical_in_tokens = 200;
    c.profile.typical_out_tokens = 100;
    wp_place_result r;
    return apply(s, &c, &r);
}

static int pin(wp_place_state *s, const char *model, const char *cities, uint32_t replicas,
               wp_place_result *r)
{
    wp_place_cmd c = {.type = WP_PLACE_CMD_PIN, .replicas = replicas};
    snprintf(c.model, sizeof c.model, "%s", model);
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", cities);
    for (char *tok = strtok(tmp, ","); tok; tok = strtok(NULL, ","))
        snprintf(c.cities[c.n_cities++], WP_PLACE_CODE_MAX, "%s", tok);
    return apply(s, &c, r);
}

typedef struct fixture {
    wp_place_geo geo;
    wp_place_state *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    geo_make(&f->geo);
    assert_int_equal(wp_place_state_new(&f->geo, &f->s, NULL), WP_OK);
    assert_int_equal(reg(f->s, "fra-1", "FRA", 80 * GB), WP_OK);
    assert_int_equal(reg(f->s, "fra-2", "fra", 80 * GB), WP_OK);
    assert_int_equal(reg(f->s, "jfk-1", "JFK", 40 * GB), WP_OK);
    assert_int_equal(reg(f->s, "sin-1", "SIN", 24 * GB), WP_OK);
    assert_int_equal(add_model(f->s, "llama-8b", 16 * GB), WP_OK);
    assert_int_equal(add_model(f->s, "mistral-7b", 14 * GB), WP_OK);
    assert_int_equal(add_model(f->s, "big-70b", 70 * GB), WP_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    wp_place_state_free(f->s);
    wp_place_geo_close(&f->geo);
    free(f);
    return 0;
}

static void snap(const wp_place_state *s, void **buf, size_t *len)
{
    wp_err err = {0};
    if (wp_place_state_snapshot(s, buf, len, &err) != WP_OK)
        fail_msg("snapshot: %s", wp_err_text(&err));
}

static void test_apply_and_assignment(void **state)
{
    fixture *f = *state;
    assert_int_equal(wp_place_state_version(f->s), 7);
    assert_int_equal(wp_place_state_node_count(f->s), 4);
    assert_int_equal(wp_place_state_model_count(f->s), 3);
    /* Sorted by name. */
    assert_string_equal(wp_place_state_model(f->s, 0)->name, "big-70b");
    wp_place_result r;
    assert_int_equal(pin(f->s, "llama-8b", "FRA,JFK", 1, &r), WP_OK);
    assert_int_equal(r.version, 8);
    assert_int_equal(wp_place_state_pin_count(f->s), 2);
    const wp_place_solution *a = wp_place_state_assignment(f->s);
    int llama = wp_place_state_find_model(f->s, "llama-8b");
    unsigned pinned_fra = 0, pinned_jfk = 0;
    for (size_t i = 0; i < a->n; i++) {
        const wp_place_node *n = wp_place_state_node(f->s, a->replicas[i].node);
        if (a->replicas[i].pinned && (int)a->replicas[i].model == llama) {
            if (strcmp(f->geo.cities[n->city].code, "FRA") == 0)
                pinned_fra++;
            if (strcmp(f->geo.cities[n->city].code, "JFK") == 0)
                pinned_jfk++;
        }
    }
    assert_int_equal(pinned_fra, 1);
    assert_int_equal(pinned_jfk, 1);
    assert_int_equal(a->pin_shortfall, 0);
    /* Two replicas in FRA. */
    assert_int_equal(pin(f->s, "llama-8b", "FRA", 2, &r), WP_OK);
    assert_int_equal(wp_place_state_pin(f->s, 0)->replicas, 2);
    /* Unpin one city, then the rest. */
    wp_place_cmd c = {.type = WP_PLACE_CMD_UNPIN, .n_cities = 1};
    snprintf(c.model, sizeof c.model, "llama-8b");
    snprintf(c.cities[0], WP_PLACE_CODE_MAX, "JFK");
    assert_int_equal(apply(f->s, &c, &r), WP_OK);
    assert_int_equal(wp_place_state_pin_count(f->s), 1);
    c.n_cities = 0;
    assert_int_equal(apply(f->s, &c, &r), WP_OK);
    assert_int_equal(wp_place_state_pin_count(f->s), 0);
    /* Node down: nothing assigned to it. */
    wp_place_cmd d = {.type = WP_PLACE_CMD_NODE_UP, .up = false};
    snprintf(d.node, sizeof d.node, "sin-1");
    assert_int_equal(apply(f->s, &d, &r), WP_OK);
    int sin = wp_place_state_find_node(f->s, "sin-1");
    a = wp_place_state_assignment(f->s);
    for (size_t i = 0; i < a->n; i++)
        assert_int_not_equal((int)a->replicas[i].node, sin);
}

/* Each refusal: a non-OK code, a reason, and byte-identical state. */
static void expect_refused(fixture *f, const wp_place_cmd *c, int code, const char *needle)
{
    void *before, *after;
    size_t lb, la;
    snap(f->s, &before, &lb);
    uint64_t v = wp_place_state_version(f->s);
    wp_place_result r;
    int got = apply(f->s, c, &r);
    if (got != code || strstr(r.msg, needle) == NULL)
        fail_msg("%s: got %d '%s', want %d '...%s...'", wp_place_cmd_name(c->type), got, r.msg,
                 code, needle);
    snap(f->s, &after, &la);
    assert_int_equal(wp_place_state_version(f->s), v);
    assert_int_equal(lb, la);
    assert_memory_equal(before, after, lb);
    free(before);
    free(after);
}

static void test_refusals_change_nothing(void **state)
{
    fixture *f = *state;
    wp_place_result r;
    assert_int_equal(pin(f->s, "mistral-7b", "FRA", 1, &r), WP_OK);

    wp_place_cmd c = {.type = WP_PLACE_CMD_PIN, .replicas = 1, .n_cities = 1};
    snprintf(c.model, sizeof c.model, "no-such-model");
    snprintf(c.cities[0], WP_PLACE_CODE_MAX, "FRA");
    expect_refused(f, &c, WP_ENOTFOUND, "unknown model 'no-such-model'");

    snprintf(c.model, sizeof c.model, "llama-8b");
    snprintf(c.cities[0], WP_PLACE_CODE_MAX, "XXX");
    expect_refused(f, &c, WP_ENOTFOUND, "unknown city 'XXX'");

    /* Two cities, the second unknown: the first must not be pinned. */
    c.n_cities = 2;
    snprintf(c.cities[0], WP_PLACE_CODE_MAX, "JFK");
    snprintf(c.cities[1], WP_PLACE_CODE_MAX, "ZZZ");
    expect_refused(f, &c, WP_ENOTFOUND, "unknown city 'ZZZ'");

    /* FRA has two nodes: three replicas do not fit. */
    c.n_cities = 1;
    snprintf(c.cities[0], WP_PLACE_CODE_MAX, "FRA");
    c.replicas = 3;
    expect_refused(f, &c, WP_ENOSPC, "replicas larger than capacity");
    /* SIN's node has 24 GB: the 70 GB model does not fit. */
    snprintf(c.model, sizeof c.model, "big-70b");
    snprintf(c.cities[0], WP_PLACE_CODE_MAX, "SIN");
    c.replicas = 1;
    expect_refused(f, &c, WP_ENOSPC, "room for 0 of 1");
    c.replicas = 0;
    expect_refused(f, &c, WP_ERANGE, "replicas 0");

    wp_place_cmd u = {.type = WP_PLACE_CMD_UNPIN};
    snprintf(u.model, sizeof u.model, "llama-8b");
    expect_refused(f, &u, WP_ENOTFOUND, "not pinned");

    wp_place_cmd rm = {.type = WP_PLACE_CMD_CATALOG_REMOVE};
    snprintf(rm.model, sizeof rm.model, "mistral-7b");
    expect_refused(f, &rm, WP_ESTATE, "unpin it first");

    wp_place_cmd rn = {.type = WP_PLACE_CMD_REGISTER_NODE, .gpus = 1, .gpu_mem_bytes = GB};
    snprintf(rn.node, sizeof rn.node, "bad id with spaces");
    snprintf(rn.city, sizeof rn.city, "FRA");
    expect_refused(f, &rn, WP_EINVAL, "bad node id");
    snprintf(rn.node, sizeof rn.node, "ok-id");
    rn.gpus = 0;
    expect_refused(f, &rn, WP_ERANGE, "gpus 0");

    wp_place_cmd cat = {.type = WP_PLACE_CMD_CATALOG_ADD};
    snprintf(cat.profile.name, sizeof cat.profile.name, "zero");
    cat.profile.slots_per_gpu = 1;
    cat.profile.load_bytes_per_s = 1e9;
    expect_refused(f, &cat, WP_ERANGE, "size must be > 0");

    wp_place_cmd dem = {.type = WP_PLACE_CMD_SET_DEMAND, .n_demand = 2};
    wp_place_demand_in entries[2] = {{"FRA", "llama-8b", 3}, {"FRA", "nope", 1}};
    dem.demand = entries;
    expect_refused(f, &dem, WP_ENOTFOUND, "unknown model 'nope'");

    /* Malformed frames are refused by apply too. */
    void *before, *after;
    size_t lb, la;
    snap(f->s, &before, &lb);
    static const uint8_t junk[][8] = {{0xc1}, {0x93, 0x01}, {0xdd, 0x10, 0, 0, 0, 0xc0}};
    static const size_t junk_len[] = {1, 2, 6};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(wp_place_state_apply(f->s, junk[i], junk_len[i], &r), WP_OK);
        assert_int_not_equal(r.code, WP_OK);
        assert_non_null(strstr(r.msg, "bad command"));
    }
    snap(f->s, &after, &la);
    assert_int_equal(lb, la);
    assert_memory_equal(before, after, lb);
    free(before);
    free(after);
}

static void test_snapshot_round_trip(void **state)
{
    fixture *f = *state;
    wp_place_result r;
    assert_int_equal(pin(f->s, "llama-8b", "FRA,JFK", 1, &r), WP_OK);
    wp_place_cmd dem = {.type = WP_PLACE_CMD_SET_DEMAND, .n_demand = 2};
    wp_place_demand_in entries[2] = {{"SIN", "mistral-7b", 30}, {"FRA", "llama-8b", 12.5}};
    dem.demand = entries;
    assert_int_equal(apply(f->s, &dem, &r), WP_OK);

    void *a;
    size_t la;
    snap(f->s, &a, &la);
    wp_place_state *t;
    assert_int_equal(wp_place_state_new(&f->geo, &t, NULL), WP_OK);
    wp_err err = {0};
    if (wp_place_state_restore(t, a, la, &err) != WP_OK)
        fail_msg("restore: %s", wp_err_text(&err));
    void *b;
    size_t lb;
    snap(t, &b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_int_equal(wp_place_state_version(t), wp_place_state_version(f->s));
    const wp_place_solution *x = wp_place_state_assignment(f->s), *y = wp_place_state_assignment(t);
    assert_int_equal(x->n, y->n);
    for (size_t i = 0; i < x->n; i++) {
        assert_int_equal(x->replicas[i].node, y->replicas[i].node);
        assert_int_equal(x->replicas[i].model, y->replicas[i].model);
        assert_int_equal(x->replicas[i].pinned, y->replicas[i].pinned);
    }

    /* Corrupt snapshots are refused and leave the state alone. */
    for (size_t cut = 0; cut < la; cut += 7) {
        assert_int_not_equal(wp_place_state_restore(t, a, cut, &err), WP_OK);
    }
    ((uint8_t *)a)[2] ^= 0x20; /* the magic string: "Wp-..." */
    assert_int_not_equal(wp_place_state_restore(t, a, la, &err), WP_OK);
    free(b);
    snap(t, &b, &lb);
    assert_int_equal(la, lb);
    free(a);
    free(b);
    wp_place_state_free(t);
}

/* ------------------------------------------------------------ codec */

static void test_codec_round_trip(void **state)
{
    (void)state;
    wp_place_cmd c = {.type = WP_PLACE_CMD_PIN, .replicas = 3, .n_cities = 2};
    snprintf(c.model, sizeof c.model, "llama-8b");
    snprintf(c.cities[0], WP_PLACE_CODE_MAX, "FRA");
    snprintf(c.cities[1], WP_PLACE_CODE_MAX, "SIN");
    void *buf;
    size_t len;
    encode(&c, &buf, &len);
    wp_place_cmd d;
    assert_int_equal(wp_place_cmd_decode(buf, len, &d, NULL), WP_OK);
    assert_int_equal(d.type, WP_PLACE_CMD_PIN);
    assert_string_equal(d.model, "llama-8b");
    assert_int_equal(d.n_cities, 2);
    assert_string_equal(d.cities[1], "SIN");
    assert_int_equal(d.replicas, 3);
    wp_place_cmd_close(&d);

    /* Every strict prefix is refused (truncated), never crashes. */
    for (size_t cut = 0; cut < len; cut++) {
        wp_err err = {0};
        assert_int_not_equal(wp_place_cmd_decode(buf, cut, &d, &err), WP_OK);
        assert_true(err.msg[0] != '\0');
    }
    /* Trailing bytes. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0xc0;
    wp_err err = {0};
    assert_int_equal(wp_place_cmd_decode(longer, len + 1, &d, &err), WP_EPARSE);
    assert_non_null(strstr(err.msg, "trailing"));
    free(longer);
    free(buf);

    wp_place_cmd reg = {.type = WP_PLACE_CMD_REGISTER_NODE, .gpus = 4, .gpu_mem_bytes = 1ull << 40};
    snprintf(reg.node, sizeof reg.node, "n1");
    snprintf(reg.city, sizeof reg.city, "NRT");
    encode(&reg, &buf, &len);
    assert_int_equal(wp_place_cmd_decode(buf, len, &d, NULL), WP_OK);
    assert_int_equal(d.gpu_mem_bytes, 1ull << 40);
    assert_int_equal(d.gpus, 4);
    free(buf);
}

static void test_codec_limits(void **state)
{
    (void)state;
    wp_place_cmd d;
    wp_err err = {0};
    /* A 6-byte frame declaring a 268-million-element array. */
    static const uint8_t huge_array[] = {0xdd, 0x10, 0x00, 0x00, 0x00, 0xc0};
    assert_int_equal(wp_place_cmd_decode(huge_array, sizeof huge_array, &d, &err), WP_ETOOBIG);
    assert_non_null(strstr(err.msg, "declared count"));
    /* A map declaring 65535 pairs with 3 bytes left. */
    static const uint8_t big_map[] = {0xde, 0xff, 0xff, 0x01, 0x02, 0x03};
    assert_int_not_equal(wp_place_cmd_decode(big_map, sizeof big_map, &d, &err), WP_OK);
    /* An array that declares 100 items within the cap but has 2 bytes. */
    static const uint8_t short_arr[] = {0xdc, 0x00, 0x64, 0x01, 0x02};
    assert_int_equal(wp_place_cmd_decode(short_arr, sizeof short_arr, &d, &err), WP_ETRUNC);
    /* A str32 claiming 4 GB. */
    static const uint8_t huge_str[] = {0x91, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    assert_int_equal(wp_place_cmd_decode(huge_str, sizeof huge_str, &d, &err), WP_ETOOBIG);
    /* Deep nesting. */
    uint8_t deep[64];
    memset(deep, 0x91, sizeof deep);
    deep[63] = 0xc0;
    assert_int_equal(wp_place_cmd_decode(deep, sizeof deep, &d, &err), WP_ETOOBIG);
    /* Empty, and over the frame cap. */
    assert_int_not_equal(wp_place_cmd_decode("", 0, &d, &err), WP_OK);
    assert_int_equal(wp_place_cmd_decode(deep, (size_t)WP_FRAME_MAX_BYTES + 1, &d, &err),
                     WP_ETOOBIG);
    /* Wrong types: [1, 1, "n1", "FRA", "four", 10]. */
    static const uint8_t wrong[] = {0x96, 0x01, 0x01, 0xa2, 'n', '1', 0xa3, 'F', 'R',
                                    'A',  0xa4, 'f',  'o',  'u', 'r', 0x0a};
    assert_int_equal(wp_place_cmd_decode(wrong, sizeof wrong, &d, &err), WP_EPROTO);
    assert_non_null(strstr(err.msg, "gpus"));
    /* Unknown command type and unsupported format. */
    static const uint8_t unknown[] = {0x92, 0x01, 0x63};
    assert_int_equal(wp_place_cmd_decode(unknown, sizeof unknown, &d, &err), WP_EPROTO);
    static const uint8_t fmt[] = {0x92, 0x07, 0x01};
    assert_int_equal(wp_place_cmd_decode(fmt, sizeof fmt, &d, &err), WP_EUNSUPPORTED);
    /* A string with a NUL inside. */
    static const uint8_t nul[] = {0x93, 0x01, 0x02, 0xa3, 'a', 0x00, 'b'};
    assert_int_equal(wp_place_cmd_decode(nul, sizeof nul, &d, &err), WP_EPROTO);
}

/* Random corruption of valid frames: decode and apply never crash, and a
 * refused frame changes nothing. Seeded; prints the seed on failure. */
static void test_codec_fuzz(void **state)
{
    fixture *f = *state;
    wp_place_cmd c = {.type = WP_PLACE_CMD_SET_DEMAND, .n_demand = 2};
    wp_place_demand_in entries[2] = {{"SIN", "mistral-7b", 30}, {"FRA", "llama-8b", 12.5}};
    c.demand = entries;
    void *buf;
    size_t len;
    encode(&c, &buf, &len);
    wp_rng rng;
    const uint64_t seed = 42;
    wp_rng_seed(&rng, seed);
    uint8_t *m = malloc(len + 16);
    for (int iter = 0; iter < 5000; iter++) {
        memcpy(m, buf, len);
        size_t n = len;
        int edits = 1 + (int)wp_rng_below(&rng, 4);
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)wp_rng_below(&rng, n);
            switch (wp_rng_below(&rng, 3)) {
            case 0: m[at] = (uint8_t)wp_rng_u64(&rng); break;
            case 1: n = at + 1; break;
            default: m[at] ^= (uint8_t)(1u << wp_rng_below(&rng, 8)); break;
            }
        }
        uint64_t v = wp_place_state_version(f->s);
        wp_place_result r;
        if (wp_place_state_apply(f->s, m, n, &r) != WP_OK)
            fail_msg("seed %llu iter %d: apply failed hard", (unsigned long long)seed, iter);
        if (r.code != WP_OK && wp_place_state_version(f->s) != v)
            fail_msg("seed %llu iter %d: refused but version moved", (unsigned long long)seed,
                     iter);
    }
    free(m);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apply_and_assignment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_round_trip, setup, teardown),
        cmocka_unit_test(test_codec_round_trip),
        cmocka_unit_test(test_codec_limits),
        cmocka_unit_test_setup_teardown(test_codec_fuzz, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
