#!/usr/bin/env bash
# A real model in a cluster, measured (issue 15): two wp-nodes (FRA, IAD)
# on the cpu backend serve a generated llama2.c checkpoint as
# distilbert-sst2 (`cluster up --gpu-backend cpu --placement 0
# --model-file`), and `wpctl traffic` sends a modest open-loop rate (well
# below what two nodes sustain on 2 shared cores) for 10 s, streaming
# 16-token answers. From its results file:
#   1. errors <= 0.5% of the requests (deadlines come from the service
#      times the ingresses measured, not the catalog's 3.6 ms profile);
#   2. TTFT is measured at the client: for every OK row ttft < total, and
#      the median TTFT is neither the median total nor within 10% of the
#      catalog profile's TTFT (3.64 ms);
#   3. the streamed parts arrived in order: none lost, none after a final.
# The long acceptance run (60 s at half the measured capacity) is not here
# (see the branch report). usage: stream_cpu_cluster.sh WPCTL
set -u
if [ -n "${WP_SANITIZER_BUILD:-}" ]; then
    echo "SKIP: sanitizer build: the cpu backend runs ~30x slower, the load here is sized for an optimised build"
    exit 77
fi
WPCTL=${1:?usage: stream_cpu_cluster.sh WPCTL}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/wp-stream-cpu.XXXXXX")
cleanup() {
    "$WPCTL" cluster down --dir "$DIR/c" >/dev/null 2>&1
    if [ -z "${WP_KEEP_DIR:-}" ]; then rm -rf "$DIR"; else echo "kept $DIR" >&2; fi
}
trap cleanup EXIT INT TERM
fail() {
    echo "FAIL: $*" >&2
    for f in "$DIR"/c/logs/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 8 "$f" >&2; }; done
    exit 1
}
# vocab 32000: wpctl traffic's prompt tokens go up to 31999.
"$WPCTL" model gen --dim 96 --layers 4 --heads 4 --vocab 32000 --seq-len 256 --seed 1 \
    -o "$DIR/m.bin" >/dev/null || fail "model gen"
"$WPCTL" cluster up --dir "$DIR/c" --cities FRA,IAD --placement 0 --gpu-backend cpu \
    --model-file "distilbert-sst2=$DIR/m.bin" >/dev/null || fail "cluster up"
"$WPCTL" traffic --dir "$DIR/c" --rate 3 --duration 10 --models distilbert-sst2 \
    --out-tokens 16 --timeout-ms 10000 --out "$DIR/r.csv" --json >"$DIR/t.json" \
    || fail "traffic exited $?"
awk -F, 'NR > 1 {
        n++; if ($7 != "ok") { e++; next }
        ok++; if ($10 + 0 >= $11 + 0) bad++
        t[ok] = $10 + 0; T[ok] = $11 + 0
    }
    END {
        if (n < 20) { print "only " n " requests"; exit 1 }
        if (e * 200 > n) { print e " errors of " n " (> 0.5%)"; exit 1 }
        if (bad) { print bad " OK rows with ttft >= total"; exit 1 }
        # medians (insertion sort: a few dozen rows)
        for (i = 2; i <= ok; i++) for (j = i; j > 1 && t[j-1] > t[j]; j--) { x = t[j]; t[j] = t[j-1]; t[j-1] = x }
        for (i = 2; i <= ok; i++) for (j = i; j > 1 && T[j-1] > T[j]; j--) { x = T[j]; T[j] = T[j-1]; T[j-1] = x }
        m = t[int((ok + 1) / 2)]; M = T[int((ok + 1) / 2)]
        printf "requests %d, errors %d, median ttft %.1f ms, median total %.1f ms\n", n, e, m / 1000, M / 1000
        if (m >= M) { print "median ttft is not below the median total"; exit 1 }
        if (m > 3640 * 0.9 && m < 3640 * 1.1) { print "median ttft equals the profile value"; exit 1 }
    }' "$DIR/r.csv" || fail "results"
grep -q '"stream_parts_lost":0' "$DIR/t.json" || fail "parts lost: $(cat "$DIR/t.json" | head -c 400)"
grep -q '"stream_parts_after_final":0' "$DIR/t.json" || fail "parts after the final"
grep -Eq '"stream_parts":[1-9]' "$DIR/t.json" || fail "no streamed parts"
echo "PASS"
