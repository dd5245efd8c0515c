/* Each CPU layer of gpu_worker (rmsnorm, matmul, rope, softmax, attention,
 * swiglu) against a straightforward double-precision computation written
 * here, on small random inputs (fixed seeds, printed on failure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_worker/gpu_worker.h"

static void fill(float *x, size_t n, wp_rng *r, double scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(wp_rng_normal(r) * scale);
}

/* |got - want| <= tol * max(1, |want|) for every element. */
static void check_close(const float *got, const double *want, size_t n, double tol,
                        const char *what, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        double lim = tol * fmax(1.0, fabs(want[i]));
        if (!(d <= lim))
            fail_msg("%s (seed %llu): element %zu is %.9g, reference %.9g (diff %.3g > %.3g)", what,
                     (unsigned long long)seed, i, (double)got[i], want[i], d, lim);
    }
}

static void test_rmsnorm(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        wp_rng r;
        wp_rng_seed(&r, seed);
        size_t n = 1 + (size_t)wp_rng_below(&r, 100);
        float x[100], w[100], out[100];
        double ref[100];
        fill(x, n, &r, 3.0);
        fill(w, n, &r, 1.0);
        double ss = 0;
        for (size_t i = 0; i < n; i++)
            ss += (double)x[i] * x[i];
        double scale = 1.0 / sqrt(ss / (double)n + 1e-5);
        for (size_t i = 0; i < n; i++)
            ref[i] = w[i] * x[i] * scale;
        wp_gpu_rmsnorm(out, x, w, n);
        check_close(out, ref, n, 1e-5, "rmsnorm", seed);
        /* In place gives the same. */
        wp_gpu_rmsnorm(x, x, w, n);
        check_close(x, ref, n, 1e-5, "rmsnorm in place", seed);
    }
}

static void test_matmul(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        wp_rng r;
        wp_rng_seed(&r, seed);
        size_t n = 1 + (size_t)wp_rng_below(&r, 70), d = 1 + (size_t)wp_rng_below(&r, 20);
        float *w = malloc(n * d * sizeof *w), *x = malloc(n * sizeof *x), *out = malloc(d * 4);
        double *ref = malloc(d * sizeof *ref);
        fill(w, n * d, &r, 1.0);
        fill(x, n, &r, 1.0);
        double maxabs = 0;
        for (size_t i = 0; i < d; i++) {
            double s = 0, mag = 0;
            for (size_t j = 0; j < n; j++) {
                s += (double)w[i * n + j] * x[j];
                mag += fabs((double)w[i * n + j] * x[j]);
            }
            ref[i] = s;
            maxabs = fmax(maxabs, mag);
        }
        wp_gpu_matmul(out, x, w, n, d);
        /* Float summation error is bounded by ~n * eps * sum|terms|. */
        for (size_t i = 0; i < d; i++)
            if (!(fabs(out[i] - ref[i]) <= 1e-6 * (double)n * fmax(1.0, maxabs)))
                fail_msg("matmul (seed %llu) n=%zu d=%zu row %zu: %.9g vs %.9g",
                         (unsigned long long)seed, n, d, i, (double)out[i], ref[i]);
        free(w);
        free(x);
        free(out);
        free(ref);
    }
}

static void test_rope(void **state)
{
    (void)state;
    const size_t hs = 8, q_dim = 32, k_dim = 16;
    for (uint32_t pos = 0; pos < 40; pos += 13) {
        wp_rng r;
        wp_rng_seed(&r, 100 + pos);
        float q[32], k[16];
        double qr[32], kr[16];
        fill(q, q_dim, &r, 1.0);
        fill(k, k_dim, &r, 1.0);
        for (size_t i = 0; i < q_dim; i += 2) {
            double theta = pow(10000.0, -(double)(i % hs) / (double)hs);
            double a = pos * theta, c = cos(a), s = sin(a);
            qr[i] = q[i] * c - q[i + 1] * s;
            qr[i + 1] = q[i] * s + q[i + 1] * c;
            if (i < k_dim) {
                kr[i] = k[i] * c - k[i + 1] * s;
                kr[i + 1] = k[i] * s + k[i + 1] * c;
            }
        }
        /* Rotation preserves each pair's norm; pos 0 is the identity. */
        wp_gpu_rope(q, q_dim, k, k_dim, hs, pos);
        check_close(q, qr, q_dim, 2e-5, "rope q", pos);
        check_close(k, kr, k_dim, 2e-5, "rope k", pos);
    }
}

static void test_softmax(void **state)
{
    (void)state;
    wp_rng r;
    wp_rng_seed(&r, 9);
    float x[50];
    double ref[50];
    fill(x, 50, &r, 10.0);
    x[7] = 1000.0f; /* stability: a huge value must not overflow */
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < 50; i++)
        mx = fmax(mx, x[i]);
    for (int i = 0; i < 50; i++)
        sum += exp(x[i] - mx);
    for (int i = 0; i < 50; i++)
        ref[i] = exp(x[i] - mx) / sum;
    wp_gpu_softmax(x, 50);
    check_close(x, ref, 50, 1e-6, "softmax", 9);
    float one[1] = {-3.0f};
    wp_gpu_softmax(one, 1);
    assert_true(one[0] == 1.0f);
}

static void test_attention(void **state)
{
    (void)state;
    const uint32_t n_heads = 4, n_kv = 2, hs = 6, kv_dim = n_kv * hs;
    for (uint32_t pos = 0; pos < 7; pos += 3) {
        wp_rng r;
        wp_rng_seed(&r, 200 + pos);
        float q[24], kc[8 * 12], vc[8 * 12], att[8], out[24];
        double ref[24];
        fill(q, n_heads * hs, &r, 1.0);
        fill(kc, (pos + 1) * kv_dim, &r, 1.0);
        fill(vc, (pos + 1) * kv_dim, &r, 1.0);
        for (uint32_t h = 0; h < n_heads; h++) {
            uint32_t kvh = h / (n_heads / n_kv); /* grouped-query: 2 heads share one */
            double sc[8], mx = -INFINITY, sum = 0;
            for (uint32_t t = 0; t <= pos; t++) {
                double s = 0;
                for (uint32_t i = 0; i < hs; i++)
                    s += (double)q[h * hs + i] * kc[t * kv_dim + kvh * hs + i];
                sc[t] = s / sqrt((double)hs);
                mx = fmax(mx, sc[t]);
            }
            for (uint32_t t = 0; t <= pos; t++)
                sum += exp(sc[t] - mx);
            for (uint32_t i = 0; i < hs; i++) {
                double o = 0;
                for (uint32_t t = 0; t <= pos; t++)
                    o += exp(sc[t] - mx) / sum * vc[t * kv_dim + kvh * hs + i];
                ref[h * hs + i] = o;
            }
        }
        wp_gpu_attention(out, q, kc, vc, att, n_heads, n_kv, hs, pos);
        check_close(out, ref, n_heads * hs, 1e-5, "attention", pos);
    }
}

static void test_swiglu(void **state)
{
    (void)state;
    wp_rng r;
    wp_rng_seed(&r, 11);
    float a[40], b[40];
    double ref[40];
    fill(a, 40, &r, 4.0);
    fill(b, 40, &r, 1.0);
    for (int i = 0; i < 40; i++)
        ref[i] = a[i] / (1.0 + exp(-(double)a[i])) * b[i];
    wp_gpu_swiglu(a, b, 40);
    check_close(a, ref, 40, 1e-5, "swiglu", 11);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm),   cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_rope),      cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_attention), cmocka_unit_test(test_swiglu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
