/* wpctl model gen / wpctl infer end to end, through the built binary:
 * same seed → same file; same inputs → same tokens; bad input → exit 1 with
 * one line on stderr; --help → exit 0 on stdout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"

static char dir[256];
static const char *wpctl = WP_BUILD_DIR "/tools/wpctl";

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/test_gpu_cli.XXXXXX", WP_BUILD_DIR);
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs "wpctl ARGS" with stdout and stderr to files; returns the exit code. */
static int run(const char *args, char *out, size_t outlen, char *errs, size_t errlen)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s >'%s/out' 2>'%s/err'", wpctl, args, dir, dir);
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    const char *names[2] = {"out", "err"};
    char *bufs[2] = {out, errs};
    size_t lens[2] = {outlen, errlen};
    for (int i = 0; i < 2; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        FILE *fp = fopen(p, "r");
        assert_non_null(fp);
        size_t n = fread(bufs[i], 1, lens[i] - 1, fp);
        bufs[i][n] = '\0';
        fclose(fp);
    }
    return WEXITSTATUS(st);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_gen_and_infer(void **state)
{
    (void)state;
    if (access(wpctl, X_OK) != 0)
        fail_msg("%s not built", wpctl);
    char out[4096], errs[4096], a[4096], args[1024];
    const char *shape = "--dim 32 --layers 2 --heads 4 --kv-heads 2 --vocab 60 --seq-len 24";
    snprintf(args, sizeof args, "model gen %s --seed 5 -o '%s/m.bin'", shape, dir);
    assert_int_equal(run(args, out, sizeof out, errs, sizeof errs), 0);
    assert_non_null(strstr(out, "wrote"));
    snprintf(args, sizeof args, "model gen %s --seed 5 -o '%s/m2.bin'", shape, dir);
    assert_int_equal(run(args, out, sizeof out, errs, sizeof errs), 0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cmp -s '%s/m.bin' '%s/m2.bin'", dir, dir);
    assert_int_equal(system(cmd), 0);

    snprintf(args, sizeof args,
             "infer --model '%s/m.bin' --prompt-tokens 1,2,3 --steps 12 --backend cpu "
             "--temperature 0.9 --seed 4",
             dir);
    assert_int_equal(run(args, a, sizeof a, errs, sizeof errs), 0);
    assert_int_equal(count_lines(a), 1);
    assert_non_null(strstr(errs, "time to first token"));
    assert_int_equal(run(args, out, sizeof out, errs, sizeof errs), 0);
    assert_string_equal(out, a); /* same inputs, same tokens */
    int n = 0;
    for (char *tok = strtok(out, " \n"); tok; tok = strtok(NULL, " \n")) {
        int64_t v;
        assert_int_equal(wp_parse_int64(tok, &v), WP_OK);
        assert_true(v >= 0 && v < 60);
        n++;
    }
    assert_int_equal(n, 12);

    snprintf(args, sizeof args, "infer --model '%s/m.bin' --prompt-tokens 1 --steps 3 --json",
             dir);
    assert_int_equal(run(args, out, sizeof out, errs, sizeof errs), 0);
    assert_non_null(strstr(out, "\"tokens\":["));
    assert_non_null(strstr(out, "\"ttft_ms\":"));
}

static void test_errors(void **state)
{
    (void)state;
    char out[4096], errs[4096], args[1024];
    snprintf(args, sizeof args,
             "model gen --dim 32 --layers 1 --heads 4 --vocab 60 --seq-len 24 --seed 1 -o "
             "'%s/e.bin'",
             dir);
    assert_int_equal(run(args, out, sizeof out, errs, sizeof errs), 0);
    const char *bad[] = {
        "--prompt-tokens 1,60 --steps 2",   /* token beyond the vocabulary */
        "--prompt-tokens 1,2 --steps 23",   /* 2 + 23 > seq_len 24 */
        "--prompt-tokens 1 --backend cuda --steps 2", /* no device here (or ok on one) */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "infer --model '%s/e.bin' %s", dir, bad[i]);
        int rc = run(args, out, sizeof out, errs, sizeof errs);
        if (i == 2 && rc == 0)
            continue; /* a machine with a CUDA device */
        assert_int_equal(rc, 1);
        assert_int_equal(count_lines(errs), 1);
        assert_string_equal(out, "");
    }
    snprintf(args, sizeof args, "infer --model '%s/missing.bin' --prompt-tokens 1", dir);
    assert_int_equal(run(args, out, sizeof out, errs, sizeof errs), 1);
    assert_non_null(strstr(errs, "missing.bin"));
    snprintf(args, sizeof args, "infer --model '%s/e.bin' --prompt-tokens x", dir);
    assert_int_equal(run(args, out, sizeof out, errs, sizeof errs), 2);
    assert_int_equal(run("model gen --dim 32", out, sizeof out, errs, sizeof errs), 2);
    assert_int_equal(run("model gen --dim 30 --layers 1 --heads 4 --vocab 9 --seq-len 4 "
                         "--seed 1 -o /dev/null",
                         out, sizeof out, errs, sizeof errs),
                     1);
    assert_non_null(strstr(errs, "does not divide"));
    assert_int_equal(run("infer --help", out, sizeof out, errs, sizeof errs), 0);
    assert_non_null(strstr(out, "usage: wpctl infer"));
    assert_non_null(strstr(out, "TIMING MODEL"));
    assert_int_equal(run("model gen --help", out, sizeof out, errs, sizeof errs), 0);
    assert_non_null(strstr(out, "usage: wpctl model gen"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_and_infer),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
