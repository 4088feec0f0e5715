#!/usr/bin/env bash
# Packs what a run on the workplace's lent GPU machine needs into ./.gpu (git-ignored): stripped
# release binaries from ./build, one oracle model per architecture with its logits and a trimmed
# manifest, and the Vulkan loader packages that machine lacks. The device tool carries .gpu (64 MiB
# limit); scripts/gpu-run.sh is the command run there. Not part of the product or of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${MOEVK_SHARED_DIR:-../shared}
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo /.gpu/ >>.git/info/exclude
rm -rf .gpu/bin .gpu/shared && mkdir -p .gpu/bin .gpu/shared/oracle/models .gpu/shared/oracle/logits
for b in cli/moevk tests/test_vk tests/test_ops tests/test_model; do
  strip -o ".gpu/bin/$(basename $b)" "build/$b"
done
models="qwen3moe-Q4_K_M mixtral-Q4_K_M olmoe-Q4_K_M qwen2moe-Q4_K_M deepseek2-Q4_K_M gptoss-MXFP4_MOE"
for m in $models; do
  cp "$SHARED/oracle/models/$m.gguf" .gpu/shared/oracle/models/
  cp "$SHARED"/oracle/logits/"$m".* .gpu/shared/oracle/logits/
done
cp -r "$SHARED/oracle/dequant" .gpu/shared/oracle/
python3 - "$SHARED/oracle/manifest.json" .gpu/shared/oracle/manifest.json $models <<'PY'
import json, sys
src, dst, keep = sys.argv[1], sys.argv[2], set(sys.argv[3:])
m = json.load(open(src))
m["models"] = [e for e in m["models"] if e["file"].split("/")[-1][:-5] in keep]
json.dump(m, open(dst, "w"))
PY
if [ ! -d .gpu/gl ]; then
  mkdir -p .gpu/gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update >/dev/null
  (cd .gpu/gl && apt-get $o download libvulkan1 vulkan-validationlayers libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null 2>&1)
fi
du -sh .gpu
