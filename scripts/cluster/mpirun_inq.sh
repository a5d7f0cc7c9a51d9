#!/bin/bash
# Data-parallel inq_train with Open MPI's mpirun, on one machine or on the hosts of a hostfile.
#   scripts/cluster/mpirun_inq.sh NP CONFIG [inq_train args]...           # e.g. 8 GPUs: NP=8, device cuda (NCCL)
#   HOSTFILE=hosts scripts/cluster/mpirun_inq.sh 16 CONFIG                 # 2 nodes x 8 GPUs
#   scripts/cluster/mpirun_inq.sh 2 configs/fmnist_resnet8_5bit.json --set device=cpu   # CPU, MPI all-reduce
# On the CPU give each rank its share of the cores (threads, data.workers). Running as root needs
# OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 (set below when uid is 0).
set -euo pipefail
NP=${1:?usage: mpirun_inq.sh NP CONFIG [inq_train args]...}
shift
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ARGS=(-np "$NP" --bind-to none)
[ -n "${HOSTFILE:-}" ] && ARGS+=(--hostfile "$HOSTFILE")
# More ranks than cores (small machines, tests) needs --oversubscribe.
[ "$NP" -gt "$(nproc)" ] && ARGS+=(--oversubscribe)
exec mpirun "${ARGS[@]}" -x OMP_NUM_THREADS -x NCCL_DEBUG build/bin/inq_train "$@"
