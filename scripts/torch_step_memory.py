#!/usr/bin/env python3
"""Memory of one PyTorch training step on the CPU, the yardstick for inq_bench's "peak_bytes".

Counts what a step needs: parameters, gradients and momentum (SGD 0.9), the batch (images and
labels, which inq_bench's peak counts too), plus the rise of the process's peak resident set over one step (forward, cross-entropy, backward, SGD) taken after a
warm-up step. The peak is reset before the measured step through /proc/self/clear_refs (Linux).
glibc is told to serve every allocation above 64 KiB by mmap and to give freed memory back at once
(the script re-runs itself with MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ set): otherwise
the warm-up step's freed activations stay resident, the measured step reuses them without raising
the resident set, and the rise undercounts what the step holds (ResNet-18, batch 16, 224x224:
251 MiB instead of 349 MiB).

  /usr/bin/python3 scripts/torch_step_memory.py --model resnet50 --batch 16 --image-size 224 --threads 2
"""
import argparse
import json
import os
import sys

try:
    import torch
    import torch.nn.functional as F
    import torchvision
except ImportError as e:  # pragma: no cover - environment problem
    sys.exit(f"torch_step_memory.py: needs torch and torchvision ({e}); use /usr/bin/python3 on Debian")


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}


def main():
    if any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):  # glibc reads them at start-up only
        os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, **MALLOC_ENV})
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet50")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = getattr(torchvision.models, a.model)(num_classes=a.classes)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, 3, a.image_size, a.image_size)
    y = torch.randint(0, a.classes, (a.batch,))

    def step():
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    step()  # warm-up: gradients and momentum exist from here on
    rss_before = status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    step()
    rise = (status_kib("VmHWM") - rss_before) * 1024
    state = sum(t.numel() * t.element_size() for t in model.parameters()) * 3  # weights, grads, momentum
    batch = x.numel() * x.element_size() + y.numel() * y.element_size()
    print(json.dumps({"tool": "torch", "torch": torch.__version__, "model": a.model, "batch": a.batch,
                      "image_size": a.image_size, "threads": a.threads, "state_bytes": state,
                      "batch_bytes": batch, "step_rss_rise_bytes": rise, "peak_bytes": state + batch + rise}))


if __name__ == "__main__":
    main()
