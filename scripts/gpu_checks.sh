#!/usr/bin/env bash
# The GPU measurements the docs wait for, in one run, each into OUT_DIR/<name>.log:
# correctness first (the CUDA tests; a failure stops before any benchmark), then ResNet-18/50
# training-step throughput, masked-SGD bandwidth against a device copy, the ResNet-50 INQ stage
# boundary, and inq_train's whole loop (loader, copy-stream uploads, masked SGD) on synthetic
# ResNet-18 data. Run it from a bundle made by scripts/gpu_bundle.sh (bin/ and lib/ beside this
# script) or with BIN=build/bin. Finds cuDNN and cuBLAS on its own when the loader cannot.
#   bash gpu_checks.sh OUT_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: gpu_checks.sh OUT_DIR}
bin=${BIN:-$here/bin}
mkdir -p "$out"
libs="$here/lib"
for name in libcudnn.so.9 libcublas.so.13 libcudart.so.13; do
  if ! ldconfig -p | grep -q "$name"; then
    dir=$(find / -name "$name" -not -path '*/proc/*' 2>/dev/null | head -n 1 | xargs -r dirname)
    [ -n "$dir" ] && libs="$libs:$dir"
  fi
done
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

step() {  # step NAME COMMAND...: runs it, keeps its output, says how it ended
  local name=$1; shift
  echo "== $name: $*"
  "$@" >"$out/$name.log" 2>&1
  local rc=$?
  tail -n 4 "$out/$name.log"
  echo "== $name: exit $rc"
  return $rc
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv; date -u; } \
  | tee "$out/machine.log"
ok=1
for t in test_cuda_kernels test_cuda_conv_linear test_cuda_inq test_cuda_batchnorm_sync test_upload_stream; do
  step "$t" "$bin/$t" || ok=0
  grep -q "SKIPPED" "$out/$t.log" && { echo "$t skipped tests: no usable GPU?"; ok=0; }
done
step test_models "$bin/test_models" --gtest_filter='ZooCuda.*' || ok=0
if [ $ok = 0 ]; then echo "gpu_checks.sh: correctness failed or skipped; no benchmarks"; exit 1; fi

step bench_resnet18 "$bin/inq_bench" --model resnet18 --batch 256 --device cuda --steps 50 --warmup 10 --json
step bench_resnet50 "$bin/inq_bench" --model resnet50 --batch 256 --device cuda --steps 30 --warmup 5 --json
step bench_resnet18_tf32 "$bin/inq_bench" --model resnet18 --batch 256 --device cuda --steps 50 --warmup 10 --json --tf32
step bench_resnet50_tf32 "$bin/inq_bench" --model resnet50 --batch 256 --device cuda --steps 30 --warmup 5 --json --tf32
step sgd_resnet50 "$bin/inq_bench" --model resnet50 --batch 1 --device cuda --what sgd --steps 100 --warmup 10 --json
step sgd_resnet18 "$bin/inq_bench" --model resnet18 --batch 1 --device cuda --what sgd --steps 100 --warmup 10 --json
step inq_boundary_resnet50 "$bin/inq_bench" --model resnet50 --batch 1 --device cuda --what inq-boundary --json
cfg="$out/train_synthetic.json"
cat >"$cfg" <<'JSON'
{"device": "cuda", "seed": 0, "model": {"name": "resnet18"},
 "data": {"dataset": "synthetic", "workers": 8, "synthetic": {"size": 12800, "test_size": 2560}},
 "train": {"epochs": 2, "batch_size": 256, "log_every": 10}, "optimizer": {"lr": 0.1}}
JSON
step train_resnet18_synthetic "$bin/inq_train" "$cfg" --out "$out/run_resnet18"
grep -h '"split":"train"' "$out/run_resnet18/metrics.jsonl" 2>/dev/null | tee "$out/train_metrics.log"
echo "gpu_checks.sh: logs in $out"
