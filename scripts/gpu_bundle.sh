#!/usr/bin/env bash
# Builds the GPU tests and benchmarks here and packs them, with the non-CUDA shared libraries they
# need (OpenBLAS, gfortran, quadmath, gomp), into one tar.xz that runs on a GPU machine which has
# the CUDA, cuBLAS and cuDNN libraries but none of our Debian packages (no OpenCV, MPI, OpenBLAS):
#   scripts/gpu_bundle.sh [BUILD_DIR] [TARBALL]      (defaults: build-gpu, gpu_bundle.tar.xz)
# then, on the GPU machine, from the repository root:
#   tar xJf gpu_bundle.tar.xz && bash gpu_bundle/gpu_checks.sh OUT_DIR
# The build has no OpenCV (no ImageNet loader) and no MPI (so no NCCL communicator test).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-gpu}
tarball=${2:-gpu_bundle.tar.xz}
targets=(test_cuda_kernels test_cuda_conv_linear test_cuda_inq test_cuda_batchnorm_sync test_upload_stream
         test_models inq_bench inq_train)

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DINQ_WERROR=ON -DINQ_WITH_CUDA=ON -DINQ_WITH_OPENCV=OFF \
      -DINQ_WITH_MPI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target "${targets[@]}"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/gpu_bundle/bin" "$stage/gpu_bundle/lib"
for t in "${targets[@]}"; do cp "$build/bin/$t" "$stage/gpu_bundle/bin/"; done
# The libraries a CUDA image lacks: whatever the binaries link from outside CUDA and glibc/libstdc++.
for lib in $(ldd "$build/bin/inq_bench" | awk '/=>/ {print $3}' | grep -E 'openblas|gfortran|quadmath|gomp'); do
  cp -L "$lib" "$stage/gpu_bundle/lib/"
done
cp scripts/gpu_checks.sh "$stage/gpu_bundle/"
tar -C "$stage" -cJf "$tarball" gpu_bundle
echo "gpu_bundle.sh: $tarball ($(du -h "$tarball" | cut -f1)): ${targets[*]}; libs: $(ls "$stage/gpu_bundle/lib" | tr '\n' ' ')"
