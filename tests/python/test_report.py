"""scripts/report.py: CSV, Markdown table and PNG plots from a fixture of run directories, and the zero
share and compressed size of real models against inq_check and inq_export."""
import csv
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import unittest

from sweep_test_util import BIN_DIR, SOURCE_DIR, have_apps, load_script, tiny_grid, tiny_setup

report = load_script("report")
FIXTURE = os.path.join(SOURCE_DIR, "tests", "data", "report_fixture")
try:
    import matplotlib  # noqa: F401
    HAVE_MPL = True
except ImportError:
    HAVE_MPL = False


def final_test(run):
    with open(os.path.join(FIXTURE, run, "metrics.jsonl")) as f:
        tests = [json.loads(line) for line in f if '"split":"test"' in line]
    return tests[-1], [t for t in tests if t.get("stage") == -1]


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


class FixtureReport(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="inq_report_test_")
        self.out = os.path.join(self.tmp.name, "out")

    def tearDown(self):
        self.tmp.cleanup()

    def test_csv_and_table(self):
        runs, groups, _ = report.build_report([FIXTURE], self.out, draw=False, log=lambda s: None)
        names = sorted(os.listdir(FIXTURE))
        with open(os.path.join(self.out, "runs.csv")) as f:
            rows = {r["run"]: r for r in csv.DictReader(f)}
        self.assertEqual(sorted(rows), names)
        self.assertTrue(rows["b4_e1_mag_s0_interrupted"]["status"].startswith("incomplete (epoch 3/6)"))
        for name in names:
            last, ref = final_test(name)
            row = rows[name]
            self.assertAlmostEqual(float(row["top1"]), last["top1"], places=6, msg=name)
            self.assertAlmostEqual(float(row["top5"]), last["top5"], places=6, msg=name)
            if ref:  # INQ run: drop against its reference record, in percentage points
                self.assertAlmostEqual(float(row["drop_pp"]), 100 * (ref[0]["top1"] - last["top1"]), places=4)
        self.assertEqual(rows["b2_e1_mag_s0"]["total_epochs"], "11")  # 10 stages x 1 epoch + 1 float epoch
        # Top-1 at sigma = 1 is the last stage's end, before the float epoch (epoch 10, not 11).
        self.assertAlmostEqual(float(rows["b2_e1_mag_s0"]["last_stage_top1"]), 0.7537, places=6)
        self.assertEqual(rows["b4_e1_mag_s0_interrupted"]["last_stage_top1"], "")  # never reached sigma = 1
        self.assertEqual(rows["b5_e2_mag_s0"]["total_epochs"], "8")

        # Groups: the seeds of one config together, the interrupted run left out.
        by_runs = {tuple(g["runs"]): g for g in groups}
        self.assertEqual(sorted(by_runs), sorted([("fp32",), ("b5_e1_mag_s0", "b5_e1_mag_s1", "b5_e1_mag_s2"),
                                                   ("b5_e2_mag_s0",), ("b2_e1_mag_s0", "b2_e1_mag_s1"),
                                                   ("b2_e1_rand_s0", "b2_e1_rand_s1")]))
        seeds = [final_test(f"b5_e1_mag_s{s}")[0]["top1"] for s in range(3)]
        g = by_runs[("b5_e1_mag_s0", "b5_e1_mag_s1", "b5_e1_mag_s2")]
        self.assertAlmostEqual(g["top1"], statistics.fmean(seeds))
        self.assertAlmostEqual(g["top1_std"], statistics.stdev(seeds))
        self.assertEqual(len(g["curve"]), 5)  # reference + 4 stage ends
        self.assertEqual([p for p, _ in g["curve"]], [0.0, 0.5, 0.75, 0.875, 1.0])

        with open(os.path.join(self.out, "table.md")) as f:
            table = f.read()
        rows_md = [line for line in table.splitlines() if line.startswith("| resnet8 ")]
        self.assertEqual(len(rows_md), 5)
        line = next(r for r in rows_md if "b5_e1_mag_s0 (+2)" in r)
        self.assertIn(f"{100 * statistics.fmean(seeds):.2f} ± {100 * statistics.stdev(seeds):.2f} (3)", line)
        self.assertNotIn("interrupted", table)

    def test_table_gives_error_as_the_paper_does(self):
        _, groups, _ = report.build_report([FIXTURE], self.out, draw=False, log=lambda s: None)
        with open(os.path.join(self.out, "table.md")) as f:
            table = f.read()
        self.assertIn("top-1 / top-5 error %", table)
        g = next(g for g in groups if g["runs"][0] == "b5_e2_mag_s0")
        line = next(r for r in table.splitlines() if "| b5_e2_mag_s0 |" in r)
        self.assertIn(f"| {100 * (1 - g['top1']):.2f} / {100 * (1 - g['top5']):.2f} |", line)

    def test_lines_join_only_neighbouring_measured_points(self):
        bits = lambda a, b: b - a == 1  # noqa: E731 (the report's rule for the bit-width axis)
        self.assertEqual(report.measured_runs([5, 2], bits), [[2], [5]])  # 3 and 4 not measured: no line
        self.assertEqual(report.measured_runs([2, 3, 5, 4], bits), [[2, 3, 4, 5]])
        self.assertEqual(report.measured_runs([2, 4, 5], bits), [[2], [4, 5]])
        self.assertEqual(report.measured_runs([], bits), [])

    @unittest.skipUnless(HAVE_MPL, "needs matplotlib")
    def test_bits_plot_draws_no_line_across_unmeasured_widths(self):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        drawn = []
        real_plot = plt.Axes.plot

        def recording_plot(ax, *args, **kwargs):
            if ax.get_xlabel() == "" and len(args) >= 2:
                drawn.append((ax, list(args[0])))
            return real_plot(ax, *args, **kwargs)

        plt.Axes.plot = recording_plot
        try:
            report.build_report([FIXTURE], self.out, log=lambda s: None)
        finally:
            plt.Axes.plot = real_plot
        # The fixture measures 2 and 5 bits only: the bits plot joins no points; every segment drawn
        # anywhere joins neighbours only (bits) or stays within one width's epoch counts.
        bit_segments = [xs for _, xs in drawn if set(xs) <= {2, 3, 4, 5} and len(xs) > 1]
        self.assertEqual(bit_segments, [])
        self.assertIn([4, 8], [xs for _, xs in drawn])  # 5 bits at 4 and 8 epochs: measured neighbours, joined

    def test_fp32_run_as_reference(self):
        runs, _, _ = report.build_report([FIXTURE], self.out, fp32_dir=os.path.join(FIXTURE, "fp32"), draw=False,
                                         log=lambda s: None)
        fp32 = final_test("fp32")[0]["top1"]
        for r in runs:
            if r["bits"] != "fp32" and r["top1"] is not None:
                self.assertAlmostEqual(r["drop_pp"], 100 * (fp32 - r["top1"]), msg=r["run"])

    def test_zero_share_from_model_file(self):
        run = os.path.join(self.tmp.name, "runs", "b5_e2_mag_s0")
        shutil.copytree(os.path.join(FIXTURE, "b5_e2_mag_s0"), run)
        values = {"conv.weight": [0.0, 0.5, -0.0, 0.25, 0.0, -1.0], "fc.weight": [0.0, 2.0, 0.125, 0.0],
                  "bn.weight": [0.0, 0.0, 1.0]}  # not quantized: its zeros do not count
        header, blob = {"__metadata__": {"inq": json.dumps({"tensors": {"conv.weight": {"bits": 5, "n1": 0},
                                                                         "fc.weight": {"bits": 5, "n1": 1}}})}}, b""
        for name, v in values.items():
            header[name] = {"dtype": "F32", "shape": [len(v)], "data_offsets": [len(blob), len(blob) + 4 * len(v)]}
            blob += struct.pack(f"<{len(v)}f", *v)
        text = json.dumps(header).encode()
        with open(os.path.join(run, "model.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + blob)
        runs, _, _ = report.build_report([os.path.dirname(run)], self.out, bin_dir="/nonexistent", draw=False,
                                         log=lambda s: None)
        self.assertAlmostEqual(runs[0]["zero_share"], 5 / 10)
        self.assertEqual(runs[0]["fp32_bytes"], 4 * 13)

    @unittest.skipUnless(HAVE_MPL, "matplotlib missing (Debian python3-matplotlib; run with /usr/bin/python3)")
    def test_plots_are_png_images(self):
        _, _, written = report.build_report([FIXTURE], self.out, draw=True, log=lambda s: None)
        pngs = sorted(os.path.basename(p) for p in written if p.endswith(".png"))
        self.assertEqual(pngs, [f"accuracy_vs_{k}_resnet8_fashion_mnist.png" for k in ("bits", "epochs", "portion")])
        for name in pngs:
            size = png_size(os.path.join(self.out, name))
            self.assertIsNotNone(size, f"{name} is not a PNG")
            self.assertTrue(size[0] > 100 and size[1] > 100, f"{name}: {size}")

    def test_command_line(self):
        args = [sys.executable, os.path.join(SOURCE_DIR, "scripts", "report.py"), FIXTURE, "--out", self.out]
        r = subprocess.run(args + ([] if HAVE_MPL else ["--no-plots"]), capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("10 runs in 5 groups", r.stdout)
        self.assertIn("b4_e1_mag_s0_interrupted: incomplete", r.stdout)
        r = subprocess.run(args[:2] + [self.tmp.name, "--out", self.out, "--no-plots"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no run directories", r.stderr)


def write_safetensors(path, tensors, metadata=None):
    """A safetensors file of F32 tensors (name -> list of values) and I64 counters (name -> int)."""
    header, blob = ({"__metadata__": metadata} if metadata else {}), b""
    for name, v in tensors.items():
        if isinstance(v, int):
            data, dtype, shape = struct.pack("<q", v), "I64", []
        else:
            data, dtype, shape = struct.pack(f"<{len(v)}f", *v), "F32", [len(v)]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + blob)


class SyntheticSizes(unittest.TestCase):
    """compressed_bytes of baseline-quantiser and FP32 runs worked out by hand, on a small sweep directory
    of made-up runs: metrics, configs and model files written here; an INQ run without a model file."""

    FLOATS = {"bn.weight": [1.0, 1.0, 1.0], "bn.running_mean": [0.0, 0.5, 0.25], "bn.num_batches_tracked": 7}

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="inq_report_sizes_")
        self.root = os.path.join(self.tmp.name, "sweep")
        self.out = os.path.join(self.tmp.name, "out")
        model = {"name": "resnet8", "in_channels": 1, "num_classes": 10, "image_size": 28}
        quantised = {"conv.weight": [0.0, 0.5, -0.5, 0.5, 0.0, -0.5], "fc.weight": [0.5, -0.5, 0.0, 0.5]}
        for name, section, top1 in (("twn", {"quant": {"method": "twn"}}, 0.80),
                                    ("bwn", {"quant": {"method": "bwn"}}, 0.75),
                                    ("uniform3", {"quant": {"method": "uniform", "bits": 3}}, 0.85),
                                    ("fp32", {}, 0.90),
                                    ("inq5_no_model", {"inq": {"bits": 5, "portions": [1.0], "epochs_per_stage": 1}}, 0.88)):
            d = os.path.join(self.root, name)
            os.makedirs(d)
            cfg = {"model": model, "data": {"dataset": "synthetic"}, **section}
            if "inq" not in section:
                cfg["train"] = {"epochs": 1}
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(cfg, f)
            with open(os.path.join(d, "metrics.jsonl"), "w") as f:
                f.write(json.dumps({"split": "test", "epoch": 1, "stage": 0, "top1": top1, "top5": 0.99,
                                    "seconds": 1.0}) + "\n")
            if name == "fp32":
                write_safetensors(os.path.join(d, "model.safetensors"), {**quantised, **self.FLOATS})
            elif "quant" in section:
                bits = {"twn": 2, "bwn": 1}.get(section["quant"]["method"], 3)
                meta = {"quant": json.dumps({"method": section["quant"]["method"],
                                             "tensors": {n: {"bits": bits, "scale": 0.5} for n in quantised}})}
                write_safetensors(os.path.join(d, "model.safetensors"), {**quantised, **self.FLOATS}, meta)

    def tearDown(self):
        self.tmp.cleanup()

    def test_compressed_bytes_by_hand(self):
        runs, groups, _ = report.build_report([self.root], self.out, bin_dir="/nonexistent", draw=False,
                                              log=lambda s: None)
        # 10 quantised weights in 2 tensors, 6 float values (the counter left out):
        #   twn  2 bits: 6*2+32 + 4*2+32 + 6*32 = 276 bits -> 35 bytes
        #   bwn  1 bit:  6+32   + 4+32   + 192  = 266 bits -> 34 bytes
        #   uniform 3:   18+32  + 12+32  + 192  = 286 bits -> 36 bytes
        #   fp32:        (10 + 6) * 32          = 512 bits -> 64 bytes
        want = {"twn": "35", "bwn": "34", "uniform3": "36", "fp32": "64", "inq5_no_model": ""}
        with open(os.path.join(self.out, "runs.csv")) as f:
            rows = {r["run"]: r for r in csv.DictReader(f)}
        self.assertEqual({k: rows[k]["compressed_bytes"] for k in want}, want)
        with open(os.path.join(self.out, "summary.csv")) as f:
            summary = {r["runs"]: r["compressed_bytes_mean"] for r in csv.DictReader(f)}
        self.assertEqual(summary["twn"], "35.0")
        self.assertEqual(summary["inq5_no_model"], "")
        with open(os.path.join(self.out, "table.md")) as f:
            self.assertIn("| compressed (kB) |", f.read())

    @unittest.skipUnless(HAVE_MPL, "matplotlib missing (Debian python3-matplotlib; run with /usr/bin/python3)")
    def test_size_plot_has_one_marker_per_method(self):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        drawn = []
        real_errorbar = plt.Axes.errorbar

        def recording_errorbar(ax, x, y, *args, **kwargs):
            drawn.append((kwargs.get("label"), kwargs.get("marker"), list(x), list(y)))
            return real_errorbar(ax, x, y, *args, **kwargs)

        plt.Axes.errorbar = recording_errorbar
        try:
            _, _, written = report.build_report([self.root], self.out, bin_dir="/nonexistent", log=lambda s: None)
        finally:
            plt.Axes.errorbar = real_errorbar
        self.assertIn(os.path.join(self.out, "accuracy_vs_size_resnet8_synthetic.png"), written)
        size = png_size(os.path.join(self.out, "accuracy_vs_size_resnet8_synthetic.png"))
        self.assertTrue(size and size[0] > 100 and size[1] > 100, size)
        series = {label: (marker, x, y) for label, marker, x, y in drawn if label in report.METHOD_STYLE}
        # The INQ run has no model file, so no size: not drawn.
        self.assertEqual(sorted(series), ["bwn", "fp32", "twn", "uniform"])
        self.assertEqual(len({m for m, _, _ in series.values()}), 4)  # a marker of its own per method
        self.assertEqual(series["twn"][1:], ([35], [80.0]))
        self.assertEqual(series["fp32"][1], [64])

    def test_method_of_sets_pruned_inq_apart(self):
        self.assertEqual(report.method_of({"method": "inq", "pruned": "70%"}), "inq+pruning")
        self.assertEqual(report.method_of({"method": "inq", "pruned": ""}), "inq")
        self.assertEqual(report.method_of({"method": "twn", "pruned": ""}), "twn")

    def test_prune_target_as_the_table_shows_it(self):
        self.assertEqual(report.prune_target(None), "")
        self.assertEqual(report.prune_target({"sparsity": 0.7, "epochs": 4}), "70%")
        self.assertEqual(report.prune_target({"targets": {"conv*": 0.9}, "sparsity": 0.5}), "per tensor")

    def test_a_stated_default_groups_with_an_omitted_one(self):
        # The paper's n1 rule and the level set with zero are the defaults: stating them changes nothing.
        def run(seed, **inq):
            return {"config": {"seed": seed, "inq": {"bits": 5, **inq}}}
        key = report.group_key(run(0))
        self.assertEqual(report.group_key(run(1, n1_rule="max")), key)
        self.assertEqual(report.group_key(run(2, n1_rule="max", zero_free=False)), key)
        self.assertNotEqual(report.group_key(run(0, n1_rule="mse")), key)
        self.assertNotEqual(report.group_key(run(0, zero_free=True)), key)


@unittest.skipUnless(have_apps("inq_train", "inq_check", "inq_export"), f"needs the apps in {BIN_DIR} (INQ_BIN_DIR)")
class RealRuns(unittest.TestCase):
    def test_zero_share_and_size_match_the_tools(self):
        with tempfile.TemporaryDirectory(prefix="inq_report_real_") as tmp:
            base, fp32_dir = tiny_setup(tmp)
            grid = tiny_grid(tmp, base)
            root = os.path.join(tmp, "root")
            r = subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "scripts", "inq_sweep.py"), grid, "--root",
                                root, "--bin", BIN_DIR, "--index", "1"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            runs, groups, _ = report.build_report([root], os.path.join(tmp, "out"), fp32_dir=fp32_dir,
                                                  bin_dir=BIN_DIR, draw=False, log=lambda s: None)
            self.assertEqual(len(runs), 1)
            run = runs[0]
            model = os.path.join(root, "bits-2_seed-0", "model.safetensors")
            check = subprocess.run([os.path.join(BIN_DIR, "inq_check"), model], capture_output=True, text=True)
            self.assertEqual(check.returncode, 0, check.stdout)
            printed = float(re.search(r"weights, ([0-9.]+)% zeros", check.stdout).group(1))
            self.assertAlmostEqual(100 * run["zero_share"], printed, delta=0.005)
            packed = os.path.join(tmp, "packed.safetensors")
            subprocess.run([os.path.join(BIN_DIR, "inq_export"), model, packed], check=True, capture_output=True)
            self.assertEqual(run["packed_bytes"], os.path.getsize(packed))
            self.assertGreater(run["compression"], 1.0)
            # compressed_bytes is inq_export's own count of the sparse, Huffman-coded model, in whole bytes,
            # and the float values the baselines' count uses are the ones inq_export counts.
            sparse, report_json = os.path.join(tmp, "sparse.safetensors"), os.path.join(tmp, "sparse.json")
            subprocess.run([os.path.join(BIN_DIR, "inq_export"), model, sparse, "--format", "sparse", "--huffman",
                            "--report-json", report_json], check=True, capture_output=True)
            with open(report_json) as f:
                sizes = json.load(f)
            self.assertEqual(run["compressed_bytes"], (sizes["bits"]["total"] + 7) // 8)
            self.assertLess(run["compressed_bytes"], os.path.getsize(sparse))  # the file adds its JSON header
            header, _ = report.safetensors_header(model)
            inq_tensors = json.loads(header["__metadata__"]["inq"])["tensors"]
            self.assertEqual(report.float_values(header, inq_tensors), sizes["float_values"])
            self.assertGreater(sizes["float_values"], 0)
            self.assertEqual(run["bits"], 2)
            self.assertEqual(run["total_epochs"], 3)

    def test_baseline_quantisers_beside_inq(self):
        """A grid whose method axis gives each point its base config: INQ, INQ after pruning and three
        baseline quantisers, each with its compressed size."""
        with tempfile.TemporaryDirectory(prefix="inq_report_methods_") as tmp:
            inq_base, fp32_dir = tiny_setup(tmp)
            with open(inq_base) as f:
                quant = json.load(f)
            del quant["inq"]
            quant["train"]["epochs"] = 2
            quant["quant"] = {"method": "twn"}
            quant_base = os.path.join(tmp, "twn.json")
            with open(quant_base, "w") as f:
                json.dump(quant, f)
            grid = {"name": "methods", "axes": [{"name": "method", "values": [
                {"label": "inq5", "base": inq_base},
                {"label": "inq5-prune70", "base": inq_base, "set": {"prune.sparsity": 0.7, "prune.epochs": 1}},
                {"label": "twn", "base": quant_base},
                {"label": "bwn", "base": quant_base, "set": {"quant.method": "bwn"}},
                {"label": "uniform3", "base": quant_base, "set": {"quant.method": "uniform", "quant.bits": 3}}]}],
                "grids": [{"method": ["inq5", "inq5-prune70", "twn", "bwn", "uniform3"]}]}
            grid_path = os.path.join(tmp, "grid.json")
            with open(grid_path, "w") as f:
                json.dump(grid, f)
            root = os.path.join(tmp, "root")
            r = subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "scripts", "inq_sweep.py"), grid_path, "--root",
                                root, "--bin", BIN_DIR], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            out = os.path.join(tmp, "out")
            runs, groups, written = report.build_report([root], out, fp32_dir=fp32_dir, bin_dir=BIN_DIR, draw=HAVE_MPL,
                                                        log=lambda s: None)
            by_method = {report.method_of(r): r for r in runs}
            self.assertEqual(sorted(by_method), ["bwn", "inq", "inq+pruning", "twn", "uniform"])
            self.assertEqual([by_method[m]["bits"] for m in ("inq", "inq+pruning", "twn", "bwn", "uniform")],
                             [5, 5, 2, 1, 3])
            # Every method has a compressed size; pruning 70% of the weights shrinks INQ's sparse form, and
            # the baselines' dense codes grow with their bit-width.
            sizes = {m: r["compressed_bytes"] for m, r in by_method.items()}
            self.assertTrue(all(isinstance(v, int) and v > 0 for v in sizes.values()), sizes)
            self.assertLess(sizes["inq+pruning"], sizes["inq"])
            self.assertLess(sizes["bwn"], sizes["twn"])
            self.assertLess(sizes["twn"], sizes["uniform"])
            if HAVE_MPL:
                self.assertIn(os.path.join(out, "accuracy_vs_size_resnet8_synthetic.png"), written)
            for m, run in by_method.items():
                self.assertEqual(run["status"], "complete", m)
                model = os.path.join(run["dir"], "model.safetensors")
                check = subprocess.run([os.path.join(BIN_DIR, "inq_check"), model], capture_output=True, text=True)
                self.assertEqual(check.returncode, 0, check.stdout)
                printed = float(re.search(r"weights, ([0-9.]+)% zeros", check.stdout).group(1))
                self.assertAlmostEqual(100 * run["zero_share"], printed, delta=0.005, msg=m)
            self.assertIsNone(by_method["twn"]["packed_bytes"])  # inq_export packs INQ levels only
            self.assertGreater(by_method["twn"]["zero_share"], 0.2)  # TWN zeroes |w| <= 0.7 E|w|
            with open(os.path.join(out, "table.md")) as f:
                table = f.read()
            self.assertIn("| method |", table)
            self.assertIn("| resnet8 | twn | 2 | – |", table)
            self.assertIn("| resnet8 | inq | 5 | 70% |", table)  # the pruned INQ run's target sparsity
            with open(os.path.join(out, "runs.csv")) as f:
                rows = list(csv.DictReader(f))
            self.assertEqual(sorted(row["method"] for row in rows), ["bwn", "inq", "inq", "twn", "uniform"])
            self.assertEqual(sorted(int(row["compressed_bytes"]) for row in rows), sorted(sizes.values()))


if __name__ == "__main__":
    unittest.main()
