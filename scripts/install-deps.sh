#!/usr/bin/env bash
# Installs what moevk needs to build and test on Debian 12, skipping what is already there.
# Every package is Debian's own; README.md says why each one is here.
set -euo pipefail
pkgs=(
  cmake ninja-build g++ pkg-config
  libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
  glslc glslang-tools spirv-tools
  libfmt-dev doctest-dev nlohmann-json3-dev
  clang libclang-rt-14-dev   # libFuzzer and the sanitizer runtimes for the GGUF fuzz target
  tmux                       # drives `moevk chat` through a real terminal in the CLI tests
  python3
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "moevk: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
