/* placement/client.h — the client of wp-placement (library
 * wp_placement_client): what wp-node and wpctl use to register nodes,
 * heartbeat, read assignments, manage the catalog and pins, and read the
 * status of each server.
 *
 * Calls are blocking, with an overall timeout; one call at a time per
 * client (not thread-safe; a daemon on libuv calls it from uv_queue_work,
 * or gives each thread its own client). A call follows the leader: a
 * follower answers NOT_LEADER with the leader's API address and the client
 * retries there (an address it did not know is added to its list); with no
 * leader known it tries the other endpoints, with short pauses, until the
 * timeout. A request that timed out is not retried on the same socket (the
 * socket is recreated), so no stale request is delivered later.
 *
 * Also here: the wire framing shared with the daemon (placement.proto's
 * header comment).
 */
#ifndef WP_PLACEMENT_CLIENT_H
#define WP_PLACEMENT_CLIENT_H

#include "auth/auth.h"
#include "common/common.h"
#include "proto/placement.pb-c.h"

/* ---------------------------------------------------------------- framing */

#define WP_PL_FRAME_HEADER 10
#define WP_PL_FRAME_VERSION 1
enum { WP_PL_KIND_REQUEST = 1, WP_PL_KIND_RESPONSE = 2 };

/* Frames a protobuf message: a malloc'd buffer with the header. */
int wp_pl_frame_request(const Warmpath__Placement__Request *req, void **buf, size_t *len,
                        wp_err *err);
int wp_pl_frame_response(const Warmpath__Placement__Response *resp, void **buf, size_t *len,
                         wp_err *err);
/* Checks the header (magic, version, kind, length == bytes that follow,
 * at most WP_FRAME_MAX_BYTES) and unpacks; the result is freed with
 * warmpath__placement__request__free_unpacked(x, NULL) (resp. response).
 * Unpacking a response also checks the fields its code requires. */
int wp_pl_unframe_request(const void *buf, size_t len, Warmpath__Placement__Request **out,
                          wp_err *err);
int wp_pl_unframe_response(const void *buf, size_t len, Warmpath__Placement__Response **out,
                           wp_err *err);
/* Bounds on every placement socket (server ROUTER and client DEALER):
 * a frame over WP_FRAME_MAX_BYTES closes the connection inside libzmq
 * before any of it is buffered (ZMQ_MAXMSGSIZE, read back to check it
 * took), and at most hwm messages queue per peer in each direction
 * (ZMQ_SNDHWM / ZMQ_RCVHWM; what happens at the mark is up to the socket
 * type: see daemon.c). Linger 0. WP_EIO if libzmq refuses an option.
 * A client that pipelines requests on one connection may keep at most
 * WP_PL_SOCKET_HWM/2 unanswered (libzmq acknowledges reads in batches of
 * half the mark); beyond that the server may drop replies. */
#define WP_PL_SOCKET_HWM 256
int wp_pl_socket_limits(void *zsock, int hwm, wp_err *err);
/* Short name of a response code ("ok", "not-leader", ...). */
const char *wp_pl_code_name(int code);

/* ---------------------------------------------------------------- client */

typedef struct wp_placement_client wp_placement_client;

/* endpoints: ZeroMQ addresses of the placement servers' APIs
 * ("tcp://127.0.0.1:7101"); timeout_ms bounds every call (0 = 3000). */
int wp_placement_client_new(const char *const *endpoints, size_t n, int timeout_ms,
                            wp_placement_client **out, wp_err *err);
void wp_placement_client_free(wp_placement_client *c);
/* Parses "ADDR[,ADDR...]" (a bare HOST:PORT gets "tcp://") and creates a
 * client. */
int wp_placement_client_new_list(const char *list, int timeout_ms, wp_placement_client **out,
                                 wp_err *err);
/* CurveZMQ (auth/auth.h). A new client speaks CURVE with the key in
 * $WP_KEY when it is set (new fails if it cannot be loaded), else plain
 * ZMTP; this replaces that choice (id copied; NULL: plain) and closes the
 * open connections. */
void wp_placement_client_set_curve(wp_placement_client *c, const wp_curve_id *id);

/* The generic call: sends req (request_id is set by the client), follows
 * redirects; on WP_OK *resp is the response with code OK, REFUSED or
 * NOT_REGISTERED (free with warmpath__placement__response__free_unpacked);
 * other codes become errors (WP_ETIMEDOUT, WP_ENOLEADER, WP_EPROTO ...). */
int wp_placement_client_call(wp_placement_client *c, Warmpath__Placement__Request *req,
                             Warmpath__Placement__Response **resp, wp_err *err);

/* Convenience calls. A refusal by the state machine comes back as
 * WP_EINVAL with its reason in err; *version (may be NULL) is the state
 * version after the command. */
int wp_placement_client_register(wp_placement_client *c, const char *node_id, const char *city,
                                 uint32_t gpus, uint64_t gpu_mem_bytes, uint64_t *version,
                                 wp_err *err);

typedef struct wp_placement_rate {
    char model[WP_NAME_MAX];
    double requests_per_s;
} wp_placement_rate;
/* WP_ENOTFOUND: the registry does not know this node; register again. */
int wp_placement_client_heartbeat(wp_placement_client *c, const char *node_id,
                                  const wp_placement_rate *rates, size_t n_rates,
                                  uint64_t *version, wp_err *err);

typedef struct wp_placement_warm {
    char model[WP_NAME_MAX];
    bool pinned;
} wp_placement_warm;
/* The models node_id must keep warm (malloc'd array, *n entries; free()). */
int wp_placement_client_assignment(wp_placement_client *c, const char *node_id,
                                   wp_placement_warm **models, size_t *n, uint64_t *version,
                                   wp_err *err);
/* What wp-node calls once a second: heartbeat (with its request rates);
 * if the registry does not know the node, register it and heartbeat
 * again; if the state version differs from *version, fetch the node's
 * assignment. On WP_OK *version is the current state version, and
 * *models (with *n entries; start with NULL) is the node's assignment,
 * replaced when it was fetched again (old array freed, new one malloc'd;
 * free() it at the end); *changed tells whether its content differs from
 * before. A node thus learns a new assignment within
 * one heartbeat period of the commit. */
typedef struct wp_placement_node_info {
    const char *node_id;
    const char *city;
    uint32_t gpus;
    uint64_t gpu_mem_bytes;
} wp_placement_node_info;
int wp_placement_client_sync(wp_placement_client *c, const wp_placement_node_info *node,
                             const wp_placement_rate *rates, size_t n_rates, uint64_t *version,
                             wp_placement_warm **models, size_t *n, bool *changed, wp_err *err);

int wp_placement_client_catalog_add(wp_placement_client *c, const wp_model_profile *m,
                                    uint64_t *version, wp_err *err);
/* Refused (the server's reason in err) while the model is pinned
 * anywhere, or when it is not in the catalog. */
int wp_placement_client_catalog_remove(wp_placement_client *c, const char *model,
                                       uint64_t *version, wp_err *err);
/* malloc'd array of profiles; free(). */
int wp_placement_client_catalog_list(wp_placement_client *c, wp_model_profile **models, size_t *n,
                                     wp_err *err);
int wp_placement_client_pin(wp_placement_client *c, const char *model, const char *const *cities,
                            size_t n_cities, uint32_t replicas, uint64_t *version, wp_err *err);
/* city NULL: unpin everywhere. */
int wp_placement_client_unpin(wp_placement_client *c, const char *model, const char *city,
                              uint64_t *version, wp_err *err);

/* Status of one endpoint (index into the client's list; no redirect). */
size_t wp_placement_client_endpoint_count(const wp_placement_client *c);
const char *wp_placement_client_endpoint(const wp_placement_client *c, size_t i);
int wp_placement_client_status_of(wp_placement_client *c, size_t i,
                                  Warmpath__Placement__Response **resp, wp_err *err);

#endif /* WP_PLACEMENT_CLIENT_H */
