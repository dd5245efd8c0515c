/* placement/geo.c — a placement geography from a topology (topology/). */
#include "placement/placement.h"

#include <string.h>

int wp_place_geo_from_topology(wp_place_geo *g, const wp_topology *t, wp_err *err)
{
    size_t n = wp_topo_count(t);
    int rv = wp_place_geo_init(g, n, err);
    if (rv != WP_OK)
        return rv;
    for (size_t i = 0; i < n; i++) {
        const wp_city *c = wp_topo_city(t, i);
        snprintf(g->cities[i].code, sizeof g->cities[i].code, "%s", c->code);
        g->cities[i].pop_weight = c->pop_weight;
        memcpy(g->rtt_ms + i * n, wp_topo_rtt_row(t, i), n * sizeof *g->rtt_ms);
    }
    return WP_OK;
}
