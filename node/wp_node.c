/* wp_node.c — the wp-node daemon: the pure gossip core (gossip.c) driven by
 * a libuv loop with ZeroMQ sockets, an admin endpoint (protobuf over a REP
 * socket) and optional WAN emulation.
 *
 * Transport. Each node binds one PULL socket at its gossip address (--bind)
 * and receives every gossip frame there: one ZeroMQ message = one msgpack
 * frame. To send, it keeps one PUSH socket per peer address, connected on
 * first use (ZMQ_LINGER 0, ZMQ_SNDHWM 64) and sends with ZMQ_DONTWAIT: a
 * frame that cannot be queued (a dead peer's queue is full) is dropped and
 * counted, as a UDP packet would be — SWIM tolerates loss, and the sender's
 * address travels inside the frame, so no reply channel is needed. Peer
 * sockets whose address left the view are closed every 10 s.
 *
 * ZeroMQ in libuv (shared notes DEPS.md): ZMQ_FD is edge-triggered, so each
 * receiving socket (PULL, admin REP) has a uv_poll on its ZMQ_FD for
 * UV_READABLE, and the callback loops: read ZMQ_EVENTS, while ZMQ_POLLIN
 * receive with ZMQ_DONTWAIT until EAGAIN. The same drain runs right after
 * bind, and after every send made outside a poll callback (timer-driven
 * gossip, the WAN queue): a send can consume the edge.
 *
 * WAN emulation (--emulate-wan): every frame to another node is held in a
 * queue (sorted by due time, one uv_timer for the head) for the one-way
 * model time between the two cities (topology RTT / 2, edge preset).
 *
 * State dir (--state-dir): holds `incarnation`; a start reads it, adds one
 * and writes it back (tmp + rename) before joining, and every refutation is
 * written too, so a restarted node always rejoins with a higher incarnation.
 *
 * Shutdown on SIGINT/SIGTERM: graceful leave (LEFT sent at once to 2 x
 * fanout members), then every uv handle is closed, the loop runs until the
 * close callbacks are done, sockets close (peer sockets linger 300 ms so the
 * leave gets out), the context terminates, and uv_loop_close must return 0.
 */
#include "node/node.h"
#include "proto/admin.pb-c.h"
#include "topology/topology.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#define COMP "wp-node"
#define PEER_HWM 64
#define MAX_PEERS WP_GOSSIP_MAX_MEMBERS

typedef struct peer {
    char addr[WP_GOSSIP_ADDR_MAX];
    void *sock;
} peer;

typedef struct wan_msg {
    struct wan_msg *next;
    uint64_t due_ns;
    char addr[WP_GOSSIP_ADDR_MAX];
    uint8_t *data;
    size_t len;
} wan_msg;

typedef struct node {
    uv_loop_t loop;
    void *zctx;
    void *pull;
    void *admin;
    uv_poll_t pull_poll;
    uv_poll_t admin_poll;
    uv_timer_t gossip_timer;
    uv_timer_t wan_timer;
    uv_timer_t join_timer;
    uv_timer_t sweep_timer;
    uv_signal_t sig_int;
    uv_signal_t sig_term;
    bool admin_on;
    bool stopping;

    wp_gossip *g;
    wp_rng rng;
    wp_logger logger;
    wp_topology *topo;
    int my_city;
    bool emulate_wan;

    peer *peers;
    size_t n_peers;
    wan_msg *wan_head;

    char id[WP_NAME_MAX];
    char city[WP_GOSSIP_CITY_MAX];
    char bind_addr[WP_GOSSIP_ADDR_MAX];
    char admin_addr[WP_GOSSIP_ADDR_MAX];
    char state_dir[512];
    char **joins;
    size_t n_joins;
    uint64_t persisted_inc;
    uint64_t started_ns;
    uint64_t dropped_sends;
    uint64_t admin_bad;
} node;

/* ---------------------------------------------------------------- helpers */

static void core_log(void *ctx, int level, uint64_t now_ns, const char *msg)
{
    (void)now_ns;
    node *n = ctx;
    wp_log_write(level, n->id, "%s", msg);
}

static int normalize_addr(const char *in, char *out, size_t cap)
{
    if (!in || !in[0])
        return WP_EINVAL;
    int w = strstr(in, "://") ? snprintf(out, cap, "%s", in) : snprintf(out, cap, "tcp://%s", in);
    return (w < 0 || (size_t)w >= cap) ? WP_ETOOBIG : WP_OK;
}

static int persist_incarnation(node *n, uint64_t inc)
{
    if (!n->state_dir[0])
        return WP_OK;
    char path[600], tmp[610];
    snprintf(path, sizeof path, "%s/incarnation", n->state_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return WP_EIO;
    fprintf(fp, "%llu\n", (unsigned long long)inc);
    if (fclose(fp) != 0 || rename(tmp, path) != 0)
        return WP_EIO;
    n->persisted_inc = inc;
    return WP_OK;
}

static int load_incarnation(node *n, uint64_t *out, wp_err *err)
{
    *out = 0;
    if (!n->state_dir[0])
        return WP_OK;
    if (mkdir(n->state_dir, 0755) != 0 && errno != EEXIST)
        return wp_errf(err, WP_EIO, "state dir %s: %s", n->state_dir, strerror(errno));
    char path[600];
    snprintf(path, sizeof path, "%s/incarnation", n->state_dir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return WP_OK; /* first start */
    char line[64] = {0};
    bool ok = fgets(line, sizeof line, fp) != NULL;
    fclose(fp);
    line[strcspn(line, "\r\n")] = '\0';
    if (!ok || wp_parse_u64(line, out))
        return wp_errf(err, WP_EPARSE, "%s: expected an unsigned integer", path);
    return WP_OK;
}

/* ---------------------------------------------------------------- zmq + uv */

static void drain_pull(node *n);
static void drain_admin(node *n);
static void after_event(node *n);
static void on_wan_timer(uv_timer_t *t);

static void *peer_socket(node *n, const char *addr)
{
    for (size_t i = 0; i < n->n_peers; i++)
        if (strcmp(n->peers[i].addr, addr) == 0)
            return n->peers[i].sock;
    if (n->n_peers >= MAX_PEERS)
        return NULL;
    void *s = zmq_socket(n->zctx, ZMQ_PUSH);
    if (!s)
        return NULL;
    int linger = 0, hwm = PEER_HWM;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_connect(s, addr) != 0) {
        WP_WARN(n->id, "connect %s: %s", addr, zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    snprintf(n->peers[n->n_peers].addr, WP_GOSSIP_ADDR_MAX, "%s", addr);
    n->peers[n->n_peers].sock = s;
    n->n_peers++;
    return s;
}

static void send_now(node *n, const char *addr, const uint8_t *data, size_t len)
{
    void *s = peer_socket(n, addr);
    if (!s || zmq_send(s, data, len, ZMQ_DONTWAIT) < 0)
        n->dropped_sends++;
}

static uint64_t wan_delay_ns(node *n, const char *to_addr)
{
    if (!n->emulate_wan || n->my_city < 0)
        return 0;
    const wp_gossip_member *m = wp_gossip_find_addr(n->g, to_addr);
    if (!m)
        return 0; /* a join seed we know nothing about yet */
    int c = wp_topo_find(n->topo, m->city);
    if (c < 0)
        return 0;
    double ms = wp_topo_rtt_ms(n->topo, (size_t)n->my_city, (size_t)c) / 2.0;
    return (uint64_t)(ms * 1e6);
}

static void wan_arm(node *n)
{
    if (!n->wan_head || n->stopping)
        return;
    uint64_t now = wp_clock_monotonic_ns();
    uint64_t wait_ms = n->wan_head->due_ns > now
                           ? (n->wan_head->due_ns - now + WP_NS_PER_MS - 1) / WP_NS_PER_MS
                           : 0;
    uv_timer_start(&n->wan_timer, on_wan_timer, wait_ms, 0);
}

static void on_wan_timer(uv_timer_t *t)
{
    node *n = t->data;
    uint64_t now = wp_clock_monotonic_ns();
    while (n->wan_head && n->wan_head->due_ns <= now) {
        wan_msg *w = n->wan_head;
        n->wan_head = w->next;
        send_now(n, w->addr, w->data, w->len);
        free(w->data);
        free(w);
    }
    drain_pull(n);
    drain_admin(n);
    wan_arm(n);
}

static void wan_enqueue(node *n, const wp_gossip_out *o, uint64_t delay_ns)
{
    wan_msg *w = malloc(sizeof *w);
    uint8_t *d = malloc(o->len ? o->len : 1);
    if (!w || !d) {
        free(w);
        free(d);
        n->dropped_sends++;
        return;
    }
    memcpy(d, o->data, o->len);
    w->data = d;
    w->len = o->len;
    w->due_ns = wp_clock_monotonic_ns() + delay_ns;
    snprintf(w->addr, sizeof w->addr, "%s", o->to_addr);
    wan_msg **pp = &n->wan_head;
    while (*pp && (*pp)->due_ns <= w->due_ns)
        pp = &(*pp)->next;
    w->next = *pp;
    *pp = w;
}

/* Sends the core's outbox (held back by WAN emulation when on). */
static void flush_outbox(node *n, bool immediate)
{
    const wp_gossip_out *o;
    size_t k = wp_gossip_outbox(n->g, &o);
    bool queued = false;
    for (size_t i = 0; i < k; i++) {
        uint64_t d = immediate ? 0 : wan_delay_ns(n, o[i].to_addr);
        if (d == 0) {
            send_now(n, o[i].to_addr, o[i].data, o[i].len);
        } else {
            wan_enqueue(n, &o[i], d);
            queued = true;
        }
    }
    wp_gossip_outbox_clear(n->g);
    if (queued)
        wan_arm(n);
}

static void on_gossip_timer(uv_timer_t *t);

static void arm_gossip_timer(node *n)
{
    if (n->stopping)
        return;
    uint64_t d = wp_gossip_next_deadline_ns(n->g);
    if (d == UINT64_MAX) {
        uv_timer_stop(&n->gossip_timer);
        return;
    }
    uint64_t now = wp_clock_monotonic_ns();
    uint64_t wait_ms = d > now ? (d - now + WP_NS_PER_MS - 1) / WP_NS_PER_MS : 0;
    uv_timer_start(&n->gossip_timer, on_gossip_timer, wait_ms, 0);
}

/* After any event that may have changed the core: send, persist a new
 * incarnation, re-arm the timer. */
static void after_event(node *n)
{
    flush_outbox(n, false);
    uint64_t inc = wp_gossip_self_member(n->g)->incarnation;
    if (inc > n->persisted_inc && persist_incarnation(n, inc) != WP_OK)
        WP_WARN(n->id, "could not write incarnation to %s", n->state_dir);
    arm_gossip_timer(n);
}

static void on_gossip_timer(uv_timer_t *t)
{
    node *n = t->data;
    wp_gossip_tick(n->g, wp_clock_monotonic_ns());
    after_event(n);
    /* Sends were made outside a poll callback: re-check the edges. */
    drain_pull(n);
    drain_admin(n);
}

static bool has_pollin(void *sock)
{
    int ev = 0;
    size_t sz = sizeof ev;
    if (zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &sz) != 0)
        return false;
    return (ev & ZMQ_POLLIN) != 0;
}

static void drain_pull(node *n)
{
    if (!n->pull || n->stopping)
        return;
    bool any = false;
    while (has_pollin(n->pull)) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        int rc = zmq_msg_recv(&msg, n->pull, ZMQ_DONTWAIT);
        if (rc < 0) {
            zmq_msg_close(&msg);
            break; /* EAGAIN */
        }
        if (zmq_msg_more(&msg)) {
            /* Multi-part messages are not ours: drop all parts. */
            while (zmq_msg_more(&msg)) {
                zmq_msg_close(&msg);
                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, n->pull, ZMQ_DONTWAIT) < 0)
                    break;
            }
            zmq_msg_close(&msg);
            continue;
        }
        wp_gossip_receive(n->g, wp_clock_monotonic_ns(), zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
        flush_outbox(n, false);
        any = true;
    }
    if (any)
        after_event(n);
}

static void on_pull_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    drain_pull(h->data);
}

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

static void admin_reply(node *n, Warmpath__Admin__AdminResponse *resp)
{
    size_t len = warmpath__admin__admin_response__get_packed_size(resp);
    uint8_t *buf = malloc(WP_ADMIN_HDR_BYTES + len);
    if (!buf) {
        zmq_send(n->admin, "", 0, ZMQ_DONTWAIT);
        return;
    }
    wp_admin_frame_header(buf, len);
    warmpath__admin__admin_response__pack(resp, buf + WP_ADMIN_HDR_BYTES);
    if (zmq_send(n->admin, buf, WP_ADMIN_HDR_BYTES + len, ZMQ_DONTWAIT) < 0)
        WP_WARN(n->id, "admin reply: %s", zmq_strerror(zmq_errno()));
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

static void handle_admin(node *n, const uint8_t *buf, size_t len)
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
    st.frames_bad = gs.frames_bad;
    st.frames_out = gs.frames_out;
    st.uptime_ms = (wp_clock_monotonic_ns() - n->started_ns) / WP_NS_PER_MS;
    st.emulate_wan = n->emulate_wan;
    st.awareness = gs.awareness;
    st.admin_bad = n->admin_bad;
    st.pid = (int32_t)getpid();
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
    admin_reply(n, &resp);
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
    admin_reply(n, &resp);
    if (req)
        warmpath__admin__admin_request__free_unpacked(req, NULL);
}

static void drain_admin(node *n)
{
    if (!n->admin_on || n->stopping)
        return;
    while (has_pollin(n->admin)) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, n->admin, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            break;
        }
        bool more = zmq_msg_more(&msg);
        if (more) {
            while (zmq_msg_more(&msg)) {
                zmq_msg_close(&msg);
                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, n->admin, ZMQ_DONTWAIT) < 0)
                    break;
            }
            zmq_msg_close(&msg);
            n->admin_bad++;
            Warmpath__Admin__AdminResponse resp = WARMPATH__ADMIN__ADMIN_RESPONSE__INIT;
            resp.error = "admin: multi-part request";
            admin_reply(n, &resp);
            continue;
        }
        handle_admin(n, zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
        /* The loop re-reads ZMQ_EVENTS: the reply may have eaten the edge. */
    }
}

static void on_admin_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    drain_admin(h->data);
}

/* ---------------------------------------------------------------- timers */

static void on_join_timer(uv_timer_t *t)
{
    node *n = t->data;
    if (wp_gossip_member_count(n->g) > 1) {
        uv_timer_stop(t);
        return;
    }
    WP_DEBUG(n->id, "joining through %zu seed(s)", n->n_joins);
    wp_gossip_join(n->g, wp_clock_monotonic_ns(), (const char *const *)n->joins, n->n_joins);
    after_event(n);
    drain_pull(n);
    drain_admin(n);
}

/* Closes peer sockets whose address is no longer in the view. */
static void on_sweep_timer(uv_timer_t *t)
{
    node *n = t->data;
    size_t w = 0;
    for (size_t i = 0; i < n->n_peers; i++) {
        bool keep = wp_gossip_find_addr(n->g, n->peers[i].addr) != NULL;
        for (size_t j = 0; j < n->n_joins && !keep; j++)
            keep = strcmp(n->joins[j], n->peers[i].addr) == 0;
        for (wan_msg *m = n->wan_head; m && !keep; m = m->next)
            keep = strcmp(m->addr, n->peers[i].addr) == 0;
        if (keep)
            n->peers[w++] = n->peers[i];
        else
            zmq_close(n->peers[i].sock);
    }
    n->n_peers = w;
}

/* ---------------------------------------------------------------- shutdown */

static void on_closed(uv_handle_t *h) { (void)h; }

static void close_handle(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, on_closed);
}

static void begin_shutdown(node *n, const char *why)
{
    if (n->stopping)
        return;
    WP_INFO(n->id, "%s: leaving the cluster", why);
    wp_gossip_leave(n->g, wp_clock_monotonic_ns());
    flush_outbox(n, true); /* the leave goes out now, WAN emulation or not */
    n->stopping = true;
    while (n->wan_head) {
        wan_msg *w = n->wan_head;
        n->wan_head = w->next;
        free(w->data);
        free(w);
    }
    close_handle((uv_handle_t *)&n->pull_poll);
    if (n->admin_on)
        close_handle((uv_handle_t *)&n->admin_poll);
    close_handle((uv_handle_t *)&n->gossip_timer);
    close_handle((uv_handle_t *)&n->wan_timer);
    close_handle((uv_handle_t *)&n->join_timer);
    close_handle((uv_handle_t *)&n->sweep_timer);
    close_handle((uv_handle_t *)&n->sig_int);
    close_handle((uv_handle_t *)&n->sig_term);
}

static void on_signal(uv_signal_t *s, int signum)
{
    begin_shutdown(s->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* ---------------------------------------------------------------- main */

static const char *const usage_text =
    "usage: wp-node --city CODE --bind ADDR [--id ID] [--join ADDR,...] [--gpus N]\n"
    "               [--gpu-mem-gb G] [--emulate-wan] [--state-dir D] [--admin ADDR]\n"
    "               [--probe-interval-ms MS] [--probe-timeout-ms MS]\n"
    "               [--gossip-interval-ms MS] [--push-pull-s S] [--dead-reap-s S]\n"
    "               [--log-level L]\n\n"
    "A warmpath node: SWIM + Lifeguard membership and GPU-capacity gossip over\n"
    "ZeroMQ (msgpack frames), an admin endpoint (protobuf, proto/admin.proto).\n\n"
    "  --city CODE      city of this node (a code of the edge preset, e.g. FRA)\n"
    "  --bind ADDR      gossip address to bind and advertise (tcp://127.0.0.1:7001\n"
    "                   or 127.0.0.1:7001; must be reachable by the others)\n"
    "  --id ID          member id (default: <city>-<port>, lower case)\n"
    "  --join ADDRS     comma-separated gossip addresses of members to join through\n"
    "  --gpus N         GPUs of this node (default 0)\n"
    "  --gpu-mem-gb G   free GPU memory to advertise, GiB (default 0)\n"
    "  --emulate-wan    hold every frame for the model one-way time between the\n"
    "                   two cities (topology RTT / 2), to emulate a WAN on one host\n"
    "  --state-dir D    keeps the incarnation so a restart rejoins with a higher one\n"
    "  --admin ADDR     admin endpoint to bind (ZeroMQ REP), e.g. tcp://127.0.0.1:7101\n"
    "  --probe-interval-ms MS   SWIM probe interval (default 1000, memberlist LAN)\n"
    "  --probe-timeout-ms MS    direct probe timeout (default 500)\n"
    "  --gossip-interval-ms MS  gossip interval (default 200)\n"
    "  --push-pull-s S          full-state sync interval (default 30)\n"
    "  --dead-reap-s S          dead members are kept (and gossiped to) this long (default 30)\n"
    "  --log-level L    error, warn, info (default), debug\n\n"
    "Stops with a graceful leave on SIGINT or SIGTERM.\n";

static int usage_error(const char *fmt, ...) WP_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "wp-node: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'wp-node --help'.\n");
    va_end(ap);
    return 2;
}

static int parse_ms(const char *s, uint64_t lo, uint64_t hi, uint64_t *out_ns)
{
    uint64_t v;
    if (wp_parse_u64(s, &v) || v < lo || v > hi)
        return -1;
    *out_ns = v * WP_NS_PER_MS;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"city", required_argument, NULL, 'c'},
        {"id", required_argument, NULL, 'i'},
        {"bind", required_argument, NULL, 'b'},
        {"join", required_argument, NULL, 'j'},
        {"gpus", required_argument, NULL, 'g'},
        {"gpu-mem-gb", required_argument, NULL, 'm'},
        {"emulate-wan", no_argument, NULL, 'w'},
        {"state-dir", required_argument, NULL, 's'},
        {"admin", required_argument, NULL, 'a'},
        {"probe-interval-ms", required_argument, NULL, 1},
        {"probe-timeout-ms", required_argument, NULL, 2},
        {"gossip-interval-ms", required_argument, NULL, 3},
        {"push-pull-s", required_argument, NULL, 4},
        {"dead-reap-s", required_argument, NULL, 5},
        {"log-level", required_argument, NULL, 6},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static node nd;
    node *n = &nd;
    memset(n, 0, sizeof *n);
    n->my_city = -1;
    const char *city = NULL, *id = NULL, *bind = NULL, *join = NULL, *admin = NULL;
    int64_t gpus = 0;
    double mem_gb = 0;
    wp_gossip_config cfg;
    wp_gossip_config_default(&cfg);
    bool timeout_given = false, gossip_given = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        uint64_t v;
        switch (c) {
        case 'c': city = optarg; break;
        case 'i': id = optarg; break;
        case 'b': bind = optarg; break;
        case 'j': join = optarg; break;
        case 'a': admin = optarg; break;
        case 'w': n->emulate_wan = true; break;
        case 's':
            if (strlen(optarg) >= sizeof n->state_dir - 32)
                return usage_error("--state-dir path too long: '%s'", optarg);
            snprintf(n->state_dir, sizeof n->state_dir, "%s", optarg);
            break;
        case 'g':
            if (wp_parse_int64(optarg, &gpus) || gpus < 0 || gpus > 1024)
                return usage_error("--gpus must be 0..1024, got '%s'", optarg);
            break;
        case 'm':
            if (wp_parse_double(optarg, &mem_gb) || !(mem_gb >= 0 && mem_gb <= 1e6))
                return usage_error("--gpu-mem-gb must be 0..1000000, got '%s'", optarg);
            break;
        case 1:
            if (parse_ms(optarg, 10, 600000, &cfg.probe_interval_ns))
                return usage_error("--probe-interval-ms must be 10..600000, got '%s'", optarg);
            break;
        case 2:
            if (parse_ms(optarg, 1, 600000, &cfg.probe_timeout_ns))
                return usage_error("--probe-timeout-ms must be 1..600000, got '%s'", optarg);
            timeout_given = true;
            break;
        case 3:
            if (parse_ms(optarg, 1, 600000, &cfg.gossip_interval_ns))
                return usage_error("--gossip-interval-ms must be 1..600000, got '%s'", optarg);
            gossip_given = true;
            break;
        case 4:
            if (wp_parse_u64(optarg, &v) || v < 1 || v > 86400)
                return usage_error("--push-pull-s must be 1..86400, got '%s'", optarg);
            cfg.push_pull_interval_ns = v * WP_NS_PER_S;
            break;
        case 5:
            if (wp_parse_u64(optarg, &v) || v < 1 || v > 86400)
                return usage_error("--dead-reap-s must be 1..86400, got '%s'", optarg);
            cfg.gossip_to_dead_ns = v * WP_NS_PER_S;
            break;
        case 6: {
            int l = wp_log_level_parse(optarg);
            if (l < 0)
                return usage_error("unknown --log-level '%s'", optarg);
            wp_log_set_level(l);
            break;
        }
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!city)
        return usage_error("%s", "--city is required");
    if (!bind)
        return usage_error("%s", "--bind is required");
    /* A faster probe interval given alone scales the other timers with it. */
    if (!timeout_given && cfg.probe_timeout_ns >= cfg.probe_interval_ns)
        cfg.probe_timeout_ns = cfg.probe_interval_ns / 2;
    if (!gossip_given && cfg.gossip_interval_ns > cfg.probe_interval_ns / 5)
        cfg.gossip_interval_ns = cfg.probe_interval_ns / 5;
    wp_err err;
    wp_err_clear(&err);
    if (wp_gossip_config_check(&cfg, &err))
        return usage_error("%s", wp_err_text(&err));

    if (wp_topo_load_preset("edge", NULL, &n->topo, &err)) {
        fprintf(stderr, "wp-node: %s\n", wp_err_text(&err));
        return 1;
    }
    n->my_city = wp_topo_find(n->topo, city);
    if (n->my_city < 0) {
        fprintf(stderr, "wp-node: unknown city '%s' (not in the edge preset)\n", city);
        wp_topo_free(n->topo);
        return 2;
    }
    snprintf(n->city, sizeof n->city, "%s", wp_topo_city(n->topo, (size_t)n->my_city)->code);
    if (normalize_addr(bind, n->bind_addr, sizeof n->bind_addr) ||
        (admin && normalize_addr(admin, n->admin_addr, sizeof n->admin_addr))) {
        wp_topo_free(n->topo);
        return usage_error("%s", "address too long or empty");
    }
    if (id) {
        if (!id[0] || strlen(id) >= WP_NAME_MAX) {
            wp_topo_free(n->topo);
            return usage_error("--id must be 1..63 bytes, got '%s'", id);
        }
        snprintf(n->id, sizeof n->id, "%s", id);
    } else {
        const char *port = strrchr(n->bind_addr, ':');
        snprintf(n->id, sizeof n->id, "%.31s-%.30s", n->city, port ? port + 1 : "0");
        for (char *p = n->id; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    }
    char *join_copy = NULL;
    if (join) {
        join_copy = strdup(join);
        size_t cnt = 1;
        for (const char *p = join; *p; p++)
            cnt += *p == ',';
        n->joins = calloc(cnt, sizeof *n->joins);
        for (char *tok = strtok(join_copy, ","); tok; tok = strtok(NULL, ",")) {
            char a[WP_GOSSIP_ADDR_MAX];
            if (normalize_addr(tok, a, sizeof a) == WP_OK)
                n->joins[n->n_joins++] = strdup(a);
        }
        free(join_copy);
    }

    uint64_t inc = 0;
    int rc = 1;
    if (load_incarnation(n, &inc, &err)) {
        fprintf(stderr, "wp-node: %s\n", wp_err_text(&err));
        goto out_early;
    }
    inc++;
    if (persist_incarnation(n, inc) != WP_OK) {
        fprintf(stderr, "wp-node: cannot write %s/incarnation\n", n->state_dir);
        goto out_early;
    }

    n->started_ns = wp_clock_monotonic_ns();
    wp_rng_seed(&n->rng, n->started_ns ^ ((uint64_t)getpid() << 32));
    n->logger = (wp_logger){.fn = core_log, .ctx = n, .level = wp_log_level_global};
    wp_gossip_capacity cap;
    memset(&cap, 0, sizeof cap);
    cap.version = 1;
    cap.gpus = (uint32_t)gpus;
    cap.gpu_mem_free_bytes = (uint64_t)(mem_gb * 1073741824.0);
    wp_gossip_self self = {.id = n->id, .city = n->city, .addr = n->bind_addr,
                           .incarnation = inc, .cap = &cap};
    if (wp_gossip_new(&cfg, &self, n->started_ns, &n->rng, &n->logger, NULL, &n->g, &err)) {
        fprintf(stderr, "wp-node: %s\n", wp_err_text(&err));
        goto out_early;
    }
    n->peers = calloc(MAX_PEERS, sizeof *n->peers);
    n->zctx = zmq_ctx_new();
    if (!n->peers || !n->zctx) {
        fprintf(stderr, "wp-node: out of memory\n");
        goto out_core;
    }
    /* One PUSH socket per peer: raise ZeroMQ's default cap of 1023 sockets
     * (file descriptors, `ulimit -n`, are then the limit). */
    zmq_ctx_set(n->zctx, ZMQ_MAX_SOCKETS, (int)MAX_PEERS + 16);
    n->pull = zmq_socket(n->zctx, ZMQ_PULL);
    int zero = 0, rcvhwm = 10000;
    zmq_setsockopt(n->pull, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(n->pull, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    int maxsz = (int)WP_FRAME_MAX_BYTES;
    int64_t maxmsg = maxsz;
    zmq_setsockopt(n->pull, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (zmq_bind(n->pull, n->bind_addr) != 0) {
        fprintf(stderr, "wp-node: bind %s: %s\n", n->bind_addr, zmq_strerror(zmq_errno()));
        goto out_zmq;
    }
    if (n->admin_addr[0]) {
        n->admin = zmq_socket(n->zctx, ZMQ_REP);
        zmq_setsockopt(n->admin, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(n->admin, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        if (zmq_bind(n->admin, n->admin_addr) != 0) {
            fprintf(stderr, "wp-node: bind admin %s: %s\n", n->admin_addr,
                    zmq_strerror(zmq_errno()));
            goto out_zmq;
        }
        n->admin_on = true;
    }

    uv_loop_init(&n->loop);
    int fd;
    size_t fdsz = sizeof fd;
    zmq_getsockopt(n->pull, ZMQ_FD, &fd, &fdsz);
    uv_poll_init(&n->loop, &n->pull_poll, fd);
    n->pull_poll.data = n;
    uv_poll_start(&n->pull_poll, UV_READABLE, on_pull_poll);
    if (n->admin_on) {
        fdsz = sizeof fd;
        zmq_getsockopt(n->admin, ZMQ_FD, &fd, &fdsz);
        uv_poll_init(&n->loop, &n->admin_poll, fd);
        n->admin_poll.data = n;
        uv_poll_start(&n->admin_poll, UV_READABLE, on_admin_poll);
    }
    uv_timer_init(&n->loop, &n->gossip_timer);
    n->gossip_timer.data = n;
    uv_timer_init(&n->loop, &n->wan_timer);
    n->wan_timer.data = n;
    uv_timer_init(&n->loop, &n->join_timer);
    n->join_timer.data = n;
    uv_timer_init(&n->loop, &n->sweep_timer);
    n->sweep_timer.data = n;
    uv_timer_start(&n->sweep_timer, on_sweep_timer, 10000, 10000);
    uv_signal_init(&n->loop, &n->sig_int);
    n->sig_int.data = n;
    uv_signal_start(&n->sig_int, on_signal, SIGINT);
    uv_signal_init(&n->loop, &n->sig_term);
    n->sig_term.data = n;
    uv_signal_start(&n->sig_term, on_signal, SIGTERM);
    signal(SIGPIPE, SIG_IGN);

    WP_INFO(n->id, "up: city %s, gossip %s, admin %s, incarnation %llu, wan emulation %s",
            n->city, n->bind_addr, n->admin_addr[0] ? n->admin_addr : "off",
            (unsigned long long)inc, n->emulate_wan ? "on" : "off");
    if (n->n_joins)
        uv_timer_start(&n->join_timer, on_join_timer, 0, 1000);
    arm_gossip_timer(n);
    /* Bind done: check the edges once before waiting on them. */
    drain_pull(n);
    drain_admin(n);

    uv_run(&n->loop, UV_RUN_DEFAULT);
    int lc = uv_loop_close(&n->loop);
    if (lc != 0)
        WP_ERROR(n->id, "uv_loop_close: %s", uv_strerror(lc));
    rc = lc == 0 ? 0 : 1;
out_zmq:
    for (size_t i = 0; i < n->n_peers; i++) {
        int linger = 300;
        zmq_setsockopt(n->peers[i].sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(n->peers[i].sock);
    }
    if (n->pull)
        zmq_close(n->pull);
    if (n->admin)
        zmq_close(n->admin);
    zmq_ctx_term(n->zctx);
out_core:
    free(n->peers);
    wp_gossip_free(n->g);
out_early:
    for (size_t i = 0; i < n->n_joins; i++)
        free(n->joins[i]);
    free(n->joins);
    wp_topo_free(n->topo);
    if (rc == 0)
        WP_INFO(n->id, "stopped cleanly");
    return rc;
}
