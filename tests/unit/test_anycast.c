/* Anycast in the traffic client (tools/wpctl/infer_client.c): a user enters
 * at the ingress whose city has the lowest model RTT from it; ingresses
 * without a known city lose; the single --endpoint ingress takes all. */
#include "tools/wpctl/infer_client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void add(wpctl_ingress *g, const wp_topology *t, const char *code)
{
    memset(g, 0, sizeof *g);
    snprintf(g->id, sizeof g->id, "n-%s", code);
    snprintf(g->city, sizeof g->city, "%s", code);
    const wp_city *c = wp_topo_city(t, (size_t)wp_topo_find(t, code));
    g->lat = c->lat;
    g->lon = c->lon;
    g->has_pos = true;
}

static void test_nearest(void **state)
{
    (void)state;
    wp_topology *t = NULL;
    wp_err err;
    wp_err_clear(&err);
    assert_int_equal(wp_topo_load_preset("edge", NULL, &t, &err), WP_OK);
    const wp_rtt_params *p = wp_topo_params(t);
    wpctl_ingress in[4];
    memset(&in[0], 0, sizeof in[0]); /* no position: never chosen */
    snprintf(in[0].id, sizeof in[0].id, "unknown");
    add(&in[1], t, "FRA");
    add(&in[2], t, "SIN");
    add(&in[3], t, "IAD");
    double rtt;
    /* Paris -> FRA, Jakarta -> SIN, Toronto -> IAD, Sydney -> SIN. */
    assert_int_equal(wpctl_ingress_nearest(in, 4, p, 48.86, 2.35, &rtt), 1);
    assert_true(rtt > 0 && rtt < 30);
    assert_int_equal(wpctl_ingress_nearest(in, 4, p, -6.2, 106.8, &rtt), 2);
    assert_int_equal(wpctl_ingress_nearest(in, 4, p, 43.65, -79.38, &rtt), 3);
    assert_int_equal(wpctl_ingress_nearest(in, 4, p, -33.87, 151.21, &rtt), 2);
    /* The RTT reported is the model's. */
    assert_true(fabs(rtt - wp_rtt_ms_between(p, -33.87, 151.21, in[2].lat, in[2].lon)) < 1e-9);
    wp_topo_free(t);
}

static void test_endpoint_list(void **state)
{
    (void)state;
    wpctl_ingress in[2];
    size_t n = 9;
    wp_err err;
    wp_err_clear(&err);
    assert_int_equal(wpctl_ingress_list(NULL, "tcp://127.0.0.1:9", NULL, in, 2, &n, &err), WP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(in[0].endpoint, "tcp://127.0.0.1:9");
    assert_false(in[0].has_pos);
    /* One ingress without a position still takes every user. */
    wp_rtt_params p;
    wp_rtt_params_default(&p);
    assert_int_equal(wpctl_ingress_nearest(in, 1, &p, 10, 10, NULL), 0);
    /* A directory without a cluster is a clear error. */
    assert_int_not_equal(
        wpctl_ingress_list("/nonexistent/wp-dir", NULL, NULL, in, 2, &n, &err), WP_OK);
    assert_non_null(strstr(wp_err_text(&err), "no cluster at /nonexistent/wp-dir"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nearest),
        cmocka_unit_test(test_endpoint_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
