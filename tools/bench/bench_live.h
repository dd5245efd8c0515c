/* tools/bench/bench_live.h — shared by bench_hop.c and bench_forward.c
 * (header-only, static): start real wp-node processes on loopback, talk to
 * their request endpoints (proto/inference.proto framing over DEALER
 * sockets), and clean the processes up on every exit path.
 *
 * Nodes run the timing-model GPU backend (`--gpu-backend model`: service
 * times from the catalog's latency profiles, no compute), WAN emulation off.
 * wp-node is found through $WP_NODE_BIN, else next to this binary
 * (build/tools/bench_x -> build/node/wp-node). */
#ifndef WP_BENCH_LIVE_H
#define WP_BENCH_LIVE_H

#include "auth/auth.h"
#include "common/common.h"
#include "node/node.h"
#include "node/infer.h"
#include "proto/inference.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define BL_MAX_NODES 8

typedef struct bl_node {
    pid_t pid;
    char id[32];
    char gossip[64], admin[64], request[64];
    char metrics[64]; /* HOST:PORT when bl_metrics, else "" */
} bl_node;

static bl_node bl_nodes[BL_MAX_NODES];
static int bl_n;
static char bl_dir[128];
static char bl_keys[160]; /* $WP_BENCH_CURVE: the run's key directory, else empty */
static wp_curve_id bl_cid; /* the client's CURVE identity */

/* NAME.key and NAME.pub in bl_keys. */
static int bl_key_make(const char *name, wp_key_role role)
{
    wp_key k;
    wp_err err = {0};
    char path[320];
    if (wp_key_generate(&k, name, role, &err) != WP_OK)
        return -1;
    snprintf(path, sizeof path, "%s/%s.key", bl_keys, name);
    if (wp_key_save(&k, path, true, &err) != WP_OK)
        return -1;
    snprintf(path, sizeof path, "%s/%s.pub", bl_keys, name);
    return wp_key_save(&k, path, false, &err) == WP_OK ? 0 : -1;
}
static char bl_bin[1024];
static bool bl_metrics; /* start nodes with --metrics 127.0.0.1:BASE+3 */

static void bl_cleanup(void)
{
    for (int i = 0; i < bl_n; i++)
        if (bl_nodes[i].pid > 0)
            kill(bl_nodes[i].pid, SIGTERM);
    for (int i = 0; i < bl_n; i++)
        if (bl_nodes[i].pid > 0) {
            /* up to 3 s for a graceful leave, then SIGKILL */
            for (int k = 0; k < 300; k++) {
                if (waitpid(bl_nodes[i].pid, NULL, WNOHANG) == bl_nodes[i].pid)
                    goto done;
                struct timespec ts = {0, 10 * 1000000L};
                nanosleep(&ts, NULL);
            }
            kill(bl_nodes[i].pid, SIGKILL);
            waitpid(bl_nodes[i].pid, NULL, 0);
        done:
            bl_nodes[i].pid = 0;
        }
    if (bl_dir[0] && !getenv("WP_BENCH_KEEP")) {
        char cmd[192];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", bl_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench: could not remove %s\n", bl_dir);
        bl_dir[0] = '\0';
    }
}

static void bl_on_signal(int sig)
{
    (void)sig;
    bl_cleanup();
    _exit(1);
}

static int bl_init(const char *name)
{
    const char *env = getenv("WP_NODE_BIN");
    if (env && env[0]) {
        snprintf(bl_bin, sizeof bl_bin, "%s", env);
    } else {
        char self[900];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            return -1;
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(bl_bin, sizeof bl_bin, "%s/../node/wp-node", self);
    }
    if (access(bl_bin, X_OK) != 0) {
        fprintf(stderr, "%s: wp-node not found at %s (set WP_NODE_BIN)\n", name, bl_bin);
        return -1;
    }
    snprintf(bl_dir, sizeof bl_dir, "/tmp/wp-%s.XXXXXX", name);
    if (!mkdtemp(bl_dir)) {
        bl_dir[0] = '\0';
        return -1;
    }
    atexit(bl_cleanup);
    struct sigaction sa = {0};
    sa.sa_handler = bl_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* A closed stdout (`bench | head -1`) must not kill us before the
     * cleanup: writes fail with EPIPE instead. */
    signal(SIGPIPE, SIG_IGN);
    /* $WP_BENCH_CURVE=1: CurveZMQ on (issue 14): a key directory for this
     * run (the cluster's server key, one client key, each node's key made
     * at spawn), every node --keys, the client a CURVE client. */
    const char *cv = getenv("WP_BENCH_CURVE");
    if (cv && cv[0] && strcmp(cv, "0") != 0) {
        snprintf(bl_keys, sizeof bl_keys, "%s/keys", bl_dir);
        wp_err err = {0};
        char path[320];
        if (mkdir(bl_keys, 0700) != 0 || bl_key_make("cluster", WP_ROLE_SERVER) != 0 ||
            bl_key_make("bench-client", WP_ROLE_CLIENT) != 0 ||
            (snprintf(path, sizeof path, "%s/bench-client.key", bl_keys),
             wp_curve_id_load(&bl_cid, path, &err)) != WP_OK) {
            fprintf(stderr, "%s: CURVE keys: %s\n", name, wp_err_text(&err));
            return -1;
        }
    }
    return 0;
}

/* Starts a node in `city` with `gpus` timing-model GPUs and mem_gb GiB
 * (a string), joining `join` (NULL for the first). Ports from base_port.
 * gpus 0: an ingress-only node (routes and forwards, never a target). */
static bl_node *bl_spawn(const char *city, int gpus, const char *mem_gb, int base_port,
                         const char *join)
{
    if (bl_n == BL_MAX_NODES)
        return NULL;
    bl_node *nd = &bl_nodes[bl_n];
    snprintf(nd->id, sizeof nd->id, "bench-%d", bl_n);
    if (bl_keys[0] && bl_key_make(nd->id, WP_ROLE_NODE) != 0)
        return NULL;
    snprintf(nd->gossip, sizeof nd->gossip, "tcp://127.0.0.1:%d", base_port);
    snprintf(nd->admin, sizeof nd->admin, "tcp://127.0.0.1:%d", base_port + 1);
    snprintf(nd->request, sizeof nd->request, "tcp://127.0.0.1:%d", base_port + 2);
    nd->metrics[0] = '\0';
    if (bl_metrics)
        snprintf(nd->metrics, sizeof nd->metrics, "127.0.0.1:%d", base_port + 3);
    char gpus_s[16], log[256];
    snprintf(gpus_s, sizeof gpus_s, "%d", gpus);
    snprintf(log, sizeof log, "%s/%s.log", bl_dir, nd->id);
    pid_t pid = fork();
    if (pid < 0)
        return NULL;
    if (pid == 0) {
        /* If the bench dies without cleaning up (SIGKILL), so do its nodes. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
            _exit(1);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        const char *argv[32];
        int a = 0;
        argv[a++] = "wp-node";
        argv[a++] = "--city";
        argv[a++] = city;
        argv[a++] = "--id";
        argv[a++] = nd->id;
        argv[a++] = "--bind";
        argv[a++] = nd->gossip;
        argv[a++] = "--admin";
        argv[a++] = nd->admin;
        argv[a++] = "--request";
        argv[a++] = nd->request;
        argv[a++] = "--gpus";
        argv[a++] = gpus_s;
        argv[a++] = "--gpu-mem-gb";
        argv[a++] = mem_gb;
        argv[a++] = "--gpu-backend";
        argv[a++] = "model";
        argv[a++] = "--probe-interval-ms";
        argv[a++] = "200";
        argv[a++] = "--log-level";
        argv[a++] = "warn";
        if (join) {
            argv[a++] = "--join";
            argv[a++] = join;
        }
        if (nd->metrics[0]) {
            argv[a++] = "--metrics";
            argv[a++] = nd->metrics;
        }
        if (bl_keys[0]) {
            argv[a++] = "--keys";
            argv[a++] = bl_keys;
        }
        argv[a] = NULL;
        execv(bl_bin, (char *const *)argv);
        _exit(127);
    }
    nd->pid = pid;
    bl_n++;
    return nd;
}

static void *bl_dealer(void *ctx, const char *endpoint)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, hwm = 1000000;
    int64_t maxmsg = WP_FRAME_MAX_BYTES + WP_INFER_HDR_BYTES;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (bl_keys[0] && wp_curve_id_apply(&bl_cid, s) != 0) {
        zmq_close(s);
        return NULL;
    }
    if (zmq_connect(s, endpoint) != 0) {
        zmq_close(s);
        return NULL;
    }
    return s;
}

typedef struct bl_req {
    const char *model;
    uint32_t *tokens;
    uint32_t ntokens;
    uint32_t out_tokens;
} bl_req;

static int bl_send(void *s, const bl_req *r, uint64_t id)
{
    Warmpath__Infer__InferRequest req = WARMPATH__INFER__INFER_REQUEST__INIT;
    req.request_id = id;
    req.model = (char *)r->model;
    req.n_input_tokens = r->ntokens;
    req.input_tokens = r->tokens;
    req.max_output_tokens = r->out_tokens;
    req.timeout_ms = 5000;
    uint8_t buf[8192];
    size_t n = wp_infer_encode_into(WP_INFER_KIND_INFER_REQUEST, &req.base, buf, sizeof buf);
    if (n == 0)
        return -1;
    return zmq_send(s, buf, n, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

/* GPU-side time of the last response bl_recv returned (queue + service +
 * cold load at the target, µs): what a hop does not add. */
static uint64_t bl_last_gpu_us;

/* One response if any is waiting: 1 with *id, *ok and the serving node
 * (copied to node, may be NULL), 0 if none, -1 on a bad frame. */
static int bl_recv(void *s, uint64_t *id, bool *ok, char *node, size_t cap)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return 0;
    }
    const uint8_t *b = zmq_msg_data(&m);
    size_t plen;
    wp_infer_kind kind;
    Warmpath__Infer__InferResponse *r = NULL;
    int rv = -1;
    if (wp_infer_frame_check(b, zmq_msg_size(&m), &kind, &plen, NULL) == WP_OK &&
        kind == WP_INFER_KIND_INFER_RESPONSE &&
        wp_infer_decode_response(b + WP_INFER_HDR_BYTES, plen, &r, NULL) == WP_OK) {
        *id = r->request_id;
        *ok = r->status == WARMPATH__INFER__STATUS__OK;
        bl_last_gpu_us = r->timings ? r->timings->queue_us + r->timings->service_us +
                                          r->timings->cold_load_us
                                    : 0;
        if (node)
            snprintf(node, cap, "%s", r->serving_node ? r->serving_node : "");
        if (!*ok && getenv("WP_BENCH_VERBOSE"))
            fprintf(stderr, "bench: request %llu: %s: %s\n", (unsigned long long)r->request_id,
                    wp_infer_status_name(r->status), r->reason);
        warmpath__infer__infer_response__free_unpacked(r, NULL);
        rv = 1;
    }
    zmq_msg_close(&m);
    return rv;
}

/* Sends requests one at a time until one is answered OK by a node named
 * `want_node` (NULL: any), up to max_ms: the cluster has formed and the
 * model is warm where it should be. */
static int bl_wait_ok(void *s, const bl_req *r, const char *want_node, double max_ms)
{
    uint64_t t0 = wp_clock_monotonic_ns(), id = 1u << 30;
    while ((double)(wp_clock_monotonic_ns() - t0) / 1e6 < max_ms) {
        bl_send(s, r, ++id);
        uint64_t t1 = wp_clock_monotonic_ns();
        while ((double)(wp_clock_monotonic_ns() - t1) / 1e6 < 2000) {
            zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
            zmq_poll(&it, 1, 50);
            uint64_t rid;
            bool ok;
            char node[64];
            int got = bl_recv(s, &rid, &ok, node, sizeof node);
            if (got == 1 && rid == id) {
                if (ok && (!want_node || strcmp(node, want_node) == 0))
                    return 0;
                break;
            }
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

#endif
