/* html_map.c — the world map of `wpctl … --html`, drawn server-side into
 * SVG paths so the page shows it with no script.
 *
 * Input. The Natural Earth 1:110m country outlines as TopoJSON
 * (topology/data/countries-110m.json, from world-atlas; embedded in wpctl
 * at build time by cmake/wp_embed.cmake, never read from disk at run
 * time). The project has no C JSON reader among its dependencies
 * (scripts/deps.sh), so this file carries a small one, written by hand
 * for this purpose: a recursive-descent parser into a tree of values,
 * with a depth limit, an item budget (the tree's size is bounded whatever
 * the input) and the input's size checked before anything is allocated.
 * It never reads past the input's end (no NUL is assumed), so
 * wpctl_map_svg_from takes any bytes: tests/unit/test_html_map.c and the
 * TOPOJSON fuzz target feed it bad ones.
 *
 * TopoJSON, the parts used. `transform` {scale, translate} and `arcs`: a
 * list of arcs, each a list of quantized [dx, dy] positions, delta-encoded
 * (position k = sum of the first k+1 pairs; degrees = q * scale +
 * translate). A geometry's `arcs` nests lists of arc indices: Polygon =
 * rings, MultiPolygon = polygons of rings. A ring is the concatenation of
 * its arcs, each arc's first point dropping (it repeats the previous
 * arc's last); index ~i (negative) means arc i reversed. Any innermost
 * list of numbers is therefore one ring, whatever the geometry type.
 *
 * Projection. Equirectangular (plate carrée): x = (lon + 180) * k,
 * y = (90 - lat) * k, k = WPCTL_MAP_W / 360. Natural Earth cuts its
 * polygons at the antimeridian, so no ring wraps. The view box crops
 * Antarctica (below 58 S) and the far north (above 84 N): no users live
 * there and it would take a third of the picture. Points are written with
 * one decimal and a point equal to the previous one after rounding is
 * dropped (the 1:110m outlines lose nothing visible; the file shrinks).
 */
#include "tools/wpctl/html_report.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

extern const unsigned char wpctl_map_countries[];
extern const size_t wpctl_map_countries_len;

/* HTML escaping for every html_*.c (here, with the map, so that the map
 * builds alone into the wpctl_map library the tests link). */
void wpctl_html_text(FILE *fp, const char *s, size_t len)
{
    for (size_t i = 0; i < len && s[i]; i++) {
        switch (s[i]) {
        case '&': fputs("&amp;", fp); break;
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '"': fputs("&quot;", fp); break;
        case '\'': fputs("&#39;", fp); break;
        default: fputc(s[i], fp);
        }
    }
}

/* ---------------------------------------------------------------- JSON */

typedef enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
    jtype type;
    double num;
    const char *str; /* J_STR: points into the input (escapes not decoded) */
    size_t len;      /* J_STR: bytes; J_ARR / J_OBJ: number of items */
    struct jval *item; /* J_ARR / J_OBJ: items (objects: key at i, value at i+1... see key) */
    const char **key;  /* J_OBJ: key of item i (unterminated, keylen[i] bytes) */
    size_t *keylen;
} jval;

typedef struct jparser {
    const char *p, *end;
    int depth;
    size_t items; /* values made so far, against JSON_MAX_ITEMS */
    wp_err *err;
} jparser;

#define JSON_MAX_DEPTH 32
#define JSON_MAX_BYTES (8u << 20)
/* The shipped outlines hold 28,280 values; the budget bounds the tree
 * (about 56 bytes a value) at some 56 MiB for hostile input. */
#define JSON_MAX_ITEMS (1u << 20)
#define JSON_MAX_NUMBER 64 /* characters of one number */

static void skip_ws(jparser *j)
{
    while (j->p < j->end && isspace((unsigned char)*j->p))
        j->p++;
}

static int jfail(jparser *j, const char *what)
{
    return wp_errf(j->err, WP_EPARSE, "map: %s", what);
}

static void jfree(jval *v)
{
    if (v->type == J_ARR || v->type == J_OBJ) {
        for (size_t i = 0; i < v->len; i++)
            jfree(&v->item[i]);
        free(v->item);
        free(v->key);
        free(v->keylen);
    }
    memset(v, 0, sizeof *v);
}

static int parse_value(jparser *j, jval *out);

static int parse_string(jparser *j, const char **s, size_t *len)
{
    if (j->p >= j->end || *j->p != '"')
        return jfail(j, "expected a string");
    const char *start = ++j->p;
    while (j->p < j->end && *j->p != '"')
        j->p += (*j->p == '\\' && j->p + 1 < j->end) ? 2 : 1;
    if (j->p >= j->end)
        return jfail(j, "unterminated string");
    *s = start;
    *len = (size_t)(j->p - start);
    j->p++;
    return WP_OK;
}

/* Arrays and objects: items grow by doubling. */
static int push_item(jparser *j, jval *v, size_t *cap, bool with_key)
{
    if (++j->items > JSON_MAX_ITEMS)
        return wp_errf(j->err, WP_ETOOBIG, "map: more than %u values", JSON_MAX_ITEMS);
    if (v->len < *cap)
        return WP_OK;
    size_t ncap = *cap ? *cap * 2 : 4;
    jval *item = realloc(v->item, ncap * sizeof *item);
    if (!item)
        return wp_errf(j->err, WP_ENOMEM, "out of memory");
    v->item = item;
    if (with_key) {
        const char **key = realloc(v->key, ncap * sizeof *key);
        if (!key)
            return wp_errf(j->err, WP_ENOMEM, "out of memory");
        v->key = key;
        size_t *keylen = realloc(v->keylen, ncap * sizeof *keylen);
        if (!keylen)
            return wp_errf(j->err, WP_ENOMEM, "out of memory");
        v->keylen = keylen;
    }
    *cap = ncap;
    return WP_OK;
}

static int parse_container(jparser *j, jval *out, bool obj)
{
    if (++j->depth > JSON_MAX_DEPTH)
        return jfail(j, "nested too deep");
    out->type = obj ? J_OBJ : J_ARR;
    j->p++; /* [ or { */
    size_t cap = 0;
    skip_ws(j);
    char close = obj ? '}' : ']';
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return WP_OK;
    }
    for (;;) {
        int rv = push_item(j, out, &cap, obj);
        if (rv != WP_OK)
            return rv;
        skip_ws(j);
        if (obj) {
            if ((rv = parse_string(j, &out->key[out->len], &out->keylen[out->len])) != WP_OK)
                return rv;
            skip_ws(j);
            if (j->p >= j->end || *j->p++ != ':')
                return jfail(j, "expected ':'");
        }
        memset(&out->item[out->len], 0, sizeof out->item[0]);
        out->len++;
        if ((rv = parse_value(j, &out->item[out->len - 1])) != WP_OK)
            return rv;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == close) {
            j->p++;
            j->depth--;
            return WP_OK;
        }
        return jfail(j, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int parse_value(jparser *j, jval *out)
{
    skip_ws(j);
    if (j->p >= j->end)
        return jfail(j, "unexpected end");
    char c = *j->p;
    if (c == '{' || c == '[')
        return parse_container(j, out, c == '{');
    if (c == '"') {
        out->type = J_STR;
        return parse_string(j, &out->str, &out->len);
    }
    static const struct { const char *word; jtype type; } words[] = {
        {"null", J_NULL}, {"true", J_BOOL}, {"false", J_BOOL}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i].word);
        if ((size_t)(j->end - j->p) >= n && memcmp(j->p, words[i].word, n) == 0) {
            out->type = words[i].type;
            out->num = c == 't';
            j->p += n;
            return WP_OK;
        }
    }
    /* A number: its characters copied out (bounded, NUL-terminated) for
     * strtod, which must consume all of them. */
    char num[JSON_MAX_NUMBER + 1];
    size_t n = 0;
    while (j->p + n < j->end && n < JSON_MAX_NUMBER && strchr("+-.0123456789eE", j->p[n]) &&
           j->p[n] != '\0')
        n++;
    memcpy(num, j->p, n);
    num[n] = '\0';
    char *stop = NULL;
    out->num = strtod(num, &stop);
    if (n == 0 || stop != num + n || !isfinite(out->num))
        return jfail(j, "bad value");
    out->type = J_NUM;
    j->p += n;
    return WP_OK;
}

static const jval *jget(const jval *obj, const char *key)
{
    if (!obj || obj->type != J_OBJ)
        return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < obj->len; i++)
        if (obj->keylen[i] == n && memcmp(obj->key[i], key, n) == 0)
            return &obj->item[i];
    return NULL;
}

/* ---------------------------------------------------------------- drawing */

typedef struct map_ctx {
    const jval *arcs;
    double sx, sy, tx, ty; /* transform */
    FILE *fp;
    double last_x, last_y; /* last point written (rounded) */
    bool first;            /* next point starts the ring (M) */
    double *ring;          /* the current ring's lon, lat pairs */
    size_t nring, capring;
    size_t points;         /* all rings' points so far, against MAP_MAX_POINTS */
} map_ctx;

/* In a topology each arc is shared by at most two rings, so a drawing has
 * at most twice the positions the input holds; anything beyond is an input
 * that reuses arcs to blow up (a ring of 1,000 copies of a 1,000-point
 * arc). */
#define MAP_MAX_POINTS (2 * (size_t)JSON_MAX_ITEMS)

void wpctl_map_project(double lat, double lon, double *x, double *y)
{
    double k = WPCTL_MAP_W / 360.0;
    *x = (lon + 180.0) * k;
    *y = (90.0 - lat) * k;
}

static int ring_add(map_ctx *m, double lon, double lat, wp_err *err)
{
    if (++m->points > MAP_MAX_POINTS)
        return wp_errf(err, WP_ETOOBIG, "map: more than %zu points drawn", MAP_MAX_POINTS);
    if (m->nring == m->capring) {
        size_t cap = m->capring ? m->capring * 2 : 256;
        double *p = realloc(m->ring, cap * 2 * sizeof *p);
        if (!p)
            return wp_errf(err, WP_ENOMEM, "out of memory");
        m->ring = p;
        m->capring = cap;
    }
    m->ring[2 * m->nring] = lon;
    m->ring[2 * m->nring + 1] = lat;
    m->nring++;
    return WP_OK;
}

static void put_point(map_ctx *m, double lon, double lat)
{
    double x, y;
    wpctl_map_project(lat, lon, &x, &y);
    x = round(x * 10) / 10;
    y = round(y * 10) / 10;
    if (!m->first && x == m->last_x && y == m->last_y)
        return;
    fprintf(m->fp, "%s%.1f %.1f", m->first ? "M" : "L", x, y);
    m->first = false;
    m->last_x = x;
    m->last_y = y;
}

/* Writes arc `idx` (negative: ~arc, reversed) of the current ring. */
static int put_arc(map_ctx *m, long idx, wp_err *err)
{
    bool rev = idx < 0;
    size_t a = (size_t)(rev ? ~idx : idx);
    if (a >= m->arcs->len || m->arcs->item[a].type != J_ARR)
        return wp_errf(err, WP_EPARSE, "map: arc %zu out of range", a);
    const jval *arc = &m->arcs->item[a];
    /* Decode the deltas first (arcs are short: 1:110m has < 700 points). */
    size_t n = arc->len;
    double *pt = malloc((n ? n : 1) * 2 * sizeof *pt);
    if (!pt)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    double qx = 0, qy = 0;
    for (size_t i = 0; i < n; i++) {
        const jval *p = &arc->item[i];
        if (p->type != J_ARR || p->len < 2 || p->item[0].type != J_NUM ||
            p->item[1].type != J_NUM) {
            free(pt);
            return wp_errf(err, WP_EPARSE, "map: arc %zu: bad position", a);
        }
        qx += p->item[0].num;
        qy += p->item[1].num;
        pt[2 * i] = qx * m->sx + m->tx;
        pt[2 * i + 1] = qy * m->sy + m->ty;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = rev ? n - 1 - k : k;
        if (k == 0 && m->nring > 0)
            continue; /* repeats the previous arc's last point */
        int rv = ring_add(m, pt[2 * i], pt[2 * i + 1], err);
        if (rv != WP_OK) {
            free(pt);
            return rv;
        }
    }
    free(pt);
    return WP_OK;
}

/* Writes the collected ring. A ring that crosses the antimeridian (a step
 * of more than 180 degrees between neighbours: Russia's Chukotka, Fiji) is
 * unwrapped into continuous longitudes and drawn twice, once shifted by
 * 360 degrees, so each side shows its part and the view box clips the
 * rest; drawn as is, it would fill a band across the whole map. */
static void put_ring(map_ctx *m)
{
    double lo = 0, hi = 0, shift = 0;
    for (size_t i = 0; i < m->nring; i++) {
        if (i > 0) {
            double d = m->ring[2 * i] + shift - m->ring[2 * (i - 1)];
            if (d > 180)
                shift -= 360;
            else if (d < -180)
                shift += 360;
        }
        m->ring[2 * i] += shift;
        if (i == 0 || m->ring[2 * i] < lo)
            lo = m->ring[2 * i];
        if (i == 0 || m->ring[2 * i] > hi)
            hi = m->ring[2 * i];
    }
    double copies[2] = {0, lo < -180.5 ? 360 : hi > 180.5 ? -360 : 0};
    for (int c = 0; c < (copies[1] != 0 ? 2 : 1); c++) {
        m->first = true;
        for (size_t i = 0; i < m->nring; i++)
            put_point(m, m->ring[2 * i] + copies[c], m->ring[2 * i + 1]);
        fputc('Z', m->fp);
    }
    m->nring = 0;
}

/* Walks a geometry's nested `arcs`: an array of numbers is one ring. */
static int put_rings(map_ctx *m, const jval *v, wp_err *err)
{
    if (v->type != J_ARR)
        return wp_errf(err, WP_EPARSE, "map: geometry arcs: expected arrays");
    if (v->len > 0 && v->item[0].type == J_NUM) {
        m->nring = 0;
        for (size_t i = 0; i < v->len; i++) {
            double a = v->item[i].num;
            /* an index is an integer, ~i for arc i reversed: -len..len-1 */
            if (v->item[i].type != J_NUM || a != floor(a) || a < -(double)m->arcs->len ||
                a >= (double)m->arcs->len)
                return wp_errf(err, WP_EPARSE, "map: ring: expected arc indices (0..%zu or ~i)",
                               m->arcs->len ? m->arcs->len - 1 : 0);
            int rv = put_arc(m, (long)a, err);
            if (rv != WP_OK)
                return rv;
        }
        put_ring(m);
        return WP_OK;
    }
    for (size_t i = 0; i < v->len; i++) {
        int rv = put_rings(m, &v->item[i], err);
        if (rv != WP_OK)
            return rv;
    }
    return WP_OK;
}

static bool read_pair(const jval *v, double *a, double *b)
{
    if (!v || v->type != J_ARR || v->len != 2 || v->item[0].type != J_NUM ||
        v->item[1].type != J_NUM)
        return false;
    *a = v->item[0].num;
    *b = v->item[1].num;
    return true;
}

static int draw_countries(const jval *root, FILE *fp, wp_err *err)
{
    const jval *tr = jget(root, "transform");
    map_ctx m = {.arcs = jget(root, "arcs"), .fp = fp};
    if (!read_pair(jget(tr, "scale"), &m.sx, &m.sy) ||
        !read_pair(jget(tr, "translate"), &m.tx, &m.ty))
        return wp_errf(err, WP_EPARSE, "map: missing or bad transform");
    if (!m.arcs || m.arcs->type != J_ARR)
        return wp_errf(err, WP_EPARSE, "map: missing arcs");
    const jval *geoms = jget(jget(jget(root, "objects"), "countries"), "geometries");
    if (!geoms || geoms->type != J_ARR)
        return wp_errf(err, WP_EPARSE, "map: missing objects.countries.geometries");
    for (size_t g = 0; g < geoms->len; g++) {
        const jval *arcs = jget(&geoms->item[g], "arcs");
        if (!arcs)
            continue; /* a geometry with no outline (null) */
        const jval *name = jget(jget(&geoms->item[g], "properties"), "name");
        fputs("<path class=\"land\" d=\"", fp);
        int rv = put_rings(&m, arcs, err);
        if (rv != WP_OK) {
            free(m.ring);
            return rv;
        }
        fputs("\">", fp);
        if (name && name->type == J_STR) {
            fputs("<title>", fp);
            wpctl_html_text(fp, name->str, name->len);
            fputs("</title>", fp);
        }
        fputs("</path>\n", fp);
    }
    free(m.ring);
    return WP_OK;
}

int wpctl_map_svg_from(const char *json, size_t len, FILE *fp, wp_err *err)
{
    if (len > JSON_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "map: outline data over %u bytes", JSON_MAX_BYTES);
    jparser j = {.p = json, .end = json + len, .err = err};
    jval root;
    memset(&root, 0, sizeof root);
    int rv = parse_value(&j, &root);
    if (rv == WP_OK) {
        skip_ws(&j);
        if (j.p != j.end)
            rv = jfail(&j, "data after the end of the document");
    }
    if (rv == WP_OK)
        rv = draw_countries(&root, fp, err);
    jfree(&root);
    return rv;
}

int wpctl_map_outlines_svg(FILE *fp, wp_err *err)
{
    return wpctl_map_svg_from((const char *)wpctl_map_countries, wpctl_map_countries_len, fp,
                              err);
}
