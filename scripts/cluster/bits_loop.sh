#!/bin/bash
# Runs a grid of bit-widths one after another, each data-parallel over NP ranks (without Slurm).
#   scripts/cluster/bits_loop.sh NP CONFIG [bits...]      # default bits: 5 4 3 2
set -euo pipefail
NP=${1:?usage: bits_loop.sh NP CONFIG [bits...]}
CONFIG=${2:?usage: bits_loop.sh NP CONFIG [bits...]}
shift 2
if [ $# -gt 0 ]; then BITS=("$@"); else BITS=(5 4 3 2); fi
HERE=$(dirname "$0")
for B in "${BITS[@]}"; do
  OUT=runs/$(basename "$CONFIG" .json)_${B}bit
  if [ -f "$OUT/checkpoint.safetensors" ]; then R=(--resume "$OUT"); else R=(--out "$OUT"); fi
  "$HERE/mpirun_inq.sh" "$NP" "$CONFIG" "${R[@]}" --set inq.bits="$B"
done
