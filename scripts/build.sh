#!/usr/bin/env bash
# Configures and builds inq into build/ (binaries in build/bin). Build options come from the
# environment or as extra cmake arguments:
#   INQ_WITH_CUDA=OFF scripts/build.sh                   # same as scripts/build.sh -DINQ_WITH_CUDA=OFF
#   CUDNN_ROOT=/opt/cudnn CMAKE_CUDA_ARCHITECTURES="80;90" scripts/build.sh
# Variables read: INQ_WITH_CUDA, INQ_WITH_OPENCV, INQ_WITH_MPI, INQ_WERROR, INQ_BUILD_TESTS,
# INQ_ARCH_FLAGS, CMAKE_CUDA_ARCHITECTURES, CMAKE_BUILD_TYPE (default Release), CUDNN_ROOT, BUILD_DIR
# (default build), JOBS (default: all cores). Warnings are errors only with INQ_WERROR=ON (CI).
# INQ_BUILD_DRY_RUN=1 prints the cmake commands instead of running them.
set -euo pipefail
cd "$(dirname "$0")/.."
# INQ_WERROR is always passed, so a build directory configured by CI does not keep -Werror for users.
args=(-S . -B "${BUILD_DIR:-build}" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}" -DINQ_WERROR="${INQ_WERROR:-OFF}")
for v in INQ_WITH_CUDA INQ_WITH_OPENCV INQ_WITH_MPI INQ_BUILD_TESTS INQ_ARCH_FLAGS \
         CMAKE_CUDA_ARCHITECTURES CUDNN_ROOT; do
  if [ -n "${!v+x}" ]; then args+=("-D$v=${!v}"); fi
done
configure=(cmake "${args[@]}" "$@")
build=(cmake --build "${BUILD_DIR:-build}" -j "${JOBS:-$(nproc)}")
if [ "${INQ_BUILD_DRY_RUN:-0}" = 1 ]; then
  printf '%q ' "${configure[@]}"; echo
  printf '%q ' "${build[@]}"; echo
  exit 0
fi
"${configure[@]}" >/dev/null
"${build[@]}"
