#!/usr/bin/env bash
# The CPU benchmark of docs/benchmarks.md in one run: inq (device "cpu", oneDNN) against PyTorch on
# the same cores, side by side, runs alternating so that a drift in load hits both.
#   1. resnet8 Fashion-MNIST, one epoch + test evaluation, whole process (inq_train vs
#      scripts/torch_fmnist_resnet8.py), at 1 and 2 threads, PAIRS pairs each: wall, CPU, peak RSS;
#   2. training steps (scripts/bench_vs_pytorch.py): resnet8 batch 128; resnet18 batch 16 at 64x64
#      and 224x224; at 1 and 2 threads.
# Each PyTorch is a peer: Debian's 1.13 (/usr/bin/python3) and, when scripts/setup_bench.sh has
# made it, the index's current release (.venv-bench). Prints the load average before and after
# each measurement; the raw lines go to $OUT/bench_cpu.log, a summary to stdout.
#   scripts/bench_cpu.sh [--pairs N] [--quick] [--smoke]
#     --quick: 1 pair, fewer steps; --smoke: also epochs cut to 20 steps (checks the script, measures nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=3
STEPS=20
R18_STEPS=5
INQ_EPOCH=()    # --smoke: inq_train and the PyTorch script stop after 20 steps
TORCH_EPOCH=()
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) PAIRS="$2"; shift 2 ;;
    --quick) PAIRS=1; STEPS=5; R18_STEPS=2; shift ;;
    --smoke) PAIRS=1; STEPS=2; R18_STEPS=1; INQ_EPOCH=(--set data.train_limit=2560 --set data.test_limit=1000)
             TORCH_EPOCH=(--max-steps 20); shift ;;
    *) echo "usage: scripts/bench_cpu.sh [--pairs N] [--quick] [--smoke]" >&2; exit 2 ;;
  esac
done
BIN=${INQ_BIN:-build/bin}
OUT=${OUT:-/tmp/inq_bench_cpu}
mkdir -p "$OUT"
LOG="$OUT/bench_cpu.log"
: > "$LOG"
[ -x "$BIN/inq_train" ] && [ -x "$BIN/inq_bench" ] || { echo "bench_cpu.sh: build first ($BIN/inq_train)" >&2; exit 1; }
PYS=(/usr/bin/python3)
[ -x .venv-bench/bin/python ] && PYS+=(.venv-bench/bin/python)

load() { cut -d' ' -f1-3 /proc/loadavg; }
say() { echo "$*" | tee -a "$LOG"; }
torch_version() { "$1" -c 'import torch; print(torch.__version__)'; }

say "# $(date -u +%FT%TZ)  $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
say "# inq: $("$BIN/inq_bench" --model resnet8 --batch 1 --device cpu --threads 1 --steps 1 --warmup 0 | head -1)"
for py in "${PYS[@]}"; do say "# pytorch $(torch_version "$py") ($py)"; done

# --- 1. the epoch ---
for t in 1 2; do
  for i in $(seq "$PAIRS"); do
    rm -rf "$OUT/inq_epoch"
    l0=$(load)
    /usr/bin/time -f "%e %U %S %M" -o "$OUT/time" "$BIN/inq_train" configs/fmnist_resnet8_fp32.json \
      --set train.epochs=1 --set threads=$t --set data.workers=$t "${INQ_EPOCH[@]}" --out "$OUT/inq_epoch" \
      > "$OUT/inq_epoch.log" 2>&1
    acc=$(grep '"split":"test"' "$OUT/inq_epoch/metrics.jsonl" | tail -1 | sed 's/.*"top1":\([0-9.]*\).*/\1/')
    say "epoch threads=$t inq $(cat "$OUT/time") top1=$acc load=$l0->$(load)"
    for py in "${PYS[@]}"; do
      l0=$(load)
      /usr/bin/time -f "%e %U %S %M" -o "$OUT/time" "$py" scripts/torch_fmnist_resnet8.py --epochs 1 --threads $t \
        "${TORCH_EPOCH[@]}" > "$OUT/torch_epoch.log" 2>&1
      acc=$(grep -o '"final_test_top1": [0-9.]*' "$OUT/torch_epoch.log" | awk '{print $2}')
      say "epoch threads=$t torch-$(torch_version "$py") $(cat "$OUT/time") top1=$acc load=$l0->$(load)"
    done
  done
done

# --- 2. steps ---
step_cases=("--model resnet8 --batch 128 --steps $STEPS --warmup 5"
            "--model resnet18 --batch 16 --image-size 64 --steps $R18_STEPS --warmup 2"
            "--model resnet18 --batch 16 --image-size 224 --steps $R18_STEPS --warmup 2")
for t in 1 2; do
  for c in "${step_cases[@]}"; do
    for py in "${PYS[@]}"; do
      l0=$(load)
      # shellcheck disable=SC2086
      r=$("$py" scripts/bench_vs_pytorch.py $c --device cpu --threads $t --inq-bench "$BIN/inq_bench" --json)
      say "step threads=$t torch-$(torch_version "$py") $c $r load=$l0->$(load)"
    done
  done
done

# --- summary ---
/usr/bin/python3 - "$LOG" <<'PY'
import json, re, statistics, sys
epochs, steps = {}, []
for line in open(sys.argv[1]):
    m = re.match(r"epoch threads=(\d) (\S+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+) top1=(\S*)", line)
    if m:
        t, who, wall, user, sys_, rss, top1 = m.groups()
        epochs.setdefault((int(t), who), []).append((float(wall), float(user) + float(sys_), int(rss) / 1024, top1))
    m = re.match(r"step threads=(\d) (\S+) (.*?) (\{.*\}) load", line)
    if m:
        steps.append((int(m.group(1)), m.group(2), m.group(3), json.loads(m.group(4))))
print("\n| epoch, whole process | threads | median wall s | median CPU s | peak RSS MiB | test top-1 "
      "| inq speed / this: wall | CPU |")
print("|---|---|---|---|---|---|---|---|")
for (t, who), runs in sorted(epochs.items()):
    wall, cpu = (statistics.median(r[k] for r in runs) for k in (0, 1))
    mine = epochs.get((t, "inq"), runs)
    inq_wall, inq_cpu = (statistics.median(r[k] for r in mine) for k in (0, 1))
    print(f"| {who} | {t} | {wall:.1f} | {cpu:.1f} | {max(r[2] for r in runs):.0f} | {runs[-1][3]} | "
          f"{wall / inq_wall:.2f}x | {cpu / inq_cpu:.2f}x |")
print("\n| step | threads | peer | inq ms | peer ms | inq / peer throughput | inq peak MiB |")
print("|---|---|---|---|---|---|---|")
for t, who, case, r in steps:
    case = re.sub(r" --(steps|warmup) \d+", "", case).replace("--", "")
    print(f"| {case} | {t} | {who} | {r['inq']['median_ms']:.1f} | {r['pytorch']['median_ms']:.1f} | "
          f"{r['inq_over_pytorch']:.2f}x | {(r['inq'].get('peak_bytes') or 0) / 2**20:.0f} |")
PY
