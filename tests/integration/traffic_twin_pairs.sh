#!/usr/bin/env bash
# wpctl traffic and its simulated twin draw the same requests (issue 15,
# demo parity): traffic forks its random streams from the seed in the
# simulator's order, so with the same seed both worlds draw the same
# arrivals, users, models and access latencies, and `report --vs-sim`
# compares the worlds, not two samples of the access-latency tail.
# Checked on a small timing-model cluster (FRA, SIN, GRU; WAN emulated):
# every request answers OK, and for every region the simulated twin ran
# exactly as many requests as the live run answered.
# usage: traffic_twin_pairs.sh WPCTL
set -u
WPCTL=${1:?usage: traffic_twin_pairs.sh WPCTL}
command -v jq > /dev/null || { echo "SKIP: jq not installed"; exit 77; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/wp-twin-pairs.XXXXXX")
cleanup() { "$WPCTL" cluster down --dir "$DIR/c" > /dev/null 2>&1; [ -n "${WP_KEEP_DIR:-}" ] || rm -rf "$DIR"; }
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }
"$WPCTL" cluster up --dir "$DIR/c" --cities FRA,SIN,GRU --emulate-wan --gpus 1 \
    --gpu-mem-gb 24 > /dev/null || fail "cluster up"
"$WPCTL" traffic --dir "$DIR/c" --rate 40 --duration 4 --models bge-base-en-v1.5 --seed 3 \
    --timeout-ms 20000 --out "$DIR/r.csv" --quiet > /dev/null || fail "traffic exited $?"
n=$(awk -F, 'NR > 1' "$DIR/r.csv" | wc -l)
ok=$(awk -F, 'NR > 1 && $7 == "ok"' "$DIR/r.csv" | wc -l)
[ "$n" -ge 60 ] && [ "$n" = "$ok" ] || fail "$ok of $n requests OK"
"$WPCTL" report "$DIR/r.csv" --vs-sim --seed 3 --json > "$DIR/vs.json" || fail "report --vs-sim"
jq -e '[.regions[] | select(.live.requests != .sim.requests)] | length == 0' "$DIR/vs.json" \
    > /dev/null || fail "per-region counts differ: $(jq -c '[.regions | to_entries[] |
        {r: .key, live: .value.live.requests, sim: .value.sim.requests}]' "$DIR/vs.json")"
jq -e '.all.live.requests == .all.sim.requests' "$DIR/vs.json" > /dev/null || fail "totals differ"
echo "PASS ($n requests, same per region live and simulated)"
