#!/bin/sh
# Configures and builds gridstor into a build folder (default ./build).
# usage: scripts/build.sh [BUILD_DIR] [extra cmake arguments...]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-"$top/build"}
[ $# -gt 0 ] && shift
cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
