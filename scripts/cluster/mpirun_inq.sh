#!/bin/bash
# Data-parallel inq_train with Open MPI's mpirun, on one machine or on the hosts of a hostfile.
#   scripts/cluster/mpirun_inq.sh NP CONFIG [inq_train args]...           # e.g. 8 GPUs: NP=8, device cuda (NCCL)
#   HOSTFILE=hosts scripts/cluster/mpirun_inq.sh 16 CONFIG                 # 2 nodes x 8 GPUs
#   scripts/cluster/mpirun_inq.sh 2 configs/fmnist_resnet8_5bit.json --set device=cpu   # CPU, MPI all-reduce
# train.batch_size is per rank; GLOBAL_BATCH=N gives each rank N / NP (the config's lr unchanged), unset
# keeps the config's batch per rank. INQ_DRY_RUN=1 prints the mpirun command instead of running it.
# Ranks are not bound (--bind-to none): data.workers 0 then gives each rank its share of the cores
# (cores / ranks on the node); set OMP_NUM_THREADS or `threads` likewise for CPU training. Running as
# root needs OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 (set below when uid is 0).
set -euo pipefail
NP=${1:?usage: mpirun_inq.sh NP CONFIG [inq_train args]...}
shift
source "$(dirname "$0")/common.sh"
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ARGS=(-np "$NP" --bind-to none)
[ -n "${HOSTFILE:-}" ] && ARGS+=(--hostfile "$HOSTFILE")
# More ranks than cores (small machines, tests) needs --oversubscribe.
[ "$NP" -gt "$(nproc)" ] && ARGS+=(--oversubscribe)
inq_batch_args "$NP"
CONFIG=${1:?usage: mpirun_inq.sh NP CONFIG [inq_train args]...}
shift
inq_exec mpirun "${ARGS[@]}" -x OMP_NUM_THREADS -x NCCL_DEBUG build/bin/inq_train "$CONFIG" "${BATCH_ARGS[@]}" "$@"
