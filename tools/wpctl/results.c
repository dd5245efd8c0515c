/* results.c — the traffic results file (see results.h for the format) and
 * its aggregation into the simulator's report structure, so `wpctl report`
 * prints what `wpctl sim` prints, line for line. Latency histograms hold
 * successful requests only (as in the simulator, where an error records
 * no latency); every row counts in `requests`. */
#include "tools/wpctl/results.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A field with a comma or a quote is written quoted (quotes doubled), as
 * common/csv.c reads it back; line breaks become spaces, since a row is one
 * line. */
static void put_text(FILE *fp, const char *s)
{
    bool quote = strpbrk(s, ",\"") != NULL;
    if (quote)
        fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', fp);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, fp);
    }
    if (quote)
        fputc('"', fp);
}

void wpctl_results_write_header(FILE *fp)
{
    fputs(WPCTL_RESULTS_HEADER "\n", fp);
}

void wpctl_results_write_row(FILE *fp, const wpctl_result_row *r)
{
    fprintf(fp, "%llu,", (unsigned long long)r->id);
    put_text(fp, r->user);
    fprintf(fp, ",%s,", wp_region_name(r->region));
    put_text(fp, r->ingress);
    fputc(',', fp);
    put_text(fp, r->node);
    fputc(',', fp);
    put_text(fp, r->model);
    fputc(',', fp);
    put_text(fp, r->status);
    fputc(',', fp);
    put_text(fp, r->reason);
    fprintf(fp, ",%llu,%llu,%llu,%d,%d,", (unsigned long long)r->send_us,
            (unsigned long long)r->ttft_us, (unsigned long long)r->total_us, r->cold ? 1 : 0,
            r->retried ? 1 : 0);
    put_text(fp, r->first_target);
    fputc('\n', fp);
}

int wpctl_report_init(wpctl_report *rep, wp_err *err)
{
    memset(rep, 0, sizeof *rep);
    rep->res = wp_sim_result_new();
    if (!rep->res)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    snprintf(rep->res->scenario, sizeof rep->res->scenario, "live");
    for (int i = 0; i < WP_REGION_COUNT; i++) {
        wp_hist_init(&rep->res->region[i].ttft_ns);
        wp_hist_init(&rep->res->region[i].total_ns);
    }
    rep->first_send_us = UINT64_MAX;
    return WP_OK;
}

void wpctl_report_free(wpctl_report *rep)
{
    wp_sim_result_free(rep->res);
    free(rep->ids);
    wpctl_places_free(rep->places);
    memset(rep, 0, sizeof *rep);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Duplicate ids are found at finish (sort); add only appends. */
static int remember_id(wpctl_report *rep, uint64_t id, wp_err *err)
{
    if (rep->nids == rep->cap_ids) {
        size_t cap = rep->cap_ids ? rep->cap_ids * 2 : 1024;
        uint64_t *p = realloc(rep->ids, cap * sizeof *p);
        if (!p)
            return wp_errf(err, WP_ENOMEM, "out of memory");
        rep->ids = p;
        rep->cap_ids = cap;
    }
    rep->ids[rep->nids++] = id;
    return WP_OK;
}

int wpctl_report_add(wpctl_report *rep, const wpctl_result_row *row, wp_err *err)
{
    int rv = remember_id(rep, row->id, err);
    if (rv == WP_OK)
        rv = wpctl_places_add(rep, row, err);
    if (rv != WP_OK)
        return rv;
    wp_sim_stats *st = &rep->res->region[row->region];
    st->requests++;
    rep->sent++;
    if (row->send_us < rep->first_send_us)
        rep->first_send_us = row->send_us;
    uint64_t end = row->send_us + row->total_us;
    if (end > rep->last_end_us)
        rep->last_end_us = end;
    if (row->retried)
        rep->retried++;
    if (strcmp(row->status, "ok") == 0) {
        rep->ok++;
        rep->region_ok[row->region]++;
        wp_hist_record(&st->ttft_ns, row->ttft_us * 1000u);
        wp_hist_record(&st->total_ns, row->total_us * 1000u);
        if (row->cold) {
            st->cold_starts++;
            st->model_loads++;
        }
        return WP_OK;
    }
    rep->errors++;
    st->errors++;
    size_t k = 0;
    while (k < rep->nreasons && strcmp(rep->reason_code[k], row->status) != 0)
        k++;
    if (k == rep->nreasons) {
        if (rep->nreasons < WPCTL_REPORT_MAX_REASONS) {
            snprintf(rep->reason_code[k], sizeof rep->reason_code[k], "%s", row->status);
            rep->nreasons++;
        } else {
            k = WPCTL_REPORT_MAX_REASONS - 1;
            snprintf(rep->reason_code[k], sizeof rep->reason_code[k], "OTHER");
        }
    }
    rep->reason_count[k]++;
    return WP_OK;
}

void wpctl_report_finish(wpctl_report *rep)
{
    wp_sim_result *r = rep->res;
    memset(&r->all, 0, sizeof r->all);
    wp_hist_init(&r->all.ttft_ns);
    wp_hist_init(&r->all.total_ns);
    for (int i = 0; i < WP_REGION_COUNT; i++) {
        const wp_sim_stats *st = &r->region[i];
        r->all.requests += st->requests;
        r->all.errors += st->errors;
        r->all.cold_starts += st->cold_starts;
        r->all.model_loads += st->model_loads;
        wp_hist_merge(&r->all.ttft_ns, &st->ttft_ns);
        wp_hist_merge(&r->all.total_ns, &st->total_ns);
    }
    r->requests = rep->sent;
    r->sim_end_s = rep->sent ? (double)(rep->last_end_us - rep->first_send_us) / 1e6 : 0;
}

static int copy_field(const wp_csv *c, size_t i, const char *col, char *dst, size_t cap,
                      wp_err *err)
{
    size_t n = strlen(c->fields[i]);
    if (n >= cap)
        return wp_errf(err, WP_EPARSE, "%s:%ld: column %s: longer than %zu bytes", c->path,
                       c->line_no, col, cap - 1);
    memcpy(dst, c->fields[i], n + 1);
    return WP_OK;
}

static int parse_u64(const wp_csv *c, size_t i, const char *col, uint64_t *out, wp_err *err)
{
    if (wp_parse_u64(c->fields[i], out) != WP_OK)
        return wp_errf(err, WP_EPARSE, "%s:%ld: column %s: expected an unsigned integer, got '%s'",
                       c->path, c->line_no, col, c->fields[i]);
    return WP_OK;
}

static int parse_flag(const wp_csv *c, size_t i, const char *col, bool *out, wp_err *err)
{
    const char *s = c->fields[i];
    if (strcmp(s, "0") != 0 && strcmp(s, "1") != 0)
        return wp_errf(err, WP_EPARSE, "%s:%ld: column %s: expected 0 or 1, got '%s'", c->path,
                       c->line_no, col, s);
    *out = s[0] == '1';
    return WP_OK;
}

static bool status_ok(const char *s)
{
    if (strcmp(s, "ok") == 0)
        return true;
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || *s == '_' || (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

static const char *const columns[] = {"id",      "user",    "region",   "ingress", "node",
                                      "model",   "status",  "reason",   "send_us", "ttft_us",
                                      "total_us", "cold",   "retried",  "first_target"};
#define NCOLS (sizeof columns / sizeof columns[0])

static int parse_row(const wp_csv *c, wpctl_result_row *r, wp_err *err)
{
    if (c->nfields != NCOLS)
        return wp_errf(err, WP_EPARSE, "%s:%ld: expected %zu fields, got %zu", c->path,
                       c->line_no, NCOLS, c->nfields);
    memset(r, 0, sizeof *r);
    int rv;
    if ((rv = parse_u64(c, 0, "id", &r->id, err)) != WP_OK ||
        (rv = copy_field(c, 1, "user", r->user, sizeof r->user, err)) != WP_OK)
        return rv;
    if (wp_region_parse(c->fields[2], &r->region) != WP_OK)
        return wp_errf(err, WP_EPARSE, "%s:%ld: column region: unknown region '%s'", c->path,
                       c->line_no, c->fields[2]);
    if ((rv = copy_field(c, 3, "ingress", r->ingress, sizeof r->ingress, err)) != WP_OK ||
        (rv = copy_field(c, 4, "node", r->node, sizeof r->node, err)) != WP_OK ||
        (rv = copy_field(c, 5, "model", r->model, sizeof r->model, err)) != WP_OK ||
        (rv = copy_field(c, 6, "status", r->status, sizeof r->status, err)) != WP_OK ||
        (rv = copy_field(c, 7, "reason", r->reason, sizeof r->reason, err)) != WP_OK ||
        (rv = parse_u64(c, 8, "send_us", &r->send_us, err)) != WP_OK ||
        (rv = parse_u64(c, 9, "ttft_us", &r->ttft_us, err)) != WP_OK ||
        (rv = parse_u64(c, 10, "total_us", &r->total_us, err)) != WP_OK ||
        (rv = parse_flag(c, 11, "cold", &r->cold, err)) != WP_OK ||
        (rv = parse_flag(c, 12, "retried", &r->retried, err)) != WP_OK ||
        (rv = copy_field(c, 13, "first_target", r->first_target, sizeof r->first_target, err)) !=
            WP_OK)
        return rv;
    if (!status_ok(r->status))
        return wp_errf(err, WP_EPARSE,
                       "%s:%ld: column status: expected ok or an error code, got '%s'", c->path,
                       c->line_no, r->status);
    if (strcmp(r->status, "ok") == 0 && r->ttft_us > r->total_us)
        return wp_errf(err, WP_EPARSE, "%s:%ld: ttft_us %llu is more than total_us %llu",
                       c->path, c->line_no, (unsigned long long)r->ttft_us,
                       (unsigned long long)r->total_us);
    /* Latencies above an hour are not measurements (and would overflow ns). */
    if (r->total_us > 3600000000ull || r->send_us > 86400000000ull)
        return wp_errf(err, WP_EPARSE, "%s:%ld: send_us or total_us out of range", c->path,
                       c->line_no);
    return WP_OK;
}

int wpctl_report_load(const char *path, wpctl_report *rep, wp_err *err)
{
    int rv = wpctl_report_init(rep, err);
    if (rv != WP_OK)
        return rv;
    wp_csv c;
    if ((rv = wp_csv_open(&c, path, err)) != WP_OK) {
        wpctl_report_free(rep);
        return rv;
    }
    rv = wp_csv_next(&c, err);
    if (rv == WP_ENOTFOUND) {
        rv = wp_errf(err, WP_EPARSE, "%s:1: empty file (no header)", c.path);
        goto out;
    }
    if (rv != WP_OK)
        goto out;
    bool header_ok = c.nfields == NCOLS;
    for (size_t i = 0; header_ok && i < NCOLS; i++)
        header_ok = wp_csv_find(&c, columns[i]) == (int)i;
    if (!header_ok) {
        rv = wp_errf(err, WP_EPARSE, "%s:%ld: expected the header '%s'", c.path, c.line_no,
                     WPCTL_RESULTS_HEADER);
        goto out;
    }
    for (;;) {
        rv = wp_csv_next(&c, err);
        if (rv == WP_ENOTFOUND) {
            rv = WP_OK;
            break;
        }
        if (rv != WP_OK)
            goto out;
        wpctl_result_row row;
        if ((rv = parse_row(&c, &row, err)) != WP_OK)
            goto out;
        if ((rv = wpctl_report_add(rep, &row, err)) != WP_OK)
            goto out;
    }
    /* Each request has exactly one row: a duplicate id means a request was
     * answered twice (or two files were concatenated). */
    qsort(rep->ids, rep->nids, sizeof *rep->ids, cmp_u64);
    for (size_t i = 1; i < rep->nids; i++)
        if (rep->ids[i] == rep->ids[i - 1]) {
            rv = wp_errf(err, WP_EPARSE, "%s: request id %llu appears more than once", c.path,
                         (unsigned long long)rep->ids[i]);
            goto out;
        }
    wpctl_report_finish(rep);
out:
    wp_csv_close(&c);
    if (rv != WP_OK)
        wpctl_report_free(rep);
    return rv;
}

static double span_s(const wpctl_report *rep)
{
    return rep->sent ? (double)(rep->last_end_us - rep->first_send_us) / 1e6 : 0;
}

void wpctl_report_print_table(const wpctl_report *rep, const char *label, FILE *fp)
{
    double s = span_s(rep);
    fprintf(fp, "live traffic %s, %llu requests over %.1f s (%.1f requests/s)\n", label,
            (unsigned long long)rep->sent, s, s > 0 ? (double)rep->sent / s : 0.0);
    wp_sim_report_table_rows(rep->res, fp);
    fprintf(fp, "sent %llu = ok %llu + errors %llu (%s); retried %llu\n",
            (unsigned long long)rep->sent, (unsigned long long)rep->ok,
            (unsigned long long)rep->errors,
            rep->sent == rep->ok + rep->errors ? "counts add up" : "COUNTS DO NOT ADD UP",
            (unsigned long long)rep->retried);
    if (rep->errors) {
        fputs("errors by reason:", fp);
        for (size_t k = 0; k < rep->nreasons; k++)
            fprintf(fp, " %s %llu", rep->reason_code[k], (unsigned long long)rep->reason_count[k]);
        fputs("\nerrors by region:", fp);
        for (int i = 0; i < WP_REGION_COUNT; i++)
            if (rep->res->region[i].errors)
                fprintf(fp, " %s %llu", wp_region_name((wp_region)i),
                        (unsigned long long)rep->res->region[i].errors);
        fputc('\n', fp);
    }
    fputs("cold_starts = model_loads = requests whose serving node loaded the model; latency of\n"
          "successful requests only\n",
          fp);
}

static void json_region(wp_json *j, const wp_sim_stats *st, uint64_t ok)
{
    wp_json_obj_begin(j);
    wp_sim_report_json_fields(j, st);
    wp_json_key(j, "sent");
    wp_json_uint(j, st->requests);
    wp_json_key(j, "ok");
    wp_json_uint(j, ok);
    wp_json_key(j, "errors");
    wp_json_uint(j, st->errors);
    wp_json_obj_end(j);
}

void wpctl_report_print_json(const wpctl_report *rep, const char *label, FILE *fp)
{
    wp_json j;
    wp_json_init(&j, fp, false);
    wpctl_report_json(rep, label, &j);
    wp_json_end(&j);
}

void wpctl_report_json(const wpctl_report *rep, const char *label, wp_json *jp)
{
    double s = span_s(rep);
    wp_json_obj_begin(jp);
    wp_json_key(jp, "scenario");
    wp_json_str(jp, label);
    wp_json_key(jp, "seed");
    wp_json_uint(jp, rep->res->seed);
    wp_json_key(jp, "requests");
    wp_json_uint(jp, rep->sent);
    wp_json_key(jp, "wall_s");
    wp_json_double(jp, s);
    wp_json_key(jp, "requests_per_s");
    wp_json_double(jp, s > 0 ? (double)rep->sent / s : 0);
    wp_json_key(jp, "sent");
    wp_json_uint(jp, rep->sent);
    wp_json_key(jp, "ok");
    wp_json_uint(jp, rep->ok);
    wp_json_key(jp, "errors");
    wp_json_uint(jp, rep->errors);
    wp_json_key(jp, "counts_add_up");
    wp_json_bool(jp, rep->sent == rep->ok + rep->errors);
    wp_json_key(jp, "retried");
    wp_json_uint(jp, rep->retried);
    wp_json_key(jp, "errors_by_reason");
    wp_json_obj_begin(jp);
    for (size_t k = 0; k < rep->nreasons; k++) {
        wp_json_key(jp, rep->reason_code[k]);
        wp_json_uint(jp, rep->reason_count[k]);
    }
    wp_json_obj_end(jp);
    wp_json_key(jp, "regions");
    wp_json_obj_begin(jp);
    for (int i = 0; i < WP_REGION_COUNT; i++) {
        wp_json_key(jp, wp_region_name((wp_region)i));
        json_region(jp, &rep->res->region[i], rep->region_ok[i]);
    }
    wp_json_obj_end(jp);
    wp_json_key(jp, "all");
    json_region(jp, &rep->res->all, rep->ok);
    wp_json_obj_end(jp);
}
