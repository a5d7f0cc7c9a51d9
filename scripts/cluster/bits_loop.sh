#!/bin/bash
# Runs one config per bit-width one after another, each data-parallel over NP ranks (without Slurm),
# each width with its own config and so its own schedule:
#   scripts/cluster/bits_loop.sh NP PREFIX [inq_train args]...
#   BITS="4 3" scripts/cluster/bits_loop.sh 8 configs/resnet18 --set data.root=/data/imagenet
# runs PREFIX_<b>bit.json for each b of BITS (default "5 4 3 2") into runs/<config name>, resuming a
# run directory that holds a checkpoint. GLOBAL_BATCH and INQ_DRY_RUN as for mpirun_inq.sh.
set -euo pipefail
NP=${1:?usage: bits_loop.sh NP PREFIX [inq_train args]...}
PREFIX=${2:?usage: bits_loop.sh NP PREFIX [inq_train args]...}
PREFIX=${PREFIX%.json}
shift 2
HERE=$(dirname "$0")
source "$HERE/common.sh"
read -r -a BITS <<< "${BITS:-5 4 3 2}"
for B in "${BITS[@]}"; do
  [ -f "${PREFIX}_${B}bit.json" ] || { echo "bits_loop.sh: no config ${PREFIX}_${B}bit.json for $B bits" >&2; exit 2; }
done
for B in "${BITS[@]}"; do
  CONFIG=${PREFIX}_${B}bit.json
  inq_run_args "runs/$(basename "$CONFIG" .json)"
  "$HERE/mpirun_inq.sh" "$NP" "$CONFIG" "${RUN_ARGS[@]}" "$@"
done
