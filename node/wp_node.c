/* wp_node.c — the wp-node daemon: the pure gossip core (gossip.c) driven by
 * a libuv loop with ZeroMQ sockets, an admin endpoint (protobuf over a REP
 * socket) and optional WAN emulation; and the live request path (the
 * "request path" section below has its own essay): a client-facing ROUTER
 * endpoint, routing with the router core over the gossip view, forwarding
 * to the target node, one retry, exactly one answer per request, the GPU
 * worker (timing model on the loop, cpu/cuda on a worker thread) and the
 * placement client (a sync about once a second on the libuv thread pool).
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
#include "gpu_worker/gpu_worker.h"
#include "placement/client.h"
#include "proto/admin.pb-c.h"
#include "proto/inference.pb-c.h"
#include "router/router.h"
#include "sim/sim.h"
#include "topology/topology.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#define COMP "wp-node"
#define PEER_HWM 8192 /* request-path frames share the peer sockets */
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

/* ================================================================ request path
 *
 * Roles. Every node is an INGRESS: clients send InferRequest / RouteRequest
 * frames to its ROUTER socket (--request). The ingress routes with the
 * router core over its view (fed from gossip every 100 ms: members →
 * nodes, capacity records → versioned deltas, suspect/dead/left/draining →
 * status), then forwards a ForwardRequest to the target, or serves it
 * itself when it is the target (no network hop). Every node is also a
 * TARGET: it runs forwarded requests through its GPU worker and answers
 * with a ForwardResponse.
 *
 * Node-to-node transport: the same PUSH-per-peer / PULL sockets as gossip.
 * An inference frame starts with "WI"; a gossip frame is a msgpack array
 * (first byte 0x9N or 0xdc/0xdd), so the PULL receiver tells them apart by
 * the first byte. The ForwardRequest names the ingress's reply address
 * (its gossip address), so no extra address discovery is needed. With
 * --emulate-wan each forward and each answer is held for the one-way model
 * time between the two cities, and the client↔ingress leg is held for the
 * one-way time between the client's position (city or lat/lon in the
 * request) and this node's city, in both directions (applied to the
 * response, which is sent after 2 x one-way).
 *
 * Exactly one answer per request. The ingress keeps a wp_reqtab (see
 * reqtab.c): the request is closed on the first of {an answer to its
 * current attempt, its deadline, shutdown}; anything arriving later matches
 * nothing and is dropped (counted). An attempt's deadline is
 *   floor (--hop-timeout-floor-ms, 250) + 2 x expected cost
 * where expected cost = RTT + expected queue wait + cold load (if cold) +
 * the profile's service time for the request's token counts; a client
 * timeout_ms caps the whole request. A failed attempt (target answered
 * TARGET_FAILED, DRAINING, SHUTTING_DOWN, OVERLOADED or INTERNAL) or an
 * expired one gets ONE retry on the next candidate (the first target is
 * excluded for that decision); the second failure is final.
 *
 * Hot path costs: one protobuf unpack + pack per hop, one zmq_send per
 * hop, no per-request logging at the default level, no syscalls of our
 * own (timers are re-armed only when the earliest deadline moves).
 */

#define ING_CAPACITY 65536u   /* requests pending at one ingress */
#define JOB_CAPACITY 65536u   /* requests running at one target */
#define RID_MAX 256u          /* ZeroMQ routing ids are at most 255 bytes */

typedef struct ing_req {
    uint8_t rid[RID_MAX];
    size_t rid_len;
    bool delim;                       /* client sent an empty delimiter frame */
    bool local_client;                /* no socket: internal (never set today) */
    Warmpath__Infer__InferRequest *req;
    uint64_t arrival_ns;
    uint64_t client_oneway_ns;
    uint64_t total_deadline_ns;       /* UINT64_MAX: none */
    uint64_t route_ns;
    uint32_t model;
    int32_t target;                   /* router node index of the current attempt */
    int32_t first_target;
    bool cold;
    bool retried;
    uint64_t hop_rtt_ns;
} ing_req;

typedef struct tgt_job {
    uint64_t hop_id;                  /* the ingress's attempt id */
    uint64_t job_id;                  /* our worker request id */
    bool local;                       /* the ingress is this node */
    char reply_addr[WP_GOSSIP_ADDR_MAX];
    uint64_t reply_delay_ns;
    char model[WP_NAME_MAX];
    uint64_t arrival_ns;
    bool cold;
    uint32_t steps;
    int32_t *prompt;
    int32_t *tokens;
    wp_gen_request gen;
    /* cpu/cuda completion, filled by the worker thread */
    uint64_t load_ns;                 /* the cold start, when cold */
    int done_error;
    wp_gen_result done_res;
    struct tgt_job *done_next;
    struct tgt_job *prev, *next;      /* live jobs */
} tgt_job;

typedef struct lanswer {              /* an answer from this node's worker to itself */
    struct lanswer *next;
    uint8_t *data;
    size_t len;
} lanswer;

typedef struct dsend {
    uint64_t due_ns;
    uint64_t seq;
    bool to_client;
    char addr[WP_GOSSIP_ADDR_MAX];
    uint8_t rid[RID_MAX];
    size_t rid_len;
    bool delim;
    uint8_t *data;
    size_t len;
} dsend;

typedef struct rnode {
    char addr[WP_GOSSIP_ADDR_MAX];
    void *sock;          /* cached PUSH socket (owned by the peers table) */
    uint64_t cap_version;
    int status;
    bool known;
} rnode;

typedef struct wop {
    struct wop *next;
    int kind; /* 1 submit, 2 assign */
    tgt_job *job;
    char (*names)[WP_NAME_MAX];
    size_t n;
} wop;

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

    /* request path (see the essay above) */
    void *rsock;
    uv_poll_t rsock_poll;
    bool rsock_on;
    char request_addr[WP_GOSSIP_ADDR_MAX];
    wp_router_view *view;
    rnode *rn;
    size_t rn_cap;
    int self_rn;
    wp_model_profile *cat; /* index = router model index */
    bool *served;          /* the worker can serve it */
    size_t n_cat, cap_cat;
    wp_reqtab *ing;
    uv_timer_t req_timer;
    uint64_t req_timer_at;
    uv_timer_t view_timer;
    dsend **dq;
    size_t n_dq, cap_dq;
    uint64_t dq_seq;
    uv_timer_t dq_timer;
    uint64_t dq_timer_at;
    uint64_t hop_floor_ns;
    uint8_t *tx;
    tgt_job *jobs;
    size_t n_jobs;
    lanswer *la_head, *la_tail;
    /* GPU worker */
    int gpu_kind;
    wp_gpu_worker *gw;
    uint64_t gpu_cap_bytes;
    uint32_t gpus;
    /* The GPU worker's next due time, at nanosecond precision: a timerfd
     * armed with the absolute CLOCK_MONOTONIC deadline, watched by uv_poll.
     * (libuv timers count whole milliseconds from a cached loop time, which
     * held every timing-model answer 0-2 ms longer than modelled.) */
    int gpu_tfd;
    uv_poll_t gpu_timer;
    uint64_t gpu_timer_at;
    bool in_advance, kick_again;
    uv_timer_t cap_timer;
    char pub_warm[WP_GOSSIP_MAX_WARM][WP_NAME_MAX];
    uint32_t pub_n_warm;
    uint64_t pub_free;
    uint32_t pub_queue;
    uint64_t pub_at_ns;
    /* cpu/cuda worker thread */
    uv_thread_t wthread;
    bool wthread_on, wquit;
    uv_mutex_t wmu;
    uv_cond_t wcond;
    uv_async_t wasync;
    wop *wops_head, *wops_tail;
    tgt_job *wdone;
    char snap_warm[WP_GOSSIP_MAX_WARM][WP_NAME_MAX];
    uint32_t snap_n_warm;
    uint64_t snap_free;
    uint32_t snap_queue;
    /* placement */
    wp_placement_client *pc;
    uv_work_t pl_req;
    uv_timer_t pl_timer;
    bool pl_busy, pl_changed, pl_failing, pl_ok_once, pl_cat_new, pl_cat_loaded;
    int pl_rc;
    char pl_err[WP_ERRMSG_LEN];
    uint64_t pl_version;
    wp_placement_warm *pl_models;
    size_t pl_n;
    wp_model_profile *pl_cat;
    size_t pl_n_cat;
    uint64_t *rate_count;      /* requests per router model since the last heartbeat */
    size_t rate_cap;
    uint64_t rate_since_ns;
    wp_placement_rate *pl_rates; /* what the next heartbeat reports */
    size_t pl_n_rates;
    /* request-path counters */
    uint64_t st_in, st_ok, st_err, st_bad, st_retries, st_fwd, st_served, st_late;
    uint64_t st_bad_node, st_client_drops;
} node;

/* Hands an operation to the GPU worker thread (cpu/cuda backends). */
static void wops_push(node *n, wop *op)
{
    uv_mutex_lock(&n->wmu);
    if (n->wops_tail)
        n->wops_tail->next = op;
    else
        n->wops_head = op;
    n->wops_tail = op;
    uv_cond_signal(&n->wcond);
    uv_mutex_unlock(&n->wmu);
}

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
static void drain_rsock(node *n);
static void handle_node_frame(node *n, const uint8_t *buf, size_t len);
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

static void on_pull_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    drain_pull(h->data);
    drain_rsock(h->data); /* answers sent to clients may have taken its edge */
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

/* ---------------------------------------------------------------- request path: helpers */

static void drain_rsock(node *n);
static void target_accept(node *n, uint64_t hop, const char *reply_addr, uint64_t reply_delay_ns,
                          bool local, const Warmpath__Infer__InferRequest *req);
static void handle_fwd_response(node *n, const uint8_t *buf, size_t len);
static void flush_local_answers(node *n);

static double rtt_fn(const void *ctx, size_t a, size_t b)
{
    return wp_topo_rtt_ms((const wp_topology *)ctx, a, b);
}

static uint64_t oneway_ns_cities(node *n, int a, int b)
{
    if (!n->emulate_wan || a < 0 || b < 0 || a == b)
        return 0;
    return (uint64_t)(wp_topo_rtt_ms(n->topo, (size_t)a, (size_t)b) / 2.0 * 1e6);
}

/* ---- delayed sends (WAN emulation of the request path): a binary heap */

static bool dq_less(const dsend *a, const dsend *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void dq_push(node *n, dsend *d)
{
    if (n->n_dq == n->cap_dq) {
        size_t cap = n->cap_dq ? 2 * n->cap_dq : 256;
        dsend **q = realloc(n->dq, cap * sizeof *q);
        if (!q) {
            free(d->data);
            free(d);
            n->dropped_sends++;
            return;
        }
        n->dq = q;
        n->cap_dq = cap;
    }
    d->seq = n->dq_seq++;
    size_t i = n->n_dq++;
    n->dq[i] = d;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!dq_less(n->dq[i], n->dq[p]))
            break;
        dsend *x = n->dq[p];
        n->dq[p] = n->dq[i];
        n->dq[i] = x;
        i = p;
    }
}

static dsend *dq_pop(node *n)
{
    dsend *top = n->dq[0];
    n->dq[0] = n->dq[--n->n_dq];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n->n_dq && dq_less(n->dq[l], n->dq[m]))
            m = l;
        if (r < n->n_dq && dq_less(n->dq[r], n->dq[m]))
            m = r;
        if (m == i)
            break;
        dsend *x = n->dq[m];
        n->dq[m] = n->dq[i];
        n->dq[i] = x;
        i = m;
    }
    return top;
}

static void client_send_now(node *n, const uint8_t *rid, size_t rid_len, bool delim,
                            const uint8_t *data, size_t len)
{
    if (!n->rsock)
        return;
    if (zmq_send(n->rsock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        (delim && zmq_send(n->rsock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) ||
        zmq_send(n->rsock, data, len, ZMQ_DONTWAIT) < 0)
        n->st_client_drops++;
}

static void on_dq_timer(uv_timer_t *t);

static void dq_arm(node *n)
{
    if (!n->n_dq || n->stopping)
        return;
    uint64_t due = n->dq[0]->due_ns;
    if (due >= n->dq_timer_at)
        return; /* already armed early enough */
    uint64_t now = wp_clock_monotonic_ns();
    uint64_t wait_ms = due > now ? (due - now + WP_NS_PER_MS - 1) / WP_NS_PER_MS : 0;
    n->dq_timer_at = due;
    uv_timer_start(&n->dq_timer, on_dq_timer, wait_ms, 0);
}

static void dq_send(node *n, dsend *d)
{
    if (d->to_client)
        client_send_now(n, d->rid, d->rid_len, d->delim, d->data, d->len);
    else
        send_now(n, d->addr, d->data, d->len);
    free(d->data);
    free(d);
}

static void on_dq_timer(uv_timer_t *t)
{
    node *n = t->data;
    n->dq_timer_at = UINT64_MAX;
    uint64_t now = wp_clock_monotonic_ns();
    while (n->n_dq && n->dq[0]->due_ns <= now)
        dq_send(n, dq_pop(n));
    dq_arm(n);
    drain_rsock(n);
}

/* Sends a node frame to addr after delay_ns (copied). */
static void node_send(node *n, const char *addr, const uint8_t *data, size_t len,
                      uint64_t delay_ns)
{
    if (delay_ns == 0) {
        send_now(n, addr, data, len);
        return;
    }
    dsend *d = calloc(1, sizeof *d);
    uint8_t *copy = malloc(len);
    if (!d || !copy) {
        free(d);
        free(copy);
        n->dropped_sends++;
        return;
    }
    memcpy(copy, data, len);
    d->due_ns = wp_clock_monotonic_ns() + delay_ns;
    snprintf(d->addr, sizeof d->addr, "%s", addr);
    d->data = copy;
    d->len = len;
    dq_push(n, d);
    dq_arm(n);
}

/* ---------------------------------------------------------------- the view */

static int rn_ensure(node *n, size_t idx)
{
    if (idx < n->rn_cap)
        return 0;
    size_t cap = n->rn_cap ? n->rn_cap : 64;
    while (cap <= idx)
        cap *= 2;
    rnode *r = realloc(n->rn, cap * sizeof *r);
    if (!r)
        return -1;
    memset(r + n->rn_cap, 0, (cap - n->rn_cap) * sizeof *r);
    n->rn = r;
    n->rn_cap = cap;
    return 0;
}

/* Registers a model profile with the router (and the timing-model worker).
 * Returns its router index, or -1. */
static int model_register(node *n, const wp_model_profile *p)
{
    int idx = wp_router_model_find(n->view, p->name);
    if (idx >= 0)
        return idx;
    uint32_t ui;
    wp_err err;
    if (wp_router_model_add(n->view, p, &ui, &err) != WP_OK) {
        WP_WARN(n->id, "model %s: %s", p->name, wp_err_text(&err));
        return -1;
    }
    if (ui >= n->cap_cat) {
        size_t cap = n->cap_cat ? 2 * n->cap_cat : 16;
        while (cap <= ui)
            cap *= 2;
        wp_model_profile *c = realloc(n->cat, cap * sizeof *c);
        bool *s = realloc(n->served, cap * sizeof *s);
        if (c)
            n->cat = c;
        if (s)
            n->served = s;
        if (!c || !s)
            return -1;
        n->cap_cat = cap;
    }
    n->cat[ui] = *p;
    n->served[ui] = false;
    if (n->gpu_kind == WP_GPU_MODEL && n->gw) {
        if (wp_gpu_worker_add_model(n->gw, p->name, NULL, p, &err) == WP_OK)
            n->served[ui] = true;
        else
            WP_WARN(n->id, "timing model %s: %s", p->name, wp_err_text(&err));
    }
    if (ui + 1 > n->n_cat)
        n->n_cat = ui + 1;
    return (int)ui;
}

static wp_node_status member_router_status(const wp_gossip_member *m)
{
    switch (m->status) {
    case WP_MEMBER_ALIVE: return m->cap.draining ? WP_NODE_DRAINING : WP_NODE_UP;
    case WP_MEMBER_SUSPECT: return WP_NODE_SUSPECT;
    default: return WP_NODE_DEAD;
    }
}

/* Feeds the router view from the gossip view (every 100 ms). */
static void view_sync(node *n)
{
    size_t cnt = wp_gossip_member_count(n->g);
    for (size_t i = 0; i < cnt; i++) {
        const wp_gossip_member *m = wp_gossip_member_at(n->g, i);
        int idx = wp_router_node_find(n->view, m->id);
        if (idx < 0) {
            int city = wp_topo_find(n->topo, m->city);
            if (city < 0)
                continue; /* a city we cannot place: not routable */
            wp_router_node_info info = {.id = m->id, .city = (uint32_t)city, .gpus = m->cap.gpus,
                                        .free_mem_bytes = m->cap.gpu_mem_free_bytes};
            uint32_t ui;
            wp_err err;
            if (wp_router_node_add(n->view, &info, &ui, &err) != WP_OK || rn_ensure(n, ui)) {
                WP_WARN(n->id, "router: node %s: %s", m->id, wp_err_text(&err));
                continue;
            }
            idx = (int)ui;
            n->rn[idx].known = true;
            n->rn[idx].cap_version = UINT64_MAX; /* force the first delta */
            n->rn[idx].status = -1;
            if (strcmp(m->id, n->id) == 0)
                n->self_rn = idx;
        }
        rnode *r = &n->rn[idx];
        if (strcmp(r->addr, m->addr) != 0) {
            snprintf(r->addr, sizeof r->addr, "%s", m->addr);
            r->sock = NULL;
        }
        wp_node_status st = member_router_status(m);
        if (r->cap_version == m->cap.version && r->status == (int)st)
            continue;
        uint64_t ver = m->cap.version;
        if (ver < wp_router_node_version(n->view, (uint32_t)idx))
            ver = wp_router_node_version(n->view, (uint32_t)idx); /* restart: new record */
        wp_node_delta d = {.version = ver,
                           .fields = WP_DELTA_STATUS | WP_DELTA_GPUS | WP_DELTA_FREE_MEM,
                           .status = st,
                           .gpus = m->cap.gpus,
                           .free_mem_bytes = m->cap.gpu_mem_free_bytes};
        wp_router_apply(n->view, (uint32_t)idx, &d);
        size_t nm = wp_router_model_count(n->view);
        for (size_t k = 0; k < nm; k++) {
            const char *name = wp_router_model_name(n->view, (uint32_t)k);
            bool warm = false;
            for (uint32_t w = 0; w < m->cap.n_warm && !warm; w++)
                warm = strcmp(m->cap.warm[w], name) == 0;
            if (warm != wp_router_node_warm(n->view, (uint32_t)idx, (uint32_t)k)) {
                wp_node_delta wd = {.version = ver,
                                    .fields = warm ? WP_DELTA_WARM_SET : WP_DELTA_WARM_UNSET,
                                    .model = (uint32_t)k};
                wp_router_apply(n->view, (uint32_t)idx, &wd);
            }
        }
        if (r->status != (int)st && r->status >= 0)
            WP_DEBUG(n->id, "router: %s is now %s", m->id, wp_node_status_name(st));
        r->cap_version = m->cap.version;
        r->status = (int)st;
    }
}

static void on_view_timer(uv_timer_t *t)
{
    view_sync(t->data);
}

/* ---------------------------------------------------------------- ingress */

static uint32_t req_in_tokens(const Warmpath__Infer__InferRequest *r)
{
    if (r->n_input_tokens)
        return (uint32_t)r->n_input_tokens;
    size_t l = strlen(r->input_text);
    return (uint32_t)(l ? l : 1);
}

static uint32_t req_out_tokens(const Warmpath__Infer__InferRequest *r, const wp_model_profile *p)
{
    if (r->max_output_tokens)
        return r->max_output_tokens;
    return p->typical_out_tokens ? p->typical_out_tokens : 1;
}

static void ing_free(ing_req *r)
{
    if (!r)
        return;
    if (r->req)
        warmpath__infer__infer_request__free_unpacked(r->req, NULL);
    free(r);
}

/* Sends resp to the client of r (after the emulated client leg) and frees r. */
static void ing_respond(node *n, ing_req *r, Warmpath__Infer__InferResponse *resp, bool now_only)
{
    uint64_t now = wp_clock_monotonic_ns();
    Warmpath__Infer__Timings tm = WARMPATH__INFER__TIMINGS__INIT;
    if (resp->timings)
        tm = *resp->timings;
    tm.client_rtt_us = 2 * r->client_oneway_ns / 1000;
    tm.hop_rtt_us = r->hop_rtt_ns / 1000;
    tm.route_us = r->route_ns / 1000;
    tm.total_us = (now - r->arrival_ns + 2 * r->client_oneway_ns) / 1000;
    resp->timings = &tm;
    resp->request_id = r->req ? r->req->request_id : 0;
    resp->ingress_node = n->id;
    resp->ingress_city = n->city;
    resp->retried = r->retried;
    if (r->retried && r->first_target >= 0)
        resp->first_target = (char *)wp_router_node_id(n->view, (uint32_t)r->first_target);
    if (r->req && (!resp->model || !resp->model[0]))
        resp->model = r->req->model;
    if (resp->status == WARMPATH__INFER__STATUS__OK)
        n->st_ok++;
    else
        n->st_err++;
    size_t len = wp_infer_encode_into(WP_INFER_KIND_INFER_RESPONSE, &resp->base, n->tx,
                                      WP_INFER_HDR_BYTES + WP_FRAME_MAX_BYTES);
    if (len == 0) {
        /* Cannot happen with bounded outputs; answer without the output. */
        resp->n_output_tokens = 0;
        resp->status = WARMPATH__INFER__STATUS__INTERNAL;
        resp->reason = "response too large";
        len = wp_infer_encode_into(WP_INFER_KIND_INFER_RESPONSE, &resp->base, n->tx,
                                   WP_INFER_HDR_BYTES + WP_FRAME_MAX_BYTES);
    }
    uint64_t delay = now_only ? 0 : 2 * r->client_oneway_ns;
    if (delay == 0 || r->rid_len == 0) {
        client_send_now(n, r->rid, r->rid_len, r->delim, n->tx, len);
    } else {
        dsend *d = calloc(1, sizeof *d);
        uint8_t *copy = malloc(len);
        if (!d || !copy) {
            free(d);
            free(copy);
            client_send_now(n, r->rid, r->rid_len, r->delim, n->tx, len);
        } else {
            memcpy(copy, n->tx, len);
            d->due_ns = now + delay;
            d->to_client = true;
            memcpy(d->rid, r->rid, r->rid_len);
            d->rid_len = r->rid_len;
            d->delim = r->delim;
            d->data = copy;
            d->len = len;
            dq_push(n, d);
            dq_arm(n);
        }
    }
    ing_free(r);
}

static void ing_error(node *n, ing_req *r, int status, const char *fmt, ...) WP_PRINTF(4, 5);
static void ing_error(node *n, ing_req *r, int status, const char *fmt, ...)
{
    char reason[WP_ERRMSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    Warmpath__Infer__InferResponse resp = WARMPATH__INFER__INFER_RESPONSE__INIT;
    resp.status = (Warmpath__Infer__Status)status;
    resp.reason = reason;
    resp.backend = (char *)wp_gpu_kind_name(n->gpu_kind);
    WP_DEBUG(n->id, "request %llu: %s: %s",
             (unsigned long long)(r->req ? r->req->request_id : 0), wp_infer_status_name(status),
             reason);
    ing_respond(n, r, &resp, n->stopping);
}

static int route_status(int rc)
{
    switch (rc) {
    case WP_ENOTFOUND: return WARMPATH__INFER__STATUS__UNKNOWN_MODEL;
    case WP_EOVERLOAD: return WARMPATH__INFER__STATUS__OVERLOADED;
    default: return WARMPATH__INFER__STATUS__NO_ROUTE;
    }
}

static int ing_route(node *n, ing_req *r, wp_route_policy pol, int exclude, wp_route_result *out)
{
    wp_node_status saved = WP_NODE_UP;
    if (exclude >= 0) {
        saved = wp_router_node_status(n->view, (uint32_t)exclude);
        wp_router_set_status(n->view, (uint32_t)exclude, WP_NODE_DEAD);
    }
    wp_route_req rq = {.model = r->model, .ingress = (uint32_t)n->my_city, .policy = pol};
    int rc = wp_route(n->view, &rq, out);
    if (exclude >= 0)
        wp_router_set_status(n->view, (uint32_t)exclude, saved);
    return rc;
}

static uint64_t attempt_budget_ns(node *n, const ing_req *r, const wp_route_result *rr)
{
    const wp_model_profile *p = &n->cat[r->model];
    double svc = wp_model_total_ms(p, req_in_tokens(r->req), req_out_tokens(r->req, p));
    double cost = rr->rtt_ms + rr->wait_ms + (rr->cold ? wp_model_load_ms(p) : 0.0) + svc;
    if (!(cost >= 0) || cost > 3.6e6)
        cost = 3.6e6;
    return n->hop_floor_ns + (uint64_t)(2.0 * cost * 1e6);
}

static void on_req_timer(uv_timer_t *t);

static void req_arm(node *n)
{
    if (n->stopping)
        return;
    uint64_t d = wp_reqtab_next_deadline(n->ing);
    if (d == UINT64_MAX || d >= n->req_timer_at)
        return;
    uint64_t now = wp_clock_monotonic_ns();
    n->req_timer_at = d;
    uv_timer_start(&n->req_timer, on_req_timer, d > now ? (d - now + WP_NS_PER_MS - 1) / WP_NS_PER_MS : 0, 0);
}

/* Sends attempt `hop` of r to the routed node (or serves it here). */
static void ing_dispatch(node *n, ing_req *r, uint64_t hop, const wp_route_result *rr,
                         uint64_t budget_ns)
{
    r->target = (int32_t)rr->node;
    r->cold = rr->cold;
    wp_router_inflight_add(n->view, rr->node, r->model, 1);
    if ((int)rr->node == n->self_rn) {
        r->hop_rtt_ns = 0;
        target_accept(n, hop, NULL, 0, true, r->req);
        /* An immediate refusal (draining, not served, ...) was queued as a
         * local answer: deliver it now (r may be answered and freed). */
        flush_local_answers(n);
        return;
    }
    n->st_fwd++;
    int tcity = (int)wp_router_node_city(n->view, rr->node);
    uint64_t ow = oneway_ns_cities(n, n->my_city, tcity);
    r->hop_rtt_ns = 2 * ow;
    Warmpath__Infer__ForwardRequest f = WARMPATH__INFER__FORWARD_REQUEST__INIT;
    f.hop_id = hop;
    f.ingress_node = n->id;
    f.ingress_city = n->city;
    f.reply_addr = n->bind_addr;
    f.request = r->req;
    f.budget_ms = (uint32_t)(budget_ns / WP_NS_PER_MS);
    size_t len = wp_infer_encode_into(WP_INFER_KIND_FORWARD_REQUEST, &f.base, n->tx,
                                      WP_INFER_HDR_BYTES + WP_FRAME_MAX_BYTES);
    if (len)
        node_send(n, n->rn[rr->node].addr, n->tx, len, ow);
    /* An encode failure (impossible: the request came in under the cap)
     * is left to the deadline, which retries or answers TIMEOUT. */
}

/* The current attempt (hop) failed or timed out: retry once elsewhere, or
 * answer with the error. */
static void ing_fail_attempt(node *n, ing_req *r, uint64_t hop, uint32_t attempts, int status,
                             const char *why)
{
    int failed = r->target;
    if (failed >= 0)
        wp_router_inflight_add(n->view, (uint32_t)failed, r->model, -1);
    uint64_t now = wp_clock_monotonic_ns();
    if (attempts < 2 && !n->stopping && now < r->total_deadline_ns) {
        wp_route_policy pol = WP_POLICY_NEAREST_WARM;
        if (r->req->policy[0])
            wp_route_policy_parse(r->req->policy, &pol);
        wp_route_result rr;
        if (ing_route(n, r, pol, failed, &rr) == WP_OK) {
            uint64_t budget = attempt_budget_ns(n, r, &rr);
            uint64_t dl = now + budget < r->total_deadline_ns ? now + budget : r->total_deadline_ns;
            uint64_t nh;
            if (wp_reqtab_retry(n->ing, hop, dl, &nh) == WP_OK) {
                n->st_retries++;
                r->retried = true;
                r->first_target = failed;
                ing_dispatch(n, r, nh, &rr, dl - now);
                req_arm(n);
                return;
            }
        }
    }
    wp_reqtab_close(n->ing, hop);
    const char *tid = failed >= 0 ? wp_router_node_id(n->view, (uint32_t)failed) : "?";
    ing_error(n, r, status, "%s%s (target %s%s)", why, attempts >= 2 ? " after one retry" : "",
              tid, attempts >= 2 ? ", the retry's target" : "");
}

static void on_req_timer(uv_timer_t *t)
{
    node *n = t->data;
    n->req_timer_at = UINT64_MAX;
    uint64_t now = wp_clock_monotonic_ns();
    uint64_t hop;
    void *u;
    while (wp_reqtab_expired(n->ing, now, &hop, &u)) {
        ing_req *r = u;
        uint32_t att = 1;
        wp_reqtab_match(n->ing, hop, &att);
        ing_fail_attempt(n, r, hop, att, WARMPATH__INFER__STATUS__TIMEOUT,
                         "no answer before the deadline");
    }
    req_arm(n);
    drain_rsock(n);
}

static bool retriable(int st)
{
    return st == WARMPATH__INFER__STATUS__TARGET_FAILED || st == WARMPATH__INFER__STATUS__DRAINING ||
           st == WARMPATH__INFER__STATUS__SHUTTING_DOWN ||
           st == WARMPATH__INFER__STATUS__OVERLOADED || st == WARMPATH__INFER__STATUS__INTERNAL;
}

/* A ForwardResponse arrived (from a peer, or from this node's own worker). */
static void handle_fwd_response(node *n, const uint8_t *buf, size_t len)
{
    wp_infer_kind kind;
    size_t plen;
    Warmpath__Infer__ForwardResponse *fr = NULL;
    if (wp_infer_frame_check(buf, len, &kind, &plen, NULL) != WP_OK ||
        kind != WP_INFER_KIND_FORWARD_RESPONSE ||
        wp_infer_decode_forward_response(buf + WP_INFER_HDR_BYTES, plen, &fr, NULL) != WP_OK) {
        n->st_bad_node++;
        return;
    }
    uint32_t att = 1;
    ing_req *r = wp_reqtab_match(n->ing, fr->hop_id, &att);
    if (!r) {
        n->st_late++; /* a late or duplicate answer: its request is closed */
        warmpath__infer__forward_response__free_unpacked(fr, NULL);
        return;
    }
    Warmpath__Infer__InferResponse *in = fr->response;
    if (in->status != WARMPATH__INFER__STATUS__OK && retriable(in->status)) {
        char why[WP_ERRMSG_LEN];
        snprintf(why, sizeof why, "%s: %s", wp_infer_status_name(in->status),
                 in->reason[0] ? in->reason : "target failed");
        int st = in->status == WARMPATH__INFER__STATUS__OVERLOADED
                     ? WARMPATH__INFER__STATUS__OVERLOADED
                     : WARMPATH__INFER__STATUS__TARGET_FAILED;
        ing_fail_attempt(n, r, fr->hop_id, att, st, why);
        warmpath__infer__forward_response__free_unpacked(fr, NULL);
        return;
    }
    if (r->target >= 0)
        wp_router_inflight_add(n->view, (uint32_t)r->target, r->model, -1);
    wp_reqtab_close(n->ing, fr->hop_id);
    Warmpath__Infer__InferResponse out = *in; /* borrows fr's strings and arrays */
    ing_respond(n, r, &out, false);
    warmpath__infer__forward_response__free_unpacked(fr, NULL);
}

/* A new InferRequest from a client (req ownership moves to the ingress). */
static void ing_start(node *n, ing_req *r)
{
    Warmpath__Infer__InferRequest *q = r->req;
    uint64_t t0 = r->arrival_ns;
    /* The client leg (WAN emulation): the model's network RTT from the
     * client's city or position, plus (v2, access on) the client's access
     * latency as the client drew it, bounded to 0..10 s. */
    if (n->emulate_wan) {
        int cc = q->client_city[0] ? wp_topo_find(n->topo, q->client_city) : -1;
        if (cc >= 0)
            r->client_oneway_ns = oneway_ns_cities(n, cc, n->my_city);
        else if (q->has_client_pos)
            r->client_oneway_ns = (uint64_t)(wp_topo_rtt_point_ms(n->topo, q->client_lat,
                                                                  q->client_lon,
                                                                  (size_t)n->my_city) /
                                             2.0 * 1e6);
        double acc_ms = q->client_access_ms;
        if (wp_topo_params(n->topo)->access && acc_ms > 0 && acc_ms <= 10000)
            r->client_oneway_ns += (uint64_t)(acc_ms / 2.0 * 1e6);
    }
    r->total_deadline_ns = q->timeout_ms ? t0 + (uint64_t)q->timeout_ms * WP_NS_PER_MS
                                         : UINT64_MAX;
    if (q->client_city[0] && wp_topo_find(n->topo, q->client_city) < 0) {
        ing_error(n, r, WARMPATH__INFER__STATUS__BAD_REQUEST, "unknown client_city '%s'",
                  q->client_city);
        return;
    }
    wp_route_policy pol = WP_POLICY_NEAREST_WARM;
    if (q->policy[0] && wp_route_policy_parse(q->policy, &pol) != WP_OK) {
        ing_error(n, r, WARMPATH__INFER__STATUS__BAD_REQUEST,
                  "unknown policy '%s' (nearest-warm, latency, nearest)", q->policy);
        return;
    }
    int mi = wp_router_model_find(n->view, q->model);
    if (mi < 0) {
        ing_error(n, r, WARMPATH__INFER__STATUS__UNKNOWN_MODEL,
                  "unknown model '%s' (not in this node's catalog)", q->model);
        return;
    }
    r->model = (uint32_t)mi;
    if ((size_t)mi < n->rate_cap)
        n->rate_count[mi]++;
    const wp_model_profile *p = &n->cat[mi];
    if (q->max_output_tokens > WP_INFER_MAX_OUTPUT_TOKENS) {
        ing_error(n, r, WARMPATH__INFER__STATUS__BAD_REQUEST, "max_output_tokens too large");
        return;
    }
    (void)p;
    wp_route_result rr;
    int rc = ing_route(n, r, pol, -1, &rr);
    r->route_ns = wp_clock_monotonic_ns() - t0;
    if (rc != WP_OK) {
        ing_error(n, r, route_status(rc), "%s for model %s from %s", wp_strerror(rc), q->model,
                  n->city);
        return;
    }
    uint64_t now = wp_clock_monotonic_ns();
    uint64_t budget = attempt_budget_ns(n, r, &rr);
    uint64_t dl = now + budget < r->total_deadline_ns ? now + budget : r->total_deadline_ns;
    uint64_t hop;
    if (wp_reqtab_open(n->ing, r, dl, &hop) != WP_OK) {
        ing_error(n, r, WARMPATH__INFER__STATUS__OVERLOADED, "ingress has %u requests pending",
                  ING_CAPACITY);
        return;
    }
    ing_dispatch(n, r, hop, &rr, budget);
    req_arm(n);
}

static void route_reply(node *n, const uint8_t *rid, size_t rid_len, bool delim,
                        Warmpath__Infer__RouteResponse *rs)
{
    size_t len = wp_infer_encode_into(WP_INFER_KIND_ROUTE_RESPONSE, &rs->base, n->tx,
                                      WP_INFER_HDR_BYTES + WP_FRAME_MAX_BYTES);
    if (len)
        client_send_now(n, rid, rid_len, delim, n->tx, len);
}

static void handle_route_request(node *n, const uint8_t *rid, size_t rid_len, bool delim,
                                 const uint8_t *p, size_t plen)
{
    Warmpath__Infer__RouteResponse rs = WARMPATH__INFER__ROUTE_RESPONSE__INIT;
    rs.ingress_node = n->id;
    rs.ingress_city = n->city;
    wp_err err;
    wp_err_clear(&err);
    char reason[WP_ERRMSG_LEN];
    Warmpath__Infer__RouteRequest *q = NULL;
    if (wp_infer_decode_route_request(p, plen, &q, &err) != WP_OK) {
        n->st_bad++;
        rs.status = WARMPATH__INFER__STATUS__BAD_REQUEST;
        snprintf(reason, sizeof reason, "%s", wp_err_text(&err));
        rs.reason = reason;
        route_reply(n, rid, rid_len, delim, &rs);
        return;
    }
    rs.request_id = q->request_id;
    rs.model = q->model;
    int from = n->my_city;
    wp_route_policy pol = WP_POLICY_NEAREST_WARM;
    int mi = wp_router_model_find(n->view, q->model);
    if (q->client_city[0])
        from = wp_topo_find(n->topo, q->client_city);
    if (from < 0) {
        rs.status = WARMPATH__INFER__STATUS__BAD_REQUEST;
        snprintf(reason, sizeof reason, "unknown city '%s'", q->client_city);
    } else if (q->policy[0] && wp_route_policy_parse(q->policy, &pol) != WP_OK) {
        rs.status = WARMPATH__INFER__STATUS__BAD_REQUEST;
        snprintf(reason, sizeof reason, "unknown policy '%s'", q->policy);
    } else if (mi < 0) {
        rs.status = WARMPATH__INFER__STATUS__UNKNOWN_MODEL;
        snprintf(reason, sizeof reason, "unknown model '%s'", q->model);
    } else {
        rs.from_city = (char *)wp_topo_city(n->topo, (size_t)from)->code;
        rs.policy = (char *)wp_route_policy_name(pol);
        size_t cap = q->max_candidates ? q->max_candidates : 32;
        wp_route_candidate cands[256];
        wp_route_explain ex = {.cands = cands, .cap = cap};
        wp_route_result rr;
        wp_route_req rq = {.model = (uint32_t)mi, .ingress = (uint32_t)from, .policy = pol};
        int rc = wp_route_explain_run(n->view, &rq, &rr, &ex);
        Warmpath__Infer__Candidate pc[256];
        Warmpath__Infer__Candidate *pp[256];
        for (size_t i = 0; i < ex.n; i++) {
            warmpath__infer__candidate__init(&pc[i]);
            pc[i].node = (char *)wp_router_node_id(n->view, cands[i].node);
            pc[i].city = (char *)wp_topo_city(n->topo, wp_router_node_city(n->view, cands[i].node))
                             ->code;
            pc[i].rtt_ms = cands[i].rtt_ms;
            pc[i].cost_ms = cands[i].cost_ms;
            pc[i].warm = cands[i].warm;
            pc[i].verdict = (char *)wp_cand_verdict_name(cands[i].verdict);
            pp[i] = &pc[i];
        }
        rs.n_candidates = ex.n;
        rs.candidates = pp;
        rs.considered = (uint32_t)ex.considered;
        rs.total = (uint32_t)ex.total;
        rs.stopped_early = ex.stopped_early;
        if (rc == WP_OK) {
            rs.status = WARMPATH__INFER__STATUS__OK;
            rs.chosen_node = (char *)wp_router_node_id(n->view, rr.node);
            rs.chosen_city = (char *)wp_topo_city(n->topo, rr.city)->code;
            rs.rtt_ms = rr.rtt_ms;
            rs.wait_ms = rr.wait_ms;
            rs.cost_ms = rr.cost_ms;
            rs.cold = rr.cold;
            reason[0] = '\0';
        } else {
            rs.status = (Warmpath__Infer__Status)route_status(rc);
            snprintf(reason, sizeof reason, "%s", wp_strerror(rc));
        }
        rs.reason = reason;
        route_reply(n, rid, rid_len, delim, &rs);
        warmpath__infer__route_request__free_unpacked(q, NULL);
        return;
    }
    rs.reason = reason;
    route_reply(n, rid, rid_len, delim, &rs);
    warmpath__infer__route_request__free_unpacked(q, NULL);
}

static void bad_client_frame(node *n, const uint8_t *rid, size_t rid_len, bool delim,
                             uint64_t id, const char *reason)
{
    n->st_bad++;
    n->st_err++;
    Warmpath__Infer__InferResponse resp = WARMPATH__INFER__INFER_RESPONSE__INIT;
    resp.request_id = id;
    resp.status = WARMPATH__INFER__STATUS__BAD_REQUEST;
    resp.reason = (char *)reason;
    resp.ingress_node = n->id;
    resp.ingress_city = n->city;
    size_t len = wp_infer_encode_into(WP_INFER_KIND_INFER_RESPONSE, &resp.base, n->tx,
                                      WP_INFER_HDR_BYTES + WP_FRAME_MAX_BYTES);
    if (len)
        client_send_now(n, rid, rid_len, delim, n->tx, len);
}

static void handle_client_frame(node *n, const uint8_t *rid, size_t rid_len, bool delim,
                                const uint8_t *buf, size_t len)
{
    n->st_in++;
    wp_err err;
    wp_err_clear(&err);
    wp_infer_kind kind;
    size_t plen;
    if (wp_infer_frame_check(buf, len, &kind, &plen, &err) != WP_OK) {
        bad_client_frame(n, rid, rid_len, delim, 0, wp_err_text(&err));
        return;
    }
    const uint8_t *p = buf + WP_INFER_HDR_BYTES;
    if (kind == WP_INFER_KIND_ROUTE_REQUEST) {
        handle_route_request(n, rid, rid_len, delim, p, plen);
        return;
    }
    if (kind != WP_INFER_KIND_INFER_REQUEST) {
        bad_client_frame(n, rid, rid_len, delim, 0,
                         "infer: a request endpoint takes INFER_REQUEST or ROUTE_REQUEST frames");
        return;
    }
    Warmpath__Infer__InferRequest *q = warmpath__infer__infer_request__unpack(NULL, plen, p);
    if (!q) {
        bad_client_frame(n, rid, rid_len, delim, 0,
                         "infer request: not a valid protobuf message");
        return;
    }
    if (wp_infer_request_check(q, &err) != WP_OK) {
        char reason[WP_ERRMSG_LEN];
        snprintf(reason, sizeof reason, "%s", wp_err_text(&err));
        uint64_t id = q->request_id;
        warmpath__infer__infer_request__free_unpacked(q, NULL);
        bad_client_frame(n, rid, rid_len, delim, id, reason);
        return;
    }
    ing_req *r = calloc(1, sizeof *r);
    if (!r) {
        warmpath__infer__infer_request__free_unpacked(q, NULL);
        bad_client_frame(n, rid, rid_len, delim, 0, "out of memory");
        return;
    }
    if (n->stopping) { /* read at shutdown: answered, not started */
        memcpy(r->rid, rid, rid_len);
        r->rid_len = rid_len;
        r->delim = delim;
        r->req = q;
        r->arrival_ns = wp_clock_monotonic_ns();
        r->target = r->first_target = -1;
        ing_error(n, r, WARMPATH__INFER__STATUS__SHUTTING_DOWN, "ingress %s is shutting down",
                  n->id);
        return;
    }
    memcpy(r->rid, rid, rid_len);
    r->rid_len = rid_len;
    r->delim = delim;
    r->req = q;
    r->arrival_ns = wp_clock_monotonic_ns();
    r->target = -1;
    r->first_target = -1;
    ing_start(n, r);
}

static void drain_rsock_any(node *n);

static void drain_rsock(node *n)
{
    if (!n->rsock_on || n->stopping)
        return;
    drain_rsock_any(n);
}

static void drain_rsock_any(node *n)
{
    while (has_pollin(n->rsock)) {
        zmq_msg_t parts[3];
        size_t np = 0;
        bool more = true, overflow = false;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, n->rsock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                break;
            }
            more = zmq_msg_more(&m);
            if (np < 3)
                parts[np++] = m;
            else {
                overflow = true;
                zmq_msg_close(&m);
            }
        }
        if (np >= 2) {
            const uint8_t *rid = zmq_msg_data(&parts[0]);
            size_t rl = zmq_msg_size(&parts[0]);
            if (rl > RID_MAX)
                rl = 0;
            if (overflow || (np == 3 && zmq_msg_size(&parts[1]) != 0))
                bad_client_frame(n, rid, rl, false, 0,
                                 "infer: one frame per message (optionally after an empty "
                                 "delimiter)");
            else if (np == 3)
                handle_client_frame(n, rid, rl, true, zmq_msg_data(&parts[2]),
                                    zmq_msg_size(&parts[2]));
            else
                handle_client_frame(n, rid, rl, false, zmq_msg_data(&parts[1]),
                                    zmq_msg_size(&parts[1]));
        }
        for (size_t i = 0; i < np; i++)
            zmq_msg_close(&parts[i]);
    }
}

static void on_rsock_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    drain_rsock(h->data);
}

/* ---------------------------------------------------------------- target */

static void job_unlink(node *n, tgt_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        n->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    n->n_jobs--;
}

static void job_free(tgt_job *j)
{
    free(j->prompt);
    free(j->tokens);
    free(j);
}

/* Sends the ForwardResponse for hop (to the ingress, or to ourselves). */
static void target_reply(node *n, uint64_t hop, const char *reply_addr, uint64_t delay_ns,
                         bool local, Warmpath__Infer__InferResponse *resp)
{
    Warmpath__Infer__ForwardResponse f = WARMPATH__INFER__FORWARD_RESPONSE__INIT;
    f.hop_id = hop;
    f.response = resp;
    if (!resp->serving_node || !resp->serving_node[0]) {
        resp->serving_node = n->id;
        resp->serving_city = n->city;
    }
    if (!resp->backend || !resp->backend[0])
        resp->backend = (char *)wp_gpu_kind_name(n->gpu_kind);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wp_infer_encode(WP_INFER_KIND_FORWARD_RESPONSE, &f.base, &buf, &len, NULL) != WP_OK)
        return; /* the ingress's deadline answers */
    if (local) {
        /* Answered after the worker call returns (never inside it). */
        lanswer *a = malloc(sizeof *a);
        if (!a) {
            free(buf);
            return;
        }
        a->data = buf;
        a->len = len;
        a->next = NULL;
        if (n->la_tail)
            n->la_tail->next = a;
        else
            n->la_head = a;
        n->la_tail = a;
        return;
    }
    node_send(n, reply_addr, buf, len, n->stopping ? 0 : delay_ns);
    free(buf);
}

static void target_error(node *n, uint64_t hop, const char *reply_addr, uint64_t delay_ns,
                         bool local, int status, const char *reason)
{
    Warmpath__Infer__InferResponse resp = WARMPATH__INFER__INFER_RESPONSE__INIT;
    resp.status = (Warmpath__Infer__Status)status;
    resp.reason = (char *)reason;
    target_reply(n, hop, reply_addr, delay_ns, local, &resp);
}

static void flush_local_answers(node *n)
{
    while (n->la_head) {
        lanswer *a = n->la_head;
        n->la_head = a->next;
        if (!n->la_head)
            n->la_tail = NULL;
        handle_fwd_response(n, a->data, a->len);
        free(a->data);
        free(a);
    }
}

static void on_gpu_timer(uv_poll_t *p, int status, int events);

/* Runs the worker (timing model: here; cpu/cuda: wakes its thread). */
static void gpu_kick(node *n)
{
    if (!n->gw)
        return;
    if (n->gpu_kind != WP_GPU_MODEL) {
        uv_mutex_lock(&n->wmu);
        uv_cond_signal(&n->wcond);
        uv_mutex_unlock(&n->wmu);
        flush_local_answers(n);
        return;
    }
    if (n->in_advance) {
        n->kick_again = true;
        return;
    }
    n->in_advance = true;
    uint64_t next;
    do {
        n->kick_again = false;
        next = wp_gpu_worker_advance(n->gw, wp_clock_monotonic_ns());
        flush_local_answers(n);
    } while (n->kick_again);
    n->in_advance = false;
    if (next != UINT64_MAX && !n->stopping && next < n->gpu_timer_at) {
        n->gpu_timer_at = next;
        /* Absolute deadline; one already past fires at once (a zero
         * it_value would disarm, so the earliest is 1 ns). */
        struct itimerspec its = {0};
        its.it_value.tv_sec = (time_t)(next / WP_NS_PER_S);
        its.it_value.tv_nsec = (long)(next % WP_NS_PER_S);
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
            its.it_value.tv_nsec = 1;
        if (timerfd_settime(n->gpu_tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
            WP_ERROR(n->id, "timerfd_settime: %s", strerror(errno));
            n->gpu_timer_at = UINT64_MAX;
        }
    }
}

static void on_gpu_timer(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    node *n = p->data;
    uint64_t expirations;
    while (read(n->gpu_tfd, &expirations, sizeof expirations) > 0)
        ; /* non-blocking: drain the count so the fd stops being readable */
    n->gpu_timer_at = UINT64_MAX;
    gpu_kick(n);
    drain_rsock(n);
}

static void finish_job(node *n, tgt_job *j, int error, const wp_gen_result *res)
{
    uint64_t now = wp_clock_monotonic_ns();
    Warmpath__Infer__InferResponse resp = WARMPATH__INFER__INFER_RESPONSE__INIT;
    Warmpath__Infer__Timings tm = WARMPATH__INFER__TIMINGS__INIT;
    uint32_t *out = NULL;
    char reason[WP_ERRMSG_LEN];
    resp.model = j->model;
    resp.cold = j->cold;
    if (error) {
        resp.status = error == WP_EOVERLOAD ? WARMPATH__INFER__STATUS__OVERLOADED
                                            : WARMPATH__INFER__STATUS__TARGET_FAILED;
        snprintf(reason, sizeof reason, "worker on %s: %s", n->id, wp_strerror(error));
        resp.reason = reason;
    } else {
        n->st_served++;
        uint64_t elapsed = now - j->arrival_ns;
        uint64_t cold_ns = j->cold ? j->load_ns : 0;
        tm.service_us = res->total_ns / 1000;
        tm.cold_load_us = cold_ns / 1000;
        uint64_t used = res->total_ns + cold_ns;
        tm.queue_us = elapsed > used ? (elapsed - used) / 1000 : 0;
        resp.timings = &tm;
        resp.output_count = res->modelled ? j->steps : res->n_tokens;
        if (!res->modelled && res->n_tokens && j->tokens) {
            out = malloc(res->n_tokens * sizeof *out);
            if (out) {
                for (uint32_t i = 0; i < res->n_tokens; i++)
                    out[i] = (uint32_t)j->tokens[i];
                resp.n_output_tokens = res->n_tokens;
                resp.output_tokens = out;
            }
        }
    }
    job_unlink(n, j);
    target_reply(n, j->hop_id, j->reply_addr, j->reply_delay_ns, j->local, &resp);
    free(out);
    job_free(j);
}

/* Worker completion callback: the loop thread (timing model) or the worker
 * thread (cpu/cuda). */
static void on_gpu_done(void *ctx, uint64_t req_id, int error, const wp_gen_result *res)
{
    node *n = ctx;
    tgt_job *j = (tgt_job *)(uintptr_t)req_id;
    if (j->cold) {
        wp_res_stats s;
        wp_res_get_stats(wp_gpu_worker_res(n->gw), &s);
        j->load_ns = s.last_load_ns;
    }
    if (n->gpu_kind == WP_GPU_MODEL) {
        finish_job(n, j, error, res);
        return;
    }
    j->done_error = error;
    if (res)
        j->done_res = *res;
    uv_mutex_lock(&n->wmu);
    j->done_next = n->wdone;
    n->wdone = j;
    uv_mutex_unlock(&n->wmu);
    uv_async_send(&n->wasync);
}

static void on_wasync(uv_async_t *a)
{
    node *n = a->data;
    uv_mutex_lock(&n->wmu);
    tgt_job *list = n->wdone;
    n->wdone = NULL;
    uv_mutex_unlock(&n->wmu);
    /* Completion order: the list is LIFO; reverse it. */
    tgt_job *rev = NULL;
    while (list) {
        tgt_job *nx = list->done_next;
        list->done_next = rev;
        rev = list;
        list = nx;
    }
    while (rev) {
        tgt_job *nx = rev->done_next;
        finish_job(n, rev, rev->done_error, &rev->done_res);
        rev = nx;
    }
    flush_local_answers(n);
    drain_rsock(n);
}

static bool model_warm_now(node *n, const char *model)
{
    if (!n->gw)
        return false;
    if (n->gpu_kind == WP_GPU_MODEL)
        return wp_res_model_state(wp_gpu_worker_res(n->gw), model) == WP_RES_WARM;
    bool warm = false;
    uv_mutex_lock(&n->wmu);
    for (uint32_t i = 0; i < n->snap_n_warm && !warm; i++)
        warm = strcmp(n->snap_warm[i], model) == 0;
    uv_mutex_unlock(&n->wmu);
    return warm;
}

static void target_accept(node *n, uint64_t hop, const char *reply_addr, uint64_t reply_delay_ns,
                          bool local, const Warmpath__Infer__InferRequest *req)
{
    if (n->stopping) {
        target_error(n, hop, reply_addr, 0, local, WARMPATH__INFER__STATUS__SHUTTING_DOWN,
                     "node is shutting down");
        return;
    }
    if (wp_gossip_self_member(n->g)->cap.draining) {
        target_error(n, hop, reply_addr, reply_delay_ns, local, WARMPATH__INFER__STATUS__DRAINING,
                     "node is draining: no new work");
        return;
    }
    int mi = wp_router_model_find(n->view, req->model);
    if (!n->gw || mi < 0 || !n->served[mi]) {
        char why[WP_ERRMSG_LEN];
        snprintf(why, sizeof why, "model %s is not served by node %s (backend %s)", req->model,
                 n->id, wp_gpu_kind_name(n->gpu_kind));
        target_error(n, hop, reply_addr, reply_delay_ns, local,
                     WARMPATH__INFER__STATUS__TARGET_FAILED, why);
        return;
    }
    if (n->n_jobs >= JOB_CAPACITY) {
        target_error(n, hop, reply_addr, reply_delay_ns, local,
                     WARMPATH__INFER__STATUS__OVERLOADED, "target has too many requests");
        return;
    }
    tgt_job *j = calloc(1, sizeof *j);
    uint32_t nin = req_in_tokens(req);
    uint32_t steps = req_out_tokens(req, &n->cat[mi]);
    if (j) {
        j->prompt = malloc(nin * sizeof *j->prompt);
        if (n->gpu_kind != WP_GPU_MODEL)
            j->tokens = malloc(steps * sizeof *j->tokens);
    }
    if (!j || !j->prompt || (n->gpu_kind != WP_GPU_MODEL && !j->tokens)) {
        if (j)
            job_free(j);
        target_error(n, hop, reply_addr, reply_delay_ns, local, WARMPATH__INFER__STATUS__INTERNAL,
                     "out of memory");
        return;
    }
    for (uint32_t i = 0; i < nin; i++)
        j->prompt[i] = req->n_input_tokens ? (int32_t)req->input_tokens[i]
                                           : (int32_t)(unsigned char)req->input_text[i];
    j->hop_id = hop;
    j->local = local;
    if (reply_addr)
        snprintf(j->reply_addr, sizeof j->reply_addr, "%s", reply_addr);
    j->reply_delay_ns = reply_delay_ns;
    snprintf(j->model, sizeof j->model, "%s", req->model);
    j->arrival_ns = wp_clock_monotonic_ns();
    j->steps = steps;
    j->gen.prompt = j->prompt;
    j->gen.n_prompt = nin;
    j->gen.steps = steps;
    j->cold = !model_warm_now(n, req->model);
    j->next = n->jobs;
    if (n->jobs)
        n->jobs->prev = j;
    n->jobs = j;
    n->n_jobs++;
    if (n->gpu_kind == WP_GPU_MODEL) {
        wp_err err;
        wp_err_clear(&err);
        int rc = wp_gpu_worker_submit(n->gw, j->arrival_ns, j->model, (uint64_t)(uintptr_t)j,
                                      &j->gen, j->tokens, &err);
        if (rc != WP_OK) {
            job_unlink(n, j);
            job_free(j);
            target_error(n, hop, reply_addr, reply_delay_ns, local,
                         rc == WP_EOVERLOAD ? WARMPATH__INFER__STATUS__OVERLOADED
                                            : WARMPATH__INFER__STATUS__TARGET_FAILED,
                         wp_err_text(&err));
            if (local)
                flush_local_answers(n);
            return;
        }
        gpu_kick(n);
        return;
    }
    wop *op = calloc(1, sizeof *op);
    if (!op) {
        job_unlink(n, j);
        job_free(j);
        target_error(n, hop, reply_addr, reply_delay_ns, local, WARMPATH__INFER__STATUS__INTERNAL,
                     "out of memory");
        return;
    }
    op->kind = 1;
    op->job = j;
    wops_push(n, op);
}

/* A frame from a peer on the PULL socket that starts with "W". */
static void handle_node_frame(node *n, const uint8_t *buf, size_t len)
{
    wp_infer_kind kind;
    size_t plen;
    if (wp_infer_frame_check(buf, len, &kind, &plen, NULL) != WP_OK) {
        n->st_bad_node++;
        return;
    }
    if (kind == WP_INFER_KIND_FORWARD_RESPONSE) {
        handle_fwd_response(n, buf, len);
        return;
    }
    if (kind != WP_INFER_KIND_FORWARD_REQUEST) {
        n->st_bad_node++;
        return;
    }
    Warmpath__Infer__ForwardRequest *f = NULL;
    wp_err err;
    wp_err_clear(&err);
    if (wp_infer_decode_forward_request(buf + WP_INFER_HDR_BYTES, plen, &f, &err) != WP_OK) {
        n->st_bad_node++;
        WP_DEBUG(n->id, "bad forward request: %s", wp_err_text(&err));
        return; /* the ingress's deadline retries it elsewhere */
    }
    int ic = f->ingress_city[0] ? wp_topo_find(n->topo, f->ingress_city) : -1;
    uint64_t delay = oneway_ns_cities(n, n->my_city, ic);
    target_accept(n, f->hop_id, f->reply_addr, delay, false, f->request);
    warmpath__infer__forward_request__free_unpacked(f, NULL);
}

/* ---------------------------------------------------------------- cpu/cuda worker thread */

static void wthread_main(void *arg)
{
    node *n = arg;
    uv_mutex_lock(&n->wmu);
    while (!n->wquit) {
        wop *ops = n->wops_head;
        n->wops_head = n->wops_tail = NULL;
        uv_mutex_unlock(&n->wmu);
        uint64_t now = wp_clock_monotonic_ns();
        while (ops) {
            wop *op = ops;
            ops = op->next;
            wp_err err;
            wp_err_clear(&err);
            if (op->kind == 1) {
                int rc = wp_gpu_worker_submit(n->gw, now, op->job->model,
                                              (uint64_t)(uintptr_t)op->job, &op->job->gen,
                                              op->job->tokens, &err);
                if (rc != WP_OK)
                    on_gpu_done(n, (uint64_t)(uintptr_t)op->job, rc, NULL);
            } else {
                const char *names[WP_RES_MAX_MODELS];
                for (size_t i = 0; i < op->n; i++)
                    names[i] = op->names[i];
                if (wp_gpu_worker_assign(n->gw, now, names, op->n, &err) != WP_OK)
                    WP_WARN(n->id, "assignment: %s", wp_err_text(&err));
                free(op->names);
            }
            free(op);
        }
        uint64_t next = wp_gpu_worker_advance(n->gw, wp_clock_monotonic_ns());
        const wp_res *res = wp_gpu_worker_res(n->gw);
        const char *names[WP_GOSSIP_MAX_WARM];
        size_t nw = wp_res_warm_models(res, names, WP_GOSSIP_MAX_WARM);
        uv_mutex_lock(&n->wmu);
        n->snap_n_warm = (uint32_t)(nw < WP_GOSSIP_MAX_WARM ? nw : WP_GOSSIP_MAX_WARM);
        for (uint32_t i = 0; i < n->snap_n_warm; i++)
            snprintf(n->snap_warm[i], WP_NAME_MAX, "%s", names[i]);
        n->snap_free = wp_res_free_bytes(res);
        n->snap_queue = wp_res_queue_depth(res);
        if (!n->wops_head && !n->wquit) {
            if (next == UINT64_MAX) {
                uv_cond_wait(&n->wcond, &n->wmu);
            } else {
                uint64_t t = wp_clock_monotonic_ns();
                if (next > t)
                    (void)uv_cond_timedwait(&n->wcond, &n->wmu, next - t);
            }
        }
    }
    uv_mutex_unlock(&n->wmu);
}

/* ---------------------------------------------------------------- capacity + placement */

/* Publishes the worker's warm models and free memory in the gossip record
 * when they changed (queue depth at most once a second). */
static void on_cap_timer(uv_timer_t *t)
{
    node *n = t->data;
    if (!n->gw || n->stopping)
        return;
    char warm[WP_GOSSIP_MAX_WARM][WP_NAME_MAX];
    uint32_t nw = 0;
    uint64_t free_b;
    uint32_t queue;
    if (n->gpu_kind == WP_GPU_MODEL) {
        const wp_res *res = wp_gpu_worker_res(n->gw);
        const char *names[WP_GOSSIP_MAX_WARM];
        size_t k = wp_res_warm_models(res, names, WP_GOSSIP_MAX_WARM);
        nw = (uint32_t)(k < WP_GOSSIP_MAX_WARM ? k : WP_GOSSIP_MAX_WARM);
        for (uint32_t i = 0; i < nw; i++)
            snprintf(warm[i], WP_NAME_MAX, "%s", names[i]);
        free_b = wp_res_free_bytes(res);
        queue = wp_res_queue_depth(res);
    } else {
        uv_mutex_lock(&n->wmu);
        nw = n->snap_n_warm;
        memcpy(warm, n->snap_warm, sizeof warm);
        free_b = n->snap_free;
        queue = n->snap_queue;
        uv_mutex_unlock(&n->wmu);
    }
    /* Warm sets compare as sets (the worker lists them in LRU order). */
    bool warm_changed = nw != n->pub_n_warm;
    for (uint32_t i = 0; i < nw && !warm_changed; i++) {
        bool found = false;
        for (uint32_t k = 0; k < n->pub_n_warm && !found; k++)
            found = strcmp(warm[i], n->pub_warm[k]) == 0;
        warm_changed = !found;
    }
    uint64_t now = wp_clock_monotonic_ns();
    bool queue_due = queue != n->pub_queue && now - n->pub_at_ns >= WP_NS_PER_S;
    if (!warm_changed && free_b == n->pub_free && !queue_due && n->pub_at_ns)
        return;
    wp_gossip_capacity cap = wp_gossip_self_member(n->g)->cap;
    cap.n_warm = nw;
    memcpy(cap.warm, warm, sizeof cap.warm);
    cap.gpu_mem_free_bytes = free_b;
    cap.queue_depth = queue;
    wp_gossip_set_capacity(n->g, now, &cap);
    if (warm_changed)
        WP_INFO(n->id, "capacity: %u warm model(s), %.1f GiB free (version %llu)", nw,
                (double)free_b / 1073741824.0,
                (unsigned long long)wp_gossip_self_member(n->g)->cap.version);
    n->pub_n_warm = nw;
    memcpy(n->pub_warm, warm, sizeof warm);
    n->pub_free = free_b;
    n->pub_queue = queue;
    n->pub_at_ns = now;
    after_event(n);
}

static void pl_work(uv_work_t *w)
{
    node *n = w->data;
    wp_err err;
    wp_err_clear(&err);
    wp_placement_node_info info = {.node_id = n->id, .city = n->city, .gpus = n->gpus,
                                   .gpu_mem_bytes = n->gpu_cap_bytes};
    bool changed = false;
    uint64_t old = n->pl_version;
    n->pl_rc = wp_placement_client_sync(n->pc, &info, n->pl_rates, n->pl_n_rates,
                                        &n->pl_version, &n->pl_models, &n->pl_n, &changed, &err);
    n->pl_changed = changed;
    if (n->pl_rc == WP_OK && (n->pl_version != old || !n->pl_cat_loaded)) {
        wp_model_profile *cat = NULL;
        size_t nc = 0;
        if (wp_placement_client_catalog_list(n->pc, &cat, &nc, &err) == WP_OK) {
            free(n->pl_cat);
            n->pl_cat = cat;
            n->pl_n_cat = nc;
            n->pl_cat_new = true;
            n->pl_cat_loaded = true;
        }
    }
    snprintf(n->pl_err, sizeof n->pl_err, "%s", n->pl_rc ? wp_err_text(&err) : "");
}

static void apply_assignment(node *n)
{
    if (!n->gw)
        return;
    char (*names)[WP_NAME_MAX] = calloc(n->pl_n ? n->pl_n : 1, WP_NAME_MAX);
    if (!names)
        return;
    size_t k = 0;
    for (size_t i = 0; i < n->pl_n && k < WP_RES_MAX_MODELS; i++) {
        int mi = wp_router_model_find(n->view, n->pl_models[i].model);
        if (mi < 0 || !n->served[mi]) {
            WP_WARN(n->id, "assignment names %s, which this node cannot serve (backend %s)",
                    n->pl_models[i].model, wp_gpu_kind_name(n->gpu_kind));
            continue;
        }
        snprintf(names[k++], WP_NAME_MAX, "%s", n->pl_models[i].model);
    }
    WP_INFO(n->id, "placement: assignment version %llu, %zu model(s) to keep warm",
            (unsigned long long)n->pl_version, k);
    if (n->gpu_kind == WP_GPU_MODEL) {
        const char *ptrs[WP_RES_MAX_MODELS];
        for (size_t i = 0; i < k; i++)
            ptrs[i] = names[i];
        wp_err err;
        if (wp_gpu_worker_assign(n->gw, wp_clock_monotonic_ns(), ptrs, k, &err) != WP_OK)
            WP_WARN(n->id, "assignment: %s", wp_err_text(&err));
        free(names);
        gpu_kick(n);
        return;
    }
    wop *op = calloc(1, sizeof *op);
    if (!op) {
        free(names);
        return;
    }
    op->kind = 2;
    op->names = names;
    op->n = k;
    wops_push(n, op);
}

static void pl_after(uv_work_t *w, int status)
{
    node *n = w->data;
    n->pl_busy = false;
    if (status != 0 || n->stopping)
        return;
    if (n->pl_rc != WP_OK) {
        if (!n->pl_failing)
            WP_WARN(n->id, "placement: %s (retrying every second)", n->pl_err);
        n->pl_failing = true;
        return;
    }
    if (n->pl_failing || !n->pl_ok_once)
        WP_INFO(n->id, "placement: in sync (state version %llu)",
                (unsigned long long)n->pl_version);
    n->pl_failing = false;
    n->pl_ok_once = true;
    bool grew = false;
    if (n->pl_cat_new) {
        n->pl_cat_new = false;
        for (size_t i = 0; i < n->pl_n_cat; i++) {
            if (wp_router_model_find(n->view, n->pl_cat[i].name) < 0) {
                grew = model_register(n, &n->pl_cat[i]) >= 0 || grew;
            }
        }
    }
    if (n->pl_changed || grew)
        apply_assignment(n);
    drain_rsock(n);
}

static void on_pl_timer(uv_timer_t *t)
{
    node *n = t->data;
    if (n->pl_busy || n->stopping)
        return;
    /* Measured request rates per model (this node as an ingress) go with
     * the heartbeat: the optimizer's demand when nodes report it. */
    size_t nm = wp_router_model_count(n->view);
    if (nm > n->rate_cap) {
        uint64_t *rc = realloc(n->rate_count, nm * sizeof *rc);
        wp_placement_rate *pr = realloc(n->pl_rates, nm * sizeof *pr);
        if (rc) {
            memset(rc + n->rate_cap, 0, (nm - n->rate_cap) * sizeof *rc);
            n->rate_count = rc;
        }
        if (pr)
            n->pl_rates = pr;
        if (rc && pr)
            n->rate_cap = nm;
    }
    uint64_t now = wp_clock_monotonic_ns();
    double el_s = n->rate_since_ns ? (double)(now - n->rate_since_ns) / 1e9 : 0.0;
    n->pl_n_rates = 0;
    for (size_t i = 0; i < n->rate_cap && el_s > 0; i++) {
        if (!n->rate_count[i])
            continue;
        /* Only models the placement catalog has (a demand entry naming an
         * unknown model would be refused). */
        const char *name = wp_router_model_name(n->view, (uint32_t)i);
        bool known = false;
        for (size_t k = 0; k < n->pl_n_cat && !known; k++)
            known = strcmp(n->pl_cat[k].name, name) == 0;
        if (!known)
            continue;
        wp_placement_rate *pr = &n->pl_rates[n->pl_n_rates++];
        snprintf(pr->model, sizeof pr->model, "%s", name);
        pr->requests_per_s = (double)n->rate_count[i] / el_s;
    }
    if (n->rate_cap)
        memset(n->rate_count, 0, n->rate_cap * sizeof *n->rate_count);
    n->rate_since_ns = now;
    n->pl_busy = true;
    n->pl_req.data = n;
    if (uv_queue_work(&n->loop, &n->pl_req, pl_work, pl_after) != 0)
        n->pl_busy = false;
}

/* ---------------------------------------------------------------- request path: shutdown */

/* Answers everything in flight before the sockets close: target jobs get
 * SHUTTING_DOWN (the ingress retries elsewhere), held WAN sends go out now,
 * and every pending ingress request is answered SHUTTING_DOWN. */
static void reqpath_shutdown(node *n)
{
    if (n->gw && n->gpu_kind != WP_GPU_MODEL) {
        uv_mutex_lock(&n->wmu);
        n->wquit = true;
        uv_cond_signal(&n->wcond);
        uv_mutex_unlock(&n->wmu);
        if (n->wthread_on) {
            uv_thread_join(&n->wthread);
            n->wthread_on = false;
        }
        /* Completions the thread left: finish them as they are. */
        uv_mutex_lock(&n->wmu);
        tgt_job *list = n->wdone;
        n->wdone = NULL;
        wop *ops = n->wops_head;
        n->wops_head = n->wops_tail = NULL;
        uv_mutex_unlock(&n->wmu);
        while (list) {
            tgt_job *nx = list->done_next;
            finish_job(n, list, list->done_error, &list->done_res);
            list = nx;
        }
        while (ops) {
            wop *nx = ops->next;
            free(ops->names);
            free(ops);
            ops = nx;
        }
    }
    while (n->jobs) {
        tgt_job *j = n->jobs;
        job_unlink(n, j);
        if (!j->local)
            target_error(n, j->hop_id, j->reply_addr, 0, false,
                         WARMPATH__INFER__STATUS__SHUTTING_DOWN,
                         "target shut down before finishing");
        job_free(j);
    }
    while (n->la_head) {
        lanswer *a = n->la_head;
        n->la_head = a->next;
        free(a->data);
        free(a);
    }
    n->la_tail = NULL;
    while (n->n_dq)
        dq_send(n, dq_pop(n));
    /* Requests already queued on the endpoint but not read yet. */
    if (n->rsock_on)
        drain_rsock_any(n);
    uint64_t hop;
    void *u;
    size_t answered = 0;
    while (n->ing && wp_reqtab_first(n->ing, &hop, &u)) {
        wp_reqtab_close(n->ing, hop);
        ing_error(n, u, WARMPATH__INFER__STATUS__SHUTTING_DOWN,
                  "ingress %s shut down before the answer came", n->id);
        answered++;
    }
    if (answered)
        WP_INFO(n->id, "shutdown: answered %zu pending request(s) with SHUTTING_DOWN", answered);
    WP_INFO(n->id,
            "request path: %llu in, %llu ok, %llu errors (%llu bad), %llu retries, %llu "
            "forwarded, %llu served here, %llu late answers dropped, %llu client sends dropped",
            (unsigned long long)n->st_in, (unsigned long long)n->st_ok,
            (unsigned long long)n->st_err, (unsigned long long)n->st_bad,
            (unsigned long long)n->st_retries, (unsigned long long)n->st_fwd,
            (unsigned long long)n->st_served, (unsigned long long)n->st_late,
            (unsigned long long)n->st_client_drops);
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
    reqpath_shutdown(n);
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
    if (n->rsock_on)
        close_handle((uv_handle_t *)&n->rsock_poll);
    close_handle((uv_handle_t *)&n->req_timer);
    close_handle((uv_handle_t *)&n->view_timer);
    close_handle((uv_handle_t *)&n->dq_timer);
    close_handle((uv_handle_t *)&n->gpu_timer);
    close_handle((uv_handle_t *)&n->cap_timer);
    close_handle((uv_handle_t *)&n->pl_timer);
    if (n->gpu_kind != WP_GPU_MODEL && n->gw)
        close_handle((uv_handle_t *)&n->wasync);
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
    "               [--request ADDR] [--placement ADDR,...] [--gpu-backend cuda|cpu|model]\n"
    "               [--model-file NAME=PATH]... [--hop-timeout-floor-ms MS] [--log-level L]\n"
    "               [--rtt-params FILE]\n\n"
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
    "                   two cities (topology RTT / 2), to emulate a WAN on one host;\n"
    "                   a client's leg also carries its access latency (v2 model)\n"
    "  --rtt-params F   RTT model parameters (wpctl topo fit --out F; default: the\n"
    "                   shipped v2 model)\n"
    "  --state-dir D    keeps the incarnation so a restart rejoins with a higher one\n"
    "  --admin ADDR     admin endpoint to bind (ZeroMQ REP), e.g. tcp://127.0.0.1:7101\n"
    "  --probe-interval-ms MS   SWIM probe interval (default 1000, memberlist LAN)\n"
    "  --probe-timeout-ms MS    direct probe timeout (default 500)\n"
    "  --gossip-interval-ms MS  gossip interval (default 200)\n"
    "  --push-pull-s S          full-state sync interval (default 30)\n"
    "  --dead-reap-s S          dead members are kept (and gossiped to) this long (default 30)\n"
    "  --request ADDR   client-facing request endpoint (ZeroMQ ROUTER, frames of\n"
    "                   proto/inference.proto): every node is an ingress that routes\n"
    "                   to the nearest warm GPU, forwards, retries once, answers once\n"
    "  --placement LIST wp-placement API addresses (comma-separated): register,\n"
    "                   heartbeat and fetch the assignment about once a second, keep\n"
    "                   the assigned models warm, learn the catalog\n"
    "  --gpu-backend B  cuda | cpu | model. model is a TIMING MODEL: no compute,\n"
    "                   service and cold-load times from the catalog's latency\n"
    "                   profiles (default: cuda when a device exists, else model)\n"
    "  --model-file NAME=PATH  llama2.c checkpoint serving model NAME (cpu/cuda;\n"
    "                   repeatable; `wpctl model gen` writes one)\n"
    "  --gpus N / --gpu-mem-gb G  also the worker's capacity: G GiB of GPU memory\n"
    "  --hop-timeout-floor-ms MS  floor of a forward attempt's deadline (default\n"
    "                   250; deadline = floor + 2 x the expected cost)\n"
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
        {"request", required_argument, NULL, 7},
        {"placement", required_argument, NULL, 8},
        {"gpu-backend", required_argument, NULL, 9},
        {"model-file", required_argument, NULL, 10},
        {"hop-timeout-floor-ms", required_argument, NULL, 11},
        {"rtt-params", required_argument, NULL, 12},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static node nd;
    node *n = &nd;
    memset(n, 0, sizeof *n);
    n->my_city = -1;
    n->gpu_tfd = -1;
    const char *city = NULL, *id = NULL, *bind = NULL, *join = NULL, *admin = NULL;
    const char *request = NULL, *placement = NULL, *rtt_params = NULL;
    int gpu_kind = -1;
    char mf_name[32][WP_NAME_MAX];
    const char *mf_path[32];
    size_t n_mf = 0;
    n->hop_floor_ns = 250 * WP_NS_PER_MS;
    n->self_rn = -1;
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
        case 7: request = optarg; break;
        case 8: placement = optarg; break;
        case 12: rtt_params = optarg; break;
        case 9:
            if (wp_gpu_kind_parse(optarg, &gpu_kind) != WP_OK)
                return usage_error("--gpu-backend must be cuda, cpu or model, got '%s'", optarg);
            break;
        case 10: {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || !eq[1] || (size_t)(eq - optarg) >= WP_NAME_MAX)
                return usage_error("--model-file wants NAME=PATH, got '%s'", optarg);
            if (n_mf == WP_ARRAY_LEN(mf_name))
                return usage_error("at most %zu --model-file", WP_ARRAY_LEN(mf_name));
            snprintf(mf_name[n_mf], WP_NAME_MAX, "%.*s", (int)(eq - optarg), optarg);
            mf_path[n_mf++] = eq + 1;
            break;
        }
        case 11:
            if (parse_ms(optarg, 1, 600000, &n->hop_floor_ns))
                return usage_error("--hop-timeout-floor-ms must be 1..600000, got '%s'", optarg);
            break;
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

    /* The RTT model for WAN emulation: --rtt-params FILE, else the v2 default. */
    wp_rtt_params rtt;
    wp_rtt_params_default(&rtt);
    if (rtt_params && wp_rtt_params_load(rtt_params, &rtt, &err)) {
        fprintf(stderr, "wp-node: %s\n", wp_err_text(&err));
        return 2;
    }
    if (wp_topo_load_preset("edge", &rtt, &n->topo, &err)) {
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
        (admin && normalize_addr(admin, n->admin_addr, sizeof n->admin_addr)) ||
        (request && normalize_addr(request, n->request_addr, sizeof n->request_addr))) {
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
    if (n->request_addr[0]) {
        n->rsock = zmq_socket(n->zctx, ZMQ_ROUTER);
        int hwm = 100000;
        zmq_setsockopt(n->rsock, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(n->rsock, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(n->rsock, ZMQ_RCVHWM, &hwm, sizeof hwm);
        /* Frames up to 4 x the cap are read and answered BAD_REQUEST (the
         * header check refuses them); beyond that ZeroMQ drops the
         * connection before we see anything. */
        int64_t reqmax = 4 * (int64_t)WP_FRAME_MAX_BYTES;
        zmq_setsockopt(n->rsock, ZMQ_MAXMSGSIZE, &reqmax, sizeof reqmax);
        if (zmq_bind(n->rsock, n->request_addr) != 0) {
            fprintf(stderr, "wp-node: bind request %s: %s\n", n->request_addr,
                    zmq_strerror(zmq_errno()));
            goto out_zmq;
        }
        n->rsock_on = true;
    }
    /* The request path: router view over the edge preset's cities, the
     * catalog (the simulator's default models; placement adds its own),
     * the GPU worker, the pending-request table. */
    {
        wp_router_config rc_cfg = {.ncities = wp_topo_count(n->topo), .rtt_ms = rtt_fn,
                                   .rtt_ctx = n->topo, .queue_per_slot = 8.0};
        n->gpu_kind = gpu_kind >= 0 ? gpu_kind : wp_gpu_kind_default();
        n->gpus = (uint32_t)gpus;
        n->gpu_cap_bytes = (uint64_t)(mem_gb * 1073741824.0);
        n->tx = malloc(WP_INFER_HDR_BYTES + WP_FRAME_MAX_BYTES);
        if (!n->tx || wp_router_view_new(&rc_cfg, &n->view, &err) ||
            wp_reqtab_new(ING_CAPACITY, &n->ing, &err)) {
            fprintf(stderr, "wp-node: request path: %s\n", wp_err_text(&err));
            goto out_zmq;
        }
        wp_gpu_worker_config wc = {.kind = n->gpu_kind, .capacity_bytes = n->gpu_cap_bytes,
                                   .max_batch = WP_RES_MAX_BATCH, .max_queue = 4096,
                                   .on_done = on_gpu_done, .ctx = n, .log = n->logger,
                                   .gpus = n->gpus};
        if (n->gpu_cap_bytes == 0 || n->gpus == 0) {
            n->gw = NULL; /* no GPU memory: an ingress only, never a target */
        } else if (wp_gpu_worker_new(&wc, &n->gw, &err)) {
            fprintf(stderr, "wp-node: GPU worker (%s): %s\n", wp_gpu_kind_name(n->gpu_kind),
                    wp_err_text(&err));
            goto out_zmq;
        }
        for (size_t i = 0; i < wp_sim_catalog_count(); i++)
            model_register(n, wp_sim_catalog_model(i));
        for (size_t i = 0; i < n_mf; i++) {
            if (n->gpu_kind == WP_GPU_MODEL) {
                fprintf(stderr, "wp-node: --model-file needs --gpu-backend cpu or cuda (the "
                                "timing model uses the catalog's profiles)\n");
                goto out_zmq;
            }
            if (!n->gw) {
                fprintf(stderr, "wp-node: --model-file needs --gpus and --gpu-mem-gb\n");
                goto out_zmq;
            }
            if (wp_gpu_worker_add_model(n->gw, mf_name[i], mf_path[i], NULL, &err)) {
                fprintf(stderr, "wp-node: --model-file %s: %s\n", mf_name[i], wp_err_text(&err));
                goto out_zmq;
            }
            int mi = wp_router_model_find(n->view, mf_name[i]);
            if (mi < 0) {
                /* Not in the catalog: a profile for routing estimates only. */
                wp_llama_config lc;
                wp_model_profile p;
                memset(&p, 0, sizeof p);
                snprintf(p.name, sizeof p.name, "%s", mf_name[i]);
                if (wp_llama_read_config(mf_path[i], &lc, &err) == WP_OK)
                    p.size_bytes = wp_llama_mem_bytes(&lc);
                p.prefill_base_ms = 1;
                p.prefill_ms_per_token = 0.1;
                p.decode_ms_per_token = 5;
                p.slots_per_gpu = 1;
                p.load_bytes_per_s = 1e9;
                p.load_fixed_ms = 50;
                p.typical_in_tokens = 16;
                p.typical_out_tokens = 16;
                mi = model_register(n, &p);
            }
            if (mi >= 0)
                n->served[mi] = true;
        }
        if (placement && wp_placement_client_new_list(placement, 800, &n->pc, &err)) {
            fprintf(stderr, "wp-node: --placement: %s\n", wp_err_text(&err));
            goto out_zmq;
        }
    }

    n->gpu_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (n->gpu_tfd < 0) {
        fprintf(stderr, "wp-node: GPU timer (timerfd_create): %s\n", strerror(errno));
        goto out_zmq;
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
    if (n->rsock_on) {
        fdsz = sizeof fd;
        zmq_getsockopt(n->rsock, ZMQ_FD, &fd, &fdsz);
        uv_poll_init(&n->loop, &n->rsock_poll, fd);
        n->rsock_poll.data = n;
        uv_poll_start(&n->rsock_poll, UV_READABLE, on_rsock_poll);
    }
    uv_timer_init(&n->loop, &n->req_timer);
    n->req_timer.data = n;
    n->req_timer_at = UINT64_MAX;
    uv_timer_init(&n->loop, &n->view_timer);
    n->view_timer.data = n;
    uv_timer_start(&n->view_timer, on_view_timer, 0, 100);
    uv_timer_init(&n->loop, &n->dq_timer);
    n->dq_timer.data = n;
    n->dq_timer_at = UINT64_MAX;
    uv_poll_init(&n->loop, &n->gpu_timer, n->gpu_tfd); /* a valid fd: cannot fail */
    n->gpu_timer.data = n;
    n->gpu_timer_at = UINT64_MAX;
    uv_poll_start(&n->gpu_timer, UV_READABLE, on_gpu_timer);
    uv_timer_init(&n->loop, &n->cap_timer);
    n->cap_timer.data = n;
    uv_timer_start(&n->cap_timer, on_cap_timer, 50, 200);
    uv_timer_init(&n->loop, &n->pl_timer);
    n->pl_timer.data = n;
    if (n->pc)
        uv_timer_start(&n->pl_timer, on_pl_timer, 0, 1000);
    if (n->gpu_kind != WP_GPU_MODEL && n->gw) {
        uv_mutex_init(&n->wmu);
        uv_cond_init(&n->wcond);
        uv_async_init(&n->loop, &n->wasync, on_wasync);
        n->wasync.data = n;
        if (uv_thread_create(&n->wthread, wthread_main, n) == 0)
            n->wthread_on = true;
    }
    view_sync(n);

    char model[256];
    wp_rtt_params_describe(wp_topo_params(n->topo), model, sizeof model);
    WP_INFO(n->id, "up: city %s, gossip %s, admin %s, incarnation %llu, wan emulation %s "
            "(RTT model: %s)",
            n->city, n->bind_addr, n->admin_addr[0] ? n->admin_addr : "off",
            (unsigned long long)inc, n->emulate_wan ? "on" : "off", model);
    WP_INFO(n->id, "request endpoint %s, GPU backend %s, %u GPU(s), %.1f GiB, %zu model(s) in "
            "the catalog, placement %s",
            n->request_addr[0] ? n->request_addr : "off",
            n->gw ? wp_gpu_kind_name(n->gpu_kind) : "none (no GPU memory: ingress only)",
            n->gpus, (double)n->gpu_cap_bytes / 1073741824.0, n->n_cat,
            placement ? placement : "off");
    if (n->n_joins)
        uv_timer_start(&n->join_timer, on_join_timer, 0, 1000);
    arm_gossip_timer(n);
    /* Bind done: check the edges once before waiting on them. */
    drain_pull(n);
    drain_admin(n);
    drain_rsock(n);

    uv_run(&n->loop, UV_RUN_DEFAULT);
    int lc = uv_loop_close(&n->loop);
    if (lc != 0)
        WP_ERROR(n->id, "uv_loop_close: %s", uv_strerror(lc));
    rc = lc == 0 ? 0 : 1;
out_zmq:
    if (n->gpu_tfd >= 0) /* after the loop closed its poll handle */
        close(n->gpu_tfd);
    for (size_t i = 0; i < n->n_peers; i++) {
        int linger = 300;
        zmq_setsockopt(n->peers[i].sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(n->peers[i].sock);
    }
    if (n->pull)
        zmq_close(n->pull);
    if (n->admin)
        zmq_close(n->admin);
    if (n->rsock) {
        int linger = 500; /* the SHUTTING_DOWN answers get out */
        zmq_setsockopt(n->rsock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(n->rsock);
    }
    if (n->wthread_on) { /* an early exit before the loop ran */
        uv_mutex_lock(&n->wmu);
        n->wquit = true;
        uv_cond_signal(&n->wcond);
        uv_mutex_unlock(&n->wmu);
        uv_thread_join(&n->wthread);
    }
    wp_placement_client_free(n->pc);
    free(n->rate_count);
    free(n->pl_rates);
    free(n->pl_models);
    free(n->pl_cat);
    wp_gpu_worker_free(n->gw);
    while (n->jobs) {
        tgt_job *j = n->jobs;
        job_unlink(n, j);
        job_free(j);
    }
    {
        uint64_t hop;
        void *u;
        while (n->ing && wp_reqtab_first(n->ing, &hop, &u)) {
            wp_reqtab_close(n->ing, hop);
            ing_free(u);
        }
    }
    while (n->n_dq) {
        dsend *d = dq_pop(n);
        free(d->data);
        free(d);
    }
    free(n->dq);
    wp_reqtab_free(n->ing);
    wp_router_view_free(n->view);
    free(n->rn);
    free(n->cat);
    free(n->served);
    free(n->tx);
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
