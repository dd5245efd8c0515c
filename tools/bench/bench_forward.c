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
 * --scrape (issue 16): every node also serves /metrics, and the run is
 * --phases (default 4, even) phases of --seconds each on the same nodes:
 * unscraped, scraped, unscraped, scraped, ..., where "scraped" means a thread GETs every node's /metrics once a
 * second (as a Prometheus with a 1 s interval would). Alternating cancels
 * slow drift of a shared machine. The figures: the rate unscraped and
 * scraped (each over its two phases), their ratio, and the scrapes made.
 * On a shared 2-core machine that ratio moves by more than the 2% the
 * issue allows, so the cost is also measured as CPU, which has no such
 * noise: each node's CPU time (each thread's /proc/PID/task/TID/schedstat, ns)
 * per phase, and that of its metrics thread (libmicrohttpd's, named
 * "MHD-single") apart: metrics_cpu_percent_scraped is the metrics threads'
 * CPU over all the nodes' CPU in the scraped phases (the share of the
 * nodes' work that serving scrapes took), and node_cpu_us_per_request_*
 * the nodes' CPU per answered request with and without scrapes. The 500 ms
 * refresh on the loop thread runs in both kinds of phase (--metrics is on
 * throughout) and is in neither difference.
 *
 * --compare-curve (issue 14's bound: CURVE costs at most 25% of the rate):
 * two such clusters in the same run, one plain and one with CurveZMQ on
 * every socket (keys made for the run), and --phases (default 4, even)
 * phases of --seconds each alternating plain, CURVE, plain, ... (the
 * answers still in flight at a phase's end are waited for before the next,
 * and not counted). The figures: each mode's rate and CURVE / plain.
 *
 * Prints JSON lines: {"bench":"forward","figure":...,"value":...,"unit":...}. */
#include "tools/bench/bench_live.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

/* ---- the 1 Hz scraper: plain HTTP/1.0 GETs, the body read and counted */

#define BF_MAX_PHASES 64

static _Atomic bool scrape_on, scrape_quit;
static _Atomic uint64_t scrapes_ok, scrapes_failed, scrape_bytes, scrape_ns;

static bool scrape_one(const char *hostport)
{
    char host[64];
    snprintf(host, sizeof host, "%s", hostport);
    char *colon = strrchr(host, ':');
    if (!colon)
        return false;
    *colon = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    inet_pton(AF_INET, host, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    static const char req[] = "GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n";
    ok = ok && write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1);
    char buf[16384];
    ssize_t got, total = 0;
    while (ok && (got = read(fd, buf, sizeof buf)) > 0)
        total += got;
    close(fd);
    ok = ok && total > 0 && strncmp(buf, "HTTP/1.", 7) == 0;
    if (ok)
        atomic_fetch_add(&scrape_bytes, (uint64_t)total);
    return ok;
}

static void *scraper(void *arg)
{
    (void)arg;
    uint64_t next = wp_clock_monotonic_ns();
    while (!atomic_load(&scrape_quit)) {
        uint64_t now = wp_clock_monotonic_ns();
        if (now < next) {
            struct timespec ts = {0, 20000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        next = now + 1000000000ull;
        if (!atomic_load(&scrape_on))
            continue;
        for (int i = 0; i < bl_n; i++) {
            uint64_t t0 = wp_clock_monotonic_ns();
            bool ok = scrape_one(bl_nodes[i].metrics);
            atomic_fetch_add(ok ? &scrapes_ok : &scrapes_failed, 1);
            if (ok)
                atomic_fetch_add(&scrape_ns, wp_clock_monotonic_ns() - t0);
        }
    }
    return NULL;
}

/* ---- CPU time of the nodes, from the kernel's per-thread schedstat */

/* Nanoseconds of CPU a thread has run (first field of schedstat). */
static uint64_t task_cpu_ns(pid_t pid, const char *tid)
{
    char path[320];
    snprintf(path, sizeof path, "/proc/%d/task/%s/schedstat", (int)pid, tid);
    FILE *fp = fopen(path, "r");
    unsigned long long ns = 0;
    if (fp) {
        if (fscanf(fp, "%llu", &ns) != 1)
            ns = 0;
        fclose(fp);
    }
    return (uint64_t)ns;
}

/* All the nodes' CPU (*all) and that of their metrics threads (*mhd). */
static void nodes_cpu_ns(uint64_t *all, uint64_t *mhd)
{
    *all = *mhd = 0;
    for (int i = 0; i < bl_n; i++) {
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%d/task", (int)bl_nodes[i].pid);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            uint64_t ns = task_cpu_ns(bl_nodes[i].pid, e->d_name);
            *all += ns;
            char path[352], comm[32] = "";
            snprintf(path, sizeof path, "%s/%s/comm", dir, e->d_name);
            FILE *fp = fopen(path, "r");
            if (fp) {
                if (!fgets(comm, sizeof comm, fp))
                    comm[0] = '\0';
                fclose(fp);
            }
            if (strncmp(comm, "MHD", 3) == 0)
                *mhd += ns;
        }
        closedir(d);
    }
}

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
    bool scrape = false, compare = false;
    int phases = 4;
    const char *model = "distilbert-sst2";
    if (argc == 2 && !strcmp(argv[1], "--help")) {
        printf("usage: bench_forward [--seconds S] [--window N] [--targets T] [--gpus G] "
               "[--model NAME] [--scrape | --compare-curve] [--phases N]\n");
        return 0;
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--scrape") || !strcmp(argv[i], "--compare-curve")) {
            if (!strcmp(argv[i], "--scrape"))
                scrape = true;
            else
                compare = true;
            for (int k = i; k + 1 < argc; k++)
                argv[k] = argv[k + 1];
            argc--;
            i--;
        }
    bl_metrics = scrape;
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
        else if (!strcmp(argv[i], "--phases"))
            phases = atoi(argv[i + 1]);
    }
    if (phases < 2 || phases > BF_MAX_PHASES || phases % 2) {
        fprintf(stderr, "bench_forward: --phases must be even, 2..%d\n", BF_MAX_PHASES);
        return 2;
    }
    if (scrape && compare) {
        fprintf(stderr, "bench_forward: --scrape or --compare-curve, not both\n");
        return 2;
    }
    if (compare)
        setenv("WP_BENCH_CURVE", "1", 1); /* bl_init makes the keys */
    if (!(seconds > 0) || window < 1 || gpus < 1 || targets < 1 ||
        targets > (compare ? BL_MAX_NODES / 2 : BL_MAX_NODES) - 1 || bl_init("bench_forward") != 0)
        return 1;
    srand((unsigned)getpid());
    int base = 30000 + rand() % 20000;
    char mem[16];
    snprintf(mem, sizeof mem, "%d", gpus * 24);
    void *ctx = zmq_ctx_new();
    void *sk[2] = {NULL, NULL}; /* --compare-curve: [0] plain, [1] CURVE; else [0] */
    uint32_t tokens[128];
    for (int i = 0; i < 128; i++)
        tokens[i] = 1 + (uint32_t)i;
    bl_req r = {.model = model, .tokens = tokens, .ntokens = 128, .out_tokens = 1};
    /* The CURVE cluster first (bl_keys set by bl_init), then the plain one
     * (bl_keys cleared: bl_spawn and bl_dealer read it). */
    for (int m = compare ? 1 : 0; m >= 0; m--) {
        int b = base + m * 10 * (targets + 2);
        if (compare && m == 0)
            bl_keys[0] = '\0';
        bl_node *t = bl_spawn("FRA", gpus, mem, b, NULL);
        for (int k = 1; t && k < targets; k++)
            if (!bl_spawn("FRA", gpus, mem, b + 10 * (k + 1), t->gossip))
                t = NULL;
        bl_node *in = t ? bl_spawn("FRA", 0, "0", b + 10, t->gossip) : NULL;
        if (!in) {
            fprintf(stderr, "bench_forward: could not start the nodes\n");
            return 1;
        }
        sk[m] = bl_dealer(ctx, in->request);
        if (!sk[m] || bl_wait_ok(sk[m], &r, NULL, 15000) != 0) {
            fprintf(stderr, "bench_forward: %s not served through the ingress within 15 s (set WP_BENCH_KEEP=1 to keep the logs in %s)\n",
                    model, bl_dir);
            return 1;
        }
    }
    void *s = sk[0];
    uint64_t id = 1, ok = 0, errors = 0, inflight = 0;
    wp_hist lat;
    wp_hist_init(&lat);
    size_t cap = 1u << 20;
    uint64_t *sent_at = calloc(cap, sizeof *sent_at);
    if (!sent_at)
        return 1;
    pthread_t sth;
    if (scrape && pthread_create(&sth, NULL, scraper, NULL) != 0)
        return 1;
    if (!scrape && !compare)
        phases = 1;
    double phase_ok[BF_MAX_PHASES] = {0}, phase_s[BF_MAX_PHASES] = {0};
    uint64_t phase_cpu[BF_MAX_PHASES] = {0}, phase_mhd[BF_MAX_PHASES] = {0};
    uint64_t start = wp_clock_monotonic_ns();
    for (int ph = 0; ph < phases; ph++) {
        atomic_store(&scrape_on, ph % 2 == 1);
        if (compare)
            s = sk[ph % 2];
        uint64_t cpu0 = 0, mhd0 = 0;
        if (scrape)
            nodes_cpu_ns(&cpu0, &mhd0);
        uint64_t ok0 = ok, ph_start = wp_clock_monotonic_ns();
        uint64_t ph_first_id = id; /* an answer to an earlier phase is not this one's */
        uint64_t end = ph_start + (uint64_t)(seconds * 1e9);
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
                if (got < 0 || rid >= id || (compare && rid < ph_first_id))
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
        phase_ok[ph] = (double)(ok - ok0);
        phase_s[ph] = (double)(wp_clock_monotonic_ns() - ph_start) / 1e9;
        if (scrape) {
            uint64_t cpu1, mhd1;
            nodes_cpu_ns(&cpu1, &mhd1);
            phase_cpu[ph] = cpu1 - cpu0;
            phase_mhd[ph] = mhd1 - mhd0;
        }
        /* --compare-curve: the next phase uses the other socket; what is
         * in flight on this one is waited for (up to its 5 s deadline and
         * 3 s more), not counted. */
        for (uint64_t until = wp_clock_monotonic_ns() + 8000000000ull;
             compare && inflight > 0 && wp_clock_monotonic_ns() < until;) {
            zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
            zmq_poll(&it, 1, 10);
            uint64_t rid;
            bool good;
            int got;
            while ((got = bl_recv(s, &rid, &good, NULL, 0)) != 0)
                if (got > 0 && rid < id && rid >= ph_first_id)
                    inflight--;
        }
        if (compare && inflight > 0) {
            fprintf(stderr, "bench_forward: %llu answers missing 8 s after a phase\n",
                    (unsigned long long)inflight);
            inflight = 0;
        }
    }
    double elapsed = (double)(wp_clock_monotonic_ns() - start) / 1e9;
    if (compare) { /* the rates below over the phases, not the drains between them */
        elapsed = 0;
        for (int ph = 0; ph < phases; ph++)
            elapsed += phase_s[ph];
        double ok_m[2] = {0}, s_m[2] = {0};
        for (int ph = 0; ph < phases; ph++) {
            char name[64];
            snprintf(name, sizeof name, "phase%d_%s_ok_per_s", ph + 1, ph % 2 ? "curve" : "plain");
            line(name, phase_ok[ph] / phase_s[ph], "requests/s");
            ok_m[ph % 2] += phase_ok[ph];
            s_m[ph % 2] += phase_s[ph];
        }
        line("forwarded_ok_per_s_plain", ok_m[0] / s_m[0], "requests/s");
        line("forwarded_ok_per_s_curve", ok_m[1] / s_m[1], "requests/s");
        line("curve_over_plain", (ok_m[1] / s_m[1]) / (ok_m[0] / s_m[0]), "ratio");
    }
    if (scrape) {
        atomic_store(&scrape_quit, true);
        pthread_join(sth, NULL);
        double ok_ph[2] = {0}, s_ph[2] = {0}, cpu_ph[2] = {0}, mhd_ph[2] = {0};
        for (int ph = 0; ph < phases; ph++) {
            ok_ph[ph % 2] += phase_ok[ph];
            s_ph[ph % 2] += phase_s[ph];
            cpu_ph[ph % 2] += (double)phase_cpu[ph];
            mhd_ph[ph % 2] += (double)phase_mhd[ph];
        }
        double off = ok_ph[0] / s_ph[0], on = ok_ph[1] / s_ph[1];
        for (int ph = 0; ph < phases; ph++) {
            char name[64];
            snprintf(name, sizeof name, "phase%d_%s_ok_per_s", ph + 1,
                     ph % 2 ? "scraped" : "unscraped");
            line(name, phase_ok[ph] / phase_s[ph], "requests/s");
        }
        line("forwarded_ok_per_s_unscraped", off, "requests/s");
        line("forwarded_ok_per_s_scraped_1hz", on, "requests/s");
        line("scraped_over_unscraped", on / off, "ratio");
        line("scrapes_ok", (double)atomic_load(&scrapes_ok), "scrapes");
        line("scrapes_failed", (double)atomic_load(&scrapes_failed), "scrapes");
        double n_ok = (double)atomic_load(&scrapes_ok);
        line("scrape_bytes_mean", n_ok ? (double)atomic_load(&scrape_bytes) / n_ok : 0, "bytes");
        /* connect + request + render + read, wall time on the client */
        line("scrape_us_mean", n_ok ? (double)atomic_load(&scrape_ns) / n_ok / 1e3 : 0, "us");
        /* the CPU view (see the header) */
        line("metrics_cpu_percent_scraped", cpu_ph[1] > 0 ? 100 * mhd_ph[1] / cpu_ph[1] : -1, "%");
        line("metrics_cpu_us_per_scrape", n_ok ? mhd_ph[1] / n_ok / 1e3 : -1, "us");
        line("node_cpu_us_per_request_unscraped", ok_ph[0] ? cpu_ph[0] / ok_ph[0] / 1e3 : -1,
             "us");
        line("node_cpu_us_per_request_scraped", ok_ph[1] ? cpu_ph[1] / ok_ph[1] / 1e3 : -1, "us");
    }
    line("forwarded_ok_per_s", (double)ok / elapsed, "requests/s");
    line("errors_per_s", (double)errors / elapsed, "requests/s");
    line("window", window, "requests in flight");
    line("targets", targets, "nodes");
    if (!compare) { /* one histogram: under --compare-curve it would mix both modes */
        line("latency_p50_us", (double)wp_hist_quantile(&lat, 0.5) / 1e3, "us");
        line("latency_p99_us", (double)wp_hist_quantile(&lat, 0.99) / 1e3, "us");
    }
    line("seconds", elapsed, "s");
    free(sent_at);
    for (int m = 0; m < 2; m++)
        if (sk[m])
            zmq_close(sk[m]);
    zmq_ctx_term(ctx);
    return 0;
}
