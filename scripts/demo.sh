#!/usr/bin/env bash
# make demo: the best main job the project can run today.
set -euo pipefail
BUILD=${1:-build}
WPCTL="$BUILD/tools/wpctl"
"$WPCTL" version
