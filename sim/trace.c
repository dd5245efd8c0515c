/* trace.c — reading a request trace to replay (Azure LLM / Mooncake).
 *
 * The format is told by the header line; the whole trace is read into one
 * array of {at_ns, in_tokens, out_tokens} (16 bytes a row), grown by
 * doubling up to WP_SIM_TRACE_MAX_ROWS. Arrival offsets are relative to the
 * first row. Every error names file:line (and the column, via wp_csv).
 * Azure timestamps are civil UTC date-times; days are counted with the
 * proleptic Gregorian days-from-civil formula (a public algorithm, written
 * here from its definition: shift the year to start in March so the leap
 * day is last).
 */
#include "sim/sim.h"

#include <stdlib.h>
#include <string.h>

enum { FMT_AZURE, FMT_MOONCAKE };

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int64_t *out)
{
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "YYYY-MM-DD HH:MM:SS[.fffffffff]" → ns since 1970 (UTC). */
static int parse_datetime(const char *s, int64_t *out_ns)
{
    while (*s == ' ')
        s++;
    int64_t y, mo, d, h, mi, se;
    if (strlen(s) < 19 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
        s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != ' ' && s[10] != 'T') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &se))
        return -1;
    /* Nanoseconds since 1970 fit an int64 from 1677 to 2262: keep to
     * 1970..2200 so neither the conversion nor a difference overflows. */
    if (y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        se > 60)
        return -1;
    int64_t frac_ns = 0;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        int64_t scale = 100000000;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 9)
                frac_ns += (*p - '0') * scale;
            scale /= 10;
            nd++;
            p++;
        }
        if (nd == 0)
            return -1;
    }
    while (*p == ' ')
        p++;
    if (*p != '\0' && strcmp(p, "Z") != 0)
        return -1;
    int64_t days = days_from_civil(y, mo, d);
    *out_ns = ((days * 86400 + h * 3600 + mi * 60 + se) * (int64_t)WP_NS_PER_S) + frac_ns;
    return 0;
}

static int tokens(const wp_csv *c, int col, const char *name, uint32_t *out, wp_err *err)
{
    int64_t v;
    int rv = wp_csv_int64(c, (size_t)col, name, &v, err);
    if (rv != WP_OK)
        return rv;
    if (v < 0 || v > 10000000)
        return wp_errf(err, WP_ERANGE, "%s:%ld: column %s: expected 0..10000000 tokens, got %lld",
                       c->path, c->line_no, name, (long long)v);
    *out = (uint32_t)v;
    return WP_OK;
}

int wp_sim_trace_load(const char *path, wp_sim_trace **out, wp_err *err)
{
    *out = NULL;
    wp_csv c;
    int rv = wp_csv_open(&c, path, err);
    if (rv != WP_OK)
        return rv;
    wp_sim_trace *t = calloc(1, sizeof *t);
    if (!t) {
        wp_csv_close(&c);
        return wp_errf(err, WP_ENOMEM, "%s: out of memory", path);
    }
    rv = wp_csv_next(&c, err);
    if (rv == WP_ENOTFOUND) {
        rv = wp_errf(err, WP_EPARSE, "%s: empty file (expected a trace header)", path);
        goto fail;
    }
    if (rv != WP_OK)
        goto fail;
    int fmt, cts, cin, cout;
    if ((cts = wp_csv_find(&c, "TIMESTAMP")) >= 0) {
        fmt = FMT_AZURE;
        cin = wp_csv_find(&c, "ContextTokens");
        cout = wp_csv_find(&c, "GeneratedTokens");
        snprintf(t->format, sizeof t->format, "azure");
    } else if ((cts = wp_csv_find(&c, "timestamp_ms")) >= 0) {
        fmt = FMT_MOONCAKE;
        cin = wp_csv_find(&c, "input_length");
        cout = wp_csv_find(&c, "output_length");
        snprintf(t->format, sizeof t->format, "mooncake");
    } else {
        rv = wp_errf(err, WP_EPARSE,
                     "%s:%ld: unknown trace format: expected a header "
                     "TIMESTAMP,ContextTokens,GeneratedTokens (Azure) or "
                     "timestamp_ms,input_length,output_length (Mooncake)",
                     path, c.line_no);
        goto fail;
    }
    if (cin < 0 || cout < 0) {
        rv = wp_errf(err, WP_EPARSE, "%s:%ld: %s trace header lacks the %s column", path,
                     c.line_no, t->format,
                     cin < 0 ? (fmt == FMT_AZURE ? "ContextTokens" : "input_length")
                             : (fmt == FMT_AZURE ? "GeneratedTokens" : "output_length"));
        goto fail;
    }
    size_t ncols = c.nfields;
    size_t cap = 0;
    int64_t first_ns = 0, prev_ns = 0;
    for (;;) {
        rv = wp_csv_next(&c, err);
        if (rv == WP_ENOTFOUND)
            break;
        if (rv != WP_OK)
            goto fail;
        if (c.nfields != ncols) {
            rv = wp_errf(err, WP_EPARSE, "%s:%ld: expected %zu fields, got %zu", path, c.line_no,
                         ncols, c.nfields);
            goto fail;
        }
        int64_t at_ns;
        if (fmt == FMT_AZURE) {
            if (parse_datetime(c.fields[cts], &at_ns) != 0) {
                rv = wp_errf(err, WP_EPARSE,
                             "%s:%ld: column TIMESTAMP: expected 'YYYY-MM-DD HH:MM:SS.fff', "
                             "got '%s'",
                             path, c.line_no, c.fields[cts]);
                goto fail;
            }
        } else {
            double ms;
            rv = wp_csv_double(&c, (size_t)cts, "timestamp_ms", &ms, err);
            if (rv != WP_OK)
                goto fail;
            /* 1e12 ms (31 years) keeps ms * 1e6 well inside an int64. */
            if (ms < 0 || ms > 1e12) {
                rv = wp_errf(err, WP_ERANGE, "%s:%ld: column timestamp_ms: out of range 0..1e12",
                             path, c.line_no);
                goto fail;
            }
            at_ns = (int64_t)(ms * 1e6 + 0.5);
        }
        if (t->nrows == 0)
            first_ns = prev_ns = at_ns;
        if (at_ns < prev_ns) {
            rv = wp_errf(err, WP_EPARSE, "%s:%ld: timestamps go backwards (rows must be in time order)",
                         path, c.line_no);
            goto fail;
        }
        prev_ns = at_ns;
        wp_sim_trace_row row = {.at_ns = (uint64_t)(at_ns - first_ns)};
        if ((rv = tokens(&c, cin, fmt == FMT_AZURE ? "ContextTokens" : "input_length",
                         &row.in_tokens, err)) != WP_OK ||
            (rv = tokens(&c, cout, fmt == FMT_AZURE ? "GeneratedTokens" : "output_length",
                         &row.out_tokens, err)) != WP_OK)
            goto fail;
        if (t->nrows == cap) {
            if (cap >= WP_SIM_TRACE_MAX_ROWS) {
                rv = wp_errf(err, WP_ETOOBIG, "%s:%ld: more than %u rows", path, c.line_no,
                             WP_SIM_TRACE_MAX_ROWS);
                goto fail;
            }
            size_t ncap = cap ? cap * 2 : 1024;
            if (ncap > WP_SIM_TRACE_MAX_ROWS)
                ncap = WP_SIM_TRACE_MAX_ROWS;
            wp_sim_trace_row *nr = realloc(t->rows, ncap * sizeof *nr);
            if (!nr) {
                rv = wp_errf(err, WP_ENOMEM, "%s: out of memory at %zu rows", path, t->nrows);
                goto fail;
            }
            t->rows = nr;
            cap = ncap;
        }
        t->rows[t->nrows++] = row;
    }
    if (t->nrows == 0) {
        rv = wp_errf(err, WP_EPARSE, "%s: no rows after the header", path);
        goto fail;
    }
    wp_csv_close(&c);
    *out = t;
    return WP_OK;
fail:
    wp_csv_close(&c);
    wp_sim_trace_free(t);
    return rv;
}

void wp_sim_trace_free(wp_sim_trace *t)
{
    if (!t)
        return;
    free(t->rows);
    free(t);
}
