#!/usr/bin/python3
"""PyTorch reference of inq's FP32 Fashion-MNIST protocol (configs/fmnist_resnet8_fp32.json).

Same model, data, augmentation, optimiser and schedule as `inq_train configs/fmnist_resnet8_fp32.json`:
  - resnet8 (core/models/resnet.cpp): conv3x3 1->16 (no bias), BN, ReLU; one torchvision BasicBlock per
    stage at 16, 32 (stride 2), 64 (stride 2), 1x1 conv + BN downsample where the shape changes; global
    average pool; fc 64->10. Convolutions kaiming_normal(fan_out, relu), BN weight 1 / bias 0, fc PyTorch's
    default init (torchvision's ResNet init).
  - Fashion-MNIST read from the IDX .gz files (gzip + numpy, no downloads), normalised with mean 0.2860
    std 0.3530; training augmentation RandomCrop(28, padding=2) with black (pixel 0) padding, then
    RandomHorizontalFlip(0.5).
  - SGD momentum 0.9, weight decay 5e-4 on every parameter (BN and biases included), lr 0.1, cosine to 0
    per iteration over all epochs (lr of step s = 0.05 * (1 + cos(pi * s / total_steps))), batch 128,
    the last partial training batch dropped; evaluation in batches of 128.

Data stay in-process (tensors pre-loaded, no DataLoader workers; crop and flip are done per batch with
tensor indexing), so the epoch time is the model's. Epoch seconds cover the training loop only
(augmentation included); evaluation is timed separately.

  /usr/bin/python3 scripts/torch_fmnist_resnet8.py                      # 10 epochs, 2 threads
  /usr/bin/python3 scripts/torch_fmnist_resnet8.py --epochs 1           # one epoch (timing)
  /usr/bin/python3 scripts/torch_fmnist_resnet8.py --max-steps 50       # quick timing, no full epoch

Prints one line per epoch and a final JSON line.
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch_resnet8 import ResNet8  # scripts/, next to this file
except ImportError as e:  # pragma: no cover - environment problem, not a bug
    sys.exit(f"torch_fmnist_resnet8.py: needs torch and torchvision ({e}); run it with /usr/bin/python3 "
             "(Debian python3-torch, python3-torchvision)")

MEAN = 0.2860
STD = 0.3530
PAD = 2
SIDE = 28


def read_idx(path, images):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    want = 0x00000803 if images else 0x00000801
    if magic != want:
        sys.exit(f"torch_fmnist_resnet8.py: {path}: bad magic {magic:#010x}, expected {want:#010x}")
    count = int.from_bytes(data[4:8], "big")
    if images:
        rows, cols = int.from_bytes(data[8:12], "big"), int.from_bytes(data[12:16], "big")
        arr = np.frombuffer(data, dtype=np.uint8, offset=16)
        if arr.size != count * rows * cols:
            sys.exit(f"torch_fmnist_resnet8.py: {path}: {arr.size} pixels, header says {count}x{rows}x{cols}")
        return arr.reshape(count, 1, rows, cols)
    arr = np.frombuffer(data, dtype=np.uint8, offset=8)
    if arr.size != count:
        sys.exit(f"torch_fmnist_resnet8.py: {path}: {arr.size} labels, header says {count}")
    return arr


def load_split(root, train):
    prefix = "train" if train else "t10k"
    x = read_idx(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz"), True)
    y = read_idx(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz"), False)
    x = (torch.from_numpy(x.astype(np.float32)) / 255.0 - MEAN) / STD
    return x.contiguous(), torch.from_numpy(y.astype(np.int64))


def augment(padded, idx, gen):
    """RandomCrop(28, padding=2) then RandomHorizontalFlip on the pre-padded images padded[idx]."""
    b = idx.numel()
    oy = torch.randint(0, 2 * PAD + 1, (b,), generator=gen)
    ox = torch.randint(0, 2 * PAD + 1, (b,), generator=gen)
    flip = torch.rand(b, generator=gen) < 0.5
    ar = torch.arange(SIDE)
    rows = (oy[:, None] + ar)[:, :, None]  # [b, 28, 1]
    cols = ox[:, None] + ar                 # [b, 28]
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, :]  # [b, 1, 28]
    out = padded[idx[:, None, None], 0, rows, cols]  # [b, 28, 28]
    return out.unsqueeze(1).contiguous()


def evaluate(model, x, y, batch):
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            out = model(x[i:i + batch])
            loss_sum += float(F.cross_entropy(out, y[i:i + batch], reduction="sum"))
            correct += int((out.argmax(1) == y[i:i + batch]).sum())
    model.train()
    return loss_sum / x.shape[0], correct / x.shape[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--max-steps", type=int, default=0,
                   help="stop after this many optimizer steps (quick timing; the schedule still spans --epochs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--no-eval", action="store_true", help="skip the test-set evaluation after each epoch")
    p.add_argument("--save", metavar="PATH", help="write the final state dict here (torch.save)")
    a = p.parse_args()

    t_start = time.perf_counter()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)

    x_train, y_train = load_split(a.data, True)
    x_test, y_test = load_split(a.data, False)
    # Black padding in pixel space = the normalised value of pixel 0.
    padded = F.pad(x_train, (PAD, PAD, PAD, PAD), value=(0.0 - MEAN) / STD).contiguous()

    model = ResNet8().train()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
    steps_per_epoch = x_train.shape[0] // a.batch  # drop_last
    total = a.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total)))
    setup_s = time.perf_counter() - t_start
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {x_train.shape[0]} train / "
          f"{x_test.shape[0]} test images, {steps_per_epoch} steps per epoch, setup {setup_s:.2f} s", flush=True)

    step = 0
    epochs = []
    stop = False
    for epoch in range(1, a.epochs + 1):
        perm = torch.randperm(x_train.shape[0], generator=gen)
        loss_sum, correct, seen, steps = 0.0, 0, 0, 0
        t0 = time.perf_counter()
        for b in range(steps_per_epoch):
            idx = perm[b * a.batch:(b + 1) * a.batch]
            xb = augment(padded, idx, gen)
            yb = y_train[idx]
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            steps += 1
            loss_sum += float(loss) * yb.numel()
            correct += int((out.detach().argmax(1) == yb).sum())
            seen += yb.numel()
            if a.max_steps and step >= a.max_steps:
                stop = True
                break
        train_s = time.perf_counter() - t0
        rec = {"epoch": epoch, "steps": steps, "train_loss": loss_sum / seen, "train_top1": correct / seen,
               "seconds": train_s, "ms_per_step": 1000.0 * train_s / steps,
               "images_per_second": seen / train_s, "lr": opt.param_groups[0]["lr"]}
        if not a.no_eval:
            t1 = time.perf_counter()
            rec["test_loss"], rec["test_top1"] = evaluate(model, x_test, y_test, a.batch)
            rec["eval_seconds"] = time.perf_counter() - t1
        epochs.append(rec)
        test = (f"  test loss {rec['test_loss']:.4f} top1 {100 * rec['test_top1']:.2f}%  ({rec['eval_seconds']:.2f} s)"
                if not a.no_eval else "")
        print(f"epoch {epoch:3d}  steps {steps}  train loss {rec['train_loss']:.4f} top1 {100 * rec['train_top1']:.2f}%"
              f"  {train_s:.2f} s ({rec['ms_per_step']:.1f} ms/step, {rec['images_per_second']:.0f} img/s){test}",
              flush=True)
        if stop:
            break

    if a.save:
        torch.save(model.state_dict(), a.save)
    print(json.dumps({"tool": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "seed": a.seed, "batch": a.batch, "epochs": a.epochs, "max_steps": a.max_steps,
                      "steps": step, "setup_seconds": setup_s, "total_seconds": time.perf_counter() - t_start,
                      "final_test_top1": epochs[-1].get("test_top1"), "per_epoch": epochs}), flush=True)


if __name__ == "__main__":
    main()
