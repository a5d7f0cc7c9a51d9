#!/usr/bin/python3
"""PyTorch references for tests/test_parity_torch.cpp. Run by the test with /usr/bin/python3.

  make_parity.py forward OUT_DIR MODEL  -> OUT_DIR/MODEL.pth: torchvision's random init (BatchNorm
                                           affine parameters and running statistics randomised, so
                                           eval-mode BN is not the identity), for
                                           scripts/convert_torchvision.py to convert;
                                           OUT_DIR/MODEL_input.safetensors: "input" [batch, 3, S, S]
                                           and random "labels";
                                           OUT_DIR/MODEL_torch.safetensors: eval-mode "logits" of
                                           PyTorch float32 and "logits64" of the same float32 weights
                                           and input computed in float64; metadata: sizes
  make_parity.py sgd OUT_DIR MODEL      -> as forward (MODEL.pth, MODEL_input.safetensors), and
                                           OUT_DIR/MODEL_torch.safetensors: one training step of
                                           torch.optim.SGD (lr, momentum, weight_decay in the
                                           metadata) in float32: "loss", "grad/NAME" of every
                                           parameter, "after/NAME" of every parameter and buffer after
                                           the step, "momentum/NAME" (the optimizer's buffer)
  make_parity.py accuracy OUT_DIR MODEL -> as forward, with 64 preprocessed images and "labels" in
                                           MODEL_input.safetensors (half of them the model's own top
                                           class, so top-1 is neither 0 nor 1), and PyTorch's eval-mode
                                           top-1/top-5 counts and summed cross-entropy in the metadata
                                           of MODEL_torch.safetensors

Exit status 77 when torch or torchvision cannot be imported (the test skips).
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
from make_golden import randomize_batchnorm  # noqa: E402

# Batch 2, 10 classes; the smallest comfortable input of each model (every layer sees > 1 position
# where the model allows it; alexnet needs >= 63, vgg16 >= 32). vgg16 and alexnet keep their full
# classifiers (25088x4096 and 9216x4096: 134 M and 57 M parameters, 537 and 228 MB as F32).
PARITY = {
    "resnet18": dict(batch=2, image_size=64, seed=11),
    "resnet50": dict(batch=2, image_size=64, seed=12),
    "vgg16": dict(batch=2, image_size=32, seed=13),
    "alexnet": dict(batch=2, image_size=64, seed=14),
    "googlenet": dict(batch=2, image_size=64, seed=15),
}
SGD = dict(lr=0.1, momentum=0.9, weight_decay=5e-4)
CLASSES = 10


def make(model):
    cfg = PARITY[model]
    torch.manual_seed(cfg["seed"])
    net = build(model, CLASSES)
    randomize_batchnorm(net, 3)
    x = torch.randn(cfg["batch"], 3, cfg["image_size"], cfg["image_size"])
    labels = torch.randint(0, CLASSES, (cfg["batch"],))
    return net, x, labels


def eval_logits(net, x, dtype):
    net = copy.deepcopy(net).to(dtype).eval()
    with torch.no_grad():
        return net(x.to(dtype)).float()


def write_common(out_dir, model, net, x, labels):
    torch.save(net.state_dict(), f"{out_dir}/{model}.pth")
    write_safetensors(f"{out_dir}/{model}_input.safetensors", {"input": x, "labels": labels}, {"model": model})


def forward(out_dir, model):
    net, x, labels = make(model)
    write_common(out_dir, model, net, x, labels)
    out = {"logits": eval_logits(net, x, torch.float32), "logits64": eval_logits(net, x, torch.float64)}
    meta = dict(PARITY[model], model=model, num_classes=CLASSES, torch=torch.__version__)
    write_safetensors(f"{out_dir}/{model}_torch.safetensors", out, meta)


def sgd(out_dir, model):
    net, x, labels = make(model)
    write_common(out_dir, model, net, x, labels)
    net.train()
    opt = torch.optim.SGD(net.parameters(), **SGD)
    opt.zero_grad()
    loss = F.cross_entropy(net(x), labels)
    loss.backward()
    out = {"loss": loss.detach()}
    for name, p in net.named_parameters():
        out[f"grad/{name}"] = p.grad.detach().clone()
    opt.step()
    for name, t in net.state_dict().items():
        out[f"after/{name}"] = t.clone()
    for name, p in net.named_parameters():
        out[f"momentum/{name}"] = opt.state[p]["momentum_buffer"].clone()
    meta = dict(PARITY[model], model=model, num_classes=CLASSES, torch=torch.__version__, **SGD)
    write_safetensors(f"{out_dir}/{model}_torch.safetensors", out, meta)


def accuracy(out_dir, model):
    net, _, _ = make(model)
    size = PARITY[model]["image_size"]
    # ImageNet-style preprocessing of random "images" in [0, 1]: the tensors inq_eval gets as input.
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (torch.rand(64, 3, size, size) - mean) / std
    logits = eval_logits(net, x, torch.float32)
    labels = torch.randint(0, CLASSES, (64,))
    labels[::2] = logits[::2].argmax(dim=1)
    write_common(out_dir, model, net, x, labels)
    top5 = logits.topk(5, dim=1).indices
    meta = dict(model=model, num_classes=CLASSES, image_size=size, batch=64,
                top1_correct=int((logits.argmax(dim=1) == labels).sum()),
                top5_correct=int((top5 == labels[:, None]).any(dim=1).sum()),
                loss_sum=repr(float(F.cross_entropy(logits.double(), labels, reduction="sum"))))
    write_safetensors(f"{out_dir}/{model}_torch.safetensors", {"logits": logits}, meta)


def main(argv):
    modes = {"forward": forward, "sgd": sgd, "accuracy": accuracy}
    if len(argv) != 4 or argv[1] not in modes or argv[3] not in PARITY:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    modes[argv[1]](argv[2], argv[3])


if __name__ == "__main__":
    main(sys.argv)
