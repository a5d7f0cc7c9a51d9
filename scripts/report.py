#!/usr/bin/env python3
"""Collects INQ (and baseline-quantiser) runs into one CSV, one Markdown table and PNG plots.

  /usr/bin/python3 scripts/report.py runs/sweeps/fmnist_tradeoff --out docs/fmnist_tradeoff \\
      [--fp32 runs/fmnist_resnet8_fp32] [--bin build/bin] [--no-plots]

Every directory under each RUN_ROOT holding config.json and metrics.jsonl is a run (records:
configs/README.md, "The run directory"). Per run: bit-width, portions, epochs per stage, total
epochs, partition, seed, final top-1/top-5 (the last test record), the drop against the FP32 model
(the --fp32 run's final top-1, else the run's own reference record: the pretrained weights'
accuracy before stage 1), the share of zeros among the quantized weights (read from
model.safetensors and its "inq" metadata), the packed size (BIN/inq_export writes the packed
file into a temporary directory; its size against all tensors as fp32), the compressed size
(compressed_bytes: the whole model as docs/compression.md counts it, for INQ runs from
`BIN/inq_export --format sparse --huffman`, for the baseline quantisers b-bit codes plus one scale per
tensor, for FP32 runs 32 bits per value) and the time (the sum of the metrics' training and
evaluation seconds). Runs that differ only in the seed form a group (an INQ
option a config leaves at its default, `inq.n1_rule` "max" and `inq.zero_free` false, counts as
stated): the table holds its mean ± sample standard deviation over seeds. The pruned column gives
an INQ run's prune target ("70%", or "per tensor" with prune.targets). The method column says how a run
quantised: "inq", a baseline quantiser of the config's `quant` section ("bwn", "twn", "uniform";
bits 1, 2 and quant.bits; zero share from its "quant" metadata, no packed size), or "fp32". The
bits, epochs and portion plots show the INQ runs, the size plot every run with a compressed size.

Writes OUT/runs.csv (one row per run), OUT/summary.csv and OUT/table.md (one row per group) and,
with matplotlib (Agg backend), per model and dataset: accuracy_vs_bits, accuracy_vs_epochs and
accuracy_vs_portion PNGs of the INQ runs, and accuracy_vs_size (top-1 against compressed_bytes, one
marker and colour per method: inq, inq+pruning, bwn, twn, uniform, fp32). The data part needs only the
standard library.
"""
import argparse
import array
import csv
import json
import math
import os
import statistics
import struct
import subprocess
import sys
import tempfile

# Keys that do not change what a run computes (or are the seed): ignored when grouping runs.
IGNORED_KEYS = {"out", "seed", "inq.seed", "device", "threads", "data.workers", "data.root", "train.log_every",
                "train.eval_batch_size"}
# INQ options a config may leave out: a run that states the default groups with one that omits it.
INQ_DEFAULTS = {"inq.n1_rule": "max", "inq.zero_free": False}
RUN_COLUMNS = ["run", "status", "model", "dataset", "method", "bits", "portions", "epochs_per_stage", "total_epochs",
               "float_epochs", "partition", "levels", "pruned", "seed", "top1", "top5", "last_stage_top1", "reference_top1", "fp32_top1", "drop_pp",
               "zero_share", "packed_bytes", "fp32_bytes", "compression", "compressed_bytes", "seconds"]
# Marker and colour of each method in the size plot; "inq+pruning" is an INQ run with a prune section.
METHOD_STYLE = {"inq": ("o", "tab:blue"), "inq+pruning": ("s", "tab:green"), "twn": ("^", "tab:orange"),
                "bwn": ("v", "tab:red"), "uniform": ("D", "tab:purple"), "fp32": ("*", "black")}


class ReportError(Exception):
    pass


# ---------------------------------------------------------------- reading runs

def flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def read_metrics(path):
    records = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                print(f"report: {path}:{n}: unreadable line skipped (a torn write?)", file=sys.stderr)
    return records


def safetensors_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)), 8 + n


def zero_share(model_path):
    """(zeros, weights) over the quantized tensors named by the file's "inq" (or "quant") metadata."""
    header, data_start = safetensors_header(model_path)
    meta = header.get("__metadata__", {})
    key = "inq" if "inq" in meta else "quant"
    if key not in meta:
        raise ReportError(f"{model_path}: no \"inq\" or \"quant\" metadata (not written by a quantising run)")
    names = json.loads(meta[key])["tensors"]
    zeros = total = 0
    with open(model_path, "rb") as f:
        for name in sorted(names):
            info = header[name]
            if info["dtype"] != "F32":
                raise ReportError(f"{model_path}: {name}: dtype {info['dtype']}, expected F32")
            begin, end = info["data_offsets"]
            f.seek(data_start + begin)
            values = array.array("f")
            values.frombytes(f.read(end - begin))
            if sys.byteorder != "little":
                values.byteswap()
            zeros += values.count(0.0)  # -0.0 == 0.0, as a level it is zero
            total += len(values)
    return zeros, total


def fp32_bytes(model_path):
    header, _ = safetensors_header(model_path)
    return sum(4 * math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")


def packed_bytes(model_path, bin_dir):
    """Size of the file inq_export writes (None when the tool is absent)."""
    exe = os.path.join(bin_dir, "inq_export")
    if not os.access(exe, os.X_OK):
        return None
    with tempfile.TemporaryDirectory(prefix="inq_report_") as tmp:
        out = os.path.join(tmp, "packed.safetensors")
        r = subprocess.run([exe, model_path, out], capture_output=True, text=True)
        if r.returncode != 0:
            raise ReportError(f"{exe} {model_path}: exit {r.returncode}: {r.stderr.strip() or r.stdout.strip()}")
        return os.path.getsize(out)


def is_counter(name):
    """num_batches_tracked, a training counter, is left out of every size count (docs/compression.md)."""
    return name.endswith("num_batches_tracked")


def float_values(header, quantised):
    """Values of the tensors stored as floats: every tensor but the quantised ones and the counters,
    as inq_export --format sparse counts them (its report's float_values; tests/python/test_report.py
    compares the two)."""
    return sum(math.prod(v["shape"]) for k, v in header.items()
               if k != "__metadata__" and k not in quantised and not is_counter(k))


def sparse_size_report(model_path, bin_dir):
    """The size report of `inq_export --format sparse --huffman` (its --report-json, as a dict) for an
    INQ model, or None when the tool is absent; a model the tool refuses (exit != 0) is reported on
    stderr and gives None."""
    exe = os.path.join(bin_dir, "inq_export")
    if not os.access(exe, os.X_OK):
        return None
    with tempfile.TemporaryDirectory(prefix="inq_report_") as tmp:
        out, report_json = os.path.join(tmp, "sparse.safetensors"), os.path.join(tmp, "sparse.json")
        r = subprocess.run([exe, model_path, out, "--format", "sparse", "--huffman", "--report-json", report_json],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"report: {exe} {model_path} --format sparse --huffman: exit {r.returncode}: "
                  f"{(r.stderr.strip() or r.stdout.strip())}; compressed size left empty", file=sys.stderr)
            return None
        with open(report_json) as f:
            return json.load(f)


def compressed_bytes(model_path, method, bin_dir):
    """The whole model's compressed size in bytes, ceil(bits / 8), bits counted as docs/compression.md says:
    - inq (pruned or not): inq_export --format sparse --huffman's total (indices, codes, Huffman tables and
      64-bit headers of the quantised tensors, 32 bits per float value); None without the tool;
    - bwn / twn / uniform: per quantised tensor its b-bit codes (bwn 1, twn 2, uniform quant.bits bits per
      weight, dense) and one 32-bit scale (alpha or s), plus 32 bits per float value;
    - fp32: 32 bits per value."""
    if method == "inq":
        rep = sparse_size_report(model_path, bin_dir)
        return None if rep is None else -(-int(rep["bits"]["total"]) // 8)
    header, _ = safetensors_header(model_path)
    quantised = {}
    if method != "fp32":
        meta = header.get("__metadata__", {})
        if "quant" not in meta:
            raise ReportError(f"{model_path}: no \"quant\" metadata (not written by a {method} run)")
        quantised = json.loads(meta["quant"])["tensors"]
    bits = 32 * float_values(header, quantised)
    for name, spec in quantised.items():
        bits += math.prod(header[name]["shape"]) * int(spec["bits"]) + 32
    return -(-bits // 8)


def planned_epochs(cfg):
    inq = cfg.get("inq")
    if inq is None:
        return int(cfg.get("train", {}).get("epochs", 1))
    stages = inq.get("stage_epochs") or [int(inq.get("epochs_per_stage", 2))] * len(inq["portions"])
    prune = cfg.get("prune")
    return sum(stages) + int(inq.get("float_epochs", 0)) + (int(prune.get("epochs", 1)) if prune is not None else 0)


def find_runs(roots):
    dirs = []
    for root in roots:
        if not os.path.isdir(root):
            raise ReportError(f"{root}: not a directory")
        for d, _subdirs, files in os.walk(root):
            if "metrics.jsonl" in files and "config.json" in files:
                dirs.append(d)
    return sorted(set(dirs))


def read_run(run_dir, bin_dir, name):
    with open(os.path.join(run_dir, "config.json")) as f:
        cfg = json.load(f)
    records = read_metrics(os.path.join(run_dir, "metrics.jsonl"))
    tests = [r for r in records if r.get("split") == "test"]
    inq = cfg.get("inq")
    quant = cfg.get("quant")
    r = {"run": name, "dir": run_dir, "config": cfg, "model": cfg.get("model", {}).get("name", ""),
         "dataset": cfg.get("data", {}).get("dataset", ""), "seed": cfg.get("seed", 0),
         "total_epochs": planned_epochs(cfg), "seconds": sum(float(x.get("seconds", 0)) for x in records)}
    if inq is not None:
        stages = inq.get("stage_epochs") or [int(inq.get("epochs_per_stage", 2))] * len(inq["portions"])
        r.update(method="inq", bits=int(inq["bits"]), portions=list(inq["portions"]),
                 partition=inq.get("partition", "magnitude"),
                 epochs_per_stage=stages[0] if len(set(stages)) == 1 else "/".join(map(str, stages)),
                 float_epochs=int(inq.get("float_epochs", 0)),
                 levels=inq.get("n1_rule", INQ_DEFAULTS["inq.n1_rule"]) + (" zero-free" if inq.get("zero_free") else ""))
    elif quant is not None:
        bits = {"bwn": 1, "twn": 2}.get(quant["method"]) or int(quant["bits"])
        r.update(method=quant["method"], bits=bits, portions=[], partition="", epochs_per_stage="", float_epochs=0,
                 levels="")
    else:
        r.update(method="fp32", bits="fp32", portions=[], partition="", epochs_per_stage="", float_epochs=0, levels="")
    ref = [x for x in tests if x.get("stage") == -1]
    r["reference_top1"] = ref[0]["top1"] if ref else None
    trained = [x for x in tests if x.get("stage", 0) != -1]
    last_epoch = max((int(x["epoch"]) for x in trained), default=0)
    r["top1"] = trained[-1]["top1"] if trained else None
    r["top5"] = trained[-1]["top5"] if trained else None
    n_stages = len(r["portions"])
    r["stage_ends"] = [(float(x["portion"]), float(x["top1"])) for x in trained
                       if x.get("stage_end") and int(x.get("stage", n_stages)) < n_stages]
    # Top-1 at the end of the last stage (sigma = 1): before any float epochs, which may change it.
    r["last_stage_top1"] = (r["stage_ends"][-1][1] if r["stage_ends"] and len(r["stage_ends"]) == n_stages
                            else None)
    model = os.path.join(run_dir, "model.safetensors")
    r["status"] = "complete" if last_epoch >= r["total_epochs"] else f"incomplete (epoch {last_epoch}/{r['total_epochs']})"
    r["pruned"] = prune_target(cfg.get("prune")) if inq is not None else ""
    r["zero_share"] = r["packed_bytes"] = r["fp32_bytes"] = r["compression"] = r["compressed_bytes"] = None
    quantised = inq is not None or quant is not None
    if r["status"] == "complete" and not os.path.exists(model):
        if quantised:
            print(f"report: {name}: no model.safetensors: zero share and sizes left empty", file=sys.stderr)
    elif r["status"] == "complete":
        r["compressed_bytes"] = compressed_bytes(model, r["method"], bin_dir)
    if r["status"] == "complete" and quantised and os.path.exists(model):
        zeros, total = zero_share(model)
        r["zero_share"] = zeros / total if total else None
        r["fp32_bytes"] = fp32_bytes(model)
        r["packed_bytes"] = packed_bytes(model, bin_dir) if inq is not None else None  # inq_export packs INQ levels
        if r["packed_bytes"]:
            r["compression"] = r["fp32_bytes"] / r["packed_bytes"]
    return r


def prune_target(prune):
    """The prune section's target as the table shows it: "70%", "per tensor" (prune.targets), or ""."""
    if not prune:
        return ""
    if prune.get("targets"):
        return "per tensor"
    return f"{100 * float(prune.get('sparsity', 0)):g}%"


def fp32_top1(run_dir):
    records = [x for x in read_metrics(os.path.join(run_dir, "metrics.jsonl")) if x.get("split") == "test"]
    if not records:
        raise ReportError(f"--fp32 {run_dir}: no test record in metrics.jsonl")
    return records[-1]["top1"]


def group_key(run):
    flat = flatten(run["config"])
    if "inq" in run["config"]:
        flat = {**INQ_DEFAULTS, **flat}
    return json.dumps({k: v for k, v in sorted(flat.items()) if k not in IGNORED_KEYS}, sort_keys=True)


# ---------------------------------------------------------------- aggregation

def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def summarize(runs):
    groups = {}
    for r in runs:
        groups.setdefault(group_key(r), []).append(r)
    out = []
    for members in groups.values():
        members.sort(key=lambda r: (r["seed"], r["run"]))
        first = members[0]
        g = {k: first[k] for k in ("model", "dataset", "method", "bits", "portions", "epochs_per_stage", "total_epochs",
                                   "float_epochs", "partition", "levels", "pruned")}
        g["runs"] = [m["run"] for m in members]
        g["seeds"] = [m["seed"] for m in members]
        for k in ("top1", "top5", "last_stage_top1", "drop_pp", "zero_share", "compression", "packed_bytes",
                  "compressed_bytes", "seconds"):
            g[k], g[k + "_std"] = spread([m[k] for m in members])
        # Mean accuracy after each stage, with the reference (sigma = 0) first.
        ends = [m["stage_ends"] for m in members if m["stage_ends"]]
        g["curve"] = []
        if ends and all(len(e) == len(ends[0]) for e in ends):
            refs = [m["reference_top1"] for m in members if m["reference_top1"] is not None]
            if refs:
                g["curve"].append((0.0, statistics.fmean(refs)))
            for i, (portion, _) in enumerate(ends[0]):
                g["curve"].append((portion, statistics.fmean(e[i][1] for e in ends)))
        out.append(g)
    out.sort(key=lambda g: (g["model"], g["dataset"], g["bits"] != "fp32", -g["bits"] if g["bits"] != "fp32" else 0,
                            g["method"] != "inq", g["method"], str(g["epochs_per_stage"]), g["partition"], g["runs"][0]))
    return out


# ---------------------------------------------------------------- output

def pct(x, nd=2):
    return "" if x is None else f"{100 * x:.{nd}f}"


def mean_std(mean, std, scale=100.0, nd=2, n=1):
    if mean is None:
        return "–"
    s = f"{scale * mean:.{nd}f}"
    return s + (f" ± {scale * std:.{nd}f}" if std is not None else "") + (f" ({n})" if n > 1 else "")


def error_pair(top1, top5):
    """Top-1 / top-5 error in percent (100 - accuracy), the form of the paper's table."""
    if top1 is None:
        return "–"
    return f"{100 * (1 - top1):.2f} / " + ("–" if top5 is None else f"{100 * (1 - top5):.2f}")


def fmt_time(s):
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def write_csv(path, runs):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(RUN_COLUMNS)
        for r in runs:
            row = []
            for c in RUN_COLUMNS:
                v = r.get(c)
                if c == "portions":
                    v = " ".join(f"{p:g}" for p in v)
                elif isinstance(v, float):
                    v = f"{v:.6g}"
                row.append("" if v is None else v)
            w.writerow(row)


def write_summary_csv(path, groups):
    cols = ["model", "dataset", "method", "bits", "portions", "epochs_per_stage", "total_epochs", "partition", "levels", "n", "seeds",
            "top1_mean", "top1_std", "top5_mean", "top5_std", "last_stage_top1_mean", "drop_pp_mean", "drop_pp_std", "zero_share_mean",
            "compression_mean", "packed_bytes_mean", "compressed_bytes_mean", "seconds_mean", "runs"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for g in groups:
            vals = {"portions": " ".join(f"{p:g}" for p in g["portions"]), "n": len(g["runs"]),
                    "seeds": " ".join(map(str, g["seeds"])), "runs": " ".join(g["runs"])}
            for k in ("top1", "top5", "last_stage_top1", "drop_pp", "zero_share", "compression", "packed_bytes",
                      "compressed_bytes", "seconds"):
                vals[k + "_mean"], vals[k + "_std"] = g[k], g[k + "_std"]
            w.writerow(["" if (v := vals.get(c, g.get(c))) is None else
                        (f"{v:.1f}" if c.endswith("bytes_mean") else f"{v:.6g}") if isinstance(v, float) else v
                        for c in cols])


def markdown_table(groups, fp32_note):
    head = ["model", "method", "bits", "pruned", "portions σ", "epochs/stage", "total epochs", "partition", "n1 rule", "seeds", "top-1 %",
            "top-5 %", "top-1 / top-5 error %", "top-1 % at σ=1", "drop vs FP32 (pp)", "zero weights %", "size (kB, ×fp32)", "compressed (kB)", "time per run (h:m:s)", "run"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in groups:
        n = len(g["runs"])
        size = "–"
        if g["packed_bytes"] is not None:
            size = f"{g['packed_bytes'] / 1e3:.1f} (÷{g['compression']:.2f})"
        cells = [g["model"], g["method"], str(g["bits"]), g["pruned"] or "–", " ".join(f"{p:g}" for p in g["portions"]) or "–",
                 str(g["epochs_per_stage"]) or "–", str(g["total_epochs"]), g["partition"] or "–", g["levels"] or "–",
                 " ".join(map(str, g["seeds"])), mean_std(g["top1"], g["top1_std"], n=n),
                 mean_std(g["top5"], g["top5_std"]), error_pair(g["top1"], g["top5"]), mean_std(g["last_stage_top1"], g["last_stage_top1_std"]),
                 mean_std(g["drop_pp"], g["drop_pp_std"], scale=1.0),
                 mean_std(g["zero_share"], None, nd=1), size,
                 "–" if g["compressed_bytes"] is None else f"{g['compressed_bytes'] / 1e3:.1f}", fmt_time(g["seconds"]),
                 g["runs"][0] + (f" (+{n - 1})" if n > 1 else "")]
        lines.append("| " + " | ".join(cells) + " |")
    note = ("\nMeans over seeds ± sample standard deviation (n in parentheses); top-1 at σ=1: at the end of the "
            "last stage, before float epochs (the same as top-1 without them); error = 100 − accuracy of the mean, "
            "as the INQ paper reports its ImageNet results; drop = FP32 top-1 − run top-1 "
            f"in percentage points, FP32 top-1 from {fp32_note}; zero weights: share of the quantized weights; "
            "pruned: the prune section's target sparsity (pruning before INQ); size: the inq_export packed file; compressed: the whole model as docs/compression.md counts it "
            "(INQ: inq_export --format sparse --huffman; bwn/twn/uniform: b-bit codes and a 32-bit scale per "
            "tensor; float tensors 32 bits per value); time: training + evaluation seconds of metrics.jsonl.\n")
    return "\n".join(lines) + "\n" + note


# ---------------------------------------------------------------- plots

def measured_runs(xs, joined):
    """The sorted x values of one series cut into runs that a line may join: consecutive points are joined
    only when joined(a, b) says nothing measurable lies between them (e.g. bit-widths 4 and 5, not 2 and 5),
    so a line never suggests a point that was not measured; a lone point stays a marker."""
    runs = []
    for x in sorted(xs):
        if runs and joined(runs[-1][-1], x):
            runs[-1].append(x)
        else:
            runs.append([x])
    return runs


def plots(groups, fp32_ref, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    by_model = {}
    for g in groups:
        if g["method"] == "inq" and g["top1"] is not None:
            by_model.setdefault((g["model"], g["dataset"]), []).append(g)

    def ref_line(ax, model_key):
        ref = fp32_ref.get(model_key)
        if ref is not None:
            ax.axhline(100 * ref, color="black", linestyle="--", linewidth=1, label=f"FP32 reference ({100 * ref:.2f}%)")

    def series_plot(model_key, gs, xkey, series_of, xlabel, title, fname, joined, xticks=None):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        series = {}
        for g in gs:
            label = series_of(g)
            if any(x == g[xkey] for x, *_ in series.get(label, [])):
                label = f"{label} [{g['runs'][0]}]"  # another config at the same x: its own line
            series.setdefault(label, []).append((g[xkey], 100 * g["top1"], 100 * (g["top1_std"] or 0), g))
        for label, pts in sorted(series.items(), key=lambda kv: kv[0]):
            pts.sort(key=lambda p: p[0])
            bar = ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o",
                              linestyle="none", capsize=3, label=label)
            y_of = {p[0]: p[1] for p in pts}
            for run in measured_runs([p[0] for p in pts], lambda a, b: joined(a, b, pts[0][3])):
                if len(run) > 1:
                    ax.plot(run, [y_of[x] for x in run], color=bar.lines[0].get_color())
        ref_line(ax, model_key)
        if xticks:
            ax.set_xticks(xticks)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("top-1 accuracy (%)")
        ax.set_title(title, fontsize=11)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = os.path.join(out_dir, fname)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)

    sized = {}
    for g in groups:
        if g["top1"] is not None and g["compressed_bytes"] is not None:
            sized.setdefault((g["model"], g["dataset"]), []).append(g)
    for (model, dataset), gs in sorted(sized.items()):
        written.append(size_plot(plt, gs, fp32_ref.get((model, dataset)), f"{model} on {dataset}",
                                 os.path.join(out_dir, f"accuracy_vs_size_{model}_{dataset}.png")))

    for (model, dataset), gs in sorted(by_model.items()):
        tag = f"{model}_{dataset}"
        where = f"{model} on {dataset}"
        series_plot((model, dataset), gs, "bits",
                    lambda g: f"{g['epochs_per_stage']} epochs/stage, {g['partition']}",
                    "bit-width (bits)", f"{where}: top-1 after INQ against bit-width\n(mean ± std over seeds)",
                    f"accuracy_vs_bits_{tag}.png", lambda a, b, g: b - a == 1, sorted({g["bits"] for g in gs}))

        def epochs_joined(a, b, g):  # no epoch count measured at this width (any partition) lies between
            return not any(x["bits"] == g["bits"] and a < x["total_epochs"] < b for x in gs)

        series_plot((model, dataset), gs, "total_epochs", lambda g: f"{g['bits']} bits, {g['partition']}",
                    "total retraining epochs (epochs)", f"{where}: top-1 after INQ against retraining epochs\n(mean ± std over seeds)",
                    f"accuracy_vs_epochs_{tag}.png", epochs_joined)
        bits = sorted({g["bits"] for g in gs}, reverse=True)
        fig, axes = plt.subplots(1, len(bits), figsize=(4.2 * len(bits), 4.2), sharey=True, squeeze=False)
        for ax, b in zip(axes[0], bits):
            for g in gs:
                if g["bits"] == b and g["curve"]:
                    ax.plot([100 * p for p, _ in g["curve"]], [100 * a for _, a in g["curve"]], marker="o",
                            markersize=3, label=f"{g['epochs_per_stage']} ep/stage, {g['partition']}"
                            + (f" (n={len(g['runs'])})" if len(g["runs"]) > 1 else ""))
            ref_line(ax, (model, dataset))
            ax.set_title(f"{b} bits")
            ax.set_xlabel("accumulated quantized portion σ (% of weights)")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        axes[0][0].set_ylabel("top-1 accuracy after the stage (%)")
        fig.suptitle(f"{where}: accuracy after each INQ stage (σ = 0: pretrained weights)")
        fig.tight_layout()
        path = os.path.join(out_dir, f"accuracy_vs_portion_{tag}.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


def method_of(g):
    """The size plot's category: the method column, INQ runs with a prune section apart."""
    return "inq+pruning" if g["method"] == "inq" and g["pruned"] else g["method"]


def size_plot(plt, gs, ref, where, path):
    """Top-1 against compressed_bytes (log scale), one marker and colour per method, each point labelled
    with its bit-width; error bars over seeds."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    by_method = {}
    for g in gs:
        by_method.setdefault(method_of(g), []).append(g)
    for method in sorted(by_method, key=lambda m: list(METHOD_STYLE).index(m) if m in METHOD_STYLE else len(METHOD_STYLE)):
        pts = sorted(by_method[method], key=lambda g: g["compressed_bytes"])
        marker, colour = METHOD_STYLE.get(method, ("x", "gray"))
        ax.errorbar([g["compressed_bytes"] for g in pts], [100 * g["top1"] for g in pts],
                    yerr=[100 * (g["top1_std"] or 0) for g in pts], marker=marker, color=colour, linestyle="none",
                    markersize=7, capsize=3, label=method)
        for g in pts:
            if g["bits"] != "fp32":
                ax.annotate(f"{g['bits']}b", (g["compressed_bytes"], 100 * g["top1"]), textcoords="offset points",
                            xytext=(5, 4), fontsize=7, color=colour)
    if ref is not None:
        ax.axhline(100 * ref, color="black", linestyle="--", linewidth=1, label=f"FP32 reference ({100 * ref:.2f}%)")
    ax.set_xscale("log")
    ax.set_xlabel("compressed model size (bytes, docs/compression.md)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(f"{where}: top-1 against compressed size\n(mean ± std over seeds; labels: bits)", fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- main

def build_report(roots, out_dir, fp32_dir=None, bin_dir="build/bin", draw=True, log=print):
    dirs = find_runs(roots)
    if not dirs:
        raise ReportError(f"no run directories (config.json + metrics.jsonl) under {' '.join(roots)}")
    common = os.path.commonpath([os.path.abspath(d) for d in dirs]) if len(dirs) > 1 else os.path.dirname(
        os.path.abspath(dirs[0]))
    runs = [read_run(d, bin_dir, os.path.relpath(os.path.abspath(d), common)) for d in dirs]
    fp32_value = fp32_top1(fp32_dir) if fp32_dir else None
    fp32_ref = {}
    for r in runs:
        key = (r["model"], r["dataset"])
        r["fp32_top1"] = fp32_value if fp32_value is not None else r["reference_top1"]
        if r["bits"] == "fp32":
            r["fp32_top1"] = r["top1"]
        r["drop_pp"] = (100 * (r["fp32_top1"] - r["top1"]) if r["fp32_top1"] is not None and r["top1"] is not None
                        and r["bits"] != "fp32" else None)
        if r["fp32_top1"] is not None and r["bits"] != "fp32":
            fp32_ref.setdefault(key, []).append(r["fp32_top1"])
    fp32_ref = {k: statistics.fmean(v) for k, v in fp32_ref.items()}
    for k, v in fp32_ref.items():
        log(f"FP32 reference top-1 for {k[0]} on {k[1]}: {100 * v:.2f}%")
    incomplete = [r for r in runs if r["status"] != "complete"]
    for r in incomplete:
        log(f"report: {r['run']}: {r['status']}, left out of the table and plots")
    complete = [r for r in runs if r["status"] == "complete"]
    os.makedirs(out_dir, exist_ok=True)
    write_csv(os.path.join(out_dir, "runs.csv"), runs)
    groups = summarize(complete)
    write_summary_csv(os.path.join(out_dir, "summary.csv"), groups)
    note = f"the FP32 run {fp32_dir}" if fp32_dir else "each run's reference record (its pretrained weights)"
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(markdown_table(groups, note))
    written = [os.path.join(out_dir, n) for n in ("runs.csv", "summary.csv", "table.md")]
    if draw:
        written += plots(groups, fp32_ref, out_dir)
    return runs, groups, written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("roots", nargs="+", metavar="RUN_ROOT", help="run directories or directories holding them")
    ap.add_argument("--out", required=True, help="output directory (CSV, Markdown, PNG)")
    ap.add_argument("--fp32", metavar="RUN_DIR", help="the FP32 run the drop is measured against")
    ap.add_argument("--bin", default=os.environ.get("INQ_BIN_DIR", "build/bin"),
                    help="directory holding inq_export (default $INQ_BIN_DIR, else build/bin)")
    ap.add_argument("--no-plots", action="store_true", help="only the CSV files and the table")
    args = ap.parse_args(argv)
    if not args.no_plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("report: matplotlib is missing (Debian: python3-matplotlib; run with /usr/bin/python3) "
                  "or pass --no-plots", file=sys.stderr)
            return 2
    try:
        runs, groups, written = build_report(args.roots, args.out, args.fp32, args.bin, not args.no_plots)
    except (ReportError, OSError, json.JSONDecodeError, KeyError) as e:
        print(f"report: error: {e}", file=sys.stderr)
        return 2
    if not os.access(os.path.join(args.bin, "inq_export"), os.X_OK):
        print(f"report: {args.bin}/inq_export not found: compressed sizes left empty (pass --bin)", file=sys.stderr)
    print(f"{len(runs)} runs in {len(groups)} groups; wrote " + ", ".join(written))
    with open(os.path.join(args.out, "table.md")) as f:
        print(f.read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
