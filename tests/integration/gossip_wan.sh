#!/usr/bin/env bash
# WAN emulation with real processes: a two-node cluster FRA + SYD started
# with --emulate-wan. A capacity change on fra-1 must take at least the model
# one-way time FRA -> SYD (RTT / 2, about 130 ms) to show up on syd-1, and
# arrive within a few seconds; both nodes stay alive (no false suspicion at
# memberlist's default timings over the emulated WAN).
# usage: gossip_wan.sh WPCTL [WP_NODE]
set -u
. "$(dirname "$0")/lib.sh"
WPCTL=${1:?usage: gossip_wan.sh WPCTL [WP_NODE]}
if [ $# -ge 2 ]; then export WP_NODE_BIN=$2; fi
DIR=$(mktemp -d "${TMPDIR:-/tmp}/wp-gossip-wan.XXXXXX")
cleanup() {
    "$WPCTL" cluster down --dir "$DIR" >/dev/null 2>&1
    if [ -f "$DIR/cluster.txt" ]; then
        for pid in $(awk '$1 == "node" {print $4}' "$DIR/cluster.txt"); do
            if grep -q wp-node "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid" 2>/dev/null; fi
        done
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*" >&2; tail -n 20 "$DIR"/logs/*.log >&2; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

"$WPCTL" cluster up --cities FRA,SYD --dir "$DIR" --emulate-wan --timeout-s 20 --placement 0 \
    || fail "cluster up"
RTT=$("$WPCTL" topo rtt FRA SYD --json | grep -o '"rtt_ms":[0-9.]*' | cut -d: -f2)
[ -n "$RTT" ] || fail "no model RTT"
ONEWAY_MS=$(awk -v r="$RTT" 'BEGIN {printf "%d", r / 2}')
sleep 3 # a few probe rounds over the emulated WAN
T0=$(now_ms)
"$WPCTL" capacity fra-1 --dir "$DIR" --gpu-mem-free-gb 3 >/dev/null || fail "capacity"
while ! "$WPCTL" nodes --dir "$DIR" --node syd-1 --json | grep -q '"gpu_mem_free_bytes":3221225472'; do
    [ $(( $(now_ms) - T0 )) -gt 5000 ] && fail "syd-1 did not see the change within 5 s"
    sleep 0.01
done
TOOK=$(( $(now_ms) - T0 ))
echo "capacity change FRA -> SYD seen after $TOOK ms (model one-way $ONEWAY_MS ms)"
[ "$TOOK" -ge "$ONEWAY_MS" ] || fail "arrived faster ($TOOK ms) than the emulated one-way time ($ONEWAY_MS ms)"
alive=$("$WPCTL" nodes --dir "$DIR" --node syd-1 --json | grep -o '"status":"alive"' | wc -l)
[ "$alive" -eq 2 ] || fail "syd-1 sees $alive alive members"
if grep -q "is suspect\|is dead" "$DIR"/logs/*.log; then fail "a live node was suspected"; fi
wp_logs_clean "$DIR"/logs/*.log || fail "sanitizer report in a daemon log"
echo "ok: WAN emulation holds frames for the one-way time"
