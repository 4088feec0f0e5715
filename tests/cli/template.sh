#!/usr/bin/env bash
# moevk template on the shared gpt-oss vocab and one reference render from chat_renders.json: the output
# must be byte for byte the reference. Usage: template.sh MOEVK_BINARY
set -euo pipefail
moevk="$1"
here="$(cd "$(dirname "$0")" && pwd)"
shared="${MOEVK_SHARED_DIR:-$here/../../../shared}"
vocab="$shared/vocab/vocab-gptoss.gguf"
renders="$shared/vocab/chat_renders.json"
if [[ ! -f "$vocab" || ! -f "$renders" ]]; then
  if [[ "${CI:-}" == "true" ]]; then
    echo "FAIL: shared data not found ($vocab, $renders)" >&2
    exit 1
  fi
  echo "skipped: shared data not found ($vocab)"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Split one render (gptoss, system_multi, with generation prompt) into messages.json and expected.txt.
python3 - "$renders" "$tmp" <<'PY'
import json, sys
renders, tmp = sys.argv[1], sys.argv[2]
case = next(c for c in json.load(open(renders))["gptoss"]
            if c["name"] == "system_multi" and c["add_generation_prompt"])
json.dump(case["messages"], open(f"{tmp}/messages.json", "w"))
open(f"{tmp}/expected.txt", "w", encoding="utf-8", newline="").write(case["rendered"])
PY

"$moevk" template -m "$vocab" --messages "$tmp/messages.json" --add-generation-prompt --date 2026-11-22 \
  > "$tmp/out.txt"
cmp "$tmp/out.txt" "$tmp/expected.txt"

# --chat-template-file overrides the model's template.
printf '%s' '{{ bos_token }}{% for m in messages %}[{{ m.role }}]{% endfor %}' > "$tmp/t.jinja"
"$moevk" template -m "$vocab" --messages "$tmp/messages.json" --chat-template-file "$tmp/t.jinja" > "$tmp/out2.txt"
printf '%s' '<|startoftext|>[system][user][assistant][user]' | cmp - "$tmp/out2.txt"

"$moevk" template --help | grep -q -- '--messages'
echo "ok"
