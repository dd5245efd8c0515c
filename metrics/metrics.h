/* metrics/metrics.h — Prometheus metrics for the daemons: a registry of
 * counter, gauge and histogram families written by the daemon's loop thread,
 * rendered in the text exposition format (0.0.4) by any thread, and served
 * over HTTP by libmicrohttpd on its own thread.
 *
 * Thread model: one writer thread creates families and series and updates
 * values (the libuv loop); readers (the HTTP thread) render concurrently.
 * Values are atomics (relaxed: a scrape needs no ordering between series);
 * new series and families are published with release stores on singly
 * linked lists that only ever grow, so a reader walks them without a lock.
 * Nothing is freed before wp_metrics_http_stop and wp_metrics_free.
 *
 * Cardinality is bounded: a family holds at most WP_METRICS_MAX_SERIES
 * series; past that wp_metric_get returns NULL, and every update function
 * accepts NULL (a no-op), so callers never check.
 */
#ifndef WP_METRICS_H
#define WP_METRICS_H

#include "common/common.h"

#include <stddef.h>
#include <stdint.h>

#define WP_METRICS_MAX_SERIES 512u
#define WP_METRICS_MAX_LABELS 4u
#define WP_METRICS_MAX_BUCKETS 32u

typedef enum wp_metric_type {
    WP_METRIC_COUNTER,
    WP_METRIC_GAUGE,
    WP_METRIC_HISTOGRAM,
} wp_metric_type;

typedef struct wp_metrics wp_metrics;
typedef struct wp_metric_family wp_metric_family;
typedef struct wp_metric wp_metric;

int wp_metrics_new(wp_metrics **out, wp_err *err);
/* After wp_metrics_http_stop: no reader may be left. NULL is fine. */
void wp_metrics_free(wp_metrics *m);

/* A family. name: Prometheus name (counters end in _total); labels:
 * comma-separated label names ("model,role,outcome") or NULL/"" for none;
 * buckets: ascending upper bounds for a histogram (+Inf is implied),
 * ignored otherwise. NULL on a bad name or label list, too many buckets,
 * or no memory. Strings are copied. Writer thread only. */
wp_metric_family *wp_metrics_family(wp_metrics *m, wp_metric_type type, const char *name,
                                    const char *help, const char *labels, const double *buckets,
                                    size_t n_buckets);

/* The series with these label values (one per label name, in order), made
 * on first use. NULL when f is NULL or the family is full. Writer thread. */
wp_metric *wp_metric_get(wp_metric_family *f, const char *const *values);
wp_metric *wp_metric_get0(wp_metric_family *f);
wp_metric *wp_metric_get1(wp_metric_family *f, const char *v0);
wp_metric *wp_metric_get2(wp_metric_family *f, const char *v0, const char *v1);
wp_metric *wp_metric_get3(wp_metric_family *f, const char *v0, const char *v1, const char *v2);

/* Counter: add n. */
void wp_metric_inc(wp_metric *s, uint64_t n);
/* Counter mirrored from a monotonic count kept elsewhere (never lowered). */
void wp_metric_counter_set(wp_metric *s, uint64_t total);
/* Gauge: set. */
void wp_metric_set(wp_metric *s, double v);
/* Histogram: one observation (base units: seconds, bytes). */
void wp_metric_observe(wp_metric *s, double v);

/* Buckets for latencies in seconds: 1 ms .. 60 s. */
extern const double wp_metrics_latency_buckets_s[];
extern const size_t wp_metrics_latency_n_buckets;

/* The whole registry in the text exposition format 0.0.4, in a malloc'd
 * NUL-terminated buffer (the caller frees it); NULL when out of memory.
 * Any thread. */
char *wp_metrics_render(wp_metrics *m, size_t *len);

/* ---------------------------------------------------------------- HTTP */

typedef struct wp_metrics_http wp_metrics_http;

/* Parses "HOST:PORT" (HOST an IPv4 address, "localhost" or "*"; PORT
 * 1..65535). WP_EINVAL with a message otherwise. */
int wp_metrics_parse_addr(const char *spec, char *host, size_t host_cap, uint16_t *port,
                          wp_err *err);
/* Serves GET /metrics (and GET / with a pointer to it) on addr ("HOST:PORT")
 * from libmicrohttpd's own thread, at most 32 connections, 10 s idle
 * timeout. The registry must outlive the server. */
int wp_metrics_http_start(wp_metrics *m, const char *addr, wp_metrics_http **out, wp_err *err);
/* Stops the thread and frees; NULL is fine. */
void wp_metrics_http_stop(wp_metrics_http *h);

#endif /* WP_METRICS_H */
