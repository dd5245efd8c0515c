/* html_live.c — the map's data for a live results file: per user city
 * (the rows' `user` and `region`) the requests, errors and TTFT buckets,
 * in the simulator's wp_sim_city form so one page writer serves both; and
 * the nodes that served. Cities are kept in an open-addressing hash on
 * (name, region), so a million rows cost a million O(1) look-ups. */
#include "tools/wpctl/html_report.h"
#include "tools/wpctl/results.h"
#include "topology/topology.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NODES 4096u /* distinct serving nodes kept; more are not marked */

struct wpctl_places {
    wp_sim_city *city;
    size_t n, cap;
    uint32_t *slot; /* hash slots: city index + 1, 0 = empty */
    size_t nslot;   /* power of two, > 2 n */
    char (*node)[WP_NAME_MAX];
    size_t nnode, capnode;
};

static uint64_t hash_city(const char *name, wp_region region)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)region;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

static int grow_slots(wpctl_places *pl, wp_err *err)
{
    size_t nslot = pl->nslot ? pl->nslot * 2 : 1024;
    uint32_t *slot = calloc(nslot, sizeof *slot);
    if (!slot)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    for (size_t i = 0; i < pl->n; i++) {
        size_t s = hash_city(pl->city[i].name, pl->city[i].region) & (nslot - 1);
        while (slot[s])
            s = (s + 1) & (nslot - 1);
        slot[s] = (uint32_t)i + 1;
    }
    free(pl->slot);
    pl->slot = slot;
    pl->nslot = nslot;
    return WP_OK;
}

static int find_or_add_city(wpctl_places *pl, const wpctl_result_row *row, wp_sim_city **out,
                            wp_err *err)
{
    if (2 * (pl->n + 1) >= pl->nslot) {
        int rv = grow_slots(pl, err);
        if (rv != WP_OK)
            return rv;
    }
    size_t s = hash_city(row->user, row->region) & (pl->nslot - 1);
    for (; pl->slot[s]; s = (s + 1) & (pl->nslot - 1)) {
        wp_sim_city *c = &pl->city[pl->slot[s] - 1];
        if (c->region == row->region && strcmp(c->name, row->user) == 0) {
            *out = c;
            return WP_OK;
        }
    }
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 256;
        wp_sim_city *city = realloc(pl->city, cap * sizeof *city);
        if (!city)
            return wp_errf(err, WP_ENOMEM, "out of memory");
        pl->city = city;
        pl->cap = cap;
    }
    wp_sim_city *c = &pl->city[pl->n];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", row->user);
    c->region = row->region;
    pl->slot[s] = (uint32_t)++pl->n;
    *out = c;
    return WP_OK;
}

static int note_node(wpctl_places *pl, const char *node, wp_err *err)
{
    if (!node[0] || pl->nnode >= MAX_NODES)
        return WP_OK;
    for (size_t i = pl->nnode; i-- > 0;)
        if (strcmp(pl->node[i], node) == 0)
            return WP_OK;
    if (pl->nnode == pl->capnode) {
        size_t cap = pl->capnode ? pl->capnode * 2 : 16;
        char(*p)[WP_NAME_MAX] = realloc(pl->node, cap * sizeof *p);
        if (!p)
            return wp_errf(err, WP_ENOMEM, "out of memory");
        pl->node = p;
        pl->capnode = cap;
    }
    snprintf(pl->node[pl->nnode++], WP_NAME_MAX, "%s", node);
    return WP_OK;
}

int wpctl_places_add(wpctl_report *rep, const wpctl_result_row *row, wp_err *err)
{
    if (!rep->places && !(rep->places = calloc(1, sizeof *rep->places)))
        return wp_errf(err, WP_ENOMEM, "out of memory");
    wp_sim_city *c = NULL;
    int rv = find_or_add_city(rep->places, row, &c, err);
    if (rv != WP_OK)
        return rv;
    c->fig.requests++;
    if (strcmp(row->status, "ok") != 0) {
        c->fig.errors++;
        return WP_OK;
    }
    wp_sim_tl_record(&c->fig, row->ttft_us * 1000u);
    return note_node(rep->places, row->node, err);
}

void wpctl_places_free(wpctl_places *pl)
{
    if (!pl)
        return;
    free(pl->city);
    free(pl->slot);
    free(pl->node);
    free(pl);
}

/* ---------------------------------------------------------------- placing */

typedef struct named_point {
    const char *name;
    wp_region region;
    double lat, lon;
} named_point;

static int cmp_named(const void *a, const void *b)
{
    const named_point *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (int)x->region - (int)y->region;
}

/* A node id's city: the first '-'-separated part that is a city code of
 * the edge preset ("fra-1", "n-FRA"). */
static const wp_city *node_city(const wp_topology *t, const char *id)
{
    char buf[WP_NAME_MAX];
    snprintf(buf, sizeof buf, "%s", id);
    for (char *tok = strtok(buf, "-_."); tok; tok = strtok(NULL, "-_.")) {
        int k = wp_topo_find(t, tok);
        if (k >= 0)
            return wp_topo_city(t, (size_t)k);
    }
    return NULL;
}

int wpctl_html_live_places(wpctl_report *rep, size_t *unplaced, wp_err *err)
{
    *unplaced = 0;
    wpctl_places *pl = rep->places;
    wp_sim_result *res = rep->res;
    if (!pl)
        return WP_OK;
    wp_topology *topo = NULL;
    wp_users *users = NULL;
    named_point *pts = NULL;
    int rv = wp_topo_load_preset("edge", NULL, &topo, err);
    if (rv == WP_OK)
        rv = wp_users_load(topo, NULL, &users, err);
    size_t np = rv == WP_OK ? wp_users_count(users) : 0;
    if (rv == WP_OK && !(pts = calloc(np ? np : 1, sizeof *pts)))
        rv = wp_errf(err, WP_ENOMEM, "out of memory");
    if (rv != WP_OK)
        goto out;
    for (size_t i = 0; i < np; i++) {
        const wp_user_point *u = wp_users_point(users, i);
        pts[i] = (named_point){u->name, u->region, u->lat, u->lon};
    }
    qsort(pts, np, sizeof *pts, cmp_named);
    free(res->city);
    res->city = NULL;
    res->ncities = 0;
    if (!(res->city = calloc(pl->n ? pl->n : 1, sizeof *res->city))) {
        rv = wp_errf(err, WP_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < pl->n; i++) {
        named_point key = {.name = pl->city[i].name, .region = pl->city[i].region};
        const named_point *hit = bsearch(&key, pts, np, sizeof *pts, cmp_named);
        if (!hit) {
            (*unplaced)++;
            continue;
        }
        wp_sim_city *c = &res->city[res->ncities++];
        *c = pl->city[i];
        c->lat = hit->lat;
        c->lon = hit->lon;
    }
    free(res->site);
    res->nsite_marks = 0;
    if (!(res->site = calloc(pl->nnode ? pl->nnode : 1, sizeof *res->site))) {
        rv = wp_errf(err, WP_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < pl->nnode; i++) {
        const wp_city *c = node_city(topo, pl->node[i]);
        if (!c)
            continue;
        wp_sim_site *s = &res->site[res->nsite_marks++];
        snprintf(s->name, sizeof s->name, "%s", pl->node[i]);
        s->lat = c->lat;
        s->lon = c->lon;
    }
out:
    free(pts);
    wp_users_free(users);
    wp_topo_free(topo);
    return rv;
}
