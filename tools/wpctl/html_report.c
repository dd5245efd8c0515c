/* html_report.c — writes the self-contained HTML report (see
 * html_report.h for what a page holds).
 *
 * Layout: a header (what made the page, everything simulated said so), then
 * the runs side by side (CSS grid; one column in print), each with its map,
 * its CDFs, its figures table, its slowest cities and, when it has one, its
 * fault timeline; then the sim-vs-live table; then the sources. The
 * country outlines are written once, in a hidden <svg><defs>, and each map
 * <use>s them.
 *
 * Scales. The map colours a city by its users' p95 TTFT in seven classes
 * (doubling from 50 ms), so a class means the same on every map of the
 * page. The CDFs share one log-scale x axis across the runs, so edge and
 * regional compare by eye; each curve is 50 quantiles (k/49, k = 0..49)
 * of the region's TTFT histogram (common/hist.c: within 0.4%).
 */
#include "tools/wpctl/html_report.h"
#include "tools/wpctl/results.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CDF_POINTS 50
#define CDF_W 520.0
#define CDF_H 300.0
#define TL_W 520.0
#define TL_H 220.0
#define MAP_TOP_LAT 84.0
#define MAP_BOTTOM_LAT -58.0
#define SLOWEST_CITIES 15

static void esc(FILE *fp, const char *s)
{
    wpctl_html_text(fp, s, strlen(s));
}

/* ---------------------------------------------------------------- scales */

static const double p95_class_ms[] = {50, 100, 200, 400, 800, 1600};
#define NCLASSES 7
static const char *const class_colour[NCLASSES] = {"#1a9850", "#66bd63", "#a6d96a", "#fee08b",
                                                    "#fdae61", "#f46d43", "#a50026"};

static int p95_class(double ms)
{
    int k = 0;
    while (k < NCLASSES - 1 && ms >= p95_class_ms[k])
        k++;
    return k;
}

/* Okabe–Ito colours (distinct for colour-blind readers), plus a dash
 * pattern per region so the curves stay apart in black-and-white print. */
static const char *const region_colour[WP_REGION_COUNT] = {
    "#E69F00", "#56B4E9", "#009E73", "#8a7a00", "#0072B2", "#D55E00", "#CC79A7"};
static const char *const region_dash[WP_REGION_COUNT] = {"", "6 3", "2 2", "8 3 2 3", "",
                                                         "4 4", "1 3"};

static double q_ms(const wp_hist *h, double q)
{
    return (double)wp_hist_quantile(h, q) / 1e6;
}

static void put_ms(FILE *fp, double ms)
{
    fprintf(fp, ms >= 100 ? "%.0f" : "%.1f", ms);
}

/* ---------------------------------------------------------------- head */

static const char *const page_css =
    ":root{--fg:#1b1b1b;--muted:#555;--line:#ccc;--sea:#eaf2f8;--land:#d9d6cf}\n"
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:var(--fg);"
    "margin:1.5rem auto;max-width:1400px;padding:0 1rem}\n"
    "h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.25rem;margin:1rem 0 .4rem}"
    "h3{font-size:1.05rem;margin:1rem 0 .3rem}\n"
    ".note{color:var(--muted);font-size:.9rem}\n"
    ".runs{display:grid;grid-template-columns:repeat(var(--n),minmax(0,1fr));gap:1.5rem}\n"
    "section.run{border-top:3px solid #333;padding-top:.3rem}\n"
    "figure{margin:.4rem 0}figcaption{font-size:.9rem;color:var(--muted)}\n"
    "svg{width:100%;height:auto;display:block}\n"
    ".map .sea{fill:var(--sea)}.land{fill:var(--land);stroke:#fff;stroke-width:.4}\n"
    ".map .city{stroke:#222;stroke-width:.25}.map .city:hover{stroke-width:1.2}\n"
    ".map .site{fill:#111;stroke:#fff;stroke-width:.6}\n"
    ".legend{display:flex;flex-wrap:wrap;gap:.3rem .9rem;list-style:none;padding:0;"
    "margin:.3rem 0;font-size:.85rem}\n"
    ".legend i{display:inline-block;width:.9em;height:.9em;border:1px solid #555;"
    "vertical-align:-.1em;margin-right:.25em}\n"
    ".legend i.line{height:0;border:0;border-top:3px solid;width:1.6em;vertical-align:.25em}\n"
    ".chart .axis{stroke:#333;stroke-width:1}.chart .grid{stroke:#e3e3e3;stroke-width:1}\n"
    ".chart{max-width:680px}.chart text{font-size:11px;fill:#333}.chart .cdf,.chart .tl{fill:none;stroke-width:2}\n"
    ".chart .dim{opacity:.15}.chart .fault{fill:#f4c7c3;opacity:.6}\n"
    "table{border-collapse:collapse;font-size:.88rem;margin:.3rem 0 .8rem}\n"
    "caption{text-align:left;font-weight:600;padding:.2rem 0}\n"
    "th,td{padding:.15rem .35rem;border-bottom:1px solid var(--line);text-align:right}\n"
    "th:first-child,td:first-child{text-align:left}thead th{border-bottom:2px solid #555}\n"
    ".hover-info{min-height:1.3em;margin:0;font-size:.9rem}\n"
    "@media print{body{font-size:10pt;max-width:none;margin:0}"
    ".runs{display:block}section.run{break-inside:avoid-page;margin-bottom:1rem}"
    "figure,table{break-inside:avoid}.hover-info{display:none}"
    ".map .sea{fill:#fff}.land{fill:#eee;stroke:#999}"
    "details>summary{list-style:none}details:not([open])>table{display:none}}\n"
    "@page{size:A4 landscape;margin:12mm}\n";

/* window.onerror first, so an error anywhere later marks the page. */
static const char *const head_js =
    "window.onerror=function(m){document.documentElement.setAttribute("
    "'data-wp-status','error: '+m);};\n";

static const char *const body_js =
    "(function(){\n"
    "var info=document.querySelectorAll('.hover-info');\n"
    "document.querySelectorAll('svg.map').forEach(function(svg,i){\n"
    " svg.addEventListener('mouseover',function(ev){var t=ev.target;\n"
    "  if(!t.getAttribute)return;var d=t.getAttribute('data-info');\n"
    "  if(d&&info[i])info[i].textContent=d;});});\n"
    "document.querySelectorAll('.legend [data-region]').forEach(function(li){\n"
    " var r=li.getAttribute('data-region'),sec=li.closest('section');\n"
    " li.addEventListener('mouseenter',function(){sec.querySelectorAll('.cdf,.tl')"
    ".forEach(function(c){c.classList.toggle('dim',c.getAttribute('data-region')!==r);});});\n"
    " li.addEventListener('mouseleave',function(){sec.querySelectorAll('.cdf,.tl')"
    ".forEach(function(c){c.classList.remove('dim');});});});\n"
    "var st=document.documentElement;\n"
    "if(!st.hasAttribute('data-wp-status'))st.setAttribute('data-wp-status','ok');\n"
    "st.setAttribute('data-wp-marks',document.querySelectorAll('svg.map [data-city]').length);\n"
    "})();\n";

/* ---------------------------------------------------------------- map */

static double city_p95_ms(const wp_sim_city *c)
{
    return wp_sim_tl_quantile_ms(&c->fig, 0.95);
}

static int cmp_requests_desc(const void *a, const void *b)
{
    const wp_sim_city *x = *(const wp_sim_city *const *)a, *y = *(const wp_sim_city *const *)b;
    return x->fig.requests < y->fig.requests ? 1 : x->fig.requests > y->fig.requests ? -1 : 0;
}

static void put_city_info(FILE *fp, const wp_sim_city *c)
{
    esc(fp, c->name);
    fprintf(fp, " (%s): ", wp_region_name(c->region));
    uint32_t ok = c->fig.requests - c->fig.errors;
    if (ok) {
        fputs("p95 TTFT ", fp);
        put_ms(fp, city_p95_ms(c));
        fputs(" ms, ", fp);
    } else {
        fputs("no successful request, ", fp);
    }
    fprintf(fp, "%u requests, %u errors", c->fig.requests, c->fig.errors);
}

static void write_legend_classes(FILE *fp)
{
    fputs("<ul class=\"legend\" aria-label=\"Colour of a city: its users' p95 TTFT\">", fp);
    for (int k = 0; k < NCLASSES; k++) {
        fprintf(fp, "<li><i style=\"background:%s\"></i>", class_colour[k]);
        if (k == 0)
            fprintf(fp, "&lt; %.0f ms", p95_class_ms[0]);
        else if (k == NCLASSES - 1)
            fprintf(fp, "&ge; %.0f ms", p95_class_ms[k - 1]);
        else
            fprintf(fp, "%.0f&ndash;%.0f ms", p95_class_ms[k - 1], p95_class_ms[k]);
        fputs("</li>", fp);
    }
    fputs("<li><i style=\"background:#bbb\"></i>no success</li>"
          "<li><svg width=\"12\" height=\"12\" viewBox=\"-6 -6 12 12\" aria-hidden=\"true\" "
          "style=\"display:inline;width:12px\"><path d=\"M0 -5L5 0L0 5L-5 0Z\" fill=\"#111\"/>"
          "</svg> serving site</li></ul>\n",
          fp);
}

static int write_map(FILE *fp, const wpctl_html_run *run, size_t idx)
{
    const wp_sim_result *r = run->res;
    double x0, y0, x1, y1;
    wpctl_map_project(MAP_TOP_LAT, -180, &x0, &y0);
    wpctl_map_project(MAP_BOTTOM_LAT, 180, &x1, &y1);
    const wp_sim_city **order = calloc(r->ncities ? r->ncities : 1, sizeof *order);
    if (!order)
        return WP_ENOMEM;
    uint32_t max_req = 1;
    for (size_t i = 0; i < r->ncities; i++) {
        order[i] = &r->city[i];
        if (r->city[i].fig.requests > max_req)
            max_req = r->city[i].fig.requests;
    }
    qsort(order, r->ncities, sizeof *order, cmp_requests_desc);
    fputs("<figure>", fp);
    fprintf(fp,
            "<svg class=\"map\" role=\"img\" aria-labelledby=\"map-t%zu map-d%zu\" "
            "viewBox=\"%.1f %.1f %.1f %.1f\" data-cities=\"%zu\" data-sites=\"%zu\">\n",
            idx, idx, x0, y0, x1 - x0, y1 - y0, r->ncities, r->nsite_marks);
    fprintf(fp, "<title id=\"map-t%zu\">World map of ", idx);
    esc(fp, run->label);
    fprintf(fp, ": %zu user cities coloured by p95 TTFT, %zu serving sites</title>\n", r->ncities,
            r->nsite_marks);
    fprintf(fp, "<desc id=\"map-d%zu\">Each dot is a city whose users sent requests; its colour "
                "is their p95 time to first token (classes in the legend) and its size grows "
                "with the requests. Black diamonds are the sites that served. The same figures "
                "are in the tables below.</desc>\n",
            idx);
    fprintf(fp, "<rect class=\"sea\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", x0,
            y0, x1 - x0, y1 - y0);
    fputs("<use href=\"#world\"/>\n<g class=\"cities\">\n", fp);
    for (size_t i = 0; i < r->ncities; i++) {
        const wp_sim_city *c = order[i];
        double x, y;
        wpctl_map_project(c->lat, c->lon, &x, &y);
        double rad = 1.3 + 3.0 * sqrt((double)c->fig.requests / (double)max_req);
        bool ok = c->fig.requests > c->fig.errors;
        fprintf(fp, "<circle class=\"city\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.2f\" fill=\"%s\" "
                    "data-city=\"", x, y, rad,
                ok ? class_colour[p95_class(city_p95_ms(c))] : "#bbb");
        esc(fp, c->name);
        fputs("\" data-info=\"", fp);
        put_city_info(fp, c);
        fputs("\"><title>", fp);
        put_city_info(fp, c);
        fputs("</title></circle>\n", fp);
    }
    fputs("</g>\n<g class=\"sites\">\n", fp);
    for (size_t i = 0; i < r->nsite_marks; i++) {
        const wp_sim_site *s = &r->site[i];
        double x, y;
        wpctl_map_project(s->lat, s->lon, &x, &y);
        fprintf(fp, "<path class=\"site\" d=\"M%.1f %.1fl4 4l-4 4l-4 -4Z\" data-site=\"", x,
                y - 4);
        esc(fp, s->name);
        fputs("\" data-info=\"serving site ", fp);
        esc(fp, s->name);
        if (s->gpus)
            fprintf(fp, ", %u GPUs", s->gpus);
        fputs("\"><title>serving site ", fp);
        esc(fp, s->name);
        if (s->gpus)
            fprintf(fp, ", %u GPUs", s->gpus);
        fputs("</title></path>\n", fp);
    }
    fputs("</g></svg>\n", fp);
    write_legend_classes(fp);
    fputs("<p class=\"hover-info\" aria-live=\"polite\"></p>", fp);
    fputs("<figcaption>Users' p95 TTFT by city", fp);
    if (r->ncities == 0)
        fputs(" (no per-city data in this run)", fp);
    fputs(". Map: Natural Earth 1:110m, equirectangular, Antarctica cropped.</figcaption>"
          "</figure>\n",
          fp);
    free(order);
    return WP_OK;
}

/* ---------------------------------------------------------------- CDFs */

typedef struct axis {
    double lo_ms, hi_ms; /* decades */
} axis;

static double cdf_x(const axis *a, double ms)
{
    double l = log10(ms > a->lo_ms ? ms : a->lo_ms);
    return 50 + (CDF_W - 70) * (l - log10(a->lo_ms)) / (log10(a->hi_ms) - log10(a->lo_ms));
}

static double cdf_y(double q)
{
    return 15 + (CDF_H - 55) * (1 - q);
}

static void axis_extend(axis *a, const wp_sim_result *r)
{
    for (int g = 0; g < WP_REGION_COUNT; g++) {
        const wp_hist *h = &r->region[g].ttft_ns;
        if (h->count == 0)
            continue;
        double lo = q_ms(h, 0), hi = q_ms(h, 1);
        if (lo < a->lo_ms)
            a->lo_ms = lo;
        if (hi > a->hi_ms)
            a->hi_ms = hi;
    }
}

static void axis_round(axis *a)
{
    if (a->hi_ms <= 0 || a->lo_ms > a->hi_ms) { /* no latency at all */
        a->lo_ms = 1;
        a->hi_ms = 1000;
        return;
    }
    a->lo_ms = pow(10, floor(log10(a->lo_ms > 0.1 ? a->lo_ms : 0.1)));
    a->hi_ms = pow(10, ceil(log10(a->hi_ms)));
    if (a->hi_ms <= a->lo_ms)
        a->hi_ms = a->lo_ms * 10;
}

static void write_region_legend(FILE *fp, const wp_sim_result *r, const char *what)
{
    fprintf(fp, "<ul class=\"legend\" aria-label=\"%s\">", what);
    for (int g = 0; g < WP_REGION_COUNT; g++) {
        if (r->region[g].ttft_ns.count == 0)
            continue;
        fprintf(fp, "<li data-region=\"%s\"><i class=\"line\" style=\"border-color:%s\"></i>%s</li>",
                wp_region_name((wp_region)g), region_colour[g], wp_region_name((wp_region)g));
    }
    fputs("</ul>\n", fp);
}

static void write_x_ticks(FILE *fp, const axis *a, double top, double bottom,
                          double (*xf)(const axis *, double))
{
    /* Grid lines at 1, 2, 5 x 10^k; labels at 2 and 5 only while there
     * is room (up to three decades). 1000 ms and up read as seconds. */
    int decades = (int)lround(log10(a->hi_ms / a->lo_ms));
    for (double d = a->lo_ms; d <= a->hi_ms * 1.001; d *= 10) {
        static const double mult[] = {1, 2, 5};
        for (int k = 0; k < 3; k++) {
            double v = d * mult[k];
            if (v > a->hi_ms * 1.001)
                break;
            double x = xf(a, v);
            fprintf(fp, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>",
                    x, x, top, bottom);
            if (k > 0 && decades > 3)
                continue;
            fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x, bottom + 14);
            fprintf(fp, v >= 1000 ? "%g s" : "%g", v >= 1000 ? v / 1000 : v);
            fputs("</text>\n", fp);
        }
    }
}

static void write_cdf(FILE *fp, const wpctl_html_run *run, size_t idx, const axis *a)
{
    const wp_sim_result *r = run->res;
    int curves = 0;
    for (int g = 0; g < WP_REGION_COUNT; g++)
        curves += r->region[g].ttft_ns.count > 0;
    fputs("<figure>", fp);
    fprintf(fp,
            "<svg class=\"chart cdf-chart\" role=\"img\" aria-labelledby=\"cdf-t%zu cdf-d%zu\" "
            "viewBox=\"0 0 %.0f %.0f\" data-curves=\"%d\">\n",
            idx, idx, CDF_W, CDF_H, curves);
    fprintf(fp, "<title id=\"cdf-t%zu\">TTFT distribution by region, ", idx);
    esc(fp, run->label);
    fprintf(fp, "</title>\n<desc id=\"cdf-d%zu\">Cumulative distribution of time to first token "
                "for the successful requests of each region (%d curves), x axis logarithmic in "
                "milliseconds. The table below gives p50, p95 and p99.</desc>\n",
            idx, curves);
    double top = cdf_y(1), bottom = cdf_y(0);
    write_x_ticks(fp, a, top, bottom, cdf_x);
    for (int k = 0; k <= 4; k++) {
        double y = cdf_y(k / 4.0);
        fprintf(fp, "<line class=\"grid\" x1=\"50\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                    "<text x=\"44\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n",
                CDF_W - 20, y, y, y + 4, k / 4.0);
    }
    fprintf(fp, "<line class=\"axis\" x1=\"50\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                "<line class=\"axis\" x1=\"50\" x2=\"50\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
            CDF_W - 20, bottom, bottom, top, bottom);
    fprintf(fp, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">TTFT, log scale (ms; s where marked)</text>"
                "<text x=\"12\" y=\"%.0f\" text-anchor=\"middle\" transform=\"rotate(-90 12 %.0f)\">"
                "share of requests</text>\n",
            (CDF_W + 30) / 2, CDF_H - 6, (top + bottom) / 2, (top + bottom) / 2);
    for (int g = 0; g < WP_REGION_COUNT; g++) {
        const wp_hist *h = &r->region[g].ttft_ns;
        if (h->count == 0)
            continue;
        fprintf(fp, "<polyline class=\"cdf\" data-region=\"%s\" stroke=\"%s\"",
                wp_region_name((wp_region)g), region_colour[g]);
        if (region_dash[g][0])
            fprintf(fp, " stroke-dasharray=\"%s\"", region_dash[g]);
        fputs(" points=\"", fp);
        for (int k = 0; k < CDF_POINTS; k++) {
            double q = (double)k / (CDF_POINTS - 1);
            fprintf(fp, "%s%.1f,%.1f", k ? " " : "", cdf_x(a, q_ms(h, q)), cdf_y(q));
        }
        fprintf(fp, "\"><title>%s: p50 ", wp_region_name((wp_region)g));
        put_ms(fp, q_ms(h, 0.5));
        fputs(" ms, p95 ", fp);
        put_ms(fp, q_ms(h, 0.95));
        fprintf(fp, " ms, %llu requests</title></polyline>\n", (unsigned long long)h->count);
    }
    fputs("</svg>", fp);
    write_region_legend(fp, r, "Curve of each region");
    fputs("<figcaption>TTFT CDF by region of the user (successful requests).</figcaption>"
          "</figure>\n",
          fp);
}

/* ---------------------------------------------------------------- tables */

static void stats_row(FILE *fp, const char *name, const wp_sim_stats *s, bool region_row)
{
    fprintf(fp, "<tr%s%s%s><th scope=\"row\">%s</th><td>%llu</td><td>%llu</td>",
            region_row ? " data-region-row=\"" : "", region_row ? name : "",
            region_row ? (s->ttft_ns.count ? "\" data-latency=\"yes\"" : "\"") : "", name,
            (unsigned long long)s->requests, (unsigned long long)s->errors);
    if (s->ttft_ns.count) {
        static const double qs[] = {0.5, 0.95, 0.99};
        for (int k = 0; k < 3; k++) {
            fputs("<td>", fp);
            put_ms(fp, q_ms(&s->ttft_ns, qs[k]));
            fputs("</td>", fp);
        }
        fputs("<td>", fp);
        put_ms(fp, q_ms(&s->total_ns, 0.95));
        fputs("</td>", fp);
    } else {
        fputs("<td>&ndash;</td><td>&ndash;</td><td>&ndash;</td><td>&ndash;</td>", fp);
    }
    fprintf(fp, "<td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td></tr>\n",
            (unsigned long long)s->cold_starts, (unsigned long long)s->model_loads,
            (unsigned long long)s->container_starts, (unsigned long long)s->isolate_starts);
}

static void write_figures(FILE *fp, const wpctl_html_run *run)
{
    const wp_sim_result *r = run->res;
    fputs("<table class=\"figures\"><caption>Figures by region of the user, ", fp);
    esc(fp, run->label);
    fputs(" (TTFT and total in ms, successful requests)</caption>\n<thead><tr>"
          "<th scope=\"col\">region</th><th scope=\"col\">requests</th>"
          "<th scope=\"col\">errors</th><th scope=\"col\">p50</th><th scope=\"col\">p95</th>"
          "<th scope=\"col\">p99</th><th scope=\"col\">total p95</th>"
          "<th scope=\"col\">cold starts</th>"
          "<th scope=\"col\"><abbr title=\"model loads on a GPU\">loads</abbr></th>"
          "<th scope=\"col\"><abbr title=\"function container cold starts\">containers</abbr></th>"
          "<th scope=\"col\"><abbr title=\"V8 isolate starts at the PoP\">isolates</abbr></th>"
          "</tr></thead><tbody>\n",
          fp);
    for (int g = 0; g < WP_REGION_COUNT; g++)
        if (r->region[g].requests)
            stats_row(fp, wp_region_name((wp_region)g), &r->region[g], true);
    stats_row(fp, "all", &r->all, false);
    fputs("</tbody></table>\n", fp);

    fputs("<table class=\"run-facts\"><caption>The run</caption><tbody>\n", fp);
    fprintf(fp, "<tr><th scope=\"row\">requests</th><td>%llu</td></tr>\n",
            (unsigned long long)r->all.requests);
    fprintf(fp, "<tr><th scope=\"row\">errors</th><td>%llu (%.2f%%)</td></tr>\n",
            (unsigned long long)r->all.errors,
            r->all.requests ? 100.0 * (double)r->all.errors / (double)r->all.requests : 0.0);
    fprintf(fp, "<tr><th scope=\"row\">cold starts</th><td>%llu</td></tr>\n",
            (unsigned long long)r->all.cold_starts);
    if (run->simulated) {
        fprintf(fp, "<tr><th scope=\"row\">seed</th><td>%llu</td></tr>\n",
                (unsigned long long)r->seed);
        fprintf(fp, "<tr><th scope=\"row\">serving sites</th><td>%zu</td></tr>\n", r->sites);
        fprintf(fp, "<tr><th scope=\"row\">GPUs (simulated)</th><td>%llu</td></tr>\n",
                (unsigned long long)r->gpus);
        fprintf(fp, "<tr><th scope=\"row\">GPU use (slot-time busy)</th><td>%.1f%%</td></tr>\n",
                100.0 * r->gpu_busy_frac);
        fprintf(fp, "<tr><th scope=\"row\">simulated time</th><td>%.1f s</td></tr>\n",
                r->sim_end_s);
    } else {
        fprintf(fp, "<tr><th scope=\"row\">serving nodes seen</th><td>%zu</td></tr>\n",
                r->nsite_marks);
        fputs("<tr><th scope=\"row\">GPU use</th><td>not in a traffic results file</td></tr>\n",
              fp);
    }
    fputs("</tbody></table>\n", fp);
}

static int cmp_p95_desc(const void *a, const void *b)
{
    double x = city_p95_ms(*(const wp_sim_city *const *)a);
    double y = city_p95_ms(*(const wp_sim_city *const *)b);
    return x < y ? 1 : x > y ? -1 : 0;
}

static void city_row(FILE *fp, const wp_sim_city *c, bool mark)
{
    fprintf(fp, "<tr%s><th scope=\"row\">", mark ? " data-city-row=\"\"" : "");
    esc(fp, c->name);
    fprintf(fp, "</th><td>%s</td><td>%u</td><td>%u</td><td>", wp_region_name(c->region),
            c->fig.requests, c->fig.errors);
    if (c->fig.requests > c->fig.errors)
        put_ms(fp, city_p95_ms(c));
    else
        fputs("&ndash;", fp);
    fputs("</td></tr>\n", fp);
}

static const char *const city_head =
    "<thead><tr><th scope=\"col\">city</th><th scope=\"col\">region</th>"
    "<th scope=\"col\">requests</th><th scope=\"col\">errors</th>"
    "<th scope=\"col\">p95 TTFT, ms (&plusmn;5%)</th></tr></thead><tbody>\n";

static int write_cities(FILE *fp, const wpctl_html_run *run)
{
    const wp_sim_result *r = run->res;
    if (r->ncities == 0)
        return WP_OK;
    const wp_sim_city **order = calloc(r->ncities, sizeof *order);
    if (!order)
        return WP_ENOMEM;
    /* The slowest cities with enough requests for a p95 (20), else all. */
    size_t n = 0;
    for (size_t i = 0; i < r->ncities; i++)
        if (r->city[i].fig.requests - r->city[i].fig.errors >= 20)
            order[n++] = &r->city[i];
    if (n == 0)
        for (size_t i = 0; i < r->ncities; i++)
            order[n++] = &r->city[i];
    qsort(order, n, sizeof *order, cmp_p95_desc);
    fputs("<table class=\"slowest\"><caption>Slowest cities by p95 TTFT", fp);
    fputs(n < r->ncities ? " (cities with at least 20 successful requests)" : "", fp);
    fputs("</caption>", fp);
    fputs(city_head, fp);
    for (size_t i = 0; i < n && i < SLOWEST_CITIES; i++)
        city_row(fp, order[i], false);
    fputs("</tbody></table>\n", fp);
    fprintf(fp, "<details><summary>All %zu cities on the map</summary>"
                "<table class=\"cities\"><caption>Every city on the map</caption>",
            r->ncities);
    fputs(city_head, fp);
    for (size_t i = 0; i < r->ncities; i++)
        city_row(fp, &r->city[i], true);
    fputs("</tbody></table></details>\n", fp);
    free(order);
    return WP_OK;
}

/* ---------------------------------------------------------------- timeline */

static double tl_x(double span_s, double t_s)
{
    return 50 + (TL_W - 70) * t_s / span_s;
}

static double tl_p95_ms(const wp_sim_result *r, size_t i, int g)
{
    return wp_sim_tl_quantile_ms(&r->tl[i * WP_REGION_COUNT + (size_t)g], 0.95);
}

/* The timeline of a run with faults: p95 TTFT per region and interval (by
 * send time; the simulator's cells, +-5%), the outages as bands. */
static void write_timeline(FILE *fp, const wpctl_html_run *run, size_t idx)
{
    const wp_sim_result *r = run->res;
    if (r->nfaults == 0 || r->tl_n == 0 || !r->tl || r->tl_interval_s <= 0)
        return;
    double span_s = r->tl_interval_s * (double)r->tl_n, max_ms = 1;
    for (size_t i = 0; i < r->tl_n; i++)
        for (int g = 0; g < WP_REGION_COUNT; g++)
            if (tl_p95_ms(r, i, g) > max_ms)
                max_ms = tl_p95_ms(r, i, g);
    max_ms = pow(2, ceil(log2(max_ms)));
    double top = 15, bottom = TL_H - 35;
    fprintf(fp, "<h3>Timeline</h3><figure><svg class=\"chart timeline\" role=\"img\" "
                "aria-labelledby=\"tl-t%zu tl-d%zu\" viewBox=\"0 0 %.0f %.0f\" "
                "data-intervals=\"%zu\" data-faults=\"%zu\">\n",
            idx, idx, TL_W, TL_H, r->tl_n, r->nfaults);
    fprintf(fp, "<title id=\"tl-t%zu\">p95 TTFT by region over time, with outages</title>"
                "<desc id=\"tl-d%zu\">One line per region: p95 TTFT of the requests sent in "
                "each %g s interval; shaded bands are scheduled outages. The table below "
                "has the figures.</desc>\n",
            idx, idx, r->tl_interval_s);
    for (size_t f = 0; f < r->nfaults; f++) {
        double to_s = r->faults[f].to_s < span_s ? r->faults[f].to_s : span_s;
        double fx0 = tl_x(span_s, r->faults[f].from_s), fx1 = tl_x(span_s, to_s);
        fprintf(fp, "<rect class=\"fault\" x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\">"
                    "<title>outage ",
                fx0, top, fx1 > fx0 ? fx1 - fx0 : 0, bottom - top);
        esc(fp, r->faults[f].what);
        fprintf(fp, " %g&ndash;%g s</title></rect>\n", r->faults[f].from_s, r->faults[f].to_s);
    }
    fprintf(fp, "<line class=\"axis\" x1=\"50\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\"/>"
                "<line class=\"axis\" x1=\"50\" x2=\"50\" y1=\"%.0f\" y2=\"%.0f\"/>"
                "<text x=\"44\" y=\"%.0f\" text-anchor=\"end\">%.0f</text>"
                "<text x=\"44\" y=\"%.0f\" text-anchor=\"end\">0</text>"
                "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">simulated time, s "
                "(0&ndash;%.0f); y: p95 TTFT, ms</text>\n",
            TL_W - 20, bottom, bottom, top, bottom, top + 4, max_ms, bottom + 4, (TL_W + 30) / 2,
            TL_H - 8, span_s);
    for (int g = 0; g < WP_REGION_COUNT; g++) {
        fprintf(fp, "<polyline class=\"tl\" data-region=\"%s\" stroke=\"%s\" points=\"",
                wp_region_name((wp_region)g), region_colour[g]);
        int k = 0;
        for (size_t i = 0; i < r->tl_n; i++) {
            double v = tl_p95_ms(r, i, g);
            if (v <= 0)
                continue;
            fprintf(fp, "%s%.1f,%.1f", k++ ? " " : "",
                    tl_x(span_s, ((double)i + 0.5) * r->tl_interval_s),
                    bottom - (bottom - top) * v / max_ms);
        }
        fprintf(fp, "\"><title>%s</title></polyline>\n", wp_region_name((wp_region)g));
    }
    fputs("</svg>", fp);
    write_region_legend(fp, r, "Line of each region");
    fputs("</figure>\n<details><summary>Timeline as a table</summary><table "
          "class=\"timeline-table\"><caption>p95 TTFT in ms (errors) by interval and region"
          "</caption><thead><tr><th scope=\"col\">from, s</th>",
          fp);
    for (int g = 0; g < WP_REGION_COUNT; g++)
        fprintf(fp, "<th scope=\"col\">%s</th>", wp_region_name((wp_region)g));
    fputs("</tr></thead><tbody>\n", fp);
    for (size_t i = 0; i < r->tl_n; i++) {
        fprintf(fp, "<tr><th scope=\"row\">%g</th>", (double)i * r->tl_interval_s);
        for (int g = 0; g < WP_REGION_COUNT; g++) {
            double v = tl_p95_ms(r, i, g);
            fputs("<td>", fp);
            if (v > 0)
                put_ms(fp, v);
            else
                fputs("&ndash;", fp);
            fprintf(fp, " (%u)</td>", r->tl[i * WP_REGION_COUNT + (size_t)g].errors);
        }
        fputs("</tr>\n", fp);
    }
    fputs("</tbody></table></details>\n", fp);
}

/* ---------------------------------------------------------------- vs sim */

static void write_vs_sim(FILE *fp, const wpctl_html_page *page)
{
    const wpctl_html_vs_sim *vs = page->vs_sim;
    const wp_sim_result *live = page->run[0].res, *sim = vs->sim;
    fputs("<section class=\"vs-sim\"><h2>Live against the simulator</h2>"
          "<table class=\"vs-sim-table\"><caption>TTFT by region, live run and simulation of ",
          fp);
    esc(fp, vs->scenario);
    fputs(" (ms; difference of p95: (live &minus; sim) / sim)</caption><thead><tr>"
          "<th scope=\"col\">region</th><th scope=\"col\">live n</th>"
          "<th scope=\"col\">live p50</th><th scope=\"col\">live p95</th>"
          "<th scope=\"col\">sim n</th><th scope=\"col\">sim p50</th>"
          "<th scope=\"col\">sim p95</th><th scope=\"col\">p95 difference</th></tr></thead>"
          "<tbody>\n",
          fp);
    for (int g = 0; g <= WP_REGION_COUNT; g++) {
        const wp_sim_stats *l = g < WP_REGION_COUNT ? &live->region[g] : &live->all;
        const wp_sim_stats *s = g < WP_REGION_COUNT ? &sim->region[g] : &sim->all;
        if (l->requests == 0 && s->requests == 0)
            continue;
        fprintf(fp, "<tr><th scope=\"row\">%s</th>",
                g < WP_REGION_COUNT ? wp_region_name((wp_region)g) : "all");
        const wp_sim_stats *side[2] = {l, s};
        for (int k = 0; k < 2; k++) {
            fprintf(fp, "<td>%llu</td>", (unsigned long long)side[k]->ttft_ns.count);
            for (int p = 0; p < 2; p++) {
                fputs("<td>", fp);
                if (side[k]->ttft_ns.count)
                    put_ms(fp, q_ms(&side[k]->ttft_ns, p ? 0.95 : 0.5));
                else
                    fputs("&ndash;", fp);
                fputs("</td>", fp);
            }
        }
        double sp = s->ttft_ns.count ? q_ms(&s->ttft_ns, 0.95) : 0;
        if (l->ttft_ns.count && sp > 0)
            fprintf(fp, "<td>%+.0f%%</td></tr>\n", 100.0 * (q_ms(&l->ttft_ns, 0.95) - sp) / sp);
        else
            fputs("<td>&ndash;</td></tr>\n", fp);
    }
    fputs("</tbody></table></section>\n", fp);
}

/* ---------------------------------------------------------------- page */

static int write_page(const wpctl_html_page *page, FILE *fp, wp_err *err)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>",
          fp);
    esc(fp, page->title);
    fprintf(fp, "</title>\n<style>\n%s</style>\n<script>%s</script>\n</head>\n<body>\n",
            page_css, head_js);
    fputs("<header><h1>", fp);
    esc(fp, page->title);
    fputs("</h1><p class=\"note\">", fp);
    esc(fp, page->source);
    bool any_sim = false;
    for (size_t i = 0; i < page->nruns; i++)
        any_sim |= page->run[i].simulated;
    if (any_sim)
        fputs(". Simulated runs are SIMULATED: the network is the project's RTT model and GPUs "
              "are a timing model (see <code>wpctl sim --help</code>).",
              fp);
    fputs("</p></header>\n", fp);

    /* The outlines, once, for every map to <use>. */
    fputs("<svg width=\"0\" height=\"0\" style=\"position:absolute\" aria-hidden=\"true\">"
          "<defs><g id=\"world\">\n",
          fp);
    int rv = wpctl_map_outlines_svg(fp, err);
    if (rv != WP_OK)
        return rv;
    fputs("</g></defs></svg>\n", fp);

    axis a = {INFINITY, 0};
    for (size_t i = 0; i < page->nruns; i++)
        axis_extend(&a, page->run[i].res);
    axis_round(&a);

    fprintf(fp, "<main><div class=\"runs\" style=\"--n:%zu\">\n", page->nruns);
    for (size_t i = 0; i < page->nruns; i++) {
        const wpctl_html_run *run = &page->run[i];
        fprintf(fp, "<section class=\"run\" aria-labelledby=\"run-h%zu\"><h2 id=\"run-h%zu\">", i,
                i);
        esc(fp, run->label);
        if (run->simulated)
            fputs(" (simulated)", fp);
        fputs("</h2>\n", fp);
        if (write_map(fp, run, i) != WP_OK)
            return wp_errf(err, WP_ENOMEM, "out of memory");
        write_cdf(fp, run, i, &a);
        write_figures(fp, run);
        if (write_cities(fp, run) != WP_OK)
            return wp_errf(err, WP_ENOMEM, "out of memory");
        write_timeline(fp, run, i);
        fputs("</section>\n", fp);
    }
    fputs("</div>\n", fp);
    if (page->vs_sim)
        write_vs_sim(fp, page);
    fputs("</main>\n<footer class=\"note\"><h2>Sources</h2><p>Map outlines: "
          "Natural Earth 1:110m (public domain, naturalearthdata.com), as TopoJSON from "
          "world-atlas 2.0.2 (ISC licence, &copy; 2013&ndash;2019 Michael Bostock). "
          "City positions: SimpleMaps World Cities Database, basic (CC BY 4.0, "
          "simplemaps.com). Made by <code>wpctl</code>; nothing on this page is loaded from "
          "the network.</p></footer>\n",
          fp);
    fprintf(fp, "<script>\n%s</script>\n</body></html>\n", body_js);
    return WP_OK;
}

int wpctl_html_write(const wpctl_html_page *page, const char *path, wp_err *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return wp_errf(err, WP_EINVAL, "%s: path too long", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return wp_errf(err, WP_EIO, "%s: cannot write: %s", path, strerror(errno));
    int rv = write_page(page, fp, err);
    if (fclose(fp) != 0 && rv == WP_OK)
        rv = wp_errf(err, WP_EIO, "%s: write error", path);
    if (rv == WP_OK && rename(tmp, path) != 0)
        rv = wp_errf(err, WP_EIO, "%s: cannot replace: %s", path, strerror(errno));
    if (rv != WP_OK)
        remove(tmp);
    return rv;
}

/* ---------------------------------------------------------------- callers */

int wpctl_html_sim(const char *path, wp_sim_result *const *res, size_t n, const char *source,
                   wp_err *err)
{
    wpctl_html_page page = {.source = source, .nruns = n > 2 ? 2 : n};
    char title[2 * WP_NAME_MAX + 64];
    if (n > 1)
        snprintf(title, sizeof title, "warmpath simulation: %s vs %s", res[0]->scenario,
                 res[1]->scenario);
    else
        snprintf(title, sizeof title, "warmpath simulation: %s", res[0]->scenario);
    page.title = title;
    for (size_t i = 0; i < page.nruns; i++)
        page.run[i] = (wpctl_html_run){.label = res[i]->scenario, .res = res[i],
                                       .simulated = true};
    return wpctl_html_write(&page, path, err);
}

int wpctl_html_live(const char *path, struct wpctl_report *rep, const char *input,
                    const wpctl_html_vs_sim *vs, wp_err *err)
{
    size_t unplaced = 0;
    int rv = wpctl_html_live_places(rep, &unplaced, err);
    if (rv != WP_OK)
        return rv;
    char source[4200];
    snprintf(source, sizeof source, "wpctl report of the traffic results file %s%s", input,
             unplaced ? " (some user names are not among the shipped cities and are not on "
                        "the map)"
                      : "");
    wpctl_html_page page = {.title = "warmpath live traffic report", .source = source,
                            .nruns = 1, .vs_sim = vs};
    page.run[0] = (wpctl_html_run){.label = "live traffic", .res = rep->res};
    return wpctl_html_write(&page, path, err);
}
