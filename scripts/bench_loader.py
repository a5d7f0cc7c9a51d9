#!/usr/bin/python3
"""ImageNet loader benchmark: inq's OpenCV pipeline against torchvision's ImageFolder +
RandomResizedCrop(224) + RandomHorizontalFlip + ToTensor + Normalize (PIL) in a DataLoader, on the
same JPEG files in the same run.

The JPEGs are generated once (ImageNet's typical 500x375, quality 90, photo-like content: smooth
colour fields, edges and sensor-like noise, ~64 KB each) under --dir as train/<wnid>/*.JPEG, or
--dir may already hold real photos in that layout. Runs `inq_bench --what decode` (1 thread from
memory, and the Loader with 1..T workers, each in three modes: "full" whole-image decode, "reduced"
whole image with DCT scaling when the crop allows (the earlier default), "region" only the crop box
with the same scaling (the default, `data.region_decode`)) and torchvision with num_workers = 0 (one
core: the main process decodes) and 2..T worker processes.

Other work on the machine distorts the figures: pause it for the run, e.g. a background inq_train
(by process id, continued whatever happens):

    pids=$(pgrep -f build-int/bin/inq_train); kill -STOP $pids; trap "kill -CONT $pids" EXIT
    /usr/bin/python3 scripts/bench_loader.py [--dir /tmp/inq_bench_jpegs] [--count 400] [--threads 2]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image, ImageDraw


def make_jpegs(root, count, classes, seed=0):
    rng = np.random.default_rng(seed)
    per = (count + classes - 1) // classes
    made = 0
    for c in range(classes):
        d = os.path.join(root, "train", "n%08d" % (1440764 + c))
        os.makedirs(d, exist_ok=True)
        for k in range(per):
            if made == count:
                return
            p = os.path.join(d, "img_%05d.JPEG" % k)
            made += 1
            if os.path.exists(p):
                continue
            # Low-frequency colour field, upsampled, plus shapes (edges) and noise (texture).
            base = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
            img = Image.fromarray(base).resize((500, 375), Image.BICUBIC)
            draw = ImageDraw.Draw(img)
            for _ in range(12):
                x0, y0 = rng.integers(0, 500), rng.integers(0, 375)
                x1, y1 = x0 + rng.integers(10, 200), y0 + rng.integers(10, 150)
                fill = tuple(int(v) for v in rng.integers(0, 256, 3))
                (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=fill)
            a = np.asarray(img).astype(np.int16) + rng.normal(0, 10, size=(375, 500, 3)).astype(np.int16)
            Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(p, "JPEG", quality=90)


def bench_torchvision(root, workers, batch, passes=3):
    import torch
    import torchvision.datasets as datasets
    import torchvision.transforms as T

    torch.set_num_threads(1)
    tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    ds = datasets.ImageFolder(os.path.join(root, "train"), transform=tf)
    dl = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                                     persistent_workers=workers > 0)
    rates, cpu_rates = [], []
    for p in range(passes + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        n = sum(x.shape[0] for x, _ in dl)
        if p > 0:
            rates.append(n / (time.perf_counter() - t0))
            cpu_rates.append(n / (time.process_time() - c0))  # meaningful with num_workers=0 only
    return sorted(rates)[len(rates) // 2], sorted(cpu_rates)[len(cpu_rates) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/tmp/inq_bench_jpegs")
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "build", "bin", "inq_bench"))
    a = ap.parse_args()

    make_jpegs(a.dir, a.count, a.classes)
    files = [os.path.join(r, f) for r, _, fs in os.walk(os.path.join(a.dir, "train")) for f in fs]
    kb = sum(os.path.getsize(f) for f in files) / len(files) / 1024
    print("files: %d JPEGs under %s, %.1f KB mean; load average %s" %
          (len(files), a.dir, kb, " ".join("%.2f" % x for x in os.getloadavg())))

    out = subprocess.run([a.bin, "--what", "decode", "--data", a.dir, "--threads", str(a.threads),
                          "--batch", str(a.batch), "--json"], check=True, capture_output=True, text=True).stdout
    inq = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    for r in inq:
        print("inq", json.dumps(r))
    loader = {(r["mode"], r["workers"]): r["images_per_second"] for r in inq if r["what"] == "loader"}

    tv, tv_cpu = {}, None
    for w in [0] + list(range(2, a.threads + 1)):
        tv[w], cpu = bench_torchvision(a.dir, w, a.batch)
        if w == 0:
            tv_cpu = cpu
        print("torchvision DataLoader num_workers=%d: %.1f img/s%s" %
              (w, tv[w], " (%.1f per CPU-second)" % cpu if w == 0 else ""))

    cpu = {(r["mode"], r["workers"]): r["images_per_cpu_second"] for r in inq if r["what"] == "loader"}
    modes = ("full", "reduced", "region")
    print("\nOne core (Loader, 1 worker), images per CPU-second: torchvision %.1f; inq %s" %
          (tv_cpu, ", ".join("%s %.1f (%.2fx torchvision)" % (m, cpu[(m, 1)], cpu[(m, 1)] / tv_cpu) for m in modes)))
    print("region / reduced per CPU-second: %.2fx" % (cpu[("region", 1)] / cpu[("reduced", 1)]))
    print("\n| workers | torchvision (PIL) img/s | inq full img/s | inq reduced img/s | inq region img/s "
          "| region/torchvision |")
    print("|---|---|---|---|---|---|")
    for c in range(1, a.threads + 1):
        t = tv[0 if c == 1 else c]
        print("| %d | %.1f | %s | %.2fx |" % (c, t, " | ".join("%.1f" % loader[(m, c)] for m in modes),
                                             loader[("region", c)] / t))
    if a.threads >= 2:
        w = a.threads
        for m in modes:
            print("inq %s: %d workers give %.0f%% of %dx 1 worker's img/s; CPU-seconds per image %.2fx of 1 worker's" %
                  (m, w, 100 * loader[(m, w)] / (w * loader[(m, 1)]), w, cpu[(m, 1)] / cpu[(m, w)]))
        print("torchvision: %d workers give %.0f%% of %dx num_workers=0's img/s" % (w, 100 * tv[w] / (w * tv[0]), w))
    print("load average after: %s" % " ".join("%.2f" % x for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
