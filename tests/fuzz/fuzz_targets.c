/* fuzz_targets.c — libFuzzer harnesses for every decoder and loader that
 * takes outside input. One target per build, chosen by -DWP_FUZZ_<NAME>
 * (see run.sh). Not part of the normal build or of ctest: crashing inputs
 * found here become unit tests (tests/unit/test_hostile.c).
 *
 * Targets: PLACE_CMD (wp_place_cmd_decode + state apply), PLACE_SNAP
 * (wp_place_state_restore), PL_FRAME (wp_pl_unframe_request/response),
 * LLAMA_HDR (wp_llama_parse_header), TOPO_CSV (wp_topo_load_file),
 * SIM_SCENARIO (wp_sim_scenario_parse), SIM_TRACE (wp_sim_trace_load),
 * MSGPACK_CHECK (wp_msgpack_check against msgpack-c's own unpack).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
#else
#error "define one WP_FUZZ_<TARGET>"
#endif
