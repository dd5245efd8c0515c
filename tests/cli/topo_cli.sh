#!/bin/sh
# tests/cli/topo_cli.sh WPCTL FIXTURES_DIR — `wpctl topo` exit codes and
# one-line errors: unknown code, malformed CSV, missing column, latitude 200,
# usage errors; and that the happy paths print what they should.
set -u
W=$1
FIX=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0

# expect NAME WANT_RC GREP_PATTERN CMD... : exit code, stderr's first line
# matches the pattern, and for exit 1 stderr is exactly one line.
expect() {
    name=$1; want=$2; pat=$3; shift 3
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL $name: exit $rc, want $want"; cat "$T/err"; fails=$((fails + 1)); return
    fi
    if [ -n "$pat" ] && ! head -n 1 "$T/err" | grep -q -- "$pat"; then
        echo "FAIL $name: stderr does not match '$pat':"; cat "$T/err"; fails=$((fails + 1)); return
    fi
    if [ "$want" -eq 1 ] && [ "$(wc -l <"$T/err")" -ne 1 ]; then
        echo "FAIL $name: stderr is not one line:"; cat "$T/err"; fails=$((fails + 1)); return
    fi
    echo "ok   $name"
}

# Data errors: exit 1, one line naming the problem.
expect unknown-code 1 "unknown city code 'XXX'" "$W" topo rtt FRA XXX
expect unknown-preset 1 "unknown preset 'mars'" "$W" topo list --preset mars
printf 'code,name,country,lat,lon\nFRA,"Frankfurt,DE,50.1,8.7\n' >"$T/malformed.csv"
expect malformed-csv 1 "malformed.csv:2: .*quote" "$W" topo list --file "$T/malformed.csv"
printf 'code,name,country,lat\nFRA,Frankfurt,DE,50.1\n' >"$T/nolon.csv"
expect missing-column 1 "nolon.csv:1: missing column 'lon'" "$W" topo list --file "$T/nolon.csv"
printf 'code,name,country,lat,lon\nFRA,Frankfurt,DE,200,8.7\n' >"$T/lat200.csv"
expect lat-200 1 "lat200.csv:2: column lat: expected a latitude in -90..90, got '200'" \
    "$W" topo list --file "$T/lat200.csv"
printf 'id,src_lat,src_lon,dst_lat,dst_lon\na,50.1,8.7,1.3,103.8\nb,200,8.7,1.3,103.8\n' >"$T/pairs_bad.csv"
expect pairs-lat-200 1 "pairs_bad.csv:3: column src_lat: expected a latitude" \
    "$W" topo rtt --pairs "$T/pairs_bad.csv"
[ -s "$T/out" ] && { echo "FAIL pairs-lat-200: partial output on stdout"; fails=$((fails + 1)); }
printf 'id,src_lat,src_lon,dst_lat\na,50.1,8.7,1.3\n' >"$T/pairs_nocol.csv"
expect pairs-missing-column 1 "pairs_nocol.csv:1: missing column 'dst_lon'" \
    "$W" topo rtt --pairs "$T/pairs_nocol.csv"
printf 'src_lat,src_lon,dst_lat,dst_lon\n50,8,1,103\n' >"$T/meas_nortt.csv"
expect fit-missing-rtt 1 "missing column 'rtt_ms'" "$W" topo fit --measured "$T/meas_nortt.csv"
printf 'src_lat,src_lon,dst_lat,dst_lon,rtt_ms\n50,8,1,103,160\n50,8,1,103,abc\n' >"$T/meas_bad.csv"
expect fit-bad-rtt 1 "meas_bad.csv:3: column rtt_ms" "$W" topo fit --measured "$T/meas_bad.csv"
expect missing-file 1 "no/such.csv" "$W" topo list --file "$T/no/such.csv"

# Usage errors: exit 2.
expect no-subcommand 2 "" "$W" topo
expect bad-subcommand 2 "unknown command 'frob'" "$W" topo frob
expect rtt-one-code 2 "expected two city codes" "$W" topo rtt FRA
expect bad-option 2 "unknown option '--nope'" "$W" topo list --nope
expect preset-and-file 2 "not both" "$W" topo list --preset edge --file x.csv
expect fit-no-file 2 "--measured FILE is required" "$W" topo fit
expect within-bad 2 "--within-ms" "$W" topo coverage --within-ms abc
expect option-elsewhere 2 "unknown option '--within-ms'" "$W" topo list --within-ms 5

# --help everywhere: exit 0 with usage on stdout.
for sub in "" list rtt fit coverage; do
    # shellcheck disable=SC2086
    expect "help-$sub" 0 "" "$W" topo $sub --help
    grep -q "usage: wpctl topo" "$T/out" || { echo "FAIL help-$sub: no usage"; fails=$((fails + 1)); }
done

# Happy paths (checked with grep/awk only: no python on a bare machine).
check() { # NAME CONDITION-EXIT-STATUS
    if [ "$2" -ne 0 ]; then echo "FAIL $1"; cat "$T/out"; fails=$((fails + 1)); fi
}
# jnum KEY: the number after the first "KEY": in $T/out (top-level keys
# come before nested objects that repeat them, e.g. with_access).
jnum() { grep -o "\"$1\":[-0-9.e+]*" "$T/out" | head -n 1 | cut -d: -f2; }

expect rtt-fra-sin 0 "" "$W" topo rtt FRA SIN --json --great-circle
awk -v v="$(jnum rtt_ms)" 'BEGIN { exit !(v >= 150 && v <= 170) }'
check "rtt-fra-sin (v1) in 150..170 ms" $?
# v2 follows the cables (via Suez): longer than the great circle at the
# speed of light in fibre (100.6 ms), and not absurd.
expect rtt-fra-sin-v2 0 "" "$W" topo rtt FRA SIN --json
awk -v v="$(jnum rtt_ms)" 'BEGIN { exit !(v > 100.6 && v <= 200) }'
check "rtt-fra-sin (v2) in 100.6..200 ms" $?

expect list-edge 0 "" "$W" topo list --preset edge --json
n=$(grep -o '"code":' "$T/out" | wc -l)
[ "$n" -ge 300 ]
check "list-edge has 300+ cities ($n)" $?
for r in africa asia europe middle-east north-america oceania south-america; do
    grep -q "\"region\":\"$r\"" "$T/out"
    check "list-edge covers $r" $?
done
grep -q '^\[{"code":"[A-Z]*","name":"[^"]*","country":"[A-Z][A-Z]","region":"[a-z-]*","lat":[-0-9.]*,"lon":[-0-9.]*,"pop_weight":[0-9.e+]*}' "$T/out"
check "list-edge object keys" $?

printf 'id,src_lat,src_lon,dst_lat,dst_lon\n"a,b",50.1,8.7,1.3,103.8\n' >"$T/pairs.csv"
expect rtt-pairs 0 "" "$W" topo rtt --pairs "$T/pairs.csv"
head -n 1 "$T/out" | grep -qx 'id,src_lat,src_lon,dst_lat,dst_lon,rtt_ms'
check "rtt-pairs header" $?
tail -n 1 "$T/out" | grep -q '^"a,b",50.1,8.7,1.3,103.8,1[5-9][0-9]\.[0-9]*$'
check "rtt-pairs row passes through with rtt_ms" $?
expect rtt-pairs-v1 0 "" "$W" topo rtt --pairs "$T/pairs.csv" --great-circle
tail -n 1 "$T/out" | grep -q '^"a,b",50.1,8.7,1.3,103.8,1[56][0-9]\.[0-9]*$'
check "rtt-pairs --great-circle is v1" $?

expect fit-azure 0 "" "$W" topo fit --measured "$FIX/azure_rtt_p50.csv" --json
awk -v p="$(jnum pairs)" -v m="$(jnum median_abs_pct_err)" -v p90="$(jnum p90_abs_pct_err)" \
    -v i="$(jnum inflation)" -v o="$(jnum overhead_ms)" \
    'BEGIN { exit !(p > 2800 && m > 0 && m <= 15 && p90 >= m && i > 1 && i < 2.1 && o != "") }'
check "fit-azure: median <= 15%" $?

expect coverage 0 "" "$W" topo coverage --preset edge --within-ms 50 --json
awk -v w="$(jnum within_ms)" -v f="$(jnum population_fraction)" \
    'BEGIN { exit !(w == 50 && f >= 0.9 && f <= 1) }'
check "coverage within 50 ms" $?
# with_access: the access tail takes people out, never adds them.
awk -v f="$(jnum population_fraction)" \
    -v a="$(sed -n 's/.*"with_access":{"population_fraction":\([-0-9.e+]*\).*/\1/p' "$T/out")" \
    'BEGIN { exit !(a != "" && a > 0.3 && a < f) }'
check "coverage with_access below network-only" $?
for r in africa asia europe middle-east north-america oceania south-america; do
    grep -q "\"$r\":[0-9.]*" "$T/out"
    check "coverage has $r" $?
done

# The shipped files' formats as they are: Azure's long matrix (rtt_p50_ms)
# and the RIPE Atlas country table (cty1,cty2,...; unknown codes and rows
# under 100 pings are dropped, not errors). Rows here follow the model
# (FRA-area points), so the calibration's output loads everywhere.
printf 'src_region_name,src_lat,src_lon,dst_region_name,dst_lat,dst_lon,great_circle_km,rtt_p50_ms\nA,50.1,8.7,B,1.3,103.8,10281,160\nA,50.1,8.7,C,40.7,-74.0,6200,90\nB,1.3,103.8,C,40.7,-74.0,15300,230\n' >"$T/azure_long.csv"
expect fit-azure-long 0 "" "$W" topo fit --measured "$T/azure_long.csv" --json
[ "$(jnum pairs)" = 3 ]
check "fit accepts rtt_p50_ms" $?
{
    echo "cty1,cty2,rtt_cnt,rtt_avg,rtt_std,rtt_min,rtt_max"
    n=0
    for a in DE FR GB US BR JP SG ZA AU IN; do
        for b in DE FR GB US BR JP SG ZA AU IN; do
            [ "$a" \< "$b" ] || continue
            n=$((n + 1))
            echo "$a,$b,500,$((40 + (n * 37) % 260)).5,1,1,1"
        done
    done
    echo "DE,EU,500,30,1,1,1"
    echo "DE,None,500,30,1,1,1"
    echo "DE,FR,5,30,1,1,1"
} >"$T/ripe.csv"
expect fit-ripe 0 "" "$W" topo fit --measured "$T/ripe.csv" --out "$T/p.params" --json
awk -v u="$(grep -o '"dropped_unknown_country":[0-9]*' "$T/out" | cut -d: -f2)" \
    -v c="$(grep -o '"dropped_count_below_100":[0-9]*' "$T/out" | cut -d: -f2)" \
    'BEGIN { exit !(u == 2 && c == 1) }'
check "fit-ripe drops unknown codes and thin rows" $?
grep -q '^inflation ' "$T/p.params" && grep -q '^paths graph' "$T/p.params"
check "fit-ripe writes a parameter file" $?
expect rtt-with-params 0 "" "$W" topo rtt FRA SIN --rtt-params "$T/p.params" --json
grep -q "\"rtt_model\":\"graph paths.*p.params" "$T/out"
check "rtt --rtt-params records the file" $?
printf 'inflation 1.2\nwarp 9\n' >"$T/bad.params"
expect bad-params 1 "bad.params:2: unknown key 'warp'" "$W" topo rtt FRA SIN --rtt-params "$T/bad.params"

if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
fi
echo "all topo CLI checks passed"
