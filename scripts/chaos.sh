#!/usr/bin/env bash
# Kill anywhere, resume, same weights. For each seed: an uninterrupted short INQ run (resnet8,
# synthetic data, 3 stages with BatchNorm re-estimation, 1 float epoch, 8 steps per epoch, CPU,
# 1 thread) gives the reference model.safetensors; then the same run is started and SIGKILLed
# again and again -- at random moments and at the named kill points (core/kill_point.h: inside a
# checkpoint write, at a stage boundary, during BatchNorm re-estimation, in the float epochs, ...)
# -- each time continued with --resume (or started over when no checkpoint exists yet), until it
# completes; its model.safetensors must equal the reference byte for byte. Rounds repeat until
# KILLS kills have landed for the seed.
#   scripts/chaos.sh [--seeds N] [--kills K] [--at "NAME:N NAME:N ..."] [--bin DIR] [--work DIR] [--keep]
#   defaults: 5 seeds, 20 kills per seed, build/bin, a fresh temporary directory
#   --at: kill at exactly these points, in this order, in every seed (no random draws); the short
#         version in ctest uses it so that each hard moment is hit on every run
# Prints one line per launch and a summary; exit 0 only if every round ended bit-identical.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=5 kills=20 bin=build/bin work="" keep=0 at=()
while [ $# -gt 0 ]; do
  case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --kills) kills=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --at) read -r -a at <<< "$2"; kills=${#at[@]}; shift 2 ;;
    *) echo "chaos.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
train=$(cd "$bin" && pwd)/inq_train
[ -x "$train" ] || { echo "chaos.sh: $train not found: build first (scripts/build.sh)" >&2; exit 2; }
if [ -z "$work" ]; then work=$(mktemp -d /tmp/inq_chaos.XXXXXX); fi
mkdir -p "$work"
work=$(cd "$work" && pwd)
[ $keep = 1 ] || trap 'rm -rf "$work"' EXIT

# Named kill points and how many times a run passes each (the N of NAME:N is drawn below it).
# Per run: 4 epochs x 8 steps; 3 stage boundaries; 3 x 2 re-estimation batches; 4 epoch ends;
# 4 checkpoints; 6 atomic writes (config, 4 checkpoints, model); 5 evaluations x 2 batches.
points=(train_step:24 float_epoch_step:8 stage_boundary:3 stage_projected:3 bn_reestimate:6 epoch_end:4
        checkpoint_write:4 checkpoint_written:4 atomic_write_half:6 atomic_write_before_rename:6
        atomic_write_after_rename:6 evaluate_batch:10)

common='"device": "cpu", "threads": 1,
 "model": {"name": "resnet8", "in_channels": 1, "image_size": 28, "num_classes": 10},
 "data": {"dataset": "synthetic", "synthetic": {"size": 256, "test_size": 64}, "workers": 1}'
cat > "$work/fp32.json" <<EOF
{$common, "seed": 0, "train": {"epochs": 1, "batch_size": 32},
 "optimizer": {"lr": 0.05}, "lr_schedule": {"type": "constant"}}
EOF
"$train" "$work/fp32.json" --out "$work/fp32" > "$work/fp32.log" 2>&1 || { cat "$work/fp32.log"; exit 1; }

inq_config() {  # seed
  cat <<EOF
{$common, "seed": $1, "train": {"batch_size": 32},
 "optimizer": {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4}, "lr_schedule": {"type": "constant"},
 "init": {"weights": "$work/fp32/model.safetensors"},
 "inq": {"bits": 3, "portions": [0.5, 0.8, 1.0], "epochs_per_stage": 1, "bn_recalibration_batches": 2,
         "float_epochs": 1, "partition": "random"}}
EOF
}

total_kills=0 total_launches=0 total_rounds=0 failed=0
for ((seed = 1; seed <= seeds; seed++)); do
  RANDOM=$seed
  cfg="$work/inq_$seed.json"
  inq_config "$seed" > "$cfg"
  ref="$work/ref_$seed"
  t0=$(date +%s%N)
  "$train" "$cfg" --out "$ref" > "$ref.log" 2>&1 || { echo "seed $seed: reference run failed"; cat "$ref.log"; exit 1; }
  ref_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  landed=0 round=0
  while [ $landed -lt "$kills" ]; do
    round=$((round + 1))
    run="$work/run_${seed}_$round"
    rm -rf "$run"
    launches=0
    while :; do
      launches=$((launches + 1))
      if [ -f "$run/checkpoint.safetensors" ]; then args=(--resume "$run"); else args=("$cfg" --out "$run"); fi
      how="none"
      if [ ${#at[@]} -gt 0 ]; then
        [ $landed -lt "$kills" ] && how=${at[$landed]}
      elif [ $landed -lt "$kills" ]; then
        if [ $((RANDOM % 3)) = 0 ]; then
          how="random:$((RANDOM % ref_ms))ms"
        else
          p=${points[$((RANDOM % ${#points[@]}))]}
          how="${p%%:*}:$((1 + RANDOM % ${p##*:}))"
        fi
      fi
      set +e
      # The braces with 2>/dev/null keep bash's "Killed" job notices out of the report.
      case $how in
        none) "$train" "${args[@]}" >> "$run.log" 2>&1 ;;
        random:*)
          "$train" "${args[@]}" >> "$run.log" 2>&1 &
          pid=$!
          ms=${how#random:}; ms=${ms%ms}
          sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
          kill -KILL $pid 2>/dev/null
          { wait $pid; } 2>/dev/null ;;
        *) { INQ_KILL_AT=$how "$train" "${args[@]}" >> "$run.log" 2>&1; } 2>/dev/null ;;
      esac
      rc=$?
      set -e
      total_launches=$((total_launches + 1))
      if [ $rc = 137 ]; then
        landed=$((landed + 1))
        total_kills=$((total_kills + 1))
        echo "seed $seed round $round launch $launches: SIGKILL at $how (kill $landed/$kills)"
        continue
      fi
      if [ $rc != 0 ]; then
        echo "seed $seed round $round launch $launches: exit $rc after $how (expected 0 or 137); log: $run.log"
        tail -n 5 "$run.log"
        failed=$((failed + 1))
        break
      fi
      if [ "$how" != none ]; then
        echo "seed $seed round $round launch $launches: $how not reached; run completed"
        if [ ${#at[@]} -gt 0 ]; then  # an explicit point must be reachable, or the list is wrong
          echo "chaos.sh: --at point $how was never reached"
          failed=$((failed + 1))
        fi
      fi
      if cmp -s "$ref/model.safetensors" "$run/model.safetensors"; then
        echo "seed $seed round $round: completed after $((launches - 1)) kills and resumes: bit-identical"
      else
        echo "seed $seed round $round: model.safetensors DIFFERS from the uninterrupted run (kept: $run)"
        failed=$((failed + 1)) keep=1
        trap - EXIT
      fi
      break
    done
    total_rounds=$((total_rounds + 1))
    [ $failed = 0 ] || break
  done
  [ $failed = 0 ] || break
done
echo "chaos: $seeds seeds, $total_kills SIGKILLs over $total_launches launches in $total_rounds rounds;" \
     "$([ $failed = 0 ] && echo "every round bit-identical to its uninterrupted run" || echo "$failed FAILED")"
[ $failed = 0 ]
