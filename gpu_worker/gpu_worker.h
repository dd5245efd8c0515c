/* gpu_worker/gpu_worker.h — the one public header of warmpath's GPU worker.
 *
 * Four parts:
 *
 *  1. The model format: the public llama2.c checkpoint layout, version 0
 *     (a header of seven little-endian int32, then float32 tensors in a
 *     fixed order). wp_llama_load validates every size against the file
 *     length before it allocates; wp_llama_gen writes a checkpoint with
 *     seeded random weights.
 *
 *  2. The CPU layers (RMSNorm, matmul, RoPE, softmax, attention, SwiGLU),
 *     public so tests can check each one against a naive reference.
 *
 *  3. Backends behind one interface (load, unload, a batched forward pass,
 *     continuous batching of sequences, generate, run a batch, memory in
 *     use):
 *       cpu   — the reference, plain C: one pass multiplies each weight
 *               matrix with every active sequence's row at once, on a small
 *               pool of threads (all cores by default);
 *       cuda  — the same passes with the weights in device memory, cuBLAS
 *               SGEMM + kernels; present only when built with the CUDA
 *               toolkit AND a device exists;
 *       model — a TIMING MODEL: no compute, no tokens; service times come
 *               from a wp_model_profile (common/common.h) and are RETURNED,
 *               never slept — the caller (daemon or simulator) decides how
 *               to wait.
 *     Loading and generation on cpu/cuda are live-world operations: they
 *     read the monotonic clock to measure cold-load time, time to first
 *     token and time per output token.
 *
 *  4. Residency (wp_res): a pure core (no clock, no I/O) that decides which
 *     models are warm on one device: loads on demand or by assignment, LRU
 *     eviction of unpinned idle models when room is needed, memory never
 *     over capacity, requests batched per model. The driver feeds it events
 *     (with the time) and executes the actions it emits. See residency.c.
 *
 * Ownership: objects from *_new / *_load are freed by the matching
 * *_free / *_unload; arrays passed in stay owned by the caller.
 */
#ifndef WP_GPU_WORKER_H
#define WP_GPU_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

/* ================================================================ format */

/* Sanity caps on a checkpoint's dimensions: a header beyond them is
 * refused as absurd before any size arithmetic is trusted. */
#define WP_LLAMA_MAX_DIM 65536
#define WP_LLAMA_MAX_HIDDEN 262144
#define WP_LLAMA_MAX_LAYERS 1024
#define WP_LLAMA_MAX_HEADS 1024
#define WP_LLAMA_MAX_VOCAB (1 << 20)
#define WP_LLAMA_MAX_SEQ (1 << 20)
#define WP_LLAMA_HEADER_BYTES 28u

typedef struct wp_llama_config {
    uint32_t dim;
    uint32_t hidden_dim;
    uint32_t n_layers;
    uint32_t n_heads;
    uint32_t n_kv_heads;
    uint32_t vocab_size;      /* absolute value of the header field */
    uint32_t seq_len;
    bool shared_classifier;   /* header vocab_size > 0 */
} wp_llama_config;

static inline uint32_t wp_llama_head_size(const wp_llama_config *c)
{
    return c->dim / c->n_heads;
}
static inline uint32_t wp_llama_kv_dim(const wp_llama_config *c)
{
    return c->dim / c->n_heads * c->n_kv_heads;
}

/* Checks a configuration (caps, divisibility, even head size) and computes
 * the exact file length it implies, header included, with overflow-checked
 * arithmetic. WP_OK or WP_EINVAL/WP_ERANGE with a one-line reason. */
int wp_llama_config_check(const wp_llama_config *c, uint64_t *file_bytes, wp_err *err);
/* Parameter count (floats, freq_cis tables excluded). Config must be valid. */
uint64_t wp_llama_param_count(const wp_llama_config *c);

/* Decodes and checks the 28-byte header; file_bytes is the file's length
 * and must equal the length the header implies (else WP_ETRUNC when short,
 * WP_EPARSE when long). */
int wp_llama_parse_header(const unsigned char *hdr, size_t len, uint64_t file_bytes,
                          wp_llama_config *out, wp_err *err);

/* Host-resident weights: one float buffer, tensors are views into it. */
typedef struct wp_llama_weights {
    wp_llama_config cfg;
    float *data;            /* every float after the header */
    size_t n_floats;
    const float *tok_emb;   /* vocab x dim */
    const float *rms_att;   /* layers x dim */
    const float *wq;        /* layers x dim x dim (out x in) */
    const float *wk;        /* layers x kv_dim x dim */
    const float *wv;        /* layers x kv_dim x dim */
    const float *wo;        /* layers x dim x dim */
    const float *rms_ffn;   /* layers x dim */
    const float *w1;        /* layers x hidden x dim */
    const float *w2;        /* layers x dim x hidden */
    const float *w3;        /* layers x hidden x dim */
    const float *rms_final; /* dim */
    const float *wcls;      /* vocab x dim (== tok_emb when shared) */
} wp_llama_weights;

int wp_llama_load(const char *path, wp_llama_weights *w, wp_err *err);
void wp_llama_free(wp_llama_weights *w);

/* Writes a version-0 checkpoint with weights ~ N(0, init_std) from a
 * wp_rng seeded with seed, RMS weights 1, the true RoPE tables, and a
 * shared classifier unless cfg->shared_classifier is false. */
int wp_llama_gen(const char *path, const wp_llama_config *cfg, uint64_t seed, double init_std,
                 wp_err *err);

/* ================================================================ CPU layers */

#define WP_RMSNORM_EPS 1e-5f
#define WP_ROPE_THETA 10000.0f

/* out[i] = w[i] * x[i] / sqrt(mean(x^2) + eps). out may alias x. */
void wp_gpu_rmsnorm(float *out, const float *x, const float *w, size_t n);
/* out (d) = W (d x n, row-major) · x (n). out must not alias x. */
void wp_gpu_matmul(float *out, const float *x, const float *w, size_t n, size_t d);
/* Rotary embedding at position pos over pairs (2i, 2i+1) of each head:
 * angle = pos / theta^((2i mod head_size) / head_size). k may be NULL. */
void wp_gpu_rope(float *q, size_t q_dim, float *k, size_t k_dim, size_t head_size, uint32_t pos);
/* In-place numerically stable softmax over n > 0 values. */
void wp_gpu_softmax(float *x, size_t n);
/* Causal multi-head attention for one query position pos over the cached
 * keys/values of one layer (caches are [seq][kv_dim], rows 0..pos valid);
 * query head h reads kv head h / (n_heads / n_kv_heads). att is scratch of
 * pos+1 floats. out has n_heads * head_size floats. */
void wp_gpu_attention(float *out, const float *q, const float *key_cache,
                      const float *value_cache, float *att, uint32_t n_heads,
                      uint32_t n_kv_heads, uint32_t head_size, uint32_t pos);
/* hb[i] = silu(hb[i]) * hb2[i], silu(v) = v / (1 + e^-v). */
void wp_gpu_swiglu(float *hb, const float *hb2, size_t n);

/* ================================================================ backends */

enum wp_gpu_kind { WP_GPU_CPU = 0, WP_GPU_CUDA = 1, WP_GPU_MODEL = 2 };

/* "cpu" | "cuda" | "model" → kind; WP_EINVAL otherwise. */
int wp_gpu_kind_parse(const char *s, int *kind);
/* "cpu", "cuda", "model (TIMING MODEL)". */
const char *wp_gpu_kind_name(int kind);
/* True when built with CUDA. */
bool wp_gpu_cuda_built(void);
/* Number of CUDA devices; 0 without the toolkit, a driver or a device. */
int wp_gpu_cuda_device_count(void);
/* Free and total memory of CUDA device 0; WP_EUNAVAIL without one. */
int wp_gpu_cuda_mem_info(uint64_t *free_bytes, uint64_t *total_bytes);
/* cuda when a device exists, else the timing model (fast, for big clusters). */
int wp_gpu_kind_default(void);

typedef struct wp_gpu_model wp_gpu_model;

/* How a cpu/cuda model runs. Zero fields take the defaults. */
#define WP_GPU_DEFAULT_SEQS 16u
#define WP_GPU_MAX_SEQS 256u
typedef struct wp_gpu_load_opts {
    uint32_t threads;   /* cpu: compute threads (caller included); 0 = all online cores */
    uint32_t max_seqs;  /* sequences decoded together, 1..WP_GPU_MAX_SEQS; 0 = 16 */
} wp_gpu_load_opts;

/* Loads a checkpoint on the cpu or cuda backend: reads the file, copies the
 * weights to the device, and warms up with one forward pass. The measured
 * wall time of all three is the cold start (wp_gpu_model_load_ns).
 * WP_EUNAVAIL for cuda without a device; never starts a timing model.
 * opts may be NULL (defaults). The KV cache of one sequence is allocated
 * now; each further sequence's on its first use (cpu) or now (cuda). */
int wp_gpu_model_load_opts(int kind, const char *path, const wp_gpu_load_opts *opts,
                           wp_gpu_model **out, wp_err *err);
/* wp_gpu_model_load_opts with the defaults. */
int wp_gpu_model_load(int kind, const char *path, wp_gpu_model **out, wp_err *err);
/* A TIMING MODEL "model": no weights, memory = profile->size_bytes, load
 * time = wp_model_load_ms(profile) (modelled, not measured). */
int wp_gpu_model_open_timing(const wp_model_profile *profile, wp_gpu_model **out, wp_err *err);
void wp_gpu_model_unload(wp_gpu_model *m);

int wp_gpu_model_kind(const wp_gpu_model *m);
/* Bytes this model holds on its device (weights + KV cache + activations;
 * for the timing model, the profile's size). */
uint64_t wp_gpu_model_mem_bytes(const wp_gpu_model *m);
/* Cold-start time: measured for cpu/cuda, modelled for the timing model. */
uint64_t wp_gpu_model_load_ns(const wp_gpu_model *m);
/* The checkpoint's config (zeroed for the timing model). */
const wp_llama_config *wp_gpu_model_config(const wp_gpu_model *m);

/* The model's compute threads (cpu; 1 for cuda and the timing model). */
uint32_t wp_gpu_model_threads(const wp_gpu_model *m);
/* Sequences it can decode together (its KV cache slots). */
uint32_t wp_gpu_model_max_seqs(const wp_gpu_model *m);

/* One decoder step of sequence 0: feeds token at position pos (its KV
 * cache must hold positions 0..pos-1) and writes vocab_size logits.
 * cpu/cuda only, and only while no generation is active (WP_ESTATE). */
int wp_gpu_model_forward(wp_gpu_model *m, int32_t token, uint32_t pos, float *logits,
                         wp_err *err);

/* One row of a batched forward pass: token at position pos of sequence
 * seq (a KV cache slot, < wp_gpu_model_max_seqs). logits: vocab_size
 * floats to fill, or NULL when this row's logits are not needed (prefill
 * rows before the last). */
typedef struct wp_gpu_row {
    uint32_t seq;
    int32_t token;
    uint32_t pos;
    float *logits;
} wp_gpu_row;

/* ONE forward pass over n rows (matrix-matrix products: each weight
 * matrix is read once for all rows). Rows of one sequence must have
 * consecutive positions in increasing order, the first at the position
 * after what its cache holds; different sequences are independent.
 * Each row's logits equal those of feeding the same rows one by one
 * (tests/unit/test_gpu_batch.c checks it). cpu/cuda only, not while a
 * generation is active (WP_ESTATE). */
int wp_gpu_model_forward_batch(wp_gpu_model *m, const wp_gpu_row *rows, size_t n, wp_err *err);

typedef struct wp_gen_request {
    const int32_t *prompt;   /* n_prompt >= 1 tokens, each < vocab_size */
    uint32_t n_prompt;
    uint32_t steps;          /* tokens to generate, n_prompt + steps <= seq_len */
    float temperature;       /* 0 = greedy (argmax, lowest index on ties) */
    uint64_t seed;           /* sampling seed when temperature > 0 */
} wp_gen_request;

typedef struct wp_gen_result {
    int32_t *tokens;         /* caller's array of >= steps entries (cpu/cuda) */
    uint32_t n_tokens;       /* generated; 0 for the timing model */
    uint64_t ttft_ns;        /* start → first generated token */
    uint64_t total_ns;       /* start → last generated token */
    bool modelled;           /* true: times from the TIMING MODEL, no compute */
} wp_gen_result;

/* Mean time per output token after the first (0 when steps < 2). */
double wp_gen_tpot_ns(const wp_gen_result *r, uint32_t steps);

/* Checks a request against the model (tokens < vocab, lengths <= seq_len). */
int wp_gpu_request_check(const wp_gpu_model *m, const wp_gen_request *req, wp_err *err);

/* ---- continuous batching (cpu/cuda)
 *
 * A loaded model is a continuous-batching engine: up to max_seqs
 * sequences are active at once, each with its own KV cache slot and
 * position. wp_gpu_seq_start admits a request; it joins at the next step.
 * wp_gpu_step runs ONE forward pass over every active sequence: a decoding
 * sequence contributes one row (its last token), a new one its prompt
 * (prefill; long prompts are split over steps, at most WP_GPU_STEP_ROWS
 * rows per pass). Sequences that reach their step count leave the batch
 * at once and are collected with wp_gpu_seq_done; their slot is free for
 * the next admission. Times are measured: ttft_ns and total_ns run from
 * the wp_gpu_seq_start call. Tokens are those of generating each request
 * alone (same logits, same sampler). One thread drives a model at a time.
 */
#define WP_GPU_STEP_ROWS 256u

/* Admits a request (checked as wp_gpu_request_check); tokens (>= steps
 * entries) and req->prompt stay owned by the caller until the sequence is
 * collected. tag identifies it in wp_gpu_seq_done. WP_EOVERLOAD when
 * max_seqs are active, WP_ENOMEM when its KV cache cannot be allocated,
 * WP_EUNSUPPORTED on the timing model. */
int wp_gpu_seq_start(wp_gpu_model *m, const wp_gen_request *req, int32_t *tokens, uint64_t tag,
                     wp_err *err);
/* One forward pass over all active sequences; WP_OK when none is active.
 * A backend failure ends every active sequence with that error (collected
 * by wp_gpu_seq_done) and is returned. */
int wp_gpu_step(wp_gpu_model *m, wp_err *err);
/* Sequences admitted and not yet finished. */
uint32_t wp_gpu_active(const wp_gpu_model *m);
/* Stops the active sequence tagged tag now: it is finished with
 * WP_ECANCELED (collected by wp_gpu_seq_done like any other) and its slot
 * is free. WP_ENOTFOUND when no active sequence has that tag. */
int wp_gpu_seq_cancel(wp_gpu_model *m, uint64_t tag);
/* Pops one finished sequence (in finishing order): its tag, its error
 * (WP_OK or the backend's), its result (tokens points at the caller's
 * array). False when none is waiting. */
bool wp_gpu_seq_done(wp_gpu_model *m, uint64_t *tag, int *error, wp_gen_result *res);

/* Progress of the active sequences (streaming): up to cap entries, in slot
 * order; returns how many. n_out tokens exist in the caller's tokens array
 * of the sequence; ttft_ns is set once n_out >= 1. */
typedef struct wp_gpu_progress {
    uint64_t tag;
    uint32_t n_out;
    uint64_t ttft_ns;
} wp_gpu_progress;
size_t wp_gpu_seq_progress(const wp_gpu_model *m, wp_gpu_progress *out, size_t cap);

/* Runs one request: cpu/cuda generate and measure (through the engine
 * above, alone); the timing model fills ttft_ns/total_ns from the profile,
 * produces no tokens, and sleeps never. */
int wp_gpu_generate(wp_gpu_model *m, const wp_gen_request *req, wp_gen_result *res,
                    wp_err *err);
/* Runs a batch of requests for the same model. cpu/cuda: continuous
 * batching (all admitted at once, up to max_seqs; the rest join as
 * sequences finish), times from each request's admission; the timing model
 * runs up to slots_per_gpu at once, in waves (see wp_gpu_timing_batch).
 * Every request is checked first: a bad one fails the call before any
 * work (its index in *failed_index when not NULL). The engine must be idle
 * (WP_ESTATE otherwise). */
int wp_gpu_run_batch(wp_gpu_model *m, const wp_gen_request *reqs, wp_gen_result *res, size_t n,
                     size_t *failed_index, wp_err *err);

/* Measured speed of a cpu/cuda model at one batch size: batch requests
 * (distinct prompts of n_prompt tokens, steps greedy tokens each) admitted
 * together into the engine and run to completion. Live-world: reads the
 * clock. batch <= wp_gpu_model_max_seqs; steps >= 2. */
typedef struct wp_gpu_rate {
    uint32_t batch;
    double ttft_ms;          /* median over the batch: admission to first token */
    double tpot_ms;          /* median time per output token after the first (one step) */
    double tokens_per_s;     /* decode throughput of the batch: batch * 1000 / tpot_ms */
    double wall_tokens_per_s; /* batch * steps / wall time of the whole run */
} wp_gpu_rate;
int wp_gpu_measure(wp_gpu_model *m, uint32_t batch, uint32_t n_prompt, uint32_t steps,
                   wp_gpu_rate *out, wp_err *err);

/* Pure TIMING MODEL arithmetic: the service time of a batch of n requests
 * with the given token counts; res[i] gets ttft/total from the batch start.
 * Waves of slots_per_gpu requests run in order; a wave lasts as long as its
 * longest request. Returns the batch's total service time in ns. */
uint64_t wp_gpu_timing_batch(const wp_model_profile *p, const uint32_t *in_tokens,
                             const uint32_t *out_tokens, size_t n, wp_gen_result *res);

/* ================================================================ residency */

/* The residency core for one device. Pure: every entry point takes the
 * time; none reads a clock. Emits actions the driver executes in order:
 *
 *   LOAD   model   start loading; report wp_res_load_done(ok/fail, dur)
 *   UNLOAD model   free its memory now (already subtracted from used)
 *   RUN    model + request ids; report wp_res_batch_done (BATCH model) or
 *          wp_res_run_done per finished request (SLOTS model)
 *   FAIL   one request id + error code (model could not be loaded/fit)
 *
 * A model runs in BATCH mode (default: one batch of up to max_batch at a
 * time) or, after wp_res_set_slots, in SLOTS mode: continuous batching with
 * the simulator's arithmetic — each request starts alone as soon as a slot
 * (WP_ROUTER_GPU_UNITS / slots_per_gpu of the device's gpus x
 * WP_ROUTER_GPU_UNITS work units) is free, in arrival order across the
 * device's models, and ends alone. See residency.c.
 *
 * Invariants (checked by the tests after every call): used <= capacity,
 * where used counts LOADING and WARM models; busy units <= capacity units;
 * a pinned model is never evicted; a model with running or queued
 * requests is never evicted; a failed load frees its reservation and
 * touches no other model.
 */
#define WP_RES_MAX_BATCH 64u
#define WP_RES_MAX_MODELS 256u
#define WP_RES_MAX_GPUS 1024u

enum wp_res_state { WP_RES_COLD = 0, WP_RES_LOADING, WP_RES_WARM };
enum wp_res_action_kind { WP_RES_LOAD = 1, WP_RES_UNLOAD, WP_RES_RUN, WP_RES_FAIL };

typedef struct wp_res_action {
    int kind;
    uint32_t model_index;               /* the model's catalog position (add order) */
    char model[WP_NAME_MAX];
    uint32_t n_reqs;                    /* RUN: batch size; FAIL: 1 */
    uint64_t req_ids[WP_RES_MAX_BATCH]; /* RUN: the batch; FAIL: req_ids[0] */
    int error;                          /* FAIL: why (WP_ENOSPC, WP_EIO, ...) */
} wp_res_action;

typedef struct wp_res_config {
    uint64_t capacity_bytes;  /* device memory the worker may use */
    uint32_t max_batch;       /* 1..WP_RES_MAX_BATCH */
    uint32_t max_queue;       /* per model; a request beyond it fails WP_EOVERLOAD */
    wp_logger log;            /* optional */
    uint32_t gpus;            /* GPUs whose slots SLOTS models share; 0 means 1 */
} wp_res_config;

typedef struct wp_res wp_res;

int wp_res_new(const wp_res_config *cfg, wp_res **out, wp_err *err);
void wp_res_free(wp_res *r);

/* Catalog: a model the worker may serve, with the bytes it occupies. */
int wp_res_add_model(wp_res *r, const char *name, uint64_t mem_bytes, wp_err *err);
/* Placement's assignment: exactly these models are pinned (others unpinned)
 * and loaded now when cold. Unknown names: WP_ENOTFOUND, nothing changed. */
int wp_res_assign(wp_res *r, uint64_t now_ns, const char *const *names, size_t n, wp_err *err);
/* A request for a model: queued; runs now if warm and idle, or triggers a
 * load (evicting LRU unpinned idle models) when cold. WP_ENOTFOUND for an
 * unknown model, WP_EOVERLOAD when its queue is full (nothing queued). */
int wp_res_submit(wp_res *r, uint64_t now_ns, const char *model, uint64_t req_id, wp_err *err);
/* The same with a deadline: start_by_ns is the latest start that can still
 * answer in time (the caller subtracts the model's time to first token and
 * the way back). A request still queued past it is FAILed with
 * WP_ETIMEDOUT when it would start (never run late); UINT64_MAX = none. */
int wp_res_submit_by(wp_res *r, uint64_t now_ns, const char *model, uint64_t req_id,
                     uint64_t start_by_ns, wp_err *err);
/* SLOTS serving order: a queued request's key is its submit time plus its
 * model's offset, and the smallest key starts first (ties: arrival). All
 * offsets 0 (the default) = arrival order. Offsets of class x bound give
 * "shorter service first within a bound" (router/route.c says why). */
int wp_res_set_priority(wp_res *r, const char *model, uint64_t offset_ns, wp_err *err);
/* SLOTS: the model's service time estimate, for the predicted start of a
 * request at submit (wp_res_submit_by refuses one that could not start by
 * its start-by; residency.c's essay). 0 (the default): unknown. */
int wp_res_set_service(wp_res *r, const char *model, uint64_t service_ns, wp_err *err);
/* FAILs (WP_ETIMEDOUT) every queued request whose start-by is before now:
 * it can no longer answer in time, and its ingress learns it at once. */
void wp_res_expire(wp_res *r, uint64_t now_ns);
/* When wp_res_expire next has work: just past the earliest start-by of a
 * queued request; UINT64_MAX when none. O(queued requests). */
uint64_t wp_res_next_expiry_ns(const wp_res *r);
/* A queued request (not a running one) is withdrawn: FAILed with
 * WP_ECANCELED (the ingress gave up on it). WP_ENOTFOUND when it is not
 * queued. O(queued requests). */
int wp_res_cancel(wp_res *r, uint64_t now_ns, uint64_t req_id);
/* FAILs every queued request (not the running ones) with code: a node
 * that stops or drains hard. */
void wp_res_fail_queued(wp_res *r, uint64_t now_ns, int code);
/* The driver's report of a LOAD: ok → warm, queued work runs; failure →
 * cold again, its memory released, its queued requests FAILed with code. */
int wp_res_load_done(wp_res *r, uint64_t now_ns, const char *model, int code,
                     uint64_t load_ns, wp_err *err);
/* The driver's report that the running batch of model finished (SLOTS
 * model: every running request of it finished). */
int wp_res_batch_done(wp_res *r, uint64_t now_ns, const char *model, wp_err *err);
/* SLOTS mode: model's slots_per_gpu (1..WP_ROUTER_GPU_UNITS; 0 = BATCH
 * mode again). Only while the model has nothing queued or running. */
int wp_res_set_slots(wp_res *r, const char *model, uint32_t slots_per_gpu, wp_err *err);
/* The driver's report that n running requests of model finished (SLOTS:
 * any n up to those running; BATCH: n must be the batch's size). Their
 * slots are free at once and the earliest waiting requests start. */
int wp_res_run_done(wp_res *r, uint64_t now_ns, const char *model, uint32_t n, wp_err *err);
/* SLOTS work units: gpus x WP_ROUTER_GPU_UNITS, and those held now. */
uint64_t wp_res_capacity_units(const wp_res *r);
uint64_t wp_res_busy_units(const wp_res *r);

/* Next action to execute; false when none is pending. */
bool wp_res_next_action(wp_res *r, wp_res_action *out);
/* The same without the copy: *out points into the core's queue and stays
 * valid until the next call into this core (for drivers that handle each
 * action without calling back, e.g. the simulator). */
bool wp_res_next_action_ref(wp_res *r, const wp_res_action **out);

/* What gossip needs. */
uint64_t wp_res_capacity_bytes(const wp_res *r);
uint64_t wp_res_used_bytes(const wp_res *r);
uint64_t wp_res_free_bytes(const wp_res *r);
/* Names of warm models (most recently used first) into names[0..max);
 * returns how many are warm in total. */
size_t wp_res_warm_models(const wp_res *r, const char **names, size_t max);
/* Requests queued or running, over all models. */
uint32_t wp_res_queue_depth(const wp_res *r);
/* Requests of one model queued or running (0 for an unknown model): what a
 * node puts in its load report (router.h, wp_load_report); free units for
 * the report are wp_res_capacity_units - wp_res_busy_units. */
uint32_t wp_res_model_inflight(const wp_res *r, const char *model);
/* The same split: waiting to start, and started (0s for an unknown model). */
void wp_res_model_counts(const wp_res *r, const char *model, uint32_t *queued, uint32_t *running);
int wp_res_model_state(const wp_res *r, const char *model);  /* -1 unknown */
bool wp_res_model_pinned(const wp_res *r, const char *model);

typedef struct wp_res_stats {
    uint64_t loads;           /* LOADs emitted */
    uint64_t load_failures;
    uint64_t evictions;       /* UNLOADs emitted to make room */
    uint64_t batches;
    uint64_t requests_failed;
    uint64_t expired;         /* of those: dropped past their start-by time */
    uint64_t refused;         /* refused at submit: predicted to start too late */
    uint64_t last_load_ns;    /* the last successful cold start, as reported */
    uint64_t total_load_ns;
} wp_res_stats;
void wp_res_get_stats(const wp_res *r, wp_res_stats *out);

/* ================================================================ worker */

/* The live-world driver a node embeds: one device, one backend kind, a
 * residency core, and the backend models it loads. It executes the core's
 * actions: on cpu/cuda a LOAD reads the checkpoint now (measured: the real
 * cold start) and a RUN generates now, so those calls block for as long as
 * the work takes (run them off the event loop); on the TIMING MODEL nothing
 * blocks: loads and requests finish at a computed time, and
 * wp_gpu_worker_advance returns when it next has something due. The TIMING
 * MODEL batches continuously like the simulator (SLOTS mode, see wp_res):
 * each request starts when one of the profile's slots_per_gpu x gpus slots
 * is free and gets ttft/total (wp_model_ttft_ms / wp_model_total_ms) from
 * its own start, completing at start + total. cpu/cuda batch
 * continuously too, for real: each model is a wp_gpu_seq_start engine of
 * max_batch sequences (SLOTS mode with max_batch slots on one device); a
 * request joins the batch when a slot is free and each advance runs ONE
 * forward pass of every model with active sequences, then returns now_ns
 * (call again at once; submit between calls, new requests join at the
 * next step) or UINT64_MAX when idle. ttft/total are measured from the
 * request's admission to the batch.
 * Completions arrive through on_done, exactly once per accepted request. */
typedef void (*wp_gpu_done_fn)(void *ctx, uint64_t req_id, int error, const wp_gen_result *res);
/* Streaming (optional): n_tokens of req_id's output exist (cpu/cuda: in
 * its tokens array, reported after every step while it runs; the TIMING
 * MODEL: n_tokens = 1 once, at start + the modelled ttft, through a timer
 * like its completion, so both are measured the same way downstream).
 * ttft_ns runs from the request's start. Never after on_done for it. */
typedef void (*wp_gpu_progress_fn)(void *ctx, uint64_t req_id, uint32_t n_tokens,
                                   uint64_t ttft_ns);

typedef struct wp_gpu_worker_config {
    int kind;                 /* WP_GPU_CPU | WP_GPU_CUDA | WP_GPU_MODEL */
    uint64_t capacity_bytes;  /* device memory the worker may fill */
    uint32_t max_batch;       /* cpu/cuda: sequences decoded together (<= WP_GPU_MAX_SEQS) */
    uint32_t max_queue;       /* per model */
    wp_gpu_done_fn on_done;
    void *ctx;
    wp_logger log;
    uint32_t gpus;            /* TIMING MODEL: GPUs whose slots it has; 0 means 1 */
    uint32_t threads;         /* cpu: compute threads per model; 0 = all online cores */
    wp_gpu_progress_fn on_progress; /* optional */
} wp_gpu_worker_config;

typedef struct wp_gpu_worker wp_gpu_worker;

int wp_gpu_worker_new(const wp_gpu_worker_config *cfg, wp_gpu_worker **out, wp_err *err);
/* Unloads every model; pending requests get no completion. */
void wp_gpu_worker_free(wp_gpu_worker *w);
/* Catalog entry. cpu/cuda: path to a checkpoint (its header is read now to
 * size the model: weights + activations + max_batch sequences' KV caches);
 * the timing model: profile (size_bytes is its memory). */
int wp_gpu_worker_add_model(wp_gpu_worker *w, const char *name, const char *path,
                            const wp_model_profile *profile, wp_err *err);
/* Accepts a request: req->prompt and tokens (>= req->steps entries) stay
 * owned by the caller and must live until on_done for req_id. */
int wp_gpu_worker_submit(wp_gpu_worker *w, uint64_t now_ns, const char *model, uint64_t req_id,
                         const wp_gen_request *req, int32_t *tokens, wp_err *err);
/* The same with the latest start (wp_res_submit_by): a request that could
 * not start by start_by_ns completes with WP_ETIMEDOUT, never runs late. */
int wp_gpu_worker_submit_by(wp_gpu_worker *w, uint64_t now_ns, const char *model,
                            uint64_t req_id, const wp_gen_request *req, int32_t *tokens,
                            uint64_t start_by_ns, wp_err *err);
/* Withdraws a request the caller gave up on: a queued one is FAILed, a
 * running one is stopped (cpu/cuda: its sequence leaves the batch at once;
 * the timing model: its slot is free now); either way it completes once,
 * with WP_ECANCELED: a queued one or a cpu/cuda one on the next advance, a
 * running timing-model one inside this call. WP_ENOTFOUND for an unknown
 * or already completed id. */
int wp_gpu_worker_cancel(wp_gpu_worker *w, uint64_t now_ns, uint64_t req_id);
/* cpu/cuda: the speed measured right after a model's load (one request of
 * 16 prompt tokens and 8 output tokens, or less on a short context); false
 * when the model has not been loaded and measured. */
bool wp_gpu_worker_warmup(const wp_gpu_worker *w, const char *model, wp_gpu_rate *out);
/* The model's serving offset (wp_res_set_priority). */
int wp_gpu_worker_set_priority(wp_gpu_worker *w, const char *model, uint64_t offset_ns,
                               wp_err *err);
/* Placement's assignment (pinned models), as wp_res_assign. */
int wp_gpu_worker_assign(wp_gpu_worker *w, uint64_t now_ns, const char *const *names, size_t n,
                         wp_err *err);
/* Executes pending actions and everything due at or before now_ns; returns
 * the time of the next due event (UINT64_MAX: none; call again on the next
 * submit or assignment). */
uint64_t wp_gpu_worker_advance(wp_gpu_worker *w, uint64_t now_ns);
/* The residency core, for gossip (free bytes, warm models, queue depth). */
const wp_res *wp_gpu_worker_res(const wp_gpu_worker *w);

/* Memory a loaded cpu/cuda model holds with one sequence: weights + KV
 * cache + activations. */
uint64_t wp_llama_mem_bytes(const wp_llama_config *c);
/* The KV cache of one more sequence (keys and values, every layer). The
 * worker reserves wp_llama_mem_bytes + (max_batch - 1) x this per model. */
uint64_t wp_llama_seq_bytes(const wp_llama_config *c);
/* Reads and checks only the header of a checkpoint (and its length). */
int wp_llama_read_config(const char *path, wp_llama_config *out, wp_err *err);

#endif /* WP_GPU_WORKER_H */
