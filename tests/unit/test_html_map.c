/* test_html_map: the --html map's TopoJSON reader (tools/wpctl/html_map.c).
 * A hand-built square comes out as the projection computed by hand; the
 * shipped outlines give one path per country geometry the file holds;
 * every prefix of a valid document, and each kind of bad input (deep
 * nesting, arc indices out of range or not integers, bad positions, no
 * transform, trailing data, too many values, an arc reused to blow the
 * drawing up), is refused with a message and no crash. The inputs are
 * malloc'd to their exact size, without a NUL, so a read past the end is
 * an ASan report under `make asan`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/wpctl/html_report.h"

extern const unsigned char wpctl_map_countries[];
extern const size_t wpctl_map_countries_len;

/* Draws json[0..len) (copied to an exact-size buffer) into *svg. */
static int draw(const char *json, size_t len, char **svg, wp_err *err)
{
    char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memcpy(buf, json, len);
    size_t n = 0;
    FILE *fp = open_memstream(svg, &n);
    assert_non_null(fp);
    wp_err_clear(err);
    int rv = wpctl_map_svg_from(buf, len, fp, err);
    fclose(fp);
    free(buf);
    return rv;
}

static int draw_str(const char *json, char **svg, wp_err *err)
{
    return draw(json, strlen(json), svg, err);
}

/* A 10 x 10 degree square at (0, 0): lon/lat = quantized * 1 + 0. */
#define SQUARE_ARC "[[0,0],[10,0],[0,10],[-10,0],[0,-10]]"
#define TOPO(arcs, geom)                                                                       \
    "{\"type\":\"Topology\",\"transform\":{\"scale\":[1,1],\"translate\":[0,0]},"            \
    "\"arcs\":" arcs ",\"objects\":{\"countries\":{\"type\":\"GeometryCollection\","      \
    "\"geometries\":[" geom "]}}}"

static void test_square_by_hand(void **state)
{
    (void)state;
    wp_err err;
    char *svg = NULL;
    /* x = (lon + 180) * 1000 / 360, y = (90 - lat) * 1000 / 360:
     * (0,0) -> 500.0 250.0; (10,0) -> 527.8 250.0; (10,10) -> 527.8 222.2 */
    assert_int_equal(draw_str(TOPO("[" SQUARE_ARC "]",
                                   "{\"type\":\"Polygon\",\"arcs\":[[0]],"
                                   "\"properties\":{\"name\":\"A<B\"}}"),
                              &svg, &err),
                     WP_OK);
    assert_string_equal(svg, "<path class=\"land\" d=\"M500.0 250.0L527.8 250.0L527.8 222.2"
                             "L500.0 222.2L500.0 250.0Z\"><title>A&lt;B</title></path>\n");
    free(svg);
    /* ~0 is the same arc reversed. */
    assert_int_equal(draw_str(TOPO("[" SQUARE_ARC "]", "{\"type\":\"Polygon\",\"arcs\":[[-1]]}"),
                              &svg, &err),
                     WP_OK);
    assert_string_equal(svg, "<path class=\"land\" d=\"M500.0 250.0L500.0 222.2L527.8 222.2"
                             "L527.8 250.0L500.0 250.0Z\"></path>\n");
    free(svg);
}

static void test_shipped_outlines(void **state)
{
    (void)state;
    /* One path per country with an outline: count the polygons the file
     * holds between "countries" and the next object ("land", one more). */
    const char *p = (const char *)wpctl_map_countries;
    const char *land = strstr(p, "\"land\":");
    assert_non_null(land);
    size_t geoms = 0;
    for (size_t i = 0; p + i + 14 < land; i++)
        if (memcmp(p + i, "\"Polygon\"", 9) == 0 || memcmp(p + i, "\"MultiPolygon\"", 14) == 0)
            geoms++;
    assert_true(geoms > 150); /* Natural Earth 1:110m: 177 countries */
    wp_err err;
    char *svg = NULL;
    assert_int_equal(draw(p, wpctl_map_countries_len, &svg, &err), WP_OK);
    size_t paths = 0;
    for (const char *q = svg; (q = strstr(q, "<path class=\"land\"")); q++)
        paths++;
    assert_int_equal(paths, geoms);
    assert_non_null(strstr(svg, "<title>France</title>"));
    free(svg);
}

/* The fuzz seed: two countries sharing a border arc (one reversed), and a
 * geometry with no outline, which draws nothing. */
static void test_fuzz_seed(void **state)
{
    (void)state;
    FILE *fp = fopen(WP_TEST_FIXTURES "/map/two_countries.topojson", "rb");
    assert_non_null(fp);
    char doc[4096];
    size_t n = fread(doc, 1, sizeof doc, fp);
    fclose(fp);
    wp_err err;
    char *svg = NULL;
    assert_int_equal(draw(doc, n, &svg, &err), WP_OK);
    size_t paths = 0, closed = 0;
    for (const char *q = svg; (q = strstr(q, "<path class=\"land\"")); q++)
        paths++;
    for (const char *q = svg; (q = strstr(q, "Z\"")); q++)
        closed++;
    assert_int_equal(paths, 2);
    assert_int_equal(closed, 2);
    assert_non_null(strstr(svg, "<title>East &amp; Co</title>"));
    free(svg);
}

static void test_every_prefix_refused(void **state)
{
    (void)state;
    static const char doc[] = TOPO("[" SQUARE_ARC "]", "{\"type\":\"Polygon\",\"arcs\":[[0]]}");
    size_t len = strlen(doc);
    for (size_t n = 0; n < len; n++) {
        wp_err err;
        char *svg = NULL;
        int rv = draw(doc, n, &svg, &err);
        if (rv == WP_OK)
            fail_msg("prefix of %zu bytes accepted", n);
        assert_int_equal(rv, WP_EPARSE);
        assert_true(strncmp(err.msg, "map: ", 5) == 0);
        free(svg);
    }
}

static void expect_refused(const char *json, int code, const char *msg_part)
{
    wp_err err;
    char *svg = NULL;
    int rv = draw_str(json, &svg, &err);
    if (rv != code || !strstr(err.msg, msg_part))
        fail_msg("want %d \"%s\", got %d \"%s\" for %.80s", code, msg_part, rv, err.msg, json);
    free(svg);
}

static void test_bad_input(void **state)
{
    (void)state;
    char buf[512];
    expect_refused(TOPO("[" SQUARE_ARC "]", "{\"arcs\":[[1]]}"), WP_EPARSE, "arc indices");
    expect_refused(TOPO("[" SQUARE_ARC "]", "{\"arcs\":[[-2]]}"), WP_EPARSE, "arc indices");
    expect_refused(TOPO("[" SQUARE_ARC "]", "{\"arcs\":[[0.5]]}"), WP_EPARSE, "arc indices");
    expect_refused(TOPO("[" SQUARE_ARC "]", "{\"arcs\":[[1e300]]}"), WP_EPARSE, "arc indices");
    expect_refused(TOPO("[" SQUARE_ARC "]", "{\"arcs\":[[0,\"x\"]]}"), WP_EPARSE, "arc indices");
    expect_refused(TOPO("[[[0,0],[1]]]", "{\"arcs\":[[0]]}"), WP_EPARSE, "bad position");
    expect_refused(TOPO("[7]", "{\"arcs\":[[0]]}"), WP_EPARSE, "out of range");
    expect_refused(TOPO("[" SQUARE_ARC "]", "{\"arcs\":7}"), WP_EPARSE, "expected arrays");
    expect_refused("{\"arcs\":[],\"objects\":{}}", WP_EPARSE, "transform");
    expect_refused("{\"transform\":{\"scale\":[1,1],\"translate\":[0,0]},\"objects\":{}}",
                   WP_EPARSE, "missing arcs");
    expect_refused("{\"transform\":{\"scale\":[1,1],\"translate\":[0,0]},\"arcs\":[]}", WP_EPARSE,
                   "geometries");
    snprintf(buf, sizeof buf, "%s x", TOPO("[" SQUARE_ARC "]", "{\"arcs\":[[0]]}"));
    expect_refused(buf, WP_EPARSE, "after the end");
    expect_refused(TOPO("[[[0,0],[1e999,0]]]", "{\"arcs\":[[0]]}"), WP_EPARSE, "bad value");
    expect_refused(TOPO("[[[0,0],[--1,0]]]", "{\"arcs\":[[0]]}"), WP_EPARSE, "bad value");
    expect_refused("{\"a\" 1}", WP_EPARSE, "':'");
    expect_refused("[1 2]", WP_EPARSE, "','");
    expect_refused("\"abc", WP_EPARSE, "unterminated");
    /* 40 levels of nesting, over the limit of 32 */
    char deep[128];
    memset(deep, '[', 40);
    memset(deep + 40, ']', 40);
    deep[80] = '\0';
    expect_refused(deep, WP_EPARSE, "too deep");
}

static void test_bounded(void **state)
{
    (void)state;
    /* More values than the budget (1 << 20) in a small document. */
    size_t n = (1u << 20) + 16;
    char *big = malloc(2 * n + 3);
    assert_non_null(big);
    big[0] = '[';
    for (size_t i = 0; i < n; i++)
        big[1 + 2 * i] = '0', big[2 + 2 * i] = ',';
    big[2 * n] = ']';
    big[2 * n + 1] = '\0';
    expect_refused(big, WP_ETOOBIG, "values");
    free(big);
    /* One 1,000-point arc used 3,000 times by one ring: 3 M points from a
     * 12 kB input, over the drawing's bound (twice the input's values). */
    size_t cap = 64 * 1024;
    char *amp = malloc(cap);
    assert_non_null(amp);
    size_t k = (size_t)snprintf(amp, cap,
                                "{\"transform\":{\"scale\":[1,1],\"translate\":[0,0]},\"arcs\":[[");
    for (int i = 0; i < 1000; i++)
        k += (size_t)snprintf(amp + k, cap - k, "%s[0,0]", i ? "," : "");
    k += (size_t)snprintf(amp + k, cap - k,
                          "]],\"objects\":{\"countries\":{\"geometries\":[{\"arcs\":[[");
    for (int i = 0; i < 3000; i++)
        k += (size_t)snprintf(amp + k, cap - k, "%s0", i ? "," : "");
    k += (size_t)snprintf(amp + k, cap - k, "]]}]}}}");
    assert_true(k < cap);
    expect_refused(amp, WP_ETOOBIG, "points");
    free(amp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_square_by_hand),     cmocka_unit_test(test_shipped_outlines),
        cmocka_unit_test(test_every_prefix_refused), cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_bounded),            cmocka_unit_test(test_fuzz_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
