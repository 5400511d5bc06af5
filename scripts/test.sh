#!/bin/sh
# The whole gridstor test suite: installs what it needs, builds with warnings as
# errors and runs every test, then does the same in an AddressSanitizer +
# UndefinedBehaviorSanitizer build.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
"$top/scripts/install-deps.sh"

echo "== build (warnings are errors) and test"
"$top/scripts/build.sh" "$top/build-test" -DGS_WERROR=ON
(cd "$top/build-test" && ctest --output-on-failure -j "$jobs")

echo "== build with address,undefined sanitizers and test"
"$top/scripts/build.sh" "$top/build-asan" -DGS_WERROR=ON -DGS_SANITIZE=address,undefined -DGS_FUZZ=ON \
    -DCMAKE_C_COMPILER=clang
(cd "$top/build-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j "$jobs")
