/* The residency core: LRU eviction order, pinned models never evicted,
 * memory never over capacity (checked after every call), batching per
 * model (BATCH) or per slot (SLOTS: continuous batching), and a failed load
 * leaving the other models served. A randomized
 * run drives the core with a fake driver and checks the invariants after
 * every step (seed printed on failure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "gpu_worker/gpu_worker.h"

#define MB (1024ull * 1024ull)

/* The invariants, from the outside: used <= capacity, used + free ==
 * capacity, used == sum of LOADING/WARM sizes, pinned models never cold
 * because of an eviction (checked by the callers). */
static void check_inv(const wp_res *r, const char *const *names, const uint64_t *sizes, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        int s = wp_res_model_state(r, names[i]);
        assert_true(s >= 0);
        if (s != WP_RES_COLD)
            sum += sizes[i];
    }
    assert_true(wp_res_used_bytes(r) <= wp_res_capacity_bytes(r));
    assert_int_equal(wp_res_used_bytes(r) + wp_res_free_bytes(r), wp_res_capacity_bytes(r));
    assert_int_equal(wp_res_used_bytes(r), sum);
}

static wp_res *mk(uint64_t cap, uint32_t max_batch)
{
    wp_res_config cfg = {.capacity_bytes = cap, .max_batch = max_batch, .max_queue = 100};
    wp_res *r;
    wp_err err;
    assert_int_equal(wp_res_new(&cfg, &r, &err), WP_OK);
    return r;
}

/* Pops the next action and checks its kind and model. */
static wp_res_action expect(wp_res *r, int kind, const char *model)
{
    wp_res_action a;
    if (!wp_res_next_action(r, &a))
        fail_msg("expected action %d on %s, got none", kind, model);
    if (a.kind != kind || strcmp(a.model, model) != 0)
        fail_msg("expected action %d on %s, got %d on %s", kind, model, a.kind, a.model);
    return a;
}

static void expect_none(wp_res *r)
{
    wp_res_action a;
    if (wp_res_next_action(r, &a))
        fail_msg("unexpected action %d on %s", a.kind, a.model);
}

static const char *N[4] = {"a", "b", "c", "d"};
static const uint64_t S[4] = {40 * MB, 30 * MB, 30 * MB, 50 * MB};

static wp_res *mk_catalog(void)
{
    wp_res *r = mk(100 * MB, 4);
    wp_err err;
    for (int i = 0; i < 4; i++)
        assert_int_equal(wp_res_add_model(r, N[i], S[i], &err), WP_OK);
    assert_int_equal(wp_res_add_model(r, "a", MB, &err), WP_EEXIST);
    return r;
}

/* Submit one request to a cold model and run the load and batch to the end. */
static void serve(wp_res *r, uint64_t t, const char *m, uint64_t id)
{
    wp_err err;
    assert_int_equal(wp_res_submit(r, t, m, id, &err), WP_OK);
    if (wp_res_model_state(r, m) == WP_RES_LOADING) {
        wp_res_action a;
        while (wp_res_next_action(r, &a))
            if (a.kind == WP_RES_LOAD)
                assert_string_equal(a.model, m);
        assert_int_equal(wp_res_load_done(r, t + 1, m, WP_OK, 5 * WP_NS_PER_MS, &err), WP_OK);
    }
    wp_res_action a = expect(r, WP_RES_RUN, m);
    assert_int_equal(a.n_reqs, 1);
    assert_int_equal(a.req_ids[0], id);
    assert_int_equal(wp_res_batch_done(r, t + 2, m, &err), WP_OK);
    expect_none(r);
    check_inv(r, N, S, 4);
}

static void test_lru_eviction_order(void **state)
{
    (void)state;
    wp_res *r = mk_catalog();
    wp_err err;
    serve(r, 100, "a", 1);  /* a 40 */
    serve(r, 200, "b", 2);  /* + b 30 = 70 */
    serve(r, 300, "c", 3);  /* + c 30 = 100: full */
    assert_int_equal(wp_res_free_bytes(r), 0);
    serve(r, 400, "a", 4);  /* a used again: LRU order now b, c, a */
    const char *warm[4];
    assert_int_equal(wp_res_warm_models(r, warm, 4), 3);
    assert_string_equal(warm[0], "a");
    assert_string_equal(warm[2], "b");

    /* d (50) needs 50: evicts b (LRU), then c; a stays. */
    assert_int_equal(wp_res_submit(r, 500, "d", 5, &err), WP_OK);
    expect(r, WP_RES_UNLOAD, "b");
    expect(r, WP_RES_UNLOAD, "c");
    expect(r, WP_RES_LOAD, "d");
    expect_none(r);
    check_inv(r, N, S, 4);
    assert_int_equal(wp_res_model_state(r, "a"), WP_RES_WARM);
    assert_int_equal(wp_res_model_state(r, "d"), WP_RES_LOADING);
    assert_int_equal(wp_res_load_done(r, 600, "d", WP_OK, 7, &err), WP_OK);
    expect(r, WP_RES_RUN, "d");
    wp_res_stats st;
    wp_res_get_stats(r, &st);
    assert_int_equal(st.evictions, 2);
    assert_int_equal(st.loads, 4);
    assert_int_equal(st.last_load_ns, 7);
    /* d is busy, so a new model must wait rather than evict it. */
    assert_int_equal(wp_res_submit(r, 700, "b", 6, &err), WP_OK);
    expect(r, WP_RES_UNLOAD, "a");
    expect(r, WP_RES_LOAD, "b");
    check_inv(r, N, S, 4);
    assert_int_equal(wp_res_submit(r, 710, "c", 7, &err), WP_OK);
    expect_none(r); /* 50 + 30 used, c needs 30, only d (busy) and b (loading) hold memory */
    assert_int_equal(wp_res_model_state(r, "c"), WP_RES_COLD);
    assert_int_equal(wp_res_queue_depth(r), 3); /* d running 1, b queued 1, c queued 1 */
    assert_int_equal(wp_res_batch_done(r, 720, "d", &err), WP_OK);
    expect(r, WP_RES_UNLOAD, "d"); /* d idle now: the waiting c gets its room */
    expect(r, WP_RES_LOAD, "c");
    check_inv(r, N, S, 4);
    wp_res_free(r);
}

static void test_pinned_never_evicted(void **state)
{
    (void)state;
    wp_res *r = mk_catalog();
    wp_err err;
    const char *pins[2] = {"a", "b"};
    assert_int_equal(wp_res_assign(r, 0, pins, 2, &err), WP_OK);
    expect(r, WP_RES_LOAD, "a");
    expect(r, WP_RES_LOAD, "b");
    expect_none(r);
    assert_true(wp_res_model_pinned(r, "a"));
    assert_int_equal(wp_res_load_done(r, 10, "a", WP_OK, 1, &err), WP_OK);
    assert_int_equal(wp_res_load_done(r, 11, "b", WP_OK, 1, &err), WP_OK);
    expect_none(r); /* warm, nothing queued */
    check_inv(r, N, S, 4);
    /* 70 pinned of 100: c (30) fits; d (50) never can while a and b are pinned. */
    serve(r, 20, "c", 1);
    assert_int_equal(wp_res_submit(r, 30, "d", 2, &err), WP_OK);
    wp_res_action a = expect(r, WP_RES_FAIL, "d");
    assert_int_equal(a.req_ids[0], 2);
    assert_int_equal(a.error, WP_ENOSPC);
    expect_none(r);
    assert_int_equal(wp_res_model_state(r, "a"), WP_RES_WARM);
    assert_int_equal(wp_res_model_state(r, "b"), WP_RES_WARM);
    assert_int_equal(wp_res_model_state(r, "c"), WP_RES_WARM); /* not evicted for nothing */
    check_inv(r, N, S, 4);
    /* Unknown names in an assignment change nothing. */
    const char *bad[2] = {"a", "zz"};
    assert_int_equal(wp_res_assign(r, 40, bad, 2, &err), WP_ENOTFOUND);
    assert_true(wp_res_model_pinned(r, "b"));
    /* Unpin b: now d can evict b (LRU among unpinned: b used at 11, c at 22). */
    const char *only_a[1] = {"a"};
    assert_int_equal(wp_res_assign(r, 50, only_a, 1, &err), WP_OK);
    expect_none(r);
    assert_int_equal(wp_res_submit(r, 60, "d", 3, &err), WP_OK);
    expect(r, WP_RES_UNLOAD, "b");
    expect(r, WP_RES_UNLOAD, "c");
    expect(r, WP_RES_LOAD, "d");
    assert_int_equal(wp_res_model_state(r, "a"), WP_RES_WARM);
    check_inv(r, N, S, 4);
    wp_res_free(r);
}

static void test_load_failure_isolated(void **state)
{
    (void)state;
    wp_res *r = mk_catalog();
    wp_err err;
    serve(r, 10, "a", 1);
    assert_int_equal(wp_res_submit(r, 20, "b", 2, &err), WP_OK);
    assert_int_equal(wp_res_submit(r, 21, "b", 3, &err), WP_OK);
    expect(r, WP_RES_LOAD, "b");
    assert_int_equal(wp_res_submit(r, 22, "a", 4, &err), WP_OK);
    expect(r, WP_RES_RUN, "a");
    assert_int_equal(wp_res_load_done(r, 30, "b", WP_EIO, 0, &err), WP_OK);
    wp_res_action f1 = expect(r, WP_RES_FAIL, "b");
    wp_res_action f2 = expect(r, WP_RES_FAIL, "b");
    assert_int_equal(f1.req_ids[0], 2);
    assert_int_equal(f2.req_ids[0], 3);
    assert_int_equal(f1.error, WP_EIO);
    expect_none(r);
    assert_int_equal(wp_res_model_state(r, "b"), WP_RES_COLD);
    assert_int_equal(wp_res_model_state(r, "a"), WP_RES_WARM);
    check_inv(r, N, S, 4);
    /* a still serves. */
    assert_int_equal(wp_res_batch_done(r, 40, "a", &err), WP_OK);
    serve(r, 50, "a", 5);
    /* A pinned model whose load fails is not retried in a loop... */
    const char *pins[1] = {"c"};
    assert_int_equal(wp_res_assign(r, 60, pins, 1, &err), WP_OK);
    expect(r, WP_RES_LOAD, "c");
    assert_int_equal(wp_res_load_done(r, 70, "c", WP_ENOMEM, 0, &err), WP_OK);
    expect_none(r);
    assert_int_equal(wp_res_batch_done(r, 75, "a", &err), WP_ESTATE);
    /* ...but is on the next assignment. */
    assert_int_equal(wp_res_assign(r, 80, pins, 1, &err), WP_OK);
    expect(r, WP_RES_LOAD, "c");
    assert_int_equal(wp_res_load_done(r, 90, "c", WP_OK, 3, &err), WP_OK);
    check_inv(r, N, S, 4);
    /* Reports out of order are refused and change nothing. */
    assert_int_equal(wp_res_load_done(r, 95, "c", WP_OK, 3, &err), WP_ESTATE);
    assert_int_equal(wp_res_load_done(r, 95, "zz", WP_OK, 3, &err), WP_ENOTFOUND);
    assert_int_equal(wp_res_submit(r, 95, "zz", 9, &err), WP_ENOTFOUND);
    wp_res_stats st;
    wp_res_get_stats(r, &st);
    assert_int_equal(st.load_failures, 2);
    assert_int_equal(st.requests_failed, 2);
    wp_res_free(r);
}

static void test_batching(void **state)
{
    (void)state;
    wp_res *r = mk(100 * MB, 3);
    wp_err err;
    assert_int_equal(wp_res_add_model(r, "m", 10 * MB, &err), WP_OK);
    for (uint64_t id = 1; id <= 8; id++)
        assert_int_equal(wp_res_submit(r, id, "m", id, &err), WP_OK);
    expect(r, WP_RES_LOAD, "m");
    expect_none(r);
    assert_int_equal(wp_res_load_done(r, 10, "m", WP_OK, 9, &err), WP_OK);
    uint64_t next = 1;
    for (int b = 0; b < 3; b++) {
        wp_res_action a = expect(r, WP_RES_RUN, "m");
        assert_int_equal(a.n_reqs, b < 2 ? 3 : 2); /* 8 = 3 + 3 + 2, oldest first */
        for (uint32_t i = 0; i < a.n_reqs; i++)
            assert_int_equal(a.req_ids[i], next++);
        expect_none(r); /* one batch at a time */
        assert_int_equal(wp_res_batch_done(r, 20 + (uint64_t)b, "m", &err), WP_OK);
    }
    expect_none(r);
    assert_int_equal(wp_res_queue_depth(r), 0);
    /* Queue limit. */
    wp_res_config cfg = {.capacity_bytes = MB, .max_batch = 1, .max_queue = 2};
    wp_res *q;
    assert_int_equal(wp_res_new(&cfg, &q, &err), WP_OK);
    assert_int_equal(wp_res_add_model(q, "m", 2 * MB, &err), WP_OK); /* bigger than the device */
    assert_int_equal(wp_res_submit(q, 1, "m", 1, &err), WP_OK);
    expect(q, WP_RES_FAIL, "m");
    wp_res_free(q);
    cfg.capacity_bytes = 4 * MB;
    assert_int_equal(wp_res_new(&cfg, &q, &err), WP_OK);
    assert_int_equal(wp_res_add_model(q, "m", 2 * MB, &err), WP_OK);
    assert_int_equal(wp_res_submit(q, 1, "m", 1, &err), WP_OK);
    assert_int_equal(wp_res_submit(q, 1, "m", 2, &err), WP_OK);
    assert_int_equal(wp_res_submit(q, 1, "m", 3, &err), WP_EOVERLOAD);
    wp_res_free(q);
    cfg.max_batch = 0;
    assert_int_equal(wp_res_new(&cfg, &q, &err), WP_EINVAL);
    wp_res_free(r);
}

/* SLOTS mode (continuous batching, as sim/engine.c): one GPU of
 * 65536 units; a (2 slots per GPU) takes 32768 a request, b (4) 16384.
 * Requests start one by one as units free, strictly in arrival order
 * across models (a big head blocks a smaller one behind it). */
static void test_slots_admission(void **state)
{
    (void)state;
    wp_res *r = mk(100 * MB, 4);
    wp_err err;
    assert_int_equal(wp_res_add_model(r, "a", 10 * MB, &err), WP_OK);
    assert_int_equal(wp_res_add_model(r, "b", 10 * MB, &err), WP_OK);
    assert_int_equal(wp_res_set_slots(r, "a", 2, &err), WP_OK);
    assert_int_equal(wp_res_set_slots(r, "b", 4, &err), WP_OK);
    assert_int_equal(wp_res_set_slots(r, "zz", 4, &err), WP_ENOTFOUND);
    assert_int_equal(wp_res_set_slots(r, "b", 65537, &err), WP_EINVAL);
    assert_int_equal(wp_res_capacity_units(r), 65536);
    /* Three requests queue behind a's load: two start together (one RUN),
     * the third waits for a slot. */
    for (uint64_t id = 1; id <= 3; id++)
        assert_int_equal(wp_res_submit(r, id, "a", id, &err), WP_OK);
    expect(r, WP_RES_LOAD, "a");
    expect_none(r);
    assert_int_equal(wp_res_set_slots(r, "a", 1, &err), WP_ESTATE); /* busy */
    assert_int_equal(wp_res_load_done(r, 10, "a", WP_OK, 6, &err), WP_OK);
    wp_res_action a = expect(r, WP_RES_RUN, "a");
    assert_int_equal(a.n_reqs, 2);
    assert_int_equal(a.req_ids[0], 1);
    assert_int_equal(a.req_ids[1], 2);
    expect_none(r);
    assert_int_equal(wp_res_busy_units(r), 65536);
    assert_int_equal(wp_res_queue_depth(r), 3);
    /* b is cold: loading it does not need a slot; its request waits. */
    assert_int_equal(wp_res_submit(r, 11, "b", 4, &err), WP_OK);
    expect(r, WP_RES_LOAD, "b");
    assert_int_equal(wp_res_load_done(r, 12, "b", WP_OK, 2, &err), WP_OK);
    expect_none(r); /* 3 (a) is earlier and nothing fits */
    /* One a ends: 3 (earlier) takes its units, 4 still does not fit. */
    assert_int_equal(wp_res_run_done(r, 20, "a", 1, &err), WP_OK);
    a = expect(r, WP_RES_RUN, "a");
    assert_int_equal(a.n_reqs, 1);
    assert_int_equal(a.req_ids[0], 3);
    expect_none(r);
    /* More than running: refused, nothing changed. */
    assert_int_equal(wp_res_run_done(r, 21, "a", 3, &err), WP_ESTATE);
    assert_int_equal(wp_res_run_done(r, 21, "b", 1, &err), WP_ESTATE);
    /* Another b arrives (5); then a's slot frees: 4 and 5 both start (in
     * one RUN), 32768 + 2 x 16384 = 65536. */
    assert_int_equal(wp_res_submit(r, 22, "b", 5, &err), WP_OK);
    expect_none(r);
    assert_int_equal(wp_res_run_done(r, 30, "a", 1, &err), WP_OK);
    a = expect(r, WP_RES_RUN, "b");
    assert_int_equal(a.n_reqs, 2);
    assert_int_equal(a.req_ids[0], 4);
    assert_int_equal(a.req_ids[1], 5);
    expect_none(r);
    assert_int_equal(wp_res_busy_units(r), 65536);
    /* Head-of-line: a (32768) arrives first, then b (16384); one b ends
     * (16384 free): a does not fit, and b waits behind it (strict FIFO). */
    assert_int_equal(wp_res_submit(r, 31, "a", 6, &err), WP_OK);
    assert_int_equal(wp_res_submit(r, 32, "b", 7, &err), WP_OK);
    assert_int_equal(wp_res_run_done(r, 40, "b", 1, &err), WP_OK);
    expect_none(r);
    /* The other b ends (32768 busy): a starts (65536); b still waits. */
    assert_int_equal(wp_res_batch_done(r, 50, "b", &err), WP_OK); /* all running of b */
    a = expect(r, WP_RES_RUN, "a");
    assert_int_equal(a.req_ids[0], 6);
    expect_none(r);
    assert_int_equal(wp_res_busy_units(r), 65536);
    /* A model with running or queued requests is never evicted: c (95 MB)
     * needs both a and b gone, so it waits until both are idle. */
    assert_int_equal(wp_res_add_model(r, "c", 95 * MB, &err), WP_OK);
    assert_int_equal(wp_res_submit(r, 51, "c", 8, &err), WP_OK);
    expect_none(r);
    assert_int_equal(wp_res_batch_done(r, 60, "a", &err), WP_OK);
    a = expect(r, WP_RES_RUN, "b"); /* 7 starts; c still cannot fit */
    assert_int_equal(a.req_ids[0], 7);
    expect_none(r);
    assert_int_equal(wp_res_run_done(r, 70, "b", 1, &err), WP_OK);
    expect(r, WP_RES_UNLOAD, "a"); /* least recently used first */
    expect(r, WP_RES_UNLOAD, "b");
    expect(r, WP_RES_LOAD, "c");
    expect_none(r);
    assert_int_equal(wp_res_busy_units(r), 0);
    assert_int_equal(wp_res_queue_depth(r), 1);
    wp_res_stats st;
    wp_res_get_stats(r, &st);
    assert_int_equal(st.batches, 5); /* RUN actions: requests that start together share one */
    wp_res_free(r);
}

/* SLOTS on two GPUs: a model with one slot per GPU runs two requests at
 * once, the third waits; gpus above WP_RES_MAX_GPUS is refused. */
static void test_slots_gpus(void **state)
{
    (void)state;
    wp_res_config cfg = {.capacity_bytes = MB, .max_batch = 4, .max_queue = 8, .gpus = 2};
    wp_res *r;
    wp_err err;
    assert_int_equal(wp_res_new(&cfg, &r, &err), WP_OK);
    assert_int_equal(wp_res_capacity_units(r), 2 * 65536);
    assert_int_equal(wp_res_add_model(r, "m", MB / 2, &err), WP_OK);
    assert_int_equal(wp_res_set_slots(r, "m", 1, &err), WP_OK);
    const char *pins[1] = {"m"};
    assert_int_equal(wp_res_assign(r, 0, pins, 1, &err), WP_OK);
    expect(r, WP_RES_LOAD, "m");
    assert_int_equal(wp_res_load_done(r, 1, "m", WP_OK, 1, &err), WP_OK);
    expect_none(r);
    for (uint64_t id = 1; id <= 3; id++)
        assert_int_equal(wp_res_submit(r, 1 + id, "m", id, &err), WP_OK);
    wp_res_action a = expect(r, WP_RES_RUN, "m");
    assert_int_equal(a.req_ids[0], 1);
    a = expect(r, WP_RES_RUN, "m"); /* separate submits, separate RUNs */
    assert_int_equal(a.req_ids[0], 2);
    expect_none(r);
    assert_int_equal(wp_res_run_done(r, 9, "m", 1, &err), WP_OK);
    a = expect(r, WP_RES_RUN, "m");
    assert_int_equal(a.req_ids[0], 3);
    wp_res_free(r);
    cfg.gpus = WP_RES_MAX_GPUS + 1;
    assert_int_equal(wp_res_new(&cfg, &r, &err), WP_EINVAL);
}

/* A random workload through a fake driver: invariants after every call,
 * every request ends exactly once (RUN or FAIL), pinned warm models are
 * never unloaded. */
static void test_random_invariants(void **state)
{
    (void)state;
    enum { M = 8, STEPS = 4000 };
    const char *names[M] = {"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"};
    uint64_t sizes[M];
    for (uint64_t seed = 1; seed <= 5; seed++) {
        wp_rng rng;
        wp_rng_seed(&rng, seed);
        wp_res *r = mk(100 * MB, 4);
        wp_err err;
        /* Seeds 4 and 5 mix BATCH models (odd) with SLOTS models (even,
         * 1..4 slots per GPU) on one GPU. */
        bool slots = seed >= 4;
        uint64_t units[M] = {0};
        for (int i = 0; i < M; i++) {
            sizes[i] = (10 + wp_rng_below(&rng, 50)) * MB;
            assert_int_equal(wp_res_add_model(r, names[i], sizes[i], &err), WP_OK);
            if (slots && i % 2 == 0) {
                uint32_t s = 1 + (uint32_t)wp_rng_below(&rng, 4);
                assert_int_equal(wp_res_set_slots(r, names[i], s, &err), WP_OK);
                units[i] = 65536 / s;
            }
        }
        bool loading[M] = {false}, running[M] = {false};
        uint32_t running_n[M] = {0};
        uint64_t next_id = 1, ended = 0;
        for (uint64_t t = 1; t <= STEPS; t++) {
            int i = (int)wp_rng_below(&rng, M);
            uint64_t u = wp_rng_below(&rng, 100);
            if (u < 50) {
                if (wp_res_submit(r, t, names[i], next_id, &err) == WP_OK)
                    next_id++;
            } else if (u < 70 && loading[i]) {
                int code = wp_rng_below(&rng, 5) == 0 ? WP_EIO : WP_OK;
                assert_int_equal(wp_res_load_done(r, t, names[i], code, 1, &err), WP_OK);
                loading[i] = false;
            } else if (u < 90 && running[i] && units[i]) {
                uint32_t n = 1 + (uint32_t)wp_rng_below(&rng, running_n[i]);
                assert_int_equal(wp_res_run_done(r, t, names[i], n, &err), WP_OK);
                running_n[i] -= n;
                running[i] = running_n[i] > 0;
            } else if (u < 90 && running[i]) {
                assert_int_equal(wp_res_batch_done(r, t, names[i], &err), WP_OK);
                running[i] = false;
                running_n[i] = 0;
            } else if (u < 92) {
                const char *pins[2] = {names[i], names[(i + 3) % M]};
                assert_int_equal(wp_res_assign(r, t, pins, wp_rng_below(&rng, 3), &err), WP_OK);
            }
            wp_res_action a;
            while (wp_res_next_action(r, &a)) {
                int k = a.model[1] - '0';
                if (a.kind == WP_RES_LOAD) {
                    assert_false(loading[k]);
                    loading[k] = true;
                } else if (a.kind == WP_RES_UNLOAD) {
                    if (wp_res_model_pinned(r, a.model))
                        fail_msg("seed %llu: pinned %s evicted", (unsigned long long)seed, a.model);
                    assert_false(running[k]);
                    assert_int_equal(running_n[k], 0);
                } else if (a.kind == WP_RES_RUN) {
                    if (!units[k])
                        assert_false(running[k]); /* BATCH: one at a time */
                    assert_true(a.n_reqs >= 1 && a.n_reqs <= 4);
                    running[k] = true;
                    running_n[k] += a.n_reqs;
                    ended += a.n_reqs;
                } else {
                    assert_int_equal(a.kind, WP_RES_FAIL);
                    ended++;
                }
            }
            check_inv(r, names, sizes, M);
            uint64_t busy = 0;
            for (int k = 0; k < M; k++)
                busy += units[k] * running_n[k];
            assert_int_equal(wp_res_busy_units(r), busy);
            assert_true(busy <= wp_res_capacity_units(r));
        }
        /* Every submitted request was run, failed, or is still queued. */
        uint64_t in_run = 0;
        for (int k = 0; k < M; k++)
            in_run += running_n[k];
        assert_int_equal(ended + (wp_res_queue_depth(r) - in_run), next_id - 1);
        wp_res_free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lru_eviction_order),
        cmocka_unit_test(test_pinned_never_evicted),
        cmocka_unit_test(test_load_failure_isolated),
        cmocka_unit_test(test_batching),
        cmocka_unit_test(test_slots_admission),
        cmocka_unit_test(test_slots_gpus),
        cmocka_unit_test(test_random_invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
