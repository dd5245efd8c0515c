#!/usr/bin/env bash
# make demo: the best main job the project can run today — the global
# traffic simulator, edge against regional, same users and seed.
set -euo pipefail
BUILD=${1:-build}
WPCTL="$BUILD/tools/wpctl"
"$WPCTL" version
echo
echo "== Simulated global inference traffic: 200,000 requests, seed 1 =="
echo "edge:     ~330 PoP cities, GPUs in 190, models kept warm, nearest-warm routing,"
echo "          a V8 isolate per (PoP, function) (5 ms to start)"
echo "regional: nearest AWS region, containers per (region, function) (cold starts),"
echo "          regional endpoint; both: 1500 tenant functions (Azure-trace popularity)"
echo
"$WPCTL" sim --scenario edge --compare regional --requests 200000 --seed 1
echo
echo "Each scenario alone, with full-response p95 and context:"
"$WPCTL" sim --scenario edge --requests 200000 --seed 1
echo
"$WPCTL" sim --scenario regional --requests 200000 --seed 1
