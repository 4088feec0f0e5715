#!/usr/bin/env bash
# Files the user names for output never lose data (issue 10, attack pass of 2026-12-02): the model
# as --out or --trace, a symbolic link, a FIFO nobody reads, a directory; unbounded inputs (chat
# stdin, a routing trace from /dev/zero); flags that cannot apply are usage errors.
# Usage: tests/cli/outputs.sh path/to/moevk
source "$(dirname "$0")/lib.sh"

m=$TMP/m.gguf
"$MOEVK" synth --arch qwen3moe --seed 3 -o "$m" >/dev/null || { echo "FAIL: synth"; exit 1; }
size=$(stat -c %s "$m")
refuse "the trace file '$m' is the model file" "$MOEVK" run -m "$m" -p hi -n 2 --trace "$m"
refuse "the --out file '$m' is the model file" "$MOEVK" logits -m "$m" --prompt-ids 1,2 --out "$m"
[ "$(stat -c %s "$m")" = "$size" ] || fail "the model changed size"
echo keep >"$TMP/target"
ln -s "$TMP/target" "$TMP/link"
refuse "is a symbolic link; not writing through it" "$MOEVK" logits -m "$m" --prompt-ids 1 --out "$TMP/link"
refuse "is a symbolic link; not writing through it" "$MOEVK" run -m "$m" -p hi -n 1 --trace "$TMP/link"
[ "$(cat "$TMP/target")" = keep ] || fail "written through the symbolic link"
mkfifo "$TMP/fifo"
timeout 60 "$MOEVK" logits -m "$m" --prompt-ids 1,2 --out "$TMP/fifo" >/dev/null 2>"$TMP/err"
rc=$?; [ $rc -eq 1 ] && grep -q "is a FIFO that nothing reads" "$TMP/err" || fail "FIFO --out: rc $rc: $(cat "$TMP/err")"
refuse "the trace file '$TMP' is a directory" "$MOEVK" run -m "$m" -p hi -n 1 --trace "$TMP"
refuse "cannot write the routing trace '/dev/full': No space left on device" "$MOEVK" run -m "$m" -p hi -n 2 --trace /dev/full
# An existing regular file is replaced, and the logits land in it.
echo old >"$TMP/l.bin"
"$MOEVK" logits -m "$m" --prompt-ids 1,2 --out "$TMP/l.bin" 2>"$TMP/err" || fail "logits over a file: $(cat "$TMP/err")"
[ "$(stat -c %s "$TMP/l.bin")" -gt 4 ] || fail "logits not written over the old file"

timeout 60 "$MOEVK" chat -m "$m" </dev/zero >/dev/null 2>"$TMP/err"
rc=$?; [ $rc -eq 1 ] && grep -q "an input line is longer than 64 MiB" "$TMP/err" || fail "chat < /dev/zero: rc $rc"
refuse "the routing trace '/dev/zero' is not a regular file" timeout 60 "$MOEVK" routing --trace /dev/zero --experts 8
"$MOEVK" run -m "$m" -p hello -n 3 --temp 0 --trace "$TMP/t.txt" >/dev/null 2>&1 || fail "run --trace"
refuse "--skip 99: the trace" "$MOEVK" routing --trace "$TMP/t.txt" --experts 8 --skip 99

for args in "--backend gpu" "--cache-policy fifo" "--prefetch sometimes" "--cpu-experts maybe" "--backend cpu --trace $TMP/x"; do
  # shellcheck disable=SC2086
  "$MOEVK" run -m "$m" -p hi -n 1 $args >/dev/null 2>"$TMP/err"
  rc=$?; [ $rc -eq 2 ] || fail "run $args: rc $rc (a usage error is 2): $(cat "$TMP/err")"
done
finish
