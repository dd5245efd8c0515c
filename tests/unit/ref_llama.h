/* tests/unit/ref_llama.h — a naive double-precision Llama (llama2.c
 * checkpoint layout) for the gpu_worker tests. It reads the checkpoint with
 * its own offsets, so a loader bug cannot hide in both it and the backend.
 * Test-only: failures are cmocka assertions. */
#ifndef WP_TEST_REF_LLAMA_H
#define WP_TEST_REF_LLAMA_H

typedef struct ref_model {
    int dim, hidden, layers, heads, kv_heads, vocab, seq;
    double *f; /* every float after the header, as double */
    double *emb, *rms_att, *wq, *wk, *wv, *wo, *rms_ffn, *w1, *w2, *w3, *rms_final, *wcls;
    double *kcache, *vcache; /* layers x seq x kv_dim */
} ref_model;

void ref_load(ref_model *m, const char *path);
void ref_free(ref_model *m);
/* One step of the single sequence the model holds: token at pos (the
 * cache holds 0..pos-1); writes vocab logits. */
void ref_forward(ref_model *m, int token, int pos, double *logits);

#endif
