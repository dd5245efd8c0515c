/* cpu.c — the CPU reference backend: the Llama forward pass in plain C.
 *
 * One decoder step for token t at position pos (all vectors float32):
 *   x = tok_emb[t]
 *   for each layer l:
 *     xb = rmsnorm(x, rms_att[l])
 *     q = wq[l]·xb; k = wk[l]·xb; v = wv[l]·xb      (k, v written to the cache row pos)
 *     rope(q, k, pos)
 *     xb = attention(q, keys[0..pos], values[0..pos])  (grouped-query when n_kv < n_heads)
 *     x += wo[l]·xb
 *     xb = rmsnorm(x, rms_ffn[l])
 *     hb = silu(w1[l]·xb) * (w3[l]·xb)
 *     x += w2[l]·hb
 *   logits = wcls · rmsnorm(x, rms_final)
 * The CUDA backend computes exactly this with cuBLAS and kernels; the tests
 * check each layer here against naive double-precision loops.
 *
 * The matmul keeps 8 independent partial sums per row so the compiler can
 * vectorise it without -ffast-math (no reassociation of one long sum);
 * the result is deterministic for a given build.
 */
#include "gpu_worker/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void wp_gpu_rmsnorm(float *out, const float *x, const float *w, size_t n)
{
    float ss = 0.0f;
    for (size_t i = 0; i < n; i++)
        ss += x[i] * x[i];
    ss = ss / (float)n + WP_RMSNORM_EPS;
    float scale = 1.0f / sqrtf(ss);
    for (size_t i = 0; i < n; i++)
        out[i] = w[i] * (scale * x[i]);
}

void wp_gpu_matmul(float *restrict out, const float *restrict x, const float *restrict w, size_t n,
                   size_t d)
{
    for (size_t i = 0; i < d; i++) {
        const float *row = w + i * n;
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        size_t j = 0;
        for (; j + 8 <= n; j += 8)
            for (int k = 0; k < 8; k++)
                acc[k] += row[j + k] * x[j + k];
        float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for (; j < n; j++)
            s += row[j] * x[j];
        out[i] = s;
    }
}

void wp_gpu_rope(float *q, size_t q_dim, float *k, size_t k_dim, size_t head_size, uint32_t pos)
{
    for (size_t i = 0; i + 1 < q_dim; i += 2) {
        size_t hd = i % head_size;
        float freq = 1.0f / powf(WP_ROPE_THETA, (float)hd / (float)head_size);
        float a = (float)pos * freq;
        float c = cosf(a), s = sinf(a);
        float q0 = q[i], q1 = q[i + 1];
        q[i] = q0 * c - q1 * s;
        q[i + 1] = q0 * s + q1 * c;
        if (k && i + 1 < k_dim) {
            float k0 = k[i], k1 = k[i + 1];
            k[i] = k0 * c - k1 * s;
            k[i + 1] = k0 * s + k1 * c;
        }
    }
}

void wp_gpu_softmax(float *x, size_t n)
{
    float mx = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    for (size_t i = 0; i < n; i++)
        x[i] /= sum;
}

void wp_gpu_attention(float *out, const float *q, const float *key_cache,
                      const float *value_cache, float *att, uint32_t n_heads,
                      uint32_t n_kv_heads, uint32_t head_size, uint32_t pos)
{
    size_t kv_dim = (size_t)n_kv_heads * head_size;
    uint32_t group = n_heads / n_kv_heads;
    float inv = 1.0f / sqrtf((float)head_size);
    for (uint32_t h = 0; h < n_heads; h++) {
        const float *qh = q + (size_t)h * head_size;
        size_t kv_off = (size_t)(h / group) * head_size;
        for (uint32_t t = 0; t <= pos; t++) {
            const float *kt = key_cache + (size_t)t * kv_dim + kv_off;
            float s = 0.0f;
            for (uint32_t i = 0; i < head_size; i++)
                s += qh[i] * kt[i];
            att[t] = s * inv;
        }
        wp_gpu_softmax(att, (size_t)pos + 1);
        float *oh = out + (size_t)h * head_size;
        memset(oh, 0, head_size * sizeof(float));
        for (uint32_t t = 0; t <= pos; t++) {
            const float *vt = value_cache + (size_t)t * kv_dim + kv_off;
            float a = att[t];
            for (uint32_t i = 0; i < head_size; i++)
                oh[i] += a * vt[i];
        }
    }
}

void wp_gpu_swiglu(float *hb, const float *hb2, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = hb[i];
        hb[i] = v / (1.0f + expf(-v)) * hb2[i];
    }
}

/* ---------------------------------------------------------------- backend */

typedef struct cpu_model {
    wp_llama_weights w;
    float *x, *xb, *xb2, *hb, *hb2, *q, *att;
    float *key_cache, *value_cache; /* layers x seq_len x kv_dim */
} cpu_model;

static void cpu_free(void *impl)
{
    cpu_model *m = impl;
    if (!m)
        return;
    wp_llama_free(&m->w);
    free(m->x);
    free(m->xb);
    free(m->xb2);
    free(m->hb);
    free(m->hb2);
    free(m->q);
    free(m->att);
    free(m->key_cache);
    free(m->value_cache);
    free(m);
}

int wp_gpu__cpu_open(wp_llama_weights *w, void **impl, uint64_t *mem_bytes, wp_err *err)
{
    const wp_llama_config *c = &w->cfg;
    cpu_model *m = calloc(1, sizeof *m);
    if (!m)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    size_t kv = wp_llama_kv_dim(c);
    size_t cache = (size_t)c->n_layers * c->seq_len * kv; /* bounded: <= weights' size checks */
    m->x = calloc(c->dim, sizeof(float));
    m->xb = calloc(c->dim, sizeof(float));
    m->xb2 = calloc(c->dim, sizeof(float));
    m->hb = calloc(c->hidden_dim, sizeof(float));
    m->hb2 = calloc(c->hidden_dim, sizeof(float));
    m->q = calloc(c->dim, sizeof(float));
    m->att = calloc(c->seq_len, sizeof(float));
    m->key_cache = calloc(cache, sizeof(float));
    m->value_cache = calloc(cache, sizeof(float));
    if (!m->x || !m->xb || !m->xb2 || !m->hb || !m->hb2 || !m->q || !m->att || !m->key_cache ||
        !m->value_cache) {
        cpu_free(m);
        return wp_errf(err, WP_ENOMEM, "cannot allocate the KV cache (%zu floats)", 2 * cache);
    }
    m->w = *w;
    memset(w, 0, sizeof *w);
    *mem_bytes = wp_llama_mem_bytes(&m->w.cfg);
    *impl = m;
    return WP_OK;
}

static int cpu_forward(void *impl, int32_t token, uint32_t pos, float *logits, wp_err *err)
{
    cpu_model *m = impl;
    const wp_llama_weights *w = &m->w;
    const wp_llama_config *c = &w->cfg;
    if (token < 0 || (uint32_t)token >= c->vocab_size || pos >= c->seq_len)
        return wp_errf(err, WP_ERANGE, "token %d or position %u out of range", (int)token,
                       (unsigned)pos);
    size_t dim = c->dim, hidden = c->hidden_dim, kv = wp_llama_kv_dim(c);
    size_t hs = wp_llama_head_size(c);
    memcpy(m->x, w->tok_emb + (size_t)token * dim, dim * sizeof(float));
    for (size_t l = 0; l < c->n_layers; l++) {
        size_t cache_off = l * c->seq_len * kv;
        float *k = m->key_cache + cache_off + (size_t)pos * kv;
        float *v = m->value_cache + cache_off + (size_t)pos * kv;
        wp_gpu_rmsnorm(m->xb, m->x, w->rms_att + l * dim, dim);
        wp_gpu_matmul(m->q, m->xb, w->wq + l * dim * dim, dim, dim);
        wp_gpu_matmul(k, m->xb, w->wk + l * dim * kv, dim, kv);
        wp_gpu_matmul(v, m->xb, w->wv + l * dim * kv, dim, kv);
        wp_gpu_rope(m->q, dim, k, kv, hs, pos);
        wp_gpu_attention(m->xb, m->q, m->key_cache + cache_off, m->value_cache + cache_off,
                         m->att, c->n_heads, c->n_kv_heads, (uint32_t)hs, pos);
        wp_gpu_matmul(m->xb2, m->xb, w->wo + l * dim * dim, dim, dim);
        for (size_t i = 0; i < dim; i++)
            m->x[i] += m->xb2[i];
        wp_gpu_rmsnorm(m->xb, m->x, w->rms_ffn + l * dim, dim);
        wp_gpu_matmul(m->hb, m->xb, w->w1 + l * dim * hidden, dim, hidden);
        wp_gpu_matmul(m->hb2, m->xb, w->w3 + l * dim * hidden, dim, hidden);
        wp_gpu_swiglu(m->hb, m->hb2, hidden);
        wp_gpu_matmul(m->xb, m->hb, w->w2 + l * dim * hidden, hidden, dim);
        for (size_t i = 0; i < dim; i++)
            m->x[i] += m->xb[i];
    }
    wp_gpu_rmsnorm(m->x, m->x, w->rms_final, dim);
    wp_gpu_matmul(logits, m->x, w->wcls, dim, c->vocab_size);
    return WP_OK;
}

const struct wp_gpu_ops wp_gpu__cpu_ops = {cpu_forward, cpu_free};
