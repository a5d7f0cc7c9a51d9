#!/usr/bin/env bash
# Sets up, builds, and runs the main job on the built-in default: resnet8 on Fashion-MNIST
# (FP32, 10 epochs, CPU). Results land in runs/fmnist_resnet8_fp32/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/bin/inq_train configs/fmnist_resnet8_fp32.json "$@"
