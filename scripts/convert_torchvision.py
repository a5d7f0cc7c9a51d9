#!/usr/bin/python3
"""Convert torchvision weights to a safetensors file that inq loads by name (`init.weights`).

  convert_torchvision.py MODEL OUT.safetensors [--num-classes N] [--seed S]   random torchvision init
  convert_torchvision.py MODEL OUT.safetensors --pretrained [--weights W]     from the local torch hub cache
  convert_torchvision.py FILE.pth OUT.safetensors [--keep-aux]                 a saved state_dict

MODEL is one of resnet18, resnet34, resnet50, vgg16, vgg16_bn, alexnet, googlenet. Nothing is ever
downloaded: --pretrained reads torchvision's weights only where torch.hub has cached them
(TORCH_HOME, ~/.cache/torch/hub/checkpoints); otherwise it stops and names the file to fetch.
--weights picks the set (default IMAGENET1K_V1, the original recipe, evaluated at resize 256 / crop 224
as inq's configs are; e.g. IMAGENET1K_V2 or DEFAULT: resnet50's V2 recipe, published at resize 232).
The script prints torchvision's published top-1/top-5 for the set and the inq_eval command that
checks the converted file against them. Without --pretrained a model name gives torchvision's
random initialisation, not trained weights. The output's directory is created.
A .pth may hold a state_dict, a dict with one under "state_dict" or "model", or a whole module;
a DataParallel "module." prefix is removed. GoogLeNet's auxiliary classifiers (aux1.*, aux2.*) are
dropped unless --keep-aux (inq's googlenet has none unless model.aux_logits is true).

Output: float tensors as F32, integer ones (num_batches_tracked) as I64, in state_dict order, with
metadata {"format": "pt", "inq.source": ...}. The file is written by this script itself (no
`safetensors` package needed) and atomically (temporary file, then rename). Run with Debian's
/usr/bin/python3, which has torch and torchvision.
"""
import argparse
import json
import os
import struct
import sys

MODELS = ("resnet18", "resnet34", "resnet50", "vgg16", "vgg16_bn", "alexnet", "googlenet")


def fail(msg):
    print(f"convert_torchvision.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


try:
    import torch
    import torchvision
except ImportError as e:
    fail(f"needs torch and torchvision ({e}); run it with /usr/bin/python3 (Debian python3-torch python3-torchvision)")


def build(name, num_classes):
    """A torchvision model with its own random initialisation (inq's googlenet: no aux heads, no input transform)."""
    models = torchvision.models
    if name == "googlenet":
        return models.googlenet(weights=None, num_classes=num_classes, aux_logits=False, init_weights=True,
                                transform_input=False)
    return getattr(models, name)(weights=None, num_classes=num_classes)


def weights_of(name, which):
    """torchvision's weights enum member `which` (IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT, ...) of model `name`."""
    enum = torchvision.models.get_model_weights(name)
    try:
        return enum[which]
    except KeyError:
        fail(f"--weights {which}: {name} has {', '.join(['DEFAULT'] + [w.name for w in enum])}")


def published(weights):
    """torchvision's published ImageNet accuracy of `weights` and its evaluation resize, as text."""
    metrics = weights.meta.get("_metrics", {}).get("ImageNet-1K", {})
    t = weights.transforms()
    resize = t.resize_size[0] if getattr(t, "resize_size", None) else None
    return metrics.get("acc@1"), metrics.get("acc@5"), resize


def cached_pretrained(name, which):
    """torchvision's weights `which` for `name` from the local hub cache, never downloaded."""
    weights = weights_of(name, which)
    path = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
    if not os.path.isfile(path):
        fail(f"pretrained {name} weights ({weights}) are not in the local torch hub cache ({path}) and this "
             f"script never downloads. Get {weights.url} on a machine with network access and put it there "
             f"(or set TORCH_HOME to a directory whose hub/checkpoints/ holds it) and run this again, or pass the "
             f".pth: convert_torchvision.py {os.path.basename(weights.url)} OUT.safetensors (which does not "
             f"print the published accuracy)")
    return torch.load(path, map_location="cpu"), weights, f"{weights} ({path})"


def state_dict_of(obj, path):
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], (dict, torch.nn.Module)):
                return state_dict_of(obj[key], path)
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    fail(f"{path}: neither a state_dict (names to tensors) nor a module nor a dict holding one under "
         f"'state_dict' or 'model'")


def from_pth(path, keep_aux):
    if not os.path.isfile(path):
        fail(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:  # a pickle error says little on its own
        fail(f"{path}: torch.load failed: {e}")
    sd = state_dict_of(obj, path)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return drop_aux(sd, keep_aux)


def drop_aux(sd, keep_aux):
    """GoogLeNet's auxiliary classifiers, which inq's googlenet lacks by default."""
    dropped = set() if keep_aux else {k for k in sd if k.startswith(("aux1.", "aux2."))}
    if dropped:
        print(f"dropped {len(dropped)} GoogLeNet auxiliary-classifier tensors (aux1.*, aux2.*); --keep-aux keeps them",
              file=sys.stderr)
    return {k: v for k, v in sd.items() if k not in dropped}


def write_safetensors(path, tensors, metadata):
    """safetensors: 8-byte little-endian header size, JSON header padded to 8 bytes, raw data."""
    header, blobs, offset = {"__metadata__": {k: str(v) for k, v in metadata.items()}}, [], 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype.is_floating_point:
            dtype, raw = "F32", t.to(torch.float32).numpy().astype("<f4").tobytes()
        elif t.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool):
            dtype, raw = "I64", t.to(torch.int64).numpy().astype("<i8").tobytes()
        else:
            fail(f"{name}: unsupported dtype {t.dtype}")
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for raw in blobs:
                f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        fail(f"{path}: cannot write: {e}")
    return offset


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help=f"a torchvision model name ({', '.join(MODELS)}) or a .pth file")
    p.add_argument("out", help="the .safetensors file to write")
    p.add_argument("--pretrained", action="store_true", help="torchvision's trained weights (--weights), from the "
                   "local cache only; without it a model name gives the random initialisation")
    p.add_argument("--weights", default="IMAGENET1K_V1", help="--pretrained: torchvision's weight set "
                   "(IMAGENET1K_V1, the default; IMAGENET1K_V2; DEFAULT)")
    p.add_argument("--num-classes", type=int, default=1000, help="random init only: classifier outputs (1000)")
    p.add_argument("--seed", type=int, default=0, help="random init only: torch.manual_seed (0)")
    p.add_argument("--keep-aux", action="store_true", help=".pth/pretrained: keep GoogLeNet's aux1.*, aux2.*")
    a = p.parse_args(argv)

    weights = None
    if a.weights != "IMAGENET1K_V1" and not a.pretrained:
        fail("--weights needs --pretrained")
    if a.source in MODELS:
        if a.pretrained:
            if a.num_classes != 1000:
                fail("--num-classes applies to random weights; for another head, convert the pretrained weights "
                     "as they are and load them with init.skip (e.g. [\"fc.*\"]) or init.partial")
            sd, weights, source = cached_pretrained(a.source, a.weights)
            sd = drop_aux(sd, a.keep_aux)
        else:
            torch.manual_seed(a.seed)
            sd = build(a.source, a.num_classes).state_dict()
            source = f"torchvision {torchvision.__version__} {a.source} random init, seed {a.seed}, " \
                     f"{a.num_classes} classes"
    elif a.source.endswith((".pth", ".pt", ".bin", ".ckpt")) or os.path.exists(a.source):
        if a.pretrained:
            fail("--pretrained takes a model name, not a file")
        sd, source = from_pth(a.source, a.keep_aux), os.path.abspath(a.source)
    else:
        fail(f"{a.source}: neither a model name ({', '.join(MODELS)}) nor an existing .pth file")
    if not sd:
        fail(f"{a.source}: no tensors to convert")
    if os.path.dirname(a.out):
        try:
            os.makedirs(os.path.dirname(a.out), exist_ok=True)
        except OSError as e:
            fail(f"{os.path.dirname(a.out)}: cannot create the output directory: {e}")
    nbytes = write_safetensors(a.out, sd, {"format": "pt", "inq.source": source})
    print(f"wrote {a.out}: {len(sd)} tensors, {nbytes / 2**20:.1f} MiB of data ({source})")
    if weights is not None:
        top1, top5, resize = published(weights)
        note = " (inq's googlenet has transform_input off, so expect less)" if a.source == "googlenet" else ""
        print(f"torchvision publishes top-1 {top1}% / top-5 {top5}% for {weights} at resize {resize}, crop 224{note}; "
              f"check the converted file on the ImageNet validation set with\n  build/bin/inq_eval CONFIG "
              f"--set data.root=ILSVRC2012_DIR --set init.weights={a.out}"
              + (f" --set data.eval_resize={resize}" if resize and resize != 256 else ""))


if __name__ == "__main__":
    main(sys.argv[1:])
