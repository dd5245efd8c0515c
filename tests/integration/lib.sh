# tests/integration/lib.sh — sourced by the shell integration tests that
# start daemons (bash). The C tests have the same log check in itest.h.
#
#   wp_ports N          N free loopback ports, one per line, from the one
#                       port helper (wp_ports, common/net.c's
#                       wp_loopback_ports); $WP_PORTS_BIN names it (set by
#                       ctest), else it is looked up next to this build.
#   wp_logs_clean F...  returns 1 (and prints the line) when a daemon log
#                       holds a sanitizer report; missing files are clean.
#   wp_addr_in_use F... whether a log says a bind failed on a port in use
#                       (the caller then picks new ports and retries).

WP_SAN_MARKERS='ERROR: AddressSanitizer|runtime error:|LeakSanitizer|ThreadSanitizer'

wp_ports() {
    local bin=${WP_PORTS_BIN:-}
    if [ -z "$bin" ] || [ ! -x "$bin" ]; then
        echo "wp_ports: set WP_PORTS_BIN to the wp_ports helper" >&2
        return 1
    fi
    "$bin" "$1"
}

wp_logs_clean() {
    local f bad=0
    for f in "$@"; do
        [ -f "$f" ] || continue
        if grep -E -m1 "$WP_SAN_MARKERS" "$f" >&2; then
            echo "sanitizer report in $f" >&2
            bad=1
        fi
    done
    return $bad
}

wp_addr_in_use() {
    grep -q -i "address already in use" "$@" 2>/dev/null
}
