#!/usr/bin/env bash
# The README's main job: generate text on the Vulkan device with the demo model in the repository,
# models/kjv-moe.gguf: a 3.6M-parameter qwen3moe (16 experts, 2 per token) trained here on the King
# James Bible (models/README.md says how). It writes English in the Bible's style, which shows the
# whole path (GGUF, tokenizer, Vulkan forward pass with its router, sampler) working. Use a real
# GGUF with
#   build/cli/moevk run -m your-model.gguf -p "your prompt"
set -euo pipefail
cd "$(dirname "$0")/.."
build/cli/moevk devices | tail -1
build/cli/moevk run -m models/kjv-moe.gguf -p "In the beginning" -n 60 --temp 0.7 --seed 1 --stats
