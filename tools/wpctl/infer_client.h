/* tools/wpctl/infer_client.h — internal to wpctl: the client side of the
 * request path (proto/inference.proto): DEALER sockets to wp-node request
 * endpoints, framed requests out, framed responses in (open loop: any
 * number in flight, matched by request_id), and the one-shot route query,
 * plus the list of ingress nodes (cluster directory or one endpoint) and
 * anycast (a position's nearest ingress by model RTT). */
#ifndef WPCTL_INFER_CLIENT_H
#define WPCTL_INFER_CLIENT_H

#include "common/common.h"
#include "node/node.h"
#include "node/infer.h"
#include "proto/inference.pb-c.h"
#include "topology/topology.h"

#define WPCTL_INGRESS_MAX 512u

typedef struct wpctl_ingress {
    char id[WP_NAME_MAX];
    char city[WP_NAME_MAX]; /* "" when unknown (--endpoint) */
    char endpoint[WP_GOSSIP_ADDR_MAX];
    double lat, lon;        /* of the city, when known */
    bool has_pos;
    char admin[WP_GOSSIP_ADDR_MAX]; /* its admin endpoint ("" = unknown: --endpoint) */
    bool down;              /* seen dead or left by the cluster: not picked */
} wpctl_ingress;

/* The request endpoints of the running nodes of the cluster at dir_flag
 * (wpctl_cluster_dir), or the single `endpoint` when given. Positions come
 * from the topology `topo` (may be NULL). *n = 0 is an error. */
int wpctl_ingress_list(const char *dir_flag, const char *endpoint, const wp_topology *topo,
                       wpctl_ingress *out, size_t cap, size_t *n, wp_err *err);
/* Index of the ingress with the lowest model RTT from (lat, lon): anycast.
 * Ingresses marked down are skipped (the route withdrawn); ingresses
 * without a position lose to any with one; ties go to the first. */
size_t wpctl_ingress_nearest(const wpctl_ingress *in, size_t n, const wp_rtt_params *p,
                             double lat, double lon, double *rtt_ms);

/* A DEALER socket connected to endpoint (linger 0, receive cap
 * WP_FRAME_MAX_BYTES + header, high-water marks `hwm` messages). */
void *wpctl_infer_socket(void *zctx, const char *endpoint, int hwm, wp_err *err);
/* Frames and sends one request without blocking (with timeout_ms set and no
 * deadline_unix_ns, the deadline is set to now + timeout_ms on the wall
 * clock): WP_OK, WP_EBUSY when the
 * socket's queue is full, else an error. */
int wpctl_infer_send(void *sock, const Warmpath__Infer__InferRequest *req, wp_err *err);
/* Receives one frame without blocking: WP_OK with *resp set (free with
 * warmpath__infer__infer_response__free_unpacked), WP_EAGAIN when none is
 * waiting, or a decode error (frame consumed and dropped). */
int wpctl_infer_recv(void *sock, Warmpath__Infer__InferResponse **resp, wp_err *err);
/* One route query, blocking up to timeout_ms. Free *resp with
 * warmpath__infer__route_response__free_unpacked. */
int wpctl_route_call(const char *endpoint, const Warmpath__Infer__RouteRequest *req,
                     int timeout_ms, Warmpath__Infer__RouteResponse **resp, wp_err *err);

#endif
