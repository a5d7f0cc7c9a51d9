#!/usr/bin/env bash
# A disk that fills up mid-run loses nothing. The run directory of a short INQ run (resnet8,
# synthetic data, checkpoint every epoch) sits on a private tmpfs sized to hold one checkpoint but
# not the temporary copy of the next one, so the second checkpoint write fails with ENOSPC. Checks:
# the run stops (exit 1) with an error naming the file and errno 28; the previous checkpoint is
# intact and no temporary file is left; after the tmpfs is enlarged ("space freed"), --resume
# finishes with a model.safetensors bit-identical to an uninterrupted run on an ordinary disk.
#   tests/full_disk_test.sh BIN_DIR
# The tmpfs is mounted in a private mount namespace (unshare -rm, or unshare -m as root), so
# nothing outside the test sees it. Exit 77 (skipped) where neither is allowed.
set -euo pipefail
bin=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
if [ -z "${INQ_FULL_DISK_INSIDE:-}" ]; then
  for u in "unshare -rm" "unshare -m"; do
    if $u true 2>/dev/null; then
      INQ_FULL_DISK_INSIDE=1 exec $u bash "$0" "$bin"
    fi
  done
  echo "full_disk_test: SKIPPED: cannot make a private mount namespace (unshare -rm / -m not permitted)"
  exit 77
fi

work=$(mktemp -d /tmp/inq_full_disk.XXXXXX)
trap 'umount "$work/disk" 2>/dev/null || true; rm -rf "$work"' EXIT
common='"device": "cpu", "threads": 1,
 "model": {"name": "resnet8", "in_channels": 1, "image_size": 28, "num_classes": 10},
 "data": {"dataset": "synthetic", "synthetic": {"size": 128, "test_size": 32}, "workers": 1}'
cat > "$work/fp32.json" <<EOF
{$common, "seed": 0, "train": {"epochs": 1, "batch_size": 32}, "optimizer": {"lr": 0.05}, "lr_schedule": {"type": "constant"}}
EOF
"$bin/inq_train" "$work/fp32.json" --out "$work/fp32" > "$work/fp32.log" 2>&1
cat > "$work/inq.json" <<EOF
{$common, "seed": 3, "train": {"batch_size": 32}, "optimizer": {"lr": 0.01}, "lr_schedule": {"type": "constant"},
 "init": {"weights": "$work/fp32/model.safetensors"},
 "inq": {"bits": 3, "portions": [0.5, 0.8, 1.0], "epochs_per_stage": 1, "bn_recalibration_batches": 1}}
EOF
"$bin/inq_train" "$work/inq.json" --out "$work/ref" > "$work/ref.log" 2>&1
ckpt_kb=$(( $(stat -c %s "$work/ref/checkpoint.safetensors") / 1024 ))

mkdir -p "$work/disk"
size_kb=$(( ckpt_kb * 3 / 2 ))  # one checkpoint and the small files, not a second checkpoint beside it
mount -t tmpfs -o size=${size_kb}k tmpfs "$work/disk"
run="$work/disk/run"
set +e
"$bin/inq_train" "$work/inq.json" --out "$run" > "$work/full.log" 2>&1
rc=$?
set -e
fail() { echo "full_disk_test: FAILED: $*"; echo "--- log:"; cat "$work/full.log"; exit 1; }
[ $rc = 1 ] || fail "expected exit 1 on the full disk, got $rc"
grep -q "$run/checkpoint.safetensors" "$work/full.log" || fail "the error does not name the checkpoint path"
grep -q "No space left on device (errno 28)" "$work/full.log" || fail "the error does not give ENOSPC and its errno"
[ -f "$run/checkpoint.safetensors" ] || fail "the previous checkpoint is gone"
ls "$run" | grep -q '\.tmp\.' && fail "a temporary file was left behind: $(ls "$run")"
grep -m1 "No space left" "$work/full.log"

mount -o remount,size=$(( ckpt_kb * 8 ))k "$work/disk"  # space freed
"$bin/inq_train" --resume "$run" > "$work/resume.log" 2>&1 || { cat "$work/resume.log"; fail "--resume after freeing space failed"; }
cmp "$work/ref/model.safetensors" "$run/model.safetensors" || fail "the resumed run's model.safetensors differs from the uninterrupted run's"
echo "full_disk_test: the run stopped on ENOSPC at the second checkpoint (tmpfs ${size_kb} KiB), kept the first," \
     "and --resume after freeing space ended bit-identical to an uninterrupted run"
