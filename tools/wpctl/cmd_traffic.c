/* wpctl traffic — open-loop live traffic against a cluster: emulated users
 * in their cities send to their anycast ingress at a given rate, and every
 * request's result is recorded.
 *
 * Open loop (the way users behave, and the way to measure a server without
 * coordinated omission): arrivals are a Poisson process on the wall clock,
 * independent of responses; any number of requests is in flight, on one
 * ZeroMQ DEALER socket per ingress. One thread: send what is due, poll
 * the sockets until the next arrival, take what came back, repeat. A
 * request whose send falls behind schedule is sent at once (the lag is
 * reported). After the last arrival the client waits for the answers up to
 * a grace period; a request still unanswered then is recorded as a TIMEOUT
 * error, never dropped, so the results file has exactly one row per
 * request sent (sent = ok + errors).
 *
 * Anycast: a user (a population point of the topology's user data) enters
 * at the cluster node whose city has the lowest model RTT from it, among
 * the cluster's cities (topology/'s RTT model). The request carries the
 * user's position so the node can emulate the user <-> ingress leg
 * (--emulate-wan): the client itself adds no delay.
 *
 * Latency, measured here (monotonic clock), nothing reconstructed:
 * total = client send -> final answer received; TTFT = client send -> the
 * first streamed part received (requests ask to stream; see
 * proto/inference.proto). An answer whose first token came only with the
 * final message (one output token, or a node that does not stream) has
 * TTFT = total. Streamed parts are checked for order (node/stream.c): lost
 * parts and parts after the final answer are counted and reported, never
 * taken as answers. */
#include "sim/sim.h"
#include "tools/wpctl/cluster.h"
#include "tools/wpctl/infer_client.h"
#include "tools/wpctl/results.h"
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

typedef struct pending {
    uint64_t send_ns;   /* 0 = slot done */
    uint64_t first_ns;  /* the first streamed part arrived (0: not yet) */
    wp_stream_rx rx;
    uint32_t point;     /* user point, or UINT32_MAX with --from */
    uint16_t ingress;
    uint8_t model;
    uint8_t region;
} pending;

typedef struct model_info {
    char name[WP_NAME_MAX];
    const wp_model_profile *prof; /* NULL when the catalog does not know it */
    uint32_t in_tokens, out_tokens;
    uint32_t *tokens;
} model_info;

typedef struct traffic {
    wpctl_ingress ing[WPCTL_INGRESS_MAX];
    size_t ning;
    void *sock[WPCTL_INGRESS_MAX];
    size_t nmodels;
    model_info models[WP_SIM_MAX_MODELS];
    wp_topology *topo;
    wp_users *users;
    uint16_t *point_ingress; /* per user point */
    int from_city;           /* -1 = population */
    uint16_t from_ingress;
    pending *p;
    size_t np, capp;
    uint64_t start_ns;
    uint64_t outstanding;
    uint64_t unexpected, bad_frames, send_busy;
    uint64_t parts, parts_lost, parts_after_final, parts_dropped;
    uint64_t max_lag_ns;
    FILE *out;
    wpctl_report rep;
    const char *policy;
    uint32_t timeout_ms;
    wp_hist window_ttft_ns; /* TTFT of the responses since the last progress line */
    uint64_t live_next_ns;  /* next ingress liveness check (refresh_live) */
    uint64_t repicks;       /* times the users were re-assigned to live ingresses */
    bool no_admin;          /* a key that the admin sockets refuse (not operator) */
} traffic;

/* Set by SIGINT/SIGTERM: the signal number; a second one ends the wait
 * for answers at once. */
static volatile sig_atomic_t stop_flag, stop_count;
static void on_signal(int sig)
{
    stop_flag = sig;
    stop_count++;
}

static int parse_models(traffic *t, const char *list, wp_err *err)
{
    if (!list) {
        for (size_t i = 0; i < wp_sim_catalog_count() && i < WP_SIM_MAX_MODELS; i++)
            snprintf(t->models[t->nmodels++].name, WP_NAME_MAX, "%s",
                     wp_sim_catalog_model(i)->name);
    } else {
        char buf[WP_SIM_LIST_LEN];
        if (strlen(list) >= sizeof buf)
            return wp_errf(err, WP_EINVAL, "--models: list too long");
        snprintf(buf, sizeof buf, "%s", list);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            if (t->nmodels == WP_SIM_MAX_MODELS)
                return wp_errf(err, WP_EINVAL, "--models: at most %u models", WP_SIM_MAX_MODELS);
            if (!tok[0] || strlen(tok) >= WP_NAME_MAX)
                return wp_errf(err, WP_EINVAL, "--models: bad model name '%.64s'", tok);
            snprintf(t->models[t->nmodels++].name, WP_NAME_MAX, "%s", tok);
        }
        if (t->nmodels == 0)
            return wp_errf(err, WP_EINVAL, "--models: empty list");
    }
    for (size_t m = 0; m < t->nmodels; m++) {
        model_info *mi = &t->models[m];
        int k = wp_sim_catalog_find(mi->name);
        mi->prof = k >= 0 ? wp_sim_catalog_model((size_t)k) : NULL;
        mi->in_tokens = mi->prof ? mi->prof->typical_in_tokens : 16;
        mi->out_tokens = mi->prof ? mi->prof->typical_out_tokens : 16;
        if (mi->in_tokens == 0)
            mi->in_tokens = 1;
        mi->tokens = malloc(mi->in_tokens * sizeof *mi->tokens);
        if (!mi->tokens)
            return wp_errf(err, WP_ENOMEM, "out of memory");
        for (uint32_t i = 0; i < mi->in_tokens; i++)
            mi->tokens[i] = 1 + (i * 7919u) % 31999u;
    }
    return WP_OK;
}

static pending *new_slot(traffic *t)
{
    if (t->np == t->capp) {
        size_t cap = t->capp ? t->capp * 2 : 4096;
        pending *n = realloc(t->p, cap * sizeof *n);
        if (!n)
            return NULL;
        t->p = n;
        t->capp = cap;
    }
    pending *s = &t->p[t->np++];
    memset(s, 0, sizeof *s);
    return s;
}

static void fill_row(const traffic *t, uint64_t id, const pending *s, wpctl_result_row *r)
{
    memset(r, 0, sizeof *r);
    r->id = id;
    if (s->point != UINT32_MAX)
        snprintf(r->user, sizeof r->user, "%.47s", wp_users_point(t->users, s->point)->name);
    else
        snprintf(r->user, sizeof r->user, "%.47s", wp_topo_city(t->topo, (size_t)t->from_city)->name);
    r->region = (wp_region)s->region;
    snprintf(r->ingress, sizeof r->ingress, "%s", t->ing[s->ingress].id);
    snprintf(r->model, sizeof r->model, "%s", t->models[s->model].name);
    r->send_us = (s->send_ns - t->start_ns) / 1000u;
}

static int record(traffic *t, wpctl_result_row *r, wp_err *err)
{
    if (t->out)
        wpctl_results_write_row(t->out, r);
    return wpctl_report_add(&t->rep, r, err);
}

static int on_response(traffic *t, Warmpath__Infer__InferResponse *resp, uint64_t now, wp_err *err)
{
    uint64_t id = resp->request_id;
    if (id == 0 || id > t->np || t->p[id - 1].send_ns == 0) {
        t->unexpected++;
        return WP_OK;
    }
    pending *s = &t->p[id - 1];
    wpctl_result_row r;
    fill_row(t, id, s, &r);
    r.total_us = (now - s->send_ns) / 1000u;
    r.ttft_us = s->first_ns ? (s->first_ns - s->send_ns) / 1000u : r.total_us;
    t->parts_lost += wp_stream_rx_final(&s->rx, resp->stream_parts);
    if (resp->status == WARMPATH__INFER__STATUS__OK) {
        snprintf(r.status, sizeof r.status, "ok");
        wp_hist_record(&t->window_ttft_ns, r.ttft_us * 1000u);
    } else {
        snprintf(r.status, sizeof r.status, "%s", wp_infer_status_name(resp->status));
        snprintf(r.reason, sizeof r.reason, "%s", resp->reason ? resp->reason : "");
        r.ttft_us = 0;
    }
    snprintf(r.node, sizeof r.node, "%s", resp->serving_node ? resp->serving_node : "");
    if (resp->ingress_node && resp->ingress_node[0])
        snprintf(r.ingress, sizeof r.ingress, "%s", resp->ingress_node);
    r.cold = resp->cold;
    r.retried = resp->retried;
    if (resp->first_target)
        snprintf(r.first_target, sizeof r.first_target, "%s", resp->first_target);
    s->send_ns = 0;
    t->outstanding--;
    return record(t, &r, err);
}

/* A streamed part: its arrival is the first token's, when it is the first. */
static void on_part(traffic *t, const Warmpath__Infer__StreamPart *sp, uint64_t now)
{
    t->parts++;
    uint64_t id = sp->id;
    if (id == 0 || id > t->np || t->p[id - 1].send_ns == 0) {
        t->parts_after_final++; /* its request already has its answer */
        return;
    }
    pending *s = &t->p[id - 1];
    wp_stream_verdict v = wp_stream_rx_part(&s->rx, (int)sp->kind, sp->seq);
    if (v != WP_STREAM_IN_ORDER && v != WP_STREAM_GAP) {
        t->parts_dropped++;
        return;
    }
    if (!s->first_ns)
        s->first_ns = now;
}

static int drain_socket(traffic *t, size_t i, wp_err *err)
{
    for (;;) {
        Warmpath__Infer__InferResponse *resp = NULL;
        Warmpath__Infer__StreamPart *part = NULL;
        wp_err e2;
        wp_err_clear(&e2);
        int rv = wpctl_infer_recv(t->sock[i], &resp, &part, &e2);
        if (rv == WP_ENOTFOUND)
            return WP_OK;
        if (rv != WP_OK) {
            t->bad_frames++;
            continue;
        }
        if (part) {
            on_part(t, part, wp_clock_monotonic_ns());
            warmpath__infer__stream_part__free_unpacked(part, NULL);
            continue;
        }
        rv = on_response(t, resp, wp_clock_monotonic_ns(), err);
        warmpath__infer__infer_response__free_unpacked(resp, NULL);
        if (rv != WP_OK)
            return rv;
    }
}

/* The ingress a user enters at: the lowest model RTT over the backbone
 * graph (wp_users_rtt_ms: what the nodes emulate for the client leg and
 * what the simulated twin picks), among the ingresses not seen down. pt:
 * a population point; or from_city >= 0 (then pt is unused). */
static uint16_t nearest_ingress(const traffic *t, size_t pt, int from_city)
{
    size_t best = 0;
    double best_rtt = INFINITY;
    for (size_t i = 0; i < t->ning; i++) {
        int c = t->ing[i].city[0] ? wp_topo_find(t->topo, t->ing[i].city) : -1;
        if (c < 0 || t->ing[i].down)
            continue;
        double r = from_city >= 0 ? wp_topo_rtt_ms(t->topo, (size_t)from_city, (size_t)c)
                                  : wp_users_rtt_ms(t->users, pt, (size_t)c);
        if (r < best_rtt) {
            best_rtt = r;
            best = i;
        }
    }
    return (uint16_t)best;
}

/* The draws of one run, one stream each, forked from the seed in the
 * simulator's order (sim/engine.c: arrival, user, model, cold, function,
 * access): with the same seed the simulated twin draws the same arrivals,
 * users, models and access latencies (common random numbers), so `report
 * --vs-sim` compares the two worlds, not two samples of a heavy tail
 * (p95 of ~250 requests of one region spreads by +-20% between samples). */
typedef struct draws {
    wp_rng arrival, user, model, access;
} draws;

static void draws_init(draws *d, uint64_t seed)
{
    wp_rng master, unused;
    wp_rng_seed(&master, seed);
    wp_rng_fork(&master, &d->arrival);
    wp_rng_fork(&master, &d->user);
    wp_rng_fork(&master, &d->model);
    wp_rng_fork(&master, &unused); /* cold */
    wp_rng_fork(&master, &unused); /* function */
    wp_rng_fork(&master, &d->access);
}

static int send_one(traffic *t, draws *dr, const wp_zipf *zipf, uint64_t now, wp_err *err)
{
    pending *s = new_slot(t);
    if (!s)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    uint64_t id = t->np;
    double lat, lon, access_ms = 0;
    const char *country = "";
    if (t->from_city >= 0) {
        const wp_city *c = wp_topo_city(t->topo, (size_t)t->from_city);
        country = c->country;
        s->point = UINT32_MAX;
        s->ingress = t->from_ingress;
        s->region = (uint8_t)c->region;
        lat = c->lat;
        lon = c->lon;
    } else {
        size_t pt = wp_users_draw(t->users, &dr->user);
        const wp_user_point *u = wp_users_point(t->users, pt);
        s->point = (uint32_t)pt;
        s->ingress = t->point_ingress[pt];
        s->region = (uint8_t)u->region;
        lat = u->lat;
        lon = u->lon;
        country = u->country;
        if (wp_topo_params(t->topo)->access)
            access_ms = wp_users_access_draw(t->users, pt, &dr->access);
    }
    s->model = (uint8_t)wp_zipf_draw(zipf, &dr->model); /* s = 0 without --zipf: uniform */
    const model_info *mi = &t->models[s->model];
    Warmpath__Infer__InferRequest req = WARMPATH__INFER__INFER_REQUEST__INIT;
    req.request_id = id;
    req.model = (char *)mi->name;
    req.n_input_tokens = mi->in_tokens;
    req.input_tokens = mi->tokens;
    req.max_output_tokens = mi->out_tokens;
    req.has_client_pos = true;
    req.client_lat = lat;
    req.client_lon = lon;
    req.client_country = (char *)country;
    req.client_access_ms = access_ms;
    req.policy = (char *)(t->policy ? t->policy : "");
    req.timeout_ms = t->timeout_ms;
    req.stream = true;
    s->send_ns = now;
    s->first_ns = 0;
    wp_stream_rx_init(&s->rx);
    wp_err e2;
    wp_err_clear(&e2);
    int rv = wpctl_infer_send(t->sock[s->ingress], &req, &e2);
    if (rv == WP_OK) {
        t->outstanding++;
        return WP_OK;
    }
    /* Not sent (queue full or socket error): one error row, never silent. */
    t->send_busy++;
    wpctl_result_row r;
    fill_row(t, id, s, &r);
    snprintf(r.status, sizeof r.status, "SEND_FAILED");
    snprintf(r.reason, sizeof r.reason, "%s", wp_err_text(&e2));
    s->send_ns = 0;
    return record(t, &r, err);
}

/* Failover, as anycast does once a dead PoP's route is withdrawn: about
 * every second (cluster mode, 2+ ingresses) one live ingress's gossip view
 * (its admin members list) says which ingresses are dead or left; the
 * users are then re-assigned to the nearest live one. Requests already sent
 * to a dead one end as its answer or the client's own timeout. The admin
 * call is bounded (300 ms) and tried on at most 3 nodes. A client key (not
 * operator) has no admin access: no failover then, said once at the start,
 * rather than two refused calls stalling the sender each second. */
static void refresh_live(traffic *t, uint64_t now)
{
    if (t->ning < 2 || t->no_admin || now < t->live_next_ns)
        return;
    t->live_next_ns = now + 1000000000u;
    Warmpath__Admin__AdminRequest req = WARMPATH__ADMIN__ADMIN_REQUEST__INIT;
    Warmpath__Admin__MembersRequest mr = WARMPATH__ADMIN__MEMBERS_REQUEST__INIT;
    req.req_case = WARMPATH__ADMIN__ADMIN_REQUEST__REQ_MEMBERS;
    req.members = &mr;
    Warmpath__Admin__AdminResponse *resp = NULL;
    for (size_t k = 0, tried = 0; k < t->ning && !resp && tried < 3; k++) {
        if (t->ing[k].down || !t->ing[k].admin[0])
            continue;
        tried++;
        wp_err e;
        if (wpctl_admin_call(t->ing[k].admin, &req, 300, &resp, &e) != WP_OK)
            resp = NULL;
    }
    if (!resp)
        return;
    bool changed = false;
    for (size_t i = 0; i < t->ning; i++) {
        bool down = t->ing[i].down;
        for (size_t m = 0; m < resp->n_members; m++)
            if (strcmp(resp->members[m]->id, t->ing[i].id) == 0)
                down = strcmp(resp->members[m]->status, "dead") == 0 ||
                       strcmp(resp->members[m]->status, "left") == 0;
        if (down != t->ing[i].down) {
            t->ing[i].down = down;
            changed = true;
        }
    }
    warmpath__admin__admin_response__free_unpacked(resp, NULL);
    size_t live = 0;
    for (size_t i = 0; i < t->ning; i++)
        live += !t->ing[i].down;
    if (!changed || live == 0)
        return;
    t->repicks++;
    if (t->from_city >= 0) {
        t->from_ingress = nearest_ingress(t, 0, t->from_city);
    } else {
        for (size_t i = 0; i < wp_users_count(t->users); i++)
            t->point_ingress[i] = nearest_ingress(t, i, -1);
    }
}

static int poll_once(traffic *t, zmq_pollitem_t *items, long wait_ms, wp_err *err)
{
    if (wait_ms < 0)
        wait_ms = 0;
    int n = zmq_poll(items, (int)t->ning, wait_ms);
    if (n < 0) {
        if (zmq_errno() == EINTR)
            return WP_OK;
        return wp_errf(err, WP_EIO, "poll: %s", zmq_strerror(zmq_errno()));
    }
    for (size_t i = 0; i < t->ning; i++)
        if (items[i].revents & ZMQ_POLLIN) {
            int rv = drain_socket(t, i, err);
            if (rv != WP_OK)
                return rv;
        }
    return WP_OK;
}

static int expire_all(traffic *t, double grace_s, bool interrupted, wp_err *err)
{
    for (size_t k = 0; k < t->np; k++) {
        pending *s = &t->p[k];
        if (s->send_ns == 0)
            continue;
        wpctl_result_row r;
        fill_row(t, k + 1, s, &r);
        if (interrupted) {
            snprintf(r.status, sizeof r.status, "INTERRUPTED");
            snprintf(r.reason, sizeof r.reason, "run interrupted before the response came");
        } else {
            snprintf(r.status, sizeof r.status, "TIMEOUT");
            snprintf(r.reason, sizeof r.reason,
                     "no response by the end of the run (%.1f s grace after the last arrival)",
                     grace_s);
        }
        s->send_ns = 0;
        t->outstanding--;
        int rv = record(t, &r, err);
        if (rv != WP_OK)
            return rv;
    }
    return WP_OK;
}

static void print_summary_json(const traffic *t, wp_json *j, double rate, double duration_s,
                               double sending_s, double wall_s, uint64_t start_unix_ns)
{
    char model[256];
    wp_rtt_params_describe(wp_topo_params(t->topo), model, sizeof model);
    wp_json_key(j, "rtt_model");
    wp_json_str(j, model);
    wp_json_key(j, "target_rate_rps");
    wp_json_double(j, rate);
    wp_json_key(j, "duration_s");
    wp_json_double(j, duration_s);
    wp_json_key(j, "sending_s");
    wp_json_double(j, sending_s);
    wp_json_key(j, "achieved_rate_rps");
    wp_json_double(j, sending_s > 0 ? (double)t->np / sending_s : 0);
    wp_json_key(j, "interrupted");
    wp_json_bool(j, stop_flag != 0);
    wp_json_key(j, "run_wall_s");
    wp_json_double(j, wall_s);
    wp_json_key(j, "start_unix_ns");
    wp_json_uint(j, start_unix_ns);
    wp_json_key(j, "ingresses");
    wp_json_uint(j, t->ning);
    wp_json_key(j, "ingress_repicks");
    wp_json_uint(j, t->repicks);
    wp_json_key(j, "max_send_lag_ms");
    wp_json_double(j, (double)t->max_lag_ns / 1e6);
    wp_json_key(j, "send_failed");
    wp_json_uint(j, t->send_busy);
    wp_json_key(j, "unexpected_responses");
    wp_json_uint(j, t->unexpected);
    wp_json_key(j, "bad_frames");
    wp_json_uint(j, t->bad_frames);
    wp_json_key(j, "stream_parts");
    wp_json_uint(j, t->parts);
    wp_json_key(j, "stream_parts_lost");
    wp_json_uint(j, t->parts_lost);
    wp_json_key(j, "stream_parts_after_final");
    wp_json_uint(j, t->parts_after_final);
    wp_json_key(j, "stream_parts_dropped");
    wp_json_uint(j, t->parts_dropped);
}

/* One progress line on a terminal (stderr), at most once a second. */
static void show_progress(traffic *t, uint64_t now, uint64_t *next_ns)
{
    if (now < *next_ns)
        return;
    *next_ns = now + 1000000000u;
    double p95_ms = t->window_ttft_ns.count ? (double)wp_hist_quantile(&t->window_ttft_ns, 0.95) / 1e6
                                            : 0;
    fprintf(stderr, "\r\033[Ktraffic: %.0f s  sent %zu  ok %llu  errors %llu  in flight %llu  "
                    "p95 TTFT %.1f ms",
            (double)(now - t->start_ns) / 1e9, t->np, (unsigned long long)t->rep.ok,
            (unsigned long long)t->rep.errors, (unsigned long long)t->outstanding, p95_ms);
    fflush(stderr);
    wp_hist_init(&t->window_ttft_ns);
}

/* Asks the first ingress how it would route each model of an explicit
 * --models list, and refuses a model it does not know before anything is
 * sent. An ingress that does not answer the question decides nothing. */
static int check_models(const traffic *t, wp_err *err)
{
    for (size_t m = 0; m < t->nmodels; m++) {
        Warmpath__Infer__RouteRequest req = WARMPATH__INFER__ROUTE_REQUEST__INIT;
        req.request_id = m + 1;
        req.model = (char *)t->models[m].name;
        req.client_city = (char *)"";
        req.policy = (char *)"";
        req.max_candidates = 1;
        Warmpath__Infer__RouteResponse *resp = NULL;
        wp_err e2;
        wp_err_clear(&e2);
        if (wpctl_route_call(t->ing[0].endpoint, &req, 2000, &resp, &e2) != WP_OK)
            continue;
        bool unknown = resp->status == WARMPATH__INFER__STATUS__UNKNOWN_MODEL;
        warmpath__infer__route_response__free_unpacked(resp, NULL);
        if (unknown)
            return wp_errf(err, WP_ENOTFOUND,
                           "--models: unknown model '%s' (not in the catalog of %s); "
                           "nothing sent",
                           t->models[m].name, t->ing[0].id);
    }
    return WP_OK;
}

static void cleanup(traffic *t, void *zctx)
{
    for (size_t i = 0; i < t->ning; i++)
        if (t->sock[i])
            zmq_close(t->sock[i]);
    if (zctx)
        zmq_ctx_term(zctx);
    for (size_t m = 0; m < t->nmodels; m++)
        free(t->models[m].tokens);
    free(t->p);
    free(t->point_ingress);
    wp_users_free(t->users);
    wp_topo_free(t->topo);
    if (t->out && t->out != stdout)
        fclose(t->out);
    wpctl_report_free(&t->rep);
    free(t);
}

/* FILE.twin beside the results: the SIMULATED twin of the cluster and the
 * traffic (a `wpctl sim` scenario), for `wpctl report FILE --vs-sim`.
 * GPUs and memory per node come from the cluster file (`cluster up`);
 * without one (--endpoint) each ingress counts as 1 GPU of 24 GiB. */
static int write_twin(const traffic *t, const char *dir, const char *out_path,
                      const char *preset, const char *rtt_params, double rate, bool use_zipf,
                      const char *from, wp_err *err)
{
    char path[1024];
    if (snprintf(path, sizeof path, "%s.twin", out_path) >= (int)sizeof path)
        return wp_errf(err, WP_EINVAL, "--out: path too long");
    uint32_t gpus = 1;
    double mem_gb = 24;
    wpctl_cluster *c = calloc(1, sizeof *c);
    wp_err cerr;
    if (c && dir && wpctl_cluster_load(dir, c, &cerr) == WP_OK) {
        gpus = c->gpus ? c->gpus : 1;
        mem_gb = c->gpu_mem_mib ? (double)c->gpu_mem_mib / 1024.0 : mem_gb;
    }
    free(c);
    FILE *fp = fopen(path, "w");
    if (!fp)
        return wp_errf(err, WP_EIO, "%s: %s", path, strerror(errno));
    fprintf(fp, "# SIMULATED twin of the cluster and traffic recorded in %s\n"
                "# (written by wpctl traffic; read by wpctl report FILE --vs-sim)\n",
            out_path);
    if (from)
        fprintf(fp, "# users: all in %s live; the simulation draws them by population\n", from);
    fprintf(fp, "name = live-twin\nserving = edge\npreset = %s\ncities = ", preset);
    bool first = true;
    for (size_t i = 0; i < t->ning; i++) {
        bool dup = false;
        for (size_t k = 0; k < i && !dup; k++)
            dup = strcmp(t->ing[k].city, t->ing[i].city) == 0;
        if (!dup && t->ing[i].city[0]) {
            fprintf(fp, "%s%s", first ? "" : ",", t->ing[i].city);
            first = false;
        }
    }
    fprintf(fp, "\ngpus_total = %zu\ngpu_mem_gb = %g\nprewarm = yes\npolicy = %s\nmodels = ",
            t->ning * gpus, mem_gb, t->policy ? t->policy : "latency");
    for (size_t m = 0; m < t->nmodels; m++)
        fprintf(fp, "%s%s", m ? "," : "", t->models[m].name);
    fprintf(fp, "\nzipf_s = %d\nrate_rps = %g\ndiurnal_amplitude = 0\nfunctions = 1\n"
                "function_sigma = 0\nisolate_start_ms = 0\ninvoke_ms = 0\n"
                "intra_city_rtt_ms = 0\ndeadline_ms = %u\n",
            use_zipf ? 1 : 0, rate, t->timeout_ms);
    if (rtt_params)
        fprintf(fp, "rtt_params = %s\n", rtt_params);
    if (fclose(fp) != 0)
        return wp_errf(err, WP_EIO, "%s: write failed", path);
    return WP_OK;
}

int wpctl_traffic_main(int argc, char **argv)
{
    double rate = 100, duration_s = 10, grace_s = -1;
    const char *models = NULL, *from = NULL, *out_path = NULL, *users = "population";
    const char *preset = "edge", *policy = NULL, *rtt_params = NULL;
    wpctl_target tg = {0};
    uint64_t seed = 1, timeout_ms = 5000, out_tokens = 0;
    bool use_zipf = false, json = false, quiet = false;
    const wpctl_flag flags[] = {
        WPF_POSITIVE("rate", &rate, 0, 1e6, "R", "mean requests per second (default 100)"),
        WPF_POSITIVE("duration", &duration_s, 0, 86400, "S", "seconds of arrivals (default 10)"),
        WPF_STR("models", &models, "LIST",
                "comma list of catalog models, drawn uniformly (default:\n"
                "every model of the default catalog); a model the cluster\n"
                "does not know is refused before anything is sent"),
        WPF_BOOL("zipf", &use_zipf, "draw the models by Zipf popularity (s = 1, list order)"),
        WPF_STR("users", &users, "population", "users drawn by population (default)"),
        WPF_STR("from", &from, "CITY", "every user in this city (a code of the topology)"),
        WPF_STR("preset", &preset, "P", "topology for users, cities and RTTs (default edge)"),
        WPF_STR("rtt-params", &rtt_params, "F",
                "RTT model (wpctl topo fit --out F; default: the shipped v2\n"
                "model): with access on, each drawn user also draws its country's\n"
                "access latency, sent for the ingress to add to the emulated\n"
                "client leg (--from CITY users: none)"),
        WPF_STR("policy", &policy, "P", "routing policy asked of the ingress (default: the node's)"),
        WPF_U64("timeout-ms", &timeout_ms, 1, 600000, "T",
                "deadline sent with each request (default 5000)"),
        WPF_DOUBLE("grace", &grace_s, 0, 3600, "S",
                   "wait this long after the last arrival (default: T + 2 s)"),
        WPF_U64("out-tokens", &out_tokens, 0, WP_INFER_MAX_OUTPUT_TOKENS, "N",
                "output tokens asked per request (default 0: each model's typical)"),
        WPF_STR("out", &out_path, "FILE",
                "write every result (CSV; see `wpctl report --help`), and\n"
                "FILE.twin: the simulated twin (cities, GPUs, models, rate)\n"
                "for `wpctl report FILE --vs-sim`"),
        WPF_DIR(&tg),
        WPF_STR("endpoint", &tg.endpoint, "ADDR",
                "send every request to this request endpoint instead"),
        WPF_U64("seed", &seed, 1, 0, "S", "seed of arrivals, users and models (default 1)"),
        WPF_BOOL("quiet", &quiet, "no report table (the summary only)"),
        WPF_JSON(&json, "the summary and the report as one JSON object"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "traffic",
        .about = "Sends live inference requests to a running cluster, OPEN LOOP: Poisson\n"
    "arrivals at the given mean rate, independent of the responses, many in\n"
    "flight. Emulated users are drawn by population (or all sit in one city with\n"
    "--from) and each sends to its anycast ingress: the cluster node whose city\n"
    "has the lowest model RTT from the user. Every request is recorded; one\n"
    "still unanswered after the grace period counts as a TIMEOUT error. Prints\n"
    "a summary and the latency table by region (as `wpctl report`).\n\n"
                 "On a terminal, a progress line (sent, ok, errors, p95 TTFT of the last\n"
                 "second) is shown on stderr every second. Ctrl-C (or SIGTERM) stops the\n"
                 "arrivals, waits up to 1 s for answers (a second Ctrl-C: none), records\n"
                 "what is still unanswered as INTERRUPTED errors, prints the summary and\n"
                 "exits with 130 (143 after SIGTERM).\n",
        .flags = flags,
    };
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, NULL);
    if (strcmp(users, "population") != 0)
        return wpctl_usage_error("traffic", "--users: only 'population' is known");
    const char *dir = tg.dir, *endpoint = tg.endpoint;
    if (dir && endpoint)
        return wpctl_usage_error("traffic", "give --dir or --endpoint, not both");
    if (grace_s < 0)
        grace_s = (double)timeout_ms / 1000.0 + 2.0;
    if (rate * duration_s > 50e6)
        return wpctl_usage_error("traffic", "rate x duration above 50 million requests");

    /* Handlers first: a Ctrl-C during the set-up (preset, users, ingress
     * checks) is then an interrupted run with nothing sent, not lost (a
     * background job of a non-interactive shell starts with SIGINT
     * ignored) and not a kill that skips the cleanup. */
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    stop_flag = 0;
    stop_count = 0;
    wp_err err;
    wp_err_clear(&err);
    traffic *t = calloc(1, sizeof *t);
    if (!t)
        return wpctl_fail("out of memory");
    t->from_city = -1;
    t->policy = policy;
    t->timeout_ms = (uint32_t)timeout_ms;
    void *zctx = NULL;
    wp_zipf zipf = {0};
    int rv = wpctl_report_init(&t->rep, &err);
    if (rv == WP_OK)
        rv = parse_models(t, models, &err);
    for (size_t m = 0; rv == WP_OK && out_tokens && m < t->nmodels; m++)
        t->models[m].out_tokens = (uint32_t)out_tokens;
    wp_rtt_params model_params;
    wp_rtt_params_default(&model_params);
    if (rv == WP_OK && rtt_params)
        rv = wp_rtt_params_load(rtt_params, &model_params, &err);
    if (rv == WP_OK)
        rv = wp_topo_load_preset(preset, &model_params, &t->topo, &err);
    if (rv == WP_OK)
        rv = wpctl_ingress_list(dir, endpoint, t->topo, t->ing, WPCTL_INGRESS_MAX, &t->ning, &err);
    if (rv == WP_OK && models)
        rv = check_models(t, &err);
    if (rv != WP_OK)
        goto fail;
    {
        wp_curve_id kid;
        wp_err kerr = {0};
        char kname[WP_KEY_NAME_MAX] = "";
        if (wp_curve_id_from_env(&kid, &kerr) == 1) {
            t->no_admin = kid.role != WP_ROLE_OPERATOR;
            snprintf(kname, sizeof kname, "%s", kid.name);
            wp_curve_id_clear(&kid);
        }
        if (t->no_admin && t->ning > 1)
            fprintf(stderr, "wpctl traffic: key %s is not an operator key: no ingress failover "
                            "(the nodes' gossip view is on their admin sockets)\n", kname);
    }
    if (from) {
        t->from_city = wp_topo_find(t->topo, from);
        if (t->from_city < 0) {
            rv = wp_errf(&err, WP_EINVAL, "--from: no city '%.32s' in preset %s", from, preset);
            goto fail;
        }
        t->from_ingress = nearest_ingress(t, 0, t->from_city);
    } else {
        if ((rv = wp_users_load(t->topo, NULL, &t->users, &err)) != WP_OK)
            goto fail;
        size_t npts = wp_users_count(t->users);
        t->point_ingress = calloc(npts ? npts : 1, sizeof *t->point_ingress);
        if (!t->point_ingress) {
            rv = wp_errf(&err, WP_ENOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < npts; i++)
            t->point_ingress[i] = nearest_ingress(t, i, -1);
    }
    if (wp_zipf_init(&zipf, t->nmodels, use_zipf ? 1.0 : 0.0) != WP_OK) {
        rv = wp_errf(&err, WP_ENOMEM, "out of memory");
        goto fail;
    }
    if (out_path) {
        t->out = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "w");
        if (!t->out) {
            rv = wp_errf(&err, WP_EIO, "--out %s: %s", out_path, strerror(errno));
            goto fail;
        }
        wpctl_results_write_header(t->out);
    }
    zctx = zmq_ctx_new();
    if (!zctx) {
        rv = wp_errf(&err, WP_EIO, "zmq_ctx_new failed");
        goto fail;
    }
    int maxsock = 4096;
    zmq_ctx_set(zctx, ZMQ_MAX_SOCKETS, maxsock);
    zmq_pollitem_t *items = calloc(t->ning, sizeof *items);
    if (!items) {
        rv = wp_errf(&err, WP_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < t->ning; i++) {
        t->sock[i] = wpctl_infer_socket(zctx, t->ing[i].endpoint, 1000000, &err);
        if (!t->sock[i]) {
            free(items);
            rv = WP_EIO;
            goto fail;
        }
        items[i].socket = t->sock[i];
        items[i].events = ZMQ_POLLIN;
    }

    bool progress = isatty(STDERR_FILENO) && !json;
    uint64_t next_progress_ns = 0;
    wp_hist_init(&t->window_ttft_ns);

    draws dr;
    draws_init(&dr, seed);
    uint64_t start_unix_ns = wp_clock_realtime_ns();
    t->start_ns = wp_clock_monotonic_ns();
    uint64_t end_ns = t->start_ns + (uint64_t)(duration_s * 1e9);
    double next_at = (double)t->start_ns + wp_rng_exp(&dr.arrival, 1e9 / rate);
    while (rv == WP_OK && !stop_flag) {
        uint64_t now = wp_clock_monotonic_ns();
        while (rv == WP_OK && next_at <= (double)now && next_at < (double)end_ns) {
            uint64_t lag = now - (uint64_t)next_at;
            if (lag > t->max_lag_ns)
                t->max_lag_ns = lag;
            rv = send_one(t, &dr, &zipf, now, &err);
            next_at += wp_rng_exp(&dr.arrival, 1e9 / rate);
        }
        if (rv != WP_OK || next_at >= (double)end_ns)
            break;
        now = wp_clock_monotonic_ns();
        if (progress)
            show_progress(t, now, &next_progress_ns);
        refresh_live(t, now);
        now = wp_clock_monotonic_ns();
        long wait_ms = next_at > (double)now ? (long)((next_at - (double)now) / 1e6) : 0;
        rv = poll_once(t, items, wait_ms > 200 ? 200 : wait_ms, &err);
    }
    uint64_t sending_end = wp_clock_monotonic_ns();
    if (sending_end > end_ns)
        sending_end = end_ns;
    double sending_s = (double)(sending_end - t->start_ns) / 1e9;
    /* Interrupted: a short wait for what is in flight, none after a second
     * signal. */
    double wait_s = stop_flag ? (grace_s < 1.0 ? grace_s : 1.0) : grace_s;
    uint64_t grace_end = wp_clock_monotonic_ns() + (uint64_t)(wait_s * 1e9);
    while (rv == WP_OK && t->outstanding > 0 && stop_count < 2) {
        uint64_t now = wp_clock_monotonic_ns();
        if (now >= grace_end)
            break;
        if (stop_flag && wait_s > 1.0) {
            wait_s = 1.0;
            grace_end = now + 1000000000u;
        }
        if (progress)
            show_progress(t, now, &next_progress_ns);
        long wait_ms = (long)((grace_end - now) / 1000000u);
        rv = poll_once(t, items, wait_ms > 100 ? 100 : wait_ms, &err);
    }
    if (progress)
        fputs("\r\033[K", stderr);
    if (rv == WP_OK)
        rv = expire_all(t, wait_s, stop_flag != 0, &err);
    double wall_s = (double)(wp_clock_monotonic_ns() - t->start_ns) / 1e9;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free(items);
    wp_zipf_close(&zipf);
    if (rv != WP_OK)
        goto fail;
    if (t->out && t->out != stdout && fclose(t->out) != 0) {
        t->out = NULL;
        rv = wp_errf(&err, WP_EIO, "--out %s: write failed", out_path);
        goto fail;
    }
    if (t->out == stdout)
        fflush(stdout);
    t->out = NULL;
    if (out_path && strcmp(out_path, "-") != 0 &&
        write_twin(t, tg.endpoint ? NULL : wpctl_cluster_dir(tg.dir), out_path, preset,
                   rtt_params, rate, use_zipf, from, &err) != WP_OK)
        goto fail;
    wpctl_report_finish(&t->rep);
    t->rep.res->seed = seed;
    bool add_up = t->rep.sent == t->np && t->rep.sent == t->rep.ok + t->rep.errors;
    FILE *o = out_path && strcmp(out_path, "-") == 0 ? stderr : stdout;
    if (json) {
        wp_json j;
        wp_json_init(&j, o, false);
        wp_json_obj_begin(&j);
        print_summary_json(t, &j, rate, duration_s, sending_s, wall_s, start_unix_ns);
        wp_json_key(&j, "report");
        wpctl_report_json(&t->rep, "live", &j);
        wp_json_obj_end(&j);
        wp_json_end(&j);
    } else {
        fprintf(o,
                "traffic: %zu requests in %.1f s (target %.1f/s, achieved %.1f/s), open loop, "
                "%zu ingress node%s%s\n",
                t->np, sending_s, rate, sending_s > 0 ? (double)t->np / sending_s : 0, t->ning,
                t->ning == 1 ? "" : "s", stop_flag ? " (interrupted)" : "");
        char model[256];
        wp_rtt_params_describe(wp_topo_params(t->topo), model, sizeof model);
        fprintf(o, "RTT model: %s\n", model);
        fprintf(o,
                "sent %llu = ok %llu + errors %llu; max send lag %.2f ms; send failures %llu; "
                "unexpected responses %llu; bad frames %llu\n",
                (unsigned long long)t->rep.sent, (unsigned long long)t->rep.ok,
                (unsigned long long)t->rep.errors, (double)t->max_lag_ns / 1e6,
                (unsigned long long)t->send_busy, (unsigned long long)t->unexpected,
                (unsigned long long)t->bad_frames);
        fprintf(o,
                "streamed parts %llu (TTFT = send -> first part, measured here); lost %llu; "
                "after the final answer %llu; stale or bad %llu\n",
                (unsigned long long)t->parts, (unsigned long long)t->parts_lost,
                (unsigned long long)t->parts_after_final, (unsigned long long)t->parts_dropped);
        if (out_path)
            fprintf(o, "results written to %s\n", out_path);
        if (!quiet) {
            fputc('\n', o);
            wpctl_report_print_table(&t->rep, out_path ? out_path : "(not saved)", o);
        }
    }
    cleanup(t, zctx);
    if (!add_up)
        return wpctl_fail("counts do not add up (a bug): rows != requests sent");
    if (stop_flag)
        return 128 + (int)stop_flag; /* 130 after Ctrl-C, 143 after SIGTERM */
    return WPCTL_OK;
fail:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    wp_zipf_close(&zipf);
    cleanup(t, zctx);
    return wpctl_fail("%s", wp_err_text(&err));
}
