# Shared by the launch scripts of scripts/cluster/ (sourced, from the repository root).

# inq_run_args OUT: --resume OUT when OUT holds a checkpoint (a requeued or resubmitted job continues),
# else --out OUT. Sets the array RUN_ARGS.
inq_run_args() {
  if [ -f "$1/checkpoint.safetensors" ]; then RUN_ARGS=(--resume "$1"); else RUN_ARGS=(--out "$1"); fi
}

# inq_batch_args RANKS: train.batch_size is per rank. With GLOBAL_BATCH=N (N divisible by RANKS) every
# rank gets N / RANKS images, so the run keeps a global batch of N and the config's learning rate;
# with GLOBAL_BATCH unset, empty or "none" the config's batch_size stays per rank (global batch =
# batch_size x RANKS: scale the lr yourself, e.g. --set distributed.lr_scaling=linear). Sets BATCH_ARGS.
inq_batch_args() {
  local ranks=$1 global=${GLOBAL_BATCH:-none}
  BATCH_ARGS=()
  if [ "$global" = none ]; then
    echo "inq: $ranks rank(s), train.batch_size from the config per rank (GLOBAL_BATCH=none)" >&2
    return 0
  fi
  if ! [[ "$global" =~ ^[1-9][0-9]*$ ]] || [ $((global % ranks)) -ne 0 ]; then
    echo "inq: GLOBAL_BATCH=$global: expected a positive multiple of the $ranks ranks (or none)" >&2
    return 2
  fi
  BATCH_ARGS=(--set "train.batch_size=$((global / ranks))")
  echo "inq: $ranks rank(s) x batch $((global / ranks)) per rank = global batch $global" >&2
}

# inq_exec CMD...: runs CMD, or with INQ_DRY_RUN=1 prints it (one line, shell-quoted) instead.
inq_exec() {
  if [ "${INQ_DRY_RUN:-0}" = 1 ]; then
    printf '%q ' "$@" | sed 's/ $//'
    echo
    return 0
  fi
  "$@"
}

# inq_requeue_on_stop RC JOB: after a stop by signal (inq_train exits 130/143 once its checkpoint is
# written, e.g. at --signal time before the limit) requeue JOB, which resumes from the checkpoint.
inq_requeue_on_stop() {
  if { [ "$1" = 130 ] || [ "$1" = 143 ]; } && [ -n "${2:-}" ]; then
    echo "inq: stopped by signal with a checkpoint; requeueing job $2 (it resumes)" >&2
    inq_exec scontrol requeue "$2"
  fi
}
