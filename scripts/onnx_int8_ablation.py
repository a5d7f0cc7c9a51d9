#!/usr/bin/env python3
"""Where an int8 QDQ export (inq_export --format onnx --int8) loses accuracy: Fashion-MNIST test
top-1 of the weight-only model, of the int8 model with every activation QuantizeLinear /
DequantizeLinear pair removed (the folded int8 weights and int32 biases kept; a ReLU put back where
the quantization was the ReLU), and of the int8 model itself.

  .venv/bin/python scripts/onnx_int8_ablation.py INT8.onnx WEIGHTS.onnx [--limit N]
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_common as oc  # noqa: E402


def float_activations(model):
    """The model with activation Q/DQ removed (weights' and biases' DequantizeLinear kept)."""
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    quantized = {}  # Q output -> float tensor standing for it
    nodes = []
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear":
            zp = init[n.input[2]]
            lowest = np.iinfo(zp.dtype).min
            src = n.input[0]
            if int(zp) == lowest:  # a ReLU output: the quantization clamped at real 0
                nodes.append(helper.make_node("Relu", [src], [src + ".relu"]))
                src += ".relu"
            quantized[n.output[0]] = src
            continue
        nodes.append(n)
    rename, kept = {}, []
    for n in nodes:
        if n.op_type == "DequantizeLinear" and n.input[0] in quantized:
            rename[n.output[0]] = quantized[n.input[0]]
            continue
        kept.append(n)
    for n in kept:
        for i, name in enumerate(n.input):
            n.input[i] = rename.get(name, name)
    if "logits" in rename:
        kept.append(helper.make_node("Identity", [rename["logits"]], ["logits"]))
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("int8")
    ap.add_argument("weights")
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    x, y = oc.fmnist_test(a.limit)
    top1 = lambda path: float(np.mean(oc.run(oc.session(path), x).argmax(1) == y))  # noqa: E731
    with tempfile.TemporaryDirectory() as d:
        ablated = os.path.join(d, "float_activations.onnx")
        onnx.save(float_activations(onnx.load(a.int8)), ablated)
        print(f"{len(y)} test images, top-1 (argmax):")
        print(f"  weight-only model                      {100 * top1(a.weights):.2f}%")
        print(f"  int8 weights and biases, float activations  {100 * top1(ablated):.2f}%")
        print(f"  int8 model                              {100 * top1(a.int8):.2f}%")


if __name__ == "__main__":
    main()
