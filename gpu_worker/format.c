/* format.c — the llama2.c checkpoint layout, version 0 (legacy export).
 *
 * The layout, as documented by the llama2.c project (public facts, no code
 * taken from it):
 *
 *   header: seven int32 — dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 *           vocab_size, seq_len. A negative vocab_size means the classifier
 *           (wcls) is stored separately; positive means it is shared with
 *           the token embedding table.
 *   then float32 tensors, in this order (kv_dim = dim * n_kv_heads / n_heads,
 *   head_size = dim / n_heads):
 *     token_embedding_table  vocab * dim
 *     rms_att_weight         layers * dim
 *     wq                     layers * dim * dim
 *     wk                     layers * dim * kv_dim
 *     wv                     layers * dim * kv_dim
 *     wo                     layers * dim * dim
 *     rms_ffn_weight         layers * dim
 *     w1                     layers * dim * hidden
 *     w2                     layers * hidden * dim
 *     w3                     layers * dim * hidden
 *     rms_final_weight       dim
 *     freq_cis_real          seq_len * head_size / 2   (unused: RoPE is recomputed)
 *     freq_cis_imag          seq_len * head_size / 2   (unused)
 *     wcls                   vocab * dim               (only when unshared)
 *   Matrices are row-major (out x in).
 *
 * Safety: the header is checked against caps before any arithmetic; all
 * size arithmetic is done in uint64 with overflow checks; the file length
 * must equal exactly what the header implies, and only then is the buffer
 * allocated. Numbers are little-endian; we refuse to run on a big-endian
 * host rather than byte-swap.
 */
#include "gpu_worker/gpu_worker.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool host_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* a * b into *out; false on overflow. */
static bool mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a)
        return false;
    *out = a * b;
    return true;
}

static bool add_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    if (b > UINT64_MAX - a)
        return false;
    *out = a + b;
    return true;
}

/* Float counts of each tensor in file order; n_out receives 14 entries
 * (the last is 0 when the classifier is shared). false on overflow. */
static bool tensor_counts(const wp_llama_config *c, uint64_t counts[14])
{
    uint64_t L = c->n_layers, D = c->dim, H = c->hidden_dim, V = c->vocab_size;
    uint64_t KV = (uint64_t)c->dim / c->n_heads * c->n_kv_heads;
    uint64_t hs = (uint64_t)c->dim / c->n_heads;
    uint64_t DD, DKV, DH;
    if (!mul_ok(D, D, &DD) || !mul_ok(D, KV, &DKV) || !mul_ok(D, H, &DH))
        return false;
    bool ok = mul_ok(V, D, &counts[0]) && mul_ok(L, D, &counts[1]) && mul_ok(L, DD, &counts[2]) &&
              mul_ok(L, DKV, &counts[3]) && mul_ok(L, DKV, &counts[4]) &&
              mul_ok(L, DD, &counts[5]) && mul_ok(L, D, &counts[6]) &&
              mul_ok(L, DH, &counts[7]) && mul_ok(L, DH, &counts[8]) &&
              mul_ok(L, DH, &counts[9]);
    if (!ok)
        return false;
    counts[10] = D;
    if (!mul_ok(c->seq_len, hs / 2, &counts[11]))
        return false;
    counts[12] = counts[11];
    counts[13] = c->shared_classifier ? 0 : counts[0];
    return true;
}

int wp_llama_config_check(const wp_llama_config *c, uint64_t *file_bytes, wp_err *err)
{
    struct {
        const char *name;
        uint32_t v, max;
    } f[] = {
        {"dim", c->dim, WP_LLAMA_MAX_DIM},
        {"hidden_dim", c->hidden_dim, WP_LLAMA_MAX_HIDDEN},
        {"n_layers", c->n_layers, WP_LLAMA_MAX_LAYERS},
        {"n_heads", c->n_heads, WP_LLAMA_MAX_HEADS},
        {"n_kv_heads", c->n_kv_heads, WP_LLAMA_MAX_HEADS},
        {"vocab_size", c->vocab_size, WP_LLAMA_MAX_VOCAB},
        {"seq_len", c->seq_len, WP_LLAMA_MAX_SEQ},
    };
    for (size_t i = 0; i < WP_ARRAY_LEN(f); i++)
        if (f[i].v < 1 || f[i].v > f[i].max)
            return wp_errf(err, WP_ERANGE, "%s %u outside 1..%u", f[i].name, (unsigned)f[i].v,
                           (unsigned)f[i].max);
    if (c->dim % c->n_heads != 0)
        return wp_errf(err, WP_EINVAL, "n_heads %u does not divide dim %u", (unsigned)c->n_heads,
                       (unsigned)c->dim);
    if (c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads != 0)
        return wp_errf(err, WP_EINVAL, "n_kv_heads %u does not divide n_heads %u",
                       (unsigned)c->n_kv_heads, (unsigned)c->n_heads);
    if ((c->dim / c->n_heads) % 2 != 0)
        return wp_errf(err, WP_EINVAL, "head size %u is odd (rotary pairs need it even)",
                       (unsigned)(c->dim / c->n_heads));
    uint64_t counts[14], total = 0;
    if (!tensor_counts(c, counts))
        return wp_errf(err, WP_ERANGE, "model size overflows");
    for (int i = 0; i < 14; i++)
        if (!add_ok(total, counts[i], &total))
            return wp_errf(err, WP_ERANGE, "model size overflows");
    uint64_t bytes;
    if (!mul_ok(total, sizeof(float), &bytes) || !add_ok(bytes, WP_LLAMA_HEADER_BYTES, &bytes))
        return wp_errf(err, WP_ERANGE, "model size overflows");
    if (bytes - WP_LLAMA_HEADER_BYTES > (uint64_t)SIZE_MAX / 2)
        return wp_errf(err, WP_ETOOBIG, "model of %llu bytes is too large for this host",
                       (unsigned long long)bytes);
    if (file_bytes)
        *file_bytes = bytes;
    return WP_OK;
}

uint64_t wp_llama_param_count(const wp_llama_config *c)
{
    uint64_t counts[14], total = 0;
    if (!tensor_counts(c, counts))
        return 0;
    for (int i = 0; i < 14; i++)
        if (i != 11 && i != 12)
            total += counts[i];
    return total;
}

static int32_t get_le_i32(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static void put_le_i32(unsigned char *p, int32_t v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(u >> (8 * i));
}

int wp_llama_parse_header(const unsigned char *hdr, size_t len, uint64_t file_bytes,
                          wp_llama_config *out, wp_err *err)
{
    static const char *names[7] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                   "n_kv_heads", "vocab_size", "seq_len"};
    if (len < WP_LLAMA_HEADER_BYTES || file_bytes < WP_LLAMA_HEADER_BYTES)
        return wp_errf(err, WP_ETRUNC, "file of %llu bytes is shorter than the %u-byte header",
                       (unsigned long long)(file_bytes < len ? file_bytes : len),
                       WP_LLAMA_HEADER_BYTES);
    int32_t v[7];
    for (int i = 0; i < 7; i++) {
        v[i] = get_le_i32(hdr + 4 * i);
        if (i != 5 && v[i] <= 0)
            return wp_errf(err, WP_ERANGE, "header field %s is %d (must be positive)", names[i],
                           (int)v[i]);
    }
    if (v[5] == 0 || v[5] == INT32_MIN)
        return wp_errf(err, WP_ERANGE, "header field vocab_size is %d", (int)v[5]);
    wp_llama_config c = {
        .dim = (uint32_t)v[0],
        .hidden_dim = (uint32_t)v[1],
        .n_layers = (uint32_t)v[2],
        .n_heads = (uint32_t)v[3],
        .n_kv_heads = (uint32_t)v[4],
        .vocab_size = (uint32_t)(v[5] < 0 ? -v[5] : v[5]),
        .seq_len = (uint32_t)v[6],
        .shared_classifier = v[5] > 0,
    };
    uint64_t want;
    int rv = wp_llama_config_check(&c, &want, err);
    if (rv != WP_OK)
        return wp_err_wrap(err, "bad header");
    if (file_bytes < want)
        return wp_errf(err, WP_ETRUNC, "file is %llu bytes but its header implies %llu (truncated)",
                       (unsigned long long)file_bytes, (unsigned long long)want);
    if (file_bytes > want)
        return wp_errf(err, WP_EPARSE,
                       "file is %llu bytes but its header implies %llu (not a version-0 "
                       "llama2.c checkpoint, or wrong header sizes)",
                       (unsigned long long)file_bytes, (unsigned long long)want);
    *out = c;
    return WP_OK;
}

uint64_t wp_llama_mem_bytes(const wp_llama_config *c)
{
    uint64_t file_bytes = 0;
    if (wp_llama_config_check(c, &file_bytes, NULL) != WP_OK)
        return 0;
    uint64_t kv = wp_llama_kv_dim(c);
    uint64_t cache = (uint64_t)c->n_layers * c->seq_len * kv; /* < 2^56 under the caps */
    uint64_t act = 4ull * c->dim + 2ull * c->hidden_dim + (uint64_t)c->n_heads * c->seq_len +
                   c->vocab_size;
    return file_bytes - WP_LLAMA_HEADER_BYTES + (2 * cache + act) * sizeof(float);
}

uint64_t wp_llama_seq_bytes(const wp_llama_config *c)
{
    if (wp_llama_config_check(c, NULL, NULL) != WP_OK)
        return 0;
    return 2ull * c->n_layers * c->seq_len * wp_llama_kv_dim(c) * sizeof(float);
}

int wp_llama_read_config(const char *path, wp_llama_config *out, wp_err *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return wp_errf(err, errno == ENOENT ? WP_ENOTFOUND : WP_EIO, "%s: %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return wp_errf(err, WP_EIO, "%s: not a regular file", path);
    }
    unsigned char hdr[WP_LLAMA_HEADER_BYTES];
    size_t got = fread(hdr, 1, sizeof hdr, fp);
    fclose(fp);
    if (wp_llama_parse_header(hdr, got, (uint64_t)st.st_size, out, err) != WP_OK)
        return wp_err_wrap(err, "%s", path);
    return WP_OK;
}

static void set_views(wp_llama_weights *w)
{
    const wp_llama_config *c = &w->cfg;
    uint64_t counts[14];
    tensor_counts(c, counts); /* cannot fail: the config was checked */
    const float *p = w->data;
    const float **dst[11] = {&w->tok_emb, &w->rms_att, &w->wq, &w->wk, &w->wv, &w->wo,
                             &w->rms_ffn, &w->w1, &w->w2, &w->w3, &w->rms_final};
    for (int i = 0; i < 11; i++) {
        *dst[i] = p;
        p += counts[i];
    }
    p += counts[11] + counts[12];
    w->wcls = c->shared_classifier ? w->tok_emb : p;
}

int wp_llama_load(const char *path, wp_llama_weights *w, wp_err *err)
{
    memset(w, 0, sizeof *w);
    if (!host_little_endian())
        return wp_errf(err, WP_EUNSUPPORTED, "%s: big-endian hosts are not supported", path);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return wp_errf(err, errno == ENOENT ? WP_ENOTFOUND : WP_EIO, "%s: %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return wp_errf(err, WP_EIO, "%s: not a regular file", path);
    }
    unsigned char hdr[WP_LLAMA_HEADER_BYTES];
    size_t got = fread(hdr, 1, sizeof hdr, fp);
    int rv = wp_llama_parse_header(hdr, got, (uint64_t)st.st_size, &w->cfg, err);
    if (rv != WP_OK) {
        fclose(fp);
        return wp_err_wrap(err, "%s", path);
    }
    size_t bytes = (size_t)((uint64_t)st.st_size - WP_LLAMA_HEADER_BYTES);
    w->n_floats = bytes / sizeof(float);
    w->data = malloc(bytes);
    if (!w->data) {
        fclose(fp);
        return wp_errf(err, WP_ENOMEM, "%s: cannot allocate %zu bytes of weights", path, bytes);
    }
    size_t off = 0;
    while (off < bytes) {
        size_t chunk = bytes - off < (64u << 20) ? bytes - off : (64u << 20);
        size_t n = fread((char *)w->data + off, 1, chunk, fp);
        if (n == 0)
            break;
        off += n;
    }
    fclose(fp);
    if (off != bytes) {
        wp_llama_free(w);
        return wp_errf(err, WP_ETRUNC, "%s: read %zu of %zu weight bytes", path, off, bytes);
    }
    set_views(w);
    return WP_OK;
}

void wp_llama_free(wp_llama_weights *w)
{
    free(w->data);
    memset(w, 0, sizeof *w);
}

/* Writes n floats produced by fn in chunks. */
typedef float (*gen_fn)(wp_rng *r, double std, uint64_t i, void *ctx);

static int write_floats(FILE *fp, uint64_t n, gen_fn fn, wp_rng *r, double std, void *ctx)
{
    float buf[4096];
    uint64_t i = 0;
    while (i < n) {
        size_t k = 0;
        for (; k < WP_ARRAY_LEN(buf) && i < n; k++, i++)
            buf[k] = fn(r, std, i, ctx);
        if (fwrite(buf, sizeof(float), k, fp) != k)
            return WP_EIO;
    }
    return WP_OK;
}

static float gen_normal(wp_rng *r, double std, uint64_t i, void *ctx)
{
    (void)i;
    (void)ctx;
    return (float)(wp_rng_normal(r) * std);
}

static float gen_one(wp_rng *r, double std, uint64_t i, void *ctx)
{
    (void)r;
    (void)std;
    (void)i;
    (void)ctx;
    return 1.0f;
}

struct freq_ctx {
    uint32_t half; /* head_size / 2 */
    uint32_t head_size;
    bool imag;
};

static float gen_freq(wp_rng *r, double std, uint64_t i, void *vctx)
{
    (void)r;
    (void)std;
    const struct freq_ctx *c = vctx;
    uint64_t pos = i / c->half, j = i % c->half;
    double freq = 1.0 / pow((double)WP_ROPE_THETA, (double)(2 * j) / (double)c->head_size);
    double a = (double)pos * freq;
    return (float)(c->imag ? sin(a) : cos(a));
}

int wp_llama_gen(const char *path, const wp_llama_config *cfg, uint64_t seed, double init_std,
                 wp_err *err)
{
    uint64_t bytes;
    int rv = wp_llama_config_check(cfg, &bytes, err);
    if (rv != WP_OK)
        return rv;
    if (!(init_std > 0) || !isfinite(init_std))
        return wp_errf(err, WP_EINVAL, "init std must be positive");
    uint64_t counts[14];
    tensor_counts(cfg, counts);
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return wp_errf(err, WP_EIO, "%s: %s", path, strerror(errno));
    unsigned char hdr[WP_LLAMA_HEADER_BYTES];
    int32_t v[7] = {(int32_t)cfg->dim,        (int32_t)cfg->hidden_dim, (int32_t)cfg->n_layers,
                    (int32_t)cfg->n_heads,    (int32_t)cfg->n_kv_heads,
                    cfg->shared_classifier ? (int32_t)cfg->vocab_size : -(int32_t)cfg->vocab_size,
                    (int32_t)cfg->seq_len};
    for (int i = 0; i < 7; i++)
        put_le_i32(hdr + 4 * i, v[i]);
    rv = fwrite(hdr, 1, sizeof hdr, fp) == sizeof hdr ? WP_OK : WP_EIO;
    wp_rng rng;
    wp_rng_seed(&rng, seed);
    struct freq_ctx fre = {wp_llama_head_size(cfg) / 2, wp_llama_head_size(cfg), false};
    struct freq_ctx fim = {wp_llama_head_size(cfg) / 2, wp_llama_head_size(cfg), true};
    for (int i = 0; i < 14 && rv == WP_OK; i++) {
        bool is_rms = i == 1 || i == 6 || i == 10;
        if (i == 11)
            rv = write_floats(fp, counts[i], gen_freq, &rng, init_std, &fre);
        else if (i == 12)
            rv = write_floats(fp, counts[i], gen_freq, &rng, init_std, &fim);
        else
            rv = write_floats(fp, counts[i], is_rms ? gen_one : gen_normal, &rng, init_std, NULL);
    }
    if (fclose(fp) != 0 && rv == WP_OK)
        rv = WP_EIO;
    if (rv != WP_OK) {
        remove(path);
        return wp_errf(err, rv, "%s: write failed", path);
    }
    return WP_OK;
}
