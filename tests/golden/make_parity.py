#!/usr/bin/python3
"""PyTorch references for tests/test_parity_torch.cpp, stored in tests/golden/data (the test reads
them there and needs no torch); regenerate them with

  for m in resnet18 resnet50 vgg16 alexnet googlenet; do /usr/bin/python3 tests/golden/make_parity.py forward tests/golden/data $m; done
  /usr/bin/python3 tests/golden/make_parity.py sgd tests/golden/data resnet18
  /usr/bin/python3 tests/golden/make_parity.py accuracy tests/golden/data resnet18

Weights, BatchNorm statistics and inputs are not stored: both sides compute them with the portable
generator of make_golden.py (tests/golden_values.h in C++), so the files are small.

  make_parity.py forward OUT_DIR MODEL  -> OUT_DIR/parity_forward_MODEL.safetensors: eval-mode "logits"
                                           of PyTorch float32 and "logits64" of the same float32
                                           weights and input computed in float64; metadata: sizes
  make_parity.py sgd OUT_DIR MODEL      -> OUT_DIR/parity_sgd_MODEL.safetensors: one training step of
                                           torch.optim.SGD (lr, momentum, weight_decay in the
                                           metadata) in float32: "labels", "loss", "grad/NAME" of
                                           every parameter, "after/NAME" of every parameter and
                                           buffer after the step, "momentum/NAME" (the optimizer's
                                           buffer); a tensor of more than SAMPLES elements holds
                                           SAMPLES evenly spaced ones, with "scale/KEY" = max |v|
  make_parity.py accuracy OUT_DIR MODEL -> OUT_DIR/parity_accuracy_MODEL.safetensors: "labels" of 64
                                           images (half of them the model's own top class, so top-1
                                           is neither 0 nor 1) and PyTorch's eval-mode top-1/top-5
                                           counts and summed cross-entropy in the metadata

Exit status 77 when torch or torchvision cannot be imported.
Deterministic: fixed seeds, one thread.
"""
import copy
import os
import sys

try:
    import torch
    import torch.nn.functional as F
    import torchvision
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"torch/torchvision unavailable: {e}", file=sys.stderr)
    sys.exit(77)

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from convert_torchvision import build, write_safetensors  # noqa: E402  (the same model builder and writer)
from make_golden import TRACKED, SAMPLES, portable_state, portable_tensor, sample_indices  # noqa: E402

# Batch 2, 10 classes; the smallest comfortable input of each model (every layer sees > 1 position
# where the model allows it; alexnet needs >= 63, vgg16 >= 32). vgg16 and alexnet keep their full
# classifiers (25088x4096 and 9216x4096: 134 M and 57 M parameters). weight_shift -1 gives the
# models without BatchNorm weights of about He's scale, so their activations do not fade away.
PARITY = {
    "resnet18": dict(batch=2, image_size=64, weight_shift=0, seed=11),
    "resnet50": dict(batch=2, image_size=64, weight_shift=0, seed=12),
    "vgg16": dict(batch=2, image_size=32, weight_shift=-1, seed=13),
    "alexnet": dict(batch=2, image_size=64, weight_shift=-1, seed=14),
    "googlenet": dict(batch=2, image_size=64, weight_shift=0, seed=15),
}
SGD = dict(lr=0.1, momentum=0.9, weight_decay=5e-4)
CLASSES = 10
IMAGES = 64  # accuracy mode


def make(model, batch):
    cfg = PARITY[model]
    torch.manual_seed(cfg["seed"])
    net = build(model, CLASSES)
    portable_state(net, cfg["weight_shift"])
    x = portable_tensor("input", (batch, 3, cfg["image_size"], cfg["image_size"]))
    labels = torch.randint(0, CLASSES, (batch,))
    return net, x, labels


def metadata(model, **extra):
    return dict(PARITY[model], model=model, num_classes=CLASSES, tracked=TRACKED, samples=SAMPLES,
                torch=torch.__version__, torchvision=torchvision.__version__, **extra)


def eval_logits(net, x, dtype):
    net = copy.deepcopy(net).to(dtype).eval()
    with torch.no_grad():
        return net(x.to(dtype)).float()


def forward(out_dir, model):
    net, x, _ = make(model, PARITY[model]["batch"])
    out = {"logits": eval_logits(net, x, torch.float32), "logits64": eval_logits(net, x, torch.float64)}
    write_safetensors(f"{out_dir}/parity_forward_{model}.safetensors", out, metadata(model))


def sampled(out, key, t):
    flat = t.detach().flatten()
    if flat.numel() > SAMPLES:
        out[f"scale/{key}"] = flat.abs().max()
        flat = flat[sample_indices(flat.numel())]
    out[key] = flat.clone()


def sgd(out_dir, model):
    net, x, labels = make(model, PARITY[model]["batch"])
    net.train()
    opt = torch.optim.SGD(net.parameters(), **SGD)
    opt.zero_grad()
    loss = F.cross_entropy(net(x), labels)
    loss.backward()
    out = {"labels": labels, "loss": loss.detach()}
    for name, p in net.named_parameters():
        sampled(out, f"grad/{name}", p.grad)
    opt.step()
    for name, t in net.state_dict().items():
        sampled(out, f"after/{name}", t)
    for name, p in net.named_parameters():
        sampled(out, f"momentum/{name}", opt.state[p]["momentum_buffer"])
    write_safetensors(f"{out_dir}/parity_sgd_{model}.safetensors", out, metadata(model, **SGD))


def accuracy(out_dir, model):
    net, x, labels = make(model, IMAGES)
    logits = eval_logits(net, x, torch.float32)
    labels[::2] = logits[::2].argmax(dim=1)
    top5 = logits.topk(5, dim=1).indices
    meta = metadata(model, images=IMAGES, top1_correct=int((logits.argmax(dim=1) == labels).sum()),
                    top5_correct=int((top5 == labels[:, None]).any(dim=1).sum()),
                    loss_sum=repr(float(F.cross_entropy(logits.double(), labels, reduction="sum"))))
    write_safetensors(f"{out_dir}/parity_accuracy_{model}.safetensors", {"labels": labels}, meta)


def main(argv):
    modes = {"forward": forward, "sgd": sgd, "accuracy": accuracy}
    if len(argv) != 4 or argv[1] not in modes or argv[3] not in PARITY:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    modes[argv[1]](argv[2], argv[3])


if __name__ == "__main__":
    main(sys.argv)
