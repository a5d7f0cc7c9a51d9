"""docs/imagenet.md: every command in its sh blocks runs here as far as a CPU without Slurm, GPU or
ImageNet allows — builds as dry runs, conversions and trainings up to the first missing file, Slurm and
mpirun scripts with INQ_DRY_RUN=1 and Slurm's environment, the sweep with --list or --slurm into a
temporary file, the report on a fixture of run directories. A command of no known kind fails the test."""
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

from sweep_test_util import BIN_DIR, SOURCE_DIR, have_apps

DOC = os.path.join(SOURCE_DIR, "docs", "imagenet.md")
FIXTURE = os.path.join(SOURCE_DIR, "tests", "data", "report_fixture")
CLUSTER_ONLY = {"module"}  # environment setup that exists only on the cluster


def doc_commands():
    with open(DOC) as f:
        text = f.read()
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip():
                out.append(line.strip())
    return out


def split_env(line):
    """(env assignments, argv) of a command line as the shell would see it (variables not expanded)."""
    words = shlex.split(line)
    env = {}
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        k, _, v = words.pop(0).partition("=")
        env[k] = v
    return env, words


def kind(argv):
    prog = argv[0]
    if prog == "/usr/bin/python3":
        return os.path.basename(argv[1])
    return os.path.basename(prog)


class ImagenetDoc(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.commands = doc_commands()
        cls.by_kind = {}
        for line in cls.commands:
            cls.by_kind.setdefault(kind(split_env(line)[1]), []).append(line)

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="inq_imagenet_doc_")

    def tearDown(self):
        self.tmp.cleanup()

    def bash(self, line, env=None, cwd=SOURCE_DIR):
        full = dict(os.environ, HOME=self.tmp.name, **(env or {}))
        return subprocess.run(["bash", "-c", line], cwd=cwd, env=full, capture_output=True, text=True, timeout=300)

    def test_every_command_is_of_a_kind_this_test_runs(self):
        known = {"build.sh", "convert_torchvision.py", "inq_eval", "inq_train", "inq_check", "sbatch",
                 "slurm_inq.sbatch", "mpirun_inq.sh", "bits_loop.sh", "inq_sweep.py", "report.py"} | CLUSTER_ONLY
        self.assertGreater(len(self.commands), 15)
        self.assertEqual(sorted(set(self.by_kind) - known), [], "commands in docs/imagenet.md nobody runs")

    def test_build(self):
        for line in self.by_kind["build.sh"]:
            env, _ = split_env(line)
            p = self.bash(line, {"INQ_BUILD_DRY_RUN": "1"})
            self.assertEqual(p.returncode, 0, line + "\n" + p.stderr)
            configure = p.stdout.splitlines()[0]
            self.assertTrue(configure.startswith("cmake -S . -B build"), configure)
            for k in env:
                self.assertIn(f"-D{k}=", configure)
            self.assertIn("-DINQ_WERROR=OFF", configure)  # users build without -Werror (CI sets INQ_WERROR=ON)

    def test_convert(self):
        p = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE_DIR, "scripts", "convert_torchvision.py"),
                            "--help"], capture_output=True, text=True)
        if p.returncode != 0:
            self.skipTest("needs /usr/bin/python3 with torch and torchvision")
        for line in self.by_kind["convert_torchvision.py"]:
            for opt in re.findall(r"--[a-z-]+", line):
                self.assertIn(opt, p.stdout)
            # An empty torch hub cache and no .pth here: the script gets as far as the missing file.
            r = self.bash(line, {"TORCH_HOME": os.path.join(self.tmp.name, "torch")})
            self.assertEqual(r.returncode, 2, line + "\n" + r.stderr)
            self.assertRegex(r.stderr, r"not in the local torch hub cache|no such file", line)

    def run_app(self, line):
        _, argv = split_env(line)
        app = os.path.join(BIN_DIR, os.path.basename(argv[0]))
        if kind(argv) in ("inq_train", "inq_eval"):
            argv = argv + ["--set", "device=cpu"]  # no GPU here; the config is read in full before the data
        return subprocess.run([app] + argv[1:], cwd=SOURCE_DIR, capture_output=True, text=True, timeout=120)

    @unittest.skipUnless(have_apps("inq_train", "inq_eval", "inq_check"), f"needs the apps in {BIN_DIR}")
    def test_apps_accept_the_arguments(self):
        for k in ("inq_train", "inq_eval", "inq_check"):
            for line in self.by_kind[k]:
                p = self.run_app(line)
                self.assertEqual(p.returncode, 2, line + "\n" + p.stderr)  # a missing file or data, named
                self.assertRegex(p.stderr, r"data\.root /data/imagenet|init\.weights: pretrained/|no run to resume"
                                           r"|runs/resnet18_4bit/model\.safetensors", line)
                self.assertNotIn("unknown key", p.stderr)
                self.assertNotIn("usage", p.stderr)

    def test_slurm_scripts(self):
        for line in self.by_kind["sbatch"]:
            env, argv = split_env(line)
            script_at = next(i for i, a in enumerate(argv) if a.endswith(".sbatch"))
            opts = argv[1:script_at]  # sbatch's own options
            nodes = int(next((o.split("=")[1] for o in opts if o.startswith("--nodes=")), "1"))
            array = next((o.split("=")[1] for o in opts if o.startswith("--array=")), None)
            tasks = range(int(array.split("-")[0]), int(array.split("-")[-1]) + 1) if array else [None]
            command = shlex.join(["bash"] + argv[script_at:])
            for t in tasks:
                slurm = {"INQ_DRY_RUN": "1", "SLURM_NTASKS": str(8 * nodes), "SLURM_JOB_ID": "1", **env}
                if t is not None:
                    slurm["SLURM_ARRAY_TASK_ID"] = str(t)
                p = self.bash(command, slurm)
                self.assertEqual(p.returncode, 0, line + "\n" + p.stderr)
                self.assertTrue(p.stdout.startswith("srun --mpi=pmix"), p.stdout)
                srun = shlex.split(p.stdout)
                global_batch = env.get("GLOBAL_BATCH", "256")
                if global_batch != "none":
                    self.assertIn(f"train.batch_size={int(global_batch) // (8 * nodes)}", srun)
                for a in argv[script_at + 2:]:
                    self.assertIn(a, srun)  # every inq_train argument reaches inq_train
        for line in self.by_kind["slurm_inq.sbatch"]:
            p = self.bash(line)
            self.assertEqual(p.returncode, 0, line + "\n" + p.stderr)
            self.assertIn("--set data.root=/data/imagenet", p.stdout)

    def test_mpirun_scripts(self):
        for k in ("mpirun_inq.sh", "bits_loop.sh"):
            for line in self.by_kind[k]:
                p = self.bash(line, {"INQ_DRY_RUN": "1"})
                self.assertEqual(p.returncode, 0, line + "\n" + p.stderr)
                self.assertTrue(all(s.startswith("mpirun -np 8") for s in p.stdout.splitlines()), p.stdout)
                env, _ = split_env(line)
                self.assertIn("GLOBAL_BATCH", env, "a multi-GPU command in the guide states its global batch")
                for s in p.stdout.splitlines():
                    self.assertIn(f"train.batch_size={int(env['GLOBAL_BATCH']) // 8}", s)
                self.assertGreater(len(p.stdout.splitlines()), 0)

    def test_sweep(self):
        for line in self.by_kind["inq_sweep.py"]:
            _, argv = split_env(line)
            if "--slurm" in argv:
                argv[argv.index("--slurm") + 1] = os.path.join(self.tmp.name, "array.sbatch")
            argv += ["--root", os.path.join(self.tmp.name, "root")]
            p = subprocess.run(argv, cwd=SOURCE_DIR, capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, line + "\n" + p.stderr)
            if "--list" in argv:
                self.assertIn("init.weights=\"pretrained/resnet50.safetensors\"", p.stdout)
            else:
                with open(os.path.join(self.tmp.name, "array.sbatch")) as f:
                    self.assertIn("--launch 'srun --mpi=pmix", f.read())

    def test_report(self):
        for line in self.by_kind["report.py"]:
            _, argv = split_env(line)
            out = argv[argv.index("--out") + 1]
            roots = [a for a in argv[2:argv.index("--out")]]
            work = os.path.join(self.tmp.name, "work")
            for r in roots:  # each root holds run directories, here the report's fixture
                shutil.copytree(FIXTURE, os.path.join(work, r, "fixture"))
            argv[1] = os.path.join(SOURCE_DIR, argv[1])
            p = subprocess.run(argv + ["--no-plots"], cwd=work, capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, line + "\n" + p.stderr)
            with open(os.path.join(work, out, "table.md")) as f:
                self.assertIn("top-1 / top-5 error %", f.read())
            shutil.rmtree(work)


if __name__ == "__main__":
    unittest.main()
