#!/usr/bin/env python3
"""Runs a grid of inq_train runs (a sweep), one or --jobs N at a time, or writes a Slurm job-array script.

  python3 scripts/inq_sweep.py configs/sweeps/fmnist_tradeoff.json            # run every point
  python3 scripts/inq_sweep.py GRID --jobs 2                                   # two points at once
  python3 scripts/inq_sweep.py GRID --list                                     # points and their state
  python3 scripts/inq_sweep.py GRID --estimate --seconds-per-epoch 47          # planned epochs, hours
  python3 scripts/inq_sweep.py GRID --slurm runs/sweeps/NAME/sweep_array.sbatch [--submit]
  python3 scripts/inq_sweep.py GRID --index 3                                  # one point (array task)

A grid file (configs/sweeps/*.json, documented in docs/sweeps.md) names axes and a union of
sub-grids; each point is one choice per axis, and its run directory ROOT/POINT_ID is named after
those choices. Each point runs `BIN/inq_train BASE --set k=v ... --out ROOT/POINT_ID`. A point is
skipped when finished (model.safetensors and a metrics.jsonl that reached the last epoch), resumed
with `inq_train BASE --set ... --resume DIR` when DIR holds a checkpoint, and refused (an error
naming the differing keys) when DIR holds a run of another config: the requested config is kept in
DIR/sweep_point.json and checked against it and against inq_train's resolved DIR/config.json.

--jobs N runs up to N points at once (each with threads = cores // N and one data worker unless --set
gives them; its output in DIR/train.log). A runner holds an flock on DIR/sweep_point.lock while a point
runs, so two runners never run the same point: the second skips it. Ctrl-C (or SIGTERM) is passed once
to every running inq_train, which checkpoints and exits; running the same command again continues where
it stopped. Only the standard library is used.
"""
import argparse
import collections
import copy
import fcntl
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
SLURM_TEMPLATE = os.path.join(SCRIPT_DIR, "slurm", "sweep_array.sbatch.in")
POINT_RECORD = "sweep_point.json"
LOCK_FILE = "sweep_point.lock"  # flock held while a runner runs the point (lock_point)
LABEL_RE = re.compile(r"^[A-Za-z0-9.+-]+$")  # no '_': it separates the axes in a point id
NAME_RE = re.compile(r"^[A-Za-z0-9_.+-]+$")
# Keys inq_train lets change on --resume: machine settings, not part of a point's identity.
RUNTIME_KEYS = ("device", "threads", "data.workers", "data.root", "train.log_every", "train.eval_batch_size")
# Keys of every point that the command line may give (paths of this machine), e.g. the pretrained weights;
# unlike RUNTIME_KEYS they are part of each point's config, so a later run with another value is refused.
POINT_KEYS = ("init.weights",)
# The paper's accumulated portions per bit-width (inq.portions default, configs/README.md).
PAPER_PORTIONS = {2: [0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 1.0],
                  3: [0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0],
                  4: [0.3, 0.5, 0.8, 0.9, 0.95, 1.0]}
SLURM_KEYS = ("partition", "time", "nodes", "ntasks_per_node", "gpus_per_node", "cpus_per_task", "gres", "mem",
              "max_parallel", "requeue", "options", "launch")


class SweepError(Exception):
    """A bad grid, a run directory that does not fit its point, or a failed tool call."""


# ---------------------------------------------------------------- grid files

def _label_of(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise SweepError(f"value {json.dumps(value)} needs an object form with a \"label\"")


class Axis:
    """One named dimension; each value is a label plus a base config and/or --set overrides."""

    def __init__(self, spec, where):
        if not isinstance(spec, dict):
            raise SweepError(f"{where}: an axis must be an object")
        unknown = set(spec) - {"name", "key", "values"}
        if unknown:
            raise SweepError(f"{where}: unknown key(s) {sorted(unknown)}")
        self.name = spec.get("name")
        if not isinstance(self.name, str) or not LABEL_RE.match(self.name):
            raise SweepError(f"{where}.name: expected a name of letters, digits, '.', '+', '-'")
        where = f"{where} ({self.name})"
        key = spec.get("key")
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise SweepError(f"{where}.values: expected a non-empty list")
        self.values = {}  # label -> {"base": str|None, "set": {key: value}, "note": str}
        for i, v in enumerate(values):
            vw = f"{where}.values[{i}]"
            if isinstance(v, dict):
                unknown = set(v) - {"label", "base", "set", "note"}
                if unknown:
                    raise SweepError(f"{vw}: unknown key(s) {sorted(unknown)}")
                label = v.get("label")
                if not isinstance(label, str):
                    raise SweepError(f"{vw}.label: expected a string")
                sets = v.get("set", {})
                if not isinstance(sets, dict):
                    raise SweepError(f"{vw}.set: expected an object of dotted key -> value")
                sets = dict(sets)
                if key is not None:
                    raise SweepError(f"{vw}: object values take their keys from \"set\"; drop the axis \"key\"")
                base = v.get("base")
                if base is not None and not isinstance(base, str):
                    raise SweepError(f"{vw}.base: expected a config path")
                if base is None and not sets:
                    raise SweepError(f"{vw}: needs \"base\" or \"set\"")
                entry = {"base": base, "set": sets, "note": v.get("note", "")}
            else:
                if not isinstance(key, str) or not key:
                    raise SweepError(f"{vw}: a plain value needs the axis \"key\" it sets")
                label = _label_of(v)
                entry = {"base": None, "set": {key: v}, "note": ""}
            if not LABEL_RE.match(label):
                raise SweepError(f"{vw}: label '{label}' may hold only letters, digits, '.', '+', '-'")
            if label in self.values:
                raise SweepError(f"{vw}: label '{label}' appears twice")
            self.values[label] = entry


class Point:
    """One run of the sweep: its id, base config, overrides and the merged config it asks for."""

    def __init__(self, pid, labels, base, sets, notes):
        self.id = pid
        self.labels = labels  # axis name -> label
        self.base = base
        self.sets = sets  # dotted key -> value, in axis order
        self.notes = notes
        self.config = None  # base + sets, filled by load_config()

    def set_args(self):
        args = []
        for k, v in self.sets.items():
            args += ["--set", f"{k}={json.dumps(v)}"]
        return args

    def load_config(self):
        if self.config is None:
            self.config = apply_sets(read_json(self.base, "base config"), self.sets)
        return self.config


class Grid:
    def __init__(self, path):
        spec = read_json(path, "grid")
        self.path = path
        unknown = set(spec) - {"name", "description", "root", "base", "set", "axes", "grids", "slurm"}
        if unknown:
            raise SweepError(f"{path}: unknown key(s) {sorted(unknown)}")
        self.name = spec.get("name", os.path.splitext(os.path.basename(path))[0])
        if not isinstance(self.name, str) or not NAME_RE.match(self.name):
            raise SweepError(f"{path}: name: letters, digits, '_', '.', '+', '-' only")
        self.description = spec.get("description", "")
        self.root = spec.get("root", os.path.join("runs", "sweeps", self.name))
        if not isinstance(self.root, str) or not self.root:
            raise SweepError(f"{path}: root: expected the directory of the run directories, as a string")
        self.base = spec.get("base")
        self.set = spec.get("set", {})
        if not isinstance(self.set, dict):
            raise SweepError(f"{path}: set: expected an object of dotted key -> value")
        axes = spec.get("axes")
        if not isinstance(axes, list) or not axes:
            raise SweepError(f"{path}: axes: expected a non-empty list")
        self.axes = [Axis(a, f"{path}: axes[{i}]") for i, a in enumerate(axes)]
        names = [a.name for a in self.axes]
        if len(set(names)) != len(names):
            raise SweepError(f"{path}: axes: duplicate axis names {names}")
        grids = spec.get("grids")
        if not isinstance(grids, list) or not grids:
            raise SweepError(f"{path}: grids: expected a non-empty list of sub-grids")
        self.grids = grids
        self.slurm = spec.get("slurm", {})
        if not isinstance(self.slurm, dict) or set(self.slurm) - set(SLURM_KEYS):
            raise SweepError(f"{path}: slurm: expected an object with keys among {list(SLURM_KEYS)}")
        self.points = self._expand()

    def _expand(self):
        points, seen = [], set()
        for gi, sub in enumerate(self.grids):
            where = f"{self.path}: grids[{gi}]"
            if not isinstance(sub, dict):
                raise SweepError(f"{where}: expected an object axis -> list of labels")
            missing = [a.name for a in self.axes if a.name not in sub]
            extra = sorted(set(sub) - {a.name for a in self.axes})
            if missing or extra:
                raise SweepError(f"{where}: every sub-grid names every axis once (missing {missing}, unknown {extra})")
            choices = []
            for axis in self.axes:
                labels = sub[axis.name]
                if not isinstance(labels, list) or not labels:
                    raise SweepError(f"{where}.{axis.name}: expected a non-empty list of labels")
                picked = []
                for x in labels:
                    label = _label_of(x)
                    if label not in axis.values:
                        raise SweepError(f"{where}.{axis.name}: no value labelled '{label}' "
                                         f"(have {list(axis.values)})")
                    picked.append(label)
                choices.append(picked)
            for combo in _product(choices):
                pid = "_".join(f"{a.name}-{label}" for a, label in zip(self.axes, combo))
                if pid in seen:
                    continue  # the union of sub-grids: a point named twice runs once
                seen.add(pid)
                points.append(self._point(pid, combo, where))
        return points

    def _point(self, pid, combo, where):
        base, base_from = self.base, "the grid"
        sets, owner = dict(self.set), {k: "the grid's set" for k in self.set}
        notes = []
        for axis, label in zip(self.axes, combo):
            v = axis.values[label]
            if v["base"] is not None:
                if base is not None and base_from != "the grid":
                    raise SweepError(f"{where}: point {pid}: axes {base_from} and {axis.name} both give a base config")
                base, base_from = v["base"], axis.name
            for k, val in v["set"].items():
                if k in owner and owner[k] != "the grid's set":
                    raise SweepError(f"{where}: point {pid}: key {k} is set by both {owner[k]} and {axis.name}")
                sets[k], owner[k] = val, axis.name
            if v["note"]:
                notes.append(v["note"])
        if base is None:
            raise SweepError(f"{where}: point {pid} has no base config (give \"base\" in the grid or on an axis)")
        return Point(pid, dict(zip((a.name for a in self.axes), combo)), base, sets, notes)


def _product(lists):
    out = [[]]
    for values in lists:
        out = [prefix + [v] for prefix in out for v in values]
    return out


def read_json(path, what):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise SweepError(f"{what} {path}: file not found") from None
    except json.JSONDecodeError as e:
        raise SweepError(f"{what} {path}: not valid JSON: {e}") from None


def apply_sets(config, sets):
    """The config after `--set k=v` for every override, as inq_train applies them."""
    out = copy.deepcopy(config)
    for key, value in sets.items():
        parts = key.split(".")
        node = out
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[parts[-1]] = copy.deepcopy(value)
    return out


def flatten(config, prefix=""):
    out = {}
    for k, v in config.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, path + "."))
        else:
            out[path] = v
    return out


def config_diff(wanted, found, subset=False):
    """Dotted keys whose values differ (runtime keys and `out` ignored); subset: only keys of `wanted`."""
    a, b = flatten(wanted), flatten(found)
    keys = set(a) if subset else set(a) | set(b)
    return sorted(k for k in keys if k != "out" and k not in RUNTIME_KEYS and a.get(k, None) != b.get(k, None)
                  and not (subset and isinstance(a.get(k), dict) and not a.get(k)))


# ---------------------------------------------------------------- run directories

def planned_epochs(config):
    """Epochs the config trains (configs/README.md: prune epochs + Σ stage epochs + float epochs, or train.epochs)."""
    inq = config.get("inq")
    if inq is None:
        return int(config.get("train", {}).get("epochs", 1))
    if "stage_epochs" in inq:
        stages = sum(int(e) for e in inq["stage_epochs"])
    else:
        portions = inq.get("portions", PAPER_PORTIONS.get(int(inq["bits"]), [0.5, 0.75, 0.875, 1.0]))
        stages = len(portions) * int(inq.get("epochs_per_stage", 2))
    prune = config.get("prune")
    return stages + int(inq.get("float_epochs", 0)) + (int(prune.get("epochs", 1)) if prune is not None else 0)


def last_test_epoch(metrics_path):
    last = -1
    try:
        with open(metrics_path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    break  # a torn last line: the run did not finish writing it
                if rec.get("split") == "test":
                    last = max(last, int(rec.get("epoch", -1)))
    except FileNotFoundError:
        pass
    return last


def point_state(point, run_dir):
    """'new', 'restart' (config but no checkpoint), 'resume' or 'done'; raises when DIR holds another config."""
    record_path = os.path.join(run_dir, POINT_RECORD)
    config_path = os.path.join(run_dir, "config.json")
    wanted = point.load_config()
    record = {}
    if os.path.exists(record_path):
        record = read_json(record_path, "point record")
        diff = config_diff(wanted, record.get("config", {}))
        if diff:
            raise SweepError(f"{run_dir} holds a run of a different config than point {point.id} asks "
                             f"(differs in: {', '.join(diff)}); move it away or use another --root")
    elif os.path.exists(config_path):
        raise SweepError(f"{run_dir} holds a run not started by inq_sweep (no {POINT_RECORD}); "
                         f"move it away or use another --root")
    if not os.path.exists(config_path):
        return "new"
    resolved = read_json(config_path, "run config")
    diff = config_diff(wanted, resolved, subset=True)
    if not diff and "resolved" in record:  # the whole resolved config as inq_train first wrote it
        diff = config_diff(record["resolved"], resolved)
    if diff:
        raise SweepError(f"{config_path} differs from what point {point.id} asks in: {', '.join(diff)}; "
                         f"move {run_dir} away or use another --root")
    if (os.path.exists(os.path.join(run_dir, "model.safetensors"))
            and last_test_epoch(os.path.join(run_dir, "metrics.jsonl")) >= planned_epochs(resolved)):
        return "done"
    if os.path.exists(os.path.join(run_dir, "checkpoint.safetensors")):
        return "resume"
    return "restart"


def write_record(point, run_dir):
    """DIR/sweep_point.json: what the point asks for and, once inq_train wrote it, the resolved config."""
    os.makedirs(run_dir, exist_ok=True)
    record = {"point": point.id, "labels": point.labels, "base": point.base, "set": point.sets,
              "config": point.load_config()}
    config_path = os.path.join(run_dir, "config.json")
    if os.path.exists(config_path):
        record["resolved"] = read_json(config_path, "run config")
    tmp = os.path.join(run_dir, POINT_RECORD + ".tmp")
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(run_dir, POINT_RECORD))


def train_command(point, run_dir, bin_dir, runtime_sets, state, launch=()):
    """inq_train's command line for a point, after the launcher prefix (e.g. srun for several GPUs)."""
    exe = os.path.join(bin_dir, "inq_train")
    cmd = list(launch) + [exe, point.base] + point.set_args() + runtime_sets
    return cmd + (["--resume", run_dir] if state == "resume" else ["--out", run_dir])


# ---------------------------------------------------------------- running

class Stopper:
    """Passes SIGINT/SIGTERM once to the running children (each in its own session, so a terminal's Ctrl-C
    reaches them only through us and inq_train sees one signal: a second one would kill it at once)."""

    def __init__(self):
        self.children = []
        self.signal = 0
        self.saved = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}

    def add(self, child):
        self.children.append(child)
        if self.signal:  # the signal came between the last look at it and the start: pass it on
            child.send_signal(self.signal)

    def remove(self, child):
        self.children.remove(child)

    def _handle(self, signum, _frame):
        first = not self.signal
        self.signal = self.signal or signum
        running = [c for c in self.children if c.poll() is None]
        for child in running:
            child.send_signal(signum)
        if running and first:
            what = ("inq_train checkpoints and stops (again: kill it at once)" if len(running) == 1 else
                    f"{len(running)} inq_train runs checkpoint and stop (again: kill them at once)")
            print(f"\ninq_sweep: signal {signum}: {what}", file=sys.stderr, flush=True)

    def restore(self):
        for s, h in self.saved.items():
            signal.signal(s, h)


def fmt_seconds(s):
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def cpu_count():
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (taskset, cgroups' cpusets)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def parallel_sets(user_sets, jobs, cores=None):
    """The --set KEY=VALUE strings each of `jobs` parallel points gets unless the user gave the key:
    the cores shared out (threads = max(1, cores // jobs)) and one data worker."""
    given = {s.split("=", 1)[0].strip() for s in user_sets}
    out = []
    if "threads" not in given:
        out.append(f"threads={max(1, (cores or cpu_count()) // jobs)}")
    if "data.workers" not in given:
        out.append("data.workers=1")
    return out


def lock_point(run_dir):
    """An exclusive flock on DIR/sweep_point.lock: its fd, None when another process holds it, or -1 where the
    file system has no flock. The lock belongs to the open file, which inq_train inherits, so it is held while
    either the runner or its inq_train lives, and the kernel drops it when both are gone (a crash leaves only
    an empty, unlocked file, which point_state does not look at)."""
    os.makedirs(run_dir, exist_ok=True)
    fd = os.open(os.path.join(run_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:  # e.g. ENOSYS on a Lustre mounted without flock: run unguarded, as before locks
        os.close(fd)
        return -1
    return fd


def locked_elsewhere(run_dir):
    """Whether another process holds DIR's lock (creating no lock file where there is none)."""
    try:
        fd = os.open(os.path.join(run_dir, LOCK_FILE), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def unlock_point(fd):
    if fd is not None and fd >= 0:
        os.close(fd)


def last_line(path, offset):
    """The last non-empty line written to the log at `path` after byte `offset` ('' if none)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(offset, size - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [s.strip() for s in re.split(r"[\r\n]", text) if s.strip()]
    return lines[-1] if lines else ""


class _Job:
    """A started point: its inq_train, lock and (with --jobs > 1) log file."""

    def __init__(self, head, point, run_dir, child, lock, log_path, log_start):
        self.head, self.point, self.run_dir = head, point, run_dir
        self.child, self.lock = child, lock
        self.log_path, self.log_start = log_path, log_start
        self.t0 = time.monotonic()


def _wait_any(running):
    if len(running) == 1:  # nothing else can start before it ends (run_points fills free slots first)
        running[0].child.wait()
        return running[0]
    while True:
        for job in running:
            if job.child.poll() is not None:
                return job
        time.sleep(0.2)


def run_points(points, indices, root, bin_dir, runtime_sets, keep_going, log=print, extra_args=(), jobs=1,
               launch=()):
    """Runs the points `indices`, at most `jobs` at once, starting them in that order. jobs == 1: each
    inq_train writes to the terminal; more: to DIR/train.log (appended), the runner prints its final line."""
    exe = os.path.join(bin_dir, "inq_train")
    if not os.access(exe, os.X_OK):
        raise SweepError(f"{exe}: not found or not executable; build it (scripts/build.sh) or pass --bin")
    if jobs > 1:
        indices = list(dict.fromkeys(indices))  # a point named twice by --index runs once, never twice at once
    stopper = Stopper()
    failed, elsewhere, start = [], [], time.monotonic()
    pending = collections.deque(enumerate(indices, 1))
    running = []
    halt = None  # why no new point starts: "failed", a SweepError to raise at the end, or an exit code of a stop
    stopped_any = unguarded = False

    def start_next():
        nonlocal halt, unguarded
        n, i = pending.popleft()
        point = points[i]
        run_dir = os.path.join(root, point.id)
        head = f"[{n}/{len(indices)}] point {i} {point.id}"
        lock = None
        try:
            state = point_state(point, run_dir)
            if state != "done":
                lock = lock_point(run_dir)
                if lock is None:
                    log(f"{head}: running in another runner, skipping")
                    elsewhere.append(point.id)
                    return
                if lock < 0 and not unguarded:
                    unguarded = True
                    log(f"inq_sweep: note: no file locks (flock) under {root}: nothing keeps another runner "
                        f"from running the same point")
                state = point_state(point, run_dir)  # again under the lock: another runner may just have finished it
        except SweepError as e:
            unlock_point(lock)
            if lock is None and locked_elsewhere(run_dir):  # e.g. its inq_train is writing config.json right now
                log(f"{head}: running in another runner, skipping")
                elsewhere.append(point.id)
                return
            if not keep_going and not running:
                raise
            log(f"{head}: ERROR {e}")
            if keep_going:
                failed.append((point.id, str(e)))
            else:
                halt = halt or e
            return
        if state == "done":
            unlock_point(lock)
            log(f"{head}: finished, skipping")
            return
        if stopper.signal:  # arrived while we looked at the directory: start nothing more
            unlock_point(lock)
            pending.appendleft((n, i))
            return
        verb = {"new": "running", "restart": "running (no checkpoint yet: starting over)",
                "resume": "resuming"}[state]
        cmd = train_command(point, run_dir, bin_dir, runtime_sets, state, launch) + list(extra_args)
        log_path = os.path.join(run_dir, "train.log") if jobs > 1 else None
        log(f"{head}: {verb} ({planned_epochs(point.load_config())} epochs)"
            + (f", output in {log_path}" if log_path else "") + f"\n  $ {shlex.join(cmd)}")
        out, log_start = None, 0
        try:
            write_record(point, run_dir)
            if log_path:
                out = open(log_path, "ab")
                out.write(f"\n==== inq_sweep {time.strftime('%Y-%m-%d %H:%M:%S')}: {verb}\n$ {shlex.join(cmd)}\n"
                          .encode())
                out.flush()
                log_start = out.tell()
            child = subprocess.Popen(cmd, start_new_session=True, pass_fds=(lock,) if lock >= 0 else (),
                                     stdout=out, stderr=subprocess.STDOUT if out else None)
        except BaseException:
            unlock_point(lock)
            raise
        finally:
            if out:
                out.close()
        stopper.add(child)
        running.append(_Job(head, point, run_dir, child, lock, log_path, log_start))

    try:
        while True:
            while pending and len(running) < jobs and halt is None and not stopper.signal:
                start_next()
            if not running:
                break
            job = _wait_any(running)
            running.remove(job)
            stopper.remove(job.child)
            rc = job.child.returncode
            try:
                write_record(job.point, job.run_dir)
            finally:
                unlock_point(job.lock)
            took = fmt_seconds(time.monotonic() - job.t0)
            tail = last_line(job.log_path, job.log_start) if job.log_path else ""
            tail = f"\n  {tail}" if tail else ""
            if rc != 0 and (stopper.signal or rc in (130, 143)):  # ours, or a signal sent to inq_train itself
                log(f"{job.head}: stopped after {took} (inq_train exit {rc}); run the same command again to continue"
                    + tail)
                stopped_any = True
                if halt is None or halt == "failed":
                    halt = rc
            elif rc != 0:
                msg = f"inq_train exit {rc}"
                log(f"{job.head}: FAILED after {took}: {msg}" + tail)
                failed.append((job.point.id, msg))
                if not keep_going and halt is None:
                    halt = "failed"
            else:
                log(f"{job.head}: done in {took}; sweep time {fmt_seconds(time.monotonic() - start)}" + tail)
    finally:
        for job in running:  # only after an exception: leave no inq_train running unwatched
            job.child.send_signal(signal.SIGTERM)
        for job in running:
            job.child.wait()
            unlock_point(job.lock)
        stopper.restore()
    if stopper.signal or isinstance(halt, int):
        if pending and not stopped_any:
            log(f"stopped before point {pending[0][1]}; run the same command again to continue")
        return 128 + stopper.signal if stopper.signal else halt
    if isinstance(halt, SweepError):
        raise halt
    if failed:
        log(f"{len(failed)} point(s) failed: " + "; ".join(f"{p} ({m})" for p, m in failed))
        return 1
    if elsewhere:
        log(f"{len(elsewhere)} point(s) left to the runner running them: {', '.join(elsewhere)}")
    log(f"sweep {'complete' if len(indices) == len(points) and not elsewhere else 'part complete'}: "
        f"{len(indices)} point(s) in {fmt_seconds(time.monotonic() - start)}")
    return 0


# ---------------------------------------------------------------- estimates and Slurm

def train_images(config):
    data = config.get("data", {})
    dataset = data.get("dataset", "fashion_mnist")
    limit = int(data.get("train_limit", 0) or 0)
    if dataset == "synthetic":
        n = int(data.get("synthetic", {}).get("size", 1024))
    elif dataset == "fashion_mnist":
        n = 60000
    elif "imagenet" in dataset:
        n = 1281167
    else:
        return None
    return min(n, limit) if limit else n


def estimate(points, seconds_per_epoch, images_per_second, train_images_arg, log=print):
    total_h, total_epochs = 0.0, 0
    for i, p in enumerate(points):
        cfg = p.load_config()
        e = planned_epochs(cfg)
        if seconds_per_epoch:
            per_epoch = seconds_per_epoch
        else:
            n = train_images_arg or train_images(cfg)
            if n is None:
                raise SweepError(f"point {p.id}: unknown training-set size of dataset "
                                 f"{cfg.get('data', {}).get('dataset')!r}; pass --train-images")
            per_epoch = n / images_per_second
        hours = e * per_epoch / 3600
        total_h += hours
        total_epochs += e
        log(f"{i:3d} {p.id:48s} {e:4d} epochs  {hours:8.2f} h")
    how = (f"{seconds_per_epoch:.1f} s per epoch" if seconds_per_epoch else
           f"an epoch = the training images at {images_per_second:.0f} images/s; evaluation and BatchNorm "
           f"re-estimation not included")
    log(f"{len(points)} points, {total_epochs} epochs, {total_h:.1f} h in all ({how})")
    return total_h


def slurm_script(grid, grid_path, root, bin_dir, python, overrides, runtime_sets):
    opts = dict(grid.slurm)
    opts.update({k: v for k, v in overrides.items() if v is not None})
    with open(SLURM_TEMPLATE) as f:
        text = f.read()
    lines = []
    for key, flag in (("partition", "partition"), ("time", "time"), ("nodes", "nodes"),
                      ("ntasks_per_node", "ntasks-per-node"), ("gpus_per_node", "gpus-per-node"),
                      ("cpus_per_task", "cpus-per-task"), ("gres", "gres"), ("mem", "mem")):
        if opts.get(key) not in (None, ""):
            lines.append(f"#SBATCH --{flag}={opts[key]}")
    if not opts.get("ntasks_per_node"):
        lines.append("#SBATCH --ntasks=1")
    if opts.get("requeue"):
        lines.append("#SBATCH --requeue")
    for extra in opts.get("options", []):
        lines.append(f"#SBATCH {extra}")
    last = len(grid.points) - 1
    array = f"0-{last}" + (f"%{opts['max_parallel']}" if opts.get("max_parallel") else "")
    sweep_cmd = [python, os.path.abspath(__file__), os.path.abspath(grid_path), "--root", os.path.abspath(root),
                 "--bin", os.path.abspath(bin_dir)]
    for s in runtime_sets:
        sweep_cmd += ["--set", s]
    if opts.get("launch"):
        sweep_cmd += ["--launch", opts["launch"]]
    values = {
        "JOB_NAME": f"inq_sweep_{grid.name}",
        "ARRAY": array,
        "LOG_DIR": os.path.abspath(os.path.join(root, "slurm_logs")),
        "SBATCH_OPTIONS": "\n".join(lines),
        "WORKDIR": shlex.quote(os.getcwd()),
        "SWEEP_COMMAND": shlex.join(sweep_cmd),
        "REQUEUE": "1" if opts.get("requeue") else "0",
        "POINTS": "\n".join(f"#   {i}: {p.id}" for i, p in enumerate(grid.points)),
        "GRID": grid_path,
    }
    out = re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: values[m.group(1)], text)
    return out


# ---------------------------------------------------------------- command line

def parse_runtime_sets(sets):
    """`--set` arguments for inq_train from the machine settings among `sets` (POINT_KEYS are left out)."""
    out = []
    for s in sets:
        key = s.split("=", 1)[0].strip()
        if "=" not in s or key not in RUNTIME_KEYS + POINT_KEYS:
            raise SweepError(f"--set {s}: only machine settings {list(RUNTIME_KEYS)} (they may change between "
                             f"runs of a point) and {list(POINT_KEYS)} (part of every point) may be set here; "
                             f"put other keys in the grid")
        if key in RUNTIME_KEYS:
            out += ["--set", s]
    return out


def point_sets(sets):
    """The POINT_KEYS among `--set` arguments, as key -> value (parsed as JSON when it parses, as inq_train does)."""
    out = {}
    for s in sets:
        key, _, value = s.partition("=")
        if key.strip() in POINT_KEYS:
            try:
                out[key.strip()] = json.loads(value)
            except json.JSONDecodeError:
                out[key.strip()] = value
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("grid", help="grid file (configs/sweeps/*.json)")
    ap.add_argument("--root", help="directory of the run directories (default: the grid's root, "
                    "else runs/sweeps/<grid name>)")
    ap.add_argument("--bin", default="build/bin", help="directory holding inq_train (default build/bin)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help=f"a machine setting for every point, one of {', '.join(RUNTIME_KEYS)}; or "
                         f"{', '.join(POINT_KEYS)}, part of every point's config, where {{model}} stands for "
                         f"the point's model.name (e.g. init.weights=/w/{{model}}.safetensors)")
    ap.add_argument("--index", type=int, action="append", help="run only point INDEX (0-based; repeatable)")
    ap.add_argument("--only", action="append", default=[], metavar="AXIS=LABEL[,LABEL]",
                    help="run only points with these labels (repeatable, all must hold)")
    ap.add_argument("--stop-after-steps", type=int, metavar="N", help=argparse.SUPPRESS)  # tests: inq_train's
    ap.add_argument("--jobs", type=int, default=1, metavar="N",
                    help="run up to N points at once (default 1), each with threads = cores // N and "
                         "data.workers = 1 unless --set gives them, its output in RUN_DIR/train.log")
    ap.add_argument("--keep-going", action="store_true", help="after a failed point, go on with the next")
    ap.add_argument("--list", action="store_true", help="print the points, their state and commands; run nothing")
    ap.add_argument("--estimate", action="store_true", help="print planned epochs and hours per point")
    ap.add_argument("--seconds-per-epoch", type=float, help="--estimate: measured seconds per training epoch")
    ap.add_argument("--images-per-second", type=float, help="--estimate: measured training throughput "
                    "(inq_bench's images/s); an epoch is the training set over it")
    ap.add_argument("--train-images", type=int, help="--estimate: training-set size (default from the dataset)")
    ap.add_argument("--slurm", metavar="FILE", help="write a Slurm job-array script (one task per point)")
    ap.add_argument("--submit", action="store_true", help="with --slurm: sbatch the written script")
    ap.add_argument("--python", default="python3", help="--slurm: interpreter on the cluster (default python3)")
    for k in ("partition", "time", "gres", "mem"):
        ap.add_argument(f"--slurm-{k}", help=f"--slurm: #SBATCH --{k} (default: the grid's slurm.{k})")
    ap.add_argument("--slurm-cpus-per-task", type=int)
    ap.add_argument("--slurm-max-parallel", type=int, help="--slurm: at most N array tasks at once")
    ap.add_argument("--launch", metavar="CMD", help="launcher prefix of every inq_train, e.g. "
                    "'srun --mpi=pmix --kill-on-bad-exit=1' for one point over all GPUs of a Slurm task "
                    "(--slurm: default the grid's slurm.launch)")
    args = ap.parse_args(argv)
    try:
        if args.jobs < 1:
            raise SweepError(f"--jobs {args.jobs}: expected the number of points to run at once, 1 or more")
        if args.slurm and args.jobs != 1:
            raise SweepError("--jobs and --slurm: a job array already runs its points in parallel "
                             "(--slurm-max-parallel bounds them)")
        grid = Grid(args.grid)
        root = args.root or grid.root
        runtime_sets = parse_runtime_sets(args.set)
        for p in grid.points:  # "{model}" in a value: the point's model.name (one weights file per model)
            model = apply_sets(read_json(p.base, "base config"), p.sets).get("model", {}).get("name", "")
            p.sets.update({k: v.replace("{model}", model) if isinstance(v, str) else v
                           for k, v in point_sets(args.set).items()})
        launch = shlex.split(args.launch or "")
        indices = list(range(len(grid.points)))
        if args.index is not None:
            for i in args.index:
                if not 0 <= i < len(grid.points):
                    raise SweepError(f"--index {i}: the grid has points 0..{len(grid.points) - 1}")
            indices = args.index
        for f in args.only:
            axis, _, labels = f.partition("=")
            if axis not in {a.name for a in grid.axes} or not labels:
                raise SweepError(f"--only {f}: expected AXIS=LABEL[,LABEL] with an axis among "
                                 f"{[a.name for a in grid.axes]}")
            keep = set(labels.split(","))
            known = {a.name: a for a in grid.axes}[axis].values
            unknown = sorted(keep - set(known))
            if unknown:
                raise SweepError(f"--only {f}: no value labelled {', '.join(unknown)} on axis {axis} "
                                 f"(have {', '.join(known)})")
            indices = [i for i in indices if grid.points[i].labels[axis] in keep]
        if args.slurm:
            text = slurm_script(grid, args.grid, root, args.bin, args.python,
                                {"partition": args.slurm_partition, "time": args.slurm_time,
                                 "gres": args.slurm_gres, "mem": args.slurm_mem,
                                 "cpus_per_task": args.slurm_cpus_per_task, "launch": args.launch,
                                 "max_parallel": args.slurm_max_parallel}, args.set)
            os.makedirs(os.path.dirname(os.path.abspath(args.slurm)), exist_ok=True)
            os.makedirs(os.path.join(root, "slurm_logs"), exist_ok=True)
            with open(args.slurm, "w") as f:
                f.write(text)
            os.chmod(args.slurm, 0o755)
            print(f"wrote {args.slurm}: a job array of {len(grid.points)} tasks (0-{len(grid.points) - 1}), "
                  f"run directories under {root}")
            if args.submit:
                return subprocess.call(["sbatch", args.slurm])
            return 0
        selected = [grid.points[i] for i in indices]
        if args.estimate:
            if not args.seconds_per_epoch and not args.images_per_second:
                raise SweepError("--estimate needs --seconds-per-epoch or --images-per-second")
            estimate(selected, args.seconds_per_epoch, args.images_per_second, args.train_images)
            return 0
        if args.list:
            print(f"grid {grid.name}: {len(grid.points)} points, root {root}")
            for i in indices:
                p = grid.points[i]
                run_dir = os.path.join(root, p.id)
                try:
                    state = point_state(p, run_dir)
                except SweepError as e:
                    state = f"CONFLICT: {e}"
                print(f"{i:3d} {p.id}  [{state}]  {planned_epochs(p.load_config())} epochs"
                      + (f"  ({'; '.join(p.notes)})" if p.notes else ""))
                print("    " + shlex.join(train_command(p, run_dir, args.bin, runtime_sets, launch=launch, state=
                                                        "resume" if state == "resume" else "new")))
            return 0
        at_once = ""
        if args.jobs > 1:
            added = parallel_sets(args.set, args.jobs)
            runtime_sets += parse_runtime_sets(added)
            at_once = f", up to {args.jobs} at once" + (f" ({', '.join(added)} each)" if added else "")
        print(f"grid {grid.name}: {len(indices)} of {len(grid.points)} points, run directories under {root}"
              + at_once, flush=True)
        extra = ["--stop-after-steps", str(args.stop_after_steps)] if args.stop_after_steps is not None else []
        return run_points(grid.points, indices, root, args.bin, runtime_sets, args.keep_going,
                          log=lambda s: print(s, flush=True), extra_args=extra, jobs=args.jobs, launch=launch)
    except SweepError as e:
        print(f"inq_sweep: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
