/* keys.c — cluster keys: generation, files, signatures, keyrings.
 *
 * The crypto is libsodium's (Ed25519 signatures, the Ed25519→Curve25519
 * conversion); the Z85 text is libzmq's. What is written here is the file
 * format and its checks: a secret file must be 0600 and is never
 * overwritten, every line is bounded, and a key file with a public key that
 * does not match its seed is refused. */
#include "auth/auth.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static const char *const ROLE_NAMES[WP_ROLE_COUNT] = {"node", "placement", "operator", "client",
                                                       "server"};

const char *wp_key_role_name(wp_key_role role)
{
    return (unsigned)role < WP_ROLE_COUNT ? ROLE_NAMES[role] : NULL;
}

int wp_key_role_parse(const char *s, wp_key_role *out)
{
    for (int i = 0; i < WP_ROLE_COUNT; i++)
        if (strcmp(s, ROLE_NAMES[i]) == 0) {
            *out = (wp_key_role)i;
            return WP_OK;
        }
    return WP_EINVAL;
}

bool wp_key_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= WP_KEY_NAME_MAX || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return false;
    }
    return true;
}

static int sodium_ready(wp_err *err)
{
    if (sodium_init() < 0)
        return wp_errf(err, WP_EIO, "libsodium failed to initialize");
    return WP_OK;
}

/* Derives the Curve25519 pair (and checks the public key) from sign_sk. */
static int derive_curve(wp_key *k, wp_err *err)
{
    if (crypto_sign_ed25519_pk_to_curve25519(k->curve_pk, k->sign_pk) != 0)
        return wp_errf(err, WP_EPARSE, "key %s: not a valid Ed25519 public key", k->name);
    if (k->has_secret && crypto_sign_ed25519_sk_to_curve25519(k->curve_sk, k->sign_sk) != 0)
        return wp_errf(err, WP_EPARSE, "key %s: cannot derive its Curve25519 secret", k->name);
    return WP_OK;
}

static int key_from_seed(wp_key *k, const uint8_t seed[WP_KEY_BYTES], wp_err *err)
{
    uint8_t pk[WP_KEY_BYTES];
    crypto_sign_seed_keypair(pk, k->sign_sk, seed);
    if (k->has_secret && sodium_memcmp(pk, k->sign_pk, WP_KEY_BYTES) != 0)
        return wp_errf(err, WP_EPARSE, "key %s: public key does not match its seed", k->name);
    memcpy(k->sign_pk, pk, WP_KEY_BYTES);
    k->has_secret = true;
    return derive_curve(k, err);
}

int wp_key_generate(wp_key *k, const char *name, wp_key_role role, wp_err *err)
{
    if (!wp_key_name_ok(name))
        return wp_errf(err, WP_EINVAL, "bad key name '%s' (1-63 of A-Z a-z 0-9 . _ -)", name);
    if ((unsigned)role >= WP_ROLE_COUNT)
        return wp_errf(err, WP_EINVAL, "bad key role");
    int rv = sodium_ready(err);
    if (rv)
        return rv;
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%s", name);
    k->role = role;
    uint8_t seed[WP_KEY_BYTES];
    randombytes_buf(seed, sizeof seed);
    rv = key_from_seed(k, seed, err);
    sodium_memzero(seed, sizeof seed);
    return rv;
}

void wp_key_public_only(wp_key *k)
{
    sodium_memzero(k->sign_sk, sizeof k->sign_sk);
    sodium_memzero(k->curve_sk, sizeof k->curve_sk);
    k->has_secret = false;
}

int wp_key_save(const wp_key *k, const char *path, bool with_secret, wp_err *err)
{
    if (with_secret && !k->has_secret)
        return wp_errf(err, WP_EINVAL, "key %s has no secret to save", k->name);
    char pk_hex[2 * WP_KEY_BYTES + 1], seed_hex[2 * WP_KEY_BYTES + 1];
    sodium_bin2hex(pk_hex, sizeof pk_hex, k->sign_pk, WP_KEY_BYTES);
    /* crypto_sign's secret key is seed ‖ public. */
    sodium_bin2hex(seed_hex, sizeof seed_hex, k->sign_sk, WP_KEY_BYTES);
    int flags = O_WRONLY | O_CREAT | (with_secret ? O_EXCL : O_TRUNC);
    int fd = open(path, flags, with_secret ? 0600 : 0644);
    if (fd < 0) {
        sodium_memzero(seed_hex, sizeof seed_hex);
        return wp_errf(err, errno == EEXIST ? WP_EEXIST : WP_EIO, "%s: %s", path, strerror(errno));
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        sodium_memzero(seed_hex, sizeof seed_hex);
        return wp_errf(err, WP_EIO, "%s: %s", path, strerror(errno));
    }
    fprintf(f, "# warmpath key v1\nname = %s\nrole = %s\npublic = %s\n", k->name,
            wp_key_role_name(k->role), pk_hex);
    if (with_secret)
        fprintf(f, "seed = %s\n", seed_hex);
    sodium_memzero(seed_hex, sizeof seed_hex);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return wp_errf(err, WP_EIO, "%s: write failed", path);
    return WP_OK;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static int hex32(const char *hex, uint8_t out[WP_KEY_BYTES])
{
    size_t got = 0;
    if (strlen(hex) != 2 * WP_KEY_BYTES ||
        sodium_hex2bin(out, WP_KEY_BYTES, hex, strlen(hex), NULL, &got, NULL) != 0 ||
        got != WP_KEY_BYTES)
        return WP_EPARSE;
    return WP_OK;
}

int wp_key_load(wp_key *k, const char *path, wp_err *err)
{
    int rv = sodium_ready(err);
    if (rv)
        return rv;
    FILE *f = fopen(path, "r");
    if (!f)
        return wp_errf(err, errno == ENOENT ? WP_ENOTFOUND : WP_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size > 4096) {
        fclose(f);
        return wp_errf(err, WP_ETOOBIG, "%s: not a key file (over 4 KiB)", path);
    }
    memset(k, 0, sizeof *k);
    bool have_name = false, have_role = false, have_pk = false, have_seed = false;
    uint8_t seed[WP_KEY_BYTES];
    char line[256];
    int lineno = 0;
    rv = WP_OK;
    while (rv == WP_OK && fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            rv = wp_errf(err, WP_EPARSE, "%s:%d: line too long", path, lineno);
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rv = wp_errf(err, WP_EPARSE, "%s:%d: expected 'name = value'", path, lineno);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        if (strcmp(key, "name") == 0) {
            if (!wp_key_name_ok(val))
                rv = wp_errf(err, WP_EPARSE, "%s:%d: bad name '%s'", path, lineno, val);
            snprintf(k->name, sizeof k->name, "%s", val);
            have_name = true;
        } else if (strcmp(key, "role") == 0) {
            if (wp_key_role_parse(val, &k->role) != WP_OK)
                rv = wp_errf(err, WP_EPARSE, "%s:%d: unknown role '%s'", path, lineno, val);
            have_role = true;
        } else if (strcmp(key, "public") == 0) {
            if (hex32(val, k->sign_pk) != WP_OK)
                rv = wp_errf(err, WP_EPARSE, "%s:%d: public must be 64 hex digits", path, lineno);
            have_pk = true;
        } else if (strcmp(key, "seed") == 0) {
            if (hex32(val, seed) != WP_OK)
                rv = wp_errf(err, WP_EPARSE, "%s:%d: seed must be 64 hex digits", path, lineno);
            have_seed = true;
        } else {
            rv = wp_errf(err, WP_EPARSE, "%s:%d: unknown field '%s'", path, lineno, key);
        }
    }
    sodium_memzero(line, sizeof line);
    fclose(f);
    if (rv == WP_OK && (!have_name || !have_role || !have_pk))
        rv = wp_errf(err, WP_EPARSE, "%s: needs name, role and public", path);
    if (rv == WP_OK && have_seed && (st.st_mode & 077))
        rv = wp_errf(err, WP_EINVAL, "%s: secret key readable by others (mode %03o); chmod 600 it",
                     path, (unsigned)(st.st_mode & 0777));
    if (rv == WP_OK) {
        if (have_seed) {
            k->has_secret = true;
            rv = key_from_seed(k, seed, err);
        } else {
            rv = derive_curve(k, err);
        }
        if (rv != WP_OK)
            wp_err_wrap(err, "%s", path);
    }
    sodium_memzero(seed, sizeof seed);
    if (rv != WP_OK)
        sodium_memzero(k, sizeof *k);
    return rv;
}

void wp_key_z85(const uint8_t key[WP_KEY_BYTES], char out[WP_KEY_Z85_LEN + 1])
{
    zmq_z85_encode(out, key, WP_KEY_BYTES);
}

int wp_key_sign(const wp_key *k, const void *msg, size_t len, uint8_t sig[WP_SIG_BYTES])
{
    if (!k->has_secret)
        return WP_EINVAL;
    crypto_sign_detached(sig, NULL, msg, len, k->sign_sk);
    return WP_OK;
}

bool wp_key_verify(const wp_key *k, const void *msg, size_t len, const uint8_t sig[WP_SIG_BYTES])
{
    return crypto_sign_verify_detached(sig, msg, len, k->sign_pk) == 0;
}

void wp_keyring_init(wp_keyring *r)
{
    memset(r, 0, sizeof *r);
}

void wp_keyring_free(wp_keyring *r)
{
    free(r->keys);
    memset(r, 0, sizeof *r);
}

int wp_keyring_add(wp_keyring *r, const wp_key *k, wp_err *err)
{
    wp_key pub = *k;
    wp_key_public_only(&pub);
    for (size_t i = 0; i < r->count; i++)
        if (strcmp(r->keys[i].name, pub.name) == 0) {
            r->keys[i] = pub;
            return WP_OK;
        }
    if (r->count == WP_KEYRING_MAX)
        return wp_errf(err, WP_ETOOBIG, "keyring full (%d keys)", WP_KEYRING_MAX);
    if (r->count == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        wp_key *nk = realloc(r->keys, cap * sizeof *nk);
        if (!nk)
            return wp_errf(err, WP_ENOMEM, "out of memory");
        r->keys = nk;
        r->cap = cap;
    }
    r->keys[r->count++] = pub;
    return WP_OK;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n > m && strcmp(s + n - m, suf) == 0;
}

int wp_keyring_load_dir(wp_keyring *r, const char *dir, wp_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return wp_errf(err, errno == ENOENT ? WP_ENOTFOUND : WP_EIO, "%s: %s", dir, strerror(errno));
    int rv = WP_OK;
    struct dirent *e;
    while (rv == WP_OK && (e = readdir(d))) {
        if (!has_suffix(e->d_name, ".pub") && !has_suffix(e->d_name, ".key"))
            continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) {
            rv = wp_errf(err, WP_ETOOBIG, "%s/%s: path too long", dir, e->d_name);
            break;
        }
        wp_key k;
        rv = wp_key_load(&k, path, err);
        if (rv == WP_OK)
            rv = wp_keyring_add(r, &k, err);
        sodium_memzero(&k, sizeof k);
    }
    closedir(d);
    return rv;
}

const wp_key *wp_keyring_by_curve(const wp_keyring *r, const uint8_t curve_pk[WP_KEY_BYTES])
{
    for (size_t i = 0; i < r->count; i++)
        if (sodium_memcmp(r->keys[i].curve_pk, curve_pk, WP_KEY_BYTES) == 0)
            return &r->keys[i];
    return NULL;
}

const wp_key *wp_keyring_by_name(const wp_keyring *r, const char *name)
{
    for (size_t i = 0; i < r->count; i++)
        if (strcmp(r->keys[i].name, name) == 0)
            return &r->keys[i];
    return NULL;
}
