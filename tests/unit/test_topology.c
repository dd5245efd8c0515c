/* tests/unit/test_topology.c — topology: geo math against known distances,
 * the RTT model and its fit (synthetic and the measured Azure matrix), the
 * CSV loader's errors, presets, the country → region table, anycast
 * binding, alias draws and coverage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "topology/topology.h"
#include "topology/topology_int.h" /* the country table, for the mapping test */

#define PI 3.14159265358979323846

/* ---------------------------------------------------------------- helpers */

static char tmpdir[256];

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "%s/topo_test_XXXXXX", WP_BUILD_DIR);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to tmpdir/name and returns the path (static buffer). */
static const char *write_tmp(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

/* Loads `text` as a topology CSV and expects failure whose message holds
 * every one of the given fragments. */
static void expect_load_error(const char *text, const char *frag1, const char *frag2,
                              const char *frag3)
{
    const char *path = write_tmp("bad.csv", text);
    wp_topology *t = (wp_topology *)1;
    wp_err err = {0};
    int rv = wp_topo_load_file(path, NULL, &t, &err);
    assert_int_not_equal(rv, WP_OK);
    assert_null(t);
    const char *msg = wp_err_text(&err);
    assert_null(strchr(msg, '\n'));
    assert_non_null(strstr(msg, "bad.csv"));
    if (frag1 && !strstr(msg, frag1))
        fail_msg("message '%s' lacks '%s'", msg, frag1);
    if (frag2 && !strstr(msg, frag2))
        fail_msg("message '%s' lacks '%s'", msg, frag2);
    if (frag3 && !strstr(msg, frag3))
        fail_msg("message '%s' lacks '%s'", msg, frag3);
}

/* These tests check the v1 (great-circle) model and the loaders; the v2
 * graph paths and access latency are tested in test_rtt2.c. */
static wp_topology *load_preset(const char *name)
{
    wp_topology *t = NULL;
    wp_err err = {0};
    wp_rtt_params v1;
    wp_rtt_params_v1(&v1);
    int rv = wp_topo_load_preset(name, &v1, &t, &err);
    if (rv != WP_OK)
        fail_msg("preset %s: %s", name, wp_err_text(&err));
    return t;
}

/* ---------------------------------------------------------------- geo */

static void test_geo_known_distances(void **state)
{
    (void)state;
    /* London – New York, city centres: ~5,570 km. */
    double km = wp_geo_distance_km(51.5074, -0.1278, 40.7128, -74.0060);
    assert_true(fabs(km - 5570.0) < 15.0);
    /* Frankfurt – Singapore, city centres: ~10,260 km. */
    km = wp_geo_distance_km(50.1109, 8.6821, 1.2897, 103.8501);
    assert_true(fabs(km - 10260.0) < 30.0);
    /* Antipodes: half the circumference, pi * R. */
    km = wp_geo_distance_km(0, 0, 0, 180);
    assert_true(fabs(km - PI * WP_EARTH_RADIUS_KM) < 1e-6);
    km = wp_geo_distance_km(45, 10, -45, -170);
    assert_true(fabs(km - PI * WP_EARTH_RADIUS_KM) < 1e-6);
    km = wp_geo_distance_km(90, 0, -90, 0);
    assert_true(fabs(km - PI * WP_EARTH_RADIUS_KM) < 1e-6);
    /* One degree of latitude on the meridian: 2*pi*R/360. */
    km = wp_geo_distance_km(10, 20, 11, 20);
    assert_true(fabs(km - 2 * PI * WP_EARTH_RADIUS_KM / 360.0) < 1e-6);
    /* Zero, symmetry, and the date line. */
    assert_true(wp_geo_distance_km(12.3, 45.6, 12.3, 45.6) < 1e-9);
    assert_true(fabs(wp_geo_distance_km(1, 2, 3, 4) - wp_geo_distance_km(3, 4, 1, 2)) < 1e-9);
    km = wp_geo_distance_km(0, 179.5, 0, -179.5);
    assert_true(fabs(km - 2 * PI * WP_EARTH_RADIUS_KM / 360.0) < 1e-6);
}

/* ---------------------------------------------------------------- RTT model */

static void test_rtt_arithmetic(void **state)
{
    (void)state;
    wp_rtt_params p = {.fiber_km_per_ms = 200.0, .inflation = 2.0, .overhead_ms = 3.0};
    /* 2 * 1000 km * 2 / 200 km/ms + 3 = 23 ms. */
    assert_true(fabs(wp_rtt_ms_for_km(&p, 1000.0) - 23.0) < 1e-12);
    assert_true(fabs(wp_rtt_ms_for_km(&p, 0.0) - 3.0) < 1e-12);
    double km = wp_geo_distance_km(51.5074, -0.1278, 40.7128, -74.0060);
    assert_true(fabs(wp_rtt_ms_between(&p, 51.5074, -0.1278, 40.7128, -74.0060) -
                     (2 * km * 2.0 / 200.0 + 3.0)) < 1e-9);

    wp_rtt_params d;
    wp_rtt_params_v1(&d);
    assert_true(fabs(d.fiber_km_per_ms - 299792.458 / 1.467 / 1000.0) < 1e-9);
    assert_true(d.inflation > 1.0 && d.inflation < 2.1);
    assert_true(d.overhead_ms >= 0 && d.overhead_ms < 20);
    assert_true(d.jitter_ms == 0);
    /* Frankfurt–Singapore pings are measured at ~150–170 ms. */
    double fra_sin = wp_rtt_ms_between(&d, 50.1109, 8.6821, 1.2897, 103.8501);
    assert_true(fra_sin >= 150 && fra_sin <= 170);
}

static void test_rtt_jitter(void **state)
{
    (void)state;
    wp_rng rng;
    wp_rng_seed(&rng, 42);
    wp_rtt_params p;
    wp_rtt_params_default(&p);
    assert_true(wp_rtt_jitter(&p, 10.0, &rng) == 10.0); /* jitter 0: exact */
    p.jitter_ms = 4.0;
    double sum = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double v = wp_rtt_jitter(&p, 10.0, &rng);
        assert_true(v >= 10.0);
        sum += v - 10.0;
    }
    /* Exponential mean 4: the sample mean's sd is 4/sqrt(n) ≈ 0.009. */
    assert_true(fabs(sum / n - 4.0) < 0.05);
}

static void test_fit_recovers_synthetic(void **state)
{
    (void)state;
    enum { N = 2000 };
    static double km[N], rtt[N];
    wp_rng rng;
    wp_rng_seed(&rng, 7);
    wp_rtt_params truth = {.fiber_km_per_ms = 204.0, .inflation = 1.7, .overhead_ms = 4.0};
    for (int i = 0; i < N; i++) {
        km[i] = wp_rng_uniform(&rng) * 15000.0;
        rtt[i] = wp_rtt_ms_for_km(&truth, km[i]);
    }
    wp_rtt_fit fit;
    wp_err err = {0};
    assert_int_equal(wp_rtt_fit_pairs(km, rtt, N, 204.0, &fit, &err), WP_OK);
    assert_true(fabs(fit.inflation - 1.7) < 1e-9);
    assert_true(fabs(fit.overhead_ms - 4.0) < 1e-6);
    assert_int_equal(fit.pairs, N);
    assert_true(fit.median_abs_pct_err < 1e-6 && fit.p90_abs_pct_err < 1e-6);

    /* With 5% multiplicative noise the parameters come back within a few %,
     * and the median error is about 0.674 sigma (the median of |N(0,1)|). */
    for (int i = 0; i < N; i++)
        rtt[i] = wp_rtt_ms_for_km(&truth, km[i]) * (1.0 + 0.05 * wp_rng_normal(&rng));
    assert_int_equal(wp_rtt_fit_pairs(km, rtt, N, 204.0, &fit, &err), WP_OK);
    assert_true(fabs(fit.inflation - 1.7) / 1.7 < 0.03);
    assert_true(fabs(fit.overhead_ms - 4.0) < 0.5);
    assert_true(fit.median_abs_pct_err > 2.5 && fit.median_abs_pct_err < 4.5);
    assert_true(fit.p90_abs_pct_err > fit.median_abs_pct_err);

    /* Evaluate reports the errors of given parameters. */
    wp_rtt_fit ev;
    assert_int_equal(wp_rtt_evaluate(&truth, km, rtt, N, &ev, &err), WP_OK);
    assert_true(ev.inflation == 1.7 && ev.overhead_ms == 4.0 && ev.pairs == N);
    assert_true(fabs(ev.median_abs_pct_err - fit.median_abs_pct_err) < 0.5);
}

static void test_fit_errors(void **state)
{
    (void)state;
    wp_rtt_fit fit;
    wp_err err = {0};
    double km1[] = {100.0}, rtt1[] = {5.0};
    assert_int_equal(wp_rtt_fit_pairs(km1, rtt1, 1, 204.0, &fit, &err), WP_EINVAL);
    assert_int_equal(wp_rtt_fit_pairs(km1, rtt1, 0, 204.0, &fit, &err), WP_EINVAL);
    double km2[] = {100.0, 100.0, 100.0}, rtt2[] = {5.0, 6.0, 7.0};
    assert_int_equal(wp_rtt_fit_pairs(km2, rtt2, 3, 204.0, &fit, &err), WP_EINVAL);
    assert_non_null(strstr(wp_err_text(&err), "same distance"));
    double km3[] = {100.0, 200.0}, rtt3[] = {5.0, 0.0};
    assert_int_equal(wp_rtt_fit_pairs(km3, rtt3, 2, 204.0, &fit, &err), WP_EINVAL);
    assert_non_null(strstr(wp_err_text(&err), "pair 2"));
    double km4[] = {-1.0, 200.0}, rtt4[] = {5.0, 6.0};
    assert_int_equal(wp_rtt_fit_pairs(km4, rtt4, 2, 204.0, &fit, &err), WP_EINVAL);
    double km5[] = {100.0, 200.0}, rtt5[] = {5.0, 6.0};
    assert_int_equal(wp_rtt_fit_pairs(km5, rtt5, 2, 0.0, &fit, &err), WP_EINVAL);
    wp_rtt_params bad = {.fiber_km_per_ms = 204, .inflation = -1, .overhead_ms = 0};
    assert_int_equal(wp_rtt_evaluate(&bad, km5, rtt5, 2, &fit, &err), WP_EINVAL);
    /* RTT falling with distance: refused, not a negative inflation. */
    double km6[] = {100.0, 2000.0}, rtt6[] = {40.0, 10.0};
    assert_int_equal(wp_rtt_fit_pairs(km6, rtt6, 2, 204.0, &fit, &err), WP_ERANGE);
    assert_non_null(strstr(wp_err_text(&err), "do not grow with distance"));
}

/* The measured Azure inter-region p50 matrix (tests/fixtures/topo). */
static void test_fit_azure_matrix(void **state)
{
    (void)state;
    wp_csv c;
    wp_err err = {0};
    assert_int_equal(wp_csv_open(&c, WP_TEST_FIXTURES "/topo/azure_rtt_p50.csv", &err), WP_OK);
    assert_int_equal(wp_csv_next(&c, &err), WP_OK);
    int col[5];
    const char *names[5] = {"src_lat", "src_lon", "dst_lat", "dst_lon", "rtt_ms"};
    for (int i = 0; i < 5; i++) {
        col[i] = wp_csv_find(&c, names[i]);
        assert_true(col[i] >= 0);
    }
    size_t n = 0, cap = 4096;
    double *km = malloc(cap * sizeof *km), *rtt = malloc(cap * sizeof *rtt);
    assert_non_null(km);
    assert_non_null(rtt);
    while (wp_csv_next(&c, &err) == WP_OK) {
        assert_true(n < cap);
        double v[5];
        for (int i = 0; i < 5; i++)
            assert_int_equal(wp_csv_double(&c, (size_t)col[i], names[i], &v[i], &err), WP_OK);
        km[n] = wp_geo_distance_km(v[0], v[1], v[2], v[3]);
        rtt[n] = v[4];
        n++;
    }
    wp_csv_close(&c);
    assert_true(n > 2800);

    wp_rtt_fit fit, def_fit, textbook;
    wp_rtt_params d;
    wp_rtt_params_v1(&d);
    assert_int_equal(wp_rtt_fit_pairs(km, rtt, n, d.fiber_km_per_ms, &fit, &err), WP_OK);
    assert_true(fit.median_abs_pct_err <= 15.0);
    assert_true(fit.inflation > 1.2 && fit.inflation < 2.1);
    /* The defaults are the fitted values, rounded. */
    assert_int_equal(wp_rtt_evaluate(&d, km, rtt, n, &def_fit, &err), WP_OK);
    assert_true(def_fit.median_abs_pct_err <= 15.0);
    assert_true(fabs(d.inflation - fit.inflation) < 0.01);
    assert_true(fabs(d.overhead_ms - fit.overhead_ms) < 0.1);
    /* The textbook rule (x2.1, small overhead) is clearly worse here. */
    wp_rtt_params tb = d;
    tb.inflation = 2.1;
    tb.overhead_ms = 2.0;
    assert_int_equal(wp_rtt_evaluate(&tb, km, rtt, n, &textbook, &err), WP_OK);
    assert_true(textbook.median_abs_pct_err > fit.median_abs_pct_err + 5.0);
    print_message("azure: fitted inflation %.3f overhead %.2f ms median %.1f%% p90 %.1f%% "
                  "(%zu pairs); textbook 2.1/2 ms median %.1f%% p90 %.1f%%\n",
                  fit.inflation, fit.overhead_ms, fit.median_abs_pct_err, fit.p90_abs_pct_err,
                  fit.pairs, textbook.median_abs_pct_err, textbook.p90_abs_pct_err);
    free(km);
    free(rtt);
}

/* ---------------------------------------------------------------- regions */

static void test_regions(void **state)
{
    (void)state;
    static const char *const want[WP_REGION_COUNT] = {
        "africa", "asia", "europe", "middle-east", "north-america", "oceania", "south-america",
    };
    for (int r = 0; r < WP_REGION_COUNT; r++) {
        assert_string_equal(wp_region_name((wp_region)r), want[r]);
        wp_region back;
        assert_int_equal(wp_region_parse(want[r], &back), WP_OK);
        assert_int_equal(back, r);
    }
    wp_region r;
    assert_int_equal(wp_region_parse("Europe", &r), WP_ENOTFOUND);
    assert_int_equal(wp_region_parse("antarctica", &r), WP_ENOTFOUND);

    /* Every country in the table maps, codes are sorted and unique, and
     * every region has countries. */
    assert_true(wp_country_table_len >= 249);
    int per_region[WP_REGION_COUNT] = {0};
    for (size_t i = 0; i < wp_country_table_len; i++) {
        const wp_country_region *e = &wp_country_table[i];
        assert_int_equal(strlen(e->iso2), 2);
        if (i > 0)
            assert_true(strcmp(wp_country_table[i - 1].iso2, e->iso2) < 0);
        assert_int_equal(wp_region_of_country(e->iso2, &r), WP_OK);
        assert_true(r >= 0 && r < WP_REGION_COUNT);
        assert_int_equal(r, e->region);
        per_region[r]++;
    }
    for (int k = 0; k < WP_REGION_COUNT; k++)
        assert_true(per_region[k] > 0);

    static const struct {
        const char *iso2;
        wp_region region;
    } cases[] = {
        {"DE", WP_REGION_EUROPE},        {"de", WP_REGION_EUROPE},
        {"US", WP_REGION_NORTH_AMERICA}, {"MX", WP_REGION_NORTH_AMERICA},
        {"PA", WP_REGION_NORTH_AMERICA}, {"JM", WP_REGION_NORTH_AMERICA},
        {"CA", WP_REGION_NORTH_AMERICA}, {"BR", WP_REGION_SOUTH_AMERICA},
        {"CL", WP_REGION_SOUTH_AMERICA}, {"EG", WP_REGION_AFRICA},
        {"NG", WP_REGION_AFRICA},        {"AE", WP_REGION_MIDDLE_EAST},
        {"SA", WP_REGION_MIDDLE_EAST},   {"IL", WP_REGION_MIDDLE_EAST},
        {"TR", WP_REGION_MIDDLE_EAST},   {"IR", WP_REGION_MIDDLE_EAST},
        {"CY", WP_REGION_EUROPE},        {"GE", WP_REGION_EUROPE},
        {"RU", WP_REGION_EUROPE},        {"JP", WP_REGION_ASIA},
        {"IN", WP_REGION_ASIA},          {"TW", WP_REGION_ASIA},
        {"KZ", WP_REGION_ASIA},          {"AU", WP_REGION_OCEANIA},
        {"NZ", WP_REGION_OCEANIA},       {"XK", WP_REGION_EUROPE},
    };
    for (size_t i = 0; i < WP_ARRAY_LEN(cases); i++) {
        assert_int_equal(wp_region_of_country(cases[i].iso2, &r), WP_OK);
        if (r != cases[i].region)
            fail_msg("%s maps to %s", cases[i].iso2, wp_region_name(r));
    }
    assert_int_equal(wp_region_of_country("ZZ", &r), WP_ENOTFOUND);
    assert_int_equal(wp_region_of_country("D", &r), WP_ENOTFOUND);
    assert_int_equal(wp_region_of_country("DEU", &r), WP_ENOTFOUND);
    assert_int_equal(wp_region_of_country("", &r), WP_ENOTFOUND);
    assert_int_equal(wp_region_of_country("1A", &r), WP_ENOTFOUND);
}

/* ---------------------------------------------------------------- presets */

static void region_set(const wp_topology *t, int seen[WP_REGION_COUNT])
{
    memset(seen, 0, sizeof(int) * WP_REGION_COUNT);
    for (size_t i = 0; i < wp_topo_count(t); i++)
        seen[wp_topo_city(t, i)->region]++;
}

static void test_presets(void **state)
{
    (void)state;
    const char *const *names = wp_topo_preset_names();
    static const char *const want[] = {"edge", "aws", "azure", "gcp", "tiny"};
    for (size_t i = 0; i < WP_ARRAY_LEN(want); i++)
        assert_string_equal(names[i], want[i]);
    assert_null(names[WP_ARRAY_LEN(want)]);

    int seen[WP_REGION_COUNT];
    wp_topology *edge = load_preset("edge");
    assert_string_equal(wp_topo_name(edge), "edge");
    assert_true(wp_topo_count(edge) >= 300);
    region_set(edge, seen);
    for (int r = 0; r < WP_REGION_COUNT; r++)
        assert_true(seen[r] > 0);

    wp_topology *tiny = load_preset("tiny");
    assert_true(wp_topo_count(tiny) >= 7 && wp_topo_count(tiny) <= 10);
    region_set(tiny, seen);
    for (int r = 0; r < WP_REGION_COUNT; r++)
        assert_true(seen[r] > 0);
    /* tiny's codes exist in edge, with the same coordinates. */
    for (size_t i = 0; i < wp_topo_count(tiny); i++) {
        const wp_city *c = wp_topo_city(tiny, i);
        int k = wp_topo_find(edge, c->code);
        assert_true(k >= 0);
        assert_true(wp_topo_city(edge, (size_t)k)->lat == c->lat);
    }
    wp_topo_free(tiny);

    static const struct {
        const char *name;
        size_t n;
        const char *code;
    } clouds[] = {{"aws", 34, "us-east-1"}, {"azure", 57, "westeurope"},
                  {"gcp", 41, "northamerica-northeast1"}};
    for (size_t i = 0; i < WP_ARRAY_LEN(clouds); i++) {
        wp_topology *t = load_preset(clouds[i].name);
        assert_int_equal(wp_topo_count(t), clouds[i].n);
        assert_true(wp_topo_find(t, clouds[i].code) >= 0);
        wp_topo_free(t);
    }

    /* Lookup is case-insensitive; unknown codes give -1. */
    int fra = wp_topo_find(edge, "FRA"), sin = wp_topo_find(edge, "sin");
    assert_true(fra >= 0 && sin >= 0);
    assert_int_equal(wp_topo_find(edge, "fra"), fra);
    assert_int_equal(wp_topo_find(edge, "NOPE"), -1);
    assert_int_equal(wp_topo_find(edge, NULL), -1);
    const wp_city *cf = wp_topo_city(edge, (size_t)fra);
    assert_string_equal(cf->country, "DE");
    assert_int_equal(cf->region, WP_REGION_EUROPE);
    assert_true(cf->pop_weight > 1e6);
    assert_null(wp_topo_city(edge, wp_topo_count(edge)));

    /* The RTT matrix: plausible, symmetric, the model's values. */
    double fs = wp_topo_rtt_ms(edge, (size_t)fra, (size_t)sin);
    assert_true(fs >= 150 && fs <= 170);
    const wp_rtt_params *p = wp_topo_params(edge);
    size_t n = wp_topo_count(edge);
    for (size_t a = 0; a < n; a += 7) {
        const float *row = wp_topo_rtt_row(edge, a);
        for (size_t b = 0; b < n; b += 5) {
            const wp_city *ca = wp_topo_city(edge, a), *cb = wp_topo_city(edge, b);
            double want_ms = wp_rtt_ms_between(p, ca->lat, ca->lon, cb->lat, cb->lon);
            assert_true(fabs(row[b] - want_ms) < 1e-3 * want_ms + 1e-3);
            assert_true(row[b] == wp_topo_rtt_row(edge, b)[a]);
            assert_true(wp_topo_rtt_ms(edge, a, b) == row[b]);
        }
        assert_true(fabs(row[a] - p->overhead_ms) < 1e-4);
    }
    wp_topo_free(edge);

    /* Custom parameters reach the matrix; bad ones are refused. */
    wp_rtt_params cp;
    wp_rtt_params_v1(&cp);
    cp.inflation = 3.0;
    cp.overhead_ms = 0;
    wp_topology *t = NULL;
    wp_err err = {0};
    assert_int_equal(wp_topo_load_preset("tiny", &cp, &t, &err), WP_OK);
    assert_true(fabs(wp_topo_rtt_ms(t, 0, 0)) < 1e-6);
    assert_true(wp_topo_params(t)->inflation == 3.0);
    wp_topo_free(t);
    cp.inflation = 0;
    assert_int_equal(wp_topo_load_preset("tiny", &cp, &t, &err), WP_EINVAL);
    assert_null(t);
    assert_int_equal(wp_topo_load_preset("mars", NULL, &t, &err), WP_ENOTFOUND);
    assert_null(t);
    assert_non_null(strstr(wp_err_text(&err), "mars"));
}

/* ---------------------------------------------------------------- loader */

static void test_load_file_ok(void **state)
{
    (void)state;
    const char *path = write_tmp("ok.csv", "lon,lat,code,name,country,extra\r\n"
                                           "8.68,50.11,FRA,Frankfurt,de,x\r\n"
                                           "\r\n"
                                           "-46.63,-23.55,gru,\"Sao Paulo, BR\",BR,y\r\n");
    wp_topology *t = NULL;
    wp_err err = {0};
    assert_int_equal(wp_topo_load_file(path, NULL, &t, &err), WP_OK);
    assert_int_equal(wp_topo_count(t), 2);
    assert_string_equal(wp_topo_name(t), path);
    const wp_city *c = wp_topo_city(t, 1);
    assert_string_equal(c->code, "gru");
    assert_string_equal(c->name, "Sao Paulo, BR");
    assert_string_equal(c->country, "BR");
    assert_int_equal(c->region, WP_REGION_SOUTH_AMERICA); /* from the country */
    assert_true(c->pop_weight == 1.0);                    /* default */
    assert_string_equal(wp_topo_city(t, 0)->country, "DE");
    assert_int_equal(wp_topo_find(t, "GRU"), 1);
    wp_topo_free(t);

    /* An explicit region overrides the country's; pop_weight is read. */
    path = write_tmp("ok2.csv", "code,name,country,lat,lon,region,pop_weight\n"
                                "IST,Istanbul,TR,41.0,28.9,europe,15000000\n"
                                "DXB,Dubai,AE,25.25,55.36,,\n");
    assert_int_equal(wp_topo_load_file(path, NULL, &t, &err), WP_OK);
    assert_int_equal(wp_topo_city(t, 0)->region, WP_REGION_EUROPE);
    assert_true(wp_topo_city(t, 0)->pop_weight == 15000000.0);
    assert_int_equal(wp_topo_city(t, 1)->region, WP_REGION_MIDDLE_EAST);
    assert_true(wp_topo_city(t, 1)->pop_weight == 1.0);
    wp_topo_free(t);
}

static void test_load_file_errors(void **state)
{
    (void)state;
    static const char *const hdr = "code,name,country,lat,lon\n";
    char buf[512];

    snprintf(buf, sizeof buf, "%sFRA,Frankfurt,DE,50.1,8.7\nXXX,Nowhere,DE,200,8.7\n", hdr);
    expect_load_error(buf, ":3:", "column lat", "'200'");

    snprintf(buf, sizeof buf, "%sFRA,Frankfurt,DE,50.1,8.7\nXXX,Nowhere,DE,50,-181\n", hdr);
    expect_load_error(buf, ":3:", "column lon", "-180..180");

    expect_load_error("code,name,country,lat\nFRA,Frankfurt,DE,50.1\n", ":1:",
                      "missing column 'lon'", NULL);

    snprintf(buf, sizeof buf, "%sFRA,Frankfurt,DE,50.1,8.7\nfra,Again,DE,50.1,8.7\n", hdr);
    expect_load_error(buf, ":3:", "column code", "duplicate");

    snprintf(buf, sizeof buf, "%sFRA,Frankfurt,ZZ,50.1,8.7\n", hdr);
    expect_load_error(buf, ":2:", "column country", "'ZZ'");

    expect_load_error("code,name,country,lat,lon,region\nFRA,Frankfurt,DE,50.1,8.7,Europe\n",
                      ":2:", "column region", "'Europe'");

    snprintf(buf, sizeof buf, "%sFRA,Frankfurt,DE,50.1\n", hdr);
    expect_load_error(buf, ":2:", "column lon", "missing");

    snprintf(buf, sizeof buf, "%sFRA,Frankfurt,DE,abc,8.7\n", hdr);
    expect_load_error(buf, ":2:", "column lat", "'abc'");

    snprintf(buf, sizeof buf, "%sFRA,\"Frankfurt,DE,50.1,8.7\n", hdr);
    expect_load_error(buf, ":2:", "field 2", "quote");

    snprintf(buf, sizeof buf, "%s,Frankfurt,DE,50.1,8.7\n", hdr);
    expect_load_error(buf, ":2:", "column code", NULL);

    expect_load_error("code,name,country,lat,lon,pop_weight\nFRA,Frankfurt,DE,50.1,8.7,-5\n",
                      ":2:", "column pop_weight", "'-5'");

    expect_load_error(hdr, "no cities", NULL, NULL);
    expect_load_error("", "empty", NULL, NULL);

    wp_topology *t = (wp_topology *)1;
    wp_err err = {0};
    assert_int_equal(wp_topo_load_file("/nonexistent/x.csv", NULL, &t, &err), WP_EIO);
    assert_null(t);
    assert_non_null(strstr(wp_err_text(&err), "/nonexistent/x.csv"));
}

/* ---------------------------------------------------------------- users */

static void test_users_anycast(void **state)
{
    (void)state;
    wp_topology *edge = load_preset("edge");
    const char *path = write_tmp("users.csv", "name,country,lat,lon,population\n"
                                              "Frankfurt am Main,DE,50.1109,8.6821,750000\n"
                                              "Sydney,AU,-33.8688,151.2093,5000000\n"
                                              "Nairobi,KE,-1.2864,36.8172,4000000\n");
    wp_users *u = NULL;
    wp_err err = {0};
    assert_int_equal(wp_users_load(edge, path, &u, &err), WP_OK);
    assert_int_equal(wp_users_count(u), 3);
    static const char *const want[] = {"FRA", "SYD", "NBO"};
    for (size_t i = 0; i < 3; i++) {
        const wp_user_point *p = wp_users_point(u, i);
        const wp_city *c = wp_topo_city(edge, p->ingress);
        if (strcmp(c->code, want[i]) != 0)
            fail_msg("%s enters at %s, expected %s", p->name, c->code, want[i]);
        assert_true(p->ingress_rtt_ms >= wp_topo_params(edge)->overhead_ms);
        assert_true(p->ingress_rtt_ms < 10.0);
    }
    assert_int_equal(wp_users_point(u, 0)->region, WP_REGION_EUROPE);
    assert_null(wp_users_point(u, 3));
    wp_users_free(u);

    /* The shipped points: each ingress is the lowest-RTT PoP (checked by a
     * full scan with the model on a sample). */
    assert_int_equal(wp_users_load(edge, NULL, &u, &err), WP_OK);
    assert_true(wp_users_count(u) > 5000);
    assert_true(wp_users_total_population(u) > 2e9);
    const wp_rtt_params *p = wp_topo_params(edge);
    for (size_t i = 0; i < wp_users_count(u); i += 97) {
        const wp_user_point *up = wp_users_point(u, i);
        double best = INFINITY;
        for (size_t k = 0; k < wp_topo_count(edge); k++) {
            const wp_city *c = wp_topo_city(edge, k);
            double ms = wp_rtt_ms_between(p, up->lat, up->lon, c->lat, c->lon);
            if (ms < best)
                best = ms;
        }
        assert_true(fabs(up->ingress_rtt_ms - best) < 1e-3 * best);
    }
    wp_users_free(u);
    wp_topo_free(edge);
}

static void test_users_alias_draws(void **state)
{
    (void)state;
    wp_topology *tiny = load_preset("tiny");
    const char *path = write_tmp("users_w.csv", "name,country,lat,lon,population\n"
                                                "A,DE,50,8,1000\n"
                                                "Z,DE,50,8,0\n"
                                                "B,FR,48,2,2000\n"
                                                "C,JP,35,139,7000\n");
    wp_users *u = NULL;
    wp_err err = {0};
    assert_int_equal(wp_users_load(tiny, path, &u, &err), WP_OK);
    assert_true(wp_users_total_population(u) == 10000.0);
    wp_rng rng;
    wp_rng_seed(&rng, 2024);
    size_t counts[4] = {0};
    const int n = 400000;
    for (int i = 0; i < n; i++) {
        size_t k = wp_users_draw(u, &rng);
        assert_true(k < 4);
        counts[k]++;
    }
    assert_int_equal(counts[1], 0); /* zero population: never drawn */
    /* sd of a proportion at n = 400k is <= 0.0008; allow 5 sd. */
    assert_true(fabs((double)counts[0] / n - 0.1) < 0.004);
    assert_true(fabs((double)counts[2] / n - 0.2) < 0.004);
    assert_true(fabs((double)counts[3] / n - 0.7) < 0.004);
    wp_users_free(u);

    /* The shipped points: the largest city is drawn at its share. */
    assert_int_equal(wp_users_load(tiny, NULL, &u, &err), WP_OK);
    size_t top = 0;
    for (size_t i = 1; i < wp_users_count(u); i++)
        if (wp_users_point(u, i)->population > wp_users_point(u, top)->population)
            top = i;
    double share = wp_users_point(u, top)->population / wp_users_total_population(u);
    size_t hits = 0;
    for (int i = 0; i < n; i++)
        hits += wp_users_draw(u, &rng) == top;
    assert_true(fabs((double)hits / n - share) < 5 * sqrt(share * (1 - share) / n));
    wp_users_free(u);
    wp_topo_free(tiny);
}

static void test_users_errors(void **state)
{
    (void)state;
    wp_topology *tiny = load_preset("tiny");
    wp_users *u = (wp_users *)1;
    wp_err err = {0};
    const char *path = write_tmp("u1.csv", "name,country,lat,lon\nA,DE,50,8\n");
    assert_int_equal(wp_users_load(tiny, path, &u, &err), WP_EPARSE);
    assert_null(u);
    assert_non_null(strstr(wp_err_text(&err), "missing column 'population'"));
    path = write_tmp("u2.csv", "name,country,lat,lon,population\nA,DE,50,8,10\nB,DE,200,8,5\n");
    assert_int_equal(wp_users_load(tiny, path, &u, &err), WP_EPARSE);
    assert_non_null(strstr(wp_err_text(&err), ":3: column lat"));
    path = write_tmp("u3.csv", "name,country,lat,lon,population\nA,DE,50,8,-3\n");
    assert_int_equal(wp_users_load(tiny, path, &u, &err), WP_EPARSE);
    assert_non_null(strstr(wp_err_text(&err), ":2: column population"));
    path = write_tmp("u4.csv", "name,country,lat,lon,population\nA,DE,50,8,0\n");
    assert_int_equal(wp_users_load(tiny, path, &u, &err), WP_EPARSE);
    assert_non_null(strstr(wp_err_text(&err), "population is 0"));
    wp_topo_free(tiny);
}

static void test_users_coverage(void **state)
{
    (void)state;
    wp_topology *edge = load_preset("edge"), *tiny = load_preset("tiny");
    wp_users *ue = NULL, *ut = NULL;
    wp_err err = {0};
    assert_int_equal(wp_users_load(edge, NULL, &ue, &err), WP_OK);
    assert_int_equal(wp_users_load(tiny, NULL, &ut, &err), WP_OK);
    double all, by[WP_REGION_COUNT];
    /* Nobody is under the fixed overhead; everybody is within a second. */
    wp_users_coverage(ue, 1.0, &all, by);
    assert_true(all == 0.0);
    wp_users_coverage(ue, 1000.0, &all, by);
    assert_true(fabs(all - 1.0) < 1e-12);
    for (int r = 0; r < WP_REGION_COUNT; r++)
        assert_true(fabs(by[r] - 1.0) < 1e-12);
    /* Monotone in the bound; 330 PoPs beat 8 cities. */
    double prev = 0, e20, t20, t20_by[WP_REGION_COUNT];
    for (double ms = 5; ms <= 100; ms += 5) {
        wp_users_coverage(ue, ms, &all, NULL);
        assert_true(all >= prev);
        prev = all;
    }
    wp_users_coverage(ue, 20.0, &e20, by);
    wp_users_coverage(ut, 20.0, &t20, t20_by);
    assert_true(e20 > 0.9);
    assert_true(t20 < e20);
    for (int r = 0; r < WP_REGION_COUNT; r++)
        assert_true(t20_by[r] <= by[r] + 1e-12);
    /* Cross-check the overall figure by hand. */
    double in = 0;
    for (size_t i = 0; i < wp_users_count(ue); i++)
        if (wp_users_point(ue, i)->ingress_rtt_ms <= 20.0)
            in += wp_users_point(ue, i)->population;
    assert_true(fabs(in / wp_users_total_population(ue) - e20) < 1e-9);
    wp_users_free(ue);
    wp_users_free(ut);
    wp_topo_free(edge);
    wp_topo_free(tiny);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geo_known_distances),
        cmocka_unit_test(test_rtt_arithmetic),
        cmocka_unit_test(test_rtt_jitter),
        cmocka_unit_test(test_fit_recovers_synthetic),
        cmocka_unit_test(test_fit_errors),
        cmocka_unit_test(test_fit_azure_matrix),
        cmocka_unit_test(test_regions),
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_load_file_ok),
        cmocka_unit_test(test_load_file_errors),
        cmocka_unit_test(test_users_anycast),
        cmocka_unit_test(test_users_alias_draws),
        cmocka_unit_test(test_users_errors),
        cmocka_unit_test(test_users_coverage),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
