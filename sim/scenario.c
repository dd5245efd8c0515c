/* scenario.c — scenarios: the built-in three and the key = value format.
 *
 * The built-ins are written in the same text format and go through the
 * same parser as user files, so the format is exercised on every run. A
 * file is parsed line by line: `key = value`, `#` starts a comment, blank
 * lines are skipped, keys are checked against one table (type and range),
 * a key given twice is an error. Every error is one line "SOURCE:LINE:
 * what". Cross-field checks (model names exist, sites exist in the preset)
 * happen here where possible and in wp_sim_run where the topology is
 * needed.
 */
#include "sim/sim.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Defaults = the built-in edge scenario; the others override a few keys. */
/* Shared by all three (defaults, so they apply to files too): requests
 * spread over 1500 tenant functions with lognormal popularity, sigma 4.08
 * of ln(rate). Source: Shahrad et al., "Serverless in the Wild" (USENIX
 * ATC 2020), Azure Functions trace: 45% of applications are invoked at
 * most once per hour and 81% at most once per minute; a lognormal through
 * those two points has sigma = ln(60) / (z(0.81) - z(0.45)) = 4.08 (1.77
 * decades), so its central 95% spans 8 orders of magnitude, as the paper
 * reports. 1500 functions at 1000 requests/s put 45% of the simulated
 * functions at <= 1/hour and 81% at <= 1/minute (see engine.c). Lambda
 * keeps an idle container 10 min (the paper's figure for AWS; Azure: 20);
 * Cloudflare: a Worker's V8 isolate starts in under 5 ms. */
static const char edge_text[] =
    "# edge: Workers-AI-like. ~330 PoP cities, GPUs in the 190 with the most\n"
    "# demand, every model kept warm where memory allows, load-aware routing\n"
    "# (latency: lowest expected time to first token, from load reports).\n"
    "# Each request runs in its function's V8 isolate at the ingress PoP (one\n"
    "# per PoP and function, shared by concurrent requests): a start costs\n"
    "# isolate_start_ms = 5 (Cloudflare: under 5 ms), idle isolates live\n"
    "# isolate_keepalive_s = 600. Models are shared by all tenants.\n"
    "name = edge\n"
    "serving = edge\n"
    "preset = edge\n"
    "gpu_cities = 190\n"
    "gpus_total = 400\n"
    "policy = latency\n"
    "functions = 1500\n"
    "function_sigma = 4.08\n"
    "isolate_start_ms = 5\n"
    "isolate_keepalive_s = 600\n";

static const char regional_text[] =
    "# regional: Lambda-like. The user's nearest AWS region; a per-request\n"
    "# container (cold start if none idle) calls the region's inference\n"
    "# endpoint (the Lambda -> Bedrock pattern). Containers are per (region,\n"
    "# function): functions = 1500 tenant functions, lognormal popularity\n"
    "# function_sigma = 4.08 (fitted to the Azure Functions trace, Shahrad et\n"
    "# al. ATC 2020: 45% of apps <= 1 call/hour, 81% <= 1/minute); an idle\n"
    "# container lives keepalive_s = 600 (Lambda's 10 min, same paper).\n"
    "name = regional\n"
    "serving = regional\n"
    "preset = aws\n"
    "sites = all\n"
    "gpus_total = 400\n"
    "functions = 1500\n"
    "function_sigma = 4.08\n"
    "keepalive_s = 600\n";

static const char central_text[] =
    "# central: one region (us-east-1) serves the world, same container model\n"
    "# (per-function containers, 1500 functions, 10 min keep-alive).\n"
    "name = central\n"
    "serving = regional\n"
    "preset = aws\n"
    "sites = us-east-1\n"
    "gpus_total = 400\n"
    "functions = 1500\n"
    "function_sigma = 4.08\n"
    "keepalive_s = 600\n";

static const char *const builtin_names[] = {"edge", "regional", "central", NULL};
static const char *const builtin_texts[] = {edge_text, regional_text, central_text};

const char *const *wp_sim_scenario_names(void)
{
    return builtin_names;
}

const char *wp_sim_scenario_text(const char *name)
{
    for (size_t i = 0; builtin_names[i]; i++)
        if (strcmp(builtin_names[i], name) == 0)
            return builtin_texts[i];
    return NULL;
}

static void defaults(wp_sim_scenario *s)
{
    memset(s, 0, sizeof *s);
    s->name[0] = '\0'; /* set from the source name if the text has none */
    s->serving = WP_SIM_SERVING_EDGE;
    snprintf(s->preset, sizeof s->preset, "edge");
    snprintf(s->sites, sizeof s->sites, "all");
    s->gpu_cities = 190;
    s->gpus_total = 400;
    s->gpu_mem_gb = 80;
    s->prewarm = true;
    s->policy = WP_POLICY_NEAREST_WARM;
    s->queue_per_slot = 0;
    s->rate_rps = 1000;
    s->diurnal_amplitude = 0.5;
    s->diurnal_peak_h = 20;
    s->start_utc_h = 12;
    s->zipf_s = 1.0;
    snprintf(s->models, sizeof s->models, "all");
    s->trace_model[0] = '\0';
    s->intra_city_rtt_ms = 0.5;
    s->invoke_ms = 1;
    s->cold_median_ms = 632;
    s->cold_sigma = 0.70;
    s->keepalive_s = 600;
    s->endpoint_rtt_ms = 2;
    s->functions = 1500;
    s->function_sigma = 4.08;
    s->isolate_start_ms = 5;
    s->isolate_keepalive_s = 600;
    s->load_report_ms = 100;
    s->deadline_ms = 0;
    wp_rtt_params_default(&s->rtt);
}

enum kind { K_STR, K_U32, K_DBL, K_BOOL, K_SERVING, K_POLICY, K_FAULT };

struct key {
    const char *name;
    enum kind kind;
    size_t off;
    size_t size; /* K_STR: buffer size */
    double min, max;
};

#define OFF(f) offsetof(wp_sim_scenario, f)
#define SZ(f) sizeof(((wp_sim_scenario *)0)->f)
static const struct key keys[] = {
    {"name", K_STR, OFF(name), SZ(name), 0, 0},
    {"serving", K_SERVING, OFF(serving), 0, 0, 0},
    {"preset", K_STR, OFF(preset), SZ(preset), 0, 0},
    {"sites", K_STR, OFF(sites), SZ(sites), 0, 0},
    {"cities", K_STR, OFF(cities), SZ(cities), 0, 0},
    {"gpu_cities", K_U32, OFF(gpu_cities), 0, 0, 100000},
    {"gpus_total", K_U32, OFF(gpus_total), 0, 1, 10000000},
    {"gpu_mem_gb", K_DBL, OFF(gpu_mem_gb), 0, 0.001, 100000},
    {"prewarm", K_BOOL, OFF(prewarm), 0, 0, 0},
    {"policy", K_POLICY, OFF(policy), 0, 0, 0},
    {"queue_per_slot", K_DBL, OFF(queue_per_slot), 0, 0, 1000},
    {"rate_rps", K_DBL, OFF(rate_rps), 0, 1e-6, 1e9},
    {"diurnal_amplitude", K_DBL, OFF(diurnal_amplitude), 0, 0, 1},
    {"diurnal_peak_h", K_DBL, OFF(diurnal_peak_h), 0, 0, 24},
    {"start_utc_h", K_DBL, OFF(start_utc_h), 0, 0, 24},
    {"zipf_s", K_DBL, OFF(zipf_s), 0, 0, 10},
    {"models", K_STR, OFF(models), SZ(models), 0, 0},
    {"trace_model", K_STR, OFF(trace_model), SZ(trace_model), 0, 0},
    {"intra_city_rtt_ms", K_DBL, OFF(intra_city_rtt_ms), 0, 0, 1000},
    {"invoke_ms", K_DBL, OFF(invoke_ms), 0, 0, 60000},
    {"cold_median_ms", K_DBL, OFF(cold_median_ms), 0, 0.001, 600000},
    {"cold_sigma", K_DBL, OFF(cold_sigma), 0, 0, 5},
    {"keepalive_s", K_DBL, OFF(keepalive_s), 0, 0, 1e7},
    {"endpoint_rtt_ms", K_DBL, OFF(endpoint_rtt_ms), 0, 0, 10000},
    {"functions", K_U32, OFF(functions), 0, 1, 10000000},
    {"function_sigma", K_DBL, OFF(function_sigma), 0, 0, 20},
    {"isolate_start_ms", K_DBL, OFF(isolate_start_ms), 0, 0, 60000},
    {"isolate_keepalive_s", K_DBL, OFF(isolate_keepalive_s), 0, 0, 1e7},
    {"load_report_ms", K_DBL, OFF(load_report_ms), 0, 1, 10000},
    {"deadline_ms", K_DBL, OFF(deadline_ms), 0, 0, 1e7},
    {"fault", K_FAULT, OFF(faults), 0, 0, 0}, /* repeatable */
    {"rtt_params", K_STR, OFF(rtt_params), SZ(rtt_params), 0, 0},
};

int wp_sim_fault_parse(const char *text, wp_sim_fault *out, wp_err *err)
{
    char kind[16], what[WP_NAME_MAX + 1], range[64], extra[2];
    memset(out, 0, sizeof *out);
    if (strlen(text) > 200 ||
        sscanf(text, "%15s %64s %63s %1s", kind, what, range, extra) != 3)
        return wp_errf(err, WP_EPARSE, "fault: expected 'outage WHAT FROM-TO', got '%s'", text);
    if (strcmp(kind, "outage") != 0)
        return wp_errf(err, WP_EPARSE, "fault: unknown kind '%s' (known: outage)", kind);
    if (strlen(what) >= WP_NAME_MAX)
        return wp_errf(err, WP_EPARSE, "fault: name '%s' too long", what);
    char *dash = strchr(range, '-');
    if (!dash)
        return wp_errf(err, WP_EPARSE, "fault: expected FROM-TO seconds, got '%s'", range);
    *dash = '\0';
    double from, to;
    if (wp_parse_double(range, &from) != WP_OK || wp_parse_double(dash + 1, &to) != WP_OK ||
        !(from >= 0) || !(to > from) || to > 1e8)
        return wp_errf(err, WP_EPARSE, "fault: expected 0 <= FROM < TO seconds, got '%s-%s'",
                       range, dash + 1);
    memcpy(out->what, what, strlen(what) + 1);
    out->from_s = from;
    out->to_s = to;
    return WP_OK;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Checks a comma list of catalog model names ("all" allowed). */
static int check_models(const char *list, const char *src, int line, wp_err *err)
{
    if (strcmp(list, "all") == 0)
        return WP_OK;
    char buf[WP_SIM_LIST_LEN];
    snprintf(buf, sizeof buf, "%s", list);
    size_t count = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        tok = trim(tok);
        if (wp_catalog_find(tok) < 0)
            return wp_errf(err, WP_EPARSE, "%s:%d: models: unknown model '%s'", src, line, tok);
        count++;
    }
    if (count == 0)
        return wp_errf(err, WP_EPARSE, "%s:%d: models: empty list", src, line);
    if (count > WP_SIM_MAX_MODELS)
        return wp_errf(err, WP_EPARSE, "%s:%d: models: more than %u", src, line,
                       WP_SIM_MAX_MODELS);
    return WP_OK;
}

static int set_key(wp_sim_scenario *s, const struct key *k, const char *val, const char *src,
                   int line, wp_err *err)
{
    char *field = (char *)s + k->off;
    switch (k->kind) {
    case K_STR: {
        size_t n = strlen(val);
        if (n == 0 || n >= k->size)
            return wp_errf(err, WP_EPARSE, "%s:%d: %s: expected 1..%zu characters", src, line,
                           k->name, k->size - 1);
        memcpy(field, val, n + 1);
        if (strcmp(k->name, "models") == 0)
            return check_models(val, src, line, err);
        if (strcmp(k->name, "trace_model") == 0 && wp_catalog_find(val) < 0)
            return wp_errf(err, WP_EPARSE, "%s:%d: trace_model: unknown model '%s'", src, line,
                           val);
        return WP_OK;
    }
    case K_U32: {
        int64_t v;
        if (wp_parse_int64(val, &v) != WP_OK || v < (int64_t)k->min || v > (int64_t)k->max)
            return wp_errf(err, WP_EPARSE, "%s:%d: %s: expected an integer %.0f..%.0f, got '%s'",
                           src, line, k->name, k->min, k->max, val);
        *(uint32_t *)(void *)field = (uint32_t)v;
        return WP_OK;
    }
    case K_DBL: {
        double v;
        if (wp_parse_double(val, &v) != WP_OK || v < k->min || v > k->max)
            return wp_errf(err, WP_EPARSE, "%s:%d: %s: expected a number %g..%g, got '%s'", src,
                           line, k->name, k->min, k->max, val);
        *(double *)(void *)field = v;
        return WP_OK;
    }
    case K_BOOL:
        if (strcmp(val, "yes") == 0 || strcmp(val, "true") == 0)
            *(bool *)(void *)field = true;
        else if (strcmp(val, "no") == 0 || strcmp(val, "false") == 0)
            *(bool *)(void *)field = false;
        else
            return wp_errf(err, WP_EPARSE, "%s:%d: %s: expected yes or no, got '%s'", src, line,
                           k->name, val);
        return WP_OK;
    case K_SERVING:
        if (strcmp(val, "edge") == 0)
            s->serving = WP_SIM_SERVING_EDGE;
        else if (strcmp(val, "regional") == 0)
            s->serving = WP_SIM_SERVING_REGIONAL;
        else
            return wp_errf(err, WP_EPARSE, "%s:%d: serving: expected edge or regional, got '%s'",
                           src, line, val);
        return WP_OK;
    case K_FAULT: {
        if (s->nfaults >= WP_SIM_MAX_FAULTS)
            return wp_errf(err, WP_EPARSE, "%s:%d: more than %u faults", src, line,
                           WP_SIM_MAX_FAULTS);
        wp_err ferr;
        if (wp_sim_fault_parse(val, &s->faults[s->nfaults], &ferr) != WP_OK)
            return wp_errf(err, WP_EPARSE, "%s:%d: %s", src, line, wp_err_text(&ferr));
        s->nfaults++;
        return WP_OK;
    }
    case K_POLICY:
        if (wp_route_policy_parse(val, &s->policy) != WP_OK)
            return wp_errf(err, WP_EPARSE,
                           "%s:%d: policy: expected nearest-warm, latency or nearest, got '%s'",
                           src, line, val);
        return WP_OK;
    }
    return WP_EINVAL;
}

int wp_sim_scenario_parse(const char *text, const char *source, wp_sim_scenario *out,
                          wp_err *err)
{
    defaults(out);
    int seen[WP_ARRAY_LEN(keys)] = {0};
    const char *p = text;
    int line = 0;
    char buf[2048];
    while (*p) {
        line++;
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= sizeof buf)
            return wp_errf(err, WP_EPARSE, "%s:%d: line longer than %zu bytes", source, line,
                           sizeof buf - 1);
        memcpy(buf, p, len);
        buf[len] = '\0';
        p = nl ? nl + 1 : p + len;
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(buf);
        if (*s == '\0')
            continue;
        char *eq = strchr(s, '=');
        if (!eq)
            return wp_errf(err, WP_EPARSE, "%s:%d: expected 'key = value', got '%s'", source,
                           line, s);
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        size_t ki = 0;
        while (ki < WP_ARRAY_LEN(keys) && strcmp(keys[ki].name, key) != 0)
            ki++;
        if (ki == WP_ARRAY_LEN(keys))
            return wp_errf(err, WP_EPARSE, "%s:%d: unknown key '%s'", source, line, key);
        if (seen[ki] && keys[ki].kind != K_FAULT)
            return wp_errf(err, WP_EPARSE, "%s:%d: '%s' set twice (first on line %d)", source,
                           line, key, seen[ki]);
        seen[ki] = line;
        if (*val == '\0')
            return wp_errf(err, WP_EPARSE, "%s:%d: %s: missing value", source, line, key);
        int rv = set_key(out, &keys[ki], val, source, line, err);
        if (rv != WP_OK)
            return rv;
    }
    if (out->name[0] == '\0') { /* the file's base name, without extension */
        const char *base = strrchr(source, '/');
        base = base ? base + 1 : source;
        size_t n = strcspn(base, ".");
        if (n == 0 || n >= sizeof out->name)
            n = strnlen(base, sizeof out->name - 1);
        memcpy(out->name, base, n);
        out->name[n] = '\0';
        if (n == 0)
            snprintf(out->name, sizeof out->name, "custom");
    }
    if (out->cities[0] && out->serving != WP_SIM_SERVING_EDGE)
        return wp_errf(err, WP_EPARSE, "%s: 'cities' applies to serving = edge only (use sites)",
                       source);
    if (out->rtt_params[0] && wp_rtt_params_load(out->rtt_params, &out->rtt, err) != WP_OK)
        return wp_err_wrap(err, "%s: rtt_params", source);
    return WP_OK;
}

int wp_sim_scenario_builtin(const char *name, wp_sim_scenario *out, wp_err *err)
{
    const char *text = wp_sim_scenario_text(name);
    if (!text)
        return wp_errf(err, WP_ENOTFOUND,
                       "unknown scenario '%s' (built in: edge, regional, central; or a file)",
                       name);
    char src[96];
    snprintf(src, sizeof src, "<built-in %s>", name);
    return wp_sim_scenario_parse(text, src, out, err);
}

#define SCENARIO_MAX_BYTES (64 * 1024)

int wp_sim_scenario_load(const char *path, wp_sim_scenario *out, wp_err *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return wp_errf(err, WP_EIO, "%s: %s", path, strerror(errno));
    char *buf = malloc(SCENARIO_MAX_BYTES + 1);
    if (!buf) {
        fclose(fp);
        return wp_errf(err, WP_ENOMEM, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, SCENARIO_MAX_BYTES + 1, fp);
    int rd_err = ferror(fp);
    fclose(fp);
    int rv;
    if (rd_err)
        rv = wp_errf(err, WP_EIO, "%s: read error", path);
    else if (n > SCENARIO_MAX_BYTES)
        rv = wp_errf(err, WP_ETOOBIG, "%s: larger than %d bytes", path, SCENARIO_MAX_BYTES);
    else if (memchr(buf, '\0', n))
        rv = wp_errf(err, WP_EPARSE, "%s: not a text file (NUL byte)", path);
    else {
        buf[n] = '\0';
        rv = wp_sim_scenario_parse(buf, path, out, err);
    }
    free(buf);
    return rv;
}
