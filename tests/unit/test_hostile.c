/* test_hostile.c — regression tests for hostile inputs found by review and
 * by the libFuzzer harnesses in tests/fuzz/ (each test names the input that
 * once crashed or misbehaved, and checks that it is now refused cleanly or
 * handled). Run under ASan+UBSan (-DWP_ASAN=ON) these are the crash checks;
 * in a plain build they check the error paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <msgpack.h>

#include "common/common.h"
#include "placement/placement.h"
#include "sim/sim.h"
#include "topology/topology.h"

/* Writes text to a fresh temporary file; returns its path (static). */
static const char *tmp_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/wp_hostile_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

/* ------------------------------------------------------------ sim traces */

/* Fuzzer find: a year far from 1970 overflowed the int64 nanosecond
 * arithmetic in the Azure timestamp parser (UB; garbage offsets). */
static void test_trace_far_years_refused(void **state)
{
    (void)state;
    static const char *years[] = {"4046", "9999", "0000", "1600", "2263"};
    for (size_t i = 0; i < WP_ARRAY_LEN(years); i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                 "2023-11-16 18:15:46.6805900,374,44\n"
                 "%s-11-16 18:15:50.9951690,396,109\n",
                 years[i]);
        const char *p = tmp_file(text);
        wp_sim_trace *t = NULL;
        wp_err err = {0};
        assert_int_equal(wp_sim_trace_load(p, &t, &err), WP_EPARSE);
        assert_null(t);
        assert_non_null(strstr(wp_err_text(&err), ":3: column TIMESTAMP"));
        unlink(p);
    }
    /* The ends of the accepted range still load. */
    const char *p = tmp_file("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                             "1970-01-01 00:00:00,1,1\n"
                             "2200-12-31 23:59:59.999999999,1,1\n");
    wp_sim_trace *t = NULL;
    wp_err err = {0};
    assert_int_equal(wp_sim_trace_load(p, &t, &err), WP_OK);
    assert_int_equal(t->nrows, 2);
    assert_true(t->rows[1].at_ns > 7000000000000000000ull);
    wp_sim_trace_free(t);
    unlink(p);
}

/* A Mooncake timestamp near the old 1e13 ms cap overflowed the double to
 * int64 conversion (ms * 1e6 > INT64_MAX). */
static void test_trace_huge_mooncake_ms_refused(void **state)
{
    (void)state;
    const char *p = tmp_file("timestamp_ms,input_length,output_length\n"
                             "0,10,10\n"
                             "9999999999999,10,10\n");
    wp_sim_trace *t = NULL;
    wp_err err = {0};
    assert_int_equal(wp_sim_trace_load(p, &t, &err), WP_ERANGE);
    assert_null(t);
    assert_non_null(strstr(wp_err_text(&err), ":3: column timestamp_ms"));
    unlink(p);
}

/* ------------------------------------------------------------ sim reports */

/* With GPUs too small for any model every request ends in an error; the
 * JSON report said only "requests":N with p50 0 ms, as if all had been
 * served instantly. It now carries "errors" (the table and CSV had it). */
static void test_sim_json_reports_errors(void **state)
{
    (void)state;
    wp_sim_scenario sc;
    wp_err err = {0};
    assert_int_equal(wp_sim_scenario_parse("preset = tiny\ngpus_total = 8\ngpu_mem_gb = 0.001\n",
                                           "<t>", &sc, &err),
                     WP_OK);
    wp_sim_options opt = {.seed = 1, .max_requests = 300};
    wp_sim_result *res = wp_sim_result_new();
    assert_non_null(res);
    assert_int_equal(wp_sim_run(&sc, &opt, res, &err), WP_OK);
    assert_int_equal(res->all.errors, 300);
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    assert_non_null(fp);
    wp_sim_report_json(res, 0.0, fp);
    fclose(fp);
    assert_non_null(strstr(buf, "\"requests\":300,\"errors\":300,"));
    free(buf);
    wp_sim_result_free(res);
}

/* ------------------------------------------------------------ placement snapshots */

/* What a hand-made snapshot holds: one node, one model, one pin, two
 * demand entries; each field can be made bad. */
typedef struct snap_spec {
    const char *node_id;
    uint32_t gpus;
    uint64_t gpu_mem_bytes;
    double load_bytes_per_s;
    uint32_t slots;
    double decode_ms;
    uint32_t replicas;
    const char *demand_models[2]; /* for city FRA, in this order */
} snap_spec;

static void pack_s(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* The snapshot layout of placement/state.c, format 1. */
static msgpack_sbuffer make_snapshot(const snap_spec *sp)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 7);
    pack_s(&pk, "wp-placement");
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_uint64(&pk, 42);
    msgpack_pack_array(&pk, 1); /* nodes */
    msgpack_pack_array(&pk, 5);
    pack_s(&pk, sp->node_id);
    pack_s(&pk, "FRA");
    msgpack_pack_uint32(&pk, sp->gpus);
    msgpack_pack_uint64(&pk, sp->gpu_mem_bytes);
    msgpack_pack_true(&pk);
    msgpack_pack_array(&pk, 2); /* models */
    const char *names[2] = {"a-model", "b-model"};
    for (int i = 0; i < 2; i++) {
        msgpack_pack_array(&pk, 10);
        pack_s(&pk, names[i]);
        msgpack_pack_uint64(&pk, 1ull << 30);
        msgpack_pack_double(&pk, 5);
        msgpack_pack_double(&pk, 0.1);
        msgpack_pack_double(&pk, i == 0 ? sp->decode_ms : 20);
        msgpack_pack_uint32(&pk, i == 0 ? sp->slots : 4);
        msgpack_pack_double(&pk, i == 0 ? sp->load_bytes_per_s : 2e9);
        msgpack_pack_double(&pk, 100);
        msgpack_pack_uint32(&pk, 100);
        msgpack_pack_uint32(&pk, 100);
    }
    msgpack_pack_array(&pk, 1); /* pins */
    msgpack_pack_array(&pk, 3);
    pack_s(&pk, "a-model");
    pack_s(&pk, "FRA");
    msgpack_pack_uint32(&pk, sp->replicas);
    msgpack_pack_array(&pk, 2); /* demand */
    for (int i = 0; i < 2; i++) {
        msgpack_pack_array(&pk, 3);
        pack_s(&pk, "FRA");
        pack_s(&pk, sp->demand_models[i]);
        msgpack_pack_double(&pk, 1.5);
    }
    return sb;
}

/* Restore took whatever a snapshot held: nodes with 0 GPUs or a bad id,
 * models with a zero or negative load rate, 0 slots or negative timings,
 * pins of 0 or 4 billion replicas, repeated demand entries — all things
 * the commands refuse, so a damaged or foreign snapshot could put the
 * state where no sequence of commands can. Restore now checks the same
 * rules and leaves the state as it was. */
static void test_snapshot_restore_checks_fields(void **state)
{
    (void)state;
    wp_topology *topo = NULL;
    wp_place_geo geo;
    wp_place_state *s = NULL;
    wp_err err = {0};
    assert_int_equal(wp_topo_load_preset("tiny", NULL, &topo, &err), WP_OK);
    assert_int_equal(wp_place_geo_from_topology(&geo, topo, &err), WP_OK);
    assert_int_equal(wp_place_state_new(&geo, &s, &err), WP_OK);

    const snap_spec good = {"n1", 2, 80ull << 30, 2e9, 4, 20, 1, {"a-model", "b-model"}};
    msgpack_sbuffer sb = make_snapshot(&good);
    assert_int_equal(wp_place_state_restore(s, sb.data, sb.size, &err), WP_OK);
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(wp_place_state_version(s), 42);
    assert_int_equal(wp_place_state_pin_count(s), 1);

    snap_spec bad[9];
    for (size_t i = 0; i < WP_ARRAY_LEN(bad); i++)
        bad[i] = good;
    bad[0].gpus = 0;
    bad[1].node_id = "bad id";
    bad[2].gpu_mem_bytes = 0;
    bad[3].load_bytes_per_s = 0;
    bad[4].load_bytes_per_s = -1;
    bad[5].slots = 0;
    bad[6].decode_ms = -3;
    bad[7].replicas = 0;
    bad[8].demand_models[1] = "a-model";
    for (size_t i = 0; i < WP_ARRAY_LEN(bad); i++) {
        void *before = NULL, *after = NULL;
        size_t lb = 0, la = 0;
        assert_int_equal(wp_place_state_snapshot(s, &before, &lb, &err), WP_OK);
        sb = make_snapshot(&bad[i]);
        err = (wp_err){0};
        if (wp_place_state_restore(s, sb.data, sb.size, &err) == WP_OK)
            fail_msg("bad snapshot %zu was restored", i);
        assert_non_null(strstr(wp_err_text(&err), "snapshot"));
        msgpack_sbuffer_destroy(&sb);
        assert_int_equal(wp_place_state_snapshot(s, &after, &la, &err), WP_OK);
        assert_int_equal(la, lb);
        assert_memory_equal(before, after, la);
        free(before);
        free(after);
    }
    bad[0] = good;
    bad[0].replicas = UINT32_MAX;
    sb = make_snapshot(&bad[0]);
    assert_int_not_equal(wp_place_state_restore(s, sb.data, sb.size, &err), WP_OK);
    msgpack_sbuffer_destroy(&sb);

    wp_place_state_free(s);
    wp_place_geo_close(&geo);
    wp_topo_free(topo);
}

/* ------------------------------------------------------------ json */

/* wp_json_double printed "%.6f" into 64 bytes: anything from 1e56 up was
 * cut short and came out as a different number (1e308 as 1e62). */
static void test_json_huge_double(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    assert_non_null(fp);
    wp_json j;
    wp_json_init(&j, fp, false);
    wp_json_arr_begin(&j);
    wp_json_double(&j, 1e308);
    wp_json_double(&j, -2.5e60);
    wp_json_double(&j, 12.5);
    wp_json_double(&j, 123456789012.25);
    wp_json_arr_end(&j);
    wp_json_end(&j);
    fclose(fp);
    double a, b, c, d;
    assert_int_equal(sscanf(buf, "[%lf,%lf,%lf,%lf]", &a, &b, &c, &d), 4);
    assert_true(a == 1e308);
    assert_true(b == -2.5e60);
    assert_non_null(strstr(buf, ",12.5,123456789012.25]"));
    free(buf);
}

/* ------------------------------------------------------------ csv */

/* A NUL byte inside a line was reported as "line longer than 65536
 * bytes" (fgets + strlen stop at the NUL); it is now named as what it is.
 * A line of exactly the cap without its newline, at the end, still reads. */
static void test_csv_nul_byte_and_line_cap(void **state)
{
    (void)state;
    static const char text[] = "a,b\n1,2\0,3\n4,5\n";
    char path[64];
    snprintf(path, sizeof path, "/tmp/wp_hostile_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    wp_csv c;
    wp_err err = {0};
    assert_int_equal(wp_csv_open(&c, path, &err), WP_OK);
    assert_int_equal(wp_csv_next(&c, &err), WP_OK);
    assert_int_equal(wp_csv_next(&c, &err), WP_EPARSE);
    assert_non_null(strstr(wp_err_text(&err), ":2: NUL byte"));
    wp_csv_close(&c);
    unlink(path);

    char *big = malloc(WP_CSV_MAX_LINE + 1);
    assert_non_null(big);
    memset(big, 'x', WP_CSV_MAX_LINE);
    big[WP_CSV_MAX_LINE] = '\0';
    const char *p = tmp_file(big);
    free(big);
    assert_int_equal(wp_csv_open(&c, p, &err), WP_OK);
    assert_int_equal(wp_csv_next(&c, &err), WP_OK);
    assert_int_equal(strlen(c.fields[0]), WP_CSV_MAX_LINE);
    assert_int_equal(wp_csv_next(&c, &err), WP_ENOTFOUND);
    wp_csv_close(&c);
    unlink(p);

    /* The same line with its newline, then a line one byte over the cap:
     * the first was refused as "longer than 65536 bytes"; the second is. */
    big = malloc(2 * WP_CSV_MAX_LINE + 8);
    assert_non_null(big);
    memset(big, 'x', 2 * WP_CSV_MAX_LINE + 2);
    big[WP_CSV_MAX_LINE] = '\n';
    big[2 * WP_CSV_MAX_LINE + 2] = '\n';
    big[2 * WP_CSV_MAX_LINE + 3] = '\0';
    p = tmp_file(big);
    free(big);
    assert_int_equal(wp_csv_open(&c, p, &err), WP_OK);
    assert_int_equal(wp_csv_next(&c, &err), WP_OK);
    assert_int_equal(strlen(c.fields[0]), WP_CSV_MAX_LINE);
    assert_int_equal(wp_csv_next(&c, &err), WP_ETOOBIG);
    assert_non_null(strstr(wp_err_text(&err), ":2: line longer than"));
    wp_csv_close(&c);
    unlink(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_far_years_refused),
        cmocka_unit_test(test_trace_huge_mooncake_ms_refused),
        cmocka_unit_test(test_csv_nul_byte_and_line_cap),
        cmocka_unit_test(test_sim_json_reports_errors),
        cmocka_unit_test(test_json_huge_double),
        cmocka_unit_test(test_snapshot_restore_checks_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
