/* cuda.cu — the CUDA backend: the same batched forward pass as cpu.c, with
 * the weights in device memory, cuBLAS (cublasSgemm) for every matrix
 * product over the pass's rows and small kernels for the rest.
 *
 * Layout on the device: one cudaMalloc holding every float of the
 * checkpoint after the header (the same order as the file, so each tensor
 * is the host view's offset applied to the device base), and one holding
 * the run state: per-row activations for up to WP_GPU_STEP_ROWS + max_seqs
 * rows (the most one pass carries), the attention scores of every (row,
 * head), the logits of the rows that want them, the rows' token, position,
 * sequence and logits-row index arrays, and the KV caches of all max_seqs
 * sequences (each layers x seq_len x kv_dim, for keys and for values).
 * Everything runs on the legacy default stream, so the upload of the row
 * arrays, kernels, cuBLAS calls and the final device-to-host copy of the
 * logits are ordered and that copy is the synchronisation point.
 *
 * Row-major W (d x k) is, to column-major cuBLAS, a k x d matrix A with
 * lda = k; the pass's n rows X (n x k, row-major) are a k x n matrix B,
 * and Y = X W^T (n x d, row-major) is the d x n matrix C = A^T B:
 * cublasSgemm(OP_T, OP_N, m = d, n = n, k = k, A, lda = k, B, ldb = k, C,
 * ldc = d).
 *
 * Kernels use blocks of 256 threads (a multiple of the warp size, which
 * the reductions rely on: every thread of a block calls them).
 *   embed     one block per row: the token's embedding row.
 *   rmsnorm   one block per row; sum of squares by block reduction.
 *   rope_kv   one thread per (row, even/odd pair): RoPE on q and k, then
 *             the row's k and v pair into its sequence's cache at its
 *             position (all rows' caches are written before attention).
 *   attention one block per (query head, row): scores for t = 0..pos,
 *             block max, exponentials and block sum (a stable softmax),
 *             then each thread accumulates some output dimensions.
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

/* One block per row r: out[r] = rmsnorm(x[src ? src[r] : r]) * w. */
__global__ void rmsnorm_kernel(float *out, const float *x, const float *w, int n, const int *src)
{
    __shared__ float shm[32];
    const int r = blockIdx.x;
    const float *xr = x + (size_t)(src ? src[r] : r) * n;
    float *o = out + (size_t)r * n;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        ss += xr[i] * xr[i];
    ss = block_sum(ss, shm);
    const float scale = 1.0f / sqrtf(ss / (float)n + WP_RMSNORM_EPS);
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        o[i] = w[i] * (scale * xr[i]);
}

__global__ void embed_kernel(float *x, const float *tok_emb, const int *tokens, int dim)
{
    const int r = blockIdx.x;
    const float *e = tok_emb + (size_t)tokens[r] * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        x[(size_t)r * dim + i] = e[i];
}

__device__ void rope_pair(float *v, int i, int head_size, int pos)
{
    const int hd = i % head_size;
    const float freq = 1.0f / powf(WP_ROPE_THETA, (float)hd / (float)head_size);
    const float a = (float)pos * freq;
    const float c = cosf(a), s = sinf(a);
    const float v0 = v[i], v1 = v[i + 1];
    v[i] = v0 * c - v1 * s;
    v[i + 1] = v0 * s + v1 * c;
}

/* Grid (pairs of q, rows). kc/vc: the caches of sequence 0 at this layer;
 * sequence s is s * seq_stride floats further. */
__global__ void rope_kv_kernel(float *q, float *kr, const float *vr, float *kc, float *vc,
                               const int *pos, const int *seqs, int dim, int kv, int head_size,
                               size_t seq_stride)
{
    const int r = blockIdx.y;
    const int i = 2 * (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i + 1 >= dim) /* dims are even: pairs (i, i + 1) */
        return;
    const int p = pos[r];
    rope_pair(q + (size_t)r * dim, i, head_size, p);
    if (i + 1 < kv) {
        float *k = kr + (size_t)r * kv;
        const float *v = vr + (size_t)r * kv;
        rope_pair(k, i, head_size, p);
        const size_t off = (size_t)seqs[r] * seq_stride + (size_t)p * kv;
        kc[off + i] = k[i];
        kc[off + i + 1] = k[i + 1];
        vc[off + i] = v[i];
        vc[off + i + 1] = v[i + 1];
    }
}

/* Grid (query head, row). att: rows x n_heads x seq_len scratch. */
__global__ void attention_kernel(float *out, const float *q, const float *kc, const float *vc,
                                 float *att, const int *pos, const int *seqs, int n_heads,
                                 int n_kv_heads, int head_size, int seq_len, size_t seq_stride)
{
    __shared__ float shm[32];
    const int h = blockIdx.x, r = blockIdx.y, p = pos[r];
    const int dim = n_heads * head_size;
    const int kv_dim = n_kv_heads * head_size;
    const int group = n_heads / n_kv_heads;
    const size_t kv_off = (size_t)(h / group) * head_size;
    const float *key_cache = kc + (size_t)seqs[r] * seq_stride;
    const float *value_cache = vc + (size_t)seqs[r] * seq_stride;
    const float *qh = q + (size_t)r * dim + (size_t)h * head_size;
    float *ah = att + ((size_t)r * n_heads + h) * seq_len;
    const float inv = 1.0f / sqrtf((float)head_size);

    float mx = -INFINITY;
    for (int t = threadIdx.x; t <= p; t += blockDim.x) {
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
    for (int t = threadIdx.x; t <= p; t += blockDim.x) {
        const float e = expf(ah[t] - mx);
        ah[t] = e;
        sum += e;
    }
    sum = block_sum(sum, shm); /* its barriers also publish ah[] to the block */
    const float norm = 1.0f / sum;
    for (int i = threadIdx.x; i < head_size; i += blockDim.x) {
        float acc = 0.0f;
        for (int t = 0; t <= p; t++)
            acc += ah[t] * norm * value_cache[(size_t)t * kv_dim + kv_off + i];
        out[(size_t)r * dim + (size_t)h * head_size + i] = acc;
    }
}

__global__ void swiglu_kernel(float *hb, const float *hb2, size_t n)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const float v = hb[i];
        hb[i] = v / (1.0f + expf(-v)) * hb2[i];
    }
}

__global__ void add_kernel(float *x, const float *y, size_t n)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
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
    uint32_t max_seqs, max_rows;
    float *weights; /* device: every float after the header */
    float *state;   /* device: activations, row arrays, KV caches */
    uint64_t weight_bytes, state_bytes;
    const float *tok_emb, *rms_att, *wq, *wk, *wv, *wo, *rms_ffn, *w1, *w2, *w3, *rms_final,
        *wcls;
    float *x, *xb, *xb2, *q, *kr, *vr, *hb, *hb2, *xl, *lg, *att, *key_cache, *value_cache;
    int *d_rows;     /* device: tokens, positions, sequences, logits rows (4 x max_rows) */
    int *h_rows;     /* host staging of the same */
    float *h_logits; /* host: max_rows x vocab */
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
typedef cublasStatus_t (*blas_sgemm_fn)(cublasHandle_t, cublasOperation_t, cublasOperation_t,
                                        int, int, int, const float *, const float *, int,
                                        const float *, int, const float *, float *, int);
struct blas_api {
    blas_create_fn create;
    blas_destroy_fn destroy;
    blas_sgemm_fn sgemm;
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
    g_blas.sgemm = (blas_sgemm_fn)dlsym(h, "cublasSgemm_v2");
    if (!g_blas.create || !g_blas.destroy || !g_blas.sgemm) {
        snprintf(g_blas.why, sizeof g_blas.why, "cuBLAS lacks cublasCreate_v2/Sgemm_v2");
        g_blas.create = NULL;
    }
    /* The handle stays open for the life of the process, on purpose. */
}

/* Y (rows x d, row-major) = X (rows x k, row-major) W^T, W d x k row-major. */
cublasStatus_t gemm(cublasHandle_t h, float *y, const float *x, const float *w, int k, int d,
                    int rows)
{
    const float one = 1.0f, zero = 0.0f;
    return g_blas.sgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, d, rows, k, &one, w, k, x, k, &zero, y, d);
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
    free(m->h_rows);
    free(m->h_logits);
    free(m);
}

extern "C" uint64_t wp_gpu__cuda_mem_bytes(const void *impl)
{
    const cuda_model *m = static_cast<const cuda_model *>(impl);
    return m->weight_bytes + m->state_bytes;
}

extern "C" int wp_gpu__cuda_open(const wp_llama_weights *w, uint32_t max_seqs, void **impl,
                                 char *errbuf, size_t errlen)
{
    cudaError_t e = cudaSetDevice(0);
    if (e != cudaSuccess)
        return cuda_err(errbuf, errlen, "set device", e);
    cuda_model *m = static_cast<cuda_model *>(calloc(1, sizeof *m));
    if (!m)
        return set_err(errbuf, errlen, WP_ENOMEM, "host", "out of memory");
    m->cfg = w->cfg;
    m->max_seqs = max_seqs;
    m->max_rows = WP_GPU_STEP_ROWS + max_seqs;
    const wp_llama_config *c = &m->cfg;
    const size_t wbytes = w->n_floats * sizeof(float);
    m->weight_bytes = wbytes;
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
    const size_t R = m->max_rows;
    const size_t dim = c->dim, hidden = c->hidden_dim, kv = wp_llama_kv_dim(c);
    const size_t cache = (size_t)max_seqs * c->n_layers * c->seq_len * kv;
    const size_t sizes[13] = {R * dim, R * dim,    R * dim,    R * dim,
                              R * kv,  R * kv,     R * hidden, R * hidden,
                              R * dim, R * c->vocab_size,      R * c->n_heads * c->seq_len,
                              cache,   cache};
    size_t total = 4 * R; /* the row arrays (int, same size as float) first */
    for (size_t i = 0; i < 13; i++)
        total += sizes[i];
    m->h_rows = static_cast<int *>(malloc(4 * R * sizeof(int)));
    m->h_logits = static_cast<float *>(malloc(R * c->vocab_size * sizeof(float)));
    if (!m->h_rows || !m->h_logits) {
        wp_gpu__cuda_free(m);
        return set_err(errbuf, errlen, WP_ENOMEM, "host", "out of memory");
    }
    e = cudaMalloc(&m->state, total * sizeof(float));
    if (e != cudaSuccess) {
        wp_gpu__cuda_free(m);
        return cuda_err(errbuf, errlen, "allocate KV caches and activations", e);
    }
    m->state_bytes = total * sizeof(float);
    e = cudaMemset(m->state, 0, total * sizeof(float));
    if (e != cudaSuccess) {
        wp_gpu__cuda_free(m);
        return cuda_err(errbuf, errlen, "clear state", e);
    }
    m->d_rows = reinterpret_cast<int *>(m->state);
    float **dst[13] = {&m->x,  &m->xb, &m->xb2, &m->q,  &m->kr,  &m->vr,       &m->hb,
                       &m->hb2, &m->xl, &m->lg, &m->att, &m->key_cache, &m->value_cache};
    float *p = m->state + 4 * R;
    for (size_t i = 0; i < 13; i++) {
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
    *impl = m;
    return WP_OK;
}

extern "C" int wp_gpu__cuda_forward(void *impl, const wp_gpu_row *rows, size_t nrows,
                                    char *errbuf, size_t errlen)
{
    cuda_model *m = static_cast<cuda_model *>(impl);
    const wp_llama_config *c = &m->cfg;
    if (nrows == 0 || nrows > m->max_rows)
        return set_err(errbuf, errlen, WP_ETOOBIG, "forward", "too many rows for one pass");
    const int n = (int)nrows, R = (int)m->max_rows;
    int nl = 0;
    for (int r = 0; r < n; r++) {
        const wp_gpu_row *row = &rows[r];
        if (row->token < 0 || (uint32_t)row->token >= c->vocab_size || row->pos >= c->seq_len ||
            row->seq >= m->max_seqs)
            return set_err(errbuf, errlen, WP_ERANGE, "forward",
                           "token, position or sequence out of range");
        m->h_rows[r] = row->token;
        m->h_rows[R + r] = (int)row->pos;
        m->h_rows[2 * R + r] = (int)row->seq;
        if (row->logits)
            m->h_rows[3 * R + nl++] = r;
    }
    cudaError_t e = cudaMemcpy(m->d_rows, m->h_rows, 4 * (size_t)R * sizeof(int),
                               cudaMemcpyHostToDevice);
    if (e != cudaSuccess)
        return cuda_err(errbuf, errlen, "upload rows", e);
    const int *d_tok = m->d_rows, *d_pos = m->d_rows + R, *d_seq = m->d_rows + 2 * R,
              *d_lrow = m->d_rows + 3 * R;
    const int dim = (int)c->dim, hidden = (int)c->hidden_dim, kv = (int)wp_llama_kv_dim(c);
    const int hs = (int)wp_llama_head_size(c), seq = (int)c->seq_len;
    const size_t layer_floats = (size_t)seq * kv;
    const size_t seq_stride = (size_t)c->n_layers * layer_floats;
    embed_kernel<<<n, WP_CUDA_THREADS>>>(m->x, m->tok_emb, d_tok, dim);
    cublasStatus_t s = CUBLAS_STATUS_SUCCESS;
    const dim3 rope_grid(blocks_for((size_t)dim / 2), (unsigned)n);
    const dim3 att_grid(c->n_heads, (unsigned)n);
    const size_t nd = (size_t)n * dim, nh = (size_t)n * hidden;
    for (size_t l = 0; l < c->n_layers && s == CUBLAS_STATUS_SUCCESS; l++) {
        const size_t dd = (size_t)dim * dim, dkv = (size_t)dim * kv, dh = (size_t)dim * hidden;
        float *kc = m->key_cache + l * layer_floats, *vc = m->value_cache + l * layer_floats;
        rmsnorm_kernel<<<n, WP_CUDA_THREADS>>>(m->xb, m->x, m->rms_att + l * dim, dim, NULL);
        s = gemm(m->blas, m->q, m->xb, m->wq + l * dd, dim, dim, n);
        if (s == CUBLAS_STATUS_SUCCESS)
            s = gemm(m->blas, m->kr, m->xb, m->wk + l * dkv, dim, kv, n);
        if (s == CUBLAS_STATUS_SUCCESS)
            s = gemm(m->blas, m->vr, m->xb, m->wv + l * dkv, dim, kv, n);
        if (s != CUBLAS_STATUS_SUCCESS)
            break;
        rope_kv_kernel<<<rope_grid, WP_CUDA_THREADS>>>(m->q, m->kr, m->vr, kc, vc, d_pos, d_seq,
                                                       dim, kv, hs, seq_stride);
        attention_kernel<<<att_grid, WP_CUDA_THREADS>>>(m->xb, m->q, kc, vc, m->att, d_pos,
                                                        d_seq, (int)c->n_heads,
                                                        (int)c->n_kv_heads, hs, seq, seq_stride);
        s = gemm(m->blas, m->xb2, m->xb, m->wo + l * dd, dim, dim, n);
        if (s != CUBLAS_STATUS_SUCCESS)
            break;
        add_kernel<<<blocks_for(nd), WP_CUDA_THREADS>>>(m->x, m->xb2, nd);
        rmsnorm_kernel<<<n, WP_CUDA_THREADS>>>(m->xb, m->x, m->rms_ffn + l * dim, dim, NULL);
        s = gemm(m->blas, m->hb, m->xb, m->w1 + l * dh, dim, hidden, n);
        if (s == CUBLAS_STATUS_SUCCESS)
            s = gemm(m->blas, m->hb2, m->xb, m->w3 + l * dh, dim, hidden, n);
        if (s != CUBLAS_STATUS_SUCCESS)
            break;
        swiglu_kernel<<<blocks_for(nh), WP_CUDA_THREADS>>>(m->hb, m->hb2, nh);
        s = gemm(m->blas, m->xb2, m->hb, m->w2 + l * dh, hidden, dim, n);
        if (s != CUBLAS_STATUS_SUCCESS)
            break;
        add_kernel<<<blocks_for(nd), WP_CUDA_THREADS>>>(m->x, m->xb2, nd);
    }
    if (s != CUBLAS_STATUS_SUCCESS)
        return blas_err(errbuf, errlen, "sgemm", s);
    if (nl > 0) {
        rmsnorm_kernel<<<nl, WP_CUDA_THREADS>>>(m->xl, m->x, m->rms_final, dim, d_lrow);
        s = gemm(m->blas, m->lg, m->xl, m->wcls, dim, (int)c->vocab_size, nl);
        if (s != CUBLAS_STATUS_SUCCESS)
            return blas_err(errbuf, errlen, "sgemm classifier", s);
    }
    e = cudaGetLastError();
    if (e != cudaSuccess)
        return cuda_err(errbuf, errlen, "kernel launch", e);
    if (nl == 0) {
        e = cudaDeviceSynchronize();
        return e == cudaSuccess ? WP_OK : cuda_err(errbuf, errlen, "forward", e);
    }
    const size_t voc = c->vocab_size;
    e = cudaMemcpy(m->h_logits, m->lg, (size_t)nl * voc * sizeof(float), cudaMemcpyDeviceToHost);
    if (e != cudaSuccess)
        return cuda_err(errbuf, errlen, "copy logits", e);
    for (int k = 0; k < nl; k++)
        memcpy(rows[m->h_rows[3 * R + k]].logits, m->h_logits + (size_t)k * voc,
               voc * sizeof(float));
    return WP_OK;
}
