/* wpctl placement — the assignment of models to nodes, and the status of
 * the placement servers.
 *
 *   wpctl placement [--json] [--endpoint ADDR[,ADDR...] | --dir D]
 *   wpctl placement status [--json] [--endpoint ... | --dir D]
 *
 * Also the helper every placement command uses to find the servers:
 * --endpoint wins; else the file D/placement.endpoints (one address per
 * line; D from --dir, default .cluster) that `wpctl cluster up` writes. */
#include "tools/wpctl/cluster.h"
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"
#include "placement/client.h"

#include <stdlib.h>
#include <string.h>

int wpctl_placement_connect(const char *endpoint, const char *dir, wp_placement_client **out)
{
    wp_err err = {0};
    *out = NULL;
    if (endpoint != NULL) {
        (void)wpctl_cluster_dir(dir); /* the cluster's key, as without --endpoint */
        if (wp_placement_client_new_list(endpoint, 3000, out, &err) != WP_OK)
            return wpctl_fail("--endpoint: %s", wp_err_text(&err));
        return WPCTL_OK;
    }
    const char *d = wpctl_cluster_dir(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/placement.endpoints", d);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return wpctl_fail("no placement servers: give --endpoint ADDR[,ADDR...] or --dir D "
                          "with a placement.endpoints file (%s not found)", path);
    char list[2048] = "";
    char line[256];
    size_t off = 0;
    while (fgets(line, sizeof line, fp) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0' || *s == '#')
            continue;
        int n = snprintf(list + off, sizeof list - off, "%s%s", off ? "," : "", s);
        if (n < 0 || (size_t)n >= sizeof list - off) {
            fclose(fp);
            return wpctl_fail("%s: too many endpoints", path);
        }
        off += (size_t)n;
    }
    fclose(fp);
    if (off == 0)
        return wpctl_fail("%s: no endpoints in the file", path);
    if (wp_placement_client_new_list(list, 3000, out, &err) != WP_OK)
        return wpctl_fail("%s: %s", path, wp_err_text(&err));
    return WPCTL_OK;
}

static int show_assignment(wp_placement_client *c, bool json)
{
    Warmpath__Placement__GetAssignment g = WARMPATH__PLACEMENT__GET_ASSIGNMENT__INIT;
    Warmpath__Placement__Request req = WARMPATH__PLACEMENT__REQUEST__INIT;
    req.op_case = WARMPATH__PLACEMENT__REQUEST__OP_GET_ASSIGNMENT;
    req.get_assignment = &g;
    Warmpath__Placement__Response *r = NULL;
    wp_err err = {0};
    if (wp_placement_client_call(c, &req, &r, &err) != WP_OK)
        return wpctl_fail("placement: %s", wp_err_text(&err));
    if (r->code != WARMPATH__PLACEMENT__CODE__OK ||
        r->body_case != WARMPATH__PLACEMENT__RESPONSE__BODY_ASSIGNMENT) {
        int rv = wpctl_fail("placement: %s", r->error && r->error[0] ? r->error : "no assignment");
        warmpath__placement__response__free_unpacked(r, NULL);
        return rv;
    }
    const Warmpath__Placement__Assignment *a = r->assignment;
    /* Models in name order: collect distinct names. */
    size_t total = 0;
    for (size_t i = 0; i < a->n_nodes; i++)
        total += a->nodes[i]->n_models;
    const char **names = calloc(total + 1, sizeof *names);
    size_t nn = 0;
    for (size_t i = 0; i < a->n_nodes; i++)
        for (size_t k = 0; k < a->nodes[i]->n_models; k++) {
            const char *m = a->nodes[i]->models[k]->model;
            size_t j = 0;
            while (j < nn && strcmp(names[j], m) != 0)
                j++;
            if (j == nn)
                names[nn++] = m;
        }
    for (size_t i = 1; i < nn; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "version");
        wp_json_uint(&j, r->version);
        wp_json_key(&j, "cost_ms");
        wp_json_double(&j, a->cost_ms);
        wp_json_key(&j, "models");
        wp_json_arr_begin(&j);
        for (size_t m = 0; m < nn; m++) {
            wp_json_obj_begin(&j);
            wp_json_key(&j, "model");
            wp_json_str(&j, names[m]);
            wp_json_key(&j, "replicas");
            wp_json_arr_begin(&j);
            for (size_t i = 0; i < a->n_nodes; i++)
                for (size_t k = 0; k < a->nodes[i]->n_models; k++)
                    if (strcmp(a->nodes[i]->models[k]->model, names[m]) == 0) {
                        wp_json_obj_begin(&j);
                        wp_json_key(&j, "node");
                        wp_json_str(&j, a->nodes[i]->node_id);
                        wp_json_key(&j, "city");
                        wp_json_str(&j, a->nodes[i]->city);
                        wp_json_key(&j, "kind");
                        wp_json_str(&j, a->nodes[i]->models[k]->pinned ? "pinned" : "placed");
                        wp_json_obj_end(&j);
                    }
            wp_json_arr_end(&j);
            wp_json_obj_end(&j);
        }
        wp_json_arr_end(&j);
        wp_json_key(&j, "pins");
        wp_json_arr_begin(&j);
        for (size_t i = 0; i < a->n_pins; i++) {
            wp_json_obj_begin(&j);
            wp_json_key(&j, "model");
            wp_json_str(&j, a->pins[i]->model);
            wp_json_key(&j, "city");
            wp_json_str(&j, a->pins[i]->city);
            wp_json_key(&j, "replicas");
            wp_json_uint(&j, a->pins[i]->replicas);
            wp_json_key(&j, "placed");
            wp_json_uint(&j, a->pins[i]->placed);
            wp_json_obj_end(&j);
        }
        wp_json_arr_end(&j);
        wp_json_key(&j, "nodes");
        wp_json_arr_begin(&j);
        for (size_t i = 0; i < a->n_nodes; i++) {
            wp_json_obj_begin(&j);
            wp_json_key(&j, "node");
            wp_json_str(&j, a->nodes[i]->node_id);
            wp_json_key(&j, "city");
            wp_json_str(&j, a->nodes[i]->city);
            wp_json_key(&j, "up");
            wp_json_bool(&j, a->nodes[i]->up);
            wp_json_key(&j, "gpu_mem_bytes");
            wp_json_uint(&j, a->nodes[i]->gpu_mem_bytes);
            wp_json_obj_end(&j);
        }
        wp_json_arr_end(&j);
        wp_json_obj_end(&j);
        wp_json_end(&j);
    } else {
        printf("placement version %llu, %zu nodes, demand-weighted latency %.1f ms\n",
               (unsigned long long)r->version, a->n_nodes, a->cost_ms);
        printf("%-24s %-20s %-8s %s\n", "MODEL", "NODE", "CITY", "KIND");
        for (size_t m = 0; m < nn; m++)
            for (size_t i = 0; i < a->n_nodes; i++)
                for (size_t k = 0; k < a->nodes[i]->n_models; k++)
                    if (strcmp(a->nodes[i]->models[k]->model, names[m]) == 0)
                        printf("%-24s %-20s %-8s %s\n", names[m], a->nodes[i]->node_id,
                               a->nodes[i]->city,
                               a->nodes[i]->models[k]->pinned ? "pinned" : "placed");
        if (a->n_pins > 0) {
            printf("\n%-24s %-8s %s\n", "PIN", "CITY", "PLACED/REPLICAS");
            for (size_t i = 0; i < a->n_pins; i++)
                printf("%-24s %-8s %u/%u%s\n", a->pins[i]->model, a->pins[i]->city,
                       a->pins[i]->placed, a->pins[i]->replicas,
                       a->pins[i]->placed < a->pins[i]->replicas ? "  (short: nodes down?)" : "");
        }
    }
    free(names);
    warmpath__placement__response__free_unpacked(r, NULL);
    return WPCTL_OK;
}

static int show_status(wp_placement_client *c, bool json)
{
    size_t n = wp_placement_client_endpoint_count(c);
    Warmpath__Placement__Response **rs = calloc(n + 1, sizeof *rs);
    char (*errs)[WP_ERRMSG_LEN] = calloc(n + 1, sizeof *errs);
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        wp_err err = {0};
        if (wp_placement_client_status_of(c, i, &rs[i], &err) == WP_OK)
            ok++;
        else
            snprintf(errs[i], WP_ERRMSG_LEN, "%s", wp_err_text(&err));
    }
    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "servers");
        wp_json_arr_begin(&j);
        for (size_t i = 0; i < n; i++) {
            wp_json_obj_begin(&j);
            wp_json_key(&j, "endpoint");
            wp_json_str(&j, wp_placement_client_endpoint(c, i));
            if (rs[i] == NULL) {
                wp_json_key(&j, "reachable");
                wp_json_bool(&j, false);
                wp_json_key(&j, "error");
                wp_json_str(&j, errs[i]);
            } else {
                const Warmpath__Placement__StatusInfo *s = rs[i]->status;
                wp_json_key(&j, "reachable");
                wp_json_bool(&j, true);
                wp_json_key(&j, "id");
                wp_json_uint(&j, s->id);
                wp_json_key(&j, "role");
                wp_json_str(&j, s->role);
                wp_json_key(&j, "term");
                wp_json_uint(&j, s->term);
                wp_json_key(&j, "commit_index");
                wp_json_uint(&j, s->commit_index);
                wp_json_key(&j, "last_applied");
                wp_json_uint(&j, s->last_applied);
                wp_json_key(&j, "leader_id");
                wp_json_uint(&j, s->leader_id);
                wp_json_key(&j, "leader_address");
                wp_json_str(&j, s->leader_address);
                wp_json_key(&j, "version");
                wp_json_uint(&j, rs[i]->version);
                wp_json_key(&j, "nodes");
                wp_json_uint(&j, s->nodes);
                wp_json_key(&j, "models");
                wp_json_uint(&j, s->models);
                wp_json_key(&j, "pins");
                wp_json_uint(&j, s->pins);
                wp_json_key(&j, "replies_dropped");
                wp_json_uint(&j, s->replies_dropped);
                wp_json_key(&j, "api_disconnects");
                wp_json_uint(&j, s->api_disconnects);
                wp_json_key(&j, "api_protocol_errors");
                wp_json_uint(&j, s->api_protocol_errors);
                wp_json_key(&j, "raft_restarts");
                wp_json_uint(&j, s->raft_restarts);
            }
            wp_json_obj_end(&j);
        }
        wp_json_arr_end(&j);
        wp_json_obj_end(&j);
        wp_json_end(&j);
    } else {
        printf("%-26s %-4s %-11s %-6s %-8s %-8s %-7s %s\n", "ENDPOINT", "ID", "ROLE", "TERM",
               "COMMIT", "APPLIED", "LEADER", "STATE");
        for (size_t i = 0; i < n; i++) {
            if (rs[i] == NULL) {
                printf("%-26s %-4s %-11s %s\n", wp_placement_client_endpoint(c, i), "-",
                       "unreachable", errs[i]);
                continue;
            }
            const Warmpath__Placement__StatusInfo *s = rs[i]->status;
            printf("%-26s %-4llu %-11s %-6llu %-8llu %-8llu %-7llu v%llu: %llu nodes, %llu "
                   "models, %llu pins\n",
                   wp_placement_client_endpoint(c, i), (unsigned long long)s->id, s->role,
                   (unsigned long long)s->term, (unsigned long long)s->commit_index,
                   (unsigned long long)s->last_applied, (unsigned long long)s->leader_id,
                   (unsigned long long)rs[i]->version, (unsigned long long)s->nodes,
                   (unsigned long long)s->models, (unsigned long long)s->pins);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (rs[i])
            warmpath__placement__response__free_unpacked(rs[i], NULL);
    free(rs);
    free(errs);
    if (ok == 0)
        return wpctl_fail("placement status: no server reachable");
    return WPCTL_OK;
}

int wpctl_placement_main(int argc, char **argv)
{
    wpctl_target t = {0};
    bool json = false;
    const wpctl_flag flags[] = {
        WPF_PLACEMENT(&t),
        WPF_JSON(&json, "JSON instead of a table"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "placement",
        .args = "[status]",
        .about = "Without a command: which nodes keep which models warm, each replica marked\n"
    "pinned (an operator's pin) or placed (by the optimizer), and every pin with\n"
    "how many of its replicas are placed.\n"
    "status: every placement server's role, term, commit index and leader.\n\n",
        .flags = flags,
        .max_args = 1,
    };
    wpctl_args a;
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, &a);
    bool status = a.argc == 1;
    if (status && strcmp(a.argv[0], "status") != 0)
        return wpctl_usage_error("placement", "unknown command '%s'", a.argv[0]);
    wp_placement_client *c;
    int rv = wpctl_placement_connect(t.endpoint, t.dir, &c);
    if (rv != WPCTL_OK)
        return rv;
    rv = status ? show_status(c, json) : show_assignment(c, json);
    wp_placement_client_free(c);
    return rv;
}
