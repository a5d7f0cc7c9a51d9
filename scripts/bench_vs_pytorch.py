#!/usr/bin/env python3
"""Times the same training step (forward, cross-entropy, backward, SGD momentum 0.9 / wd 5e-4) in
PyTorch and in inq (build/bin/inq_bench) for one model, batch, image size and device, and prints
both and their ratio.

Precision: the same on both sides. CUDA, by default strict fp32: TF32 off in PyTorch
(torch.backends.cudnn.allow_tf32 = False, torch.backends.cuda.matmul.allow_tf32 = False) and inq's
default (config cuda.allow_tf32: false). --tf32: TF32 on both (both PyTorch flags True, and
inq_bench --tf32). PyTorch's cuDNN may pick non-deterministic algorithms (cudnn.deterministic off,
benchmark on); inq picks deterministic engines only, unless --nondeterministic (passed on to
inq_bench). The settings used are printed. --tf32 and --nondeterministic need --device cuda.
CPU: fp32, and both sides use the same thread count (torch.set_num_threads / inq_bench --threads).

Needs a python3 that imports torch and torchvision (Debian: /usr/bin/python3 with python3-torch;
on a GPU machine, the interpreter of its CUDA PyTorch environment):
  python3 scripts/bench_vs_pytorch.py --model resnet18 --batch 64 --device cuda --json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision
    from torch_resnet8 import ResNet8  # scripts/, next to this file
except ImportError as e:  # pragma: no cover - environment problem, not a bug
    sys.exit(f"bench_vs_pytorch.py: needs torch and torchvision ({e}); run it with the python3 that has them, "
             "e.g. /usr/bin/python3 on Debian with python3-torch installed")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_model(name, classes, channels):
    if name == "resnet8":
        return ResNet8(classes, channels)
    kwargs = {"num_classes": classes}
    if name == "googlenet":
        kwargs.update(aux_logits=False, init_weights=True)
    model = getattr(torchvision.models, name)(**kwargs)
    if channels != 3:  # same first layer with another input depth, as inq's in_channels does
        if name.startswith("resnet"):
            c = model.conv1
            model.conv1 = nn.Conv2d(channels, c.out_channels, c.kernel_size, c.stride, c.padding, bias=False)
        elif name == "googlenet":
            c = model.conv1.conv
            model.conv1.conv = nn.Conv2d(channels, c.out_channels, c.kernel_size, c.stride, c.padding, bias=False)
            model.transform_input = False
        else:
            c = model.features[0]
            model.features[0] = nn.Conv2d(channels, c.out_channels, c.kernel_size, c.stride, c.padding)
    return model


def percentile(sorted_values, q):
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def bench_torch(a):
    device = torch.device(a.device)
    if a.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("bench_vs_pytorch.py: --device cuda but this torch sees no GPU")
        torch.backends.cudnn.allow_tf32 = a.tf32
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.benchmark = True  # cuDNN autotuning, as inq picks its engines per shape
        torch.cuda.reset_peak_memory_stats()
    else:
        torch.set_num_threads(a.threads or os.cpu_count())
    torch.manual_seed(0)
    model = make_model(a.model, a.classes, a.channels).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, a.channels, a.image_size, a.image_size, device=device)
    y = torch.randint(0, a.classes, (a.batch,), device=device)

    def sync():
        if a.device == "cuda":
            torch.cuda.synchronize()

    times = []
    loss = None
    for i in range(a.warmup + a.steps):
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        sync()
        if i >= a.warmup:
            times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    median = percentile(times, 0.5)
    return {
        "tool": "pytorch",
        "torch": torch.__version__,
        "model": a.model,
        "batch": a.batch,
        "image_size": a.image_size,
        "device": a.device,
        "threads": torch.get_num_threads() if a.device == "cpu" else None,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32 if a.device == "cuda" else None,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32 if a.device == "cuda" else None,
        "cudnn_deterministic": torch.backends.cudnn.deterministic if a.device == "cuda" else None,
        "steps": a.steps,
        "warmup": a.warmup,
        "median_ms": median,
        "p10_ms": percentile(times, 0.1),
        "p90_ms": percentile(times, 0.9),
        "images_per_second": 1000.0 * a.batch / median,
        "peak_bytes": torch.cuda.max_memory_allocated() if a.device == "cuda" else None,
        "peak_reserved_bytes": torch.cuda.max_memory_reserved() if a.device == "cuda" else None,
        "gpu": torch.cuda.get_device_name() if a.device == "cuda" else None,
        "cudnn": torch.backends.cudnn.version() if a.device == "cuda" else None,
        "final_loss": float(loss),
    }


def bench_inq(a):
    cmd = [a.inq_bench, "--model", a.model, "--batch", str(a.batch), "--device", a.device, "--image-size",
           str(a.image_size), "--steps", str(a.steps), "--warmup", str(a.warmup), "--threads", str(a.threads),
           "--classes", str(a.classes), "--channels", str(a.channels), "--json"]
    if a.tf32:
        cmd.append("--tf32")
    if a.nondeterministic:
        cmd.append("--nondeterministic")
    if not os.path.exists(a.inq_bench):
        sys.exit(f"bench_vs_pytorch.py: {a.inq_bench} not found; build it (scripts/build.sh) or pass --inq-bench")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        # The PyTorch side still runs (one short GPU session should not lose both numbers).
        print(f"bench_vs_pytorch.py: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}", file=sys.stderr)
        return {"tool": "inq", "error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--device", choices=["cpu", "cuda"], required=True)
    p.add_argument("--image-size", type=int, default=0, help="default: 28 for resnet8, else 224")
    p.add_argument("--classes", type=int, default=0, help="default: 10 for resnet8, else 1000")
    p.add_argument("--channels", type=int, default=0, help="default: 1 for resnet8, else 3")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="cpu threads for both (0: all cores)")
    p.add_argument("--tf32", action="store_true",
                   help="cuda: TF32 on both sides (PyTorch's cudnn and matmul flags, inq_bench --tf32); "
                        "default strict fp32 on both")
    p.add_argument("--nondeterministic", action="store_true",
                   help="cuda: let inq pick non-deterministic cuDNN engines too (PyTorch's cuDNN always may)")
    p.add_argument("--inq-bench", default=os.path.join(ROOT, "build", "bin", "inq_bench"))
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    a = p.parse_args()
    if a.device != "cuda" and (a.tf32 or a.nondeterministic):
        p.error("--tf32 and --nondeterministic need --device cuda")
    small = a.model == "resnet8"
    a.image_size = a.image_size or (28 if small else 224)
    a.classes = a.classes or (10 if small else 1000)
    a.channels = a.channels or (1 if small else 3)
    if a.device == "cpu":
        a.threads = a.threads or os.cpu_count()

    ours = bench_inq(a)
    if "error" in ours and "out of memory" in ours["error"]:
        # The caller retries with a smaller batch; PyTorch's figure at this one would not be used.
        print(json.dumps({"inq": ours, "pytorch": None, "inq_over_pytorch": None}))
        sys.exit(1)
    theirs = bench_torch(a)
    if "error" in ours:
        print(json.dumps({"inq": ours, "pytorch": theirs, "inq_over_pytorch": None}))
        sys.exit(1)
    ratio = ours["images_per_second"] / theirs["images_per_second"]
    if a.json:
        peak = (ours["peak_bytes"] / theirs["peak_bytes"]) if a.device == "cuda" and theirs["peak_bytes"] else None
        print(json.dumps({"inq": ours, "pytorch": theirs, "inq_over_pytorch": ratio, "inq_over_pytorch_peak": peak}))
        return
    print(f"{a.model} batch {a.batch} {a.channels}x{a.image_size}x{a.image_size} on {a.device}"
          + (f" ({a.threads} threads)" if a.device == "cpu" else
             f" (pytorch tf32: cudnn {theirs['cudnn_allow_tf32']}, matmul {theirs['matmul_allow_tf32']}; "
             f"inq {ours.get('precision', 'fp32')}, {'' if ours.get('deterministic', True) else 'non'}deterministic)"))
    for name, r in (("inq", ours), ("pytorch", theirs)):
        peak = f"  peak {r['peak_bytes'] / 2**20:.0f} MiB" if r.get("peak_bytes") else ""
        print(f"  {name:8s} median {r['median_ms']:9.2f} ms  p10 {r['p10_ms']:9.2f}  p90 {r['p90_ms']:9.2f}  "
              f"{r['images_per_second']:9.1f} img/s{peak}")
    print(f"  inq / pytorch throughput: {ratio:.2f}x")


if __name__ == "__main__":
    main()
