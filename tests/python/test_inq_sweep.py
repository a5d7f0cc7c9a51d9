"""scripts/inq_sweep.py: grid expansion, skipping, resuming, conflicts, signals, the Slurm array script."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from sweep_test_util import BIN_DIR, SOURCE_DIR, have_apps, load_script, tiny_grid, tiny_setup

sweep = load_script("inq_sweep")
SCRIPT = os.path.join(SOURCE_DIR, "scripts", "inq_sweep.py")
# The paper's accumulated portions per bit-width (DESIGN.md section 1).
PAPER = {5: [0.5, 0.75, 0.875, 1.0], 4: [0.3, 0.5, 0.8, 0.9, 0.95, 1.0],
         3: [0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0], 2: [0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 1.0]}


def run_sweep(*args, timeout=300):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=timeout)


class GridExpansion(unittest.TestCase):
    def setUp(self):
        self.cwd = os.getcwd()
        os.chdir(SOURCE_DIR)  # grid files name configs relative to the repository root

    def tearDown(self):
        os.chdir(self.cwd)

    def test_fmnist_tradeoff_is_the_issue_grid(self):
        grid = sweep.Grid("configs/sweeps/fmnist_tradeoff.json")
        got = [(p.labels["bits"], p.labels["eps"], p.labels["part"], p.labels["seed"]) for p in grid.points]
        self.assertEqual(len(got), len(set(got)), "a point appears twice")
        want = {(b, e, "magnitude", "0") for b in "5432" for e in "124"}
        want |= {(b, "2", "random", s) for b in "52" for s in "012"}
        want |= {(b, e, "magnitude", s) for b in "52" for e in "124" for s in "012"}
        self.assertEqual(set(got), want)
        self.assertEqual(len({p.id for p in grid.points}), len(grid.points))
        for p in grid.points:
            cfg = p.load_config()
            bits, eps = int(p.labels["bits"]), int(p.labels["eps"])
            self.assertEqual(cfg["inq"]["bits"], bits, p.id)
            self.assertEqual(cfg["inq"]["portions"], PAPER[bits], p.id)  # the bit-width brings its portions
            self.assertEqual(cfg["inq"]["epochs_per_stage"], eps, p.id)
            self.assertEqual(cfg["lr_schedule"]["milestones"], [eps / 2], p.id)  # lr step halfway through a stage
            self.assertEqual(cfg["inq"]["partition"], p.labels["part"], p.id)
            self.assertEqual(cfg["seed"], int(p.labels["seed"]), p.id)
            low_bit = bits <= 3  # the shipped 3- and 2-bit configs turn both low-bit options on, 5 and 4 bits neither
            self.assertEqual(cfg["inq"].get("bn_recalibration_batches", 0) > 0, low_bit, p.id)
            self.assertEqual(cfg["inq"].get("float_epochs", 0) > 0, low_bit, p.id)
            self.assertEqual(sweep.planned_epochs(cfg),
                             len(PAPER[bits]) * eps + cfg["inq"].get("float_epochs", 0), p.id)

    def test_imagenet_paper_grid(self):
        grid = sweep.Grid("configs/sweeps/imagenet_paper.json")
        bases = [(p.base, p.labels["part"]) for p in grid.points]
        want = [(f"configs/resnet18_{b}bit.json", "magnitude") for b in (5, 4, 3, 2)]
        want += [(f"configs/{m}_5bit.json", "magnitude") for m in ("alexnet", "vgg16", "googlenet", "resnet50")]
        want += [("configs/resnet18_5bit.json", "random")]
        self.assertEqual(bases, want)
        missing = [b for b, _ in bases if not os.path.exists(b)]
        if missing:
            self.skipTest(f"ImageNet configs not in the tree yet: {missing}")
        for p in grid.points:
            cfg = p.load_config()
            self.assertEqual(cfg["inq"]["bits"], int(re.search(r"(\d)bit", p.base).group(1)), p.id)
            self.assertEqual(cfg["inq"]["partition"], p.labels["part"], p.id)

    def test_bad_grids_are_errors_naming_the_problem(self):
        base = {"name": "g", "base": "x.json", "axes": [{"name": "a", "key": "seed", "values": [0, 1]}],
                "grids": [{"a": [0]}]}
        cases = [
            ({"axes": [{"name": "a", "key": "seed", "values": [0, 0]}]}, "appears twice"),
            ({"grids": [{"a": [0], "b": [1]}]}, "unknown ['b']"),
            ({"grids": [{}]}, "missing ['a']"),
            ({"grids": [{"a": [5]}]}, "no value labelled '5'"),
            ({"axes": [{"name": "a", "key": "seed", "values": [0]},
                       {"name": "b", "values": [{"label": "x", "set": {"seed": 3}}]}],
              "grids": [{"a": [0], "b": ["x"]}]}, "key seed is set by both a and b"),
            ({"axes": [{"name": "a", "values": [{"label": "x_y", "set": {"seed": 3}}]}],
              "grids": [{"a": ["x_y"]}]}, "may hold only"),
            ({"typo": 1}, "unknown key(s) ['typo']"),
        ]
        with tempfile.TemporaryDirectory() as tmp:
            for change, message in cases:
                path = os.path.join(tmp, "g.json")
                with open(path, "w") as f:
                    json.dump({**base, **change}, f)
                with self.subTest(message=message):
                    with self.assertRaises(sweep.SweepError) as ctx:
                        sweep.Grid(path)
                    self.assertIn(message, str(ctx.exception))

    def test_estimate_is_planned_epochs_times_epoch_time(self):
        grid = sweep.Grid("configs/sweeps/fmnist_tradeoff.json")
        epochs = sum(len(PAPER[int(p.labels["bits"])]) * int(p.labels["eps"])
                     + (2 if p.labels["bits"] in "32" else 0) for p in grid.points)  # 3-/2-bit configs: 2 float epochs
        hours = sweep.estimate(grid.points, 47.0, None, None, log=lambda s: None)
        self.assertAlmostEqual(hours, epochs * 47.0 / 3600)
        hours = sweep.estimate(grid.points, None, 1000.0, None, log=lambda s: None)
        self.assertAlmostEqual(hours, epochs * 60000 / 1000.0 / 3600)


@unittest.skipUnless(have_apps("inq_train"), f"needs {BIN_DIR}/inq_train (build the apps; INQ_BIN_DIR)")
class RunningPoints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_obj = tempfile.TemporaryDirectory(prefix="inq_sweep_test_")
        cls.tmp = cls.tmp_obj.name
        cls.base, _ = tiny_setup(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.tmp_obj.cleanup()

    def test_skip_resume_and_conflicts(self):
        grid = tiny_grid(self.tmp, self.base)
        root = os.path.join(self.tmp, "root_a")
        args = [grid, "--root", root, "--bin", BIN_DIR]
        r = run_sweep(*args, "--stop-after-steps", "3")  # point 0 stops as if by SIGINT after 3 steps
        self.assertEqual(r.returncode, 130, r.stdout + r.stderr)
        p0 = os.path.join(root, "bits-5_seed-0")
        self.assertTrue(os.path.exists(os.path.join(p0, "checkpoint.safetensors")))
        self.assertFalse(os.path.exists(os.path.join(p0, "model.safetensors")))
        self.assertFalse(os.path.exists(os.path.join(root, "bits-2_seed-0")), "went on after a stop")

        r = run_sweep(*args)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("[1/3] point 0 bits-5_seed-0: resuming", r.stdout)
        self.assertIn(f"--resume {p0}", r.stdout)
        self.assertIn("resume   from epoch 0, step 3", r.stdout)  # inq_train continued, not restarted
        for pid, epochs in (("bits-5_seed-0", 2), ("bits-2_seed-0", 3), ("bits-2_seed-1", 3)):
            d = os.path.join(root, pid)
            self.assertTrue(os.path.exists(os.path.join(d, "model.safetensors")), pid)
            self.assertEqual(sweep.last_test_epoch(os.path.join(d, "metrics.jsonl")), epochs, pid)
            with open(os.path.join(d, "config.json")) as f:
                resolved = json.load(f)
            self.assertEqual(resolved["seed"], int(pid[-1]), pid)
            self.assertEqual(resolved["inq"]["bits"], int(pid[5]), pid)

        # The resumed point equals an uninterrupted run of it (CPU resume is bit-exact).
        fresh = os.path.join(self.tmp, "root_b")
        r = run_sweep(grid, "--root", fresh, "--bin", BIN_DIR, "--index", "0")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(p0, "model.safetensors"), "rb") as a, \
                open(os.path.join(fresh, "bits-5_seed-0", "model.safetensors"), "rb") as b:
            self.assertEqual(a.read(), b.read())

        # Finished points are skipped and left untouched.
        stamps = {pid: os.stat(os.path.join(root, pid, "metrics.jsonl")).st_mtime_ns for pid in os.listdir(root)}
        r = run_sweep(*args)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("finished, skipping"), 3, r.stdout)
        self.assertNotIn("$ ", r.stdout)
        self.assertEqual(stamps, {pid: os.stat(os.path.join(root, pid, "metrics.jsonl")).st_mtime_ns
                                  for pid in os.listdir(root)})

        # Same point ids, another config: refused, naming the key, nothing run.
        other = os.path.join(self.tmp, "other")
        os.makedirs(other)
        grid2 = tiny_grid(other, self.base, lr=0.02)
        r = run_sweep(grid2, "--root", root, "--bin", BIN_DIR)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("differs in: optimizer.lr", r.stderr)
        # A run directory edited by hand (its resolved config) is refused too.
        cfg_path = os.path.join(root, "bits-2_seed-1", "config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["inq"]["partition"] = "random"  # a key the point does not set: caught by the recorded resolved config
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        r = run_sweep(*args)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("inq.partition", r.stderr)
        # Machine settings may change; other --set keys belong in the grid.
        r = run_sweep(*args, "--set", "optimizer.lr=0.1", "--list")
        self.assertEqual(r.returncode, 2)
        self.assertIn("only machine settings", r.stderr)

    def test_sigint_stops_cleanly_leaving_a_resumable_point(self):
        big = os.path.join(self.tmp, "big")
        os.makedirs(big)
        base, _ = tiny_setup(big, size=4096)  # about 10 s of training: time to interrupt it
        grid = tiny_grid(big, base)
        root = os.path.join(self.tmp, "root_sig")
        proc = subprocess.Popen([sys.executable, SCRIPT, grid, "--root", root, "--bin", BIN_DIR, "--index", "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        metrics = os.path.join(root, "bits-5_seed-0", "metrics.jsonl")
        deadline = time.monotonic() + 120
        while not os.path.exists(metrics) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)  # the reference evaluation is written: training has started
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)  # to the sweep only, as a terminal's Ctrl-C reaches it
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 130, out + err)
        self.assertIn("stopped after", out)
        self.assertIn("interrupted; resume with", err)  # inq_train checkpointed and said so
        point = sweep.Grid(grid).points[0]
        self.assertEqual(sweep.point_state(point, os.path.dirname(metrics)), "resume")


@unittest.skipUnless(have_apps("inq_train"), f"needs {BIN_DIR}/inq_train (build the apps; INQ_BIN_DIR)")
class SlurmArray(unittest.TestCase):
    def test_script_contents_and_one_task(self):
        with tempfile.TemporaryDirectory(prefix="inq_sweep_slurm_") as tmp:
            base, _ = tiny_setup(tmp)
            grid = tiny_grid(tmp, base)
            root = os.path.join(tmp, "root")
            script = os.path.join(tmp, "array.sbatch")
            r = run_sweep(grid, "--root", root, "--bin", BIN_DIR, "--slurm", script, "--slurm-time", "1:00:00",
                          "--slurm-gres", "gpu:1", "--slurm-max-parallel", "2", "--set", "threads=1")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(script) as f:
                text = f.read()
            self.assertTrue(text.startswith("#!/bin/bash\n"))
            self.assertIn("#SBATCH --array=0-2%2\n", text)
            self.assertIn("#SBATCH --time=1:00:00\n", text)
            self.assertIn("#SBATCH --gres=gpu:1\n", text)
            self.assertIn("#SBATCH --signal=B:INT@300\n", text)
            self.assertIn(f"#SBATCH --output={os.path.abspath(root)}/slurm_logs/%A_%a.out", text)
            self.assertNotIn("{{", text)
            for i, pid in enumerate(("bits-5_seed-0", "bits-2_seed-0", "bits-2_seed-1")):
                self.assertIn(f"#   {i}: {pid}\n", text)
            self.assertRegex(text, r"inq_sweep\.py \S*grid\.json --root \S+ --bin \S+ --set threads=1 "
                                   r"--index \"\$SLURM_ARRAY_TASK_ID\"")
            self.assertEqual(subprocess.run(["bash", "-n", script]).returncode, 0)
            # Array task 1 runs point 1 only (sbatch directives are comments to bash).
            env = dict(os.environ, SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_JOB_ID="7")
            r = subprocess.run(["bash", script], env=env, capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(sorted(os.listdir(root)), ["bits-2_seed-0", "slurm_logs"])
            self.assertTrue(os.path.exists(os.path.join(root, "bits-2_seed-0", "model.safetensors")))


if __name__ == "__main__":
    unittest.main()
