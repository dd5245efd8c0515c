/* stream_node.c — streamed answers in wp-node (proto/inference.proto,
 * "Streaming"; the order check is node/stream.c).
 *
 * Target side. The GPU worker reports progress (wp_gpu_progress_fn): the
 * timing model once, at the modelled first-token time (a worker timer,
 * like its completion); cpu/cuda after every step, from the worker thread.
 * A job sends a FORWARD_PART when its first token exists (FIRST, always:
 * the ingress measures the first-token time from it) and, when the client
 * asked to stream, a CHUNK every STREAM_CHUNK_TOKENS tokens after that.
 * The worker thread only records the count (prog_*, under wmu) and queues
 * the job on wprog; the loop thread (on_wasync) sends the parts before the
 * completions it picks up in the same wake-up, so a job's parts always
 * precede its final answer. Parts and the final take the same path (the
 * same WAN delay, the same queue), so they stay in order; the final says
 * how many parts went before it.
 *
 * Ingress side. A part is matched by hop like an answer: one for a closed
 * request (a chunk after the final, or for an attempt that was replaced) is
 * dropped and counted (parts_late). The order check drops stale parts and
 * counts lost ones. The first part's arrival is the request's first-token
 * time; for a streaming client the part is re-numbered for that client
 * and sent on at once (with the emulated client leg). A request that has
 * sent a part to its client is never retried (the client has seen a first
 * token from one target). A part also moves the attempt's deadline later
 * to cover the tokens still to come (floor + 2 x the measured per-token
 * time x the tokens left): a target that streams is alive, and a deadline
 * from an estimate taken at a quieter time must not cut it off mid-stream.
 * A client that is gone (ROUTER_MANDATORY: the
 * send fails with EHOSTUNREACH) ends its request at once: closed in the
 * table, counted (client_gone); the target's answer, when it comes,
 * matches nothing and is counted as late. With --emulate-wan the part
 * waits in the WAN queue and a vanished client is only noticed as a
 * dropped send, and the request ends at its final answer or its deadline.
 *
 * Measured service times. Every OK answer carries the target's own
 * measurements (queue, admission -> first token, total, tokens). The
 * ingress keeps, per model, an exponentially weighted moving average
 * (weight 1/8, the first sample taken as is) of the time from arrival at
 * the target to the first token and of the time per later token, and a
 * forward attempt's deadline uses them instead of the catalog profile.
 * The time to the first token includes the target's queue, which varies
 * with the load, so (as TCP's retransmission timer does with RTTs) the
 * estimate is the mean plus 4 x the mean deviation (EWMA, weight 1/4).
 * Until a model has a sample at this ingress its attempts get a long fixed
 * budget (SVC_UNKNOWN_BUDGET_NS, or the request's deadline when sooner): a
 * real model's speed is unknown before it has answered once, and a
 * catalog guess would fail it. Late
 * answers (after a timeout) are learnt from too.
 */
#include "node/node_int.h"

/* ---------------------------------------------------------------- target */

void target_send_frame(node *n, bool local, const char *reply_addr, uint64_t delay_ns,
                       uint8_t *buf, size_t len)
{
    if (local) {
        /* Delivered after the worker call returns (never inside it). */
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
    node_send(n, reply_addr, buf, len, n->stopping ? 0 : delay_ns, false);
    free(buf);
}

/* Sends the part for tokens [sent_tokens, count) of j. */
static void target_part(node *n, tgt_job *j, uint32_t count, uint64_t ttft_ns)
{
    if (count <= j->sent_tokens && j->parts > 0)
        return;
    Warmpath__Infer__StreamPart p = WARMPATH__INFER__STREAM_PART__INIT;
    p.id = j->hop_id;
    p.kind = j->parts == 0 ? WARMPATH__INFER__PART_KIND__PART_FIRST
                           : WARMPATH__INFER__PART_KIND__PART_CHUNK;
    p.seq = j->parts;
    p.output_count = count;
    p.first_token_us = ttft_ns / 1000;
    uint32_t *tok = NULL;
    if (j->tokens && count > j->sent_tokens) {
        tok = malloc((count - j->sent_tokens) * sizeof *tok);
        if (tok) {
            for (uint32_t i = j->sent_tokens; i < count; i++)
                tok[i - j->sent_tokens] = (uint32_t)j->tokens[i];
            p.n_tokens = count - j->sent_tokens;
            p.tokens = tok;
        }
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wp_infer_encode(WP_INFER_KIND_FORWARD_PART, &p.base, &buf, &len, NULL);
    free(tok);
    if (rc != WP_OK)
        return; /* the final message carries everything anyway */
    j->parts++;
    j->sent_tokens = count;
    n->st_parts_out++;
    target_send_frame(n, j->local, j->reply_addr, j->reply_delay_ns, buf, len);
}

/* Whether a report of n_tokens (after `reported`) is worth a part. */
static bool part_due(const tgt_job *j, uint32_t reported, uint32_t n_tokens)
{
    if (n_tokens == 0 || n_tokens <= reported)
        return false;
    if (reported == 0)
        return true; /* the first token */
    return j->stream && n_tokens - reported >= STREAM_CHUNK_TOKENS && n_tokens < j->steps;
}

void on_gpu_progress(void *ctx, uint64_t req_id, uint32_t n_tokens, uint64_t ttft_ns)
{
    node *n = ctx;
    tgt_job *j = (tgt_job *)(uintptr_t)req_id;
    if (!part_due(j, j->w_reported, n_tokens))
        return;
    j->w_reported = n_tokens;
    if (n->gpu_kind == WP_GPU_MODEL) { /* the loop thread, inside gpu_kick */
        target_part(n, j, n_tokens, ttft_ns);
        return;
    }
    uv_mutex_lock(&n->wmu);
    j->prog_n = n_tokens;
    j->prog_ttft_ns = ttft_ns;
    if (!j->prog_queued) {
        j->prog_queued = true;
        j->prog_next = n->wprog;
        n->wprog = j;
    }
    uv_mutex_unlock(&n->wmu);
    uv_async_send(&n->wasync);
}

void stream_flush_progress(node *n, tgt_job *list)
{
    /* LIFO: reverse to report in the order the worker did. */
    tgt_job *rev = NULL;
    while (list) {
        tgt_job *nx = list->prog_next;
        list->prog_next = rev;
        rev = list;
        list = nx;
    }
    while (rev) {
        tgt_job *nx = rev->prog_next;
        uv_mutex_lock(&n->wmu);
        uint32_t cnt = rev->prog_n;
        uint64_t ttft = rev->prog_ttft_ns;
        rev->prog_queued = false;
        rev->prog_next = NULL;
        uv_mutex_unlock(&n->wmu);
        target_part(n, rev, cnt, ttft);
        rev = nx;
    }
}

/* ---------------------------------------------------------------- ingress */

/* Re-numbers a part for r's client and sends it; false when the client is
 * gone (the caller ends the request). */
static bool client_part(node *n, ing_req *r, const Warmpath__Infer__StreamPart *in)
{
    Warmpath__Infer__StreamPart p = *in;
    p.id = r->req->request_id;
    p.kind = r->parts_out == 0 ? WARMPATH__INFER__PART_KIND__PART_FIRST
                               : WARMPATH__INFER__PART_KIND__PART_CHUNK;
    p.seq = r->parts_out;
    p.first_token_us = (r->first_ns - r->arrival_ns + 2 * r->client_oneway_ns) / 1000;
    size_t len = wp_infer_encode_into(WP_INFER_KIND_INFER_PART, &p.base, n->tx,
                                      WP_INFER_HDR_BYTES + WP_FRAME_MAX_BYTES);
    if (!len)
        return true; /* cannot happen (bounded tokens); the final has them */
    r->parts_out++;
    if (r->client_oneway_ns) {
        client_send(n, r->rid, r->rid_len, r->delim, n->tx, len, 2 * r->client_oneway_ns);
        return true;
    }
    return client_send_now(n, r->rid, r->rid_len, r->delim, n->tx, len) != EHOSTUNREACH;
}

void handle_fwd_part(node *n, const uint8_t *p, size_t plen)
{
    Warmpath__Infer__StreamPart *sp = NULL;
    if (wp_infer_decode_part(p, plen, &sp, NULL) != WP_OK) {
        n->st_bad_node++;
        return;
    }
    n->st_parts_in++;
    uint32_t att = 1;
    ing_req *r = wp_reqtab_match(n->ing, sp->id, &att);
    if (!r) {
        n->st_parts_late++; /* after the final, or for a replaced attempt */
        warmpath__infer__stream_part__free_unpacked(sp, NULL);
        return;
    }
    uint32_t lost = r->rx.lost;
    wp_stream_verdict v = wp_stream_rx_part(&r->rx, (int)sp->kind, sp->seq);
    n->st_parts_lost += r->rx.lost - lost;
    if (v != WP_STREAM_IN_ORDER && v != WP_STREAM_GAP) {
        n->st_parts_dropped++;
        warmpath__infer__stream_part__free_unpacked(sp, NULL);
        return;
    }
    uint64_t now = wp_clock_monotonic_ns();
    if (!r->first_ns) {
        r->first_ns = now;
        r->target_first_ns = sp->first_token_us * 1000;
    }
    /* The target is making progress: the attempt's deadline covers the
     * tokens still to come (measured per-token time), never beyond the
     * request's own deadline. */
    uint32_t out = req_out_tokens(r->req, &n->cat[r->model]);
    double rest_ms = sp->output_count < out && n->est[r->model].samples
                         ? n->est[r->model].tpot_ms * (double)(out - sp->output_count)
                         : 0.0;
    uint64_t rest_ns = n->est[r->model].samples == 0 ? SVC_UNKNOWN_BUDGET_NS
                       : rest_ms < 3.6e6              ? (uint64_t)(2.0 * rest_ms * 1e6)
                                                      : SVC_UNKNOWN_BUDGET_NS;
    uint64_t dl = now + n->hop_floor_ns + rest_ns;
    if (dl > r->total_deadline_ns)
        dl = r->total_deadline_ns;
    wp_reqtab_extend(n->ing, sp->id, dl);
    if (r->req->stream && !client_part(n, r, sp)) {
        /* The client is gone: the request ends here. */
        n->st_client_gone++;
        n->st_err++;
        svc_cancel_attempt(n, r->target, sp->id); /* nobody waits for the rest */
        if (r->target >= 0)
            wp_router_inflight_add(n->view, (uint32_t)r->target, r->model, -1);
        wp_reqtab_close(n->ing, sp->id);
        ing_free(r);
    }
    warmpath__infer__stream_part__free_unpacked(sp, NULL);
}

void stream_final(node *n, ing_req *r, Warmpath__Infer__InferResponse *resp,
                  Warmpath__Infer__Timings *tm)
{
    if (resp->part == WARMPATH__INFER__PART_KIND__PART_FINAL) {
        uint32_t lost = r->rx.lost;
        wp_stream_rx_final(&r->rx, resp->stream_parts);
        n->st_parts_lost += r->rx.lost - lost;
    }
    if (resp->status != WARMPATH__INFER__STATUS__OK)
        tm->first_token_us = 0;
    else if (r->first_ns)
        tm->first_token_us = (r->first_ns - r->arrival_ns + 2 * r->client_oneway_ns) / 1000;
    else
        tm->first_token_us = tm->total_us; /* the first token came with the final */
    resp->part = WARMPATH__INFER__PART_KIND__PART_FINAL;
    resp->stream_parts = r->parts_out;
}

/* ---------------------------------------------------------------- measured service */

#define SVC_EWMA_WEIGHT 0.125
#define SVC_DEV_WEIGHT 0.25

void svc_learn(node *n, uint32_t model, const Warmpath__Infer__InferResponse *resp)
{
    if (model >= WP_ROUTER_MAX_MODELS || resp->status != WARMPATH__INFER__STATUS__OK ||
        !resp->timings || resp->timings->service_us == 0)
        return;
    const Warmpath__Infer__Timings *tm = resp->timings;
    double first = (double)(tm->queue_us + tm->service_first_us) / 1000.0;
    double tpot = 0;
    if (resp->output_count > 1 && tm->service_us > tm->service_first_us)
        tpot = (double)(tm->service_us - tm->service_first_us) / 1000.0 /
               (double)(resp->output_count - 1);
    struct svc_est *e = &n->est[model];
    if (e->samples == 0) {
        e->first_ms = first;
        e->first_dev_ms = first / 2;
        e->tpot_ms = tpot;
    } else {
        double d = first > e->first_ms ? first - e->first_ms : e->first_ms - first;
        e->first_dev_ms += SVC_DEV_WEIGHT * (d - e->first_dev_ms);
        e->first_ms += SVC_EWMA_WEIGHT * (first - e->first_ms);
        if (resp->output_count > 1)
            e->tpot_ms += SVC_EWMA_WEIGHT * (tpot - e->tpot_ms);
    }
    e->samples++;
}

double svc_estimate_ms(const node *n, uint32_t model, uint32_t out_tokens)
{
    if (model >= WP_ROUTER_MAX_MODELS || n->est[model].samples == 0)
        return -1;
    const struct svc_est *e = &n->est[model];
    return e->first_ms + 4.0 * e->first_dev_ms +
           e->tpot_ms * (out_tokens > 1 ? (double)(out_tokens - 1) : 0.0);
}
