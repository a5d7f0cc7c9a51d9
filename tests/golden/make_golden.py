#!/usr/bin/python3
"""Reference data from PyTorch/torchvision for the C++ model tests (tests/test_models.cpp,
tests/test_golden_torch.cpp). Run by the tests with /usr/bin/python3 (Debian's torch 1.13 CPU).

  make_golden.py names  OUT_DIR MODELS  -> OUT_DIR/MODEL.txt for each of the comma-separated MODELS
                                           ('googlenet_aux': with aux classifiers): '#params N', then one
                                           line per state_dict entry: name, 'param'|'buffer', shape as
                                           comma-separated sizes (absent for scalars)
  make_golden.py golden OUT_DIR MODEL   -> OUT_DIR/MODEL.safetensors: labels, eval and train logits,
                                           loss, parameter gradients (grad/NAME: every element, or
                                           SAMPLES evenly spaced ones of a larger tensor, with
                                           scale/grad/NAME = max |g| over the whole tensor), buffers
                                           after the train forward (after/NAME), and PyTorch float32's
                                           own error on each of those (f32err/KEY)

The stored references the tests read are made with
  for m in resnet8 resnet18 googlenet; do /usr/bin/python3 tests/golden/make_golden.py golden tests/golden/data $m; done
Weights, BatchNorm statistics and the input are not stored: both sides compute them with the
portable generator below (tests/golden_values.h is its C++ twin), so a file is a few tens of kB.

Exit status 77 when torch or torchvision cannot be imported (the tests skip).
The golden reference runs in float64 from float32 weights and inputs, so it is exact for our
float32 implementation to compare against. Deterministic: fixed seeds, one thread.
"""
import copy
import os
import sys

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
    from torch_resnet8 import ResNet8
    from convert_torchvision import write_safetensors  # the same writer as the conversion script
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"torch/torchvision unavailable: {e}", file=sys.stderr)
    sys.exit(77)


def build(model, num_classes=1000, in_channels=3, dropout=None):
    m = torchvision.models
    if model == "resnet8":
        return ResNet8(num_classes, in_channels)
    if model in ("resnet18", "resnet34", "resnet50", "vgg16", "vgg16_bn", "alexnet"):
        kwargs = {"num_classes": num_classes}
        if dropout is not None and not model.startswith("resnet"):
            kwargs["dropout"] = dropout
        return getattr(m, model)(**kwargs)
    if model in ("googlenet", "googlenet_aux"):
        kwargs = {} if dropout is None else {"dropout": dropout}
        return m.googlenet(num_classes=num_classes, aux_logits=model == "googlenet_aux", init_weights=True,
                           transform_input=False, **kwargs)
    raise SystemExit(f"unknown model {model}")


def skip_initialisation():
    """Names and shapes need no values: skip the initialisers (VGG's take seconds)."""
    for fn in ("kaiming_normal_", "kaiming_uniform_", "normal_", "uniform_", "constant_", "trunc_normal_"):
        setattr(nn.init, fn, lambda tensor, *args, **kwargs: tensor)


def write_names(out_dir, model):
    net = build(model, num_classes=10 if model == "resnet8" else 1000, in_channels=1 if model == "resnet8" else 3)
    buffers = {name for name, _ in net.named_buffers()}
    lines = [f"#params {sum(p.numel() for p in net.parameters())}"]
    for name, t in net.state_dict().items():
        kind = "buffer" if name in buffers else "param"
        lines.append(f"{name} {kind} {','.join(str(d) for d in t.shape)}")
    with open(f"{out_dir}/{model}.txt", "w") as f:
        f.write("\n".join(lines) + "\n")


# ---- the portable generator: the same float32 values in C++ (tests/golden_values.h)

SAMPLES = 128  # gradient elements stored per tensor (all of a smaller one)
TRACKED = 5    # num_batches_tracked before the training forward


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def portable_uniform(name, n, chunk=1 << 22):
    """n values in [0, 1), multiples of 2^-24: splitmix64 over (FNV-1a of the name, element index)."""
    seed, out = np.uint64(fnv1a64(name)), np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk):  # in pieces: VGG's largest tensor has 103 M elements
        i = np.arange(start + 1, min(n, start + chunk) + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            z = seed + i * np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        out[start:start + len(i)] = (z >> np.uint64(40)).astype(np.float64) * 2.0 ** -24
    return out


def portable_range(name, shape, weight_shift=0):
    """[lo, lo + width) by the tensor's role; every bound a power of two or a small dyadic, so that
    lo + width * u is exact in double and the only rounding is the one to float32. Convolution and
    linear weights lie within 2^-(e + weight_shift), 2^-e ~ 1/sqrt(fan_in)."""
    if name == "input":
        return -2.0, 4.0
    if name.endswith("running_var"):
        return 0.5, 2.0
    if name.endswith("running_mean") or name.endswith("bias"):
        return -0.25, 0.5
    if len(shape) == 1:  # a BatchNorm weight (conv and linear weights have 2 or more dimensions)
        return 0.5, 1.0
    fan_in = 1
    for d in shape[1:]:
        fan_in *= d
    e = (fan_in.bit_length() - 1) // 2 + weight_shift
    return -(2.0 ** -e), 2.0 ** (1 - e)


def portable_tensor(name, shape, weight_shift=0):
    n = 1
    for d in shape:
        n *= d
    lo, width = portable_range(name, list(shape), weight_shift)
    return torch.from_numpy((lo + width * portable_uniform(name, n)).astype(np.float32)).reshape(shape)


def portable_state(net, weight_shift):
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(TRACKED)
            else:
                t.copy_(portable_tensor(name, tuple(t.shape), weight_shift))


def sample_indices(n):
    return list(range(n)) if n <= SAMPLES else [j * n // SAMPLES for j in range(SAMPLES)]


# Per model: input [batch, channels, size, size] chosen so every layer runs on more than one
# position (odd sizes hit the padding and ceil_mode edges), classes 10, dropout off. weight_shift
# makes the weights smaller: GoogLeNet's, near torchvision's std-0.01 initialisation, keep its
# float32 gradients well-conditioned at batch 2 (with shift 2 a near-tie in this batch left ours at
# 1e-2 of the float64 reference and PyTorch's at 4e-3; with 3, one tensor needs the normwise bound).
GOLDEN = {
    "resnet8": dict(batch=4, in_channels=1, image_size=28, weight_shift=0, seed=1234),
    "resnet18": dict(batch=3, in_channels=3, image_size=40, weight_shift=0, seed=1234),
    # 48x48: every ceil_mode max-pool has a partial last window; inception5 runs at 2x2.
    "googlenet": dict(batch=2, in_channels=3, image_size=48, weight_shift=3, seed=5),
}


def relative_error(ours, exact):
    """The metric of tests/test_golden_torch.cpp: max_i |a_i - b_i| / (|b_i| + 1e-2 * max_j |b_j|)."""
    ours, exact = ours.double().flatten(), exact.double().flatten()
    floor = max(1e-2 * exact.abs().max().item(), 1e-30)
    return ((ours - exact).abs() / (exact.abs() + floor)).max().item()


def run(net, x, labels, dtype):
    """Eval logits, then a training step: train logits, loss, gradients, buffers after."""
    net = net.to(dtype)
    out = {}
    with torch.no_grad():
        net.eval()
        out["eval_logits"] = net(x.to(dtype))
    net.train()
    logits = net(x.to(dtype))
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    out["train_logits"] = logits
    out["loss"] = loss
    buffers = {name for name, _ in net.named_buffers()}
    for name, p in net.named_parameters():
        out[f"grad/{name}"] = p.grad
    for name, t in net.state_dict().items():
        if name in buffers:
            out[f"after/{name}"] = t
    return {k: v.detach() for k, v in out.items()}


def write_golden(out_dir, model):
    cfg = GOLDEN[model]
    torch.manual_seed(cfg["seed"])
    net = build(model, num_classes=10, in_channels=cfg["in_channels"], dropout=0.0)
    portable_state(net, cfg["weight_shift"])
    x = portable_tensor("input", (cfg["batch"], cfg["in_channels"], cfg["image_size"], cfg["image_size"]))
    labels = torch.randint(0, 10, (cfg["batch"],))
    # The reference is float64. PyTorch's own float32 error against it is saved per tensor: where
    # a tensor is ill-conditioned (a max-pool near-tie or ReLU sign flip moves the gradient, or
    # BatchNorm's backward cancels), float32 cannot do better, and the test scales its tolerance.
    exact = run(copy.deepcopy(net), x, labels, torch.float64)
    single = run(net, x, labels, torch.float32)
    out = {"labels": labels}
    for k, v in exact.items():
        if not k.endswith("num_batches_tracked"):
            out[f"f32err/{k}"] = torch.tensor(relative_error(single[k], v))
        if k.startswith("grad/"):
            flat = v.flatten()
            out[f"scale/{k}"] = flat.abs().max()
            v = flat[sample_indices(flat.numel())]
        out[k] = v
    meta = {k: v for k, v in cfg.items() if k != "seed"}
    meta.update(model=model, num_classes=10, tracked=TRACKED, samples=SAMPLES, torch=torch.__version__,
                torchvision=torchvision.__version__)
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(f"{out_dir}/{model}.safetensors", out, meta)


def main(argv):
    if len(argv) != 4 or argv[1] not in ("names", "golden"):
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    mode, out_dir, model = argv[1:]
    if mode == "names":
        skip_initialisation()
        for name in model.split(","):
            write_names(out_dir, name)
    else:
        if model not in GOLDEN:
            raise SystemExit(f"no golden configuration for {model}: one of {sorted(GOLDEN)}")
        write_golden(out_dir, model)


if __name__ == "__main__":
    main(sys.argv)
