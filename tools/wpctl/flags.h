/* tools/wpctl/flags.h — internal to wpctl: one flag table per command.
 *
 * A command describes its flags once, as a table of wpctl_flag (name, kind,
 * destination, bounds, help). wpctl_parse builds the getopt_long table from
 * it, converts and range-checks each value into its destination, checks the
 * number of positional arguments, prints `--help` generated from the table,
 * and reports every usage error in one format, on one line of stderr:
 *
 *   wpctl pin: --replicas: not a number: 'x'
 *   wpctl pin: --replicas: out of range 1..64: '100'
 *   wpctl sim: --seed: missing value
 *   wpctl nodes: unknown option '--foo'
 *   wpctl nodes: unexpected argument 'x'
 *
 * with exit status WPCTL_USAGE (2) and nothing on stdout.
 *
 * Adding a flag to a command is one line in its table:
 *
 *   uint64_t seed = 1;
 *   bool json = false;
 *   const wpctl_flag flags[] = {
 *       WPF_U64("seed", &seed, 0, UINT64_MAX, "S", "random seed (default 1)"),
 *       WPF_JSON(&json, "{scenario, seed, ...}"),
 *       WPF_END,
 *   };
 *   const wpctl_spec spec = {.name = "sim", .args = "", .about = "...", .flags = flags};
 *   wpctl_args a;
 *   WPCTL_PARSE_OR_RETURN(&spec, argc, argv, &a);  (help: returns 0; usage error: 2)
 *   ... a.argv[0 .. a.argc-1] are the positional arguments ...
 *
 * Destinations keep their value when the flag is absent, so the default is
 * whatever the variable held before parsing. Bounds are inclusive; a flag
 * with lo > hi (write 1, 0) is unbounded. `seen` (optional) is set true when
 * the flag is given. Bundles (WPF_TARGET, WPF_JSON) give every command the
 * same words for the same thing. */
#ifndef WPCTL_FLAGS_H
#define WPCTL_FLAGS_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

/* Returned by wpctl_parse when the command should go on. */
#define WPCTL_CONTINUE (-1)

typedef enum wpctl_flag_kind {
    WPCTL_F_END = 0, /* terminates a table */
    WPCTL_F_BOOL,    /* bool *: set true; takes no value */
    WPCTL_F_STR,     /* const char **: the argument itself (points into argv) */
    WPCTL_F_I64,     /* int64_t * */
    WPCTL_F_U64,     /* uint64_t * */
    WPCTL_F_U32,     /* uint32_t * */
    WPCTL_F_DOUBLE,  /* double * (finite) */
    WPCTL_F_TEXT,    /* no flag: a line of text in --help between flag groups */
} wpctl_flag_kind;

typedef struct wpctl_flag {
    const char *name; /* long name without "--" */
    char short_name;  /* 0 for none, else e.g. 'f' for -f */
    wpctl_flag_kind kind;
    void *dest;
    double lo, hi;       /* inclusive bounds for numbers; lo > hi: none */
    bool lo_open;        /* lower bound exclusive: (lo, hi] */
    const char *metavar; /* "N", "FILE"; NULL for bools */
    const char *help;    /* may span lines ('\n'); continuation is indented */
    bool *seen;          /* optional: set true when given */
} wpctl_flag;



#define WPF_BOOL(n, d, h) {.name = (n), .kind = WPCTL_F_BOOL, .dest = (d), .lo = 1, .help = (h)}
#define WPF_STR(n, d, m, h)                                                                      \
    {.name = (n), .kind = WPCTL_F_STR, .dest = (d), .lo = 1, .metavar = (m), .help = (h)}
#define WPF_I64(n, d, l, u, m, h)                                                                \
    {.name = (n), .kind = WPCTL_F_I64, .dest = (d), .lo = (l), .hi = (u), .metavar = (m),       \
     .help = (h)}
#define WPF_U64(n, d, l, u, m, h)                                                                \
    {.name = (n), .kind = WPCTL_F_U64, .dest = (d), .lo = (l), .hi = (u), .metavar = (m),       \
     .help = (h)}
#define WPF_U32(n, d, l, u, m, h)                                                                \
    {.name = (n), .kind = WPCTL_F_U32, .dest = (d), .lo = (l), .hi = (u), .metavar = (m),       \
     .help = (h)}
#define WPF_DOUBLE(n, d, l, u, m, h)                                                             \
    {.name = (n), .kind = WPCTL_F_DOUBLE, .dest = (d), .lo = (l), .hi = (u), .metavar = (m),    \
     .help = (h)}
/* A double that must be > l (and <= u). */
#define WPF_POSITIVE(n, d, l, u, m, h)                                                           \
    {.name = (n), .kind = WPCTL_F_DOUBLE, .dest = (d), .lo = (l), .hi = (u), .lo_open = true,   \
     .metavar = (m), .help = (h)}
#define WPF_TEXT(t) {.kind = WPCTL_F_TEXT, .help = (t)}
#define WPF_END {.kind = WPCTL_F_END}

/* Which cluster (or which node of it) a command talks to. */
typedef struct wpctl_target {
    const char *dir;      /* --dir; NULL = $WP_CLUSTER_DIR, else ./.cluster */
    const char *endpoint; /* --endpoint */
    const char *node;     /* --node */
} wpctl_target;

/* --dir/--endpoint/--node, with the same words in every command. */
#define WPF_TARGET(t, endpoint_help)                                                             \
    WPF_STR("dir", &(t)->dir, "D", "cluster directory (else $WP_CLUSTER_DIR, else ./.cluster)"), \
        WPF_STR("endpoint", &(t)->endpoint, "ADDR", (endpoint_help)),                            \
        WPF_STR("node", &(t)->node, "ID", "ask this node of the cluster (default: the first\n"   \
                                          "running one)")
/* --dir alone, for commands that talk to the cluster only through its file. */
#define WPF_DIR(t)                                                                               \
    WPF_STR("dir", &(t)->dir, "D", "cluster directory (else $WP_CLUSTER_DIR, else ./.cluster)")
/* --endpoint LIST/--dir, for commands that talk to the placement servers. */
#define WPF_PLACEMENT(t)                                                                         \
    WPF_STR("endpoint", &(t)->endpoint, "LIST",                                                  \
            "placement servers' API addresses (comma-separated)"),                               \
        WPF_DIR(t)
/* --json, with a description of what is printed. */
#define WPF_JSON(d, what) WPF_BOOL("json", (d), (what))

typedef struct wpctl_spec {
    const char *name;  /* "pin", "topo rtt": used in errors and help */
    const char *args;  /* positional synopsis, "MODEL CITY[,CITY...]"; NULL/"" none */
    const char *about; /* paragraph(s) after the usage line; may be NULL */
    const wpctl_flag *flags;
    int min_args, max_args; /* positional count; max_args < 0: no upper bound */
    const char *footer; /* text after the flag list; may be NULL */
} wpctl_spec;

typedef struct wpctl_args {
    int argc;    /* positional arguments after parsing */
    char **argv; /* points into the argv given to wpctl_parse (permuted) */
} wpctl_args;

/* Parses argv (argv[0] is the command's own name). Returns WPCTL_CONTINUE
 * with the positional arguments in *out, WPCTL_OK after printing --help, or
 * WPCTL_USAGE after printing one line on stderr. */
int wpctl_parse(const wpctl_spec *spec, int argc, char **argv, wpctl_args *out);
/* wpctl_parse, returning from the calling command unless it should go on
 * (after --help: 0; after a usage error: 2). */
#define WPCTL_PARSE_OR_RETURN(spec, argc, argv, out)                                              \
    do {                                                                                          \
        int wpctl_parse_rv_ = wpctl_parse((spec), (argc), (argv), (out));                         \
        if (wpctl_parse_rv_ != WPCTL_CONTINUE)                                                    \
            return wpctl_parse_rv_;                                                               \
    } while (0)
/* A repeatable flag (the table keeps only the last value): collects every
 * value of --NAME V / --NAME=V in argv (up to "--") into out[0 .. *n).
 * Call before wpctl_parse. Returns false when there are more than max. */
bool wpctl_collect_repeated(const char *name, int argc, char **argv, const char **out,
                            size_t max, size_t *n);
/* The generated --help of spec, on fp. */
void wpctl_print_help(const wpctl_spec *spec, FILE *fp);

/* Commands with subcommands (`wpctl model gen`): runs the subcommand named
 * by argv[1] with argv + 1; prints a help listing the subcommands (about,
 * then each name and summary) for --help, -h or no argument; an unknown
 * name gets one line with a hint (see wpctl_unknown_command). */
struct wpctl_cmd;
int wpctl_dispatch(const char *group, const char *about, const struct wpctl_cmd *subs, size_t n,
                   int argc, char **argv);
/* "wpctl GROUP: unknown command 'X' (did you mean 'Y'? see wpctl GROUP --help)"
 * on stderr (GROUP NULL: top level); returns WPCTL_USAGE. */
int wpctl_unknown_command(const char *group, const char *word, const struct wpctl_cmd *cmds,
                          size_t n);

#endif
