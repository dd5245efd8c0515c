/* tests/integration/itest.h — shared by the C integration tests that start
 * daemons: daemon logs checked for sanitizer reports (the shell tests use
 * tests/integration/lib.sh, which looks for the same markers).
 * Header-only, static functions: each test program includes it once. */
#ifndef WP_ITEST_H
#define WP_ITEST_H

#include <arpa/inet.h>
#include <glob.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The markers of a sanitizer report in a daemon's log. */
static const char *const wp_itest_san_markers[] = {
    "ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer", "ThreadSanitizer",
};

/* Whether the file at path holds a sanitizer report; prints the first
 * offending line to stderr. A missing file is clean. */
static inline bool wp_itest_log_has_sanitizer_report(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        for (size_t i = 0; i < sizeof wp_itest_san_markers / sizeof wp_itest_san_markers[0]; i++)
            if (strstr(line, wp_itest_san_markers[i])) {
                fprintf(stderr, "sanitizer report in %s: %s", path, line);
                found = true;
                break;
            }
    fclose(f);
    return found;
}

/* Set once any log checked by wp_itest_dir_has_sanitizer_report held a
 * report: a group teardown's failure does not change cmocka's exit status,
 * so main() ends with WP_ITEST_EXIT(rc). */
static bool wp_itest_san_found;

/* Every DIR/ *.log and DIR/logs/ *.log (a test's own directory, or one that
 * `wpctl cluster up` made): true, and the first report printed, if any
 * holds a sanitizer report. Call it after the daemons have stopped (a leak
 * report is written at exit), before the directory is removed. */
static inline bool wp_itest_dir_has_sanitizer_report(const char *dir)
{
    const char *subs[2] = {"", "/logs"};
    bool found = false;
    for (int k = 0; k < 2; k++) {
        char pat[1024];
        snprintf(pat, sizeof pat, "%s%s/*.log", dir, subs[k]);
        glob_t g;
        if (glob(pat, 0, NULL, &g) != 0)
            continue;
        for (size_t i = 0; i < g.gl_pathc; i++)
            found |= wp_itest_log_has_sanitizer_report(g.gl_pathv[i]);
        globfree(&g);
    }
    wp_itest_san_found |= found;
    return found;
}

#define WP_ITEST_EXIT(rc) ((rc) != 0 ? (rc) : (wp_itest_san_found ? 1 : 0))

/* The value of one series (its full name with labels, e.g.
 * `warmpath_auth_refused_total{socket="admin"}`) in the Prometheus text
 * served at 127.0.0.1:port/metrics; -1 when absent or unreachable. */
static inline double wp_itest_metric(int port, const char *series)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static char buf[1 << 20];
    size_t len = 0;
    const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
        close(fd);
        return -1;
    }
    for (ssize_t k; len + 1 < sizeof buf && (k = read(fd, buf + len, sizeof buf - 1 - len)) > 0;)
        len += (size_t)k;
    close(fd);
    buf[len] = '\0';
    size_t sl = strlen(series);
    for (char *p = buf; (p = strstr(p, series)) != NULL; p += sl)
        if ((p == buf || p[-1] == '\n') && p[sl] == ' ')
            return strtod(p + sl + 1, NULL);
    return -1;
}

#endif /* WP_ITEST_H */
