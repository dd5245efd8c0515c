/* bench_gossip — the gossip codec's cost per frame (encode, decode with the
 * pre-unpack validation) and the gossip simulation's figures and run time
 * at 100, 330 and 1000 members (edge preset, memberlist defaults, 1% loss;
 * simulated network). Prints JSON lines. */
#include "node/node.h"
#include "topology/topology.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void line(const char *figure, size_t nodes, double value, const char *unit)
{
    printf("{\"bench\":\"gossip\",\"figure\":\"%s\",\"nodes\":%zu,\"value\":%.4f,"
           "\"unit\":\"%s\"}\n",
           figure, nodes, isfinite(value) ? value : -1.0, unit);
}

static int bench_codec(void)
{
    wp_gossip_member recs[10];
    const wp_gossip_member *ptrs[10];
    for (int i = 0; i < 10; i++) {
        memset(&recs[i], 0, sizeof recs[i]);
        snprintf(recs[i].id, sizeof recs[i].id, "fra-%d", i);
        snprintf(recs[i].city, sizeof recs[i].city, "FRA");
        snprintf(recs[i].addr, sizeof recs[i].addr, "tcp://10.0.0.%d:7001", i);
        recs[i].incarnation = 3;
        recs[i].cap.version = 9;
        recs[i].cap.gpus = 8;
        recs[i].cap.gpu_mem_free_bytes = 600ULL << 30;
        recs[i].cap.n_warm = 2;
        snprintf(recs[i].cap.warm[0], WP_NAME_MAX, "llama-3-8b");
        snprintf(recs[i].cap.warm[1], WP_NAME_MAX, "whisper-small");
        ptrs[i] = &recs[i];
    }
    wp_gossip_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = WP_GMSG_GOSSIP;
    snprintf(msg.from_id, sizeof msg.from_id, "ams-1");
    snprintf(msg.from_addr, sizeof msg.from_addr, "tcp://10.0.0.99:7001");
    const int reps = 100000;
    wp_err err;
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t t0 = wp_clock_monotonic_ns();
    for (int i = 0; i < reps; i++) {
        free(buf);
        if (wp_gossip_msg_encode(&msg, ptrs, 10, &buf, &len, &err))
            return 1;
    }
    uint64_t t1 = wp_clock_monotonic_ns();
    for (int i = 0; i < reps; i++) {
        wp_gossip_msg out;
        if (wp_gossip_msg_decode(buf, len, &out, &err))
            return 1;
        wp_gossip_msg_clear(&out);
    }
    uint64_t t2 = wp_clock_monotonic_ns();
    line("frame_bytes_10_records", 10, (double)len, "bytes");
    line("encode_10_records", 10, (double)(t1 - t0) / reps / 1000.0, "us");
    line("decode_10_records", 10, (double)(t2 - t1) / reps / 1000.0, "us");
    free(buf);
    return 0;
}

static int bench_sim(size_t n, double duration_s)
{
    wp_topology *t = NULL;
    wp_err err;
    if (wp_topo_load_preset("edge", NULL, &t, &err)) {
        fprintf(stderr, "bench_gossip: %s\n", wp_err_text(&err));
        return 1;
    }
    float *d = malloc(n * n * sizeof *d);
    if (!d)
        return 1;
    wp_gossip_sim_place(t, n, d, NULL);
    wp_gossip_sim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.nodes = n;
    cfg.oneway_ms = d;
    wp_gossip_config_default(&cfg.gossip);
    cfg.loss = 0.01;
    cfg.seed = 1;
    cfg.duration_s = duration_s;
    cfg.trials = 10;
    wp_gossip_sim_result r;
    uint64_t t0 = wp_clock_monotonic_ns();
    int rv = wp_gossip_sim_run(&cfg, &r, &err);
    uint64_t t1 = wp_clock_monotonic_ns();
    free(d);
    wp_topo_free(t);
    if (rv) {
        fprintf(stderr, "bench_gossip: %s\n", wp_err_text(&err));
        return 1;
    }
    line("sim_convergence_p50", n, r.convergence_s_p50, "s");
    line("sim_convergence_max", n, r.convergence_s_max, "s");
    line("sim_detection", n, r.detection_s, "s");
    line("sim_false_positives", n, (double)r.false_positives, "count");
    line("sim_simulated", n, r.simulated_s, "s");
    line("sim_wall", n, (double)(t1 - t0) / 1e9, "s");
    return 0;
}

int main(void)
{
    if (bench_codec())
        return 1;
    if (bench_sim(100, 600) || bench_sim(330, 600) || bench_sim(1000, 200))
        return 1;
    return 0;
}
