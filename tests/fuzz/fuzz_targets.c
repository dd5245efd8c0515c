/* fuzz_targets.c — libFuzzer harnesses for every decoder and loader that
 * takes outside input. One target per build, chosen by -DWP_FUZZ_<NAME>
 * (see run.sh). Not part of the normal build or of ctest: crashing inputs
 * found here become unit tests (tests/unit/test_hostile.c).
 *
 * Targets: PLACE_CMD (wp_place_cmd_decode + state apply), PLACE_SNAP
 * (wp_place_state_restore), PL_FRAME (wp_pl_unframe_request/response),
 * LLAMA_HDR (wp_llama_parse_header), TOPO_CSV (wp_topo_load_file),
 * SIM_SCENARIO (wp_sim_scenario_parse), SIM_TRACE (wp_sim_trace_load),
 * MSGPACK_CHECK (wp_msgpack_check against msgpack-c's own unpack),
 * and the node's network decoders: GOSSIP_RECV (wp_gossip_msg_decode and
 * wp_gossip_receive into a live core), INFER_FRAME (wp_infer_frame_check
 * and the decoder of the kind it names), ADMIN_FRAME (wp_admin_frame_check
 * and the admin request unpack, as node/admin.c does).
 *
 * In ctest (tests/fuzz.cmake) each target also runs without libFuzzer:
 * replay.c feeds it its seeds and seeded random mutations for a few
 * seconds (gcc has no libFuzzer).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#if defined(WP_FUZZ_TOPO_CSV) || defined(WP_FUZZ_SIM_TRACE) || \
    defined(WP_FUZZ_LLAMA_HDR)
/* Writes data to a per-process temporary file and returns its path. */
static const char *to_file(const uint8_t *data, size_t size, const char *suffix)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/wp_fuzz_%d%s", (int)getpid(), suffix);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        abort();
    if (size > 0 && fwrite(data, 1, size, fp) != size)
        abort();
    fclose(fp);
    return path;
}
#endif

#if defined(WP_FUZZ_PLACE_CMD) || defined(WP_FUZZ_PLACE_SNAP)
#include "placement/placement.h"
#include "topology/topology.h"
static wp_place_state *fresh_state(void)
{
    static wp_topology *t;
    static wp_place_geo geo;
    wp_err err;
    if (t == NULL) {
        if (wp_topo_load_preset("tiny", NULL, &t, &err) != WP_OK ||
            wp_place_geo_from_topology(&geo, t, &err) != WP_OK)
            abort();
    }
    wp_place_state *s = NULL;
    if (wp_place_state_new(&geo, &s, &err) != WP_OK)
        abort();
    return s;
}

static void write_seed(const char *name, const void *buf, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "corpus/%s", name);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        return;
    fwrite(buf, 1, len, fp);
    fclose(fp);
}

/* Seeds: one encoded command of each type, applied in order to one state,
 * and that state's snapshot, so the fuzzer starts from valid frames. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    wp_err err;
    wp_place_state *s = fresh_state();
    wp_place_cmd c[8];
    memset(c, 0, sizeof c);
    c[0].type = WP_PLACE_CMD_REGISTER_NODE;
    snprintf(c[0].node, sizeof c[0].node, "n1");
    snprintf(c[0].city, sizeof c[0].city, "FRA");
    c[0].gpus = 2;
    c[0].gpu_mem_bytes = 80ull << 30;
    c[1].type = WP_PLACE_CMD_CATALOG_ADD;
    c[1].profile = (wp_model_profile){.name = "m1", .size_bytes = 1u << 30, .prefill_base_ms = 5,
                                      .decode_ms_per_token = 20, .slots_per_gpu = 4,
                                      .load_bytes_per_s = 2e9, .load_fixed_ms = 100,
                                      .typical_in_tokens = 100, .typical_out_tokens = 100};
    c[2].type = WP_PLACE_CMD_PIN;
    snprintf(c[2].model, sizeof c[2].model, "m1");
    c[2].n_cities = 1;
    snprintf(c[2].cities[0], sizeof c[2].cities[0], "FRA");
    c[2].replicas = 1;
    wp_place_demand_in dem = {.city = "FRA", .model = "m1", .rate_per_s = 3};
    c[3].type = WP_PLACE_CMD_SET_DEMAND;
    c[3].n_demand = 1;
    c[3].demand = &dem;
    c[4].type = WP_PLACE_CMD_NODE_UP;
    snprintf(c[4].node, sizeof c[4].node, "n1");
    c[5].type = WP_PLACE_CMD_UNPIN;
    snprintf(c[5].model, sizeof c[5].model, "m1");
    c[6].type = WP_PLACE_CMD_CATALOG_REMOVE;
    snprintf(c[6].model, sizeof c[6].model, "m1");
    c[7].type = WP_PLACE_CMD_REMOVE_NODE;
    snprintf(c[7].node, sizeof c[7].node, "n1");
    for (int i = 0; i < 8; i++) {
        void *buf;
        size_t len;
        if (wp_place_cmd_encode(&c[i], &buf, &len, &err) != WP_OK)
            abort();
        char name[32];
        snprintf(name, sizeof name, "seed_cmd%d", i);
        write_seed(name, buf, len);
        wp_place_result res;
        if (i < 4)
            (void)wp_place_state_apply(s, buf, len, &res);
        free(buf);
        if (i == 3) {
            if (wp_place_state_snapshot(s, &buf, &len, &err) != WP_OK)
                abort();
            write_seed("seed_snap", buf, len);
            free(buf);
        }
    }
    wp_place_state_free(s);
    return 0;
}
#endif

#if defined(WP_FUZZ_GOSSIP_RECV) || defined(WP_FUZZ_INFER_FRAME) || defined(WP_FUZZ_ADMIN_FRAME)
static void write_net_seed(const char *name, const void *buf, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "corpus/%s", name);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        return;
    fwrite(buf, 1, len, fp);
    fclose(fp);
}
#endif

#if defined(WP_FUZZ_PLACE_CMD)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wp_err err;
    wp_place_cmd c;
    if (wp_place_cmd_decode(data, size, &c, &err) == WP_OK) {
        void *buf = NULL;
        size_t len = 0;
        if (wp_place_cmd_encode(&c, &buf, &len, &err) == WP_OK)
            free(buf);
        wp_place_cmd_close(&c);
    }
    wp_place_state *s = fresh_state();
    wp_place_result res;
    (void)wp_place_state_apply(s, data, size, &res);
    wp_place_state_free(s);
    return 0;
}
#elif defined(WP_FUZZ_PLACE_SNAP)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wp_err err;
    wp_place_state *s = fresh_state();
    if (wp_place_state_restore(s, data, size, &err) == WP_OK) {
        void *buf = NULL;
        size_t len = 0;
        if (wp_place_state_snapshot(s, &buf, &len, &err) == WP_OK)
            free(buf);
    }
    wp_place_state_free(s);
    return 0;
}
#elif defined(WP_FUZZ_PL_FRAME)
#include "placement/client.h"
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    wp_err err;
    char *cities[2] = {"FRA", "SIN"};
    Warmpath__Placement__Pin pin = WARMPATH__PLACEMENT__PIN__INIT;
    pin.model = "m1";
    pin.n_cities = 2;
    pin.cities = cities;
    pin.replicas = 2;
    Warmpath__Placement__Request req = WARMPATH__PLACEMENT__REQUEST__INIT;
    req.request_id = 7;
    req.op_case = WARMPATH__PLACEMENT__REQUEST__OP_PIN;
    req.pin = &pin;
    void *buf;
    size_t len;
    if (wp_pl_frame_request(&req, &buf, &len, &err) == WP_OK) {
        FILE *fp = fopen("corpus/seed_pin", "wb");
        if (fp) {
            fwrite(buf, 1, len, fp);
            fclose(fp);
        }
        free(buf);
    }
    Warmpath__Placement__Response resp = WARMPATH__PLACEMENT__RESPONSE__INIT;
    resp.request_id = 7;
    resp.error = "not the leader";
    resp.leader_address = "tcp://127.0.0.1:7101";
    if (wp_pl_frame_response(&resp, &buf, &len, &err) == WP_OK) {
        FILE *fp = fopen("corpus/seed_resp", "wb");
        if (fp) {
            fwrite(buf, 1, len, fp);
            fclose(fp);
        }
        free(buf);
    }
    return 0;
}
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wp_err err;
    Warmpath__Placement__Request *rq = NULL;
    if (wp_pl_unframe_request(data, size, &rq, &err) == WP_OK)
        warmpath__placement__request__free_unpacked(rq, NULL);
    Warmpath__Placement__Response *rs = NULL;
    if (wp_pl_unframe_response(data, size, &rs, &err) == WP_OK)
        warmpath__placement__response__free_unpacked(rs, NULL);
    return 0;
}
#elif defined(WP_FUZZ_LLAMA_HDR)
#include "gpu_worker/gpu_worker.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wp_err err;
    wp_llama_config c;
    if (size < 8)
        return 0;
    uint64_t file_bytes;
    memcpy(&file_bytes, data, 8);
    (void)wp_llama_parse_header(data + 8, size - 8, file_bytes, &c, &err);
    /* Small files through the real loader too. */
    if (size - 8 <= 4096) {
        wp_llama_weights w;
        const char *p = to_file(data + 8, size - 8, ".bin");
        if (wp_llama_load(p, &w, &err) == WP_OK)
            wp_llama_free(&w);
        unlink(p);
    }
    return 0;
}
#elif defined(WP_FUZZ_TOPO_CSV)
#include "topology/topology.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wp_err err;
    wp_topology *t = NULL;
    const char *p = to_file(data, size, ".csv");
    if (wp_topo_load_file(p, NULL, &t, &err) == WP_OK) {
        for (size_t i = 0; i < wp_topo_count(t); i++)
            (void)wp_topo_rtt_ms(t, i, 0);
        wp_topo_free(t);
    }
    unlink(p);
    return 0;
}
#elif defined(WP_FUZZ_SIM_SCENARIO)
#include "sim/sim.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wp_err err;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    wp_sim_scenario sc;
    (void)wp_sim_scenario_parse(text, "fuzz.conf", &sc, &err);
    free(text);
    return 0;
}
#elif defined(WP_FUZZ_SIM_TRACE)
#include "sim/sim.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wp_err err;
    wp_sim_trace *t = NULL;
    const char *p = to_file(data, size, ".csv");
    if (wp_sim_trace_load(p, &t, &err) == WP_OK)
        wp_sim_trace_free(t);
    unlink(p);
    return 0;
}
#elif defined(WP_FUZZ_MSGPACK_CHECK)
#include <msgpack.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wp_err err;
    if (wp_msgpack_check(data, size, 1024, 4096, 8, &err) != WP_OK)
        return 0;
    /* Anything the check passes must unpack, completely, with no trailing
     * bytes. */
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&u, (const char *)data, size, &off);
    if (r != MSGPACK_UNPACK_SUCCESS || off != size)
        abort();
    msgpack_unpacked_destroy(&u);
    return 0;
}
#elif defined(WP_FUZZ_GOSSIP_RECV)
#include "node/node.h"
/* One core that receives everything: members it learns are kept between
 * inputs, as in a running node. */
static wp_gossip *fuzz_gossip(void)
{
    static wp_gossip *g;
    static wp_rng rng;
    if (g == NULL) {
        wp_gossip_config cfg;
        wp_gossip_config_default(&cfg);
        wp_gossip_capacity cap;
        memset(&cap, 0, sizeof cap);
        cap.version = 1;
        cap.gpus = 1;
        wp_gossip_self self = {.id = "fz", .city = "FRA", .addr = "sim:fz", .incarnation = 1,
                               .cap = &cap};
        wp_rng_seed(&rng, 1);
        if (wp_gossip_new(&cfg, &self, 0, &rng, NULL, NULL, &g, NULL) != WP_OK)
            abort();
    }
    return g;
}
/* Seeds: what a second core sends while it joins and probes ours. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    wp_gossip_config cfg;
    wp_gossip_config_default(&cfg);
    wp_gossip_capacity cap;
    memset(&cap, 0, sizeof cap);
    cap.version = 1;
    cap.gpus = 2;
    wp_gossip_self self = {.id = "peer", .city = "JFK", .addr = "sim:peer", .incarnation = 1,
                           .cap = &cap};
    wp_rng rng;
    wp_rng_seed(&rng, 2);
    wp_gossip *g = NULL;
    if (wp_gossip_new(&cfg, &self, 0, &rng, NULL, NULL, &g, NULL) != WP_OK)
        abort();
    const char *seed_addr[] = {"sim:fz"};
    wp_gossip_join(g, 0, seed_addr, 1);
    int k = 0;
    for (uint64_t t = 0; t < 5000000000ull && k < 16; t += 500000000ull) {
        wp_gossip_tick(g, t);
        const wp_gossip_out *out;
        size_t n = wp_gossip_outbox(g, &out);
        for (size_t i = 0; i < n && k < 16; i++) {
            char name[32];
            snprintf(name, sizeof name, "seed_gossip%d", k++);
            write_net_seed(name, out[i].data, out[i].len);
        }
        wp_gossip_outbox_clear(g);
    }
    wp_gossip_free(g);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint64_t now_ns = 1;
    wp_gossip_msg m;
    memset(&m, 0, sizeof m);
    if (wp_gossip_msg_decode(data, size, &m, NULL) == WP_OK)
        wp_gossip_msg_clear(&m);
    wp_gossip *g = fuzz_gossip();
    now_ns += 1000000;
    (void)wp_gossip_receive(g, now_ns, data, size);
    wp_gossip_tick(g, now_ns);
    wp_gossip_outbox_clear(g);
    return 0;
}
#elif defined(WP_FUZZ_INFER_FRAME)
#include "node/infer.h"
#include "proto/inference.pb-c.h"
/* Seeds: a valid request and response frame. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    uint32_t toks[4] = {1, 2, 3, 4};
    Warmpath__Infer__InferRequest q = WARMPATH__INFER__INFER_REQUEST__INIT;
    q.request_id = 7;
    q.model = "llm-7b";
    q.n_input_tokens = 4;
    q.input_tokens = toks;
    q.max_output_tokens = 16;
    q.client_city = "FRA";
    uint8_t *buf;
    size_t len;
    if (wp_infer_encode(WP_INFER_KIND_INFER_REQUEST, &q.base, &buf, &len, NULL) == WP_OK) {
        write_net_seed("seed_request", buf, len);
        free(buf);
    }
    Warmpath__Infer__InferResponse r = WARMPATH__INFER__INFER_RESPONSE__INIT;
    r.request_id = 7;
    if (wp_infer_encode(WP_INFER_KIND_INFER_RESPONSE, &r.base, &buf, &len, NULL) == WP_OK) {
        write_net_seed("seed_response", buf, len);
        free(buf);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wp_infer_kind kind;
    size_t plen;
    if (wp_infer_frame_check(data, size, &kind, &plen, NULL) != WP_OK)
        return 0;
    const uint8_t *p = data + WP_INFER_HDR_BYTES;
    switch (kind) {
    case WP_INFER_KIND_INFER_REQUEST: {
        Warmpath__Infer__InferRequest *m = NULL;
        if (wp_infer_decode_request(p, plen, &m, NULL) == WP_OK)
            warmpath__infer__infer_request__free_unpacked(m, NULL);
        break;
    }
    case WP_INFER_KIND_INFER_RESPONSE: {
        Warmpath__Infer__InferResponse *m = NULL;
        if (wp_infer_decode_response(p, plen, &m, NULL) == WP_OK)
            warmpath__infer__infer_response__free_unpacked(m, NULL);
        break;
    }
    case WP_INFER_KIND_ROUTE_REQUEST: {
        Warmpath__Infer__RouteRequest *m = NULL;
        if (wp_infer_decode_route_request(p, plen, &m, NULL) == WP_OK)
            warmpath__infer__route_request__free_unpacked(m, NULL);
        break;
    }
    case WP_INFER_KIND_ROUTE_RESPONSE: {
        Warmpath__Infer__RouteResponse *m = NULL;
        if (wp_infer_decode_route_response(p, plen, &m, NULL) == WP_OK)
            warmpath__infer__route_response__free_unpacked(m, NULL);
        break;
    }
    case WP_INFER_KIND_FORWARD_REQUEST: {
        Warmpath__Infer__ForwardRequest *m = NULL;
        if (wp_infer_decode_forward_request(p, plen, &m, NULL) == WP_OK)
            warmpath__infer__forward_request__free_unpacked(m, NULL);
        break;
    }
    case WP_INFER_KIND_FORWARD_RESPONSE: {
        Warmpath__Infer__ForwardResponse *m = NULL;
        if (wp_infer_decode_forward_response(p, plen, &m, NULL) == WP_OK)
            warmpath__infer__forward_response__free_unpacked(m, NULL);
        break;
    }
    default: break;
    }
    return 0;
}
#elif defined(WP_FUZZ_ADMIN_FRAME)
#include "node/infer.h"
#include "proto/admin.pb-c.h"
/* Seeds: a status and a members request. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    Warmpath__Admin__StatusRequest st = WARMPATH__ADMIN__STATUS_REQUEST__INIT;
    Warmpath__Admin__MembersRequest mb = WARMPATH__ADMIN__MEMBERS_REQUEST__INIT;
    Warmpath__Admin__AdminRequest q = WARMPATH__ADMIN__ADMIN_REQUEST__INIT;
    for (int i = 0; i < 2; i++) {
        q.req_case = i == 0 ? WARMPATH__ADMIN__ADMIN_REQUEST__REQ_STATUS
                            : WARMPATH__ADMIN__ADMIN_REQUEST__REQ_MEMBERS;
        if (i == 0)
            q.status = &st;
        else
            q.members = &mb;
        uint8_t buf[256];
        size_t len = warmpath__admin__admin_request__get_packed_size(&q);
        wp_admin_frame_header(buf, len);
        warmpath__admin__admin_request__pack(&q, buf + WP_ADMIN_HDR_BYTES);
        write_net_seed(i == 0 ? "seed_status" : "seed_members", buf, WP_ADMIN_HDR_BYTES + len);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t plen;
    if (wp_admin_frame_check(data, size, &plen, NULL) != WP_OK)
        return 0;
    Warmpath__Admin__AdminRequest *req =
        warmpath__admin__admin_request__unpack(NULL, plen, data + WP_ADMIN_HDR_BYTES);
    if (req != NULL)
        warmpath__admin__admin_request__free_unpacked(req, NULL);
    return 0;
}
#elif defined(WP_FUZZ_TOPOJSON)
/* The --html map's JSON reader and TopoJSON drawing (tools/wpctl/html_map.c). */
#include "tools/wpctl/html_report.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wp_err err;
    FILE *fp = fopen("/dev/null", "w");
    if (fp == NULL)
        abort();
    (void)wpctl_map_svg_from((const char *)data, size, fp, &err);
    fclose(fp);
    return 0;
}
#else
#error "define one WP_FUZZ_<TARGET>"
#endif
