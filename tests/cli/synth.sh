#!/usr/bin/env bash
# moevk synth: every architecture and several types load back; files are never replaced without
# --force; bad options are clear errors. Usage: tests/cli/synth.sh path/to/moevk
source "$(dirname "$0")/lib.sh"

"$MOEVK" synth --help >"$TMP/help" && grep -q -- "--arch" "$TMP/help" || fail "synth --help"

for arch in qwen3moe llama olmoe qwen2moe deepseek2 gpt-oss; do
  for type in F32 Q8_0 Q4_0 Q5_K Q6_K IQ4_XS MXFP4; do
    f="$TMP/$arch-$type.gguf"
    if ! "$MOEVK" synth --arch "$arch" --type "$type" --seed 3 -o "$f" >"$TMP/out" 2>&1; then
      fail "synth $arch $type: $(cat "$TMP/out")"; continue
    fi
    grep -q "^wrote $f: $arch" "$TMP/out" || fail "synth $arch $type: $(cat "$TMP/out")"
    "$MOEVK" info "$f" >/dev/null 2>"$TMP/err" || fail "info $arch $type: $(cat "$TMP/err")"
  done
  echo "ok   $arch"
done

# Same seed -> same file; other seed -> other file.
"$MOEVK" synth --arch olmoe --seed 5 -o "$TMP/a.gguf" >/dev/null &&
  "$MOEVK" synth --arch olmoe --seed 5 -o "$TMP/b.gguf" >/dev/null &&
  "$MOEVK" synth --arch olmoe --seed 6 -o "$TMP/c.gguf" >/dev/null || fail "synth olmoe seeds"
cmp -s "$TMP/a.gguf" "$TMP/b.gguf" || fail "the same seed gave different files"
cmp -s "$TMP/a.gguf" "$TMP/c.gguf" && fail "different seeds gave the same file"

# The thread count changes nothing; --vocab pads the vocabulary (and token_embd / output rows).
"$MOEVK" synth --arch qwen3moe --type Q4_K --vocab 3000 --threads 1 -o "$TMP/t1.gguf" >/dev/null &&
  "$MOEVK" synth --arch qwen3moe --type Q4_K --vocab 3000 --threads 3 -o "$TMP/t3.gguf" >"$TMP/out" &&
  "$MOEVK" synth --arch qwen3moe --type Q4_K -o "$TMP/t0.gguf" >/dev/null ||
  fail "synth --threads / --vocab"
cmp -s "$TMP/t1.gguf" "$TMP/t3.gguf" || fail "--threads 1 and --threads 3 gave different files"
grep -q "vocab 3000," "$TMP/out" || fail "--vocab 3000: $(cat "$TMP/out")"
"$MOEVK" info "$TMP/t3.gguf" | grep -Eq "n_vocab +3000" || fail "info of the --vocab 3000 file"
ids=$("$MOEVK" tokenize -m "$TMP/t3.gguf" -p "The router [PAD2999] chooses." 2>&1) &&
  [[ $ids == $("$MOEVK" tokenize -m "$TMP/t0.gguf" -p "The router [PAD2999] chooses." 2>&1) ]] ||
  fail "the padded vocabulary tokenizes differently: $ids"

# Never lose user data.
echo "precious" >"$TMP/user.gguf"
"$MOEVK" synth --arch llama -o "$TMP/user.gguf" >/dev/null 2>"$TMP/err" && fail "overwrote a file without --force"
grep -q "already exists" "$TMP/err" || fail "no-overwrite message: $(cat "$TMP/err")"
[[ $(cat "$TMP/user.gguf") == precious ]] || fail "the existing file was changed"
"$MOEVK" synth --arch llama -o "$TMP/user.gguf" --force >/dev/null || fail "--force did not replace"
"$MOEVK" info "$TMP/user.gguf" >/dev/null || fail "the --force file does not load"
ls -A "$TMP" | grep -q '\.tmp-' && fail "a temporary file was left behind"

# Options: non-default shapes, and clear errors for bad ones.
"$MOEVK" synth --arch qwen3moe --layers 4 --embd 512 --heads 8 --heads-kv 4 --head-dim 64 --experts 16 \
  --experts-used 4 --ff-exp 512 --ctx 1024 --merges 50 -o "$TMP/big.gguf" >/dev/null ||
  fail "synth with shape options"
"$MOEVK" info "$TMP/big.gguf" | grep -q "4 used of 16" || fail "shape options not applied"
expect_error() {  # expect_error PATTERN ARGS...
  local pat=$1
  shift
  if "$MOEVK" synth "$@" >/dev/null 2>"$TMP/err"; then
    fail "synth $* succeeded"
  elif ! grep -q -- "$pat" "$TMP/err"; then
    fail "synth $*: expected '$pat', got: $(cat "$TMP/err")"
  fi
}
expect_error "unknown architecture" --arch bert -o "$TMP/x.gguf"
expect_error "unsupported weight type" --arch olmoe --type Q9_9 -o "$TMP/x.gguf"
expect_error "expected a non-negative integer" --arch olmoe --seed abc -o "$TMP/x.gguf"
expect_error "out of range" --arch olmoe --layers 0 -o "$TMP/x.gguf"
expect_error "expert_used_count" --arch olmoe --experts 4 --experts-used 5 -o "$TMP/x.gguf"
expect_error "smaller than" --arch olmoe --vocab 300 -o "$TMP/x.gguf"
expect_error "out of range" --arch olmoe --threads 0 -o "$TMP/x.gguf"
expect_error "required" --arch olmoe
expect_error "cannot" --arch olmoe -o "$TMP/no/such/dir/x.gguf"
[[ -e $TMP/x.gguf ]] && fail "a failed synth left a file"


# Presets (issue 9 part 5): --help and --list-presets name all six; each real shape cut to one layer
# (vocabulary 1000) loads with its model's hyper-parameters and llama.cpp's type mix; qwen3 and
# olmoe run on the device; --type forces one type; conflicting options are usage errors (exit 2).
presets="qwen3-30b-a3b gpt-oss-20b mixtral-8x7b olmoe-1b-7b deepseek-v2-lite qwen1.5-moe-a2.7b"
"$MOEVK" synth --help >"$TMP/help" && "$MOEVK" synth --list-presets >"$TMP/list" ||
  fail "synth --help / --list-presets"
for p in $presets; do
  grep -q "^  $p " "$TMP/help" || fail "synth --help does not list preset $p"
  grep -q "^$p " "$TMP/list" || fail "synth --list-presets does not list preset $p"
done
preset() {  # preset NAME [ARGS...]: writes $TMP/NAME.gguf at one layer, vocabulary 1000; its info
  local p=$1
  shift
  if ! "$MOEVK" synth --preset "$p" --layers 1 --vocab 1000 "$@" -o "$TMP/$p.gguf" >"$TMP/out" 2>&1; then
    fail "synth --preset $p: $(cat "$TMP/out")"; return 1
  fi
  "$MOEVK" info "$TMP/$p.gguf" >"$TMP/$p.info" 2>&1 || { fail "info of preset $p: $(cat "$TMP/$p.info")"; return 1; }
}
expect_info() {  # expect_info PRESET REGEX...: every regex matches a line of the preset's info
  local p=$1
  shift
  for re in "$@"; do grep -Eq -- "$re" "$TMP/$p.info" || fail "info of preset $p lacks /$re/"; done
}
if preset qwen3-30b-a3b; then
  expect_info qwen3-30b-a3b "^name +moevk-synth-qwen3-30b-a3b" "^n_embd +2048$" "^n_vocab +1000$" \
    "^heads \(q / kv\) +32 / 4$" "^experts +8 used of 128, ff 768$" "base 1000000" "^n_ctx_train +40960$" \
    "^  Q4_K +6 tensors" "^  Q6_K +3 tensors"
  "$MOEVK" run -m "$TMP/qwen3-30b-a3b.gguf" -p "The router" -n 2 --temp 0 >"$TMP/out" 2>&1 ||
    fail "run of the qwen3-30b-a3b preset: $(cat "$TMP/out")"
fi
if preset olmoe-1b-7b --type Q4_K; then  # --type: every weight matrix Q4_K
  expect_info olmoe-1b-7b "^experts +8 used of 64, ff 1024$" "^  Q4_K +9 tensors"
  grep -Eq "^  Q6_K" "$TMP/olmoe-1b-7b.info" && fail "--type Q4_K left Q6_K tensors in the olmoe preset"
  "$MOEVK" run -m "$TMP/olmoe-1b-7b.gguf" -p "The router" -n 2 --temp 0 >"$TMP/out" 2>&1 ||
    fail "run of the olmoe-1b-7b preset: $(cat "$TMP/out")"
fi
preset gpt-oss-20b && expect_info gpt-oss-20b "^n_embd +2880$" "^  MXFP4 +3 tensors" "^  Q8_0 +6 tensors"
preset mixtral-8x7b && expect_info mixtral-8x7b "^n_embd +4096$" "^  Q8_0 +2 tensors" "^  Q5_K +1 tensors"
preset deepseek-v2-lite && expect_info deepseek-v2-lite "^n_vocab +1000$" "^  Q5_0 " "^  Q8_0 "
preset qwen1.5-moe-a2.7b && expect_info qwen1.5-moe-a2.7b "^experts +4 used of 60, ff 1408$" "^  Q8_0 "
rm -f "$TMP"/*.gguf
exit_code() {  # exit_code WANT ARGS...: moevk synth ARGS exits with WANT
  local want=$1
  shift
  "$MOEVK" synth "$@" >/dev/null 2>"$TMP/err"
  local rc=$?
  [[ $rc == "$want" ]] || fail "synth $*: exit $rc, want $want: $(cat "$TMP/err")"
}
exit_code 2 --preset qwen9 -o "$TMP/x.gguf"
exit_code 2 --preset olmoe-1b-7b --arch olmoe -o "$TMP/x.gguf"
exit_code 2 --preset olmoe-1b-7b --embd 512 -o "$TMP/x.gguf"
exit_code 2 --preset olmoe-1b-7b --experts 8 -o "$TMP/x.gguf"
exit_code 2 --preset olmoe-1b-7b --layers 17 -o "$TMP/x.gguf"
exit_code 2 --preset olmoe-1b-7b --vocab 300 -o "$TMP/x.gguf"
expect_error "unknown preset" --preset qwen9 -o "$TMP/x.gguf"
expect_error "cannot be used with --preset" --preset olmoe-1b-7b --heads 8 -o "$TMP/x.gguf"
[[ -e $TMP/x.gguf ]] && fail "a refused preset left a file"

finish
