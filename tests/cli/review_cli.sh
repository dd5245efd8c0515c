#!/bin/sh
# tests/cli/review_cli.sh WPCTL — the CLI contract for the commands of
# topo, sim, model, infer, models, catalog, pin, unpin and placement:
# every --help exits 0 and prints to stdout only; an unknown option or a
# missing argument prints exactly one line to stderr ("wpctl CMD: reason")
# and exits 2; --json output of the offline commands
# parses as JSON. Needs no cluster (the placement commands fail on their
# options before connecting).
set -u
W=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0

help_ok() {
    "$W" "$@" --help >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ne 0 ] || [ ! -s "$T/out" ] || [ -s "$T/err" ]; then
        echo "FAIL help: wpctl $* --help: exit $rc, stdout $(wc -c <"$T/out") bytes, stderr:"
        cat "$T/err"; fails=$((fails + 1)); return
    fi
    echo "ok   wpctl $* --help"
}

usage_err() {
    "$W" "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ne 2 ] || [ "$(wc -l <"$T/err")" -ne 1 ] || [ -s "$T/out" ] ||
        ! grep -q "^wpctl " "$T/err"; then
        echo "FAIL usage: wpctl $*: exit $rc (want 2), stderr (want one line), stdout empty:"
        cat "$T/err"; fails=$((fails + 1)); return
    fi
    echo "ok   wpctl $* -> $(head -n 1 "$T/err")"
}

json_ok() {
    "$W" "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ne 0 ] || ! python3 -m json.tool "$T/out" >/dev/null 2>&1; then
        # Some commands print JSON lines: every line must parse.
        bad=0
        while IFS= read -r line; do
            printf '%s' "$line" | python3 -m json.tool >/dev/null 2>&1 || bad=1
        done <"$T/out"
        if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ] || [ ! -s "$T/out" ]; then
            echo "FAIL json: wpctl $*: exit $rc, output:"; head -c 400 "$T/out"; cat "$T/err"
            fails=$((fails + 1)); return
        fi
    fi
    echo "ok   wpctl $* (valid JSON)"
}

for c in "topo" "topo list" "topo rtt" "topo fit" "topo coverage" "sim" "model" "model gen" \
    "infer" "models" "catalog" "catalog add" "pin" "unpin" "placement" "placement status"; do
    # shellcheck disable=SC2086
    help_ok $c
done

usage_err topo --bogus
usage_err topo rtt FRA
usage_err topo fit
usage_err sim --bogus
usage_err model
usage_err model frob
usage_err model gen
usage_err infer
usage_err models --bogus
usage_err models --endpoint
usage_err catalog
usage_err catalog add m --bogus
usage_err catalog list --bogus
usage_err pin
usage_err pin --bogus m FRA
usage_err pin m FRA --replicas
usage_err unpin
usage_err unpin --bogus m
usage_err placement --bogus
usage_err placement frob
usage_err placement status --bogus

json_ok topo list --preset tiny --json
json_ok topo coverage --preset tiny --within-ms 50 --json
json_ok topo rtt FRA SIN --json
json_ok sim --scenario edge --requests 2000 --json

if [ "$fails" -ne 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
echo "all passed"
