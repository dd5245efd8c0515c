/* sim/sim.h — the deterministic global traffic simulator. The one public
 * header of the wp_sim library.
 *
 * A discrete-event engine (event queue ordered by time, then sequence
 * number; see eventq.c) drives a workload (population-weighted users,
 * Poisson arrivals with a diurnal cycle, Zipf model popularity, or a trace
 * replay) through one of two serving worlds:
 *   edge      anycast ingress PoP → router core (router/) → a GPU node in
 *             some city, models kept warm by placement/'s optimizer;
 *   regional  the user's nearest cloud region → a container of the
 *             request's tenant function in that region (warm if one is
 *             idle, else a lognormal cold start; idle ones expire after a
 *             keep-alive) → the region's inference endpoint.
 * Every request belongs to one of `functions` tenant functions (lognormal
 * popularity fitted to the Azure Functions trace, see engine.c); the edge
 * runs it in a per-(PoP, function) V8 isolate that starts in a few ms.
 * GPUs are SIMULATED: a timing model (slots per GPU, cold load from size
 * and load bandwidth), no compute; edge nodes run the daemon's residency
 * core (gpu_worker/, pure part) on it, regional endpoints a FIFO. Each
 * edge ingress routes on load reports as stale as a live one's, and
 * outages are detected after the gossip core's measured time (engine.c).
 *
 * Pure: no clock, no sockets, no globals; the seed is the only source of
 * randomness, so one seed gives identical results. Wall time is measured
 * by the caller (wpctl), never here.
 *
 * Ownership: objects returned through **out are the caller's, freed with
 * the matching *_free; on error *out stays NULL and err says why.
 */
#ifndef WP_SIM_H
#define WP_SIM_H

#include "common/common.h"
#include "router/router.h"
#include "topology/topology.h"

/* ---------------------------------------------------------------- catalog */

/* The simulator's models are the default catalog, which lives in common/
 * (wp_catalog_*, common/catalog.c) so that wp-node need not link the
 * simulator. These names remain for callers not yet moved (tools/wpctl). */
static inline size_t wp_sim_catalog_count(void)
{
    return wp_catalog_count();
}
static inline const wp_model_profile *wp_sim_catalog_model(size_t i)
{
    return wp_catalog_model(i);
}
static inline int wp_sim_catalog_find(const char *name)
{
    return wp_catalog_find(name);
}

/* ---------------------------------------------------------------- scenario */

typedef enum wp_sim_serving {
    WP_SIM_SERVING_EDGE = 0,
    WP_SIM_SERVING_REGIONAL,
} wp_sim_serving;

#define WP_SIM_MAX_MODELS 16u
#define WP_SIM_LIST_LEN 1024u
#define WP_SIM_MAX_FAULTS 32u

/* A scheduled failure: "outage WHAT FROM-TO" takes WHAT (a region name, a
 * city code or a node id such as FRA-gpu) down from FROM to TO simulated
 * seconds. Edge serving only: the GPU nodes there stop (queued requests
 * fail; requests already running complete), every ingress keeps routing
 * to them until the gossip core's detection time has passed (requests
 * sent there meanwhile fail), and they come back at TO (learned after the
 * gossip core's convergence time), with their models warm. */
typedef struct wp_sim_fault {
    char what[WP_NAME_MAX];
    double from_s, to_s;
} wp_sim_fault;

/* Parses "outage WHAT FROM-TO" (FROM < TO, seconds >= 0). */
int wp_sim_fault_parse(const char *text, wp_sim_fault *out, wp_err *err);

/* A whole setup. Text format (one `key = value` per line, `#` comments,
 * blank lines ignored; every key optional, defaults as in the built-in
 * `edge`; a key set twice is an error):
 *
 *   name = my-setup            label in reports
 *   serving = edge|regional    the serving world (see above)
 *   preset = edge              topology preset: edge aws azure gcp tiny
 *   sites = all                regional: serving region codes, comma list
 *   gpu_cities = 190           edge: cities with GPU nodes (top by demand),
 *                              0 = every city of the preset
 *   cities = FRA,SIN,...       edge: a fixed set instead (a live cluster's
 *                              cities, for `make demo`): these are the only
 *                              PoPs (users enter at the nearest of them by
 *                              model RTT) and the only GPU sites;
 *                              gpu_cities is then ignored (default: unset)
 *   gpus_total = 400           simulated GPUs, spread over the GPU sites in
 *                              proportion to the demand each serves (>= 1)
 *   gpu_mem_gb = 80            memory per GPU
 *   prewarm = yes              edge: start with the placement's models warm
 *                              (no: start cold, models load on demand)
 *   policy = nearest-warm      edge routing: nearest-warm|latency|nearest
 *   queue_per_slot = 1         edge: a node is full at slots*(1+this)
 *                              (WP_ROUTER_QUEUE_PER_SLOT_DEFAULT, as wp-node)
 *   rate_rps = 1000            mean global arrival rate (requests/s)
 *   diurnal_amplitude = 0.5    0..1: rate x (1 + a*cos(2pi(h - peak)/24))
 *   diurnal_peak_h = 20        local hour of the peak (h from longitude)
 *   start_utc_h = 12           UTC hour at simulated time 0
 *   zipf_s = 1.0               model popularity exponent (rank = list order)
 *   models = all               catalog names, most popular first
 *   trace_model = NAME         model a trace replay requests (default: the
 *                              first model in `models`)
 *   intra_city_rtt_ms = 0.5    edge: PoP → GPU node RTT inside one city
 *   invoke_ms = 1              per-request function overhead (warm)
 *   cold_median_ms = 632       regional: container cold start, lognormal
 *   cold_sigma = 0.70          median and sigma (p5 ~200 ms, p95 ~2 s)
 *   keepalive_s = 600          regional: idle container lifetime (AWS
 *                              Lambda's fixed keep-alive, 10 min)
 *   endpoint_rtt_ms = 2        regional: function ↔ inference endpoint RTT
 *   functions = 1500           tenant functions the requests spread over
 *   function_sigma = 4.08      their popularity: lognormal, sigma of ln rate
 *                              (Azure Functions trace; 0 = all equal)
 *   isolate_start_ms = 5       edge: V8 isolate start ("under 5 ms")
 *   isolate_keepalive_s = 600  edge: idle isolate lifetime (not published;
 *                              the container's, so only the start differs)
 *   load_report_ms = 100       edge: how often a GPU node publishes its load;
 *                              each ingress sees it one-way delay later
 *   deadline_ms = 0            edge: a request's deadline for its first token
 *                              back at the user; 0 = none. With one, a request
 *                              no node can serve in time gets OVERLOADED at
 *                              the ingress, and a node drops work whose
 *                              deadline has passed before it starts
 *   fault = outage WHAT FROM-TO  (repeatable) a scheduled outage, see above
 *   rtt_params = FILE          RTT model parameters (`wpctl topo fit --out`);
 *                              default: the shipped v2 model (backbone
 *                              paths, users' access latency on their leg)
 */
typedef struct wp_sim_scenario {
    char name[WP_NAME_MAX];
    wp_sim_serving serving;
    char preset[WP_NAME_MAX];
    char sites[WP_SIM_LIST_LEN];
    char cities[WP_SIM_LIST_LEN]; /* "" = unset */
    uint32_t gpu_cities;
    uint32_t gpus_total;
    double gpu_mem_gb;
    bool prewarm;
    wp_route_policy policy;
    double queue_per_slot;
    double rate_rps;
    double diurnal_amplitude;
    double diurnal_peak_h;
    double start_utc_h;
    double zipf_s;
    char models[WP_SIM_LIST_LEN];
    char trace_model[WP_NAME_MAX];
    double intra_city_rtt_ms;
    double invoke_ms;
    double cold_median_ms;
    double cold_sigma;
    double keepalive_s;
    double endpoint_rtt_ms;
    uint32_t functions;
    double function_sigma;
    double isolate_start_ms;
    double isolate_keepalive_s;
    double load_report_ms;
    double deadline_ms;
    size_t nfaults;
    wp_sim_fault faults[WP_SIM_MAX_FAULTS];
    char rtt_params[256]; /* "" = the v2 defaults */
    wp_rtt_params rtt;    /* the model in force (loaded from rtt_params) */
} wp_sim_scenario;

/* Names of the built-in scenarios, NULL-terminated: edge, regional, central. */
const char *const *wp_sim_scenario_names(void);
/* The text of a built-in scenario (in the file format), or NULL. */
const char *wp_sim_scenario_text(const char *name);
int wp_sim_scenario_builtin(const char *name, wp_sim_scenario *out, wp_err *err);
/* Parses the text format; errors are one line "SOURCE:LINE: what". */
int wp_sim_scenario_parse(const char *text, const char *source, wp_sim_scenario *out,
                          wp_err *err);
/* Reads and parses a file (at most 64 KiB). */
int wp_sim_scenario_load(const char *path, wp_sim_scenario *out, wp_err *err);

/* Popularity of n tenant functions, most popular first: share[k] of the
 * requests goes to function k. Weights exp(sigma z_k) with z_k the normal
 * quantile at 1 - (k + 0.5)/n (a deterministic, stratified lognormal
 * sample; engine.c gives the source of sigma); sigma 0 = all equal.
 * WP_EINVAL for n == 0 or sigma outside 0..20. */
int wp_sim_function_shares(size_t n, double sigma, double *share);

/* ---------------------------------------------------------------- trace */

/* A trace to replay: arrival offsets (ns from the first row) and token
 * counts. Formats, detected by the header line:
 *   Azure LLM inference trace: TIMESTAMP,ContextTokens,GeneratedTokens
 *     (TIMESTAMP "YYYY-MM-DD HH:MM:SS[.fraction]")
 *   Mooncake: timestamp_ms,input_length,output_length[,...]
 * Rows must be in time order. At most WP_SIM_TRACE_MAX_ROWS rows. */
#define WP_SIM_TRACE_MAX_ROWS 50000000u

typedef struct wp_sim_trace_row {
    uint64_t at_ns;
    uint32_t in_tokens;
    uint32_t out_tokens;
} wp_sim_trace_row;

typedef struct wp_sim_trace {
    char format[16]; /* "azure" | "mooncake" */
    size_t nrows;
    wp_sim_trace_row *rows;
} wp_sim_trace;

int wp_sim_trace_load(const char *path, wp_sim_trace **out, wp_err *err);
void wp_sim_trace_free(wp_sim_trace *t);

/* ---------------------------------------------------------------- placement */

/* Where GPUs are and which models they keep warm (edge serving). */
typedef struct wp_sim_placement {
    size_t nsites;
    uint32_t *city;        /* nsites city indices */
    uint32_t *gpus;        /* GPUs at each site */
    uint64_t *warm;        /* nsites bitsets over models (one word each) */
} wp_sim_placement;

/* The edge's placement (see placement.c): the gpu_cities cities with the
 * most demand get a node each, GPUs in proportion to the demand they
 * serve; which models each keeps warm is decided by placement/'s
 * optimizer (wp_place_optimize_topo, the code wp-placement runs). demand[c] is
 * the population whose anycast ingress is city c; share[m] is model m's
 * share of requests. At most 64 models. */
int wp_sim_place(const wp_topology *t, const double *demand, const wp_model_profile *models,
                 const double *share, size_t nmodels, uint32_t gpu_cities, uint32_t gpus_total,
                 uint64_t mem_per_gpu_bytes, wp_sim_placement *out, wp_err *err);
void wp_sim_placement_free(wp_sim_placement *p);

/* ---------------------------------------------------------------- run */

typedef struct wp_sim_options {
    uint64_t seed;
    uint64_t max_requests;    /* 0 = no cap (then duration_s must be set) */
    double duration_s;        /* 0 = no limit: stop after max_requests */
    const wp_sim_trace *trace; /* NULL = synthetic workload */
    /* Called every few thousand requests (may be NULL). */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
    double timeline_s;        /* timeline interval, simulated s (0 = 10) */
    /* Extra faults on top of the scenario's (wpctl sim --fault). */
    const wp_sim_fault *faults;
    size_t nfaults;
    /* Also keep per user city figures in res->city (for maps; 0.6 KiB per
     * city with requests). */
    bool by_city;
} wp_sim_options;

typedef struct wp_sim_stats {
    uint64_t requests;    /* requests sent by users in this region */
    uint64_t errors;      /* ended in an explicit error: the sum of */
    uint64_t no_route;    /*   no node can serve the model at all */
    uint64_t overloaded;  /*   OVERLOADED at the ingress (full, or no node in time) */
    uint64_t expired;     /*   dropped at the node: could not start in time */
    uint64_t failed;      /*   sent to (or queued at) a node that was down */
    /* Requests that met a slow cold start: model_loads + container_starts
     * (isolate starts, a few ms, are counted apart). */
    uint64_t cold_starts;
    uint64_t model_loads;      /* started a model load on a GPU (edge) */
    uint64_t container_starts; /* cold-started a function container (regional) */
    uint64_t isolate_starts;   /* started a V8 isolate at the PoP (edge) */
    wp_hist ttft_ns;      /* user send → first token back at the user */
    wp_hist total_ns;     /* user send → last token back at the user */
    wp_hist error_ns;     /* user send → an explicit error back at the user */
} wp_sim_stats;

/* One timeline cell: requests sent by users of a region in one interval
 * (by send time), errors among them, and their TTFT in log buckets
 * (bucket i holds [0.5 * 1.1^i, 0.5 * 1.1^(i+1)) ms; p95 is reported as
 * the bucket's geometric middle: +-5%). */
#define WP_SIM_TL_BUCKETS 160u
typedef struct wp_sim_tl_cell {
    uint32_t requests, errors;
    uint32_t ttft[WP_SIM_TL_BUCKETS];
} wp_sim_tl_cell;
/* p95 (or any q) of a cell, ms; 0 when it has no latencies. */
double wp_sim_tl_quantile_ms(const wp_sim_tl_cell *c, double q);
/* Adds one TTFT (ns) to a cell's buckets. */
void wp_sim_tl_record(wp_sim_tl_cell *c, uint64_t ttft_ns);

/* One user city (population point) of a run with by_city: where it is, and
 * the requests its users sent, the errors among them and their TTFT, as a
 * timeline cell over the whole run (so its p95 is +-5%: enough to colour a
 * map, not for the tables). */
typedef struct wp_sim_city {
    char name[48];
    double lat, lon;
    wp_region region;
    wp_sim_tl_cell fig;
} wp_sim_city;

/* A serving site of a run with by_city (edge GPU node / regional endpoint). */
typedef struct wp_sim_site {
    char name[WP_NAME_MAX];
    double lat, lon;
    uint32_t gpus;
} wp_sim_site;

typedef struct wp_sim_result {
    char scenario[WP_NAME_MAX];
    uint64_t seed;
    uint64_t requests;
    wp_sim_stats region[WP_REGION_COUNT];
    wp_sim_stats all;
    /* Context for the human report (not in the JSON). */
    size_t sites;          /* GPU sites (edge nodes / regional endpoints) */
    uint64_t gpus;         /* simulated GPUs */
    uint64_t containers;   /* regional: containers ever started */
    uint64_t isolates;     /* edge: isolates ever started */
    size_t env_pools;      /* (site, function) pools in the map at the end
                            * (dead ones not yet swept included) */
    double sim_end_s;      /* simulated time of the last event */
    double gpu_busy_frac;  /* slot-time used / slot-time available */
    /* Timeline: tl_n intervals of tl_interval_s, WP_REGION_COUNT cells each
     * (interval i, region r at tl[i * WP_REGION_COUNT + r]); owned by the
     * result (freed by wp_sim_result_free). */
    double tl_interval_s;
    size_t tl_n;
    wp_sim_tl_cell *tl;
    /* Faults run (the scenario's and the options'), and the delays the
     * gossip core measured for this cluster: kill -> every member has it
     * dead, and a change -> seen by all (used for a node's return). */
    size_t nfaults;
    wp_sim_fault faults[2 * WP_SIM_MAX_FAULTS];
    double detect_s, rejoin_s;
    uint64_t load_reports;  /* load snapshots published (per node: x sites) */
    /* How stale the load each route used was, beyond the one-way delay
     * from the node to the ingress (age - oneway): the stated bound is
     * 0 <= lag < load_report_ms. Over routes that used a report. */
    uint64_t routes_on_reports;
    double load_lag_min_ms, load_lag_max_ms;
    /* Per model (the scenario's, in order): requests and explicit errors,
     * to see that one model's overload does not starve another. */
    size_t nmodels;
    char model_name[WP_SIM_MAX_MODELS][WP_NAME_MAX];
    uint64_t model_requests[WP_SIM_MAX_MODELS];
    uint64_t model_errors[WP_SIM_MAX_MODELS];
    char rtt_model[256];   /* the RTT model in force (wp_rtt_params_describe) */
    /* With opt->by_city only (else NULL/0); owned by the result: the user
     * cities that sent requests, in the users' order, and the sites. */
    size_t ncities;
    wp_sim_city *city;
    size_t nsite_marks;
    wp_sim_site *site;
} wp_sim_result;

/* Runs a scenario. The result is large (~1 MiB: histograms); allocate it
 * with wp_sim_result_new. */
int wp_sim_run(const wp_sim_scenario *sc, const wp_sim_options *opt, wp_sim_result *res,
               wp_err *err);
wp_sim_result *wp_sim_result_new(void);
void wp_sim_result_free(wp_sim_result *r);

/* Reports. JSON: {"scenario","seed","requests","errors","wall_s","requests_per_s",
 * "regions":{REGION:{"requests","p50_ms","p95_ms","p99_ms","total_p95_ms",
 * "cold_starts","model_loads","container_starts","isolate_starts"}},
 * "all":{...}}; wall_s is the caller's measurement. */
void wp_sim_report_json(const wp_sim_result *r, double wall_s, FILE *fp);
void wp_sim_report_table(const wp_sim_result *r, double wall_s, FILE *fp);
void wp_sim_report_csv(const wp_sim_result *r, FILE *fp);
/* The shared pieces, for reports of live traffic (`wpctl report`) in the
 * same format: the keys of one stats object (no braces, so a caller can
 * add its own keys), and the table's legend line, column header and one
 * row per region plus "all". */
void wp_sim_report_json_fields(wp_json *j, const wp_sim_stats *s);
void wp_sim_report_table_rows(const wp_sim_result *r, FILE *fp);
/* Two results side by side (make demo). */
void wp_sim_report_compare(const wp_sim_result *a, const wp_sim_result *b, FILE *fp);

#endif /* WP_SIM_H */
