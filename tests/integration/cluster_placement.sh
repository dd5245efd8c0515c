#!/usr/bin/env bash
# Issue 6's end-to-end check with real processes: `wpctl cluster up` starts
# 3 wp-placement servers and 8 wp-node processes (timing-model backend);
#   1. DIR/placement.endpoints lists the 3 servers, `cluster status` shows
#      them (role placement), the default catalog is loaded (`wpctl models`);
#   2. `wpctl pin llama-3.1-8b-instruct FRA` is visible in `wpctl placement`
#      (pinned, on a FRA node);
#   3. the pinned node reports the model warm through gossip: `wpctl nodes`
#      asked on ANOTHER node shows it in the FRA node's warm list (the
#      modelled cold load of this 16 GB model is 11 s, so allow 25 s);
#   4. `wpctl cluster down` stops all 11 processes.
# usage: cluster_placement.sh WPCTL
set -u
. "$(dirname "$0")/lib.sh"
WPCTL=${1:?usage: cluster_placement.sh WPCTL}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/wp-placement-it.XXXXXX")
MODEL=llama-3.1-8b-instruct

cleanup() {
    "$WPCTL" cluster down --dir "$DIR" >/dev/null 2>&1
    if [ -f "$DIR/cluster.txt" ]; then
        for pid in $(awk '$1 == "node" {print $4} $1 == "placement" {print $3}' "$DIR/cluster.txt"); do
            if grep -q wp- "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid" 2>/dev/null; fi
        done
    fi
    if [ -z "${WP_KEEP_DIR:-}" ]; then rm -rf "$DIR"; else echo "kept $DIR" >&2; fi
}
trap cleanup EXIT INT TERM

fail() {
    echo "FAIL: $*" >&2
    for f in "$DIR"/logs/*.log; do
        [ -f "$f" ] && { echo "--- $f (tail)" >&2; tail -n 8 "$f" >&2; }
    done
    exit 1
}

"$WPCTL" cluster up --dir "$DIR" --cities FRA,LHR,AMS,IAD,SFO,SIN,NRT,SYD --placement 3 \
    --probe-interval-ms 200 --gpu-backend model --gpu-mem-gb 24 >/dev/null \
    || fail "cluster up"
[ "$(wc -l < "$DIR/placement.endpoints")" -eq 3 ] || fail "placement.endpoints should list 3 servers"
[ "$("$WPCTL" cluster status --dir "$DIR" | grep -c ' placement ')" -eq 3 ] \
    || fail "cluster status should list 3 placement servers"
"$WPCTL" cluster status --dir "$DIR" --json | grep -q '"request_endpoint":"tcp://' \
    || fail "cluster status --json has no request_endpoint"
"$WPCTL" models --dir "$DIR" | grep -q "$MODEL" || fail "default catalog not loaded"

"$WPCTL" pin "$MODEL" FRA --dir "$DIR" >/dev/null || fail "pin"
"$WPCTL" placement --dir "$DIR" | grep "$MODEL" | grep -q 'fra-1 .*pinned' \
    || { "$WPCTL" placement --dir "$DIR" >&2; fail "pin not visible in wpctl placement"; }

ok=0
for _ in $(seq 1 125); do
    if "$WPCTL" nodes --dir "$DIR" --node syd-1 --json 2>/dev/null \
        | grep -q "\"id\":\"fra-1\"[^}]*$MODEL"; then ok=1; break; fi
    sleep 0.2
done
[ $ok -eq 1 ] || { "$WPCTL" nodes --dir "$DIR" --node syd-1 >&2; fail "syd-1 never saw $MODEL warm on fra-1"; }

out=$("$WPCTL" cluster down --dir "$DIR") || fail "cluster down"
echo "$out" | grep -q "stopped 11 processes" || fail "cluster down: $out"
wp_logs_clean "$DIR"/logs/*.log || fail "sanitizer report in a daemon log"
echo "ok: 3 placement servers + 8 nodes; pin visible; fra-1 warm as seen from syd-1"
