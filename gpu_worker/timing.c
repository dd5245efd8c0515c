/* timing.c — the TIMING MODEL's pure arithmetic: service times of a batch
 * from a wp_model_profile (common/common.h). No clock, no compute, no sleep:
 * the simulator and the daemon decide how to wait. Kept in its own file so
 * a program that needs only this (the simulator) pulls in no backend code
 * and no CUDA from the static library.
 *
 * A GPU serves up to slots_per_gpu requests of the model at once. A batch
 * of n requests runs in waves of slots_per_gpu, in order; a wave lasts as
 * long as its longest request; request j of a wave that starts at w gets
 *   ttft  = w + prefill_base_ms + in_j * prefill_ms_per_token
 *   total = w + ttft_j + (out_j - 1) * decode_ms_per_token.
 */
#include "gpu_worker/gpu_worker.h"

#include <math.h>

uint64_t wp_gpu_timing_batch(const wp_model_profile *p, const uint32_t *in_tokens,
                             const uint32_t *out_tokens, size_t n, wp_gen_result *res)
{
    uint32_t slots = p->slots_per_gpu ? p->slots_per_gpu : 1;
    uint64_t wave_start = 0;
    for (size_t i = 0; i < n; i += slots) {
        uint64_t wave_len = 0;
        for (size_t j = i; j < n && j < i + slots; j++) {
            uint32_t out = out_tokens[j] ? out_tokens[j] : 1;
            uint64_t ttft = (uint64_t)llround(wp_model_ttft_ms(p, in_tokens[j]) * WP_NS_PER_MS);
            uint64_t total =
                (uint64_t)llround(wp_model_total_ms(p, in_tokens[j], out) * WP_NS_PER_MS);
            if (res) {
                res[j].n_tokens = 0;
                res[j].modelled = true;
                res[j].ttft_ns = wave_start + ttft;
                res[j].total_ns = wave_start + total;
            }
            if (total > wave_len)
                wave_len = total;
        }
        wave_start += wave_len;
    }
    return wave_start;
}

