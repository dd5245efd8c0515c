/* backend.c — the backend interface: choosing a backend, loading and
 * unloading models, generation (greedy or seeded sampling) with measured
 * time to first token, batches, and the TIMING MODEL's pure arithmetic.
 *
 * Generation: the prompt's tokens are fed at positions 0..n_prompt-1; the
 * logits after the last prompt token give the first generated token (time
 * to first token is measured up to that point, prefill included). Each
 * generated token but the last is fed back at the next position, so a
 * request needs n_prompt + steps - 1 <= seq_len positions; we require
 * n_prompt + steps <= seq_len, the simpler rule users can check.
 * Sampling: temperature 0 is argmax (lowest index on ties); otherwise
 * softmax(logits / T) sampled by inversion with a wp_rng seeded from the
 * request's seed, so the same request gives the same tokens every run.
 */
#include "gpu_worker/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int wp_gpu_kind_parse(const char *s, int *kind)
{
    if (strcmp(s, "cpu") == 0)
        *kind = WP_GPU_CPU;
    else if (strcmp(s, "cuda") == 0)
        *kind = WP_GPU_CUDA;
    else if (strcmp(s, "model") == 0)
        *kind = WP_GPU_MODEL;
    else
        return WP_EINVAL;
    return WP_OK;
}

const char *wp_gpu_kind_name(int kind)
{
    switch (kind) {
    case WP_GPU_CPU:
        return "cpu";
    case WP_GPU_CUDA:
        return "cuda";
    case WP_GPU_MODEL:
        return "model (TIMING MODEL)";
    default:
        return "unknown";
    }
}

bool wp_gpu_cuda_built(void)
{
#ifdef WP_GPU_HAVE_CUDA
    return true;
#else
    return false;
#endif
}

int wp_gpu_cuda_device_count(void)
{
#ifdef WP_GPU_HAVE_CUDA
    return wp_gpu__cuda_device_count();
#else
    return 0;
#endif
}

int wp_gpu_cuda_mem_info(uint64_t *free_bytes, uint64_t *total_bytes)
{
#ifdef WP_GPU_HAVE_CUDA
    if (wp_gpu__cuda_device_count() > 0)
        return wp_gpu__cuda_mem_info(free_bytes, total_bytes);
#endif
    *free_bytes = 0;
    *total_bytes = 0;
    return WP_EUNAVAIL;
}

int wp_gpu_kind_default(void)
{
    return wp_gpu_cuda_device_count() > 0 ? WP_GPU_CUDA : WP_GPU_MODEL;
}

#ifdef WP_GPU_HAVE_CUDA
static int cuda_forward_adapter(void *impl, int32_t token, uint32_t pos, float *logits,
                                wp_err *err)
{
    char buf[256] = "";
    int rv = wp_gpu__cuda_forward(impl, token, pos, logits, buf, sizeof buf);
    if (rv != WP_OK)
        return wp_errf(err, rv, "cuda: %s", buf);
    return WP_OK;
}
static const struct wp_gpu_ops cuda_ops = {cuda_forward_adapter, wp_gpu__cuda_free};
#endif

int wp_gpu_model_load(int kind, const char *path, wp_gpu_model **out, wp_err *err)
{
    *out = NULL;
    if (kind != WP_GPU_CPU && kind != WP_GPU_CUDA)
        return wp_errf(err, WP_EINVAL, "backend %s does not load checkpoints",
                       wp_gpu_kind_name(kind));
    if (kind == WP_GPU_CUDA && wp_gpu_cuda_device_count() <= 0)
        return wp_errf(err, WP_EUNAVAIL, "cuda backend unavailable: %s",
                       wp_gpu_cuda_built() ? "no CUDA device" : "built without CUDA");
    uint64_t t0 = wp_clock_monotonic_ns();
    wp_gpu_model *m = calloc(1, sizeof *m);
    if (!m)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    m->kind = kind;
    wp_llama_weights w;
    int rv = wp_llama_load(path, &w, err);
    if (rv != WP_OK) {
        free(m);
        return rv;
    }
    m->cfg = w.cfg;
    m->logits = malloc((size_t)w.cfg.vocab_size * sizeof(float));
    if (!m->logits) {
        wp_llama_free(&w);
        free(m);
        return wp_errf(err, WP_ENOMEM, "out of memory");
    }
    if (kind == WP_GPU_CPU) {
        rv = wp_gpu__cpu_open(&w, &m->impl, &m->mem_bytes, err);
        m->ops = &wp_gpu__cpu_ops;
    } else {
#ifdef WP_GPU_HAVE_CUDA
        char buf[256] = "";
        rv = wp_gpu__cuda_open(&w, &m->impl, &m->mem_bytes, buf, sizeof buf);
        if (rv != WP_OK)
            wp_errf(err, rv, "cuda: %s", buf);
        m->ops = &cuda_ops;
#else
        rv = WP_EUNAVAIL;
#endif
        wp_llama_free(&w); /* the device holds its own copy */
    }
    if (rv != WP_OK) {
        wp_llama_free(&w);
        free(m->logits);
        free(m);
        return wp_err_wrap(err, "%s", path);
    }
    /* Warm-up: one step, so the first request pays no lazy initialisation. */
    rv = m->ops->forward(m->impl, 0, 0, m->logits, err);
    if (rv != WP_OK) {
        wp_gpu_model_unload(m);
        return wp_err_wrap(err, "%s: warm-up", path);
    }
    m->load_ns = wp_clock_monotonic_ns() - t0;
    *out = m;
    return WP_OK;
}

int wp_gpu_model_open_timing(const wp_model_profile *profile, wp_gpu_model **out, wp_err *err)
{
    *out = NULL;
    if (profile->size_bytes == 0 || profile->slots_per_gpu == 0 ||
        !(profile->decode_ms_per_token >= 0) || !(profile->prefill_base_ms >= 0) ||
        !(profile->prefill_ms_per_token >= 0))
        return wp_errf(err, WP_EINVAL, "timing model %s: bad profile", profile->name);
    wp_gpu_model *m = calloc(1, sizeof *m);
    if (!m)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    m->kind = WP_GPU_MODEL;
    m->profile = *profile;
    m->mem_bytes = profile->size_bytes;
    m->load_ns = (uint64_t)llround(wp_model_load_ms(profile) * (double)WP_NS_PER_MS);
    *out = m;
    return WP_OK;
}

void wp_gpu_model_unload(wp_gpu_model *m)
{
    if (!m)
        return;
    if (m->ops && m->impl)
        m->ops->free(m->impl);
    free(m->logits);
    free(m);
}

int wp_gpu_model_kind(const wp_gpu_model *m) { return m->kind; }
uint64_t wp_gpu_model_mem_bytes(const wp_gpu_model *m) { return m->mem_bytes; }
uint64_t wp_gpu_model_load_ns(const wp_gpu_model *m) { return m->load_ns; }
const wp_llama_config *wp_gpu_model_config(const wp_gpu_model *m) { return &m->cfg; }

int wp_gpu_model_forward(wp_gpu_model *m, int32_t token, uint32_t pos, float *logits,
                         wp_err *err)
{
    if (!m->ops)
        return wp_errf(err, WP_EUNSUPPORTED, "the TIMING MODEL computes no logits");
    if (token < 0 || (uint32_t)token >= m->cfg.vocab_size)
        return wp_errf(err, WP_ERANGE, "token %d outside 0..%u", (int)token,
                       (unsigned)m->cfg.vocab_size - 1);
    if (pos >= m->cfg.seq_len)
        return wp_errf(err, WP_ERANGE, "position %u beyond seq_len %u", (unsigned)pos,
                       (unsigned)m->cfg.seq_len);
    return m->ops->forward(m->impl, token, pos, logits, err);
}

double wp_gen_tpot_ns(const wp_gen_result *r, uint32_t steps)
{
    if (steps < 2 || r->total_ns < r->ttft_ns)
        return 0.0;
    return (double)(r->total_ns - r->ttft_ns) / (double)(steps - 1);
}

int wp_gpu_request_check(const wp_gpu_model *m, const wp_gen_request *req, wp_err *err)
{
    if (req->n_prompt < 1 || !req->prompt)
        return wp_errf(err, WP_EINVAL, "the prompt needs at least one token");
    if (req->steps < 1)
        return wp_errf(err, WP_EINVAL, "steps must be at least 1");
    if (!(req->temperature >= 0.0f) || !isfinite(req->temperature))
        return wp_errf(err, WP_EINVAL, "temperature must be a finite number >= 0");
    if (m->kind == WP_GPU_MODEL)
        return WP_OK;
    for (uint32_t i = 0; i < req->n_prompt; i++)
        if (req->prompt[i] < 0 || (uint32_t)req->prompt[i] >= m->cfg.vocab_size)
            return wp_errf(err, WP_ERANGE, "prompt token %d outside the vocabulary 0..%u",
                           (int)req->prompt[i], (unsigned)m->cfg.vocab_size - 1);
    if ((uint64_t)req->n_prompt + req->steps > m->cfg.seq_len)
        return wp_errf(err, WP_ERANGE, "%u prompt tokens + %u steps exceed seq_len %u",
                       (unsigned)req->n_prompt, (unsigned)req->steps, (unsigned)m->cfg.seq_len);
    return WP_OK;
}

static int32_t sample(float *logits, uint32_t n, float temperature, wp_rng *rng)
{
    if (temperature == 0.0f) {
        uint32_t best = 0;
        for (uint32_t i = 1; i < n; i++)
            if (logits[i] > logits[best])
                best = i;
        return (int32_t)best;
    }
    for (uint32_t i = 0; i < n; i++)
        logits[i] /= temperature;
    wp_gpu_softmax(logits, n);
    double coin = wp_rng_uniform(rng), cdf = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        cdf += logits[i];
        if (coin < cdf)
            return (int32_t)i;
    }
    return (int32_t)(n - 1); /* rounding: the remaining mass */
}

static void timing_one(const wp_model_profile *p, const wp_gen_request *req, wp_gen_result *res)
{
    uint32_t in = req->n_prompt, out = req->steps;
    wp_gpu_timing_batch(p, &in, &out, 1, res);
}

int wp_gpu_generate(wp_gpu_model *m, const wp_gen_request *req, wp_gen_result *res, wp_err *err)
{
    int rv = wp_gpu_request_check(m, req, err);
    if (rv != WP_OK)
        return rv;
    if (m->kind == WP_GPU_MODEL) {
        timing_one(&m->profile, req, res);
        return WP_OK;
    }
    res->n_tokens = 0;
    res->modelled = false;
    wp_rng rng;
    wp_rng_seed(&rng, req->seed);
    uint64_t t0 = wp_clock_monotonic_ns();
    uint32_t pos = 0;
    for (; pos < req->n_prompt; pos++) {
        rv = m->ops->forward(m->impl, req->prompt[pos], pos, m->logits, err);
        if (rv != WP_OK)
            return rv;
    }
    for (uint32_t s = 0; s < req->steps; s++) {
        int32_t tok = sample(m->logits, m->cfg.vocab_size, req->temperature, &rng);
        res->tokens[s] = tok;
        res->n_tokens = s + 1;
        uint64_t now = wp_clock_monotonic_ns();
        if (s == 0)
            res->ttft_ns = now - t0;
        res->total_ns = now - t0;
        if (s + 1 < req->steps) {
            rv = m->ops->forward(m->impl, tok, pos++, m->logits, err);
            if (rv != WP_OK)
                return rv;
        }
    }
    return WP_OK;
}

int wp_gpu_run_batch(wp_gpu_model *m, const wp_gen_request *reqs, wp_gen_result *res, size_t n,
                     size_t *failed_index, wp_err *err)
{
    for (size_t i = 0; i < n; i++) {
        int rv = wp_gpu_request_check(m, &reqs[i], err);
        if (rv != WP_OK) {
            if (failed_index)
                *failed_index = i;
            return wp_err_wrap(err, "request %zu", i);
        }
    }
    if (m->kind == WP_GPU_MODEL) {
        uint32_t *in = malloc((n ? n : 1) * 2 * sizeof(uint32_t));
        if (!in)
            return wp_errf(err, WP_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            in[i] = reqs[i].n_prompt;
            in[n + i] = reqs[i].steps;
        }
        wp_gpu_timing_batch(&m->profile, in, in + n, n, res);
        free(in);
        return WP_OK;
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        int rv = wp_gpu_generate(m, &reqs[i], &res[i], err);
        if (rv != WP_OK) {
            if (failed_index)
                *failed_index = i;
            return wp_err_wrap(err, "request %zu", i);
        }
        res[i].ttft_ns += offset;
        res[i].total_ns += offset;
        offset = res[i].total_ns;
    }
    return WP_OK;
}
