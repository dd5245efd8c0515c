#!/usr/bin/env bash
# Killing a serving node during live traffic (issue 7): real wp-node
# processes on loopback, WAN emulation off, timing-model GPUs.
#   ingress ing-fra (FRA, no GPU: it routes and forwards every request),
#   gpu-ams (AMS, nearest to FRA: serves first), gpu-cdg and gpu-lhr.
# `wpctl traffic --from FRA` sends 100 requests/s open loop for 10 s to the
# ingress; after 3 s gpu-ams is killed with SIGKILL. Then, from the results
# file:
#   1. one row per request sent and sent = ok + errors (wpctl report);
#   2. no request lost without an error response: every row is an answer
#      from the ingress (ok or an explicit error), none is the client's own
#      "no response" timeout;
#   3. after the failure detection time (suspicion timeout bound, 6 x 4 x
#      probe interval = 4.8 s at 200 ms, + 1 s margin) no request is routed
#      to gpu-ams (neither served by it nor tried first);
#   4. the retry works: at least 90% of the requests succeed.
# Cleanup on any exit (trap). usage: traffic_kill.sh WPCTL WP_NODE
set -u
WPCTL=${1:?usage: traffic_kill.sh WPCTL WP_NODE}
NODE=${2:?}
if ! "$NODE" --help 2>&1 | grep -q -- '--request'; then
    echo "SKIP: this wp-node has no request path (--request) yet"
    exit 77
fi
. "$(dirname "$0")/lib.sh"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/wp-kill-it.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ -z "${WP_KEEP_DIR:-}" ]; then rm -rf "$DIR"; else echo "kept $DIR" >&2; fi
}
trap cleanup EXIT INT TERM
fail() {
    echo "FAIL: $*" >&2
    for f in "$DIR"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 12 "$f" >&2; }; done
    exit 1
}
PROBE_MS=200
# Ports from the one helper (wp_ports): 3 per node (gossip, admin, request).
start_node() { # ID CITY GPUS MEM_GB SLOT [JOIN]
    local b=$(( $5 * 3 ))
    "$NODE" --id "$1" --city "$2" --gpus "$3" --gpu-mem-gb "$4" --gpu-backend model \
        --bind "tcp://127.0.0.1:${P[b]}" --admin "tcp://127.0.0.1:${P[b + 1]}" \
        --request "tcp://127.0.0.1:${P[b + 2]}" --probe-interval-ms $PROBE_MS \
        --log-level warn ${6:+--join "$6"} 2> "$DIR/$1.log" &
    PIDS+=($!)
}
# Retried with new ports when another process took one first (wp-node
# itself retries a bind for 1 s before giving up).
for attempt in 1 2 3; do
    mapfile -t P < <(wp_ports 12) || fail "no free ports"
    [ "${#P[@]}" = 12 ] || fail "wp_ports gave ${#P[@]} ports"
    PIDS=()
    start_node ing-fra FRA 0 0 0
    SEED="tcp://127.0.0.1:${P[0]}"
    start_node gpu-ams AMS 1 24 1 "$SEED"
    AMS_PID=${PIDS[1]}
    start_node gpu-cdg CDG 1 24 2 "$SEED"
    start_node gpu-lhr LHR 1 24 3 "$SEED"
    sleep 1.2
    up=1
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null || up=0; done
    [ $up = 1 ] && break
    wp_addr_in_use "$DIR"/*.log || fail "a node exited at start"
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ "$attempt" = 3 ] && fail "ports in use in 3 tries"
done
ING="tcp://127.0.0.1:${P[2]}"
MODEL=distilbert-sst2

# Wait until the ingress routes the model to gpu-ams (membership formed).
for _ in $(seq 1 30); do
    kill -0 "${PIDS[0]}" 2>/dev/null || fail "the ingress exited"
    timeout 2 "$WPCTL" route $MODEL --from FRA --endpoint "$ING" --json > "$DIR/route.json" 2>/dev/null &&
        grep -q '"chosen_node":"gpu-ams"' "$DIR/route.json" && break
    sleep 0.2
done
grep -q '"chosen_node":"gpu-ams"' "$DIR/route.json" ||
    fail "ingress does not route to gpu-ams: $(cat "$DIR/route.json")"

"$WPCTL" traffic --endpoint "$ING" --from FRA --models $MODEL --rate 100 --duration 10 \
    --timeout-ms 3000 --grace 4 --seed 5 --out "$DIR/r.csv" --json > "$DIR/summary.json" &
TPID=$!
sleep 3
kill -9 "$AMS_PID"
KILL_NS=$(date +%s%N)
wait "$TPID" || fail "wpctl traffic failed: $(cat "$DIR/summary.json")"

START_NS=$(grep -o '"start_unix_ns":[0-9]*' "$DIR/summary.json" | cut -d: -f2)
[ -n "$START_NS" ] || fail "no start_unix_ns in the summary"
KILL_US=$(( (KILL_NS - START_NS) / 1000 ))
DETECT_US=$(( (6 * 4 * PROBE_MS + 1000) * 1000 ))
"$WPCTL" report "$DIR/r.csv" --json > "$DIR/report.json" || fail "wpctl report failed"
j() { grep -o "\"$1\":[0-9a-z]*" "$DIR/report.json" | head -1 | cut -d: -f2; }
sent=$(j sent); ok=$(j ok); errors=$(j errors)
rows=$(($(wc -l < "$DIR/r.csv") - 1))
noresp=$(grep -c 'no response by the end of the run' "$DIR/r.csv")
late=$(awk -F, -v t=$((KILL_US + DETECT_US)) \
    'NR > 1 && $9 > t && ($5 == "gpu-ams" || $14 == "gpu-ams")' "$DIR/r.csv" | wc -l)
after_kill_ams=$(awk -F, -v t=$KILL_US 'NR > 1 && $9 > t && $5 == "gpu-ams"' "$DIR/r.csv" | wc -l)
retried=$(awk -F, 'NR > 1 && $13 == 1' "$DIR/r.csv" | wc -l)
echo "sent $sent ok $ok errors $errors rows $rows; killed gpu-ams at ${KILL_US} us;" \
     "retried $retried; served by gpu-ams after the kill $after_kill_ams;" \
     "routed to gpu-ams after detection $late; client-side timeouts $noresp"
awk -F, 'NR > 1 && $7 != "ok" {print $7}' "$DIR/r.csv" | sort | uniq -c
[ "$rows" = "$sent" ] || fail "rows $rows != sent $sent"
[ "$(j counts_add_up)" = true ] || fail "sent != ok + errors"
[ "$rows" -gt 700 ] || fail "only $rows requests in 10 s at 100/s"
[ "$noresp" = 0 ] || fail "$noresp requests got no response at all"
[ "$late" = 0 ] || fail "$late requests routed to gpu-ams after the detection time"
[ $((ok * 10)) -ge $((rows * 9)) ] || fail "only $ok of $rows succeeded"
wp_logs_clean "$DIR"/*.log || fail "sanitizer report in a daemon log"
echo PASS
