#!/usr/bin/env bash
# Sets up, builds, trains resnet8 on Fashion-MNIST in FP32 (10 epochs, CPU) and quantizes it to
# 4 bits with INQ, then checks that every weight of the result is a level (0 or ±2^k).
# Extra arguments go to both inq_train runs (e.g. --set threads=4).
# Results land in runs/fmnist_resnet8_fp32/ and runs/fmnist_resnet8_4bit/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh

fp32=runs/fmnist_resnet8_fp32
# model.safetensors is written (atomically) only when the FP32 run has finished.
if [ -f "$fp32/model.safetensors" ]; then
  echo "quickstart: $fp32/model.safetensors exists; skipping the FP32 run"
elif [ -f "$fp32/checkpoint.safetensors" ]; then
  build/bin/inq_train --resume "$fp32" "$@"
else
  build/bin/inq_train configs/fmnist_resnet8_fp32.json "$@"
fi

build/bin/inq_train configs/fmnist_resnet8_4bit.json "$@"
build/bin/inq_check runs/fmnist_resnet8_4bit/model.safetensors
