/* The CPU backend's full forward pass on tiny generated models against a
 * naive double-precision Llama written here (it reads the checkpoint with
 * its own offsets, so a loader bug cannot hide in both); generation is
 * reproducible (same seed, same tokens); the TIMING MODEL's arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu_worker/gpu_worker.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/test_gpu_forward.XXXXXX", WP_BUILD_DIR);
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- reference */

typedef struct ref_model {
    int dim, hidden, layers, heads, kv_heads, vocab, seq;
    double *f; /* every float after the header, as double */
    double *emb, *rms_att, *wq, *wk, *wv, *wo, *rms_ffn, *w1, *w2, *w3, *rms_final, *wcls;
    double *kcache, *vcache; /* layers x seq x kv_dim */
} ref_model;

static void ref_load(ref_model *m, const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    int32_t h[7];
    assert_int_equal(fread(h, 4, 7, fp), 7);
    m->dim = h[0];
    m->hidden = h[1];
    m->layers = h[2];
    m->heads = h[3];
    m->kv_heads = h[4];
    m->vocab = abs(h[5]);
    m->seq = h[6];
    fseek(fp, 0, SEEK_END);
    long n = (ftell(fp) - 28) / 4;
    fseek(fp, 28, SEEK_SET);
    float *tmp = malloc((size_t)n * 4);
    assert_int_equal(fread(tmp, 4, (size_t)n, fp), (size_t)n);
    fclose(fp);
    m->f = malloc((size_t)n * sizeof(double));
    for (long i = 0; i < n; i++)
        m->f[i] = tmp[i];
    free(tmp);
    int D = m->dim, H = m->hidden, L = m->layers, KV = m->dim / m->heads * m->kv_heads;
    int hs = m->dim / m->heads;
    double *p = m->f;
    m->emb = p, p += (size_t)m->vocab * D;
    m->rms_att = p, p += L * D;
    m->wq = p, p += (size_t)L * D * D;
    m->wk = p, p += (size_t)L * D * KV;
    m->wv = p, p += (size_t)L * D * KV;
    m->wo = p, p += (size_t)L * D * D;
    m->rms_ffn = p, p += L * D;
    m->w1 = p, p += (size_t)L * D * H;
    m->w2 = p, p += (size_t)L * D * H;
    m->w3 = p, p += (size_t)L * D * H;
    m->rms_final = p, p += D;
    p += (size_t)m->seq * hs; /* freq_cis real + imag: seq * hs/2 each */
    m->wcls = h[5] > 0 ? m->emb : p;
    if (h[5] < 0)
        p += (size_t)m->vocab * D;
    assert_true(p == m->f + n);
    m->kcache = calloc((size_t)L * m->seq * KV, sizeof(double));
    m->vcache = calloc((size_t)L * m->seq * KV, sizeof(double));
}

static void ref_free(ref_model *m)
{
    free(m->f);
    free(m->kcache);
    free(m->vcache);
}

static void rms(double *o, const double *x, const double *w, int n)
{
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    double s = 1.0 / sqrt(ss / n + 1e-5);
    for (int i = 0; i < n; i++)
        o[i] = w[i] * x[i] * s;
}

static void mv(double *o, const double *w, const double *x, int n, int d)
{
    for (int i = 0; i < d; i++) {
        double s = 0;
        for (int j = 0; j < n; j++)
            s += w[(size_t)i * n + j] * x[j];
        o[i] = s;
    }
}

static void ref_forward(ref_model *m, int token, int pos, double *logits)
{
    int D = m->dim, H = m->hidden, KV = m->dim / m->heads * m->kv_heads, hs = m->dim / m->heads;
    double *x = malloc(D * sizeof(double)), *xb = malloc(D * sizeof(double));
    double *q = malloc(D * sizeof(double)), *att = malloc(D * sizeof(double));
    double *h1 = malloc(H * sizeof(double)), *h3 = malloc(H * sizeof(double));
    double *tmp = malloc((D > H ? D : H) * sizeof(double)), *sc = malloc(m->seq * sizeof(double));
    memcpy(x, m->emb + (size_t)token * D, D * sizeof(double));
    for (int l = 0; l < m->layers; l++) {
        double *kc = m->kcache + (size_t)l * m->seq * KV, *vc = m->vcache + (size_t)l * m->seq * KV;
        rms(xb, x, m->rms_att + l * D, D);
        mv(q, m->wq + (size_t)l * D * D, xb, D, D);
        mv(kc + pos * KV, m->wk + (size_t)l * D * KV, xb, D, KV);
        mv(vc + pos * KV, m->wv + (size_t)l * D * KV, xb, D, KV);
        for (int i = 0; i < D; i += 2) {
            double a = pos * pow(10000.0, -(double)(i % hs) / hs);
            double c = cos(a), s = sin(a);
            double q0 = q[i], q1 = q[i + 1];
            q[i] = q0 * c - q1 * s;
            q[i + 1] = q0 * s + q1 * c;
            if (i < KV) {
                double *k = kc + pos * KV;
                double k0 = k[i], k1 = k[i + 1];
                k[i] = k0 * c - k1 * s;
                k[i + 1] = k0 * s + k1 * c;
            }
        }
        for (int h = 0; h < m->heads; h++) {
            int kvh = h / (m->heads / m->kv_heads);
            double mx = -INFINITY, sum = 0;
            for (int t = 0; t <= pos; t++) {
                double s = 0;
                for (int i = 0; i < hs; i++)
                    s += q[h * hs + i] * kc[t * KV + kvh * hs + i];
                sc[t] = s / sqrt(hs);
                mx = fmax(mx, sc[t]);
            }
            for (int t = 0; t <= pos; t++)
                sum += (sc[t] = exp(sc[t] - mx));
            for (int i = 0; i < hs; i++) {
                double o = 0;
                for (int t = 0; t <= pos; t++)
                    o += sc[t] / sum * vc[t * KV + kvh * hs + i];
                att[h * hs + i] = o;
            }
        }
        mv(tmp, m->wo + (size_t)l * D * D, att, D, D);
        for (int i = 0; i < D; i++)
            x[i] += tmp[i];
        rms(xb, x, m->rms_ffn + l * D, D);
        mv(h1, m->w1 + (size_t)l * D * H, xb, D, H);
        mv(h3, m->w3 + (size_t)l * D * H, xb, D, H);
        for (int i = 0; i < H; i++)
            h1[i] = h1[i] / (1 + exp(-h1[i])) * h3[i];
        mv(tmp, m->w2 + (size_t)l * D * H, h1, H, D);
        for (int i = 0; i < D; i++)
            x[i] += tmp[i];
    }
    rms(xb, x, m->rms_final, D);
    mv(logits, m->wcls, xb, D, m->vocab);
    free(x), free(xb), free(q), free(att), free(h1), free(h3), free(tmp), free(sc);
}

/* ---------------------------------------------------------------- tests */

/* Relative tolerance on logits: max |cpu - ref| <= TOL * max(1, max |ref|). */
#define FORWARD_TOL 1e-4

static void check_model(const wp_llama_config *cfg, uint64_t seed)
{
    char path[300];
    snprintf(path, sizeof path, "%s/m%llu.bin", dir, (unsigned long long)seed);
    wp_err err;
    /* A larger init scale than the default so activations are not tiny. */
    assert_int_equal(wp_llama_gen(path, cfg, seed, 0.3, &err), WP_OK);
    ref_model r;
    ref_load(&r, path);
    wp_gpu_model *m;
    if (wp_gpu_model_load(WP_GPU_CPU, path, &m, &err) != WP_OK)
        fail_msg("load: %s", wp_err_text(&err));
    assert_true(wp_gpu_model_mem_bytes(m) > 0);
    float *lg = malloc(cfg->vocab_size * sizeof(float));
    double *ref = malloc(cfg->vocab_size * sizeof(double));
    const int toks[6] = {1, 5, 0, (int)cfg->vocab_size - 1, 3, 3};
    for (uint32_t pos = 0; pos < 6 && pos < cfg->seq_len; pos++) {
        assert_int_equal(wp_gpu_model_forward(m, toks[pos], pos, lg, &err), WP_OK);
        ref_forward(&r, toks[pos], (int)pos, ref);
        double mx = 1.0, diff = 0.0;
        for (uint32_t i = 0; i < cfg->vocab_size; i++) {
            mx = fmax(mx, fabs(ref[i]));
            diff = fmax(diff, fabs(lg[i] - ref[i]));
        }
        if (!(diff <= FORWARD_TOL * mx))
            fail_msg("seed %llu pos %u: max logit diff %.3g > %.3g (max |logit| %.3g)",
                     (unsigned long long)seed, (unsigned)pos, diff, FORWARD_TOL * mx, mx);
        assert_true(mx > 0.5); /* the model does real work: logits are not ~0 */
    }
    /* Bad inputs are refused, not computed. */
    assert_int_equal(wp_gpu_model_forward(m, (int32_t)cfg->vocab_size, 0, lg, &err), WP_ERANGE);
    assert_int_equal(wp_gpu_model_forward(m, -1, 0, lg, &err), WP_ERANGE);
    assert_int_equal(wp_gpu_model_forward(m, 0, cfg->seq_len, lg, &err), WP_ERANGE);
    free(lg);
    free(ref);
    wp_gpu_model_unload(m);
    ref_free(&r);
}

static void test_forward_mha(void **state)
{
    (void)state;
    wp_llama_config c = {.dim = 32, .hidden_dim = 48, .n_layers = 2, .n_heads = 4,
                         .n_kv_heads = 4, .vocab_size = 37, .seq_len = 8,
                         .shared_classifier = true};
    check_model(&c, 1);
}

static void test_forward_gqa_unshared(void **state)
{
    (void)state;
    wp_llama_config c = {.dim = 24, .hidden_dim = 40, .n_layers = 3, .n_heads = 6,
                         .n_kv_heads = 2, .vocab_size = 29, .seq_len = 10,
                         .shared_classifier = false};
    check_model(&c, 2);
}

static void gen_tokens(const char *path, float temp, uint64_t seed, int32_t *out, uint32_t steps)
{
    wp_err err;
    wp_gpu_model *m;
    assert_int_equal(wp_gpu_model_load(WP_GPU_CPU, path, &m, &err), WP_OK);
    const int32_t prompt[3] = {1, 2, 3};
    wp_gen_request req = {prompt, 3, steps, temp, seed};
    wp_gen_result res = {.tokens = out};
    assert_int_equal(wp_gpu_generate(m, &req, &res, &err), WP_OK);
    assert_int_equal(res.n_tokens, steps);
    assert_false(res.modelled);
    assert_true(res.total_ns >= res.ttft_ns);
    wp_gpu_model_unload(m);
}

static void test_generation_reproducible(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/gen.bin", dir);
    wp_llama_config c = {.dim = 32, .hidden_dim = 64, .n_layers = 2, .n_heads = 4,
                         .n_kv_heads = 2, .vocab_size = 50, .seq_len = 32,
                         .shared_classifier = false};
    wp_err err;
    assert_int_equal(wp_llama_gen(path, &c, 9, 0.3, &err), WP_OK);
    int32_t a[20], b[20], d[20];
    gen_tokens(path, 0.0f, 0, a, 20);
    gen_tokens(path, 0.0f, 77, b, 20); /* greedy ignores the seed */
    assert_memory_equal(a, b, sizeof a);
    gen_tokens(path, 1.0f, 5, a, 20);
    gen_tokens(path, 1.0f, 5, b, 20);
    assert_memory_equal(a, b, sizeof a);
    gen_tokens(path, 1.0f, 6, d, 20);
    assert_true(memcmp(a, d, sizeof a) != 0); /* 50^20 to 1 against equality by chance */
    for (int i = 0; i < 20; i++)
        assert_true(a[i] >= 0 && a[i] < 50);

    /* Greedy tokens are the argmax of the reference's logits. */
    ref_model r;
    ref_load(&r, path);
    int32_t g[5];
    gen_tokens(path, 0.0f, 0, g, 5);
    double *lg = malloc(50 * sizeof(double));
    int feed[8] = {1, 2, 3};
    for (int i = 0; i < 3; i++)
        feed[3 + i] = g[i];
    for (int pos = 0; pos < 6; pos++) {
        ref_forward(&r, feed[pos], pos, lg);
        if (pos >= 2) {
            int best = 0;
            for (int i = 1; i < 50; i++)
                if (lg[i] > lg[best])
                    best = i;
            assert_int_equal(best, g[pos - 2]);
        }
    }
    free(lg);
    ref_free(&r);

    /* Requests that do not fit are refused with a reason. */
    wp_gpu_model *m;
    assert_int_equal(wp_gpu_model_load(WP_GPU_CPU, path, &m, &err), WP_OK);
    int32_t toks[40];
    const int32_t bad_prompt[2] = {1, 50};
    const int32_t ok_prompt[2] = {1, 2};
    wp_gen_request req = {bad_prompt, 2, 4, 0.0f, 0};
    wp_gen_result res = {.tokens = toks};
    assert_int_equal(wp_gpu_generate(m, &req, &res, &err), WP_ERANGE);
    req.prompt = ok_prompt;
    req.steps = 31;
    assert_int_equal(wp_gpu_generate(m, &req, &res, &err), WP_ERANGE);
    req.steps = 30;
    assert_int_equal(wp_gpu_generate(m, &req, &res, &err), WP_OK);
    req.n_prompt = 0;
    assert_int_equal(wp_gpu_generate(m, &req, &res, &err), WP_EINVAL);
    wp_gpu_model_unload(m);
}

static void test_timing_model(void **state)
{
    (void)state;
    wp_model_profile p = {.name = "t", .size_bytes = 1000, .prefill_base_ms = 10,
                          .prefill_ms_per_token = 1, .decode_ms_per_token = 2,
                          .slots_per_gpu = 2, .load_bytes_per_s = 1000, .load_fixed_ms = 5};
    wp_err err;
    wp_gpu_model *m;
    assert_int_equal(wp_gpu_model_open_timing(&p, &m, &err), WP_OK);
    assert_int_equal(wp_gpu_model_kind(m), WP_GPU_MODEL);
    assert_int_equal(wp_gpu_model_mem_bytes(m), 1000);
    assert_int_equal(wp_gpu_model_load_ns(m), 1005 * WP_NS_PER_MS); /* 1 s + 5 ms */
    assert_string_equal(wp_gpu_kind_name(WP_GPU_MODEL), "model (TIMING MODEL)");
    const int32_t prompt[4] = {0, 0, 0, 0};
    wp_gen_request reqs[3] = {{prompt, 4, 3, 0, 0}, {prompt, 2, 1, 0, 0}, {prompt, 4, 5, 0, 0}};
    wp_gen_result res[3];
    assert_int_equal(wp_gpu_run_batch(m, reqs, res, 3, NULL, &err), WP_OK);
    /* Wave 1 (slots 2): r0 ttft 14, total 18; r1 ttft 12, total 12. Wave 2 at 18. */
    assert_true(res[0].modelled && res[0].n_tokens == 0);
    assert_int_equal(res[0].ttft_ns, 14 * WP_NS_PER_MS);
    assert_int_equal(res[0].total_ns, 18 * WP_NS_PER_MS);
    assert_int_equal(res[1].total_ns, 12 * WP_NS_PER_MS);
    assert_int_equal(res[2].ttft_ns, (18 + 14) * WP_NS_PER_MS);
    assert_int_equal(res[2].total_ns, (18 + 22) * WP_NS_PER_MS);
    float lg[4];
    assert_int_equal(wp_gpu_model_forward(m, 0, 0, lg, &err), WP_EUNSUPPORTED);
    wp_gpu_model_unload(m);
    /* Only cpu and cuda load checkpoints; cuda without a device says so. */
    assert_int_equal(wp_gpu_model_load(WP_GPU_MODEL, "x", &m, &err), WP_EINVAL);
    if (wp_gpu_cuda_device_count() == 0) {
        assert_int_equal(wp_gpu_model_load(WP_GPU_CUDA, "x", &m, &err), WP_EUNAVAIL);
        assert_int_equal(wp_gpu_kind_default(), WP_GPU_MODEL);
    }
    int k;
    assert_int_equal(wp_gpu_kind_parse("cuda", &k), WP_OK);
    assert_int_equal(k, WP_GPU_CUDA);
    assert_int_equal(wp_gpu_kind_parse("gpu", &k), WP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_mha),
        cmocka_unit_test(test_forward_gqa_unshared),
        cmocka_unit_test(test_generation_reproducible),
        cmocka_unit_test(test_timing_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
