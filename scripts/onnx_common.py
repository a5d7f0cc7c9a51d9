"""Helpers shared by the ONNX scripts and tests: safetensors files with numpy, Fashion-MNIST test
images normalised exactly as the engine does (data/fashion_mnist.cpp), onnxruntime sessions.

Runs in the project-local environment (.venv/, made by scripts/setup.sh)."""
import gzip
import json
import os
import struct

import numpy as np

FMNIST_ROOT = "/usr/share/datasets/fashion-mnist"
FMNIST_MEAN = np.float32(0.2860)
FMNIST_STD = np.float32(0.3530)

_DTYPES = {"F32": np.float32, "I64": np.int64, "U8": np.uint8, "I32": np.int32}


def read_safetensors(path):
    """{name: array} and the metadata dict of a safetensors file."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
    return out, meta


def write_safetensors(path, tensors):
    """Writes {name: array} (float32 or int64) atomically."""
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[a.dtype]
        b = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def fmnist_test(limit=0, root=FMNIST_ROOT):
    """(images [N, 1, 28, 28] float32 normalised as the engine does, labels [N] int64)."""
    with gzip.open(os.path.join(root, "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(root, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    if limit:
        images, labels = images[:limit], labels[:limit]
    x = (images.astype(np.float32) / np.float32(255.0) - FMNIST_MEAN) / FMNIST_STD
    return x.astype(np.float32), labels


def session(path, threads=0, optimized_path=None):
    """A CPU onnxruntime session. int8 activations stay int8 (session.qdqisint8allowed): without it
    onnxruntime rewrites them to uint8 and, in 1.32, leaves some layers in float."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.add_session_config_entry("session.qdqisint8allowed", "1")
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    if optimized_path:
        so.optimized_model_filepath = optimized_path
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def run(sess, x, batch=256):
    out = [sess.run(None, {"input": x[i:i + batch]})[0] for i in range(0, len(x), batch)]
    return np.concatenate(out)
