/* topology/graph.c — path distances over the internet backbone graph.
 *
 * Real paths follow land routes and submarine cables, not great circles:
 * Africa to Asia goes through Europe or round the Cape, South America to
 * Europe through the US or across from Fortaleza. The shipped graph
 * (topohub's TopoGen backbone: 1,246 cities, 621 cable landing points,
 * 2,145 cable waypoints; 2,452 land and 3,009 sea links with km) gives
 * those routes; see topology/data/SOURCES.md.
 *
 * Distance between two points A and B (cities of a preset, user points):
 *   - A joins its WP_GRAPH_ATTACH nearest graph nodes of kind city or
 *     landing (never a cable waypoint in mid-ocean) by a virtual link of
 *     great-circle km x land_factor; so does B. A and B are only ends:
 *     a path never passes through another endpoint, since endpoints are not
 *     graph nodes.
 *   - Land links weigh km x land_factor (roads and rail that fibre follows
 *     are longer than the straight line the graph stores); sea links weigh
 *     their km (the graph's cable routes already follow the cable).
 *   - d(A,B) = min over attachments i of A, j of B of
 *     att(A,i) + dijkstra(i,j) + att(B,j); and when A and B are under
 *     WP_GRAPH_DIRECT_KM apart also the direct great circle x land_factor
 *     (metro and regional fibre the graph does not hold; without it two
 *     points of one metro would detour through their shared node).
 *   - No path (a graph split in pieces): the great circle x land_factor.
 *
 * Cost: one Dijkstra (common/'s binary heap, lazy deletion) per source point over
 * the CSR adjacency, O((V + E) log V): ~4,000 nodes and ~11,000 arcs, well
 * under a millisecond each; the edge preset's 338 x 338 matrix is 338 runs.
 * Attaching is a scan of the ~1,900 attachable nodes per point.
 *
 * Loading is strict and bounded: at most WP_GRAPH_MAX_NODES nodes and
 * WP_GRAPH_MAX_EDGES edges, node ids in 0..10,000,000, each error one line
 * naming file, line and column; an edge naming an unknown node, a
 * duplicate node id, a negative or non-finite km are errors.
 */
#include "topology/topology_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WP_GRAPH_MAX_ID 10000000L

typedef enum node_kind { NODE_CITY, NODE_LANDING, NODE_WAYPOINT } node_kind;

struct wp_graph {
    size_t n, m;          /* nodes, undirected edges */
    double *lat, *lon;    /* per node */
    double *vec;          /* unit vectors, 3 per node */
    unsigned char *kind;  /* node_kind */
    size_t *off;          /* CSR: arcs of node i are off[i]..off[i+1]-1 */
    uint32_t *to;
    double *km;           /* arc length, km */
    unsigned char *land;  /* arc is a land link */
    uint32_t *attachable; /* ids of city/landing nodes */
    size_t nattach;
};

static void unit_vec3(double lat, double lon, double v[3])
{
    const double d2r = 3.14159265358979323846 / 180.0;
    double p = lat * d2r, l = lon * d2r;
    v[0] = cos(p) * cos(l);
    v[1] = cos(p) * sin(l);
    v[2] = sin(p);
}

void wp_graph_free(wp_graph *g)
{
    if (g == NULL)
        return;
    free(g->lat);
    free(g->lon);
    free(g->vec);
    free(g->kind);
    free(g->off);
    free(g->to);
    free(g->km);
    free(g->land);
    free(g->attachable);
    free(g);
}

size_t wp_graph_node_count(const wp_graph *g)
{
    return g->n;
}

size_t wp_graph_edge_count(const wp_graph *g)
{
    return g->m;
}

static int open_csv(const char *path, const char *blob, wp_csv *c, wp_err *err)
{
    return path ? wp_csv_open(c, path, err) : wp__topo_open_blob(blob, c, err);
}

static int header_cols(wp_csv *c, const char *const *names, int *col, int k, wp_err *err)
{
    int rv = wp_csv_next(c, err);
    if (rv == WP_ENOTFOUND)
        return wp_errf(err, WP_EPARSE, "%s: empty file (expected a header line)", c->path);
    if (rv != WP_OK)
        return rv;
    for (int i = 0; i < k; i++) {
        col[i] = wp_csv_find(c, names[i]);
        if (col[i] < 0)
            return wp_errf(err, WP_EPARSE, "%s:%ld: missing column '%s'", c->path, c->line_no,
                           names[i]);
    }
    return WP_OK;
}

static int field_id(const wp_csv *c, int col, const char *name, long *out, wp_err *err)
{
    const char *s = NULL;
    int rv = wp__csv_field(c, col, name, &s, err);
    if (rv != WP_OK)
        return rv;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 0 || v > WP_GRAPH_MAX_ID)
        return wp_errf(err, WP_EPARSE, "%s:%ld: column %s: expected a node id in 0..%ld, got "
                       "'%.32s'", c->path, c->line_no, name, WP_GRAPH_MAX_ID, s);
    *out = v;
    return WP_OK;
}

/* Grows a by doubling to hold at least need items of size sz. */
static int grow(void **a, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return WP_OK;
    size_t ncap = *cap ? *cap * 2 : 1024;
    void *p = realloc(*a, ncap * sz);
    if (p == NULL)
        return WP_ENOMEM;
    *a = p;
    *cap = ncap;
    return WP_OK;
}

typedef struct raw_node {
    long id;
    double lat, lon;
    unsigned char kind;
} raw_node;

typedef struct raw_edge {
    uint32_t u, v; /* node indexes */
    double km;
    unsigned char land;
} raw_edge;

/* One row of a table into *item (zeroed); col[] are the header's columns. */
typedef int (*row_fn)(const wp_csv *c, const int *col, void *item, const void *ctx, wp_err *err);

/* The rows of a table with the k columns names[] (any order, others
 * ignored), each parsed by parse into an array of items of size sz, at most
 * max of them and at least one ("what" names them in errors). On success
 * *out (malloc'ed) holds *n_out items; on error nothing is kept. */
static int read_rows(wp_csv *c, const char *const *names, int k, size_t max, const char *what,
                     size_t sz, row_fn parse, const void *ctx, void **out, size_t *n_out,
                     wp_err *err)
{
    int col[4];
    int rv = header_cols(c, names, col, k, err);
    unsigned char *items = NULL;
    size_t n = 0, cap = 0;
    while (rv == WP_OK) {
        rv = wp_csv_next(c, err);
        if (rv == WP_ENOTFOUND) {
            rv = WP_OK;
            break;
        }
        if (rv != WP_OK)
            break;
        if (n == max) {
            rv = wp_errf(err, WP_ETOOBIG, "%s:%ld: more than %zu %s", c->path, c->line_no, max,
                         what);
            break;
        }
        if (grow((void **)&items, &cap, n + 1, sz) != WP_OK) {
            rv = wp_errf(err, WP_ENOMEM, "%s: out of memory", c->path);
            break;
        }
        memset(items + n * sz, 0, sz);
        if ((rv = parse(c, col, items + n * sz, ctx, err)) != WP_OK)
            break;
        n++;
    }
    if (rv == WP_OK && n == 0)
        rv = wp_errf(err, WP_EPARSE, "%s: no %s", c->path, what);
    if (rv != WP_OK) {
        free(items);
        return rv;
    }
    *out = items;
    *n_out = n;
    return WP_OK;
}

static int parse_node(const wp_csv *c, const int *col, void *item, const void *ctx, wp_err *err)
{
    (void)ctx;
    raw_node *r = item;
    const char *s = NULL;
    int rv;
    if ((rv = field_id(c, col[0], "id", &r->id, err)) != WP_OK)
        return rv;
    if ((rv = wp__csv_field(c, col[1], "kind", &s, err)) != WP_OK)
        return rv;
    if (strcmp(s, "city") == 0)
        r->kind = NODE_CITY;
    else if (strcmp(s, "landing") == 0)
        r->kind = NODE_LANDING;
    else if (strcmp(s, "waypoint") == 0)
        r->kind = NODE_WAYPOINT;
    else
        return wp_errf(err, WP_EPARSE,
                       "%s:%ld: column kind: expected city, landing or waypoint, got '%.32s'",
                       c->path, c->line_no, s);
    if ((rv = wp_topo_csv_lat(c, col[2], "lat", &r->lat, err)) != WP_OK)
        return rv;
    return wp_topo_csv_lon(c, col[3], "lon", &r->lon, err);
}

static int read_nodes(wp_csv *c, raw_node **out, size_t *n_out, wp_err *err)
{
    static const char *const names[] = {"id", "kind", "lat", "lon"};
    void *items;
    int rv = read_rows(c, names, 4, WP_GRAPH_MAX_NODES, "nodes", sizeof(raw_node), parse_node,
                       NULL, &items, n_out, err);
    if (rv == WP_OK)
        *out = items;
    return rv;
}

typedef struct edge_ctx {
    const int32_t *index; /* node id -> node index, -1: none */
    long max_id;
} edge_ctx;

static int parse_edge(const wp_csv *c, const int *col, void *item, const void *ctx, wp_err *err)
{
    static const char *const ends_names[] = {"u", "v"};
    const edge_ctx *x = ctx;
    raw_edge *e = item;
    long ends[2];
    int rv = WP_OK;
    for (int k = 0; k < 2 && rv == WP_OK; k++) {
        rv = field_id(c, col[k], ends_names[k], &ends[k], err);
        if (rv == WP_OK && (ends[k] > x->max_id || x->index[ends[k]] < 0))
            rv = wp_errf(err, WP_EPARSE, "%s:%ld: column %s: unknown node id %ld", c->path,
                         c->line_no, ends_names[k], ends[k]);
    }
    if (rv != WP_OK)
        return rv;
    e->u = (uint32_t)x->index[ends[0]];
    e->v = (uint32_t)x->index[ends[1]];
    const char *s = NULL;
    if ((rv = wp__csv_field(c, col[2], "kind", &s, err)) != WP_OK)
        return rv;
    if (strcmp(s, "land") == 0 || strcmp(s, "normal") == 0)
        e->land = 1;
    else if (strcmp(s, "sea") == 0 || strcmp(s, "seacable") == 0)
        e->land = 0;
    else
        return wp_errf(err, WP_EPARSE, "%s:%ld: column kind: expected land or sea, got '%.32s'",
                       c->path, c->line_no, s);
    if ((rv = wp__csv_field(c, col[3], "km", &s, err)) != WP_OK)
        return rv;
    if (wp_parse_double(s, &e->km) != WP_OK || !(e->km >= 0 && e->km <= 40075.0))
        return wp_errf(err, WP_EPARSE, "%s:%ld: column km: expected a length in 0..40075, "
                       "got '%.32s'", c->path, c->line_no, s);
    return WP_OK;
}

static int read_edges(wp_csv *c, const int32_t *index, long max_id, raw_edge **out,
                      size_t *m_out, wp_err *err)
{
    static const char *const names[] = {"u", "v", "kind", "km"};
    const edge_ctx x = {index, max_id};
    void *items;
    int rv = read_rows(c, names, 4, WP_GRAPH_MAX_EDGES, "edges", sizeof(raw_edge), parse_edge,
                       &x, &items, m_out, err);
    if (rv == WP_OK)
        *out = items;
    return rv;
}

static int build(wp_graph *g, const raw_node *nodes, const raw_edge *edges, wp_err *err)
{
    size_t n = g->n, m = g->m;
    g->lat = malloc(n * sizeof *g->lat);
    g->lon = malloc(n * sizeof *g->lon);
    g->vec = malloc(3 * n * sizeof *g->vec);
    g->kind = malloc(n);
    g->off = calloc(n + 1, sizeof *g->off);
    g->to = malloc(2 * m * sizeof *g->to);
    g->km = malloc(2 * m * sizeof *g->km);
    g->land = malloc(2 * m);
    g->attachable = malloc(n * sizeof *g->attachable);
    if (!g->lat || !g->lon || !g->vec || !g->kind || !g->off || !g->to || !g->km || !g->land ||
        !g->attachable)
        return wp_errf(err, WP_ENOMEM, "graph: out of memory");
    for (size_t i = 0; i < n; i++) {
        g->lat[i] = nodes[i].lat;
        g->lon[i] = nodes[i].lon;
        g->kind[i] = nodes[i].kind;
        unit_vec3(nodes[i].lat, nodes[i].lon, &g->vec[3 * i]);
        if (nodes[i].kind != NODE_WAYPOINT)
            g->attachable[g->nattach++] = (uint32_t)i;
    }
    if (g->nattach == 0)
        return wp_errf(err, WP_EPARSE, "graph: no city or landing node to attach points to");
    for (size_t e = 0; e < m; e++) {
        g->off[edges[e].u + 1]++;
        g->off[edges[e].v + 1]++;
    }
    for (size_t i = 0; i < n; i++)
        g->off[i + 1] += g->off[i];
    size_t *fill = malloc(n * sizeof *fill);
    if (fill == NULL)
        return wp_errf(err, WP_ENOMEM, "graph: out of memory");
    memcpy(fill, g->off, n * sizeof *fill);
    for (size_t e = 0; e < m; e++) {
        uint32_t ends[2] = {edges[e].u, edges[e].v};
        for (int k = 0; k < 2; k++) {
            size_t at = fill[ends[k]]++;
            g->to[at] = ends[1 - k];
            g->km[at] = edges[e].km;
            g->land[at] = edges[e].land;
        }
    }
    free(fill);
    return WP_OK;
}

int wp_graph_load(const char *nodes_path, const char *edges_path, wp_graph **out, wp_err *err)
{
    *out = NULL;
    if ((nodes_path == NULL) != (edges_path == NULL))
        return wp_errf(err, WP_EINVAL, "graph: give both a nodes and an edges file, or neither");
    wp_csv c;
    int rv = open_csv(nodes_path, "backbone_nodes", &c, err);
    if (rv != WP_OK)
        return rv;
    raw_node *nodes = NULL;
    size_t n = 0;
    rv = read_nodes(&c, &nodes, &n, err);
    wp_csv_close(&c);
    if (rv != WP_OK)
        return rv;
    long max_id = 0;
    for (size_t i = 0; i < n; i++)
        max_id = nodes[i].id > max_id ? nodes[i].id : max_id;
    int32_t *index = malloc(((size_t)max_id + 1) * sizeof *index);
    raw_edge *edges = NULL;
    size_t m = 0;
    wp_graph *g = calloc(1, sizeof *g);
    if (index == NULL || g == NULL) {
        rv = wp_errf(err, WP_ENOMEM, "graph: out of memory");
        goto done;
    }
    memset(index, 0xff, ((size_t)max_id + 1) * sizeof *index);
    for (size_t i = 0; i < n; i++) {
        if (index[nodes[i].id] >= 0) {
            rv = wp_errf(err, WP_EPARSE, "%s: duplicate node id %ld",
                         nodes_path ? nodes_path : "backbone_nodes.csv", nodes[i].id);
            goto done;
        }
        index[nodes[i].id] = (int32_t)i;
    }
    if ((rv = open_csv(edges_path, "backbone_edges", &c, err)) != WP_OK)
        goto done;
    rv = read_edges(&c, index, max_id, &edges, &m, err);
    wp_csv_close(&c);
    if (rv != WP_OK)
        goto done;
    g->n = n;
    g->m = m;
    rv = build(g, nodes, edges, err);
done:
    free(nodes);
    free(edges);
    free(index);
    if (rv != WP_OK) {
        wp_graph_free(g);
        return rv;
    }
    *out = g;
    return WP_OK;
}

/* ---------------------------------------------------------------- paths */

void wp__graph_attach(const wp_graph *g, double lat, double lon, double land, wp__attach *a)
{
    double v[3];
    unit_vec3(lat, lon, v);
    double best[WP_GRAPH_ATTACH];
    a->k = 0;
    for (size_t t = 0; t < g->nattach; t++) {
        uint32_t i = g->attachable[t];
        const double *w = &g->vec[3 * i];
        double dot = v[0] * w[0] + v[1] * w[1] + v[2] * w[2];
        int pos = a->k;
        while (pos > 0 && best[pos - 1] < dot)
            pos--;
        if (pos >= WP_GRAPH_ATTACH)
            continue;
        int last = a->k < WP_GRAPH_ATTACH ? a->k : WP_GRAPH_ATTACH - 1;
        for (int q = last; q > pos; q--) {
            best[q] = best[q - 1];
            a->node[q] = a->node[q - 1];
        }
        best[pos] = dot;
        a->node[pos] = i;
        if (a->k < WP_GRAPH_ATTACH)
            a->k++;
    }
    for (int q = 0; q < a->k; q++)
        a->km[q] = land * wp_geo_distance_km(lat, lon, g->lat[a->node[q]], g->lon[a->node[q]]);
}

typedef struct heap_item {
    double d;
    uint32_t node;
} heap_item;

/* Ties by node id: the pop order, and so every distance, is reproducible. */
static bool item_less(const void *a, const void *b)
{
    const heap_item *x = a, *y = b;
    return x->d < y->d || (x->d == y->d && x->node < y->node);
}
static const wp_heap_kind DIJKSTRA_QUEUE = {sizeof(heap_item), item_less};

/* Workspace of one Dijkstra: distances and a min-heap with lazy deletion
 * (at most one push per arc relaxation plus the sources, so the array
 * made at init never grows). */
typedef struct sssp {
    double *dist;
    wp_heap heap;
    bool heap_ok;
} sssp;

static int sssp_init(sssp *s, const wp_graph *g)
{
    s->dist = malloc(g->n * sizeof *s->dist);
    s->heap_ok = wp_heap_init(&s->heap, &DIJKSTRA_QUEUE, 2 * g->m + WP_GRAPH_ATTACH + 1) == WP_OK;
    return (s->dist && s->heap_ok) ? WP_OK : WP_ENOMEM;
}

static void sssp_free(sssp *s)
{
    free(s->dist);
    if (s->heap_ok)
        wp_heap_close(&s->heap);
}

static void dijkstra(const wp_graph *g, const wp__attach *src, double land, sssp *s)
{
    for (size_t i = 0; i < g->n; i++)
        s->dist[i] = INFINITY;
    s->heap.n = 0;
    for (int q = 0; q < src->k; q++) {
        if (src->km[q] < s->dist[src->node[q]]) {
            s->dist[src->node[q]] = src->km[q];
            wp_heap_push(&s->heap, &DIJKSTRA_QUEUE, &(heap_item){src->km[q], src->node[q]});
        }
    }
    heap_item it;
    while (wp_heap_pop(&s->heap, &DIJKSTRA_QUEUE, &it)) {
        if (it.d > s->dist[it.node])
            continue;
        for (size_t a = g->off[it.node]; a < g->off[it.node + 1]; a++) {
            double nd = it.d + g->km[a] * (g->land[a] ? land : 1.0);
            uint32_t v = g->to[a];
            /* Room is guaranteed (see sssp); a failed push only drops a
             * candidate that cannot exist. */
            if (nd < s->dist[v] &&
                wp_heap_push(&s->heap, &DIJKSTRA_QUEUE, &(heap_item){nd, v}) == WP_OK)
                s->dist[v] = nd;
        }
    }
}

double wp__graph_point_km(const float *node_km, const wp__attach *dst, double gc_km,
                          double land)
{
    double best = INFINITY;
    for (int q = 0; q < dst->k; q++) {
        double d = (double)node_km[dst->node[q]] + dst->km[q];
        if (d < best)
            best = d;
    }
    if (gc_km < WP_GRAPH_DIRECT_KM || !isfinite(best)) {
        double direct = gc_km * land;
        if (direct < best)
            best = direct;
    }
    return best;
}

/* Path km from the source of s to a point with attachments dst at great-
 * circle gc_km from the source. */
static double path_to(const sssp *s, const wp__attach *dst, double gc_km, double land)
{
    double best = INFINITY;
    for (int q = 0; q < dst->k; q++) {
        double d = s->dist[dst->node[q]] + dst->km[q];
        if (d < best)
            best = d;
    }
    if (gc_km < WP_GRAPH_DIRECT_KM || !isfinite(best)) {
        double direct = gc_km * land;
        if (direct < best)
            best = direct;
    }
    return best;
}

static int check_land(double land, wp_err *err)
{
    if (!(isfinite(land) && land >= 1.0 && land <= 10.0))
        return wp_errf(err, WP_EINVAL, "graph: land_factor must be in 1..10, got %g", land);
    return WP_OK;
}

int wp_graph_path_matrix(const wp_graph *g, const double *lat, const double *lon, size_t n,
                         double land_factor, float *out_km, wp_err *err)
{
    return wp__graph_path_matrix(g, lat, lon, n, land_factor, out_km, NULL, err);
}

int wp__graph_path_matrix(const wp_graph *g, const double *lat, const double *lon, size_t n,
                          double land_factor, float *out_km, float *node_km, wp_err *err)
{
    int rv = check_land(land_factor, err);
    if (rv != WP_OK)
        return rv;
    wp__attach *att = malloc((n ? n : 1) * sizeof *att);
    sssp s;
    if (att == NULL || sssp_init(&s, g) != WP_OK) {
        free(att);
        if (att)
            sssp_free(&s);
        return wp_errf(err, WP_ENOMEM, "graph: out of memory for paths");
    }
    for (size_t i = 0; i < n; i++)
        wp__graph_attach(g, lat[i], lon[i], land_factor, &att[i]);
    for (size_t i = 0; i < n; i++) {
        dijkstra(g, &att[i], land_factor, &s);
        if (node_km)
            for (size_t v = 0; v < g->n; v++)
                node_km[i * g->n + v] = (float)s.dist[v];
        out_km[i * n + i] = 0.0f;
        for (size_t j = i + 1; j < n; j++) {
            double gc = wp_geo_distance_km(lat[i], lon[i], lat[j], lon[j]);
            out_km[i * n + j] = (float)path_to(&s, &att[j], gc, land_factor);
        }
    }
    /* Undirected graph: d(i,j) = d(j,i); the upper triangle is the truth. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            out_km[i * n + j] = out_km[j * n + i];
    sssp_free(&s);
    free(att);
    return WP_OK;
}

int wp_graph_paths_from(const wp_graph *g, double lat1, double lon1, const double *lat,
                        const double *lon, size_t m, double land_factor, double *out_km,
                        wp_err *err)
{
    int rv = check_land(land_factor, err);
    if (rv != WP_OK)
        return rv;
    sssp s;
    if (sssp_init(&s, g) != WP_OK) {
        sssp_free(&s);
        return wp_errf(err, WP_ENOMEM, "graph: out of memory for paths");
    }
    wp__attach src;
    wp__graph_attach(g, lat1, lon1, land_factor, &src);
    dijkstra(g, &src, land_factor, &s);
    for (size_t j = 0; j < m; j++) {
        wp__attach dst;
        wp__graph_attach(g, lat[j], lon[j], land_factor, &dst);
        out_km[j] = path_to(&s, &dst, wp_geo_distance_km(lat1, lon1, lat[j], lon[j]),
                            land_factor);
    }
    sssp_free(&s);
    return WP_OK;
}
