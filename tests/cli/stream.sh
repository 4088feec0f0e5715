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
      --gpu-mem "$min" --prefetch $prefetch --stats --trace "$TMP/trace.txt" --out "$TMP/str.bin" 2>"$TMP/err" ||
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

refuse "unknown cache policy 'fifo'" "$MOEVK" logits -m "$m" --prompt-ids 1 --out "$TMP/x" --cache-policy fifo
refuse "unknown --prefetch mode" "$MOEVK" logits -m "$m" --prompt-ids 1 --out "$TMP/x" --prefetch sometimes
MOEVK_DISABLE=unified refuse "below the minimum" "$MOEVK" run -m "$m" -p x --gpu-mem $((min - 1))
refuse "cannot open the trace file" "$MOEVK" logits -m "$m" --prompt-ids 1 --out "$TMP/x" --trace "$TMP/no/such/dir/t"
finish
