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

/* ------------------------------------------------------------ CurveZMQ
 *
 * auth/curve.c. Every listening socket of a keyed process is a CURVE
 * server with the cluster's server key (DIR/cluster.key, role server) and
 * a ZAP domain naming what the socket is for (wp_zsock); one ZAP handler
 * per process (a thread answering inproc://zeromq.zap.01) looks the
 * client's Curve25519 public key up in the keyring (every .pub and .key
 * file in DIR) and admits it by role:
 *
 *     gossip     node keys (gossip and request forwarding between nodes)
 *     admin      operator keys
 *     request    client, node or operator keys; any key with
 *                public_inference (a public endpoint; never the others)
 *     placement  node, operator and placement keys; what each may ask is
 *                checked per request by the placement server
 *
 * An admitted connection's messages carry the key's name as ZMQ's
 * "User-Id" property (zmq_msg_gets). Refusals are counted per socket:
 * by ZAP (a key not in the ring, or of the wrong role) and by a monitor
 * on each server socket (a handshake that failed before ZAP: a peer
 * without CURVE, or garbage); they are logged at most once a second per
 * socket, with the number suppressed.
 *
 * Every connecting socket is a CURVE client (wp_curve_id): its own key
 * pair and the server's public key (DIR/cluster.pub). */
typedef enum {
    WP_ZSOCK_GOSSIP = 0,
    WP_ZSOCK_ADMIN,
    WP_ZSOCK_REQUEST,
    WP_ZSOCK_PLACEMENT,
    WP_ZSOCK_COUNT
} wp_zsock;

/* "gossip", "admin", "request", "placement"; NULL if out of range. */
const char *wp_zsock_name(wp_zsock s);
/* Whether a key of this role may connect to socket s (public_inference:
 * see above; role < 0: a key not in the ring). */
bool wp_zsock_admits(wp_zsock s, int role, bool public_inference);

/* A CURVE client identity: Z85 text for the ZMQ_CURVE_* options. */
typedef struct {
    char name[WP_KEY_NAME_MAX];
    wp_key_role role;
    char server_public[WP_KEY_Z85_LEN + 1];
    char public_key[WP_KEY_Z85_LEN + 1];
    char secret_key[WP_KEY_Z85_LEN + 1];
} wp_curve_id;

/* Loads key_path (a secret key file) and the server's public key from
 * cluster.pub in the same directory. */
int wp_curve_id_load(wp_curve_id *id, const char *key_path, wp_err *err);
/* The same from a key already loaded and DIR/cluster.pub. */
int wp_curve_id_from(wp_curve_id *id, const wp_key *k, const char *dir, wp_err *err);
/* Makes sock (not yet connected) a CURVE client with id. 0 or -1 (errno). */
int wp_curve_id_apply(const wp_curve_id *id, void *sock);
/* $WP_KEY (a key file) when set and non-empty: 1 with *id loaded, 0 when
 * unset, -1 (err set) when it cannot be loaded. */
int wp_curve_id_from_env(wp_curve_id *id, wp_err *err);
/* Wipes the secret. */
void wp_curve_id_clear(wp_curve_id *id);

typedef struct wp_zap wp_zap;

/* Starts the ZAP handler of zctx (one per context): loads DIR/cluster.key
 * (role server, with its secret) and the keyring of DIR. component names
 * the process in its log lines. */
int wp_zap_start(void *zctx, const char *dir, bool public_inference, const char *component,
                 wp_zap **out, wp_err *err);
/* Makes sock (before bind) a CURVE server for socket role s, and counts
 * its failed handshakes (a socket monitor read by the ZAP thread) unless
 * monitor is false (a caller with its own monitor counts them itself
 * with wp_zap_count). */
int wp_zap_server(wp_zap *z, void *sock, wp_zsock s, bool monitor, wp_err *err);
/* Counts a refusal on socket s (thread-safe). */
void wp_zap_count(wp_zap *z, wp_zsock s);
/* Refusals so far on socket s (thread-safe). */
uint64_t wp_zap_refused(const wp_zap *z, wp_zsock s);
/* Connections admitted so far, all sockets. */
uint64_t wp_zap_admitted(const wp_zap *z);
/* Reads the key directory again (every .pub and .key): keys added since
 * are admitted from the next connection on, keys removed are refused from
 * then on (connections already admitted stay). Call it on the thread that
 * calls wp_zap_peer (a pointer that returned is invalid after it). The
 * server key is not reread. On an error the keys in use stay. */
int wp_zap_reload(wp_zap *z, size_t *count, wp_err *err);
/* A daemon's SIGHUP: rereads dir into *ring (a keyring the caller looks
 * keys up in: gossip or raft peer signatures) and z's (NULL: none), all or
 * nothing: on an error both keep the keys they had. *count: the keys now
 * in *ring. Call it on the thread that reads *ring and calls wp_zap_peer. */
int wp_keys_reload(wp_keyring *ring, wp_zap *z, const char *dir, size_t *count, wp_err *err);
/* The key behind a message received on a CURVE server socket (its
 * User-Id), NULL when none (an anonymous public-inference client). */
const wp_key *wp_zap_peer(const wp_zap *z, void *zmq_msg);
/* Stops the thread, closes its sockets (call before zmq_ctx_term; the
 * server sockets it monitors must be closed first or be closed after
 * without monitors). NULL is fine. */
void wp_zap_stop(wp_zap *z);

#endif
