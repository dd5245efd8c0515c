#!/usr/bin/env bash
# scripts/vs-sim-load.sh — the live cluster against its simulated twin at
# high GPU use (issue 12): `wpctl cluster up --preset tiny --emulate-wan`
# (8 cities, one timing-model GPU each), whisper pinned everywhere, then
#   1. RATE requests/s of whisper from users by population for DURATION s
#      (default 215/s for 60 s: ~71% of the 8 GPUs), and
#   2. the same with one node (KILL, default sin-1) SIGKILLed half way; its
#      city's outage goes into the twin as `fault = outage CITY T-1000`,
# each followed by `wpctl report FILE --vs-sim` (p95 by region, live beside
# simulated). Takes about DURATION x 2 + 60 s.
# usage: scripts/vs-sim-load.sh [WPCTL] [RATE] [DURATION] [KILL]
set -euo pipefail
W=${1:-build/tools/wpctl}
RATE=${2:-215}
DURATION=${3:-60}
KILL=${4:-sin-1}
command -v jq >/dev/null || { echo "vs-sim-load: jq is needed (scripts/deps.sh)" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wp-vs-sim.XXXXXX")
DIR="$WORK/cluster"
cleanup() {
    "$W" cluster down --dir "$DIR" >/dev/null 2>&1 || true
    if [ -z "${WP_KEEP_DIR:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
M=whisper-large-v3-turbo

"$W" cluster up --dir "$DIR" --preset tiny --emulate-wan --placement 1 --gpus 1 >"$WORK/up.log"
cities=$("$W" nodes --dir "$DIR" --json | jq -r '[.[].city] | unique | join(",")')
"$W" pin "$M" "$cities" --dir "$DIR" >/dev/null
for _ in $(seq 1 120); do
    warm=$("$W" nodes --dir "$DIR" --json |
        jq --arg m "$M" '[.[] | .warm_models | index($m) != null] | all')
    [ "$warm" = true ] && break
    sleep 0.5
done
[ "$warm" = true ] || { echo "vs-sim-load: $M not warm everywhere" >&2; exit 1; }
sleep 1

echo "== $RATE req/s of $M for $DURATION s, no fault =="
"$W" traffic --dir "$DIR" --models "$M" --rate "$RATE" --duration "$DURATION" --seed 5 \
    --out "$WORK/r.csv" --quiet | grep '^sent'
"$W" report "$WORK/r.csv" --vs-sim --seed 5 | sed -n '/^TTFT by region/,$p'

half=$(awk -v d="$DURATION" 'BEGIN { printf "%d", d / 2 }')
pid=$("$W" cluster status --dir "$DIR" --json | jq -r --arg k "$KILL" '.[] | select(.id == $k) | .pid')
city=$("$W" cluster status --dir "$DIR" --json | jq -r --arg k "$KILL" '.[] | select(.id == $k) | .city')
[ -n "$pid" ] && [ -n "$city" ] || { echo "vs-sim-load: no node $KILL" >&2; exit 1; }
echo
echo "== the same, $KILL ($city) SIGKILLed at $half s =="
"$W" traffic --dir "$DIR" --models "$M" --rate "$RATE" --duration "$DURATION" --seed 6 \
    --out "$WORK/k.csv" --quiet >"$WORK/k.log" 2>&1 &
tp=$!
sleep "$half"
kill -9 "$pid"
wait "$tp" || true
grep '^sent' "$WORK/k.log"
echo "fault = outage $city $half-1000" >>"$WORK/k.csv.twin"
"$W" report "$WORK/k.csv" --vs-sim --seed 6 | sed -n '/^TTFT by region/,$p'
echo "errors by ingress (a dead ingress answers nothing: the client's own timeout):"
awk -F, 'NR > 1 && $7 != "ok" { n[$4 " " $7]++ } END { for (k in n) print "  " k, n[k] }' "$WORK/k.csv"
