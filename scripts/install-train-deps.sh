#!/usr/bin/env bash
# Installs what scripts/train-demo-model.py needs (development only: users of moevk never need it):
# Debian's PyTorch with OpenBLAS (without libopenblas0-pthread PyTorch falls back to a generic BLAS,
# ~40x slower matmuls), the King James Bible text and its reader `bible` (the text is stored
# compressed; the script reads it through the program), and the regex module (\p{L} classes for the
# GPT-2 pre-tokenizer). The script runs with /usr/bin/python3, where Debian's packages live.
set -euo pipefail
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y \
  python3-torch libopenblas0-pthread bible-kjv-text bible-kjv python3-regex python3-numpy
