/* catalog.c — the default model catalog: what an edge AI platform serves
 * (the simulator's models and the profiles every wp-node starts with).
 *
 * Every figure is an APPROXIMATION for one data-center GPU (H100-class,
 * 80 GB), chosen to be plausible, not measured here:
 *   size_bytes       published parameter count x bytes per parameter
 *                    (16-bit weights: 2 bytes).
 *   prefill_*        time to first token ~ fixed launch/scheduling cost +
 *                    per-input-token cost; an 8B LLM prefills on the order
 *                    of 10^4 tokens/s on one H100, encoders far faster.
 *   decode_ms_per_token  per-stream inter-token time at moderate batching;
 *                    ~80 tokens/s per stream for an 8B LLM is typical of
 *                    published serving benchmarks (vLLM/TensorRT-LLM).
 *   slots_per_gpu    concurrent requests one GPU serves with continuous
 *                    batching before per-request latency degrades.
 *   load_*           cold load: weights read from local NVMe at ~2 GB/s
 *                    plus runtime start (process, CUDA context, warm-up).
 *   typical_*        token counts used when a workload gives none.
 * Speech-to-text counts "input tokens" as encoder frames (Whisper: 1500
 * frames per 30 s clip).
 */
#include "common/common.h"

#include <string.h>

#define GB 1000000000ull

static const wp_model_profile catalog[] = {
    {
        /* Llama 3.1 8B Instruct: 8.03 B parameters x 2 bytes. */
        .name = "llama-3.1-8b-instruct",
        .size_bytes = 16 * GB,
        .prefill_base_ms = 20.0,
        .prefill_ms_per_token = 0.08, /* ~12,500 prompt tokens/s */
        .decode_ms_per_token = 12.0,  /* ~80 tokens/s per stream */
        .slots_per_gpu = 16,
        .load_bytes_per_s = 2e9,
        .load_fixed_ms = 3000.0,
        .typical_in_tokens = 512,
        .typical_out_tokens = 256,
    },
    {
        /* BGE base en v1.5 (embedding): 110 M parameters x 2 bytes. */
        .name = "bge-base-en-v1.5",
        .size_bytes = 220000000ull,
        .prefill_base_ms = 4.0,
        .prefill_ms_per_token = 0.01,
        .decode_ms_per_token = 0.0,
        .slots_per_gpu = 64,
        .load_bytes_per_s = 2e9,
        .load_fixed_ms = 500.0,
        .typical_in_tokens = 256,
        .typical_out_tokens = 1,
    },
    {
        /* DistilBERT SST-2 (sentiment classifier): 67 M x 2 bytes. */
        .name = "distilbert-sst2",
        .size_bytes = 134000000ull,
        .prefill_base_ms = 3.0,
        .prefill_ms_per_token = 0.005,
        .decode_ms_per_token = 0.0,
        .slots_per_gpu = 64,
        .load_bytes_per_s = 2e9,
        .load_fixed_ms = 500.0,
        .typical_in_tokens = 128,
        .typical_out_tokens = 1,
    },
    {
        /* Whisper large-v3-turbo (speech-to-text): 809 M x 2 bytes.
         * First token after encoding a 30 s clip (1500 frames). */
        .name = "whisper-large-v3-turbo",
        .size_bytes = 1618000000ull,
        .prefill_base_ms = 30.0,
        .prefill_ms_per_token = 0.02,
        .decode_ms_per_token = 4.0,
        .slots_per_gpu = 16,
        .load_bytes_per_s = 2e9,
        .load_fixed_ms = 1000.0,
        .typical_in_tokens = 1500,
        .typical_out_tokens = 100,
    },
};

size_t wp_catalog_count(void)
{
    return WP_ARRAY_LEN(catalog);
}

const wp_model_profile *wp_catalog_model(size_t i)
{
    return i < WP_ARRAY_LEN(catalog) ? &catalog[i] : NULL;
}

int wp_catalog_find(const char *name)
{
    for (size_t i = 0; i < WP_ARRAY_LEN(catalog); i++)
        if (strcmp(catalog[i].name, name) == 0)
            return (int)i;
    return -1;
}
