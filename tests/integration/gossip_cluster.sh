#!/usr/bin/env bash
# The 8-process gossip integration test (issue 5): real wp-node processes on
# loopback, started by `wpctl cluster up --preset tiny`.
#   1. all 8 nodes see all 8 members alive;
#   2. kill -9 one node: every other member marks it dead within the
#      suspicion timeout (max = 6 x 4 x probe interval for 8 members) + margin;
#   3. restart it: it rejoins alive with a higher incarnation everywhere;
#   4. a capacity change (free GPU memory, warm models, draining) on one node
#      is seen by `wpctl nodes` on another;
#   5. SIGTERM on one node: a graceful leave, the others show it "left";
#   6. `wpctl cluster down` leaves no process, and every node logged a clean
#      shutdown (uv_loop_close returned 0).
# Short gossip timings (probe 200 ms) keep it under ~30 s; processes are
# cleaned up on any exit (trap).
# usage: gossip_cluster.sh WPCTL [WP_NODE]
set -u
. "$(dirname "$0")/lib.sh"
WPCTL=${1:?usage: gossip_cluster.sh WPCTL [WP_NODE]}
if [ $# -ge 2 ]; then export WP_NODE_BIN=$2; fi
DIR=$(mktemp -d "${TMPDIR:-/tmp}/wp-gossip-it.XXXXXX")
PROBE_MS=200

cleanup() {
    "$WPCTL" cluster down --dir "$DIR" >/dev/null 2>&1
    if [ -f "$DIR/cluster.txt" ]; then
        for pid in $(awk '$1 == "node" {print $4}' "$DIR/cluster.txt"); do
            if grep -q wp-node "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid" 2>/dev/null; fi
        done
    fi
    if [ -z "${WP_KEEP_DIR:-}" ]; then rm -rf "$DIR"; else echo "kept $DIR" >&2; fi
}
trap cleanup EXIT INT TERM

fail() {
    echo "FAIL: $*" >&2
    for f in "$DIR"/logs/*.log; do
        [ -f "$f" ] && { echo "--- $f (tail)" >&2; tail -n 15 "$f" >&2; }
    done
    exit 1
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# status of member $2 in node $1's view
member_field() { # node member field
    "$WPCTL" nodes --dir "$DIR" --node "$1" --json 2>/dev/null |
        grep -o "{\"id\":\"$2\"[^}]*}" | grep -o "\"$3\":[^,}]*" | head -n1 | cut -d: -f2 | tr -d '"'
}

# No placement servers: this test is about gossip, and a placement service
# would have the nodes load models and republish their real free memory,
# overwriting the capacity set by hand in step 4.
"$WPCTL" cluster up --preset tiny --dir "$DIR" --probe-interval-ms $PROBE_MS --timeout-s 30 \
    --placement 0 \
    || fail "cluster up"
IDS=$(awk '$1 == "node" {print $2}' "$DIR/cluster.txt")
N=$(echo "$IDS" | wc -w)
[ "$N" -eq 8 ] || fail "expected 8 nodes, got $N"

# 1. all alive everywhere
for id in $IDS; do
    alive=$("$WPCTL" nodes --dir "$DIR" --node "$id" --json | grep -o '"status":"alive"' | wc -l)
    [ "$alive" -eq 8 ] || fail "$id sees $alive alive members, want 8"
done
echo "ok: 8 nodes, all see 8 members alive"
"$WPCTL" nodes --dir "$DIR" | head -n 12

# 2. kill -9 one node
VICTIM=$(echo "$IDS" | awk '{print $1}' | sed -n 3p)
OTHERS=$(echo "$IDS" | grep -vx "$VICTIM")
FIRST_OTHER=$(echo "$OTHERS" | head -n1)
INC0=$(member_field "$FIRST_OTHER" "$VICTIM" incarnation)
[ -n "$INC0" ] || fail "no incarnation for $VICTIM"
PID=$(awk -v v="$VICTIM" '$1 == "node" && $2 == v {print $4}' "$DIR/cluster.txt")
kill -9 "$PID" || fail "kill $PID"
T0=$(now_ms)
# Suspicion max for 8 members: 6 * 4 * max(1, log10 8) * probe = 24 probe
# intervals; + one probe interval to suspect + 3 s to spread and for slack.
LIMIT_MS=$(( 25 * PROBE_MS + 3000 ))
while :; do
    dead=0
    for id in $OTHERS; do
        s=$(member_field "$id" "$VICTIM" status)
        [ "$s" = dead ] && dead=$((dead + 1))
    done
    [ "$dead" -eq 7 ] && break
    [ $(( $(now_ms) - T0 )) -gt $LIMIT_MS ] && fail "after $LIMIT_MS ms only $dead of 7 mark $VICTIM dead"
    sleep 0.1
done
echo "ok: $VICTIM dead on all 7 others after $(( $(now_ms) - T0 )) ms (limit $LIMIT_MS ms)"

# 3. restart: alive again with a higher incarnation, everywhere
"$WPCTL" cluster restart "$VICTIM" --dir "$DIR" || fail "restart"
T0=$(now_ms)
while :; do
    good=0
    for id in $IDS; do
        s=$(member_field "$id" "$VICTIM" status)
        inc=$(member_field "$id" "$VICTIM" incarnation)
        if [ "$s" = alive ] && [ -n "$inc" ] && [ "$inc" -gt "$INC0" ]; then good=$((good + 1)); fi
    done
    [ "$good" -eq 8 ] && break
    [ $(( $(now_ms) - T0 )) -gt 15000 ] && fail "after restart only $good of 8 see $VICTIM alive with incarnation > $INC0"
    sleep 0.2
done
[ "$(member_field "$FIRST_OTHER" "$VICTIM" gpus)" = 1 ] || fail "$VICTIM restarted without its GPU count"
echo "ok: $VICTIM rejoined alive with incarnation $(member_field "$FIRST_OTHER" "$VICTIM" incarnation) > $INC0"

# 4. capacity change on one node seen on another
SRC=$(echo "$IDS" | sed -n 1p)
DST=$(echo "$IDS" | sed -n 8p)
"$WPCTL" capacity "$SRC" --dir "$DIR" --gpu-mem-free-gb 7 --warm llama2-7b,tiny-15m >/dev/null || fail "capacity"
"$WPCTL" drain "$SRC" --dir "$DIR" >/dev/null || fail "drain"
T0=$(now_ms)
while :; do
    mem=$(member_field "$DST" "$SRC" gpu_mem_free_bytes)
    dr=$(member_field "$DST" "$SRC" draining)
    [ "$mem" = 7516192768 ] && [ "$dr" = true ] && break
    [ $(( $(now_ms) - T0 )) -gt 5000 ] && fail "$DST sees $SRC mem=$mem draining=$dr"
    sleep 0.1
done
"$WPCTL" nodes --dir "$DIR" --node "$DST" --json | grep -q '"warm_models":\["llama2-7b","tiny-15m"\]' \
    || fail "warm models not seen on $DST"
echo "ok: capacity change on $SRC seen by $DST after $(( $(now_ms) - T0 )) ms"

# 5. graceful leave: SIGTERM one node, the others mark it "left" (not dead)
LEAVER=$(echo "$IDS" | sed -n 5p)
LPID=$(awk -v v="$LEAVER" '$1 == "node" && $2 == v {print $4}' "$DIR/cluster.txt")
kill -TERM "$LPID" || fail "SIGTERM $LEAVER"
T0=$(now_ms)
while [ "$(member_field "$SRC" "$LEAVER" status)" != left ]; do
    [ $(( $(now_ms) - T0 )) -gt 3000 ] && fail "$SRC does not see $LEAVER as left"
    sleep 0.1
done
echo "ok: $LEAVER left gracefully, seen as left by $SRC after $(( $(now_ms) - T0 )) ms"

# 6. down leaves nothing running; every node stopped cleanly
"$WPCTL" cluster down --dir "$DIR" || fail "cluster down"
if "$WPCTL" cluster status --dir "$DIR" --json | grep -q '"running":true'; then
    fail "processes still running after cluster down"
fi
for id in $IDS; do
    tail -n 3 "$DIR/logs/$id.log" | grep -q "stopped cleanly" || fail "$id did not stop cleanly"
done
wp_logs_clean "$DIR"/logs/*.log || fail "sanitizer report in a daemon log"
echo "ok: cluster down, all 8 stopped cleanly"
