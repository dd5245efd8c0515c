/* target.c — wp-node as a TARGET: forwarded requests (and requests its
 * own ingress serves locally) run through the GPU worker (timing model on
 * the loop, cpu/cuda on a worker thread fed through wops_push), each
 * answered once with a ForwardResponse to the ingress's reply address.
 * Also the dispatch of request-path frames arriving on the PULL socket.
 * The request path's essay is at the top of ingress.c.
 */
#include "node/node_int.h"

#define START_BY_SLACK_NS (20 * WP_NS_PER_MS)

/* Hands an operation to the GPU worker thread (cpu/cuda backends). */
void wops_push(node *n, wop *op)
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

/* ---------------------------------------------------------------- target */

void job_unlink(node *n, tgt_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        n->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    n->n_jobs--;
    if (n->tgt_inflight[j->mi])
        n->tgt_inflight[j->mi]--;
}

void job_free(tgt_job *j)
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
    target_send_frame(n, local, reply_addr, delay_ns, buf, len);
}

static void target_error(node *n, uint64_t hop, const char *reply_addr, uint64_t delay_ns,
                         bool local, int status, const char *reason)
{
    Warmpath__Infer__InferResponse resp = WARMPATH__INFER__INFER_RESPONSE__INIT;
    resp.status = (Warmpath__Infer__Status)status;
    resp.reason = (char *)reason;
    target_reply(n, hop, reply_addr, delay_ns, local, &resp);
}

void flush_local_answers(node *n)
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


/* Runs the worker (timing model: here; cpu/cuda: wakes its thread). */
void gpu_kick(node *n)
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

void on_gpu_timer(uv_poll_t *p, int status, int events)
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
    if (error == WP_ECANCELED || (j->cancelled && error)) {
        /* The ingress gave up on it (target_cancel): nobody waits. */
        job_unlink(n, j);
        job_free(j);
        return;
    }
    if (error) {
        resp.status = error == WP_EOVERLOAD || error == WP_ETIMEDOUT
                          ? WARMPATH__INFER__STATUS__OVERLOADED
                          : WARMPATH__INFER__STATUS__TARGET_FAILED;
        if (error == WP_ETIMEDOUT)
            snprintf(reason, sizeof reason, "%s: dropped, its deadline passed before it could start",
                     n->id);
        else
            snprintf(reason, sizeof reason, "worker on %s: %s", n->id, wp_strerror(error));
        resp.reason = reason;
    } else if (deadline_passed(j->deadline_unix_ns, j->reply_delay_ns)) {
        /* Finished too late (the node was paused, or the queue was long):
         * the answer would arrive after the deadline. */
        resp.status = WARMPATH__INFER__STATUS__DEADLINE_EXCEEDED;
        resp.reason = "the deadline passed before the target finished";
    } else {
        n->st_served++;
        if (n->gpu_kind != WP_GPU_MODEL)
            svc_target_learn(n, j->mi, res);
        uint64_t elapsed = now - j->arrival_ns;
        uint64_t cold_ns = j->cold ? j->load_ns : 0;
        tm.service_us = res->total_ns / 1000;
        tm.service_first_us = res->ttft_ns / 1000;
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
    resp.part = WARMPATH__INFER__PART_KIND__PART_FINAL;
    resp.stream_parts = j->parts;
    nm_target_done(n, j->model, (int)resp.status);
    job_unlink(n, j);
    target_reply(n, j->hop_id, j->reply_addr, j->reply_delay_ns, j->local, &resp);
    free(out);
    job_free(j);
}

/* Worker completion callback: the loop thread (timing model) or the worker
 * thread (cpu/cuda). */
void on_gpu_done(void *ctx, uint64_t req_id, int error, const wp_gen_result *res)
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

void on_wasync(uv_async_t *a)
{
    node *n = a->data;
    uv_mutex_lock(&n->wmu);
    tgt_job *list = n->wdone;
    n->wdone = NULL;
    tgt_job *prog = n->wprog;
    n->wprog = NULL;
    uv_mutex_unlock(&n->wmu);
    /* Parts first: a job's parts precede its final answer. */
    stream_flush_progress(n, prog);
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

void target_accept(node *n, uint64_t hop, const char *reply_addr, uint64_t reply_delay_ns,
                   bool local, const Warmpath__Infer__InferRequest *req, uint64_t budget_ns)
{
    if (n->stopping) {
        target_error(n, hop, reply_addr, 0, local, WARMPATH__INFER__STATUS__SHUTTING_DOWN,
                     "node is shutting down");
        return;
    }
    if (deadline_passed(req->deadline_unix_ns, reply_delay_ns)) {
        /* Work whose deadline passed is dropped, not run. */
        target_error(n, hop, reply_addr, reply_delay_ns, local,
                     WARMPATH__INFER__STATUS__DEADLINE_EXCEEDED,
                     "the deadline passed before the target read the request");
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
    j->mi = (uint32_t)mi;
    j->arrival_ns = wp_clock_monotonic_ns();
    /* The latest start that still answers in time: within the ingress's
     * budget for this attempt (sent reply_delay_ns ago; the answer takes as
     * long back) and before the client's absolute deadline when it has one.
     * Past it the residency core FAILs the job (never runs it late): the
     * ingress gets OVERLOADED, not a TIMEOUT. */
    j->deadline_unix_ns = req->deadline_unix_ns;
    j->start_by_ns = UINT64_MAX;
    {
        /* This node's measured service when it has one (svc.c), not the
         * catalog's profile, which a real model can be far from. */
        double svc_ms = svc_measured_ms(n, (uint32_t)mi, steps, true, NULL);
        if (svc_ms < 0)
            svc_ms = wp_model_total_ms(&n->cat[mi], nin, steps);
        /* + a margin for the loop's wake-ups on both sides */
        uint64_t need = 2 * reply_delay_ns + (uint64_t)(svc_ms * 1e6) + START_BY_SLACK_NS;
        if (budget_ns != UINT64_MAX)
            j->start_by_ns = budget_ns > need ? j->arrival_ns + (budget_ns - need) : j->arrival_ns;
        if (req->deadline_unix_ns) {
            uint64_t now_unix = wp_clock_realtime_ns();
            uint64_t left = req->deadline_unix_ns > now_unix ? req->deadline_unix_ns - now_unix : 0;
            uint64_t by = left > need - reply_delay_ns ? j->arrival_ns + left - (need - reply_delay_ns)
                                                       : j->arrival_ns;
            if (by < j->start_by_ns)
                j->start_by_ns = by;
        }
    }
    j->steps = steps;
    j->stream = req->stream;
    j->gen.prompt = j->prompt;
    j->gen.n_prompt = nin;
    j->gen.steps = steps;
    j->cold = !model_warm_now(n, req->model);
    j->next = n->jobs;
    if (n->jobs)
        n->jobs->prev = j;
    n->jobs = j;
    n->n_jobs++;
    n->tgt_inflight[j->mi]++;
    if (n->gpu_kind == WP_GPU_MODEL) {
        wp_err err;
        wp_err_clear(&err);
        int rc = wp_gpu_worker_submit_by(n->gw, j->arrival_ns, j->model, (uint64_t)(uintptr_t)j,
                                         &j->gen, j->tokens, j->start_by_ns, &err);
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

void target_cancel(node *n, uint64_t hop, const char *reply_addr, bool local)
{
    /* Linear in the jobs held (at most JOB_CAPACITY; cancels are rare:
     * one per attempt the ingress timed out). */
    tgt_job *j = n->jobs;
    while (j && !(j->hop_id == hop && j->local == local &&
                  (local || strcmp(j->reply_addr, reply_addr) == 0)))
        j = j->next;
    if (!j || j->cancelled || !n->gw)
        return;
    j->cancelled = true;
    n->st_cancelled++;
    if (n->gpu_kind == WP_GPU_MODEL) {
        /* Completes (and frees j) inside the call when it was held. */
        (void)wp_gpu_worker_cancel(n->gw, wp_clock_monotonic_ns(), (uint64_t)(uintptr_t)j);
        gpu_kick(n);
        return;
    }
    /* cpu/cuda: the worker thread withdraws it. The op carries the job's
     * address only as the worker's request id: ops run in order, so the
     * cancel is done before any later job could reuse the address. */
    wop *op = calloc(1, sizeof *op);
    if (!op)
        return; /* it runs to the end; its answer is dropped as late */
    op->kind = 3;
    op->job = j;
    wops_push(n, op);
}

/* A frame from a peer on the PULL socket that starts with "W". */
void handle_node_frame(node *n, const uint8_t *buf, size_t len)
{
    wp_infer_kind kind;
    size_t plen;
    if (wp_infer_frame_check(buf, len, &kind, &plen, NULL) != WP_OK) {
        n->st_bad_node++;
        return;
    }
    if (kind == WP_INFER_KIND_FORWARD_RESPONSE || kind == WP_INFER_KIND_FORWARD_PART) {
        handle_fwd_response(n, buf, len);
        return;
    }
    if (kind == WP_INFER_KIND_LOAD_REPORT) {
        view_load_frame(n, buf, len);
        return;
    }
    if (kind == WP_INFER_KIND_FORWARD_CANCEL) {
        Warmpath__Infer__ForwardCancel *c = NULL;
        if (wp_infer_decode_cancel(buf + WP_INFER_HDR_BYTES, plen, &c, NULL) != WP_OK) {
            n->st_bad_node++;
            return;
        }
        target_cancel(n, c->hop_id, c->reply_addr, false);
        warmpath__infer__forward_cancel__free_unpacked(c, NULL);
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
    target_accept(n, f->hop_id, f->reply_addr, delay, false, f->request,
                  f->budget_ms ? (uint64_t)f->budget_ms * WP_NS_PER_MS : UINT64_MAX);
    warmpath__infer__forward_request__free_unpacked(f, NULL);
}

/* ---------------------------------------------------------------- cpu/cuda worker thread */

void wthread_main(void *arg)
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
                int rc = wp_gpu_worker_submit_by(n->gw, now, op->job->model,
                                                 (uint64_t)(uintptr_t)op->job, &op->job->gen,
                                                 op->job->tokens, op->job->start_by_ns, &err);
                if (rc != WP_OK)
                    on_gpu_done(n, (uint64_t)(uintptr_t)op->job, rc, NULL);
            } else if (op->kind == 3) {
                (void)wp_gpu_worker_cancel(n->gw, now, (uint64_t)(uintptr_t)op->job);
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
        n->snap_n_wu = 0;
        for (uint32_t i = 0; i < n->snap_n_warm; i++) {
            wp_gpu_rate rate;
            if (!wp_gpu_worker_warmup(n->gw, names[i], &rate))
                continue;
            struct snap_wu *u = &n->snap_wu[n->snap_n_wu++];
            snprintf(u->model, sizeof u->model, "%s", names[i]);
            u->first_ms = rate.ttft_ms;
            u->tpot_ms = rate.tpot_ms;
        }
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

/* Shutdown: the worker thread stops (completions it left are finished as
 * they are), every running job is answered SHUTTING_DOWN (the ingress
 * retries elsewhere) and undelivered local answers are dropped. */
void target_shutdown(node *n)
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
        n->wprog = NULL; /* parts left unsent: the jobs are answered below */
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
}
