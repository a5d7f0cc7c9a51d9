#!/usr/bin/env bash
# Installs the benchmark peer: a current PyTorch from the package index, pinned, into its own
# environment .venv-bench/ (apart from the project's .venv and from Debian's torch 1.13, which the
# tests use). Only scripts/bench_cpu.sh uses it; tests and CI never do. Idempotent.
#
# The index's Linux wheel of torch cannot be imported without its CUDA libraries (nvidia-* wheels,
# pinned exactly by torch itself): about 3 GiB on disk in all, though the CPU benchmark never
# touches a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH=2.14.1        # the newest torch with a torchvision release on the index (0.29)
TORCHVISION=0.29.2
VENV=.venv-bench

if [ -x "$VENV/bin/python" ] &&
   "$VENV/bin/python" -c "import sys, torch, torchvision; sys.exit(torch.__version__.split('+')[0] != '$TORCH')" 2>/dev/null; then
  exit 0
fi
[ -d "$VENV" ] || /usr/bin/python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "torch==$TORCH" "torchvision==$TORCHVISION"
"$VENV/bin/python" -c "import torch; print('setup_bench.sh: torch', torch.__version__,
  'with oneDNN' if torch.backends.mkldnn.is_available() else 'WITHOUT oneDNN')"
