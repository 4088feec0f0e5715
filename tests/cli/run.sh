#!/usr/bin/env bash
# moevk run / logits on synthesised models of every architecture and on the oracle models: generation
# works, greedy output is deterministic, --stats prints the per-token figures, bad input is refused
# with a clear message (never a signal).
# Usage: tests/cli/run.sh path/to/moevk. Under CI=true a missing ../shared is a failure.
source "$(dirname "$0")/lib.sh"

PROMPT="hello world, this prompt is long enough for the tiled prefill kernels to run"
for arch in qwen3moe llama olmoe qwen2moe deepseek2 gpt-oss; do
  m=$TMP/$arch.gguf
  "$MOEVK" synth --arch "$arch" --type Q8_0 --seed 3 -o "$m" >/dev/null || { fail "synth $arch"; continue; }
  # A prompt of more than 8 tokens: prefill runs the tiled and expert-grouped kernels (tiled-off:
  # the matvecs), decode the matvecs; all three must give the reference's greedy text. The cpu
  # backend (8-bit activations) must run; a near-tie may turn its greedy text elsewhere.
  for backend in vulkan ref cpu tiled-off; do
    b=$backend dis=
    [ "$backend" = tiled-off ] && b=vulkan dis=tiled
    out=$(MOEVK_DISABLE=$dis "$MOEVK" run -m "$m" -p "$PROMPT" -n 6 --temp 0 --backend "$b" --stats 2>"$TMP/err") ||
      { fail "run $arch $backend: $(cat "$TMP/err")"; continue; }
    grep -q "generation: 6 tokens" "$TMP/err" || grep -q "stopped: end of generation" "$TMP/err" ||
      fail "run $arch $backend: no generation summary: $(cat "$TMP/err")"
    echo "$out" > "$TMP/$arch.$backend.txt"
  done
  grep -q "compute dispatches" <("$MOEVK" run -m "$m" -p "hi" -n 2 --temp 0 --stats 2>&1) ||
    fail "run $arch: --stats did not print per-token figures"
  # Greedy decoding is deterministic and the two backends agree on these tiny models.
  cmp -s "$TMP/$arch.vulkan.txt" "$TMP/$arch.ref.txt" || fail "run $arch: vulkan and ref greedy text differ"
  cmp -s "$TMP/$arch.tiled-off.txt" "$TMP/$arch.ref.txt" || fail "run $arch: vulkan without tiled kernels and ref differ"
done

m=$TMP/qwen3moe.gguf
refuse "outside the vocabulary" "$MOEVK" logits -m "$m" --prompt-ids 1,99999 --out "$TMP/l.bin"
refuse "context" "$MOEVK" run -m "$m" -p "a b c d e f g h i j k l m n o p" -c 8 -n 4
refuse "--temp" "$MOEVK" run -m "$m" -p "x" --temp nan
refuse "--top-p" "$MOEVK" run -m "$m" -p "x" --top-p 1.5
refuse "unknown option" "$MOEVK" run -m "$m" -p "x" --warp 9
refuse "unknown backend" "$MOEVK" run -m "$m" -p "x" --backend metal
refuse "budget" "$MOEVK" run -m "$m" -p "x" --gpu-mem 1M
refuse "No such file\|cannot open\|open" "$MOEVK" run -m "$TMP/missing.gguf" -p "x"
"$MOEVK" run --help | grep -q -- "--top-k" || fail "run --help lacks --top-k"

# logits on an oracle model: rows x vocab floats.
if [ -d "$SHARED/oracle/models" ]; then
  "$MOEVK" logits -m "$SHARED/oracle/models/gptoss-MXFP4_MOE.gguf" --prompt-ids 335,845,831 \
    --decode-ids 1,2 --out "$TMP/l.bin" --stats 2>"$TMP/err" || fail "logits: $(cat "$TMP/err")"
  [ "$(stat -c %s "$TMP/l.bin")" = $((5 * 1024 * 4)) ] || fail "logits: wrong output size"
  grep -q "host-device round trips" "$TMP/err" || fail "logits --stats: no per-token figures"
elif [ "${CI:-}" = "true" ]; then
  fail "CI=true but $SHARED/oracle is missing"
else
  echo "skipped: oracle models not found at $SHARED"
fi

finish
