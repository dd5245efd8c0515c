/* wpctl keys — the cluster's key files (auth/auth.h has the format).
 *
 *   wpctl keys generate NAME --role ROLE [--keys-dir DIR] [--json]
 *   wpctl keys list [--keys-dir DIR] [--json]
 *   wpctl keys show NAME|FILE [--keys-dir DIR] [--json]
 *   wpctl keys reload [--dir D] [--json]
 *
 * The directory defaults to the cluster directory's keys/ (--dir, else
 * $WP_CLUSTER_DIR, else .cluster). Nothing here prints a secret: show and
 * list give the public keys only, and generate never overwrites a file. */
#include "tools/wpctl/wpctl.h"
#include "tools/wpctl/cluster.h"
#include "tools/wpctl/flags.h"
#include "auth/auth.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYS_LIST_MAX WP_KEYRING_MAX

typedef struct {
    char name[WP_KEY_NAME_MAX];
    char path[4096];
    wp_key key; /* public parts only */
} key_entry;

static const char *keys_dir(const char *flag, const char *cluster_dir, char *buf, size_t cap)
{
    if (flag && flag[0])
        return flag;
    snprintf(buf, cap, "%s/keys", wpctl_cluster_dir(cluster_dir));
    return buf;
}

static void json_key(wp_json *j, const wp_key *k, const char *path)
{
    char hex[2 * WP_KEY_BYTES + 1], z85[WP_KEY_Z85_LEN + 1];
    sodium_bin2hex(hex, sizeof hex, k->sign_pk, WP_KEY_BYTES);
    wp_key_z85(k->curve_pk, z85);
    wp_json_obj_begin(j);
    wp_json_key(j, "name");
    wp_json_str(j, k->name);
    wp_json_key(j, "role");
    wp_json_str(j, wp_key_role_name(k->role));
    wp_json_key(j, "secret");
    wp_json_bool(j, k->has_secret);
    wp_json_key(j, "file");
    wp_json_str(j, path);
    wp_json_key(j, "public");
    wp_json_str(j, hex);
    wp_json_key(j, "curve_public");
    wp_json_str(j, z85);
    wp_json_obj_end(j);
}

static void print_key(const wp_key *k, const char *path)
{
    char hex[2 * WP_KEY_BYTES + 1], z85[WP_KEY_Z85_LEN + 1];
    sodium_bin2hex(hex, sizeof hex, k->sign_pk, WP_KEY_BYTES);
    wp_key_z85(k->curve_pk, z85);
    printf("%s (%s)\n  file          %s%s\n  public        %s\n  curve public  %s\n", k->name,
           wp_key_role_name(k->role), path, k->has_secret ? " (secret, 0600)" : "", hex, z85);
}

/* One key's public parts: a JSON object or the text form. */
static void emit_key(const wp_key *k, const char *path, bool json)
{
    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        json_key(&j, k, path);
        wp_json_end(&j);
    } else {
        print_key(k, path);
    }
}

/* Creates DIR (0700; missing parents 0755) when it is missing; an existing
 * DIR that group or others can write is refused. */
int wpctl_keys_dir_ready(const char *dir, wp_err *err)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        char p[4096];
        if (errno != ENOENT || (size_t)snprintf(p, sizeof p, "%s", dir) >= sizeof p)
            return wp_errf(err, WP_EIO, "%s: %s", dir, strerror(errno));
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST)
                return wp_errf(err, WP_EIO, "%s: %s", p, strerror(errno));
            *s = '/';
        }
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return wp_errf(err, WP_EIO, "%s: %s", dir, strerror(errno));
        return WP_OK;
    }
    if (!S_ISDIR(st.st_mode))
        return wp_errf(err, WP_EINVAL, "%s: not a directory", dir);
    if (st.st_mode & 022)
        return wp_errf(err, WP_EINVAL, "%s: group or others can write it (chmod 700)", dir);
    return WP_OK;
}

int wpctl_key_make(const char *dir, const char *name, wp_key_role role, bool reuse, wp_key *pub,
                   bool *created, wp_err *err)
{
    if (created)
        *created = false;
    if (!wp_key_name_ok(name))
        return wp_errf(err, WP_EINVAL, "bad key name '%s' (1-63 of A-Z a-z 0-9 . _ -)", name);
    char kpath[4096], ppath[4096];
    if ((size_t)snprintf(kpath, sizeof kpath, "%s/%s.key", dir, name) >= sizeof kpath ||
        (size_t)snprintf(ppath, sizeof ppath, "%s/%s.pub", dir, name) >= sizeof ppath)
        return wp_errf(err, WP_ETOOBIG, "%s: path too long", dir);
    wp_key k;
    if (access(kpath, F_OK) == 0) {
        if (!reuse)
            return wp_errf(err, WP_EEXIST,
                           "%s exists: a key is never overwritten (remove it to replace it)",
                           kpath);
        int rv = wp_key_load(&k, kpath, err);
        if (rv == WP_OK && (!k.has_secret || k.role != role))
            rv = wp_errf(err, WP_EINVAL, "%s: %s, want a %s key with its secret", kpath,
                         k.has_secret ? wp_key_role_name(k.role) : "no secret",
                         wp_key_role_name(role));
        if (rv == WP_OK && access(ppath, F_OK) != 0) /* the public half a peer reads */
            rv = wp_key_save(&k, ppath, false, err);
        if (rv == WP_OK && pub) {
            *pub = k;
            wp_key_public_only(pub);
            pub->has_secret = true;
        }
        sodium_memzero(&k, sizeof k);
        return rv;
    }
    if (wp_key_generate(&k, name, role, err) != WP_OK || wp_key_save(&k, kpath, true, err) != WP_OK) {
        sodium_memzero(&k, sizeof k);
        return err->code ? err->code : WP_EIO;
    }
    if (wp_key_save(&k, ppath, false, err) != WP_OK) {
        sodium_memzero(&k, sizeof k);
        unlink(kpath); /* no half-made key */
        return err->code ? err->code : WP_EIO;
    }
    wp_key_public_only(&k);
    k.has_secret = true; /* for the listing: the secret file exists */
    if (pub)
        *pub = k;
    if (created)
        *created = true;
    return WP_OK;
}

static int keys_generate(const char *dir, const char *name, const char *role_s, bool json)
{
    wp_key_role role;
    if (!role_s)
        return wpctl_usage_error("keys generate", "--role ROLE is required "
                                                  "(node, placement, operator, client, server)");
    if (wp_key_role_parse(role_s, &role) != WP_OK)
        return wpctl_usage_error("keys generate",
                                 "--role: '%s' is not node, placement, operator, client or server",
                                 role_s);
    if (!wp_key_name_ok(name))
        return wpctl_usage_error("keys generate", "bad NAME '%s' (1-63 of A-Z a-z 0-9 . _ -)", name);
    wp_err err = {0};
    wp_key k;
    if (wpctl_keys_dir_ready(dir, &err) != WP_OK ||
        wpctl_key_make(dir, name, role, false, &k, NULL, &err) != WP_OK)
        return wpctl_fail("keys: %s", err.msg);
    char kpath[4096];
    if ((size_t)snprintf(kpath, sizeof kpath, "%s/%s.key", dir, name) >= sizeof kpath)
        return wpctl_fail("keys: %s: path too long", dir); /* made it: cannot happen */
    emit_key(&k, kpath, json);
    return WPCTL_OK;
}

/* Loads PATH keeping only its public parts; has_secret still says whether
 * the file held the secret (for the listings). */
static int load_public(wp_key *k, const char *path, wp_err *err)
{
    int rv = wp_key_load(k, path, err);
    if (rv != WP_OK)
        return rv;
    bool had_secret = k->has_secret;
    wp_key_public_only(k);
    k->has_secret = had_secret;
    return WP_OK;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const key_entry *)a)->name, ((const key_entry *)b)->name);
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n > m && strcmp(s + n - m, suf) == 0;
}

static int keys_list(const char *dir, bool json)
{
    DIR *d = opendir(dir);
    if (!d)
        return wpctl_fail("keys: %s: %s", dir, strerror(errno));
    key_entry *list = NULL;
    size_t n = 0, cap = 0;
    int rv = WPCTL_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        bool secret = has_suffix(e->d_name, ".key");
        if (!secret && !has_suffix(e->d_name, ".pub"))
            continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path)
            continue;
        wp_key k;
        wp_err err = {0};
        if (load_public(&k, path, &err) != WP_OK) {
            fprintf(stderr, "wpctl: keys: %s\n", err.msg);
            rv = WPCTL_FAIL;
            continue;
        }
        size_t i = 0;
        while (i < n && strcmp(list[i].name, k.name) != 0)
            i++;
        if (i < n) { /* NAME.key and NAME.pub: the secret file is the one listed */
            if (k.has_secret) {
                list[i].key = k;
                snprintf(list[i].path, sizeof list[i].path, "%s", path);
            }
            continue;
        }
        if (n == KEYS_LIST_MAX) {
            rv = wpctl_fail("keys: %s: more than %d keys", dir, KEYS_LIST_MAX);
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            key_entry *nl = realloc(list, cap * sizeof *nl);
            if (!nl) {
                rv = wpctl_fail("keys: out of memory");
                break;
            }
            list = nl;
        }
        snprintf(list[n].name, sizeof list[n].name, "%s", k.name);
        snprintf(list[n].path, sizeof list[n].path, "%s", path);
        list[n].key = k;
        n++;
    }
    closedir(d);
    if (n)
        qsort(list, n, sizeof *list, cmp_entry);
    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_arr_begin(&j);
        for (size_t i = 0; i < n; i++)
            json_key(&j, &list[i].key, list[i].path);
        wp_json_arr_end(&j);
        wp_json_end(&j);
    } else {
        printf("%-24s %-10s %-7s %s\n", "NAME", "ROLE", "SECRET", "PUBLIC (Ed25519, first 16 hex)");
        for (size_t i = 0; i < n; i++) {
            char hex[2 * WP_KEY_BYTES + 1];
            sodium_bin2hex(hex, sizeof hex, list[i].key.sign_pk, WP_KEY_BYTES);
            printf("%-24s %-10s %-7s %.16s\n", list[i].name, wp_key_role_name(list[i].key.role),
                   list[i].key.has_secret ? "yes" : "no", hex);
        }
    }
    free(list);
    return rv;
}

static int keys_show(const char *dir, const char *what, bool json)
{
    char path[4096];
    if (strchr(what, '/') || has_suffix(what, ".key") || has_suffix(what, ".pub")) {
        snprintf(path, sizeof path, "%s", what);
    } else {
        if (!wp_key_name_ok(what))
            return wpctl_usage_error("keys show", "bad NAME '%s'", what);
        if ((size_t)snprintf(path, sizeof path, "%s/%s.key", dir, what) >= sizeof path)
            return wpctl_fail("keys: %s: path too long", dir);
        if (access(path, F_OK) != 0) {
            if ((size_t)snprintf(path, sizeof path, "%s/%s.pub", dir, what) >= sizeof path)
                return wpctl_fail("keys: %s: path too long", dir);
            if (access(path, F_OK) != 0)
                return wpctl_fail("keys: no key '%s' in %s (neither %s.key nor %s.pub)", what,
                                  dir, what, what);
        }
    }
    wp_key k;
    wp_err err = {0};
    if (load_public(&k, path, &err) != WP_OK)
        return wpctl_fail("keys: %s", err.msg);
    emit_key(&k, path, json);
    return WPCTL_OK;
}

/* SIGHUP to every running daemon of the cluster in cdir: each rereads its
 * key directory (wp-node, wp-placement). */
static int keys_reload(const char *cdir, bool json)
{
    wpctl_cluster *c = malloc(sizeof *c);
    if (!c)
        return wpctl_fail("out of memory");
    wp_err err = {0};
    if (wpctl_cluster_load(wpctl_cluster_dir(cdir), c, &err) != WP_OK) {
        free(c);
        return wpctl_fail("%s", wp_err_text(&err));
    }
    if (!c->keys[0]) {
        free(c);
        return wpctl_fail("keys reload: the cluster runs --insecure: it has no keys to reload");
    }
    size_t sent = 0, total = c->n + c->n_placement;
    for (size_t i = 0; i < c->n; i++)
        sent += wpctl_proc_signal(wpctl_node_proc(&c->nodes[i]), "wp-node", SIGHUP);
    for (size_t i = 0; i < c->n_placement; i++)
        sent += wpctl_proc_signal(wpctl_placement_proc(&c->placement[i]), "wp-placement", SIGHUP);
    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "signalled");
        wp_json_uint(&j, sent);
        wp_json_key(&j, "processes");
        wp_json_uint(&j, total);
        wp_json_key(&j, "keys");
        wp_json_str(&j, c->keys);
        wp_json_obj_end(&j);
        wp_json_end(&j);
    } else
        printf("keys reload: %zu of %zu processes signalled (SIGHUP); each rereads %s\n", sent,
               total, c->keys);
    free(c);
    return WPCTL_OK;
}

int wpctl_keys_main(int argc, char **argv)
{
    const char *kdir = NULL, *cdir = NULL, *role = NULL;
    bool json = false;
    const wpctl_flag flags[] = {
        WPF_STR("role", &role, "ROLE",
                "generate: node, placement, operator, client or server (the cluster's\n"
                "CURVE server key)"),
        WPF_STR("keys-dir", &kdir, "DIR", "the key directory (default: the cluster's keys/)"),
        WPF_STR("dir", &cdir, "D", "cluster directory (default $WP_CLUSTER_DIR, else .cluster)"),
        WPF_JSON(&json, "generate/show: {name, role, secret, file, public, curve_public};\n"
                        "list: an array of them"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "keys",
        .args = "generate NAME --role ROLE | list | show NAME|FILE | reload",
        .about = "The cluster's keys: one per party (a node, a placement server, an operator,\n"
                 "a client) and the cluster's CURVE server key. A key is an Ed25519 pair\n"
                 "made from a random seed; its Curve25519 pair is derived from it.\n"
                 "generate: writes DIR/NAME.key (the secret, mode 0600, never overwritten)\n"
                 "and DIR/NAME.pub (the public part, to copy to the other hosts); DIR is\n"
                 "made 0700 when missing. A node's key is named for its id (fra-1), a\n"
                 "placement server's placement-ID (placement-1).\n"
                 "list: every key in DIR, public parts only.\n"
                 "show: one key's public parts (NAME in DIR, or a FILE path).\n"
                 "reload: every running daemon of the cluster (--dir) rereads its key\n"
                 "directory (SIGHUP): keys made since are admitted, keys whose files were\n"
                 "removed are refused from the next connection on (revocation).\n",
        .flags = flags,
        .min_args = 1,
        .max_args = 2,
    };
    wpctl_args a;
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, &a);
    char buf[4096];
    const char *dir = keys_dir(kdir, cdir, buf, sizeof buf);
    const char *sub = a.argv[0];
    if (strcmp(sub, "generate") == 0) {
        if (a.argc != 2)
            return wpctl_usage_error("keys", "generate takes one NAME");
        return keys_generate(dir, a.argv[1], role, json);
    }
    if (role)
        return wpctl_usage_error("keys", "--role is for generate");
    if (strcmp(sub, "list") == 0) {
        if (a.argc != 1)
            return wpctl_usage_error("keys", "unexpected argument '%s'", a.argv[1]);
        return keys_list(dir, json);
    }
    if (strcmp(sub, "reload") == 0) {
        if (a.argc != 1)
            return wpctl_usage_error("keys", "unexpected argument '%s'", a.argv[1]);
        return keys_reload(cdir, json);
    }
    if (strcmp(sub, "show") == 0) {
        if (a.argc != 2)
            return wpctl_usage_error("keys", "show takes one NAME or FILE");
        return keys_show(dir, a.argv[1], json);
    }
    return wpctl_usage_error("keys", "unknown command '%s' (generate, list, show or reload)",
                             sub);
}
