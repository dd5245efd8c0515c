#!/bin/sh
# Issue 12's fault scenario, end to end through wpctl: Europe's GPU nodes
# go down from 60 to 120 s. Asserts (jq) on the --json timeline:
#   - Europe's p95 during the outage (once it is detected) is above every
#     interval's p95 before it, and back within 10% of before after it;
#   - errors only in intervals that overlap [59 s, 60 s + detection time]
#     (the gossip core's measured detection time, reported as detect_s;
#     intervals go by the user's send time, and a request sent up to its
#     trip time, well under 1 s, before the outage meets it at the node);
#   - the same seed gives the same JSON (wall time aside).
set -eu
WPCTL=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }

"$WPCTL" sim --scenario edge --duration 240 --fault "outage europe 60-120" --json > "$TMP/a.json" \
  || fail "wpctl sim with a fault"
J="$TMP/a.json"
det=$(jq '.detect_s' "$J")
jq -e '.detect_s > 1 and .detect_s < 60' "$J" >/dev/null || fail "detect_s $det"
jq -e '.timeline_interval_s == 10 and (.timeline | length) >= 24' "$J" >/dev/null \
  || fail "timeline shape"
before=$(jq '[.timeline[] | select(.t_s + 10 <= 60) | .regions.europe.p95_ms] | max' "$J")
jq -e --argjson b "$before" --argjson d "$det" \
  '[.timeline[] | select(.t_s >= 60 + $d and .t_s + 10 <= 120) | .regions.europe.p95_ms]
   | length > 0 and min > 1.5 * $b' "$J" >/dev/null \
  || fail "Europe p95 did not rise during the outage (before max $before)"
jq -e --argjson b "$before" \
  '[.timeline[] | select(.t_s >= 130) | .regions.europe.p95_ms] | length > 0 and max <= 1.1 * $b' \
  "$J" >/dev/null || fail "Europe p95 did not recover after the outage"
jq -e --argjson d "$det" \
  '[.timeline[] | select(([.regions[].errors] | add) > 0) | select(.t_s + 10 <= 59 or .t_s >= 60 + $d)]
   | length == 0' "$J" >/dev/null || fail "errors outside [59, 60 + detection]"
jq -e '.errors > 0 and .errors == ([.timeline[].regions[].errors] | add)' "$J" >/dev/null \
  || fail "errors in the timeline do not add up"
"$WPCTL" sim --scenario edge --duration 240 --fault "outage europe 60-120" --json > "$TMP/b.json"
[ "$(jq -c 'del(.wall_s, .requests_per_s)' "$TMP/a.json")" = "$(jq -c 'del(.wall_s, .requests_per_s)' "$TMP/b.json")" ] \
  || fail "same seed, different results"
# The table shows before / during / after.
"$WPCTL" sim --scenario edge --duration 150 --fault "outage europe 60-120" > "$TMP/t.txt"
grep -q 'before.*during.*after' "$TMP/t.txt" || fail "table lacks before/during/after"
# Bad faults: one-line errors, exit 2 (usage) or 1 (data).
"$WPCTL" sim --fault "outage europe 9-3" 2> "$TMP/e1" && fail "accepted FROM > TO"
[ "$(wc -l < "$TMP/e1")" -le 2 ] || fail "multi-line error"
"$WPCTL" sim --duration 10 --fault "outage atlantis 1-2" 2> "$TMP/e2" && fail "accepted an unknown place"
grep -q "atlantis" "$TMP/e2" || fail "error does not name the place"
echo "ok: fault timeline (detect ${det}s, Europe p95 before max ${before} ms)"
