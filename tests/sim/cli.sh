#!/usr/bin/env bash
# wpctl sim from the outside: help, exit codes, one-line errors, JSON shape,
# same seed -> same figures. Usage: cli.sh WPCTL FIXTURES_DIR
set -u
WPCTL=$1
FIX=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$WPCTL" sim --help >"$TMP/help" 2>&1 || fail "--help exit $?"
grep -q "SIMULATED" "$TMP/help" || fail "--help does not say simulated"

"$WPCTL" sim --requests abc >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 2 ] || fail "bad --requests: exit $rc"
grep -qx "wpctl sim: --requests: not a number: 'abc'" "$TMP/err" || fail "bad --requests message: $(cat "$TMP/err")"

printf 'preset = tiny\nrate_rps = lots\n' >"$TMP/bad.conf"
"$WPCTL" sim --scenario "$TMP/bad.conf" >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 1 ] || fail "bad scenario: exit $rc"
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "bad scenario: not one line"
grep -q "bad.conf:2: rate_rps: expected a number" "$TMP/err" || fail "bad scenario message: $(cat "$TMP/err")"

printf 'when,what\n1,2\n' >"$TMP/bad.csv"
"$WPCTL" sim --trace "$TMP/bad.csv" >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 1 ] || fail "bad trace: exit $rc"
grep -q "bad.csv:1: unknown trace format" "$TMP/err" || fail "bad trace message: $(cat "$TMP/err")"

"$WPCTL" sim --scenario nowhere.conf >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 1 ] || fail "missing scenario file: exit $rc"

printf 'preset = tiny\ngpu_cities = 0\ngpus_total = 16\nrate_rps = 60\n' >"$TMP/tiny.conf"
strip() { sed -E 's/"wall_s":[^,]*,"requests_per_s":[^,]*,//'; }
"$WPCTL" sim --scenario "$TMP/tiny.conf" --requests 20000 --seed 5 --json --csv "$TMP/a.csv" | strip >"$TMP/a.json" || fail "run a"
"$WPCTL" sim --scenario "$TMP/tiny.conf" --requests 20000 --seed 5 --json | strip >"$TMP/b.json" || fail "run b"
"$WPCTL" sim --scenario "$TMP/tiny.conf" --requests 20000 --seed 6 --json | strip >"$TMP/c.json" || fail "run c"
cmp -s "$TMP/a.json" "$TMP/b.json" || fail "same seed, different JSON"
cmp -s "$TMP/a.json" "$TMP/c.json" && fail "different seeds, same JSON"
for r in africa asia europe middle-east north-america oceania south-america; do
  grep -q "\"$r\":{\"requests\":" "$TMP/a.json" || fail "JSON lacks region $r"
done
grep -q '"all":{"requests":20000,' "$TMP/a.json" || fail "JSON all.requests"
# issue 4's fields in their order, then the per-tenant counts added after
# them, then issue 12's errors by cause and how fast they come back (null:
# none)
grep -q '"all":{"requests":20000,"p50_ms":[0-9.]*,"p95_ms":[0-9.]*,"p99_ms":[0-9.]*,"total_p95_ms":[0-9.]*,"cold_starts":0,"model_loads":0,"container_starts":0,"isolate_starts":[1-9][0-9]*,"errors":0,"overloaded":0,"expired":0,"failed":0,"no_route":0,"error_p95_ms":null}' "$TMP/a.json" \
  || fail "JSON per-region fields: $(cat "$TMP/a.json")"
"$WPCTL" sim --help | grep -q "isolate_starts = a V8 isolate start" || fail "--help does not say what isolate_starts counts"
[ "$(wc -l <"$TMP/a.csv")" -eq 9 ] || fail "CSV rows"

"$WPCTL" sim --scenario "$TMP/tiny.conf" --trace "$FIX/azure_conv_300.csv" --json >"$TMP/t.json" || fail "trace replay"
grep -q '"requests":300,' "$TMP/t.json" || fail "trace replay count"
"$WPCTL" sim --scenario "$TMP/tiny.conf" --compare "$TMP/tiny.conf" --requests 5000 >"$TMP/cmp.txt" || fail "compare"
[ "$(grep -c '^all ' "$TMP/cmp.txt")" -eq 1 ] || fail "compare table"
echo "ok"
