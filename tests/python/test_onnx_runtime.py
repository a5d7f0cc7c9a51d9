"""The exported ONNX models in onnx and onnxruntime (project-local .venv/ from scripts/setup.sh), on
the files test_onnx_fixtures.cpp writes (resnet8 and resnet18, 4-bit INQ weights):

- every model passes the onnx checker (full check, with shape inference);
- onnxruntime's logits of the weight-only and fp32 models are within 1e-4 of inq's, relative to
  the largest logit;
- the int8 QDQ model runs as integer kernels (QLinearConv for every convolution, QGemm,
  QLinearAdd, QLinearGlobalAveragePool; nothing left in float but the input's QuantizeLinear and
  the logits' DequantizeLinear), and its logits equal the engine's integer reference (inq_eval
  --integer) to within one step of the output scale;
- the quantized-weight initializers are integers in range, 0 or +-2^j, with power-of-two scales
  (int8 model: |q| <= 64, per-channel scales, zero points 0), dequantizing to inq's weights.
"""
import json
import os
import sys
import unittest
from collections import Counter

import numpy as np

sys.path.insert(0, os.path.join(os.environ.get("INQ_SOURCE_DIR", "../.."), "scripts"))
import onnx_common as oc  # noqa: E402

try:
    import onnx
    from onnx import numpy_helper
    import onnxruntime  # noqa: F401
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"SKIPPED: no .venv ({e}); run scripts/setup.sh for onnx and onnxruntime")

FIXTURES = os.environ.get("INQ_ONNX_FIXTURES", "")
MODELS = ("resnet8", "resnet18")


def path(model, name):
    return os.path.join(FIXTURES, model, name)


def initializers(m):
    return {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}


def is_power_of_two_or_zero(q):
    a = np.abs(q.astype(np.int64))
    return bool(np.all((a == 0) | ((a & (a - 1)) == 0)))


class OnnxRuntime(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.isdir(FIXTURES):
            raise unittest.SkipTest("INQ_ONNX_FIXTURES not set: run through ctest (test_onnx_fixtures writes them)")

    def test_checker_accepts_every_model(self):
        for model in MODELS:
            for f in ("weights.onnx", "float.onnx", "int8.onnx", "int8_s8.onnx"):
                with self.subTest(model=model, file=f):
                    onnx.checker.check_model(onnx.load(path(model, f)), full_check=True)

    def test_logits_match_inq(self):
        for model in MODELS:
            x = oc.read_safetensors(path(model, "input.safetensors"))[0]["input"]
            ref = oc.read_safetensors(path(model, "logits.safetensors"))[0]["logits"]
            for f in ("weights.onnx", "float.onnx"):
                with self.subTest(model=model, file=f):
                    got = oc.run(oc.session(path(model, f)), x)
                    rel = np.abs(got - ref).max() / np.abs(ref).max()
                    self.assertLessEqual(rel, 1e-4, f"{model} {f}: max |ORT - inq| / max |inq| = {rel:.3g}")

    def test_int8_runs_integer_kernels_and_equals_the_reference(self):
        for model in MODELS:
            for f in ("int8.onnx", "int8_s8.onnx"):  # uint8 and int8 activations: the same values
                with self.subTest(model=model, file=f):
                    opt = path(model, f + ".optimized.onnx")
                    sess = oc.session(path(model, f), optimized_path=opt)
                    ops = Counter(n.op_type for n in onnx.load(opt).graph.node)
                    convs = sum(n.op_type == "Conv" for n in onnx.load(path(model, f)).graph.node)
                    self.assertEqual(ops["QLinearConv"], convs, ops)
                    self.assertEqual(ops["QGemm"], 1, ops)
                    self.assertEqual(ops["QLinearGlobalAveragePool"], 1, ops)
                    self.assertGreaterEqual(ops["QLinearAdd"], 3, ops)
                    float_ops = {"Conv", "Gemm", "Add", "MatMul", "GlobalAveragePool"} & set(ops)
                    self.assertFalse(float_ops, f"left in float: {ops}")
                    self.assertEqual(ops["QuantizeLinear"], 1, ops)
                    self.assertEqual(ops["DequantizeLinear"], 1, ops)

                    x = oc.read_safetensors(path(model, "input.safetensors"))[0]["input"]
                    ref = oc.read_safetensors(path(model, "int8_logits.safetensors"))[0]["logits"]
                    got = oc.run(sess, x)
                    scale = float(initializers(onnx.load(path(model, f)))["logits.scale"])
                    steps = np.abs(got - ref).max() / scale
                    print(f"{model} {f}: ORT vs integer reference: max {steps:.0f} output steps over {got.size} logits")
                    self.assertLessEqual(steps, 1.0 + 1e-3)

    def test_weight_initializers_are_exact_powers_of_two(self):
        for model in MODELS:
            st, _ = oc.read_safetensors(path(model, "model.safetensors"))
            m = onnx.load(path(model, "weights.onnx"))
            meta = {p.key: p.value for p in m.metadata_props}
            tensors = json.loads(meta["inq.tensors"])
            init = initializers(m)
            for name, spec in tensors.items():
                with self.subTest(model=model, tensor=name):
                    q, scale = init[name + ".q"], init[name + ".scale"]
                    self.assertEqual(q.dtype, np.int8 if spec["bits"] <= 4 else np.int16)
                    self.assertEqual(float(scale), 2.0 ** spec["n2"])
                    self.assertTrue(is_power_of_two_or_zero(q))
                    self.assertLessEqual(int(np.abs(q.astype(np.int64)).max()), 2 ** (2 ** (spec["bits"] - 2) - 1))
                    deq = (q.astype(np.float32) * scale).astype(np.float32)
                    self.assertTrue(np.array_equal(deq.view(np.uint32), st[name].view(np.uint32)))
            init8 = initializers(onnx.load(path(model, "int8.onnx")))
            for name in tensors:
                with self.subTest(model=model, int8_tensor=name):
                    q = init8[name + ".q"]
                    self.assertEqual(q.dtype, np.int8)
                    self.assertTrue(is_power_of_two_or_zero(q))
                    self.assertLessEqual(int(np.abs(q.astype(np.int64)).max()), 64)
                    self.assertFalse(np.any(init8[name + ".zero_point"]))
                    self.assertTrue(np.all(init8[name + ".scale"] > 0))


if __name__ == "__main__":
    unittest.main()
