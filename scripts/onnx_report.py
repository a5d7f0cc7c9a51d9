#!/usr/bin/env python3
"""The ONNX deployment table of docs/results.md and docs/benchmarks.md, for the Fashion-MNIST
resnet8 models: for the FP32 model and the 5/4/3/2-bit INQ models,

  - test top-1 of the engine (inq_eval), of the weight-only ONNX model in onnxruntime, of the
    integer-only (int8 QDQ) model in onnxruntime and of the engine's integer reference
    (inq_eval --integer), the last two compared logit for logit;
  - file sizes: model.safetensors (fp32), inq_export's packed file, the ONNX files;
  - onnxruntime CPU latency per image at batch 1 and throughput at batch 64, fp32 vs int8.

Top-1 counts ties in the label's favour, as inq's evaluation does (rank = classes with a strictly
larger logit). Run from the repository root after building, in the project-local environment:

  .venv/bin/python scripts/onnx_report.py [--out runs/onnx_report] [--threads 1]

Writes OUT/report.json and OUT/report.md (the tables) and prints the markdown.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_common as oc  # noqa: E402

RUNS = "docs/fmnist_tradeoff/runs"
MODELS = [("fp32", "docs/fmnist_tradeoff/fp32")] + [
    (f"{b}-bit", f"{RUNS}/bits-{b}_eps-4_part-magnitude_seed-0") for b in (5, 4, 3, 2)]


def sh(args):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"onnx_report: {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def top1(logits, labels):
    label_logit = logits[np.arange(len(labels)), labels][:, None]
    return float(np.mean((logits > label_logit).sum(1) == 0))


def timed(sess, x, batch, seconds):
    """(ms per batch, images per second): median of 1-second rounds after a warm-up."""
    xb = np.ascontiguousarray(x[:batch])
    for _ in range(5):
        sess.run(None, {"input": xb})
    rounds = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(rounds) < 3:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 1.0 / 3:
            sess.run(None, {"input": xb})
            n += 1
        rounds.append((time.perf_counter() - t0) / n)
    per_batch = float(np.median(rounds))
    return per_batch * 1e3, batch / per_batch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", default="runs/onnx_report")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime and inq_eval threads (default 1)")
    ap.add_argument("--test-limit", type=int, default=0, help="first N test images (default: all 10000)")
    ap.add_argument("--calib-batches", type=int, default=16)
    ap.add_argument("--calib-method", default="minmax", choices=("minmax", "percentile"))
    ap.add_argument("--seconds", type=float, default=3.0, help="timing per configuration")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    binary = lambda name: os.path.join(a.build, "bin", name)  # noqa: E731

    x, y = oc.fmnist_test(a.test_limit)
    test_file = os.path.join(a.out, "test.safetensors")
    oc.write_safetensors(test_file, {"input": x, "labels": y})
    rows = []
    for label, run in MODELS:
        model = os.path.join(run, "model.safetensors")
        cfg = os.path.join(run, "config.json")
        out = lambda name: os.path.join(a.out, f"{label}.{name}")  # noqa: E731
        sets = ["--set", f"init.weights={model}", "--set", "device=cpu", "--set", f"threads={a.threads}"]
        r = {"model": label, "run": run, "images": int(len(y))}

        sh([binary("inq_eval"), cfg, *sets, "--input", test_file, "--json", out("engine.json")])
        r["engine_top1"] = json.load(open(out("engine.json")))["top1"]
        quantized = label != "fp32"
        sh([binary("inq_export"), model, out("float.onnx"), "--format", "onnx", "--float"])
        if quantized:
            sh([binary("inq_export"), model, out("weights.onnx"), "--format", "onnx"])
            sh([binary("inq_export"), model, out("packed.safetensors")])
            log = sh([binary("inq_export"), model, out("int8.onnx"), "--format", "onnx", "--int8", "--config", cfg,
                      "--calib-batches", str(a.calib_batches), "--calib-method", a.calib_method])
            r["int8_export"] = log.strip()
        sizes = {"safetensors": model, "float_onnx": out("float.onnx")}
        if quantized:
            sizes.update(packed=out("packed.safetensors"), weights_onnx=out("weights.onnx"), int8_onnx=out("int8.onnx"))
        r["bytes"] = {k: os.path.getsize(v) for k, v in sizes.items()}

        fsess = oc.session(out("float.onnx"), threads=a.threads)
        r["ort_float_top1"] = top1(oc.run(fsess, x), y)
        if quantized:
            r["ort_weights_top1"] = top1(oc.run(oc.session(out("weights.onnx"), threads=a.threads), x), y)
            isess = oc.session(out("int8.onnx"), threads=a.threads)
            ort_int8 = oc.run(isess, x)
            r["ort_int8_top1"] = top1(ort_int8, y)
            sh([binary("inq_eval"), cfg, *sets, "--input", test_file, "--integer", out("int8.onnx"),
                "--dump-logits", out("int8_ref_logits.safetensors"), "--json", out("int8_ref.json")])
            ref = oc.read_safetensors(out("int8_ref_logits.safetensors"))[0]["logits"]
            r["ref_int8_top1"] = json.load(open(out("int8_ref.json")))["top1"]
            import onnx
            from onnx import numpy_helper
            scale = float(next(numpy_helper.to_array(t) for t in onnx.load(out("int8.onnx")).graph.initializer
                               if t.name == "logits.scale"))
            diff = np.abs(ort_int8 - ref) / scale
            r["int8_ort_vs_ref_max_steps"] = float(diff.max())
            r["int8_ort_vs_ref_logits_differing"] = int((diff > 0.5).sum())
            for b in (1, 64):
                r[f"int8_b{b}"] = timed(isess, x, b, a.seconds)
        for b in (1, 64):
            r[f"fp32_b{b}"] = timed(fsess, x, b, a.seconds)
        rows.append(r)
        print(json.dumps(r), flush=True)

    json.dump({"threads": a.threads, "rows": rows}, open(os.path.join(a.out, "report.json"), "w"), indent=1)
    md = markdown(rows, a)
    open(os.path.join(a.out, "report.md"), "w").write(md)
    print(md)


def markdown(rows, a):
    pct = lambda v: f"{100 * v:.2f}" if v is not None else "–"  # noqa: E731
    kb = lambda n: f"{n / 1e3:.1f}"  # noqa: E731
    out = [f"Accuracy on {rows[0]['images']} Fashion-MNIST test images (top-1 %); int8 calibrated on "
           f"{a.calib_batches} training batches ({a.calib_method}).", "",
           "| model | engine | ORT weight-only | ORT int8 | engine int8 reference | ORT int8 vs reference |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        q = r["model"] != "fp32"
        cmp = (f"max {r['int8_ort_vs_ref_max_steps']:.0f} steps, {r['int8_ort_vs_ref_logits_differing']} logits differ"
               if q else "–")
        out.append(f"| {r['model']} | {pct(r['engine_top1'])} | {pct(r.get('ort_weights_top1', r['ort_float_top1']))}"
                   f"{'' if q else ' (fp32)'} | {pct(r.get('ort_int8_top1'))} | {pct(r.get('ref_int8_top1'))} | {cmp} |")
    out += ["", "File sizes (kB):", "",
            "| model | model.safetensors | packed (inq_export) | ONNX fp32 | ONNX weight-only | ONNX int8 |",
            "|---|---|---|---|---|---|"]
    for r in rows:
        b = r["bytes"]
        out.append(f"| {r['model']} | {kb(b['safetensors'])} | {kb(b['packed']) if 'packed' in b else '–'} | "
                   f"{kb(b['float_onnx'])} | {kb(b['weights_onnx']) if 'weights_onnx' in b else '–'} | "
                   f"{kb(b['int8_onnx']) if 'int8_onnx' in b else '–'} |")
    out += ["", f"onnxruntime CPU, {a.threads} thread(s): latency per image at batch 1 (ms) and throughput at "
            "batch 64 (images/s):", "",
            "| model | fp32 b=1 ms | int8 b=1 ms | fp32 b=64 img/s | int8 b=64 img/s | int8 speed-up b=64 |",
            "|---|---|---|---|---|---|"]
    for r in rows:
        if "int8_b1" not in r:
            out.append(f"| {r['model']} | {r['fp32_b1'][0]:.3f} | – | {r['fp32_b64'][1]:.0f} | – | – |")
            continue
        out.append(f"| {r['model']} | {r['fp32_b1'][0]:.3f} | {r['int8_b1'][0]:.3f} | {r['fp32_b64'][1]:.0f} | "
                   f"{r['int8_b64'][1]:.0f} | {r['int8_b64'][1] / r['fp32_b64'][1]:.2f}x |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
