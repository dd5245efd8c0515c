/* pmetrics.c — wp-placement's Prometheus metrics: raft (term, commit and
 * applied index, leader flag, role) and the state machine (version, pins,
 * registered and up nodes, models), refreshed by the daemon's tick timer
 * on the loop thread and served by metrics/'s HTTP thread. */
#include "placement/pmetrics.h"
#include "metrics/metrics.h"

#include <stdio.h>
#include <stdlib.h>

struct wp_pmetrics {
    wp_metrics *reg;
    wp_metrics_http *http;
    wp_metric *term, *commit, *applied, *last_index, *leader, *has_leader, *role[4];
    wp_metric *version, *pins, *nodes, *nodes_up, *models, *replies_dropped, *disconnects;
    wp_metric *auth_refused;
    wp_metric *peer_refused;
};

static wp_metric *gauge(wp_metrics *r, const char *name, const char *help)
{
    return wp_metric_get0(wp_metrics_family(r, WP_METRIC_GAUGE, name, help, NULL, NULL, 0));
}

int wp_pmetrics_open(const char *addr, uint64_t id, wp_pmetrics **out, wp_err *err)
{
    wp_pmetrics *m = calloc(1, sizeof *m);
    if (!m)
        return wp_errf(err, WP_ENOMEM, "metrics: out of memory");
    int rc = wp_metrics_new(&m->reg, err);
    if (rc != WP_OK) {
        free(m);
        return rc;
    }
    wp_metrics *r = m->reg;
    char ids[24];
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)id);
    wp_metric_set(wp_metric_get1(wp_metrics_family(r, WP_METRIC_GAUGE, "warmpath_placement_info",
                                                   "This placement server (value 1).",
                                                   "server_id", NULL, 0),
                                 ids),
                  1);
    m->term = gauge(r, "warmpath_raft_term", "Current raft term.");
    m->commit = gauge(r, "warmpath_raft_commit_index", "Raft commit index.");
    m->applied = gauge(r, "warmpath_raft_applied_index", "Last raft index applied here.");
    m->last_index = gauge(r, "warmpath_raft_last_index", "Last raft index in the local log.");
    m->leader = gauge(r, "warmpath_raft_leader", "1 when this server is the raft leader.");
    m->has_leader = gauge(r, "warmpath_raft_leader_known", "1 when a leader is known here.");
    wp_metric_family *role = wp_metrics_family(r, WP_METRIC_GAUGE, "warmpath_raft_role",
                                               "1 for this server's raft role.", "role", NULL, 0);
    for (int i = 0; i < 4; i++)
        m->role[i] = wp_metric_get1(role, wp_consensus_role_name(i));
    m->version = gauge(r, "warmpath_placement_version", "Placement state version.");
    m->pins = gauge(r, "warmpath_placement_pins", "Pins (model, city) in the placement state.");
    m->nodes = gauge(r, "warmpath_placement_nodes", "Nodes registered.");
    m->nodes_up = gauge(r, "warmpath_placement_nodes_up", "Nodes registered and up.");
    m->models = gauge(r, "warmpath_placement_models", "Models in the catalog.");
    m->replies_dropped = wp_metric_get0(
        wp_metrics_family(r, WP_METRIC_COUNTER, "warmpath_placement_replies_dropped_total",
                          "API replies dropped (client at its high-water mark, or gone).",
                          NULL, NULL, 0));
    m->disconnects = wp_metric_get0(
        wp_metrics_family(r, WP_METRIC_COUNTER, "warmpath_placement_api_disconnects_total",
                          "API connections closed, incl. those closed for oversized frames.",
                          NULL, NULL, 0));
    m->auth_refused = wp_metric_get1(
        wp_metrics_family(r, WP_METRIC_COUNTER, "warmpath_auth_refused_total",
                          "Connections and requests refused by CurveZMQ (--keys): a key not "
                          "in the keyring, of the wrong role, no CURVE at all, or a request "
                          "the key may not make, by socket.",
                          "socket", NULL, 0),
        "placement");
    m->peer_refused = wp_metric_get0(
        wp_metrics_family(r, WP_METRIC_COUNTER, "warmpath_raft_peer_refused_total",
                          "Raft peer connections refused by the key handshake (--keys).",
                          NULL, NULL, 0));
    rc = wp_metrics_http_start(r, addr, &m->http, err);
    if (rc != WP_OK) {
        wp_metrics_free(r);
        free(m);
        return rc;
    }
    *out = m;
    return WP_OK;
}

void wp_pmetrics_refresh(wp_pmetrics *m, wp_consensus *c, const wp_place_state *s,
                         uint64_t replies_dropped, uint64_t api_disconnects,
                         uint64_t auth_refused)
{
    if (!m)
        return;
    wp_consensus_status st;
    wp_consensus_get_status(c, &st);
    wp_metric_set(m->term, (double)st.term);
    wp_metric_set(m->commit, (double)st.commit_index);
    wp_metric_set(m->applied, (double)st.last_applied);
    wp_metric_set(m->last_index, (double)st.last_index);
    wp_metric_set(m->leader, st.role == WP_ROLE_LEADER ? 1 : 0);
    wp_metric_set(m->has_leader, st.leader_id != 0 ? 1 : 0);
    for (int i = 0; i < 4; i++)
        wp_metric_set(m->role[i], st.role == i ? 1 : 0);
    wp_metric_set(m->version, (double)wp_place_state_version(s));
    wp_metric_set(m->pins, (double)wp_place_state_pin_count(s));
    size_t nn = wp_place_state_node_count(s), up = 0;
    for (size_t i = 0; i < nn; i++)
        up += wp_place_state_node(s, i)->up;
    wp_metric_set(m->nodes, (double)nn);
    wp_metric_set(m->nodes_up, (double)up);
    wp_metric_set(m->models, (double)wp_place_state_model_count(s));
    wp_metric_counter_set(m->replies_dropped, replies_dropped);
    wp_metric_counter_set(m->disconnects, api_disconnects);
    wp_metric_counter_set(m->peer_refused, st.peer.refused);
    wp_metric_counter_set(m->auth_refused, auth_refused);
}

void wp_pmetrics_free(wp_pmetrics *m)
{
    if (!m)
        return;
    wp_metrics_http_stop(m->http);
    wp_metrics_free(m->reg);
    free(m);
}
