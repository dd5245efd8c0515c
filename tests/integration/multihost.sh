#!/usr/bin/env bash
# A cluster spread over hosts (issue 14): network namespaces stand in for
# machines. Five namespaces, made and removed here:
#
#   sw   a Linux bridge, the "switch"; every host's cable is a veth pair
#        whose far end is a port of this bridge (the root namespace is
#        never touched, so runs in parallel do not meet)
#   h1   10.77.0.1  wp-placement 1 + a wp-node (1 GPU, timing model)
#   h2   10.77.0.2  wp-placement 2 + a wp-node
#   h3   10.77.0.3  wp-placement 3 + a wp-node
#                   (cities FRA, AMS, LHR: the GPU nearest to the
#                   ingress goes on the host of the first raft leader, so
#                   cutting that host off takes both the leader and the
#                   node serving the traffic)
#   h4   10.77.0.4  wp-node cdg-1 with no GPU (an ingress only: every
#                   request it takes is forwarded to another host) and
#                   the wpctl client
#
# Every daemon binds 0.0.0.0 and advertises its host's address
# (--bind/--advertise, --raft/--raft-bind), so the test also checks that
# what is gossiped and what placement names as its leader are the
# advertised addresses. Steps and what each asserts:
#   1. the placement servers elect a leader; the nodes join across hosts
#      (cdg-1 sees 4 alive members, each at tcp://10.77.0.N:7301);
#   2. catalog + pin a model to FRA,AMS,LHR; traffic from h4 through cdg-1:
#      every request ok, served by nodes on other hosts (the nearest among them);
#   3. the host of the placement LEADER is cut off (its switch port goes
#      down: a cable pulled; this kernel has no netem/iptables). Then
#      - cdg-1's gossip stops seeing that host's node alive;
#      - the majority elects a leader and commits a pin of mh-b (acked);
#      - a pin of mh-c sent inside the cut-off host to its own server
#        fails (the minority cannot commit);
#      - traffic from h4 is still all ok and never served by the cut host;
#   4. the cable goes back: the three servers agree (one leader, equal
#      commit index = last applied, equal pin counts), the leader's state
#      holds the acknowledged pins (the model's, mh-b) and not the refused one
#      (mh-c), every node sees 4 alive members, traffic is all ok again;
#   5. SIGTERM stops every daemon with exit status 0; no sanitizer report
#      in any log.
# Skips (77) with the reason where network namespaces cannot be made (not
# root, no `ip`, no veth/bridge support).
#
# usage: multihost.sh WPCTL WP_NODE WP_PLACEMENT
set -u
WPCTL=${1:?usage: multihost.sh WPCTL WP_NODE WP_PLACEMENT}
NODE=${2:?}
PLACEMENT=${3:?}
. "$(dirname "$0")/lib.sh"

skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "creating network namespaces needs root (CI runs as root)"
command -v ip >/dev/null 2>&1 || skip "no 'ip' command (iproute2)"
command -v jq >/dev/null 2>&1 || skip "no jq"

P="wpmh$$"     # namespace names: wpmhPID-sw, wpmhPID-h1 ...
SW="$P-sw"
HOSTS=4
NET=10.77.0
DIR=$(mktemp -d "${TMPDIR:-/tmp}/wp-multihost.XXXXXX")
mkdir -p "$DIR/logs"
PIDS=()   # daemon pids, for the cleanup
NAMES=()  # their names, same index

ns() { echo "$P-h$1"; }
inns() { local h=$1; shift; ip netns exec "$(ns "$h")" "$@"; }

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    for h in $(seq 1 $HOSTS); do ip netns del "$(ns "$h")" 2>/dev/null; done
    ip netns del "$SW" 2>/dev/null
    if [ -z "${WP_KEEP_DIR:-}" ]; then rm -rf "$DIR"; else echo "kept $DIR" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
    echo "FAIL: $*" >&2
    for f in "$DIR"/logs/*.log; do echo "--- $f" >&2; tail -n 6 "$f" >&2; done
    exit 1
}
elapsed() { echo $(( ($(date +%s%N) - T0) / 1000000 )); }
T0=$(date +%s%N)
step() { echo "[$(elapsed) ms] $*"; }

# ------------------------------------------------------------ the network
ip netns add "$SW" 2>"$DIR/ns.err" ||
    skip "cannot create a network namespace: $(head -c 200 "$DIR/ns.err")"
ip -n "$SW" link add br0 type bridge 2>"$DIR/ns.err" ||
    skip "cannot create a Linux bridge: $(head -c 200 "$DIR/ns.err")"
ip -n "$SW" link set br0 up
for h in $(seq 1 $HOSTS); do
    ip netns add "$(ns "$h")" || fail "ip netns add $(ns "$h")"
    # The cable: eth0 in the host, port p$h on the switch.
    ip link add eth0 netns "$(ns "$h")" type veth peer name "p$h" netns "$SW" \
        2>"$DIR/ns.err" || skip "cannot create a veth pair: $(head -c 200 "$DIR/ns.err")"
    ip -n "$SW" link set "p$h" master br0 up
    ip -n "$(ns "$h")" addr add "$NET.$h/24" dev eth0
    ip -n "$(ns "$h")" link set eth0 up
    ip -n "$(ns "$h")" link set lo up
done
step "network: $HOSTS hosts on $NET.0/24 through a bridge in $SW"

# ------------------------------------------------------------ the daemons
# Security, the one place where it is composed (start() adds
# daemon_flags). When the daemons take keys (wp-node --keys DIR: signed
# gossip records; wp-placement --keys DIR: authenticated raft peers), every
# party gets its key in $DIR/keys (wpctl keys generate), every daemon
# --keys, and wpctl is given the operator's key ($WP_KEY, for when its
# sockets speak CURVE); without them, none.
KEYS=""
if "$NODE" --help 2>/dev/null | grep -q -- '--keys DIR'; then
    KEYS="$DIR/keys"
    mkdir -m 700 "$KEYS"
    for kr in cluster:server placement-1:placement placement-2:placement placement-3:placement \
              fra-1:node ams-1:node lhr-1:node cdg-1:node operator:operator; do
        "$WPCTL" keys generate "${kr%%:*}" --role "${kr#*:}" --keys-dir "$KEYS" >/dev/null ||
            fail "wpctl keys generate ${kr%%:*} --role ${kr#*:}"
    done
    export WP_KEY="$KEYS/operator.key"
    step "security: keys in $KEYS (signed gossip, authenticated raft peers)"
else
    step "security: none (the daemons take no keys in this build)"
fi
daemon_flags() { # ROLE NAME
    [ -z "$KEYS" ] || echo "--keys $KEYS"
}
M=distilbert-sst2
PL_ALL="$NET.1:7101,$NET.2:7101,$NET.3:7101"
PEERS="1=$NET.1:7001@tcp://$NET.1:7101,2=$NET.2:7001@tcp://$NET.2:7101,3=$NET.3:7001@tcp://$NET.3:7101"

start() { # HOST NAME CMD...
    local h=$1 name=$2; shift 2
    ip netns exec "$(ns "$h")" "$@" $(daemon_flags "${name%%-*}" "$name") \
        >"$DIR/logs/$name.log" 2>&1 &
    PIDS+=($!)
    NAMES+=("$name")
}
for h in 1 2 3; do
    start $h "placement-$h" "$PLACEMENT" --id $h --bind 0.0.0.0:7101 --advertise "$NET.$h:7101" \
        --raft "$NET.$h:7001" --raft-bind 0.0.0.0:7001 --peers "$PEERS" \
        --data-dir "$DIR/raft-$h" --topology edge
done
# --------------------------------------------- 1. leader, membership, addresses
status_of() { # HOST(client) ENDPOINTS -> placement status JSON
    inns "$1" "$WPCTL" placement status --endpoint "$2" --json 2>/dev/null
}
# The logs say when a leader is ready (cheaper than asking a server still
# loading its topology, which costs a client timeout); then every server
# must answer, exactly one of them the leader.
for _ in $(seq 1 300); do
    grep -q 'leader [0-9]* ready' "$DIR"/logs/placement-*.log 2>/dev/null && break
    sleep 0.05
done
LEADER=0
for _ in $(seq 1 50); do
    st=$(status_of 4 "$PL_ALL")
    LEADER=$(echo "$st" | jq -r '[.servers[] | select(.reachable)] as $s
        | [$s[] | select(.role == "leader") | .id] as $l
        | if ($s | length) == 3 and ($l | length) == 1 then $l[0] else 0 end' 2>/dev/null)
    [ "${LEADER:-0}" != 0 ] && break
    sleep 0.1
done
[ "${LEADER:-0}" != 0 ] || fail "no placement leader answering with all three servers up"
laddr=$(echo "$st" | jq -r '.servers[] | select(.role != "leader") | .leader_address' | sort -u)
[ "$laddr" = "tcp://$NET.$LEADER:7101" ] ||
    fail "followers name the leader at '$laddr', not its advertised tcp://$NET.$LEADER:7101"
step "placement leader: server $LEADER, named at $laddr by the followers"

# The leader's host also gets the node nearest to the ingress (from CDG,
# by the model in force: `wpctl topo rtt`): before the cut it serves the
# traffic, so the cut moves it.
CITIES=(x x x x CDG)
NEAR=$(for c in FRA AMS LHR; do
    echo "$("$WPCTL" topo rtt CDG $c | sed -n 's/.*: \([0-9.]*\) ms RTT.*/\1/p') $c"
done | sort -n | head -1 | cut -d' ' -f2)
case $NEAR in FRA | AMS | LHR) ;; *) fail "cannot tell the city nearest to CDG ('$NEAR')";; esac
k=0
OTHER=($(echo FRA AMS LHR | tr ' ' '\n' | grep -vx "$NEAR"))
for h in 1 2 3; do
    if [ $h = $LEADER ]; then CITIES[$h]=$NEAR; else CITIES[$h]=${OTHER[$k]}; k=$((k + 1)); fi
done
for h in 1 2 3 4; do
    city=${CITIES[$h]}
    id=$(echo "$city" | tr 'A-Z' 'a-z')-1
    gpu=(--gpus 1 --gpu-mem-gb 24 --placement "$PL_ALL")
    [ $h = 4 ] && gpu=(--gpus 0)   # an ingress only: nothing to place
    start $h "node-$id" "$NODE" --city "$city" --id "$id" --bind 0.0.0.0:7301 \
        --advertise "$NET.$h:7301" --admin 0.0.0.0:7401 --request 0.0.0.0:7201 \
        --join "$NET.1:7301,$NET.2:7301" "${gpu[@]}" --gpu-backend model \
        --probe-interval-ms 200 --dead-reap-s 120 \
        --state-dir "$DIR/state-$id"
done

members_alive() { # HOST -> alive members in that host's node view
    inns 4 "$WPCTL" nodes --endpoint "$NET.$1:7401" --json 2>/dev/null |
        jq '[.[] | select(.status == "alive")] | length' 2>/dev/null || echo 0
}
n=0
for _ in $(seq 1 100); do
    n=$(members_alive 4)
    [ "${n:-0}" -ge 4 ] && break
    sleep 0.1
done
[ "${n:-0}" -ge 4 ] || fail "cdg-1 sees $n alive members, not 4"
addrs=$(inns 4 "$WPCTL" nodes --endpoint "$NET.4:7401" --json | jq -r '.[] | "\(.id) \(.addr)"' |
    sort | tr '\n' ' ')
want=$(for h in 1 2 3 4; do echo "$(echo "${CITIES[$h]}" | tr 'A-Z' 'a-z')-1 tcp://$NET.$h:7301"; done |
    sort | tr '\n' ' ')
[ "$addrs" = "$want" ] ||
    fail "gossiped addresses are not the advertised ones: $addrs"
step "membership: 4 alive across hosts, gossiped at the advertised addresses"

# --------------------------------------------- 2. catalog, pin, traffic
# The traffic model is one of wp-node's built-in catalog (the ingress
# cdg-1, with no GPU, does not register with placement and so only knows
# those); placement gets the same profile. mh-b and mh-c exist for pins.
inns 4 "$WPCTL" catalog add $M --size-gb 0.134 --prefill-base-ms 3 --prefill-ms-per-token 0.005 \
    --decode-ms-per-token 0 --slots 64 --load-gbps 2 --load-fixed-ms 500 --in-tokens 128 \
    --out-tokens 1 --endpoint "$PL_ALL" >/dev/null || fail "catalog add $M"
for m in mh-b mh-c; do
    inns 4 "$WPCTL" catalog add $m --size-gb 1 --load-fixed-ms 20 --endpoint "$PL_ALL" \
        >/dev/null || fail "catalog add $m"
done
inns 4 "$WPCTL" pin $M FRA,AMS,LHR --endpoint "$PL_ALL" >/dev/null || fail "pin $M"
warm=0
for _ in $(seq 1 100); do
    warm=$(inns 4 "$WPCTL" nodes --endpoint "$NET.4:7401" --json 2>/dev/null |
        jq --arg m $M '[.[] | select(.warm_models | index($m))] | length' 2>/dev/null || echo 0)
    [ "${warm:-0}" -ge 3 ] && break
    sleep 0.1
done
[ "${warm:-0}" -ge 3 ] || fail "$M is warm on $warm nodes in cdg-1's view, not 3"
step "$M pinned and warm on 3 hosts"

traffic() { # LABEL MODEL -> checks every request ok; prints the serving nodes
    local label=$1 csv="$DIR/$1.csv"
    inns 4 "$WPCTL" traffic --endpoint "$NET.4:7201" --from CDG --models "$2" --rate 25 \
        --duration 2 --timeout-ms 2000 --grace 2 --seed 3 --quiet --out "$csv" \
        >"$DIR/$label.out" 2>&1 || fail "$label: wpctl traffic: $(tail -n 3 "$DIR/$label.out")"
    local sent ok
    sent=$(awk 'NR > 1' "$csv" | wc -l)
    ok=$(awk -F, 'NR > 1 && $7 == "ok"' "$csv" | wc -l)
    SERVED=$(awk -F, 'NR > 1 && $7 == "ok" {print $5}' "$csv" | sort -u | tr '\n' ' ')
    [ "$sent" -ge 20 ] || fail "$label: only $sent requests sent"
    [ "$ok" = "$sent" ] || fail "$label: $ok of $sent ok: $(awk -F, 'NR > 1 && $7 != "ok" {print $5, $7, $8}' "$csv" | sort | uniq -c | head -5)"
    case " $SERVED " in *" cdg-1 "*) fail "$label: cdg-1 (no GPU) served a request";; esac
    step "$label: $ok of $sent ok, served by: $SERVED"
}
L=$LEADER
LCITY=${CITIES[$L]}
LID=$(echo "$LCITY" | tr 'A-Z' 'a-z')-1
traffic before $M

case " $SERVED " in *" $LID "*) ;; *) fail "before: $LID (nearest to CDG) served nothing";; esac

# --------------------------------------------- 3. cut the leader's host off
MAJ=""
MAJ_CITIES=""
for h in 1 2 3; do
    [ $h = $L ] && continue
    MAJ="$MAJ${MAJ:+,}$NET.$h:7101"
    MAJ_CITIES="$MAJ_CITIES${MAJ_CITIES:+,}${CITIES[$h]}"
done
now=$(status_of 4 "$PL_ALL" | jq -r '[.servers[] | select(.role == "leader") | .id] | first // 0')
ip -n "$SW" link set "p$L" down || fail "cannot take p$L down"
step "partition: h$L ($LID, placement $L; leader before the cut: server $now) cut off"

seen=alive
for _ in $(seq 1 100); do
    seen=$(inns 4 "$WPCTL" nodes --endpoint "$NET.4:7401" --json 2>/dev/null |
        jq -r --arg id "$LID" '.[] | select(.id == $id) | .status' 2>/dev/null)
    [ -n "$seen" ] && [ "$seen" != alive ] && break
    sleep 0.1
done
[ -n "$seen" ] && [ "$seen" != alive ] || fail "cdg-1 still sees $LID $seen"
step "gossip: cdg-1 sees $LID $seen"

acked=0
for _ in $(seq 1 8); do
    if inns 4 "$WPCTL" pin mh-b "$MAJ_CITIES" --endpoint "$MAJ" >"$DIR/pin-b.out" 2>&1; then
        acked=1; break
    fi
    sleep 0.3
done
[ $acked = 1 ] || fail "the majority did not commit the pin of mh-b: $(cat "$DIR/pin-b.out")"
NEW=$(status_of 4 "$MAJ" | jq -r '[.servers[] | select(.role == "leader") | .id] | first // 0')
step "majority: server $NEW leads, pin mh-b $MAJ_CITIES acknowledged"

if inns "$L" "$WPCTL" pin mh-c "$LCITY" --endpoint "$NET.$L:7101" >"$DIR/pin-c.out" 2>&1; then
    fail "the cut-off server $L acknowledged a pin: $(cat "$DIR/pin-c.out")"
fi
role=$(status_of "$L" "$NET.$L:7101" | jq -r '.servers[0].role')
step "minority: pin mh-c refused ($(tail -n 1 "$DIR/pin-c.out")); server $L is $role"

traffic partitioned $M
case " $SERVED " in *" $LID "*) fail "partitioned: the cut-off $LID served requests";; esac

# --------------------------------------------- 4. heal and converge
ip -n "$SW" link set "p$L" up || fail "cannot bring p$L up"
step "healed: p$L up"
conv=""
for _ in $(seq 1 300); do
    conv=$(status_of 4 "$PL_ALL" | jq -r '
        [.servers[] | select(.reachable)] as $s
        | if ($s | length) == 3
             and ([$s[] | .leader_id] | unique | length) == 1
             and ([$s[] | select(.role == "leader")] | length) == 1
             and ([$s[] | .commit_index] | unique | length) == 1
             and ([$s[] | .last_applied] | unique | length) == 1
             and ([$s[] | .pins] | unique | length) == 1
             and ($s[0].commit_index == $s[0].last_applied)
          then "ok \($s[0].leader_id) \($s[0].commit_index) \($s[0].pins)" else "no" end' 2>/dev/null)
    case "$conv" in ok*) break;; esac
    sleep 0.1
done
case "$conv" in ok*) ;; *) fail "placement did not converge: $(status_of 4 "$PL_ALL")";; esac
set -- $conv
# 3 pins of the model + 2 of mh-b, on every server (the cut-off one too).
[ "$4" = 5 ] || fail "after healing every server holds $4 pins, not the 5 acknowledged"
step "placement converged: leader $2, commit index $3 on all three, $4 pins each"
pins=$(inns 4 "$WPCTL" placement --endpoint "$PL_ALL" --json |
    jq -r '.pins[] | "\(.model)@\(.city)"' | sort | tr '\n' ' ')
want_b=$(echo "$MAJ_CITIES" | tr ',' '\n' | sed 's/^/mh-b@/' | sort | tr '\n' ' ')
for p in $M@AMS $M@FRA $M@LHR $want_b; do
    case " $pins " in *" $p "*) ;; *) fail "acknowledged pin $p lost; pins: $pins";; esac
done
case " $pins " in *" mh-c@"*) fail "the refused pin of mh-c is in the state: $pins";; esac
step "pins after healing: $pins"

for h in 1 2 3 4; do
    n=0
    for _ in $(seq 1 300); do
        n=$(members_alive $h)
        [ "${n:-0}" -ge 4 ] && break
        sleep 0.1
    done
    [ "${n:-0}" -ge 4 ] || fail "host $h's node sees $n alive members after healing, not 4"
done
step "gossip converged: every node sees 4 alive"
traffic healed $M

# --------------------------------------------- 5. clean stop, clean logs
for pid in "${PIDS[@]}"; do kill -TERM "$pid"; done
for i in "${!PIDS[@]}"; do
    wait "${PIDS[$i]}"
    rc=$?
    [ $rc = 0 ] || fail "${NAMES[$i]} exited with status $rc after SIGTERM"
done
PIDS=()
wp_logs_clean "$DIR"/logs/*.log || fail "sanitizer report in a daemon log"
step "every daemon stopped cleanly"
echo PASS
