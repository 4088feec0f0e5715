#!/usr/bin/env bash
# Routing locality: `moevk synth --routing-skew S` makes routers favour a few experts (measured
# with --trace and `moevk routing` on the same text), S 0 is the plain file, bad values and bad
# traces are clean errors; the trained demo model's trace is summarised too.
# Usage: tests/cli/routing.sh path/to/moevk
source "$(dirname "$0")/lib.sh"
ROOT="$HERE/../.."

"$MOEVK" routing --help | grep -q -- "--trace" || fail "routing --help"

shape=(--arch qwen3moe --type Q8_0 --layers 2 --embd 128 --heads 4 --heads-kv 2 --head-dim 32
  --experts 16 --experts-used 2 --ff-exp 64 --ctx 128 --seed 4)
"$MOEVK" synth "${shape[@]}" -o "$TMP/plain.gguf" >/dev/null &&
  "$MOEVK" synth "${shape[@]}" --routing-skew 0 -o "$TMP/s0.gguf" >/dev/null &&
  "$MOEVK" synth "${shape[@]}" --routing-skew 2 -o "$TMP/s2.gguf" >/dev/null ||
  fail "synth --routing-skew"
cmp -s "$TMP/plain.gguf" "$TMP/s0.gguf" || fail "--routing-skew 0 changed the file"
cmp -s "$TMP/plain.gguf" "$TMP/s2.gguf" && fail "--routing-skew 2 did not change the file"
refuse "routing-skew" "$MOEVK" synth "${shape[@]}" --routing-skew -1 -o "$TMP/x.gguf"
refuse "routing-skew" "$MOEVK" synth "${shape[@]}" --routing-skew 9 -o "$TMP/x.gguf"
refuse "routing-skew" "$MOEVK" synth "${shape[@]}" --routing-skew lots -o "$TMP/x.gguf"

# The top 1/8 of the experts' share of uses (mean over layers) on 120 tokens of text.
text="And it came to pass in those days, that there went out a decree from Caesar Augustus, that all the world should be taxed. And all went to be taxed, every one into his own city."
top8() {  # MODEL -> the mean top-1/8 share, in percent
  local ids
  ids=$("$MOEVK" tokenize -m "$1" -p "$text" | tr ' ' ',') || return 1
  "$MOEVK" logits -m "$1" --prompt-ids "$ids" --out "$TMP/l.bin" --trace "$TMP/t.trace" \
    >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; return 1; }
  "$MOEVK" routing --trace "$TMP/t.trace" --experts 16 >"$TMP/table" || return 1
  grep '^| mean' "$TMP/table" | cut -d'|' -f3 | tr -d ' %'
}
u=$(top8 "$TMP/plain.gguf") && s=$(top8 "$TMP/s2.gguf") || fail "tracing the synthetic models"
echo "top 1/8 share: uniform $u%, --routing-skew 2 $s%"
# 2 of 16 experts take 12.5% of uses on average under a uniform router; the skew must show.
awk -v u="$u" -v s="$s" 'BEGIN { exit !(u < 35 && s > 45 && s > u + 15) }' ||
  fail "routing skew not visible: uniform $u%, skewed $s%"
grep -q "| lru hit rate | lfu hit rate |" "$TMP/table" || fail "no hit-rate table: $(cat "$TMP/table")"

# The trained demo model routes unevenly too (it is in the repository, so this always runs).
t=$(top8 "$ROOT/models/kjv-moe.gguf") || fail "tracing the demo model"
echo "top 1/8 share: trained demo model $t%"

# Bad traces and options are clean errors.
printf '0 0 1 2\n0 1 3 99\n' >"$TMP/bad.trace"
refuse "outside" "$MOEVK" routing --trace "$TMP/bad.trace" --experts 16
refuse "cannot open" "$MOEVK" routing --trace "$TMP/missing.trace" --experts 16
refuse "--experts" "$MOEVK" routing --trace "$TMP/t.trace"
refuse "--fractions" "$MOEVK" routing --trace "$TMP/t.trace" --experts 16 --fractions 0.5,2
finish
