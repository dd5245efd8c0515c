/* bench_router — routing decisions per second on one core.
 *
 * The edge preset (Cloudflare PoP cities), GPUs in the 190 cities with the
 * most demand (400 GPUs of 80 GB), 32 models of mixed sizes placed by the
 * simulator's placement, i.e. placement/'s optimizer (memory pressure:
 * the popular models are warm nearly everywhere, the tail in a few
 * cities). Requests: ingress
 * cities drawn by population, models by Zipf(1.0), pre-generated so the
 * loop times only wp_route. One JSON line per policy, plus one for
 * nearest-warm with a third of the nodes full (scans go further), plus
 * "latency-load": the load-aware default as an ingress runs it (issue 12):
 * every node has a load report (a third of them busy past their slots),
 * the ingress's own sends are merged, and every request has a deadline.
 */
#include "common/common.h"
#include "router/router.h"
#include "sim/sim.h"
#include "topology/topology.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMODELS 32
#define NREQ (1u << 20)

static double rtt_lookup(const void *ctx, size_t a, size_t b)
{
    return wp_topo_rtt_ms((const wp_topology *)ctx, a, b);
}

static int die(const char *what, const wp_err *err)
{
    fprintf(stderr, "bench_router: %s: %s\n", what, wp_err_text(err));
    return 1;
}

int main(int argc, char **argv)
{
    uint64_t decisions = 20000000;
    if (argc > 1 && wp_parse_u64(argv[1], &decisions) != WP_OK) {
        fprintf(stderr, "usage: bench_router [DECISIONS]\n");
        return 2;
    }
    wp_err err;
    wp_topology *t;
    wp_users *users;
    if (wp_topo_load_preset("edge", NULL, &t, &err) != WP_OK)
        return die("topology", &err);
    if (wp_users_load(t, NULL, &users, &err) != WP_OK)
        return die("users", &err);
    size_t nc = wp_topo_count(t);

    /* 32 models: sizes cycle through small LLMs, encoders, speech, big LLMs. */
    static const double size_gb[8] = {16, 0.22, 0.134, 1.6, 4, 8, 30, 2};
    wp_model_profile models[NMODELS];
    double share[NMODELS];
    wp_zipf zipf;
    wp_zipf_init(&zipf, NMODELS, 1.0);
    for (int m = 0; m < NMODELS; m++) {
        const wp_model_profile *base = wp_catalog_model((size_t)m % wp_catalog_count());
        models[m] = *base;
        snprintf(models[m].name, sizeof models[m].name, "model-%02d", m);
        models[m].size_bytes = (uint64_t)(size_gb[m % 8] * 1e9);
        share[m] = wp_zipf_pmf(&zipf, (size_t)m);
    }
    double *demand = calloc(nc, sizeof *demand);
    for (size_t i = 0; i < wp_users_count(users); i++) {
        const wp_user_point *u = wp_users_point(users, i);
        demand[u->ingress] += u->population;
    }
    wp_sim_placement pl;
    if (wp_sim_place(t, demand, models, share, NMODELS, 190, 400, 80000000000ull, &pl, &err) !=
        WP_OK)
        return die("placement", &err);

    wp_router_config cfg = {.ncities = nc, .rtt_ms = rtt_lookup, .rtt_ctx = t};
    wp_router_view *v;
    if (wp_router_view_new(&cfg, &v, &err) != WP_OK)
        return die("view", &err);
    for (int m = 0; m < NMODELS; m++)
        if (wp_router_model_add(v, &models[m], NULL, &err) != WP_OK)
            return die("model", &err);
    size_t warm_pairs = 0;
    for (size_t s = 0; s < pl.nsites; s++) {
        char id[WP_NAME_MAX];
        snprintf(id, sizeof id, "%s-gpu", wp_topo_city(t, pl.city[s])->code);
        uint64_t mem = pl.gpus[s] * 80000000000ull;
        for (int m = 0; m < NMODELS; m++)
            if ((pl.warm[s] >> m) & 1u)
                mem -= models[m].size_bytes;
        wp_router_node_info info = {.id = id, .city = pl.city[s], .gpus = pl.gpus[s],
                                    .free_mem_bytes = mem};
        uint32_t n;
        if (wp_router_node_add(v, &info, &n, &err) != WP_OK)
            return die("node", &err);
        for (int m = 0; m < NMODELS; m++)
            if ((pl.warm[s] >> m) & 1u) {
                wp_router_set_warm(v, n, (uint32_t)m, true);
                warm_pairs++;
            }
    }

    wp_rng rng;
    wp_rng_seed(&rng, 1);
    wp_route_req *reqs = malloc(NREQ * sizeof *reqs);
    for (uint32_t i = 0; i < NREQ; i++) {
        reqs[i].ingress = wp_users_point(users, wp_users_draw(users, &rng))->ingress;
        reqs[i].model = (uint32_t)wp_zipf_draw(&zipf, &rng);
    }

    wp_router_sends *sends;
    if (wp_router_sends_new(&sends, &err) != WP_OK)
        return die("sends", &err);
    for (int round = 0; round < (int)WP_POLICY_COUNT + 2; round++) {
        bool load = round == (int)WP_POLICY_COUNT + 1;
        wp_route_policy pol = round < (int)WP_POLICY_COUNT ? (wp_route_policy)round
                              : load                       ? WP_POLICY_LATENCY
                                                           : WP_POLICY_NEAREST_WARM;
        const char *label = round < (int)WP_POLICY_COUNT ? wp_route_policy_name(pol)
                            : load                       ? "latency-load"
                                                         : "nearest-warm-loaded";
        if (round == (int)WP_POLICY_COUNT) /* a third of the nodes full */
            for (uint32_t n = 0; n < pl.nsites; n++)
                if (wp_rng_below(&rng, 3) == 0)
                    wp_router_inflight_add(v, n, 0, (int32_t)(pl.gpus[n] * models[0].slots_per_gpu));
        if (load) {
            /* Reports at 100 ms: a third of the nodes 1.5x past their slots
             * in model 0, the rest a quarter busy; own sends to every node
             * since (arriving at 120 ms); route at 150 ms, 2 s deadline. */
            uint32_t mi[2] = {0, 1}, cnt[2];
            for (uint32_t n = 0; n < pl.nsites; n++) {
                uint32_t slots = pl.gpus[n] * models[0].slots_per_gpu;
                cnt[0] = wp_rng_below(&rng, 3) == 0 ? slots + slots / 2 : slots / 4;
                cnt[1] = 1;
                wp_load_report rep = {.at_ns = 100000000ull, .n = 2, .models = mi,
                                      .inflight = cnt};
                if (wp_router_load_report(v, n, &rep) != WP_OK ||
                    wp_router_sends_note(sends, v, n, 0, 120000000ull) != WP_OK)
                    return die("load report", &err);
            }
        }
        for (uint32_t i = 0; i < NREQ; i++) {
            reqs[i].policy = pol;
            if (load) {
                reqs[i].now_ns = 150000000ull;
                reqs[i].budget_ms = 2000;
                reqs[i].sends = sends;
            }
        }
        uint64_t ok = 0, cold = 0, sink = 0;
        wp_route_result r;
        uint64_t t0 = wp_clock_monotonic_ns(), c0 = wp_clock_thread_cpu_ns();
        for (uint64_t i = 0; i < decisions; i++) {
            if (wp_route(v, &reqs[i & (NREQ - 1)], &r) == WP_OK) {
                ok++;
                cold += r.cold;
                sink += r.node;
            }
        }
        double wall_s = (double)(wp_clock_monotonic_ns() - t0) / 1e9;
        double cpu_s = (double)(wp_clock_thread_cpu_ns() - c0) / 1e9;
        printf("{\"bench\":\"router\",\"policy\":\"%s\",\"preset\":\"edge\",\"nodes\":%zu,"
               "\"models\":%d,\"warm_replicas\":%zu,\"decisions\":%llu,\"routed\":%llu,"
               "\"cold\":%llu,\"wall_s\":%.4f,\"decisions_per_s\":%.0f,\"ns_per_decision\":%.1f,"
               "\"cpu_s\":%.4f,\"decisions_per_cpu_s\":%.0f,\"checksum\":%llu}\n",
               label, pl.nsites, NMODELS, warm_pairs, (unsigned long long)decisions,
               (unsigned long long)ok, (unsigned long long)cold, wall_s,
               (double)decisions / wall_s, wall_s * 1e9 / (double)decisions, cpu_s,
               (double)decisions / cpu_s,
               (unsigned long long)(sink & 0xffff));
    }
    wp_router_sends_free(sends);
    free(reqs);
    free(demand);
    wp_sim_placement_free(&pl);
    wp_router_view_free(v);
    wp_zipf_close(&zipf);
    wp_users_free(users);
    wp_topo_free(t);
    return 0;
}
