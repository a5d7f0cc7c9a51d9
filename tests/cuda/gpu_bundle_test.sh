#!/usr/bin/env bash
# CI's check of the GPU bundle and the GPU check script, without a GPU and without a second build:
#   1. the device command (scripts/gpu_bundle.sh --command) fits the device tool's 2,000 characters
#      and docs/gpu.md shows it verbatim;
#   2. packing this build tree as the bundle would be packed (--pack-only --skip-opencv-libs: the
#      same sm_90 binaries but for the OpenCV loader, the same carried libraries) stays under the
#      budget, compressed at xz -1, which is never smaller than the real bundle's xz -6;
#   3. gpu_checks.sh, run from that unpacked tarball with its carried libraries, ends within a
#      minute with a summary and a tarball under OUT_DIR (a "no GPU" summary on a machine without one).
#   tests/cuda/gpu_bundle_test.sh BUILD_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: gpu_bundle_test.sh BUILD_DIR}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "gpu_bundle_test: FAIL: $*" >&2; exit 1; }

cmd=$("$root/scripts/gpu_bundle.sh" --command | tail -n 1)
[ ${#cmd} -le 2000 ] || fail "device command is ${#cmd} characters"
grep -qxF "$cmd" "$root/docs/gpu.md" || fail "docs/gpu.md does not show the device command: $cmd"
echo "device command (${#cmd} characters): $cmd"

XZ_OPT="-1 -T0" "$root/scripts/gpu_bundle.sh" --pack-only "$build" --skip-opencv-libs --out "$tmp/gpu_bundle.tar.xz"
bytes=$(stat -c %s "$tmp/gpu_bundle.tar.xz")
[ "$bytes" -le $((40 * 1048576)) ] || fail "bundle is $((bytes / 1048576)) MiB"
tar -C "$tmp" -xJf "$tmp/gpu_bundle.tar.xz"
for f in gpu_checks.sh bench_vs_pytorch.py bin/inq_bench bin/test_cuda_kernels bin/test_nccl_communicator \
         lib/libopenblas.so.0 lib/libmpi.so.40 lib/openmpi3/mca_ess_singleton.so lib/openmpi3/mca_pmix_isolated.so \
         lib/fallback/libcudart.so.13; do
  [ -e "$tmp/gpu_bundle/$f" ] || fail "bundle lacks $f"
done
if ls "$tmp/gpu_bundle/lib" | grep -E '^(libopencv|libcudnn|libcublas|libnccl|libc\.so|libstdc)'; then
  fail "bundle carries libraries the GPU machine has (or OpenCV)"
fi

start=$SECONDS
set +e
INQ_CHECK_BUDGET_S=50 timeout 90 bash "$tmp/gpu_bundle/gpu_checks.sh" "$tmp/out" >"$tmp/checks.log" 2>&1
rc=$?
set -e
cat "$tmp/checks.log"
[ $rc != 124 ] || fail "gpu_checks.sh did not end within 90 s"
[ -s "$tmp/out/summary.txt" ] && [ -s "$tmp/out/gpu_checks.tar.gz" ] || fail "no summary or tarball under OUT_DIR"
[ "$(ls "$tmp/out" | wc -l)" -le 8 ] || fail "more than 8 files under OUT_DIR"
tar -tzf "$tmp/out/gpu_checks.tar.gz" >"$tmp/listing"
grep -q 'gpu_checks/summary.json' "$tmp/listing" || fail "tarball lacks summary.json"
if grep -q 'error while loading shared libraries' "$tmp/checks.log" "$tmp/out/summary.txt"; then
  fail "a bundled binary could not load its libraries"
fi
if ! nvidia-smi -L >/dev/null 2>&1; then
  grep -q 'no GPU on this machine' "$tmp/checks.log" || fail "no 'no GPU' summary"
  [ $rc = 0 ] || fail "gpu_checks.sh failed without a GPU (exit $rc)"
  [ $((SECONDS - start)) -le 60 ] || fail "gpu_checks.sh took $((SECONDS - start)) s without a GPU"
fi
echo "gpu_bundle_test: ok ($((bytes / 1048576)) MiB at xz -1; checks ran in $((SECONDS - start)) s)"
