/* placement/daemon.c — wp-placement: the Raft-backed placement service.
 *
 * One libuv loop drives everything: canonical raft (consensus/), the
 * ZeroMQ ROUTER socket of the API (polled through ZMQ_FD, which is
 * edge-triggered: every wake-up drains ZMQ_EVENTS until no POLLIN is left,
 * and the socket is re-checked after bind and — through a zero-delay timer,
 * to avoid re-entering raft from its own callbacks — after every send made
 * outside the poll callback), signals and a 250 ms tick.
 *
 * Requests (proto/placement.proto): status is answered by any server;
 * everything else by the leader only (a follower answers NOT_LEADER with
 * the leader's API address when it knows it). Writes are proposed through
 * raft and answered from the apply callback with the state machine's
 * result; reads are answered from the leader's applied state. A new leader
 * first commits a barrier and answers NO_LEADER ("catching up") until it
 * is applied: raft 0.15 appends nothing on election, so without it a
 * restarted cluster's leader would serve an empty state until the next
 * write. Role changes are polled in a uv_check (no callback in raft 0.15).
 *
 * Leader-local duties on the tick (not replicated, rebuilt by a new leader):
 *   - liveness: a node that sent no heartbeat for --node-timeout-ms is
 *     marked down by a NODE_UP command (and up again on its next
 *     heartbeat); a new leader gives every node a full timeout first;
 *   - demand: request rates from heartbeats, summed per (node city, model)
 *     over the nodes heard from in the last 30 s, are committed as a
 *     SET_DEMAND command at most every --demand-period-ms (10 s) when the
 *     set of (city, model) keys changed or the total moved by over 20%.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <zmq.h>

#include "auth/auth.h"
#include "consensus/consensus.h"
#include "placement/pmetrics.h"
#include "placement/client.h"
#include "placement/placement.h"

typedef Warmpath__Placement__Request PlReq;
typedef Warmpath__Placement__Response PlResp;

#define TICK_MS 250
#define DEMAND_WINDOW_MS 30000
#define MAX_LIVE 4096
#define MAX_RATES 64

typedef struct live {
    char id[WP_NAME_MAX];
    uint64_t seen_ms;
    bool pending; /* a NODE_UP proposal is in flight */
    size_t n_rates;
    wp_placement_rate rates[MAX_RATES];
} live;

typedef struct daemon {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm, sighup;
    uv_poll_t zpoll;
    uv_timer_t tick, kick;
    uv_check_t check;
    void *zctx, *zsock;
    void *zmon;               /* PAIR reading zsock's monitor events */
    wp_zap *zap;              /* --keys: CurveZMQ on zsock (auth/auth.h); NULL: plain */
    uint64_t refused_log_ms, refused_unlogged;
    uint64_t replies_dropped; /* client at its high-water mark, or gone */
    uint64_t api_disconnects; /* incl. connections closed for oversized frames */
    uint64_t api_protocol_errors;
    wp_consensus *cons;
    wp_topology *topo;
    wp_place_geo geo;
    wp_place_state *state;
    wp_place_result last_result;
    wp_consensus_server servers[WP_CONSENSUS_MAX_SERVERS];
    char api[WP_CONSENSUS_MAX_SERVERS][WP_CONSENSUS_ADDR_MAX];
    size_t n_servers;
    uint64_t id;
    char bind[WP_CONSENSUS_ADDR_MAX]; /* API socket, as bound (may be a wildcard) */
    uint64_t node_timeout_ms;
    uint64_t demand_period_ms;
    uint64_t election_ms;
    bool stopping, was_leader;
    bool ready;           /* leader whose barrier has been applied */
    bool barrier_pending;
    uint64_t barrier_at_ms;   /* when the pending barrier was proposed */
    uint64_t ready_term;
    int exit_code;
    live *live;
    size_t n_live;
    uint64_t last_demand_ms;
    double last_demand_total;
    char last_demand_sig[4096];
    bool demand_pending;
    uint64_t started_ms;
    wp_pmetrics *pm; /* --metrics (pmetrics.c) */
} daemon_t;

static uint64_t now_ms(void)
{
    return wp_clock_monotonic_ns() / WP_NS_PER_MS;
}

/* ---------------------------------------------------------------- replies */

static void on_kick(uv_timer_t *t);

/* A send made outside the poll callback: re-check ZMQ_EVENTS on the next
 * loop iteration (not here: we may be inside a raft callback). */
static void zmq_kick(daemon_t *d)
{
    if (!d->stopping)
        uv_timer_start(&d->kick, on_kick, 0, 0);
}

static void send_reply(daemon_t *d, const void *rid, size_t rid_len, PlResp *resp, bool outside)
{
    void *buf;
    size_t len;
    wp_err err = {0};
    if (wp_pl_frame_response(resp, &buf, &len, &err) != WP_OK) {
        /* Typically an answer over the frame limit (a huge assignment):
         * answer with the reason instead of leaving the client to time out. */
        WP_WARN("placement", "reply: %s", wp_err_text(&err));
        PlResp small = WARMPATH__PLACEMENT__RESPONSE__INIT;
        char why[WP_ERRMSG_LEN + 32];
        snprintf(why, sizeof why, "answer not sent: %s", wp_err_text(&err));
        small.request_id = resp->request_id;
        small.code = WARMPATH__PLACEMENT__CODE__UNAVAILABLE;
        small.error = why;
        small.version = resp->version;
        if (wp_pl_frame_response(&small, &buf, &len, &err) != WP_OK)
            return;
    }
    /* ZMQ_ROUTER_MANDATORY: a client at its high-water mark (it does not
     * read) makes the send fail with EAGAIN instead of blocking or queueing
     * more; the reply is dropped and counted, and the client times out. */
    if (zmq_send(d->zsock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(d->zsock, buf, len, ZMQ_DONTWAIT) < 0) {
        d->replies_dropped++;
        WP_DEBUG("placement", "reply dropped: %s", zmq_strerror(errno));
    }
    free(buf);
    if (outside)
        zmq_kick(d);
}

static void reply_code(daemon_t *d, const void *rid, size_t rid_len, uint64_t req_id, int code,
                       const char *msg, bool outside)
{
    PlResp r = WARMPATH__PLACEMENT__RESPONSE__INIT;
    r.request_id = req_id;
    r.code = code;
    r.error = (char *)(msg ? msg : "");
    r.version = wp_place_state_version(d->state);
    send_reply(d, rid, rid_len, &r, outside);
}

static const char *leader_api(daemon_t *d, uint64_t *leader_id)
{
    wp_consensus_status st;
    wp_consensus_get_status(d->cons, &st);
    *leader_id = st.leader_id;
    for (size_t i = 0; i < d->n_servers; i++)
        if (d->servers[i].id == st.leader_id)
            return d->api[i];
    return "";
}

/* ---------------------------------------------------------------- writes */

typedef struct pending {
    daemon_t *d;
    uint64_t req_id;
    size_t rid_len;
    uint8_t rid[256];
    bool reply;            /* false: internal proposal (liveness, demand) */
    char node[WP_NAME_MAX];/* NODE_UP: the node whose flag clears */
    bool demand;
} pending;

static live *find_live(daemon_t *d, const char *id, bool create)
{
    for (size_t i = 0; i < d->n_live; i++)
        if (strcmp(d->live[i].id, id) == 0)
            return &d->live[i];
    if (!create)
        return NULL;
    if (d->n_live >= MAX_LIVE) {
        /* Full. Entries are made when a request names a node, before the
         * registry has accepted it, so refused or removed registrations
         * leave entries behind; without reclaiming them, 4096 bogus
         * register requests would leave every later node untracked (never
         * marked down, its request rates dropped). Reuse one whose node is
         * not in the registry. */
        size_t i = 0;
        while (i < d->n_live &&
               (d->live[i].pending || wp_place_state_find_node(d->state, d->live[i].id) >= 0))
            i++;
        if (i == d->n_live)
            return NULL;
        d->live[i] = d->live[--d->n_live];
    }
    live *l = &d->live[d->n_live++];
    memset(l, 0, sizeof *l);
    snprintf(l->id, sizeof l->id, "%s", id);
    l->seen_ms = now_ms();
    return l;
}

static void applied(void *data, int status, const char *errmsg, const void *result)
{
    pending *p = data;
    daemon_t *d = p->d;
    if (p->node[0]) {
        live *l = find_live(d, p->node, false);
        if (l)
            l->pending = false;
    }
    if (p->demand)
        d->demand_pending = false;
    if (p->reply && !d->stopping) {
        if (status != 0) {
            reply_code(d, p->rid, p->rid_len, p->req_id,
                       status == WP_EUNKNOWN ? WARMPATH__PLACEMENT__CODE__OUTCOME_UNKNOWN
                                             : WARMPATH__PLACEMENT__CODE__UNAVAILABLE,
                       errmsg, true);
        } else {
            const wp_place_result *r = result;
            PlResp resp = WARMPATH__PLACEMENT__RESPONSE__INIT;
            resp.request_id = p->req_id;
            resp.code = r->code == WP_OK ? WARMPATH__PLACEMENT__CODE__OK
                                         : WARMPATH__PLACEMENT__CODE__REFUSED;
            resp.error = (char *)(r->code == WP_OK ? "" : r->msg);
            resp.version = r->version;
            send_reply(d, p->rid, p->rid_len, &resp, true);
        }
    } else if (status == 0 && ((const wp_place_result *)result)->code != WP_OK) {
        WP_DEBUG("placement", "internal command refused: %s",
                 ((const wp_place_result *)result)->msg);
    }
    free(p);
}

/* Proposes cmd; on failure answers the client (if any) right away. */
static void propose(daemon_t *d, const wp_place_cmd *cmd, pending *p, bool outside)
{
    void *buf;
    size_t len;
    wp_err err = {0};
    int rv = wp_place_cmd_encode(cmd, &buf, &len, &err);
    if (rv == WP_OK) {
        rv = wp_consensus_apply(d->cons, buf, len, applied, p, &err);
        free(buf);
    }
    if (rv == WP_OK)
        return;
    if (p->reply)
        reply_code(d, p->rid, p->rid_len, p->req_id,
                   rv == WP_ENOLEADER ? WARMPATH__PLACEMENT__CODE__NO_LEADER
                   : rv == WP_ETOOBIG ? WARMPATH__PLACEMENT__CODE__BAD_REQUEST
                                      : WARMPATH__PLACEMENT__CODE__UNAVAILABLE,
                   wp_err_text(&err), outside);
    if (p->node[0]) {
        live *l = find_live(d, p->node, false);
        if (l)
            l->pending = false;
    }
    if (p->demand)
        d->demand_pending = false;
    free(p);
}

static pending *new_pending(daemon_t *d, const void *rid, size_t rid_len, uint64_t req_id)
{
    pending *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->d = d;
    p->req_id = req_id;
    if (rid != NULL) {
        p->reply = true;
        p->rid_len = rid_len < sizeof p->rid ? rid_len : sizeof p->rid;
        memcpy(p->rid, rid, p->rid_len);
    }
    return p;
}

/* ---------------------------------------------------------------- reads */

static void reply_status(daemon_t *d, const void *rid, size_t rid_len, uint64_t req_id)
{
    wp_consensus_status st;
    wp_consensus_get_status(d->cons, &st);
    Warmpath__Placement__StatusInfo info = WARMPATH__PLACEMENT__STATUS_INFO__INIT;
    Warmpath__Placement__ServerInfo sv[WP_CONSENSUS_MAX_SERVERS];
    Warmpath__Placement__ServerInfo *svp[WP_CONSENSUS_MAX_SERVERS];
    uint64_t lid;
    info.id = d->id;
    info.role = (char *)wp_consensus_role_name(st.role);
    info.leader_address = (char *)leader_api(d, &lid);
    info.leader_id = st.leader_id;
    info.term = st.term;
    info.commit_index = st.commit_index;
    info.last_applied = st.last_applied;
    info.last_index = st.last_index;
    for (size_t i = 0; i < d->n_servers; i++) {
        warmpath__placement__server_info__init(&sv[i]);
        sv[i].id = d->servers[i].id;
        sv[i].raft_address = d->servers[i].address;
        sv[i].api_address = d->api[i];
        svp[i] = &sv[i];
    }
    info.n_servers = d->n_servers;
    info.servers = svp;
    info.nodes = wp_place_state_node_count(d->state);
    info.models = wp_place_state_model_count(d->state);
    info.pins = wp_place_state_pin_count(d->state);
    info.demand_entries = wp_place_state_demand_count(d->state);
    info.replies_dropped = d->replies_dropped;
    info.api_disconnects = d->api_disconnects;
    info.api_protocol_errors = d->api_protocol_errors;
    info.raft_restarts = st.restarts;
    PlResp r = WARMPATH__PLACEMENT__RESPONSE__INIT;
    r.request_id = req_id;
    r.version = wp_place_state_version(d->state);
    r.body_case = WARMPATH__PLACEMENT__RESPONSE__BODY_STATUS;
    r.status = &info;
    send_reply(d, rid, rid_len, &r, false);
}

static void reply_assignment(daemon_t *d, const void *rid, size_t rid_len, uint64_t req_id,
                             const char *only)
{
    const wp_place_state *s = d->state;
    const wp_place_geo *g = &d->geo;
    const wp_place_solution *a = wp_place_state_assignment(s);
    size_t nn = wp_place_state_node_count(s), np = wp_place_state_pin_count(s);
    Warmpath__Placement__NodeAssignment *na = calloc(nn + 1, sizeof *na);
    Warmpath__Placement__NodeAssignment **nap = calloc(nn + 1, sizeof *nap);
    Warmpath__Placement__Replica *rep = calloc(a->n + 1, sizeof *rep);
    Warmpath__Placement__Replica **repp = calloc(a->n + 1, sizeof *repp);
    Warmpath__Placement__PinInfo *pi = calloc(np + 1, sizeof *pi);
    Warmpath__Placement__PinInfo **pip = calloc(np + 1, sizeof *pip);
    if (!na || !nap || !rep || !repp || !pi || !pip) {
        reply_code(d, rid, rid_len, req_id, WARMPATH__PLACEMENT__CODE__UNAVAILABLE,
                   "out of memory", false);
        goto done;
    }
    Warmpath__Placement__Assignment out = WARMPATH__PLACEMENT__ASSIGNMENT__INIT;
    size_t k = 0; /* replicas are sorted by node */
    for (size_t i = 0; i < nn; i++) {
        const wp_place_node *n = wp_place_state_node(s, i);
        size_t first = k;
        while (k < a->n && a->replicas[k].node == i) {
            warmpath__placement__replica__init(&rep[k]);
            rep[k].model = (char *)wp_place_state_model(s, a->replicas[k].model)->name;
            rep[k].pinned = a->replicas[k].pinned;
            repp[k] = &rep[k];
            k++;
        }
        if (only && only[0] && strcmp(only, n->id) != 0)
            continue;
        Warmpath__Placement__NodeAssignment *x = &na[out.n_nodes];
        warmpath__placement__node_assignment__init(x);
        x->node_id = (char *)n->id;
        x->city = g->cities[n->city].code;
        x->gpus = n->gpus;
        x->gpu_mem_bytes = n->gpu_mem_bytes;
        x->up = n->up;
        x->n_models = k - first;
        x->models = &repp[first];
        nap[out.n_nodes++] = x;
    }
    for (size_t i = 0; i < np; i++) {
        const wp_place_pin *p = wp_place_state_pin(s, i);
        warmpath__placement__pin_info__init(&pi[i]);
        pi[i].model = (char *)p->model;
        pi[i].city = g->cities[p->city].code;
        pi[i].replicas = p->replicas;
        pi[i].placed = i < a->n_pins ? a->pin_placed[i] : 0;
        pip[i] = &pi[i];
    }
    out.nodes = nap;
    out.pins = pip;
    out.n_pins = (only && only[0]) ? 0 : np;
    out.cost_ms = a->cost_ms;
    PlResp r = WARMPATH__PLACEMENT__RESPONSE__INIT;
    r.request_id = req_id;
    r.version = wp_place_state_version(s);
    r.body_case = WARMPATH__PLACEMENT__RESPONSE__BODY_ASSIGNMENT;
    r.assignment = &out;
    send_reply(d, rid, rid_len, &r, false);
done:
    free(na);
    free(nap);
    free(rep);
    free(repp);
    free(pi);
    free(pip);
}

static void reply_catalog(daemon_t *d, const void *rid, size_t rid_len, uint64_t req_id)
{
    size_t n = wp_place_state_model_count(d->state);
    Warmpath__Placement__ModelProfile *m = calloc(n + 1, sizeof *m);
    Warmpath__Placement__ModelProfile **mp = calloc(n + 1, sizeof *mp);
    if (!m || !mp) {
        reply_code(d, rid, rid_len, req_id, WARMPATH__PLACEMENT__CODE__UNAVAILABLE,
                   "out of memory", false);
    } else {
        for (size_t i = 0; i < n; i++) {
            const wp_model_profile *p = wp_place_state_model(d->state, i);
            warmpath__placement__model_profile__init(&m[i]);
            m[i].name = (char *)p->name;
            m[i].size_bytes = p->size_bytes;
            m[i].prefill_base_ms = p->prefill_base_ms;
            m[i].prefill_ms_per_token = p->prefill_ms_per_token;
            m[i].decode_ms_per_token = p->decode_ms_per_token;
            m[i].slots_per_gpu = p->slots_per_gpu;
            m[i].load_bytes_per_s = p->load_bytes_per_s;
            m[i].load_fixed_ms = p->load_fixed_ms;
            m[i].typical_in_tokens = p->typical_in_tokens;
            m[i].typical_out_tokens = p->typical_out_tokens;
            mp[i] = &m[i];
        }
        Warmpath__Placement__Catalog c = WARMPATH__PLACEMENT__CATALOG__INIT;
        c.n_models = n;
        c.models = mp;
        PlResp r = WARMPATH__PLACEMENT__RESPONSE__INIT;
        r.request_id = req_id;
        r.version = wp_place_state_version(d->state);
        r.body_case = WARMPATH__PLACEMENT__RESPONSE__BODY_CATALOG;
        r.catalog = &c;
        send_reply(d, rid, rid_len, &r, false);
    }
    free(m);
    free(mp);
}

/* ---------------------------------------------------------------- requests */

static bool nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static void copy_field(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* Checks the fields an operation needs; NULL if fine, else the reason. */
static const char *validate(const PlReq *q)
{
    switch (q->op_case) {
    case WARMPATH__PLACEMENT__REQUEST__OP_REGISTER_NODE:
        if (!q->register_node || !nonempty(q->register_node->node_id) ||
            !nonempty(q->register_node->city))
            return "register_node needs node_id and city";
        if (strlen(q->register_node->node_id) >= WP_NAME_MAX ||
            strlen(q->register_node->city) >= WP_PLACE_CODE_MAX)
            return "register_node: node_id or city too long";
        return NULL;
    case WARMPATH__PLACEMENT__REQUEST__OP_HEARTBEAT:
        if (!q->heartbeat || !nonempty(q->heartbeat->node_id))
            return "heartbeat needs node_id";
        for (size_t i = 0; i < q->heartbeat->n_rates; i++)
            if (!q->heartbeat->rates[i] || !nonempty(q->heartbeat->rates[i]->model) ||
                !(q->heartbeat->rates[i]->requests_per_s >= 0) ||
                !isfinite(q->heartbeat->rates[i]->requests_per_s))
                return "heartbeat: each rate needs a model and a finite rate >= 0";
        return NULL;
    case WARMPATH__PLACEMENT__REQUEST__OP_GET_ASSIGNMENT:
        return q->get_assignment ? NULL : "get_assignment: missing body";
    case WARMPATH__PLACEMENT__REQUEST__OP_CATALOG_ADD:
        if (!q->catalog_add || !q->catalog_add->model || !nonempty(q->catalog_add->model->name))
            return "catalog_add needs a model with a name";
        if (strlen(q->catalog_add->model->name) >= WP_NAME_MAX)
            return "catalog_add: model name too long";
        return NULL;
    case WARMPATH__PLACEMENT__REQUEST__OP_CATALOG_LIST:
        return NULL;
    case WARMPATH__PLACEMENT__REQUEST__OP_CATALOG_REMOVE:
        if (!q->catalog_remove || !nonempty(q->catalog_remove->model))
            return "catalog_remove needs a model";
        if (strlen(q->catalog_remove->model) >= WP_NAME_MAX)
            return "catalog_remove: model name too long";
        return NULL;
    case WARMPATH__PLACEMENT__REQUEST__OP_PIN:
        if (!q->pin || !nonempty(q->pin->model) || q->pin->n_cities == 0)
            return "pin needs a model and at least one city";
        if (q->pin->n_cities > WP_PLACE_MAX_PIN_CITIES)
            return "pin: too many cities";
        for (size_t i = 0; i < q->pin->n_cities; i++)
            if (!nonempty(q->pin->cities[i]) || strlen(q->pin->cities[i]) >= WP_PLACE_CODE_MAX)
                return "pin: empty or over-long city";
        if (strlen(q->pin->model) >= WP_NAME_MAX)
            return "pin: model name too long";
        return NULL;
    case WARMPATH__PLACEMENT__REQUEST__OP_UNPIN:
        if (!q->unpin || !nonempty(q->unpin->model))
            return "unpin needs a model";
        if (strlen(q->unpin->model) >= WP_NAME_MAX ||
            (q->unpin->city && strlen(q->unpin->city) >= WP_PLACE_CODE_MAX))
            return "unpin: model or city too long";
        return NULL;
    case WARMPATH__PLACEMENT__REQUEST__OP_STATUS:
        return NULL;
    default:
        return "unknown operation";
    }
}

static void handle_heartbeat(daemon_t *d, const void *rid, size_t rid_len, const PlReq *q)
{
    const Warmpath__Placement__Heartbeat *h = q->heartbeat;
    int idx = wp_place_state_find_node(d->state, h->node_id);
    if (idx < 0) {
        reply_code(d, rid, rid_len, q->request_id, WARMPATH__PLACEMENT__CODE__NOT_REGISTERED,
                   "node not registered; register again", false);
        return;
    }
    live *l = find_live(d, h->node_id, true);
    if (l != NULL) {
        l->seen_ms = now_ms();
        l->n_rates = 0;
        for (size_t i = 0; i < h->n_rates && l->n_rates < MAX_RATES; i++) {
            if (strlen(h->rates[i]->model) >= WP_NAME_MAX)
                continue;
            copy_field(l->rates[l->n_rates].model, WP_NAME_MAX, h->rates[i]->model);
            l->rates[l->n_rates++].requests_per_s = h->rates[i]->requests_per_s;
        }
        const wp_place_node *n = wp_place_state_node(d->state, (size_t)idx);
        if (!n->up && !l->pending) {
            wp_place_cmd cmd = {.type = WP_PLACE_CMD_NODE_UP, .up = true};
            copy_field(cmd.node, sizeof cmd.node, h->node_id);
            pending *p = new_pending(d, NULL, 0, 0);
            if (p) {
                copy_field(p->node, sizeof p->node, h->node_id);
                l->pending = true;
                WP_INFO("placement", "node %s is back: marking it up", h->node_id);
                propose(d, &cmd, p, false);
            }
        }
    }
    reply_code(d, rid, rid_len, q->request_id, WARMPATH__PLACEMENT__CODE__OK, "", false);
}

/* With --keys, what each key may ask (ZAP admitted node, operator and
 * placement keys on this socket): reads (status, catalog list) anyone; a
 * node's own register, heartbeat and assignment its node key, or an
 * operator; catalog add and remove, pin and unpin an operator only. NULL: allowed,
 * else why not. */
static const char *not_allowed(const PlReq *q, const wp_key *k)
{
    const char *node = NULL;
    switch (q->op_case) {
    case WARMPATH__PLACEMENT__REQUEST__OP_STATUS:
    case WARMPATH__PLACEMENT__REQUEST__OP_CATALOG_LIST:
        return NULL;
    case WARMPATH__PLACEMENT__REQUEST__OP_HEARTBEAT:
        node = q->heartbeat->node_id;
        break;
    case WARMPATH__PLACEMENT__REQUEST__OP_GET_ASSIGNMENT:
        node = q->get_assignment->node_id;
        break;
    case WARMPATH__PLACEMENT__REQUEST__OP_REGISTER_NODE:
        node = q->register_node->node_id;
        break;
    default:
        break;
    }
    if (k && k->role == WP_ROLE_OPERATOR)
        return NULL;
    if (node == NULL)
        return "an operator key is required";
    if (k && k->role == WP_ROLE_NODE && strcmp(k->name, node) == 0)
        return NULL;
    return "only the node's own key or an operator key";
}

static void refused_request(daemon_t *d, const PlReq *q, const wp_key *k, const char *why)
{
    wp_zap_count(d->zap, WP_ZSOCK_PLACEMENT);
    uint64_t now = now_ms();
    if (d->refused_log_ms && now - d->refused_log_ms < 1000) {
        d->refused_unlogged++;
        return;
    }
    WP_WARN("placement", "refused request (op %d) from key %s (role %s): %s (and %llu more "
            "refused since the last line)", (int)q->op_case, k ? k->name : "(none)",
            k ? wp_key_role_name(k->role) : "-", why, (unsigned long long)d->refused_unlogged);
    d->refused_log_ms = now;
    d->refused_unlogged = 0;
}

static void handle_request(daemon_t *d, const void *rid, size_t rid_len, const void *buf,
                           size_t len, const wp_key *key)
{
    PlReq *q = NULL;
    wp_err err = {0};
    if (wp_pl_unframe_request(buf, len, &q, &err) != WP_OK) {
        reply_code(d, rid, rid_len, 0, WARMPATH__PLACEMENT__CODE__BAD_REQUEST, wp_err_text(&err),
                   false);
        return;
    }
    const char *bad = validate(q);
    if (bad != NULL) {
        reply_code(d, rid, rid_len, q->request_id, WARMPATH__PLACEMENT__CODE__BAD_REQUEST, bad,
                   false);
        goto done;
    }
    const char *why = d->zap ? not_allowed(q, key) : NULL;
    if (why != NULL) {
        refused_request(d, q, key, why);
        reply_code(d, rid, rid_len, q->request_id, WARMPATH__PLACEMENT__CODE__REFUSED, why,
                   false);
        goto done;
    }
    if (q->op_case == WARMPATH__PLACEMENT__REQUEST__OP_STATUS) {
        reply_status(d, rid, rid_len, q->request_id);
        goto done;
    }
    if (!wp_consensus_is_leader(d->cons)) {
        uint64_t lid;
        const char *addr = leader_api(d, &lid);
        PlResp r = WARMPATH__PLACEMENT__RESPONSE__INIT;
        r.request_id = q->request_id;
        r.code = lid ? WARMPATH__PLACEMENT__CODE__NOT_LEADER : WARMPATH__PLACEMENT__CODE__NO_LEADER;
        r.error = (char *)(lid ? "not the leader" : "no leader elected yet");
        r.leader_address = (char *)addr;
        r.version = wp_place_state_version(d->state);
        send_reply(d, rid, rid_len, &r, false);
        goto done;
    }
    if (!d->ready) {
        reply_code(d, rid, rid_len, q->request_id, WARMPATH__PLACEMENT__CODE__NO_LEADER,
                   "new leader catching up", false);
        goto done;
    }
    wp_place_cmd cmd = {0};
    switch (q->op_case) {
    case WARMPATH__PLACEMENT__REQUEST__OP_HEARTBEAT:
        handle_heartbeat(d, rid, rid_len, q);
        goto done;
    case WARMPATH__PLACEMENT__REQUEST__OP_GET_ASSIGNMENT:
        reply_assignment(d, rid, rid_len, q->request_id, q->get_assignment->node_id);
        goto done;
    case WARMPATH__PLACEMENT__REQUEST__OP_CATALOG_LIST:
        reply_catalog(d, rid, rid_len, q->request_id);
        goto done;
    case WARMPATH__PLACEMENT__REQUEST__OP_REGISTER_NODE: {
        const Warmpath__Placement__RegisterNode *m = q->register_node;
        cmd.type = WP_PLACE_CMD_REGISTER_NODE;
        copy_field(cmd.node, sizeof cmd.node, m->node_id);
        copy_field(cmd.city, sizeof cmd.city, m->city);
        cmd.gpus = m->gpus;
        cmd.gpu_mem_bytes = m->gpu_mem_bytes;
        live *l = find_live(d, m->node_id, true);
        if (l)
            l->seen_ms = now_ms();
        break;
    }
    case WARMPATH__PLACEMENT__REQUEST__OP_CATALOG_ADD: {
        const Warmpath__Placement__ModelProfile *m = q->catalog_add->model;
        cmd.type = WP_PLACE_CMD_CATALOG_ADD;
        copy_field(cmd.profile.name, sizeof cmd.profile.name, m->name);
        cmd.profile.size_bytes = m->size_bytes;
        cmd.profile.prefill_base_ms = m->prefill_base_ms;
        cmd.profile.prefill_ms_per_token = m->prefill_ms_per_token;
        cmd.profile.decode_ms_per_token = m->decode_ms_per_token;
        cmd.profile.slots_per_gpu = m->slots_per_gpu;
        cmd.profile.load_bytes_per_s = m->load_bytes_per_s;
        cmd.profile.load_fixed_ms = m->load_fixed_ms;
        cmd.profile.typical_in_tokens = m->typical_in_tokens;
        cmd.profile.typical_out_tokens = m->typical_out_tokens;
        break;
    }
    case WARMPATH__PLACEMENT__REQUEST__OP_CATALOG_REMOVE:
        cmd.type = WP_PLACE_CMD_CATALOG_REMOVE;
        copy_field(cmd.model, sizeof cmd.model, q->catalog_remove->model);
        break;
    case WARMPATH__PLACEMENT__REQUEST__OP_PIN:
        cmd.type = WP_PLACE_CMD_PIN;
        copy_field(cmd.model, sizeof cmd.model, q->pin->model);
        cmd.n_cities = q->pin->n_cities;
        for (size_t i = 0; i < cmd.n_cities; i++)
            copy_field(cmd.cities[i], WP_PLACE_CODE_MAX, q->pin->cities[i]);
        cmd.replicas = q->pin->replicas;
        break;
    case WARMPATH__PLACEMENT__REQUEST__OP_UNPIN:
        cmd.type = WP_PLACE_CMD_UNPIN;
        copy_field(cmd.model, sizeof cmd.model, q->unpin->model);
        if (nonempty(q->unpin->city)) {
            cmd.n_cities = 1;
            copy_field(cmd.cities[0], WP_PLACE_CODE_MAX, q->unpin->city);
        }
        break;
    default:
        goto done;
    }
    pending *p = new_pending(d, rid, rid_len, q->request_id);
    if (p == NULL)
        reply_code(d, rid, rid_len, q->request_id, WARMPATH__PLACEMENT__CODE__UNAVAILABLE,
                   "out of memory", false);
    else
        propose(d, &cmd, p, false);
done:
    warmpath__placement__request__free_unpacked(q, NULL);
}

/* ---------------------------------------------------------------- zmq in uv */

/* Receives everything ZMQ_EVENTS says is there (ZMQ_FD is edge-triggered). */
static void drain(daemon_t *d)
{
    for (int guard = 0; guard < 100000 && !d->stopping; guard++) {
        uint32_t events = 0;
        size_t sz = sizeof events;
        if (zmq_getsockopt(d->zsock, ZMQ_EVENTS, &events, &sz) != 0 || !(events & ZMQ_POLLIN))
            return;
        zmq_msg_t part[3];
        size_t n = 0;
        bool more = true, ok = true;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, d->zsock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                ok = false;
                break;
            }
            more = zmq_msg_more(&m);
            if (n < 3)
                part[n++] = m;
            else
                zmq_msg_close(&m);
        }
        /* ROUTER: [routing id][frame]; anything else is dropped. */
        if (ok && n == 2)
            handle_request(d, zmq_msg_data(&part[0]), zmq_msg_size(&part[0]),
                           zmq_msg_data(&part[1]), zmq_msg_size(&part[1]),
                           wp_zap_peer(d->zap, &part[1]));
        else if (ok)
            WP_DEBUG("placement", "dropped a message of %zu parts", n);
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&part[i]);
    }
}

static void on_zpoll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    drain(h->data);
}

static void on_kick(uv_timer_t *t)
{
    drain(t->data);
}

/* ---------------------------------------------------------------- tick */

static int rate_cmp(const void *a, const void *b)
{
    const wp_place_demand_in *x = a, *y = b;
    int c = strcmp(x->city, y->city);
    return c ? c : strcmp(x->model, y->model);
}

static void demand_tick(daemon_t *d, uint64_t now)
{
    if (d->demand_pending || now - d->last_demand_ms < d->demand_period_ms)
        return;
    d->last_demand_ms = now;
    wp_place_demand_in *e = calloc(WP_MSG_MAX_ARRAY, sizeof *e);
    if (e == NULL)
        return;
    size_t n = 0;
    double total = 0;
    for (size_t i = 0; i < d->n_live; i++) {
        live *l = &d->live[i];
        if (now - l->seen_ms > DEMAND_WINDOW_MS)
            continue;
        int ni = wp_place_state_find_node(d->state, l->id);
        if (ni < 0)
            continue;
        const char *city = d->geo.cities[wp_place_state_node(d->state, (size_t)ni)->city].code;
        for (size_t k = 0; k < l->n_rates; k++) {
            if (wp_place_state_find_model(d->state, l->rates[k].model) < 0 ||
                l->rates[k].requests_per_s <= 0)
                continue;
            size_t j = 0;
            while (j < n && !(strcmp(e[j].city, city) == 0 &&
                              strcmp(e[j].model, l->rates[k].model) == 0))
                j++;
            if (j == n) {
                if (n >= WP_MSG_MAX_ARRAY)
                    continue;
                copy_field(e[n].city, sizeof e[n].city, city);
                copy_field(e[n].model, sizeof e[n].model, l->rates[k].model);
                e[n++].rate_per_s = 0;
            }
            e[j].rate_per_s += l->rates[k].requests_per_s;
            total += l->rates[k].requests_per_s;
        }
    }
    qsort(e, n, sizeof *e, rate_cmp);
    /* A coarse signature: keys, and the total within 20%. */
    char sig[sizeof d->last_demand_sig] = "";
    size_t off = 0;
    for (size_t i = 0; i < n && off + 2 * WP_NAME_MAX < sizeof sig; i++)
        off += (size_t)snprintf(sig + off, sizeof sig - off, "%s/%s;", e[i].city, e[i].model);
    bool moved = strcmp(sig, d->last_demand_sig) != 0 ||
                 fabs(total - d->last_demand_total) > 0.2 * fmax(d->last_demand_total, 1e-9);
    if (n > 0 && moved) {
        wp_place_cmd cmd = {.type = WP_PLACE_CMD_SET_DEMAND, .n_demand = n, .demand = e};
        pending *p = new_pending(d, NULL, 0, 0);
        if (p) {
            p->demand = true;
            d->demand_pending = true;
            memcpy(d->last_demand_sig, sig, sizeof sig);
            d->last_demand_total = total;
            WP_INFO("placement", "committing measured demand: %zu entries, %.1f req/s", n, total);
            propose(d, &cmd, p, true);
        }
    }
    free(e);
}

typedef struct barrier_ctx {
    daemon_t *d;
    uint64_t term;
} barrier_ctx;

static void barrier_done(void *data, int status, const char *errmsg, const void *result)
{
    (void)result;
    barrier_ctx *b = data;
    daemon_t *d = b->d;
    d->barrier_pending = false;
    if (status == 0 && !d->stopping && wp_consensus_is_leader(d->cons)) {
        wp_consensus_status st;
        wp_consensus_get_status(d->cons, &st);
        if (st.term == b->term) {
            d->ready = true;
            WP_INFO("placement", "leader %llu ready at index %llu (term %llu)",
                    (unsigned long long)d->id, (unsigned long long)st.last_applied,
                    (unsigned long long)st.term);
        }
    } else if (status != 0) {
        WP_DEBUG("placement", "%s", errmsg ? errmsg : "barrier failed");
    }
    free(b);
}

/* A new leader serves nothing until a barrier of its term is applied. */
static void leader_barrier(daemon_t *d)
{
    if (d->ready || d->barrier_pending || !wp_consensus_is_leader(d->cons))
        return;
    barrier_ctx *b = calloc(1, sizeof *b);
    if (b == NULL)
        return;
    wp_consensus_status st;
    wp_consensus_get_status(d->cons, &st);
    b->d = d;
    b->term = st.term;
    wp_err err = {0};
    if (wp_consensus_barrier(d->cons, barrier_done, b, &err) != WP_OK) {
        WP_DEBUG("placement", "%s", wp_err_text(&err));
        free(b);
        return;
    }
    d->barrier_pending = true;
    d->barrier_at_ms = now_ms();
}

/* A leader whose barrier is not applied within this long cannot commit
 * (its disk or its followers fail it): it steps down by restarting its raft
 * instance from disk, so that another server can lead. */
static uint64_t barrier_limit_ms(const daemon_t *d)
{
    return d->election_ms * 10 > 2000 ? d->election_ms * 10 : 2000;
}

static void on_tick(uv_timer_t *t);

/* Role changes, noticed by polling (raft 0.15 has no callback). */
static void on_check(uv_check_t *h)
{
    daemon_t *d = h->data;
    bool leader = wp_consensus_is_leader(d->cons);
    if (leader == d->was_leader)
        return;
    wp_consensus_status st;
    wp_consensus_get_status(d->cons, &st);
    WP_INFO("placement", "server %llu is now %s (term %llu)", (unsigned long long)d->id,
            wp_consensus_role_name(st.role), (unsigned long long)st.term);
    d->was_leader = leader;
    d->ready = false;
    if (leader) {
        uint64_t now = now_ms(); /* every node gets a full timeout from a new leader */
        for (size_t i = 0; i < d->n_live; i++)
            d->live[i].seen_ms = now;
        leader_barrier(d);
    }
}

/* Counts the API socket's monitor events (at most 1024 per tick). */
static void read_monitor(daemon_t *d)
{
    for (int k = 0; k < 1024 && d->zmon != NULL; k++) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, d->zmon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        uint16_t code = 0;
        if (zmq_msg_size(&ev) >= 2)
            memcpy(&code, zmq_msg_data(&ev), 2);
        bool more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        if (more) { /* the endpoint frame */
            zmq_msg_init(&addr);
            zmq_msg_recv(&addr, d->zmon, ZMQ_DONTWAIT);
            zmq_msg_close(&addr);
        }
        if (code == ZMQ_EVENT_DISCONNECTED)
            d->api_disconnects++;
        else if (code == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                 code == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            d->api_protocol_errors++;
            /* With CURVE: a peer without it (or without this cluster's
             * server key) ends here, before ZAP sees it. */
            wp_zap_count(d->zap, WP_ZSOCK_PLACEMENT);
        }
    }
}

static void on_tick(uv_timer_t *t)
{
    daemon_t *d = t->data;
    wp_pmetrics_refresh(d->pm, d->cons, d->state, d->replies_dropped, d->api_disconnects,
                        wp_zap_refused(d->zap, WP_ZSOCK_PLACEMENT));
    bool leader = wp_consensus_is_leader(d->cons);
    uint64_t now = now_ms();
    read_monitor(d);
    if (d->barrier_pending && leader && now - d->barrier_at_ms > barrier_limit_ms(d)) {
        char why[96];
        snprintf(why, sizeof why, "leader barrier not applied within %llu ms",
                 (unsigned long long)barrier_limit_ms(d));
        wp_consensus_restart(d->cons, why);
        return;
    }
    leader_barrier(d); /* retries one that failed */
    if (!d->ready)
        return;
    if (!leader)
        return;
    if (d->node_timeout_ms > 0) {
        size_t nn = wp_place_state_node_count(d->state);
        for (size_t i = 0; i < nn; i++) {
            const wp_place_node *n = wp_place_state_node(d->state, i);
            live *l = find_live(d, n->id, true);
            if (l == NULL || !n->up || l->pending || now - l->seen_ms <= d->node_timeout_ms)
                continue;
            wp_place_cmd cmd = {.type = WP_PLACE_CMD_NODE_UP, .up = false};
            copy_field(cmd.node, sizeof cmd.node, n->id);
            pending *p = new_pending(d, NULL, 0, 0);
            if (p == NULL)
                continue;
            copy_field(p->node, sizeof p->node, n->id);
            l->pending = true;
            WP_WARN("placement", "node %s silent for %llu ms: marking it down", n->id,
                    (unsigned long long)(now - l->seen_ms));
            propose(d, &cmd, p, true);
        }
    }
    demand_tick(d, now);
}

/* ---------------------------------------------------------------- fsm */

static int sm_apply(void *ctx, const void *cmd, size_t len, const void **result)
{
    daemon_t *d = ctx;
    int rv = wp_place_state_apply(d->state, cmd, len, &d->last_result);
    *result = &d->last_result;
    return rv;
}

static int sm_snapshot(void *ctx, void **buf, size_t *len)
{
    daemon_t *d = ctx;
    return wp_place_state_snapshot(d->state, buf, len, NULL);
}

static int sm_restore(void *ctx, const void *buf, size_t len, wp_err *err)
{
    daemon_t *d = ctx;
    return wp_place_state_restore(d->state, buf, len, err);
}

/* Before raft starts again from disk: an empty state (see consensus.h). */
static int sm_reset(void *ctx)
{
    daemon_t *d = ctx;
    wp_place_state *fresh = NULL;
    wp_err err = {0};
    if (wp_place_state_new(&d->geo, &fresh, &err) != WP_OK) {
        WP_ERROR("placement", "reset: %s", wp_err_text(&err));
        return -1;
    }
    wp_place_state_free(d->state);
    d->state = fresh;
    d->ready = false;
    return 0;
}

/* ---------------------------------------------------------------- shutdown */

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void consensus_closed(void *data)
{
    daemon_t *d = data;
    d->cons = NULL;
    if (d->zsock) {
        zmq_socket_monitor(d->zsock, NULL, 0);
        zmq_close(d->zsock);
        d->zsock = NULL;
    }
    if (d->zmon) {
        zmq_close(d->zmon);
        d->zmon = NULL;
    }
    uv_close((uv_handle_t *)&d->sigint, on_closed);
    uv_close((uv_handle_t *)&d->sigterm, on_closed);
    uv_close((uv_handle_t *)&d->sighup, on_closed);
}

static void stop(daemon_t *d)
{
    if (d->stopping)
        return;
    d->stopping = true;
    uv_close((uv_handle_t *)&d->zpoll, on_closed); /* before zmq owns the fd no more */
    uv_close((uv_handle_t *)&d->tick, on_closed);
    uv_close((uv_handle_t *)&d->kick, on_closed);
    uv_close((uv_handle_t *)&d->check, on_closed);
    wp_consensus_close(d->cons, consensus_closed, d);
}

static void on_signal(uv_signal_t *s, int signum)
{
    daemon_t *d = s->data;
    WP_INFO("placement", "signal %d: shutting down", signum);
    stop(d);
}

/* ---------------------------------------------------------------- raft peer keys */

/* --keys DIR: this server's key is DIR/placement-ID.key; a raft peer must
 * prove the placement key named for the raft id it claims (the keyring is
 * every .pub in DIR). consensus/peer_auth.c runs the handshake. */
typedef struct peer_keys {
    wp_key self;
    wp_keyring ring;
} peer_keys;

static int peer_sign(void *ctx, const void *msg, size_t len, uint8_t sig[WP_PEER_AUTH_SIG_BYTES])
{
    peer_keys *pk = ctx;
    return wp_key_sign(&pk->self, msg, len, sig);
}

static bool peer_verify(void *ctx, const char *name, uint64_t raft_id, const void *msg, size_t len,
                        const uint8_t sig[WP_PEER_AUTH_SIG_BYTES])
{
    peer_keys *pk = ctx;
    char want[WP_KEY_NAME_MAX];
    snprintf(want, sizeof want, "placement-%llu", (unsigned long long)raft_id);
    const wp_key *k = wp_keyring_by_name(&pk->ring, name);
    return k != NULL && k->role == WP_ROLE_PLACEMENT && strcmp(name, want) == 0 &&
           wp_key_verify(k, msg, len, sig);
}

/* The raft peer keys and the key directory (--keys), for SIGHUP. */
static peer_keys *g_pk;
static const char *g_keys_dir;

/* SIGHUP with --keys: the key directory is read again, for the ZAP handler
 * (who may call the API) and the raft peers (whose handshakes count): keys
 * made since are admitted, keys whose files were removed refused from now
 * on. On an error the keys in use stay. Loop thread, like their readers. */
static void on_hup(uv_signal_t *s, int signum)
{
    (void)signum;
    daemon_t *d = s->data;
    if (!g_pk || !g_keys_dir)
        return;
    wp_err err;
    wp_err_clear(&err);
    size_t count = 0;
    if (wp_keys_reload(&g_pk->ring, d->zap, g_keys_dir, &count, &err) != WP_OK) {
        WP_WARN("placement", "SIGHUP: keys not reloaded, the old ones stay: %s", wp_err_text(&err));
        return;
    }
    WP_INFO("placement", "SIGHUP: %zu keys reloaded from %s", count, g_keys_dir);
}

static int peer_keys_load(peer_keys *pk, const char *dir, uint64_t id, wp_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/placement-%llu.key", dir, (unsigned long long)id);
    wp_keyring_init(&pk->ring);
    int rv = wp_key_load(&pk->self, path, err);
    if (rv != WP_OK)
        return rv;
    if (!pk->self.has_secret)
        return wp_errf(err, WP_EINVAL, "%s: no secret seed (a .pub file?)", path);
    if (pk->self.role != WP_ROLE_PLACEMENT)
        return wp_errf(err, WP_EINVAL, "%s: role %s, a placement server needs role placement",
                       path, wp_key_role_name(pk->self.role));
    return wp_keyring_load_dir(&pk->ring, dir, err);
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: wp-placement --id N --bind ADDR [--advertise ADDR] --raft ADDR\n"
            "                    [--raft-bind ADDR] --peers ID=ADDR[@API],... --data-dir DIR\n"
            "                    [options]\n\n"
            "The Raft-backed placement service of warmpath: node registry, model catalog,\n"
            "pins and the assignment of models to nodes, served over ZeroMQ (protobuf,\n"
            "proto/placement.proto). Logs go to stderr; SIGINT/SIGTERM stop it cleanly.\n\n"
            "  --id N              this server's raft id (> 0)\n"
            "  --bind ADDR         API address to bind, e.g. tcp://10.0.0.5:7101 (HOST:PORT\n"
            "                      works; 0.0.0.0:7101 binds every interface)\n"
            "  --advertise ADDR    API address clients are sent to when this server leads\n"
            "                      (default: this server's @API in --peers, else --bind;\n"
            "                      required when --bind is a wildcard)\n"
            "  --raft ADDR         raft address of this server as the others reach it (the\n"
            "                      one in --peers), e.g. 10.0.0.5:7001; never a wildcard\n"
            "  --raft-bind ADDR    raft address to listen on (default: --raft), e.g.\n"
            "                      0.0.0.0:7001\n"
            "  --peers LIST        every server: ID=RAFT_ADDR[@API_ADDR], comma-separated;\n"
            "                      with @API_ADDR a follower can name the leader's API address\n"
            "  --data-dir DIR      raft log and snapshots (created if missing)\n"
            "  --topology NAME     preset (edge, aws, azure, gcp, tiny) or CSV path;\n"
            "                      every server of a cluster must use the same (default edge)\n"
            "  --election-ms MS    raft election timeout (default 300)\n"
            "  --heartbeat-ms MS   raft heartbeat (default 30)\n"
            "  --node-timeout-ms MS  mark a node down after this silence (default 10000;\n"
            "                      0 = never)\n"
            "  --demand-period-ms MS  how often measured request rates may be committed\n"
            "                      (default 10000)\n"
            "  --raft-segment-kib N  raft log segment size in KiB (default 1024; 0 = default);\n"
            "                      raft reads whole preallocated segments at start, so\n"
            "                      large ones slow a restart; small ones fill a disk sooner\n"
            "  --log-level LEVEL   error, warn, info (default), debug, trace\n"
            "  --metrics HOST:PORT serve Prometheus metrics over HTTP at /metrics\n"
            "  --keys DIR          cluster keys: DIR/placement-ID.key is this server's,\n"
            "                      every raft peer must prove DIR/placement-PEER.pub\n"
            "  --insecure          raft peers unauthenticated (plain TCP), logged as a warning\n"
            "  --help              this text\n");
}

static int parse_uint(const char *s, const char *what, uint64_t max, uint64_t *out)
{
    if (wp_parse_u64(s, out) != WP_OK || *out > max) {
        fprintf(stderr, "wp-placement: %s: expected an integer 0..%llu, got '%s'\n", what,
                (unsigned long long)max, s);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static daemon_t D;
    daemon_t *d = &D;
    const char *bind = NULL, *raft = NULL, *peers = NULL, *dir = NULL, *topo = "edge";
    const char *metrics = NULL, *keys = NULL;
    bool insecure = false;
    uint64_t id = 0, election = 300, heartbeat = 30, node_timeout = 10000, demand_period = 10000;
    uint64_t segment_kib = 0;
    const char *advertise = NULL, *raft_bind = NULL; /* real hosts: deploy/README.md */
    static const struct option opts[] = {
        {"id", required_argument, 0, 'i'},          {"bind", required_argument, 0, 'b'},
        {"raft", required_argument, 0, 'r'},        {"peers", required_argument, 0, 'p'},
        {"advertise", required_argument, 0, 'A'},   {"raft-bind", required_argument, 0, 'R'},
        {"data-dir", required_argument, 0, 'd'},    {"topology", required_argument, 0, 't'},
        {"election-ms", required_argument, 0, 'e'}, {"heartbeat-ms", required_argument, 0, 'H'},
        {"node-timeout-ms", required_argument, 0, 'n'},
        {"demand-period-ms", required_argument, 0, 'D'},
        {"log-level", required_argument, 0, 'l'},   {"help", no_argument, 0, 'h'},
        {"raft-segment-kib", required_argument, 0, 'S'},
        {"metrics", required_argument, 0, 'M'},
        {"keys", required_argument, 0, 'K'},        {"insecure", no_argument, 0, 'I'},
        {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'i': if (parse_uint(optarg, "--id", UINT32_MAX, &id)) return 2; break;
        case 'b': bind = optarg; break;
        case 'r': raft = optarg; break;
        case 'A': advertise = optarg; break;
        case 'R': raft_bind = optarg; break;
        case 'p': peers = optarg; break;
        case 'd': dir = optarg; break;
        case 't': topo = optarg; break;
        case 'M': metrics = optarg; break;
        case 'K': keys = optarg; break;
        case 'I': insecure = true; break;
        case 'e': if (parse_uint(optarg, "--election-ms", 60000, &election)) return 2; break;
        case 'H': if (parse_uint(optarg, "--heartbeat-ms", 60000, &heartbeat)) return 2; break;
        case 'n':
            if (parse_uint(optarg, "--node-timeout-ms", 86400000, &node_timeout))
                return 2;
            break;
        case 'D':
            if (parse_uint(optarg, "--demand-period-ms", 86400000, &demand_period))
                return 2;
            break;
        case 'S':
            if (parse_uint(optarg, "--raft-segment-kib", 1u << 20, &segment_kib))
                return 2;
            break;
        case 'l': {
            int lv = wp_log_level_parse(optarg);
            if (lv < 0) {
                fprintf(stderr, "wp-placement: --log-level: unknown level '%s'\n", optarg);
                return 2;
            }
            wp_log_set_level(lv);
            break;
        }
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "Try 'wp-placement --help'.\n"); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "wp-placement: unexpected argument '%s'\nTry 'wp-placement --help'.\n",
                argv[optind]);
        return 2;
    }
    if (id == 0 || !bind || !raft || !peers || !dir) {
        fprintf(stderr, "wp-placement: --id, --bind, --raft, --peers and --data-dir are "
                        "required\nTry 'wp-placement --help'.\n");
        return 2;
    }
    if (keys && insecure) {
        fprintf(stderr, "wp-placement: --keys and --insecure exclude each other\n");
        return 2;
    }
    if (election < 20 || heartbeat < 1 || heartbeat * 2 > election) {
        fprintf(stderr, "wp-placement: need election >= 20 ms and heartbeat <= election/2\n");
        return 2;
    }
    wp_err err = {0};
    d->id = id;
    d->node_timeout_ms = node_timeout;
    d->demand_period_ms = demand_period;
    d->election_ms = election;
    char adv[WP_CONSENSUS_ADDR_MAX] = "";
    if (wp_endpoint_normalize(bind, d->bind, sizeof d->bind) != WP_OK ||
        (advertise && wp_endpoint_normalize(advertise, adv, sizeof adv) != WP_OK)) {
        fprintf(stderr, "wp-placement: --bind/--advertise: address empty or too long\n");
        return 2;
    }
    if (wp_endpoint_is_wildcard(raft)) {
        fprintf(stderr, "wp-placement: --raft %s is not an address the others can reach: give "
                        "--raft HOST:PORT (as in --peers) and --raft-bind %s\n", raft, raft);
        return 2;
    }
    if (wp_consensus_parse_peers(peers, d->servers, WP_CONSENSUS_MAX_SERVERS - 1, &d->n_servers,
                                 d->api, &err) != WP_OK) {
        fprintf(stderr, "wp-placement: --peers: %s\n", wp_err_text(&err));
        return 2;
    }
    bool self = false;
    for (size_t i = 0; i < d->n_servers; i++) {
        if (d->api[i][0]) {
            char tmp[WP_CONSENSUS_ADDR_MAX];
            if (wp_endpoint_normalize(d->api[i], tmp, sizeof tmp) != WP_OK) {
                fprintf(stderr, "wp-placement: --peers: API address too long: %s\n", d->api[i]);
                return 2;
            }
            snprintf(d->api[i], sizeof d->api[i], "%s", tmp);
        }
        if (d->servers[i].id == id) {
            self = true;
            if (strcmp(d->servers[i].address, raft) != 0) {
                fprintf(stderr, "wp-placement: --peers gives id %llu the address %s, but --raft "
                                "is %s\n", (unsigned long long)id, d->servers[i].address, raft);
                return 2;
            }
            /* The advertised API address: --advertise, else @API of
             * --peers, else --bind; they must agree where given. */
            if (adv[0] && d->api[i][0] && strcmp(adv, d->api[i]) != 0) {
                fprintf(stderr, "wp-placement: --peers gives id %llu the API address %s, but "
                                "--advertise is %s\n", (unsigned long long)id, d->api[i], adv);
                return 2;
            }
            if (!adv[0])
                memcpy(adv, d->api[i][0] ? d->api[i] : d->bind, sizeof adv);
            memcpy(d->api[i], adv, sizeof d->api[i]);
        }
    }
    if (!self) {
        d->servers[d->n_servers].id = id;
        snprintf(d->servers[d->n_servers].address, WP_CONSENSUS_ADDR_MAX, "%s", raft);
        if (!adv[0])
            memcpy(adv, d->bind, sizeof adv);
        memcpy(d->api[d->n_servers], adv, sizeof d->api[d->n_servers]);
        d->n_servers++;
    }
    if (wp_endpoint_is_wildcard(adv)) {
        fprintf(stderr, "wp-placement: %s can be bound but not sent to: give --advertise "
                        "HOST:PORT (or @API in --peers)\n", adv);
        return 2;
    }
    WP_INFO("placement", "server %llu advertises api %s and raft %s (bound: api %s, raft %s)",
            (unsigned long long)id, adv, raft, d->bind, raft_bind ? raft_bind : raft);

    /* SIGINT/SIGTERM are held from here until their handlers run on the
     * loop: loading the topology (graph paths, ~0.5 s) must not leave a
     * window where a stop request kills the server uncleanly. */
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGHUP); /* a keys reload before the handler: later, not a kill */
    sigprocmask(SIG_BLOCK, &stop_sigs, NULL);
    int rv = wp_topo_load_preset(topo, NULL, &d->topo, &err);
    if (rv == WP_ENOTFOUND || (rv != WP_OK && strchr(topo, '/') != NULL) ||
        (rv != WP_OK && strstr(topo, ".csv") != NULL)) {
        wp_err_clear(&err);
        rv = wp_topo_load_file(topo, NULL, &d->topo, &err);
    }
    if (rv != WP_OK) {
        fprintf(stderr, "wp-placement: --topology %s: not a preset (edge, aws, azure, gcp, tiny) "
                        "nor a readable city CSV: %s\n", topo, wp_err_text(&err));
        return 1;
    }
    if (wp_place_geo_from_topology(&d->geo, d->topo, &err) != WP_OK ||
        wp_place_state_new(&d->geo, &d->state, &err) != WP_OK) {
        fprintf(stderr, "wp-placement: %s\n", wp_err_text(&err));
        return 1;
    }
    d->live = calloc(MAX_LIVE, sizeof *d->live);
    if (d->live == NULL) {
        fprintf(stderr, "wp-placement: out of memory\n");
        return 1;
    }
    if (metrics && wp_pmetrics_open(metrics, id, &d->pm, &err) != WP_OK) {
        fprintf(stderr, "wp-placement: --metrics: %s\n", wp_err_text(&err));
        return 1;
    }

    static peer_keys pk;
    wp_peer_auth auth = {"", peer_sign, peer_verify, &pk};
    if (keys) {
        if (peer_keys_load(&pk, keys, id, &err) != WP_OK) {
            fprintf(stderr, "wp-placement: --keys: %s\n", wp_err_text(&err));
            return 1;
        }
        auth.name = pk.self.name;
        g_pk = &pk;
        g_keys_dir = keys;
        WP_INFO("placement", "server %llu: raft peers authenticated with key %s (%zu keys in %s)",
                (unsigned long long)id, pk.self.name, pk.ring.count, keys);
    } else {
        WP_WARN("placement", "server %llu: raft peer traffic is NOT authenticated (%s): any "
                "process that reaches %s can speak raft", (unsigned long long)id,
                insecure ? "--insecure" : "no --keys", raft);
    }
    uv_loop_init(&d->loop);
    d->zctx = zmq_ctx_new();
    d->zsock = d->zctx ? zmq_socket(d->zctx, ZMQ_ROUTER) : NULL;
    if (d->zsock == NULL) {
        fprintf(stderr, "wp-placement: zmq: %s\n", zmq_strerror(errno));
        return 1;
    }
    /* Size and queue limits (client.h). Per client, at most
     * WP_PL_SOCKET_HWM replies wait in libzmq plus 256 KiB in the kernel
     * (SO_SNDBUF); a reply to a client at that mark (one that does not read)
     * fails with EAGAIN thanks to ROUTER_MANDATORY and is dropped and
     * counted (replies_dropped in status), and the client times out.
     * Incoming: at most WP_PL_SOCKET_HWM requests queue per client, then
     * libzmq stops reading that connection and TCP pushes back. */
    int one = 1, sndbuf = 256 * 1024;
    if (wp_pl_socket_limits(d->zsock, WP_PL_SOCKET_HWM, &err) != WP_OK ||
        zmq_setsockopt(d->zsock, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(d->zsock, ZMQ_SNDBUF, &sndbuf, sizeof sndbuf) != 0) {
        fprintf(stderr, "wp-placement: %s\n",
                err.code ? wp_err_text(&err) : zmq_strerror(errno));
        return 1;
    }
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://wp-placement-mon-%llu", (unsigned long long)id);
    d->zmon = zmq_socket(d->zctx, ZMQ_PAIR);
    if (d->zmon == NULL ||
        zmq_socket_monitor(d->zsock, mon_ep,
                           ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0 ||
        zmq_connect(d->zmon, mon_ep) != 0) {
        fprintf(stderr, "wp-placement: zmq monitor: %s\n", zmq_strerror(errno));
        return 1;
    }
    int zero = 0;
    zmq_setsockopt(d->zmon, ZMQ_LINGER, &zero, sizeof zero);
    if (keys) {
        /* CurveZMQ on the API (auth/auth.h): the ZAP handler admits node,
         * operator and placement keys; not_allowed() checks each request.
         * Failed handshakes are counted by this daemon's own monitor. */
        if (wp_zap_start(d->zctx, keys, false, "placement", &d->zap, &err) != WP_OK ||
            wp_zap_server(d->zap, d->zsock, WP_ZSOCK_PLACEMENT, false, &err) != WP_OK) {
            fprintf(stderr, "wp-placement: --keys: %s\n", wp_err_text(&err));
            zmq_close(d->zsock);
            zmq_close(d->zmon);
            wp_zap_stop(d->zap);
            zmq_ctx_term(d->zctx);
            return 1;
        }
        WP_INFO("placement", "server %llu: CurveZMQ on the API (server key %s/cluster.key)",
                (unsigned long long)id, keys);
    } else {
        WP_WARN("placement", "server %llu: the API is NOT authenticated (%s): anyone who "
                "reaches %s can pin, unpin, register nodes and add to the catalog",
                (unsigned long long)id, insecure ? "--insecure" : "no --keys", d->bind);
    }
    if (zmq_bind(d->zsock, d->bind) != 0) {
        fprintf(stderr, "wp-placement: bind %s: %s\n", d->bind, zmq_strerror(errno));
        zmq_close(d->zsock);
        zmq_close(d->zmon);
        wp_zap_stop(d->zap);
        zmq_ctx_term(d->zctx);
        return 1;
    }
    wp_consensus_config cfg = {
        .id = id, .data_dir = dir, .servers = d->servers, .n_servers = d->n_servers,
        .bind_address = raft_bind,
        .election_timeout_ms = (unsigned)election, .heartbeat_ms = (unsigned)heartbeat,
        .segment_kib = (unsigned)segment_kib,
        .sm = {d, sm_apply, sm_snapshot, sm_restore, sm_reset},
        .peer_auth = keys ? &auth : NULL,
    };
    if (wp_consensus_new(&d->loop, &cfg, &d->cons, &err) != WP_OK ||
        wp_consensus_start(d->cons, &err) != WP_OK) {
        fprintf(stderr, "wp-placement: %s\n", wp_err_text(&err));
        if (d->cons) {
            d->stopping = true;
            wp_consensus_close(d->cons, NULL, NULL);
        }
        uv_run(&d->loop, UV_RUN_DEFAULT);
        zmq_close(d->zsock);
        zmq_close(d->zmon);
        wp_zap_stop(d->zap);
        zmq_ctx_term(d->zctx);
        return 1;
    }
    int fd;
    size_t fdsz = sizeof fd;
    zmq_getsockopt(d->zsock, ZMQ_FD, &fd, &fdsz);
    uv_poll_init(&d->loop, &d->zpoll, fd);
    d->zpoll.data = d;
    uv_poll_start(&d->zpoll, UV_READABLE, on_zpoll);
    uv_timer_init(&d->loop, &d->tick);
    d->tick.data = d;
    uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
    uv_check_init(&d->loop, &d->check);
    d->check.data = d;
    uv_check_start(&d->check, on_check);
    uv_timer_init(&d->loop, &d->kick);
    d->kick.data = d;
    uv_signal_init(&d->loop, &d->sigint);
    uv_signal_init(&d->loop, &d->sigterm);
    uv_signal_init(&d->loop, &d->sighup);
    d->sigint.data = d->sigterm.data = d->sighup.data = d;
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sighup, on_hup, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &stop_sigs, NULL); /* a stop that came meanwhile runs now */
    signal(SIGPIPE, SIG_IGN);
    WP_INFO("placement", "server %llu: api %s, raft %s, %zu servers, topology %s (%zu cities), "
            "data %s", (unsigned long long)id, d->bind, raft, d->n_servers,
            wp_topo_name(d->topo), d->geo.n_cities, dir);
    drain(d); /* ZMQ_FD is edge-triggered: look once after bind */
    uv_run(&d->loop, UV_RUN_DEFAULT);

    int lc = uv_loop_close(&d->loop);
    if (lc != 0)
        WP_ERROR("placement", "loop closed with handles still open: %s", uv_strerror(lc));
    wp_zap_stop(d->zap);
    zmq_ctx_term(d->zctx);
    wp_pmetrics_free(d->pm);
    wp_place_state_free(d->state);
    wp_place_geo_close(&d->geo);
    wp_topo_free(d->topo);
    wp_keyring_free(&pk.ring);
    free(d->live);
    WP_INFO("placement", "server %llu stopped", (unsigned long long)id);
    return lc == 0 ? d->exit_code : 1;
}
