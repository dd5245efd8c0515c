/* fake_ingress — a TEST STUB standing in for a wp-node request endpoint, to
 * test `wpctl traffic`'s accounting on its own (no routing, no GPU): a
 * ZeroMQ ROUTER that answers every InferRequest at once with OK (serving
 * node "fake-1", service_us 1000), except that it
 *   never answers every Nth request (--drop-every N: the client must count
 *   a TIMEOUT for each),
 *   answers every Mth twice (--dup-every M: the second is unexpected),
 *   answers every Kth with UNKNOWN_MODEL (--error-every K).
 * On SIGTERM/SIGINT it writes "received R dropped D duplicated U errors E"
 * to --stats FILE and exits.
 *
 * usage: fake_ingress --bind ADDR [--drop-every N] [--dup-every M]
 *                     [--error-every K] --stats FILE */
#include "node/node.h"
#include "node/infer.h"
#include "proto/inference.pb-c.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static volatile sig_atomic_t stop;
static void on_sig(int s)
{
    (void)s;
    stop = 1;
}

static void reply(void *sock, zmq_msg_t *ident, const Warmpath__Infer__InferResponse *r)
{
    uint8_t buf[4096];
    size_t n = wp_infer_encode_into(WP_INFER_KIND_INFER_RESPONSE, &r->base, buf, sizeof buf);
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    zmq_msg_copy(&copy, ident);
    zmq_msg_send(&copy, sock, ZMQ_SNDMORE);
    zmq_send(sock, buf, n, 0);
}

int main(int argc, char **argv)
{
    const char *bind = NULL, *stats = NULL;
    unsigned long drop = 0, dup = 0, errev = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bind"))
            bind = argv[i + 1];
        else if (!strcmp(argv[i], "--stats"))
            stats = argv[i + 1];
        else if (!strcmp(argv[i], "--drop-every"))
            drop = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--dup-every"))
            dup = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--error-every"))
            errev = strtoul(argv[i + 1], NULL, 10);
    }
    if (!bind || !stats) {
        fprintf(stderr, "usage: fake_ingress --bind ADDR --stats FILE [--drop-every N] ...\n");
        return 2;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_sig;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    int zero = 0, hwm = 1000000, tmo = 100;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    if (zmq_bind(s, bind) != 0) {
        fprintf(stderr, "fake_ingress: bind %s: %s\n", bind, zmq_strerror(zmq_errno()));
        return 1;
    }
    unsigned long received = 0, dropped = 0, duplicated = 0, errors = 0;
    while (!stop) {
        zmq_msg_t ident, body;
        zmq_msg_init(&ident);
        if (zmq_msg_recv(&ident, s, 0) < 0) {
            zmq_msg_close(&ident);
            continue;
        }
        zmq_msg_init(&body);
        if (zmq_msg_recv(&body, s, 0) < 0) {
            zmq_msg_close(&ident);
            zmq_msg_close(&body);
            continue;
        }
        const uint8_t *b = zmq_msg_data(&body);
        size_t plen;
        wp_infer_kind kind;
        Warmpath__Infer__InferRequest *req = NULL;
        if (wp_infer_frame_check(b, zmq_msg_size(&body), &kind, &plen, NULL) == WP_OK &&
            kind == WP_INFER_KIND_INFER_REQUEST &&
            wp_infer_decode_request(b + WP_INFER_HDR_BYTES, plen, &req, NULL) == WP_OK) {
            received++;
            Warmpath__Infer__Timings t = WARMPATH__INFER__TIMINGS__INIT;
            t.service_us = 1000;
            Warmpath__Infer__InferResponse r = WARMPATH__INFER__INFER_RESPONSE__INIT;
            r.request_id = req->request_id;
            r.serving_node = "fake-1";
            r.ingress_node = "fake-1";
            r.timings = &t;
            r.model = req->model;
            if (drop && received % drop == 0) {
                dropped++;
            } else {
                if (errev && received % errev == 0) {
                    r.status = WARMPATH__INFER__STATUS__UNKNOWN_MODEL;
                    r.reason = "fake: error on purpose";
                    r.serving_node = "";
                    errors++;
                }
                reply(s, &ident, &r);
                if (dup && received % dup == 0) {
                    reply(s, &ident, &r);
                    duplicated++;
                }
            }
            warmpath__infer__infer_request__free_unpacked(req, NULL);
        }
        zmq_msg_close(&ident);
        zmq_msg_close(&body);
    }
    FILE *fp = fopen(stats, "w");
    if (fp) {
        fprintf(fp, "received %lu dropped %lu duplicated %lu errors %lu\n", received, dropped,
                duplicated, errors);
        fclose(fp);
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}
