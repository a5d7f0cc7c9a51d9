#!/usr/bin/env bash
# The test command: set up the machine, configure, build and run the whole suite with ctest.
# GPU tests skip themselves (with the reason) where no CUDA device is present.
#   scripts/test.sh [cmake args...]     the suite (what CI runs), in build/
#   scripts/test.sh --sanitize          AddressSanitizer + UBSan build of the CPU suite (CUDA off) in
#                                       build-asan/, every test run under it
#   scripts/test.sh --tsan              ThreadSanitizer build (CUDA off) in build-tsan/, running the
#                                       loader and communicator tests
set -euo pipefail
cd "$(dirname "$0")/.."
mode=plain
case "${1:-}" in
  --sanitize) mode=asan; shift ;;
  --tsan) mode=tsan; shift ;;
esac
scripts/setup.sh
case $mode in
  plain)
    INQ_WERROR=ON scripts/build.sh "$@"   # warnings are errors in CI, not for users
    cd build
    ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 1800
    ;;
  asan)
    # Leak checking is on; UBSan stops at the first finding (-fno-sanitize-recover).
    INQ_WERROR=ON INQ_WITH_CUDA=OFF BUILD_DIR=build-asan scripts/build.sh -DINQ_SANITIZE=address,undefined "$@"
    cd build-asan
    export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/../tests/sanitizer/lsan.supp:print_suppressions=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    asan=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
    mpi_tests='^(Dist|DataParallel)'  # the tests that run ranks under mpirun
    ASAN_OPTIONS=$asan ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 3600 -E "$mpi_tests"
    # Open MPI's plugins allocate for the life of the process and are unloaded before the leak check;
    # only the slow unwinder records their allocations' stacks down to the libraries the
    # suppressions name (with the fast one, LeakSanitizer sees "<unknown module>" frames only).
    ASAN_OPTIONS=$asan:fast_unwind_on_malloc=0 ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 3600 \
      -R "$mpi_tests"
    ;;
  tsan)
    # One OpenMP thread: libgomp is not instrumented, so its own synchronisation would read as races.
    INQ_WERROR=ON INQ_WITH_CUDA=OFF BUILD_DIR=build-tsan scripts/build.sh -DINQ_SANITIZE=thread "$@"
    cd build-tsan
    OMP_NUM_THREADS=1 \
    TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/../tests/sanitizer/tsan.supp} \
      ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 3600 -R "${TSAN_TESTS:-Loader|Dist|Comm|BatchUploader|LaunchEnv}"
    ;;
esac
