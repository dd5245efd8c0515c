#!/usr/bin/env bash
# wpctl traffic's accounting against a fake ingress (a test stub, see
# fake_ingress.c): open loop at 400 requests/s for 2 s; the stub drops
# every 25th request, answers every 20th twice and every 30th with an
# error. Checks: one row per request sent, sent = ok + errors, every
# dropped request is a TIMEOUT row, every duplicate is counted as an
# unexpected response (not a second row), the stub's errors are error rows,
# and `wpctl report` on the file agrees.
# usage: traffic_client.sh WPCTL FAKE_INGRESS
set -u
WPCTL=${1:?usage: traffic_client.sh WPCTL FAKE_INGRESS}
FAKE=${2:?}
. "$(dirname "$0")/lib.sh"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/wp-traffic-it.XXXXXX")
FPID=""
cleanup() {
    [ -n "$FPID" ] && kill "$FPID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

# A port from the one helper; a new one if another process took it first.
for _ in 1 2 3; do
    PORT=$(wp_ports 1) || fail "no free port"
    "$FAKE" --bind "tcp://127.0.0.1:$PORT" --drop-every 25 --dup-every 20 --error-every 30 \
        --stats "$DIR/stats" 2> "$DIR/fake.log" &
    FPID=$!
    sleep 0.3
    kill -0 "$FPID" 2>/dev/null && break
    wait "$FPID" 2>/dev/null; FPID=""
    wp_addr_in_use "$DIR/fake.log" || fail "fake ingress: $(cat "$DIR/fake.log")"
done
[ -n "$FPID" ] || fail "no port could be bound in 3 tries"
"$WPCTL" traffic --endpoint "tcp://127.0.0.1:$PORT" --rate 400 --duration 2 --grace 1 \
    --timeout-ms 500 --seed 3 --out "$DIR/r.csv" --json > "$DIR/summary.json" ||
    fail "wpctl traffic failed: $(cat "$DIR/summary.json")"
kill "$FPID"; wait "$FPID"; FPID=""
read -r _ received _ dropped _ duplicated _ errors < "$DIR/stats"
rows=$(($(wc -l < "$DIR/r.csv") - 1))
timeouts=$(grep -c ',TIMEOUT,' "$DIR/r.csv")
errrows=$(grep -c ',UNKNOWN_MODEL,' "$DIR/r.csv")
okrows=$(grep -c ',ok,' "$DIR/r.csv")
j() { grep -o "\"$1\":[0-9]*" "$DIR/summary.json" | head -1 | cut -d: -f2; }
echo "stub: received $received dropped $dropped duplicated $duplicated errors $errors"
echo "client: rows $rows ok $okrows timeouts $timeouts error rows $errrows" \
    "unexpected $(j unexpected_responses) sent $(j sent)"
[ "$rows" -gt 600 ] || fail "only $rows rows for 2 s at 400/s"
[ "$rows" = "$received" ] || fail "rows $rows != requests the stub received $received"
[ "$(j sent)" = "$rows" ] || fail "summary sent $(j sent) != rows $rows"
[ "$timeouts" = "$dropped" ] || fail "timeouts $timeouts != dropped $dropped"
[ "$errrows" = "$errors" ] || fail "error rows $errrows != stub errors $errors"
[ $((okrows + timeouts + errrows)) = "$rows" ] || fail "ok + errors != rows"
[ "$(j unexpected_responses)" = "$duplicated" ] || fail "unexpected != duplicated $duplicated"
dupids=$(cut -d, -f1 "$DIR/r.csv" | sort | uniq -d | wc -l)
[ "$dupids" = 0 ] || fail "$dupids request ids appear twice"
"$WPCTL" report "$DIR/r.csv" --json > "$DIR/report.json" || fail "wpctl report failed"
grep -q "\"sent\":$rows,\"ok\":$okrows,\"errors\":$((timeouts + errrows)),\"counts_add_up\":true" \
    "$DIR/report.json" || fail "report disagrees: $(head -c 300 "$DIR/report.json")"
wp_logs_clean "$DIR/fake.log" || fail "sanitizer report in the stub's log"
echo "PASS"
