/* wpctl logs — a cluster process's log (DIR/logs/ID.log, written by the
 * daemon's stdout and stderr since `cluster up`).
 *
 *   wpctl logs ID|placement-N [-f] [--tail N] [--dir D] [--json] */
#include "tools/wpctl/cluster.h"
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t logs_stop;
static void on_signal(int sig)
{
    logs_stop = sig;
}

/* True if id names a process of the cluster (never a path of its own). */
static bool known_id(const wpctl_cluster *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->nodes[i].id, id) == 0)
            return true;
    for (size_t i = 0; i < c->n_placement; i++) {
        char name[32];
        snprintf(name, sizeof name, "placement-%u", c->placement[i].id);
        if (strcmp(name, id) == 0)
            return true;
    }
    return false;
}

/* One line: as is; with --json a string of the "lines" list (j open),
 * or with -f --json one object {id, line} per line (a stream). */
static void put_line(const char *id, const char *line, bool json, bool follow, wp_json *j)
{
    if (!json) {
        fputs(line, stdout);
        return;
    }
    size_t l = strlen(line);
    char buf[4096];
    snprintf(buf, sizeof buf, "%.*s", (int)(l && line[l - 1] == '\n' ? l - 1 : l), line);
    if (!follow) {
        wp_json_str(j, buf);
        return;
    }
    wp_json one;
    wp_json_init(&one, stdout, false);
    wp_json_obj_begin(&one);
    wp_json_key(&one, "id");
    wp_json_str(&one, id);
    wp_json_key(&one, "line");
    wp_json_str(&one, buf);
    wp_json_obj_end(&one);
    wp_json_end(&one);
}

/* Offset where the last n lines of fp start (one pass, a ring of the
 * last n line starts). */
static long tail_offset(FILE *fp, uint64_t n)
{
    long *ring = malloc(n * sizeof *ring);
    if (!ring)
        return 0;
    uint64_t count = 0;
    long pos = 0;
    bool at_start = true;
    int ch;
    rewind(fp);
    while ((ch = fgetc(fp)) != EOF) {
        if (at_start)
            ring[count++ % n] = pos;
        at_start = ch == '\n';
        pos++;
    }
    long off = count <= n ? 0 : ring[count % n];
    free(ring);
    return off;
}

int wpctl_logs_main(int argc, char **argv)
{
    wpctl_target t = {0};
    bool follow = false, json = false;
    uint64_t tail = 0;
    const wpctl_flag flags[] = {
        {.name = "follow", .short_name = 'f', .kind = WPCTL_F_BOOL, .dest = &follow, .lo = 1,
         .help = "keep printing what is appended, until Ctrl-C"},
        WPF_U64("tail", &tail, 1, 100000, "N", "only the last N lines (default: all)"),
        WPF_DIR(&t),
        WPF_JSON(&json, "{id, lines: [...]}; with -f one object {id, line} per line"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "logs",
        .args = "ID|placement-N",
        .about = "Prints the log of a node or placement server of the cluster\n"
                 "(DIR/logs/ID.log: the daemon's stdout and stderr). With -f, waits for\n"
                 "more, like tail -f, until Ctrl-C or SIGTERM (exit 0).\n",
        .flags = flags,
        .min_args = 1,
        .max_args = 1,
    };
    wpctl_args a;
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, &a);
    const char *id = a.argv[0];
    wpctl_cluster *c = malloc(sizeof *c);
    if (!c)
        return wpctl_fail("out of memory");
    wp_err err;
    if (wpctl_cluster_load(wpctl_cluster_dir(t.dir), c, &err) != WP_OK) {
        free(c);
        return wpctl_fail("%s", wp_err_text(&err));
    }
    if (!known_id(c, id)) {
        int rv = wpctl_fail("no node or placement server '%s' in cluster %s", id, c->dir);
        free(c);
        return rv;
    }
    char path[700];
    snprintf(path, sizeof path, "%s/logs/%s.log", c->dir, id);
    free(c);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return wpctl_fail("%s: %s", path, strerror(errno));
    if (tail && fseek(fp, tail_offset(fp, tail), SEEK_SET) != 0) {
        fclose(fp);
        return wpctl_fail("%s: cannot seek", path);
    }
    if (!tail)
        rewind(fp);
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    logs_stop = 0;
    if (follow) {
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
    }
    char line[4096];
    wp_json j;
    if (json && !follow) {
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "id");
        wp_json_str(&j, id);
        wp_json_key(&j, "lines");
        wp_json_arr_begin(&j);
    }
    while (!logs_stop) {
        if (fgets(line, sizeof line, fp)) {
            put_line(id, line, json, follow, &j);
            continue;
        }
        if (!follow || ferror(fp))
            break;
        fflush(stdout);
        clearerr(fp);
        struct timespec ts = {0, 200000000L};
        nanosleep(&ts, NULL);
    }
    if (json && !follow) {
        wp_json_arr_end(&j);
        wp_json_obj_end(&j);
        wp_json_end(&j);
    }
    bool failed = ferror(fp) != 0;
    fclose(fp);
    fflush(stdout);
    if (follow) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    return failed ? wpctl_fail("%s: read error", path) : WPCTL_OK;
}
