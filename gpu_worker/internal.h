/* gpu_worker/internal.h — private to gpu_worker/: the backend vtable and the
 * entry points of each backend. Not installed, not included elsewhere. */
#ifndef WP_GPU_INTERNAL_H
#define WP_GPU_INTERNAL_H

#include "gpu_worker/gpu_worker.h"

struct wp_gpu_ops {
    /* One decoder step: writes vocab_size logits to host memory. */
    int (*forward)(void *impl, int32_t token, uint32_t pos, float *logits, wp_err *err);
    void (*free)(void *impl);
};

struct wp_gpu_model {
    int kind;
    const struct wp_gpu_ops *ops; /* NULL for the timing model */
    void *impl;
    wp_llama_config cfg;
    uint64_t mem_bytes;
    uint64_t load_ns;
    wp_model_profile profile;     /* timing model only */
    float *logits;                /* host scratch, vocab_size floats */
};

/* CPU backend: takes ownership of *w (moved in; *w is zeroed on success). */
int wp_gpu__cpu_open(wp_llama_weights *w, void **impl, uint64_t *mem_bytes, wp_err *err);
extern const struct wp_gpu_ops wp_gpu__cpu_ops;

#ifdef WP_GPU_HAVE_CUDA
#ifdef __cplusplus
extern "C" {
#endif
/* CUDA backend (cuda.cu). Copies the host weights to device memory; the
 * caller keeps and frees w. Messages go to errbuf (one line). */
int wp_gpu__cuda_device_count(void);
int wp_gpu__cuda_mem_info(uint64_t *free_bytes, uint64_t *total_bytes);
int wp_gpu__cuda_open(const wp_llama_weights *w, void **impl, uint64_t *mem_bytes, char *errbuf,
                      size_t errlen);
int wp_gpu__cuda_forward(void *impl, int32_t token, uint32_t pos, float *logits, char *errbuf,
                         size_t errlen);
void wp_gpu__cuda_free(void *impl);
#ifdef __cplusplus
}
#endif
#endif

#endif
