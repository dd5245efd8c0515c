/* auth/auth.h — the one public header of warmpath's key library.
 *
 * Every party of a cluster holds one key: a node, a placement server, an
 * operator (wpctl admin and placement writes) or a client (inference
 * requests); the listening sockets of a cluster share one more, its CURVE
 * server key (role "server"). A key is an Ed25519 signing pair made from a 32-byte seed; the
 * Curve25519 pair that CurveZMQ needs is derived from it (libsodium's
 * ed25519→curve25519 conversion), so one file gives both: CURVE for the
 * transport, signatures for records that travel through third parties
 * (gossip capacity and liveness records) and the raft peer handshake.
 *
 * Files are text, one `name = value` per line, '#' comments:
 *
 *     # warmpath key v1
 *     name = fra-1
 *     role = node
 *     public = <64 hex: Ed25519 public key>
 *     seed = <64 hex: secret seed>        (only in NAME.key, mode 0600)
 *
 * A key directory holds NAME.key (secret, 0600) and NAME.pub (public) for
 * the parties it knows; a keyring is every .pub (and .key) in a directory,
 * looked up by the Curve25519 public key that ZAP reports or by name.
 * Loading refuses a secret file that group or others can read.
 */
#ifndef WP_AUTH_H
#define WP_AUTH_H

#include "common/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WP_KEY_NAME_MAX 64
#define WP_KEY_BYTES 32
#define WP_SIG_BYTES 64
#define WP_KEY_Z85_LEN 40 /* Z85 text of a 32-byte key, without the NUL */
#define WP_KEYRING_MAX 4096

typedef enum {
    WP_ROLE_NODE = 0,
    WP_ROLE_PLACEMENT,
    WP_ROLE_OPERATOR,
    WP_ROLE_CLIENT,
    WP_ROLE_SERVER, /* the cluster's CURVE server key, shared by listening sockets */
    WP_ROLE_COUNT
} wp_key_role;

typedef struct {
    char name[WP_KEY_NAME_MAX];
    wp_key_role role;
    bool has_secret;
    uint8_t sign_pk[WP_KEY_BYTES];       /* Ed25519 public */
    uint8_t sign_sk[2 * WP_KEY_BYTES];   /* Ed25519 secret (seed ‖ public) */
    uint8_t curve_pk[WP_KEY_BYTES];      /* Curve25519 public, for CURVE */
    uint8_t curve_sk[WP_KEY_BYTES];      /* Curve25519 secret, for CURVE */
} wp_key;

typedef struct {
    wp_key *keys;
    size_t count, cap;
} wp_keyring;

/* "node", "placement", "operator", "client", "server"; NULL if out of range. */
const char *wp_key_role_name(wp_key_role role);
int wp_key_role_parse(const char *s, wp_key_role *out);

/* Names are 1..63 of [A-Za-z0-9._-], not starting with '.'. */
bool wp_key_name_ok(const char *name);

int wp_key_generate(wp_key *k, const char *name, wp_key_role role, wp_err *err);
/* Writes PATH (the secret form when with_secret, created 0600 and refused
 * if it exists; otherwise the public form, 0644). */
int wp_key_save(const wp_key *k, const char *path, bool with_secret, wp_err *err);
int wp_key_load(wp_key *k, const char *path, wp_err *err);
/* Keeps only the public parts of k. */
void wp_key_public_only(wp_key *k);

/* Z85 text of a 32-byte key (CURVE's ZMQ_CURVE_* options take it). */
void wp_key_z85(const uint8_t key[WP_KEY_BYTES], char out[WP_KEY_Z85_LEN + 1]);

/* Signatures over arbitrary bytes with the key's Ed25519 pair. */
int wp_key_sign(const wp_key *k, const void *msg, size_t len, uint8_t sig[WP_SIG_BYTES]);
bool wp_key_verify(const wp_key *k, const void *msg, size_t len, const uint8_t sig[WP_SIG_BYTES]);

void wp_keyring_init(wp_keyring *r);
void wp_keyring_free(wp_keyring *r);
/* Adds the public parts of k (a second key with the same name replaces). */
int wp_keyring_add(wp_keyring *r, const wp_key *k, wp_err *err);
/* Loads every NAME.pub and NAME.key in dir (public parts only). */
int wp_keyring_load_dir(wp_keyring *r, const char *dir, wp_err *err);
const wp_key *wp_keyring_by_curve(const wp_keyring *r, const uint8_t curve_pk[WP_KEY_BYTES]);
const wp_key *wp_keyring_by_name(const wp_keyring *r, const char *name);

#endif
