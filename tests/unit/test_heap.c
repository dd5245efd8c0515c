/* Unit tests of common/heap.c: pops come out in the kind's order (checked
 * against a sort of the same elements), ties broken by a sequence number
 * come out in push order, the heap property holds after every operation,
 * and a max-heap is a min-heap with the order reversed. Fixed seeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/common.h"

typedef struct item {
    uint64_t key;
    uint64_t seq;
    uint32_t payload;
} item;

static bool item_less(const void *pa, const void *pb)
{
    const item *a = pa, *b = pb;
    return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static bool item_more(const void *pa, const void *pb)
{
    return item_less(pb, pa);
}

static const wp_heap_kind MIN_ITEMS = {sizeof(item), item_less};
static const wp_heap_kind MAX_ITEMS = {sizeof(item), item_more};

static int cmp_items(const void *a, const void *b)
{
    return item_less(a, b) ? -1 : item_less(b, a) ? 1 : 0;
}

static void assert_heap_property(const wp_heap *h, const wp_heap_kind *k)
{
    for (size_t i = 1; i < wp_heap_len(h); i++)
        assert_false(k->less(wp_heap_at(h, i), wp_heap_at(h, (i - 1) / 2)));
}

static void test_heap_sorted_with_ties(void **state)
{
    (void)state;
    enum { N = 5000 };
    wp_rng rng;
    wp_rng_seed(&rng, 11);
    wp_heap h;
    assert_int_equal(wp_heap_init(&h, &MIN_ITEMS, 2), WP_OK); /* grows many times */
    item *ref = malloc(N * sizeof *ref);
    assert_non_null(ref);
    for (uint32_t i = 0; i < N; i++) {
        ref[i] = (item){.key = wp_rng_below(&rng, 50), .seq = i, .payload = i};
        assert_int_equal(wp_heap_push(&h, &MIN_ITEMS, &ref[i]), WP_OK);
        if (i % 97 == 0)
            assert_heap_property(&h, &MIN_ITEMS);
    }
    assert_int_equal(wp_heap_len(&h), N);
    qsort(ref, N, sizeof *ref, cmp_items);
    item got;
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(((const item *)wp_heap_top(&h))->payload, ref[i].payload);
        assert_true(wp_heap_pop(&h, &MIN_ITEMS, &got));
        assert_memory_equal(&got, &ref[i], sizeof got);
        if (i % 89 == 0)
            assert_heap_property(&h, &MIN_ITEMS);
    }
    assert_false(wp_heap_pop(&h, &MIN_ITEMS, &got));
    assert_null(wp_heap_top(&h));
    free(ref);
    wp_heap_close(&h);
}

static void test_heap_interleaved_max(void **state)
{
    (void)state;
    wp_rng rng;
    wp_rng_seed(&rng, 12);
    wp_heap h;
    assert_int_equal(wp_heap_init(&h, &MAX_ITEMS, 0), WP_OK);
    uint64_t seq = 0, last_popped = UINT64_MAX;
    for (int round = 0; round < 20000; round++) {
        if (wp_heap_len(&h) == 0 || wp_rng_below(&rng, 3) != 0) {
            /* keys never above the last popped: pops must not increase */
            uint64_t hi = last_popped == UINT64_MAX ? 1000 : last_popped + 1;
            item it = {.key = wp_rng_below(&rng, hi), .seq = seq++};
            assert_int_equal(wp_heap_push(&h, &MAX_ITEMS, &it), WP_OK);
        } else {
            item got;
            assert_true(wp_heap_pop(&h, &MAX_ITEMS, &got));
            assert_true(got.key <= last_popped);
            last_popped = got.key;
        }
    }
    assert_heap_property(&h, &MAX_ITEMS);
    wp_heap_close(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_sorted_with_ties),
        cmocka_unit_test(test_heap_interleaved_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
