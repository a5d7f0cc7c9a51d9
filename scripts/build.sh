#!/usr/bin/env bash
# Configures and builds inq into build/ (binaries in build/bin). Extra arguments go to cmake,
# e.g. scripts/build.sh -DINQ_WITH_CUDA=OFF. JOBS overrides the parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DINQ_WERROR=ON "$@" >/dev/null
cmake --build build -j "${JOBS:-$(nproc)}"
