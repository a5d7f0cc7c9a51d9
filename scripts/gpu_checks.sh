#!/usr/bin/env bash
# Everything a short GPU lease should tell us, in one run of at most about 8 minutes: the machine
# and the CUDA library versions; where the libraries are (no unbounded search); the CUDA tests
# (INQ_SYNC_DEBUG=1, each under `timeout`, a failure never stops the rest); the single-rank NCCL
# test; ResNet-18/50 training steps, strict fp32 and TF32, against PyTorch on the same GPU with
# peak memory (scripts/bench_vs_pytorch.py); masked SGD against a device copy; the ResNet-50 INQ
# stage boundary; compute-sanitizer memcheck on one small test if time is left. Ends with a
# one-screen summary table. Every log and summary.json go into OUT_DIR/gpu_checks.tar.gz (packed
# again after each step, so a run cut short still returns what it did), the table also into
# OUT_DIR/summary.txt; run directories and checkpoints stay in a scratch folder outside OUT_DIR.
# Without a GPU it ends within a minute with a "no GPU" summary (the tests report their skips).
#
#   bash gpu_checks.sh OUT_DIR          from an unpacked bundle (bin/, lib/ beside this script)
#   BIN=build/bin bash scripts/gpu_checks.sh OUT_DIR      against a build tree
# Environment: INQ_CHECK_BUDGET_S (default 480) bounds the whole run; steps that no longer fit
# are reported as SKIP (budget).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: gpu_checks.sh OUT_DIR}
bin=${BIN:-$here/bin}
bin=$(cd "$bin" && pwd) || { echo "gpu_checks.sh: no binaries folder $bin" >&2; exit 2; }
budget=${INQ_CHECK_BUDGET_S:-480}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/inq_gpu_checks.XXXXXX")
logs=$work/gpu_checks   # packed
scratch=$work/scratch   # run directories, checkpoints: never packed
mkdir -p "$logs" "$scratch"
rows=$logs/summary.tsv
: >"$rows"
start=$SECONDS
# bench_vs_pytorch.py: beside this script in a bundle, in scripts/ of a checkout.
bench_py=$here/bench_vs_pytorch.py
[ -f "$bench_py" ] || bench_py=$here/../scripts/bench_vs_pytorch.py

pack() {  # the summary, then every log into one tarball under OUT_DIR
  {
    printf '%-34s %-8s %8s  %s\n' STEP RESULT SECONDS NOTE
    while IFS=$'\t' read -r name result secs note; do
      printf '%-34s %-8s %8s  %s\n' "$name" "$result" "$secs" "$note"
    done <"$rows"
    printf 'elapsed %ss of a %ss budget; gpu: %s\n' "$((SECONDS - start))" "$budget" "$gpu_name"
  } >"$logs/summary.txt"
  cp "$logs/summary.txt" "$out/summary.txt"
  tar -C "$work" -czf "$out/gpu_checks.tar.gz.tmp" gpu_checks && mv "$out/gpu_checks.tar.gz.tmp" "$out/gpu_checks.tar.gz"
}

record() {  # record NAME RESULT SECONDS NOTE
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$rows"
  printf '== %-32s %-8s %6ss  %s\n' "$1" "$2" "$3" "$4"
  pack
}

# step NAME LIMIT_S CMD...: runs CMD under timeout (never past the budget), output in NAME.log.
# Result: PASS, FAIL (exit code), TIMEOUT, SKIP (a gtest binary whose tests all skipped).
step() {
  local name=$1 limit=$2; shift 2
  local left=$((budget - (SECONDS - start) - 20))  # 20 s kept for the summary and packing
  if [ "$left" -lt 10 ]; then record "$name" SKIP 0 "budget spent"; return 0; fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0=$SECONDS rc
  timeout -k 5 "$limit" "$@" >"$logs/$name.log" 2>&1
  rc=$?
  local secs=$((SECONDS - t0)) result=PASS note=""
  if [ $rc = 124 ] || [ $rc = 137 ]; then
    result=TIMEOUT note="killed after ${limit}s"
  elif [ $rc != 0 ]; then
    result=FAIL note="exit $rc: $(grep -m1 -E '\[  FAILED  \]|error|Error|what\(\)' "$logs/$name.log" | cut -c1-90)"
  elif grep -q '^\[  PASSED  \] 0 tests' "$logs/$name.log" && grep -q '^\[  SKIPPED \]' "$logs/$name.log"; then
    result=SKIP note="$(grep -m1 -A1 ': Skipped$' "$logs/$name.log" | tail -n 1 | cut -c1-90)"
  elif grep -q '^\[  PASSED  \]' "$logs/$name.log"; then
    note="$(grep -m1 '^\[  PASSED  \]' "$logs/$name.log" | cut -c14-)"
    local skipped
    skipped=$(grep -m1 -E '^\[  SKIPPED \] [0-9]+ test' "$logs/$name.log" | awk '{print $4}')
    [ -n "$skipped" ] && note="$note ($skipped skipped)"
  fi
  record "$name" "$result" "$secs" "$note"
  return 0
}

# --- the machine, the GPU, the libraries ---
gpu_name=none
if command -v nvidia-smi >/dev/null 2>&1 && timeout 20 nvidia-smi -L >/dev/null 2>&1; then
  gpu_name=$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
fi
{
  date -u
  uname -a
  nproc
  if [ "$gpu_name" != none ]; then
    timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit \
      --format=csv
    timeout 20 nvidia-smi
  else
    echo "no GPU: nvidia-smi is missing or lists no device"
  fi
  command -v nvcc >/dev/null 2>&1 && nvcc --version
  # Settings that change numerics or placement behind the code's back (NVIDIA_TF32_OVERRIDE=1 would
  # make strict FP32 runs TF32).
  env | grep -E '^(NVIDIA_TF32_OVERRIDE|CUDA_|CUDNN_|CUBLAS_|NCCL_|OMPI_)' || echo "no CUDA/NCCL/MPI settings in the environment"
} >"$logs/machine.log" 2>&1

# Library folders, searched in known places only: the Python environment's nvidia/*/lib folders
# (cuDNN, cuBLAS, NCCL, NVRTC, the CUDA runtime of PyTorch's wheels), CUDA's own folders, and
# what ldconfig knows. NVRTC's folder is among them: cuDNN loads it for runtime-compiled engines.
libdirs=$here/lib
py=$(command -v python3 || true)
if [ -n "$py" ]; then
  pydirs=$(timeout 30 "$py" - <<'PY' 2>/dev/null
import glob, os, site, sys
roots = set(site.getsitepackages() + [site.getusersitepackages()] + [p for p in sys.path if p.endswith("-packages")])
for root in sorted(roots):
    for d in sorted(glob.glob(os.path.join(root, "nvidia", "*", "lib")) + glob.glob(os.path.join(root, "nvidia", "cu*", "lib"))):
        print(d)
PY
  )
  for d in $pydirs; do libdirs="$libdirs:$d"; done
fi
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  [ -d "$d" ] && libdirs="$libdirs:$d"
done
libdirs="$libdirs:$here/lib/fallback"  # the bundle's own CUDA runtime, last
# Python (PyTorch) keeps the machine's own library path: the bundle's Debian libraries (zlib, gomp,
# ...) are for our binaries only. inq_bench gets ours through a wrapper when Python runs it.
orig_ld=${LD_LIBRARY_PATH:-}
export LD_LIBRARY_PATH="$libdirs${orig_ld:+:$orig_ld}"
printf '#!/usr/bin/env bash\nLD_LIBRARY_PATH=%q exec %q "$@"\n' "$LD_LIBRARY_PATH" "$bin/inq_bench" >"$scratch/inq_bench"
chmod +x "$scratch/inq_bench"
{
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  for lib in libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libnccl.so.2 \
             libnvrtc.so.13 libnvrtc-builtins.so.13.0; do
    found=""
    IFS=: read -r -a dirs <<<"$libdirs"
    for d in "${dirs[@]}"; do [ -e "$d/$lib" ] && { found="$d/$lib"; break; }; done
    [ -z "$found" ] && found=$(ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 == l {print $NF; exit}')
    printf '%-28s %s\n' "$lib" "${found:-NOT FOUND}"
  done
  echo "--- ldd $bin/inq_bench"
  ldd "$bin/inq_bench" 2>&1
} >"$logs/libraries.log" 2>&1
missing=$(grep -c 'NOT FOUND' "$logs/libraries.log" || true)
record machine PASS $((SECONDS - start)) "gpu: $gpu_name"
record libraries "$([ "$missing" = 0 ] && echo PASS || echo WARN)" 0 "$missing of 8 CUDA libraries not found (see libraries.log)"
if [ -n "$py" ] && ! timeout 60 env LD_LIBRARY_PATH="$orig_ld" "$py" -c 'import torch' >/dev/null 2>&1; then
  record versions_pytorch SKIP 0 "$py has no torch"
  py_torch=""
else
  py_torch=$py
fi
if [ -n "$py_torch" ]; then
  step versions_pytorch 60 env LD_LIBRARY_PATH="$orig_ld" "$py" -c '
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda)
print("cudnn", torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None)
print("gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
print("nccl", torch.cuda.nccl.version() if torch.cuda.is_available() else None)'
fi

# --- correctness: every CUDA test, each bounded, none stopping the others ---
export INQ_SYNC_DEBUG=1
step test_cuda_versions 30 "$bin/test_cuda_versions"
step test_cuda_kernels 120 "$bin/test_cuda_kernels"
step test_cuda_conv_engines 90 env INQ_LOG_LEVEL=debug "$bin/test_cuda_conv_engines"
step test_cuda_conv_linear 150 "$bin/test_cuda_conv_linear"
step test_cuda_memory 60 "$bin/test_cuda_memory"
step test_cuda_inq 60 "$bin/test_cuda_inq"
step test_cuda_quant 60 "$bin/test_cuda_quant"
step test_cuda_batchnorm_sync 60 "$bin/test_cuda_batchnorm_sync"
step test_upload_stream 60 "$bin/test_upload_stream"
step test_cuda_config 60 "$bin/test_cuda_config"
step test_models_cuda 180 "$bin/test_models" --gtest_filter='ZooCuda.*'
# NCCL with one rank: MPI as a singleton without a launcher or daemon, OpenMPI's plugins from the bundle.
step test_nccl_communicator 60 env OMPI_MCA_ess_singleton_isolated=1 OMPI_MCA_mca_base_component_show_load_errors=0 \
  OMPI_MCA_mca_base_component_path="$here/lib/openmpi3" OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 \
  OMPI_MCA_plm_rsh_agent=false OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  NCCL_DEBUG=WARN "$bin/test_nccl_communicator"
unset INQ_SYNC_DEBUG

# --- benchmarks (timings need a GPU; none of them is a test) ---
if [ "$gpu_name" = none ]; then
  record benchmarks SKIP 0 "no GPU"
elif [ -z "$py_torch" ]; then
  record benchmarks SKIP 0 "no python3 with torch for the PyTorch side"
else
  cd "$scratch" || exit 1
  bench() {  # bench NAME BATCH ARGS...: inq and PyTorch on the same step, the same GPU
    local name=$1 batch=$2; shift 2
    step "$name" 150 env PYTHONUNBUFFERED=1 LD_LIBRARY_PATH="$orig_ld" "$py" "$bench_py" --device cuda \
      --batch "$batch" --json --inq-bench "$scratch/inq_bench" "$@"
  }
  bench bench_resnet18_fp32 256 --model resnet18 --steps 20 --warmup 5
  bench bench_resnet18_tf32 256 --model resnet18 --steps 20 --warmup 5 --tf32
  # ResNet-50: the largest batch of 256, 128, 64 that fits inq (the same batch for PyTorch); a batch
  # that does not fit is recorded as OOM, not as a failure.
  for b50 in 256 128 64; do
    bench "bench_resnet50_fp32_b$b50" "$b50" --model resnet50 --steps 10 --warmup 3
    grep -qi 'out of memory' "$logs/bench_resnet50_fp32_b$b50.log" || break
    sed -i "s/^bench_resnet50_fp32_b$b50\tFAIL\t/bench_resnet50_fp32_b$b50\tOOM\t/" "$rows"
  done
  bench "bench_resnet50_tf32_b$b50" "$b50" --model resnet50 --steps 10 --warmup 3 --tf32
  step sgd_vs_copy_resnet50 60 "$bin/inq_bench" --model resnet50 --batch 1 --device cuda --what sgd --steps 50 \
    --warmup 5 --json
  step inq_boundary_resnet50 60 "$bin/inq_bench" --model resnet50 --batch 1 --device cuda --what inq-boundary --json
  cd "$work" || exit 1
fi

# --- compute-sanitizer on one small test, only with time to spare ---
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
if [ "$gpu_name" = none ]; then
  record memcheck SKIP 0 "no GPU"
elif [ -z "$sanitizer" ]; then
  record memcheck SKIP 0 "compute-sanitizer not found"
else
  step memcheck 150 "$sanitizer" --tool memcheck --error-exitcode 3 "$bin/test_cuda_kernels" \
    --gtest_filter='CudaKernels.ChannelReductionsAreBitReproducible:CudaKernels.BiasGradientMatchesDoubleSum:CudaKernels.SgdMatchesBitForBitAndLeavesFrozenUntouched'
fi

# --- the JSON summary: every step's result and every benchmark's JSON line ---
if [ -n "$py" ]; then
  timeout 30 env LD_LIBRARY_PATH="$orig_ld" "$py" - "$logs" "$gpu_name" "$((SECONDS - start))" <<'PY' >"$logs/summary.json.log" 2>&1
import json, os, sys
logs, gpu, elapsed = sys.argv[1], sys.argv[2], int(sys.argv[3])
steps = []
with open(os.path.join(logs, "summary.tsv")) as f:
    for line in f:
        name, result, secs, note = (line.rstrip("\n").split("\t") + [""] * 4)[:4]
        entry = {"step": name, "result": result, "seconds": int(secs or 0), "note": note}
        path = os.path.join(logs, name + ".log")
        if os.path.exists(path):
            for text in reversed(open(path, errors="replace").read().splitlines()):
                if text.startswith("{"):
                    try:
                        entry["json"] = json.loads(text)
                    except ValueError:
                        pass
                    break
        steps.append(entry)
with open(os.path.join(logs, "summary.json"), "w") as f:
    json.dump({"gpu": gpu, "elapsed_s": elapsed, "steps": steps}, f, indent=1)
PY
fi
pack
echo
cat "$out/summary.txt"
failed=$(awk -F'\t' '$2 == "FAIL" || $2 == "TIMEOUT"' "$rows" | wc -l)
if [ "$gpu_name" = none ]; then
  echo "gpu_checks.sh: no GPU on this machine: tests skipped, no benchmarks; $failed steps failed"
else
  echo "gpu_checks.sh: $failed steps failed or timed out"
fi
echo "gpu_checks.sh: logs and summary.json in $out/gpu_checks.tar.gz"
[ "${INQ_CHECK_KEEP:-0}" = 1 ] || rm -rf "$work"
[ "$failed" = 0 ]
