/* bench_faults — the fault campaign at scale: N seeded schedules (default
 * 10,000) of kills, pauses, partitions, one-way loss, disk failures and
 * proposals on five placement replicas over raft's in-memory fixture
 * (simulated: no sockets, no disk; see faultsim/faultsim.h), invariants
 * checked after each. Prints one JSON line per failing seed (rerun it with
 * --first SEED --seeds 1) and a summary line.
 *   bench_faults [--seeds N] [--first SEED] [--no-shim] [--no-disk] [--gossip
 *                [--no-reconnect]]
 * --no-shim runs raft 0.15 without consensus/'s raft_io shim (disk faults
 * off: they need it), to count what the shim fixes. --gossip runs the
 * gossip simulation sweep instead (faultsim.h): failing seeds, and seeds
 * where a capacity change did not reach everyone, one JSON line each;
 * --no-reconnect turns the gossip core's reconnect off, to count what it
 * fixes. */
#include "faultsim/faultsim.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        if ((unsigned char)*s >= 0x20)
            putchar(*s);
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    uint64_t seeds = 10000, first = 1;
    wp_fsim_opts o = {.shim = true, .disk_faults = true};
    bool gossip = false;
    static const struct option opts[] = {
        {"seeds", required_argument, 0, 'n'}, {"first", required_argument, 0, 'f'},
        {"no-shim", no_argument, 0, 's'},     {"no-disk", no_argument, 0, 'd'},
        {"json", no_argument, 0, 'j'},        {"help", no_argument, 0, 'h'},
        {"gossip", no_argument, 0, 'g'},     {"no-reconnect", no_argument, 0, 'r'},
        {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'n':
            if (wp_parse_u64(optarg, &seeds) != WP_OK || seeds == 0) {
                fprintf(stderr, "bench_faults: --seeds: expected a positive integer\n");
                return 2;
            }
            break;
        case 'f':
            if (wp_parse_u64(optarg, &first) != WP_OK) {
                fprintf(stderr, "bench_faults: --first: expected an integer\n");
                return 2;
            }
            break;
        case 's': o.shim = false; o.disk_faults = false; break;
        case 'd': o.disk_faults = false; break;
        case 'j': break; /* always JSON lines */
        case 'g': gossip = true; break;
        case 'r': o.no_reconnect = true; break;
        case 'h':
            printf("usage: bench_faults [--seeds N] [--first SEED] [--no-shim] [--no-disk] "
                   "[--gossip [--no-reconnect]]\n"
                   "Simulated fault schedules (raft's in-memory fixture) over five placement\n"
                   "replicas; prints failing seeds and a summary as JSON lines.\n");
            return 0;
        default: fprintf(stderr, "Try 'bench_faults --help'.\n"); return 2;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    wp_log_set_level(WP_LOG_ERROR);
    uint64_t failed = 0, run = 0, acked = 0, capped = 0, trimmed = 0, mismatched = 0;
    unsigned kills = 0, pauses = 0, parts = 0, losses = 0, disks = 0, restarts = 0;
    uint64_t t0 = wp_clock_monotonic_ns();
    if (gossip) {
        uint64_t unconverged = 0;
        for (uint64_t seed = first; seed < first + seeds && !stop; seed++) {
            wp_fsim_report rep;
            wp_err err = {0};
            if (wp_fsim_gossip_run(seed, &o, &rep, &err) != WP_OK) {
                fprintf(stderr, "bench_faults: gossip seed %llu: %s\n",
                        (unsigned long long)seed, wp_err_text(&err));
                return 1;
            }
            run++;
            failed += !rep.ok;
            unconverged += rep.unconverged > 0;
            pauses += rep.pauses;
            parts += rep.partitions;
            restarts += rep.restarts;
            if (!rep.ok || rep.unconverged > 0) {
                printf("{\"bench\":\"faults_gossip\",\"seed\":%llu,\"ok\":%s,"
                       "\"unconverged_capacity_changes\":%u,\"failure\":",
                       (unsigned long long)seed, rep.ok ? "true" : "false", rep.unconverged);
                json_str(rep.ok ? "" : rep.why);
                printf("}\n");
                fflush(stdout);
            }
        }
        printf("{\"bench\":\"faults_gossip\",\"simulated\":true,\"reconnect\":%s,"
               "\"runs\":%llu,\"failed\":%llu,\"runs_with_unconverged_capacity\":%llu,"
               "\"pauses\":%u,\"partitions\":%u,\"restarts\":%u,\"wall_s\":%.2f}\n",
               o.no_reconnect ? "false" : "true", (unsigned long long)run,
               (unsigned long long)failed, (unsigned long long)unconverged, pauses, parts,
               restarts,
               (double)(wp_clock_monotonic_ns() - t0) / 1e9);
        return 0;
    }
    for (uint64_t seed = first; seed < first + seeds && !stop; seed++) {
        wp_fsim_report rep;
        wp_err err = {0};
        if (wp_fsim_raft_run(seed, &o, &rep, &err) != WP_OK) {
            fprintf(stderr, "bench_faults: seed %llu: %s\n", (unsigned long long)seed,
                    wp_err_text(&err));
            return 1;
        }
        run++;
        kills += rep.kills;
        pauses += rep.pauses;
        parts += rep.partitions;
        losses += rep.losses;
        disks += rep.disk_faults;
        acked += rep.acked;
        capped += rep.capped;
        trimmed += rep.trimmed;
        mismatched += rep.trim_mismatched;
        if (!rep.ok) {
            failed++;
            printf("{\"bench\":\"faults\",\"seed\":%llu,\"failure\":", (unsigned long long)seed);
            json_str(rep.why);
            printf("}\n");
            fflush(stdout);
        }
    }
    double s = (double)(wp_clock_monotonic_ns() - t0) / 1e9;
    printf("{\"bench\":\"faults\",\"simulated\":true,\"shim\":%s,\"disk_faults\":%s,"
           "\"schedules\":%llu,\"failed\":%llu,\"kills\":%u,\"pauses\":%u,\"partitions\":%u,"
           "\"losses\":%u,\"disk_failures\":%u,\"acked\":%llu,\"capped\":%llu,\"trimmed\":%llu,"
           "\"trim_mismatched\":%llu,\"wall_s\":%.2f}\n",
           o.shim ? "true" : "false", o.disk_faults ? "true" : "false", (unsigned long long)run,
           (unsigned long long)failed, kills, pauses, parts, losses, disks,
           (unsigned long long)acked, (unsigned long long)capped, (unsigned long long)trimmed,
           (unsigned long long)mismatched, s);
    return 0;
}
