#!/usr/bin/env bash
# moevk info on every oracle model and on a synthesised model of each architecture.
# Usage: tests/cli/info.sh path/to/moevk. Under CI=true a missing ../shared is a failure; elsewhere the
# oracle part is skipped with a message (the synth part always runs).
source "$(dirname "$0")/lib.sh"

# Checks one model: info works, --min-gpu-mem's last line is an integer, a budget one byte below it is
# refused with a clear error, the minimum itself is accepted, the size breakdown adds up.
check_model() {
  local m=$1 out min
  if ! out=$("$MOEVK" info "$m" --min-gpu-mem 2>"$TMP/err"); then
    fail "$m: info failed: $(cat "$TMP/err")"; return
  fi
  min=$(printf '%s\n' "$out" | tail -n 1)
  [[ $min =~ ^[0-9]+$ ]] || { fail "$m: last line of --min-gpu-mem is not an integer: '$min'"; return; }
  # header + data + padding == file size, and the file size is the real one.
  local header data gaps tail size real
  header=$(printf '%s\n' "$out" | awk '/^  header/ {print $(NF-1)}')
  data=$(printf '%s\n' "$out" | awk '/^  tensor data/ {print $(NF-1)}')
  gaps=$(printf '%s\n' "$out" | awk '/^  padding between/ {print $(NF-1)}')
  tail=$(printf '%s\n' "$out" | awk '/^  padding after/ {print $(NF-1)}')
  size=$(printf '%s\n' "$out" | awk '/^  file size/ {print $(NF-3)}')
  real=$(stat -c %s "$m")
  [[ $size == "$real" ]] || fail "$m: file size printed $size, real $real"
  (( header + data + gaps + tail == real )) || fail "$m: $header + $data + $gaps + $tail != $real"
  if "$MOEVK" info "$m" --gpu-mem $((min - 1)) >/dev/null 2>"$TMP/err"; then
    fail "$m: budget $((min - 1)) (one byte below the minimum) was accepted"
  elif ! grep -q "below the minimum" "$TMP/err" || ! grep -q "($min bytes)" "$TMP/err" ||
       ! grep -q "($((min - 1)) bytes)" "$TMP/err" || ! grep -q "non-expert weights" "$TMP/err"; then
    fail "$m: refusal does not name the budget and the minimum: $(head -n 1 "$TMP/err")"
  fi
  "$MOEVK" info "$m" --gpu-mem "$min" >/dev/null 2>"$TMP/err" ||
    fail "$m: the minimum budget $min itself was refused: $(head -n 1 "$TMP/err")"
  echo "ok   $(basename "$m"): min $min bytes"
}

# --help and usage errors.
"$MOEVK" info --help | grep -q -- "--min-gpu-mem" || fail "info --help"
"$MOEVK" info >/dev/null 2>&1 && fail "info without a model succeeded"

# Malformed input: clear errors and a non-zero exit, never a crash.
printf 'GGUF\x03\x00\x00\x00garbage' >"$TMP/bad.gguf"
"$MOEVK" info "$TMP/bad.gguf" >/dev/null 2>"$TMP/err"
rc=$?
{ ((rc == 1)) && grep -q "error:" "$TMP/err"; } || fail "garbage file: rc $rc, '$(cat "$TMP/err")'"
"$MOEVK" info "$TMP/missing.gguf" >/dev/null 2>&1 && fail "a missing file was accepted"

# Synthesised models of every architecture.
for arch in qwen3moe llama olmoe qwen2moe deepseek2 gpt-oss; do
  "$MOEVK" synth --arch "$arch" --type Q4_K --layers 3 -o "$TMP/$arch.gguf" >/dev/null 2>"$TMP/err" ||
    { fail "synth $arch: $(cat "$TMP/err")"; continue; }
  check_model "$TMP/$arch.gguf"
done
m="$TMP/qwen3moe.gguf"
if [[ -f $m ]]; then
  "$MOEVK" info "$m" --gpu-mem 6X >/dev/null 2>"$TMP/err" && fail "--gpu-mem 6X accepted"
  grep -q "unknown unit" "$TMP/err" || fail "--gpu-mem 6X: $(cat "$TMP/err")"
  "$MOEVK" info "$m" --gpu-mem 64G | grep -q "plan: resident" || fail "64G is not resident"
  # A truncated copy: the error names what is wrong.
  head -c 100000 "$m" >"$TMP/trunc.gguf"
  "$MOEVK" info "$TMP/trunc.gguf" >/dev/null 2>"$TMP/err" && fail "a truncated file was accepted"
  grep -q "error:" "$TMP/err" || fail "truncated file: no error message"
fi

# The oracle models.
if [[ -d $SHARED/oracle/models ]]; then
  n=0
  for m in "$SHARED"/oracle/models/*.gguf; do
    check_model "$m"
    n=$((n + 1))
  done
  ((n > 0)) || fail "no models in $SHARED/oracle/models"
elif [[ ${CI:-} == true ]]; then
  fail "shared data not found at $SHARED (CI=true: required)"
else
  echo "skipped: shared data not found at $SHARED (oracle models not checked)"
fi

finish
