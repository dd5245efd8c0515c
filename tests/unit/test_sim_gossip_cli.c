/* `wpctl sim gossip` (tools/wpctl/cmd_sim_gossip.c) driven directly: the
 * `wpctl sim` dispatcher lives in cmd_sim.c, so this test links the command
 * file alone with its two helpers. Checks --help, usage errors, and the JSON
 * keys and figures of a small run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/wpctl/wpctl.h"

int wpctl_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    return WPCTL_FAIL;
}

int wpctl_usage_error(const char *cmd, const char *fmt, ...)
{
    (void)cmd;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    return WPCTL_USAGE;
}

static int run_capture(char **argv, int argc, char *out, size_t cap)
{
    char path[] = "/tmp/wp-sim-gossip-cli.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    int rc = wpctl_sim_gossip_main(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return rc;
}

static void test_help_and_usage(void **state)
{
    (void)state;
    char out[8192];
    char *help[] = {"gossip", "--help", NULL};
    assert_int_equal(run_capture(help, 2, out, sizeof out), WPCTL_OK);
    assert_non_null(strstr(out, "usage: wpctl sim gossip"));
    char *bad[] = {"gossip", "--nodes", "2", NULL};
    assert_int_equal(run_capture(bad, 3, out, sizeof out), WPCTL_USAGE);
    char *bad2[] = {"gossip", "--loss", "1.5", NULL};
    assert_int_equal(run_capture(bad2, 3, out, sizeof out), WPCTL_USAGE);
    char *bad3[] = {"gossip", "--preset", "nowhere", "--duration-s", "200", NULL};
    assert_int_equal(run_capture(bad3, 5, out, sizeof out), WPCTL_FAIL);
}

static void test_json_small_run(void **state)
{
    (void)state;
    char out[8192];
    char *argv[] = {"gossip", "--nodes", "60", "--duration-s", "150", "--trials", "3",
                    "--seed", "4", "--json", NULL};
    assert_int_equal(run_capture(argv, 10, out, sizeof out), WPCTL_OK);
    const char *keys[] = {"\"nodes\":60", "\"convergence_s_p50\":", "\"convergence_s_max\":",
                          "\"detection_s\":", "\"false_positives\":0"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strstr(out, keys[i]))
            fail_msg("missing %s in %s", keys[i], out);
    assert_null(strstr(out, "null")); /* every figure was measured */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_usage),
        cmocka_unit_test(test_json_small_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
