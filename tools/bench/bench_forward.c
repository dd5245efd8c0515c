/* bench_forward — the most requests per second one node forwards.
 *
 * Real wp-node processes (started and stopped here), WAN emulation
 * off: I in FRA with no GPU (an ingress-only
 * node: it routes every request and forwards it) and --targets nodes (default 3) in
 * FRA with --gpus timing-model GPUs each (default 1). A target runs one
 * batch of at most 64 requests per model at a time (gpu_worker's
 * residency), ~4-5 ms for distilbert-sst2, so one target tops out near
 * 14,000 requests/s; with one GPU (64 slots) a target is "full" for the
 * router at 64 in flight, so the ingress spreads over the three and the
 * targets are not what is measured (with 8 GPUs per target the router
 * keeps choosing the first, and the figure is that target's ~15,000/s).
 * The client keeps --window requests in flight to I (closed loop at
 * saturation: a new request as soon as one returns) for --seconds (default
 * 5) and counts the answers: the throughput of I's ingress + forward +
 * return path. Errors are counted apart (an OVERLOADED answer is not
 * throughput).
 *
 * Prints JSON lines: {"bench":"forward","figure":...,"value":...,"unit":...}. */
#include "tools/bench/bench_live.h"

#include <math.h>

static void line(const char *figure, double value, const char *unit)
{
    printf("{\"bench\":\"forward\",\"figure\":\"%s\",\"value\":%.3f,\"unit\":\"%s\"}\n", figure,
           isfinite(value) ? value : -1.0, unit);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    double seconds = 5;
    int window = 1024, gpus = 1, targets = 3;
    const char *model = "distilbert-sst2";
    if (argc == 2 && !strcmp(argv[1], "--help")) {
        printf("usage: bench_forward [--seconds S] [--window N] [--targets T] [--gpus G] "
               "[--model NAME]\n");
        return 0;
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--window"))
            window = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--targets"))
            targets = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--gpus"))
            gpus = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--model"))
            model = argv[i + 1];
    }
    if (!(seconds > 0) || window < 1 || gpus < 1 || targets < 1 || targets > BL_MAX_NODES - 1 ||
        bl_init("bench_forward") != 0)
        return 1;
    srand((unsigned)getpid());
    int base = 30000 + rand() % 20000;
    char mem[16];
    snprintf(mem, sizeof mem, "%d", gpus * 24);
    bl_node *t = bl_spawn("FRA", gpus, mem, base, NULL);
    for (int k = 1; t && k < targets; k++)
        if (!bl_spawn("FRA", gpus, mem, base + 10 * (k + 1), t->gossip))
            t = NULL;
    bl_node *in = t ? bl_spawn("FRA", 0, "0", base + 10, t->gossip) : NULL;
    if (!in) {
        fprintf(stderr, "bench_forward: could not start the nodes\n");
        return 1;
    }
    void *ctx = zmq_ctx_new();
    void *s = bl_dealer(ctx, in->request);
    uint32_t tokens[128];
    for (int i = 0; i < 128; i++)
        tokens[i] = 1 + (uint32_t)i;
    bl_req r = {.model = model, .tokens = tokens, .ntokens = 128, .out_tokens = 1};
    if (bl_wait_ok(s, &r, NULL, 15000) != 0) {
        fprintf(stderr, "bench_forward: %s not served through the ingress within 15 s (set WP_BENCH_KEEP=1 to keep the logs in %s)\n",
                model, bl_dir);
        return 1;
    }
    uint64_t id = 1, ok = 0, errors = 0, inflight = 0;
    wp_hist lat;
    wp_hist_init(&lat);
    size_t cap = 1u << 20;
    uint64_t *sent_at = calloc(cap, sizeof *sent_at);
    if (!sent_at)
        return 1;
    uint64_t start = wp_clock_monotonic_ns(), end = start + (uint64_t)(seconds * 1e9);
    while (wp_clock_monotonic_ns() < end) {
        while (inflight < (uint64_t)window) {
            sent_at[id % cap] = wp_clock_monotonic_ns();
            if (bl_send(s, &r, id) != 0)
                break;
            id++;
            inflight++;
        }
        zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
        zmq_poll(&it, 1, 10);
        for (;;) {
            uint64_t rid;
            bool good;
            int got = bl_recv(s, &rid, &good, NULL, 0);
            if (got == 0)
                break;
            if (got < 0 || rid >= id)
                continue;
            inflight--;
            if (good) {
                ok++;
                wp_hist_record(&lat, wp_clock_monotonic_ns() - sent_at[rid % cap]);
            } else {
                errors++;
            }
        }
    }
    double elapsed = (double)(wp_clock_monotonic_ns() - start) / 1e9;
    line("forwarded_ok_per_s", (double)ok / elapsed, "requests/s");
    line("errors_per_s", (double)errors / elapsed, "requests/s");
    line("window", window, "requests in flight");
    line("targets", targets, "nodes");
    line("latency_p50_us", (double)wp_hist_quantile(&lat, 0.5) / 1e3, "us");
    line("latency_p99_us", (double)wp_hist_quantile(&lat, 0.99) / 1e3, "us");
    line("seconds", elapsed, "s");
    free(sent_at);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}
