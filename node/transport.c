/* transport.c — wp-node's ZeroMQ transport in libuv, and the gossip
 * core's driver (its timer, its outbox, join and peer-socket sweep).
 *
 * Each node binds one PULL socket at its gossip address (--bind) and
 * receives every gossip frame there: one ZeroMQ message = one msgpack
 * frame. To send, it keeps one PUSH socket per peer address, connected on
 * first use (ZMQ_LINGER 0, ZMQ_SNDHWM PEER_HWM) and sends with ZMQ_DONTWAIT:
 * a frame that cannot be queued (a dead peer's queue is full) is dropped
 * and counted, as a UDP packet would be — SWIM tolerates loss, and the
 * sender's address travels inside the frame, so no reply channel is
 * needed. Request-path frames share these sockets: they start with "W",
 * gossip frames are msgpack arrays, so the PULL receiver tells them apart
 * by the first byte. Peer sockets whose address left the view are closed
 * every 10 s.
 *
 * ZeroMQ in libuv (shared notes DEPS.md): ZMQ_FD is edge-triggered, so each
 * receiving socket (PULL, admin REP, request ROUTER) has a uv_poll on its
 * ZMQ_FD for UV_READABLE, and the callback loops: read ZMQ_EVENTS, while
 * ZMQ_POLLIN receive with ZMQ_DONTWAIT until EAGAIN. The same drain runs
 * right after bind, and after every send made outside a poll callback
 * (timer-driven gossip, the WAN queue): a send can consume the edge.
 *
 * Bounded work per wake-up. A drain reads at most DRAIN_BUDGET messages from
 * its socket, then returns even if more wait: a flood on one socket (say
 * 100k+ garbage frames/s on the request endpoint) must not starve the gossip
 * timer, the PULL socket (the peers' probes: a starved node is marked
 * suspect, then dead) or the GPU completions on the same loop. Because the
 * ZMQ_FD edge was consumed, no new readiness will come for what is left, so
 * a drain that stops with ZMQ_POLLIN still set calls drain_later(): a
 * uv_idle handle that re-runs every drain (each bounded again) on the next
 * loop iteration, after timers and the poll phase (an active idle handle
 * makes that poll non-blocking), and stops itself once no socket has
 * anything waiting. Each yield is counted (drain_yields in admin status).
 *
 * CurveZMQ (--keys DIR): the PULL, admin and request sockets are CURVE
 * servers whose ZAP domains are gossip, admin and request (auth/curve.c
 * admits node keys on gossip, operator keys on admin, client, node or
 * operator keys on request); each peer PUSH socket is a CURVE client with
 * this node's key. A frame from a connection ZAP refused never reaches
 * these drains.
 *
 * Limits on every socket (node_zsocket): ZMQ_MAXMSGSIZE (a bigger frame
 * makes ZeroMQ drop that connection before anything is allocated for it),
 * and high-water marks: PEER_HWM on peer PUSH sockets (a full queue drops
 * the frame, counted as a dropped send), 10,000 on the PULL socket,
 * CLIENT_HWM per client on the request ROUTER and ADMIN_HWM on the admin
 * ROUTER. At a client's mark, ZMQ_ROUTER_MANDATORY makes the send fail
 * (EAGAIN) instead of queueing: the answer is dropped and counted
 * (client_drops in admin status) — a client that never reads costs at most
 * CLIENT_HWM queued answers, not an unbounded backlog. Inbound, a client
 * at its RCVHWM is not read from (TCP pushes back on it).
 */
#include "node/node_int.h"

void *node_zsocket(node *n, int type, int hwm, int64_t maxmsg_bytes)
{
    void *s = zmq_socket(n->zctx, type);
    if (!s) {
        fprintf(stderr, "wp-node: zmq_socket: %s\n", zmq_strerror(zmq_errno()));
        return NULL;
    }
    int zero = 0;
    if (zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg_bytes, sizeof maxmsg_bytes) != 0) {
        fprintf(stderr, "wp-node: socket limits: %s\n", zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    int64_t got = 0;
    size_t gsz = sizeof got;
    if (zmq_getsockopt(s, ZMQ_MAXMSGSIZE, &got, &gsz) != 0 || got != maxmsg_bytes) {
        fprintf(stderr, "wp-node: ZMQ_MAXMSGSIZE did not take (%lld)\n", (long long)got);
        zmq_close(s);
        return NULL;
    }
    if (type == ZMQ_ROUTER) {
        int one = 1;
        if (zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0) {
            fprintf(stderr, "wp-node: ZMQ_ROUTER_MANDATORY: %s\n", zmq_strerror(zmq_errno()));
            zmq_close(s);
            return NULL;
        }
    }
    return s;
}

int node_bind(void *sock, const char *addr)
{
    for (int i = 0;; i++) {
        if (zmq_bind(sock, addr) == 0)
            return 0;
        if (zmq_errno() != EADDRINUSE || i >= 19)
            return -1;
        usleep(50000);
    }
}

bool deadline_passed(uint64_t deadline_unix_ns, uint64_t slack_ns)
{
    return deadline_unix_ns && wp_clock_realtime_ns() + slack_ns >= deadline_unix_ns;
}

void drain_later(node *n)
{
    n->st_drain_yields++;
    if (n->drain_idle_on || n->stopping)
        return;
    n->drain_idle_on = true;
    uv_idle_start(&n->drain_idle, on_drain_idle);
}

void on_drain_idle(uv_idle_t *h)
{
    node *n = h->data;
    uv_idle_stop(h);
    n->drain_idle_on = false;
    /* Each drain calls drain_later() again if it still leaves some. */
    drain_pull(n);
    drain_rsock(n);
    drain_admin(n);
}

static void *peer_socket(node *n, const char *addr)
{
    for (size_t i = 0; i < n->n_peers; i++)
        if (strcmp(n->peers[i].addr, addr) == 0)
            return n->peers[i].sock;
    if (n->n_peers >= MAX_PEERS)
        return NULL;
    void *s = node_zsocket(n, ZMQ_PUSH, PEER_HWM, (int64_t)WP_FRAME_MAX_BYTES);
    if (!s)
        return NULL;
    if (n->curve && wp_curve_id_apply(&n->cid, s) != 0) {
        WP_WARN(n->id, "CURVE client for %s: %s", addr, zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
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

void send_now(node *n, const char *addr, const uint8_t *data, size_t len)
{
    void *s = peer_socket(n, addr);
    if (!s || zmq_send(s, data, len, ZMQ_DONTWAIT) < 0)
        n->dropped_sends++;
}

/* Sends the core's outbox (held back by WAN emulation when on). */
void flush_outbox(node *n, bool immediate)
{
    const wp_gossip_out *o;
    size_t k = wp_gossip_outbox(n->g, &o);
    for (size_t i = 0; i < k; i++)
        node_send(n, o[i].to_addr, o[i].data, o[i].len,
                  immediate ? 0 : wan_delay_ns(n, o[i].to_addr), true);
    wp_gossip_outbox_clear(n->g);
}

static void on_gossip_timer(uv_timer_t *t);

void arm_gossip_timer(node *n)
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
void after_event(node *n)
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

bool has_pollin(void *sock)
{
    int ev = 0;
    size_t sz = sizeof ev;
    if (zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &sz) != 0)
        return false;
    return (ev & ZMQ_POLLIN) != 0;
}

void drain_pull(node *n)
{
    if (!n->pull || n->stopping)
        return;
    bool any = false;
    for (int budget = DRAIN_BUDGET;; budget--) {
        if (!has_pollin(n->pull))
            break;
        if (budget == 0) {
            drain_later(n);
            break;
        }
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
        const uint8_t *d = zmq_msg_data(&msg);
        size_t dl = zmq_msg_size(&msg);
        if (dl >= 1 && d[0] == 'W') {
            /* A request-path frame (gossip frames are msgpack arrays). */
            handle_node_frame(n, d, dl);
            zmq_msg_close(&msg);
            continue;
        }
        wp_gossip_receive(n->g, wp_clock_monotonic_ns(), d, dl);
        zmq_msg_close(&msg);
        flush_outbox(n, false);
        any = true;
    }
    if (any)
        after_event(n);
}

void on_pull_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    drain_pull(h->data);
    drain_rsock(h->data); /* answers sent to clients may have taken its edge */
}

int client_send_now(node *n, const uint8_t *rid, size_t rid_len, bool delim,
                    const uint8_t *data, size_t len)
{
    if (!n->rsock)
        return 0;
    if (zmq_send(n->rsock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        (delim && zmq_send(n->rsock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) ||
        zmq_send(n->rsock, data, len, ZMQ_DONTWAIT) < 0) {
        n->st_client_drops++;
        return zmq_errno() ? zmq_errno() : EIO;
    }
    return 0;
}

/* ---------------------------------------------------------------- timers */

void on_join_timer(uv_timer_t *t)
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
void on_sweep_timer(uv_timer_t *t)
{
    node *n = t->data;
    size_t w = 0;
    for (size_t i = 0; i < n->n_peers; i++) {
        bool keep = wp_gossip_find_addr(n->g, n->peers[i].addr) != NULL;
        for (size_t j = 0; j < n->n_joins && !keep; j++)
            keep = strcmp(n->joins[j], n->peers[i].addr) == 0;
        if (!keep)
            keep = wan_holds_addr(n, n->peers[i].addr);
        if (keep)
            n->peers[w++] = n->peers[i];
        else
            zmq_close(n->peers[i].sock);
    }
    n->n_peers = w;
}
