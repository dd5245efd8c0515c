/* wpctl report — p50/p95/p99, cold starts and errors by region of a traffic
 * results file (written by `wpctl traffic --out`), in `wpctl sim`'s format.
 *
 *   wpctl report [FILE] [--json] */
#include "tools/wpctl/results.h"
#include "tools/wpctl/wpctl.h"

#include <getopt.h>

static const char *const help_report =
    "usage: wpctl report [FILE] [--json]\n\n"
    "Reads a traffic results file (CSV written by `wpctl traffic --out FILE`;\n"
    "FILE - or none reads stdin) and prints, by region of the user, requests\n"
    "sent, p50/p95/p99 of TTFT (user send -> first token back), p95 of the\n"
    "full response and cold starts, in the same table and JSON as `wpctl sim`,\n"
    "plus sent, ok and errors (sent = ok + errors; every request is one row,\n"
    "timeouts included) and the errors by reason. Latency percentiles cover\n"
    "the successful requests.\n\n"
    "Columns of FILE:\n  " WPCTL_RESULTS_HEADER "\n\n"
    "  --json   one JSON object: scenario, seed, requests, wall_s, requests_per_s,\n"
    "           sent, ok, errors, counts_add_up, retried, errors_by_reason,\n"
    "           regions{REGION{requests, p50_ms, p95_ms, p99_ms, total_p95_ms,\n"
    "           cold_starts, model_loads, container_starts, isolate_starts, sent,\n"
    "           ok, errors}}, all{...}\n";

int wpctl_report_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'h': fputs(help_report, stdout); return WPCTL_OK;
        default: return wpctl_usage_error("report", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind > 1)
        return wpctl_usage_error("report", "unexpected argument '%s'", argv[optind + 1]);
    const char *path = optind < argc ? argv[optind] : "-";
    wp_err err;
    wp_err_clear(&err);
    wpctl_report rep;
    if (wpctl_report_load(path, &rep, &err) != WP_OK)
        return wpctl_fail("%s", wp_err_text(&err));
    if (json)
        wpctl_report_print_json(&rep, "live", stdout);
    else
        wpctl_report_print_table(&rep, path, stdout);
    wpctl_report_free(&rep);
    return WPCTL_OK;
}
