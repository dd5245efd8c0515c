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
 * The matmul keeps WP_LANES (16) independent partial sums per row so the
 * compiler can vectorise it without -ffast-math (no reassociation of one
 * long sum); the result is deterministic for a given build and CPU (the
 * AVX2/AVX-512 variants fuse multiply-adds, the baseline does not).
 *
 * Batching. The backend runs a forward pass over n ROWS at once, each row
 * a (sequence, token, position): every weight matrix is then read from
 * memory once per pass and multiplied with all n activation vectors (a
 * matrix-matrix product, mm_range), which is what makes decoding many
 * sequences together cheaper than one after another: at batch 1 the pass
 * is bound by memory bandwidth (the whole model streams through the cache
 * per token), at batch 16 by arithmetic. mm_range computes each output
 * element with exactly the same sequence of operations as wp_gpu_matmul
 * (two or four weight rows times four activation rows per block, each
 * output with its own partial sums), so a row's logits are bitwise those
 * of the unbatched pass.
 * Each sequence has its own KV cache (layers x seq_len x kv_dim for keys
 * and for values), allocated on its first use; rows of one sequence at
 * consecutive positions may share a pass (prefill): every row's k/v are
 * written in the QKV stage before any row's attention reads the cache.
 *
 * Threads. A small persistent pool (pool_*) splits each stage of a pass
 * into contiguous chunks that the threads (the caller too) claim:
 *   qkv     output features of wq|wk|wv (pairs stay together, so each
 *           chunk applies RoPE to the pairs it computed and copies its
 *           slice of k/v into each row's cache);
 *   attn    (row, head) items;
 *   wo, w2  output features;
 *   w13     hidden features of w1 and w3, then SwiGLU on them;
 *   cls     vocabulary entries, for the rows that want logits.
 * RMSNorm and the residual adds are cheap and run on the caller, and so
 * does a stage below WP_POOL_MIN_WORK multiply-adds (waking a thread costs
 * more): at batch 1 only the classifier is split. The partition never
 * changes what one output element's arithmetic is, so results do not
 * depend on the thread count. Between stages the threads spin briefly
 * (WP_POOL_SPIN) before they sleep: a pass is dozens of stages, and a
 * futex wake-up per stage cost a tenth of a batch-16 pass in a VM.
 */
#include "gpu_worker/internal.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The kernels below are inlined into mm_range's body, which is compiled
 * three times on x86-64 with GCC (AVX-512, AVX2+FMA and baseline); the
 * widest the CPU supports is picked once (mm_pick, plain function pointer:
 * no ifunc, whose resolver runs before the sanitizers' runtimes are up).
 * The sums are the same, only wider (and fused where the target has FMA),
 * and one process always uses one variant, so a row's result never
 * depends on what else is in the batch. Dot products keep WP_LANES partial
 * sums: one 512-bit register, or two 256-bit ones. */
#define WP_LANES 16
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define WP_MM_VARIANTS 1
#define WP_INLINE inline __attribute__((always_inline))
#else
#define WP_INLINE inline
#endif

/* The end of every dot product: the WP_LANES partial sums in a fixed
 * order (pairwise), then the tail (n mod WP_LANES) one by one. */
static WP_INLINE float dot_finish(const float *acc, const float *restrict row,
                                  const float *restrict x, size_t j, size_t n)
{
    float t[WP_LANES / 2];
    for (int k = 0; k < WP_LANES / 2; k++)
        t[k] = acc[k] + acc[k + WP_LANES / 2];
    float s = ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
    for (; j < n; j++)
        s += row[j] * x[j];
    return s;
}

static WP_INLINE float dot1(const float *restrict row, const float *restrict x, size_t n)
{
    float acc[WP_LANES] = {0};
    size_t j = 0;
    for (; j + WP_LANES <= n; j += WP_LANES)
        for (int k = 0; k < WP_LANES; k++)
            acc[k] += row[j + k] * x[j + k];
    return dot_finish(acc, row, x, j, n);
}

/* The batched product for output features [i0, i1): out[r * ld + i] =
 * W[i] . x[r] for the nx rows of x (each n floats). Four rows of x share
 * each load of W's row; every element's operations are those of dot1. */
/* Two rows of W times four rows of x: eight independent accumulators (the
 * additions of one accumulator are a dependency chain; eight hide their
 * latency), six loads per eight vector multiply-adds. */
static WP_INLINE void mm_2x4(float *restrict out, size_t ld, const float *restrict x,
                             const float *restrict w0, const float *restrict w1, size_t n,
                             size_t i, size_t r, const float *pf)
{
    const float *x0 = x + r * n, *x1 = x0 + n, *x2 = x1 + n, *x3 = x2 + n;
    float a0[WP_LANES] = {0}, a1[WP_LANES] = {0}, a2[WP_LANES] = {0}, a3[WP_LANES] = {0};
    float b0[WP_LANES] = {0}, b1[WP_LANES] = {0}, b2[WP_LANES] = {0}, b3[WP_LANES] = {0};
    size_t j = 0;
    for (; j + WP_LANES <= n; j += WP_LANES) {
        if (pf) { /* the next two weight rows, one cache line each per step */
            __builtin_prefetch(pf + j);
            __builtin_prefetch(pf + n + j);
        }
        for (int k = 0; k < WP_LANES; k++) {
            float u = w0[j + k], v = w1[j + k];
            float y0 = x0[j + k], y1 = x1[j + k], y2 = x2[j + k], y3 = x3[j + k];
            a0[k] += u * y0;
            a1[k] += u * y1;
            a2[k] += u * y2;
            a3[k] += u * y3;
            b0[k] += v * y0;
            b1[k] += v * y1;
            b2[k] += v * y2;
            b3[k] += v * y3;
        }
    }
    out[r * ld + i] = dot_finish(a0, w0, x0, j, n);
    out[(r + 1) * ld + i] = dot_finish(a1, w0, x1, j, n);
    out[(r + 2) * ld + i] = dot_finish(a2, w0, x2, j, n);
    out[(r + 3) * ld + i] = dot_finish(a3, w0, x3, j, n);
    out[r * ld + i + 1] = dot_finish(b0, w1, x0, j, n);
    out[(r + 1) * ld + i + 1] = dot_finish(b1, w1, x1, j, n);
    out[(r + 2) * ld + i + 1] = dot_finish(b2, w1, x2, j, n);
    out[(r + 3) * ld + i + 1] = dot_finish(b3, w1, x3, j, n);
}

static WP_INLINE void mm_body(float *restrict out, size_t ld, const float *restrict x, size_t nx,
                              const float *restrict w, size_t n, size_t i0, size_t i1)
{
    size_t i = i0;
    for (; i + 2 <= i1 && nx >= 4; i += 2) {
        const float *w0 = w + i * n, *w1 = w0 + n;
        size_t r = 0;
        /* The first block of rows also prefetches the next pair of weight
         * rows: the hardware prefetcher does not follow this pattern (each
         * pair is read nx / 4 times), and a miss on W stalls all 8 sums. */
        const float *pf = i + 4 <= i1 ? w1 + n : NULL;
        for (; r + 4 <= nx; r += 4)
            mm_2x4(out, ld, x, w0, w1, n, i, r, r == 0 ? pf : NULL);
        for (; r < nx; r++) {
            out[r * ld + i] = dot1(w0, x + r * n, n);
            out[r * ld + i + 1] = dot1(w1, x + r * n, n);
        }
    }
    for (; i < i1; i++) {
        const float *row = w + i * n;
        for (size_t r = 0; r < nx; r++)
            out[r * ld + i] = dot1(row, x + r * n, n);
    }
}

/* Four rows of W times four rows of x: sixteen accumulators, eight loads
 * per sixteen vector multiply-adds. Only for AVX-512 (32 vector registers;
 * with 16 they would spill): about 1.4x the 2x4 block's rate there. */
static WP_INLINE void mm_4x4(float *restrict out, size_t ld, const float *restrict x,
                             const float *restrict w0, size_t n, size_t i, size_t r,
                             const float *pf)
{
    const float *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
    const float *x0 = x + r * n, *x1 = x0 + n, *x2 = x1 + n, *x3 = x2 + n;
    float a[4][4][WP_LANES] = {{{0}}};
    size_t j = 0;
    for (; j + WP_LANES <= n; j += WP_LANES) {
        if (pf) { /* the next four weight rows */
            for (size_t p = 0; p < 4; p++)
                __builtin_prefetch(pf + p * n + j);
        }
        for (int k = 0; k < WP_LANES; k++) {
            float y0 = x0[j + k], y1 = x1[j + k], y2 = x2[j + k], y3 = x3[j + k];
            float u0 = w0[j + k], u1 = w1[j + k], u2 = w2[j + k], u3 = w3[j + k];
            a[0][0][k] += u0 * y0;
            a[0][1][k] += u0 * y1;
            a[0][2][k] += u0 * y2;
            a[0][3][k] += u0 * y3;
            a[1][0][k] += u1 * y0;
            a[1][1][k] += u1 * y1;
            a[1][2][k] += u1 * y2;
            a[1][3][k] += u1 * y3;
            a[2][0][k] += u2 * y0;
            a[2][1][k] += u2 * y1;
            a[2][2][k] += u2 * y2;
            a[2][3][k] += u2 * y3;
            a[3][0][k] += u3 * y0;
            a[3][1][k] += u3 * y1;
            a[3][2][k] += u3 * y2;
            a[3][3][k] += u3 * y3;
        }
    }
    const float *ws[4] = {w0, w1, w2, w3}, *xs[4] = {x0, x1, x2, x3};
    for (int p = 0; p < 4; p++)
        for (int q = 0; q < 4; q++)
            out[(r + q) * ld + i + p] = dot_finish(a[p][q], ws[p], xs[q], j, n);
}

/* mm_body with 4x4 blocks first; what is left (rows of W beyond a
 * multiple of 4) goes to mm_body. */
static WP_INLINE void mm_body4(float *restrict out, size_t ld, const float *restrict x, size_t nx,
                               const float *restrict w, size_t n, size_t i0, size_t i1)
{
    size_t i = i0;
    for (; i + 4 <= i1 && nx >= 4; i += 4) {
        const float *w0 = w + i * n;
        const float *pf = i + 8 <= i1 ? w0 + 4 * n : NULL;
        size_t r = 0;
        for (; r + 4 <= nx; r += 4)
            mm_4x4(out, ld, x, w0, n, i, r, r == 0 ? pf : NULL);
        for (; r < nx; r++)
            for (size_t p = 0; p < 4; p++)
                out[r * ld + i + p] = dot1(w0 + p * n, x + r * n, n);
    }
    mm_body(out, ld, x, nx, w, n, i, i1);
}

typedef void (*mm_fn)(float *restrict, size_t, const float *restrict, size_t,
                      const float *restrict, size_t, size_t, size_t);

#define WP_MM_DEFINE(name, attr, body)                                                     \
    attr static void name(float *restrict out, size_t ld, const float *restrict x, size_t nx, \
                          const float *restrict w, size_t n, size_t i0, size_t i1)           \
    {                                                                                      \
        body(out, ld, x, nx, w, n, i0, i1);                                                \
    }
WP_MM_DEFINE(mm_base, , mm_body)
#ifdef WP_MM_VARIANTS
WP_MM_DEFINE(mm_avx2, __attribute__((target("avx2,fma"))), mm_body)
WP_MM_DEFINE(mm_avx512, __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))),
             mm_body4)
#endif

static mm_fn mm_pick(void)
{
#ifdef WP_MM_VARIANTS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        return mm_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return mm_avx2;
#endif
    return mm_base;
}

/* The variant every product of this process uses (set once; the race of
 * two first callers writes the same value). */
static _Atomic(mm_fn) mm_chosen;

static void mm_range(float *restrict out, size_t ld, const float *restrict x, size_t nx,
                     const float *restrict w, size_t n, size_t i0, size_t i1)
{
    mm_fn f = atomic_load_explicit(&mm_chosen, memory_order_relaxed);
    if (!f) {
        f = mm_pick();
        atomic_store_explicit(&mm_chosen, f, memory_order_relaxed);
    }
    f(out, ld, x, nx, w, n, i0, i1);
}

void wp_gpu_matmul(float *restrict out, const float *restrict x, const float *restrict w, size_t n,
                   size_t d)
{
    mm_range(out, 0, x, 1, w, n, 0, d);
}

/* Rotates the pair (v[i], v[i + 1]), i even, for position pos. */
static inline void rope_pair(float *v, size_t i, size_t head_size, uint32_t pos)
{
    size_t hd = i % head_size;
    float freq = 1.0f / powf(WP_ROPE_THETA, (float)hd / (float)head_size);
    float a = (float)pos * freq;
    float c = cosf(a), s = sinf(a);
    float v0 = v[i], v1 = v[i + 1];
    v[i] = v0 * c - v1 * s;
    v[i + 1] = v0 * s + v1 * c;
}

void wp_gpu_rope(float *q, size_t q_dim, float *k, size_t k_dim, size_t head_size, uint32_t pos)
{
    for (size_t i = 0; i + 1 < q_dim; i += 2) {
        rope_pair(q, i, head_size, pos);
        if (k && i + 1 < k_dim)
            rope_pair(k, i, head_size, pos);
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

/* Attention of query head h (its head_size floats at qh) into oh. Each
 * score is a dot product with WP_LANES partial sums (dot1's order): a
 * single running sum would be one long dependency chain the compiler may
 * not vectorise; the body is compiled per instruction set like mm_range
 * (att_pick) and one process uses one variant. */
static WP_INLINE void att_body(float *oh, const float *qh, const float *key_cache,
                               const float *value_cache, float *att, size_t kv_dim,
                               size_t kv_off, uint32_t head_size, uint32_t pos)
{
    float inv = 1.0f / sqrtf((float)head_size);
    for (uint32_t t = 0; t <= pos; t++)
        att[t] = dot1(key_cache + (size_t)t * kv_dim + kv_off, qh, head_size) * inv;
    wp_gpu_softmax(att, (size_t)pos + 1);
    memset(oh, 0, head_size * sizeof(float));
    for (uint32_t t = 0; t <= pos; t++) {
        const float *vt = value_cache + (size_t)t * kv_dim + kv_off;
        float a = att[t];
        for (uint32_t i = 0; i < head_size; i++)
            oh[i] += a * vt[i];
    }
}

typedef void (*att_fn)(float *, const float *, const float *, const float *, float *, size_t,
                       size_t, uint32_t, uint32_t);
#define WP_ATT_DEFINE(name, attr)                                                              \
    attr static void name(float *oh, const float *qh, const float *kc, const float *vc,       \
                          float *att, size_t kv_dim, size_t kv_off, uint32_t hs, uint32_t pos) \
    {                                                                                          \
        att_body(oh, qh, kc, vc, att, kv_dim, kv_off, hs, pos);                                \
    }
WP_ATT_DEFINE(att_base, )
#ifdef WP_MM_VARIANTS
WP_ATT_DEFINE(att_avx2, __attribute__((target("avx2,fma"))))
WP_ATT_DEFINE(att_avx512, __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))))
#endif

static att_fn att_pick(void)
{
#ifdef WP_MM_VARIANTS
    mm_fn f = mm_pick();
    if (f == mm_avx512)
        return att_avx512;
    if (f == mm_avx2)
        return att_avx2;
#endif
    return att_base;
}

static _Atomic(att_fn) att_chosen;

static void attention_head(float *oh, const float *qh, const float *key_cache,
                           const float *value_cache, float *att, size_t kv_dim, size_t kv_off,
                           uint32_t head_size, uint32_t pos)
{
    att_fn f = atomic_load_explicit(&att_chosen, memory_order_relaxed);
    if (!f) {
        f = att_pick();
        atomic_store_explicit(&att_chosen, f, memory_order_relaxed);
    }
    f(oh, qh, key_cache, value_cache, att, kv_dim, kv_off, head_size, pos);
}

void wp_gpu_attention(float *out, const float *q, const float *key_cache,
                      const float *value_cache, float *att, uint32_t n_heads,
                      uint32_t n_kv_heads, uint32_t head_size, uint32_t pos)
{
    size_t kv_dim = (size_t)n_kv_heads * head_size;
    uint32_t group = n_heads / n_kv_heads;
    for (uint32_t h = 0; h < n_heads; h++)
        attention_head(out + (size_t)h * head_size, q + (size_t)h * head_size, key_cache,
                       value_cache, att, kv_dim, (size_t)(h / group) * head_size, head_size, pos);
}

void wp_gpu_swiglu(float *hb, const float *hb2, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = hb[i];
        hb[i] = v / (1.0f + expf(-v)) * hb2[i];
    }
}

/* ---------------------------------------------------------------- thread pool */

/* A fixed set of threads that run one job at a time. A job is split into
 * `chunks` contiguous ranges of its items (pool_range); every thread, the
 * caller included, claims chunks one by one until none is left, and the
 * caller returns when all are finished. Claiming (not a fixed range per
 * thread) matters on a shared machine: a worker the scheduler has not run
 * yet does not hold the job back, the others take its chunks.
 * `claim` packs the job's generation (high 32 bits) with the next chunk,
 * so a worker that wakes late can never take a chunk of a newer job for
 * the old one's function. */
typedef void (*pool_fn)(void *ctx, unsigned chunk, unsigned nchunks);

typedef struct cpu_pool {
    pthread_mutex_t mu;
    pthread_cond_t go, idle;
    pthread_t *th;
    unsigned n;         /* threads including the caller */
    unsigned chunks;    /* per job: 1 for one thread, else 4 per thread */
    unsigned started;   /* worker threads created */
    uint32_t gen;       /* under mu */
    _Atomic uint32_t gen_pub; /* gen, published for the workers' spin */
    bool quit;
    pool_fn fn;
    void *ctx;
    _Atomic uint64_t claim;
    _Atomic unsigned done;
} cpu_pool;

static void pool_range(size_t items, unsigned n, unsigned k, size_t align, size_t *b, size_t *e)
{
    /* Ranges are multiples of align (the last takes the remainder). */
    size_t units = (items + align - 1) / align;
    size_t ub = units * k / n, ue = units * (k + 1) / n;
    *b = ub * align < items ? ub * align : items;
    *e = ue * align < items ? ue * align : items;
}

/* Runs chunks of job gen until none is left (or the job is not current). */
static void pool_work(cpu_pool *p, uint32_t gen, pool_fn fn, void *ctx)
{
    for (;;) {
        uint64_t c = atomic_load(&p->claim);
        if ((uint32_t)(c >> 32) != gen || (uint32_t)c >= p->chunks)
            return;
        if (!atomic_compare_exchange_weak(&p->claim, &c, c + 1))
            continue;
        fn(ctx, (uint32_t)c, p->chunks);
        if (atomic_fetch_add(&p->done, 1) + 1 == p->chunks) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->idle);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

/* How long a worker (and the caller, for the last chunks) spins before it
 * sleeps on the condition variable: a pass is dozens of stages a few
 * hundred microseconds apart, and a futex wake-up costs tens of
 * microseconds (far more in a VM), which at batch 16 was a tenth of the
 * time. Bounded, so an idle model costs no CPU. */
#define WP_POOL_SPIN 4000u

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *pool_main(void *arg)
{
    cpu_pool *p = arg;
    uint32_t seen = 0;
    for (;;) {
        for (unsigned k = 0; k < WP_POOL_SPIN &&
                             atomic_load_explicit(&p->gen_pub, memory_order_acquire) == seen;
             k++)
            cpu_relax();
        pthread_mutex_lock(&p->mu);
        while (!p->quit && p->gen == seen)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit)
            break;
        seen = p->gen;
        pool_fn fn = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        pool_work(p, seen, fn, ctx);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pool_free(cpu_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->started; i++)
        pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->idle);
    free(p->th);
    free(p);
}

static cpu_pool *pool_new(unsigned n)
{
    cpu_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = n;
    p->chunks = n > 1 ? 4 * n : 1;
    atomic_init(&p->claim, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->gen_pub, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->idle, NULL);
    p->th = calloc(n, sizeof *p->th);
    if (!p->th) {
        pool_free(p);
        return NULL;
    }
    for (unsigned i = 1; i < n; i++) {
        if (pthread_create(&p->th[p->started], NULL, pool_main, p) != 0) {
            pool_free(p);
            return NULL;
        }
        p->started++;
    }
    return p;
}

/* Below this many multiply-adds a stage runs on the caller alone: waking
 * a worker costs more than it saves (tens of microseconds, more on a busy
 * machine), e.g. the per-layer products of a single sequence. */
#define WP_POOL_MIN_WORK (1u << 20)

/* Runs fn over every chunk (fn computes its range with pool_range) and
 * returns when all are done. work: the stage's multiply-adds, roughly. */
static void pool_run(cpu_pool *p, pool_fn fn, void *ctx, uint64_t work)
{
    if (p->n == 1 || work < WP_POOL_MIN_WORK) {
        for (unsigned k = 0; k < p->chunks; k++)
            fn(ctx, k, p->chunks);
        return;
    }
    pthread_mutex_lock(&p->mu);
    uint32_t gen = ++p->gen;
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->done, 0);
    atomic_store(&p->claim, (uint64_t)gen << 32);
    atomic_store_explicit(&p->gen_pub, gen, memory_order_release);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    pool_work(p, gen, fn, ctx);
    for (unsigned k = 0; k < WP_POOL_SPIN && atomic_load(&p->done) != p->chunks; k++)
        cpu_relax();
    if (atomic_load(&p->done) == p->chunks)
        return;
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->done) != p->chunks)
        pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* ---------------------------------------------------------------- backend */

typedef struct cpu_model {
    wp_llama_weights w;
    cpu_pool *pool;
    uint32_t max_seqs;
    float **kc, **vc;       /* per sequence: layers x seq_len x kv_dim, NULL until used */
    uint32_t n_caches;      /* sequences whose caches exist */
    size_t cap_rows;        /* rows the scratch below holds */
    float *x, *xb, *xb2, *q;  /* cap_rows x dim */
    float *kr, *vr;         /* cap_rows x kv_dim: this pass's keys/values */
    float *hb, *hb2;        /* cap_rows x hidden */
    float *xl, *lg;         /* rows wanting logits: cap_rows x dim, cap_rows x vocab */
    float *att;             /* chunks x seq_len */
    /* The pass in flight, read by the stages. */
    const wp_gpu_row *rows;
    size_t n, nl, layer;
} cpu_model;

static void cpu_free(void *impl)
{
    cpu_model *m = impl;
    if (!m)
        return;
    pool_free(m->pool);
    wp_llama_free(&m->w);
    for (uint32_t s = 0; m->kc && s < m->max_seqs; s++) {
        free(m->kc[s]);
        free(m->vc[s]);
    }
    free(m->kc);
    free(m->vc);
    float *bufs[] = {m->x, m->xb, m->xb2, m->q, m->kr, m->vr, m->hb, m->hb2, m->xl, m->lg, m->att};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(m);
}

static size_t cache_floats(const wp_llama_config *c)
{
    return (size_t)c->n_layers * c->seq_len * wp_llama_kv_dim(c);
}

static int cpu_reserve(void *impl, uint32_t seq, wp_err *err)
{
    cpu_model *m = impl;
    if (seq >= m->max_seqs)
        return wp_errf(err, WP_ERANGE, "sequence %u beyond %u", (unsigned)seq,
                       (unsigned)m->max_seqs);
    if (m->kc[seq])
        return WP_OK;
    size_t n = cache_floats(&m->w.cfg);
    m->kc[seq] = malloc(n * sizeof(float));
    m->vc[seq] = malloc(n * sizeof(float));
    if (!m->kc[seq] || !m->vc[seq]) {
        free(m->kc[seq]);
        free(m->vc[seq]);
        m->kc[seq] = m->vc[seq] = NULL;
        return wp_errf(err, WP_ENOMEM, "cannot allocate a KV cache (%zu floats)", 2 * n);
    }
    m->n_caches++;
    return WP_OK;
}

/* Grows the per-row scratch to hold n rows. */
static int ensure_rows(cpu_model *m, size_t n, wp_err *err)
{
    if (n <= m->cap_rows)
        return WP_OK;
    const wp_llama_config *c = &m->w.cfg;
    size_t dim = c->dim, kv = wp_llama_kv_dim(c), hid = c->hidden_dim, voc = c->vocab_size;
    float **bufs[] = {&m->x, &m->xb, &m->xb2, &m->q, &m->kr, &m->vr, &m->hb, &m->hb2, &m->xl, &m->lg};
    size_t widths[] = {dim, dim, dim, dim, kv, kv, hid, hid, dim, voc};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        float *p = realloc(*bufs[i], n * widths[i] * sizeof(float));
        if (!p)
            return wp_errf(err, WP_ENOMEM, "cannot allocate activations for %zu rows", n);
        *bufs[i] = p;
    }
    m->cap_rows = n;
    return WP_OK;
}

static uint64_t cpu_mem_bytes(const void *impl)
{
    const cpu_model *m = impl;
    const wp_llama_config *c = &m->w.cfg;
    uint64_t per_row = 5ull * c->dim + 2ull * wp_llama_kv_dim(c) + 2ull * c->hidden_dim +
                       c->vocab_size;
    return ((uint64_t)m->w.n_floats + 2ull * m->n_caches * cache_floats(c) +
            m->cap_rows * per_row + (uint64_t)m->pool->chunks * c->seq_len) *
           sizeof(float);
}

/* Stage: q|k|v for every row (output features split in pairs), RoPE on the
 * pairs this thread computed, then its slice of k/v into each row's cache. */
static void st_qkv(void *ctx, unsigned ck, unsigned nk)
{
    cpu_model *m = ctx;
    const wp_llama_weights *w = &m->w;
    const wp_llama_config *c = &w->cfg;
    size_t dim = c->dim, kv = wp_llama_kv_dim(c), hs = wp_llama_head_size(c), l = m->layer;
    size_t b, e;
    pool_range(dim + 2 * kv, nk, ck, 2, &b, &e);
    size_t qb = b < dim ? b : dim, qe = e < dim ? e : dim;
    size_t kb = b < dim ? 0 : (b - dim < kv ? b - dim : kv);
    size_t ke = e < dim ? 0 : (e - dim < kv ? e - dim : kv);
    size_t vb = b < dim + kv ? 0 : b - dim - kv, ve = e < dim + kv ? 0 : e - dim - kv;
    mm_range(m->q, dim, m->xb, m->n, w->wq + l * dim * dim, dim, qb, qe);
    mm_range(m->kr, kv, m->xb, m->n, w->wk + l * dim * kv, dim, kb, ke);
    mm_range(m->vr, kv, m->xb, m->n, w->wv + l * dim * kv, dim, vb, ve);
    for (size_t r = 0; r < m->n; r++) {
        const wp_gpu_row *row = &m->rows[r];
        float *q = m->q + r * dim, *k = m->kr + r * kv, *v = m->vr + r * kv;
        for (size_t i = qb; i + 1 < qe; i += 2)
            rope_pair(q, i, hs, row->pos);
        for (size_t i = kb; i + 1 < ke; i += 2)
            rope_pair(k, i, hs, row->pos);
        size_t off = (l * c->seq_len + row->pos) * kv;
        if (ke > kb)
            memcpy(m->kc[row->seq] + off + kb, k + kb, (ke - kb) * sizeof(float));
        if (ve > vb)
            memcpy(m->vc[row->seq] + off + vb, v + vb, (ve - vb) * sizeof(float));
    }
}

/* Stage: attention, one item per (row, head). */
static void st_attn(void *ctx, unsigned ck, unsigned nk)
{
    cpu_model *m = ctx;
    const wp_llama_config *c = &m->w.cfg;
    size_t dim = c->dim, kv = wp_llama_kv_dim(c), hs = wp_llama_head_size(c);
    size_t group = c->n_heads / c->n_kv_heads, off = m->layer * c->seq_len * kv;
    float *att = m->att + (size_t)ck * c->seq_len; /* scratch per chunk */
    size_t b, e;
    pool_range(m->n * c->n_heads, nk, ck, 1, &b, &e);
    for (size_t it = b; it < e; it++) {
        size_t r = it / c->n_heads, h = it % c->n_heads;
        const wp_gpu_row *row = &m->rows[r];
        attention_head(m->xb + r * dim + h * hs, m->q + r * dim + h * hs, m->kc[row->seq] + off,
                       m->vc[row->seq] + off, att, kv, (h / group) * hs, (uint32_t)hs, row->pos);
    }
}

static void st_wo(void *ctx, unsigned ck, unsigned nk)
{
    cpu_model *m = ctx;
    size_t dim = m->w.cfg.dim, b, e;
    pool_range(dim, nk, ck, 1, &b, &e);
    mm_range(m->xb2, dim, m->xb, m->n, m->w.wo + m->layer * dim * dim, dim, b, e);
}

/* Stage: w1 and w3 over a slice of hidden features, then SwiGLU on it. */
static void st_w13(void *ctx, unsigned ck, unsigned nk)
{
    cpu_model *m = ctx;
    size_t dim = m->w.cfg.dim, hid = m->w.cfg.hidden_dim, b, e;
    pool_range(hid, nk, ck, 1, &b, &e);
    mm_range(m->hb, hid, m->xb, m->n, m->w.w1 + m->layer * dim * hid, dim, b, e);
    mm_range(m->hb2, hid, m->xb, m->n, m->w.w3 + m->layer * dim * hid, dim, b, e);
    for (size_t r = 0; r < m->n && e > b; r++)
        wp_gpu_swiglu(m->hb + r * hid + b, m->hb2 + r * hid + b, e - b);
}

static void st_w2(void *ctx, unsigned ck, unsigned nk)
{
    cpu_model *m = ctx;
    size_t dim = m->w.cfg.dim, hid = m->w.cfg.hidden_dim, b, e;
    pool_range(dim, nk, ck, 1, &b, &e);
    mm_range(m->xb2, dim, m->hb, m->n, m->w.w2 + m->layer * dim * hid, hid, b, e);
}

static void st_cls(void *ctx, unsigned ck, unsigned nk)
{
    cpu_model *m = ctx;
    size_t dim = m->w.cfg.dim, voc = m->w.cfg.vocab_size, b, e;
    pool_range(voc, nk, ck, 1, &b, &e);
    mm_range(m->lg, voc, m->xl, m->nl, m->w.wcls, dim, b, e);
}

static int cpu_forward(void *impl, const wp_gpu_row *rows, size_t n, wp_err *err)
{
    cpu_model *m = impl;
    const wp_llama_weights *w = &m->w;
    const wp_llama_config *c = &w->cfg;
    size_t dim = c->dim;
    for (size_t r = 0; r < n; r++)
        if (rows[r].seq >= m->max_seqs || !m->kc[rows[r].seq])
            return wp_errf(err, WP_ESTATE, "sequence %u has no KV cache", (unsigned)rows[r].seq);
    int rv = ensure_rows(m, n, err);
    if (rv != WP_OK)
        return rv;
    size_t kv = wp_llama_kv_dim(c), hid = c->hidden_dim, attn_work = 0;
    for (size_t r = 0; r < n; r++) /* scores and weighted sums: 2 x (pos + 1) x dim */
        attn_work += 2 * ((size_t)rows[r].pos + 1) * dim;
    m->rows = rows;
    m->n = n;
    for (size_t r = 0; r < n; r++)
        memcpy(m->x + r * dim, w->tok_emb + (size_t)rows[r].token * dim, dim * sizeof(float));
    for (size_t l = 0; l < c->n_layers; l++) {
        m->layer = l;
        for (size_t r = 0; r < n; r++)
            wp_gpu_rmsnorm(m->xb + r * dim, m->x + r * dim, w->rms_att + l * dim, dim);
        pool_run(m->pool, st_qkv, m, n * dim * (dim + 2 * kv));
        pool_run(m->pool, st_attn, m, attn_work);
        pool_run(m->pool, st_wo, m, n * dim * dim);
        for (size_t i = 0; i < n * dim; i++)
            m->x[i] += m->xb2[i];
        for (size_t r = 0; r < n; r++)
            wp_gpu_rmsnorm(m->xb + r * dim, m->x + r * dim, w->rms_ffn + l * dim, dim);
        pool_run(m->pool, st_w13, m, 2 * n * dim * hid);
        pool_run(m->pool, st_w2, m, n * dim * hid);
        for (size_t i = 0; i < n * dim; i++)
            m->x[i] += m->xb2[i];
    }
    m->nl = 0;
    for (size_t r = 0; r < n; r++)
        if (rows[r].logits)
            wp_gpu_rmsnorm(m->xl + m->nl++ * dim, m->x + r * dim, w->rms_final, dim);
    if (m->nl) {
        pool_run(m->pool, st_cls, m, m->nl * dim * c->vocab_size);
        size_t k = 0;
        for (size_t r = 0; r < n; r++)
            if (rows[r].logits)
                memcpy(rows[r].logits, m->lg + k++ * c->vocab_size,
                       c->vocab_size * sizeof(float));
    }
    m->rows = NULL;
    return WP_OK;
}

int wp_gpu__cpu_open(wp_llama_weights *w, uint32_t threads, uint32_t max_seqs, void **impl,
                     wp_err *err)
{
    const wp_llama_config *c = &w->cfg;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (uint32_t)n : 1u;
    }
    if (threads > 256)
        threads = 256;
    cpu_model *m = calloc(1, sizeof *m);
    if (!m)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    m->max_seqs = max_seqs;
    m->kc = calloc(max_seqs, sizeof *m->kc);
    m->vc = calloc(max_seqs, sizeof *m->vc);
    m->att = malloc((size_t)(threads > 1 ? 4 * threads : 1) * c->seq_len * sizeof(float));
    m->pool = m->kc && m->vc && m->att ? pool_new(threads) : NULL;
    if (!m->pool) {
        cpu_free(m);
        return wp_errf(err, WP_ENOMEM, "cannot start %u compute threads", (unsigned)threads);
    }
    m->w = *w;
    memset(w, 0, sizeof *w);
    int rv = cpu_reserve(m, 0, err);
    if (rv == WP_OK)
        rv = ensure_rows(m, 1, err);
    if (rv != WP_OK) {
        *w = m->w; /* the caller still owns the weights on failure */
        memset(&m->w, 0, sizeof m->w);
        cpu_free(m);
        return rv;
    }
    *impl = m;
    return WP_OK;
}

uint32_t wp_gpu__cpu_threads(const void *impl)
{
    return ((const cpu_model *)impl)->pool->n;
}

const struct wp_gpu_ops wp_gpu__cpu_ops = {cpu_forward, cpu_reserve, cpu_mem_bytes, cpu_free};
