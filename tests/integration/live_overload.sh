#!/usr/bin/env bash
# Overload with admission control (issue 12), real processes: a cluster
# (--cities LIST, or a --preset) with every model of the default mix
# pinned and warm everywhere, then open-loop traffic of the default mix
# (llama 3.1 s of service, whisper, bge 6.6 ms, distilbert) far above what
# the GPUs can serve. Checks, from the results file and the nodes:
#   1. every request answered (sent = ok + errors), none with TIMEOUT:
#      what cannot be served in time is refused (OVERLOADED);
#   2. refusals at the ingress (admission: "no node can answer ... within
#      its deadline") are fast: p95 of their response time at the client
#      <= ERR_P95_MS (the users' legs included: with --from a city of the
#      cluster they are ~0). Work a target drops because it could not start
#      in time (stale load, shorter classes overtaking it, a slower machine
#      than modelled) is answered OVERLOADED at its start-by, before the
#      deadline but not fast: at most 10% of the errors (the target refuses
#      at submit what its replay, overtakers included, says cannot start in
#      time; before that, 15-21% of the errors were such drops), and the
#      p95 of all errors is printed;
#   3. the short models (bge, distilbert) fail <= 2%: the long one takes
#      the refusals;
#   4. no queue is left 2 s after the traffic stops (wpctl nodes --json,
#      queue_depth as gossiped).
# usage: live_overload.sh WPCTL WP_NODE WP_PLACEMENT CLUSTER_ARGS DURATION RATE FROM ERR_P95_MS
#   CLUSTER_ARGS e.g. "--cities FRA,LHR" or "--preset tiny"; FROM a city or
#   "population" (users drawn by population).
set -u
WPCTL=${1:?usage: see the header}
export WP_NODE_BIN=${2:?} WP_PLACEMENT_BIN=${3:?}
CLUSTER_ARGS=${4:?}
DURATION=${5:?}
RATE=${6:?}
FROM=${7:?}
ERR_P95_MS=${8:?}
MODELS=llama-3.1-8b-instruct,bge-base-en-v1.5,distilbert-sst2,whisper-large-v3-turbo
command -v jq > /dev/null || { echo "SKIP: jq not installed"; exit 77; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wp-overload.XXXXXX")
DIR="$WORK/cluster"
cleanup() {
    [ -f "$DIR/cluster.txt" ] && "$WPCTL" cluster down --dir "$DIR" > /dev/null 2>&1
    if [ -z "${WP_KEEP_DIR:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# shellcheck disable=SC2086
"$WPCTL" cluster up $CLUSTER_ARGS --placement 1 --gpus 1 --gpu-mem-gb 24 --dir "$DIR" \
    > "$WORK/up.log" 2>&1 || fail "cluster up: $(tail -n 3 "$WORK/up.log")"
cities=$("$WPCTL" nodes --dir "$DIR" --json | jq -r '[.[].city] | unique | join(",")')
nnodes=$("$WPCTL" nodes --dir "$DIR" --json | jq length)
for m in ${MODELS//,/ }; do
    "$WPCTL" pin "$m" "$cities" --dir "$DIR" > /dev/null || fail "pin $m refused"
done
for _ in $(seq 1 80); do
    warm=$("$WPCTL" nodes --dir "$DIR" --json 2>/dev/null | jq '[.[].warm_models | length] | min')
    [ "${warm:-0}" -ge 4 ] && break
    sleep 0.5
done
[ "${warm:-0}" -ge 4 ] || fail "not every model is warm on every node"
sleep 1

users=(--users population)
[ "$FROM" != population ] && users=(--from "$FROM")
"$WPCTL" traffic --dir "$DIR" "${users[@]}" --models $MODELS --rate "$RATE" \
    --duration "$DURATION" --seed 11 --out "$WORK/r.csv" --quiet > /dev/null \
    2> "$WORK/traffic.err" || fail "wpctl traffic: $(tail -n 3 "$WORK/traffic.err")"
sleep 2
"$WPCTL" nodes --dir "$DIR" --json > "$WORK/nodes.json" || fail "wpctl nodes failed"
queued=$(jq '[.[].queue_depth] | add' "$WORK/nodes.json")
"$WPCTL" report "$WORK/r.csv" --json > "$WORK/report.json" || fail "wpctl report failed"

# id,user,region,ingress,node,model,status,reason,send_us,ttft_us,total_us,...
# (reason may hold commas: read status from the front and times from the end)
awk -F, 'NR > 1 { st = $7; tot = $(NF - 3); m = $6; n[m]++; if (st != "ok") { e[m]++;
         if ($0 !~ /dropped,? +its deadline/) print tot / 1000.0 > "/dev/stderr" } }
     END { for (m in n) printf "%s %d %d\n", m, n[m], e[m] + 0 }' "$WORK/r.csv" \
    > "$WORK/by_model.txt" 2> "$WORK/err_ms.txt"
sent=$(jq .sent "$WORK/report.json")
errors=$(jq .errors "$WORK/report.json")
timeouts=$(grep -c ',TIMEOUT,' "$WORK/r.csv")
drops=$(grep -cE 'dropped,? +its deadline' "$WORK/r.csv")
drop_max=$(awk -F, '/dropped,? +its deadline/ { t = $(NF - 3) / 1000.0; if (t > m) m = t }
           END { print m + 0 }' "$WORK/r.csv")
err_p95=$(sort -n "$WORK/err_ms.txt" | awk '{ v[NR] = $1 } END { if (NR == 0) print 0;
          else { i = int(0.95 * NR); if (i < 1) i = 1; print v[i] } }')
all_err_p95=$(awk -F, 'NR > 1 && $7 != "ok" { print $(NF - 3) / 1000.0 }' "$WORK/r.csv" | sort -n |
          awk '{ v[NR] = $1 } END { if (NR == 0) print 0;
          else { i = int(0.95 * NR); if (i < 1) i = 1; print v[i] } }')
echo "overload: $nnodes nodes, $RATE req/s for $DURATION s: sent $sent errors $errors" \
    "timeouts $timeouts; refusals p95 $err_p95 ms; dropped at a target $drops (slowest" \
    "$drop_max ms); all errors p95 $all_err_p95 ms; queued 2 s after: $queued" \
    "(load $(cut -d' ' -f1 /proc/loadavg))"
while read -r m n e; do echo "  $m: $n sent, $e failed"; done < "$WORK/by_model.txt"
[ "$(jq .counts_add_up "$WORK/report.json")" = true ] || fail "sent != ok + errors"
[ "$timeouts" = 0 ] || fail "$timeouts TIMEOUT errors"
awk -v p="$err_p95" -v b="$ERR_P95_MS" 'BEGIN { exit !(p <= b) }' ||
    fail "refusals p95 $err_p95 ms > $ERR_P95_MS ms"
awk -v m="$drop_max" 'BEGIN { exit !(m <= 5000) }' || fail "a drop answered after the deadline"
[ $((drops * 100)) -le $((errors * 10)) ] || fail "$drops of $errors errors were drops at a target (> 10%)"
while read -r m n e; do
    case $m in
    bge-*|distilbert-*)
        [ $((e * 100)) -le $((n * 2)) ] || fail "$m failed $e of $n (> 2%)" ;;
    esac
done < "$WORK/by_model.txt"
[ "$queued" = 0 ] || fail "$queued requests still queued 2 s after the traffic stopped"
echo "PASS"
