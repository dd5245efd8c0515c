/* admin.c — wp-node's admin endpoint: protobuf requests
 * (proto/admin.proto) in "WA" frames (node/infer.h): status, members,
 * capacity, drain and the request path's counters. Every request is
 * validated before it is acted on; a bad frame gets an error response and
 * is counted.
 *
 * The socket is a ROUTER, not a REP: a REP socket keeps a per-socket
 * request/reply state machine, and raw garbage from one client (a peer
 * speaking an odd envelope) could leave it waiting for a part that never
 * comes, wedging the endpoint for every later client. Here each message is
 * read whole (at most ADMIN_MAX_PARTS kept, the rest read and dropped), its
 * envelope taken apart by us — [routing id] [optional empty delimiter, as
 * REQ clients send] [one payload frame] — and every message that carries a
 * routing id gets exactly one answer (an error frame for any malformed
 * one). REQ and DEALER clients both work.
 */
#include "node/node_int.h"

#define ADMIN_MAX_PARTS 4

typedef struct admin_env {
    const uint8_t *rid;
    size_t rid_len;
    bool delim;
} admin_env;

/* ---------------------------------------------------------------- admin */

static void admin_fill_member(Warmpath__Admin__Member *pm, const wp_gossip_member *m,
                              char **warm)
{
    warmpath__admin__member__init(pm);
    pm->id = (char *)m->id;
    pm->city = (char *)m->city;
    pm->addr = (char *)m->addr;
    pm->status = (char *)wp_member_status_name(m->status);
    pm->incarnation = m->incarnation;
    pm->gpus = m->cap.gpus;
    pm->gpu_mem_free_bytes = m->cap.gpu_mem_free_bytes;
    pm->queue_depth = m->cap.queue_depth;
    pm->draining = m->cap.draining;
    pm->version = m->cap.version;
    pm->n_warm_models = m->cap.n_warm;
    for (uint32_t w = 0; w < m->cap.n_warm; w++)
        warm[w] = (char *)m->cap.warm[w];
    pm->warm_models = warm;
}

static void admin_send(node *n, const admin_env *env, const void *buf, size_t len)
{
    if (zmq_send(n->admin, env->rid, env->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        (env->delim && zmq_send(n->admin, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) ||
        zmq_send(n->admin, buf, len, ZMQ_DONTWAIT) < 0) {
        n->st_client_drops++; /* the client left, or does not read its answers */
        WP_DEBUG(n->id, "admin reply: %s", zmq_strerror(zmq_errno()));
    }
}

static void admin_reply(node *n, const admin_env *env, Warmpath__Admin__AdminResponse *resp)
{
    size_t len = warmpath__admin__admin_response__get_packed_size(resp);
    uint8_t *buf = malloc(WP_ADMIN_HDR_BYTES + len);
    if (!buf) {
        admin_send(n, env, "", 0);
        return;
    }
    wp_admin_frame_header(buf, len);
    warmpath__admin__admin_response__pack(resp, buf + WP_ADMIN_HDR_BYTES);
    admin_send(n, env, buf, WP_ADMIN_HDR_BYTES + len);
    free(buf);
}

static int validate_request(const Warmpath__Admin__AdminRequest *req, wp_err *err)
{
    switch (req->req_case) {
    case WARMPATH__ADMIN__ADMIN_REQUEST__REQ_STATUS:
    case WARMPATH__ADMIN__ADMIN_REQUEST__REQ_MEMBERS:
        return WP_OK;
    case WARMPATH__ADMIN__ADMIN_REQUEST__REQ_SET_CAPACITY: {
        const Warmpath__Admin__SetCapacityRequest *s = req->set_capacity;
        if (!s)
            return wp_errf(err, WP_EPROTO, "set_capacity without a body");
        if (!s->set_draining && !s->set_gpu_mem_free && !s->set_queue_depth &&
            !s->set_warm_models)
            return wp_errf(err, WP_EINVAL, "set_capacity changes nothing");
        if (s->n_warm_models > WP_GOSSIP_MAX_WARM)
            return wp_errf(err, WP_ETOOBIG, "%zu warm models (max %u)", s->n_warm_models,
                           WP_GOSSIP_MAX_WARM);
        for (size_t i = 0; i < s->n_warm_models; i++) {
            size_t l = s->warm_models[i] ? strlen(s->warm_models[i]) : 0;
            if (l == 0 || l >= WP_NAME_MAX)
                return wp_errf(err, WP_EINVAL, "warm model name must be 1..%u bytes",
                               WP_NAME_MAX - 1);
        }
        return WP_OK;
    }
    default:
        return wp_errf(err, WP_EPROTO, "request names no operation");
    }
}

static void handle_admin(node *n, const admin_env *env, const uint8_t *buf, size_t len)
{
    Warmpath__Admin__AdminResponse resp = WARMPATH__ADMIN__ADMIN_RESPONSE__INIT;
    Warmpath__Admin__NodeStatus st = WARMPATH__ADMIN__NODE_STATUS__INIT;
    wp_err err;
    wp_err_clear(&err);
    size_t plen;
    char errbuf[WP_ERRMSG_LEN];
    Warmpath__Admin__AdminRequest *req = NULL;
    if (wp_admin_frame_check(buf, len, &plen, &err) != WP_OK) {
        n->admin_bad++;
        goto fail;
    }
    req = warmpath__admin__admin_request__unpack(NULL, plen, buf + WP_ADMIN_HDR_BYTES);
    if (!req) {
        wp_errf(&err, WP_EPARSE, "admin: request does not unpack");
        n->admin_bad++;
        goto fail;
    }
    if (validate_request(req, &err) != WP_OK) {
        n->admin_bad++;
        goto fail;
    }
    if (req->req_case == WARMPATH__ADMIN__ADMIN_REQUEST__REQ_SET_CAPACITY) {
        const Warmpath__Admin__SetCapacityRequest *s = req->set_capacity;
        wp_gossip_capacity cap = wp_gossip_self_member(n->g)->cap;
        if (s->set_draining)
            cap.draining = s->draining;
        if (s->set_gpu_mem_free)
            cap.gpu_mem_free_bytes = s->gpu_mem_free_bytes;
        if (s->set_queue_depth)
            cap.queue_depth = s->queue_depth;
        if (s->set_warm_models) {
            cap.n_warm = (uint32_t)s->n_warm_models;
            for (size_t i = 0; i < s->n_warm_models; i++)
                snprintf(cap.warm[i], WP_NAME_MAX, "%s", s->warm_models[i]);
        }
        wp_gossip_set_capacity(n->g, wp_clock_monotonic_ns(), &cap);
        WP_INFO(n->id, "capacity changed by admin: version %llu, draining %d, free %llu bytes",
                (unsigned long long)wp_gossip_self_member(n->g)->cap.version, cap.draining,
                (unsigned long long)cap.gpu_mem_free_bytes);
    }
    wp_gossip_stats gs;
    wp_gossip_get_stats(n->g, &gs);
    const wp_gossip_member *self = wp_gossip_self_member(n->g);
    st.id = n->id;
    st.city = n->city;
    st.gossip_addr = n->bind_addr;
    st.admin_addr = n->admin_addr;
    st.incarnation = self->incarnation;
    st.members_total = (uint32_t)wp_gossip_member_count(n->g);
    st.members_alive = (uint32_t)wp_gossip_count_status(n->g, WP_MEMBER_ALIVE);
    st.frames_in = gs.frames_in;
    st.frames_bad = gs.frames_bad + n->st_bad_node; /* + bad request-path node frames */
    st.frames_out = gs.frames_out;
    st.uptime_ms = (wp_clock_monotonic_ns() - n->started_ns) / WP_NS_PER_MS;
    st.emulate_wan = n->emulate_wan;
    st.awareness = gs.awareness;
    st.admin_bad = n->admin_bad;
    st.pid = (int32_t)getpid();
    st.request_addr = n->request_addr;
    st.gpu_backend = (char *)(n->gw ? wp_gpu_kind_name(n->gpu_kind) : "none");
    st.req_in = n->st_in;
    st.req_ok = n->st_ok;
    st.req_errors = n->st_err;
    st.req_bad = n->st_bad;
    st.req_retries = n->st_retries;
    st.req_forwarded = n->st_fwd;
    st.req_served = n->st_served;
    st.req_late = n->st_late;
    st.req_pending = n->ing ? (uint32_t)wp_reqtab_count(n->ing) : 0;
    st.jobs_running = (uint32_t)n->n_jobs;
    st.req_deadline_exceeded = n->st_deadline;
    st.client_drops = n->st_client_drops;
    st.drain_yields = n->st_drain_yields;
    resp.status = &st;
    Warmpath__Admin__Member *pms = NULL;
    Warmpath__Admin__Member **ptrs = NULL;
    char **warm_ptrs = NULL;
    if (req->req_case == WARMPATH__ADMIN__ADMIN_REQUEST__REQ_MEMBERS) {
        size_t m = wp_gossip_member_count(n->g);
        pms = calloc(m, sizeof *pms);
        ptrs = calloc(m, sizeof *ptrs);
        warm_ptrs = calloc(m * WP_GOSSIP_MAX_WARM, sizeof *warm_ptrs);
        if (!pms || !ptrs || !warm_ptrs) {
            wp_errf(&err, WP_ENOMEM, "out of memory");
            free(pms);
            free(ptrs);
            free(warm_ptrs);
            goto fail;
        }
        for (size_t i = 0; i < m; i++) {
            admin_fill_member(&pms[i], wp_gossip_member_at(n->g, i),
                              warm_ptrs + i * WP_GOSSIP_MAX_WARM);
            ptrs[i] = &pms[i];
        }
        resp.n_members = m;
        resp.members = ptrs;
    }
    admin_reply(n, env, &resp);
    free(pms);
    free(ptrs);
    free(warm_ptrs);
    warmpath__admin__admin_request__free_unpacked(req, NULL);
    after_event(n);
    return;
fail:
    snprintf(errbuf, sizeof errbuf, "%s", wp_err_text(&err));
    resp.error = errbuf;
    WP_DEBUG(n->id, "admin: bad request: %s", errbuf);
    admin_reply(n, env, &resp);
    if (req)
        warmpath__admin__admin_request__free_unpacked(req, NULL);
}

/* Reads one whole message (all its parts) and answers it. false: nothing
 * was waiting. */
static bool admin_one(node *n)
{
    zmq_msg_t parts[ADMIN_MAX_PARTS];
    size_t np = 0;
    bool more = true, overflow = false;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, n->admin, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break; /* EAGAIN: ZeroMQ delivers messages whole, so only at np == 0 */
        }
        more = zmq_msg_more(&m);
        if (np < ADMIN_MAX_PARTS)
            parts[np++] = m;
        else {
            overflow = true;
            zmq_msg_close(&m);
        }
    }
    if (np == 0)
        return false;
    /* parts[0] is the routing id the ROUTER socket prepends. */
    admin_env env = {.rid = zmq_msg_data(&parts[0]), .rid_len = zmq_msg_size(&parts[0])};
    size_t body = 1;
    if (np >= 3 && zmq_msg_size(&parts[1]) == 0) {
        env.delim = true; /* a REQ client */
        body = 2;
    }
    if (np == body + 1 && !overflow) {
        handle_admin(n, &env, zmq_msg_data(&parts[body]), zmq_msg_size(&parts[body]));
    } else {
        n->admin_bad++;
        Warmpath__Admin__AdminResponse resp = WARMPATH__ADMIN__ADMIN_RESPONSE__INIT;
        resp.error = np <= body ? "admin: empty request" : "admin: multi-part request";
        admin_reply(n, &env, &resp);
    }
    for (size_t i = 0; i < np; i++)
        zmq_msg_close(&parts[i]);
    return true;
}

void drain_admin(node *n)
{
    if (!n->admin_on || n->stopping)
        return;
    for (int budget = DRAIN_BUDGET;; budget--) {
        /* Re-read ZMQ_EVENTS each time: the reply may have eaten the edge. */
        if (!has_pollin(n->admin))
            return;
        if (budget == 0) {
            drain_later(n);
            return;
        }
        if (!admin_one(n))
            return;
    }
}

void on_admin_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    drain_admin(h->data);
}
