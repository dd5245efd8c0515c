/* common/common.h — the one public header of warmpath's common library.
 *
 * Everything here is plain C11 + libc: error codes with a strerror, an
 * error-message buffer, the logger, the clock interface, the seeded RNG
 * (xoshiro256**), the latency histogram, a CSV reader, a JSON writer and
 * the frame limits every decoder checks before it allocates.
 *
 * Pure cores (router, gossip, placement, residency, sim) use only the parts
 * that take no global state: wp_rng, wp_hist, wp_logger (a callback), and
 * the error list. Time reaches them as an argument (uint64_t nanoseconds).
 */
#ifndef WP_COMMON_H
#define WP_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __GNUC__
#define WP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define WP_PRINTF(f, a)
#endif

#define WP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define WP_NS_PER_MS 1000000ULL
#define WP_NS_PER_S 1000000000ULL

/* ---------------------------------------------------------------- errors */

/* One error list for the project. 0 is success; errors are positive and
 * functions return them as `int rv`. The X-macro generates both the enum
 * and wp_strerror(). */
#define WP_ERRORS(X)                                                  \
    X(WP_OK, "ok")                                                    \
    X(WP_ENOMEM, "out of memory")                                     \
    X(WP_EINVAL, "invalid argument")                                  \
    X(WP_EIO, "input/output error")                                   \
    X(WP_EPARSE, "parse error")                                       \
    X(WP_ENOTFOUND, "not found")                                      \
    X(WP_ERANGE, "value out of range")                                \
    X(WP_ETOOBIG, "too large")                                        \
    X(WP_ETRUNC, "truncated input")                                   \
    X(WP_EPROTO, "protocol error")                                    \
    X(WP_ETIMEDOUT, "timed out")                                      \
    X(WP_EUNAVAIL, "unavailable")                                     \
    X(WP_EOVERLOAD, "overloaded")                                     \
    X(WP_EBUSY, "busy")                                               \
    X(WP_ECANCELED, "canceled")                                       \
    X(WP_EEXIST, "already exists")                                    \
    X(WP_ENOSPC, "no space left")                                     \
    X(WP_EUNSUPPORTED, "not supported")                               \
    X(WP_ENOLEADER, "no leader")                                      \
    X(WP_ENOROUTE, "no node can serve the request")                   \
    X(WP_ESTATE, "wrong state")                                       \
    X(WP_EUNKNOWN, "outcome unknown")                                 \
    X(WP_EDEADLINE, "deadline exceeded")

enum {
#define WP_ERR_ENUM(name, text) name,
    WP_ERRORS(WP_ERR_ENUM)
#undef WP_ERR_ENUM
    WP_ERR_COUNT
};

/* Text of an error code; never NULL ("unknown error" for codes outside). */
const char *wp_strerror(int rv);

/* A caller-owned buffer for a readable error message, filled on the way up
 * and wrapped with context ("topology: edge.csv:12: column lat: ..."). */
#define WP_ERRMSG_LEN 512
typedef struct wp_err {
    int code;
    char msg[WP_ERRMSG_LEN];
} wp_err;

/* Sets code and message; returns code so callers write
 * `return wp_errf(err, WP_EPARSE, "line %d: ...", n);`. err may be NULL. */
int wp_errf(wp_err *err, int code, const char *fmt, ...) WP_PRINTF(3, 4);
/* Prefixes the current message with context ("prefix: old message"). */
int wp_err_wrap(wp_err *err, const char *fmt, ...) WP_PRINTF(2, 3);
void wp_err_clear(wp_err *err);
/* Message if set, else wp_strerror(code). */
const char *wp_err_text(const wp_err *err);

/* ---------------------------------------------------------------- logging */

enum wp_log_level { WP_LOG_ERROR = 0, WP_LOG_WARN, WP_LOG_INFO, WP_LOG_DEBUG, WP_LOG_TRACE };

/* Process-wide level for the daemons and tools (not read by pure cores). */
extern int wp_log_level_global;
void wp_log_set_level(int level);
/* Parses "error|warn|info|debug|trace"; returns -1 if unknown. */
int wp_log_level_parse(const char *s);

void wp_log_write(int level, const char *component, const char *fmt, ...) WP_PRINTF(3, 4);

/* The level is checked before any argument is evaluated or formatted. */
#define WP_LOG(level, component, ...)                                   \
    do {                                                                \
        if ((level) <= wp_log_level_global)                             \
            wp_log_write((level), (component), __VA_ARGS__);            \
    } while (0)
#define WP_ERROR(c, ...) WP_LOG(WP_LOG_ERROR, c, __VA_ARGS__)
#define WP_WARN(c, ...) WP_LOG(WP_LOG_WARN, c, __VA_ARGS__)
#define WP_INFO(c, ...) WP_LOG(WP_LOG_INFO, c, __VA_ARGS__)
#define WP_DEBUG(c, ...) WP_LOG(WP_LOG_DEBUG, c, __VA_ARGS__)

/* Pure cores log through this callback so a simulator can stamp simulated
 * time and a daemon can route it to wp_log_write. fn may be NULL (silent). */
typedef struct wp_logger {
    void (*fn)(void *ctx, int level, uint64_t now_ns, const char *msg);
    void *ctx;
    int level; /* messages above this level are not formatted */
} wp_logger;
void wp_logger_logf(const wp_logger *lg, int level, uint64_t now_ns, const char *fmt, ...)
    WP_PRINTF(4, 5);
#define WP_CORE_LOG(lg, lvl, now, ...)                                  \
    do {                                                                \
        if ((lg) && (lg)->fn && (lvl) <= (lg)->level)                   \
            wp_logger_logf((lg), (lvl), (now), __VA_ARGS__);            \
    } while (0)

/* ---------------------------------------------------------------- clock */

/* The live world's clocks. Pure cores never call these. */
uint64_t wp_clock_monotonic_ns(void);
uint64_t wp_clock_realtime_ns(void);
/* CPU time this thread has used: benchmarks report it beside wall time,
 * so a figure taken on a shared, busy machine still says what one core
 * does. */
uint64_t wp_clock_thread_cpu_ns(void);

/* Reserves `count` distinct free loopback TCP ports (live world only: local
 * clusters, tests, benchmarks). WP_OK, or WP_EIO / WP_ENOMEM with err set. */
int wp_loopback_ports(int *ports, size_t count, wp_err *err);

/* Endpoint text of the live world's daemons and clients (net.c).
 * wp_endpoint_normalize: "HOST:PORT" becomes "tcp://HOST:PORT"; a text with
 * a scheme ("tcp://", "ipc://", ...) is kept. WP_EINVAL when empty,
 * WP_ETOOBIG when it does not fit in cap.
 * wp_endpoint_is_wildcard: the host is 0.0.0.0, *, :: or [::] — an
 * address to bind to, never one another host can send to.
 * wp_endpoint_with_host: ep with its host replaced by the host of `like`
 * (an endpoint bound on a wildcard, reported under the advertised host);
 * ep unchanged when `like` has no host. */
int wp_endpoint_normalize(const char *in, char *out, size_t cap);
bool wp_endpoint_is_wildcard(const char *ep);
int wp_endpoint_with_host(const char *ep, const char *like, char *out, size_t cap);

/* ---------------------------------------------------------------- rng */

/* xoshiro256** (Blackman & Vigna, 2018), seeded through splitmix64 so any
 * 64-bit seed, 0 included, gives a well-mixed state. Caller-allocated;
 * not thread-safe (give each thread or actor its own, see wp_rng_fork). */
typedef struct wp_rng {
    uint64_t s[4];
} wp_rng;

void wp_rng_seed(wp_rng *r, uint64_t seed);
uint64_t wp_rng_u64(wp_rng *r);
/* Uniform double in [0, 1), 53 random bits. */
double wp_rng_uniform(wp_rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias (Lemire). */
uint64_t wp_rng_below(wp_rng *r, uint64_t n);
/* Exponential with the given mean (> 0). */
double wp_rng_exp(wp_rng *r, double mean);
/* Standard normal (Marsaglia polar method). */
double wp_rng_normal(wp_rng *r);
/* Lognormal: exp(mu + sigma * N(0,1)). */
double wp_rng_lognormal(wp_rng *r, double mu, double sigma);
/* A child generator whose stream is independent of the parent's next draws
 * (seeded from the parent's output through splitmix64). */
void wp_rng_fork(wp_rng *parent, wp_rng *child);

/* Zipf over ranks 0..n-1 with P(k) ∝ 1/(k+1)^s, by inversion of a
 * precomputed CDF (binary search, O(log n) per draw). */
typedef struct wp_zipf {
    size_t n;
    double s;
    double *cdf; /* n entries, cdf[n-1] == 1 */
} wp_zipf;
int wp_zipf_init(wp_zipf *z, size_t n, double s);
void wp_zipf_close(wp_zipf *z);
size_t wp_zipf_draw(const wp_zipf *z, wp_rng *r);
/* Probability of rank k. */
double wp_zipf_pmf(const wp_zipf *z, size_t k);

/* ---------------------------------------------------------------- histogram */

/* A log-linear latency histogram over non-negative integer values (we use
 * nanoseconds). Values below 2^7 have their own bucket; above, each power
 * of two is split into 128 equal buckets, so a bucket's width is at most
 * 1/128 of its lower bound and the reported midpoint is within 0.4% of any
 * value in it. Fixed size (7424 buckets, 58 KiB), mergeable by addition,
 * quantiles in O(buckets), no samples stored. See hist.c. */
#define WP_HIST_SUB_BITS 7
#define WP_HIST_SUB (1u << WP_HIST_SUB_BITS)
#define WP_HIST_BUCKETS ((64 - WP_HIST_SUB_BITS + 1) * WP_HIST_SUB)

typedef struct wp_hist {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    double sum;
    uint64_t buckets[WP_HIST_BUCKETS];
} wp_hist;

void wp_hist_init(wp_hist *h);
void wp_hist_record(wp_hist *h, uint64_t v);
void wp_hist_record_n(wp_hist *h, uint64_t v, uint64_t n);
void wp_hist_merge(wp_hist *into, const wp_hist *from);
/* q in [0, 1]. The value of rank ceil(q * count) (nearest-rank), reported
 * as its bucket's midpoint clamped to [min, max]. 0 for an empty histogram. */
uint64_t wp_hist_quantile(const wp_hist *h, double q);
double wp_hist_mean(const wp_hist *h);
/* Bucket index of v and the bucket's [lo, hi] range (for tests and tools). */
size_t wp_hist_bucket_of(uint64_t v);
void wp_hist_bucket_range(size_t idx, uint64_t *lo, uint64_t *hi);

/* ---------------------------------------------------------------- csv */

/* A small RFC 4180 reader: comma-separated, double-quoted fields with ""
 * escapes, CRLF or LF. Records may not span lines (quoted newlines are an
 * error) — none of our data needs them. Fields are views into an internal
 * line buffer, valid until the next wp_csv_next call. Lines are capped at
 * WP_CSV_MAX_LINE bytes and WP_CSV_MAX_FIELDS fields: longer is an error,
 * never a silent cut. */
#define WP_CSV_MAX_LINE (64 * 1024)
#define WP_CSV_MAX_FIELDS 256

typedef struct wp_csv {
    FILE *fp;
    bool own_fp;
    char path[256];
    long line_no;           /* 1-based number of the line last read */
    size_t nfields;
    char *fields[WP_CSV_MAX_FIELDS];
    char *buf;              /* WP_CSV_MAX_LINE + 1 bytes */
    char *raw;              /* the unparsed line last read (no newline) */
} wp_csv;

/* Opens path ("-" reads stdin). */
int wp_csv_open(wp_csv *c, const char *path, wp_err *err);
int wp_csv_open_fp(wp_csv *c, FILE *fp, const char *name, wp_err *err);
/* Reads the next non-empty record: WP_OK, WP_ENOTFOUND at end of file,
 * or an error (WP_EPARSE / WP_ETOOBIG / WP_EIO) with "path:line: ..." set. */
int wp_csv_next(wp_csv *c, wp_err *err);
void wp_csv_close(wp_csv *c);
/* Index of a column named `name` in the current record (case-sensitive,
 * surrounding spaces ignored), or -1. Use on the header record. */
int wp_csv_find(const wp_csv *c, const char *name);
/* Parses field i as a finite double / integer; on failure fills err with
 * "path:line: column NAME: expected a number, got 'x'". */
int wp_csv_double(const wp_csv *c, size_t i, const char *colname, double *out, wp_err *err);
int wp_csv_int64(const wp_csv *c, size_t i, const char *colname, int64_t *out, wp_err *err);

/* Strict whole-string number parsing for command lines and files. */
int wp_parse_double(const char *s, double *out);
int wp_parse_int64(const char *s, int64_t *out);
int wp_parse_u64(const char *s, uint64_t *out);

/* ---------------------------------------------------------------- json */

/* A streaming JSON writer to a FILE: tracks commas and nesting so callers
 * write wp_json_key(j, "p95_ms"); wp_json_double(j, 12.5); Doubles print
 * with up to 6 significant decimals and non-finite values as null. */
#define WP_JSON_MAX_DEPTH 32
typedef struct wp_json {
    FILE *fp;
    int depth;
    bool first[WP_JSON_MAX_DEPTH];
    bool after_key;
    bool pretty;
} wp_json;

void wp_json_init(wp_json *j, FILE *fp, bool pretty);
void wp_json_obj_begin(wp_json *j);
void wp_json_obj_end(wp_json *j);
void wp_json_arr_begin(wp_json *j);
void wp_json_arr_end(wp_json *j);
void wp_json_key(wp_json *j, const char *key);
void wp_json_str(wp_json *j, const char *s);
void wp_json_int(wp_json *j, int64_t v);
void wp_json_uint(wp_json *j, uint64_t v);
void wp_json_double(wp_json *j, double v);
void wp_json_bool(wp_json *j, bool v);
void wp_json_null(wp_json *j);
/* Ends the document with a newline. */
void wp_json_end(wp_json *j);
/* Writes s as a JSON string literal (quotes and escapes) to fp. */
void wp_json_write_escaped(FILE *fp, const char *s);

/* ---------------------------------------------------------------- heap */

/* A binary min-heap of fixed-size elements stored by value (common/heap.c
 * states the invariants). A heap's kind names its element size and its
 * order: less(a, b) means a comes out before b; make it a total order (a
 * sequence-number tie-break) where the pop order must be reproducible.
 * Declare the kind `static const` and pass the same one to every call on
 * a heap: push and pop are inline, so a constant kind's size and `less` are
 * inlined into the sift loops (the simulator pops millions of events a
 * second). x_init / x_close: the struct is the caller's, the array the
 * heap's. */
typedef struct wp_heap_kind {
    size_t elem_bytes;
    bool (*less)(const void *a, const void *b);
} wp_heap_kind;

typedef struct wp_heap {
    unsigned char *v;
    size_t n, cap, elem_bytes;
} wp_heap;

/* cap: initial capacity in elements; 0 allocates nothing (cannot fail:
 * the array comes with the first push). WP_ENOMEM. */
int wp_heap_init(wp_heap *h, const wp_heap_kind *k, size_t cap);
void wp_heap_close(wp_heap *h);
/* Doubles the array; WP_ENOMEM (heap unchanged). Internal to push. */
int wp_heap__grow(wp_heap *h);

/* Copies *elem in; WP_ENOMEM if the array cannot grow (heap unchanged). */
static inline int wp_heap_push(wp_heap *h, const wp_heap_kind *k, const void *elem)
{
    if (h->n == h->cap && wp_heap__grow(h) != WP_OK)
        return WP_ENOMEM;
    const size_t sz = k->elem_bytes;
    unsigned char *v = h->v; /* a local: memcpy through char may alias *h */
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!k->less(elem, v + parent * sz))
            break;
        memcpy(v + i * sz, v + parent * sz, sz);
        i = parent;
    }
    memcpy(v + i * sz, elem, sz);
    return WP_OK;
}

/* Copies the minimum out into *out and removes it; false when empty. */
static inline bool wp_heap_pop(wp_heap *h, const wp_heap_kind *k, void *out)
{
    if (h->n == 0)
        return false;
    const size_t sz = k->elem_bytes;
    unsigned char *v = h->v; /* a local: memcpy through char may alias *h */
    memcpy(out, v, sz);
    size_t n = --h->n;
    if (n == 0)
        return true;
    /* The old last element (slot n: outside the heap now, and never
     * overwritten below, every slot written being < n) goes down from the
     * root. */
    const unsigned char *last = v + n * sz;
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && k->less(v + (c + 1) * sz, v + c * sz))
            c++;
        if (!k->less(v + c * sz, last))
            break;
        memcpy(v + i * sz, v + c * sz, sz);
        i = c;
    }
    memcpy(v + i * sz, last, sz);
    return true;
}

static inline size_t wp_heap_len(const wp_heap *h)
{
    return h->n;
}
/* The minimum, or NULL when empty; valid until the next push or pop. */
static inline const void *wp_heap_top(const wp_heap *h)
{
    return h->n ? h->v : NULL;
}
/* Element i in array order (not sorted order), i < wp_heap_len: for
 * scanning every pending element. */
static inline const void *wp_heap_at(const wp_heap *h, size_t i)
{
    return h->v + i * h->elem_bytes;
}

/* ---------------------------------------------------------------- limits */

/* Hard caps every decoder checks before it allocates. */
#define WP_FRAME_MAX_BYTES (1u << 20)      /* one wire frame: 1 MiB */
#define WP_MSG_MAX_ARRAY 4096u             /* declared array/map count */
#define WP_MSG_MAX_STR 4096u               /* one string in a frame */
#define WP_NAME_MAX 64u                    /* model names, node ids, codes */

/* Checks a msgpack buffer's structure on the raw bytes, allocating nothing,
 * before any msgpack-c call sees it: exactly one object spanning len bytes,
 * nesting <= max_depth, every array/map count <= max_count and no larger
 * than the bytes left, every str/bin/ext <= max_str and the bytes left.
 * WP_OK, or WP_ETRUNC / WP_ETOOBIG / WP_EPARSE with the reason in err. */
int wp_msgpack_check(const void *buf, size_t len, size_t max_count, size_t max_str,
                     int max_depth, wp_err *err);

/* ---------------------------------------------------------------- models */

/* A model's timing profile: what the timing-model GPU backend, the
 * simulator and the placement catalog all agree a model costs. Service of
 * one request with `in` input and `out` output tokens on a free slot:
 *   time to first token = prefill_base_ms + in * prefill_ms_per_token
 *   full response       = ttft + (out - 1) * decode_ms_per_token   (out >= 1)
 * A GPU runs up to slots_per_gpu requests of the model at once. Loading
 * the weights (a cold start) takes size_bytes / load_bytes_per_s plus
 * load_fixed_ms (runtime start, allocation, warm-up). */
typedef struct wp_model_profile {
    char name[WP_NAME_MAX];
    uint64_t size_bytes;        /* weights resident in GPU memory */
    double prefill_base_ms;
    double prefill_ms_per_token;
    double decode_ms_per_token;
    uint32_t slots_per_gpu;
    double load_bytes_per_s;    /* storage/PCIe rate for a cold load */
    double load_fixed_ms;
    uint32_t typical_in_tokens;  /* used when a workload gives none */
    uint32_t typical_out_tokens;
} wp_model_profile;

double wp_model_ttft_ms(const wp_model_profile *m, uint32_t in_tokens);
double wp_model_total_ms(const wp_model_profile *m, uint32_t in_tokens, uint32_t out_tokens);
double wp_model_load_ms(const wp_model_profile *m);

/* ---------------------------------------------------------------- catalog */

/* The default model catalog (common/catalog.c documents every figure):
 * a small LLM, an embedding model, a classifier, speech-to-text. */
size_t wp_catalog_count(void);
const wp_model_profile *wp_catalog_model(size_t i);
/* Index by exact name, or -1. */
int wp_catalog_find(const char *name);

#endif /* WP_COMMON_H */
