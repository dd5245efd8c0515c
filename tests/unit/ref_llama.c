/* tests/unit/ref_llama.c — see ref_llama.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_llama.h"


void ref_load(ref_model *m, const char *path)
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

void ref_free(ref_model *m)
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

void ref_forward(ref_model *m, int token, int pos, double *logits)
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

