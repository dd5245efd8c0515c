#!/usr/bin/env bash
# make demo: a live local cluster against its simulated twin.
#
#   1. live: 12 wp-node processes in 12 cities over all seven regions, WAN
#      emulated (every hop held for the model one-way time), 3 placement
#      servers, a few models pinned; 30 s of open-loop global traffic from
#      population-weighted users to their anycast ingress; p95 by region.
#   2. simulated twin: the same cities, models, GPUs, rate and request count
#      in the simulator (a scenario file written here), side by side with
#      the live table, p95 difference per region.
#   3. the cluster is torn down (trap: also on error and Ctrl-C).
# If the live part cannot run (e.g. the request path is not built yet) the
# script says so, runs the twin alone and the simulator's edge vs regional
# comparison as before. The last lines say which parts ran.
#
# Usage: scripts/demo.sh [BUILD_DIR]   (env: WP_DEMO_RATE, WP_DEMO_DURATION)
set -uo pipefail
BUILD=${1:-build}
WPCTL="$BUILD/tools/wpctl"
CITIES=FRA,LHR,IAD,SFO,GRU,JNB,LOS,DXB,BOM,SIN,NRT,SYD
MODELS=bge-base-en-v1.5,distilbert-sst2,whisper-large-v3-turbo
RATE=${WP_DEMO_RATE:-150}
DURATION=${WP_DEMO_DURATION:-30}
SEED=1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wp-demo.XXXXXX")
DIR="$WORK/cluster"
RESULTS="$WORK/results.csv"
TWIN="$WORK/twin.scenario"

cleanup() {
    if [ -f "$DIR/cluster.txt" ]; then
        echo
        echo "== tearing the cluster down =="
        "$WPCTL" cluster down --dir "$DIR" || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

[ -x "$WPCTL" ] || { echo "demo: $WPCTL not built (run make build)" >&2; exit 1; }
"$WPCTL" version
start_s=$(date +%s)

live="no"
live_why=""
echo
echo "== 1. live cluster: $CITIES =="
echo "   WAN emulated, 3 placement servers, 1 GPU (timing model) and 24 GiB per node"
if ! "$WPCTL" cluster up --help | grep -q -- '--placement'; then
    live_why="wpctl cluster up has no --placement yet (the live request path is not merged)"
elif ! "$WPCTL" cluster up --cities "$CITIES" --emulate-wan --placement 3 --gpus 1 \
        --gpu-mem-gb 24 --dir "$DIR"; then
    live_why="wpctl cluster up failed"
else
    echo
    echo "-- pins (the optimizer fills what pins leave open) --"
    ok=1
    "$WPCTL" pin whisper-large-v3-turbo FRA,IAD,SIN,GRU --dir "$DIR" || ok=0
    "$WPCTL" pin bge-base-en-v1.5 "$CITIES" --dir "$DIR" || ok=0
    "$WPCTL" pin distilbert-sst2 "$CITIES" --dir "$DIR" || ok=0
    [ $ok = 1 ] || echo "demo: a pin was refused (see above); going on with the placement as it is"
    # Wait (up to 20 s) until every demo model is warm on every node.
    for _ in $(seq 1 40); do
        warm=$("$WPCTL" models --dir "$DIR" --json 2>/dev/null |
            grep -o '"warm_nodes":[0-9]*' | cut -d: -f2 | sort -n | head -1)
        [ "${warm:-0}" -ge 12 ] && break
        sleep 0.5
    done
    "$WPCTL" models --dir "$DIR" || true
    echo
    echo "-- what the Johannesburg users' ingress would do for whisper now --"
    "$WPCTL" route whisper-large-v3-turbo --from JNB --dir "$DIR" || true
    echo
    echo "-- $DURATION s of open-loop traffic, $RATE requests/s, users by population --"
    if "$WPCTL" traffic --rate "$RATE" --duration "$DURATION" --models "$MODELS" \
            --seed "$SEED" --dir "$DIR" --out "$RESULTS"; then
        live="yes"
    else
        live_why="wpctl traffic failed"
    fi
fi
[ "$live" = yes ] || echo "demo: LIVE PART DID NOT RUN: $live_why"

# The simulated twin: same cities (PoPs and GPU sites), GPUs and memory,
# models (uniform mix), rate; no diurnal cycle, one tenant function and no
# isolate/invoke overheads (the live path has none); in-city hops free.
cat > "$TWIN" <<SCN
name = live-twin
serving = edge
preset = edge
cities = $CITIES
gpus_total = 12
gpu_mem_gb = 24
prewarm = yes
policy = nearest-warm
models = $MODELS
zipf_s = 0
rate_rps = $RATE
diurnal_amplitude = 0
functions = 1
function_sigma = 0
isolate_start_ms = 0
invoke_ms = 0
intra_city_rtt_ms = 0
SCN
echo
echo "== 2. the simulated twin (scenario file) =="
cat "$TWIN"
twin="no"
if [ "$live" = yes ]; then
    echo
    echo "== live vs simulated, same cities, models, rate and request count =="
    "$WPCTL" report "$RESULTS" --vs-sim "$TWIN" --seed "$SEED" && twin="yes"
else
    echo
    "$WPCTL" sim --scenario "$TWIN" --duration "$DURATION" --seed "$SEED" && twin="yes"
    echo
    echo "== fallback: simulated edge vs regional, 200,000 requests, seed 1 =="
    "$WPCTL" sim --scenario edge --compare regional --requests 200000 --seed 1
fi

echo
echo "== demo summary ($(($(date +%s) - start_s)) s) =="
echo "live cluster + traffic:  $live${live_why:+ ($live_why)}"
echo "simulated twin:          $twin"
[ "$live" = yes ] || echo "edge vs regional (sim):  yes (fallback)"
