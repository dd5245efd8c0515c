/* Unit tests of common/: errors, RNG distributions, histogram error bound,
 * CSV reader errors, JSON writer. Randomized tests use fixed seeds and print
 * them on failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(wp_strerror(WP_OK), "ok");
    assert_string_equal(wp_strerror(WP_ENOMEM), "out of memory");
    assert_string_equal(wp_strerror(-1), "unknown error");
    assert_string_equal(wp_strerror(WP_ERR_COUNT), "unknown error");
    for (int i = 0; i < WP_ERR_COUNT; i++)
        assert_true(strlen(wp_strerror(i)) > 0);
}

static void test_errf_wrap(void **state)
{
    (void)state;
    wp_err e;
    wp_err_clear(&e);
    assert_int_equal(wp_errf(&e, WP_EPARSE, "line %d: bad", 7), WP_EPARSE);
    assert_int_equal(wp_err_wrap(&e, "topology"), WP_EPARSE);
    assert_string_equal(wp_err_text(&e), "topology: line 7: bad");
    wp_err_clear(&e);
    e.code = WP_EIO;
    assert_string_equal(wp_err_text(&e), "input/output error");
    assert_int_equal(wp_errf(NULL, WP_EINVAL, "x"), WP_EINVAL);
}

static void test_rng_reproducible(void **state)
{
    (void)state;
    wp_rng a, b, c;
    wp_rng_seed(&a, 42);
    wp_rng_seed(&b, 42);
    wp_rng_seed(&c, 43);
    int same_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = wp_rng_u64(&a);
        assert_int_equal(x, wp_rng_u64(&b));
        same_c += x == wp_rng_u64(&c);
    }
    assert_true(same_c < 2);
    /* Seed 0 must not give a degenerate (all-zero) state. */
    wp_rng z;
    wp_rng_seed(&z, 0);
    assert_true(wp_rng_u64(&z) != 0 || wp_rng_u64(&z) != 0);
}

static void test_rng_uniform_below(void **state)
{
    (void)state;
    wp_rng r;
    wp_rng_seed(&r, 7);
    enum { N = 200000, K = 10 };
    unsigned counts[K] = {0};
    double sum = 0;
    for (int i = 0; i < N; i++) {
        double u = wp_rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
        counts[wp_rng_below(&r, K)]++;
    }
    assert_true(fabs(sum / N - 0.5) < 0.005);
    /* Chi-square with 9 dof: 99.9th percentile is 27.9. */
    double chi = 0;
    for (int k = 0; k < K; k++) {
        double d = counts[k] - (double)N / K;
        chi += d * d / ((double)N / K);
    }
    assert_true(chi < 27.9);
    assert_int_equal(wp_rng_below(&r, 1), 0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_rng_exp_normal_lognormal(void **state)
{
    (void)state;
    wp_rng r;
    wp_rng_seed(&r, 2024);
    enum { N = 200000 };
    double se = 0, sn = 0, sn2 = 0;
    double *ln = malloc(N * sizeof *ln);
    assert_non_null(ln);
    for (int i = 0; i < N; i++) {
        double e = wp_rng_exp(&r, 3.0);
        assert_true(e >= 0.0);
        se += e;
        double n = wp_rng_normal(&r);
        sn += n;
        sn2 += n * n;
        ln[i] = wp_rng_lognormal(&r, log(250.0), 0.5);
    }
    assert_true(fabs(se / N - 3.0) < 0.03 * 3.0);
    assert_true(fabs(sn / N) < 0.01);
    assert_true(fabs(sn2 / N - 1.0) < 0.02);
    qsort(ln, N, sizeof *ln, cmp_double);
    /* Median of a lognormal is exp(mu); p95 is exp(mu + 1.645 sigma). */
    assert_true(fabs(ln[N / 2] / 250.0 - 1.0) < 0.02);
    assert_true(fabs(ln[(int)(0.95 * N)] / (250.0 * exp(1.6449 * 0.5)) - 1.0) < 0.03);
    free(ln);
}

static void test_zipf(void **state)
{
    (void)state;
    wp_zipf z;
    assert_int_equal(wp_zipf_init(&z, 0, 1.0), WP_EINVAL);
    assert_int_equal(wp_zipf_init(&z, 8, -1.0), WP_EINVAL);
    assert_int_equal(wp_zipf_init(&z, 8, 1.1), WP_OK);
    /* pmf follows 1/k^s and sums to one. */
    double total = 0;
    for (size_t k = 0; k < 8; k++)
        total += wp_zipf_pmf(&z, k);
    assert_true(fabs(total - 1.0) < 1e-12);
    assert_true(fabs(wp_zipf_pmf(&z, 0) / wp_zipf_pmf(&z, 1) - pow(2.0, 1.1)) < 1e-9);
    wp_rng r;
    wp_rng_seed(&r, 99);
    enum { N = 400000 };
    unsigned counts[8] = {0};
    for (int i = 0; i < N; i++) {
        size_t k = wp_zipf_draw(&z, &r);
        assert_true(k < 8);
        counts[k]++;
    }
    for (size_t k = 0; k < 8; k++) {
        double expect = wp_zipf_pmf(&z, k) * N;
        assert_true(fabs(counts[k] - expect) < 5 * sqrt(expect) + 1);
    }
    wp_zipf_close(&z);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void check_hist_against_exact(uint64_t *v, size_t n)
{
    wp_hist *h = malloc(sizeof *h);
    assert_non_null(h);
    wp_hist_init(h);
    for (size_t i = 0; i < n; i++)
        wp_hist_record(h, v[i]);
    qsort(v, n, sizeof *v, cmp_u64);
    const double qs[] = {0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999};
    for (size_t i = 0; i < WP_ARRAY_LEN(qs); i++) {
        size_t rank = (size_t)ceil(qs[i] * (double)n);
        uint64_t exact = v[rank - 1];
        uint64_t got = wp_hist_quantile(h, qs[i]);
        double rel = exact ? fabs((double)got - (double)exact) / (double)exact : (double)got;
        if (rel > 0.01)
            fail_msg("q=%.3f exact=%llu got=%llu rel=%.4f", qs[i], (unsigned long long)exact,
                     (unsigned long long)got, rel);
    }
    assert_int_equal(wp_hist_quantile(h, 1.0), v[n - 1]);
    assert_int_equal(wp_hist_quantile(h, 0.0), v[0]);
    assert_int_equal(h->count, n);
    free(h);
}

static void test_hist_error_bound(void **state)
{
    (void)state;
    enum { N = 100000 };
    uint64_t *v = malloc(N * sizeof *v);
    assert_non_null(v);
    for (uint64_t seed = 1; seed <= 5; seed++) {
        wp_rng r;
        wp_rng_seed(&r, seed);
        /* Lognormal latencies around 40 ms, heavy tail, in ns. */
        for (size_t i = 0; i < N; i++)
            v[i] = (uint64_t)(wp_rng_lognormal(&r, log(40e6), 1.2));
        check_hist_against_exact(v, N);
        /* Uniform over a huge range, small values included. */
        for (size_t i = 0; i < N; i++)
            v[i] = wp_rng_below(&r, 1ULL << (1 + wp_rng_below(&r, 62)));
        check_hist_against_exact(v, N);
    }
    free(v);
}

static void test_hist_buckets(void **state)
{
    (void)state;
    /* Every bucket's range contains exactly the values that map to it, and
     * its width is within 1/128 of its lower bound. */
    uint64_t prev_hi = 0;
    for (size_t i = 0; i < WP_HIST_BUCKETS; i++) {
        uint64_t lo, hi;
        wp_hist_bucket_range(i, &lo, &hi);
        if (i > 0)
            assert_int_equal(lo, prev_hi + 1);
        assert_int_equal(wp_hist_bucket_of(lo), i);
        assert_int_equal(wp_hist_bucket_of(hi), i);
        if (lo >= 256)
            assert_true((double)(hi - lo + 1) <= (double)lo / 128.0);
        prev_hi = hi;
    }
    assert_int_equal(prev_hi, UINT64_MAX);
}

static void test_hist_merge_empty(void **state)
{
    (void)state;
    wp_hist *a = malloc(sizeof *a), *b = malloc(sizeof *b), *all = malloc(sizeof *all);
    wp_hist_init(a);
    wp_hist_init(b);
    wp_hist_init(all);
    assert_int_equal(wp_hist_quantile(a, 0.5), 0);
    wp_rng r;
    wp_rng_seed(&r, 3);
    for (int i = 0; i < 10000; i++) {
        uint64_t x = wp_rng_below(&r, 1000000000);
        wp_hist_record(i % 2 ? a : b, x);
        wp_hist_record(all, x);
    }
    wp_hist_merge(a, b);
    assert_memory_equal(a->buckets, all->buckets, sizeof a->buckets);
    assert_int_equal(a->count, all->count);
    assert_int_equal(a->min, all->min);
    assert_int_equal(a->max, all->max);
    assert_int_equal(wp_hist_quantile(a, 0.95), wp_hist_quantile(all, 0.95));
    free(a);
    free(b);
    free(all);
}

static FILE *tmp_with(const char *text)
{
    FILE *fp = tmpfile();
    assert_non_null(fp);
    fputs(text, fp);
    rewind(fp);
    return fp;
}

static void test_csv_ok(void **state)
{
    (void)state;
    wp_csv c;
    wp_err e;
    FILE *fp = tmp_with("\xEF\xBB\xBF" "a, b ,c\r\n1,\"x, \"\"y\"\"\",3.5\n\n2,,\n");
    assert_int_equal(wp_csv_open_fp(&c, fp, "t.csv", &e), WP_OK);
    assert_int_equal(wp_csv_next(&c, &e), WP_OK);
    assert_int_equal(c.nfields, 3);
    assert_int_equal(wp_csv_find(&c, "a"), 0);
    assert_int_equal(wp_csv_find(&c, "b"), 1);
    assert_int_equal(wp_csv_find(&c, "zz"), -1);
    assert_int_equal(wp_csv_next(&c, &e), WP_OK);
    assert_string_equal(c.fields[1], "x, \"y\"");
    double d;
    assert_int_equal(wp_csv_double(&c, 2, "c", &d, &e), WP_OK);
    assert_true(d == 3.5);
    assert_int_equal(wp_csv_next(&c, &e), WP_OK); /* blank line skipped */
    assert_int_equal(c.line_no, 4);
    assert_int_equal(c.nfields, 3);
    assert_string_equal(c.fields[2], "");
    assert_int_equal(wp_csv_double(&c, 1, "b", &d, &e), WP_EPARSE);
    assert_string_equal(e.msg, "t.csv:4: column b: expected a number, got ''");
    assert_int_equal(wp_csv_double(&c, 7, "q", &d, &e), WP_EPARSE);
    assert_non_null(strstr(e.msg, "missing"));
    assert_int_equal(wp_csv_next(&c, &e), WP_ENOTFOUND);
    wp_csv_close(&c);
    fclose(fp);
}

static void test_csv_errors(void **state)
{
    (void)state;
    wp_csv c;
    wp_err e;
    FILE *fp = tmp_with("a,\"unterminated\n");
    assert_int_equal(wp_csv_open_fp(&c, fp, "bad.csv", &e), WP_OK);
    assert_int_equal(wp_csv_next(&c, &e), WP_EPARSE);
    assert_string_equal(e.msg, "bad.csv:1: field 2: unterminated quote");
    wp_csv_close(&c);
    fclose(fp);

    fp = tmp_with("\"a\"x,b\n");
    wp_csv_open_fp(&c, fp, "bad.csv", &e);
    assert_int_equal(wp_csv_next(&c, &e), WP_EPARSE);
    wp_csv_close(&c);
    fclose(fp);

    /* A line longer than the cap is an error, not a silent cut. */
    char *big = malloc(WP_CSV_MAX_LINE + 100);
    memset(big, 'x', WP_CSV_MAX_LINE + 98);
    big[WP_CSV_MAX_LINE + 98] = '\n';
    big[WP_CSV_MAX_LINE + 99] = '\0';
    fp = tmp_with(big);
    free(big);
    wp_csv_open_fp(&c, fp, "big.csv", &e);
    assert_int_equal(wp_csv_next(&c, &e), WP_ETOOBIG);
    wp_csv_close(&c);
    fclose(fp);

    assert_int_equal(wp_csv_open(&c, "/nonexistent/x.csv", &e), WP_EIO);
    assert_non_null(strstr(e.msg, "/nonexistent/x.csv"));
}

static void test_parse_numbers(void **state)
{
    (void)state;
    double d;
    int64_t i;
    uint64_t u;
    assert_int_equal(wp_parse_double(" 1.5 ", &d), WP_OK);
    assert_true(d == 1.5);
    assert_int_equal(wp_parse_double("1.5x", &d), WP_EPARSE);
    assert_int_equal(wp_parse_double("", &d), WP_EPARSE);
    assert_int_equal(wp_parse_double("nan", &d), WP_EPARSE);
    assert_int_equal(wp_parse_double("1e999", &d), WP_EPARSE);
    assert_int_equal(wp_parse_int64("-42", &i), WP_OK);
    assert_int_equal(i, -42);
    assert_int_equal(wp_parse_int64("4.2", &i), WP_EPARSE);
    assert_int_equal(wp_parse_u64("-1", &u), WP_EPARSE);
    assert_int_equal(wp_parse_u64("18446744073709551615", &u), WP_OK);
    assert_int_equal(wp_parse_u64("18446744073709551616", &u), WP_EPARSE);
}

static void test_json(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    wp_json j;
    wp_json_init(&j, fp, false);
    wp_json_obj_begin(&j);
    wp_json_key(&j, "a\"b");
    wp_json_str(&j, "x\ny");
    wp_json_key(&j, "n");
    wp_json_arr_begin(&j);
    wp_json_int(&j, -3);
    wp_json_double(&j, 12.5);
    wp_json_double(&j, 1.0 / 0.0);
    wp_json_bool(&j, true);
    wp_json_arr_end(&j);
    wp_json_key(&j, "e");
    wp_json_obj_begin(&j);
    wp_json_obj_end(&j);
    wp_json_obj_end(&j);
    wp_json_end(&j);
    fclose(fp);
    assert_string_equal(buf, "{\"a\\\"b\":\"x\\ny\",\"n\":[-3,12.5,null,true],\"e\":{}}\n");
    free(buf);
}

static void test_model_profile(void **state)
{
    (void)state;
    wp_model_profile m = {.size_bytes = 2000000000ULL, .prefill_base_ms = 10,
                          .prefill_ms_per_token = 0.1, .decode_ms_per_token = 20,
                          .load_bytes_per_s = 1e9, .load_fixed_ms = 50};
    assert_true(fabs(wp_model_ttft_ms(&m, 100) - 20.0) < 1e-9);
    assert_true(fabs(wp_model_total_ms(&m, 100, 1) - 20.0) < 1e-9);
    assert_true(fabs(wp_model_total_ms(&m, 100, 11) - 220.0) < 1e-9);
    assert_true(fabs(wp_model_load_ms(&m) - 2050.0) < 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_errf_wrap),
        cmocka_unit_test(test_rng_reproducible),
        cmocka_unit_test(test_rng_uniform_below),
        cmocka_unit_test(test_rng_exp_normal_lognormal),
        cmocka_unit_test(test_zipf),
        cmocka_unit_test(test_hist_error_bound),
        cmocka_unit_test(test_hist_buckets),
        cmocka_unit_test(test_hist_merge_empty),
        cmocka_unit_test(test_csv_ok),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_parse_numbers),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_model_profile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
