#!/usr/bin/env bash
# deploy/: the systemd units with their example settings start real
# daemons. Each unit's ExecStart is expanded the way systemd does it (%i the
# instance; ${X} one word from the EnvironmentFile; $X split on spaces, none
# when empty), with /usr/local/bin replaced by the built binaries and
# /var/lib/warmpath by a temporary folder. Both run in a network namespace
# of their own holding the example hosts' addresses (10.0.0.1, 10.0.1.11),
# so they bind 0.0.0.0 as the examples say. Asserts: each daemon comes up
# bound on the wildcard and announcing the example's advertised address;
# the node's admin endpoint answers at its advertised address with itself
# at tcp://10.0.1.11:7301; SIGTERM stops both with status 0; logs clean.
# Skips (77) where network namespaces cannot be made.
#
# usage: deploy_units.sh WPCTL WP_NODE WP_PLACEMENT
set -u
WPCTL=${1:?usage: deploy_units.sh WPCTL WP_NODE WP_PLACEMENT}
NODE=${2:?}
PLACEMENT=${3:?}
HERE=$(cd "$(dirname "$0")" && pwd)
DEPLOY="$HERE/../../deploy"
. "$HERE/lib.sh"

skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "creating network namespaces needs root (CI runs as root)"
command -v ip >/dev/null 2>&1 || skip "no 'ip' command (iproute2)"
NS="wpdeploy$$"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/wp-deploy.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    if [ -z "${WP_KEEP_DIR:-}" ]; then rm -rf "$DIR"; else echo "kept $DIR" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
    echo "FAIL: $*" >&2
    for f in "$DIR"/*.log; do echo "--- $f" >&2; tail -n 6 "$f" >&2; done
    exit 1
}

# Security: when the daemons take keys (issue 14's CurveZMQ), the
# example's empty WP_SECURITY is set as the guide says, to --keys DIR.
SECURITY=""
if "$NODE" --help 2>/dev/null | grep -q -- '--keys DIR'; then
    mkdir -m 700 "$DIR/keys"
    for kr in cluster:server placement-1:placement fra-1:node operator:operator; do
        "$WPCTL" keys generate "${kr%%:*}" --role "${kr#*:}" --keys-dir "$DIR/keys" >/dev/null ||
            fail "wpctl keys generate ${kr%%:*}"
    done
    export WP_KEY="$DIR/keys/operator.key"
    SECURITY="--keys $DIR/keys"
fi

# expand UNIT INSTANCE ENVFILE: the unit's ExecStart as one argument per line.
expand() {
    local unit=$1 inst=$2 envf=$3 line cmd="" tok name
    declare -A env=()
    while IFS= read -r line; do
        case "$line" in ''|'#'*) continue;; esac
        env[${line%%=*}]=${line#*=}
    done <"$envf"
    [ -z "$SECURITY" ] || env[WP_SECURITY]=$SECURITY
    local in=0
    while IFS= read -r line; do
        case "$line" in ExecStart=*) in=1; line=${line#ExecStart=};; esac
        [ $in = 1 ] || continue
        cmd="$cmd ${line%\\}"
        case "$line" in *\\) ;; *) break;; esac
    done <"$unit"
    [ -n "$cmd" ] || return 1
    for tok in $cmd; do
        tok=${tok//%i/$inst}
        if [[ $tok =~ ^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$ ]]; then
            name=${BASH_REMATCH[1]}
            [ -n "${env[$name]+x}" ] || { echo "unset: $name" >&2; return 1; }
            printf '%s\n' "${env[$name]}"
        elif [[ $tok =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
            for w in ${env[${BASH_REMATCH[1]}]:-}; do printf '%s\n' "$w"; done
        else
            tok=${tok/#\/usr\/local\/bin\/wp-node/$NODE}
            tok=${tok/#\/usr\/local\/bin\/wp-placement/$PLACEMENT}
            printf '%s\n' "${tok/#\/var\/lib\/warmpath/$DIR}"
        fi
    done
}
mapfile -t PL_ARGV < <(expand "$DEPLOY/wp-placement@.service" 1 "$DEPLOY/placement.env.example") ||
    fail "cannot expand wp-placement@.service"
mapfile -t NODE_ARGV < <(expand "$DEPLOY/wp-node@.service" fra-1 "$DEPLOY/node.env.example") ||
    fail "cannot expand wp-node@.service"
[ "${PL_ARGV[0]}" = "$PLACEMENT" ] && [ "${NODE_ARGV[0]}" = "$NODE" ] ||
    fail "ExecStart does not start the daemons: ${PL_ARGV[0]} / ${NODE_ARGV[0]}"
echo "placement: ${PL_ARGV[*]:1}"
echo "node:      ${NODE_ARGV[*]:1}"

ip netns add "$NS" 2>"$DIR/ns.err" ||
    skip "cannot create a network namespace: $(head -c 200 "$DIR/ns.err")"
ip -n "$NS" link set lo up
ip -n "$NS" addr add 10.0.0.1/32 dev lo
ip -n "$NS" addr add 10.0.1.11/32 dev lo
mkdir -p "$DIR/placement-1" "$DIR/node-fra-1"
ip netns exec "$NS" "${PL_ARGV[@]}" >"$DIR/placement.log" 2>&1 &
PIDS+=($!)
ip netns exec "$NS" "${NODE_ARGV[@]}" >"$DIR/node.log" 2>&1 &
PIDS+=($!)

up() { # LOG PATTERN
    for _ in $(seq 1 100); do
        grep -q -F "$2" "$1" && return 0
        sleep 0.1
    done
    return 1
}
up "$DIR/placement.log" "advertises api tcp://10.0.0.1:7101 and raft 10.0.0.1:7001 (bound: api tcp://0.0.0.0:7101, raft 0.0.0.0:7001)" ||
    fail "wp-placement@1 did not start bound on 0.0.0.0, advertising 10.0.0.1"
up "$DIR/placement.log" "server 1: api tcp://0.0.0.0:7101" || fail "wp-placement@1 did not come up"
up "$DIR/node.log" "gossip tcp://10.0.1.11:7301 (bound tcp://0.0.0.0:7301), admin tcp://10.0.1.11:7401" ||
    fail "wp-node@fra-1 did not come up bound on 0.0.0.0, advertising 10.0.1.11"
self=$(ip netns exec "$NS" "$WPCTL" nodes --endpoint 10.0.1.11:7401 --json |
    grep -o '"id":"fra-1"[^}]*"addr":"[^"]*"' | grep -o '"addr":"[^"]*"')
[ "$self" = '"addr":"tcp://10.0.1.11:7301"' ] || fail "the node's admin view of itself: '$self'"
for i in 0 1; do kill -TERM "${PIDS[$i]}"; done
for i in 0 1; do
    wait "${PIDS[$i]}"
    rc=$?
    [ $rc = 0 ] || fail "daemon $i exited with status $rc after SIGTERM"
done
PIDS=()
wp_logs_clean "$DIR"/*.log || fail "sanitizer report in a daemon log"
echo PASS
