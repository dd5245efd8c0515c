/* tests/integration/itest.h — shared by the C integration tests that start
 * daemons: daemon logs checked for sanitizer reports (the shell tests use
 * tests/integration/lib.sh, which looks for the same markers).
 * Header-only, static functions: each test program includes it once. */
#ifndef WP_ITEST_H
#define WP_ITEST_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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

#endif /* WP_ITEST_H */
