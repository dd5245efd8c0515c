/* registry.c — the metrics registry and its text exposition (format 0.0.4).
 *
 * Families and series live on grow-only singly linked lists: the writer
 * (the daemon's loop thread) fills a node completely, then publishes it with
 * a release store of the list head; a reader (the HTTP thread) loads the
 * head with acquire and walks. Values are relaxed atomics: a counter is a
 * uint64, a gauge and a histogram's sum are doubles kept as their bits, a
 * histogram keeps one non-cumulative count per bucket and cumulates while
 * rendering, so its _count always equals its +Inf bucket even when a scrape
 * races an observation. Work per update: O(1) atomics (a histogram adds a
 * search over at most WP_METRICS_MAX_BUCKETS bounds). Work per series
 * lookup: a walk of the family's series (callers cache the pointers).
 */
#include "metrics/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double wp_metrics_latency_buckets_s[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                               0.25,  0.5,    1,     2.5,  5,     10,   30, 60};
const size_t wp_metrics_latency_n_buckets = WP_ARRAY_LEN(wp_metrics_latency_buckets_s);

struct wp_metric {
    struct wp_metric *next;
    char *values[WP_METRICS_MAX_LABELS];
    _Atomic uint64_t v;       /* counter value, or gauge / histogram sum bits */
    _Atomic uint64_t *buckets; /* histogram: n_buckets + 1 (the last is +Inf) */
    const wp_metric_family *fam;
};

struct wp_metric_family {
    struct wp_metric_family *next;
    wp_metric_type type;
    char *name, *help;
    char *labels[WP_METRICS_MAX_LABELS];
    size_t n_labels;
    double bounds[WP_METRICS_MAX_BUCKETS];
    size_t n_buckets;
    _Atomic(wp_metric *) series; /* newest first */
    size_t n_series;             /* writer only */
};

struct wp_metrics {
    _Atomic(wp_metric_family *) families; /* newest first */
    _Atomic size_t n_families;            /* at most 256 */
};

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

int wp_metrics_new(wp_metrics **out, wp_err *err)
{
    wp_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return wp_errf(err, WP_ENOMEM, "metrics: out of memory");
    atomic_init(&m->families, NULL);
    atomic_init(&m->n_families, 0);
    *out = m;
    return WP_OK;
}

static void series_free(wp_metric *s)
{
    for (size_t i = 0; i < WP_METRICS_MAX_LABELS; i++)
        free(s->values[i]);
    free((void *)s->buckets);
    free(s);
}

void wp_metrics_free(wp_metrics *m)
{
    if (!m)
        return;
    wp_metric_family *f = atomic_load(&m->families);
    while (f) {
        wp_metric_family *fn = f->next;
        wp_metric *s = atomic_load(&f->series);
        while (s) {
            wp_metric *sn = s->next;
            series_free(s);
            s = sn;
        }
        free(f->name);
        free(f->help);
        for (size_t i = 0; i < f->n_labels; i++)
            free(f->labels[i]);
        free(f);
        f = fn;
    }
    free(m);
}

static bool name_ok(const char *s, bool label)
{
    if (!s || !s[0])
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                     (!label && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

wp_metric_family *wp_metrics_family(wp_metrics *m, wp_metric_type type, const char *name,
                                    const char *help, const char *labels, const double *buckets,
                                    size_t n_buckets)
{
    size_t nf = atomic_load_explicit(&m->n_families, memory_order_relaxed);
    if (!name_ok(name, false) || nf >= 256 ||
        (type == WP_METRIC_HISTOGRAM && (n_buckets == 0 || n_buckets > WP_METRICS_MAX_BUCKETS)))
        return NULL;
    wp_metric_family *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    atomic_init(&f->series, NULL);
    bool ok = f->name && f->help;
    if (ok && labels && labels[0]) {
        const char *p = labels;
        while (ok && *p) {
            size_t len = strcspn(p, ",");
            if (f->n_labels == WP_METRICS_MAX_LABELS) {
                ok = false;
                break;
            }
            char *l = strndup(p, len);
            f->labels[f->n_labels++] = l;
            ok = l && name_ok(l, true) && strcmp(l, "le") != 0;
            p += len;
            if (*p == ',')
                p++;
        }
    }
    if (ok && type == WP_METRIC_HISTOGRAM) {
        for (size_t i = 0; i < n_buckets; i++) {
            if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
                ok = false;
            f->bounds[i] = buckets[i];
        }
        f->n_buckets = n_buckets;
    }
    if (!ok) {
        free(f->name);
        free(f->help);
        for (size_t i = 0; i < f->n_labels; i++)
            free(f->labels[i]);
        free(f);
        return NULL;
    }
    f->next = atomic_load_explicit(&m->families, memory_order_relaxed);
    atomic_store_explicit(&m->families, f, memory_order_release);
    atomic_store_explicit(&m->n_families, nf + 1, memory_order_release);
    return f;
}

wp_metric *wp_metric_get(wp_metric_family *f, const char *const *values)
{
    if (!f)
        return NULL;
    for (wp_metric *s = atomic_load_explicit(&f->series, memory_order_relaxed); s; s = s->next) {
        size_t i = 0;
        while (i < f->n_labels && strcmp(s->values[i], values[i] ? values[i] : "") == 0)
            i++;
        if (i == f->n_labels)
            return s;
    }
    if (f->n_series >= WP_METRICS_MAX_SERIES)
        return NULL;
    wp_metric *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->fam = f;
    atomic_init(&s->v, f->type == WP_METRIC_COUNTER ? 0 : dbits(0.0));
    bool ok = true;
    for (size_t i = 0; i < f->n_labels; i++)
        ok = ok && (s->values[i] = strdup(values[i] ? values[i] : "")) != NULL;
    if (ok && f->type == WP_METRIC_HISTOGRAM) {
        s->buckets = calloc(f->n_buckets + 1, sizeof *s->buckets);
        ok = s->buckets != NULL;
        for (size_t i = 0; ok && i <= f->n_buckets; i++)
            atomic_init(&s->buckets[i], 0);
    }
    if (!ok) {
        series_free(s);
        return NULL;
    }
    s->next = atomic_load_explicit(&f->series, memory_order_relaxed);
    atomic_store_explicit(&f->series, s, memory_order_release);
    f->n_series++;
    return s;
}

wp_metric *wp_metric_get0(wp_metric_family *f) { return wp_metric_get(f, NULL); }

wp_metric *wp_metric_get1(wp_metric_family *f, const char *v0)
{
    const char *v[] = {v0};
    return wp_metric_get(f, v);
}

wp_metric *wp_metric_get2(wp_metric_family *f, const char *v0, const char *v1)
{
    const char *v[] = {v0, v1};
    return wp_metric_get(f, v);
}

wp_metric *wp_metric_get3(wp_metric_family *f, const char *v0, const char *v1, const char *v2)
{
    const char *v[] = {v0, v1, v2};
    return wp_metric_get(f, v);
}

void wp_metric_inc(wp_metric *s, uint64_t n)
{
    if (s)
        atomic_fetch_add_explicit(&s->v, n, memory_order_relaxed);
}

void wp_metric_counter_set(wp_metric *s, uint64_t total)
{
    if (s && total > atomic_load_explicit(&s->v, memory_order_relaxed))
        atomic_store_explicit(&s->v, total, memory_order_relaxed);
}

void wp_metric_set(wp_metric *s, double v)
{
    if (s)
        atomic_store_explicit(&s->v, dbits(v), memory_order_relaxed);
}

void wp_metric_observe(wp_metric *s, double v)
{
    if (!s || !s->buckets || isnan(v))
        return;
    const wp_metric_family *f = s->fam;
    size_t lo = 0, hi = f->n_buckets; /* first bound >= v, or n_buckets (+Inf) */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (f->bounds[mid] >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&s->buckets[lo], 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&s->v, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&s->v, &old, dbits(bitsd(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ---------------------------------------------------------------- render */

typedef struct buf {
    char *p;
    size_t len, cap;
    bool oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

static void putf(buf *b, const char *fmt, ...) WP_PRINTF(2, 3);
static void putf(buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* esc_quote: a label value (also escapes "); else a HELP text. */
static void put_escaped(buf *b, const char *s, bool esc_quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            puts_(b, "\\\\");
        else if (*s == '\n')
            puts_(b, "\\n");
        else if (esc_quote && *s == '"')
            puts_(b, "\\\"");
        else
            put(b, s, 1);
    }
}

static void put_double(buf *b, double v)
{
    if (isnan(v))
        puts_(b, "NaN");
    else if (isinf(v))
        puts_(b, v > 0 ? "+Inf" : "-Inf");
    else
        putf(b, "%.17g", v);
}

/* name{labels[,le="x"]} */
static void put_series_name(buf *b, const wp_metric_family *f, const wp_metric *s,
                            const char *suffix, const char *le)
{
    puts_(b, f->name);
    puts_(b, suffix);
    if (f->n_labels == 0 && !le)
        return;
    puts_(b, "{");
    for (size_t i = 0; i < f->n_labels; i++) {
        if (i)
            puts_(b, ",");
        puts_(b, f->labels[i]);
        puts_(b, "=\"");
        put_escaped(b, s->values[i], true);
        puts_(b, "\"");
    }
    if (le) {
        if (f->n_labels)
            puts_(b, ",");
        puts_(b, "le=\"");
        puts_(b, le);
        puts_(b, "\"");
    }
    puts_(b, "}");
}

static void render_family(buf *b, const wp_metric_family *f)
{
    static const char *const tname[] = {"counter", "gauge", "histogram"};
    puts_(b, "# HELP ");
    puts_(b, f->name);
    puts_(b, " ");
    put_escaped(b, f->help, false);
    puts_(b, "\n# TYPE ");
    puts_(b, f->name);
    puts_(b, " ");
    puts_(b, tname[f->type]);
    puts_(b, "\n");
    for (const wp_metric *s = atomic_load_explicit(&f->series, memory_order_acquire); s;
         s = s->next) {
        uint64_t v = atomic_load_explicit(&s->v, memory_order_relaxed);
        if (f->type == WP_METRIC_COUNTER) {
            put_series_name(b, f, s, "", NULL);
            putf(b, " %llu\n", (unsigned long long)v);
        } else if (f->type == WP_METRIC_GAUGE) {
            put_series_name(b, f, s, "", NULL);
            puts_(b, " ");
            put_double(b, bitsd(v));
            puts_(b, "\n");
        } else {
            uint64_t cum = 0;
            char le[40];
            for (size_t i = 0; i <= f->n_buckets; i++) {
                cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
                if (i < f->n_buckets)
                    snprintf(le, sizeof le, "%.15g", f->bounds[i]);
                else
                    snprintf(le, sizeof le, "+Inf");
                put_series_name(b, f, s, "_bucket", le);
                putf(b, " %llu\n", (unsigned long long)cum);
            }
            put_series_name(b, f, s, "_sum", NULL);
            puts_(b, " ");
            put_double(b, bitsd(v));
            puts_(b, "\n");
            put_series_name(b, f, s, "_count", NULL);
            putf(b, " %llu\n", (unsigned long long)cum);
        }
    }
}

char *wp_metrics_render(wp_metrics *m, size_t *len)
{
    buf b = {0};
    /* Registration order: walk the published list (newest first) and render
     * backwards, so output is stable whatever the writer adds meanwhile. */
    const wp_metric_family *order[256];
    size_t k = 0;
    for (const wp_metric_family *f = atomic_load_explicit(&m->families, memory_order_acquire);
         f && k < WP_ARRAY_LEN(order); f = f->next)
        order[k++] = f;
    while (k > 0)
        render_family(&b, order[--k]);
    if (!b.p)
        put(&b, "", 0);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.p;
}
