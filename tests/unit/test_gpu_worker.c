/* The live-world worker: the TIMING MODEL path (loads and requests finish at
 * computed times; advance returns when next due; continuous batching per
 * slot, checked against a hand-computed schedule), the cpu path (loads and
 * generation happen in the call, one batched pass per advance, tokens
 * match a direct generate), continuous batching on cpu (a request
 * submitted while others decode joins at the next step and finishes before
 * them; a full batch makes the next request wait for a slot), exactly one
 * completion per request, and a failed load that leaves the other model
 * serving. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu_worker/gpu_worker.h"

#define MB (1024ull * 1024ull)

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/test_gpu_worker.XXXXXX", WP_BUILD_DIR);
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

typedef struct done_log {
    size_t n;
    uint64_t ids[64];
    int errors[64];
    wp_gen_result res[64];
    uint64_t at_ns[64];  /* the time given to the advance that completed it */
    uint64_t now_ns;
} done_log;

static void on_done(void *ctx, uint64_t id, int error, const wp_gen_result *res)
{
    done_log *d = ctx;
    assert_true(d->n < 64);
    for (size_t i = 0; i < d->n; i++)
        assert_true(d->ids[i] != id); /* exactly once */
    d->ids[d->n] = id;
    d->errors[d->n] = error;
    d->at_ns[d->n] = d->now_ns;
    if (res)
        d->res[d->n] = *res;
    else
        memset(&d->res[d->n], 0, sizeof d->res[0]);
    assert_true(error != WP_OK || res != NULL);
    d->n++;
}

static void test_timing_worker(void **state)
{
    (void)state;
    done_log d = {0};
    wp_gpu_worker_config cfg = {.kind = WP_GPU_MODEL, .capacity_bytes = 100 * MB, .max_batch = 4,
                                .max_queue = 16, .on_done = on_done, .ctx = &d};
    wp_gpu_worker *w;
    wp_err err;
    assert_int_equal(wp_gpu_worker_new(&cfg, &w, &err), WP_OK);
    wp_model_profile a = {.name = "a", .size_bytes = 40 * MB, .prefill_base_ms = 10,
                          .prefill_ms_per_token = 1, .decode_ms_per_token = 2,
                          .slots_per_gpu = 2, .load_bytes_per_s = 40.0 * MB, .load_fixed_ms = 0};
    wp_model_profile b = a;
    b.size_bytes = 70 * MB;
    b.load_bytes_per_s = 70.0 * MB;
    assert_int_equal(wp_gpu_worker_add_model(w, "a", NULL, &a, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_add_model(w, "b", NULL, &b, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_add_model(w, "c", NULL, NULL, &err), WP_EINVAL);
    const int32_t prompt[4] = {0};
    wp_gen_request r = {prompt, 4, 3, 0, 0}; /* ttft 14 ms, total 18 ms */
    assert_int_equal(wp_gpu_worker_submit(w, 0, "a", 1, &r, NULL, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_submit(w, 0, "a", 1, &r, NULL, &err), WP_EEXIST);
    assert_int_equal(wp_gpu_worker_submit(w, 0, "zz", 2, &r, NULL, &err), WP_ENOTFOUND);
    uint64_t next = wp_gpu_worker_advance(w, 0);
    assert_int_equal(next, WP_NS_PER_S); /* 40 MB at 40 MB/s: a 1 s cold start */
    assert_int_equal(wp_res_model_state(wp_gpu_worker_res(w), "a"), WP_RES_LOADING);
    assert_int_equal(wp_gpu_worker_advance(w, next - 1), next); /* nothing early */
    assert_int_equal(d.n, 0);
    next = wp_gpu_worker_advance(w, next);
    assert_int_equal(next, WP_NS_PER_S + 18 * WP_NS_PER_MS);
    assert_int_equal(wp_gpu_worker_advance(w, next), UINT64_MAX);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.ids[0], 1);
    assert_int_equal(d.errors[0], WP_OK);
    assert_true(d.res[0].modelled);
    assert_int_equal(d.res[0].ttft_ns, 14 * WP_NS_PER_MS);
    wp_res_stats st;
    wp_res_get_stats(wp_gpu_worker_res(w), &st);
    assert_int_equal(st.last_load_ns, WP_NS_PER_S);

    /* b (70) needs a (40, idle, unpinned) evicted. */
    uint64_t t = 2 * WP_NS_PER_S;
    assert_int_equal(wp_gpu_worker_submit(w, t, "b", 2, &r, NULL, &err), WP_OK);
    next = wp_gpu_worker_advance(w, t);
    assert_int_equal(wp_res_model_state(wp_gpu_worker_res(w), "a"), WP_RES_COLD);
    assert_true(wp_res_used_bytes(wp_gpu_worker_res(w)) <= 100 * MB);
    while (next != UINT64_MAX)
        next = wp_gpu_worker_advance(w, next);
    assert_int_equal(d.n, 2);
    const char *warm[2];
    assert_int_equal(wp_res_warm_models(wp_gpu_worker_res(w), warm, 2), 1);
    assert_string_equal(warm[0], "b");
    /* A pinned a cannot fit next to a pinned b: requests for a fail. */
    const char *pins[2] = {"b"};
    assert_int_equal(wp_gpu_worker_assign(w, t, pins, 1, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_submit(w, t, "a", 3, &r, NULL, &err), WP_OK);
    wp_gpu_worker_advance(w, t);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.errors[2], WP_ENOSPC);
    wp_gpu_worker_free(w);
}

/* Index of id in the completion log; fails when absent. */
static size_t done_index(const done_log *d, uint64_t id)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->ids[i] == id)
            return i;
    fail_msg("request %llu not completed", (unsigned long long)id);
    return 0;
}

static uint64_t ms_ns(double ms) { return (uint64_t)llround(ms * 1e6); }

/* Continuous batching: a long request holds one of two slots; a short one
 * arriving later takes the free slot at once (its first token at its own
 * arrival + ttft, its end long before the long one's); a third one finds
 * both slots busy and waits, in FIFO order, for the first slot to free. */
static void test_timing_continuous(void **state)
{
    (void)state;
    done_log d = {0};
    wp_gpu_worker_config cfg = {.kind = WP_GPU_MODEL, .capacity_bytes = 100 * MB, .max_batch = 4,
                                .max_queue = 16, .on_done = on_done, .ctx = &d};
    wp_gpu_worker *w;
    wp_err err;
    assert_int_equal(wp_gpu_worker_new(&cfg, &w, &err), WP_OK);
    wp_model_profile p = {.name = "m", .size_bytes = 10 * MB, .prefill_base_ms = 7.3,
                          .prefill_ms_per_token = 0.11, .decode_ms_per_token = 1.7,
                          .slots_per_gpu = 2, .load_fixed_ms = 50};
    assert_int_equal(wp_gpu_worker_add_model(w, "m", NULL, &p, &err), WP_OK);
    const char *pins[1] = {"m"};
    assert_int_equal(wp_gpu_worker_assign(w, 0, pins, 1, &err), WP_OK);
    uint64_t t0 = wp_gpu_worker_advance(w, 0);
    assert_int_equal(t0, 50 * WP_NS_PER_MS);
    assert_int_equal(wp_gpu_worker_advance(w, t0), UINT64_MAX); /* warm, idle */
    assert_int_equal(wp_res_model_state(wp_gpu_worker_res(w), "m"), WP_RES_WARM);

    const int32_t prompt[16] = {0};
    wp_gen_request lng = {prompt, 16, 300, 0, 0}, shrt = {prompt, 5, 4, 0, 0};
    uint64_t long_total = ms_ns(wp_model_total_ms(&p, 16, 300));
    uint64_t short_ttft = ms_ns(wp_model_ttft_ms(&p, 5));
    uint64_t short_total = ms_ns(wp_model_total_ms(&p, 5, 4));
    d.now_ns = t0;
    assert_int_equal(wp_gpu_worker_submit(w, t0, "m", 1, &lng, NULL, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_advance(w, t0), t0 + long_total);
    uint64_t t1 = t0 + 20 * WP_NS_PER_MS;
    d.now_ns = t1;
    assert_int_equal(wp_gpu_worker_submit(w, t1, "m", 2, &shrt, NULL, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_advance(w, t1), t1 + short_total); /* started at once */
    uint64_t t2 = t1 + WP_NS_PER_MS; /* both slots busy now */
    d.now_ns = t2;
    assert_int_equal(wp_gpu_worker_submit(w, t2, "m", 3, &shrt, NULL, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_advance(w, t2), t1 + short_total); /* 3 waits */
    assert_int_equal(wp_res_queue_depth(wp_gpu_worker_res(w)), 3);
    uint64_t next = t1 + short_total;
    while (next != UINT64_MAX) {
        d.now_ns = next;
        next = wp_gpu_worker_advance(w, next);
    }
    assert_int_equal(d.n, 3);
    size_t i1 = done_index(&d, 1), i2 = done_index(&d, 2), i3 = done_index(&d, 3);
    /* 2 ends first, at its own arrival + total; its ttft is from its own
     * start (= its arrival): t1 + ttft, not after the long request. */
    assert_int_equal(i2, 0);
    assert_int_equal(d.at_ns[i2], t1 + short_total);
    assert_int_equal(d.res[i2].ttft_ns, short_ttft);
    assert_int_equal(d.res[i2].total_ns, short_total);
    /* 3 took 2's slot when it freed, not the end of 1. */
    assert_int_equal(i3, 1);
    assert_int_equal(d.at_ns[i3], t1 + short_total + short_total);
    assert_int_equal(d.res[i3].ttft_ns, short_ttft);
    assert_int_equal(d.at_ns[i1], t0 + long_total);
    assert_int_equal(d.res[i1].ttft_ns, ms_ns(wp_model_ttft_ms(&p, 16)));
    assert_int_equal(d.res[i1].total_ns, long_total);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(d.errors[i], WP_OK);
        assert_true(d.res[i].modelled);
    }
    assert_int_equal(wp_res_busy_units(wp_gpu_worker_res(w)), 0);
    wp_gpu_worker_free(w);
}

/* The worker against a hand-computed continuous-batching schedule on one
 * GPU (65536 work units): A has 2 slots per GPU (32768 units a request), B
 * 4 (16384). Profiles: ttft = 10 ms, total = 10 + (out - 1) ms. Times in ms
 * after warm-up:
 *   req model arrive out total start  end   why
 *    1   A      0    91   100     0   100   free
 *    2   A     10    41    50    10    60   free (65536 busy)
 *    3   B     20    11    20    60    80   waits for 2
 *    4   A     30    11    20    80   100   60: 49152 busy, A does not fit
 *    5   B     40    11    20   100   120   behind 4 (FIFO), then 1 ends
 *    6   B    105    31    40   105   145   fits at once
 * Static batching (the old worker) would have run 3, 4, 5 only after the
 * batches before them ended. */
static void test_timing_schedule(void **state)
{
    (void)state;
    done_log d = {0};
    wp_gpu_worker_config cfg = {.kind = WP_GPU_MODEL, .capacity_bytes = 100 * MB, .max_batch = 8,
                                .max_queue = 16, .on_done = on_done, .ctx = &d, .gpus = 1};
    wp_gpu_worker *w;
    wp_err err;
    assert_int_equal(wp_gpu_worker_new(&cfg, &w, &err), WP_OK);
    wp_model_profile pa = {.name = "A", .size_bytes = 10 * MB, .prefill_base_ms = 10,
                           .decode_ms_per_token = 1, .slots_per_gpu = 2, .load_fixed_ms = 5};
    wp_model_profile pb = pa;
    pb.slots_per_gpu = 4;
    assert_int_equal(wp_gpu_worker_add_model(w, "A", NULL, &pa, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_add_model(w, "B", NULL, &pb, &err), WP_OK);
    const char *pins[2] = {"A", "B"};
    assert_int_equal(wp_gpu_worker_assign(w, 0, pins, 2, &err), WP_OK);
    uint64_t next = wp_gpu_worker_advance(w, 0);
    assert_int_equal(next, 5 * WP_NS_PER_MS);
    assert_int_equal(wp_gpu_worker_advance(w, next), UINT64_MAX);
    const uint64_t T0 = WP_NS_PER_S;
    static const struct {
        const char *model;
        uint64_t arrive_ms;
        uint32_t out;
        uint64_t start_ms, end_ms;
    } sched[6] = {{"A", 0, 91, 0, 100},   {"A", 10, 41, 10, 60}, {"B", 20, 11, 60, 80},
                  {"A", 30, 11, 80, 100}, {"B", 40, 11, 100, 120}, {"B", 105, 31, 105, 145}};
    const int32_t prompt[1] = {0};
    wp_gen_request reqs[6];
    size_t k = 0;
    next = UINT64_MAX;
    /* Drive it as a node would: at each time, fire what is due, then
     * submit what arrives. */
    while (k < 6 || next != UINT64_MAX) {
        uint64_t arrive = k < 6 ? T0 + sched[k].arrive_ms * WP_NS_PER_MS : UINT64_MAX;
        uint64_t now = arrive < next ? arrive : next;
        d.now_ns = now;
        next = wp_gpu_worker_advance(w, now);
        while (k < 6 && T0 + sched[k].arrive_ms * WP_NS_PER_MS == now) {
            reqs[k] = (wp_gen_request){prompt, 1, sched[k].out, 0, 0};
            assert_int_equal(wp_gpu_worker_submit(w, now, sched[k].model, k + 1, &reqs[k], NULL,
                                                  &err),
                             WP_OK);
            k++;
        }
        next = wp_gpu_worker_advance(w, now);
        assert_true(wp_res_busy_units(wp_gpu_worker_res(w)) <= 65536);
    }
    assert_int_equal(d.n, 6);
    for (size_t i = 0; i < 6; i++) {
        size_t j = done_index(&d, i + 1);
        uint64_t total_ns = (sched[i].end_ms - sched[i].start_ms) * WP_NS_PER_MS;
        assert_int_equal(d.errors[j], WP_OK);
        assert_int_equal(d.at_ns[j], T0 + sched[i].end_ms * WP_NS_PER_MS);
        assert_int_equal(d.res[j].ttft_ns, 10 * WP_NS_PER_MS);
        assert_int_equal(d.res[j].total_ns, total_ns);
        /* Time to first token from arrival, as a client sees it. */
        uint64_t ttft_from_arrival =
            d.at_ns[j] - d.res[j].total_ns + d.res[j].ttft_ns - sched[i].arrive_ms * WP_NS_PER_MS;
        assert_int_equal(ttft_from_arrival - T0,
                         (sched[i].start_ms + 10 - sched[i].arrive_ms) * WP_NS_PER_MS);
    }
    /* Completion order: 2 (60), 3 (80), 1 and 4 (100, 1 set its timer
     * first), 5 (120), 6 (145). */
    static const uint64_t order[6] = {2, 3, 1, 4, 5, 6};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(d.ids[i], order[i]);
    wp_gpu_worker_free(w);
}

static void test_cpu_worker(void **state)
{
    (void)state;
    char good[300], bad[300];
    snprintf(good, sizeof good, "%s/good.bin", dir);
    snprintf(bad, sizeof bad, "%s/bad.bin", dir);
    wp_llama_config c = {.dim = 32, .hidden_dim = 64, .n_layers = 2, .n_heads = 4,
                         .n_kv_heads = 2, .vocab_size = 50, .seq_len = 32,
                         .shared_classifier = false};
    wp_err err;
    assert_int_equal(wp_llama_gen(good, &c, 3, 0.3, &err), WP_OK);
    assert_int_equal(wp_llama_gen(bad, &c, 4, 0.3, &err), WP_OK);

    /* The reference tokens, straight from the backend. */
    const int32_t prompt[3] = {4, 5, 6};
    wp_gen_request req = {prompt, 3, 10, 0.7f, 11};
    int32_t want[10];
    wp_gpu_model *m;
    assert_int_equal(wp_gpu_model_load(WP_GPU_CPU, good, &m, &err), WP_OK);
    wp_gen_result wr = {.tokens = want};
    assert_int_equal(wp_gpu_generate(m, &req, &wr, &err), WP_OK);
    /* What the worker reserves per model with max_batch 2. */
    uint64_t mem = wp_llama_mem_bytes(&c) + wp_llama_seq_bytes(&c);
    wp_gpu_model_unload(m);

    done_log d = {0};
    wp_gpu_worker_config cfg = {.kind = WP_GPU_CPU, .capacity_bytes = 2 * mem + 1, .max_batch = 2,
                                .max_queue = 8, .on_done = on_done, .ctx = &d};
    wp_gpu_worker *w;
    assert_int_equal(wp_gpu_worker_new(&cfg, &w, &err), WP_OK);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/missing.bin", dir);
    assert_int_equal(wp_gpu_worker_add_model(w, "x", missing, NULL, &err), WP_ENOTFOUND);
    assert_int_equal(wp_gpu_worker_add_model(w, "good", good, NULL, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_add_model(w, "bad", bad, NULL, &err), WP_OK);
    assert_int_equal(wp_res_model_state(wp_gpu_worker_res(w), "good"), WP_RES_COLD);
    /* Break "bad" after it was registered: its load will fail. */
    assert_int_equal(truncate(bad, 1000), 0);

    int32_t toks[3][10];
    for (uint64_t id = 0; id < 3; id++)
        assert_int_equal(wp_gpu_worker_submit(w, 0, "good", id, &req, toks[id], &err), WP_OK);
    int32_t bt[10];
    assert_int_equal(wp_gpu_worker_submit(w, 0, "bad", 9, &req, bt, &err), WP_OK);
    /* One forward pass per call: call again while it returns now. */
    size_t calls = 0;
    while (wp_gpu_worker_advance(w, 0) != UINT64_MAX)
        calls++;
    assert_true(calls >= 9 && calls < 40); /* 10 tokens: >= 10 steps, the batch of 2 shares them */
    assert_int_equal(d.n, 4);
    size_t ok = 0;
    for (size_t i = 0; i < d.n; i++) {
        if (d.ids[i] == 9) {
            assert_int_equal(d.errors[i], WP_ETRUNC);
            continue;
        }
        assert_int_equal(d.errors[i], WP_OK);
        assert_false(d.res[i].modelled);
        assert_int_equal(d.res[i].n_tokens, 10);
        assert_memory_equal(toks[d.ids[i]], want, sizeof want);
        ok++;
    }
    assert_int_equal(ok, 3);
    assert_int_equal(wp_res_model_state(wp_gpu_worker_res(w), "good"), WP_RES_WARM);
    assert_int_equal(wp_res_model_state(wp_gpu_worker_res(w), "bad"), WP_RES_COLD);
    assert_int_equal(wp_res_used_bytes(wp_gpu_worker_res(w)), mem);
    wp_res_stats st;
    wp_res_get_stats(wp_gpu_worker_res(w), &st);
    assert_true(st.last_load_ns > 0);
    assert_int_equal(st.load_failures, 1);
    /* A bad request completes with its error; the model keeps serving. */
    const int32_t bad_prompt[1] = {50};
    wp_gen_request breq = {bad_prompt, 1, 2, 0, 0};
    assert_int_equal(wp_gpu_worker_submit(w, 5, "good", 20, &breq, bt, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_submit(w, 5, "good", 21, &req, toks[0], &err), WP_OK);
    while (wp_gpu_worker_advance(w, 5) != UINT64_MAX)
        ;
    assert_int_equal(d.n, 6);
    assert_int_equal(d.errors[4], WP_ERANGE);
    assert_int_equal(d.errors[5], WP_OK);
    assert_memory_equal(toks[0], want, sizeof want);
    wp_gpu_worker_free(w);
}

static void test_cpu_continuous(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/cont.bin", dir);
    wp_llama_config c = {.dim = 32, .hidden_dim = 64, .n_layers = 2, .n_heads = 4,
                         .n_kv_heads = 4, .vocab_size = 40, .seq_len = 64,
                         .shared_classifier = true};
    wp_err err;
    assert_int_equal(wp_llama_gen(path, &c, 5, 0.3, &err), WP_OK);
    const int32_t prompt[2] = {3, 4};
    wp_gen_request longr = {prompt, 2, 30, 0.0f, 0}, shortr = {prompt, 1, 3, 0.0f, 0};
    int32_t want_long[30], want_short[3];
    wp_gpu_model *m;
    assert_int_equal(wp_gpu_model_load(WP_GPU_CPU, path, &m, &err), WP_OK);
    wp_gen_result r = {.tokens = want_long};
    assert_int_equal(wp_gpu_generate(m, &longr, &r, &err), WP_OK);
    r.tokens = want_short;
    assert_int_equal(wp_gpu_generate(m, &shortr, &r, &err), WP_OK);
    wp_gpu_model_unload(m);

    done_log d = {0};
    wp_gpu_worker_config cfg = {.kind = WP_GPU_CPU, .capacity_bytes = 100 * MB, .max_batch = 2,
                                .max_queue = 8, .on_done = on_done, .ctx = &d, .threads = 1};
    wp_gpu_worker *w;
    assert_int_equal(wp_gpu_worker_new(&cfg, &w, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_add_model(w, "m", path, NULL, &err), WP_OK);
    int32_t t0[30], t1[3], t2[3];
    assert_int_equal(wp_gpu_worker_submit(w, 0, "m", 1, &longr, t0, &err), WP_OK);
    /* Load, admission, and the first pass (prefill) in one call. */
    assert_int_equal(wp_gpu_worker_advance(w, 0), 0);
    assert_int_equal(wp_gpu_worker_advance(w, 0), 0);
    assert_int_equal(d.n, 0);
    /* Joins the running batch at the next step; finishes long before 1. */
    assert_int_equal(wp_gpu_worker_submit(w, 0, "m", 2, &shortr, t1, &err), WP_OK);
    assert_int_equal(wp_gpu_worker_submit(w, 0, "m", 3, &shortr, t2, &err), WP_OK);
    assert_int_equal(wp_res_queue_depth(wp_gpu_worker_res(w)), 3);
    size_t calls = 0;
    while (wp_gpu_worker_advance(w, 0) != UINT64_MAX)
        calls++;
    assert_int_equal(d.n, 3);
    /* 2 (its slot was free) before 3 (waited for 2's slot) before 1. */
    assert_int_equal(d.ids[0], 2);
    assert_int_equal(d.ids[1], 3);
    assert_int_equal(d.ids[2], 1);
    assert_true(calls < 30); /* the short ones rode along, not after */
    assert_memory_equal(t0, want_long, sizeof want_long);
    assert_memory_equal(t1, want_short, sizeof want_short);
    assert_memory_equal(t2, want_short, sizeof want_short);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(d.errors[i], WP_OK);
        assert_true(d.res[i].ttft_ns > 0 && d.res[i].total_ns >= d.res[i].ttft_ns);
    }
    /* Out-of-range batch sizes are refused. */
    wp_gpu_worker *w2 = NULL;
    cfg.max_batch = 0;
    assert_int_equal(wp_gpu_worker_new(&cfg, &w2, &err), WP_EINVAL);
    cfg.max_batch = WP_GPU_MAX_SEQS + 1;
    assert_int_equal(wp_gpu_worker_new(&cfg, &w2, &err), WP_EINVAL);
    cfg.max_batch = 2;
    wp_gpu_worker_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timing_worker),
        cmocka_unit_test(test_timing_continuous),
        cmocka_unit_test(test_timing_schedule),
        cmocka_unit_test(test_cpu_worker),
        cmocka_unit_test(test_cpu_continuous),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
