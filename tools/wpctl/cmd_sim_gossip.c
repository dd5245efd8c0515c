/* wpctl sim gossip — the gossip core in a deterministic simulation over the
 * edge preset's geographic delays (node/gossip_sim.c does the work).
 *
 *   wpctl sim gossip --nodes N [--interval-ms 200] [--fanout 3] [--loss 0.01]
 *                    [--seed S] [--duration-s 600] [--trials 10]
 *                    [--preset edge] [--json]
 *
 * `wpctl sim` (tools/wpctl/cmd_sim.c) dispatches "gossip" here. */
#include "node/node.h"
#include "tools/wpctl/flags.h"
#include "tools/wpctl/wpctl.h"
#include "topology/topology.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int wpctl_sim_gossip_main(int argc, char **argv)
{
    const char *cmd = "sim gossip";
    int64_t nodes = 330, interval_ms = 200, fanout = 3, trials = 10;
    uint64_t seed = 1;
    double loss = 0.01, duration_s = 600;
    const char *preset = "edge";
    bool json = false;
    const wpctl_flag flags[] = {
        WPF_I64("nodes", &nodes, 3, WP_GOSSIP_MAX_MEMBERS, "N", "members (default 330)"),
        WPF_I64("interval-ms", &interval_ms, 1, 60000, "MS", "gossip interval (default 200)"),
        WPF_I64("fanout", &fanout, 1, 64, "K", "members gossiped to per interval (default 3)"),
        WPF_DOUBLE("loss", &loss, 0, 0.9999, "P",
                   "independent loss probability per frame, [0, 1) (default 0.01)"),
        WPF_U64("seed", &seed, 1, 0, "S", "RNG seed (default 1); the same seed gives the same run"),
        WPF_DOUBLE("duration-s", &duration_s, 120, 86400, "S",
                   "simulated run length, warm-up included (default 600)"),
        WPF_I64("trials", &trials, 1, 100, "T", "capacity-change trials (default 10)"),
        WPF_STR("preset", &preset, "P", "topology preset for the cities (default edge)"),
        WPF_JSON(&json, "one JSON object: nodes, convergence_s_p50, convergence_s_max,\n"
                        "detection_s, false_positives, and the details"),
        WPF_END,
    };
    const wpctl_spec spec = {.name = cmd, .about = "Runs N copies of the real gossip core (SWIM + Lifeguard, node/) in a\n"
    "deterministic SIMULATED network: members sit on the preset's cities, every\n"
    "frame takes the model's one-way time (RTT / 2) and is lost with probability P.\n"
    "Other parameters are memberlist's LAN defaults (probe 1 s, timeout 500 ms,\n"
    "3 indirect checks, retransmit mult 4, suspicion mult 4, push-pull 30 s).\n"
    "Reports, in simulated seconds:\n"
    "  convergence   time for a capacity change to reach 99.99% of the other\n"
    "                members (p50 and max over T trials, 10 s apart)\n"
    "  detection     time from killing one member until every live member has\n"
    "                it dead, against the suspicion bounds [min, max]\n"
    "  false positives  suspicion timeouts that declared a live member dead\n\n", .flags = flags};
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, NULL);
    if ((double)trials * 10.0 + 60.0 > duration_s)
        return wpctl_usage_error(cmd, "--duration-s too short for %lld trials (need > %.0f)",
                                 (long long)trials, (double)trials * 10.0 + 60.0);

    wp_err err;
    wp_err_clear(&err);
    wp_topology *topo = NULL;
    if (wp_topo_load_preset(preset, NULL, &topo, &err))
        return wpctl_fail("%s", wp_err_text(&err));
    size_t n = (size_t)nodes;
    float *delay = malloc(n * n * sizeof *delay);
    size_t *ci = malloc(n * sizeof *ci);
    const char **cities = malloc(n * sizeof *cities);
    if (!delay || !ci || !cities) {
        free(delay);
        free(ci);
        free(cities);
        wp_topo_free(topo);
        return wpctl_fail("out of memory");
    }
    wp_gossip_sim_place(topo, n, delay, ci);
    for (size_t i = 0; i < n; i++)
        cities[i] = wp_topo_city(topo, ci[i])->code;

    wp_gossip_sim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.nodes = n;
    cfg.oneway_ms = delay;
    cfg.cities = cities;
    wp_gossip_config_default(&cfg.gossip);
    cfg.gossip.gossip_interval_ns = (uint64_t)interval_ms * WP_NS_PER_MS;
    cfg.gossip.gossip_fanout = (uint32_t)fanout;
    cfg.loss = loss;
    cfg.seed = seed;
    cfg.duration_s = duration_s;
    cfg.trials = (uint32_t)trials;
    wp_gossip_sim_result r;
    int rv = wp_gossip_sim_run(&cfg, &r, &err);
    free(delay);
    free(ci);
    free(cities);
    wp_topo_free(topo);
    if (rv)
        return wpctl_fail("%s", wp_err_text(&err));

    if (json) {
        wp_json j;
        wp_json_init(&j, stdout, false);
        wp_json_obj_begin(&j);
        wp_json_key(&j, "nodes");
        wp_json_uint(&j, r.nodes);
        wp_json_key(&j, "convergence_s_p50");
        wp_json_double(&j, r.convergence_s_p50);
        wp_json_key(&j, "convergence_s_max");
        wp_json_double(&j, r.convergence_s_max);
        wp_json_key(&j, "detection_s");
        wp_json_double(&j, r.detection_s);
        wp_json_key(&j, "false_positives");
        wp_json_uint(&j, r.false_positives);
        wp_json_key(&j, "trials");
        wp_json_uint(&j, r.trials);
        wp_json_key(&j, "trials_unconverged");
        wp_json_uint(&j, r.trials_unconverged);
        wp_json_key(&j, "suspicion_min_s");
        wp_json_double(&j, r.suspicion_min_s);
        wp_json_key(&j, "suspicion_max_s");
        wp_json_double(&j, r.suspicion_max_s);
        wp_json_key(&j, "suspicions");
        wp_json_uint(&j, r.suspicions);
        wp_json_key(&j, "joined_s");
        wp_json_double(&j, r.joined_s);
        wp_json_key(&j, "messages");
        wp_json_uint(&j, r.messages);
        wp_json_key(&j, "messages_lost");
        wp_json_uint(&j, r.messages_lost);
        wp_json_key(&j, "simulated_s");
        wp_json_double(&j, r.simulated_s);
        wp_json_key(&j, "loss");
        wp_json_double(&j, loss);
        wp_json_key(&j, "seed");
        wp_json_uint(&j, seed);
        wp_json_key(&j, "preset");
        wp_json_str(&j, preset);
        wp_json_obj_end(&j);
        wp_json_end(&j);
        return WPCTL_OK;
    }
    printf("simulated gossip: %zu members on preset %s, loss %.2f%%, seed %llu, %.0f s simulated\n",
           r.nodes, preset, loss * 100.0, (unsigned long long)seed, r.simulated_s);
    printf("  joined (all see all alive)   %.2f s\n", r.joined_s);
    printf("  convergence to 99.99%%        p50 %.3f s, max %.3f s over %u trials (%u unconverged)\n",
           r.convergence_s_p50, r.convergence_s_max, r.trials, r.trials_unconverged);
    printf("  dead detection everywhere    %.2f s (suspicion bound %.1f..%.1f s)\n",
           r.detection_s, r.suspicion_min_s, r.suspicion_max_s);
    printf("  false positives              %llu (suspicions started: %llu)\n",
           (unsigned long long)r.false_positives, (unsigned long long)r.suspicions);
    printf("  frames                       %llu sent, %llu lost\n",
           (unsigned long long)r.messages, (unsigned long long)r.messages_lost);
    return WPCTL_OK;
}
