/* placement/state.c — the replicated placement state machine.
 *
 * State: nodes (sorted by id), models (sorted by name), pins (sorted by
 * model then city index), measured demand (sorted by city then model) and
 * a version. The assignment is a function of these (wp_place_optimize),
 * recomputed after every accepted command and on restore, never stored.
 *
 * Every command is applied to a copy of the tables; only if it is valid
 * and its consequences are acceptable (a pin must be met in full and may
 * not push an existing pin short) is the copy swapped in and the version
 * bumped. So a refusal changes nothing, by construction. Tables are small
 * (thousands of entries at most), so the copy costs microseconds next to
 * a raft commit.
 *
 * Demand fed to the optimizer, per city c and model m (weights sum to 1):
 *   - no measured demand: pop[c] / Σpop / M (every model equally popular,
 *     distributed like people);
 *   - measured request rates r[c][m] (total R > 0):
 *     r[c][m] / R + 0.01 · pop[c] / Σpop / M, the small population floor
 *     so that a model nobody has asked for yet still gets a replica.
 * Cost of demand with no replica of its model: the largest RTT of the
 * topology plus the model's cold-load time.
 */
#include "placement/mp_int.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SNAP_MAGIC "wp-placement"
#define SNAP_FORMAT 1

typedef struct demand_entry {
    uint32_t city;
    char model[WP_NAME_MAX];
    double rate_per_s;
} demand_entry;

typedef struct tables {
    wp_place_node *nodes;
    size_t n_nodes;
    wp_model_profile *models;
    size_t n_models;
    wp_place_pin *pins;
    size_t n_pins;
    demand_entry *demand;
    size_t n_demand;
} tables;

struct wp_place_state {
    const wp_place_geo *geo;
    tables t;
    uint64_t version;
    wp_place_solution sol;
};

/* ---------------------------------------------------------------- geo */

int wp_place_geo_init(wp_place_geo *g, size_t n, wp_err *err)
{
    memset(g, 0, sizeof *g);
    if (n == 0 || n > 65536)
        return wp_errf(err, WP_EINVAL, "geo: %zu cities (need 1..65536)", n);
    g->cities = calloc(n, sizeof *g->cities);
    g->rtt_ms = calloc(n * n, sizeof *g->rtt_ms);
    g->rows = calloc(n, sizeof *g->rows);
    if (!g->cities || !g->rtt_ms || !g->rows) {
        wp_place_geo_close(g);
        return wp_errf(err, WP_ENOMEM, "geo: out of memory");
    }
    g->n_cities = n;
    for (size_t i = 0; i < n; i++)
        g->rows[i] = g->rtt_ms + i * n;
    return WP_OK;
}

void wp_place_geo_close(wp_place_geo *g)
{
    free(g->cities);
    free(g->rtt_ms);
    free((void *)g->rows);
    memset(g, 0, sizeof *g);
}

int wp_place_geo_find(const wp_place_geo *g, const char *code)
{
    for (size_t i = 0; i < g->n_cities; i++)
        if (strcasecmp(g->cities[i].code, code) == 0)
            return (int)i;
    return -1;
}

/* ---------------------------------------------------------------- tables */

static void tables_free(tables *t)
{
    free(t->nodes);
    free(t->models);
    free(t->pins);
    free(t->demand);
    memset(t, 0, sizeof *t);
}

static void *dup_array(const void *src, size_t n, size_t size, size_t extra)
{
    void *p = malloc((n + extra) * size + 1);
    if (p != NULL && n > 0)
        memcpy(p, src, n * size);
    return p;
}

/* A copy with room for `extra` more entries in every table. */
static int tables_clone(const tables *src, tables *dst, size_t extra)
{
    memset(dst, 0, sizeof *dst);
    dst->nodes = dup_array(src->nodes, src->n_nodes, sizeof *src->nodes, extra);
    dst->models = dup_array(src->models, src->n_models, sizeof *src->models, extra);
    dst->pins = dup_array(src->pins, src->n_pins, sizeof *src->pins, extra);
    dst->demand = dup_array(src->demand, src->n_demand, sizeof *src->demand, 0);
    if (!dst->nodes || !dst->models || !dst->pins || !dst->demand) {
        tables_free(dst);
        return WP_ENOMEM;
    }
    dst->n_nodes = src->n_nodes;
    dst->n_models = src->n_models;
    dst->n_pins = src->n_pins;
    dst->n_demand = src->n_demand;
    return WP_OK;
}

static long find_node(const tables *t, const char *id)
{
    for (size_t i = 0; i < t->n_nodes; i++)
        if (strcmp(t->nodes[i].id, id) == 0)
            return (long)i;
    return -1;
}

static long find_model(const tables *t, const char *name)
{
    for (size_t i = 0; i < t->n_models; i++)
        if (strcmp(t->models[i].name, name) == 0)
            return (long)i;
    return -1;
}

static int pin_cmp(const wp_place_pin *a, const wp_place_pin *b)
{
    int c = strcmp(a->model, b->model);
    if (c != 0)
        return c;
    return a->city < b->city ? -1 : (a->city > b->city);
}

static long find_pin(const tables *t, const char *model, uint32_t city)
{
    for (size_t i = 0; i < t->n_pins; i++)
        if (strcmp(t->pins[i].model, model) == 0 && t->pins[i].city == city)
            return (long)i;
    return -1;
}

/* Sorted insertion position for an array of n elements of `size` bytes. */
#define INSERT_SORTED(arr, n, elem, less)                                     \
    do {                                                                      \
        size_t pos_ = 0;                                                      \
        while (pos_ < (n) && less(&(arr)[pos_], &(elem)))                     \
            pos_++;                                                           \
        memmove(&(arr)[pos_ + 1], &(arr)[pos_], ((n) - pos_) * sizeof *(arr)); \
        (arr)[pos_] = (elem);                                                 \
        (n)++;                                                                \
    } while (0)

#define REMOVE_AT(arr, n, i)                                                  \
    do {                                                                      \
        memmove(&(arr)[i], &(arr)[(i) + 1], ((n) - (i) - 1) * sizeof *(arr)); \
        (n)--;                                                                \
    } while (0)

static bool node_less(const wp_place_node *a, const wp_place_node *b)
{
    return strcmp(a->id, b->id) < 0;
}
static bool model_less(const wp_model_profile *a, const wp_model_profile *b)
{
    return strcmp(a->name, b->name) < 0;
}
static bool pin_less(const wp_place_pin *a, const wp_place_pin *b)
{
    return pin_cmp(a, b) < 0;
}

static int demand_cmp(const void *x, const void *y)
{
    const demand_entry *a = x, *b = y;
    if (a->city != b->city)
        return a->city < b->city ? -1 : 1;
    return strcmp(a->model, b->model);
}

/* Names: 1..63 bytes of [A-Za-z0-9._:/+-]. */
static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= WP_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && !strchr("._:/+-", ch))
            return false;
    }
    return true;
}

/* Checks a model profile: WP_OK, or an error code with the reason in why.
 * Shared by catalog-add and snapshot restore, so a snapshot cannot bring
 * in what a command would have been refused. */
static int model_check(const wp_model_profile *m, char *why, size_t cap)
{
    if (!valid_name(m->name)) {
        snprintf(why, cap, "bad model name '%s' (1-63 of A-Z a-z 0-9 . _ : / + -)", m->name);
        return WP_EINVAL;
    }
    const char *bad = NULL;
    if (m->size_bytes == 0)
        bad = "size must be > 0";
    else if (!(m->prefill_base_ms >= 0) || !(m->prefill_ms_per_token >= 0) ||
             !(m->decode_ms_per_token >= 0) || !(m->load_fixed_ms >= 0) ||
             !isfinite(m->prefill_base_ms + m->prefill_ms_per_token + m->decode_ms_per_token +
                       m->load_fixed_ms + m->load_bytes_per_s))
        bad = "timings must be finite and >= 0";
    else if (!(m->load_bytes_per_s > 0))
        bad = "load rate must be > 0";
    else if (m->slots_per_gpu < 1)
        bad = "slots per GPU must be >= 1";
    if (bad == NULL)
        return WP_OK;
    snprintf(why, cap, "model %s: %s", m->name, bad);
    return WP_ERANGE;
}

/* ---------------------------------------------------------------- solve */

static int solve(const wp_place_geo *g, const tables *t, wp_place_solution *out, wp_err *err)
{
    size_t C = g->n_cities, M = t->n_models, N = t->n_nodes;
    wp_place_node_in *nodes = calloc(N ? N : 1, sizeof *nodes);
    uint64_t *sizes = calloc(M ? M : 1, sizeof *sizes);
    double *miss = calloc(M ? M : 1, sizeof *miss);
    double *demand = calloc(C * M + 1, sizeof *demand);
    wp_place_pin_in *pins = calloc(t->n_pins ? t->n_pins : 1, sizeof *pins);
    int rv = WP_OK;
    if (!nodes || !sizes || !miss || !demand || !pins) {
        rv = wp_errf(err, WP_ENOMEM, "placement: out of memory");
        goto done;
    }
    for (size_t i = 0; i < N; i++)
        nodes[i] = (wp_place_node_in){t->nodes[i].city, t->nodes[i].gpu_mem_bytes, t->nodes[i].up};
    double max_rtt = 0;
    for (size_t i = 0; i < C * C; i++)
        if (g->rtt_ms[i] > max_rtt)
            max_rtt = g->rtt_ms[i];
    for (size_t m = 0; m < M; m++) {
        sizes[m] = t->models[m].size_bytes;
        miss[m] = max_rtt + wp_model_load_ms(&t->models[m]);
    }
    double pop = 0, measured = 0;
    for (size_t c = 0; c < C; c++)
        pop += g->cities[c].pop_weight;
    for (size_t i = 0; i < t->n_demand; i++)
        measured += t->demand[i].rate_per_s;
    for (size_t c = 0; c < C && M > 0; c++) {
        double share = pop > 0 ? g->cities[c].pop_weight / pop : 1.0 / (double)C;
        double floor = (measured > 0 ? 0.01 : 1.0) * share / (double)M;
        for (size_t m = 0; m < M; m++)
            demand[c * M + m] = floor;
    }
    for (size_t i = 0; i < t->n_demand && measured > 0; i++) {
        long m = find_model(t, t->demand[i].model);
        if (m >= 0)
            demand[t->demand[i].city * M + (size_t)m] += t->demand[i].rate_per_s / measured;
    }
    for (size_t i = 0; i < t->n_pins; i++) {
        long m = find_model(t, t->pins[i].model);
        pins[i] = (wp_place_pin_in){(uint32_t)(m < 0 ? 0 : m), t->pins[i].city,
                                    m < 0 ? 0 : t->pins[i].replicas};
    }
    wp_place_problem p = {
        .n_cities = C, .rtt_rows = g->rows, .n_nodes = N, .nodes = nodes, .n_models = M,
        .model_size_bytes = sizes, .miss_ms = miss, .demand = demand, .n_pins = t->n_pins,
        .pins = pins,
    };
    rv = wp_place_optimize(&p, out, err);
done:
    free(nodes);
    free(sizes);
    free(miss);
    free(demand);
    free(pins);
    return rv;
}

/* ---------------------------------------------------------------- lifecycle */

int wp_place_state_new(const wp_place_geo *geo, wp_place_state **out, wp_err *err)
{
    *out = NULL;
    if (geo == NULL || geo->n_cities == 0)
        return wp_errf(err, WP_EINVAL, "placement: no cities");
    wp_place_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return wp_errf(err, WP_ENOMEM, "placement: out of memory");
    s->geo = geo;
    int rv = solve(geo, &s->t, &s->sol, err);
    if (rv != WP_OK) {
        free(s);
        return rv;
    }
    *out = s;
    return WP_OK;
}

void wp_place_state_free(wp_place_state *s)
{
    if (s == NULL)
        return;
    tables_free(&s->t);
    wp_place_solution_close(&s->sol);
    free(s);
}

/* ---------------------------------------------------------------- apply */

static int refuse(wp_place_result *res, int code, const char *fmt, ...) WP_PRINTF(3, 4);
static int refuse(wp_place_result *res, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    res->code = code;
    vsnprintf(res->msg, sizeof res->msg, fmt, ap);
    va_end(ap);
    return code;
}

static int lookup_city(const wp_place_geo *g, const char *code, uint32_t *out,
                       wp_place_result *res)
{
    int c = wp_place_geo_find(g, code);
    if (c < 0)
        return refuse(res, WP_ENOTFOUND, "unknown city '%s'", code);
    *out = (uint32_t)c;
    return WP_OK;
}

/* Mutates t according to cmd; returns WP_OK or a refusal in res. */
static int mutate(const wp_place_state *s, tables *t, const wp_place_cmd *c, wp_place_result *res)
{
    const wp_place_geo *g = s->geo;
    switch (c->type) {
    case WP_PLACE_CMD_REGISTER_NODE: {
        if (!valid_name(c->node))
            return refuse(res, WP_EINVAL, "bad node id '%s' (1-63 of A-Z a-z 0-9 . _ : / + -)",
                          c->node);
        uint32_t city;
        if (lookup_city(g, c->city, &city, res))
            return res->code;
        if (c->gpus < 1 || c->gpus > WP_PLACE_MAX_GPUS)
            return refuse(res, WP_ERANGE, "node %s: gpus %u out of range 1..%d", c->node, c->gpus,
                          WP_PLACE_MAX_GPUS);
        if (c->gpu_mem_bytes == 0)
            return refuse(res, WP_ERANGE, "node %s: gpu memory must be > 0", c->node);
        wp_place_node n = {.city = city, .gpus = c->gpus, .gpu_mem_bytes = c->gpu_mem_bytes,
                           .up = true};
        snprintf(n.id, sizeof n.id, "%s", c->node);
        long i = find_node(t, c->node);
        if (i >= 0) {
            t->nodes[i] = n;
        } else {
            if (t->n_nodes >= WP_PLACE_MAX_NODES)
                return refuse(res, WP_ENOSPC, "node registry full (%d nodes)", WP_PLACE_MAX_NODES);
            INSERT_SORTED(t->nodes, t->n_nodes, n, node_less);
        }
        return WP_OK;
    }
    case WP_PLACE_CMD_REMOVE_NODE: {
        long i = find_node(t, c->node);
        if (i < 0)
            return refuse(res, WP_ENOTFOUND, "unknown node '%s'", c->node);
        REMOVE_AT(t->nodes, t->n_nodes, (size_t)i);
        return WP_OK;
    }
    case WP_PLACE_CMD_NODE_UP: {
        long i = find_node(t, c->node);
        if (i < 0)
            return refuse(res, WP_ENOTFOUND, "unknown node '%s'", c->node);
        if (t->nodes[i].up == c->up)
            return refuse(res, WP_ESTATE, "node %s is already %s", c->node, c->up ? "up" : "down");
        t->nodes[i].up = c->up;
        return WP_OK;
    }
    case WP_PLACE_CMD_CATALOG_ADD: {
        const wp_model_profile *m = &c->profile;
        char why[sizeof res->msg];
        int code = model_check(m, why, sizeof why);
        if (code != WP_OK)
            return refuse(res, code, "%s", why);
        long i = find_model(t, m->name);
        if (i >= 0) {
            t->models[i] = *m;
        } else {
            if (t->n_models >= WP_PLACE_MAX_MODELS)
                return refuse(res, WP_ENOSPC, "catalog full (%d models)", WP_PLACE_MAX_MODELS);
            INSERT_SORTED(t->models, t->n_models, *m, model_less);
        }
        return WP_OK;
    }
    case WP_PLACE_CMD_CATALOG_REMOVE: {
        long i = find_model(t, c->model);
        if (i < 0)
            return refuse(res, WP_ENOTFOUND, "unknown model '%s'", c->model);
        for (size_t k = 0; k < t->n_pins; k++)
            if (strcmp(t->pins[k].model, c->model) == 0)
                return refuse(res, WP_ESTATE, "model %s is pinned in %s; unpin it first", c->model,
                              g->cities[t->pins[k].city].code);
        REMOVE_AT(t->models, t->n_models, (size_t)i);
        for (size_t k = t->n_demand; k-- > 0;)
            if (strcmp(t->demand[k].model, c->model) == 0)
                REMOVE_AT(t->demand, t->n_demand, k);
        return WP_OK;
    }
    case WP_PLACE_CMD_PIN: {
        if (find_model(t, c->model) < 0)
            return refuse(res, WP_ENOTFOUND, "unknown model '%s'", c->model);
        if (c->replicas < 1 || c->replicas > WP_PLACE_MAX_REPLICAS)
            return refuse(res, WP_ERANGE, "replicas %u out of range 1..%d", c->replicas,
                          WP_PLACE_MAX_REPLICAS);
        if (c->n_cities == 0 || c->n_cities > WP_PLACE_MAX_PIN_CITIES)
            return refuse(res, WP_EINVAL, "pin needs 1..%d cities", WP_PLACE_MAX_PIN_CITIES);
        if (t->n_pins + c->n_cities > WP_PLACE_MAX_PINS)
            return refuse(res, WP_ENOSPC, "too many pins (at most %d)", WP_PLACE_MAX_PINS);
        for (size_t k = 0; k < c->n_cities; k++) {
            uint32_t city;
            if (lookup_city(g, c->cities[k], &city, res))
                return res->code;
            for (size_t j = 0; j < k; j++)
                if (strcasecmp(c->cities[j], c->cities[k]) == 0)
                    return refuse(res, WP_EINVAL, "city %s listed twice", c->cities[k]);
            long i = find_pin(t, c->model, city);
            if (i >= 0) {
                t->pins[i].replicas = c->replicas;
            } else {
                wp_place_pin p = {.city = city, .replicas = c->replicas};
                snprintf(p.model, sizeof p.model, "%s", c->model);
                INSERT_SORTED(t->pins, t->n_pins, p, pin_less);
            }
        }
        return WP_OK;
    }
    case WP_PLACE_CMD_UNPIN: {
        if (find_model(t, c->model) < 0)
            return refuse(res, WP_ENOTFOUND, "unknown model '%s'", c->model);
        if (c->n_cities == 1) {
            uint32_t city;
            if (lookup_city(g, c->cities[0], &city, res))
                return res->code;
            long i = find_pin(t, c->model, city);
            if (i < 0)
                return refuse(res, WP_ENOTFOUND, "model %s is not pinned in %s", c->model,
                              g->cities[city].code);
            REMOVE_AT(t->pins, t->n_pins, (size_t)i);
            return WP_OK;
        }
        size_t removed = 0;
        for (size_t k = t->n_pins; k-- > 0;)
            if (strcmp(t->pins[k].model, c->model) == 0) {
                REMOVE_AT(t->pins, t->n_pins, k);
                removed++;
            }
        if (removed == 0)
            return refuse(res, WP_ENOTFOUND, "model %s is not pinned anywhere", c->model);
        return WP_OK;
    }
    case WP_PLACE_CMD_SET_DEMAND: {
        demand_entry *d = calloc(c->n_demand ? c->n_demand : 1, sizeof *d);
        if (d == NULL)
            return refuse(res, WP_ENOMEM, "out of memory");
        for (size_t k = 0; k < c->n_demand; k++) {
            uint32_t city;
            if (lookup_city(g, c->demand[k].city, &city, res)) {
                free(d);
                return res->code;
            }
            if (find_model(t, c->demand[k].model) < 0) {
                free(d);
                return refuse(res, WP_ENOTFOUND, "unknown model '%s'", c->demand[k].model);
            }
            if (!(c->demand[k].rate_per_s >= 0) || !isfinite(c->demand[k].rate_per_s)) {
                free(d);
                return refuse(res, WP_ERANGE, "demand rate must be finite and >= 0");
            }
            d[k].city = city;
            snprintf(d[k].model, sizeof d[k].model, "%s", c->demand[k].model);
            d[k].rate_per_s = c->demand[k].rate_per_s;
        }
        qsort(d, c->n_demand, sizeof *d, demand_cmp);
        for (size_t k = 1; k < c->n_demand; k++)
            if (demand_cmp(&d[k - 1], &d[k]) == 0) {
                refuse(res, WP_EINVAL, "demand for %s in %s given twice", d[k].model,
                       g->cities[d[k].city].code);
                free(d);
                return res->code;
            }
        free(t->demand);
        t->demand = d;
        t->n_demand = c->n_demand;
        return WP_OK;
    }
    default:
        return refuse(res, WP_EPROTO, "unknown command type %d", c->type);
    }
}

int wp_place_state_apply_cmd(wp_place_state *s, const wp_place_cmd *c, wp_place_result *res)
{
    memset(res, 0, sizeof *res);
    res->version = s->version;
    tables t;
    size_t extra = c->type == WP_PLACE_CMD_PIN ? c->n_cities : 1;
    if (tables_clone(&s->t, &t, extra) != WP_OK) {
        refuse(res, WP_ENOMEM, "out of memory");
        return WP_ENOMEM;
    }
    if (mutate(s, &t, c, res) != WP_OK) {
        tables_free(&t);
        return res->code == WP_ENOMEM ? WP_ENOMEM : WP_OK;
    }
    wp_place_solution sol;
    wp_err err = {0};
    if (solve(s->geo, &t, &sol, &err) != WP_OK) {
        tables_free(&t);
        refuse(res, err.code, "%s", wp_err_text(&err));
        return err.code == WP_ENOMEM ? WP_ENOMEM : WP_OK;
    }
    /* A pin must be met in full and may not leave an older pin short. */
    if (c->type == WP_PLACE_CMD_PIN || c->type == WP_PLACE_CMD_CATALOG_ADD) {
        for (size_t i = 0; i < t.n_pins; i++) {
            bool is_new = false;
            for (size_t k = 0; k < c->n_cities && c->type == WP_PLACE_CMD_PIN; k++)
                if (strcmp(t.pins[i].model, c->model) == 0 &&
                    strcasecmp(s->geo->cities[t.pins[i].city].code, c->cities[k]) == 0)
                    is_new = true;
            if (is_new && sol.pin_placed[i] < t.pins[i].replicas) {
                refuse(res, WP_ENOSPC,
                       "replicas larger than capacity: %s has room for %u of %u replicas of %s",
                       s->geo->cities[t.pins[i].city].code, sol.pin_placed[i],
                       t.pins[i].replicas, t.pins[i].model);
                break;
            }
        }
        if (res->code == WP_OK && sol.pin_shortfall > s->sol.pin_shortfall)
            refuse(res, WP_ENOSPC, "not enough GPU memory: this would leave %u pinned replicas "
                   "unplaced (now %u)", sol.pin_shortfall, s->sol.pin_shortfall);
        if (res->code != WP_OK) {
            wp_place_solution_close(&sol);
            tables_free(&t);
            return WP_OK;
        }
    }
    tables_free(&s->t);
    s->t = t;
    wp_place_solution_close(&s->sol);
    s->sol = sol;
    s->version++;
    res->code = WP_OK;
    res->version = s->version;
    snprintf(res->msg, sizeof res->msg, "%s applied", wp_place_cmd_name(c->type));
    return WP_OK;
}

int wp_place_state_apply(wp_place_state *s, const void *buf, size_t len, wp_place_result *res)
{
    wp_place_cmd c;
    wp_err err = {0};
    if (wp_place_cmd_decode(buf, len, &c, &err) != WP_OK) {
        memset(res, 0, sizeof *res);
        res->version = s->version;
        refuse(res, err.code ? err.code : WP_EPARSE, "bad command: %s", wp_err_text(&err));
        return err.code == WP_ENOMEM ? WP_ENOMEM : WP_OK;
    }
    int rv = wp_place_state_apply_cmd(s, &c, res);
    wp_place_cmd_close(&c);
    return rv;
}

/* ---------------------------------------------------------------- snapshot */

int wp_place_state_snapshot(const wp_place_state *s, void **buf, size_t *len, wp_err *err)
{
    const tables *t = &s->t;
    const wp_place_geo *g = s->geo;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 7);
    wp__mp_pack_str(&pk, SNAP_MAGIC);
    msgpack_pack_uint32(&pk, SNAP_FORMAT);
    msgpack_pack_uint64(&pk, s->version);
    msgpack_pack_array(&pk, t->n_nodes);
    for (size_t i = 0; i < t->n_nodes; i++) {
        const wp_place_node *n = &t->nodes[i];
        msgpack_pack_array(&pk, 5);
        wp__mp_pack_str(&pk, n->id);
        wp__mp_pack_str(&pk, g->cities[n->city].code);
        msgpack_pack_uint32(&pk, n->gpus);
        msgpack_pack_uint64(&pk, n->gpu_mem_bytes);
        if (n->up)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
    }
    msgpack_pack_array(&pk, t->n_models);
    for (size_t i = 0; i < t->n_models; i++)
        wp__place_pack_profile(&pk, &t->models[i]);
    msgpack_pack_array(&pk, t->n_pins);
    for (size_t i = 0; i < t->n_pins; i++) {
        msgpack_pack_array(&pk, 3);
        wp__mp_pack_str(&pk, t->pins[i].model);
        wp__mp_pack_str(&pk, g->cities[t->pins[i].city].code);
        msgpack_pack_uint32(&pk, t->pins[i].replicas);
    }
    msgpack_pack_array(&pk, t->n_demand);
    for (size_t i = 0; i < t->n_demand; i++) {
        msgpack_pack_array(&pk, 3);
        wp__mp_pack_str(&pk, g->cities[t->demand[i].city].code);
        wp__mp_pack_str(&pk, t->demand[i].model);
        msgpack_pack_double(&pk, t->demand[i].rate_per_s);
    }
    if (sb.data == NULL) {
        msgpack_sbuffer_destroy(&sb);
        return wp_errf(err, WP_ENOMEM, "snapshot: out of memory");
    }
    *len = sb.size;
    *buf = msgpack_sbuffer_release(&sb);
    return WP_OK;
}

static int snap_city(const wp_place_geo *g, const msgpack_object *o, uint32_t *city, wp_err *err)
{
    char code[WP_PLACE_CODE_MAX];
    int rv = wp__mp_str(o, code, sizeof code, "city", err);
    if (rv != WP_OK)
        return rv;
    int c = wp_place_geo_find(g, code);
    if (c < 0)
        return wp_errf(err, WP_ENOTFOUND, "city '%s' is not in this server's topology", code);
    *city = (uint32_t)c;
    return WP_OK;
}

static int decode_snapshot(const wp_place_geo *g, const msgpack_object *root, tables *t,
                           uint64_t *version, wp_err *err)
{
    int rv;
    char magic[32];
    uint32_t format;
    if ((rv = wp__mp_array(root, 7, 7, "snapshot", err)))
        return rv;
    const msgpack_object *f = root->via.array.ptr;
    if ((rv = wp__mp_str(&f[0], magic, sizeof magic, "snapshot magic", err)))
        return rv;
    if (strcmp(magic, SNAP_MAGIC) != 0)
        return wp_errf(err, WP_EPROTO, "not a placement snapshot");
    if ((rv = wp__mp_u32(&f[1], &format, "snapshot format", err)))
        return rv;
    if (format != SNAP_FORMAT)
        return wp_errf(err, WP_EUNSUPPORTED, "snapshot format %u not supported", format);
    if ((rv = wp__mp_u64(&f[2], version, "snapshot version", err)) ||
        (rv = wp__mp_array(&f[3], 0, WP_PLACE_MAX_NODES, "nodes", err)) ||
        (rv = wp__mp_array(&f[4], 0, WP_PLACE_MAX_MODELS, "models", err)) ||
        (rv = wp__mp_array(&f[5], 0, WP_PLACE_MAX_PINS, "pins", err)) ||
        (rv = wp__mp_array(&f[6], 0, WP_PLACE_MAX_DEMAND, "demand", err)))
        return rv;
    size_t nn = f[3].via.array.size, nm = f[4].via.array.size, np = f[5].via.array.size,
           nd = f[6].via.array.size;
    t->nodes = calloc(nn + 1, sizeof *t->nodes);
    t->models = calloc(nm + 1, sizeof *t->models);
    t->pins = calloc(np + 1, sizeof *t->pins);
    t->demand = calloc(nd + 1, sizeof *t->demand);
    if (!t->nodes || !t->models || !t->pins || !t->demand)
        return wp_errf(err, WP_ENOMEM, "snapshot: out of memory");
    for (size_t i = 0; i < nn; i++) {
        const msgpack_object *e = &f[3].via.array.ptr[i];
        wp_place_node *n = &t->nodes[i];
        if ((rv = wp__mp_array(e, 5, 5, "node", err)) ||
            (rv = wp__mp_str(&e->via.array.ptr[0], n->id, sizeof n->id, "node id", err)) ||
            (rv = snap_city(g, &e->via.array.ptr[1], &n->city, err)) ||
            (rv = wp__mp_u32(&e->via.array.ptr[2], &n->gpus, "gpus", err)) ||
            (rv = wp__mp_u64(&e->via.array.ptr[3], &n->gpu_mem_bytes, "gpu_mem_bytes", err)) ||
            (rv = wp__mp_bool(&e->via.array.ptr[4], &n->up, "up", err)))
            return rv;
        if (!valid_name(n->id) || n->gpus < 1 || n->gpus > WP_PLACE_MAX_GPUS ||
            n->gpu_mem_bytes == 0)
            return wp_errf(err, WP_EPROTO,
                           "snapshot: node '%s': bad id, gpus %u or gpu memory %llu bytes", n->id,
                           n->gpus, (unsigned long long)n->gpu_mem_bytes);
        if (i > 0 && strcmp(t->nodes[i - 1].id, n->id) >= 0)
            return wp_errf(err, WP_EPROTO, "snapshot: nodes not sorted or repeated at '%s'", n->id);
        t->n_nodes++;
    }
    for (size_t i = 0; i < nm; i++) {
        const msgpack_object *e = &f[4].via.array.ptr[i];
        if ((rv = wp__mp_array(e, PROFILE_FIELDS, PROFILE_FIELDS, "model", err)) ||
            (rv = wp__place_unpack_profile(e->via.array.ptr, &t->models[i], err)))
            return rv;
        if (t->models[i].size_bytes == 0)
            return wp_errf(err, WP_EPROTO, "snapshot: model %s has size 0", t->models[i].name);
        char why[256];
        if (model_check(&t->models[i], why, sizeof why) != WP_OK)
            return wp_errf(err, WP_EPROTO, "snapshot: %s", why);
        if (i > 0 && strcmp(t->models[i - 1].name, t->models[i].name) >= 0)
            return wp_errf(err, WP_EPROTO, "snapshot: models not sorted or repeated at '%s'",
                           t->models[i].name);
        t->n_models++;
    }
    for (size_t i = 0; i < np; i++) {
        const msgpack_object *e = &f[5].via.array.ptr[i];
        wp_place_pin *p = &t->pins[i];
        if ((rv = wp__mp_array(e, 3, 3, "pin", err)) ||
            (rv = wp__mp_str(&e->via.array.ptr[0], p->model, sizeof p->model, "pin model", err)) ||
            (rv = snap_city(g, &e->via.array.ptr[1], &p->city, err)) ||
            (rv = wp__mp_u32(&e->via.array.ptr[2], &p->replicas, "replicas", err)))
            return rv;
        if (find_model(t, p->model) < 0)
            return wp_errf(err, WP_EPROTO, "snapshot: pin of unknown model '%s'", p->model);
        if (p->replicas < 1 || p->replicas > WP_PLACE_MAX_REPLICAS)
            return wp_errf(err, WP_EPROTO, "snapshot: pin of %s: replicas %u out of range 1..%d",
                           p->model, p->replicas, WP_PLACE_MAX_REPLICAS);
        if (i > 0 && pin_cmp(&t->pins[i - 1], p) >= 0)
            return wp_errf(err, WP_EPROTO, "snapshot: pins not sorted or repeated");
        t->n_pins++;
    }
    for (size_t i = 0; i < nd; i++) {
        const msgpack_object *e = &f[6].via.array.ptr[i];
        demand_entry *d = &t->demand[i];
        if ((rv = wp__mp_array(e, 3, 3, "demand", err)) ||
            (rv = snap_city(g, &e->via.array.ptr[0], &d->city, err)) ||
            (rv = wp__mp_str(&e->via.array.ptr[1], d->model, sizeof d->model, "demand model",
                             err)) ||
            (rv = wp__mp_double(&e->via.array.ptr[2], &d->rate_per_s, "demand rate", err)))
            return rv;
        if (find_model(t, d->model) < 0 || d->rate_per_s < 0)
            return wp_errf(err, WP_EPROTO, "snapshot: bad demand entry for '%s'", d->model);
        /* set-demand stores entries sorted by (city, model), each once. */
        if (i > 0 && demand_cmp(&t->demand[i - 1], d) >= 0)
            return wp_errf(err, WP_EPROTO, "snapshot: demand not sorted or repeated at '%s'",
                           d->model);
        t->n_demand++;
    }
    return WP_OK;
}

int wp_place_state_restore(wp_place_state *s, const void *buf, size_t len, wp_err *err)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    tables t = {0};
    uint64_t version = 0;
    wp_place_solution sol = {0};
    int rv = wp__mp_unpack(buf, len, WP_PLACE_SNAPSHOT_MAX_BYTES, WP_PLACE_MAX_DEMAND, &u, err);
    if (rv == WP_OK)
        rv = decode_snapshot(s->geo, &u.data, &t, &version, err);
    msgpack_unpacked_destroy(&u);
    if (rv == WP_OK)
        rv = solve(s->geo, &t, &sol, err);
    if (rv != WP_OK) {
        tables_free(&t);
        return wp_err_wrap(err, "restore");
    }
    tables_free(&s->t);
    s->t = t;
    wp_place_solution_close(&s->sol);
    s->sol = sol;
    s->version = version;
    return WP_OK;
}

/* ---------------------------------------------------------------- queries */

uint64_t wp_place_state_version(const wp_place_state *s) { return s->version; }
const wp_place_geo *wp_place_state_geo(const wp_place_state *s) { return s->geo; }
size_t wp_place_state_node_count(const wp_place_state *s) { return s->t.n_nodes; }
const wp_place_node *wp_place_state_node(const wp_place_state *s, size_t i)
{
    return i < s->t.n_nodes ? &s->t.nodes[i] : NULL;
}
int wp_place_state_find_node(const wp_place_state *s, const char *id)
{
    return (int)find_node(&s->t, id);
}
size_t wp_place_state_model_count(const wp_place_state *s) { return s->t.n_models; }
const wp_model_profile *wp_place_state_model(const wp_place_state *s, size_t i)
{
    return i < s->t.n_models ? &s->t.models[i] : NULL;
}
int wp_place_state_find_model(const wp_place_state *s, const char *name)
{
    return (int)find_model(&s->t, name);
}
size_t wp_place_state_pin_count(const wp_place_state *s) { return s->t.n_pins; }
size_t wp_place_state_demand_count(const wp_place_state *s) { return s->t.n_demand; }
const wp_place_pin *wp_place_state_pin(const wp_place_state *s, size_t i)
{
    return i < s->t.n_pins ? &s->t.pins[i] : NULL;
}
const wp_place_solution *wp_place_state_assignment(const wp_place_state *s) { return &s->sol; }
