/* tests/unit/res_fixture.h — one residency core (gpu_worker.h) for the
 * unit tests: one GPU, the given models in SLOTS mode, each warm (pinned
 * and loaded at time 0). Header-only: include after cmocka.h. */
#ifndef WP_TEST_RES_FIXTURE_H
#define WP_TEST_RES_FIXTURE_H

#include "gpu_worker/gpu_worker.h"

#define MS 1000000ull

typedef struct res_model_spec {
    const char *name;
    uint32_t slots_per_gpu;
    uint64_t service_ms;  /* wp_res_set_service; 0: none */
    uint64_t priority_ms; /* wp_res_set_priority; 0: none */
} res_model_spec;

static inline wp_res *res_fixture(const res_model_spec *m, size_t n)
{
    wp_res_config cfg = {.capacity_bytes = 100, .max_batch = 8, .max_queue = 64, .gpus = 1};
    wp_res *r;
    wp_err err;
    const char *names[8];
    assert_true(n <= 8);
    assert_int_equal(wp_res_new(&cfg, &r, &err), WP_OK);
    for (size_t i = 0; i < n; i++) {
        names[i] = m[i].name;
        assert_int_equal(wp_res_add_model(r, m[i].name, 10, &err), WP_OK);
        assert_int_equal(wp_res_set_slots(r, m[i].name, m[i].slots_per_gpu, &err), WP_OK);
        if (m[i].service_ms)
            assert_int_equal(wp_res_set_service(r, m[i].name, m[i].service_ms * MS, &err), WP_OK);
        if (m[i].priority_ms)
            assert_int_equal(wp_res_set_priority(r, m[i].name, m[i].priority_ms * MS, &err),
                             WP_OK);
    }
    assert_int_equal(wp_res_assign(r, 0, names, n, &err), WP_OK);
    wp_res_action a;
    while (wp_res_next_action(r, &a)) {
        assert_int_equal(a.kind, WP_RES_LOAD);
        assert_int_equal(wp_res_load_done(r, 0, a.model, WP_OK, 0, &err), WP_OK);
    }
    return r;
}

#endif
