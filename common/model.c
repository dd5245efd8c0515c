/* model.c — the arithmetic of a model's timing profile (see common.h). */
#include "common/common.h"

double wp_model_ttft_ms(const wp_model_profile *m, uint32_t in_tokens)
{
    return m->prefill_base_ms + (double)in_tokens * m->prefill_ms_per_token;
}

double wp_model_total_ms(const wp_model_profile *m, uint32_t in_tokens, uint32_t out_tokens)
{
    double t = wp_model_ttft_ms(m, in_tokens);
    if (out_tokens > 1)
        t += (double)(out_tokens - 1) * m->decode_ms_per_token;
    return t;
}

double wp_model_load_ms(const wp_model_profile *m)
{
    double t = m->load_fixed_ms;
    if (m->load_bytes_per_s > 0)
        t += (double)m->size_bytes / m->load_bytes_per_s * 1000.0;
    return t;
}
