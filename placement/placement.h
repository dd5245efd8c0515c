/* placement/placement.h — warmpath's placement core (pure, deterministic).
 *
 * Three layers, none of which reads a clock, a socket or a global:
 *
 *  1. The optimizer, wp_place_optimize(): a pure function from (cities and
 *     their RTT matrix, nodes with GPU memory, models with sizes, demand
 *     per city and model, operator pins) to the replicas each node keeps
 *     warm; wp_place_optimize_topo() is the same on a topology/ topology
 *     (what the simulator's `edge` scenario calls). The state machine runs
 *     it after every accepted command. Method and bounds: optimizer.c.
 *  2. The command codec: commands and snapshots are msgpack, decoded with
 *     limits (frame size, declared counts, string lengths, nesting) checked
 *     before anything is allocated.
 *  3. The replicated state machine, wp_place_state: node registry, model
 *     catalog, pins, measured demand and the resulting assignment. Applying
 *     the same commands in the same order gives byte-identical state and
 *     assignment on every replica. A bad command is refused with a reason
 *     and changes nothing.
 *
 * The client of the wp-placement daemon is a separate header,
 * placement/client.h (it needs ZeroMQ; this one does not).
 *
 * Ownership: objects from *_new are freed with the matching *_free; buffers
 * returned through `void **buf` are malloc'd and the caller frees them.
 */
#ifndef WP_PLACEMENT_H
#define WP_PLACEMENT_H

#include "common/common.h"
#include "topology/topology.h"

/* ---------------------------------------------------------------- optimizer */

typedef struct wp_place_node_in {
    uint32_t city;          /* index into the problem's cities */
    uint64_t gpu_mem_bytes; /* memory available for warm models */
    bool up;                /* down nodes get nothing */
} wp_place_node_in;

typedef struct wp_place_pin_in {
    uint32_t model;    /* index into the problem's models */
    uint32_t city;
    uint32_t replicas; /* nodes in `city` that must keep `model` warm */
} wp_place_pin_in;

typedef struct wp_place_problem {
    size_t n_cities;
    const float *const *rtt_rows;      /* rtt_rows[a][b]: model RTT a→b, ms */
    size_t n_nodes;
    const wp_place_node_in *nodes;
    size_t n_models;
    const uint64_t *model_size_bytes;  /* > 0 each */
    /* Per model: the latency charged to demand that has no replica at all
     * (e.g. farthest RTT + cold load). NULL: 2 × the largest RTT + 1000 ms. */
    const double *miss_ms;
    /* n_cities × n_models, row-major (demand[c * n_models + m]), >= 0:
     * requests (or people) at ingress city c wanting model m. */
    const double *demand;
    size_t n_pins;
    const wp_place_pin_in *pins;
    /* Cap on replicas the optimizer adds per model (pins not counted);
     * 0 = no cap (fill memory while it still lowers latency). */
    uint32_t max_placed_per_model;
} wp_place_problem;

typedef struct wp_place_replica {
    uint32_t node;
    uint32_t model;
    bool pinned; /* true: demanded by a pin; false: placed by the optimizer */
} wp_place_replica;

typedef struct wp_place_solution {
    size_t n;                    /* replicas, sorted by (node, model) */
    wp_place_replica *replicas;
    size_t n_pins;
    uint32_t *pin_placed;        /* per input pin: replicas actually placed */
    uint32_t pin_shortfall;      /* Σ (replicas - placed) over pins */
    double cost_ms;              /* demand-weighted mean latency, ms */
    double total_demand;
} wp_place_solution;

/* Solves p into out (caller-allocated, zeroed or closed before). Same
 * input, same output, bit for bit: no hashing, no pointer order, ties
 * broken by index. Errors: WP_EINVAL for an index out of range or a model
 * of size 0, WP_ENOMEM. Runs in about O(M·K·C + R·C·log(M·K)) for M models,
 * K cities with nodes, C cities and R replicas placed. */
int wp_place_optimize(const wp_place_problem *p, wp_place_solution *out, wp_err *err);
void wp_place_solution_close(wp_place_solution *s);

/* The optimizer on a topology (what the simulator's edge scenario calls):
 * RTT rows from wp_topo_rtt_row, the miss cost of model m = the largest
 * RTT of the topology + wp_model_load_ms(&models[m]). demand is
 * wp_topo_count(t) × n_models row-major, or NULL for population demand
 * (pop_weight share, every model equally popular). Nodes' cities are
 * topology indices. Same guarantees as wp_place_optimize. */
int wp_place_optimize_topo(const wp_topology *t, const wp_place_node_in *nodes, size_t n_nodes,
                           const wp_model_profile *models, size_t n_models, const double *demand,
                           const wp_place_pin_in *pins, size_t n_pins,
                           uint32_t max_placed_per_model, wp_place_solution *out, wp_err *err);

/* ---------------------------------------------------------------- geography */

/* The cities a state machine knows (not replicated: every server of a
 * cluster must be started with the same topology). The daemon fills one
 * from topology/ (wp_topo_*); tests fill synthetic ones. */
#define WP_PLACE_CODE_MAX 32
typedef struct wp_place_city {
    char code[WP_PLACE_CODE_MAX];
    double pop_weight;
} wp_place_city;

typedef struct wp_place_geo {
    size_t n_cities;
    wp_place_city *cities; /* n_cities */
    float *rtt_ms;         /* n_cities × n_cities, row-major */
    const float **rows;    /* n_cities pointers into rtt_ms */
} wp_place_geo;

/* Allocates n cities (codes empty, weights 0, RTT 0); fill them in. */
int wp_place_geo_init(wp_place_geo *g, size_t n, wp_err *err);
void wp_place_geo_close(wp_place_geo *g);
/* City index by code (case-insensitive), or -1. */
int wp_place_geo_find(const wp_place_geo *g, const char *code);
/* Copies codes, population weights and the RTT matrix of a topology. */
int wp_place_geo_from_topology(wp_place_geo *g, const wp_topology *t, wp_err *err);

/* ---------------------------------------------------------------- commands */

enum wp_place_cmd_type {
    WP_PLACE_CMD_REGISTER_NODE = 1, /* node, city, gpus, gpu_mem_bytes (re-register updates) */
    WP_PLACE_CMD_REMOVE_NODE = 2,   /* node */
    WP_PLACE_CMD_NODE_UP = 3,       /* node, up (liveness, decided by the leader) */
    WP_PLACE_CMD_CATALOG_ADD = 4,   /* profile (an existing name is updated) */
    WP_PLACE_CMD_CATALOG_REMOVE = 5,/* model (refused while pinned) */
    WP_PLACE_CMD_PIN = 6,           /* model, cities[], replicas (per city) */
    WP_PLACE_CMD_UNPIN = 7,         /* model, optional city */
    WP_PLACE_CMD_SET_DEMAND = 8     /* measured demand, replaces the previous table */
};
const char *wp_place_cmd_name(int type);

#define WP_PLACE_MAX_PIN_CITIES 64
#define WP_PLACE_MAX_REPLICAS 64
#define WP_PLACE_MAX_GPUS 1024
/* Caps on what a snapshot may declare (the state's own size limits). */
#define WP_PLACE_MAX_NODES 4096
#define WP_PLACE_MAX_MODELS 1024
#define WP_PLACE_MAX_PINS 4096
#define WP_PLACE_MAX_DEMAND 65536
#define WP_PLACE_SNAPSHOT_MAX_BYTES (64u << 20)

typedef struct wp_place_demand_in {
    char city[WP_PLACE_CODE_MAX];
    char model[WP_NAME_MAX];
    double rate_per_s; /* requests per second measured at that ingress city, >= 0 */
} wp_place_demand_in;

/* A decoded command. Strings are NUL-terminated copies; `demand` is
 * malloc'd by the decoder (free with wp_place_cmd_close). */
typedef struct wp_place_cmd {
    int type;
    char node[WP_NAME_MAX];
    char city[WP_PLACE_CODE_MAX];
    uint32_t gpus;
    uint64_t gpu_mem_bytes;
    bool up;
    wp_model_profile profile;     /* CATALOG_ADD */
    char model[WP_NAME_MAX];      /* REMOVE, PIN, UNPIN */
    size_t n_cities;              /* PIN: cities; UNPIN: 0 (all) or 1 */
    char cities[WP_PLACE_MAX_PIN_CITIES][WP_PLACE_CODE_MAX];
    uint32_t replicas;
    size_t n_demand;
    wp_place_demand_in *demand;
} wp_place_cmd;

/* Encodes a command (fields per type as above) as one msgpack frame. */
int wp_place_cmd_encode(const wp_place_cmd *cmd, void **buf, size_t *len, wp_err *err);
/* Decodes one frame. Refuses frames over WP_FRAME_MAX_BYTES, malformed or
 * truncated msgpack, trailing bytes, declared counts over the limits, wrong
 * types, over-long strings and unknown command types, with a reason. */
int wp_place_cmd_decode(const void *buf, size_t len, wp_place_cmd *out, wp_err *err);
void wp_place_cmd_close(wp_place_cmd *cmd);


/* ---------------------------------------------------------------- state */

typedef struct wp_place_node {
    char id[WP_NAME_MAX];
    uint32_t city;
    uint32_t gpus;
    uint64_t gpu_mem_bytes;
    bool up;
} wp_place_node;

typedef struct wp_place_pin {
    char model[WP_NAME_MAX];
    uint32_t city;
    uint32_t replicas;
} wp_place_pin;

/* What applying one command gave: code WP_OK (accepted; version is the
 * new state version) or an error code with a one-line reason (refused;
 * nothing changed). */
typedef struct wp_place_result {
    int code;
    uint64_t version;
    char msg[256];
} wp_place_result;

typedef struct wp_place_state wp_place_state;

/* geo must outlive the state. */
int wp_place_state_new(const wp_place_geo *geo, wp_place_state **out, wp_err *err);
void wp_place_state_free(wp_place_state *s);

/* Applies one encoded command. Never fails on bad input (that is a refusal
 * in res). Returns non-zero only on out-of-memory, with the state as it
 * was. */
int wp_place_state_apply(wp_place_state *s, const void *cmd, size_t len, wp_place_result *res);
/* Same, for an already decoded command. */
int wp_place_state_apply_cmd(wp_place_state *s, const wp_place_cmd *cmd, wp_place_result *res);

/* The whole state as one msgpack buffer (the assignment is not stored: it
 * is recomputed on restore, deterministically). */
int wp_place_state_snapshot(const wp_place_state *s, void **buf, size_t *len, wp_err *err);
/* Replaces the state by a snapshot; on error the state is unchanged. */
int wp_place_state_restore(wp_place_state *s, const void *buf, size_t len, wp_err *err);

/* Increases with every accepted command (0 for a new state). */
uint64_t wp_place_state_version(const wp_place_state *s);
const wp_place_geo *wp_place_state_geo(const wp_place_state *s);

/* Read access. Nodes, models and pins are kept sorted by name (pins by
 * model, then city), so indices are stable between two commands only. */
size_t wp_place_state_node_count(const wp_place_state *s);
const wp_place_node *wp_place_state_node(const wp_place_state *s, size_t i);
int wp_place_state_find_node(const wp_place_state *s, const char *id);
size_t wp_place_state_model_count(const wp_place_state *s);
const wp_model_profile *wp_place_state_model(const wp_place_state *s, size_t i);
int wp_place_state_find_model(const wp_place_state *s, const char *name);
size_t wp_place_state_pin_count(const wp_place_state *s);
const wp_place_pin *wp_place_state_pin(const wp_place_state *s, size_t i);
/* Entries of measured demand (SET_DEMAND) in the state. */
size_t wp_place_state_demand_count(const wp_place_state *s);
/* The current assignment: replicas refer to node and model indices above;
 * pin_placed is per pin index above. */
const wp_place_solution *wp_place_state_assignment(const wp_place_state *s);

#endif /* WP_PLACEMENT_H */
