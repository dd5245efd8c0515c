/* ingress.c — wp-node as an INGRESS: the client-facing request endpoint,
 * routing, forwarding, one retry and exactly one answer per request.
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
 * where expected cost = RTT + cold load (if cold) + the service time
 * MEASURED from earlier answers (queue at the target included; see
 * stream_node.c), or no deadline of its own before a first answer; a client
 * timeout_ms caps the whole request. A failed attempt (target answered
 * TARGET_FAILED, DRAINING, SHUTTING_DOWN, OVERLOADED or INTERNAL) or an
 * expired one gets ONE retry on the next candidate (the first target is
 * excluded for that decision); the second failure is final. When the
 * target is believed full (below), the attempt's expected cost also
 * counts the longest service of the longest class in flight there: a
 * short request then waits for a slot an LLM holds, and that is not a
 * dead target.
 *
 * Load and admission (issue 12). Routes use the latency policy unless the
 * request names another: lowest RTT + expected wait + cold load, where the
 * wait comes from the target's last load report (view.c, which states the
 * staleness bound) plus this ingress's own sends since it (wp_router_sends:
 * noted at dispatch with the modelled arrival time, done on the answer or
 * failure). The router gets the request's budget: time left to its
 * deadline less both user legs and the part of the answer after the first
 * token; when no candidate fits it, the request is answered OVERLOADED at
 * once (never a TIMEOUT later). The target gets the attempt's budget
 * (ForwardRequest.budget_ms, capped by the deadline) and drops work that
 * could not start in time (target.c, wp_res_submit_by) with OVERLOADED,
 * which the ingress may retry elsewhere while time is left.
 *
 * Hot path costs: one protobuf unpack + pack per hop, one zmq_send per
 * hop, no per-request logging at the default level, no syscalls of our
 * own (timers are re-armed only when the earliest deadline moves).
 */
#include "node/node_int.h"

/* ---------------------------------------------------------------- ingress */

uint32_t req_in_tokens(const Warmpath__Infer__InferRequest *r)
{
    if (r->n_input_tokens)
        return (uint32_t)r->n_input_tokens;
    size_t l = strlen(r->input_text);
    return (uint32_t)(l ? l : 1);
}

uint32_t req_out_tokens(const Warmpath__Infer__InferRequest *r, const wp_model_profile *p)
{
    if (r->max_output_tokens)
        return r->max_output_tokens;
    return p->typical_out_tokens ? p->typical_out_tokens : 1;
}

void ing_free(ing_req *r)
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
    char late[WP_ERRMSG_LEN];
    if (resp->status != WARMPATH__INFER__STATUS__DEADLINE_EXCEEDED &&
        (resp->status == WARMPATH__INFER__STATUS__OK ||
         resp->status == WARMPATH__INFER__STATUS__TIMEOUT) &&
        deadline_passed(r->deadline_unix_ns, now_only ? 0 : 2 * r->client_oneway_ns)) {
        /* Never late-ok: an answer past the client's deadline is an error. */
        snprintf(late, sizeof late, "the deadline passed before the answer (%s) could be sent",
                 wp_infer_status_name(resp->status));
        resp->status = WARMPATH__INFER__STATUS__DEADLINE_EXCEEDED;
        resp->reason = late;
        resp->n_output_tokens = 0;
        resp->output_tokens = NULL;
        resp->output_count = 0;
    }
    if (resp->status == WARMPATH__INFER__STATUS__DEADLINE_EXCEEDED)
        n->st_deadline++;
    Warmpath__Infer__Timings tm = WARMPATH__INFER__TIMINGS__INIT;
    if (resp->timings)
        tm = *resp->timings;
    tm.client_rtt_us = 2 * r->client_oneway_ns / 1000;
    tm.hop_rtt_us = r->hop_rtt_ns / 1000;
    tm.route_us = r->route_ns / 1000;
    tm.total_us = (now - r->arrival_ns + 2 * r->client_oneway_ns) / 1000;
    stream_final(n, r, resp, &tm);
    resp->timings = &tm;
    resp->request_id = r->req ? r->req->request_id : 0;
    resp->ingress_node = n->id;
    resp->ingress_city = n->city;
    resp->retried = r->retried;
    if (r->retried && r->first_target >= 0)
        resp->first_target = (char *)wp_router_node_id(n->view, (uint32_t)r->first_target);
    if (r->req && (!resp->model || !resp->model[0]))
        resp->model = r->req->model;
    nm_ingress_done(n, resp);
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
    client_send(n, r->rid, r->rid_len, r->delim, n->tx, len, delay);
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

/* The router's budget for r at now: time left to its deadline, less the
 * user's legs (the answer travels both, see ing_respond) and the part of
 * this request's full answer after its first token (responses are whole:
 * the router budgets to the first token). 0: no deadline. */
static float ing_budget_ms(node *n, const ing_req *r, uint64_t now)
{
    if (r->total_deadline_ns == UINT64_MAX)
        return 0;
    const wp_model_profile *p = &n->cat[r->model];
    /* The tokens after the first: measured where the model runs (svc.c),
     * else the profile's. */
    double tail_ms = svc_tail_ms(n, r->model, req_in_tokens(r->req), req_out_tokens(r->req, p));
    double left_ms = r->total_deadline_ns > now ? (double)(r->total_deadline_ns - now) / 1e6 : 0;
    double b = left_ms - 2.0 * (double)r->client_oneway_ns / 1e6 - (tail_ms > 0 ? tail_ms : 0);
    return b > 0.001 ? (float)b : 0.001f; /* nothing left: every candidate is too late */
}

static int ing_route(node *n, ing_req *r, wp_route_policy pol, int exclude, wp_route_result *out)
{
    wp_node_status saved = WP_NODE_UP;
    if (exclude >= 0) {
        saved = wp_router_node_status(n->view, (uint32_t)exclude);
        wp_router_set_status(n->view, (uint32_t)exclude, WP_NODE_DEAD);
    }
    uint64_t now = wp_clock_monotonic_ns();
    wp_route_req rq = {.model = r->model, .ingress = (uint32_t)n->my_city, .policy = pol,
                       .now_ns = now, .budget_ms = ing_budget_ms(n, r, now),
                       .user_ms = (float)(2.0 * (double)r->client_oneway_ns / 1e6),
                       .sends = n->sends};
    int rc = wp_route(n->view, &rq, out);
    if (exclude >= 0)
        wp_router_set_status(n->view, (uint32_t)exclude, saved);
    return rc;
}

/* When the target is believed full (its report plus our own sends), the
 * request waits for a slot that longer work holds, however short it is:
 * the longest service time of the longest class in flight there, which the
 * router's wait (queue ahead / rate) does not include. 0 when not full. */
static double slot_turnover_ms(node *n, uint32_t target)
{
    uint64_t units[WP_ROUTER_CLASSES] = {0}, mine[WP_ROUTER_CLASSES] = {0};
    uint64_t now = wp_clock_monotonic_ns();
    uint64_t at = wp_router_load_seen(n->view, (uint32_t)n->my_city, target, now, units);
    wp_router_sends_pending(n->sends, n->view, target, at == UINT64_MAX ? 0 : at, mine);
    uint64_t total = 0;
    int top = -1;
    for (uint32_t c = 0; c < WP_ROUTER_CLASSES; c++) {
        total += units[c] + mine[c];
        if (units[c] + mine[c])
            top = (int)c;
    }
    if (top < 0 || total < (uint64_t)wp_router_node_gpus(n->view, target) * WP_ROUTER_GPU_UNITS)
        return 0;
    double longest = 0;
    for (size_t m = 0; m < wp_router_model_count(n->view); m++)
        if ((int)wp_router_model_class(n->view, (uint32_t)m) == top &&
            wp_router_model_service_ms(n->view, (uint32_t)m) > longest)
            longest = wp_router_model_service_ms(n->view, (uint32_t)m);
    return longest;
}

static uint64_t attempt_budget_ns(node *n, const ing_req *r, const wp_route_result *rr)
{
    const wp_model_profile *p = &n->cat[r->model];
    /* Measured at this ingress from earlier answers (stream_node.c); with
     * no sample yet the attempt assumes at least SVC_BOOTSTRAP_MS (a
     * real model's service time can be far from the catalog's profile;
     * late answers still teach the estimate). With a sample, the larger of
     * the measurement (which includes the target's past queue) and the
     * profile's service plus the router's load-aware wait. */
    uint32_t out = req_out_tokens(r->req, p);
    /* The service the cluster measured where the model runs (published in
     * gossip, svc.c), else the catalog's profile. */
    double run = svc_measured_ms(n, r->model, out, false, NULL);
    if (run < 0)
        run = wp_model_total_ms(p, req_in_tokens(r->req), out);
    double svc = svc_estimate_ms(n, r->model, out);
    if (svc < 0) /* no sample yet: at least SVC_BOOTSTRAP_MS, not the whole
                  * deadline, which the target would spend queueing work it
                  * then drops late (the budget is also the target's start-by) */
        svc = SVC_BOOTSTRAP_MS > 2 * run ? SVC_BOOTSTRAP_MS : 2 * run;
    double modelled = run + rr->wait_ms + slot_turnover_ms(n, rr->node);
    double cost = rr->rtt_ms + (rr->cold ? wp_model_load_ms(p) : 0.0) +
                  (svc > modelled ? svc : modelled);
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

/* r's current attempt no longer loads its target (answered or failed). */
static void ing_unload(node *n, ing_req *r)
{
    wp_router_inflight_add(n->view, (uint32_t)r->target, r->model, -1);
    if (r->arrive_ns)
        wp_router_sends_done(n->sends, n->view, (uint32_t)r->target, r->model, r->arrive_ns);
    r->arrive_ns = 0;
}

/* Sends attempt `hop` of r to the routed node (or serves it here). */
static void ing_dispatch(node *n, ing_req *r, uint64_t hop, const wp_route_result *rr,
                         uint64_t budget_ns)
{
    r->target = (int32_t)rr->node;
    r->cold = rr->cold;
    wp_router_inflight_add(n->view, rr->node, r->model, 1);
    int tcity = (int)wp_router_node_city(n->view, rr->node);
    uint64_t ow = (int)rr->node == n->self_rn ? 0 : oneway_ns_cities(n, n->my_city, tcity);
    /* Counted as this ingress's own load on the target until its answer
     * (view.c: until a report from after its arrival covers it). */
    r->arrive_ns = wp_clock_monotonic_ns() + ow;
    if (wp_router_sends_note(n->sends, n->view, rr->node, r->model, r->arrive_ns) != WP_OK)
        r->arrive_ns = 0;
    if ((int)rr->node == n->self_rn) {
        r->hop_rtt_ns = 0;
        target_accept(n, hop, NULL, 0, true, r->req, budget_ns);
        /* An immediate refusal (draining, not served, ...) was queued as a
         * local answer: deliver it now (r may be answered and freed). */
        flush_local_answers(n);
        return;
    }
    n->st_fwd++;
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
        node_send(n, n->rn[rr->node].addr, n->tx, len, ow, false);
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
        ing_unload(n, r);
    uint64_t now = wp_clock_monotonic_ns();
    /* No retry once the client has seen a part from this target. */
    if (attempts < 2 && !n->stopping && now < r->total_deadline_ns && r->parts_out == 0) {
        wp_route_policy pol = DEFAULT_POLICY;
        if (r->req->policy[0])
            wp_route_policy_parse(r->req->policy, &pol);
        wp_route_result rr;
        if (ing_route(n, r, pol, failed, &rr) == WP_OK) {
            uint64_t budget = attempt_budget_ns(n, r, &rr);
            uint64_t dl = now + budget < r->total_deadline_ns ? now + budget : r->total_deadline_ns;
            uint64_t nh;
            if (wp_reqtab_retry(n->ing, hop, dl, &nh) == WP_OK) {
                n->st_retries++;
                wp_stream_rx_init(&r->rx); /* the new attempt numbers from 0 */
                r->first_ns = 0;
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

/* Whether the target of r's current attempt is known to be alive and
 * still holding work of r's class: a load report it took after the
 * attempt reached it (so it counts the attempt if unanswered), fresh (3
 * report periods), with work of the model's class in flight, from a node
 * the view has UP. A slow answer from such a target is late work, not a
 * dead target: the attempt waits on (up to the request's own deadline)
 * instead of being retried elsewhere, where it would only add load. */
static bool attempt_alive(node *n, const ing_req *r, uint64_t now)
{
    if (r->target < 0 || !r->arrive_ns ||
        wp_router_node_status(n->view, (uint32_t)r->target) != WP_NODE_UP)
        return false;
    uint64_t units[WP_ROUTER_CLASSES] = {0};
    uint64_t at = wp_router_load_seen(n->view, (uint32_t)n->my_city, (uint32_t)r->target, now,
                                      units);
    uint32_t cls = wp_router_model_class(n->view, r->model);
    return at != UINT64_MAX && at >= r->arrive_ns &&
           now - at <= 3ull * LOAD_PERIOD_MS * WP_NS_PER_MS && units[cls] > 0;
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
        if (now < r->total_deadline_ns && attempt_alive(n, r, now)) {
            /* Wait one more measured service (at least two report
             * periods), never past the request's deadline. */
            const wp_model_profile *p = &n->cat[r->model];
            double svc = svc_measured_ms(n, r->model, req_out_tokens(r->req, p), false, NULL);
            uint64_t more = 2ull * LOAD_PERIOD_MS * WP_NS_PER_MS;
            if (svc > 0 && (uint64_t)(svc * 1e6) > more)
                more = (uint64_t)(svc * 1e6);
            uint64_t dl = now + more < r->total_deadline_ns ? now + more : r->total_deadline_ns;
            if (wp_reqtab_extend(n->ing, hop, dl) == WP_OK) {
                n->st_waited++;
                continue;
            }
        }
        /* The target may still hold it: withdraw it there (svc.c), so a
         * retried attempt does not also run on the first target. */
        svc_cancel_attempt(n, r->target, hop);
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

/* A ForwardResponse or a ForwardPart arrived (from a peer, or from this
 * node's own worker). */
void handle_fwd_response(node *n, const uint8_t *buf, size_t len)
{
    wp_infer_kind kind;
    size_t plen;
    Warmpath__Infer__ForwardResponse *fr = NULL;
    if (wp_infer_frame_check(buf, len, &kind, &plen, NULL) == WP_OK &&
        kind == WP_INFER_KIND_FORWARD_PART) {
        handle_fwd_part(n, buf + WP_INFER_HDR_BYTES, plen);
        return;
    }
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
        int lm = fr->response->model ? wp_router_model_find(n->view, fr->response->model) : -1;
        if (lm >= 0)
            svc_learn(n, (uint32_t)lm, fr->response); /* its times are still true */
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
        ing_unload(n, r);
    wp_reqtab_close(n->ing, fr->hop_id);
    svc_learn(n, r->model, in);
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
            r->client_oneway_ns = (uint64_t)(wp_topo_rtt_point_country_ms(
                                                 n->topo, q->client_lat, q->client_lon,
                                                 q->client_country, (size_t)n->my_city) /
                                             2.0 * 1e6);
        double acc_ms = q->client_access_ms;
        if (wp_topo_params(n->topo)->access && acc_ms > 0 && acc_ms <= 10000)
            r->client_oneway_ns += (uint64_t)(acc_ms / 2.0 * 1e6);
    }
    r->total_deadline_ns = q->timeout_ms ? t0 + (uint64_t)q->timeout_ms * WP_NS_PER_MS
                                         : UINT64_MAX;
    /* The client's absolute deadline: the answer leaves after the client
     * leg (2 x one-way), so it must be sent that much before. */
    r->deadline_unix_ns = q->deadline_unix_ns;
    if (r->deadline_unix_ns) {
        uint64_t rt = wp_clock_realtime_ns(), leg = 2 * r->client_oneway_ns;
        if (rt + leg >= r->deadline_unix_ns) {
            ing_error(n, r, WARMPATH__INFER__STATUS__DEADLINE_EXCEEDED,
                      "the deadline passed %.1f ms before ingress %s read the request",
                      (double)(rt + leg - r->deadline_unix_ns) / 1e6, n->id);
            return;
        }
        uint64_t left = r->deadline_unix_ns - rt - leg;
        if (t0 + left < r->total_deadline_ns)
            r->total_deadline_ns = t0 + left;
    }
    if (q->client_city[0] && wp_topo_find(n->topo, q->client_city) < 0) {
        ing_error(n, r, WARMPATH__INFER__STATUS__BAD_REQUEST, "unknown client_city '%s'",
                  q->client_city);
        return;
    }
    wp_route_policy pol = DEFAULT_POLICY;
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
    if (rc == WP_EOVERLOAD && rr.why == WP_ROUTE_WHY_DEADLINE) {
        ing_error(n, r, route_status(rc),
                  "no node can answer model %s from %s within its deadline (the best one "
                  "%.0f ms over the %.0f ms left)",
                  q->model, n->city, (double)rr.best_late_ms - (double)ing_budget_ms(n, r, t0),
                  (double)ing_budget_ms(n, r, t0));
        return;
    }
    if (rc != WP_OK) {
        ing_error(n, r, route_status(rc), "%s for model %s from %s (%s)", wp_strerror(rc),
                  q->model, n->city, wp_route_why_name(rr.why));
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
    ing_dispatch(n, r, hop, &rr, dl - now);
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
    wp_route_policy pol = DEFAULT_POLICY;
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
        /* As a request from a user in `from` reaching this ingress: the
         * route is this node's, the user's leg is shown apart. */
        uint64_t now = wp_clock_monotonic_ns();
        double user_ms = wp_topo_rtt_ms(n->topo, (size_t)from, (size_t)n->my_city);
        double budget_ms = 0;
        if (q->timeout_ms) {
            const wp_model_profile *mp = &n->cat[mi];
            double tail = wp_model_total_ms(mp, mp->typical_in_tokens, mp->typical_out_tokens) -
                          wp_router_model_ttft_ms(n->view, (uint32_t)mi);
            budget_ms = (double)q->timeout_ms - user_ms - (tail > 0 ? tail : 0);
            if (budget_ms < 0.001)
                budget_ms = 0.001;
        }
        wp_route_req rq = {.model = (uint32_t)mi, .ingress = (uint32_t)n->my_city, .policy = pol,
                           .now_ns = now, .budget_ms = (float)budget_ms, .user_ms = (float)user_ms,
                           .sends = n->sends};
        rs.user_ms = (float)user_ms;
        rs.budget_ms = (float)budget_ms;
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
            pc[i].wait_ms = cands[i].wait_ms;
            pc[i].user_ms = cands[i].user_ms;
            pc[i].load_age_ms = cands[i].load_age_ms;
            pc[i].load_units = cands[i].load_units;
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
            snprintf(reason, sizeof reason, "%s (%s)", wp_strerror(rc), wp_route_why_name(rr.why));
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

/* Reads at most budget messages; true when some were left waiting. */
static bool drain_rsock_any(node *n, int budget);

void drain_rsock(node *n)
{
    if (!n->rsock_on || n->stopping)
        return;
    if (drain_rsock_any(n, DRAIN_BUDGET))
        drain_later(n);
}

static bool drain_rsock_any(node *n, int budget)
{
    for (;; budget--) {
        if (!has_pollin(n->rsock))
            return false;
        if (budget <= 0)
            return true;
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

void on_rsock_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    drain_rsock(h->data);
}

/* Shutdown: requests still queued on the endpoint are read, and every
 * pending request is answered SHUTTING_DOWN; then the counters are logged. */
void ingress_shutdown(node *n)
{
    /* Requests already queued on the endpoint but not read yet (bounded:
     * a flood does not hold the shutdown). */
    if (n->rsock_on)
        (void)drain_rsock_any(n, 100 * DRAIN_BUDGET);
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
    WP_INFO(n->id,
            "streaming: %llu parts in, %llu parts out, %llu late parts dropped, %llu parts "
            "lost, %llu stale or bad parts dropped, %llu requests ended by a departed client",
            (unsigned long long)n->st_parts_in, (unsigned long long)n->st_parts_out,
            (unsigned long long)n->st_parts_late, (unsigned long long)n->st_parts_lost,
            (unsigned long long)n->st_parts_dropped, (unsigned long long)n->st_client_gone);
    if (n->st_waited || n->st_cancel_sent || n->st_cancelled)
        WP_INFO(n->id,
                "attempts: %llu deadlines moved on (target alive and busy), %llu cancels sent, "
                "%llu jobs cancelled here",
                (unsigned long long)n->st_waited, (unsigned long long)n->st_cancel_sent,
                (unsigned long long)n->st_cancelled);
    if (n->st_deadline || n->st_drain_yields)
        WP_INFO(n->id, "faults: %llu answered DEADLINE_EXCEEDED, %llu read-budget yields",
                (unsigned long long)n->st_deadline, (unsigned long long)n->st_drain_yields);
}
