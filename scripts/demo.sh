#!/usr/bin/env bash
# The README's main job: synthesise a small random-weight Qwen3-MoE-shaped model (once) and generate
# text with it on the Vulkan device. The weights are random, so the text is noise: the point is the
# whole path (GGUF, tokenizer, Vulkan forward pass, sampler) running. Use a real GGUF with
#   build/cli/moevk run -m your-model.gguf -p "your prompt"
set -euo pipefail
cd "$(dirname "$0")/.."
model=build/demo-qwen3moe-q4_k.gguf
if [ ! -f "$model" ]; then
  build/cli/moevk synth --arch qwen3moe --type Q4_K --layers 4 --embd 512 --experts 16 \
    --experts-used 4 --ff-exp 256 --seed 7 -o "$model"
fi
build/cli/moevk devices | tail -1
build/cli/moevk run -m "$model" -p "The quick brown fox" -n 32 --temp 0.8 --seed 1 --stats
