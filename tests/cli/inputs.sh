#!/usr/bin/env bash
# Hostile input files: a messages file nested 20,000 deep, FIFOs, /dev/zero, directories and oversized
# files as messages, templates, prompts and models: each a clean refusal naming the path (never a hang,
# a crash or memory without bound). Usage: tests/cli/inputs.sh path/to/moevk
source "$(dirname "$0")/lib.sh"
vocab=$SHARED/vocab/vocab-qwen3.gguf
if [ ! -f "$vocab" ]; then
  if [ "${CI:-}" = "true" ]; then echo "FAIL: shared data not found ($vocab)"; exit 1; fi
  echo "skipped: shared data not found ($vocab)"; exit 0
fi
T="timeout 30"  # a hang fails the check (rc 124)

echo '[{"role": "user", "content": "Hi"}]' > "$TMP/ok.json"
python3 -c "print('[' * 20000 + ']' * 20000)" > "$TMP/deep.json"
refuse "nested deeper than" $T "$MOEVK" template -m "$vocab" --messages "$TMP/deep.json"
python3 -c "print('[{\"role\": \"user\", \"content\": ' + '[' * 20000 + ']' * 20000 + '}]')" > "$TMP/deep2.json"
refuse "nested deeper than" $T "$MOEVK" template -m "$vocab" --messages "$TMP/deep2.json"

mkfifo "$TMP/fifo"
refuse "fifo.*not a regular file (a FIFO)" $T "$MOEVK" template -m "$vocab" --messages "$TMP/fifo"
refuse "fifo.*not a regular file (a FIFO)" $T "$MOEVK" template -m "$TMP/fifo" --messages "$TMP/ok.json"
refuse "fifo.*not a regular file (a FIFO)" $T "$MOEVK" template -m "$vocab" --messages "$TMP/ok.json" \
  --chat-template-file "$TMP/fifo"
refuse "/dev/zero.*not a regular file (a character device)" $T "$MOEVK" template -m "$vocab" --messages /dev/zero
refuse "/dev/zero.*not a regular file" $T "$MOEVK" template -m /dev/zero --messages "$TMP/ok.json"
refuse "$TMP.*not a regular file (a directory)" $T "$MOEVK" template -m "$vocab" --messages "$TMP"
refuse "$TMP.*not a regular file (a directory)" $T "$MOEVK" tokenize -m "$vocab" --text-file "$TMP"
refuse "fifo.*not a regular file (a FIFO)" $T "$MOEVK" tokenize -m "$vocab" --text-file "$TMP/fifo"
truncate -s 65M "$TMP/big.txt"
refuse "big.txt.*more than the limit" $T "$MOEVK" tokenize -m "$vocab" --text-file "$TMP/big.txt"
refuse "big.txt.*more than the limit" $T "$MOEVK" template -m "$vocab" --messages "$TMP/big.txt"
refuse "missing.json.*No such file" $T "$MOEVK" template -m "$vocab" --messages "$TMP/missing.json"

# A hostile chat template: an error (ChatML fallback with a warning), never a crash.
python3 -c "print('{{ ' + '(' * 100000 + '1' + ')' * 100000 + ' }}')" > "$TMP/deep.jinja"
$T "$MOEVK" template -m "$vocab" --messages "$TMP/ok.json" --chat-template-file "$TMP/deep.jinja" \
  >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] || fail "deep template: rc $rc: $(cat "$TMP/err")"
grep -q "nested deeper than" "$TMP/err" || fail "deep template: no warning: $(cat "$TMP/err")"
grep -q "<|im_start|>user" "$TMP/out" || fail "deep template: no ChatML fallback: $(cat "$TMP/out")"
printf '%s' '{{ (-9223372036854775807 - 1) // -1 }}' > "$TMP/fpe.jinja"
$T "$MOEVK" template -m "$vocab" --messages "$TMP/ok.json" --chat-template-file "$TMP/fpe.jinja" \
  >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] && grep -q "integer overflow" "$TMP/err" || fail "INT64_MIN // -1: rc $rc: $(cat "$TMP/err")"
finish
