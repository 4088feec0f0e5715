#!/usr/bin/env bash
# Regenerates the tables of docs/performance.md, "Real routing: the trained demo model": routes
# held-out KJV text (models/kjv-moe.heldout.txt, chapters the model never trained on) through the
# trained model with `moevk logits --trace`, in windows of the model's 128-token context, and
# summarises the trace with `moevk routing`; then the same text through random-weight models of
# the same shape synthesised with --routing-skew 0 (uniform) and S (default 1.5).
#   scripts/routing-table.sh [MOEVK] [SKEW...]      (MOEVK default build/cli/moevk)
#   scripts/routing-table.sh [MOEVK] none           (the trained model only)
set -euo pipefail
cd "$(dirname "$0")/.."
moevk=${1:-build/cli/moevk}
shift || true
skews=("$@")
[ ${#skews[@]} -eq 0 ] && skews=(1.5)
text=models/kjv-moe.heldout.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ctx=128

# route MODEL ID LABEL: the trace of the held-out text, window by window, into $tmp/ID.trace
route() {
  local model=$1 name=$2 label=$3
  read -r -a ids < <("$moevk" tokenize -m "$model" --text-file "$text")
  : > "$tmp/$name.trace"
  local i n=${#ids[@]}
  for ((i = 0; i + ctx <= n; i += ctx)); do
    local chunk
    chunk=$(IFS=,; echo "${ids[*]:i:ctx}")
    "$moevk" logits -m "$model" --prompt-ids "$chunk" --out "$tmp/logits.bin" \
      --trace "$tmp/w.trace" > /dev/null 2>&1
    cat "$tmp/w.trace" >> "$tmp/$name.trace"
  done
  echo "### $label: $((n / ctx * ctx)) held-out tokens in $((n / ctx)) windows of $ctx"
  echo
  "$moevk" routing --trace "$tmp/$name.trace" --experts 16
  echo
}

route models/kjv-moe.gguf trained "trained (models/kjv-moe.gguf)"
[ "${skews[0]}" = none ] && exit 0
for s in 0 "${skews[@]}"; do
  "$moevk" synth --arch qwen3moe --type Q8_0 --layers 4 --embd 128 --heads 4 --heads-kv 2 \
    --head-dim 32 --experts 16 --experts-used 2 --ff-exp 128 --ctx $ctx --merges 2000 \
    --routing-skew "$s" --seed 1 -o "$tmp/synth-$s.gguf" > /dev/null
  route "$tmp/synth-$s.gguf" "synth-$s" "synthetic, --routing-skew $s"
done
