#!/usr/bin/env bash
# Builds here what a GPU machine needs and packs it into one tarball, then prints the one command
# to run there. The GPU machine has CUDA 13, cuDNN, cuBLAS, NCCL and NVRTC (inside its PyTorch
# environment) but none of our Debian packages, so the bundle is built for sm_90 (H100, H200) with
# OpenCV off (no ImageNet loader; nothing it runs needs one) and MPI on (NCCL's id exchange), and
# carries every shared library the binaries load that is not CUDA's or the C/C++ runtime's
# (OpenBLAS, gfortran, gomp, OpenMPI with its plugins, hwloc, libevent, ...), plus the CUDA
# runtime as a last resort. docs/gpu.md says how to run it and what comes back.
#
#   scripts/gpu_bundle.sh                   build build-gpu/ and pack gpu_bundle.tar.xz
#   scripts/gpu_bundle.sh --pack-only DIR   pack the binaries already built in DIR (no build)
#   scripts/gpu_bundle.sh --command         print the device command only
#   scripts/gpu_bundle.sh --pack-only build --skip-opencv-libs --out F
#                                           CI's size check: its own sm_90 tree (the same binaries
#                                           but for the OpenCV loader), without OpenCV's libraries
# Options: --build-dir DIR (default build-gpu), --out FILE (default gpu_bundle.tar.xz, which
# .gitignore keeps out of git; the device command carries it). Fails when the tarball exceeds
# INQ_BUNDLE_MAX_MIB (default 40: the repository and the tarball travel together, 64 MiB in all)
# or the command exceeds 2,000 characters.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-gpu
tarball=gpu_bundle.tar.xz
mode=build
skip_opencv=0
max_mib=${INQ_BUNDLE_MAX_MIB:-40}
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --out) tarball=$2; shift 2 ;;
    --pack-only) mode=pack; build=$2; shift 2 ;;
    --command) mode=command; shift ;;
    --skip-opencv-libs) skip_opencv=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu_bundle.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# The device tool's call: the tarball travels as a carried (git-ignored) path; the checks unpack it
# outside the working tree and write only their tarball and summary under $OUT.
device_command() {
  printf '%s' "tar xJf $(basename "$tarball") -C /tmp && bash /tmp/gpu_bundle/gpu_checks.sh \"\$OUT\""
}
print_command() {
  local cmd
  cmd=$(device_command)
  if [ ${#cmd} -gt 2000 ]; then
    echo "gpu_bundle.sh: the device command is ${#cmd} characters, more than 2000" >&2
    exit 1
  fi
  echo "device run: command (${#cmd} characters), carry [\"$(basename "$tarball")\"], timeout_s 600:"
  echo "$cmd"
}
if [ $mode = command ]; then print_command; exit 0; fi

# Not test_inq_bench_cli: it runs inq_bench from this build tree's path, which the GPU machine lacks
# (the benchmarks run inq_bench's CUDA flags there anyway).
tests=(test_cuda_versions test_cuda_kernels test_cuda_conv_engines test_cuda_conv_linear test_cuda_memory
       test_cuda_inq test_cuda_quant test_cuda_batchnorm_sync test_upload_stream test_cuda_config test_models
       test_nccl_communicator)
targets=("${tests[@]}" inq_bench)

if [ $mode = build ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DINQ_WERROR=ON -DINQ_WITH_CUDA=ON -DINQ_WITH_OPENCV=OFF \
        -DINQ_WITH_MPI=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
        -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache >/dev/null
  cmake --build "$build" -j "${JOBS:-$(nproc)}" --target "${targets[@]}"
fi
for t in "${targets[@]}"; do
  [ -x "$build/bin/$t" ] || { echo "gpu_bundle.sh: $build/bin/$t is missing (build it first)" >&2; exit 1; }
done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
b=$stage/gpu_bundle
mkdir -p "$b/bin" "$b/lib/fallback"
for t in "${targets[@]}"; do cp "$build/bin/$t" "$b/bin/"; done
cp scripts/gpu_checks.sh scripts/bench_vs_pytorch.py scripts/torch_resnet8.py "$b/"

# Shared libraries: the binaries' dependencies and theirs, except the C/C++ runtime (the GPU
# image's is newer) and CUDA's libraries (the GPU machine's own, matching its driver, found there at
# run time; the CUDA runtime is carried as a last resort). --skip-opencv-libs (for CI, which packs
# its own OpenCV build as a stand-in) leaves out what only the OpenCV loader brings.
system='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|libpthread\.|librt\.|libstdc\+\+|libgcc_s)'
cuda='^(libcuda\.|libcudart|libcublas|libcudnn|libnccl|libnvrtc|libnvJitLink)'
opencv='^(libopencv_|libjpeg\.)'
declare -A where=() carried=()
for t in "${targets[@]}"; do
  while read -r name path; do where[$name]=$path; done < <(ldd "$build/bin/$t" | awk '/=> \// {print $1, $3}')
done
carry_lib() {  # carry_lib NAME: the library and, recursively, what it needs
  local name=$1 dep
  if [[ -n ${carried[$name]:-} || $name =~ $system ]]; then return; fi
  if [[ $skip_opencv = 1 && $name =~ $opencv ]]; then return; fi
  carried[$name]=1
  [ -n "${where[$name]:-}" ] || { echo "gpu_bundle.sh: $name is not resolved here" >&2; exit 1; }
  if [[ $name =~ ^libcudart\.so ]]; then cp -L "${where[$name]}" "$b/lib/fallback/$name"; return; fi
  if [[ $name =~ $cuda ]]; then return; fi
  cp -L "${where[$name]}" "$b/lib/$name"
  for dep in $(objdump -p "${where[$name]}" | awk '$1 == "NEEDED" {print $2}'); do carry_lib "$dep"; done
}
for t in "${targets[@]}"; do
  for dep in $(objdump -p "$build/bin/$t" | awk '$1 == "NEEDED" {print $2}'); do carry_lib "$dep"; done
done
# OpenMPI loads its components at MPI_Init from a plugin folder (gpu_checks.sh points it here);
# those whose own dependencies are missing there are skipped quietly, none of them is needed.
if [ -n "${carried[libmpi.so.40]:-}" ]; then
  plugins=$(dirname "$(readlink -f "${where[libmpi.so.40]}")")/openmpi/lib/openmpi3
  [ -d "$plugins" ] || { echo "gpu_bundle.sh: OpenMPI's plugin folder $plugins is missing" >&2; exit 1; }
  cp -rL "$plugins" "$b/lib/openmpi3"
fi

XZ_OPT=${XZ_OPT:--6 -T0} tar -C "$stage" -cJf "$tarball" gpu_bundle
bytes=$(stat -c %s "$tarball")
unpacked=$(du -sm "$b" | cut -f1)
echo "gpu_bundle.sh: $tarball: $((bytes / 1048576)) MiB packed ($unpacked MiB unpacked): ${targets[*]}"
echo "gpu_bundle.sh: libraries: $(cd "$b/lib" && ls -p | grep -v / | tr '\n' ' ')"
if [ "$bytes" -gt $((max_mib * 1048576)) ]; then
  echo "gpu_bundle.sh: $tarball is over the $max_mib MiB budget" >&2
  exit 1
fi
print_command
