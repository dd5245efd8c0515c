/* cuda.cu — the CUDA backend: the same forward pass as cpu.c, with the
 * weights in device memory, cuBLAS (cublasSgemv) for every matrix-vector
 * product and small kernels for the rest.
 *
 * Layout on the device: one cudaMalloc holding every float of the
 * checkpoint after the header (the same order as the file, so each tensor
 * is the host view's offset applied to the device base), and one holding
 * the run state (activations, the attention scores of every head, the
 * logits, and the KV cache, layers x seq_len x kv_dim for keys and for
 * values). Everything runs on the legacy default stream, so kernels,
 * cuBLAS calls and the final device-to-host copy of the logits are ordered
 * and the copy is the synchronisation point.
 *
 * Row-major W (d x n) is, to column-major cuBLAS, an n x d matrix A with
 * lda = n; y = W x is y = A^T x: cublasSgemv(OP_T, m = n, n = d, A, lda = n).
 *
 * Kernels use blocks of 256 threads (a multiple of the warp size, which
 * the reductions rely on: every thread of a block calls them).
 *   rmsnorm   one block; sum of squares by block reduction.
 *   rope      one thread per (even, odd) pair of q (and of k below kv_dim).
 *   attention one block per query head: scores for t = 0..pos, block max,
 *             exponentials and block sum (a stable softmax), then each
 *             thread accumulates some of the head's output dimensions.
 *   swiglu    elementwise; residual add elementwise.
 * Results match the CPU backend to float rounding (the order of the sums
 * differs); the gpu-labelled test states the tolerance.
 *
 * This file is compiled only when CMake finds the CUDA toolkit; C code
 * knows through WP_GPU_HAVE_CUDA. cudart is linked statically, so a binary
 * starts on a machine without a driver: cudaGetDeviceCount then fails and
 * we report 0 devices.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <pthread.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" {
#include "gpu_worker/internal.h"
}

#define WP_CUDA_THREADS 256

namespace {

__device__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

__device__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    return v;
}

/* Sum of v over the block, returned to every thread. shm has >= 32 floats.
 * Must be called by all threads of the block (blockDim.x % 32 == 0). */
__device__ float block_sum(float v, float *shm)
{
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads(); /* shm may still be read by a previous call */
    if (lane == 0)
        shm[wid] = v;
    __syncthreads();
    if (wid == 0) {
        v = lane < nw ? shm[lane] : 0.0f;
        v = warp_sum(v);
        if (lane == 0)
            shm[0] = v;
    }
    __syncthreads();
    float r = shm[0];
    __syncthreads();
    return r;
}

__device__ float block_max(float v, float *shm)
{
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0)
        shm[wid] = v;
    __syncthreads();
    if (wid == 0) {
        v = lane < nw ? shm[lane] : -INFINITY;
        v = warp_max(v);
        if (lane == 0)
            shm[0] = v;
    }
    __syncthreads();
    float r = shm[0];
    __syncthreads();
    return r;
}

__global__ void rmsnorm_kernel(float *out, const float *x, const float *w, int n)
{
    __shared__ float shm[32];
    float ss = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        ss += x[i] * x[i];
    ss = block_sum(ss, shm);
    const float scale = 1.0f / sqrtf(ss / (float)n + WP_RMSNORM_EPS);
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        out[i] = w[i] * (scale * x[i]);
}

__global__ void rope_kernel(float *q, int q_dim, float *k, int k_dim, int head_size, int pos)
{
    const int i = 2 * (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i + 1 >= q_dim) /* dims are even: pairs (i, i + 1) */
        return;
    const int hd = i % head_size;
    const float freq = 1.0f / powf(WP_ROPE_THETA, (float)hd / (float)head_size);
    const float a = (float)pos * freq;
    const float c = cosf(a), s = sinf(a);
    const float q0 = q[i], q1 = q[i + 1];
    q[i] = q0 * c - q1 * s;
    q[i + 1] = q0 * s + q1 * c;
    if (i + 1 < k_dim) {
        const float k0 = k[i], k1 = k[i + 1];
        k[i] = k0 * c - k1 * s;
        k[i + 1] = k0 * s + k1 * c;
    }
}

/* One block per query head. att: n_heads x seq_len scratch. */
__global__ void attention_kernel(float *out, const float *q, const float *key_cache,
                                 const float *value_cache, float *att, int n_heads,
                                 int n_kv_heads, int head_size, int pos, int seq_len)
{
    __shared__ float shm[32];
    const int h = blockIdx.x;
    const int kv_dim = n_kv_heads * head_size;
    const int group = n_heads / n_kv_heads;
    const size_t kv_off = (size_t)(h / group) * head_size;
    const float *qh = q + (size_t)h * head_size;
    float *ah = att + (size_t)h * seq_len;
    const float inv = 1.0f / sqrtf((float)head_size);

    float mx = -INFINITY;
    for (int t = threadIdx.x; t <= pos; t += blockDim.x) {
        const float *kt = key_cache + (size_t)t * kv_dim + kv_off;
        float s = 0.0f;
        for (int i = 0; i < head_size; i++)
            s += qh[i] * kt[i];
        s *= inv;
        ah[t] = s;
        mx = fmaxf(mx, s);
    }
    mx = block_max(mx, shm);
    float sum = 0.0f;
    for (int t = threadIdx.x; t <= pos; t += blockDim.x) {
        const float e = expf(ah[t] - mx);
        ah[t] = e;
        sum += e;
    }
    sum = block_sum(sum, shm); /* its barriers also publish ah[] to the block */
    const float norm = 1.0f / sum;
    for (int i = threadIdx.x; i < head_size; i += blockDim.x) {
        float acc = 0.0f;
        for (int t = 0; t <= pos; t++)
            acc += ah[t] * norm * value_cache[(size_t)t * kv_dim + kv_off + i];
        out[(size_t)h * head_size + i] = acc;
    }
}

__global__ void swiglu_kernel(float *hb, const float *hb2, int n)
{
    const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i < n) {
        const float v = hb[i];
        hb[i] = v / (1.0f + expf(-v)) * hb2[i];
    }
}

__global__ void add_kernel(float *x, const float *y, int n)
{
    const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i < n)
        x[i] += y[i];
}

unsigned blocks_for(size_t n)
{
    return (unsigned)((n + WP_CUDA_THREADS - 1) / WP_CUDA_THREADS);
}

struct cuda_model {
    wp_llama_config cfg;
    cublasHandle_t blas;
    bool blas_ok;
    float *weights; /* device: every float after the header */
    float *state;   /* device: activations + KV cache */
    const float *tok_emb, *rms_att, *wq, *wk, *wv, *wo, *rms_ffn, *w1, *w2, *w3, *rms_final,
        *wcls;
    float *x, *xb, *xb2, *hb, *hb2, *q, *att, *logits, *key_cache, *value_cache;
};

int set_err(char *buf, size_t len, int code, const char *what, const char *why)
{
    if (buf && len)
        snprintf(buf, len, "%s: %s", what, why);
    return code;
}

int cuda_err(char *buf, size_t len, const char *what, cudaError_t e)
{
    return set_err(buf, len, e == cudaErrorMemoryAllocation ? WP_ENOMEM : WP_EIO, what,
                   cudaGetErrorString(e));
}

int blas_err(char *buf, size_t len, const char *what, cublasStatus_t s)
{
    char why[64];
    snprintf(why, sizeof why, "cuBLAS status %d", (int)s);
    return set_err(buf, len, s == CUBLAS_STATUS_ALLOC_FAILED ? WP_ENOMEM : WP_EIO, what, why);
}

/* cuBLAS is loaded at run time (dlopen), not linked. A binary built where
 * the toolkit is installed then still starts where it is not (cudart is
 * static for the same reason), and the many programs that never run the
 * cuda backend (wpctl's other commands, the daemons with the timing model)
 * do not pay for mapping cuBLAS at start. We use three entry points; their
 * `_v2` names are the ones cublas_v2.h maps cublasCreate & co. to. */
typedef cublasStatus_t (*blas_create_fn)(cublasHandle_t *);
typedef cublasStatus_t (*blas_destroy_fn)(cublasHandle_t);
typedef cublasStatus_t (*blas_sgemv_fn)(cublasHandle_t, cublasOperation_t, int, int,
                                        const float *, const float *, int, const float *, int,
                                        const float *, float *, int);
struct blas_api {
    blas_create_fn create;
    blas_destroy_fn destroy;
    blas_sgemv_fn sgemv;
    char why[192]; /* empty when loaded */
};
blas_api g_blas;
pthread_once_t g_blas_once = PTHREAD_ONCE_INIT;

#define WP_STR2(x) #x
#define WP_STR(x) WP_STR2(x)

void blas_load(void)
{
    const char *names[] = {
#ifdef WP_CUBLAS_DIR
        WP_CUBLAS_DIR "/libcublas.so." WP_STR(WP_CUBLAS_SOVERSION),
#endif
#ifdef WP_CUBLAS_SOVERSION
        "libcublas.so." WP_STR(WP_CUBLAS_SOVERSION),
#endif
        "libcublas.so",
    };
    void *h = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !h; i++)
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(g_blas.why, sizeof g_blas.why, "cannot load cuBLAS: %s", e ? e : "not found");
        return;
    }
    g_blas.create = (blas_create_fn)dlsym(h, "cublasCreate_v2");
    g_blas.destroy = (blas_destroy_fn)dlsym(h, "cublasDestroy_v2");
    g_blas.sgemv = (blas_sgemv_fn)dlsym(h, "cublasSgemv_v2");
    if (!g_blas.create || !g_blas.destroy || !g_blas.sgemv) {
        snprintf(g_blas.why, sizeof g_blas.why, "cuBLAS lacks cublasCreate_v2/Sgemv_v2");
        g_blas.create = NULL;
    }
    /* The handle stays open for the life of the process, on purpose. */
}

/* y (d) = W (d x n, row-major) x (n). */
cublasStatus_t gemv(cublasHandle_t h, float *y, const float *x, const float *w, int n, int d)
{
    const float one = 1.0f, zero = 0.0f;
    return g_blas.sgemv(h, CUBLAS_OP_T, n, d, &one, w, n, x, 1, &zero, y, 1);
}

} // namespace

extern "C" int wp_gpu__cuda_device_count(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError(); /* clear the error state */
        return 0;
    }
    return n;
}

extern "C" int wp_gpu__cuda_mem_info(uint64_t *free_bytes, uint64_t *total_bytes)
{
    size_t f = 0, t = 0;
    if (cudaSetDevice(0) != cudaSuccess || cudaMemGetInfo(&f, &t) != cudaSuccess) {
        (void)cudaGetLastError();
        *free_bytes = *total_bytes = 0;
        return WP_EIO;
    }
    *free_bytes = f;
    *total_bytes = t;
    return WP_OK;
}

extern "C" void wp_gpu__cuda_free(void *impl)
{
    cuda_model *m = static_cast<cuda_model *>(impl);
    if (!m)
        return;
    if (m->blas_ok)
        g_blas.destroy(m->blas);
    cudaFree(m->weights);
    cudaFree(m->state);
    free(m);
}

extern "C" int wp_gpu__cuda_open(const wp_llama_weights *w, void **impl, uint64_t *mem_bytes,
                                 char *errbuf, size_t errlen)
{
    cudaError_t e = cudaSetDevice(0);
    if (e != cudaSuccess)
        return cuda_err(errbuf, errlen, "set device", e);
    cuda_model *m = static_cast<cuda_model *>(calloc(1, sizeof *m));
    if (!m)
        return set_err(errbuf, errlen, WP_ENOMEM, "host", "out of memory");
    m->cfg = w->cfg;
    const wp_llama_config *c = &m->cfg;
    const size_t wbytes = w->n_floats * sizeof(float);
    e = cudaMalloc(&m->weights, wbytes);
    if (e != cudaSuccess) {
        wp_gpu__cuda_free(m);
        return cuda_err(errbuf, errlen, "allocate weights", e);
    }
    e = cudaMemcpy(m->weights, w->data, wbytes, cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
        wp_gpu__cuda_free(m);
        return cuda_err(errbuf, errlen, "copy weights", e);
    }
    /* Device views at the host views' offsets. */
    const float *base = w->data;
#define WP_DEV(field) m->field = m->weights + (w->field - base)
    WP_DEV(tok_emb);
    WP_DEV(rms_att);
    WP_DEV(wq);
    WP_DEV(wk);
    WP_DEV(wv);
    WP_DEV(wo);
    WP_DEV(rms_ffn);
    WP_DEV(w1);
    WP_DEV(w2);
    WP_DEV(w3);
    WP_DEV(rms_final);
    WP_DEV(wcls);
#undef WP_DEV
    const size_t dim = c->dim, hidden = c->hidden_dim, kv = wp_llama_kv_dim(c);
    const size_t cache = (size_t)c->n_layers * c->seq_len * kv;
    const size_t sizes[10] = {dim,    dim, dim, hidden, hidden, dim, (size_t)c->n_heads * c->seq_len,
                              c->vocab_size, cache, cache};
    size_t total = 0;
    for (size_t i = 0; i < 10; i++)
        total += sizes[i];
    e = cudaMalloc(&m->state, total * sizeof(float));
    if (e != cudaSuccess) {
        wp_gpu__cuda_free(m);
        return cuda_err(errbuf, errlen, "allocate KV cache and activations", e);
    }
    e = cudaMemset(m->state, 0, total * sizeof(float));
    if (e != cudaSuccess) {
        wp_gpu__cuda_free(m);
        return cuda_err(errbuf, errlen, "clear state", e);
    }
    float **dst[10] = {&m->x,  &m->xb,  &m->xb2,    &m->hb,        &m->hb2,
                       &m->q, &m->att, &m->logits, &m->key_cache, &m->value_cache};
    float *p = m->state;
    for (size_t i = 0; i < 10; i++) {
        *dst[i] = p;
        p += sizes[i];
    }
    pthread_once(&g_blas_once, blas_load);
    if (!g_blas.create) {
        wp_gpu__cuda_free(m);
        return set_err(errbuf, errlen, WP_EUNSUPPORTED, "cuda backend", g_blas.why);
    }
    cublasStatus_t s = g_blas.create(&m->blas);
    if (s != CUBLAS_STATUS_SUCCESS) {
        wp_gpu__cuda_free(m);
        return blas_err(errbuf, errlen, "cublasCreate", s);
    }
    m->blas_ok = true;
    *mem_bytes = (uint64_t)wbytes + (uint64_t)total * sizeof(float);
    *impl = m;
    return WP_OK;
}

extern "C" int wp_gpu__cuda_forward(void *impl, int32_t token, uint32_t upos, float *logits,
                                    char *errbuf, size_t errlen)
{
    cuda_model *m = static_cast<cuda_model *>(impl);
    const wp_llama_config *c = &m->cfg;
    if (token < 0 || (uint32_t)token >= c->vocab_size || upos >= c->seq_len)
        return set_err(errbuf, errlen, WP_ERANGE, "forward", "token or position out of range");
    const int dim = (int)c->dim, hidden = (int)c->hidden_dim, kv = (int)wp_llama_kv_dim(c);
    const int hs = (int)wp_llama_head_size(c), pos = (int)upos, seq = (int)c->seq_len;
    cudaError_t e = cudaMemcpy(m->x, m->tok_emb + (size_t)token * dim, (size_t)dim * sizeof(float),
                               cudaMemcpyDeviceToDevice);
    if (e != cudaSuccess)
        return cuda_err(errbuf, errlen, "embedding", e);
    cublasStatus_t s = CUBLAS_STATUS_SUCCESS;
    for (size_t l = 0; l < c->n_layers && s == CUBLAS_STATUS_SUCCESS; l++) {
        const size_t cache_off = l * (size_t)seq * kv;
        float *k = m->key_cache + cache_off + (size_t)pos * kv;
        float *v = m->value_cache + cache_off + (size_t)pos * kv;
        const size_t dd = (size_t)dim * dim, dkv = (size_t)dim * kv, dh = (size_t)dim * hidden;
        rmsnorm_kernel<<<1, WP_CUDA_THREADS>>>(m->xb, m->x, m->rms_att + l * dim, dim);
        s = gemv(m->blas, m->q, m->xb, m->wq + l * dd, dim, dim);
        if (s == CUBLAS_STATUS_SUCCESS)
            s = gemv(m->blas, k, m->xb, m->wk + l * dkv, dim, kv);
        if (s == CUBLAS_STATUS_SUCCESS)
            s = gemv(m->blas, v, m->xb, m->wv + l * dkv, dim, kv);
        if (s != CUBLAS_STATUS_SUCCESS)
            break;
        rope_kernel<<<blocks_for((size_t)dim / 2), WP_CUDA_THREADS>>>(m->q, dim, k, kv, hs, pos);
        attention_kernel<<<c->n_heads, WP_CUDA_THREADS>>>(
            m->xb, m->q, m->key_cache + cache_off, m->value_cache + cache_off, m->att,
            (int)c->n_heads, (int)c->n_kv_heads, hs, pos, seq);
        s = gemv(m->blas, m->xb2, m->xb, m->wo + l * dd, dim, dim);
        if (s != CUBLAS_STATUS_SUCCESS)
            break;
        add_kernel<<<blocks_for(dim), WP_CUDA_THREADS>>>(m->x, m->xb2, dim);
        rmsnorm_kernel<<<1, WP_CUDA_THREADS>>>(m->xb, m->x, m->rms_ffn + l * dim, dim);
        s = gemv(m->blas, m->hb, m->xb, m->w1 + l * dh, dim, hidden);
        if (s == CUBLAS_STATUS_SUCCESS)
            s = gemv(m->blas, m->hb2, m->xb, m->w3 + l * dh, dim, hidden);
        if (s != CUBLAS_STATUS_SUCCESS)
            break;
        swiglu_kernel<<<blocks_for(hidden), WP_CUDA_THREADS>>>(m->hb, m->hb2, hidden);
        s = gemv(m->blas, m->xb, m->hb, m->w2 + l * dh, hidden, dim);
        if (s != CUBLAS_STATUS_SUCCESS)
            break;
        add_kernel<<<blocks_for(dim), WP_CUDA_THREADS>>>(m->x, m->xb, dim);
    }
    if (s != CUBLAS_STATUS_SUCCESS)
        return blas_err(errbuf, errlen, "sgemv", s);
    rmsnorm_kernel<<<1, WP_CUDA_THREADS>>>(m->x, m->x, m->rms_final, dim);
    s = gemv(m->blas, m->logits, m->x, m->wcls, dim, (int)c->vocab_size);
    if (s != CUBLAS_STATUS_SUCCESS)
        return blas_err(errbuf, errlen, "sgemv classifier", s);
    e = cudaGetLastError();
    if (e != cudaSuccess)
        return cuda_err(errbuf, errlen, "kernel launch", e);
    e = cudaMemcpy(logits, m->logits, (size_t)c->vocab_size * sizeof(float),
                   cudaMemcpyDeviceToHost);
    if (e != cudaSuccess)
        return cuda_err(errbuf, errlen, "copy logits", e);
    return WP_OK;
}
