#!/usr/bin/env bash
# Install what warmpath needs to build and test, if it is missing.
# Idempotent: checks first (pkg-config and command look-ups), installs with
# apt-get only what is absent. As root it installs; otherwise it prints the
# exact command to run with sudo and exits non-zero.
set -euo pipefail

pkgs=()
need_pc() { # pkg-config-name debian-package
    if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists "$1"; then
        pkgs+=("$2")
    fi
}
need_cmd() { # command debian-package
    command -v "$1" >/dev/null 2>&1 || pkgs+=("$2")
}

need_cmd pkg-config pkg-config
need_cmd cmake cmake
need_cmd make make
need_cmd cc gcc
need_cmd protoc-c protobuf-c-compiler
need_cmd jq jq   # tests parse JSON with jq
need_cmd ip iproute2  # the multihost test: network namespaces, veth, a bridge
need_pc libzmq libzmq3-dev
need_pc libsodium libsodium-dev  # keys: Ed25519 signatures, CURVE key derivation
need_pc libprotobuf-c libprotobuf-c-dev
need_pc raft libraft-dev
need_pc libuv libuv1-dev
need_pc msgpack libmsgpack-dev
need_pc cmocka libcmocka-dev
# The html test opens reports in a real browser (large: only when absent).
need_cmd chromium chromium
need_pc libmicrohttpd libmicrohttpd-dev  # the daemons' /metrics endpoint
need_cmd curl curl                       # tests fetch /metrics
need_cmd promtool prometheus             # tests: promtool check metrics, a real Prometheus

# pkg-config itself missing makes every need_pc fire: de-duplicate.
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]+"${pkgs[@]}"}" | awk 'NF && !seen[$0]++')

if [ ${#pkgs[@]} -eq 0 ]; then
    exit 0
fi

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${pkgs[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages: ${pkgs[*]}" >&2
    echo "deps: run this, then retry:" >&2
    echo "  sudo sh -c '$cmd'" >&2
    exit 1
fi
echo "deps: installing ${pkgs[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
