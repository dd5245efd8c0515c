#!/usr/bin/env bash
# html-check.sh PAGE.html... — opens each `wpctl … --html` page in headless
# Chromium, checks the DOM after its scripts ran (tests/html/check_dom.py:
# a map mark per city, a CDF curve per region with figures, the tables add
# up, no script error) and writes a screenshot PAGE.png beside it. Prints
# one line per page. Exit 1 on a failed check, 77 where Chromium is absent
# or cannot start (the reason on stdout). `make demo` runs it on its pages;
# tests/html/html_browser.sh is the test with the stricter, per-page checks.
set -u
[ $# -ge 1 ] || { echo "usage: html-check.sh PAGE.html..." >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHROME=""
for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then CHROME=$(command -v "$c"); break; fi
done
[ -n "$CHROME" ] || { echo "html-check: no Chromium on PATH (scripts/deps.sh installs it)"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
chrome() { # --no-sandbox: as root Chromium's sandbox refuses to start
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$TMP/profile" --virtual-time-budget=5000 "$@" 2>"$TMP/chrome.err"
}
rc=0
for page in "$@"; do
    [ -f "$page" ] || { echo "html-check: $page: no such file"; rc=1; continue; }
    abs=$(cd "$(dirname "$page")" && pwd)/$(basename "$page")
    if ! chrome --dump-dom "file://$abs" >"$TMP/dom" || [ ! -s "$TMP/dom" ]; then
        echo "html-check: Chromium cannot start: $(grep -v dbus "$TMP/chrome.err" | tail -n 1)"
        exit 77
    fi
    if python3 "$ROOT/tests/html/check_dom.py" "$TMP/dom" >"$TMP/check" 2>&1; then
        chrome --window-size=1400,1900 --screenshot="${abs%.html}.png" "file://$abs" >/dev/null
        echo "html-check: $page: rendered, checked ($(tail -n 1 "$TMP/check")); screenshot ${abs%.html}.png"
    else
        echo "html-check: $page: FAILED: $(tail -n 3 "$TMP/check" | tr '\n' ' ')"
        rc=1
    fi
done
exit $rc
