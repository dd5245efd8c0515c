/* placement/client.c — framing of the placement API and a blocking client
 * that follows the leader. See client.h. */
#include "placement/client.h"

#include "auth/auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

typedef Warmpath__Placement__Request PlReq;
typedef Warmpath__Placement__Response PlResp;

#define MAX_ENDPOINTS 16
#define ENDPOINT_MAX 160
#define CONNECT_WAIT_MS 150 /* a server we cannot connect to within this is skipped */

/* ---------------------------------------------------------------- framing */

static const uint8_t MAGIC[4] = {'W', 'P', 'P', 'L'};

static int frame(const ProtobufCMessage *msg, int kind, void **buf, size_t *len, wp_err *err)
{
    size_t body = protobuf_c_message_get_packed_size(msg);
    if (body > WP_FRAME_MAX_BYTES - WP_PL_FRAME_HEADER)
        return wp_errf(err, WP_ETOOBIG, "placement frame: %zu bytes over the limit", body);
    uint8_t *p = malloc(WP_PL_FRAME_HEADER + body + 1);
    if (p == NULL)
        return wp_errf(err, WP_ENOMEM, "placement frame: out of memory");
    memcpy(p, MAGIC, 4);
    p[4] = WP_PL_FRAME_VERSION;
    p[5] = (uint8_t)kind;
    p[6] = (uint8_t)(body >> 24);
    p[7] = (uint8_t)(body >> 16);
    p[8] = (uint8_t)(body >> 8);
    p[9] = (uint8_t)body;
    protobuf_c_message_pack(msg, p + WP_PL_FRAME_HEADER);
    *buf = p;
    *len = WP_PL_FRAME_HEADER + body;
    return WP_OK;
}

int wp_pl_frame_request(const PlReq *req, void **buf, size_t *len, wp_err *err)
{
    return frame(&req->base, WP_PL_KIND_REQUEST, buf, len, err);
}

int wp_pl_frame_response(const PlResp *resp, void **buf, size_t *len, wp_err *err)
{
    return frame(&resp->base, WP_PL_KIND_RESPONSE, buf, len, err);
}

static int check_header(const uint8_t *p, size_t len, int kind, wp_err *err)
{
    if (len > WP_FRAME_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "placement frame: %zu bytes over the limit %u", len,
                       WP_FRAME_MAX_BYTES);
    if (len < WP_PL_FRAME_HEADER)
        return wp_errf(err, WP_ETRUNC, "placement frame: %zu bytes, shorter than the header",
                       len);
    if (memcmp(p, MAGIC, 4) != 0)
        return wp_errf(err, WP_EPROTO, "placement frame: bad magic");
    if (p[4] != WP_PL_FRAME_VERSION)
        return wp_errf(err, WP_EUNSUPPORTED, "placement frame: version %u not supported", p[4]);
    if (p[5] != kind)
        return wp_errf(err, WP_EPROTO, "placement frame: kind %u, expected %d", p[5], kind);
    uint32_t body = (uint32_t)p[6] << 24 | (uint32_t)p[7] << 16 | (uint32_t)p[8] << 8 | p[9];
    if (body != len - WP_PL_FRAME_HEADER)
        return wp_errf(err, WP_ETRUNC, "placement frame: header says %u bytes, %zu follow", body,
                       len - WP_PL_FRAME_HEADER);
    return WP_OK;
}

int wp_pl_unframe_request(const void *buf, size_t len, PlReq **out, wp_err *err)
{
    *out = NULL;
    int rv = check_header(buf, len, WP_PL_KIND_REQUEST, err);
    if (rv != WP_OK)
        return rv;
    *out = warmpath__placement__request__unpack(NULL, len - WP_PL_FRAME_HEADER,
                                                (const uint8_t *)buf + WP_PL_FRAME_HEADER);
    if (*out == NULL)
        return wp_errf(err, WP_EPARSE, "placement request: not a valid protobuf message");
    if ((*out)->op_case == WARMPATH__PLACEMENT__REQUEST__OP__NOT_SET) {
        warmpath__placement__request__free_unpacked(*out, NULL);
        *out = NULL;
        return wp_errf(err, WP_EPROTO, "placement request: no operation");
    }
    return WP_OK;
}

int wp_pl_unframe_response(const void *buf, size_t len, PlResp **out, wp_err *err)
{
    *out = NULL;
    int rv = check_header(buf, len, WP_PL_KIND_RESPONSE, err);
    if (rv != WP_OK)
        return rv;
    *out = warmpath__placement__response__unpack(NULL, len - WP_PL_FRAME_HEADER,
                                                 (const uint8_t *)buf + WP_PL_FRAME_HEADER);
    if (*out == NULL)
        return wp_errf(err, WP_EPARSE, "placement response: not a valid protobuf message");
    if ((*out)->code == WARMPATH__PLACEMENT__CODE__OK && (*out)->request_id == 0) {
        warmpath__placement__response__free_unpacked(*out, NULL);
        *out = NULL;
        return wp_errf(err, WP_EPROTO, "placement response: no request id");
    }
    return WP_OK;
}

const char *wp_pl_code_name(int code)
{
    switch (code) {
    case WARMPATH__PLACEMENT__CODE__OK: return "ok";
    case WARMPATH__PLACEMENT__CODE__NOT_LEADER: return "not-leader";
    case WARMPATH__PLACEMENT__CODE__NO_LEADER: return "no-leader";
    case WARMPATH__PLACEMENT__CODE__REFUSED: return "refused";
    case WARMPATH__PLACEMENT__CODE__BAD_REQUEST: return "bad-request";
    case WARMPATH__PLACEMENT__CODE__UNAVAILABLE: return "unavailable";
    case WARMPATH__PLACEMENT__CODE__OUTCOME_UNKNOWN: return "outcome-unknown";
    case WARMPATH__PLACEMENT__CODE__NOT_REGISTERED: return "not-registered";
    default: return "unknown";
    }
}

/* ---------------------------------------------------------------- client */

struct wp_placement_client {
    void *zctx;
    char endpoints[MAX_ENDPOINTS][ENDPOINT_MAX];
    void *sock[MAX_ENDPOINTS];
    size_t n;
    size_t leader; /* index of the endpoint to try first */
    int timeout_ms;
    uint64_t next_id;
    bool curve;      /* sockets are CURVE clients with id */
    wp_curve_id id;
};

static int64_t now_ms(void)
{
    return (int64_t)(wp_clock_monotonic_ns() / WP_NS_PER_MS);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The endpoint's index (added if new), or -1 with err set. */
static int add_endpoint(wp_placement_client *c, const char *ep, wp_err *err)
{
    char norm[ENDPOINT_MAX];
    if (strstr(ep, "://") == NULL)
        snprintf(norm, sizeof norm, "tcp://%s", ep);
    else
        snprintf(norm, sizeof norm, "%s", ep);
    if (strlen(ep) + 6 >= ENDPOINT_MAX || ep[0] == '\0') {
        wp_errf(err, WP_EINVAL, "placement endpoint '%s': bad address", ep);
        return -1;
    }
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->endpoints[i], norm) == 0)
            return (int)i;
    if (c->n >= MAX_ENDPOINTS) {
        wp_errf(err, WP_ENOSPC, "placement client: more than %d endpoints", MAX_ENDPOINTS);
        return -1;
    }
    snprintf(c->endpoints[c->n], ENDPOINT_MAX, "%s", norm);
    c->sock[c->n] = NULL;
    return (int)c->n++;
}

int wp_placement_client_new(const char *const *endpoints, size_t n, int timeout_ms,
                            wp_placement_client **out, wp_err *err)
{
    *out = NULL;
    if (n == 0)
        return wp_errf(err, WP_EINVAL, "placement client: no endpoints");
    wp_placement_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return wp_errf(err, WP_ENOMEM, "placement client: out of memory");
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 3000;
    c->next_id = (wp_clock_realtime_ns() & 0xffffffffu) << 16 | 1;
    for (size_t i = 0; i < n; i++) {
        if (add_endpoint(c, endpoints[i], err) < 0) {
            free(c);
            return err ? err->code : WP_EINVAL;
        }
    }
    /* $WP_KEY: CURVE with that key (wpctl's operator); a daemon with its
     * own key calls wp_placement_client_set_curve. */
    int k = wp_curve_id_from_env(&c->id, err);
    if (k < 0) {
        free(c);
        return err ? err->code : WP_EINVAL;
    }
    c->curve = k > 0;
    c->zctx = zmq_ctx_new();
    if (c->zctx == NULL) {
        free(c);
        return wp_errf(err, WP_EIO, "placement client: zmq context: %s", zmq_strerror(errno));
    }
    *out = c;
    return WP_OK;
}

int wp_placement_client_new_list(const char *list, int timeout_ms, wp_placement_client **out,
                                 wp_err *err)
{
    *out = NULL;
    if (list == NULL || *list == '\0')
        return wp_errf(err, WP_EINVAL, "placement endpoints: empty list");
    char tmp[MAX_ENDPOINTS * ENDPOINT_MAX];
    if (strlen(list) >= sizeof tmp)
        return wp_errf(err, WP_EINVAL, "placement endpoints: list too long");
    snprintf(tmp, sizeof tmp, "%s", list);
    const char *eps[MAX_ENDPOINTS];
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(tmp, ", \n", &save); tok; tok = strtok_r(NULL, ", \n", &save)) {
        if (n >= MAX_ENDPOINTS)
            return wp_errf(err, WP_EINVAL, "placement endpoints: more than %d", MAX_ENDPOINTS);
        eps[n++] = tok;
    }
    return wp_placement_client_new(eps, n, timeout_ms, out, err);
}

static void close_sock(wp_placement_client *c, size_t i)
{
    if (c->sock[i] != NULL) {
        zmq_close(c->sock[i]);
        c->sock[i] = NULL;
    }
}

void wp_placement_client_free(wp_placement_client *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        close_sock(c, i);
    zmq_ctx_term(c->zctx);
    wp_curve_id_clear(&c->id);
    free(c);
}

void wp_placement_client_set_curve(wp_placement_client *c, const wp_curve_id *id)
{
    for (size_t i = 0; i < c->n; i++)
        close_sock(c, i);
    wp_curve_id_clear(&c->id);
    c->curve = id != NULL;
    if (id)
        c->id = *id;
}

size_t wp_placement_client_endpoint_count(const wp_placement_client *c) { return c->n; }
const char *wp_placement_client_endpoint(const wp_placement_client *c, size_t i)
{
    return i < c->n ? c->endpoints[i] : NULL;
}

int wp_pl_socket_limits(void *zsock, int hwm, wp_err *err)
{
    int64_t maxmsg = WP_FRAME_MAX_BYTES, got = 0;
    size_t got_len = sizeof got;
    int zero = 0;
    if (zmq_setsockopt(zsock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(zsock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(zsock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(zsock, ZMQ_LINGER, &zero, sizeof zero) != 0)
        return wp_errf(err, WP_EIO, "placement socket limits: %s", zmq_strerror(errno));
    if (zmq_getsockopt(zsock, ZMQ_MAXMSGSIZE, &got, &got_len) != 0 || got != maxmsg)
        return wp_errf(err, WP_EIO, "placement socket: ZMQ_MAXMSGSIZE did not take (%lld)",
                       (long long)got);
    return WP_OK;
}

static void *get_sock(wp_placement_client *c, size_t i, wp_err *err)
{
    if (c->sock[i] != NULL)
        return c->sock[i];
    void *s = zmq_socket(c->zctx, ZMQ_DEALER);
    if (s == NULL) {
        wp_errf(err, WP_EIO, "placement client: socket: %s", zmq_strerror(errno));
        return NULL;
    }
    int one = 1;
    if (wp_pl_socket_limits(s, WP_PL_SOCKET_HWM, err) != WP_OK) {
        zmq_close(s);
        return NULL;
    }
    if (zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one) != 0) {
        wp_errf(err, WP_EIO, "placement client: ZMQ_IMMEDIATE: %s", zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    if (c->curve && wp_curve_id_apply(&c->id, s) != 0) {
        wp_errf(err, WP_EIO, "placement client: CURVE: %s", zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    if (zmq_connect(s, c->endpoints[i]) != 0) {
        wp_errf(err, WP_EINVAL, "placement client: connect %s: %s", c->endpoints[i],
                zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    c->sock[i] = s;
    return s;
}

/* One exchange with endpoint i: WP_OK with *resp (request id matched),
 * WP_ETIMEDOUT, or another error. */
static int exchange(wp_placement_client *c, size_t i, const void *frame_buf, size_t frame_len,
                    uint64_t id, int wait_ms, PlResp **resp, wp_err *err)
{
    *resp = NULL;
    void *s = get_sock(c, i, err);
    if (s == NULL)
        return err ? err->code : WP_EIO;
    int64_t deadline = now_ms() + wait_ms;
    /* With ZMQ_IMMEDIATE, a send to a peer with no connection fails with
     * EAGAIN: retry for a short while (connecting to a live server on
     * loopback takes well under a millisecond), then try another server. */
    int64_t send_deadline = now_ms() + (wait_ms < CONNECT_WAIT_MS ? wait_ms : CONNECT_WAIT_MS);
    for (;;) {
        if (zmq_send(s, frame_buf, frame_len, ZMQ_DONTWAIT) >= 0)
            break;
        if (errno != EAGAIN)
            return wp_errf(err, WP_EIO, "placement client: send to %s: %s", c->endpoints[i],
                           zmq_strerror(errno));
        if (now_ms() >= send_deadline) {
            close_sock(c, i);
            return wp_errf(err, WP_ETIMEDOUT, "placement server %s: not reachable",
                           c->endpoints[i]);
        }
        sleep_ms(2);
    }
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            break;
        zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, (long)left);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            return wp_errf(err, WP_EIO, "placement client: poll: %s", zmq_strerror(errno));
        }
        if (rc == 0)
            break;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, s, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            continue;
        }
        PlResp *r = NULL;
        wp_err perr = {0};
        int rv = wp_pl_unframe_response(zmq_msg_data(&msg), zmq_msg_size(&msg), &r, &perr);
        zmq_msg_close(&msg);
        if (rv != WP_OK)
            continue; /* a bad frame is dropped, never trusted */
        if (r->request_id != id) {
            warmpath__placement__response__free_unpacked(r, NULL);
            continue; /* a late answer to an earlier request */
        }
        *resp = r;
        return WP_OK;
    }
    close_sock(c, i); /* drop what is queued so it is never delivered late */
    return wp_errf(err, WP_ETIMEDOUT, "placement server %s: no answer within %d ms",
                   c->endpoints[i], wait_ms);
}

int wp_placement_client_call(wp_placement_client *c, PlReq *req, PlResp **resp, wp_err *err)
{
    *resp = NULL;
    int64_t deadline = now_ms() + c->timeout_ms;
    size_t i = c->leader < c->n ? c->leader : 0;
    wp_err last = {0};
    wp_errf(&last, WP_ETIMEDOUT, "no placement server answered");
    bool saw_no_leader = false;
    while (now_ms() < deadline) {
        req->request_id = c->next_id++;
        void *buf;
        size_t len;
        int rv = wp_pl_frame_request(req, &buf, &len, err);
        if (rv != WP_OK)
            return rv;
        int64_t left = deadline - now_ms();
        int wait = (int)(left < 1000 ? left : 1000);
        PlResp *r = NULL;
        rv = exchange(c, i, buf, len, req->request_id, wait > 0 ? wait : 1, &r, &last);
        free(buf);
        if (rv != WP_OK) {
            i = (i + 1) % c->n;
            continue;
        }
        switch (r->code) {
        case WARMPATH__PLACEMENT__CODE__OK:
        case WARMPATH__PLACEMENT__CODE__REFUSED:
        case WARMPATH__PLACEMENT__CODE__NOT_REGISTERED:
            c->leader = i;
            *resp = r;
            return WP_OK;
        case WARMPATH__PLACEMENT__CODE__NOT_LEADER:
            if (r->leader_address && r->leader_address[0]) {
                int j = add_endpoint(c, r->leader_address, NULL);
                i = j >= 0 ? (size_t)j : (i + 1) % c->n;
            } else {
                i = (i + 1) % c->n;
                sleep_ms(20);
            }
            wp_errf(&last, WP_ENOLEADER, "no placement leader answered");
            break;
        case WARMPATH__PLACEMENT__CODE__NO_LEADER:
        case WARMPATH__PLACEMENT__CODE__UNAVAILABLE:
            saw_no_leader = true;
            wp_errf(&last, WP_ENOLEADER, "placement: %s",
                    r->error && r->error[0] ? r->error : "no leader");
            i = (i + 1) % c->n;
            sleep_ms(30);
            break;
        case WARMPATH__PLACEMENT__CODE__OUTCOME_UNKNOWN: {
            /* Not retried: the command may have been committed. */
            int code = WP_EUNKNOWN;
            wp_errf(err, code, "placement server %s: %s", c->endpoints[i],
                    r->error && r->error[0] ? r->error : "outcome unknown");
            warmpath__placement__response__free_unpacked(r, NULL);
            return code;
        }
        default: {
            int code = WP_EPROTO;
            wp_errf(err, code, "placement server %s: %s: %s", c->endpoints[i],
                    wp_pl_code_name(r->code), r->error ? r->error : "");
            warmpath__placement__response__free_unpacked(r, NULL);
            return code;
        }
        }
        warmpath__placement__response__free_unpacked(r, NULL);
    }
    if (saw_no_leader && last.code == WP_ETIMEDOUT)
        last.code = WP_ENOLEADER;
    return wp_errf(err, last.code, "%s", last.msg);
}

/* Runs a call and turns REFUSED / NOT_REGISTERED into errors. */
static int call_ok(wp_placement_client *c, PlReq *req, PlResp **resp, uint64_t *version,
                   wp_err *err)
{
    int rv = wp_placement_client_call(c, req, resp, err);
    if (rv != WP_OK)
        return rv;
    PlResp *r = *resp;
    if (version)
        *version = r->version;
    if (r->code == WARMPATH__PLACEMENT__CODE__REFUSED) {
        rv = wp_errf(err, WP_EINVAL, "refused: %s", r->error ? r->error : "");
    } else if (r->code == WARMPATH__PLACEMENT__CODE__NOT_REGISTERED) {
        rv = wp_errf(err, WP_ENOTFOUND, "%s", r->error && r->error[0] ? r->error : "not registered");
    } else {
        return WP_OK;
    }
    warmpath__placement__response__free_unpacked(r, NULL);
    *resp = NULL;
    return rv;
}

static int simple(wp_placement_client *c, PlReq *req, uint64_t *version, wp_err *err)
{
    PlResp *r = NULL;
    int rv = call_ok(c, req, &r, version, err);
    if (r)
        warmpath__placement__response__free_unpacked(r, NULL);
    return rv;
}

int wp_placement_client_register(wp_placement_client *c, const char *node_id, const char *city,
                                 uint32_t gpus, uint64_t gpu_mem_bytes, uint64_t *version,
                                 wp_err *err)
{
    Warmpath__Placement__RegisterNode m = WARMPATH__PLACEMENT__REGISTER_NODE__INIT;
    m.node_id = (char *)node_id;
    m.city = (char *)city;
    m.gpus = gpus;
    m.gpu_mem_bytes = gpu_mem_bytes;
    PlReq req = WARMPATH__PLACEMENT__REQUEST__INIT;
    req.op_case = WARMPATH__PLACEMENT__REQUEST__OP_REGISTER_NODE;
    req.register_node = &m;
    return simple(c, &req, version, err);
}

int wp_placement_client_heartbeat(wp_placement_client *c, const char *node_id,
                                  const wp_placement_rate *rates, size_t n_rates,
                                  uint64_t *version, wp_err *err)
{
    if (n_rates > WP_MSG_MAX_ARRAY)
        return wp_errf(err, WP_ETOOBIG, "heartbeat: more than %u rates", WP_MSG_MAX_ARRAY);
    Warmpath__Placement__ModelRate *rs = calloc(n_rates + 1, sizeof *rs);
    Warmpath__Placement__ModelRate **rp = calloc(n_rates + 1, sizeof *rp);
    if (rs == NULL || rp == NULL) {
        free(rs);
        free(rp);
        return wp_errf(err, WP_ENOMEM, "heartbeat: out of memory");
    }
    for (size_t i = 0; i < n_rates; i++) {
        warmpath__placement__model_rate__init(&rs[i]);
        rs[i].model = (char *)rates[i].model;
        rs[i].requests_per_s = rates[i].requests_per_s;
        rp[i] = &rs[i];
    }
    Warmpath__Placement__Heartbeat m = WARMPATH__PLACEMENT__HEARTBEAT__INIT;
    m.node_id = (char *)node_id;
    m.n_rates = n_rates;
    m.rates = rp;
    PlReq req = WARMPATH__PLACEMENT__REQUEST__INIT;
    req.op_case = WARMPATH__PLACEMENT__REQUEST__OP_HEARTBEAT;
    req.heartbeat = &m;
    int rv = simple(c, &req, version, err);
    free(rs);
    free(rp);
    return rv;
}

int wp_placement_client_assignment(wp_placement_client *c, const char *node_id,
                                   wp_placement_warm **models, size_t *n, uint64_t *version,
                                   wp_err *err)
{
    *models = NULL;
    *n = 0;
    Warmpath__Placement__GetAssignment m = WARMPATH__PLACEMENT__GET_ASSIGNMENT__INIT;
    m.node_id = (char *)node_id;
    PlReq req = WARMPATH__PLACEMENT__REQUEST__INIT;
    req.op_case = WARMPATH__PLACEMENT__REQUEST__OP_GET_ASSIGNMENT;
    req.get_assignment = &m;
    PlResp *r = NULL;
    int rv = call_ok(c, &req, &r, version, err);
    if (rv != WP_OK)
        return rv;
    if (r->body_case != WARMPATH__PLACEMENT__RESPONSE__BODY_ASSIGNMENT || r->assignment == NULL) {
        warmpath__placement__response__free_unpacked(r, NULL);
        return wp_errf(err, WP_EPROTO, "assignment: response without an assignment");
    }
    const Warmpath__Placement__Assignment *a = r->assignment;
    for (size_t i = 0; i < a->n_nodes; i++) {
        const Warmpath__Placement__NodeAssignment *na = a->nodes[i];
        if (strcmp(na->node_id, node_id) != 0)
            continue;
        *models = calloc(na->n_models + 1, sizeof **models);
        if (*models == NULL) {
            warmpath__placement__response__free_unpacked(r, NULL);
            return wp_errf(err, WP_ENOMEM, "assignment: out of memory");
        }
        for (size_t k = 0; k < na->n_models; k++) {
            snprintf((*models)[k].model, WP_NAME_MAX, "%s", na->models[k]->model);
            (*models)[k].pinned = na->models[k]->pinned;
        }
        *n = na->n_models;
    }
    warmpath__placement__response__free_unpacked(r, NULL);
    return WP_OK;
}

int wp_placement_client_sync(wp_placement_client *c, const wp_placement_node_info *node,
                             const wp_placement_rate *rates, size_t n_rates, uint64_t *version,
                             wp_placement_warm **models, size_t *n, bool *changed, wp_err *err)
{
    *changed = false;
    uint64_t v = 0;
    int rv = wp_placement_client_heartbeat(c, node->node_id, rates, n_rates, &v, err);
    if (rv == WP_ENOTFOUND) {
        rv = wp_placement_client_register(c, node->node_id, node->city, node->gpus,
                                          node->gpu_mem_bytes, NULL, err);
        if (rv == WP_OK)
            rv = wp_placement_client_heartbeat(c, node->node_id, rates, n_rates, &v, err);
    }
    if (rv != WP_OK)
        return rv;
    if (v == *version && *models != NULL)
        return WP_OK;
    wp_placement_warm *fresh = NULL;
    size_t count = 0;
    uint64_t av = 0;
    rv = wp_placement_client_assignment(c, node->node_id, &fresh, &count, &av, err);
    if (rv != WP_OK)
        return rv;
    if (fresh == NULL) /* no replicas: an empty array, not NULL */
        fresh = calloc(1, sizeof *fresh);
    if (fresh == NULL)
        return wp_errf(err, WP_ENOMEM, "sync: out of memory");
    bool same = *models != NULL && *n == count;
    for (size_t i = 0; same && i < count; i++)
        same = strcmp((*models)[i].model, fresh[i].model) == 0 &&
               (*models)[i].pinned == fresh[i].pinned;
    free(*models);
    *models = fresh;
    *n = count;
    *version = av;
    *changed = !same;
    return WP_OK;
}

static void profile_to_pb(const wp_model_profile *m, Warmpath__Placement__ModelProfile *p)
{
    warmpath__placement__model_profile__init(p);
    p->name = (char *)m->name;
    p->size_bytes = m->size_bytes;
    p->prefill_base_ms = m->prefill_base_ms;
    p->prefill_ms_per_token = m->prefill_ms_per_token;
    p->decode_ms_per_token = m->decode_ms_per_token;
    p->slots_per_gpu = m->slots_per_gpu;
    p->load_bytes_per_s = m->load_bytes_per_s;
    p->load_fixed_ms = m->load_fixed_ms;
    p->typical_in_tokens = m->typical_in_tokens;
    p->typical_out_tokens = m->typical_out_tokens;
}

int wp_placement_client_catalog_add(wp_placement_client *c, const wp_model_profile *m,
                                    uint64_t *version, wp_err *err)
{
    Warmpath__Placement__ModelProfile p;
    profile_to_pb(m, &p);
    Warmpath__Placement__CatalogAdd a = WARMPATH__PLACEMENT__CATALOG_ADD__INIT;
    a.model = &p;
    PlReq req = WARMPATH__PLACEMENT__REQUEST__INIT;
    req.op_case = WARMPATH__PLACEMENT__REQUEST__OP_CATALOG_ADD;
    req.catalog_add = &a;
    return simple(c, &req, version, err);
}

int wp_placement_client_catalog_remove(wp_placement_client *c, const char *model,
                                       uint64_t *version, wp_err *err)
{
    Warmpath__Placement__CatalogRemove r = WARMPATH__PLACEMENT__CATALOG_REMOVE__INIT;
    r.model = (char *)model;
    PlReq req = WARMPATH__PLACEMENT__REQUEST__INIT;
    req.op_case = WARMPATH__PLACEMENT__REQUEST__OP_CATALOG_REMOVE;
    req.catalog_remove = &r;
    return simple(c, &req, version, err);
}

int wp_placement_client_catalog_list(wp_placement_client *c, wp_model_profile **models, size_t *n,
                                     wp_err *err)
{
    *models = NULL;
    *n = 0;
    Warmpath__Placement__CatalogList l = WARMPATH__PLACEMENT__CATALOG_LIST__INIT;
    PlReq req = WARMPATH__PLACEMENT__REQUEST__INIT;
    req.op_case = WARMPATH__PLACEMENT__REQUEST__OP_CATALOG_LIST;
    req.catalog_list = &l;
    PlResp *r = NULL;
    int rv = call_ok(c, &req, &r, NULL, err);
    if (rv != WP_OK)
        return rv;
    if (r->body_case != WARMPATH__PLACEMENT__RESPONSE__BODY_CATALOG || r->catalog == NULL) {
        warmpath__placement__response__free_unpacked(r, NULL);
        return wp_errf(err, WP_EPROTO, "catalog: response without a catalog");
    }
    *models = calloc(r->catalog->n_models + 1, sizeof **models);
    if (*models == NULL) {
        warmpath__placement__response__free_unpacked(r, NULL);
        return wp_errf(err, WP_ENOMEM, "catalog: out of memory");
    }
    for (size_t i = 0; i < r->catalog->n_models; i++) {
        const Warmpath__Placement__ModelProfile *p = r->catalog->models[i];
        wp_model_profile *m = &(*models)[i];
        snprintf(m->name, sizeof m->name, "%s", p->name);
        m->size_bytes = p->size_bytes;
        m->prefill_base_ms = p->prefill_base_ms;
        m->prefill_ms_per_token = p->prefill_ms_per_token;
        m->decode_ms_per_token = p->decode_ms_per_token;
        m->slots_per_gpu = p->slots_per_gpu;
        m->load_bytes_per_s = p->load_bytes_per_s;
        m->load_fixed_ms = p->load_fixed_ms;
        m->typical_in_tokens = p->typical_in_tokens;
        m->typical_out_tokens = p->typical_out_tokens;
    }
    *n = r->catalog->n_models;
    warmpath__placement__response__free_unpacked(r, NULL);
    return WP_OK;
}

int wp_placement_client_pin(wp_placement_client *c, const char *model, const char *const *cities,
                            size_t n_cities, uint32_t replicas, uint64_t *version, wp_err *err)
{
    Warmpath__Placement__Pin p = WARMPATH__PLACEMENT__PIN__INIT;
    p.model = (char *)model;
    p.cities = (char **)cities;
    p.n_cities = n_cities;
    p.replicas = replicas;
    PlReq req = WARMPATH__PLACEMENT__REQUEST__INIT;
    req.op_case = WARMPATH__PLACEMENT__REQUEST__OP_PIN;
    req.pin = &p;
    return simple(c, &req, version, err);
}

int wp_placement_client_unpin(wp_placement_client *c, const char *model, const char *city,
                              uint64_t *version, wp_err *err)
{
    Warmpath__Placement__Unpin u = WARMPATH__PLACEMENT__UNPIN__INIT;
    u.model = (char *)model;
    u.city = (char *)(city ? city : "");
    PlReq req = WARMPATH__PLACEMENT__REQUEST__INIT;
    req.op_case = WARMPATH__PLACEMENT__REQUEST__OP_UNPIN;
    req.unpin = &u;
    return simple(c, &req, version, err);
}

int wp_placement_client_status_of(wp_placement_client *c, size_t i, PlResp **resp, wp_err *err)
{
    *resp = NULL;
    if (i >= c->n)
        return wp_errf(err, WP_EINVAL, "status: no endpoint %zu", i);
    Warmpath__Placement__Status s = WARMPATH__PLACEMENT__STATUS__INIT;
    PlReq req = WARMPATH__PLACEMENT__REQUEST__INIT;
    req.op_case = WARMPATH__PLACEMENT__REQUEST__OP_STATUS;
    req.status = &s;
    req.request_id = c->next_id++;
    void *buf;
    size_t len;
    int rv = wp_pl_frame_request(&req, &buf, &len, err);
    if (rv != WP_OK)
        return rv;
    int wait = c->timeout_ms < 1000 ? c->timeout_ms : 1000;
    rv = exchange(c, i, buf, len, req.request_id, wait, resp, err);
    free(buf);
    if (rv != WP_OK)
        return rv;
    if ((*resp)->body_case != WARMPATH__PLACEMENT__RESPONSE__BODY_STATUS || !(*resp)->status) {
        warmpath__placement__response__free_unpacked(*resp, NULL);
        *resp = NULL;
        return wp_errf(err, WP_EPROTO, "status: response without a status");
    }
    return WP_OK;
}
