/* tests/unit/test_topology.c — topology: geo math, RTT model, presets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "topology/topology.h"

static void test_geo_known_distances(void **state)
{
    (void)state;
    /* London (51.5074, -0.1278) – New York (40.7128, -74.0060): ~5570 km. */
    double km = wp_geo_distance_km(51.5074, -0.1278, 40.7128, -74.0060);
    assert_true(fabs(km - 5570.0) < 15.0);
}

static void test_presets_load(void **state)
{
    (void)state;
    wp_err err = {0};
    for (const char *const *p = wp_topo_preset_names(); *p; p++) {
        wp_topology *t = NULL;
        assert_int_equal(wp_topo_load_preset(*p, NULL, &t, &err), WP_OK);
        assert_true(wp_topo_count(t) > 0);
        wp_topo_free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geo_known_distances),
        cmocka_unit_test(test_presets_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
