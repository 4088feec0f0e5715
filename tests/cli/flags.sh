#!/usr/bin/env bash
# Command lines and output files: usage errors (unknown option, missing or out-of-range value, conflicting
# options) exit 2 in every command and name the flag and the range; write errors (a full disk, a file
# size limit) exit 1 naming the path and the reason, leaving no partial file; synth never replaces
# anything but a regular file. Usage: tests/cli/flags.sh path/to/moevk
source "$(dirname "$0")/lib.sh"
T="timeout 120"

# Expects exit status 2 (a usage error) with `pattern` in stderr.
usage() {
  local pattern=$1; shift
  $T "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  [ $rc -eq 2 ] || { fail "expected usage error (rc 2), got rc $rc: $* ($(head -c 300 "$TMP/err"))"; return; }
  grep -q -- "$pattern" "$TMP/err" || fail "stderr of '$*' lacks '$pattern': $(head -c 300 "$TMP/err")"
}
# Expects exit status 1 (an error) with `pattern` in stderr.
error() {
  local pattern=$1; shift
  $T "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  [ $rc -eq 1 ] || { fail "expected an error (rc 1), got rc $rc: $* ($(head -c 300 "$TMP/err"))"; return; }
  grep -q -- "$pattern" "$TMP/err" || fail "stderr of '$*' lacks '$pattern': $(head -c 300 "$TMP/err")"
}

m=$TMP/m.gguf
"$MOEVK" synth --arch qwen3moe --type Q8_0 --seed 3 -o "$m" >/dev/null || { fail "synth"; finish; }
echo "hello" > "$TMP/prompt.txt"

# One exit status for usage errors, in every command.
for cmd in run chat template tokenize synth logits info bench; do
  usage "unknown option\|--warp" "$MOEVK" $cmd --warp 9
  grep -q "exit status: 0 success, 1 error, 2 usage error" <($T "$MOEVK" $cmd --help 2>&1) ||
    [ $cmd = info ] || [ $cmd = bench ] || fail "$cmd --help does not document the exit status"
done
"$MOEVK" --help | grep -q "2 usage error" || fail "moevk --help does not document the exit status"
usage "" "$MOEVK" no-such-command

# Out-of-range values name the flag and the range.
usage "option --temp: -1 is out of range \[0, 100\]" "$MOEVK" run -m "$m" -p x --temp -1
usage "option --top-p: 0 is out of range" "$MOEVK" run -m "$m" -p x --top-p 0
usage "option --top-p: 1.5 is out of range" "$MOEVK" run -m "$m" -p x --top-p 1.5
usage "option --min-p: 2 is out of range \[0, 1\]" "$MOEVK" run -m "$m" -p x --min-p 2
usage "option --repeat-penalty" "$MOEVK" run -m "$m" -p x --repeat-penalty 0
usage "option --top-k: -1 is out of range" "$MOEVK" run -m "$m" -p x --top-k -1
usage "option --n-predict: -5 is out of range" "$MOEVK" run -m "$m" -p x -n -5
usage "option --ctx-size: 0 is out of range" "$MOEVK" run -m "$m" -p x -c 0
usage "option --temp: 'hot' is not a number" "$MOEVK" chat -m "$m" --temp hot
usage "option --layers: 0 is out of range \[1," "$MOEVK" synth --arch qwen3moe --layers 0 -o "$TMP/x.gguf"
usage "option --seed" "$MOEVK" synth --arch qwen3moe --seed -3 -o "$TMP/x.gguf"
usage "more than one model given: 'a.gguf' and 'b.gguf'" "$MOEVK" info a.gguf b.gguf
usage "option --gpu-mem: the budget must be more than 0 bytes" "$MOEVK" info "$m" --gpu-mem 0
usage "option --batch: 0 is out of range \[1, 1048576\]" "$MOEVK" info "$m" --batch 0
usage "option --ctx: 99999999999999 is out of range \[1, 1048576\]" "$MOEVK" info "$m" --ctx 99999999999999
usage "options --n-prompt and --n-gen are both 0" "$MOEVK" bench -m "$m" -p 0 -n 0
usage "option --bandwidth: expected GB/s > 0" "$MOEVK" bench -m "$m" --bandwidth 0
usage "option --output: unknown format 'xml'" "$MOEVK" bench -m "$m" -o xml
usage "option --gpu-mem: '0%' is not a percentage in (0, 100\]" "$MOEVK" bench -m "$m" --gpu-mem 0%
usage "option --gpu-mem: 'x%' is not a percentage" "$MOEVK" bench -m "$m" --gpu-mem 50%,x%
usage "option --gpu-mem: 'lots'" "$MOEVK" bench -m "$m" --gpu-mem 50%,lots
usage "option --gpu-mem: '50%,' has an empty item" "$MOEVK" bench -m "$m" --gpu-mem 50%,
usage "unknown cache policy 'foo'" "$MOEVK" bench -m "$m" --gpu-mem 50% --cache-policy foo
usage "unknown --cpu-experts mode 'maybe'" "$MOEVK" bench -m "$m" --gpu-mem 50% --cpu-experts maybe
usage "a budget sweep measures the vulkan backend, not --backend cpu" "$MOEVK" bench -m "$m" --gpu-mem 50% --backend cpu
usage "option --budget-us: 99 is out of range \[100," "$MOEVK" embed -m "$m" -p x --budget-us 99
usage "option --temp: 'hot' is not a number" "$MOEVK" embed -m "$m" -p x --temp hot
usage "option --experts-used: .*expert_used_count" "$MOEVK" synth --arch olmoe --experts 4 --experts-used 5 -o "$TMP/x.gguf"
usage "option --heads-kv: .*head_count_kv" "$MOEVK" synth --arch qwen3moe --heads 4 --heads-kv 3 -o "$TMP/x.gguf"
usage "option --vocab: .*smaller than" "$MOEVK" synth --arch olmoe --vocab 300 -o "$TMP/x.gguf"
usage "unknown architecture 'bert'" "$MOEVK" synth --arch bert -o "$TMP/x.gguf"
usage "unknown or unsupported weight type 'Q9_9'" "$MOEVK" synth --arch olmoe --type Q9_9 -o "$TMP/x.gguf"
[ -e "$TMP/x.gguf" ] && fail "a synth usage error left a file"
# Dates: a calendar date or a usage error (not a warning and a ChatML render).
printf '[{"role": "user", "content": "hi"}]' >"$TMP/msgs.json"
usage "option --date: bad date '2026-13-45': month 13 is not in \[1, 12\]" "$MOEVK" template -m "$m" --messages "$TMP/msgs.json" --date 2026-13-45
usage "option --date: bad date '2026-02-29': day 29 is not in \[1, 28\]" "$MOEVK" template -m "$m" --messages "$TMP/msgs.json" --date 2026-02-29
usage "option --date: bad date '2026-1-5': expected YYYY-MM-DD" "$MOEVK" template -m "$m" --messages "$TMP/msgs.json" --date 2026-1-5
usage "option --date: bad date '2026-01-05x'" "$MOEVK" template -m "$m" --messages "$TMP/msgs.json" --date 2026-01-05x
$T "$MOEVK" template -m "$m" --messages "$TMP/msgs.json" --date 2028-02-29 >/dev/null 2>"$TMP/err" && [ ! -s "$TMP/err" ] ||
  fail "template --date 2028-02-29 (a leap day): $(cat "$TMP/err")"
# A single-value option given twice is a usage error, not "the last one wins".
usage "option --model given twice ('$m' and 'b.gguf')" "$MOEVK" run -m "$m" -m b.gguf -p x
usage "option --model given twice" "$MOEVK" tokenize -m "$m" --model "$m" -p x
usage "option --prompt given twice" "$MOEVK" run -m "$m" -p x -p y
usage "option --gpu-mem given twice" "$MOEVK" info "$m" --gpu-mem 1G --gpu-mem 2G
"$MOEVK" tokenize -m "$m" -p x --add-special --add-special >/dev/null || fail "a repeated switch was refused"
# A prompt that does not fit the context prints nothing to stdout.
$T "$MOEVK" run -m "$m" -p "a b c d e f g h i j k l m n o p" -c 8 -n 1 >"$TMP/out" 2>"$TMP/err"
rc=$?; [ $rc -eq 1 ] && grep -q "the prompt has .* tokens but the context holds 8" "$TMP/err" && [ ! -s "$TMP/out" ] ||
  fail "run with a prompt longer than the context: rc $rc, stdout '$(head -c 100 "$TMP/out")', $(cat "$TMP/err")"

# Conflicting and missing options.
usage "options --prompt and --file cannot be used together" "$MOEVK" run -m "$m" -p x -f "$TMP/prompt.txt"
usage "options --prompt and --text-file cannot be used together" "$MOEVK" tokenize -m "$m" -p x --text-file "$TMP/prompt.txt"
usage "option --model is required" "$MOEVK" run -p x
usage "option --prompt is required" "$MOEVK" run -m "$m"
usage "option --prompt-ids is required" "$MOEVK" logits -m "$m" --out "$TMP/l.bin"
usage "option --out is required" "$MOEVK" logits -m "$m" --prompt-ids 1,2
usage "option --prompt-ids: 'x' is not a token id" "$MOEVK" logits -m "$m" --prompt-ids 1,x --out "$TMP/l.bin"
usage "" "$MOEVK" template -m "$m"

# A model that is not a regular file is refused at once (a FIFO would block forever).
mkfifo "$TMP/fifo"
error "fifo: not a regular file (a FIFO)" "$MOEVK" run -m "$TMP/fifo" -p x
error "not a regular file (a directory)" "$MOEVK" run -m "$TMP" -p x
error "prompt file '/dev/zero' is not a regular file" "$MOEVK" run -m "$m" -f /dev/zero

# Write errors: exit 1 naming the path (or standard output) and the reason.
$T "$MOEVK" run -m "$m" -p hello -n 2 --temp 0 >/dev/full 2>"$TMP/err"
rc=$?; [ $rc -eq 1 ] && grep -q "cannot write to standard output: No space left on device" "$TMP/err" ||
  fail "run >/dev/full: rc $rc: $(cat "$TMP/err")"
$T "$MOEVK" tokenize -m "$m" -p "hello world" >/dev/full 2>"$TMP/err"
rc=$?; [ $rc -eq 1 ] && grep -q "No space left on device" "$TMP/err" || fail "tokenize >/dev/full: rc $rc: $(cat "$TMP/err")"
$T "$MOEVK" info "$m" >/dev/full 2>"$TMP/err"
rc=$?; [ $rc -eq 1 ] && grep -q "No space left on device" "$TMP/err" || fail "info >/dev/full: rc $rc: $(cat "$TMP/err")"
# A closed pipe is a write error too (SIGPIPE is ignored): exit 1 naming standard output and EPIPE.
# The reader exits at once (`true`), before moevk has started, so every write meets a closed pipe.
for cmd in "run -m $m -p hello -n 4 --temp 0" "tokenize -m $m -p hello" "info $m" "template -m $m --messages $TMP/msgs.json"; do
  { $T "$MOEVK" $cmd 2>"$TMP/err"; echo $? >"$TMP/rc"; } | true
  rc=$(cat "$TMP/rc")
  [ "$rc" = 1 ] && grep -q "cannot write to standard output: Broken pipe" "$TMP/err" ||
    fail "$cmd | true: rc $rc (141 = killed by SIGPIPE): $(cat "$TMP/err")"
done
# run ... | head -c1: the reader goes after the first byte; run stops generating and says why.
{ $T "$MOEVK" run -m "$m" -p hello -n 2000 -c 4096 --temp 1 2>"$TMP/err"; echo $? >"$TMP/rc"; } | head -c1 >/dev/null
rc=$(cat "$TMP/rc")
[ "$rc" = 1 ] && grep -q "cannot write to standard output: Broken pipe" "$TMP/err" ||
  fail "run | head -c1: rc $rc (141 = killed by SIGPIPE): $(cat "$TMP/err")"
$T "$MOEVK" --help >/dev/full 2>"$TMP/err"
rc=$?; [ $rc -eq 1 ] || fail "moevk --help >/dev/full: rc $rc"
error "cannot write '/dev/full': No space left on device" "$MOEVK" logits -m "$m" --prompt-ids 1,2,3 --out /dev/full
[ -c /dev/full ] || fail "/dev/full is no longer a character device"
# A file size limit (SIGXFSZ ignored: the write fails with EFBIG): the partial file is removed.
# (stderr goes through a pipe: the size limit applies to every file the command writes.)
err=$( (trap '' XFSZ; ulimit -f 1; exec $T "$MOEVK" logits -m "$m" --prompt-ids 1,2,3,4,5,6,7,8 \
  --out "$TMP/l.bin" 2>&1 >/dev/null) )
rc=$?; [ $rc -eq 1 ] && grep -q "cannot write '$TMP/l.bin': File too large" <<<"$err" ||
  fail "logits over the file size limit: rc $rc: $(tail -c 300 <<<"$err")"
[ -e "$TMP/l.bin" ] && fail "logits left a partial $TMP/l.bin"
err=$( (trap '' XFSZ; ulimit -f 64; exec $T "$MOEVK" synth --arch qwen3moe -o "$TMP/big.gguf" 2>&1 >/dev/null) )
rc=$?; [ $rc -eq 1 ] && grep -q "cannot write '$TMP/big.gguf'.*File too large" <<<"$err" ||
  fail "synth over the file size limit: rc $rc: $(tail -c 300 <<<"$err")"
ls -a "$TMP" | grep -q "big.gguf" && fail "synth left a partial file: $(ls -a "$TMP")"

# synth -o never replaces anything but a regular file, even with --force.
error "fifo' exists and is not a regular file (a FIFO)" "$MOEVK" synth --arch qwen3moe -o "$TMP/fifo" --force
[ -p "$TMP/fifo" ] || fail "synth --force replaced a FIFO"
ln -s "$m" "$TMP/link.gguf"
error "is not a regular file (a symbolic link)" "$MOEVK" synth --arch qwen3moe -o "$TMP/link.gguf" --force
[ -L "$TMP/link.gguf" ] || fail "synth --force replaced a symbolic link"
mkdir "$TMP/dir.gguf"
error "is not a regular file (a directory)" "$MOEVK" synth --arch qwen3moe -o "$TMP/dir.gguf" --force
error "cannot write '$TMP/nodir/x.gguf'" "$MOEVK" synth --arch qwen3moe -o "$TMP/nodir/x.gguf"
grep -q "tmp-" "$TMP/err" && fail "the error names a temporary file: $(cat "$TMP/err")"
"$MOEVK" synth --arch qwen3moe --seed 4 -o "$m" --force >/dev/null || fail "synth --force over a regular file"
finish
