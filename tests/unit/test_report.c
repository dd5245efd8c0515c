/* Tests for the traffic results file and its report (tools/wpctl/results.c):
 * exact counts and percentiles of a small fixture, and one-line errors that
 * name the line for malformed files. */
#include "tools/wpctl/results.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define FIX WP_TEST_FIXTURES "/traffic/"

/* Histogram midpoints are within 0.4% of the recorded value. */
static void assert_ms(uint64_t ns, double want_ms)
{
    double got = (double)ns / 1e6;
    if (got < want_ms * 0.996 || got > want_ms * 1.004)
        fail_msg("got %.4f ms, want %.4f ms", got, want_ms);
}

static void test_small_counts_and_percentiles(void **state)
{
    (void)state;
    wp_err err;
    wp_err_clear(&err);
    wpctl_report rep;
    assert_int_equal(wpctl_report_load(FIX "results_small.csv", &rep, &err), WP_OK);
    assert_int_equal(rep.sent, 8);
    assert_int_equal(rep.ok, 6);
    assert_int_equal(rep.errors, 2);
    assert_int_equal(rep.retried, 1);
    const wp_sim_stats *eu = &rep.res->region[WP_REGION_EUROPE];
    const wp_sim_stats *as = &rep.res->region[WP_REGION_ASIA];
    const wp_sim_stats *oc = &rep.res->region[WP_REGION_OCEANIA];
    assert_int_equal(eu->requests, 4);
    assert_int_equal(eu->errors, 0);
    assert_int_equal(eu->cold_starts, 1);
    assert_int_equal(eu->ttft_ns.count, 4);
    /* Europe TTFTs 10, 12, 14, 16 ms: nearest rank p50 = 2nd, p95 = 4th. */
    assert_ms(wp_hist_quantile(&eu->ttft_ns, 0.50), 12.0);
    assert_ms(wp_hist_quantile(&eu->ttft_ns, 0.95), 16.0);
    assert_ms(wp_hist_quantile(&eu->total_ns, 0.95), 26.0);
    assert_int_equal(as->requests, 2);
    assert_int_equal(as->errors, 1);
    assert_int_equal(as->ttft_ns.count, 1); /* the timeout records no latency */
    assert_int_equal(oc->requests, 1);
    assert_int_equal(oc->errors, 1);
    assert_int_equal(oc->ttft_ns.count, 0);
    /* all: ok TTFTs 10 12 14 16 30 80 -> p50 = 3rd = 14, p99 = 80. */
    assert_int_equal(rep.res->all.requests, 8);
    assert_int_equal(rep.res->all.errors, 2);
    assert_int_equal(rep.res->all.cold_starts, 1);
    assert_ms(wp_hist_quantile(&rep.res->all.ttft_ns, 0.50), 14.0);
    assert_ms(wp_hist_quantile(&rep.res->all.ttft_ns, 0.99), 80.0);
    assert_int_equal(rep.nreasons, 2);
    assert_string_equal(rep.reason_code[0], "TIMEOUT");
    assert_string_equal(rep.reason_code[1], "UNKNOWN_MODEL");

    /* The JSON has sim's keys plus sent/ok/errors. */
    char buf[8192];
    FILE *fp = fmemopen(buf, sizeof buf, "w");
    assert_non_null(fp);
    wpctl_report_print_json(&rep, "live", fp);
    fclose(fp);
    assert_non_null(strstr(buf, "\"sent\":8,\"ok\":6,\"errors\":2,\"counts_add_up\":true"));
    assert_non_null(strstr(buf, "\"europe\":{\"requests\":4,\"p50_ms\":"));
    assert_non_null(strstr(buf, "\"sent\":2,\"ok\":1,\"errors\":1}"));
    wpctl_report_free(&rep);
}

/* A file with `body` after the header (or with no header when header is
 * false) must fail with one line naming file:line. */
static void expect_error(const char *body, bool header, const char *want)
{
    char path[] = "/tmp/wp_test_report_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    if (header)
        fputs(WPCTL_RESULTS_HEADER "\n", fp);
    fputs(body, fp);
    fclose(fp);
    wp_err err;
    wp_err_clear(&err);
    wpctl_report rep;
    int rv = wpctl_report_load(path, &rep, &err);
    remove(path);
    assert_int_not_equal(rv, WP_OK);
    const char *msg = wp_err_text(&err);
    if (!strstr(msg, want))
        fail_msg("error '%s' does not contain '%s'", msg, want);
    assert_null(strchr(msg, '\n'));
}

static void test_malformed(void **state)
{
    (void)state;
    wp_err err;
    wp_err_clear(&err);
    wpctl_report rep;
    assert_int_not_equal(wpctl_report_load(FIX "results_bad.csv", &rep, &err), WP_OK);
    assert_non_null(strstr(wp_err_text(&err), "results_bad.csv:3: column ttft_us"));

    expect_error("", false, ":1: empty file");
    expect_error("id,user\n", false, ":1: expected the header");
    expect_error("1,a,europe,n,n,m,ok,,0,1,2,0\n", true, ":2: expected 14 fields, got 12");
    expect_error("1,a,europe,n,n,m,ok,,0,1,2,0,0,\n2,a,mars,n,n,m,ok,,0,1,2,0,0,\n", true,
                 ":3: column region: unknown region 'mars'");
    expect_error("1,a,europe,n,n,m,fine,,0,1,2,0,0,\n", true, ":2: column status");
    expect_error("1,a,europe,n,n,m,ok,,0,1,2,2,0,\n", true, ":2: column cold: expected 0 or 1");
    expect_error("1,a,europe,n,n,m,ok,,0,5,2,0,0,\n", true, ":2: ttft_us 5 is more than total_us");
    expect_error("1,a,europe,n,n,m,ok,,0,1,2,0,0,\n1,a,asia,n,n,m,ok,,0,1,2,0,0,\n", true,
                 "request id 1 appears more than once");
    expect_error("-1,a,europe,n,n,m,ok,,0,1,2,0,0,\n", true, ":2: column id");
}

/* What traffic writes, report reads back; text with commas and quotes
 * survives (quoted), so reasons are kept whole. */
static void test_write_read_back(void **state)
{
    (void)state;
    char path[] = "/tmp/wp_test_report_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    wpctl_results_write_header(fp);
    wpctl_result_row r = {.id = 42, .region = WP_REGION_SOUTH_AMERICA, .send_us = 5,
                          .ttft_us = 7000, .total_us = 9000, .cold = true};
    snprintf(r.user, sizeof r.user, "Sao Paulo, Brazil");
    snprintf(r.ingress, sizeof r.ingress, "n-GRU");
    snprintf(r.node, sizeof r.node, "n-GRU");
    snprintf(r.model, sizeof r.model, "llm-small");
    snprintf(r.status, sizeof r.status, "ok");
    wpctl_results_write_row(fp, &r);
    r.id = 43;
    snprintf(r.status, sizeof r.status, "NO_ROUTE");
    snprintf(r.reason, sizeof r.reason, "no node, with room, holds \"x\"");
    wpctl_results_write_row(fp, &r);
    fclose(fp);
    wp_err err;
    wp_err_clear(&err);
    wpctl_report rep;
    int rv = wpctl_report_load(path, &rep, &err);
    wp_csv c;
    assert_int_equal(wp_csv_open(&c, path, &err), WP_OK);
    assert_int_equal(wp_csv_next(&c, &err), WP_OK); /* the header */
    assert_int_equal(wp_csv_next(&c, &err), WP_OK);
    assert_int_equal(c.nfields, 14);
    assert_string_equal(c.fields[1], "Sao Paulo, Brazil");
    assert_int_equal(wp_csv_next(&c, &err), WP_OK);
    assert_string_equal(c.fields[7], "no node, with room, holds \"x\"");
    wp_csv_close(&c);
    remove(path);
    if (rv != WP_OK)
        fail_msg("%s", wp_err_text(&err));
    assert_int_equal(rep.sent, 2);
    assert_int_equal(rep.ok, 1);
    assert_int_equal(rep.res->region[WP_REGION_SOUTH_AMERICA].cold_starts, 1);
    assert_ms(wp_hist_quantile(&rep.res->region[WP_REGION_SOUTH_AMERICA].ttft_ns, 0.5), 7.0);
    wpctl_report_free(&rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_counts_and_percentiles),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_write_read_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
