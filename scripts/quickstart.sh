#!/usr/bin/env bash
# Sets up, builds, trains resnet8 on Fashion-MNIST in FP32 (10 epochs, CPU) and quantizes it to
# 4 bits with INQ, then checks that every weight of the result is a level (0 or ±2^k).
# Extra arguments go to both inq_train runs (e.g. --set threads=4). Build options come from the
# environment, as for scripts/build.sh (e.g. INQ_WITH_CUDA=OFF scripts/quickstart.sh on a machine
# with nvcc but no cuDNN, which the build also detects by itself).
# Results land in runs/fmnist_resnet8_fp32/ and runs/fmnist_resnet8_4bit/. Rerunning after a Ctrl-C
# resumes the interrupted run from its checkpoint; a finished run is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh

# Runs CONFIG into runs/NAME, resuming it when it holds a checkpoint, skipping it when finished
# (model.safetensors is written, atomically, only when a run has finished).
run() {
  local config=$1 dir
  shift
  dir=runs/$(basename "$config" .json)
  if [ -f "$dir/model.safetensors" ]; then
    echo "quickstart: $dir/model.safetensors exists; skipping $config"
  elif [ -f "$dir/checkpoint.safetensors" ]; then
    build/bin/inq_train --resume "$dir" "$@"
  else
    build/bin/inq_train "$config" "$@"
  fi
}

run configs/fmnist_resnet8_fp32.json "$@"
run configs/fmnist_resnet8_4bit.json "$@"
build/bin/inq_check runs/fmnist_resnet8_4bit/model.safetensors
