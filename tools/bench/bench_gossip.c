/* bench_gossip — the gossip codec's cost per frame (encode, decode with the
 * pre-unpack validation), the cost of a record signature (Ed25519 sign and
 * verify of one owner part, issue 14), and the gossip simulation's figures
 * and run time at 100, 330 and 1000 members (edge preset, memberlist
 * defaults, 1% loss; simulated network), unsigned, and at 100 and 330
 * members with every record signed and checked ("signed": real keys,
 * libsodium; the core caches checks by the exact bytes held). Prints JSON
 * lines. */
#include "auth/auth.h"
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

/* One Ed25519 key per simulated member, and the callbacks the core asks. */
typedef struct sim_keys {
    size_t n;
    wp_key *keys;
    wp_gossip_auth *auth;
    wp_keyring ring;
    uint64_t verifies;
} sim_keys;

static int sk_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[WP_GOSSIP_SIG_BYTES])
{
    return wp_key_sign(ctx, msg, len, sig);
}

static sim_keys *the_keys;

static bool sk_verify(void *ctx, const char *id, const uint8_t *msg, size_t len,
                      const uint8_t sig[WP_GOSSIP_SIG_BYTES])
{
    (void)ctx;
    /* Sim member ids are "n<i>": index straight into the keys. */
    char *end;
    unsigned long i = strtoul(id + 1, &end, 10);
    the_keys->verifies++;
    return id[0] == 'n' && *end == '\0' && i < the_keys->n &&
           wp_key_verify(&the_keys->keys[i], msg, len, sig);
}

static const wp_gossip_auth *sk_auth_of(void *ctx, size_t i)
{
    sim_keys *k = ctx;
    k->auth[i] = (wp_gossip_auth){sk_sign, sk_verify, &k->keys[i]};
    return &k->auth[i];
}

static int bench_sign(void)
{
    wp_key k;
    wp_err err;
    if (wp_key_generate(&k, "fra-1", WP_ROLE_NODE, &err))
        return 1;
    wp_gossip_member m;
    memset(&m, 0, sizeof m);
    snprintf(m.id, sizeof m.id, "fra-1");
    snprintf(m.city, sizeof m.city, "FRA");
    snprintf(m.addr, sizeof m.addr, "tcp://10.0.0.1:7001");
    m.incarnation = 3;
    m.cap.version = 9;
    m.cap.gpus = 8;
    m.cap.n_warm = 2;
    snprintf(m.cap.warm[0], WP_NAME_MAX, "llama-3-8b");
    snprintf(m.cap.warm[1], WP_NAME_MAX, "whisper-small");
    uint8_t owned[WP_GOSSIP_OWNED_MAX], sig[WP_GOSSIP_SIG_BYTES];
    size_t len;
    if (wp_gossip_owned_encode(&m, owned, sizeof owned, &len, &err))
        return 1;
    const int reps = 5000;
    uint64_t t0 = wp_clock_monotonic_ns();
    for (int i = 0; i < reps; i++)
        wp_key_sign(&k, owned, len, sig);
    uint64_t t1 = wp_clock_monotonic_ns();
    int ok = 0;
    for (int i = 0; i < reps; i++)
        ok += wp_key_verify(&k, owned, len, sig);
    uint64_t t2 = wp_clock_monotonic_ns();
    if (ok != reps)
        return 1;
    line("owned_record_bytes", 1, (double)len, "bytes");
    line("sign_record", 1, (double)(t1 - t0) / reps / 1000.0, "us");
    line("verify_record", 1, (double)(t2 - t1) / reps / 1000.0, "us");
    return 0;
}

static int bench_sim(size_t n, double duration_s, bool with_keys)
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
    sim_keys keys = {.n = n};
    if (with_keys) {
        keys.keys = calloc(n, sizeof *keys.keys);
        keys.auth = calloc(n, sizeof *keys.auth);
        if (!keys.keys || !keys.auth)
            return 1;
        for (size_t i = 0; i < n; i++) {
            char id[24];
            snprintf(id, sizeof id, "n%zu", i);
            if (wp_key_generate(&keys.keys[i], id, WP_ROLE_NODE, &err))
                return 1;
        }
        the_keys = &keys;
        cfg.auth_of = sk_auth_of;
        cfg.auth_ctx = &keys;
    }
    wp_gossip_sim_result r;
    uint64_t t0 = wp_clock_monotonic_ns();
    int rv = wp_gossip_sim_run(&cfg, &r, &err);
    uint64_t t1 = wp_clock_monotonic_ns();
    free(d);
    wp_topo_free(t);
    free(keys.keys);
    free(keys.auth);
    if (rv) {
        fprintf(stderr, "bench_gossip: %s\n", wp_err_text(&err));
        return 1;
    }
    const char *p = with_keys ? "signed_" : "";
    char f[64];
#define FIG(name, val, unit) (snprintf(f, sizeof f, "%ssim_%s", p, name), line(f, n, val, unit))
    FIG("convergence_p50", r.convergence_s_p50, "s");
    FIG("convergence_max", r.convergence_s_max, "s");
    FIG("detection", r.detection_s, "s");
    FIG("false_positives", (double)r.false_positives, "count");
    FIG("simulated", r.simulated_s, "s");
    FIG("wall", (double)(t1 - t0) / 1e9, "s");
    if (with_keys)
        FIG("records_refused", (double)r.records_forged, "count");
    if (with_keys)
        FIG("signature_checks_per_member_s", (double)keys.verifies / (double)n / r.simulated_s,
            "count");
#undef FIG
    return 0;
}

int main(void)
{
    if (bench_codec())
        return 1;
    if (bench_sign())
        return 1;
    /* WP_BENCH_GOSSIP_MAX: skip simulations above this many members. */
    const char *mx = getenv("WP_BENCH_GOSSIP_MAX");
    size_t max_n = mx ? (size_t)strtoul(mx, NULL, 10) : 1000;
    if (bench_sim(100, 600, false) || bench_sim(100, 600, true))
        return 1;
    if (max_n >= 330 && (bench_sim(330, 600, false) || bench_sim(330, 600, true)))
        return 1;
    if (max_n >= 1000 && bench_sim(1000, 200, false))
        return 1;
    return 0;
}
