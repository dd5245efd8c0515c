#!/usr/bin/env bash
# tests/metrics/metrics_promtool.sh WPCTL WP_PORTS — every daemon of a small
# local cluster (3 placement servers, 4 nodes) serves /metrics that
# `promtool check metrics` accepts, after some traffic so the request
# counters and histograms have series; the scrape configuration `cluster up`
# wrote passes `promtool check config`; `cluster status --json` and the
# target list name the same metrics addresses; exactly one placement server
# reports itself raft leader; a second wp-node on a taken metrics port
# refuses to start with a one-line error.
set -u
W=${1:?usage: metrics_promtool.sh WPCTL WP_PORTS}
PORTS=${2:?}
command -v promtool >/dev/null 2>&1 ||
    { echo "SKIP: promtool not installed (Debian package prometheus; scripts/deps.sh)"; exit 77; }
command -v jq >/dev/null 2>&1 || { echo "SKIP: jq not installed (scripts/deps.sh)"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl not installed (scripts/deps.sh)"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/wp-metrics-promtool.XXXXXX")
export WP_CLUSTER_DIR="$T/c"
cleanup() {
    "$W" cluster down >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok   $*"; }

"$W" cluster up --placement 3 --cities FRA,SIN --nodes-per-city 2 --json >"$T/up.json" \
    2>"$T/up.err" || fail "cluster up: $(tail -3 "$T/up.err")"
"$W" traffic --rate 100 --duration 2 --grace 7 --quiet --out "$T/r.csv" >/dev/null 2>"$T/tr.err" ||
    fail "traffic: $(tail -3 "$T/tr.err")"
"$W" cluster status --json >"$T/status.json" || fail "cluster status --json"
n=$(jq '[.[] | select(.metrics != null)] | length' "$T/status.json")
[ "$n" = 7 ] || fail "$n daemons with a metrics address, want 7"
ok "cluster status --json: 7 metrics addresses"
"$W" cluster status | grep -q "METRICS" || fail "status table has no METRICS column"

# The scrape configuration names the same addresses.
promtool check config "$WP_CLUSTER_DIR/prometheus.yml" >"$T/cfg.out" 2>&1 ||
    fail "promtool check config: $(cat "$T/cfg.out")"
diff <(jq -r '.[].metrics' "$T/status.json" | sort) \
    <(jq -r '.[].targets[]' "$WP_CLUSTER_DIR/prometheus_targets.json" | sort) >/dev/null ||
    fail "prometheus_targets.json differs from cluster status"
ok "prometheus.yml passes promtool check config; targets = status"

leaders=0
for addr in $(jq -r '.[].metrics' "$T/status.json"); do
    id=$(jq -r --arg a "$addr" '.[] | select(.metrics == $a) | .id' "$T/status.json")
    curl -sf --max-time 5 "http://$addr/metrics" >"$T/$id.prom" || fail "$id: GET http://$addr/metrics"
    promtool check metrics <"$T/$id.prom" >"$T/$id.check" 2>&1 ||
        fail "$id: promtool check metrics: $(head -5 "$T/$id.check")"
    case $id in
    placement-*)
        grep -q '^warmpath_raft_term ' "$T/$id.prom" || fail "$id: no warmpath_raft_term"
        grep -q '^warmpath_placement_version ' "$T/$id.prom" || fail "$id: no placement version"
        grep -q '^warmpath_raft_leader 1$' "$T/$id.prom" && leaders=$((leaders + 1))
        ;;
    *)
        for f in warmpath_node_info warmpath_gossip_members warmpath_queue_depth \
            warmpath_gpu_memory_free_bytes warmpath_frames_bad_total warmpath_work_in_flight \
            warmpath_model_queued warmpath_model_running; do
            grep -q "^$f" "$T/$id.prom" || fail "$id: no $f"
        done
        grep -q 'warmpath_gossip_members{state="alive"} 4$' "$T/$id.prom" ||
            fail "$id: not 4 alive members: $(grep gossip_members "$T/$id.prom")"
        ;;
    esac
done
ok "promtool check metrics passes for all 7 daemons"
# The request families have series once traffic went through (not every
# node is an ingress: users enter at the anycast-nearest one).
for f in 'warmpath_requests_total{.*role="ingress"' 'warmpath_requests_total{.*role="target"' \
    warmpath_ttft_seconds_bucket warmpath_request_duration_seconds_count; do
    cat "$T"/*.prom | grep -q "^$f" || fail "no daemon exports $f"
done
ok "request, TTFT and latency series present"
[ "$leaders" = 1 ] || fail "$leaders placement servers report warmpath_raft_leader 1, want 1"
ok "exactly one raft leader"

# Every request the client saw answered OK was counted as an OK at an ingress.
sent_ok=$(awk -F, 'NR > 1 && $0 ~ /,ok,/' "$T/r.csv" | wc -l)
counted=$(cat "$T"/*-[0-9].prom | awk '/^warmpath_requests_total\{.*role="ingress",outcome="ok"\}/ {s += $2} END {print s + 0}')
[ "$sent_ok" -gt 0 ] && [ "$counted" = "$sent_ok" ] ||
    fail "ingress ok counters sum to $counted, the client saw $sent_ok ok"
ok "ingress ok counters ($counted) = the client's ok rows"

# A taken metrics port: one-line error, non-zero exit.
addr=$(jq -r '.[0].metrics' "$T/status.json")
p=$("$PORTS" 2 | tr '\n' ' ')
set -- $p
"$WP_NODE_BIN" --city FRA --bind "127.0.0.1:$1" --metrics "$addr" >"$T/dup.out" 2>"$T/dup.err" &
dpid=$!
for _ in $(seq 1 50); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$dpid" 2>/dev/null; then kill "$dpid"; fail "wp-node started on a taken metrics port"; fi
wait "$dpid"; rc=$?
[ "$rc" -ne 0 ] && grep -q -- "--metrics" "$T/dup.err" || fail "taken port: exit $rc, $(cat "$T/dup.err")"
ok "taken metrics port refused: $(tail -1 "$T/dup.err")"
# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
wp_logs_clean "$WP_CLUSTER_DIR"/logs/*.log || fail "sanitizer report in a daemon log"
echo PASS
