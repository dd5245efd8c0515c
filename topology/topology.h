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
 * jitter a non-negative random extra. Defaults and their sources are in
 * topology/rtt.c (fitted on measured inter-region pings; see SOURCES.md). */
typedef struct wp_rtt_params {
    double fiber_km_per_ms; /* speed of light in fiber, km per ms */
    double inflation;       /* path length / great-circle length */
    double overhead_ms;     /* fixed per round trip (switching, last hops) */
    double jitter_ms;       /* mean of the exponential jitter; 0 = none */
} wp_rtt_params;

void wp_rtt_params_default(wp_rtt_params *p);
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
    float ingress_rtt_ms;  /* model RTT user → ingress */
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

#endif /* WP_TOPOLOGY_H */
