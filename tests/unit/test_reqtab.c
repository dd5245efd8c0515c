/* The ingress request table: exactly-once closing, one retry replacing the
 * attempt (the old hop then matches nothing), expiry in deadline order,
 * late duplicates dropped, capacity, slot reuse, and a randomized run
 * checking that every opened request is closed exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "node/node.h"
#include "node/infer.h"

static void test_answer_once(void **state)
{
    (void)state;
    wp_reqtab *t;
    assert_int_equal(wp_reqtab_new(4, &t, NULL), WP_OK);
    int a = 1;
    uint64_t hop;
    assert_int_equal(wp_reqtab_open(t, &a, 1000, &hop), WP_OK);
    uint32_t att = 0;
    assert_ptr_equal(wp_reqtab_match(t, hop, &att), &a);
    assert_int_equal(att, 1);
    assert_int_equal(wp_reqtab_close(t, hop), WP_OK);
    /* The duplicate answer: matches nothing, cannot close again. */
    assert_null(wp_reqtab_match(t, hop, NULL));
    assert_int_equal(wp_reqtab_close(t, hop), WP_ENOTFOUND);
    assert_int_equal(wp_reqtab_count(t), 0);
    /* Its deadline no longer fires. */
    uint64_t h;
    void *u;
    assert_false(wp_reqtab_expired(t, 5000, &h, &u));
    assert_int_equal(wp_reqtab_next_deadline(t), UINT64_MAX);
    wp_reqtab_free(t);
}

static void test_retry_once(void **state)
{
    (void)state;
    wp_reqtab *t;
    assert_int_equal(wp_reqtab_new(4, &t, NULL), WP_OK);
    int a = 1;
    uint64_t hop, hop2, h;
    void *u;
    assert_int_equal(wp_reqtab_open(t, &a, 1000, &hop), WP_OK);
    assert_false(wp_reqtab_expired(t, 999, &h, &u));
    assert_true(wp_reqtab_expired(t, 1000, &h, &u));
    assert_int_equal(h, hop);
    assert_ptr_equal(u, &a);
    assert_int_equal(wp_reqtab_retry(t, hop, 3000, &hop2), WP_OK);
    assert_true(hop2 != hop);
    /* The first target answers late: dropped. */
    assert_null(wp_reqtab_match(t, hop, NULL));
    uint32_t att;
    assert_ptr_equal(wp_reqtab_match(t, hop2, &att), &a);
    assert_int_equal(att, 2);
    assert_int_equal(wp_reqtab_next_deadline(t), 3000);
    /* The retry times out too: expired again, then closed by the caller. */
    assert_false(wp_reqtab_expired(t, 2999, &h, &u));
    assert_true(wp_reqtab_expired(t, 3000, &h, &u));
    assert_int_equal(h, hop2);
    assert_int_equal(wp_reqtab_close(t, hop2), WP_OK);
    assert_null(wp_reqtab_match(t, hop2, NULL));
    assert_int_equal(wp_reqtab_retry(t, hop2, 5000, &h), WP_ENOTFOUND);
    wp_reqtab_free(t);
}

static void test_order_and_capacity(void **state)
{
    (void)state;
    wp_reqtab *t;
    assert_int_equal(wp_reqtab_new(3, &t, NULL), WP_OK);
    int v[4];
    uint64_t hops[4], h;
    void *u;
    assert_int_equal(wp_reqtab_open(t, &v[0], 300, &hops[0]), WP_OK);
    assert_int_equal(wp_reqtab_open(t, &v[1], 100, &hops[1]), WP_OK);
    assert_int_equal(wp_reqtab_open(t, &v[2], 200, &hops[2]), WP_OK);
    assert_int_equal(wp_reqtab_open(t, &v[3], 50, &hops[3]), WP_EOVERLOAD);
    assert_int_equal(wp_reqtab_next_deadline(t), 100);
    assert_true(wp_reqtab_expired(t, 1000, &h, &u));
    assert_ptr_equal(u, &v[1]);
    wp_reqtab_close(t, h);
    assert_true(wp_reqtab_expired(t, 1000, &h, &u));
    assert_ptr_equal(u, &v[2]);
    wp_reqtab_close(t, h);
    /* A freed slot is reused with a new generation: the old hop is stale. */
    uint64_t again;
    assert_int_equal(wp_reqtab_open(t, &v[3], 400, &again), WP_OK);
    assert_true(again != hops[1] && again != hops[2]);
    assert_null(wp_reqtab_match(t, hops[1], NULL));
    assert_null(wp_reqtab_match(t, hops[2], NULL));
    assert_ptr_equal(wp_reqtab_match(t, again, NULL), &v[3]);
    /* Shutdown: every open one is found and closed. */
    size_t closed = 0;
    while (wp_reqtab_first(t, &h, &u)) {
        assert_int_equal(wp_reqtab_close(t, h), WP_OK);
        closed++;
    }
    assert_int_equal(closed, 2);
    assert_int_equal(wp_reqtab_count(t), 0);
    /* Garbage hop ids never match. */
    assert_null(wp_reqtab_match(t, 0, NULL));
    assert_null(wp_reqtab_match(t, UINT64_MAX, NULL));
    wp_reqtab_free(t);
}

/* Random interleaving of answers (some duplicated, some stale), expiries,
 * retries: each request is closed exactly once. */
static void test_random_exactly_once(void **state)
{
    (void)state;
    enum { N = 20000, CAP = 64 };
    wp_reqtab *t;
    assert_int_equal(wp_reqtab_new(CAP, &t, NULL), WP_OK);
    static uint32_t closes[N];
    static uint64_t cur[N], old[N];
    memset(closes, 0, sizeof closes);
    wp_rng rng;
    wp_rng_seed(&rng, 42);
    uint64_t now = 0;
    size_t opened = 0;
    while (opened < N || wp_reqtab_count(t)) {
        now += wp_rng_below(&rng, 5);
        uint64_t r = wp_rng_below(&rng, 10);
        if (r < 4 && opened < N) {
            uint64_t hop;
            if (wp_reqtab_open(t, (void *)(uintptr_t)(opened + 1), now + 10 + wp_rng_below(&rng, 50),
                               &hop) == WP_OK) {
                cur[opened] = hop;
                old[opened] = 0;
                opened++;
            }
        } else if (r < 7 && opened) {
            /* An answer for a random request: current, stale or duplicate. */
            size_t i = (size_t)wp_rng_below(&rng, opened);
            uint64_t hop = wp_rng_below(&rng, 3) == 0 && old[i] ? old[i] : cur[i];
            void *u = wp_reqtab_match(t, hop, NULL);
            if (u) {
                assert_int_equal((uintptr_t)u, i + 1);
                assert_int_equal(wp_reqtab_close(t, hop), WP_OK);
                closes[i]++;
            }
        } else {
            uint64_t hop;
            void *u;
            while (wp_reqtab_expired(t, now, &hop, &u)) {
                size_t i = (size_t)(uintptr_t)u - 1;
                uint32_t att;
                assert_ptr_equal(wp_reqtab_match(t, hop, &att), u);
                if (att < 2) {
                    uint64_t nh;
                    assert_int_equal(wp_reqtab_retry(t, hop, now + 20, &nh), WP_OK);
                    old[i] = hop;
                    cur[i] = nh;
                } else {
                    assert_int_equal(wp_reqtab_close(t, hop), WP_OK);
                    closes[i]++;
                }
            }
        }
        if (opened == N && wp_reqtab_count(t))
            now += 100;
    }
    for (size_t i = 0; i < N; i++)
        assert_int_equal(closes[i], 1);
    wp_reqtab_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_once),
        cmocka_unit_test(test_retry_once),
        cmocka_unit_test(test_order_and_capacity),
        cmocka_unit_test(test_random_exactly_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
