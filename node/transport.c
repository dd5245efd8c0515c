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
 */
#include "node/node_int.h"

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
