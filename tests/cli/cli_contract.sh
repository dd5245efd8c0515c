#!/usr/bin/env bash
# tests/cli/cli_contract.sh WPCTL — the contract every wpctl command keeps
# (issue 11), checked for EVERY command and subcommand:
#   --help            exit 0, usage on stdout, nothing on stderr;
#   --nosuch          exit 2, one line "wpctl CMD: unknown option '--nosuch'"
#                     on stderr, nothing on stdout;
#   a missing value   exit 2, one line "wpctl CMD: --FLAG: missing value";
#   out of range      exit 2, one line "wpctl CMD: --FLAG: out of range ...";
#   --json            for the commands that run without a cluster: exactly
#                     one JSON document on stdout, parsed by jq;
#   no cluster        the commands that need one fail with exit 1 and one
#                     line naming $WP_CLUSTER_DIR (so they read it);
#   unknown commands  one line with a did-you-mean hint.
set -u
W=${1:?usage: cli_contract.sh WPCTL}
command -v jq >/dev/null 2>&1 || { echo "SKIP: jq not installed (scripts/deps.sh)"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/wp-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
export WP_CLUSTER_DIR="$T/no-cluster-here"
fails=0
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

# CMD (quoted, may hold a subcommand) | flag whose value goes missing |
# out-of-range arguments ("" = the command has no bounded number).
TABLE='cluster up|--nodes-per-city|--nodes-per-city 65
cluster status|--dir|
cluster restart|--dir|
cluster down|--dir|
logs|--tail|--tail 0
nodes|--dir|
drain|--endpoint|
capacity|--queue-depth|--queue-depth 2000000000
keys|--keys-dir|
models|--endpoint|
catalog|--slots|--slots 0
pin|--replicas|--replicas 65
unpin|--endpoint|
placement|--dir|
traffic|--rate|--rate 0
report|--seed|
route|--max|--max 0
sim|--seed|--requests 0
sim gossip|--nodes|--nodes 2
topo list|--preset|
topo rtt|--inflation|--inflation 0
topo fit|--measured|
topo coverage|--within-ms|--within-ms -1
model gen|--dim|--dim 0
infer|--steps|--steps 0
version||'

# usage_err NAME PATTERN ARGS...: exit 2, one line on stderr starting with
# PATTERN, stdout empty.
usage_err() {
    local name=$1 pat=$2
    shift 2
    "$W" "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" -ne 2 ] || [ "$(wc -l <"$T/err")" -ne 1 ] || [ -s "$T/out" ] ||
        ! grep -qF -- "$pat" "$T/err"; then
        bad "$name: wpctl $*: exit $rc (want 2), stdout $(wc -c <"$T/out") bytes, stderr:"
        cat "$T/err"
        return
    fi
    echo "ok   $name: $(cat "$T/err")"
}

while IFS='|' read -r cmd missing range; do
    # shellcheck disable=SC2086
    set -- $cmd
    "$W" "$@" --help >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ne 0 ] || [ ! -s "$T/out" ] || [ -s "$T/err" ] ||
        ! grep -q "^usage: wpctl $cmd" "$T/out"; then
        bad "help: wpctl $cmd --help: exit $rc, stdout $(wc -c <"$T/out") bytes"
    else
        echo "ok   help: wpctl $cmd --help"
    fi
    grep -q -- "--json" "$T/out" || bad "help: wpctl $cmd --help does not offer --json"
    usage_err unknown-option "wpctl $cmd: unknown option '--nosuch'" "$@" --nosuch
    if [ -n "$missing" ]; then
        usage_err missing-value "wpctl $cmd: $missing: missing value" "$@" "$missing"
        # The next word is an option, not the value.
        usage_err missing-value-before-option "wpctl $cmd: $missing: missing value" \
            "$@" "$missing" --json
    fi
    if [ -n "$range" ]; then
        # shellcheck disable=SC2086
        usage_err out-of-range "wpctl $cmd: ${range%% *}: out of range" "$@" $range
    fi
done <<<"$TABLE"

# --json where no cluster is needed: one document, parsed by jq.
json_ok() {
    local name=$1 filter=$2
    shift 2
    "$W" "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    local docs
    docs=$(jq -s 'length' "$T/out" 2>/dev/null)
    if [ "$rc" -ne 0 ] || [ "$docs" != 1 ] || ! jq -e "$filter" "$T/out" >/dev/null 2>&1; then
        bad "json $name: wpctl $*: exit $rc, $docs documents, filter $filter:"
        head -c 400 "$T/out"; echo; cat "$T/err"
        return
    fi
    echo "ok   json $name"
}
printf 'src_lat,src_lon,dst_lat,dst_lon,rtt_ms\n50.1,8.7,1.3,103.8,160\n50.1,8.7,40.7,-74.0,80\n51.5,-0.1,35.7,139.7,220\n' \
    >"$T/measured.csv"
json_ok version '.version | type == "string"' version --json
json_ok sim '.all.requests == 2000' sim --scenario edge --requests 2000 --json
json_ok sim-compare '(.compare | length) == 2 and .compare[0].scenario != .compare[1].scenario' \
    sim --scenario edge --compare regional --requests 2000 --json
json_ok sim-gossip '.nodes == 20' sim gossip --nodes 20 --duration-s 130 --trials 2 --json
json_ok topo-list 'length > 0 and (.[0].code | type == "string")' topo list --preset tiny --json
json_ok topo-rtt '.rtt_ms > 0' topo rtt FRA SIN --json
json_ok topo-fit '.pairs == 3' topo fit --measured "$T/measured.csv" --json
json_ok topo-coverage '.population_fraction >= 0' topo coverage --preset tiny --json
json_ok model-gen '.params > 0' model gen --dim 16 --layers 1 --heads 2 --vocab 32 --seq-len 16 \
    --seed 1 -o "$T/m.bin" --json
json_ok infer 'type == "object"' infer --model "$T/m.bin" --prompt-tokens 1,2 --steps 2 \
    --backend cpu --json
json_ok keys-generate '.role == "node" and .secret and (.public | length) == 64 and
    (.curve_public | length) == 40' keys generate fra-1 --role node --keys-dir "$T/keys" --json
json_ok keys-list 'length == 1 and .[0].name == "fra-1" and .[0].role == "node"' \
    keys list --keys-dir "$T/keys" --json
json_ok keys-show '.name == "fra-1" and .secret' keys show fra-1 --keys-dir "$T/keys" --json
# Key files: the secret 0600 in a 0700 directory, never overwritten, never
# printed.
if [ "$(stat -c %a "$T/keys")" = 700 ] && [ "$(stat -c %a "$T/keys/fra-1.key")" = 600 ] &&
    [ "$(stat -c %a "$T/keys/fra-1.pub")" = 644 ]; then
    echo "ok   keys: modes 700/600/644"
else
    bad "keys: modes $(stat -c '%n %a' "$T/keys" "$T/keys"/*)"
fi
cp "$T/keys/fra-1.key" "$T/fra-1.key.before"
if "$W" keys generate fra-1 --role node --keys-dir "$T/keys" >"$T/out" 2>"$T/err"; then
    bad "keys: a second generate of fra-1 succeeded"
elif ! cmp -s "$T/keys/fra-1.key" "$T/fra-1.key.before" || [ "$(wc -l <"$T/err")" -ne 1 ]; then
    bad "keys: the second generate changed the key or said: $(cat "$T/err")"
else
    echo "ok   keys: never overwritten ($(cat "$T/err"))"
fi
seed=$(sed -n 's/^seed = //p' "$T/keys/fra-1.key")
if "$W" keys show fra-1 --keys-dir "$T/keys" | grep -qF "$seed" ||
    "$W" keys list --keys-dir "$T/keys" --json | grep -qF "$seed"; then
    bad "keys: show or list printed the secret seed"
else
    echo "ok   keys: the seed is never printed"
fi
usage_err keys-role "wpctl keys generate: --role: 'king'" keys generate x --role king \
    --keys-dir "$T/keys"

# No cluster: one line naming the directory from $WP_CLUSTER_DIR, exit 1,
# nothing on stdout.
no_cluster() {
    "$W" "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" -ne 1 ] || [ "$(wc -l <"$T/err")" -ne 1 ] || [ -s "$T/out" ] ||
        ! grep -qF "$WP_CLUSTER_DIR" "$T/err"; then
        bad "no-cluster: wpctl $*: exit $rc (want 1), stderr:"; cat "$T/err"
        return
    fi
    echo "ok   no-cluster: wpctl $*"
}
no_cluster cluster status --json
no_cluster cluster down --json
no_cluster cluster restart fra-1 --json
no_cluster logs fra-1 --json
no_cluster nodes --json
no_cluster drain fra-1 --json
no_cluster capacity fra-1 --queue-depth 1 --json
no_cluster models --json
no_cluster catalog add m --size-gb 1 --json
no_cluster pin m FRA --json
no_cluster unpin m --json
no_cluster placement --json
no_cluster placement status --json
no_cluster traffic --duration 1 --json
no_cluster route m --from FRA --json

# A version 1 cluster file (pids without start times) is still read; a
# recorded pid that is not a wp-node (here: a sleep of ours) is not running.
mkdir -p "$T/v1"
sleep 30 &
SLEEP=$!
printf 'version 1\noption gpus 1\nnode fra-1 FRA %s tcp://127.0.0.1:1 tcp://127.0.0.1:2\n' \
    "$SLEEP" >"$T/v1/cluster.txt"
if "$W" cluster status --dir "$T/v1" --json >"$T/out" 2>"$T/err" &&
    jq -e 'length == 1 and .[0].pid == '"$SLEEP"' and .[0].running == false' "$T/out" >/dev/null; then
    echo "ok   version 1 cluster file read; a foreign pid is not ours"
else
    bad "version 1 cluster file: $(cat "$T/out" "$T/err")"
fi
kill "$SLEEP" 2>/dev/null

# Unknown commands: one line, a hint, exit 2.
usage_err unknown-command "wpctl: unknown command 'nodez' (did you mean 'nodes'?" nodez
usage_err unknown-subcommand "wpctl cluster: unknown command 'upp' (did you mean 'up'?" \
    cluster upp
usage_err unknown-command-far "wpctl: unknown command 'xyzzy' (see wpctl --help)" xyzzy

if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
fi
echo "all checks passed"
