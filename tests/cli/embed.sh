#!/usr/bin/env bash
# The embedding C API from the outside (issue 13): `cmake --install` to a temporary prefix, then
# examples/chat.c (C99, -Wall -Werror) and examples/own_device.cpp built against the installed
# package twice, with find_package(moevk) and with pkg-config, and run on a synthesised model (the
# own-device runs with the validation layer when MOEVK_VALIDATE=1). Also: the library exports only
# moevk_* and needs only libvulkan besides the C/C++ runtime.
# Usage: tests/cli/embed.sh path/to/moevk (the build folder is the binary's parent's parent).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=$(cd "$(dirname "$(readlink -f "$MOEVK")")/.." && pwd)
SRC=$(cd "$HERE/../.." && pwd)
PREFIX=$TMP/prefix

cmake --install "$BUILD" --prefix "$PREFIX" >"$TMP/install.log" 2>&1 || { fail "cmake --install: $(tail -5 "$TMP/install.log")"; finish; }
LIB=$(find "$PREFIX" -name 'libmoevk.so' | head -1)
[ -n "$LIB" ] || { fail "no libmoevk.so under $PREFIX"; finish; }
LIBDIR=$(dirname "$LIB")
for f in include/moevk.h include/moevk.hpp; do [ -f "$PREFIX/$f" ] || fail "not installed: $f"; done
[ -f "$LIBDIR/cmake/moevk/moevkConfig.cmake" ] || fail "no CMake package config"
[ -f "$LIBDIR/pkgconfig/moevk.pc" ] || fail "no pkg-config file"

# Exports and run-time dependencies.
others=$(nm -D --defined-only "$LIB" | awk '$2 ~ /[TDBRVW]/ {print $3}' | grep -v '^moevk_' | grep -v '^MOEVK_1$' || true)
[ -z "$others" ] || fail "libmoevk.so exports more than moevk_*: $(echo "$others" | head -5)"
nm -D --defined-only "$LIB" | grep -q ' moevk_session_generate' || fail "moevk_session_generate not exported"
deps=$(ldd "$LIB" | awk '{print $1}' | grep -Ev '^(linux-vdso|/lib64/ld-linux|libc\.so|libm\.so|libstdc\+\+\.so|libgcc_s\.so|libvulkan\.so|libpthread\.so|libdl\.so)' || true)
[ -z "$deps" ] || fail "libmoevk.so needs more than libvulkan and the C/C++ runtime: $deps"

# The model: small and fast.
m=$TMP/embed.gguf
"$MOEVK" synth --arch qwen3moe --type Q8_0 --seed 5 -o "$m" >/dev/null 2>&1 || { fail "synth"; finish; }

# find_package(moevk).
if cmake -S "$SRC/examples" -B "$TMP/ex" -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release >"$TMP/cfg.log" 2>&1 &&
   cmake --build "$TMP/ex" >"$TMP/build.log" 2>&1; then
  :
else
  fail "examples via find_package: $(tail -20 "$TMP/cfg.log" "$TMP/build.log" 2>/dev/null)"
fi
# pkg-config.
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig
cc -std=c99 -Wall -Wextra -pedantic -Werror "$SRC/examples/chat.c" $(pkg-config --cflags --libs moevk) \
  -o "$TMP/chat_pc" 2>"$TMP/cc.log" || fail "chat.c via pkg-config (C99 -Wall -Werror): $(cat "$TMP/cc.log")"
c++ -std=c++17 -Wall -Wextra -Werror -Wno-missing-field-initializers "$SRC/examples/own_device.cpp" $(pkg-config --cflags --libs moevk vulkan) \
  -o "$TMP/own_pc" 2>"$TMP/cxx.log" || fail "own_device.cpp via pkg-config: $(cat "$TMP/cxx.log")"

# Runs: a chat turn (tokens printed as they come), and the app's own device under a cap and a
# per-call budget of 2 ms (lavapipe needs more than that per token: one token per call).
check_chat() {
  local bin=$1
  MOEVK_VALIDATE=1 LD_LIBRARY_PATH=$LIBDIR "$bin" "$m" "Hello there" 8 >"$TMP/chat.out" 2>"$TMP/chat.err"
  local rc=$?
  [ $rc -eq 0 ] || { fail "$bin exited $rc: $(tail -5 "$TMP/chat.err")"; return; }
  grep -q '^> Hello there' "$TMP/chat.out" || fail "$bin: no question echoed: $(cat "$TMP/chat.out")"
  grep -q 'chat: prompt [0-9]* tokens' "$TMP/chat.err" || fail "$bin: no stats line: $(cat "$TMP/chat.err")"
  grep -q 'Vulkan validation' "$TMP/chat.err" && fail "$bin: validation messages: $(grep -m3 'Vulkan validation' "$TMP/chat.err")"
}
check_own() {
  local bin=$1
  LD_LIBRARY_PATH=$LIBDIR "$bin" "$m" 64 2000 6 >"$TMP/own.out" 2>"$TMP/own.err"
  local rc=$?
  [ $rc -eq 0 ] || { fail "$bin exited $rc: $(tail -5 "$TMP/own.err")"; return; }
  local calls
  calls=$(grep -c '^call [0-9]*: [0-9]* token(s) in [0-9]* us' "$TMP/own.out")
  [ "$calls" -ge 2 ] || fail "$bin: expected several budgeted calls, got $calls: $(cat "$TMP/own.out")"
  grep -q '^call 0: 1 token(s)' "$TMP/own.out" || fail "$bin: the first 2 ms call did more than one token: $(head -3 "$TMP/own.out")"
  local alloc cap
  read -r alloc cap < <(sed -n 's/^VRAM: \([0-9]*\) bytes allocated (peak \([0-9]*\)) under a cap of \([0-9]*\)$/\2 \3/p' "$TMP/own.out")
  [ -n "$alloc" ] && [ "$cap" -eq $((64 << 20)) ] && [ "$alloc" -le "$cap" ] || fail "$bin: VRAM line wrong: $(grep VRAM "$TMP/own.out")"
}
[ -x "$TMP/ex/chat" ] && check_chat "$TMP/ex/chat"
[ -x "$TMP/ex/own_device" ] && check_own "$TMP/ex/own_device"
[ -x "$TMP/chat_pc" ] && check_chat "$TMP/chat_pc"
[ -x "$TMP/own_pc" ] && check_own "$TMP/own_pc"
# The CLI's command on the public API: one token per call, then the totals.
"$MOEVK" embed -m "$m" -p "Hello" -n 4 --budget-tokens 1 --gpu-mem 64M >"$TMP/cli.out" 2>"$TMP/cli.err" ||
  fail "moevk embed: $(tail -3 "$TMP/cli.err")"
[ "$(grep -c '^\[call [0-9]*: [01] token(s) in [0-9]* us\]' "$TMP/cli.err")" -ge 4 ] ||
  fail "moevk embed: expected a line per one-token call: $(cat "$TMP/cli.err")"
grep -q 'cap 67108864)' "$TMP/cli.err" || fail "moevk embed: no VRAM line with the cap: $(tail -2 "$TMP/cli.err")"
refuse "MOEVK_ERR_OUT_OF_MEMORY" "$MOEVK" embed -m "$m" -p "Hello" --gpu-mem 1M
# Below the C API's minimum budget: a usage error before the model loads (the API's own refusal,
# MOEVK_ERR_INVALID_ARGUMENT, is tests/api's).
"$MOEVK" embed -m "$m" -p "Hello" --budget-us 5 >/dev/null 2>"$TMP/err"
rc=$?; [ $rc -eq 2 ] && grep -q "option --budget-us: 5 is out of range \[100," "$TMP/err" ||
  fail "embed --budget-us 5: rc $rc: $(cat "$TMP/err")"
# A cap far below the model: a clean error, no crash.
LD_LIBRARY_PATH=$LIBDIR "$TMP/own_pc" "$m" 1 2000 2 >/dev/null 2>"$TMP/err" && fail "own_device ran under a 1 MiB cap"
grep -q "MOEVK_ERR_OUT_OF_MEMORY" "$TMP/err" || fail "1 MiB cap: no out-of-memory error: $(cat "$TMP/err")"
finish
