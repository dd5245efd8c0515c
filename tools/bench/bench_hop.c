/* bench_hop — latency added by one forwarding hop on the live request path,
 * at 1,000 requests/s, WAN emulation off, on loopback.
 *
 * Two real wp-node processes (started and stopped here): T in FRA with one
 * timing-model GPU, and I in FRA with no GPU (an ingress-only node). Open-loop
 * Poisson traffic at --rate (default 1000/s) for --seconds (default 5)
 * goes first straight to T (T is its own ingress and serves locally: no
 * hop), then to I (which routes and forwards to T: one hop there and one
 * back). Same model, same arrivals. The added latency per hop is the
 * difference of the client-measured latency distributions: p50(via I) -
 * p50(direct) and p99(via I) - p99(direct). Both runs include the timing
 * model's service time (distilbert-sst2 by default, ~3.6 ms), which cancels
 * out in the difference, and its batching wait, which does not quite: so
 * the path_* figures also subtract what the target reports as its GPU side
 * (queue + service + cold load) from each request's latency, leaving the
 * request path itself (client <-> ingress <-> target, routing, framing).
 *
 * Prints JSON lines: {"bench":"hop","figure":...,"value":...,"unit":...}. */
#include "tools/bench/bench_live.h"

#include <math.h>

static void line(const char *figure, double value, const char *unit)
{
    printf("{\"bench\":\"hop\",\"figure\":\"%s\",\"value\":%.3f,\"unit\":\"%s\"}\n", figure,
           isfinite(value) ? value : -1.0, unit);
    fflush(stdout);
}

typedef struct run_stats {
    wp_hist lat_ns;
    wp_hist path_ns; /* latency minus the target's queue + service + cold time */
    uint64_t sent, ok, errors, lost;
} run_stats;

/* Open loop: Poisson arrivals at rate for seconds, then up to 3 s for the
 * answers; latency of OK answers into st. */
static void run(void *s, const bl_req *r, double rate, double seconds, uint64_t id0,
                run_stats *st)
{
    memset(st, 0, sizeof *st);
    wp_hist_init(&st->lat_ns);
    wp_hist_init(&st->path_ns);
    size_t cap = (size_t)(rate * seconds * 2 + 1000);
    uint64_t *sent_at = calloc(cap, sizeof *sent_at);
    if (!sent_at)
        return;
    wp_rng rng;
    wp_rng_seed(&rng, 42);
    uint64_t start = wp_clock_monotonic_ns(), end = start + (uint64_t)(seconds * 1e9);
    double next = (double)start;
    uint64_t outstanding = 0;
    for (;;) {
        uint64_t now = wp_clock_monotonic_ns();
        while (next <= (double)now && next < (double)end && st->sent < cap) {
            uint64_t k = st->sent++;
            sent_at[k] = wp_clock_monotonic_ns();
            if (bl_send(s, r, id0 + k) == 0)
                outstanding++;
            else {
                sent_at[k] = 0;
                st->errors++;
            }
            next += wp_rng_exp(&rng, 1e9 / rate);
        }
        if (next >= (double)end && (outstanding == 0 || now > end + 3000000000ull))
            break;
        long wait_ms = next > (double)now ? (long)((next - (double)now) / 1e6) : 0;
        if (next >= (double)end)
            wait_ms = 10;
        zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
        zmq_poll(&it, 1, wait_ms);
        for (;;) {
            uint64_t id;
            bool ok;
            int got = bl_recv(s, &id, &ok, NULL, 0);
            if (got == 0)
                break;
            if (got < 0 || id < id0 || id - id0 >= st->sent || sent_at[id - id0] == 0)
                continue;
            uint64_t t = wp_clock_monotonic_ns();
            if (ok) {
                st->ok++;
                uint64_t lat = t - sent_at[id - id0], gpu = bl_last_gpu_us * 1000u;
                wp_hist_record(&st->lat_ns, lat);
                wp_hist_record(&st->path_ns, lat > gpu ? lat - gpu : 0);
            } else {
                st->errors++;
            }
            sent_at[id - id0] = 0;
            outstanding--;
        }
    }
    st->lost = outstanding;
    free(sent_at);
}

int main(int argc, char **argv)
{
    double rate = 1000, seconds = 5;
    const char *model = "distilbert-sst2";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rate"))
            rate = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--model"))
            model = argv[i + 1];
    }
    if (argc == 2 && !strcmp(argv[1], "--help")) {
        printf("usage: bench_hop [--rate R] [--seconds S] [--model NAME]\n");
        return 0;
    }
    if (!(rate > 0) || !(seconds > 0) || bl_init("bench_hop") != 0)
        return 1;
    srand((unsigned)getpid());
    int base = 30000 + rand() % 20000;
    bl_node *t = bl_spawn("FRA", 1, "24", base, NULL);
    bl_node *in = t ? bl_spawn("FRA", 0, "0", base + 10, t->gossip) : NULL;
    if (!in) {
        fprintf(stderr, "bench_hop: could not start the nodes\n");
        return 1;
    }
    void *ctx = zmq_ctx_new();
    void *direct = bl_dealer(ctx, t->request), *via = bl_dealer(ctx, in->request);
    uint32_t tokens[128];
    for (int i = 0; i < 128; i++)
        tokens[i] = 1 + (uint32_t)i;
    bl_req r = {.model = model, .tokens = tokens, .ntokens = 128, .out_tokens = 1};
    /* The target loads the model (a cold start) and the ingress learns,
     * by gossip, that it is warm there. */
    if (bl_wait_ok(direct, &r, t->id, 15000) != 0 || bl_wait_ok(via, &r, t->id, 15000) != 0) {
        fprintf(stderr, "bench_hop: the nodes did not serve %s within 15 s (set WP_BENCH_KEEP=1 to keep the logs in %s)\n",
                model, bl_dir);
        return 1;
    }
    run_stats d, v;
    run(direct, &r, rate, seconds, 1000000, &d);
    run(via, &r, rate, seconds, 50000000, &v);
    double d50 = (double)wp_hist_quantile(&d.lat_ns, 0.5) / 1e3,
           d99 = (double)wp_hist_quantile(&d.lat_ns, 0.99) / 1e3,
           v50 = (double)wp_hist_quantile(&v.lat_ns, 0.5) / 1e3,
           v99 = (double)wp_hist_quantile(&v.lat_ns, 0.99) / 1e3;
    line("rate_rps", rate, "requests/s");
    line("direct_p50_us", d50, "us");
    line("direct_p99_us", d99, "us");
    line("via_ingress_p50_us", v50, "us");
    line("via_ingress_p99_us", v99, "us");
    line("added_per_hop_p50_us", v50 - d50, "us");
    line("added_per_hop_p99_us", v99 - d99, "us");
    /* The same without the GPU side (the target's reported queue, service
     * and cold time), whose batching jitter swamps a sub-ms difference:
     * the request path's own time, direct and through the ingress. */
    double pd50 = (double)wp_hist_quantile(&d.path_ns, 0.5) / 1e3,
           pd99 = (double)wp_hist_quantile(&d.path_ns, 0.99) / 1e3,
           pv50 = (double)wp_hist_quantile(&v.path_ns, 0.5) / 1e3,
           pv99 = (double)wp_hist_quantile(&v.path_ns, 0.99) / 1e3;
    line("path_direct_p50_us", pd50, "us");
    line("path_direct_p99_us", pd99, "us");
    line("path_via_ingress_p50_us", pv50, "us");
    line("path_via_ingress_p99_us", pv99, "us");
    line("path_added_per_hop_p50_us", pv50 - pd50, "us");
    line("path_added_per_hop_p99_us", pv99 - pd99, "us");
    line("direct_ok", (double)d.ok, "requests");
    line("via_ingress_ok", (double)v.ok, "requests");
    line("errors", (double)(d.errors + v.errors), "requests");
    line("unanswered", (double)(d.lost + v.lost), "requests");
    zmq_close(direct);
    zmq_close(via);
    zmq_ctx_term(ctx);
    return 0;
}
