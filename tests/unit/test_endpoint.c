/* Unit tests of common/net.c's endpoint text helpers, which decide what a
 * daemon binds and what it tells the others (--bind / --advertise):
 * HOST:PORT gains tcp://, a scheme is kept, wildcards are recognised (and
 * nothing else is), a wildcard's host is replaced by the advertised one,
 * and a result that does not fit is refused, never cut. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "common/common.h"

static void normalize(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(wp_endpoint_normalize("10.0.0.5:7001", out, sizeof out), WP_OK);
    assert_string_equal(out, "tcp://10.0.0.5:7001");
    assert_int_equal(wp_endpoint_normalize("tcp://h.example:1", out, sizeof out), WP_OK);
    assert_string_equal(out, "tcp://h.example:1");
    assert_int_equal(wp_endpoint_normalize("ipc:///tmp/x", out, sizeof out), WP_OK);
    assert_string_equal(out, "ipc:///tmp/x");
    assert_int_equal(wp_endpoint_normalize("", out, sizeof out), WP_EINVAL);
    assert_int_equal(wp_endpoint_normalize(NULL, out, sizeof out), WP_EINVAL);
    char small[12];
    assert_int_equal(wp_endpoint_normalize("10.0.0.5:7001", small, sizeof small), WP_ETOOBIG);
}

static void wildcard(void **state)
{
    (void)state;
    const char *wild[] = {"0.0.0.0:7001", "tcp://0.0.0.0:7001", "tcp://*:7001", "*:1",
                          "tcp://[::]:7001", ":7001"};
    for (size_t i = 0; i < sizeof wild / sizeof wild[0]; i++)
        assert_true(wp_endpoint_is_wildcard(wild[i]));
    const char *real[] = {"10.0.0.5:7001", "tcp://127.0.0.1:7001", "tcp://[::1]:7001",
                          "tcp://0.0.0.01:7001", "tcp://host:7001"};
    for (size_t i = 0; i < sizeof real / sizeof real[0]; i++)
        assert_false(wp_endpoint_is_wildcard(real[i]));
}

static void with_host(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(wp_endpoint_with_host("tcp://0.0.0.0:7401", "tcp://10.77.0.4:7301", out,
                                           sizeof out),
                     WP_OK);
    assert_string_equal(out, "tcp://10.77.0.4:7401");
    assert_int_equal(wp_endpoint_with_host("tcp://*:9", "tcp://[fd00::1]:7301", out, sizeof out),
                     WP_OK);
    assert_string_equal(out, "tcp://[fd00::1]:9");
    /* `like` without a host: unchanged. */
    assert_int_equal(wp_endpoint_with_host("tcp://0.0.0.0:7401", ":7301", out, sizeof out), WP_OK);
    assert_string_equal(out, "tcp://0.0.0.0:7401");
    char small[16];
    assert_int_equal(wp_endpoint_with_host("tcp://0.0.0.0:7401", "tcp://10.77.0.4:1", small,
                                           sizeof small),
                     WP_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(normalize),
        cmocka_unit_test(wildcard),
        cmocka_unit_test(with_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
