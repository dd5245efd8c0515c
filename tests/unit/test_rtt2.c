/* RTT model v2: graph paths on a small hand-built graph, the robust fit on
 * synthetic data, access latency and coverage with a constant access term,
 * the parameter file, clear errors for bad graph / calibration / parameter
 * files, and the simulator adding access latency on the user's leg. */
#include "sim/sim.h"
#include "topology/topology.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char tmpdir[256];

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "%s/rtt2_test_XXXXXX", WP_BUILD_DIR);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to tmpdir/name; returns the path (one of two static buffers,
 * so two paths can be live at once). */
static const char *write_tmp(const char *name, const char *text)
{
    static char path[2][512];
    static int which;
    which ^= 1;
    snprintf(path[which], sizeof path[which], "%s/%s", tmpdir, name);
    FILE *fp = fopen(path[which], "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path[which];
}

/* ---------------------------------------------------------------- graph */

/* Four nodes on the equator, 10 degrees (1,112 km) apart: A city, B city,
 * C landing, D city; links A-B land 500 km, B-C sea 600 km, C-D land
 * 700 km (shorter than the great circle on purpose: the graph's km are
 * what count). A waypoint W far away is never attached to. */
static const char *const g_nodes = "id,kind,lat,lon\n"
                                   "10,city,0,0\n20,city,0,10\n30,landing,0,20\n40,city,0,30\n"
                                   "99,waypoint,0,1\n";
static const char *const g_edges = "u,v,kind,km\n10,20,land,500\n20,30,sea,600\n30,40,land,700\n"
                                   "99,10,sea,5000\n";

static wp_graph *small_graph(void)
{
    const char *np = write_tmp("n.csv", g_nodes);
    const char *ep = write_tmp("e.csv", g_edges);
    wp_graph *g = NULL;
    wp_err err = {0};
    if (wp_graph_load(np, ep, &g, &err) != WP_OK)
        fail_msg("%s", wp_err_text(&err));
    return g;
}

static void test_graph_paths(void **state)
{
    (void)state;
    wp_graph *g = small_graph();
    assert_int_equal(wp_graph_node_count(g), 5);
    assert_int_equal(wp_graph_edge_count(g), 4);
    wp_err err = {0};
    /* P at A, Q at D: along the graph, 500 + 600 + 700 km at land 1;
     * at land 2 the land links double and the sea link does not. */
    double lat[3] = {0, 0, 0}, lon[3] = {0, 30, 10};
    float km[9];
    assert_int_equal(wp_graph_path_matrix(g, lat, lon, 2, 1.0, km, &err), WP_OK);
    assert_true(fabs(km[1] - 1800.0) < 1e-3);
    assert_true(km[0] == 0.0f && km[1] == km[2]);
    assert_int_equal(wp_graph_path_matrix(g, lat, lon, 2, 2.0, km, &err), WP_OK);
    assert_true(fabs(km[1] - (2 * 500 + 600 + 2 * 700)) < 1e-3);
    /* A third point at B is an endpoint only: P-Q is unchanged with it in
     * the set, and P-M is the A-B link. */
    assert_int_equal(wp_graph_path_matrix(g, lat, lon, 3, 1.0, km, &err), WP_OK);
    assert_true(fabs(km[0 * 3 + 1] - 1800.0) < 1e-3);
    assert_true(fabs(km[0 * 3 + 2] - 500.0) < 1e-3);
    assert_true(fabs(km[1 * 3 + 2] - 1300.0) < 1e-3);
    /* Two points 111 km apart near A: the direct land route (x land),
     * not a detour through their shared attachment. */
    double la2[2] = {0, 0}, lo2[2] = {2, 3};
    assert_int_equal(wp_graph_path_matrix(g, la2, lo2, 2, 1.5, km, &err), WP_OK);
    double gc = wp_geo_distance_km(0, 2, 0, 3);
    assert_true(fabs(km[1] - 1.5 * gc) < 1e-2);
    /* A point off the graph joins by a virtual land link: 1 degree north
     * of A adds 111 km x land to each end's attachment. */
    double d[1];
    double la1[1] = {1}, lo1[1] = {30};
    assert_int_equal(wp_graph_paths_from(g, 0, 0, la1, lo1, 1, 1.0, d, &err), WP_OK);
    assert_true(fabs(d[0] - (1800.0 + wp_geo_distance_km(1, 30, 0, 30))) < 1e-3);
    /* land_factor out of range */
    assert_int_equal(wp_graph_path_matrix(g, lat, lon, 2, 0.5, km, &err), WP_EINVAL);
    assert_non_null(strstr(wp_err_text(&err), "land_factor"));
    wp_graph_free(g);
}

static void expect_graph_error(const char *nodes, const char *edges, const char *frag)
{
    const char *np = write_tmp("bn.csv", nodes);
    const char *ep = write_tmp("be.csv", edges);
    wp_graph *g = (wp_graph *)1;
    wp_err err = {0};
    assert_int_not_equal(wp_graph_load(np, ep, &g, &err), WP_OK);
    assert_null(g);
    const char *msg = wp_err_text(&err);
    if (!strstr(msg, frag))
        fail_msg("message '%s' lacks '%s'", msg, frag);
    assert_null(strchr(msg, '\n'));
}

static void test_graph_errors(void **state)
{
    (void)state;
    expect_graph_error(g_nodes, "u,v,kind,km\n10,77,land,5\n", "be.csv:2: column v: unknown node id 77");
    expect_graph_error(g_nodes, "u,v,kind,km\n10,20,air,5\n", "be.csv:2: column kind: expected land or sea");
    expect_graph_error(g_nodes, "u,v,kind,km\n10,20,land,-5\n", "be.csv:2: column km");
    expect_graph_error(g_nodes, "u,v,kind\n10,20,land\n", "missing column 'km'");
    expect_graph_error(g_nodes, "u,v,kind,km\n", "be.csv: no edges");
    expect_graph_error("id,kind,lat,lon\n1,city,0,0\n1,city,1,1\n", g_edges, "duplicate node id 1");
    expect_graph_error("id,kind,lat,lon\n1,town,0,0\n", g_edges, "bn.csv:2: column kind");
    expect_graph_error("id,kind,lat,lon\n1,city,95,0\n", g_edges, "bn.csv:2: column lat");
    expect_graph_error("id,kind,lat,lon\n-4,city,0,0\n", g_edges, "bn.csv:2: column id");
    expect_graph_error("", g_edges, "bn.csv: empty file");
    expect_graph_error("id,kind,lat,lon\n1,waypoint,0,0\n2,waypoint,0,1\n",
                       "u,v,kind,km\n1,2,sea,5\n", "no city or landing node");
    wp_graph *g = NULL;
    wp_err err = {0};
    assert_int_equal(wp_graph_load("/nonexistent/n.csv", NULL, &g, &err), WP_EINVAL);
}

/* The shipped graph: connected enough that every preset city has a path,
 * paths are never shorter than the great circle, and follow cables. */
static void test_shipped_graph(void **state)
{
    (void)state;
    wp_topology *t = NULL;
    wp_err err = {0};
    assert_int_equal(wp_topo_load_preset("edge", NULL, &t, &err), WP_OK);
    const wp_rtt_params *p = wp_topo_params(t);
    assert_int_equal(p->paths, WP_RTT_PATHS_GRAPH);
    size_t n = wp_topo_count(t);
    assert_int_equal(n, 338);
    for (size_t a = 0; a < n; a += 3)
        for (size_t b = 0; b < n; b += 7) {
            const wp_city *ca = wp_topo_city(t, a), *cb = wp_topo_city(t, b);
            double gc_ms = wp_rtt_ms_for_km(p, wp_geo_distance_km(ca->lat, ca->lon, cb->lat,
                                                                  cb->lon));
            double v = wp_topo_rtt_ms(t, a, b);
            assert_true(isfinite(v));
            assert_true(v >= gc_ms * 0.999 - 1e-3); /* land_factor >= 1 */
            assert_true(fabs(v - wp_topo_rtt_ms(t, b, a)) < 1e-3);
        }
    /* From a position (the live client leg): a city's own coordinates give
     * the matrix's value. */
    for (size_t a = 0; a < n; a += 37)
        for (size_t b = 1; b < n; b += 41) {
            const wp_city *ca = wp_topo_city(t, a), *cb = wp_topo_city(t, b);
            double v = wp_topo_rtt_point_country_ms(t, cb->lat, cb->lon, cb->country, a);
            assert_true(fabs(v - wp_topo_rtt_ms(t, a, b)) < 1e-3 * (1 + v));
            /* without the country: the path alone, less the border terms */
            double border = wp_rtt_border_ms(p, ca->country, cb->country);
            assert_true(fabs(wp_topo_rtt_point_ms(t, cb->lat, cb->lon, a) + border - v) <
                        1e-3 * (1 + v));
        }
    /* The border terms: a pair across a border carries both ends' terms,
     * a pair inside one country none (the shipped model has some). */
    assert_true(p->n_border > 20);
    int fra = wp_topo_find(t, "FRA"), ham = wp_topo_find(t, "HAM"), nbo = wp_topo_find(t, "NBO");
    assert_true(fra >= 0 && ham >= 0 && nbo >= 0);
    assert_true(wp_rtt_border_ms(p, "DE", "DE") == 0);
    assert_true(wp_rtt_border_ms(p, "KE", "DE") > 0);
    double fra_nbo_path = wp_topo_rtt_point_ms(t, wp_topo_city(t, (size_t)nbo)->lat,
                                               wp_topo_city(t, (size_t)nbo)->lon, (size_t)fra);
    assert_true(fabs(wp_topo_rtt_ms(t, (size_t)fra, (size_t)nbo) -
                     (fra_nbo_path + wp_rtt_border_ms(p, "DE", "KE"))) < 1e-3 * fra_nbo_path);
    /* Users: the ingress RTT is the model's path RTT to that PoP. */
    wp_users *u = NULL;
    assert_int_equal(wp_users_load(t, NULL, &u, &err), WP_OK);
    for (size_t i = 0; i < wp_users_count(u); i += 101) {
        const wp_user_point *up = wp_users_point(u, i);
        double v = wp_topo_rtt_point_country_ms(t, up->lat, up->lon, up->country, up->ingress);
        assert_true(fabs(v - up->ingress_rtt_ms) < 1e-3 * (1 + v));
        assert_true(fabs(wp_users_rtt_ms(u, i, up->ingress) - v) < 1e-3 * (1 + v));
    }
    wp_users_free(u);
    wp_topo_free(t);
}

/* ---------------------------------------------------------------- fit */

static void test_irls_recovers_synthetic(void **state)
{
    (void)state;
    wp_rng rng;
    wp_rng_seed(&rng, 2025);
    enum { N = 3000 };
    static double x[N], y[N], z[N];
    const double a = 0.0123, b = 4.0, s = 0.6;
    for (size_t i = 0; i < N; i++) {
        x[i] = wp_rng_uniform(&rng) * 15000.0;
        z[i] = 5.0 + wp_rng_uniform(&rng) * 40.0;
        double clean = a * x[i] + b + s * z[i];
        y[i] = clean * (1.0 + 0.06 * (wp_rng_uniform(&rng) - 0.5));
        if (i % 20 == 0) /* 5% wild rows: twice or half the truth */
            y[i] = clean * (i % 40 == 0 ? 2.0 : 0.5);
    }
    wp_irls_fit f;
    wp_err err = {0};
    assert_int_equal(wp_irls_relative(x, z, y, N, &f, &err), WP_OK);
    assert_true(fabs(f.a - a) / a < 0.01);
    assert_true(fabs(f.b - b) < 0.5);
    assert_true(fabs(f.s - s) < 0.03);
    /* Without z: y = a x + b. */
    for (size_t i = 0; i < N; i++)
        y[i] = (a * x[i] + b) * (1.0 + 0.04 * (wp_rng_uniform(&rng) - 0.5)) *
               (i % 25 == 0 ? 3.0 : 1.0);
    assert_int_equal(wp_irls_relative(x, NULL, y, N, &f, &err), WP_OK);
    assert_true(fabs(f.a - a) / a < 0.01);
    assert_true(fabs(f.b - b) < 0.3);
    /* An exact line is found exactly. */
    for (size_t i = 0; i < N; i++)
        y[i] = a * x[i] + 17.0;
    assert_int_equal(wp_irls_relative(x, NULL, y, N, &f, &err), WP_OK);
    assert_true(fabs(f.b - 17.0) < 1e-6 && fabs(f.a - a) < 1e-9);
    /* A negative intercept is not a network's: b is clamped at 0 and a
     * refitted. */
    double xx[3] = {1000, 2000, 3000}, yx[3];
    for (int i = 0; i < 3; i++)
        yx[i] = 0.01 * xx[i] - 1.0;
    assert_int_equal(wp_irls_relative(xx, NULL, yx, 3, &f, &err), WP_OK);
    assert_true(f.b == 0.0 && f.a > 0);
    /* Errors: too few pairs, a non-positive RTT. */
    assert_int_equal(wp_irls_relative(xx, NULL, yx, 1, &f, &err), WP_EINVAL);
    yx[1] = 0;
    assert_int_equal(wp_irls_relative(xx, NULL, yx, 3, &f, &err), WP_EINVAL);
    assert_non_null(strstr(wp_err_text(&err), "pair 2"));
}

static void test_err_stats(void **state)
{
    (void)state;
    double meas[5] = {100, 100, 100, 100, 100}, pred[5] = {90, 105, 110, 120, 100};
    wp_err_stats st;
    assert_int_equal(wp_err_stats_of(pred, meas, 5, &st), WP_OK);
    assert_int_equal(st.n, 5);
    assert_true(fabs(st.median_abs_pct - 10.0) < 1e-9);
    assert_true(fabs(st.median_signed_pct - 5.0) < 1e-9);
    assert_true(st.p90_abs_pct > 10.0 && st.p90_abs_pct <= 20.0);
}

/* A synthetic RIPE-style table built from a known model: the whole
 * pipeline (country representatives, graph paths, access removal, hold-
 * out) recovers the parameters. Countries are one point each (a users
 * file of single cities) so the table can be generated outside the
 * library with the same paths. */
static void test_calibrate_synthetic(void **state)
{
    (void)state;
    static const struct {
        const char *cc;
        double lat, lon;
    } pts[] = {{"DE", 50.11, 8.68},   {"FR", 48.86, 2.35},    {"US", 40.71, -74.0},
               {"BR", -23.55, -46.63}, {"JP", 35.68, 139.75}, {"SG", 1.29, 103.85},
               {"ZA", -26.2, 28.04},  {"AU", -33.87, 151.2},  {"IN", 19.07, 72.88},
               {"GB", 51.5, -0.12},   {"ES", 40.42, -3.7},    {"KE", -1.29, 36.82}};
    enum { NP = sizeof pts / sizeof pts[0] };
    char users[2048] = "name,country,lat,lon,population\n";
    for (size_t i = 0; i < NP; i++) {
        char line[128];
        snprintf(line, sizeof line, "c%zu,%s,%.2f,%.2f,1000000\n", i, pts[i].cc, pts[i].lat,
                 pts[i].lon);
        strcat(users, line);
    }
    /* A constant access term of 4 ms per end (q10 = 4 everywhere). */
    const char *acc = write_tmp("acc.csv",
                                "country,ndt_download_tests,min_rtt_ms_q01,min_rtt_ms_q05,"
                                "min_rtt_ms_q10,min_rtt_ms_q25,min_rtt_ms_q50,min_rtt_ms_q75,"
                                "min_rtt_ms_q90,min_rtt_ms_q95,min_rtt_ms_q99\n"
                                "DE,1000,4,4,4,4,4,4,4,4,4\n");
    char accp[512];
    snprintf(accp, sizeof accp, "%s", acc);
    const char *up = write_tmp("users.csv", users);
    char usersp[512];
    snprintf(usersp, sizeof usersp, "%s", up);
    wp_graph *g = NULL;
    wp_err err = {0};
    assert_int_equal(wp_graph_load(NULL, NULL, &g, &err), WP_OK);
    double lat[NP], lon[NP];
    for (size_t i = 0; i < NP; i++) {
        lat[i] = pts[i].lat;
        lon[i] = pts[i].lon;
    }
    float km[NP * NP];
    assert_int_equal(wp_graph_path_matrix(g, lat, lon, NP, 1.4, km, &err), WP_OK);
    wp_graph_free(g);
    const double fiber = 299792.458 / 1.467 / 1000.0, infl = 1.3, over = 2.0;
    /* table: the model; btable: the same network with border terms
     * (Kenya's traffic leaves through transit, +30 ms at its end, Brazil's
     * +12 ms; the rest none). */
    char table[16384] = "cty1,cty2,rtt_cnt,rtt_avg,rtt_std,rtt_min,rtt_max\n";
    char btable[16384] = "cty1,cty2,rtt_cnt,rtt_avg,rtt_std,rtt_min,rtt_max\n";
    for (size_t i = 0; i < NP; i++)
        for (size_t j = i + 1; j < NP; j++) {
            double rtt = 2.0 * km[i * NP + j] * infl / fiber + over + 8.0, e = 0;
            for (size_t k = 0; k < 2; k++) {
                const char *c = pts[k ? j : i].cc;
                e += !strcmp(c, "KE") ? 30.0 : !strcmp(c, "BR") ? 12.0 : 0.0;
            }
            char line[128];
            const char *a = pts[i].cc, *b = pts[j].cc;
            if (strcmp(a, b) > 0) {
                const char *t = a;
                a = b;
                b = t;
            }
            snprintf(line, sizeof line, "%s,%s,500,%.6f,1,1,1\n", a, b, rtt);
            strcat(table, line);
            snprintf(line, sizeof line, "%s,%s,500,%.6f,1,1,1\n", a, b, rtt + e);
            strcat(btable, line);
        }
    strcat(table, "DE,EU,500,30,1,1,1\nDE,FR,5,30,1,1,1\n"); /* unknown; too few pings */
    const char *tp = write_tmp("ripe.csv", table);
    static const double lands[] = {1.0, 1.4, 1.8};
    wp_calib_opts o = {.measured_path = tp, .access_path = accp, .users_path = usersp,
                       .cities_per_country = 1, .land_factors = lands, .nland = 3};
    wp_calib_result res;
    assert_int_equal(wp_calibrate(&o, &res, &err), WP_OK);
    assert_true(fabs(res.params.land_factor - 1.4) < 1e-9);
    assert_true(fabs(res.params.inflation - infl) < 0.002);
    assert_true(fabs(res.params.overhead_ms - over) < 0.05);
    assert_int_equal(res.dropped_unknown, 1);
    assert_int_equal(res.dropped_count, 1);
    assert_int_equal(res.rows_fit + res.rows_held, NP * (NP - 1) / 2);
    assert_true(res.rows_held > 0);
    assert_true(res.held.median_abs_pct < 0.1);
    for (int k = 0; k < 26 * 26; k++) /* nothing left for border terms */
        assert_true(res.params.border_ms[k] < 0.05f);

    /* Border terms: recovered within the shrinkage (a country's terms are
     * pulled towards 0 by n / (n + 5), n = its fitted rows: 8-11 here),
     * none where there is none, and the held-out rows fitted again. */
    const char *bp = write_tmp("ripe_b.csv", btable);
    o.measured_path = bp;
    assert_int_equal(wp_calibrate(&o, &res, &err), WP_OK);
    double ke = wp_rtt_border_ms(&res.params, "KE", "DE") - wp_rtt_border_ms(&res.params, "DE", "FR");
    double br = wp_rtt_border_ms(&res.params, "BR", "DE") - wp_rtt_border_ms(&res.params, "DE", "FR");
    if (!(ke > 30 * 8 / 13.0 - 2 && ke < 30 + 2 && br > 12 * 8 / 13.0 - 2 && br < 12 + 2))
        fail_msg("border terms KE %.2f (30), BR %.2f (12)", ke, br);
    for (size_t i = 0; i < NP; i++)
        if (strcmp(pts[i].cc, "KE") && strcmp(pts[i].cc, "BR") &&
            !(wp_rtt_border_ms(&res.params, pts[i].cc, "ZZ") >= 0 &&
              wp_rtt_border_ms(&res.params, pts[i].cc, "KE") -
                      wp_rtt_border_ms(&res.params, "ZZ", "KE") < 2.0))
            fail_msg("%s: border term %.2f where there is none", pts[i].cc,
                     wp_rtt_border_ms(&res.params, pts[i].cc, "KE") -
                         wp_rtt_border_ms(&res.params, "ZZ", "KE"));
    assert_true(wp_rtt_border_ms(&res.params, "KE", "KE") == 0); /* inside one country */
    assert_true(res.held.median_abs_pct < 3.0);
    if (!(res.held.p90_abs_pct < res.held_no_border.p90_abs_pct))
        fail_msg("held-out p90 %.2f%% with border terms, %.2f%% without", res.held.p90_abs_pct,
                 res.held_no_border.p90_abs_pct);

    /* Bad calibration files: one clear line each. */
    const char *bad = write_tmp("bad.csv", "a,b\n1,2\n");
    assert_int_equal(wp_calibrate(&(wp_calib_opts){.measured_path = bad}, &res, &err),
                     WP_EPARSE);
    assert_non_null(strstr(wp_err_text(&err), "missing column 'cty1'"));
    bad = write_tmp("bad2.csv", "cty1,cty2,rtt_cnt,rtt_avg\nDE,FR,500,abc\n");
    assert_int_equal(wp_calibrate(&(wp_calib_opts){.measured_path = bad}, &res, &err),
                     WP_EPARSE);
    assert_non_null(strstr(wp_err_text(&err), "bad2.csv:2: column rtt_avg"));
    bad = write_tmp("bad3.csv", "cty1,cty2,rtt_cnt,rtt_avg\nDE,FR,500,30\n");
    assert_int_equal(wp_calibrate(&(wp_calib_opts){.measured_path = bad}, &res, &err),
                     WP_EPARSE);
    assert_non_null(strstr(wp_err_text(&err), "only 1 usable rows"));
}

/* ---------------------------------------------------------------- access */

static const char *const acc_header =
    "country,ndt_download_tests,min_rtt_ms_q01,min_rtt_ms_q05,min_rtt_ms_q10,min_rtt_ms_q25,"
    "min_rtt_ms_q50,min_rtt_ms_q75,min_rtt_ms_q90,min_rtt_ms_q95,min_rtt_ms_q99\n";

static void test_access(void **state)
{
    (void)state;
    wp_access *a = NULL;
    wp_err err = {0};
    assert_int_equal(wp_access_load(NULL, &a, &err), WP_OK);
    /* Germany has servers: its own curve. China's tests leave the country:
     * Asia's curve, far below China's 206 ms median. */
    const wp_access_curve *de = wp_access_for(a, "DE", WP_REGION_EUROPE);
    assert_true(de->local);
    assert_string_equal(de->country, "DE");
    const wp_access_curve *cn = wp_access_for(a, "CN", WP_REGION_ASIA);
    assert_false(cn->local);
    assert_true(wp_access_quantile(cn, 0.5) < 60.0);
    /* quantile and cdf are inverse between q01 and q99 */
    for (double u = 0.02; u < 0.99; u += 0.07) {
        double ms = wp_access_quantile(de, u);
        assert_true(fabs(wp_access_cdf(de, ms) - u) < 1e-9);
    }
    assert_true(wp_access_cdf(de, -1) == 0.0 && wp_access_cdf(de, 1e6) == 1.0);
    /* unknown country: its region's curve */
    assert_ptr_equal(wp_access_for(a, "ZZ", WP_REGION_EUROPE),
                     wp_access_for(a, NULL, WP_REGION_EUROPE));
    wp_access_free(a);

    /* Bad access files */
    char text[1024];
    snprintf(text, sizeof text, "%sDE,10,5,4,6,7,8,9,10,11,12\n", acc_header);
    const char *p = write_tmp("a1.csv", text);
    assert_int_equal(wp_access_load(p, &a, &err), WP_EPARSE);
    assert_non_null(strstr(wp_err_text(&err), "a1.csv:2: column min_rtt_ms_q05: quantiles must "
                                              "not decrease"));
    p = write_tmp("a2.csv", "country,ndt_download_tests\nDE,5\n");
    assert_int_equal(wp_access_load(p, &a, &err), WP_EPARSE);
    assert_non_null(strstr(wp_err_text(&err), "missing column 'min_rtt_ms_q01'"));
}

/* Coverage with a constant access term c equals the network-only coverage
 * at within - c, and a hand count over the points. */
static void test_coverage_constant_access(void **state)
{
    (void)state;
    wp_topology *t = NULL;
    wp_users *u = NULL;
    wp_err err = {0};
    assert_int_equal(wp_topo_load_preset("tiny", NULL, &t, &err), WP_OK);
    assert_int_equal(wp_users_load(t, NULL, &u, &err), WP_OK);
    char text[1024];
    snprintf(text, sizeof text, "%sDE,1000,12,12,12,12,12,12,12,12,12\n", acc_header);
    assert_int_equal(wp_users_set_access(u, write_tmp("c.csv", text), &err), WP_OK);
    for (double within = 20; within <= 200; within += 15) {
        double all, by[WP_REGION_COUNT], net, nby[WP_REGION_COUNT];
        wp_users_coverage_access(u, within, &all, by);
        wp_users_coverage(u, within - 12.0, &net, nby);
        double in = 0, tot = 0, rin[WP_REGION_COUNT] = {0}, rtot[WP_REGION_COUNT] = {0};
        for (size_t i = 0; i < wp_users_count(u); i++) {
            const wp_user_point *p = wp_users_point(u, i);
            tot += p->population;
            rtot[p->region] += p->population;
            if (p->ingress_rtt_ms + 12.0 <= within) {
                in += p->population;
                rin[p->region] += p->population;
            }
        }
        assert_true(fabs(all - in / tot) < 1e-12);
        assert_true(fabs(all - net) < 1e-12);
        for (int r = 0; r < WP_REGION_COUNT; r++) {
            double want = rtot[r] > 0 ? rin[r] / rtot[r] : 0.0;
            assert_true(fabs(by[r] - want) < 1e-12);
        }
        /* every draw is the constant */
        wp_rng rng;
        wp_rng_seed(&rng, 1);
        assert_true(wp_users_access_draw(u, 0, &rng) == 12.0);
    }
    /* The shipped access: with access never above network-only. */
    assert_int_equal(wp_users_set_access(u, NULL, &err), WP_OK);
    double net, acc;
    wp_users_coverage(u, 50, &net, NULL);
    wp_users_coverage_access(u, 50, &acc, NULL);
    assert_true(acc <= net && acc > 0);
    wp_users_free(u);
    wp_topo_free(t);
}

/* ---------------------------------------------------------------- params */

static void test_params_file(void **state)
{
    (void)state;
    wp_rtt_params d, p;
    wp_rtt_params_default(&d);
    /* The shipped parameter file is the compiled-in default. */
    wp_err err = {0};
    assert_int_equal(
        wp_rtt_params_load(WP_TEST_FIXTURES "/../../topology/data/rtt_v2.params", &p, &err),
        WP_OK);
    assert_true(fabs(p.inflation - d.inflation) < 1e-6);
    assert_true(fabs(p.overhead_ms - d.overhead_ms) < 1e-6);
    assert_true(fabs(p.land_factor - d.land_factor) < 1e-6);
    assert_true(p.paths == d.paths && p.access == d.access);
    assert_true(d.n_border > 20 && p.n_border == d.n_border);
    assert_memory_equal(p.border_ms, d.border_ms, sizeof d.border_ms);
    /* The fallback constants are the file's values too. */
    assert_true(fabs(d.inflation - 1.251898) < 1e-6 && d.overhead_ms == 0 &&
                d.land_factor == 1.8);
    /* Round trip */
    d.inflation = 1.111;
    d.access = false;
    d.paths = WP_RTT_PATHS_GREAT_CIRCLE;
    char path[512];
    snprintf(path, sizeof path, "%s/rt.params", tmpdir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(wp_rtt_params_write(fp, &d), WP_OK);
    fclose(fp);
    assert_int_equal(wp_rtt_params_load(path, &p, &err), WP_OK);
    assert_true(fabs(p.inflation - 1.111) < 1e-9 && !p.access &&
                p.paths == WP_RTT_PATHS_GREAT_CIRCLE);
    assert_true(p.n_border == d.n_border);
    for (int k = 0; k < 26 * 26; k++) /* written with 2 decimals */
        assert_true(fabsf(p.border_ms[k] - d.border_ms[k]) <= 0.005f);
    assert_string_equal(p.source, path);
    /* Errors name the line */
    static const struct {
        const char *text, *frag;
    } bad[] = {
        {"inflation 1.2\nspeed 3\n", ":2: unknown key 'speed'"},
        {"inflation fast\n", ":1: inflation: expected a number"},
        {"paths bent\n", ":1: paths: expected graph or great-circle"},
        {"inflation\n", ":1: expected 'key value'"},
        {"land_factor 0.5\n", "land_factor must be in 1..10"},
        {"", "empty parameter file"},
        {"border KE\n", ":1: expected 'border CC MS'"},
        {"border KE 3 4\n", ":1: expected 'border CC MS'"},
        {"border Ke 3\n", ":1: border: 'Ke' is not an ISO"},
        {"border KE -1\n", ":1: border KE: expected 0..1000 ms"},
        {"border KE 5000\n", ":1: border KE: expected 0..1000 ms"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *bp = write_tmp("bad.params", bad[i].text);
        assert_int_not_equal(wp_rtt_params_load(bp, &p, &err), WP_OK);
        if (!strstr(wp_err_text(&err), bad[i].frag))
            fail_msg("'%s' lacks '%s'", wp_err_text(&err), bad[i].frag);
    }
    assert_int_equal(wp_rtt_params_load("/nonexistent.params", &p, &err), WP_EIO);
}

/* ---------------------------------------------------------------- sim */

/* The simulator adds each user's access latency on the user's leg: with
 * the same seed, the v2 run with access is slower than without, by about
 * the population's mean access latency, and nobody beats the network-only
 * floor. */
static void test_sim_access(void **state)
{
    (void)state;
    /* queue_per_slot 0: spill rather than queue, so queueing at 200/s
     * does not blur the access latency compared here */
    static const char text[] =
        "preset = tiny\ngpus_total = 16\nrate_rps = 200\nfunctions = 1\nqueue_per_slot = 0\n";
    wp_sim_scenario sc;
    wp_err err = {0};
    assert_int_equal(wp_sim_scenario_parse(text, "<t>", &sc, &err), WP_OK);
    assert_true(sc.rtt.access && sc.rtt.paths == WP_RTT_PATHS_GRAPH);
    wp_sim_options opt = {.seed = 3, .max_requests = 20000};
    wp_sim_result *with = wp_sim_result_new(), *without = wp_sim_result_new();
    assert_int_equal(wp_sim_run(&sc, &opt, with, &err), WP_OK);
    sc.rtt.access = false;
    assert_int_equal(wp_sim_run(&sc, &opt, without, &err), WP_OK);
    double p50w = (double)wp_hist_quantile(&with->all.ttft_ns, 0.5) / 1e6;
    double p50n = (double)wp_hist_quantile(&without->all.ttft_ns, 0.5) / 1e6;
    assert_true(p50w > p50n + 3.0);
    assert_true(with->all.ttft_ns.min >= without->all.ttft_ns.min);
    print_message("tiny p50 TTFT: %.1f ms with access, %.1f ms without\n", p50w, p50n);
    /* the scenario key */
    assert_int_equal(wp_sim_scenario_parse("rtt_params = /nonexistent.params\n", "<t>", &sc, &err),
                     WP_EIO);
    assert_non_null(strstr(wp_err_text(&err), "rtt_params"));
    wp_sim_result_free(with);
    wp_sim_result_free(without);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graph_paths),
        cmocka_unit_test(test_graph_errors),
        cmocka_unit_test(test_shipped_graph),
        cmocka_unit_test(test_irls_recovers_synthetic),
        cmocka_unit_test(test_err_stats),
        cmocka_unit_test(test_calibrate_synthetic),
        cmocka_unit_test(test_access),
        cmocka_unit_test(test_coverage_constant_access),
        cmocka_unit_test(test_params_file),
        cmocka_unit_test(test_sim_access),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
