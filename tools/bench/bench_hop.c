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
 * --compare-curve: two such pairs in the same run, one plain and one with
 * CurveZMQ on every socket (issue 14's bound: CURVE adds at most 0.1 ms per
 * hop at p50); --rounds R (default 6) runs of --seconds / R each, plain and
 * CURVE alternating which goes first, so that the machine's drift hits both
 * alike; the figures are the medians over the rounds of each mode's added
 * latency per hop and of the per-round difference CURVE - plain.
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

static double p50_us(const wp_hist *h)
{
    return (double)wp_hist_quantile(h, 0.5) / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One mode's pair: target, ingress and the client's two sockets. */
typedef struct pair {
    void *direct, *via;
    const char *target;
} pair;

/* Both pairs, CURVE first (bl_keys set by bl_init), then plain (bl_keys
 * cleared: bl_spawn and bl_dealer read it). */
static int compare_curve(double rate, double seconds, int rounds, const char *model)
{
    srand((unsigned)getpid());
    int base = 30000 + rand() % 20000;
    void *ctx = zmq_ctx_new();
    pair pr[2]; /* 0 plain, 1 curve */
    for (int m = 1; m >= 0; m--) {
        if (m == 0)
            bl_keys[0] = '\0';
        bl_node *t = bl_spawn("FRA", 1, "24", base + 20 * m, NULL);
        bl_node *in = t ? bl_spawn("FRA", 0, "0", base + 20 * m + 10, t->gossip) : NULL;
        if (!in) {
            fprintf(stderr, "bench_hop: could not start the nodes\n");
            return 1;
        }
        pr[m].direct = bl_dealer(ctx, t->request);
        pr[m].via = bl_dealer(ctx, in->request);
        pr[m].target = t->id;
        if (!pr[m].direct || !pr[m].via) {
            fprintf(stderr, "bench_hop: client sockets failed\n");
            return 1;
        }
    }
    uint32_t tokens[128];
    for (int i = 0; i < 128; i++)
        tokens[i] = 1 + (uint32_t)i;
    bl_req r = {.model = model, .tokens = tokens, .ntokens = 128, .out_tokens = 1};
    for (int m = 0; m < 2; m++)
        if (bl_wait_ok(pr[m].direct, &r, pr[m].target, 15000) != 0 ||
            bl_wait_ok(pr[m].via, &r, pr[m].target, 15000) != 0) {
            fprintf(stderr, "bench_hop: the %s nodes did not serve %s within 15 s (WP_BENCH_KEEP=1 "
                            "keeps the logs in %s)\n", m ? "CURVE" : "plain", model, bl_dir);
            return 1;
        }
    double added[2][100], path[2][100], dadd[100], dpath[100];
    uint64_t ok = 0, bad = 0;
    uint64_t id = 1000000;
    for (int k = 0; k < rounds; k++) {
        for (int j = 0; j < 2; j++) {
            int m = (k + j) % 2; /* even rounds plain first, odd rounds CURVE first */
            run_stats d, v;
            run(pr[m].direct, &r, rate, seconds / rounds, id, &d);
            id += 10000000;
            run(pr[m].via, &r, rate, seconds / rounds, id, &v);
            id += 10000000;
            added[m][k] = p50_us(&v.lat_ns) - p50_us(&d.lat_ns);
            path[m][k] = p50_us(&v.path_ns) - p50_us(&d.path_ns);
            ok += d.ok + v.ok;
            bad += d.errors + v.errors + d.lost + v.lost;
        }
        dadd[k] = added[1][k] - added[0][k];
        dpath[k] = path[1][k] - path[0][k];
    }
    line("rate_rps", rate, "requests/s");
    line("rounds", rounds, "rounds");
    line("plain_added_per_hop_p50_us", median(added[0], rounds), "us");
    line("curve_added_per_hop_p50_us", median(added[1], rounds), "us");
    line("curve_minus_plain_added_p50_us", median(dadd, rounds), "us");
    line("plain_path_added_per_hop_p50_us", median(path[0], rounds), "us");
    line("curve_path_added_per_hop_p50_us", median(path[1], rounds), "us");
    line("curve_minus_plain_path_added_p50_us", median(dpath, rounds), "us");
    line("curve_minus_plain_path_added_min_us", dpath[0], "us"); /* sorted by median() */
    line("curve_minus_plain_path_added_max_us", dpath[rounds - 1], "us");
    line("ok", (double)ok, "requests");
    line("errors_or_unanswered", (double)bad, "requests");
    for (int m = 0; m < 2; m++) {
        zmq_close(pr[m].direct);
        zmq_close(pr[m].via);
    }
    zmq_ctx_term(ctx);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    double rate = 1000, seconds = 5;
    const char *model = "distilbert-sst2";
    bool compare = false;
    int rounds = 6;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--compare-curve")) {
            compare = true;
            continue;
        }
        if (!strcmp(argv[i], "--help")) {
            printf("usage: bench_hop [--rate R] [--seconds S] [--model NAME]\n"
                   "                 [--compare-curve [--rounds R]]\n");
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_hop: %s: missing value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--rate"))
            rate = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--model"))
            model = argv[++i];
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "bench_hop: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (compare)
        setenv("WP_BENCH_CURVE", "1", 1); /* bl_init makes the keys */
    if (!(rate > 0) || !(seconds > 0) || rounds < 1 || rounds > 100 || bl_init("bench_hop") != 0)
        return 1;
    if (compare)
        return compare_curve(rate, seconds, rounds, model);
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
