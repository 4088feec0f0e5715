#!/usr/bin/env bash
# Installs, builds and runs every test: doctest suites through ctest (on lavapipe with the validation
# layer on), the CLI scripts, the GGUF reader under ASan+UBSan and a bounded fuzzing run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# Tests must find a Vulkan device: there is no silent skip.
if ! vulkaninfo --summary >/dev/null 2>&1; then
  echo "moevk tests: no Vulkan device (is mesa-vulkan-drivers installed?)" >&2
  exit 1
fi
ctest --test-dir build --output-on-failure -j"$(nproc)"
if [ -x scripts/sanitize.sh ]; then scripts/sanitize.sh; fi
if [ -x scripts/fuzz.sh ]; then scripts/fuzz.sh "${MOEVK_FUZZ_SECONDS:-60}"; fi
echo "moevk: all tests passed"
