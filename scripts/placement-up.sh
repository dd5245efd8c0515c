#!/bin/sh
# placement-up.sh — start a local cluster of wp-placement servers in the
# background (for trying the placement commands and for manual tests;
# `wpctl cluster up` will do this for a whole cluster).
#
#   scripts/placement-up.sh [-b BUILD] [-n SERVERS] [-p BASE_PORT] [-t TOPOLOGY] DIR
#   scripts/placement-up.sh -k DIR        # stop them (SIGTERM, then SIGKILL)
#
# Server i (1..N) uses raft 127.0.0.1:BASE+i and API tcp://127.0.0.1:BASE+100+i,
# data DIR/placement-i, log DIR/placement-i.log. Writes DIR/placement.endpoints
# (what `wpctl ... --dir DIR` reads) and DIR/placement.pids.
set -eu
BUILD=build N=3 BASE=7400 TOPO=tiny KILL=0
while getopts "b:n:p:t:k" o; do
  case $o in
    b) BUILD=$OPTARG ;; n) N=$OPTARG ;; p) BASE=$OPTARG ;; t) TOPO=$OPTARG ;; k) KILL=1 ;;
    *) echo "usage: $0 [-b BUILD] [-n SERVERS] [-p BASE_PORT] [-t TOPOLOGY] DIR | -k DIR" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "usage: $0 [options] DIR" >&2; exit 2; }
DIR=$1
if [ "$KILL" = 1 ]; then
  [ -f "$DIR/placement.pids" ] || { echo "$0: no $DIR/placement.pids" >&2; exit 1; }
  for pid in $(cat "$DIR/placement.pids"); do kill "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in $(cat "$DIR/placement.pids"); do kill -9 "$pid" 2>/dev/null || true; done
  rm -f "$DIR/placement.pids"
  exit 0
fi
BIN=$BUILD/placement/wp-placement
[ -x "$BIN" ] || { echo "$0: $BIN not built" >&2; exit 1; }
mkdir -p "$DIR"
PEERS=""
i=1
while [ $i -le "$N" ]; do
  PEERS="$PEERS${PEERS:+,}$i=127.0.0.1:$((BASE + i))@tcp://127.0.0.1:$((BASE + 100 + i))"
  i=$((i + 1))
done
: > "$DIR/placement.endpoints"
: > "$DIR/placement.pids"
i=1
while [ $i -le "$N" ]; do
  "$BIN" --id $i --bind tcp://127.0.0.1:$((BASE + 100 + i)) --raft 127.0.0.1:$((BASE + i)) \
    --peers "$PEERS" --data-dir "$DIR/placement-$i" --topology "$TOPO" \
    2> "$DIR/placement-$i.log" &
  echo $! >> "$DIR/placement.pids"
  echo "tcp://127.0.0.1:$((BASE + 100 + i))" >> "$DIR/placement.endpoints"
  i=$((i + 1))
done
echo "started $N placement servers; endpoints in $DIR/placement.endpoints"
