#!/usr/bin/python3
"""Reference data from PyTorch/torchvision for the C++ model tests (tests/test_models.cpp,
tests/test_golden_torch.cpp). Run by the tests with /usr/bin/python3 (Debian's torch 1.13 CPU).

  make_golden.py names  OUT_DIR MODELS  -> OUT_DIR/MODEL.txt for each of the comma-separated MODELS
                                           ('googlenet_aux': with aux classifiers): '#params N', then one
                                           line per state_dict entry: name, 'param'|'buffer', shape as
                                           comma-separated sizes (absent for scalars)
  make_golden.py golden OUT_DIR MODEL   -> OUT_DIR/MODEL.safetensors: initial state (init/NAME), input,
                                           labels, eval and train logits, loss, parameter gradients
                                           (grad/NAME), buffers after the train forward (after/NAME), and
                                           PyTorch float32's own error on each of those (f32err/KEY)

Exit status 77 when torch or torchvision cannot be imported (the tests skip).
The golden reference runs in float64 from float32 weights and inputs, so it is exact for our
float32 implementation to compare against. Deterministic: fixed seeds, one thread.
"""
import copy
import os
import sys

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


def randomize_batchnorm(net, tracked):
    """Random affine parameters and running statistics, so that BatchNorm is not the identity."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(tracked)


# Per model: input [batch, channels, size, size] chosen so every layer runs on more than one
# position (odd sizes hit the padding and ceil_mode edges), classes 10, dropout off.
GOLDEN = {
    "resnet8": dict(batch=4, in_channels=1, image_size=28, seed=1234),
    "resnet18": dict(batch=3, in_channels=3, image_size=40, seed=1234),
    # 48x48: every ceil_mode max-pool has a partial last window; inception5 runs at 2x2.
    "googlenet": dict(batch=2, in_channels=3, image_size=48, seed=5),
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
    randomize_batchnorm(net, 5)
    x = torch.randn(cfg["batch"], cfg["in_channels"], cfg["image_size"], cfg["image_size"])
    labels = torch.randint(0, 10, (cfg["batch"],))
    out = {f"init/{k}": v.clone() for k, v in net.state_dict().items()}
    out["input"] = x
    out["labels"] = labels
    # The reference is float64. PyTorch's own float32 error against it is saved per tensor: where
    # a tensor is ill-conditioned (a max-pool near-tie or ReLU sign flip moves the gradient, or
    # BatchNorm's backward cancels), float32 cannot do better, and the test scales its tolerance.
    exact = run(copy.deepcopy(net), x, labels, torch.float64)
    single = run(net, x, labels, torch.float32)
    out.update(exact)
    for k, v in exact.items():
        if not k.endswith("num_batches_tracked"):
            out[f"f32err/{k}"] = torch.tensor(relative_error(single[k], v))
    meta = {k: v for k, v in cfg.items() if k != "seed"}
    meta.update(model=model, num_classes=10, torch=torch.__version__, torchvision=torchvision.__version__)
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
