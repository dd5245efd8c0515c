/* test_registry.c — the metrics registry's exposition: families in
 * registration order, label escaping, cumulative histogram buckets whose
 * +Inf equals _count, NULL-safe updates, bounded series, bad names and
 * addresses refused. */
#include "metrics/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(c)                                                                               \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c);              \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

int main(void)
{
    wp_metrics *m;
    CHECK(wp_metrics_new(&m, NULL) == WP_OK);
    wp_metric_family *c = wp_metrics_family(m, WP_METRIC_COUNTER, "warmpath_x_total",
                                            "Help with \\ and\nnewline.", "model,outcome", NULL, 0);
    wp_metric_family *g = wp_metrics_family(m, WP_METRIC_GAUGE, "warmpath_g", "A gauge.", NULL,
                                            NULL, 0);
    const double b[] = {0.1, 1, 10};
    wp_metric_family *h = wp_metrics_family(m, WP_METRIC_HISTOGRAM, "warmpath_h_seconds", "H.",
                                            "model", b, 3);
    CHECK(c && g && h);
    CHECK(!wp_metrics_family(m, WP_METRIC_GAUGE, "9bad", "", NULL, NULL, 0));
    CHECK(!wp_metrics_family(m, WP_METRIC_GAUGE, "ok_name", "", "le", NULL, 0));
    const double bad_b[] = {1, 0.5};
    CHECK(!wp_metrics_family(m, WP_METRIC_HISTOGRAM, "h2", "", NULL, bad_b, 2));
    wp_metric *s = wp_metric_get2(c, "a\"b", "ok");
    CHECK(s == wp_metric_get2(c, "a\"b", "ok"));
    wp_metric_inc(s, 3);
    wp_metric_inc(NULL, 1); /* no-op */
    wp_metric_counter_set(s, 2); /* never lowers */
    wp_metric_set(wp_metric_get0(g), 2.5);
    wp_metric *hs = wp_metric_get1(h, "m");
    wp_metric_observe(hs, 0.05);
    wp_metric_observe(hs, 0.1); /* le is inclusive */
    wp_metric_observe(hs, 5);
    wp_metric_observe(hs, 100);
    size_t len;
    char *t = wp_metrics_render(m, &len);
    CHECK(t && strlen(t) == len);
    CHECK(strstr(t, "# HELP warmpath_x_total Help with \\\\ and\\nnewline.\n"));
    CHECK(strstr(t, "warmpath_x_total{model=\"a\\\"b\",outcome=\"ok\"} 3\n"));
    CHECK(strstr(t, "warmpath_g 2.5\n"));
    CHECK(strstr(t, "warmpath_h_seconds_bucket{model=\"m\",le=\"0.1\"} 2\n"));
    CHECK(strstr(t, "warmpath_h_seconds_bucket{model=\"m\",le=\"10\"} 3\n"));
    CHECK(strstr(t, "warmpath_h_seconds_bucket{model=\"m\",le=\"+Inf\"} 4\n"));
    CHECK(strstr(t, "warmpath_h_seconds_count{model=\"m\"} 4\n"));
    CHECK(strstr(t, "warmpath_h_seconds_sum{model=\"m\"} 105.15"));
    CHECK(t && strstr(t, "warmpath_x_total") < strstr(t, "warmpath_g ")); /* registration order */
    free(t);
    /* bounded cardinality */
    char v[32];
    size_t made = 0;
    for (unsigned i = 0; i < WP_METRICS_MAX_SERIES + 10; i++) {
        snprintf(v, sizeof v, "m%u", i);
        made += wp_metric_get2(c, v, "x") != NULL;
    }
    CHECK(made == WP_METRICS_MAX_SERIES - 1); /* one series existed already */
    /* address parsing */
    char host[64];
    uint16_t port;
    CHECK(wp_metrics_parse_addr("127.0.0.1:9100", host, sizeof host, &port, NULL) == WP_OK &&
          port == 9100 && strcmp(host, "127.0.0.1") == 0);
    CHECK(wp_metrics_parse_addr("localhost:1", host, sizeof host, &port, NULL) == WP_OK);
    CHECK(wp_metrics_parse_addr("127.0.0.1", host, sizeof host, &port, NULL) != WP_OK);
    CHECK(wp_metrics_parse_addr("127.0.0.1:0", host, sizeof host, &port, NULL) != WP_OK);
    CHECK(wp_metrics_parse_addr("127.0.0.1:70000", host, sizeof host, &port, NULL) != WP_OK);
    CHECK(wp_metrics_parse_addr("example.com:80", host, sizeof host, &port, NULL) != WP_OK);
    wp_metrics_free(m);
    if (failures)
        return 1;
    puts("ok");
    return 0;
}
