/* tools/wpctl/results.h — internal to wpctl: the traffic results file that
 * `wpctl traffic` writes and `wpctl report` reads, and its aggregation into
 * the simulator's report structure (so both print the same table/JSON).
 *
 * Format: CSV with this header, one row per request sent (timeouts
 * included, so rows = requests sent):
 *   id,user,region,ingress,node,model,status,reason,send_us,ttft_us,total_us,cold,retried,
 *   first_target
 *   id       request id (u64, unique in the file)
 *   user     the emulated user's population point (quoted when it has a comma)
 *   region   the user's region (africa, asia, europe, middle-east,
 *            north-america, oceania, south-america)
 *   ingress  node id of the anycast ingress the request was sent to
 *   node     serving node id ("" when none served it)
 *   model    model name
 *   status   ok, or an error code (UNKNOWN_MODEL, NO_ROUTE, TIMEOUT, ...)
 *   reason   the error's reason ("" when ok)
 *   send_us  send time, µs since the run started
 *   ttft_us  user send -> first token back, µs (0 for errors)
 *   total_us user send -> full response back, µs (0 for timeouts)
 *   cold     1 when the serving node had to load the model, else 0
 *   retried  1 when the ingress retried on a second candidate, else 0
 *   first_target  the node tried first when retried ("" otherwise): with
 *            node, where the ingress routed the request */
#ifndef WPCTL_RESULTS_H
#define WPCTL_RESULTS_H

#include "common/common.h"
#include "sim/sim.h"

#define WPCTL_RESULTS_HEADER                                                                       \
    "id,user,region,ingress,node,model,status,reason,send_us,ttft_us,total_us,cold,retried,"      \
    "first_target"

typedef struct wpctl_result_row {
    uint64_t id;
    char user[48];
    wp_region region;
    char ingress[WP_NAME_MAX];
    char node[WP_NAME_MAX];
    char model[WP_NAME_MAX];
    char status[32];
    char reason[160];
    uint64_t send_us;
    uint64_t ttft_us;
    uint64_t total_us;
    bool cold;
    bool retried;
    char first_target[WP_NAME_MAX];
} wpctl_result_row;

/* Writes the header / one row (commas, quotes and newlines in the text
 * fields are replaced by spaces, so rows never need quoting). */
void wpctl_results_write_header(FILE *fp);
void wpctl_results_write_row(FILE *fp, const wpctl_result_row *r);

#define WPCTL_REPORT_MAX_REASONS 16

typedef struct wpctl_places wpctl_places; /* user cities and nodes seen (html_live.c) */

/* Aggregate of a results file. `res` is laid out as the simulator's result:
 * per region, requests = rows sent, errors = rows not ok, histograms hold
 * the ok rows' ttft/total, cold_starts = model_loads = ok rows with cold. */
typedef struct wpctl_report {
    wp_sim_result *res;
    uint64_t sent, ok, errors, retried;
    uint64_t region_ok[WP_REGION_COUNT];
    uint64_t first_send_us, last_end_us;
    size_t nreasons;
    char reason_code[WPCTL_REPORT_MAX_REASONS][32];
    uint64_t reason_count[WPCTL_REPORT_MAX_REASONS]; /* the last slot also counts overflow */
    /* internal: request ids seen, for the duplicate check */
    uint64_t *ids;
    size_t nids, cap_ids;
    wpctl_places *places; /* internal: for the --html map */
} wpctl_report;

int wpctl_report_init(wpctl_report *rep, wp_err *err);
void wpctl_report_free(wpctl_report *rep);
/* Adds one row; WP_EINVAL for a duplicate id. */
int wpctl_report_add(wpctl_report *rep, const wpctl_result_row *row, wp_err *err);
/* The per-city tally behind the --html map (html_live.c). */
int wpctl_places_add(wpctl_report *rep, const wpctl_result_row *row, wp_err *err);
void wpctl_places_free(wpctl_places *pl);
/* Totals the "all" row; call once after the last add. */
void wpctl_report_finish(wpctl_report *rep);
/* Reads a results file ("-" = stdin) into rep (initialised here). Errors
 * are one line "PATH:LINE: what". */
int wpctl_report_load(const char *path, wpctl_report *rep, wp_err *err);
/* The table / JSON, in `wpctl sim`'s format plus sent, ok, errors. */
void wpctl_report_print_table(const wpctl_report *rep, const char *label, FILE *fp);
void wpctl_report_print_json(const wpctl_report *rep, const char *label, FILE *fp);
/* The same object as a value inside a caller's JSON. */
void wpctl_report_json(const wpctl_report *rep, const char *label, wp_json *j);

#endif
