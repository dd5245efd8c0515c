/* The llama2.c version-0 loader and writer: deterministic generation, and
 * refusal (with a reason, never a crash or a huge allocation) of truncated
 * files, short headers, absurd or inconsistent dimensions, and files whose
 * length does not match their header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu_worker/gpu_worker.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/test_gpu_format.XXXXXX", WP_BUILD_DIR);
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const wp_llama_config tiny = {.dim = 16, .hidden_dim = 40, .n_layers = 2, .n_heads = 4,
                                     .n_kv_heads = 2, .vocab_size = 23, .seq_len = 8,
                                     .shared_classifier = true};

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return b;
}

static void spill(const char *path, const void *b, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, len, fp), len);
    fclose(fp);
}

static void put_header(unsigned char *b, const int32_t v[7])
{
    for (int i = 0; i < 7; i++)
        for (int k = 0; k < 4; k++)
            b[4 * i + k] = (unsigned char)((uint32_t)v[i] >> (8 * k));
}

static void test_gen_deterministic_and_loads(void **state)
{
    (void)state;
    char a[300], b[300], c[300];
    path_of(a, sizeof a, "a.bin");
    path_of(b, sizeof b, "b.bin");
    path_of(c, sizeof c, "c.bin");
    wp_err err;
    assert_int_equal(wp_llama_gen(a, &tiny, 42, 0.02, &err), WP_OK);
    assert_int_equal(wp_llama_gen(b, &tiny, 42, 0.02, &err), WP_OK);
    assert_int_equal(wp_llama_gen(c, &tiny, 43, 0.02, &err), WP_OK);
    size_t la, lb, lc;
    unsigned char *da = slurp(a, &la), *db = slurp(b, &lb), *dc = slurp(c, &lc);
    uint64_t want;
    assert_int_equal(wp_llama_config_check(&tiny, &want, &err), WP_OK);
    assert_int_equal(la, want);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    assert_int_equal(la, lc);
    assert_true(memcmp(da, dc, la) != 0);

    /* Expected size, by the layout: header + all tensors (kv_dim 8, head 4). */
    uint64_t floats = 23 * 16 + 2 * 16 + 2 * 256 + 2 * 16 * 8 * 2 + 2 * 256 + 2 * 16 +
                      3 * 2 * 16 * 40 + 16 + 2 * 8 * 2;
    assert_int_equal(want, 28 + 4 * floats);

    wp_llama_weights w;
    assert_int_equal(wp_llama_load(a, &w, &err), WP_OK);
    assert_int_equal(w.cfg.dim, 16);
    assert_int_equal(w.cfg.n_kv_heads, 2);
    assert_true(w.cfg.shared_classifier);
    assert_ptr_equal(w.wcls, w.tok_emb);
    assert_true(w.rms_att[0] == 1.0f && w.rms_final[15] == 1.0f);
    assert_true(w.rms_ffn[2 * 16 - 1] == 1.0f);
    /* The first embedding float sits right after the header. */
    float first;
    memcpy(&first, da + 28, 4);
    assert_true(w.tok_emb[0] == first);
    wp_llama_free(&w);

    /* Unshared classifier: negative vocab, wcls after the freq tables. */
    wp_llama_config u = tiny;
    u.shared_classifier = false;
    assert_int_equal(wp_llama_gen(c, &u, 5, 0.02, &err), WP_OK);
    assert_int_equal(wp_llama_load(c, &w, &err), WP_OK);
    assert_false(w.cfg.shared_classifier);
    assert_int_equal(w.cfg.vocab_size, 23);
    assert_true(w.wcls != w.tok_emb);
    assert_ptr_equal(w.wcls + 23 * 16, w.data + w.n_floats);
    wp_llama_free(&w);
    free(da);
    free(db);
    free(dc);
}

static void expect_refused(const char *path, int code, const char *needle)
{
    wp_llama_weights w;
    wp_err err;
    wp_err_clear(&err);
    int rv = wp_llama_load(path, &w, &err);
    if (rv != code || !strstr(wp_err_text(&err), needle))
        fail_msg("expected %s containing '%s', got %s: %s", wp_strerror(code), needle,
                 wp_strerror(rv), wp_err_text(&err));
    assert_null(w.data);
    assert_null(strchr(wp_err_text(&err), '\n'));
}

static void test_rejects_bad_files(void **state)
{
    (void)state;
    char good[300], bad[300];
    path_of(good, sizeof good, "good.bin");
    path_of(bad, sizeof bad, "bad.bin");
    wp_err err;
    assert_int_equal(wp_llama_gen(good, &tiny, 1, 0.02, &err), WP_OK);
    size_t len;
    unsigned char *d = slurp(good, &len);

    spill(bad, d, len - 4); /* one float short */
    expect_refused(bad, WP_ETRUNC, "truncated");
    spill(bad, d, 10); /* inside the header */
    expect_refused(bad, WP_ETRUNC, "header");
    spill(bad, d, 0);
    expect_refused(bad, WP_ETRUNC, "header");

    unsigned char *longer = calloc(1, len + 8);
    memcpy(longer, d, len);
    spill(bad, longer, len + 8); /* trailing bytes */
    expect_refused(bad, WP_EPARSE, "implies");
    free(longer);

    /* Wrong header sizes: the tensors no longer match the length. */
    int32_t v[7] = {16, 40, 3, 4, 2, 23, 8};
    put_header(d, v);
    spill(bad, d, len);
    expect_refused(bad, WP_ETRUNC, "implies");
    int32_t v2[7] = {16, 40, 2, 4, 2, -23, 8}; /* unshared: needs wcls too */
    put_header(d, v2);
    spill(bad, d, len);
    expect_refused(bad, WP_ETRUNC, "implies");

    /* Absurd and inconsistent dimensions are refused before any size is trusted. */
    const struct {
        int32_t v[7];
        int code;
        const char *needle;
    } cases[] = {
        {{1 << 30, 40, 2, 4, 2, 23, 8}, WP_ERANGE, "dim"},
        {{16, 40, 100000, 4, 2, 23, 8}, WP_ERANGE, "n_layers"},
        {{16, 40, 2, 4, 2, 23, 1 << 30}, WP_ERANGE, "seq_len"},
        {{16, 40, 2, 4, 2, 1 << 30, 8}, WP_ERANGE, "vocab_size"},
        {{16, 40, 2, 4, 2, INT32_MIN, 8}, WP_ERANGE, "vocab_size"},
        {{16, 40, 2, 4, 2, 0, 8}, WP_ERANGE, "vocab_size"},
        {{0, 40, 2, 4, 2, 23, 8}, WP_ERANGE, "dim"},
        {{16, -40, 2, 4, 2, 23, 8}, WP_ERANGE, "hidden_dim"},
        {{16, 40, 2, 5, 5, 23, 8}, WP_EINVAL, "does not divide dim"},
        {{16, 40, 2, 4, 3, 23, 8}, WP_EINVAL, "does not divide n_heads"},
        {{16, 40, 2, 4, 8, 23, 8}, WP_EINVAL, "does not divide n_heads"},
        {{12, 40, 2, 4, 2, 23, 8}, WP_EINVAL, "odd"},
        /* Every field at its cap: sizes near 2^46 bytes, no overflow, no allocation. */
        {{65536, 262144, 1024, 1024, 1024, 1 << 20, 1 << 20}, WP_ETRUNC, "implies"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        put_header(d, cases[i].v);
        spill(bad, d, len);
        expect_refused(bad, cases[i].code, cases[i].needle);
    }

    char missing[300];
    path_of(missing, sizeof missing, "missing.bin");
    expect_refused(missing, WP_ENOTFOUND, "missing.bin");
    expect_refused(dir, WP_EIO, "not a regular file");
    free(d);
}

static void test_config_check(void **state)
{
    (void)state;
    wp_err err;
    uint64_t bytes;
    wp_llama_config c = tiny;
    assert_int_equal(wp_llama_config_check(&c, &bytes, &err), WP_OK);
    /* ~15M parameters: the stories15M shape. */
    wp_llama_config s = {.dim = 288, .hidden_dim = 768, .n_layers = 6, .n_heads = 6,
                         .n_kv_heads = 6, .vocab_size = 32000, .seq_len = 256,
                         .shared_classifier = true};
    assert_int_equal(wp_llama_config_check(&s, &bytes, &err), WP_OK);
    uint64_t p = wp_llama_param_count(&s);
    assert_true(p > 15000000 && p < 15300000);
    c.n_heads = 0;
    assert_int_equal(wp_llama_config_check(&c, &bytes, &err), WP_ERANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_deterministic_and_loads),
        cmocka_unit_test(test_rejects_bad_files),
        cmocka_unit_test(test_config_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
