"""Shared helpers of the Python tests: the scripts as modules, the apps, a tiny synthetic INQ setup."""
import importlib.util
import json
import os
import subprocess

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("INQ_BIN_DIR", os.path.join(SOURCE_DIR, "build", "bin"))


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(SOURCE_DIR, "scripts", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def have_apps(*names):
    return all(os.access(os.path.join(BIN_DIR, n), os.X_OK) for n in names)


TINY_MODEL = {"name": "resnet8", "in_channels": 1, "num_classes": 10, "image_size": 28}


def tiny_setup(tmp, size=256):
    """An FP32 resnet8 trained 1 epoch on synthetic data (the pretrained weights) and an INQ base config."""
    data = {"dataset": "synthetic", "workers": 1, "synthetic": {"size": size, "test_size": 64}}
    fp32 = {"device": "cpu", "threads": 1, "seed": 0, "model": TINY_MODEL, "data": data,
            "train": {"epochs": 1, "batch_size": 32}, "optimizer": {"lr": 0.05}}
    fp32_path = os.path.join(tmp, "fp32.json")
    with open(fp32_path, "w") as f:
        json.dump(fp32, f)
    weights_dir = os.path.join(tmp, "fp32_run")
    subprocess.run([os.path.join(BIN_DIR, "inq_train"), fp32_path, "--out", weights_dir], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = {"device": "cpu", "threads": 1, "seed": 0, "model": TINY_MODEL, "data": data,
            "train": {"batch_size": 32}, "optimizer": {"lr": 0.01},
            "init": {"weights": os.path.join(weights_dir, "model.safetensors")},
            "inq": {"bits": 5, "portions": [0.5, 1.0], "epochs_per_stage": 1}}
    base_path = os.path.join(tmp, "inq.json")
    with open(base_path, "w") as f:
        json.dump(base, f)
    return base_path, weights_dir


def tiny_grid(tmp, base_path, lr=0.01):
    """3 points: bits 5 and 2 (linked portions) at seed 0, and 2 bits at seed 1 (a union of sub-grids)."""
    grid = {"name": "tiny", "base": base_path, "set": {"optimizer.lr": lr},
            "axes": [{"name": "bits", "values": [
                         {"label": "5", "set": {"inq.bits": 5, "inq.portions": [0.5, 1.0]}},
                         {"label": "2", "set": {"inq.bits": 2, "inq.portions": [0.4, 0.8, 1.0]}}]},
                     {"name": "seed", "key": "seed", "values": [0, 1]}],
            "grids": [{"bits": ["5", "2"], "seed": [0]}, {"bits": ["2"], "seed": [0, 1]}]}
    path = os.path.join(tmp, "grid.json")
    with open(path, "w") as f:
        json.dump(grid, f)
    return path
