#!/usr/bin/env bash
# Expert streaming from the command line: logits at the minimum budget equal the resident ones, with
# misses in --stats, a --trace file, the validation layer silent, and clear refusals of bad flags.
# Usage: tests/cli/stream.sh path/to/moevk. Needs ../shared/oracle (a failure under CI=true).
source "$(dirname "$0")/lib.sh"

m=$SHARED/oracle/models/qwen3moe-Q4_K_M.gguf
if [ ! -f "$m" ]; then
  if [ "${CI:-}" = true ]; then fail "missing $m"; else echo "skipped: no $m"; fi
  finish
fi
min=$("$MOEVK" info "$m" --min-gpu-mem 2>/dev/null | tail -n 1)
[[ $min =~ ^[0-9]+$ ]] || fail "info --min-gpu-mem: '$min'"
ids=1,2,3,4,5,6,7,8,9,10,11,12
dec=13,14,15,16,17,18
"$MOEVK" logits -m "$m" --prompt-ids $ids --decode-ids $dec --ctx 256 --out "$TMP/res.bin" 2>"$TMP/err" ||
  fail "resident logits: $(cat "$TMP/err")"
for mode in "unified" ""; do  # the discrete-GPU path (slots, copies) and the unified one
  for prefetch in auto on off; do
    MOEVK_DISABLE=$mode MOEVK_VALIDATE=1 "$MOEVK" logits -m "$m" --prompt-ids $ids --decode-ids $dec --ctx 256 \
      --gpu-mem "$min" --prefetch $prefetch --cpu-experts off --stats --trace "$TMP/trace.txt" --out "$TMP/str.bin" 2>"$TMP/err" ||
      { fail "streaming logits ($mode $prefetch): $(cat "$TMP/err")"; continue; }
    cmp -s "$TMP/res.bin" "$TMP/str.bin" || fail "streaming logits ($mode $prefetch) differ from resident"
    grep -q "Vulkan validation" "$TMP/err" && fail "validation messages ($mode $prefetch)"
    grep -Eq "^expert cache: hits [0-9]+, misses [1-9][0-9]*," "$TMP/err" ||
      fail "no misses line ($mode $prefetch): $(grep 'expert cache' "$TMP/err")"
    grep -q "device memory: streaming" "$TMP/err" || fail "no memory line ($mode $prefetch)"
    # 18 tokens x 2 MoE layers, plus the comment line.
    [ "$(grep -vc '^#' "$TMP/trace.txt")" = 36 ] || fail "trace has $(wc -l <"$TMP/trace.txt") lines"
  done
done
echo "ok   logits at the minimum budget $min equal the resident ones"

MOEVK_DISABLE=unified "$MOEVK" run -m "$m" -p "hello" -n 4 --temp 0 --gpu-mem "$min" --stats >/dev/null 2>"$TMP/err" ||
  fail "run at the minimum: $(cat "$TMP/err")"
grep -q "expert cache: hits" "$TMP/err" || fail "run --stats: no expert cache line"
MOEVK_DISABLE=unified "$MOEVK" bench -m "$m" --gpu-mem 100%,min -p 8 -n 2 >"$TMP/out" 2>"$TMP/err" ||
  fail "bench sweep: $(cat "$TMP/err")"
grep -q "^| min |" "$TMP/out" || fail "bench sweep has no min row: $(cat "$TMP/out")"
grep -q "^| 100% | [0-9]* | resident" "$TMP/out" || fail "bench sweep: 100% is not resident"

# CPU-computed experts: every miss on the CPU (on), and the cost model's choice (auto), both
# printed by --stats, with the logits close to the resident ones: the CPU kernels quantise
# activations to 8 bits, so the bar is this file's oracle tolerance (1.5 x llama.cpp's own 0.134
# deviation from exact math, 0.2), not equality.
for mode in on auto; do
  MOEVK_DISABLE=unified MOEVK_VALIDATE=1 "$MOEVK" logits -m "$m" --prompt-ids $ids --decode-ids $dec --ctx 256 \
    --gpu-mem "$min" --cpu-experts $mode --stats --out "$TMP/cpu.bin" 2>"$TMP/err" ||
    { fail "cpu experts $mode: $(cat "$TMP/err")"; continue; }
  grep -q "Vulkan validation" "$TMP/err" && fail "validation messages (cpu experts $mode)"
  grep -q "^cpu experts: $mode; measured at load: bus [0-9.]* GB/s, cpu kernels [0-9.]* GB/s" "$TMP/err" ||
    fail "cpu experts $mode: no calibration line: $(grep 'cpu experts' "$TMP/err")"
  grep -Eq "^  moe layer +[0-9]+: hits [0-9]+, misses [0-9]+ \(on the cpu [0-9]+\)" "$TMP/err" ||
    fail "cpu experts $mode: no per-layer choice"
  if [ $mode = on ]; then
    grep -Eq "^cpu experts: [1-9][0-9]* computed on the cpu" "$TMP/err" ||
      fail "cpu experts on: nothing computed on the cpu: $(grep 'cpu experts' "$TMP/err")"
  fi
  python3 - "$TMP/res.bin" "$TMP/cpu.bin" <<'PY' || fail "cpu experts $mode: logits far from the resident ones"
import struct, sys
a, b = (open(p, 'rb').read() for p in sys.argv[1:3])
assert len(a) == len(b) and len(a) > 0
x, y = struct.unpack(f'{len(a)//4}f', a), struct.unpack(f'{len(b)//4}f', b)
d = max(abs(u - v) for u, v in zip(x, y))
print(f'max |cpu experts - resident| = {d}')
sys.exit(0 if d <= 0.2 else 1)
PY
done
echo "ok   --cpu-experts on and auto at the minimum budget"
MOEVK_DISABLE=unified "$MOEVK" bench -m "$m" --gpu-mem 25% -p 8 -n 2 --cpu-experts auto >"$TMP/out" 2>"$TMP/err" ||
  fail "bench sweep with cpu experts: $(cat "$TMP/err")"
grep -q "predicted +cpu uniform | cpu share" "$TMP/out" || fail "bench sweep: no cpu prediction: $(cat "$TMP/out")"
refuse "unknown --cpu-experts mode 'sometimes'" "$MOEVK" logits -m "$m" --prompt-ids 1 --out "$TMP/x" --cpu-experts sometimes

refuse "unknown cache policy 'fifo'" "$MOEVK" logits -m "$m" --prompt-ids 1 --out "$TMP/x" --cache-policy fifo
refuse "unknown --prefetch mode" "$MOEVK" logits -m "$m" --prompt-ids 1 --out "$TMP/x" --prefetch sometimes
MOEVK_DISABLE=unified refuse "below the minimum" "$MOEVK" run -m "$m" -p x --gpu-mem $((min - 1))
refuse "cannot open the trace file" "$MOEVK" logits -m "$m" --prompt-ids 1 --out "$TMP/x" --trace "$TMP/no/such/dir/t"
finish
