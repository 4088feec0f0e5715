#!/usr/bin/env bash
# moevk bench on a synthesised model: the table and the JSON carry the pp/tg rates, the per-token
# figures and the floor; the cpu backend runs without a floor unless --bandwidth is given; bad flags
# are refused with a clear message (exit 1 or 2, never a signal).
# Usage: tests/cli/bench.sh path/to/moevk
source "$(dirname "$0")/lib.sh"

m=$TMP/q.gguf
"$MOEVK" synth --arch qwen3moe --type Q4_K --seed 5 -o "$m" >/dev/null || { echo "FAIL: synth"; exit 1; }

# Text: the table has a pp and a tg row with three numbers each, then the per-token line and the
# floor from a measured copy bandwidth.
if "$MOEVK" bench -m "$m" -p 24 -n 4 -r 2 >"$TMP/text" 2>"$TMP/err"; then
  grep -Eq "^\| model +\|.*\| test +\| tok/s \(median\) \| +min \| +max \|$" "$TMP/text" || fail "text: no table header: $(cat "$TMP/text")"
  grep -Eq "^\| qwen3moe Q4_K .*\| vulkan .*\| pp24 +\| +[0-9.]+ \| +[0-9.]+ \| +[0-9.]+ \|$" "$TMP/text" ||
    fail "text: no pp24 row: $(cat "$TMP/text")"
  grep -Eq "^\| qwen3moe Q4_K .*\| tg4 +\| +[0-9.]+ \|" "$TMP/text" || fail "text: no tg4 row: $(cat "$TMP/text")"
  grep -Eq "^per decoded token: [0-9.]+ compute dispatches, [0-9.]+ barriers, 1.0 host-device round trips" "$TMP/text" ||
    fail "text: no per-token figures: $(cat "$TMP/text")"
  grep -Eq "^memory bandwidth: [0-9.]+ GB/s \(measured on .*read \+ write" "$TMP/text" ||
    fail "text: no measured bandwidth: $(cat "$TMP/text")"
  grep -Eq "^floor: .* ms/token .* tg4 at [0-9.]+ tok/s is [0-9.]+% of the floor" "$TMP/text" ||
    fail "text: no floor line: $(cat "$TMP/text")"
  grep -q "^device: .*context 24 tokens" "$TMP/text" || fail "text: no device/context line: $(cat "$TMP/text")"
  grep -q "tg4 run 2/2" "$TMP/err" || fail "text: no progress on stderr: $(cat "$TMP/err")"
  grep -q "^| model" "$TMP/err" && fail "text: the table went to stderr"
else
  fail "bench text: $(cat "$TMP/err")"
fi

# --profile: a pp and a tg table of GPU time per op, the matvecs with weight bytes and GB/s, and a
# total row; run --profile prints one after the text; the validation layer stays silent.
if MOEVK_VALIDATE=1 "$MOEVK" bench -m "$m" -p 24 -n 4 -r 1 --profile >"$TMP/prof" 2>"$TMP/err"; then
  for t in pp24 tg4; do
    grep -Eq "^profile: $t, (24|4) tokens; GPU time" "$TMP/prof" || fail "profile: no $t table: $(cat "$TMP/prof")"
  done
  grep -Eq "^\| matvec_id(_rows)?_q4_k_f32[a-z_]* \| [0-9.]+ \| [0-9.]+ \| [0-9.]+% \| [0-9.]+ [KM]iB \| [0-9.]+ \| [0-9.]+% \|$" "$TMP/prof" ||
    fail "profile: no matvec_id row with bytes and GB/s: $(cat "$TMP/prof")"
  [ "$(grep -c '^| total | ' "$TMP/prof")" = 2 ] || fail "profile: not two total rows"
  grep -q "Vulkan validation" "$TMP/err" && fail "profile: validation messages"
else
  fail "bench --profile: $(cat "$TMP/err")"
fi
"$MOEVK" run -m "$m" -p "hello" -n 3 --temp 0 --profile >/dev/null 2>"$TMP/err" || fail "run --profile: $(cat "$TMP/err")"
grep -q "^profile: the prompt and the generated tokens" "$TMP/err" || fail "run --profile: no profile: $(cat "$TMP/err")"

# JSON with a given bandwidth: the floor follows the formula exactly.
if "$MOEVK" bench -m "$m" -p 16 -n 3 -r 3 --bandwidth 100 -o json >"$TMP/json" 2>"$TMP/err"; then
  python3 - "$TMP/json" <<'EOF' || fail "json: $(cat "$TMP/json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["model"]["arch"] == "qwen3moe" and j["model"]["type"] == "Q4_K", j["model"]
assert j["model"]["size_bytes"] > 0 and j["model"]["params"] > 0
assert j["backend"] == "vulkan" and j["device"] and j["repetitions"] == 3 and j["n_ctx"] == 19
tests = {t["test"]: t for t in j["tests"]}
assert set(tests) == {"pp16", "tg3"}, tests
for t in tests.values():
    r = t["tok_s"]
    assert 0 < r["min"] <= r["median"] <= r["max"], r
    assert len(t["samples_tok_s"]) == 3 and len(t["samples_seconds"]) == 3
    assert sorted(t["samples_tok_s"])[1] == r["median"]
p = j["per_decoded_token"]
assert p["counted_by_engine"] and p["dispatches"] > 0 and p["barriers"] > 0, p
assert p["host_device_round_trips"] == 1.0, p
assert p["weight_bytes"] > 0
assert j["prompt_eval"]["dispatches"] > 0
assert j["bandwidth"]["gb_s"] == 100 and "given" in j["bandwidth"]["method"]
f = j["floor"]
floor_s = p["weight_bytes"] / 100e9
assert abs(f["ms_per_token"] - floor_s * 1e3) < 1e-9 * max(1, f["ms_per_token"]), f
assert abs(f["tg_percent_of_floor"] - 100 * tests["tg3"]["tok_s"]["median"] * floor_s) < 1e-6, f
EOF
else
  fail "bench json: $(cat "$TMP/err")"
fi

# The cpu backend: no floor without --bandwidth, weight bytes from the file; -p 0 skips pp.
if "$MOEVK" bench -m "$m" -p 0 -n 2 -r 1 --backend cpu -o json >"$TMP/cpu" 2>"$TMP/err"; then
  python3 - "$TMP/cpu" <<'EOF' || fail "cpu json: $(cat "$TMP/cpu")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["backend"] == "cpu" and [t["test"] for t in j["tests"]] == ["tg2"], j["tests"]
assert j["floor"] is None and j["bandwidth"] is None
assert j["per_decoded_token"]["weight_bytes"] > 0 and not j["per_decoded_token"]["counted_by_engine"]
EOF
else
  fail "bench cpu: $(cat "$TMP/err")"
fi
"$MOEVK" bench -m "$m" -p 4 -n 0 -r 1 --backend cpu >"$TMP/cpu.txt" 2>"$TMP/err" || fail "bench cpu text: $(cat "$TMP/err")"
grep -Eq "\| cpu +\| pp4 " "$TMP/cpu.txt" || fail "cpu text: no pp4 row: $(cat "$TMP/cpu.txt")"
grep -q "tg" "$TMP/cpu.txt" && fail "cpu text: -n 0 still ran tg: $(cat "$TMP/cpu.txt")"

refuse "raise -c to at least 40" "$MOEVK" bench -m "$m" -p 40 -n 4 -c 32
refuse "raise -c to at least 36" "$MOEVK" bench -m "$m" -p 8 -n 20 -c 32
refuse "unknown option" "$MOEVK" bench -m "$m" --batch 9
refuse "unknown format 'csv'" "$MOEVK" bench -m "$m" -o csv
refuse "nothing to measure" "$MOEVK" bench -m "$m" -p 0 -n 0
refuse "\-\-repetitions: 0 is out of range" "$MOEVK" bench -m "$m" -r 0
refuse "\-\-n-prompt: '512,1024' is not an integer" "$MOEVK" bench -m "$m" -p 512,1024
refuse "\-\-bandwidth" "$MOEVK" bench -m "$m" --bandwidth -5
refuse "\-\-bandwidth" "$MOEVK" bench -m "$m" --bandwidth fast
refuse "unknown backend" "$MOEVK" bench -m "$m" --backend metal
refuse "\-\-model is required" "$MOEVK" bench -p 8
refuse "cannot open\|No such file\|open" "$MOEVK" bench -m "$TMP/missing.gguf"
"$MOEVK" bench --help >"$TMP/help" || fail "bench --help failed"
for flag in -p -n -r --bandwidth --output --gpu-mem --device --ctx-size floor; do
  grep -q -- "$flag" "$TMP/help" || fail "bench --help lacks $flag"
done

finish
