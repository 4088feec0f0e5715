#!/usr/bin/env bash
# Fuzz with libFuzzer (+ASan +UBSan) for N seconds each (default 60): the GGUF reader (fuzz_gguf), then
# the Jinja engine and chat rendering over template source + messages (fuzz_template).
#   scripts/fuzz.sh [SECONDS] [BUILD_DIR]        (BUILD_DIR default: build-fuzz)
# GGUF seeds: the raw/writer-made valid files, the hostile corpus, and the first 64 KiB of every GGUF
# file under ../shared/oracle/models and ../shared/vocab (when present). Template seeds: hostile
# templates and the chat templates of ../shared/vocab. Crashes land in BUILD_DIR/artifacts.
set -euo pipefail
secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$root/build-fuzz}
shared=${MOEVK_SHARED_DIR:-$root/../shared}

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DMOEVK_FUZZ=ON >/dev/null
ninja -C "$build" -j"${JOBS:-2}" fuzz_gguf fuzz_template fuzz_seeds

seeds="$build/fuzz_seeds_corpus"
corpus="$build/fuzz_corpus"
mkdir -p "$seeds" "$corpus" "$build/artifacts"
shopt -s nullglob
"$build/tests/fuzz/fuzz_seeds" "$seeds" "$shared"/oracle/models/*.gguf "$shared"/vocab/*.gguf

# The first corpus directory receives new inputs; the seeds stay untouched.
"$build/tests/fuzz/fuzz_gguf" "$corpus" "$seeds" -max_total_time="$secs" -max_len=65536 \
  -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$build/artifacts/"

tseeds="$build/fuzz_template_seeds"
tcorpus="$build/fuzz_template_corpus"
mkdir -p "$tseeds" "$tcorpus"
"$build/tests/fuzz/fuzz_seeds" --templates "$tseeds" "$shared"/vocab/*.gguf
"$build/tests/fuzz/fuzz_template" "$tcorpus" "$tseeds" -max_total_time="$secs" -max_len=65536 \
  -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$build/artifacts/template-"
echo "fuzz.sh: no crash in ${secs}s of each target"
