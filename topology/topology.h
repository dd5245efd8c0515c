/* topology/topology.h — cities, regions, presets, geo math, the RTT model,
 * population-weighted users and anycast ingress. The one public header of
 * the wp_topology library (pure: no sockets, no clock; jitter takes an RNG).
 *
 * Ownership: objects returned through `**out` are owned by the caller and
 * freed with the matching *_free. On error *out is left NULL and err says
 * why in one line ("x.csv:12: column lat: expected a latitude in -90..90,
 * got '200'").
 */
#ifndef WP_TOPOLOGY_H
#define WP_TOPOLOGY_H

#include "common/common.h"

/* ---------------------------------------------------------------- regions */

/* The seven regions of every report, in this order, with exactly these
 * names: africa, asia, europe, middle-east, north-america (Mexico, Central
 * America and the Caribbean included), oceania, south-america. */
typedef enum wp_region {
    WP_REGION_AFRICA = 0,
    WP_REGION_ASIA,
    WP_REGION_EUROPE,
    WP_REGION_MIDDLE_EAST,
    WP_REGION_NORTH_AMERICA,
    WP_REGION_OCEANIA,
    WP_REGION_SOUTH_AMERICA,
    WP_REGION_COUNT
} wp_region;

const char *wp_region_name(wp_region r);
/* Exact region name → enum; WP_ENOTFOUND if unknown. */
int wp_region_parse(const char *name, wp_region *out);
/* ISO 3166-1 alpha-2 code (case-insensitive) → region; WP_ENOTFOUND if the
 * country is unknown. Every ISO country maps to exactly one region. */
int wp_region_of_country(const char *iso2, wp_region *out);

/* ---------------------------------------------------------------- geo + RTT */

/* Mean Earth radius (IUGG), km. */
#define WP_EARTH_RADIUS_KM 6371.0088

/* Great-circle distance by the haversine formula, km. Inputs in degrees. */
double wp_geo_distance_km(double lat1, double lon1, double lat2, double lon2);

/* RTT(km) = 2 * km * inflation / fiber_km_per_ms + overhead_ms, and with
 * jitter a non-negative random extra. `km` is the great circle (v1,
 * paths = WP_RTT_PATHS_GREAT_CIRCLE) or the shortest path over the shipped
 * backbone graph (v2, WP_RTT_PATHS_GRAPH; see topology/graph.c), where land
 * links and the attachments of the endpoints count land_factor times their
 * length. With access set, a user's leg also carries its country's access
 * ("last mile") latency (topology/access.c); data-centre legs never do.
 * Defaults and their sources are in topology/rtt.c. A zero-initialised
 * struct with the first three fields set is a v1 (great-circle) model. */
typedef enum wp_rtt_paths {
    WP_RTT_PATHS_GREAT_CIRCLE = 0,
    WP_RTT_PATHS_GRAPH = 1,
} wp_rtt_paths;

typedef struct wp_rtt_params {
    double fiber_km_per_ms; /* speed of light in fiber, km per ms */
    double inflation;       /* path length / model path length */
    double overhead_ms;     /* fixed per round trip (switching, last hops) */
    double jitter_ms;       /* mean of the exponential jitter; 0 = none */
    wp_rtt_paths paths;     /* great circle (v1) or backbone graph (v2) */
    double land_factor;     /* graph mode: land links and attachments x this (>= 1) */
    bool access;            /* users' legs add their country's access latency */
    char source[128];       /* where the values came from (file path, "v2 default") */
    /* Border terms (v2, fitted by `topo fit`): ms added at each end of a
     * leg between two different countries, by the end's country (slot
     * (c[0]-'A')*26 + c[1]-'A'): the extra time of reaching that country's
     * networks from abroad (transit, tromboning through another country).
     * Zero for a country not fitted and for legs inside one country. */
    float border_ms[26 * 26];
    unsigned n_border;      /* countries with a non-zero term */
} wp_rtt_params;

/* The border terms of a leg between countries c1 and c2 (ISO 3166-1
 * alpha-2; NULL, "" or unknown: none): 0 when c1 == c2. */
double wp_rtt_border_ms(const wp_rtt_params *p, const char *c1, const char *c2);
/* Sets country iso2's term; WP_EINVAL for a bad code or a value outside
 * 0..1000 ms. */
int wp_rtt_border_set(wp_rtt_params *p, const char *iso2, double ms, wp_err *err);

/* v2: graph paths, access latency on, calibrated on RIPE Atlas (rtt.c). */
void wp_rtt_params_default(wp_rtt_params *p);
/* v1: great circle x 1.58 + 5.8 ms, fitted on Azure's backbone; no access. */
void wp_rtt_params_v1(wp_rtt_params *p);
/* The parameter file written by `wpctl topo fit`: lines "key value" (keys
 * version, paths, fiber_km_per_ms, inflation, overhead_ms, land_factor,
 * access, jitter_ms; '#' comments) and "border CC MS" (one per country).
 * Unknown keys and bad values are errors naming the line; absent keys
 * keep the v2 defaults, except the border terms: a file that has none has
 * none. The v2 defaults are topology/data/rtt_v2.params, embedded. */
int wp_rtt_params_load(const char *path, wp_rtt_params *p, wp_err *err);
int wp_rtt_params_write(FILE *fp, const wp_rtt_params *p);
/* One-line summary ("v2 graph, inflation 1.21, overhead 3.4 ms, land 1.30,
 * access on (FILE)") for output records. */
void wp_rtt_params_describe(const wp_rtt_params *p, char *buf, size_t len);
/* Deterministic part of the model (no jitter). */
double wp_rtt_ms_for_km(const wp_rtt_params *p, double km);
double wp_rtt_ms_between(const wp_rtt_params *p, double lat1, double lon1, double lat2,
                         double lon2);
/* base_ms plus a jitter draw (exponential with mean p->jitter_ms). */
double wp_rtt_jitter(const wp_rtt_params *p, double base_ms, wp_rng *rng);

/* Least-squares fit of inflation and overhead to measured (km, rtt_ms)
 * pairs, keeping fiber speed fixed; reports the error of the fit.
 * Errors are absolute percentage errors, in percent (12.5 = 12.5%). */
typedef struct wp_rtt_fit {
    double inflation;
    double overhead_ms;
    size_t pairs;
    double median_abs_pct_err;
    double p90_abs_pct_err;
} wp_rtt_fit;
int wp_rtt_fit_pairs(const double *km, const double *rtt_ms, size_t n, double fiber_km_per_ms,
                     wp_rtt_fit *out, wp_err *err);
/* Error of given parameters on measured pairs (fills pairs and the two
 * error fields of out; copies inflation/overhead from p). */
int wp_rtt_evaluate(const wp_rtt_params *p, const double *km, const double *rtt_ms, size_t n,
                    wp_rtt_fit *out, wp_err *err);

/* ---------------------------------------------------------------- backbone graph */

/* The backbone: cities, cable landing points and cable waypoints joined by
 * land and submarine-cable links (km). Loaded from two CSVs (nodes:
 * id,kind,lat,lon with kind city|landing|waypoint; edges: u,v,kind,km with
 * kind land|sea) or the shipped ones (paths NULL). */
typedef struct wp_graph wp_graph;
#define WP_GRAPH_MAX_NODES 200000
#define WP_GRAPH_MAX_EDGES 1000000
int wp_graph_load(const char *nodes_path, const char *edges_path, wp_graph **out, wp_err *err);
void wp_graph_free(wp_graph *g);
size_t wp_graph_node_count(const wp_graph *g);
size_t wp_graph_edge_count(const wp_graph *g);
/* Path km between every pair of n points (out: n*n floats, row-major):
 * each point joins its nearest city/landing nodes (never a transit), land
 * km count land_factor times; points under WP_GRAPH_DIRECT_KM apart may
 * also go direct (great circle x land_factor). One Dijkstra per point. */
#define WP_GRAPH_DIRECT_KM 1000.0
int wp_graph_path_matrix(const wp_graph *g, const double *lat, const double *lon, size_t n,
                         double land_factor, float *out_km, wp_err *err);
/* Path km from point (lat1, lon1) to each of m points (one Dijkstra). */
int wp_graph_paths_from(const wp_graph *g, double lat1, double lon1, const double *lat,
                        const double *lon, size_t m, double land_factor, double *out_km,
                        wp_err *err);

/* ---------------------------------------------------------------- access */

/* Users' access ("last mile") latency: per country, quantiles of the
 * minimum RTT to the nearest measurement server (M-Lab NDT, shipped), as a
 * piecewise-linear distribution. Countries whose tests leave the country
 * (no local server) and countries absent from the data use their region's
 * curve. */
#define WP_ACCESS_NQ 9
typedef struct wp_access_curve {
    char country[3];       /* "" for a region curve */
    wp_region region;
    bool local;            /* the country's own curve (else its region's) */
    double q_ms[WP_ACCESS_NQ]; /* at wp_access_probs[] */
} wp_access_curve;
extern const double wp_access_probs[WP_ACCESS_NQ];
typedef struct wp_access wp_access;
/* path NULL: the shipped M-Lab table. Columns country, ndt_download_tests,
 * min_rtt_ms_q01 .. min_rtt_ms_q99 (non-decreasing). */
int wp_access_load(const char *path, wp_access **out, wp_err *err);
void wp_access_free(wp_access *a);
/* The curve users of a country draw from (never NULL). */
const wp_access_curve *wp_access_for(const wp_access *a, const char *iso2, wp_region region);
/* Inverse CDF at u in [0,1] (clamped to q01..q99), and the CDF at ms. */
double wp_access_quantile(const wp_access_curve *c, double u);
double wp_access_cdf(const wp_access_curve *c, double ms);

/* ---------------------------------------------------------------- robust fit */

/* Robust relative-error fit of y ≈ a*x + b (+ s*z when z != NULL): IRLS
 * with Huber weights on the relative residual (pred - y) / y, scale from
 * its MAD. s is kept in [0, 1]. */
typedef struct wp_irls_fit {
    double a, b, s;
    int iterations;
} wp_irls_fit;
int wp_irls_relative(const double *x, const double *z, const double *y, size_t n,
                     wp_irls_fit *out, wp_err *err);

/* Error statistics of predictions against measurements, in percent:
 * median |err|, p90 |err|, median signed err ((pred - meas) / meas). */
typedef struct wp_err_stats {
    size_t n;
    double median_abs_pct, p90_abs_pct, median_signed_pct;
} wp_err_stats;
int wp_err_stats_of(const double *pred, const double *meas, size_t n, wp_err_stats *out);

/* ---------------------------------------------------------------- cities */

/* Longest code is 31 bytes (GCP ids reach 23); names 63 bytes (UTF-8). */
#define WP_CITY_CODE_MAX 32
#define WP_CITY_NAME_MAX 64
/* A topology holds at most this many cities (its RTT matrix is n*n floats:
 * 64 MiB at the cap). */
#define WP_TOPO_MAX_CITIES 4096

typedef struct wp_city {
    char code[WP_CITY_CODE_MAX]; /* IATA-like ("FRA") or a cloud region id
                                    ("northamerica-northeast1"); unique
                                    within a topology */
    char name[WP_CITY_NAME_MAX];
    char country[3];   /* ISO 3166-1 alpha-2 */
    wp_region region;
    double lat, lon;   /* degrees */
    double pop_weight; /* population served (people); >= 0 */
} wp_city;

typedef struct wp_topology wp_topology;

/* Names of the shipped presets, NULL-terminated: edge, aws, azure, gcp, tiny. */
const char *const *wp_topo_preset_names(void);
/* Loads a shipped preset (embedded in the binary; no files needed at run
 * time). params may be NULL for the defaults. */
int wp_topo_load_preset(const char *name, const wp_rtt_params *params, wp_topology **out,
                        wp_err *err);
/* Loads a user CSV with header columns code,name,country,lat,lon and
 * optionally region (else derived from country) and pop_weight (else 1). */
int wp_topo_load_file(const char *path, const wp_rtt_params *params, wp_topology **out,
                      wp_err *err);
void wp_topo_free(wp_topology *t);

/* CSV helpers for anything that reads coordinates (the loaders, `wpctl
 * topo rtt --pairs`, `fit`): field `col` of the current record of c, whose
 * header name is colname, as a latitude in -90..90 / longitude in
 * -180..180. Errors name file, line and column ("p.csv:3: column src_lat:
 * expected a latitude in -90..90, got '200'"), also for a short record. */
int wp_topo_csv_lat(const wp_csv *c, int col, const char *colname, double *out, wp_err *err);
int wp_topo_csv_lon(const wp_csv *c, int col, const char *colname, double *out, wp_err *err);

const char *wp_topo_name(const wp_topology *t); /* preset name or file path */
size_t wp_topo_count(const wp_topology *t);
const wp_city *wp_topo_city(const wp_topology *t, size_t i);
/* Index of a city by code (case-insensitive), or -1. */
int wp_topo_find(const wp_topology *t, const char *code);
const wp_rtt_params *wp_topo_params(const wp_topology *t);
/* Model RTT between two cities of the topology, from a precomputed matrix
 * (O(1), no jitter; a, b < wp_topo_count(t), unchecked). A city to itself
 * is overhead_ms. */
double wp_topo_rtt_ms(const wp_topology *t, size_t a, size_t b);
/* Model RTT (network only) from any position to city `city`: the
 * backbone path in graph mode (the point's attachment is a scan of the
 * graph's ~1,900 city/landing nodes, microseconds), else the great circle. */
double wp_topo_rtt_point_ms(const wp_topology *t, double lat, double lon, size_t city);
/* The same with the point's country (ISO2; NULL or "": unknown), so the
 * border terms apply as between two cities. */
double wp_topo_rtt_point_country_ms(const wp_topology *t, double lat, double lon,
                                    const char *country, size_t city);
/* Row a of the RTT matrix: count() floats, ms. */
const float *wp_topo_rtt_row(const wp_topology *t, size_t a);

/* ---------------------------------------------------------------- users */

/* Population points: where people live (the world-cities data, shipped),
 * each bound to its anycast ingress — the lowest-RTT city of a topology,
 * as BGP anycast would deliver it — precomputed at load time so lookups and
 * draws are O(1). */
typedef struct wp_user_point {
    char name[48];
    char country[3];
    wp_region region;
    double lat, lon;
    double population;
    uint32_t ingress;      /* index into the topology it was bound to */
    float ingress_rtt_ms;  /* model RTT user → ingress (network only) */
    const wp_access_curve *access; /* the access latency users here draw */
} wp_user_point;

typedef struct wp_users wp_users;

/* Loads the shipped population points (path == NULL) or a CSV with columns
 * name,country,lat,lon,population, and binds each to its anycast ingress in
 * `pops` (which must outlive the result). */
int wp_users_load(const wp_topology *pops, const char *path, wp_users **out, wp_err *err);
void wp_users_free(wp_users *u);
size_t wp_users_count(const wp_users *u);
const wp_user_point *wp_users_point(const wp_users *u, size_t i);
double wp_users_total_population(const wp_users *u);
/* A user point drawn with probability proportional to its population
 * (Walker/Vose alias table: O(1)). */
size_t wp_users_draw(const wp_users *u, wp_rng *rng);

/* Share of the population whose ingress is within `within_ms` RTT, overall
 * and per region (by_region[r] is the fraction of region r's population;
 * regions with no population report 0). */
void wp_users_coverage(const wp_users *u, double within_ms, double *overall,
                       double by_region[WP_REGION_COUNT]);

/* The same with each user's access latency added: the expected share,
 * from each point's access distribution (wp_access_cdf). */
void wp_users_coverage_access(const wp_users *u, double within_ms, double *overall,
                              double by_region[WP_REGION_COUNT]);
/* Replaces the access curves (path NULL: the shipped M-Lab table). */
int wp_users_set_access(wp_users *u, const char *path, wp_err *err);
/* Model RTT (network only) from point i to city `city` of the topology
 * the users are bound to: the backbone path in graph mode (a few table
 * reads), the great circle otherwise. */
double wp_users_rtt_ms(const wp_users *u, size_t i, size_t city);
/* The country of each position: that of the nearest shipped population
 * point within max_km, else "" (out[i]). One scan of the ~7,500 points a
 * position. */
int wp_users_countries_near(const double *lat, const double *lon, size_t n, double max_km,
                            char (*out)[3], wp_err *err);
/* One access latency draw for a user of point i (ms). */
double wp_users_access_draw(const wp_users *u, size_t i, wp_rng *rng);

/* ---------------------------------------------------------------- calibration */

/* Calibrates the v2 model on public-internet pings between countries (the
 * RIPE Atlas table: cty1,cty2,rtt_cnt,rtt_avg), see topology/calib.c. Rows
 * are split deterministically: one in four (by a hash of the pair) is held
 * out and only evaluated. Distance bands for the report, km: */
#define WP_CALIB_BANDS 5
extern const double wp_calib_band_km[WP_CALIB_BANDS + 1];
typedef struct wp_calib_opts {
    const char *measured_path;  /* RIPE-style CSV */
    const char *access_path;    /* NULL: shipped M-Lab */
    const char *users_path;     /* NULL: shipped population points */
    int cities_per_country;     /* population-weighted representatives (0: 5) */
    const double *land_factors; /* candidates (NULL: 1.0 .. 2.2 by 0.2) */
    size_t nland;
    double access_quantile;     /* access term removed per end (0: WP_CALIB_ACCESS_Q) */
} wp_calib_opts;
#define WP_CALIB_ACCESS_Q 0.10
typedef struct wp_calib_result {
    wp_rtt_params params;       /* the fitted v2 parameters */
    double access_quantile;     /* the access quantile removed at each end */
    size_t rows_read, rows_kept, rows_fit, rows_held;
    size_t dropped_count, dropped_ftl, dropped_unknown, dropped_access;
    wp_err_stats fit, held;     /* predicted vs measured rtt_avg */
    wp_err_stats held_band[WP_CALIB_BANDS];
    wp_err_stats held_no_border; /* held-out rows, the same model without border terms */
    unsigned border_rounds;     /* rounds of the border-term fit */
} wp_calib_result;
int wp_calibrate(const wp_calib_opts *o, wp_calib_result *out, wp_err *err);

/* Model RTT (network only, no jitter) of n coordinate pairs, by
 * params->paths (graph: one Dijkstra per distinct place, at most
 * WP_TOPO_MAX_CITIES places), with the border terms of the places'
 * countries (the nearest population point's within 200 km). */
int wp_rtt_model_pairs(const wp_rtt_params *p, const double *lat1, const double *lon1,
                       const double *lat2, const double *lon2, size_t n, double *out_ms,
                       wp_err *err);
/* Evaluates params on measured DC-to-DC pairs (no access), with stats
 * overall and by great-circle distance band. Paths by params->paths. */
int wp_rtt_eval_pairs(const wp_rtt_params *p, const double *lat1, const double *lon1,
                      const double *lat2, const double *lon2, const double *rtt_ms, size_t n,
                      wp_err_stats *all, wp_err_stats band[WP_CALIB_BANDS], wp_err *err);

#endif /* WP_TOPOLOGY_H */
