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
 *
 * Continuous batching (cpu/cuda): a loaded model holds max_seqs sequence
 * slots. wp_gpu_step lays out one row per decoding sequence (its last
 * token at its next position) and, with the room left under
 * WP_GPU_STEP_ROWS, the next prompt tokens of sequences still in prefill
 * (only a prompt's last row asks for logits), in admission order, and runs
 * ONE backend forward pass over all of them. Each sequence that got logits
 * samples its next token with its own sampler; one that has its steps
 * leaves at once. wp_gpu_generate and wp_gpu_run_batch are this engine
 * driven to completion, so a request's tokens do not depend on what else
 * was in the batch (the backends' batched pass computes each row exactly
 * as alone).
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
static int cuda_forward_adapter(void *impl, const wp_gpu_row *rows, size_t n, wp_err *err)
{
    char buf[256] = "";
    int rv = wp_gpu__cuda_forward(impl, rows, n, buf, sizeof buf);
    if (rv != WP_OK)
        return wp_errf(err, rv, "cuda: %s", buf);
    return WP_OK;
}
static int cuda_reserve(void *impl, uint32_t seq, wp_err *err)
{
    (void)impl;
    (void)seq;
    (void)err;
    return WP_OK; /* every slot's cache is allocated at open */
}
static const struct wp_gpu_ops cuda_ops = {cuda_forward_adapter, cuda_reserve,
                                           wp_gpu__cuda_mem_bytes, wp_gpu__cuda_free};
#endif

int wp_gpu_model_load(int kind, const char *path, wp_gpu_model **out, wp_err *err)
{
    return wp_gpu_model_load_opts(kind, path, NULL, out, err);
}

int wp_gpu_model_load_opts(int kind, const char *path, const wp_gpu_load_opts *opts,
                           wp_gpu_model **out, wp_err *err)
{
    *out = NULL;
    if (kind != WP_GPU_CPU && kind != WP_GPU_CUDA)
        return wp_errf(err, WP_EINVAL, "backend %s does not load checkpoints",
                       wp_gpu_kind_name(kind));
    uint32_t max_seqs = opts && opts->max_seqs ? opts->max_seqs : WP_GPU_DEFAULT_SEQS;
    uint32_t threads = opts ? opts->threads : 0;
    if (max_seqs > WP_GPU_MAX_SEQS)
        return wp_errf(err, WP_EINVAL, "max_seqs %u above %u", (unsigned)max_seqs,
                       WP_GPU_MAX_SEQS);
    if (kind == WP_GPU_CUDA && wp_gpu_cuda_device_count() <= 0)
        return wp_errf(err, WP_EUNAVAIL, "cuda backend unavailable: %s",
                       wp_gpu_cuda_built() ? "no CUDA device" : "built without CUDA");
    uint64_t t0 = wp_clock_monotonic_ns();
    wp_gpu_model *m = calloc(1, sizeof *m);
    if (!m)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    m->kind = kind;
    m->max_seqs = max_seqs;
    wp_llama_weights w;
    int rv = wp_llama_load(path, &w, err);
    if (rv != WP_OK) {
        free(m);
        return rv;
    }
    m->cfg = w.cfg;
    m->seqs = calloc(max_seqs, sizeof *m->seqs);
    m->done = calloc(max_seqs, sizeof *m->done);
    m->rows = calloc(WP_GPU_STEP_ROWS + max_seqs, sizeof *m->rows);
    if (!m->seqs || !m->done || !m->rows) {
        wp_llama_free(&w);
        wp_gpu_model_unload(m);
        return wp_errf(err, WP_ENOMEM, "out of memory");
    }
    if (kind == WP_GPU_CPU) {
        rv = wp_gpu__cpu_open(&w, threads, max_seqs, &m->impl, err);
        if (rv == WP_OK) {
            m->ops = &wp_gpu__cpu_ops;
            m->threads = wp_gpu__cpu_threads(m->impl);
        }
    } else {
#ifdef WP_GPU_HAVE_CUDA
        char buf[256] = "";
        rv = wp_gpu__cuda_open(&w, max_seqs, &m->impl, buf, sizeof buf);
        if (rv != WP_OK)
            wp_errf(err, rv, "cuda: %s", buf);
        else
            m->ops = &cuda_ops;
        m->threads = 1;
#else
        rv = WP_EUNAVAIL;
#endif
    }
    wp_llama_free(&w); /* moved into the cpu model, or copied to the device */
    if (rv != WP_OK) {
        wp_gpu_model_unload(m);
        return wp_err_wrap(err, "%s", path);
    }
    /* Warm-up: one step, so the first request pays no lazy initialisation. */
    float *lg = malloc((size_t)m->cfg.vocab_size * sizeof(float));
    wp_gpu_row row = {0, 0, 0, lg};
    rv = lg ? m->ops->forward(m->impl, &row, 1, err) : wp_errf(err, WP_ENOMEM, "out of memory");
    free(lg);
    if (rv != WP_OK) {
        wp_gpu_model_unload(m);
        return wp_err_wrap(err, "%s: warm-up", path);
    }
    m->mem_bytes = m->ops->mem_bytes(m->impl);
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
    for (uint32_t s = 0; m->seqs && s < m->max_seqs; s++)
        free(m->seqs[s].logits);
    free(m->seqs);
    free(m->done);
    free(m->rows);
    free(m);
}

int wp_gpu_model_kind(const wp_gpu_model *m) { return m->kind; }
uint64_t wp_gpu_model_mem_bytes(const wp_gpu_model *m)
{
    return m->ops ? m->ops->mem_bytes(m->impl) : m->mem_bytes;
}
uint32_t wp_gpu_model_threads(const wp_gpu_model *m) { return m->ops ? m->threads : 1; }
uint32_t wp_gpu_model_max_seqs(const wp_gpu_model *m) { return m->max_seqs; }
uint64_t wp_gpu_model_load_ns(const wp_gpu_model *m) { return m->load_ns; }
const wp_llama_config *wp_gpu_model_config(const wp_gpu_model *m) { return &m->cfg; }

int wp_gpu_model_forward_batch(wp_gpu_model *m, const wp_gpu_row *rows, size_t n, wp_err *err)
{
    if (!m->ops)
        return wp_errf(err, WP_EUNSUPPORTED, "the TIMING MODEL computes no logits");
    if (m->n_active)
        return wp_errf(err, WP_ESTATE, "%u sequences are being generated",
                       (unsigned)m->n_active);
    if (n == 0)
        return WP_OK;
    if (n > WP_GPU_STEP_ROWS + WP_GPU_MAX_SEQS)
        return wp_errf(err, WP_ETOOBIG, "%zu rows in one pass (at most %u)", n,
                       WP_GPU_STEP_ROWS + WP_GPU_MAX_SEQS);
    for (size_t r = 0; r < n; r++) {
        const wp_gpu_row *row = &rows[r];
        if (row->token < 0 || (uint32_t)row->token >= m->cfg.vocab_size)
            return wp_errf(err, WP_ERANGE, "token %d outside 0..%u", (int)row->token,
                           (unsigned)m->cfg.vocab_size - 1);
        if (row->pos >= m->cfg.seq_len)
            return wp_errf(err, WP_ERANGE, "position %u beyond seq_len %u", (unsigned)row->pos,
                           (unsigned)m->cfg.seq_len);
        if (row->seq >= m->max_seqs)
            return wp_errf(err, WP_ERANGE, "sequence %u beyond %u slots", (unsigned)row->seq,
                           (unsigned)m->max_seqs);
        for (size_t p = 0; p < r; p++) /* quadratic, but n is small */
            if (rows[p].seq == row->seq && rows[p].pos >= row->pos)
                return wp_errf(err, WP_EINVAL, "rows of sequence %u out of order",
                               (unsigned)row->seq);
        int rv = m->ops->reserve(m->impl, row->seq, err);
        if (rv != WP_OK)
            return rv;
    }
    return m->ops->forward(m->impl, rows, n, err);
}

int wp_gpu_model_forward(wp_gpu_model *m, int32_t token, uint32_t pos, float *logits,
                         wp_err *err)
{
    wp_gpu_row row = {0, token, pos, logits};
    return wp_gpu_model_forward_batch(m, &row, 1, err);
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
        /* The first index of the largest logit, in two passes the compiler
         * vectorises (16 running maxima, then the first equal entry): the
         * one-pass index search is a serial chain over the vocabulary, for
         * every sequence of a step. A NaN never wins (a NaN at index 0 did). */
        float lane[16];
        uint32_t i = 0;
        for (int k = 0; k < 16; k++)
            lane[k] = -INFINITY;
        for (; i + 16 <= n; i += 16)
            for (int k = 0; k < 16; k++)
                lane[k] = logits[i + k] > lane[k] ? logits[i + k] : lane[k];
        float mx = -INFINITY;
        for (int k = 0; k < 16; k++)
            mx = lane[k] > mx ? lane[k] : mx;
        for (; i < n; i++)
            mx = logits[i] > mx ? logits[i] : mx;
        for (uint32_t j = 0; j < n; j++)
            if (logits[j] == mx)
                return (int32_t)j;
        return 0; /* every logit NaN: index 0 */
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

int wp_gpu_seq_start(wp_gpu_model *m, const wp_gen_request *req, int32_t *tokens, uint64_t tag,
                     wp_err *err)
{
    if (!m->ops)
        return wp_errf(err, WP_EUNSUPPORTED, "the TIMING MODEL runs no sequences");
    int rv = wp_gpu_request_check(m, req, err);
    if (rv != WP_OK)
        return rv;
    if (!tokens)
        return wp_errf(err, WP_EINVAL, "no token buffer");
    /* Room for one more finished sequence is guaranteed: done holds at
     * most max_seqs, and active + done never exceeds it. */
    if (m->n_active + m->n_done >= m->max_seqs)
        return wp_errf(err, WP_EOVERLOAD, "%u sequences active or uncollected (at most %u)",
                       (unsigned)(m->n_active + m->n_done), (unsigned)m->max_seqs);
    uint32_t slot = 0;
    while (m->seqs[slot].used) /* a free slot exists: n_active < max_seqs */
        slot++;
    wp_gpu_seq *s = &m->seqs[slot];
    if (!s->logits) {
        s->logits = malloc((size_t)m->cfg.vocab_size * sizeof(float));
        if (!s->logits)
            return wp_errf(err, WP_ENOMEM, "out of memory");
    }
    rv = m->ops->reserve(m->impl, slot, err);
    if (rv != WP_OK)
        return rv;
    float *lg = s->logits;
    memset(s, 0, sizeof *s);
    s->used = true;
    s->logits = lg;
    s->tag = tag;
    s->req = *req;
    s->tokens = tokens;
    s->admit_seq = m->admit_counter++;
    wp_rng_seed(&s->rng, req->seed);
    s->start_ns = wp_clock_monotonic_ns();
    m->n_active++;
    return WP_OK;
}

uint32_t wp_gpu_active(const wp_gpu_model *m) { return m->n_active; }

size_t wp_gpu_seq_progress(const wp_gpu_model *m, wp_gpu_progress *out, size_t cap)
{
    size_t n = 0;
    for (uint32_t i = 0; i < m->max_seqs && n < cap && m->seqs; i++)
        if (m->seqs[i].used)
            out[n++] = (wp_gpu_progress){m->seqs[i].tag, m->seqs[i].n_out, m->seqs[i].ttft_ns};
    return n;
}

static void seq_finish(wp_gpu_model *m, uint32_t slot, int error)
{
    wp_gpu_seq *s = &m->seqs[slot];
    wp_gpu_done *d = &m->done[m->n_done++];
    d->tag = s->tag;
    d->error = error;
    d->res = (wp_gen_result){.tokens = s->tokens,
                             .n_tokens = s->n_out,
                             .ttft_ns = s->ttft_ns,
                             .total_ns = s->total_ns,
                             .modelled = false};
    s->used = false;
    m->n_active--;
}

int wp_gpu_seq_cancel(wp_gpu_model *m, uint64_t tag)
{
    for (uint32_t i = 0; m->seqs && i < m->max_seqs; i++)
        if (m->seqs[i].used && m->seqs[i].tag == tag) {
            seq_finish(m, i, WP_ECANCELED);
            return WP_OK;
        }
    return WP_ENOTFOUND;
}

bool wp_gpu_seq_done(wp_gpu_model *m, uint64_t *tag, int *error, wp_gen_result *res)
{
    if (m->n_done == 0)
        return false;
    *tag = m->done[0].tag;
    *error = m->done[0].error;
    *res = m->done[0].res;
    memmove(m->done, m->done + 1, (m->n_done - 1) * sizeof *m->done);
    m->n_done--;
    return true;
}

/* Active slots in admission order (slots[] holds n_active entries). */
static uint32_t admission_order(const wp_gpu_model *m, uint32_t *slots)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->max_seqs; i++) {
        if (!m->seqs[i].used)
            continue;
        uint32_t j = n++;
        while (j > 0 && m->seqs[slots[j - 1]].admit_seq > m->seqs[i].admit_seq) {
            slots[j] = slots[j - 1];
            j--;
        }
        slots[j] = i;
    }
    return n;
}

int wp_gpu_step(wp_gpu_model *m, wp_err *err)
{
    if (!m->ops || m->n_active == 0)
        return WP_OK;
    uint32_t order[WP_GPU_MAX_SEQS];
    uint32_t na = admission_order(m, order);
    /* Decoding sequences first (one row each), then prefill chunks. */
    size_t n = 0, budget = WP_GPU_STEP_ROWS;
    for (uint32_t k = 0; k < na; k++) {
        wp_gpu_seq *s = &m->seqs[order[k]];
        if (s->fed < s->req.n_prompt)
            continue;
        m->rows[n++] = (wp_gpu_row){order[k], s->tokens[s->n_out - 1], s->fed, s->logits};
        s->fed++;
        budget = budget > 0 ? budget - 1 : 0;
    }
    for (uint32_t k = 0; k < na; k++) {
        wp_gpu_seq *s = &m->seqs[order[k]];
        /* A decode row always runs; prefill takes what is left, at least
         * one row when nothing else runs. */
        while (s->fed < s->req.n_prompt && (budget > 0 || n == 0)) {
            bool last = s->fed + 1 == s->req.n_prompt;
            m->rows[n++] = (wp_gpu_row){order[k], s->req.prompt[s->fed], s->fed,
                                        last ? s->logits : NULL};
            s->fed++;
            budget = budget > 0 ? budget - 1 : 0;
        }
    }
    int rv = m->ops->forward(m->impl, m->rows, n, err);
    uint64_t now = wp_clock_monotonic_ns();
    if (rv != WP_OK) {
        for (uint32_t k = 0; k < na; k++)
            seq_finish(m, order[k], rv);
        return rv;
    }
    for (size_t r = 0; r < n; r++) {
        if (!m->rows[r].logits)
            continue;
        uint32_t slot = m->rows[r].seq;
        wp_gpu_seq *s = &m->seqs[slot];
        int32_t tok = sample(s->logits, m->cfg.vocab_size, s->req.temperature, &s->rng);
        s->tokens[s->n_out++] = tok;
        if (s->n_out == 1)
            s->ttft_ns = now - s->start_ns;
        s->total_ns = now - s->start_ns;
        if (s->n_out == s->req.steps)
            seq_finish(m, slot, WP_OK);
    }
    return WP_OK;
}

/* Drives the engine until every request of reqs[0..n) finished, admitting
 * each as soon as a slot is free. The engine must be idle. */
static int run_engine(wp_gpu_model *m, const wp_gen_request *reqs, wp_gen_result *res, size_t n,
                      size_t *failed_index, wp_err *err)
{
    if (m->n_active || m->n_done)
        return wp_errf(err, WP_ESTATE, "%u sequences are being generated",
                       (unsigned)(m->n_active + m->n_done));
    size_t next = 0, finished = 0;
    int first_rv = WP_OK;
    while (finished < n) {
        while (next < n && m->n_active + m->n_done < m->max_seqs) {
            int rv = wp_gpu_seq_start(m, &reqs[next], res[next].tokens, next, err);
            if (rv != WP_OK) { /* checked before: only ENOMEM gets here */
                if (failed_index)
                    *failed_index = next;
                first_rv = rv;
                n = next; /* admit no more; finish those running */
                break;
            }
            next++;
        }
        if (m->n_active == 0 && m->n_done == 0)
            break;
        int rv = wp_gpu_step(m, err);
        if (rv != WP_OK && first_rv == WP_OK)
            first_rv = rv;
        uint64_t tag;
        int e;
        wp_gen_result r;
        while (wp_gpu_seq_done(m, &tag, &e, &r)) {
            res[tag] = r;
            finished++;
            if (e != WP_OK && first_rv == WP_OK) {
                first_rv = e;
                if (failed_index)
                    *failed_index = (size_t)tag;
            }
        }
    }
    return first_rv;
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
    return run_engine(m, req, res, 1, NULL, err);
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
    for (size_t i = 0; i < n; i++) {
        res[i].n_tokens = 0;
        res[i].modelled = false;
    }
    return run_engine(m, reqs, res, n, failed_index, err);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int wp_gpu_measure(wp_gpu_model *m, uint32_t batch, uint32_t n_prompt, uint32_t steps,
                   wp_gpu_rate *out, wp_err *err)
{
    memset(out, 0, sizeof *out);
    if (!m->ops)
        return wp_errf(err, WP_EUNSUPPORTED, "the TIMING MODEL cannot be measured");
    if (batch < 1 || batch > m->max_seqs || steps < 2 || n_prompt < 1 ||
        (uint64_t)n_prompt + steps > m->cfg.seq_len)
        return wp_errf(err, WP_EINVAL,
                       "measure: need 1 <= batch <= %u, steps >= 2, prompt >= 1, "
                       "prompt + steps <= %u",
                       (unsigned)m->max_seqs, (unsigned)m->cfg.seq_len);
    size_t nt = (size_t)batch * (n_prompt + steps);
    int32_t *buf = malloc(nt * sizeof *buf);
    wp_gen_request *reqs = calloc(batch, sizeof *reqs);
    wp_gen_result *res = calloc(batch, sizeof *res);
    double *ttft = malloc(2 * (size_t)batch * sizeof *ttft);
    int rv = WP_OK;
    if (!buf || !reqs || !res || !ttft) {
        rv = wp_errf(err, WP_ENOMEM, "out of memory");
        goto out;
    }
    for (uint32_t b = 0; b < batch; b++) {
        int32_t *prompt = buf + (size_t)b * (n_prompt + steps);
        for (uint32_t i = 0; i < n_prompt; i++)
            prompt[i] = (int32_t)(1 + ((uint64_t)b * 131 + (uint64_t)i * 37) %
                                          (m->cfg.vocab_size > 1 ? m->cfg.vocab_size - 1 : 1));
        reqs[b] = (wp_gen_request){prompt, n_prompt, steps, 0.0f, 0};
        res[b].tokens = prompt + n_prompt;
    }
    uint64_t t0 = wp_clock_monotonic_ns();
    rv = wp_gpu_run_batch(m, reqs, res, batch, NULL, err);
    uint64_t wall = wp_clock_monotonic_ns() - t0;
    if (rv != WP_OK)
        goto out;
    double *tpot = ttft + batch;
    for (uint32_t b = 0; b < batch; b++) {
        ttft[b] = (double)res[b].ttft_ns / 1e6;
        tpot[b] = wp_gen_tpot_ns(&res[b], steps) / 1e6;
    }
    qsort(ttft, batch, sizeof *ttft, cmp_double);
    qsort(tpot, batch, sizeof *tpot, cmp_double);
    out->batch = batch;
    out->ttft_ms = ttft[batch / 2];
    out->tpot_ms = tpot[batch / 2];
    out->tokens_per_s = out->tpot_ms > 0 ? batch * 1000.0 / out->tpot_ms : 0.0;
    out->wall_tokens_per_s = wall > 0 ? (double)batch * steps * 1e9 / (double)wall : 0.0;
out:
    free(buf);
    free(reqs);
    free(res);
    free(ttft);
    return rv;
}
