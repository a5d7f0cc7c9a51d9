#!/usr/bin/env bash
# The test command: set up the machine, configure, build and run the whole suite with ctest.
# GPU tests skip themselves (with the reason) where no CUDA device is present.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
INQ_WERROR=ON scripts/build.sh "$@"   # warnings are errors in CI, not for users
cd build
ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 1800
