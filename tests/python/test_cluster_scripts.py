"""scripts/cluster/: the commands the Slurm and mpirun templates launch, checked without Slurm or MPI.

The scripts run with bash and the environment Slurm would give them; `srun`, `mpirun` and `scontrol`
are stand-ins on PATH that record their arguments (or INQ_DRY_RUN=1 prints the command)."""
import json
import os
import shlex
import subprocess
import tempfile
import unittest

from sweep_test_util import SOURCE_DIR

CLUSTER = os.path.join(SOURCE_DIR, "scripts", "cluster")
PAPER_PORTIONS = {5: [0.5, 0.75, 0.875, 1.0], 4: [0.3, 0.5, 0.8, 0.9, 0.95, 1.0],
                  3: [0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0],
                  2: [0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 1.0]}
FAKE = """#!/bin/bash
printf '%s' "$(basename "$0")" >> "$FAKE_LOG"
for a in "$@"; do printf ' %q' "$a" >> "$FAKE_LOG"; done
echo >> "$FAKE_LOG"
exit "${FAKE_RC:-0}"
"""


class ClusterScripts(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.bin = os.path.join(self.tmp.name, "bin")
        os.makedirs(self.bin)
        for name in ("srun", "mpirun", "scontrol", "sbatch"):
            path = os.path.join(self.bin, name)
            with open(path, "w") as f:
                f.write(FAKE)
            os.chmod(path, 0o755)
        self.log = os.path.join(self.tmp.name, "calls.log")

    def tearDown(self):
        self.tmp.cleanup()

    def run_script(self, script, args, env=None, rc=0):
        full_env = {"PATH": self.bin + ":" + os.environ["PATH"], "FAKE_LOG": self.log,
                    "SLURM_SUBMIT_DIR": SOURCE_DIR, "HOME": self.tmp.name}
        full_env.update(env or {})
        p = subprocess.run(["bash", os.path.join(CLUSTER, script)] + args, cwd=SOURCE_DIR, env=full_env,
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, rc, p.stdout + p.stderr)
        return p

    def calls(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [shlex.split(line) for line in f if line.strip()]

    def set_value(self, argv, key):
        values = [argv[i + 1].split("=", 1)[1] for i, a in enumerate(argv[:-1])
                  if a == "--set" and argv[i + 1].startswith(key + "=")]
        return values[-1] if values else None

    def test_slurm_inq_launches_one_rank_per_gpu_with_the_paper_global_batch(self):
        self.run_script("slurm_inq.sbatch", ["configs/resnet18_4bit.json", "--set", "data.root=/data/imagenet",
                                             "--set", "init.weights=pretrained/resnet18.safetensors"],
                        {"SLURM_NTASKS": "8", "SLURM_CPUS_PER_TASK": "8", "SLURM_JOB_ID": "11"})
        (srun,) = self.calls()
        self.assertEqual(srun[:4], ["srun", "--mpi=pmix", "--kill-on-bad-exit=1", "build/bin/inq_train"])
        self.assertEqual(srun[4], "configs/resnet18_4bit.json")
        self.assertIn("--out", srun)
        self.assertEqual(srun[srun.index("--out") + 1], "runs/resnet18_4bit")
        self.assertEqual(self.set_value(srun, "train.batch_size"), "32")  # 256 / 8 ranks
        self.assertEqual(self.set_value(srun, "device"), "cuda")
        self.assertEqual(self.set_value(srun, "data.root"), "/data/imagenet")
        self.assertEqual(self.set_value(srun, "init.weights"), "pretrained/resnet18.safetensors")

    def test_global_batch_choices(self):
        env = {"SLURM_NTASKS": "16", "INQ_DRY_RUN": "1"}
        p = self.run_script("slurm_inq.sbatch", ["configs/resnet18_5bit.json"], dict(env, GLOBAL_BATCH="none"))
        self.assertNotIn("train.batch_size", p.stdout)
        self.assertIn("per rank (GLOBAL_BATCH=none)", p.stderr)
        p = self.run_script("slurm_inq.sbatch", ["configs/resnet18_5bit.json"], dict(env, GLOBAL_BATCH="2048"))
        self.assertIn("train.batch_size=128", p.stdout)
        p = self.run_script("slurm_inq.sbatch", ["configs/resnet18_5bit.json"], dict(env, GLOBAL_BATCH="100"), rc=2)
        self.assertIn("GLOBAL_BATCH=100", p.stderr)
        self.assertEqual(self.calls(), [])

    def test_header_asks_for_a_signal_and_requeue(self):
        for script in ("slurm_inq.sbatch", "slurm_bits_array.sbatch"):
            with open(os.path.join(CLUSTER, script)) as f:
                text = f.read()
            self.assertIn("#SBATCH --signal=TERM@600", text)
            self.assertIn("#SBATCH --requeue", text)
            self.assertNotIn("resubmit with --resume", text)

    def test_stop_at_the_time_limit_requeues_and_resumes(self):
        out = os.path.join(self.tmp.name, "run")
        env = {"SLURM_NTASKS": "8", "SLURM_JOB_ID": "42", "OUT": out, "FAKE_RC": "143"}
        self.run_script("slurm_inq.sbatch", ["configs/resnet18_4bit.json"], env, rc=143)
        srun, scontrol = self.calls()
        self.assertEqual(srun[srun.index("--out") + 1], out)
        self.assertEqual(scontrol, ["scontrol", "requeue", "42"])
        # The requeued job finds the checkpoint and resumes.
        os.makedirs(out)
        open(os.path.join(out, "checkpoint.safetensors"), "w").close()
        os.remove(self.log)
        self.run_script("slurm_inq.sbatch", ["configs/resnet18_4bit.json"], dict(env, FAKE_RC="0"))
        (srun,) = self.calls()
        self.assertEqual(srun[srun.index("--resume") + 1], out)
        # A failure that is not a stop by signal is not requeued.
        os.remove(self.log)
        self.run_script("slurm_inq.sbatch", ["configs/resnet18_4bit.json"], dict(env, FAKE_RC="1"), rc=1)
        self.assertEqual([c[0] for c in self.calls()], ["srun"])

    def test_bits_array_runs_each_width_with_its_paper_schedule(self):
        for task, bits in enumerate((5, 4, 3, 2)):
            p = self.run_script("slurm_bits_array.sbatch", ["configs/resnet18", "--set", "data.root=/d"],
                                {"SLURM_NTASKS": "8", "SLURM_ARRAY_TASK_ID": str(task), "INQ_DRY_RUN": "1"})
            argv = shlex.split(p.stdout.strip())
            config = f"configs/resnet18_{bits}bit.json"
            self.assertEqual(argv[4], config)
            self.assertEqual(argv[argv.index("--out") + 1], f"runs/resnet18_{bits}bit")
            self.assertEqual(self.set_value(argv, "data.root"), "/d")
            self.assertIsNone(self.set_value(argv, "inq.bits"))  # the config's own width and schedule
            with open(os.path.join(SOURCE_DIR, config)) as f:
                inq = json.load(f)["inq"]
            self.assertEqual(inq["bits"], bits)
            self.assertEqual(inq["portions"], PAPER_PORTIONS[bits])
        p = self.run_script("slurm_bits_array.sbatch", ["configs/vgg16"],
                            {"SLURM_NTASKS": "8", "SLURM_ARRAY_TASK_ID": "1"}, rc=2)
        self.assertIn("configs/vgg16_4bit.json", p.stderr)
        p = self.run_script("slurm_bits_array.sbatch", ["configs/resnet18"],
                            {"SLURM_NTASKS": "8", "SLURM_ARRAY_TASK_ID": "4"}, rc=2)
        self.assertIn("BITS has 4 widths", p.stderr)
        self.assertEqual(self.calls(), [])

    def test_bits_array_requeues_its_own_task(self):
        self.run_script("slurm_bits_array.sbatch", ["configs/resnet18"],
                        {"SLURM_NTASKS": "8", "SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_JOB_ID": "9",
                         "FAKE_RC": "143", "BITS": "2 3 4 5"}, rc=143)
        srun, scontrol = self.calls()
        self.assertEqual(srun[4], "configs/resnet18_5bit.json")
        self.assertEqual(scontrol, ["scontrol", "requeue", "9_3"])

    def test_mpirun_and_bits_loop(self):
        self.run_script("mpirun_inq.sh", ["8", "configs/resnet18_4bit.json", "--set", "data.root=/d"],
                        {"GLOBAL_BATCH": "256"})
        (mpirun,) = self.calls()
        self.assertEqual(mpirun[:5], ["mpirun", "-np", "8", "--bind-to", "none"])
        i = mpirun.index("build/bin/inq_train")
        self.assertEqual(mpirun[i + 1], "configs/resnet18_4bit.json")
        self.assertEqual(self.set_value(mpirun, "train.batch_size"), "32")
        self.assertEqual(self.set_value(mpirun, "data.root"), "/d")
        os.remove(self.log)
        self.run_script("bits_loop.sh", ["2", "configs/fmnist_resnet8", "--set", "device=cpu"], {"BITS": "3 2"})
        calls = self.calls()
        self.assertEqual(len(calls), 2)
        for argv, bits in zip(calls, (3, 2)):
            i = argv.index("build/bin/inq_train")
            self.assertEqual(argv[i + 1], f"configs/fmnist_resnet8_{bits}bit.json")
            self.assertIsNone(self.set_value(argv, "train.batch_size"))  # GLOBAL_BATCH unset: per rank as configured
            self.assertEqual(self.set_value(argv, "device"), "cpu")
        os.remove(self.log)
        p = self.run_script("bits_loop.sh", ["8", "configs/alexnet"], rc=2)
        self.assertIn("alexnet_4bit.json", p.stderr)
        self.assertEqual(self.calls(), [])

    def test_help(self):
        for script in ("slurm_inq.sbatch", "slurm_bits_array.sbatch"):
            p = self.run_script(script, ["--help"])
            self.assertIn("GLOBAL_BATCH", p.stdout)
            self.assertNotIn("#SBATCH", p.stdout)


if __name__ == "__main__":
    unittest.main()
