#!/usr/bin/env bash
# One validation of a GGUF for every command (loader/model/validate.h): a file that one command refuses
# is refused by all of them with the same message, and a vocabulary-only file (no tensors) works for
# tokenize and template and is refused by name by the commands that need weights.
# Usage: tests/cli/validate.sh path/to/moevk. Under CI=true a missing ../shared is a failure.
source "$(dirname "$0")/lib.sh"
T="timeout 300"

m=$TMP/m.gguf
"$MOEVK" synth --arch qwen3moe --type Q8_0 --seed 3 -o "$m" >/dev/null || { fail "synth"; finish; }
printf '[{"role": "user", "content": "hi"}]' >"$TMP/msgs.json"

# patch FILE KEY VALUE: overwrites the u32 value of metadata key KEY (a scalar of GGUF type 4).
patch_u32() {
  python3 - "$@" <<'EOF'
import struct, sys
path, key, value = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
b = bytearray(open(path, 'rb').read())
k = struct.pack('<Q', len(key)) + key
i = b.find(k)
assert i >= 0 and struct.unpack_from('<I', b, i + len(k))[0] == 4, f"{key} is not a u32 key"
struct.pack_into('<I', b, i + len(k) + 4, value)
open(path, 'wb').write(b)
EOF
}
# replace FILE OLD NEW: the first occurrence of the bytes OLD by NEW (same length).
replace() {
  python3 - "$@" <<'EOF'
import sys
path, old, new = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
assert len(old) == len(new)
b = open(path, 'rb').read()
assert old in b, old
open(path, 'wb').write(b.replace(old, new, 1))
EOF
}

# The commands, each on FILE; prints the first error line without its "moevk CMD: error: " prefix.
commands=(info run chat tokenize template logits bench embed)
error_of() {  # error_of CMD FILE
  local cmd=$1 f=$2 rc
  case $cmd in
    info) $T "$MOEVK" info "$f" ;;
    run) $T "$MOEVK" run -m "$f" -p hi -n 1 ;;
    chat) echo hi | $T "$MOEVK" chat -m "$f" -n 1 ;;
    tokenize) $T "$MOEVK" tokenize -m "$f" -p hi ;;
    template) $T "$MOEVK" template -m "$f" --messages "$TMP/msgs.json" ;;
    logits) $T "$MOEVK" logits -m "$f" --prompt-ids 1 --out "$TMP/l.bin" ;;
    bench) $T "$MOEVK" bench -m "$f" -p 1 -n 1 -r 1 --bandwidth 1 ;;
    embed) $T "$MOEVK" embed -m "$f" -p hi -n 1 ;;
  esac >/dev/null 2>"$TMP/err"
  rc=$?
  if [ $rc -ne 1 ]; then echo "rc $rc"; return; fi
  head -n 1 "$TMP/err" | sed -E 's/^moevk [a-z]+: (error: )?(MOEVK_ERR_[A-Z_]+: )?//'  # embed: the C API's status
}
# Every command refuses FILE with the same message, which contains PATTERN.
refused_alike() {  # refused_alike NAME PATTERN FILE
  local name=$1 pattern=$2 f=$3 first="" e cmd before=$fails
  for cmd in "${commands[@]}"; do
    e=$(error_of "$cmd" "$f")
    [[ $e == *"$pattern"* ]] || { fail "$name: $cmd: expected '$pattern', got: $e"; continue; }
    if [ -z "$first" ]; then first=$e; elif [ "$e" != "$first" ]; then fail "$name: $cmd says '$e', info says '$first'"; fi
  done
  [ "$fails" = "$before" ] && echo "ok   $name: every command refuses it: $first"
}

# The tokenizer: an unknown tokenizer model, a special token id outside the vocabulary.
cp "$m" "$TMP/tok-model.gguf" && replace "$TMP/tok-model.gguf" "gpt2" "gpt9"
refused_alike "unknown tokenizer model" "unsupported tokenizer model 'gpt9'" "$TMP/tok-model.gguf"
cp "$m" "$TMP/bos.gguf" && patch_u32 "$TMP/bos.gguf" tokenizer.ggml.bos_token_id 4000000
refused_alike "BOS id outside the vocabulary" "tokenizer.ggml.bos_token_id' = 4000000 is outside" "$TMP/bos.gguf"
# Hyper-parameters and tensors.
cp "$m" "$TMP/hparams.gguf" && patch_u32 "$TMP/hparams.gguf" qwen3moe.expert_used_count 99
refused_alike "bad hyper-parameters" "expert_used_count" "$TMP/hparams.gguf"
cp "$m" "$TMP/tensor.gguf" && replace "$TMP/tensor.gguf" "blk.1.attn_q.weight" "blk.1.attn_x.weight"
refused_alike "a missing tensor" "missing tensor 'blk.1.attn_q.weight'" "$TMP/tensor.gguf"
# Text from the file reaches the terminal escaped: no escape sequence from a model's metadata.
cp "$m" "$TMP/esc.gguf" && replace "$TMP/esc.gguf" "gpt2" $'\e[2J'
"$MOEVK" info "$TMP/esc.gguf" >/dev/null 2>"$TMP/err"
grep -q "unsupported tokenizer model '\\\\x1b\[2J'" "$TMP/err" && ! grep -q $'\e' "$TMP/err" ||
  fail "an escape sequence in the tokenizer model reached stderr: $(od -c "$TMP/err" | head -3)"
"$MOEVK" synth --arch qwen3moe --seed 3 --name $'\e[31mred\nline' -o "$TMP/name.gguf" >/dev/null || fail "synth --name"
"$MOEVK" info "$TMP/name.gguf" >"$TMP/out" 2>&1
grep -q 'name .*\\x1b\[31mred\\nline' "$TMP/out" && ! grep -q $'\e' "$TMP/out" ||
  fail "an escape sequence in general.name reached stdout: $(grep name "$TMP/out" | od -c | head -3)"
# A chat template key that is not a string.
cp "$m" "$TMP/tmpl.gguf" && replace "$TMP/tmpl.gguf" "tokenizer.chat_template" "tokenizer.chat_templat_"
"$MOEVK" info "$TMP/tmpl.gguf" >/dev/null 2>&1 || fail "a model without a chat template is refused"

# A vocabulary-only file: tokenize and template work, the others name the kind.
vocab=$SHARED/vocab/vocab-qwen3.gguf
if [ ! -f "$vocab" ]; then
  if [ "${CI:-}" = "true" ]; then fail "shared data not found ($vocab)"; fi
  echo "skipped: shared data not found ($vocab)"
  finish
fi
$T "$MOEVK" tokenize -m "$vocab" -p "Hello world" >"$TMP/out" 2>"$TMP/err" && [[ $(cat "$TMP/out") == "9707 1879" ]] ||
  fail "tokenize on a vocabulary-only file: $(cat "$TMP/out" "$TMP/err")"
$T "$MOEVK" template -m "$vocab" --messages "$TMP/msgs.json" >"$TMP/out" 2>"$TMP/err" && grep -q "<|im_start|>user" "$TMP/out" ||
  fail "template on a vocabulary-only file: $(cat "$TMP/out" "$TMP/err")"
for cmd in info run chat logits bench embed; do
  e=$(error_of "$cmd" "$vocab")
  [[ $e == *"holds a vocabulary only (no tensors); moevk"*"needs a model's weights"* ]] ||
    fail "$cmd on a vocabulary-only file: $e"
done
# Its tokenizer is checked as a model's is.
cp "$vocab" "$TMP/vocab-bos.gguf" && patch_u32 "$TMP/vocab-bos.gguf" tokenizer.ggml.bos_token_id 4000000
for cmd in tokenize template info; do
  e=$(error_of "$cmd" "$TMP/vocab-bos.gguf")
  [[ $e == *"tokenizer.ggml.bos_token_id' = 4000000 is outside"* ]] || fail "$cmd on a vocabulary with a bad BOS id: $e"
done
finish
