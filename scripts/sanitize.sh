#!/usr/bin/env bash
# Builds test_loader with ASan + UBSan (-DMOEVK_SANITIZE=ON) and runs it: the hostile GGUF corpus,
# truncations, byte corruptions, the shared oracle/vocab files and the quant tests.
#   scripts/sanitize.sh [BUILD_DIR] [doctest args...]     (BUILD_DIR default: build-sanitize)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-sanitize}
shift || true
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOEVK_SANITIZE=ON >/dev/null
ninja -C "$build" -j"${JOBS:-2}" test_loader
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$build/tests/test_loader" "$@"
