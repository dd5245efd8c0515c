/* tools/wpctl/html_report.h — internal to wpctl: the self-contained HTML
 * report of `wpctl report FILE --html OUT` and `wpctl sim … --html OUT`.
 *
 * One file, nothing fetched when it is opened: inline CSS, inline SVG (the
 * map and the charts are drawn here, in C, so the page needs no script to
 * show them) and a few lines of inline JS (it marks the page as loaded,
 * or records a script error, for the browser test). Every picture has a
 * <title>/<desc> and a table with the same figures beside it, for print
 * and screen readers.
 *
 * What a page holds: one or two runs side by side (sim --compare; the
 * first is the subject), each with a map (user cities coloured by their
 * p95 TTFT, serving sites marked; needs the run's res->city / res->site,
 * see wp_sim_options.by_city), TTFT CDFs by region, the figures by region
 * as a table and, for a run with faults, its timeline (res->tl); and
 * optionally the sim-vs-live table (report --vs-sim).
 *
 * Ownership: the page only borrows what it points to. */
#ifndef WPCTL_HTML_REPORT_H
#define WPCTL_HTML_REPORT_H

#include "common/common.h"
#include "sim/sim.h"

#include <stdio.h>

typedef struct wpctl_html_run {
    const char *label;            /* "edge", "live" */
    const wp_sim_result *res;     /* figures by region; city/site for the map;
                                   * its timeline (tl) is drawn when it ran
                                   * faults (nfaults > 0) */
    bool simulated;               /* say so on the page */
} wpctl_html_run;

/* The hook for `wpctl report --vs-sim`: the live run is run[0] of the page,
 * `sim` the twin simulation of the same setup; the page shows p50/p95 by
 * region side by side and (live - sim) / sim of p95. */
typedef struct wpctl_html_vs_sim {
    const char *scenario;
    const wp_sim_result *sim;
} wpctl_html_vs_sim;

typedef struct wpctl_html_page {
    const char *title;
    const char *source;   /* what made it: the command or the input file */
    size_t nruns;         /* 1 or 2 */
    wpctl_html_run run[2];
    const wpctl_html_vs_sim *vs_sim; /* NULL: none */
} wpctl_html_page;

/* Writes the page to `path` (replacing it). Errors: one line. */
int wpctl_html_write(const wpctl_html_page *page, const char *path, wp_err *err);

/* The pages of `wpctl sim --html` (1 or 2 results, run with by_city) and
 * of `wpctl report --html` (rep loaded, vs may be NULL); source says what
 * made the page. */
int wpctl_html_sim(const char *path, wp_sim_result *const *res, size_t n, const char *source,
                   wp_err *err);
struct wpctl_report;
int wpctl_html_live(const char *path, struct wpctl_report *rep, const char *input,
                    const wpctl_html_vs_sim *vs, wp_err *err);

/* ---------------------------------------------------------------- pieces */

#define WPCTL_MAP_W 1000.0 /* map width in SVG units (360 degrees) */
/* Equirectangular projection into the map's SVG coordinates. */
void wpctl_map_project(double lat, double lon, double *x, double *y);
/* The country outlines as SVG <path> elements (html_map.c). */
int wpctl_map_outlines_svg(FILE *fp, wp_err *err);
/* The same from any TopoJSON text (json[0..len), no NUL needed): WP_EPARSE
 * or WP_ETOOBIG with a message on bad input, where fp may hold a partial
 * drawing. */
int wpctl_map_svg_from(const char *json, size_t len, FILE *fp, wp_err *err);
/* Writes text escaped for HTML/SVG content and attribute values. */
void wpctl_html_text(FILE *fp, const char *s, size_t len);

/* Live results (html_live.c): fills rep->res->city with the user cities of
 * the rows added so far, placed by the shipped population points (a user
 * name not among them is left off the map and counted in *unplaced), and
 * rep->res->site with the serving nodes (node id CITY-… placed by the
 * edge preset's city CITY). */
int wpctl_html_live_places(struct wpctl_report *rep, size_t *unplaced, wp_err *err);

#endif
