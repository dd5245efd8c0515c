/* Continuous batching on the cpu backend (issue 15):
 *  - a batched forward pass gives each row the logits of feeding the same
 *    rows one at a time, within 1e-5 per logit, with several sequences at
 *    different positions, prefill rows, and sequences joining and leaving
 *    (their slots reused) between passes; and it does not depend on the
 *    thread count;
 *  - generation through the engine (wp_gpu_run_batch, the worker) gives
 *    each request the tokens it gets alone, greedy and sampled, with more
 *    requests than slots (late ones join as others leave);
 *  - the real llama2.c checkpoint stories260K.bin (grouped-query
 *    attention) loads, and its 40 greedy tokens from BOS equal those of the
 *    naive double-precision reference (ref_llama.c), alone and in a batch.
 *    It lives in the shared data folder (WP_SHARED_DATA, or the env var of
 *    that name): when it is absent that test exits 77 (SKIPPED). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu_worker/gpu_worker.h"
#include "ref_llama.h"

#define BATCH_TOL 1e-5

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/test_gpu_batch.XXXXXX", WP_BUILD_DIR);
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const wp_llama_config small = {.dim = 48, .hidden_dim = 80, .n_layers = 3, .n_heads = 6,
                                      .n_kv_heads = 3, .vocab_size = 97, .seq_len = 48,
                                      .shared_classifier = false};

static void gen_model(char *path, size_t len, const char *name, const wp_llama_config *c,
                      uint64_t seed)
{
    snprintf(path, len, "%s/%s", dir, name);
    wp_err err;
    assert_int_equal(wp_llama_gen(path, c, seed, 0.3, &err), WP_OK);
}

static wp_gpu_model *load(const char *path, uint32_t threads, uint32_t max_seqs)
{
    wp_gpu_load_opts o = {.threads = threads, .max_seqs = max_seqs};
    wp_gpu_model *m;
    wp_err err;
    if (wp_gpu_model_load_opts(WP_GPU_CPU, path, &o, &m, &err) != WP_OK)
        fail_msg("load %s: %s", path, wp_err_text(&err));
    return m;
}

/* A schedule of sequences over passes: sequence slot s carries request
 * `gen` from pass join to pass leave (exclusive), prefilling `prefill`
 * tokens in its first pass and one token per pass after. */
typedef struct span {
    uint32_t slot, join, leave, prefill;
} span;

static void test_batched_equals_unbatched(void **state)
{
    (void)state;
    char path[300];
    gen_model(path, sizeof path, "eq.bin", &small, 21);
    wp_gpu_model *bat = load(path, 3, 4), *one = load(path, 1, 4);
    assert_int_equal(wp_gpu_model_threads(bat), 3);
    assert_int_equal(wp_gpu_model_max_seqs(bat), 4);
    /* Slot 2 is used twice (the second request restarts at position 0 over
     * the first one's cache); slot 3 joins with a 5-token prefill. */
    const span sp[] = {{0, 0, 14, 1}, {1, 0, 9, 3}, {2, 2, 6, 2}, {2, 8, 14, 4}, {3, 5, 12, 5}};
    const size_t nsp = sizeof sp / sizeof sp[0];
    uint32_t pos[4] = {0};
    size_t V = small.vocab_size;
    float *lb = malloc(16 * V * sizeof(float)), *lu = malloc(V * sizeof(float));
    wp_rng rng;
    wp_rng_seed(&rng, 5);
    wp_err err;
    size_t compared = 0, multi = 0;
    for (uint32_t pass = 0; pass < 14; pass++) {
        wp_gpu_row rows[16];
        size_t n = 0;
        for (size_t i = 0; i < nsp; i++) {
            if (pass < sp[i].join || pass >= sp[i].leave)
                continue;
            if (pass == sp[i].join)
                pos[sp[i].slot] = 0;
            uint32_t k = pass == sp[i].join ? sp[i].prefill : 1;
            for (uint32_t j = 0; j < k; j++, n++)
                rows[n] = (wp_gpu_row){sp[i].slot, (int32_t)wp_rng_below(&rng, V),
                                       pos[sp[i].slot]++, lb + n * V};
        }
        if (n > 1)
            multi++;
        assert_int_equal(wp_gpu_model_forward_batch(bat, rows, n, &err), WP_OK);
        for (size_t r = 0; r < n; r++) {
            wp_gpu_row u = rows[r];
            u.logits = lu;
            assert_int_equal(wp_gpu_model_forward_batch(one, &u, 1, &err), WP_OK);
            for (size_t v = 0; v < V; v++)
                if (!(fabs((double)lb[r * V + v] - lu[v]) <= BATCH_TOL))
                    fail_msg("pass %u row %zu (seq %u pos %u) logit %zu: batched %.9g, "
                             "alone %.9g",
                             pass, r, rows[r].seq, rows[r].pos, v, lb[r * V + v], lu[v]);
            compared++;
        }
    }
    assert_true(compared > 40 && multi >= 12);
    /* Bad rows are refused before any work. */
    wp_gpu_row bad[2] = {{0, 1, 3, lu}, {0, 2, 3, lu}};
    assert_int_equal(wp_gpu_model_forward_batch(bat, bad, 2, &err), WP_EINVAL);
    bad[0].seq = 4;
    assert_int_equal(wp_gpu_model_forward_batch(bat, bad, 1, &err), WP_ERANGE);
    free(lb);
    free(lu);
    wp_gpu_model_unload(bat);
    wp_gpu_model_unload(one);
}

/* A model wide enough that the passes' stages go to the thread pool (above
 * its ~1M multiply-add threshold): 20 rows of 3 sequences, then a decode
 * pass of the three, on 3 threads, against one row at a time on 1. */
static void test_batched_threads(void **state)
{
    (void)state;
    const wp_llama_config wide = {.dim = 256, .hidden_dim = 512, .n_layers = 2, .n_heads = 8,
                                  .n_kv_heads = 4, .vocab_size = 4096, .seq_len = 32,
                                  .shared_classifier = true};
    char path[300];
    gen_model(path, sizeof path, "wide.bin", &wide, 23);
    wp_gpu_model *bat = load(path, 3, 3), *one = load(path, 1, 3);
    size_t V = wide.vocab_size;
    float *lb = malloc(20 * V * sizeof(float)), *lu = malloc(V * sizeof(float));
    wp_rng rng;
    wp_rng_seed(&rng, 6);
    wp_err err;
    const uint32_t prefill[3] = {8, 6, 6};
    uint32_t pos[3] = {0, 0, 0};
    for (int pass = 0; pass < 2; pass++) {
        wp_gpu_row rows[20];
        size_t n = 0;
        for (uint32_t sq = 0; sq < 3; sq++)
            for (uint32_t j = 0; j < (pass == 0 ? prefill[sq] : 1); j++, n++)
                rows[n] = (wp_gpu_row){sq, (int32_t)wp_rng_below(&rng, V), pos[sq]++,
                                       lb + n * V};
        assert_int_equal(wp_gpu_model_forward_batch(bat, rows, n, &err), WP_OK);
        for (size_t r = 0; r < n; r++) {
            wp_gpu_row u = rows[r];
            u.logits = lu;
            assert_int_equal(wp_gpu_model_forward_batch(one, &u, 1, &err), WP_OK);
            for (size_t v = 0; v < V; v++)
                if (!(fabs((double)lb[r * V + v] - lu[v]) <= BATCH_TOL))
                    fail_msg("pass %d row %zu logit %zu: %.9g vs %.9g", pass, r, v,
                             lb[r * V + v], lu[v]);
        }
    }
    free(lb);
    free(lu);
    wp_gpu_model_unload(bat);
    wp_gpu_model_unload(one);
}

/* Requests of varied shape: each alone, then all through one engine with
 * fewer slots than requests. */
static void test_generation_batched_equals_alone(void **state)
{
    (void)state;
    char path[300];
    gen_model(path, sizeof path, "gen.bin", &small, 22);
    enum { N = 7, STEPS = 12 };
    int32_t prompts[N][6];
    wp_gen_request reqs[N];
    int32_t alone[N][STEPS], toks[N][STEPS];
    wp_gen_result res[N];
    wp_rng rng;
    wp_rng_seed(&rng, 8);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < 6; j++)
            prompts[i][j] = (int32_t)wp_rng_below(&rng, small.vocab_size);
        reqs[i] = (wp_gen_request){prompts[i], (uint32_t)(1 + i % 6),
                                   (uint32_t)(STEPS - (i % 3) * 3), i % 2 ? 0.8f : 0.0f,
                                   (uint64_t)i};
    }
    wp_gpu_model *m = load(path, 2, 3);
    wp_err err;
    for (int i = 0; i < N; i++) {
        wp_gen_result r = {.tokens = alone[i]};
        assert_int_equal(wp_gpu_generate(m, &reqs[i], &r, &err), WP_OK);
        assert_int_equal(r.n_tokens, reqs[i].steps);
        assert_true(r.ttft_ns > 0 && r.total_ns >= r.ttft_ns);
    }
    for (int i = 0; i < N; i++)
        res[i] = (wp_gen_result){.tokens = toks[i]};
    assert_int_equal(wp_gpu_run_batch(m, reqs, res, N, NULL, &err), WP_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(res[i].n_tokens, reqs[i].steps);
        assert_false(res[i].modelled);
        assert_memory_equal(toks[i], alone[i], reqs[i].steps * sizeof(int32_t));
    }
    /* The engine by hand: admission is bounded by the slots, a request
     * admitted mid-way joins at the next step and still gets its tokens. */
    int32_t t0[STEPS], t1[STEPS], t2[STEPS], t3[STEPS];
    assert_int_equal(wp_gpu_seq_start(m, &reqs[0], t0, 100, &err), WP_OK);
    assert_int_equal(wp_gpu_seq_start(m, &reqs[1], t1, 101, &err), WP_OK);
    assert_int_equal(wp_gpu_seq_start(m, &reqs[2], t2, 102, &err), WP_OK);
    assert_int_equal(wp_gpu_seq_start(m, &reqs[3], t3, 103, &err), WP_EOVERLOAD);
    assert_int_equal(wp_gpu_active(m), 3);
    wp_gen_result r;
    assert_int_equal(wp_gpu_generate(m, &reqs[0], &r, &err), WP_ESTATE);
    uint64_t tag;
    int e;
    int got = 0, steps = 0;
    bool joined = false;
    while (wp_gpu_active(m) > 0) {
        assert_int_equal(wp_gpu_step(m, &err), WP_OK);
        steps++;
        while (wp_gpu_seq_done(m, &tag, &e, &r)) {
            assert_int_equal(e, WP_OK);
            int i = (int)(tag - 100);
            assert_memory_equal(r.tokens, alone[i], reqs[i].steps * sizeof(int32_t));
            got++;
            if (!joined) { /* a slot is free: the fourth joins now */
                assert_int_equal(wp_gpu_seq_start(m, &reqs[3], t3, 103, &err), WP_OK);
                joined = true;
            }
        }
    }
    assert_int_equal(got, 4);
    assert_true(steps <= STEPS + STEPS); /* shared steps, not one run after another */
    wp_gpu_model_unload(m);
}

/* A prompt longer than one pass carries (WP_GPU_STEP_ROWS) is prefilled
 * over two steps, beside a sequence that keeps decoding; greedy tokens
 * equal feeding the prompt one row at a time. */
static void test_long_prompt(void **state)
{
    (void)state;
    wp_llama_config c = small;
    c.seq_len = WP_GPU_STEP_ROWS + 64;
    char path[300];
    gen_model(path, sizeof path, "long.bin", &c, 24);
    enum { STEPS = 6 };
    uint32_t np = WP_GPU_STEP_ROWS + 40;
    int32_t *prompt = malloc(np * sizeof *prompt);
    wp_rng rng;
    wp_rng_seed(&rng, 9);
    for (uint32_t i = 0; i < np; i++)
        prompt[i] = (int32_t)wp_rng_below(&rng, c.vocab_size);
    /* By hand: one row per pass, greedy. */
    wp_gpu_model *m = load(path, 2, 2);
    float *lg = malloc(c.vocab_size * sizeof(float));
    wp_err err;
    int32_t want[STEPS];
    for (uint32_t pos = 0; pos + 1 < np + STEPS; pos++) {
        int32_t tok = pos < np ? prompt[pos] : want[pos - np];
        wp_gpu_row row = {0, tok, pos, lg};
        assert_int_equal(wp_gpu_model_forward_batch(m, &row, 1, &err), WP_OK);
        if (pos + 1 >= np) {
            uint32_t best = 0;
            for (uint32_t v = 1; v < c.vocab_size; v++)
                if (lg[v] > lg[best])
                    best = v;
            want[pos + 1 - np] = (int32_t)best;
        }
    }
    const int32_t short_prompt[2] = {5, 6};
    wp_gen_request reqs[2] = {{short_prompt, 2, 20, 0.0f, 0}, {prompt, np, STEPS, 0.0f, 0}};
    int32_t t0[20], t1[STEPS], s0[20];
    wp_gen_result r = {.tokens = s0};
    assert_int_equal(wp_gpu_generate(m, &reqs[0], &r, &err), WP_OK);
    /* The short one first, so the long prompt joins while it decodes. */
    assert_int_equal(wp_gpu_seq_start(m, &reqs[0], t0, 0, &err), WP_OK);
    assert_int_equal(wp_gpu_step(m, &err), WP_OK);
    assert_int_equal(wp_gpu_seq_start(m, &reqs[1], t1, 1, &err), WP_OK);
    int steps = 0, got = 0;
    uint64_t tag;
    int e;
    while (wp_gpu_active(m) > 0) {
        assert_int_equal(wp_gpu_step(m, &err), WP_OK);
        steps++;
        while (wp_gpu_seq_done(m, &tag, &e, &r)) {
            assert_int_equal(e, WP_OK);
            got++;
        }
    }
    assert_int_equal(got, 2);
    assert_true(steps >= 19); /* the short one's 19 decode steps; the long joined them */
    assert_memory_equal(t0, s0, sizeof s0);
    assert_memory_equal(t1, want, sizeof want);
    free(prompt);
    free(lg);
    wp_gpu_model_unload(m);
}

/* ---------------------------------------------------------------- stories260K */

static const char *shared_model(char *buf, size_t len)
{
    const char *d = getenv("WP_SHARED_DATA");
#ifdef WP_SHARED_DATA
    if (!d)
        d = WP_SHARED_DATA;
#endif
    if (!d)
        return NULL;
    snprintf(buf, len, "%s/models/stories260K.bin", d);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

static void test_stories260k(void **state)
{
    (void)state;
    char buf[512];
    const char *path = shared_model(buf, sizeof buf);
    assert_non_null(path); /* main() skips the program when it is absent */
    enum { STEPS = 40 };
    /* The reference: greedy from BOS (token 1) in double precision. */
    ref_model ref;
    ref_load(&ref, path);
    assert_int_equal(ref.kv_heads * 2, ref.heads); /* grouped-query attention */
    double *lg = malloc((size_t)ref.vocab * sizeof(double));
    int32_t want[STEPS];
    int tok = 1;
    double min_margin = INFINITY;
    for (int pos = 0; pos < STEPS; pos++) {
        ref_forward(&ref, tok, pos, lg);
        int best = 0, second = -1;
        for (int v = 1; v < ref.vocab; v++)
            if (lg[v] > lg[best]) {
                second = best;
                best = v;
            } else if (second < 0 || lg[v] > lg[second]) {
                second = v;
            }
        min_margin = fmin(min_margin, lg[best] - lg[second]);
        want[pos] = best;
        tok = best;
    }
    print_message("stories260K: reference tokens from BOS, smallest top-2 margin %.3g\n",
                  min_margin);
    free(lg);
    ref_free(&ref);

    wp_gpu_model *m = load(path, 0, 4);
    const wp_llama_config *c = wp_gpu_model_config(m);
    assert_int_equal(c->dim, 64);
    assert_int_equal(c->n_kv_heads, 4);
    assert_int_equal(c->n_heads, 8);
    const int32_t bos[1] = {1};
    int32_t got[STEPS];
    wp_gen_request req = {bos, 1, STEPS, 0.0f, 0};
    wp_gen_result res = {.tokens = got};
    wp_err err;
    assert_int_equal(wp_gpu_generate(m, &req, &res, &err), WP_OK);
    assert_memory_equal(got, want, sizeof want);
    /* The same 40 tokens in a batch beside other requests. */
    const int32_t other[3] = {1, 200, 17};
    int32_t t[4][STEPS];
    wp_gen_request reqs[4] = {{other, 3, 30, 0.0f, 0}, req, {other, 2, 35, 0.9f, 7},
                              {bos, 1, 20, 0.5f, 3}};
    wp_gen_result rs[4];
    for (int i = 0; i < 4; i++)
        rs[i] = (wp_gen_result){.tokens = t[i]};
    assert_int_equal(wp_gpu_run_batch(m, reqs, rs, 4, NULL, &err), WP_OK);
    assert_memory_equal(t[1], want, sizeof want);
    wp_gpu_model_unload(m);
}

int main(int argc, char **argv)
{
    (void)argc;
    char buf[512];
    if (argv[1] && strcmp(argv[1], "stories260K") == 0) {
        if (!shared_model(buf, sizeof buf)) {
            printf("stories260K.bin not found (set WP_SHARED_DATA): SKIPPED\n");
            return 77;
        }
        const struct CMUnitTest t[] = {cmocka_unit_test(test_stories260k)};
        return cmocka_run_group_tests(t, setup, teardown);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batched_equals_unbatched),
        cmocka_unit_test(test_batched_threads),
        cmocka_unit_test(test_generation_batched_equals_alone),
        cmocka_unit_test(test_long_prompt),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
