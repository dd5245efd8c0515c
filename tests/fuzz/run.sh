#!/bin/sh
# run.sh TARGET [SECONDS] [BUILD_DIR] — builds one libFuzzer harness from
# fuzz_targets.c with clang (ASan + UBSan + libFuzzer) and runs it for
# SECONDS (default 60) on one core. Needs a configured build dir (default
# build-asan) for the generated sources (topology presets, protobuf).
# ctest runs every target for a few seconds without libFuzzer
# (tests/fuzz.cmake, replay.c); this is the deep, coverage-guided run.
# Crashes land in tests/fuzz/out/TARGET/.
#   TARGET: PLACE_CMD PLACE_SNAP PL_FRAME LLAMA_HDR TOPO_CSV SIM_SCENARIO
#           SIM_TRACE MSGPACK_CHECK GOSSIP_RECV INFER_FRAME ADMIN_FRAME TOPOJSON
set -eu
target=${1:?usage: run.sh TARGET [SECONDS] [BUILD_DIR]}
secs=${2:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
bdir=${3:-$root/build-asan}
out=$root/tests/fuzz/out/$target
mkdir -p "$out/corpus"
srcs="$root/common/*.c $root/topology/regions.c $root/topology/countries.c
      $root/topology/rtt.c $root/topology/topology.c $root/topology/users.c
      $bdir/topology/topo_data.c $root/router/*.c $root/sim/*.c
      $root/placement/optimizer.c $root/placement/codec.c $root/placement/state.c
      $root/placement/geo.c $root/placement/client.c $bdir/proto/gen/proto/*.pb-c.c
      $root/gpu_worker/format.c $root/gpu_worker/cpu.c $root/gpu_worker/backend.c
      $root/gpu_worker/residency.c $root/gpu_worker/timing.c $root/gpu_worker/worker.c
      $root/node/gossip.c $root/node/gossip_state.c $root/node/gossip_recv.c
      $root/node/gossip_tick.c $root/node/codec.c $root/node/infer_codec.c
      $root/tools/wpctl/html_map.c $bdir/tools/wpctl_map_data.c"
# shellcheck disable=SC2086
clang -std=c11 -g -O1 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DWP_FUZZ_$target \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root" -I"$bdir" -I"$bdir/proto/gen" $(pkg-config --cflags msgpack) \
    -o "$out/fuzz" "$root/tests/fuzz/fuzz_targets.c" $srcs \
    $(pkg-config --libs msgpack libzmq libprotobuf-c) -lm -ldl -lpthread
# Seeds: small valid inputs of each kind (the placement targets write
# their own from LLVMFuzzerInitialize).
case $target in
TOPO_CSV) head -4 "$root/topology/data/tiny.csv" > "$out/corpus/seed_tiny.csv" ;;
SIM_TRACE)
    head -5 "$root/tests/fixtures/sim/azure_conv_300.csv" > "$out/corpus/seed_azure.csv"
    head -5 "$root/tests/fixtures/sim/mooncake_300.csv" > "$out/corpus/seed_mooncake.csv" ;;
SIM_SCENARIO)
    "$bdir/tools/wpctl" sim --show edge > "$out/corpus/seed_edge.conf" || true
    "$bdir/tools/wpctl" sim --show regional > "$out/corpus/seed_regional.conf" || true ;;
esac
cd "$out"
exec ./fuzz -max_total_time="$secs" -rss_limit_mb=1024 -malloc_limit_mb=512 \
    -timeout=5 -max_len=4096 corpus
