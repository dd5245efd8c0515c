/* gpu_worker/internal.h — private to gpu_worker/: the backend vtable and the
 * entry points of each backend. Not installed, not included elsewhere. */
#ifndef WP_GPU_INTERNAL_H
#define WP_GPU_INTERNAL_H

#include "gpu_worker/gpu_worker.h"

struct wp_gpu_ops {
    /* One forward pass over n rows (see wp_gpu_model_forward_batch; rows
     * are already range-checked); logits go to host memory. */
    int (*forward)(void *impl, const wp_gpu_row *rows, size_t n, wp_err *err);
    /* Makes sure sequence seq's KV cache exists (allocating it if needed). */
    int (*reserve)(void *impl, uint32_t seq, wp_err *err);
    /* Bytes held now: weights + KV caches allocated + activations. */
    uint64_t (*mem_bytes)(const void *impl);
    void (*free)(void *impl);
};

/* One active sequence of the continuous-batching engine (backend.c). */
typedef struct wp_gpu_seq {
    bool used;
    uint64_t tag;
    wp_gen_request req;
    int32_t *tokens;
    uint32_t fed;        /* positions already in its KV cache */
    uint32_t n_out;      /* tokens generated */
    uint64_t start_ns;
    uint64_t ttft_ns, total_ns;
    uint64_t admit_seq;  /* admission order: rows are laid out in it */
    wp_rng rng;
    float *logits;       /* vocab_size floats, allocated on the slot's first use */
} wp_gpu_seq;

typedef struct wp_gpu_done {
    uint64_t tag;
    int error;
    wp_gen_result res;
} wp_gpu_done;

struct wp_gpu_model {
    int kind;
    const struct wp_gpu_ops *ops; /* NULL for the timing model */
    void *impl;
    wp_llama_config cfg;
    uint64_t mem_bytes;
    uint64_t load_ns;
    wp_model_profile profile;     /* timing model only */
    uint32_t threads, max_seqs;
    wp_gpu_seq *seqs;             /* max_seqs slots */
    uint32_t n_active;
    uint64_t admit_counter;
    wp_gpu_done *done;            /* finished, not yet collected (<= max_seqs) */
    size_t n_done;
    wp_gpu_row *rows;             /* WP_GPU_STEP_ROWS + max_seqs scratch rows */
};

/* CPU backend: takes ownership of *w (moved in; *w is zeroed on success). */
int wp_gpu__cpu_open(wp_llama_weights *w, uint32_t threads, uint32_t max_seqs, void **impl,
                     wp_err *err);
extern const struct wp_gpu_ops wp_gpu__cpu_ops;
uint32_t wp_gpu__cpu_threads(const void *impl);

#ifdef WP_GPU_HAVE_CUDA
#ifdef __cplusplus
extern "C" {
#endif
/* CUDA backend (cuda.cu). Copies the host weights to device memory; the
 * caller keeps and frees w. Messages go to errbuf (one line). */
int wp_gpu__cuda_device_count(void);
int wp_gpu__cuda_mem_info(uint64_t *free_bytes, uint64_t *total_bytes);
int wp_gpu__cuda_open(const wp_llama_weights *w, uint32_t max_seqs, void **impl, char *errbuf,
                      size_t errlen);
int wp_gpu__cuda_forward(void *impl, const wp_gpu_row *rows, size_t n, char *errbuf,
                         size_t errlen);
uint64_t wp_gpu__cuda_mem_bytes(const void *impl);
void wp_gpu__cuda_free(void *impl);
#ifdef __cplusplus
}
#endif
#endif

#endif
