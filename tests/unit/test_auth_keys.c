/* Cluster keys: a generated key round-trips through its files, the CURVE
 * pair is derived consistently, signatures verify only with the right key
 * and the right bytes, secret files are 0600 and never overwritten, and bad
 * files (group-readable secret, mismatched seed, bad hex, unknown fields)
 * are refused with an error naming the file. */
#include "auth/auth.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char tmpdir[256];

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "%s/auth_test_XXXXXX", WP_BUILD_DIR);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t n, const char *file)
{
    snprintf(out, n, "%s/%s", tmpdir, file);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_roundtrip_and_modes(void **state)
{
    (void)state;
    wp_err err = {0};
    wp_key k, back, pub;
    assert_int_equal(wp_key_generate(&k, "fra-1", WP_ROLE_NODE, &err), WP_OK);
    char sec[512], pubp[512];
    path_of(sec, sizeof sec, "fra-1.key");
    path_of(pubp, sizeof pubp, "fra-1.pub");
    assert_int_equal(wp_key_save(&k, sec, true, &err), WP_OK);
    assert_int_equal(wp_key_save(&k, pubp, false, &err), WP_OK);
    struct stat st;
    assert_int_equal(stat(sec, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* A secret is never overwritten. */
    assert_int_equal(wp_key_save(&k, sec, true, &err), WP_EEXIST);

    assert_int_equal(wp_key_load(&back, sec, &err), WP_OK);
    assert_true(back.has_secret);
    assert_string_equal(back.name, "fra-1");
    assert_int_equal(back.role, WP_ROLE_NODE);
    assert_memory_equal(back.sign_pk, k.sign_pk, WP_KEY_BYTES);
    assert_memory_equal(back.curve_pk, k.curve_pk, WP_KEY_BYTES);
    assert_memory_equal(back.curve_sk, k.curve_sk, WP_KEY_BYTES);

    assert_int_equal(wp_key_load(&pub, pubp, &err), WP_OK);
    assert_false(pub.has_secret);
    assert_memory_equal(pub.curve_pk, k.curve_pk, WP_KEY_BYTES);

    char z[WP_KEY_Z85_LEN + 1];
    wp_key_z85(k.curve_pk, z);
    assert_int_equal(strlen(z), WP_KEY_Z85_LEN);
}

static void test_signatures(void **state)
{
    (void)state;
    wp_err err = {0};
    wp_key a, b;
    assert_int_equal(wp_key_generate(&a, "a", WP_ROLE_NODE, &err), WP_OK);
    assert_int_equal(wp_key_generate(&b, "b", WP_ROLE_NODE, &err), WP_OK);
    const char msg[] = "capacity fra-1 v7";
    uint8_t sig[WP_SIG_BYTES];
    assert_int_equal(wp_key_sign(&a, msg, sizeof msg, sig), WP_OK);
    assert_true(wp_key_verify(&a, msg, sizeof msg, sig));
    assert_false(wp_key_verify(&b, msg, sizeof msg, sig));
    char other[] = "capacity fra-1 v8";
    assert_false(wp_key_verify(&a, other, sizeof other, sig));
    wp_key p = a;
    wp_key_public_only(&p);
    assert_int_equal(wp_key_sign(&p, msg, sizeof msg, sig), WP_EINVAL);
}

static void test_keyring(void **state)
{
    (void)state;
    wp_err err = {0};
    const char *names[] = {"n1", "n2", "op"};
    wp_key_role roles[] = {WP_ROLE_NODE, WP_ROLE_NODE, WP_ROLE_OPERATOR};
    wp_key keys[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(wp_key_generate(&keys[i], names[i], roles[i], &err), WP_OK);
        char p[512], f[128];
        snprintf(f, sizeof f, "%s.pub", names[i]);
        path_of(p, sizeof p, f);
        assert_int_equal(wp_key_save(&keys[i], p, false, &err), WP_OK);
    }
    wp_keyring r;
    wp_keyring_init(&r);
    assert_int_equal(wp_keyring_load_dir(&r, tmpdir, &err), WP_OK);
    assert_int_equal(r.count, 3);
    const wp_key *op = wp_keyring_by_curve(&r, keys[2].curve_pk);
    assert_non_null(op);
    assert_string_equal(op->name, "op");
    assert_int_equal(op->role, WP_ROLE_OPERATOR);
    assert_false(op->has_secret);
    wp_key stranger;
    assert_int_equal(wp_key_generate(&stranger, "x", WP_ROLE_NODE, &err), WP_OK);
    assert_null(wp_keyring_by_curve(&r, stranger.curve_pk));
    assert_non_null(wp_keyring_by_name(&r, "n2"));
    wp_keyring_free(&r);
}

static void expect_load_error(const char *file, const char *text, mode_t mode, int code,
                              const char *needle)
{
    char p[512];
    path_of(p, sizeof p, file);
    write_file(p, text, mode);
    wp_key k;
    wp_err err = {0};
    int got = wp_key_load(&k, p, &err);
    if (got != code || !strstr(err.msg, file))
        print_message("%s: rv %d: %s\n", file, got, err.msg);
    assert_int_equal(got, code);
    assert_non_null(strstr(err.msg, file));
    assert_non_null(strstr(err.msg, needle));
}

static void test_bad_files(void **state)
{
    (void)state;
    wp_err err = {0};
    wp_key k;
    char p[512];
    path_of(p, sizeof p, "good.key");
    assert_int_equal(wp_key_generate(&k, "good", WP_ROLE_CLIENT, &err), WP_OK);
    assert_int_equal(wp_key_save(&k, p, true, &err), WP_OK);
    /* The same content, readable by the group: refused. */
    FILE *f = fopen(p, "r");
    char text[1024];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    expect_load_error("open.key", text, 0640, WP_EINVAL, "readable by others");

    /* Another key's public with this seed: refused. */
    wp_key other;
    assert_int_equal(wp_key_generate(&other, "other", WP_ROLE_CLIENT, &err), WP_OK);
    char *seed = strstr(text, "seed = ");
    assert_non_null(seed);
    char mixed[1024], pk_hex[2 * WP_KEY_BYTES + 1];
    for (int i = 0; i < WP_KEY_BYTES; i++)
        snprintf(pk_hex + 2 * i, 3, "%02x", other.sign_pk[i]);
    snprintf(mixed, sizeof mixed, "name = good\nrole = client\npublic = %s\n%s", pk_hex, seed);
    expect_load_error("mixed.key", mixed, 0600, WP_EPARSE, "does not match");

    expect_load_error("hex.pub", "name = a\nrole = node\npublic = zz\n", 0644, WP_EPARSE, "64 hex");
    expect_load_error("field.pub", "name = a\nrole = node\ncolour = red\n", 0644, WP_EPARSE,
                      "unknown field");
    expect_load_error("role.pub", "name = a\nrole = king\n", 0644, WP_EPARSE, "unknown role");
    expect_load_error("short.pub", "name = a\n", 0644, WP_EPARSE, "needs name");
    assert_int_equal(wp_key_generate(&k, "../evil", WP_ROLE_NODE, &err), WP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_and_modes, setup_tmp, teardown_tmp),
        cmocka_unit_test(test_signatures),
        cmocka_unit_test_setup_teardown(test_keyring, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_bad_files, setup_tmp, teardown_tmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
