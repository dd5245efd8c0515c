#!/usr/bin/env bash
# tests/cli/cli_cluster.sh WPCTL — wpctl against a real local cluster
# (wp-node and wp-placement processes on loopback ports that `cluster up`
# takes from wp_loopback_ports), issue 11:
#   1. SIGINT while `cluster up` is starting processes: exit 130, and every
#      process the cluster file recorded (pid + start time) is gone, checked
#      by pid, not by name, so parallel tests do not interfere;
#   2. every command that talks to a cluster prints one JSON document with
#      --json (parsed by jq); `catalog remove` refuses a pinned model and a
#      node key, then removes (issue 14: nothing an operator adds is permanent);
#   3. traffic refuses an unknown model before sending anything (exit 1, one
#      line, no results file) and stops on Ctrl-C with exit 130 and counts
#      that add up; `report --json` reads what it wrote;
#   4. `cluster restart placement-2` brings a killed placement server back;
#   5. `down --purge` removes the state, and plain `down` + `up` does not
#      add raft folders; `up --insecure` says so in `status` (text and JSON);
#   6. security is on by default (issue 14): `up` made a key per party in
#      DIR/keys (directory 0700, secrets 0600), every process reports
#      "curve", wpctl used the operator key on its own (section 2), a plain
#      client and a client key are refused on the admin socket (and the node
#      logs the refusal), and the client key is served on the request socket;
#      a key made later is refused until `keys reload` (SIGHUP), then served.
set -u
W=${1:?usage: cli_cluster.sh WPCTL}
command -v jq >/dev/null 2>&1 || { echo "SKIP: jq not installed (scripts/deps.sh)"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/wp-cli-cluster.XXXXXX")
export WP_CLUSTER_DIR="$T/c"
cleanup() {
    "$W" cluster down >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok   $*"; }

# The recorded processes still running: pids of the cluster file whose
# /proc/PID/stat has the recorded start time (start=TICKS) and is not a
# zombie.
still_running() {
    local f=$WP_CLUSTER_DIR/cluster.txt rec pid start st fields
    [ -f "$f" ] || return 0
    for rec in $(awk '$1 == "node" {print $4 "@" $NF} $1 == "placement" {print $3 "@" $NF}' "$f"); do
        pid=${rec%@*}
        start=${rec#*@start=}
        [ -r "/proc/$pid/stat" ] || continue
        fields=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
        # shellcheck disable=SC2086
        set -- $fields
        st=$1
        [ "${20}" = "$start" ] && [ "$st" != Z ] && echo "$pid"
    done
}

# 1. Interrupt `cluster up` half way: once while the placement servers
#    start, once when nodes are being started.
interrupt_up() { # WHAT AWK-PATTERN MIN
    local what=$1 pat=$2 min=$3
    rm -rf "$WP_CLUSTER_DIR"
    "$W" cluster up --placement 3 --cities FRA,SIN,IAD,GRU --nodes-per-city 2 >"$T/up.out" \
        2>"$T/up.err" &
    local up=$!
    for _ in $(seq 1 400); do
        [ -f "$WP_CLUSTER_DIR/cluster.txt" ] &&
            [ "$(grep -cE "$pat" "$WP_CLUSTER_DIR/cluster.txt")" -ge "$min" ] && break
        sleep 0.02
    done
    kill -INT "$up"
    wait "$up"
    local rc=$?
    local started
    started=$(grep -cE '^(node|placement) ' "$WP_CLUSTER_DIR/cluster.txt")
    [ "$rc" -eq 130 ] || fail "cluster up, SIGINT $what: exit $rc (want 130): $(cat "$T/up.err")"
    grep -q "^cluster up:" "$T/up.out" && fail "cluster up, SIGINT $what: it finished anyway"
    [ "$started" -ge "$min" ] || fail "cluster file records $started processes"
    local left
    left=$(still_running)
    [ -z "$left" ] || fail "processes left after an interrupted up ($what): $left"
    ok "cluster up, SIGINT $what: exit 130, $started recorded processes, none left"
}
interrupt_up "while placement servers start" '^placement ' 2
interrupt_up "while nodes start" '^node ' 1

# 2. A cluster, and --json from every command that talks to it.
"$W" cluster up --placement 3 --cities FRA,SIN,IAD --json >"$T/up.json" 2>"$T/up.err" ||
    fail "cluster up: $(cat "$T/up.err")"
jq -e 'length == 6 and all(.running)' "$T/up.json" >/dev/null || fail "up --json: $(cat "$T/up.json")"
ok "cluster up --json"
json() { # NAME FILTER ARGS...
    local name=$1 filter=$2
    shift 2
    "$W" "$@" >"$T/out" 2>"$T/err" || fail "$name: wpctl $*: exit $?: $(cat "$T/err")"
    [ "$(jq -s length "$T/out")" = 1 ] || fail "$name: not one JSON document: $(cat "$T/out")"
    jq -e "$filter" "$T/out" >/dev/null || fail "$name: $filter: $(cat "$T/out")"
    ok "json $name"
}
json status 'length == 6' cluster status --json
json nodes 'length == 3 and all(.status == "alive")' nodes --json
json models 'length >= 1' models --json
json placement '.nodes | length == 3' placement --json
json placement-status '.servers | length == 3' placement status --json
json catalog-add '.name == "tiny-test" and .version > 0' catalog add tiny-test --size-gb 1 --json
json pin '.model == "tiny-test" and .replicas == 1' pin tiny-test FRA --json
json pin-again '.model == "tiny-test"' pin tiny-test FRA --json
"$W" catalog remove tiny-test >"$T/out" 2>"$T/err" && fail "catalog remove of a pinned model"
grep -q "pinned" "$T/err" || fail "catalog remove pinned: $(cat "$T/err")"
json unpin '.model == "tiny-test" and .city == null' unpin tiny-test --json
"$W" --key "$WP_CLUSTER_DIR/keys/fra-1.key" catalog remove tiny-test >"$T/out" 2>"$T/err" &&
    fail "a node key removed a catalog model"
grep -q "operator" "$T/err" || fail "node key catalog remove: $(cat "$T/err")"
json catalog-remove '.name == "tiny-test" and .removed and .version > 0' catalog remove tiny-test --json
json catalog-gone 'map(select(.name == "tiny-test")) | length == 0' models --json
json drain '.node == "fra-1" and .draining == true' drain fra-1 --json
json drain-off '.draining == false' drain fra-1 --off --json
json capacity '.node == "sin-1" and .queue_depth == 3' capacity sin-1 --queue-depth 3 --json
model=$(jq -r '.[0].name' <("$W" models --json))
json route '.model != null' route "$model" --from FRA --json
json logs '.id == "fra-1" and (.lines | length) == 3' logs fra-1 --tail 3 --json

# 6. Security by default.
K=$WP_CLUSTER_DIR/keys
jq -e --arg k "$(realpath "$K")" 'all(.security == "curve" and .keys == $k)' "$T/up.json" >/dev/null ||
    fail "up --json: not all curve with keys $K: $(cat "$T/up.json")"
[ "$(stat -c %a "$K")" = 700 ] || fail "keys dir mode $(stat -c %a "$K")"
for k in cluster operator client fra-1 sin-1 iad-1 placement-1 placement-2 placement-3; do
    [ "$(stat -c %a "$K/$k.key" 2>/dev/null)" = 600 ] && [ -f "$K/$k.pub" ] ||
        fail "key $k: $(ls -l "$K" 2>&1)"
done
"$W" cluster status >"$T/out" 2>&1 && grep -q "^security: CurveZMQ" "$T/out" ||
    fail "status text has no security line: $(cat "$T/out")"
WP_KEY= "$W" nodes --json >"$T/out" 2>"$T/err" && fail "a plain client read a node's view"
"$W" --key "$K/client.key" drain fra-1 >"$T/out" 2>"$T/err" && fail "a client key drained fra-1"
grep -q "no answer" "$T/err" || fail "client key on admin: $(cat "$T/err")"
grep -q "refused a connection on the admin socket" "$WP_CLUSTER_DIR/logs/fra-1.log" ||
    fail "fra-1 did not log the refusals"
json drain-still-off '.[] | select(.id == "fra-1") | .draining == false' nodes --json
"$W" --key "$K/client.key" traffic --rate 20 --duration 1 --quiet --json >"$T/out" 2>"$T/err" ||
    fail "traffic with the client key: $(cat "$T/err")"
jq -e '.report.ok > 0' "$T/out" >/dev/null || fail "client key traffic: $(cat "$T/out")"
ok "security by default: keys 0600 in a 0700 dir, all curve, plain and client key refused on admin, client key served"
# A key made after the daemons started is refused until `keys reload`
# (SIGHUP: each rereads the directory), then served; removed, refused again.
"$W" keys generate late --role client >/dev/null || fail "keys generate late"
"$W" --key "$K/late.key" traffic --rate 20 --duration 1 --grace 2 --quiet --json >"$T/out" 2>"$T/err"
jq -e '.report.ok == 0' "$T/out" >/dev/null || fail "a key made after start was served: $(cat "$T/out")"
json keys-reload '.signalled == 6 and .processes == 6' keys reload --json
"$W" --key "$K/late.key" traffic --rate 20 --duration 1 --quiet --json >"$T/out" 2>"$T/err" ||
    fail "traffic with the reloaded key: $(cat "$T/err")"
jq -e '.report.ok > 0' "$T/out" >/dev/null || fail "reloaded key not served: $(cat "$T/out")"
mkdir -p "$T/rev" && cp "$K/late.key" "$K/cluster.pub" "$T/rev/" || fail "copy late.key"
rm -f "$K/late.key" "$K/late.pub"
"$W" keys reload >/dev/null || fail "keys reload after the removal"
sleep 0.5
"$W" --key "$T/rev/late.key" traffic --rate 20 --duration 1 --grace 2 --quiet --json >"$T/out" 2>"$T/err"
jq -e '.report.ok == 0' "$T/out" >/dev/null || fail "a removed key was still served: $(cat "$T/out")"
grep -q "SIGHUP: .* keys reloaded" "$WP_CLUSTER_DIR/logs/fra-1.log" || fail "fra-1 did not log the reload"
ok "keys reload: a late key refused, served after the reload, refused again once removed"

# 3. traffic: unknown model refused before sending; Ctrl-C.
"$W" traffic --models nosuch --duration 1 --out "$T/none.csv" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] || fail "traffic --models nosuch: exit $rc"
[ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "unknown model 'nosuch'" "$T/err" ||
    fail "traffic --models nosuch: stderr $(cat "$T/err")"
[ ! -s "$T/out" ] && [ ! -e "$T/none.csv" ] || fail "traffic --models nosuch sent or wrote something"
ok "traffic refuses an unknown model: $(cat "$T/err")"
"$W" traffic --models "$model" --rate 50 --duration 60 --json --out "$T/r.csv" >"$T/t.json" \
    2>"$T/t.err" &
TP=$!
# Interrupt once answers are being written (the CSV's first 4 KiB block is
# out), not after a fixed sleep that a loaded machine spends in set-up.
for _ in $(seq 1 300); do
    [ -s "$T/r.csv" ] && break
    sleep 0.05
done
kill -INT "$TP"
wait "$TP"
rc=$?
[ "$rc" -eq 130 ] || fail "traffic after Ctrl-C: exit $rc (want 130): $(cat "$T/t.err")"
jq -e '.interrupted == true and .sending_s < 10 and .report.sent > 0 and
       .report.sent == .report.ok + .report.errors and
       ((.achieved_rate_rps - .report.sent / .sending_s) | fabs) < 0.01 * .achieved_rate_rps' \
    "$T/t.json" >/dev/null || fail "traffic summary after Ctrl-C: $(cat "$T/t.json")"
ok "traffic Ctrl-C: exit 130, $(jq -c '{sent: .report.sent, ok: .report.ok, sending_s, achieved_rate_rps}' "$T/t.json")"
json report ".sent == $(jq .report.sent "$T/t.json")" report "$T/r.csv" --json

# 4. restart placement-2 after killing it (by its recorded pid).
p2=$(jq -r '.[] | select(.id == "placement-2") | .pid' <("$W" cluster status --json))
kill "$p2"
for _ in $(seq 1 100); do [ -d "/proc/$p2" ] || break; sleep 0.05; done
json restart-placement '.id == "placement-2" and .pid > 0' cluster restart placement-2 --json
json restarted 'map(select(.id == "placement-2"))[0].running' cluster status --json

# 5. down, up, down: raft folders do not pile up; --purge removes state.
"$W" cluster down >/dev/null || fail "down"
n1=$(find "$WP_CLUSTER_DIR" -maxdepth 1 -name 'placement-*' | wc -l)
"$W" cluster up --placement 3 --cities FRA,SIN >/dev/null 2>"$T/err" || fail "up again: $(cat "$T/err")"
"$W" cluster down >/dev/null || fail "down again"
n2=$(find "$WP_CLUSTER_DIR" -maxdepth 1 -name 'placement-*' | wc -l)
[ "$n1" -eq 3 ] && [ "$n2" -eq 3 ] || fail "raft folders: $n1 after the first down, $n2 after the second"
ok "raft folders: $n1 after one up/down, $n2 after two"
"$W" cluster up --placement 1 --cities FRA,SIN --insecure >/dev/null 2>"$T/err" ||
    fail "up 3: $(cat "$T/err")"
grep -q "insecure" "$T/err" || fail "up --insecure did not warn: $(cat "$T/err")"
json status-insecure 'all(.security == "insecure" and .keys == null)' cluster status --json
"$W" cluster status | grep -q "^security: OFF (--insecure)" || fail "status text: not OFF"
json nodes-insecure 'length == 2' nodes --json
"$W" cluster up --keys "$T/k" --insecure >/dev/null 2>&1
[ $? -eq 2 ] || fail "--keys with --insecure: not a usage error"
json down-purge '.purged == true and .stopped == 3' cluster down --purge --json
[ ! -e "$WP_CLUSTER_DIR" ] || fail "down --purge left $(ls "$WP_CLUSTER_DIR")"
ok "down --purge removed $WP_CLUSTER_DIR"
echo "all checks passed"
