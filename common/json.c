/* json.c — a streaming JSON writer (commas, nesting and escapes handled
 * here so every --json output is valid by construction). */
#include "common/common.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

void wp_json_init(wp_json *j, FILE *fp, bool pretty)
{
    memset(j, 0, sizeof *j);
    j->fp = fp;
    j->pretty = pretty;
    j->first[0] = true;
}

static void indent(wp_json *j)
{
    if (!j->pretty)
        return;
    fputc('\n', j->fp);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->fp);
}

/* Called before every value or key: writes the separator. */
static void pre_value(wp_json *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (!j->first[j->depth])
        fputc(',', j->fp);
    j->first[j->depth] = false;
    if (j->depth > 0)
        indent(j);
}

static void open_(wp_json *j, char ch)
{
    pre_value(j);
    fputc(ch, j->fp);
    if (j->depth + 1 < WP_JSON_MAX_DEPTH)
        j->depth++;
    j->first[j->depth] = true;
}

static void close_(wp_json *j, char ch)
{
    bool empty = j->first[j->depth];
    if (j->depth > 0)
        j->depth--;
    if (!empty)
        indent(j);
    fputc(ch, j->fp);
}

void wp_json_obj_begin(wp_json *j) { open_(j, '{'); }
void wp_json_obj_end(wp_json *j) { close_(j, '}'); }
void wp_json_arr_begin(wp_json *j) { open_(j, '['); }
void wp_json_arr_end(wp_json *j) { close_(j, ']'); }

void wp_json_write_escaped(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", fp); break;
        case '\\': fputs("\\\\", fp); break;
        case '\n': fputs("\\n", fp); break;
        case '\r': fputs("\\r", fp); break;
        case '\t': fputs("\\t", fp); break;
        default:
            if (*p < 0x20)
                fprintf(fp, "\\u%04x", *p);
            else
                fputc(*p, fp);
        }
    }
    fputc('"', fp);
}

void wp_json_key(wp_json *j, const char *key)
{
    pre_value(j);
    wp_json_write_escaped(j->fp, key);
    fputs(j->pretty ? ": " : ":", j->fp);
    j->after_key = true;
}

void wp_json_str(wp_json *j, const char *s)
{
    pre_value(j);
    if (s == NULL)
        fputs("null", j->fp);
    else
        wp_json_write_escaped(j->fp, s);
}

void wp_json_int(wp_json *j, int64_t v)
{
    pre_value(j);
    fprintf(j->fp, "%" PRId64, v);
}

void wp_json_uint(wp_json *j, uint64_t v)
{
    pre_value(j);
    fprintf(j->fp, "%" PRIu64, v);
}

void wp_json_double(wp_json *j, double v)
{
    pre_value(j);
    if (!isfinite(v)) {
        fputs("null", j->fp);
        return;
    }
    /* Fixed six decimals, trailing zeros trimmed: stable across runs and
     * readable ("12.5", "0.000123"). */
    char buf[64];
    if (fabs(v) >= 1e15) {
        /* "%.6f" of a huge value has up to 309 digits and was cut to 63
         * (1e308 came out as 1e62); print those in exponent form. */
        snprintf(buf, sizeof buf, "%.17g", v);
        fputs(buf, j->fp);
        return;
    }
    snprintf(buf, sizeof buf, "%.6f", v);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *end = buf + strlen(buf) - 1;
        while (end > dot && *end == '0')
            *end-- = '\0';
        if (end == dot)
            *end = '\0';
    }
    if (strcmp(buf, "-0") == 0)
        strcpy(buf, "0");
    fputs(buf, j->fp);
}

void wp_json_bool(wp_json *j, bool v)
{
    pre_value(j);
    fputs(v ? "true" : "false", j->fp);
}

void wp_json_null(wp_json *j)
{
    pre_value(j);
    fputs("null", j->fp);
}

void wp_json_end(wp_json *j)
{
    fputc('\n', j->fp);
    fflush(j->fp);
}
