// Writes the files tests/python/test_onnx_runtime.py checks with onnx and onnxruntime (ctest
// fixture "onnx_files"), for resnet8 (1x28x28) and resnet18 (3x224x224), 10 classes, 4-bit INQ
// weights, random BatchNorm statistics, into INQ_BINARY_DIR/onnx_fixtures/<model>/:
//   model.safetensors   the INQ model file          input.safetensors   random images "input"
//   logits.safetensors  the engine's eval logits    weights.onnx, float.onnx
//   int8.onnx (uint8 activations), int8_s8.onnx (int8 activations): the integer-only model
//   int8_logits.safetensors  the integer reference's dequantized logits (parameters of int8.onnx)
// The integer model is calibrated (min/max) on 3 batches of 4 random images.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/export/export_graph.h"
#include "core/export/int8_eval.h"
#include "core/export/int8_model.h"
#include "core/export/onnx_export.h"
#include "core/io/safetensors.h"
#include "core/train/evaluate.h"
#include "tests/model_test_util.h"
#include "tests/onnx_test_util.h"

namespace inq {
namespace {

namespace fs = std::filesystem;

void write_fixture(const ModelOptions& mo, int64_t n) {
  const fs::path dir = fs::path(INQ_BINARY_DIR) / "onnx_fixtures" / mo.name;
  fs::create_directories(dir);
  InqModelSource src = test::quantized_source(mo, 4, 21);
  test::write_model_file((dir / "model.safetensors").string(), src);
  const ExportGraph g = build_export_graph(*src.net);
  const std::vector<float> x = test::random_images(*src.net, n, 5);
  const Shape chw = src.net->input_chw();
  SafeTensorsWriter in;
  in.add_f32("input", {n, chw[0], chw[1], chw[2]}, x.data());
  in.write((dir / "input.safetensors").string());
  SafeTensorsWriter lw;
  lw.add_f32("logits", {n, src.net->num_classes()}, eval_logits(*src.net, x.data(), n).data());
  lw.write((dir / "logits.safetensors").string());

  export_onnx(src, g, {}, (dir / "weights.onnx").string());
  OnnxExportOptions f;
  f.mode = OnnxExportOptions::Mode::Float;
  export_onnx(src, g, f, (dir / "float.onnx").string());

  Int8Model m = make_int8_model(src, g);
  Int8Calibration c;
  c.batches = 3;
  uint64_t seed = 50;
  calibrate_int8(m, c, [&](std::vector<float>& images) -> int64_t {
    images = test::random_images(*src.net, 4, seed++);
    return 4;
  });
  OnnxExportOptions i8;
  i8.mode = OnnxExportOptions::Mode::Int8;
  i8.int8 = &m;
  export_onnx(src, g, i8, (dir / "int8.onnx").string());
  i8.uint8_activations = false;
  export_onnx(src, g, i8, (dir / "int8_s8.onnx").string());
  // The reference as inq_eval --integer runs it: parameters read back from the file.
  const auto ref = load_int8_reference((dir / "model.safetensors").string(), (dir / "int8.onnx").string());
  SafeTensorsWriter iw;
  iw.add_f32("logits", {n, src.net->num_classes()}, int8_logits(ref->model, x.data(), n, n).data());
  iw.write((dir / "int8_logits.safetensors").string());
}

TEST(OnnxFixtures, Resnet8) {
  write_fixture(test::resnet8_options(), 16);
}

TEST(OnnxFixtures, Resnet18) {
  ModelOptions mo;
  mo.name = "resnet18";
  mo.num_classes = 10;
  mo.image_size = 224;
  write_fixture(mo, 2);
}

}  // namespace
}  // namespace inq
