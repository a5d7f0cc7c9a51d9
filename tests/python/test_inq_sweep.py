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
            # every point starts from the one FP32 model kept beside the grid's results
            self.assertEqual(cfg["init"]["weights"], "docs/fmnist_tradeoff/fp32/model.safetensors", p.id)
        self.assertEqual(grid.root, "docs/fmnist_tradeoff/runs")
        self.assertTrue(os.path.isfile(grid.set["init.weights"]), "the grid's FP32 model is not in the tree")

    def test_fmnist_lowbit_grid(self):
        grid = sweep.Grid("configs/sweeps/fmnist_lowbit.json")
        self.assertEqual(grid.root, "docs/fmnist_lowbit/runs")
        self.assertEqual(len({p.id for p in grid.points}), len(grid.points))
        for p in grid.points:
            cfg = p.load_config()
            self.assertEqual(cfg["inq"]["bits"], int(p.labels["bits"]), p.id)
            self.assertEqual(cfg["inq"]["epochs_per_stage"], 2, p.id)  # the paper's schedule
            self.assertEqual(cfg["lr_schedule"]["milestones"], [1], p.id)
            self.assertEqual(cfg["inq"]["n1_rule"], p.labels["n1"].split("-")[0], p.id)
            self.assertEqual(cfg["inq"].get("zero_free", False), p.labels["n1"] == "mse-zerofree", p.id)
            self.assertTrue(os.path.isfile(cfg["init"]["weights"]), p.id)  # both FP32 models are in the tree

    def test_fmnist_methods_grid(self):
        # Every quantiser at a bit-width gets INQ's epoch budget at that width (the paper's schedule).
        grid = sweep.Grid("configs/sweeps/fmnist_methods.json")
        self.assertEqual(grid.root, "docs/fmnist_methods/runs")
        budget = {}
        for p in grid.points:
            cfg = p.load_config()
            if "inq" in cfg and p.labels["method"] != "inq4-short":  # the short preset has its own schedule
                self.assertEqual(cfg["inq"]["epochs_per_stage"], 2, p.id)
                self.assertEqual(cfg["inq"].get("n1_rule", "max"), "mse" if cfg["inq"]["bits"] <= 3 else "max", p.id)
                budget[cfg["inq"]["bits"]] = sweep.planned_epochs(cfg)
        self.assertEqual(budget, {5: 8, 4: 12, 3: 18, 2: 22})
        for p in grid.points:
            cfg = p.load_config()
            if "quant" in cfg:
                bits = cfg["quant"].get("bits", 2)  # TWN is 2 bits, BWN 1 with the 2-bit budget
                self.assertEqual(sweep.planned_epochs(cfg), budget[max(bits, 2)], p.id)
                self.assertEqual(cfg["init"]["weights"], "docs/fmnist_tradeoff/fp32/model.safetensors", p.id)

    def test_fmnist_prune_grid(self):
        # Pruning then INQ at the paper's schedule, from the FP32 model the methods grid starts from.
        grid = sweep.Grid("configs/sweeps/fmnist_prune.json")
        self.assertEqual(grid.root, "docs/fmnist_prune/runs")
        self.assertEqual(len(grid.points), 9)
        for p in grid.points:
            cfg = p.load_config()
            self.assertEqual(cfg["inq"]["bits"], int(p.labels["bits"]), p.id)
            self.assertEqual(cfg["inq"]["epochs_per_stage"], 2, p.id)
            self.assertEqual(cfg["prune"]["sparsity"], float(p.labels["sparsity"]), p.id)
            self.assertEqual(cfg["init"]["weights"], "docs/fmnist_tradeoff/fp32/model.safetensors", p.id)

    def test_the_kept_fmnist_points_are_points_of_the_grid_as_it_is(self):
        # Finished points are committed (docs/sweeps.md): a change of a config they were run with must
        # move them away, not leave results of another config in the table.
        for grid_file in ("configs/sweeps/fmnist_tradeoff.json", "configs/sweeps/fmnist_lowbit.json",
                          "configs/sweeps/fmnist_methods.json", "configs/sweeps/fmnist_prune.json"):
            self.check_kept_points(sweep.Grid(grid_file))

    def check_kept_points(self, grid):
        by_id = {p.id: p for p in grid.points}
        kept = sorted(os.listdir(grid.root)) if os.path.isdir(grid.root) else []
        for name in kept:
            with self.subTest(point=name):
                self.assertIn(name, by_id, f"{grid.root}/{name} is not a point of the grid")
                state = sweep.point_state(by_id[name], os.path.join(grid.root, name))  # raises on another config
                if state == "done" and have_apps("inq_check"):
                    r = subprocess.run([os.path.join(BIN_DIR, "inq_check"),
                                        os.path.join(grid.root, name, "model.safetensors")],
                                       capture_output=True, text=True)
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

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

    def test_imagenet_table4_grid(self):
        # The paper's Table 4 as one sweep: 2-bit INQ and the TWN/BWN baselines, one budget.
        grid = sweep.Grid("configs/sweeps/imagenet_table4.json")
        self.assertEqual([(p.labels["method"], p.base) for p in grid.points],
                         [("inq2", "configs/resnet18_2bit.json"), ("twn", "configs/resnet18_twn.json"),
                          ("bwn", "configs/resnet18_bwn.json")])
        cfgs = {p.labels["method"]: p.load_config() for p in grid.points}
        self.assertEqual(cfgs["inq2"]["inq"]["bits"], 2)
        self.assertEqual({m: c.get("quant", {}).get("method") for m, c in cfgs.items()},
                         {"inq2": None, "twn": "twn", "bwn": "bwn"})
        for m, cfg in cfgs.items():
            self.assertEqual(sweep.planned_epochs(cfg), 300, m)
            self.assertEqual(cfg["train"]["batch_size"], 32, m)  # x 8 ranks: the paper's 256
            for key in ("model", "data", "optimizer", "init"):
                self.assertEqual(cfg[key], cfgs["inq2"][key], f"{m}: {key}")
        self.assertTrue(all(p.notes for p in grid.points))  # the paper's figure of each point, for --list

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
            ({"root": ""}, "root: expected the directory"),
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

    def test_the_root_is_the_grids_unless_given(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "g.json")
            spec = {"name": "g", "base": "configs/fmnist_resnet8_5bit.json",
                    "axes": [{"name": "seed", "key": "seed", "values": [0]}], "grids": [{"seed": [0]}]}
            for root, args, want in [(None, [], os.path.join("runs", "sweeps", "g")),
                                     (os.path.join(tmp, "kept"), [], os.path.join(tmp, "kept")),
                                     (os.path.join(tmp, "kept"), ["--root", os.path.join(tmp, "cli")],
                                      os.path.join(tmp, "cli"))]:
                with open(path, "w") as f:
                    json.dump({**spec, **({"root": root} if root else {})}, f)
                r = run_sweep(path, "--list", *args)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn(f"root {want}\n", r.stdout)
                self.assertIn(os.path.join(want, "seed-0"), r.stdout)

    def test_estimate_is_planned_epochs_times_epoch_time(self):
        grid = sweep.Grid("configs/sweeps/fmnist_tradeoff.json")
        epochs = sum(len(PAPER[int(p.labels["bits"])]) * int(p.labels["eps"])
                     + (2 if p.labels["bits"] in "32" else 0) for p in grid.points)  # 3-/2-bit configs: 2 float epochs
        hours = sweep.estimate(grid.points, 47.0, None, None, log=lambda s: None)
        self.assertAlmostEqual(hours, epochs * 47.0 / 3600)
        hours = sweep.estimate(grid.points, None, 1000.0, None, log=lambda s: None)
        self.assertAlmostEqual(hours, epochs * 60000 / 1000.0 / 3600)


class TinyRunsCase(unittest.TestCase):
    """A temporary directory per test class with the tiny base config (tiny_setup) in it."""

    @classmethod
    def setUpClass(cls):
        cls.tmp_obj = tempfile.TemporaryDirectory(prefix="inq_sweep_test_")
        cls.tmp = cls.tmp_obj.name
        cls.base, _ = tiny_setup(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.tmp_obj.cleanup()


@unittest.skipUnless(have_apps("inq_train"), f"needs {BIN_DIR}/inq_train (build the apps; INQ_BIN_DIR)")
class RunningPoints(TinyRunsCase):

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


class ParallelOptions(unittest.TestCase):
    def test_threads_share_the_cores_unless_given(self):
        self.assertEqual(sweep.parallel_sets([], 2, cores=16), ["threads=8", "data.workers=1"])
        self.assertEqual(sweep.parallel_sets([], 3, cores=16), ["threads=5", "data.workers=1"])
        self.assertEqual(sweep.parallel_sets([], 4, cores=2), ["threads=1", "data.workers=1"])
        self.assertEqual(sweep.parallel_sets(["threads=3"], 2, cores=16), ["data.workers=1"])
        self.assertEqual(sweep.parallel_sets(["data.workers=2", "threads=1"], 2, cores=16), [])

    def test_bad_jobs_are_errors(self):
        with tempfile.TemporaryDirectory(prefix="inq_sweep_jobs_") as tmp:
            grid = tiny_grid(tmp, os.path.join(tmp, "no_base.json"))  # never read: the options fail first
            script = os.path.join(tmp, "array.sbatch")
            for args, message in ((["--jobs", "0"], "--jobs 0: expected the number of points to run at once"),
                                  (["--jobs", "-1", "--list"], "--jobs -1: expected"),
                                  (["--jobs", "2", "--slurm", script], "a job array already runs its points")):
                with self.subTest(args=args):
                    r = run_sweep(grid, "--root", os.path.join(tmp, "root"), "--bin", BIN_DIR, *args)
                    self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                    self.assertIn(message, r.stderr)
                    self.assertEqual(r.stdout, "")
            self.assertFalse(os.path.exists(script))
            self.assertFalse(os.path.exists(os.path.join(tmp, "root")))


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def lock_is_free(run_dir):
    """Whether no process holds the runner's flock on run_dir/sweep_point.lock (takes and drops it if free)."""
    import fcntl
    fd = os.open(os.path.join(run_dir, sweep.LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def wait_for(predicate, proc=None, timeout=120):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline or (proc is not None and proc.poll() is not None):
            return False
        time.sleep(0.05)
    return True


def inq_train_pids(run_dir):
    """inq_train processes whose command line names run_dir (an orphan left by a killed runner)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == "inq_train" and run_dir in argv:
            pids.append(int(entry))
    return pids


@unittest.skipUnless(have_apps("inq_train"), f"needs {BIN_DIR}/inq_train (build the apps; INQ_BIN_DIR)")
class ParallelPoints(TinyRunsCase):
    """--jobs N: several points at once, each point run by one runner at a time (its flock)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.grid = tiny_grid(cls.tmp, cls.base)
        cls.pids = ("bits-5_seed-0", "bits-2_seed-0", "bits-2_seed-1")

    def big_grid(self, name, **base_changes):
        """The tiny grid over 1024 training images (a few seconds a point: time to interrupt it)."""
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        base, _ = tiny_setup(d, size=1024)
        if base_changes:
            with open(base) as f:
                cfg = json.load(f)
            cfg = sweep.apply_sets(cfg, base_changes)
            with open(base, "w") as f:
                json.dump(cfg, f)
        return tiny_grid(d, base)

    def test_two_at_once_give_the_same_models_as_one_at_a_time(self):
        one, two = os.path.join(self.tmp, "root_j1"), os.path.join(self.tmp, "root_j2")
        r1 = run_sweep(self.grid, "--root", one, "--bin", BIN_DIR, "--set", "threads=1")
        self.assertEqual(r1.returncode, 0, r1.stdout + r1.stderr)
        self.assertIn("[1/3] point 0 bits-5_seed-0: running (2 epochs)\n  $ ", r1.stdout)  # --jobs 1 as before
        self.assertIn("train loss", r1.stdout)  # inq_train wrote to the runner's terminal
        r2 = run_sweep(self.grid, "--root", two, "--bin", BIN_DIR, "--set", "threads=1", "--jobs", "2")
        self.assertEqual(r2.returncode, 0, r2.stdout + r2.stderr)
        self.assertIn("up to 2 at once (data.workers=1 each)", r2.stdout)
        self.assertIn("sweep complete: 3 point(s)", r2.stdout)
        self.assertNotIn("train loss", r2.stdout + r2.stderr)  # inq_train's output went to the log files
        for i, pid in enumerate(self.pids):
            d = os.path.join(two, pid)
            self.assertIn(f"point {i} {pid}: running ({3 if i else 2} epochs), output in {d}/train.log", r2.stdout)
            self.assertRegex(r2.stdout, rf"point {i} {pid}: done in \S+; sweep time \S+\n  done: "
                                        rf"{re.escape(d)}/model.safetensors; ")  # with inq_train's last line
            self.assertEqual(read_bytes(os.path.join(one, pid, "model.safetensors")),
                             read_bytes(os.path.join(d, "model.safetensors")), pid)
            self.assertFalse(os.path.exists(os.path.join(one, pid, "train.log")))
            with open(os.path.join(d, "train.log")) as f:
                log = f.read()
            self.assertIn("backend  cpu (1 threads)", log)
            self.assertIn("train loss", log)
            with open(os.path.join(d, "config.json")) as f:
                resolved = json.load(f)
            self.assertEqual((resolved["threads"], resolved["data"]["workers"]), (1, 1), pid)
            self.assertTrue(lock_is_free(d), pid)  # the runner is gone and so is its lock
        # The lock files left behind change nothing: every point is finished and skipped, untouched.
        stamps = {pid: os.stat(os.path.join(two, pid, "metrics.jsonl")).st_mtime_ns for pid in self.pids}
        r = run_sweep(self.grid, "--root", two, "--bin", BIN_DIR, "--jobs", "2")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("finished, skipping"), 3, r.stdout)
        self.assertEqual(stamps, {pid: os.stat(os.path.join(two, pid, "metrics.jsonl")).st_mtime_ns
                                  for pid in self.pids})

    def test_a_failure_lets_the_running_point_finish_and_starts_no_other(self):
        grid = {"name": "fail", "base": self.base, "axes": [{"name": "case", "values": [
                    {"label": "bad", "set": {"init.weights": os.path.join(self.tmp, "missing.safetensors")}},
                    {"label": "a", "set": {"seed": 0}}, {"label": "b", "set": {"seed": 1}}]}],
                "grids": [{"case": ["bad", "a", "b"]}]}
        path = os.path.join(self.tmp, "fail.json")
        with open(path, "w") as f:
            json.dump(grid, f)
        root = os.path.join(self.tmp, "root_fail")
        r = run_sweep(path, "--root", root, "--bin", BIN_DIR, "--jobs", "2")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"point 0 case-bad: FAILED after \S+: inq_train exit \d+\n  inq_train: error: .*"
                                   r"missing\.safetensors")
        self.assertIn("point 1 case-a: done in", r.stdout)
        self.assertIn("1 point(s) failed: case-bad (inq_train exit", r.stdout)
        self.assertTrue(os.path.exists(os.path.join(root, "case-a", "model.safetensors")))
        self.assertFalse(os.path.exists(os.path.join(root, "case-b")), "started a point after a failure")

    def test_sigint_stops_every_child_and_a_rerun_completes(self):
        # Threads and workers of the base are not what the runner gives each of its 2 points.
        grid = self.big_grid("big_sig", threads=3, **{"data.workers": 2})
        root = os.path.join(self.tmp, "root_sig")
        args = [grid, "--root", root, "--bin", BIN_DIR, "--jobs", "2", "--index", "0", "--index", "1"]
        dirs = [os.path.join(root, pid) for pid in self.pids[:2]]
        proc = subprocess.Popen([sys.executable, SCRIPT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            started = wait_for(lambda: all(os.path.exists(os.path.join(d, "metrics.jsonl")) for d in dirs), proc)
            self.assertTrue(started, "the two points did not both start")  # their reference evaluations are written
            for d in dirs:
                self.assertFalse(lock_is_free(d), d)
            # A second runner on an overlapping selection leaves the running points alone.
            r = run_sweep(grid, "--root", root, "--bin", BIN_DIR, "--index", "1", "--index", "0")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("[1/2] point 1 bits-2_seed-0: running in another runner, skipping", r.stdout)
            self.assertIn("[2/2] point 0 bits-5_seed-0: running in another runner, skipping", r.stdout)
            self.assertIn("2 point(s) left to the runner running them: bits-2_seed-0, bits-5_seed-0", r.stdout)
            self.assertIn("sweep part complete", r.stdout)
            proc.send_signal(signal.SIGINT)  # to the sweep only, as a terminal's Ctrl-C reaches it
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.assertEqual(proc.returncode, 130, out + err)
        self.assertIn("2 inq_train runs checkpoint and stop", err)
        for i, d in enumerate(dirs):
            self.assertRegex(out, rf"point {i} {self.pids[i]}: stopped after \S+ \(inq_train exit 130\); run the "
                                  rf"same command again to continue\n  inq_train: interrupted; resume with")
            self.assertEqual(sweep.point_state(sweep.Grid(grid).points[i], d), "resume")
            with open(os.path.join(d, "config.json")) as f:
                resolved = json.load(f)
            self.assertEqual(resolved["threads"], max(1, sweep.cpu_count() // 2))  # cores // jobs
            self.assertEqual(resolved["data"]["workers"], 1)
        self.assertFalse(os.path.exists(os.path.join(root, self.pids[2])))

        r = run_sweep(*args)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count(": resuming ("), 2, r.stdout)
        for i, d in enumerate(dirs):
            self.assertEqual(sweep.point_state(sweep.Grid(grid).points[i], d), "done")
            with open(os.path.join(d, "train.log")) as f:
                log = f.read()
            # Continued, not restarted (the epoch it stopped in depends on the machine's speed).
            self.assertRegex(log, r"resume   from epoch \d+, step \d+ \(global step [1-9]")
            self.assertEqual(log.count("==== inq_sweep "), 2)  # both runs appended to the same log

    def test_the_lock_outlives_a_killed_runner_while_its_inq_train_runs(self):
        grid = self.big_grid("big_kill")
        root = os.path.join(self.tmp, "root_kill")
        d = os.path.join(root, self.pids[0])
        proc = subprocess.Popen([sys.executable, SCRIPT, grid, "--root", root, "--bin", BIN_DIR, "--index", "0"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        orphans = []
        try:
            self.assertTrue(wait_for(lambda: os.path.exists(os.path.join(d, "metrics.jsonl")), proc))
            proc.kill()  # the runner dies; its inq_train (own session) goes on and holds the inherited lock
            proc.wait()
            orphans = inq_train_pids(d)
            self.assertEqual(len(orphans), 1, orphans)
            self.assertFalse(lock_is_free(d))
            r = run_sweep(grid, "--root", root, "--bin", BIN_DIR, "--index", "0")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("point 0 bits-5_seed-0: running in another runner, skipping", r.stdout)
            # Caught while its inq_train writes config.json, a locked point is still only skipped, not an error.
            cfg_path = os.path.join(d, "config.json")
            whole = read_bytes(cfg_path)
            with open(cfg_path, "wb") as f:
                f.write(whole[:len(whole) // 2])
            try:
                r = run_sweep(grid, "--root", root, "--bin", BIN_DIR, "--index", "0")
            finally:
                with open(cfg_path, "wb") as f:
                    f.write(whole)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("point 0 bits-5_seed-0: running in another runner, skipping", r.stdout)
        finally:
            for pid in orphans:
                os.kill(pid, signal.SIGINT)  # it checkpoints and exits
            self.assertTrue(wait_for(lambda: lock_is_free(d)), "the lock outlived its inq_train")
        self.assertIn(sweep.point_state(sweep.Grid(grid).points[0], d), ("resume", "done"))


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
            self.assertIn("#SBATCH --signal=B:TERM@600\n", text)
            self.assertIn("#SBATCH --ntasks=1\n", text)
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


class ImagenetGrid(unittest.TestCase):
    """The shipped ImageNet grid as a multi-GPU Slurm array, with this machine's paths (no run needed)."""
    GRID = os.path.join(SOURCE_DIR, "configs", "sweeps", "imagenet_paper.json")

    def setUp(self):
        self.cwd = os.getcwd()
        os.chdir(SOURCE_DIR)  # the grid names configs relative to the repository root

    def tearDown(self):
        os.chdir(self.cwd)

    def test_slurm_script_runs_each_point_over_a_node_of_gpus(self):
        with tempfile.TemporaryDirectory(prefix="inq_sweep_imagenet_") as tmp:
            script = os.path.join(tmp, "array.sbatch")
            r = run_sweep(self.GRID, "--root", os.path.join(tmp, "root"), "--slurm", script,
                          "--set", "data.root=/data/imagenet", "--set", "init.weights=/w/{model}.safetensors")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(script) as f:
                text = f.read()
            for line in ("#SBATCH --nodes=1", "#SBATCH --ntasks-per-node=8", "#SBATCH --gpus-per-node=8",
                         "#SBATCH --cpus-per-task=8", "#SBATCH --requeue", "#SBATCH --signal=B:TERM@600",
                         "#SBATCH --array=0-8"):
                self.assertIn(line + "\n", text)
            self.assertNotIn("#SBATCH --ntasks=1", text)
            self.assertIn("--set data.root=/data/imagenet --set 'init.weights=/w/{model}.safetensors' "
                          "--launch 'srun --mpi=pmix --kill-on-bad-exit=1' --index", text)

    def test_list_shows_the_launched_command_with_the_weights(self):
        r = run_sweep(self.GRID, "--list", "--only", "net=resnet18-4bit", "--launch", "srun --mpi=pmix",
                      "--set", "init.weights=/w/r18.safetensors", "--set", "data.root=/d", "--root", "/nonexistent")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        cmd = [line.strip() for line in r.stdout.splitlines() if "inq_train" in line]
        self.assertEqual(len(cmd), 1)
        self.assertTrue(cmd[0].startswith("srun --mpi=pmix build/bin/inq_train configs/resnet18_4bit.json"), cmd[0])
        for part in ("--set train.batch_size=32", "--set 'inq.partition=\"magnitude\"'",
                     "--set 'init.weights=\"/w/r18.safetensors\"'", "--set data.root=/d"):
            self.assertIn(part, cmd[0])

    def test_weights_per_model(self):
        r = run_sweep(self.GRID, "--list", "--only", "net=resnet50-5bit,alexnet-5bit",
                      "--set", "init.weights=/w/{model}.safetensors", "--root", "/nonexistent")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("--set 'init.weights=\"/w/resnet50.safetensors\"'", r.stdout)
        self.assertIn("--set 'init.weights=\"/w/alexnet.safetensors\"'", r.stdout)

    def test_only_with_an_unknown_label_is_an_error(self):
        r = run_sweep(self.GRID, "--list", "--only", "net=resnet18-5bit-random")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no value labelled resnet18-5bit-random on axis net", r.stderr)
        r = run_sweep(self.GRID, "--list", "--only", "net=resnet18-5bit", "--only", "part=random")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("net-resnet18-5bit_part-random", r.stdout)
        self.assertNotIn("part-magnitude", r.stdout)

    def test_other_keys_are_refused_on_the_command_line(self):
        r = run_sweep(self.GRID, "--list", "--set", "optimizer.lr=0.1")
        self.assertEqual(r.returncode, 2)
        self.assertIn("init.weights", r.stderr)


if __name__ == "__main__":
    unittest.main()
