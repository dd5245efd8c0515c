/* csv.c — a bounded CSV reader with errors that name file, line and column.
 * Written by hand: libc has none, and the data we read (presets, traces,
 * measured pings) needs only quoted fields on single lines. */
#include "common/common.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int wp_csv_open_fp(wp_csv *c, FILE *fp, const char *name, wp_err *err)
{
    memset(c, 0, sizeof *c);
    c->buf = malloc(WP_CSV_MAX_LINE + 2);
    c->raw = malloc(WP_CSV_MAX_LINE + 2);
    if (c->buf == NULL || c->raw == NULL) {
        free(c->buf);
        free(c->raw);
        return wp_errf(err, WP_ENOMEM, "%s: out of memory", name);
    }
    c->fp = fp;
    snprintf(c->path, sizeof c->path, "%s", name);
    return WP_OK;
}

int wp_csv_open(wp_csv *c, const char *path, wp_err *err)
{
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *fp = is_stdin ? stdin : fopen(path, "r");
    if (fp == NULL)
        return wp_errf(err, WP_EIO, "%s: %s", path, strerror(errno));
    int rv = wp_csv_open_fp(c, fp, is_stdin ? "<stdin>" : path, err);
    if (rv != WP_OK) {
        if (!is_stdin)
            fclose(fp);
        return rv;
    }
    c->own_fp = !is_stdin;
    return WP_OK;
}

void wp_csv_close(wp_csv *c)
{
    if (c->own_fp && c->fp)
        fclose(c->fp);
    free(c->buf);
    free(c->raw);
    memset(c, 0, sizeof *c);
}

/* Splits the line in c->raw into c->buf, filling c->fields. */
static int split(wp_csv *c, wp_err *err)
{
    const char *p = c->raw;
    char *out = c->buf;
    c->nfields = 0;
    for (;;) {
        if (c->nfields == WP_CSV_MAX_FIELDS)
            return wp_errf(err, WP_ETOOBIG, "%s:%ld: more than %d fields", c->path, c->line_no,
                           WP_CSV_MAX_FIELDS);
        c->fields[c->nfields++] = out;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0')
                    return wp_errf(err, WP_EPARSE, "%s:%ld: field %zu: unterminated quote",
                                   c->path, c->line_no, c->nfields);
                if (*p == '"') {
                    if (p[1] == '"') {
                        *out++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *out++ = *p++;
            }
            if (*p != ',' && *p != '\0')
                return wp_errf(err, WP_EPARSE,
                               "%s:%ld: field %zu: expected ',' after closing quote", c->path,
                               c->line_no, c->nfields);
        } else {
            while (*p != ',' && *p != '\0')
                *out++ = *p++;
        }
        *out++ = '\0';
        if (*p == '\0')
            return WP_OK;
        p++; /* the comma */
    }
}

int wp_csv_next(wp_csv *c, wp_err *err)
{
    for (;;) {
        if (fgets(c->raw, WP_CSV_MAX_LINE + 2, c->fp) == NULL) {
            if (ferror(c->fp))
                return wp_errf(err, WP_EIO, "%s: read error", c->path);
            return WP_ENOTFOUND;
        }
        c->line_no++;
        size_t len = strlen(c->raw);
        /* The cap is on the content: a line of WP_CSV_MAX_LINE bytes and
         * its newline fills the buffer and is fine. */
        if (len > WP_CSV_MAX_LINE && c->raw[len - 1] != '\n')
            return wp_errf(err, WP_ETOOBIG, "%s:%ld: line longer than %d bytes", c->path,
                           c->line_no, WP_CSV_MAX_LINE);
        if (len > 0 && c->raw[len - 1] == '\n')
            c->raw[--len] = '\0';
        else if (!feof(c->fp))
            /* fgets stopped at neither a newline, the end nor a full buffer
             * (that is caught above): strlen stopped early, at a NUL byte. */
            return wp_errf(err, WP_EPARSE, "%s:%ld: NUL byte in the line (not a text file)",
                           c->path, c->line_no);
        if (len > 0 && c->raw[len - 1] == '\r')
            c->raw[--len] = '\0';
        /* Skip a UTF-8 byte-order mark on the first line. */
        if (c->line_no == 1 && (unsigned char)c->raw[0] == 0xEF &&
            (unsigned char)c->raw[1] == 0xBB && (unsigned char)c->raw[2] == 0xBF)
            memmove(c->raw, c->raw + 3, len - 2);
        if (c->raw[0] == '\0')
            continue;
        return split(c, err);
    }
}

int wp_csv_find(const wp_csv *c, const char *name)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < c->nfields; i++) {
        const char *f = c->fields[i];
        while (*f == ' ')
            f++;
        size_t flen = strlen(f);
        while (flen > 0 && f[flen - 1] == ' ')
            flen--;
        if (flen == nlen && memcmp(f, name, nlen) == 0)
            return (int)i;
    }
    return -1;
}

int wp_parse_double(const char *s, double *out)
{
    if (s == NULL)
        return WP_EINVAL;
    while (*s == ' ')
        s++;
    if (*s == '\0')
        return WP_EPARSE;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (*end != '\0' || errno == ERANGE || !isfinite(v))
        return WP_EPARSE;
    *out = v;
    return WP_OK;
}

int wp_parse_int64(const char *s, int64_t *out)
{
    if (s == NULL)
        return WP_EINVAL;
    while (*s == ' ')
        s++;
    if (*s == '\0')
        return WP_EPARSE;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    while (*end == ' ')
        end++;
    if (*end != '\0' || errno == ERANGE)
        return WP_EPARSE;
    *out = v;
    return WP_OK;
}

int wp_parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL)
        return WP_EINVAL;
    while (*s == ' ')
        s++;
    if (*s == '-')
        return WP_EPARSE;
    char *end;
    errno = 0;
    unsigned long long u = strtoull(s, &end, 10);
    while (*end == ' ')
        end++;
    if (*s == '\0' || *end != '\0' || errno == ERANGE)
        return WP_EPARSE;
    *out = u;
    return WP_OK;
}

int wp_csv_double(const wp_csv *c, size_t i, const char *colname, double *out, wp_err *err)
{
    if (i >= c->nfields)
        return wp_errf(err, WP_EPARSE, "%s:%ld: column %s: missing (line has %zu fields)",
                       c->path, c->line_no, colname, c->nfields);
    if (wp_parse_double(c->fields[i], out) != WP_OK)
        return wp_errf(err, WP_EPARSE, "%s:%ld: column %s: expected a number, got '%.40s'",
                       c->path, c->line_no, colname, c->fields[i]);
    return WP_OK;
}

int wp_csv_int64(const wp_csv *c, size_t i, const char *colname, int64_t *out, wp_err *err)
{
    if (i >= c->nfields)
        return wp_errf(err, WP_EPARSE, "%s:%ld: column %s: missing (line has %zu fields)",
                       c->path, c->line_no, colname, c->nfields);
    if (wp_parse_int64(c->fields[i], out) != WP_OK)
        return wp_errf(err, WP_EPARSE, "%s:%ld: column %s: expected an integer, got '%.40s'",
                       c->path, c->line_no, colname, c->fields[i]);
    return WP_OK;
}
