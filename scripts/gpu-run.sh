#!/usr/bin/env bash
# Runs on the lent GPU machine (see scripts/gpu-kit.sh): brings up the Vulkan loader, then runs the
# steps named on the command line (tests, run, bench[:LAYERS], stream[:LAYERS]), writing logs to $OUT.
set -uo pipefail
for f in .gpu/gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if ! ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
B=$PWD/.gpu/bin
export MOEVK_SHARED_DIR=$PWD/.gpu/shared PATH=$B:$PATH
OUT=${OUT:-/tmp/out}
TEST_ARGS=(${TEST_ARGS:-})
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tail -1
moevk devices 2>&1 | tee "$OUT/devices.txt"
for step in "$@"; do
  echo "=== $step"
  case $step in
    tests)
      for t in test_vk test_ops test_model; do
        (cd /tmp && MOEVK_VALIDATE=1 timeout 300 "$B/$t" "${TEST_ARGS[@]}" >"$OUT/$t.txt" 2>&1)
        echo "$t: rc $?"; grep -B2 -A12 "ERROR\|Validation\|VUID" "$OUT/$t.txt" | head -60
        # the cooperative-matrix matmul's tests on their own, whatever TEST_ARGS filters (its kernels
        # run only on such a GPU; the self-check's warning line, if any, is in the log)
        [ "$t" = test_ops ] && (cd /tmp && MOEVK_VALIDATE=1 timeout 300 "$B/test_ops" -tc='matmul_coopmat*' -s \
          >"$OUT/test_coopmat.txt" 2>&1; echo "test_ops matmul_coopmat: rc $?") &&
          grep -B2 -A12 "ERROR\|Validation\|VUID\|self-check\|MESSAGE" "$OUT/test_coopmat.txt" | head -60
      done ;;
    run)  # every oracle model in the kit: greedy text, speed and --stats
      for m in .gpu/shared/oracle/models/*.gguf; do
        echo "--- $m"
        moevk run -m "$m" -p "Once upon a time" -n 32 --temp 0 --stats 2>&1 | tail -8
      done 2>&1 | tee "$OUT/run.txt" ;;
    bench*)  # bench:LAYERS synthesises the Qwen3-30B-A3B shape (all Q4_K, as before the presets)
      # with LAYERS layers; moevk bench with what the device picks, then without the integer-dot and
      # 16-bit paths (the float path on 32-bit words), then without the tiled prefill; a profile
      L=${step#bench:}; [ "$L" = bench ] && L=48
      /usr/bin/time -f "synth %e s" moevk synth --preset qwen3-30b-a3b --layers "$L" --type Q4_K \
        --ctx 4096 -o /tmp/q30.gguf --force 2>&1 | tail -2
      for dis in "" int_dot int_dot,storage16 tiled; do
        echo "--- MOEVK_DISABLE=$dis"
        MOEVK_DISABLE=$dis moevk bench -m /tmp/q30.gguf -p 512 -n 128 -r 3
      done 2>&1 | tee "$OUT/bench-$L.txt"
      # and without the cooperative-matrix prefill matmul (the lines above use it where the device has it)
      { echo "--- MOEVK_DISABLE=coopmat"; MOEVK_DISABLE=coopmat moevk bench -m /tmp/q30.gguf -p 512 -n 128 -r 3; } 2>&1 | tee -a "$OUT/bench-$L.txt"
      moevk bench -m /tmp/q30.gguf -p 512 -n 32 -r 1 --profile 2>&1 | tee "$OUT/profile-$L.txt" ;;
    stream*)  # stream:LAYERS: expert streaming on a real GPU (transfer queue, memory budget, PCIe):
      # the streaming tests with the validation layer, then the budget sweep on the Qwen3 shape
      L=${step#stream:}; [ "$L" = stream ] && L=8
      (cd /tmp && MOEVK_VALIDATE=1 timeout 400 "$B/test_model" -tc='streaming*' >"$OUT/stream-tests.txt" 2>&1)
      echo "streaming tests: rc $?"; grep -B2 -A12 "ERROR\|Validation\|VUID" "$OUT/stream-tests.txt" | head -40
      [ -f /tmp/q30-$L.gguf ] || moevk synth --preset qwen3-30b-a3b --layers "$L" --type Q4_K \
        --ctx 4096 -o /tmp/q30-$L.gguf --force 2>&1 | tail -1
      for pol in lfu lru; do
        MOEVK_VALIDATE=1 moevk bench -m /tmp/q30-$L.gguf --gpu-mem 100%,50%,25%,min -p 512 -n 64 \
          --cache-policy $pol 2>&1
      done | tee "$OUT/stream-$L.txt" ;;
    *) echo "unknown step $step" ;;
  esac
done
