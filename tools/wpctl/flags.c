/* wpctl's flag table: getopt_long table, conversion, bounds, one error
 * format and the generated --help (see flags.h). */
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define WPCTL_MAX_FLAGS 64
#define OPT_BASE 1000
#define OPT_HELP (OPT_BASE - 1)

static size_t flag_count(const wpctl_flag *f)
{
    size_t n = 0;
    while (f && f[n].kind != WPCTL_F_END)
        n++;
    return n;
}

static bool bounded(const wpctl_flag *f) { return f->lo <= f->hi; }

static int bad(const wpctl_spec *s, const char *fmt, ...) WP_PRINTF(2, 3);
static int bad(const wpctl_spec *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "wpctl %s: ", s->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return WPCTL_USAGE;
}

static int out_of_range(const wpctl_spec *s, const wpctl_flag *f, const char *arg)
{
    fprintf(stderr, "wpctl %s: --%s: out of range %s%.15g..%.15g%s: '%s'\n", s->name, f->name,
            f->lo_open ? "(" : "", f->lo, f->hi, f->lo_open ? "]" : "", arg);
    return WPCTL_USAGE;
}

static int store(const wpctl_spec *s, const wpctl_flag *f, const char *arg)
{
    if (f->seen)
        *f->seen = true;
    double v = 0;
    switch (f->kind) {
    case WPCTL_F_BOOL: *(bool *)f->dest = true; return WPCTL_CONTINUE;
    case WPCTL_F_STR: *(const char **)f->dest = arg; return WPCTL_CONTINUE;
    case WPCTL_F_I64: {
        int64_t x;
        if (wp_parse_int64(arg, &x) != WP_OK)
            return bad(s, "--%s: not a number: '%s'", f->name, arg);
        v = (double)x;
        if (bounded(f) && (v < f->lo || v > f->hi || (f->lo_open && v <= f->lo)))
            return out_of_range(s, f, arg);
        *(int64_t *)f->dest = x;
        return WPCTL_CONTINUE;
    }
    case WPCTL_F_U64:
    case WPCTL_F_U32: {
        uint64_t x;
        if (wp_parse_u64(arg, &x) != WP_OK)
            return bad(s, "--%s: not a number: '%s'", f->name, arg);
        v = (double)x;
        if ((bounded(f) && (v < f->lo || v > f->hi || (f->lo_open && v <= f->lo))) ||
            (f->kind == WPCTL_F_U32 && x > UINT32_MAX))
            return out_of_range(s, f, arg);
        if (f->kind == WPCTL_F_U32)
            *(uint32_t *)f->dest = (uint32_t)x;
        else
            *(uint64_t *)f->dest = x;
        return WPCTL_CONTINUE;
    }
    case WPCTL_F_DOUBLE:
        if (wp_parse_double(arg, &v) != WP_OK || !isfinite(v))
            return bad(s, "--%s: not a number: '%s'", f->name, arg);
        if (bounded(f) && (v < f->lo || v > f->hi || (f->lo_open && v <= f->lo)))
            return out_of_range(s, f, arg);
        *(double *)f->dest = v;
        return WPCTL_CONTINUE;
    case WPCTL_F_END:
    case WPCTL_F_TEXT: break;
    }
    return WPCTL_CONTINUE;
}

/* "--name" of the argument getopt stopped at, without "=value". */
static void offending(char **argv, int idx, char *out, size_t cap)
{
    const char *a = (idx > 0 && argv[idx - 1]) ? argv[idx - 1] : "?";
    snprintf(out, cap, "%s", a);
    char *eq = strchr(out, '=');
    if (eq && out[0] == '-' && out[1] == '-')
        *eq = '\0';
}

static const wpctl_flag *find_long(const wpctl_flag *flags, const char *dashed)
{
    if (strncmp(dashed, "--", 2) != 0)
        return NULL;
    for (size_t i = 0; flags && flags[i].kind != WPCTL_F_END; i++)
        if (flags[i].name && strcmp(flags[i].name, dashed + 2) == 0)
            return &flags[i];
    return NULL;
}

int wpctl_parse(const wpctl_spec *spec, int argc, char **argv, wpctl_args *out)
{
    const wpctl_flag *flags = spec->flags;
    size_t n = flag_count(flags);
    if (n > WPCTL_MAX_FLAGS) {
        fprintf(stderr, "wpctl %s: too many flags in the table\n", spec->name);
        return WPCTL_FAIL;
    }
    struct option longopts[WPCTL_MAX_FLAGS + 2];
    char shortopts[2 * WPCTL_MAX_FLAGS + 4] = ":h";
    size_t nl = 0, ns = 2;
    for (size_t i = 0; i < n; i++) {
        if (flags[i].kind == WPCTL_F_TEXT)
            continue;
        bool has_arg = flags[i].kind != WPCTL_F_BOOL;
        longopts[nl++] = (struct option){flags[i].name, has_arg ? required_argument : no_argument,
                                         NULL, OPT_BASE + (int)i};
        if (flags[i].short_name) {
            shortopts[ns++] = flags[i].short_name;
            if (has_arg)
                shortopts[ns++] = ':';
        }
    }
    shortopts[ns] = '\0';
    longopts[nl++] = (struct option){"help", no_argument, NULL, OPT_HELP};
    longopts[nl] = (struct option){NULL, 0, NULL, 0};

    char name[128];
    optind = 0; /* glibc: full reinitialisation, so subcommands can parse again */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        const wpctl_flag *f = NULL;
        if (c == 'h' || c == OPT_HELP) {
            wpctl_print_help(spec, stdout);
            return WPCTL_OK;
        }
        if (c == ':') {
            if (optopt && optopt < OPT_BASE - 1) {
                snprintf(name, sizeof name, "-%c", optopt);
            } else {
                offending(argv, optind, name, sizeof name);
            }
            return bad(spec, "%s: missing value", name);
        }
        if (c == '?') {
            if (optopt && optopt < OPT_BASE - 1 && optopt != '?') {
                snprintf(name, sizeof name, "-%c", optopt);
                return bad(spec, "unknown option '%s'", name);
            }
            offending(argv, optind, name, sizeof name);
            f = find_long(flags, name);
            if (f && f->kind == WPCTL_F_BOOL)
                return bad(spec, "%s: takes no value", name);
            if (strcmp(name, "--help") == 0)
                return bad(spec, "%s: takes no value", name);
            return bad(spec, "unknown option '%s'", name);
        }
        if (c >= OPT_BASE && c < OPT_BASE + (int)n) {
            f = &flags[c - OPT_BASE];
        } else {
            for (size_t i = 0; i < n && !f; i++)
                if (flags[i].short_name == c)
                    f = &flags[i];
        }
        if (!f)
            return bad(spec, "unknown option '%s'", argv[optind - 1]);
        /* `--dir --json`: the value is missing, not "--json". */
        if (f->kind != WPCTL_F_BOOL && optarg && optarg[0] == '-' && optarg[1] == '-' &&
            optarg[2] != '\0')
            return bad(spec, "--%s: missing value", f->name);
        int rv = store(spec, f, f->kind == WPCTL_F_BOOL ? NULL : optarg);
        if (rv != WPCTL_CONTINUE)
            return rv;
    }
    int npos = argc - optind;
    if (npos < spec->min_args) {
        if (spec->args && spec->args[0])
            return bad(spec, "expected %s", spec->args);
        return bad(spec, "missing argument");
    }
    if (spec->max_args >= 0 && npos > spec->max_args)
        return bad(spec, "unexpected argument '%s'", argv[optind + spec->max_args]);
    if (out) {
        out->argc = npos;
        out->argv = argv + optind;
    }
    return WPCTL_CONTINUE;
}

/* Writes text indented by `indent` after its first line. */
static void put_indented(FILE *fp, const char *text, int indent)
{
    for (const char *p = text; *p; p++) {
        fputc(*p, fp);
        if (*p == '\n' && p[1])
            fprintf(fp, "%*s", indent, "");
    }
}

void wpctl_print_help(const wpctl_spec *spec, FILE *fp)
{
    const wpctl_flag *flags = spec->flags;
    size_t n = flag_count(flags);
    fprintf(fp, "usage: wpctl %s%s%s [OPTIONS]\n", spec->name,
            spec->args && spec->args[0] ? " " : "", spec->args ? spec->args : "");
    if (spec->about && spec->about[0])
        fprintf(fp, "\n%s", spec->about);
    if (spec->about && spec->about[0] && spec->about[strlen(spec->about) - 1] != '\n')
        fputc('\n', fp);
    fprintf(fp, "\nOptions:\n");
    enum { COL = 22 };
    char left[96];
    for (size_t i = 0; i <= n; i++) {
        if (i < n && flags[i].kind == WPCTL_F_TEXT) {
            fprintf(fp, "%s\n", flags[i].help);
            continue;
        }
        const char *nm = i < n ? flags[i].name : "help";
        const char *meta = i < n ? flags[i].metavar : NULL;
        const char *help = i < n ? flags[i].help : "print this help and exit";
        char sh[8] = "";
        if (i < n && flags[i].short_name)
            snprintf(sh, sizeof sh, "-%c, ", flags[i].short_name);
        int len = snprintf(left, sizeof left, "  %s--%s%s%s", sh, nm, meta ? " " : "",
                           meta ? meta : "");
        if (len + 1 > COL)
            fprintf(fp, "%s\n%*s", left, COL, "");
        else
            fprintf(fp, "%-*s", COL, left);
        put_indented(fp, help ? help : "", COL);
        fputc('\n', fp);
    }
    if (spec->footer && spec->footer[0])
        fprintf(fp, "\n%s", spec->footer);
}

/* Edit distance of two short words (insert, delete, substitute). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 31 || lb > 31)
        return SIZE_MAX;
    size_t row[32];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

int wpctl_unknown_command(const char *group, const char *word, const struct wpctl_cmd *cmds,
                          size_t n)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (cmds[i].fn == NULL)
            continue;
        size_t d = edit_distance(word, cmds[i].name);
        size_t wl = strlen(word);
        if (wl >= 2 && strncmp(word, cmds[i].name, wl) == 0)
            d = 1; /* a prefix */
        if (d < best_d) {
            best_d = d;
            best = cmds[i].name;
        }
    }
    char where[64];
    snprintf(where, sizeof where, "wpctl%s%s", group ? " " : "", group ? group : "");
    if (best && best_d <= 2)
        fprintf(stderr, "%s: unknown command '%s' (did you mean '%s'? see %s --help)\n", where,
                word, best, where);
    else
        fprintf(stderr, "%s: unknown command '%s' (see %s --help)\n", where, word, where);
    return WPCTL_USAGE;
}

int wpctl_dispatch(const char *group, const char *about, const struct wpctl_cmd *subs, size_t n,
                   int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0) {
        for (size_t i = 0; i < n; i++)
            if (subs[i].fn && strcmp(argv[1], subs[i].name) == 0)
                return subs[i].fn(argc - 1, argv + 1);
        if (argv[1][0] == '-') {
            fprintf(stderr, "wpctl %s: expected a command before '%s' (see wpctl %s --help)\n",
                    group, argv[1], group);
            return WPCTL_USAGE;
        }
        return wpctl_unknown_command(group, argv[1], subs, n);
    }
    if (argc < 2) {
        fprintf(stderr, "wpctl %s: missing command (see wpctl %s --help)\n", group, group);
        return WPCTL_USAGE;
    }
    FILE *fp = stdout;
    fprintf(fp, "usage: wpctl %s COMMAND [OPTIONS]\n\n%s\nCommands:\n", group, about ? about : "");
    for (size_t i = 0; i < n; i++)
        if (subs[i].fn)
            fprintf(fp, "  %-10s %s\n", subs[i].name, subs[i].summary);
    fprintf(fp, "\n'wpctl %s COMMAND --help' describes a command.\n", group);
    return WPCTL_OK;
}

bool wpctl_collect_repeated(const char *name, int argc, char **argv, const char **out,
                            size_t max, size_t *n)
{
    size_t len = strlen(name);
    *n = 0;
    for (int k = 1; k < argc; k++) {
        const char *v = NULL, *a = argv[k];
        if (strcmp(a, "--") == 0)
            break;
        if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, len) != 0)
            continue;
        if (a[2 + len] == '\0' && k + 1 < argc)
            v = argv[++k];
        else if (a[2 + len] == '=')
            v = a + 3 + len;
        if (!v)
            continue;
        if (*n == max)
            return false;
        out[(*n)++] = v;
    }
    return true;
}
