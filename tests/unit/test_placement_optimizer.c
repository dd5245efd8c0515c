/* Unit tests of the placement optimizer (placement/optimizer.c): memory
 * capacity respected, pins respected, same input same output, demand pulls
 * replicas towards it. Randomized cases use fixed seeds and print them on
 * failure. Cities sit on a line: rtt(a, b) = 10 ms × |a − b| + 1 ms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "placement/placement.h"

#define GB (1000ull * 1000 * 1000)

typedef struct line {
    size_t n;
    float *rtt;
    const float **rows;
} line;

static void line_init(line *l, size_t n)
{
    l->n = n;
    l->rtt = calloc(n * n, sizeof *l->rtt);
    l->rows = calloc(n, sizeof *l->rows);
    assert_non_null(l->rtt);
    assert_non_null(l->rows);
    for (size_t a = 0; a < n; a++) {
        l->rows[a] = l->rtt + a * n;
        for (size_t b = 0; b < n; b++)
            l->rtt[a * n + b] = 10.0f * (float)(a > b ? a - b : b - a) + 1.0f;
    }
}

static void line_close(line *l)
{
    free(l->rtt);
    free((void *)l->rows);
}

/* Checks the invariants every solution must hold; returns replicas of
 * `model` that are pinned. */
static void check_capacity(const wp_place_problem *p, const wp_place_solution *s, uint64_t seed)
{
    uint64_t *used = calloc(p->n_nodes + 1, sizeof *used);
    for (size_t i = 0; i < s->n; i++) {
        const wp_place_replica *r = &s->replicas[i];
        assert_true(r->node < p->n_nodes);
        assert_true(r->model < p->n_models);
        if (!p->nodes[r->node].up)
            fail_msg("seed %llu: replica on a down node %u", (unsigned long long)seed, r->node);
        used[r->node] += p->model_size_bytes[r->model];
        if (i > 0) {
            const wp_place_replica *q = &s->replicas[i - 1];
            if (!(q->node < r->node || (q->node == r->node && q->model < r->model)))
                fail_msg("seed %llu: replicas not sorted or repeated at %zu",
                         (unsigned long long)seed, i);
        }
    }
    for (size_t n = 0; n < p->n_nodes; n++)
        if (used[n] > p->nodes[n].gpu_mem_bytes)
            fail_msg("seed %llu: node %zu holds %llu bytes > %llu", (unsigned long long)seed, n,
                     (unsigned long long)used[n], (unsigned long long)p->nodes[n].gpu_mem_bytes);
    free(used);
}

typedef struct rand_problem {
    wp_place_problem p;
    wp_place_node_in nodes[40];
    uint64_t sizes[8];
    double demand[16 * 8];
    wp_place_pin_in pins[6];
} rand_problem;

static void make_random(rand_problem *rp, const line *l, uint64_t seed)
{
    wp_rng rng;
    wp_rng_seed(&rng, seed);
    memset(rp, 0, sizeof *rp);
    size_t nn = 1 + (size_t)wp_rng_below(&rng, 40), nm = 1 + (size_t)wp_rng_below(&rng, 8);
    for (size_t i = 0; i < nn; i++)
        rp->nodes[i] = (wp_place_node_in){(uint32_t)wp_rng_below(&rng, l->n),
                                           (1 + wp_rng_below(&rng, 80)) * GB,
                                           wp_rng_below(&rng, 10) != 0};
    for (size_t m = 0; m < nm; m++)
        rp->sizes[m] = (1 + wp_rng_below(&rng, 40)) * GB;
    for (size_t i = 0; i < l->n * nm; i++)
        rp->demand[i] = wp_rng_uniform(&rng) < 0.3 ? 0 : wp_rng_uniform(&rng) * 100;
    size_t np = (size_t)wp_rng_below(&rng, 7);
    for (size_t i = 0; i < np; i++)
        rp->pins[i] = (wp_place_pin_in){(uint32_t)wp_rng_below(&rng, nm),
                                        (uint32_t)wp_rng_below(&rng, l->n),
                                        1 + (uint32_t)wp_rng_below(&rng, 3)};
    rp->p = (wp_place_problem){.n_cities = l->n, .rtt_rows = l->rows, .n_nodes = nn,
                               .nodes = rp->nodes, .n_models = nm, .model_size_bytes = rp->sizes,
                               .demand = rp->demand, .n_pins = np, .pins = rp->pins};
}

static void test_capacity_random(void **state)
{
    (void)state;
    line l;
    line_init(&l, 16);
    for (uint64_t seed = 1; seed <= 300; seed++) {
        rand_problem rp;
        make_random(&rp, &l, seed);
        wp_place_solution s;
        wp_err err = {0};
        if (wp_place_optimize(&rp.p, &s, &err) != WP_OK)
            fail_msg("seed %llu: %s", (unsigned long long)seed, wp_err_text(&err));
        check_capacity(&rp.p, &s, seed);
        /* Each pin: its placed replicas are pinned replicas in its city. */
        uint32_t short_sum = 0;
        for (size_t i = 0; i < rp.p.n_pins; i++) {
            assert_true(s.pin_placed[i] <= rp.pins[i].replicas);
            short_sum += rp.pins[i].replicas - s.pin_placed[i];
        }
        assert_int_equal(short_sum, s.pin_shortfall);
        assert_true(s.cost_ms >= 1.0 || s.total_demand == 0);
        wp_place_solution_close(&s);
    }
    line_close(&l);
}

static void test_same_input_same_output(void **state)
{
    (void)state;
    line l;
    line_init(&l, 16);
    for (uint64_t seed = 1000; seed < 1100; seed++) {
        rand_problem rp;
        make_random(&rp, &l, seed);
        wp_place_solution a, b;
        assert_int_equal(wp_place_optimize(&rp.p, &a, NULL), WP_OK);
        /* Different heap state between the runs. */
        void *junk = malloc(12345);
        assert_int_equal(wp_place_optimize(&rp.p, &b, NULL), WP_OK);
        free(junk);
        bool same = a.n == b.n && a.cost_ms == b.cost_ms && a.pin_shortfall == b.pin_shortfall;
        for (size_t i = 0; same && i < a.n; i++)
            same = a.replicas[i].node == b.replicas[i].node &&
                   a.replicas[i].model == b.replicas[i].model &&
                   a.replicas[i].pinned == b.replicas[i].pinned;
        if (!same)
            fail_msg("seed %llu: two runs differ", (unsigned long long)seed);
        wp_place_solution_close(&a);
        wp_place_solution_close(&b);
    }
    line_close(&l);
}

static void test_pins_respected(void **state)
{
    (void)state;
    line l;
    line_init(&l, 5);
    /* Three nodes in city 2 (80, 80, 30 GB), one in city 4. */
    wp_place_node_in nodes[] = {{2, 80 * GB, true}, {2, 80 * GB, true}, {2, 30 * GB, true},
                                {4, 80 * GB, true}};
    uint64_t sizes[] = {40 * GB, 20 * GB};
    double demand[5 * 2] = {0};
    demand[4 * 2 + 0] = 100; /* all demand for model 0 is in city 4 */
    wp_place_pin_in pins[] = {{1, 2, 3}, {0, 2, 2}};
    wp_place_problem p = {.n_cities = 5, .rtt_rows = l.rows, .n_nodes = 4, .nodes = nodes,
                          .n_models = 2, .model_size_bytes = sizes, .demand = demand,
                          .n_pins = 2, .pins = pins};
    wp_place_solution s;
    assert_int_equal(wp_place_optimize(&p, &s, NULL), WP_OK);
    check_capacity(&p, &s, 0);
    assert_int_equal(s.pin_placed[0], 3);
    assert_int_equal(s.pin_placed[1], 2);
    assert_int_equal(s.pin_shortfall, 0);
    unsigned pinned[2] = {0}, on4 = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.replicas[i].pinned) {
            assert_int_equal(nodes[s.replicas[i].node].city, 2);
            pinned[s.replicas[i].model]++;
        }
        if (s.replicas[i].node == 3 && s.replicas[i].model == 0 && !s.replicas[i].pinned)
            on4++;
    }
    assert_int_equal(pinned[0], 2);
    assert_int_equal(pinned[1], 3);
    assert_int_equal(on4, 1); /* the optimizer adds model 0 where its demand is */
    wp_place_solution_close(&s);

    /* A pin larger than the city: placed partly, shortfall reported. */
    wp_place_pin_in big[] = {{0, 2, 5}};
    p.pins = big;
    p.n_pins = 1;
    assert_int_equal(wp_place_optimize(&p, &s, NULL), WP_OK);
    assert_int_equal(s.pin_placed[0], 2); /* the 30 GB node cannot hold 40 GB */
    assert_int_equal(s.pin_shortfall, 3);
    check_capacity(&p, &s, 0);
    wp_place_solution_close(&s);

    /* Bad input is an error, not a crash. */
    wp_place_pin_in bad[] = {{7, 2, 1}};
    p.pins = bad;
    wp_err err = {0};
    assert_int_equal(wp_place_optimize(&p, &s, &err), WP_EINVAL);
    assert_non_null(strstr(err.msg, "pin"));
    line_close(&l);
}

/* Mean city index of the replicas of model m. */
static double mean_city(const wp_place_solution *s, const wp_place_node_in *nodes, uint32_t m)
{
    double sum = 0;
    unsigned n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->replicas[i].model == m) {
            sum += nodes[s->replicas[i].node].city;
            n++;
        }
    return n ? sum / n : -1;
}

static void test_demand_pulls_replicas(void **state)
{
    (void)state;
    line l;
    line_init(&l, 10);
    /* One node per city, each with room for exactly one of the two models. */
    wp_place_node_in nodes[10];
    for (uint32_t i = 0; i < 10; i++)
        nodes[i] = (wp_place_node_in){i, 10 * GB, true};
    uint64_t sizes[] = {8 * GB, 8 * GB};
    double demand[10 * 2] = {0};
    for (size_t c = 0; c < 10; c++) {
        demand[c * 2 + 0] = c < 5 ? 100 : 1; /* model 0 wanted in the west */
        demand[c * 2 + 1] = c < 5 ? 1 : 100; /* model 1 in the east */
    }
    wp_place_problem p = {.n_cities = 10, .rtt_rows = l.rows, .n_nodes = 10, .nodes = nodes,
                          .n_models = 2, .model_size_bytes = sizes, .demand = demand};
    wp_place_solution s;
    assert_int_equal(wp_place_optimize(&p, &s, NULL), WP_OK);
    check_capacity(&p, &s, 0);
    unsigned west0 = 0, east0 = 0, west1 = 0, east1 = 0;
    for (size_t i = 0; i < s.n; i++) {
        uint32_t c = nodes[s.replicas[i].node].city;
        unsigned *slot = s.replicas[i].model == 0 ? (c < 5 ? &west0 : &east0)
                                                  : (c < 5 ? &west1 : &east1);
        (*slot)++;
    }
    assert_true(west0 > east0);
    assert_true(east1 > west1);
    assert_true(west0 + east0 >= 1 && west1 + east1 >= 1);
    double cost_split = s.cost_ms;
    wp_place_solution_close(&s);

    /* With a cap of 2 replicas, moving demand east moves the replicas. */
    p.n_models = 1;
    p.max_placed_per_model = 2;
    double d1[10];
    p.demand = d1;
    for (size_t c = 0; c < 10; c++)
        d1[c] = c <= 2 ? 100 : 1;
    assert_int_equal(wp_place_optimize(&p, &s, NULL), WP_OK);
    assert_int_equal(s.n, 2);
    double west = mean_city(&s, nodes, 0);
    wp_place_solution_close(&s);
    for (size_t c = 0; c < 10; c++)
        d1[c] = c >= 7 ? 100 : 1;
    assert_int_equal(wp_place_optimize(&p, &s, NULL), WP_OK);
    double east = mean_city(&s, nodes, 0);
    wp_place_solution_close(&s);
    assert_true(west < 4.0);
    assert_true(east > 5.0);

    /* More capacity never makes the cost worse here. */
    for (uint32_t i = 0; i < 10; i++)
        nodes[i].gpu_mem_bytes = 20 * GB;
    p.n_models = 2;
    p.max_placed_per_model = 0;
    p.demand = demand;
    assert_int_equal(wp_place_optimize(&p, &s, NULL), WP_OK);
    assert_true(s.cost_ms <= cost_split);
    wp_place_solution_close(&s);
    line_close(&l);
}

static void test_empty_and_down(void **state)
{
    (void)state;
    line l;
    line_init(&l, 3);
    wp_place_node_in nodes[] = {{0, 80 * GB, false}, {1, 80 * GB, true}};
    uint64_t sizes[] = {1 * GB};
    double demand[3] = {1, 1, 1};
    wp_place_problem p = {.n_cities = 3, .rtt_rows = l.rows, .n_nodes = 2, .nodes = nodes,
                          .n_models = 1, .model_size_bytes = sizes, .demand = demand};
    wp_place_solution s;
    assert_int_equal(wp_place_optimize(&p, &s, NULL), WP_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.replicas[0].node, 1);
    wp_place_solution_close(&s);
    p.n_nodes = 0;
    assert_int_equal(wp_place_optimize(&p, &s, NULL), WP_OK);
    assert_int_equal(s.n, 0);
    wp_place_solution_close(&s);
    line_close(&l);
}

/* On the shipped tiny topology: population demand, memory for one model
 * per node; every node gets a model, and the model whose demand is all in
 * Asia sits on the Asian nodes. */
static void test_on_topology(void **state)
{
    (void)state;
    wp_topology *t = NULL;
    wp_err err = {0};
    if (wp_topo_load_preset("tiny", NULL, &t, &err) != WP_OK)
        fail_msg("tiny: %s", wp_err_text(&err));
    int fra = wp_topo_find(t, "FRA"), sin = wp_topo_find(t, "SIN"), nrt = wp_topo_find(t, "NRT"),
        iad = wp_topo_find(t, "IAD");
    assert_true(fra >= 0 && sin >= 0 && nrt >= 0 && iad >= 0);
    wp_place_node_in nodes[] = {{(uint32_t)fra, 20 * GB, true}, {(uint32_t)sin, 20 * GB, true},
                                {(uint32_t)nrt, 20 * GB, true}, {(uint32_t)iad, 20 * GB, true}};
    wp_model_profile models[2] = {{.name = "a", .size_bytes = 15 * GB, .load_bytes_per_s = 2e9},
                                  {.name = "b", .size_bytes = 15 * GB, .load_bytes_per_s = 2e9}};
    wp_place_solution s;
    assert_int_equal(wp_place_optimize_topo(t, nodes, 4, models, 2, NULL, NULL, 0, 0, &s, &err),
                     WP_OK);
    uint64_t sizes[2] = {15 * GB, 15 * GB};
    wp_place_problem pc = {.n_nodes = 4, .nodes = nodes, .n_models = 2, .model_size_bytes = sizes};
    check_capacity(&pc, &s, 0);
    assert_int_equal(s.n, 4); /* room for one model per node, and all are used */
    wp_place_solution_close(&s);
    size_t C = wp_topo_count(t);
    double *demand = calloc(C * 2, sizeof *demand);
    for (size_t c = 0; c < C; c++) {
        bool asia = wp_topo_city(t, c)->region == WP_REGION_ASIA;
        demand[c * 2 + 0] = asia ? 0 : 1;
        demand[c * 2 + 1] = asia ? 1 : 0;
    }
    assert_int_equal(wp_place_optimize_topo(t, nodes, 4, models, 2, demand, NULL, 0, 0, &s, &err),
                     WP_OK);
    /* b (wanted only in Asia) is on an Asian node and nowhere else; the
     * non-Asian nodes keep a. (Whether a also takes an Asian node depends
     * on the population of the cities near Asia, e.g. SYD.) */
    unsigned b_in_asia = 0;
    for (size_t i = 0; i < s.n; i++) {
        uint32_t city = nodes[s.replicas[i].node].city;
        bool asian_node = city == (uint32_t)sin || city == (uint32_t)nrt;
        if (s.replicas[i].model == 1) {
            assert_true(asian_node);
            b_in_asia++;
        } else if (!asian_node) {
            assert_int_equal(s.replicas[i].model, 0);
        }
    }
    assert_true(b_in_asia >= 1);
    assert_int_equal(s.n, 4);
    wp_place_solution_close(&s);
    free(demand);
    wp_topo_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_random),
        cmocka_unit_test(test_same_input_same_output),
        cmocka_unit_test(test_pins_respected),
        cmocka_unit_test(test_demand_pulls_replicas),
        cmocka_unit_test(test_empty_and_down),
        cmocka_unit_test(test_on_topology),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
