#!/usr/bin/env bash
# html_browser: the `--html` reports opened in a real browser (headless
# Chromium). Writes three pages: `wpctl sim --scenario edge --compare
# regional`, `wpctl report FIXTURE --vs-sim edge` and a run with an outage
# (`sim --fault`: its timeline); checks that no page refers to anything on
# the network; loads each in Chromium and checks the DOM after its scripts
# ran (check_dom.py: a mark per city, a curve per region, no script error;
# the live page's city count is also taken from the results file itself);
# checks that a script error would be caught; keeps screenshots in OUTDIR
# (build/html/).
#
#   html_browser.sh WPCTL FIXTURE_CSV OUTDIR
# Exit 77 (skipped) with the reason when Chromium is absent or cannot start.
set -u
WPCTL=$1 FIXTURE=$2 OUTDIR=$3
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
mkdir -p "$OUTDIR"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "html_browser: FAIL: $*" >&2; exit 1; }

CHROME=""
for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then CHROME=$(command -v "$c"); break; fi
done
if [ -z "$CHROME" ]; then
    echo "html_browser: SKIP: no Chromium on PATH (scripts/deps.sh installs Debian's chromium)"
    exit 77
fi
# --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
chrome() {
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$TMP/profile" --virtual-time-budget=5000 "$@" 2>"$TMP/chrome.err"
}

"$WPCTL" sim --scenario edge --compare regional --requests 20000 --seed 7 \
    --html "$OUTDIR/sim.html" >/dev/null || fail "wpctl sim --html failed"
"$WPCTL" report "$FIXTURE" --vs-sim edge --html "$OUTDIR/live.html" >/dev/null ||
    fail "wpctl report --html failed"
"$WPCTL" sim --scenario edge --fault "outage europe 10-20" --duration 30 --timeline 5 \
    --html "$OUTDIR/fault.html" >/dev/null || fail "wpctl sim --fault --html failed"

for page in sim live fault; do
    f="$OUTDIR/$page.html"
    # Self-contained: no URL with a scheme or // in src/href, no CSS url().
    if grep -Eqi '(src|href)="(https?:|//)|url\(' "$f"; then
        fail "$page.html refers to something outside the file"
    fi
done

# Can Chromium start at all? (A sandbox, a display or a missing library
# stops it in some containers: skip, saying why.)
chrome --dump-dom "file://$OUTDIR/live.html" >"$TMP/live.dom"
if [ ! -s "$TMP/live.dom" ]; then
    echo "html_browser: SKIP: Chromium cannot start: $(grep -v dbus "$TMP/chrome.err" | tail -n 2 | tr '\n' ' ')"
    exit 77
fi

# The live page: one mark per distinct (user, region) of the results file.
cities=$(awk -F, 'NR > 1 { print $2 "," $3 }' "$FIXTURE" | sort -u | wc -l)
"$PY" "$HERE/check_dom.py" "$TMP/live.dom" --cities "$cities" ||
    fail "live.html: rendered DOM checks"

# The simulated pair: 20000 requests reach every region, so 7 curves each.
chrome --dump-dom "file://$OUTDIR/sim.html" >"$TMP/sim.dom"
"$PY" "$HERE/check_dom.py" "$TMP/sim.dom" --curves 7 || fail "sim.html: rendered DOM checks"
grep -q 'Natural Earth' "$TMP/sim.dom" || fail "sim.html: no map attribution"

# A run with a fault: the timeline, its outage band and a line per region.
chrome --dump-dom "file://$OUTDIR/fault.html" >"$TMP/fault.dom"
"$PY" "$HERE/check_dom.py" "$TMP/fault.dom" || fail "fault.html: rendered DOM checks"
grep -q 'class="chart timeline"[^>]*data-faults="1"' "$TMP/fault.dom" || fail "fault.html: no timeline"
[ "$(grep -o '<rect class="fault"' "$TMP/fault.dom" | wc -l)" = 1 ] || fail "fault.html: outage band"
[ "$(grep -o '<polyline class="tl"' "$TMP/fault.dom" | wc -l)" = 7 ] ||
    fail "fault.html: expected 7 timeline lines"

# A script error is caught: the same page with a failing script in it.
sed 's|<footer|<script>wpNoSuchFunction();</script><footer|' "$OUTDIR/live.html" >"$TMP/broken.html"
chrome --dump-dom "file://$TMP/broken.html" >"$TMP/broken.dom"
grep -q 'data-wp-status="error' "$TMP/broken.dom" ||
    fail "a script error in the page was not recorded (data-wp-status)"

chrome --window-size=1400,1900 --screenshot="$OUTDIR/sim.png" "file://$OUTDIR/sim.html" >/dev/null
chrome --window-size=1000,1400 --screenshot="$OUTDIR/live.png" "file://$OUTDIR/live.html" >/dev/null
for png in sim live; do
    [ -s "$OUTDIR/$png.png" ] || fail "no screenshot $OUTDIR/$png.png"
done
echo "html_browser: ok; screenshots: $OUTDIR/sim.png $OUTDIR/live.png"
