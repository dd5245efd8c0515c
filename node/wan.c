/* wan.c — WAN emulation (--emulate-wan): one delay queue for every frame
 * the node sends, gossip and request path alike.
 *
 * A frame to another node is held for the model one-way time between the
 * two cities (topology RTT / 2, edge preset): gossip frames by the city
 * of the member at the destination address (wan_delay_ns), request-path
 * frames by the cities the ingress and target know (oneway_ns_cities). An
 * answer to a client is held for 2 x the client<->ingress one-way time.
 *
 * The queue is common/heap.c's heap of wan_msg pointers ordered by
 * (due_ns, seq), seq assigned at push: frames due at the same nanosecond
 * leave in the order they were queued, so two frames to one peer never
 * overtake each other. One uv_timer is armed for the head; it is re-armed
 * only when the head moves earlier (wan_timer_at), and each wake-up sends
 * what is due (bounded by what is queued), then re-checks the sockets'
 * edges (its sends were made outside a poll callback). libuv timers count
 * whole milliseconds, so a frame leaves up to 1 ms late, never early.
 *
 * Zero delay (no emulation, unknown city, same city) sends at once. Out of
 * memory: a frame to a node is dropped and counted (dropped_sends), an
 * answer to a client goes at once. At shutdown the request path's frames
 * are sent at once (wan_flush); held gossip frames are dropped, the leave
 * having gone out first.
 */
#include "node/node_int.h"

uint64_t oneway_ns_cities(node *n, int a, int b)
{
    if (!n->emulate_wan || a < 0 || b < 0 || a == b)
        return 0;
    return (uint64_t)(wp_topo_rtt_ms(n->topo, (size_t)a, (size_t)b) / 2.0 * 1e6);
}

uint64_t wan_delay_ns(node *n, const char *to_addr)
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

static bool wan_before(const void *pa, const void *pb)
{
    const wan_msg *a = *(wan_msg *const *)pa, *b = *(wan_msg *const *)pb;
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static const wp_heap_kind WAN_QUEUE = {sizeof(wan_msg *), wan_before};

void wan_init(node *n)
{
    n->wan_timer_at = UINT64_MAX;
    (void)wp_heap_init(&n->wan, &WAN_QUEUE, 0); /* no capacity: cannot fail */
    uv_timer_init(&n->loop, &n->wan_timer);
    n->wan_timer.data = n;
}

static void on_wan_timer(uv_timer_t *t);

static void wan_arm(node *n)
{
    const wan_msg *const *top = wp_heap_top(&n->wan);
    if (!top || n->stopping)
        return;
    uint64_t due = (*top)->due_ns;
    if (due >= n->wan_timer_at)
        return; /* already armed early enough */
    uint64_t now = wp_clock_monotonic_ns();
    uint64_t wait_ms = due > now ? (due - now + WP_NS_PER_MS - 1) / WP_NS_PER_MS : 0;
    n->wan_timer_at = due;
    uv_timer_start(&n->wan_timer, on_wan_timer, wait_ms, 0);
}

static void wan_free_msg(wan_msg *m)
{
    free(m->data);
    free(m);
}

static void wan_deliver(node *n, wan_msg *m)
{
    if (m->to_client)
        client_send_now(n, m->rid, m->rid_len, m->delim, m->data, m->len);
    else
        send_now(n, m->addr, m->data, m->len);
    wan_free_msg(m);
}

static void on_wan_timer(uv_timer_t *t)
{
    node *n = t->data;
    n->wan_timer_at = UINT64_MAX;
    uint64_t now = wp_clock_monotonic_ns();
    const wan_msg *const *top;
    while ((top = wp_heap_top(&n->wan)) && (*top)->due_ns <= now) {
        wan_msg *m;
        wp_heap_pop(&n->wan, &WAN_QUEUE, &m);
        wan_deliver(n, m);
    }
    wan_arm(n);
    /* Sends were made outside a poll callback: re-check every edge. */
    drain_pull(n);
    drain_admin(n);
    drain_rsock(n);
}

/* Takes m (with a copy of data) into the queue, due delay_ns from now.
 * false when out of memory: nothing is held, the caller still owns m. */
static bool wan_hold(node *n, wan_msg *m, const uint8_t *data, size_t len, uint64_t delay_ns)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return false;
    memcpy(copy, data, len);
    m->data = copy;
    m->len = len;
    m->due_ns = wp_clock_monotonic_ns() + delay_ns;
    m->seq = n->wan_seq;
    if (wp_heap_push(&n->wan, &WAN_QUEUE, &m) != WP_OK) {
        free(copy);
        m->data = NULL;
        return false;
    }
    n->wan_seq++;
    wan_arm(n);
    return true;
}

void node_send(node *n, const char *addr, const uint8_t *data, size_t len, uint64_t delay_ns,
               bool gossip)
{
    if (delay_ns == 0) {
        send_now(n, addr, data, len);
        return;
    }
    wan_msg *m = calloc(1, sizeof *m);
    if (m) {
        m->gossip = gossip;
        snprintf(m->addr, sizeof m->addr, "%s", addr);
    }
    if (!m || !wan_hold(n, m, data, len, delay_ns)) {
        free(m);
        n->dropped_sends++;
    }
}

void client_send(node *n, const uint8_t *rid, size_t rid_len, bool delim, const uint8_t *data,
                 size_t len, uint64_t delay_ns)
{
    wan_msg *m = delay_ns && rid_len ? calloc(1, sizeof *m) : NULL;
    if (m) {
        m->to_client = true;
        memcpy(m->rid, rid, rid_len);
        m->rid_len = rid_len;
        m->delim = delim;
    }
    if (!m || !wan_hold(n, m, data, len, delay_ns)) {
        free(m); /* no delay, or out of memory: the answer goes now */
        client_send_now(n, rid, rid_len, delim, data, len);
    }
}

bool wan_holds_addr(const node *n, const char *addr)
{
    for (size_t i = 0; i < wp_heap_len(&n->wan); i++) {
        const wan_msg *m = *(wan_msg *const *)wp_heap_at(&n->wan, i);
        if (!m->to_client && strcmp(m->addr, addr) == 0)
            return true;
    }
    return false;
}

void wan_flush(node *n)
{
    wan_msg *m;
    while (wp_heap_pop(&n->wan, &WAN_QUEUE, &m)) {
        if (m->gossip)
            wan_free_msg(m);
        else
            wan_deliver(n, m);
    }
}

void wan_close(node *n)
{
    wan_msg *m;
    while (wp_heap_pop(&n->wan, &WAN_QUEUE, &m))
        wan_free_msg(m);
    wp_heap_close(&n->wan);
}
