#!/usr/bin/env bash
# Ingress failover (issue 13, item 8): real processes from `wpctl cluster
# up` (FRA, AMS, LHR; probe 100 ms, timing-model GPUs). `wpctl traffic
# --from FRA` sends to its anycast ingress fra-1; after 2 s fra-1 is killed
# (SIGKILL). wpctl traffic checks the cluster's gossip view about every
# second and re-picks the nearest live ingress, as anycast would once the
# dead PoP's route is withdrawn. Checks, from the results file:
#   1. no request sent after the detection time (suspicion bound 6 x 4 x
#      100 ms = 2.4 s, + 1 s refresh, + 1 s margin) went to fra-1;
#   2. requests after it are answered (>= 90% ok) by another ingress;
#   3. the summary counts at least one re-pick; daemon logs are clean.
# usage: traffic_failover.sh WPCTL
set -u
WPCTL=${1:?usage: traffic_failover.sh WPCTL}
. "$(dirname "$0")/lib.sh"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/wp-failover-it.XXXXXX")
cleanup() {
    "$WPCTL" cluster down --dir "$DIR" >/dev/null 2>&1
    if [ -z "${WP_KEEP_DIR:-}" ]; then rm -rf "$DIR"; else echo "kept $DIR" >&2; fi
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*" >&2; tail -n 8 "$DIR"/logs/*.log >&2; exit 1; }
MODEL=distilbert-sst2

"$WPCTL" cluster up --dir "$DIR" --cities FRA,AMS,LHR --probe-interval-ms 100 \
    --gpu-backend model --gpu-mem-gb 24 >/dev/null || fail "cluster up"
FRA_PID=$("$WPCTL" cluster status --dir "$DIR" --json |
    grep -o '"id":"fra-1","role":"node","city":"FRA","pid":[0-9]*' | grep -o '[0-9]*$')
[ -n "$FRA_PID" ] || fail "no pid for fra-1"
# Membership formed: fra-1 sees 3 alive.
for _ in $(seq 1 50); do
    n=$("$WPCTL" nodes --dir "$DIR" --node fra-1 --json 2>/dev/null | grep -o '"status":"alive"' | wc -l)
    [ "$n" -ge 3 ] && break
    sleep 0.2
done
[ "$n" -ge 3 ] || fail "membership did not form"

"$WPCTL" traffic --dir "$DIR" --from FRA --models $MODEL --rate 50 --duration 7 \
    --timeout-ms 1500 --grace 2 --seed 7 --out "$DIR/r.csv" --json > "$DIR/summary.json" &
TPID=$!
sleep 2
kill -9 "$FRA_PID"
KILL_NS=$(date +%s%N)
wait "$TPID" || fail "wpctl traffic failed: $(cat "$DIR/summary.json")"
START_NS=$(grep -o '"start_unix_ns":[0-9]*' "$DIR/summary.json" | cut -d: -f2)
[ -n "$START_NS" ] || fail "no start_unix_ns in the summary"
T_US=$(( (KILL_NS - START_NS) / 1000 + (2400 + 1000 + 1000) * 1000 ))
after=$(awk -F, -v t=$T_US 'NR > 1 && $9 > t' "$DIR/r.csv" | wc -l)
to_dead=$(awk -F, -v t=$T_US 'NR > 1 && $9 > t && $4 == "fra-1"' "$DIR/r.csv" | wc -l)
ok_after=$(awk -F, -v t=$T_US 'NR > 1 && $9 > t && $7 == "ok"' "$DIR/r.csv" | wc -l)
repicks=$(grep -o '"ingress_repicks":[0-9]*' "$DIR/summary.json" | cut -d: -f2)
echo "after detection: $after requests, $to_dead to fra-1, $ok_after ok; re-picks ${repicks:-none}"
awk -F, -v t=$T_US 'NR > 1 && $9 > t {print $4}' "$DIR/r.csv" | sort | uniq -c
[ "$after" -gt 20 ] || fail "only $after requests after the detection time"
[ "$to_dead" = 0 ] || fail "$to_dead requests went to the dead ingress after detection"
[ $((ok_after * 10)) -ge $((after * 9)) ] || fail "only $ok_after of $after ok after detection"
[ "${repicks:-0}" -ge 1 ] || fail "no re-pick counted"
"$WPCTL" cluster down --dir "$DIR" >/dev/null 2>&1
wp_logs_clean "$DIR"/logs/*.log || fail "sanitizer report in a daemon log"
echo PASS
