/* infer_client.c — wpctl's side of the request path (see infer_client.h
 * and proto/inference.proto for the framing). */
#include "tools/wpctl/infer_client.h"
#include "tools/wpctl/cluster.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static void set_pos(wpctl_ingress *g, const wp_topology *topo)
{
    g->has_pos = false;
    if (!topo || !g->city[0])
        return;
    int c = wp_topo_find(topo, g->city);
    if (c < 0)
        return;
    g->lat = wp_topo_city(topo, (size_t)c)->lat;
    g->lon = wp_topo_city(topo, (size_t)c)->lon;
    g->has_pos = true;
}

int wpctl_ingress_list(const char *dir_flag, const char *endpoint, const wp_topology *topo,
                       wpctl_ingress *out, size_t cap, size_t *n, wp_err *err)
{
    *n = 0;
    if (endpoint) {
        if (cap == 0)
            return wp_errf(err, WP_EINVAL, "no room for an ingress");
        memset(out, 0, sizeof *out);
        (void)wpctl_cluster_dir(dir_flag); /* the cluster's key, as without --endpoint */
        /* HOST:PORT or tcp://HOST:PORT, on this host or another. */
        if (wp_endpoint_normalize(endpoint, out->endpoint, sizeof out->endpoint) != WP_OK)
            return wp_errf(err, WP_EINVAL, "endpoint '%.100s' empty or too long", endpoint);
        snprintf(out->id, sizeof out->id, "%s", "endpoint");
        *n = 1;
        return WP_OK;
    }
    wpctl_cluster *c = malloc(sizeof *c);
    if (!c)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    int rv = wpctl_cluster_load(wpctl_cluster_dir(dir_flag), c, err);
    for (size_t i = 0; rv == WP_OK && i < c->n && *n < cap; i++) {
        const wpctl_node_rec *r = &c->nodes[i];
        if (!r->request[0] || !wpctl_node_running(r))
            continue;
        wpctl_ingress *g = &out[(*n)++];
        memset(g, 0, sizeof *g);
        snprintf(g->id, sizeof g->id, "%s", r->id);
        snprintf(g->city, sizeof g->city, "%s", r->city);
        snprintf(g->endpoint, sizeof g->endpoint, "%s", r->request);
        snprintf(g->admin, sizeof g->admin, "%s", r->admin);
        set_pos(g, topo);
    }
    if (rv == WP_OK && *n == 0)
        rv = wp_errf(err, WP_EUNAVAIL, "cluster at %s: no running node with a request endpoint",
                     c->dir);
    free(c);
    return rv;
}

size_t wpctl_ingress_nearest(const wpctl_ingress *in, size_t n, const wp_rtt_params *p,
                             double lat, double lon, double *rtt_ms)
{
    size_t best = 0;
    double best_rtt = INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!in[i].has_pos || in[i].down)
            continue;
        double r = wp_rtt_ms_between(p, lat, lon, in[i].lat, in[i].lon);
        if (r < best_rtt) {
            best_rtt = r;
            best = i;
        }
    }
    if (rtt_ms)
        *rtt_ms = isfinite(best_rtt) ? best_rtt : 0;
    return best;
}

void *wpctl_infer_socket(void *zctx, const char *endpoint, int hwm, wp_err *err)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    if (!s) {
        wp_errf(err, WP_EIO, "zmq_socket: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    int zero = 0;
    int64_t maxmsg = WP_FRAME_MAX_BYTES + WP_INFER_HDR_BYTES;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (wpctl_curve_client(s, err) != WP_OK) {
        zmq_close(s);
        return NULL;
    }
    if (zmq_connect(s, endpoint) != 0) {
        wp_errf(err, WP_EINVAL, "request endpoint %s: %s", endpoint, zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    return s;
}

int wpctl_infer_send(void *sock, const Warmpath__Infer__InferRequest *req_in, wp_err *err)
{
    /* The deadline travels as an absolute wall-clock time taken now, at
     * send (proto/inference.proto: deadline_unix_ns), so a node that reads
     * the request late still knows how late it is. */
    Warmpath__Infer__InferRequest q = *req_in; /* shallow: only packed */
    const Warmpath__Infer__InferRequest *req = &q;
    if (q.timeout_ms && !q.deadline_unix_ns)
        q.deadline_unix_ns = wp_clock_realtime_ns() + (uint64_t)q.timeout_ms * 1000000u;
    uint8_t stack[4096];
    size_t len = wp_infer_encode_into(WP_INFER_KIND_INFER_REQUEST, &req->base, stack, sizeof stack);
    uint8_t *heap = NULL;
    const uint8_t *buf = stack;
    if (len == 0) {
        int rv = wp_infer_encode(WP_INFER_KIND_INFER_REQUEST, &req->base, &heap, &len, err);
        if (rv != WP_OK)
            return rv;
        buf = heap;
    }
    int rc = zmq_send(sock, buf, len, ZMQ_DONTWAIT);
    int e = zmq_errno();
    free(heap);
    if (rc >= 0)
        return WP_OK;
    if (e == EAGAIN)
        return wp_errf(err, WP_EBUSY, "send queue full");
    return wp_errf(err, WP_EIO, "send: %s", zmq_strerror(e));
}

int wpctl_infer_recv(void *sock, Warmpath__Infer__InferResponse **resp,
                     Warmpath__Infer__StreamPart **part, wp_err *err)
{
    *resp = NULL;
    if (part)
        *part = NULL;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) < 0) {
        int e = zmq_errno();
        zmq_msg_close(&msg);
        if (e == EAGAIN)
            return WP_ENOTFOUND;
        return wp_errf(err, WP_EIO, "receive: %s", zmq_strerror(e));
    }
    const uint8_t *b = zmq_msg_data(&msg);
    size_t len = zmq_msg_size(&msg), plen;
    wp_infer_kind kind;
    int rv = wp_infer_frame_check(b, len, &kind, &plen, err);
    if (rv == WP_OK && part && kind == WP_INFER_KIND_INFER_PART)
        rv = wp_infer_decode_part(b + WP_INFER_HDR_BYTES, plen, part, err);
    else if (rv == WP_OK && kind != WP_INFER_KIND_INFER_RESPONSE)
        rv = wp_errf(err, WP_EPROTO, "unexpected frame kind %d", (int)kind);
    else if (rv == WP_OK)
        rv = wp_infer_decode_response(b + WP_INFER_HDR_BYTES, plen, resp, err);
    zmq_msg_close(&msg);
    return rv;
}

int wpctl_route_call(const char *endpoint, const Warmpath__Infer__RouteRequest *req,
                     int timeout_ms, Warmpath__Infer__RouteResponse **resp, wp_err *err)
{
    *resp = NULL;
    uint8_t *buf = NULL;
    size_t len;
    int rv = wp_infer_encode(WP_INFER_KIND_ROUTE_REQUEST, &req->base, &buf, &len, err);
    if (rv != WP_OK)
        return rv;
    void *ctx = zmq_ctx_new();
    void *s = ctx ? wpctl_infer_socket(ctx, endpoint, 16, err) : NULL;
    if (!s) {
        rv = ctx ? WP_EIO : wp_errf(err, WP_EIO, "zmq_ctx_new failed");
        goto out;
    }
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    if (zmq_send(s, buf, len, 0) < 0) {
        rv = wp_errf(err, WP_EUNAVAIL, "request endpoint %s: send: %s", endpoint,
                     zmq_strerror(zmq_errno()));
        goto out;
    }
    uint64_t deadline = wp_clock_monotonic_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        uint64_t now = wp_clock_monotonic_ns();
        if (now >= deadline) {
            rv = wp_errf(err, WP_ETIMEDOUT, "request endpoint %s: no answer within %d ms",
                         endpoint, timeout_ms);
            goto out;
        }
        zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
        int wait_ms = (int)((deadline - now + 999999u) / 1000000u);
        if (zmq_poll(&it, 1, wait_ms) < 0 && zmq_errno() != EINTR) {
            rv = wp_errf(err, WP_EIO, "poll: %s", zmq_strerror(zmq_errno()));
            goto out;
        }
        if (!(it.revents & ZMQ_POLLIN))
            continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, s, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            continue;
        }
        const uint8_t *b = zmq_msg_data(&msg);
        size_t plen;
        wp_infer_kind kind;
        rv = wp_infer_frame_check(b, zmq_msg_size(&msg), &kind, &plen, err);
        if (rv == WP_OK && kind == WP_INFER_KIND_INFER_RESPONSE) {
            /* The node could not read our request at all. */
            Warmpath__Infer__InferResponse *ir = NULL;
            rv = wp_infer_decode_response(b + WP_INFER_HDR_BYTES, plen, &ir, err);
            if (rv == WP_OK) {
                rv = wp_errf(err, WP_EPROTO, "%s: %s: %.200s", endpoint,
                             wp_infer_status_name(ir->status), ir->reason);
                warmpath__infer__infer_response__free_unpacked(ir, NULL);
            }
        } else if (rv == WP_OK && kind != WP_INFER_KIND_ROUTE_RESPONSE) {
            rv = wp_errf(err, WP_EPROTO, "%s: unexpected frame kind %d", endpoint, (int)kind);
        } else if (rv == WP_OK) {
            rv = wp_infer_decode_route_response(b + WP_INFER_HDR_BYTES, plen, resp, err);
        }
        zmq_msg_close(&msg);
        goto out;
    }
out:
    if (s)
        zmq_close(s);
    if (ctx)
        zmq_ctx_term(ctx);
    free(buf);
    return rv;
}
