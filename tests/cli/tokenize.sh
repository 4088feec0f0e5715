#!/usr/bin/env bash
# moevk tokenize --cases against llama.cpp's token ids for every vocabulary in ../shared/vocab.
# $1: the moevk binary. Under CI=true a missing shared folder is a failure; otherwise a skip.
set -u
moevk="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
shared="${MOEVK_SHARED_DIR:-$here/../../../shared}"
vocab="$shared/vocab"
if [ ! -d "$vocab" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "FAIL: shared vocab folder not found: $vocab" >&2
    exit 1
  fi
  echo "skipped: shared vocab folder not found: $vocab"
  exit 0
fi

fail=0
count=0
for inp in "$vocab"/*.gguf.inp; do
  model="${inp%.inp}"
  out="$model.out"
  count=$((count + 1))
  if "$moevk" tokenize -m "$model" --text-file "$inp" --cases | cmp -s - "$out"; then
    echo "ok   $(basename "$model")"
  else
    echo "FAIL $(basename "$model")" >&2
    fail=1
  fi
done
if [ "$count" -eq 0 ]; then
  echo "FAIL: no .inp files in $vocab" >&2
  exit 1
fi

# Plain mode: ids separated by spaces, no BOS unless asked for.
spm="$vocab/ggml-vocab-llama-spm.gguf"
got="$("$moevk" tokenize -m "$spm" -p "Hello world")"
[ "$got" = "15043 3186" ] || { echo "FAIL plain: '$got'" >&2; fail=1; }
got="$("$moevk" tokenize -m "$spm" -p "Hello world" --add-special)"
[ "$got" = "1 15043 3186" ] || { echo "FAIL --add-special: '$got'" >&2; fail=1; }
"$moevk" tokenize --help | grep -q -- "--parse-special" || { echo "FAIL --help" >&2; fail=1; }
if "$moevk" tokenize -m "$spm" 2>/dev/null; then echo "FAIL: no text accepted" >&2; fail=1; fi
exit $fail
