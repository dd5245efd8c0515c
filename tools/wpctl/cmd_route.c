/* wpctl route — asks an ingress for the decision it would take now for a
 * model (nothing runs), and prints the candidates with their costs.
 *
 *   wpctl route MODEL --from CITY [--json] [--dir D | --endpoint ADDR] */
#include "router/router.h"
#include "tools/wpctl/infer_client.h"
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"

#include <stdlib.h>
#include <string.h>

static void print_json(const Warmpath__Infer__RouteResponse *r)
{
    wp_json j;
    wp_json_init(&j, stdout, false);
    wp_json_obj_begin(&j);
    wp_json_key(&j, "ingress_node");
    wp_json_str(&j, r->ingress_node);
    wp_json_key(&j, "ingress_city");
    wp_json_str(&j, r->ingress_city);
    wp_json_key(&j, "from_city");
    wp_json_str(&j, r->from_city);
    wp_json_key(&j, "policy");
    wp_json_str(&j, r->policy);
    wp_json_key(&j, "model");
    wp_json_str(&j, r->model);
    wp_json_key(&j, "status");
    wp_json_str(&j, wp_infer_status_name(r->status));
    wp_json_key(&j, "reason");
    wp_json_str(&j, r->reason);
    wp_json_key(&j, "chosen_node");
    wp_json_str(&j, r->chosen_node);
    wp_json_key(&j, "chosen_city");
    wp_json_str(&j, r->chosen_city);
    wp_json_key(&j, "rtt_ms");
    wp_json_double(&j, r->rtt_ms);
    wp_json_key(&j, "wait_ms");
    wp_json_double(&j, r->wait_ms);
    wp_json_key(&j, "cost_ms");
    wp_json_double(&j, r->cost_ms);
    wp_json_key(&j, "cold");
    wp_json_bool(&j, r->cold);
    wp_json_key(&j, "user_ms");
    wp_json_double(&j, r->user_ms);
    wp_json_key(&j, "budget_ms");
    wp_json_double(&j, r->budget_ms);
    wp_json_key(&j, "considered");
    wp_json_uint(&j, r->considered);
    wp_json_key(&j, "total");
    wp_json_uint(&j, r->total);
    wp_json_key(&j, "stopped_early");
    wp_json_bool(&j, r->stopped_early);
    wp_json_key(&j, "candidates");
    wp_json_arr_begin(&j);
    for (size_t i = 0; i < r->n_candidates; i++) {
        const Warmpath__Infer__Candidate *c = r->candidates[i];
        wp_json_obj_begin(&j);
        wp_json_key(&j, "node");
        wp_json_str(&j, c->node);
        wp_json_key(&j, "city");
        wp_json_str(&j, c->city);
        wp_json_key(&j, "rtt_ms");
        wp_json_double(&j, c->rtt_ms);
        wp_json_key(&j, "cost_ms");
        if (c->cost_ms < 0)
            wp_json_null(&j);
        else
            wp_json_double(&j, c->cost_ms);
        wp_json_key(&j, "wait_ms");
        wp_json_double(&j, c->wait_ms);
        wp_json_key(&j, "user_ms");
        wp_json_double(&j, c->user_ms);
        wp_json_key(&j, "load_age_ms");
        if (c->load_age_ms < 0)
            wp_json_null(&j);
        else
            wp_json_double(&j, c->load_age_ms);
        wp_json_key(&j, "load_gpus");
        wp_json_double(&j, (double)c->load_units / WP_ROUTER_GPU_UNITS);
        wp_json_key(&j, "warm");
        wp_json_bool(&j, c->warm);
        wp_json_key(&j, "verdict");
        wp_json_str(&j, c->verdict);
        wp_json_obj_end(&j);
    }
    wp_json_arr_end(&j);
    wp_json_obj_end(&j);
    wp_json_end(&j);
}

static void print_table(const Warmpath__Infer__RouteResponse *r, const char *endpoint)
{
    printf("route %s from %s via ingress %s (%s, %s), policy %s\n", r->model,
           r->from_city[0] ? r->from_city : "?", r->ingress_node, r->ingress_city, endpoint,
           r->policy[0] ? r->policy : "default");
    if (r->status == WARMPATH__INFER__STATUS__OK)
        printf("decision: %s (%s)  rtt %.1f ms + wait %.1f ms%s = cost %.1f ms\n", r->chosen_node,
               r->chosen_city, (double)r->rtt_ms, (double)r->wait_ms, r->cold ? " + cold load" : "",
               (double)r->cost_ms);
    else
        printf("decision: none: %s: %s\n", wp_infer_status_name(r->status), r->reason);
    printf("user leg %s -> %s: %.1f ms RTT (not in the costs below)", r->from_city,
           r->ingress_city, (double)r->user_ms);
    if (r->budget_ms > 0)
        printf("; budget to the first token %.0f ms", (double)r->budget_ms);
    printf("\nconsidered %u of %u nodes%s\n", r->considered, r->total,
           r->stopped_early ? " (stopped early: no closer node can be cheaper)" : "");
    printf("%-16s %-5s %9s %9s %9s %8s %8s %5s  %s\n", "NODE", "CITY", "RTT_MS", "WAIT_MS",
           "COST_MS", "LOAD_GPU", "AGE_MS", "WARM", "VERDICT");
    for (size_t i = 0; i < r->n_candidates; i++) {
        const Warmpath__Infer__Candidate *c = r->candidates[i];
        char cost[32];
        if (c->cost_ms < 0)
            snprintf(cost, sizeof cost, "-");
        else
            snprintf(cost, sizeof cost, "%.1f", (double)c->cost_ms);
        char age[32];
        if (c->load_age_ms < 0)
            snprintf(age, sizeof age, "-");
        else
            snprintf(age, sizeof age, "%.0f", (double)c->load_age_ms);
        printf("%-16s %-5s %9.1f %9.1f %9s %8.2f %8s %5s  %s\n", c->node, c->city,
               (double)c->rtt_ms, (double)c->wait_ms, cost,
               (double)c->load_units / WP_ROUTER_GPU_UNITS, age, c->warm ? "yes" : "no",
               c->verdict);
    }
}

int wpctl_route_main(int argc, char **argv)
{
    wpctl_target t = {0};
    const char *from = NULL, *policy = "", *preset = "edge";
    uint64_t max = 32, timeout_ms = 5000;
    bool json = false;
    const wpctl_flag flags[] = {
        WPF_STR("from", &from, "CITY", "the user's city (a code of the topology; required)"),
        WPF_STR("policy", &policy, "P", "latency (default), nearest-warm or nearest"),
        WPF_U64("max", &max, 1, 256, "N", "at most N candidates, 1..256 (default 32)"),
        WPF_U64("timeout-ms", &timeout_ms, 0, 600000, "T",
                "weigh as a request with this deadline (default 5000,\n"
                "as wpctl traffic; 0: none)"),
        WPF_STR("preset", &preset, "P", "topology of city codes and RTTs (default edge)"),
        WPF_DIR(&t),
        WPF_STR("endpoint", &t.endpoint, "ADDR", "ask the node at this request endpoint"),
        WPF_JSON(&json, "the decision as JSON: ingress_node, ingress_city,\n"
                        "from_city, policy, model, status, reason, chosen_node,\n"
                        "chosen_city, rtt_ms, wait_ms, cost_ms, cold, user_ms,\n"
                        "budget_ms, considered, total, stopped_early,\n"
                        "candidates[{node, city, rtt_ms, cost_ms, wait_ms, user_ms,\n"
                        "load_age_ms, load_gpus, warm, verdict}]"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "route",
        .args = "MODEL --from CITY",
        .about = "Asks the ingress nearest to CITY (the cluster node whose city has the\n"
    "lowest model RTT from it: anycast), or the node at --endpoint, which node\n"
    "it would send a request for MODEL to now, and why: every candidate it\n"
    "considered with its RTT from the ingress, its expected queue wait (from\n"
    "the node's last load report, LOAD_GPU GPUs of work, AGE_MS old, plus the\n"
    "ingress's own sends since), its cost (RTT + wait + cold load) and its\n"
    "verdict (chosen, better-found, dead, suspect, draining, no-gpu, not-warm,\n"
    "no-memory, full, too-late: it could not answer within --timeout-ms). The\n"
    "user's leg (CITY <-> ingress) is shown apart. Nothing is run.\n\n",
        .flags = flags,
        .min_args = 1,
        .max_args = 1,
    };
    wpctl_args a;
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, &a);
    const char *model = a.argv[0];
    const char *dir = t.dir, *endpoint = t.endpoint;
    if (!from)
        return wpctl_usage_error("route", "missing --from CITY");
    if (dir && endpoint)
        return wpctl_usage_error("route", "give --dir or --endpoint, not both");
    if (!model[0] || strlen(model) >= WP_NAME_MAX)
        return wpctl_usage_error("route", "bad model name");

    wp_err err;
    wp_err_clear(&err);
    wp_topology *topo = NULL;
    if (wp_topo_load_preset(preset, NULL, &topo, &err) != WP_OK)
        return wpctl_fail("%s", wp_err_text(&err));
    int city = wp_topo_find(topo, from);
    if (city < 0) {
        wp_topo_free(topo);
        return wpctl_fail("--from: no city '%.32s' in preset %s", from, preset);
    }
    const wp_city *fc = wp_topo_city(topo, (size_t)city);
    char code[WP_NAME_MAX];
    snprintf(code, sizeof code, "%s", fc->code);
    wpctl_ingress *ing = calloc(WPCTL_INGRESS_MAX, sizeof *ing);
    size_t n = 0;
    if (!ing) {
        wp_topo_free(topo);
        return wpctl_fail("out of memory");
    }
    int rv = wpctl_ingress_list(dir, endpoint, topo, ing, WPCTL_INGRESS_MAX, &n, &err);
    size_t k = 0;
    if (rv == WP_OK)
        k = wpctl_ingress_nearest(ing, n, wp_topo_params(topo), fc->lat, fc->lon, NULL);
    wp_topo_free(topo);
    if (rv != WP_OK) {
        free(ing);
        return wpctl_fail("%s", wp_err_text(&err));
    }
    char ep[WP_GOSSIP_ADDR_MAX];
    snprintf(ep, sizeof ep, "%s", ing[k].endpoint);
    free(ing);

    Warmpath__Infer__RouteRequest req = WARMPATH__INFER__ROUTE_REQUEST__INIT;
    req.request_id = 1;
    req.model = (char *)model;
    req.client_city = code;
    req.policy = (char *)policy;
    req.max_candidates = (uint32_t)max;
    req.timeout_ms = (uint32_t)timeout_ms;
    Warmpath__Infer__RouteResponse *resp = NULL;
    if (wpctl_route_call(ep, &req, 3000, &resp, &err) != WP_OK)
        return wpctl_fail("%s", wp_err_text(&err));
    if (json)
        print_json(resp);
    else
        print_table(resp, ep);
    int status = resp->status;
    warmpath__infer__route_response__free_unpacked(resp, NULL);
    /* A decision of "no route" is an answer, not a failure of the command;
     * the exit status still says so, for scripts. */
    return status == WARMPATH__INFER__STATUS__OK ? WPCTL_OK : WPCTL_FAIL;
}
