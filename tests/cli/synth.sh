#!/usr/bin/env bash
# moevk synth: every architecture and several types load back; files are never replaced without
# --force; bad options are clear errors. Usage: tests/cli/synth.sh path/to/moevk
source "$(dirname "$0")/lib.sh"

"$MOEVK" synth --help | grep -q -- "--arch" || fail "synth --help"

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

finish
