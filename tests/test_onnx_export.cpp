// ONNX export (core/export): every zoo model's weights survive the ONNX file bit for bit as
// integers times a power-of-two scale (int8/int16/int32 by bit-width); --float keeps every tensor;
// bad input (schedule short of sigma = 1, no INQ metadata, unknown format, missing output
// directory) is refused with the reason and leaves no file; the integer model's weights are
// shifts and its folded float graph computes the engine's logits. onnxruntime itself is exercised
// by tests/python/test_onnx_runtime.py on the files test_onnx_fixtures.cpp writes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <string>

#include <onnx/onnx_pb.h>

#include "core/export/export_graph.h"
#include "core/export/int8_model.h"
#include "core/export/onnx_export.h"
#include "core/train/evaluate.h"
#include "tests/model_test_util.h"
#include "tests/onnx_test_util.h"
#include "tests/test_util.h"

namespace inq {
namespace {

namespace fs = std::filesystem;

onnx::ModelProto parse(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromIstream(&f)) << path;
  return m;
}

std::map<std::string, const onnx::TensorProto*> initializers(const onnx::ModelProto& m) {
  std::map<std::string, const onnx::TensorProto*> out;
  for (const auto& t : m.graph().initializer()) out[t.name()] = &t;
  return out;
}

std::vector<float> as_float(const onnx::TensorProto& t) {
  const std::string& r = t.raw_data();
  std::vector<float> v(r.size() / 4);
  std::memcpy(v.data(), r.data(), r.size());
  return v;
}

// The integers of an int8/int16/int32 initializer.
std::vector<int32_t> as_int(const onnx::TensorProto& t) {
  const std::string& r = t.raw_data();
  std::vector<int32_t> v;
  v.reserve(r.size());
  if (t.data_type() == onnx::TensorProto::INT8) {
    for (char c : r) v.push_back(int8_t(c));
  } else if (t.data_type() == onnx::TensorProto::INT16) {
    for (size_t i = 0; i < r.size(); i += 2) {
      int16_t x;
      std::memcpy(&x, r.data() + i, 2);
      v.push_back(x);
    }
  } else if (t.data_type() == onnx::TensorProto::INT32) {
    for (size_t i = 0; i < r.size(); i += 4) {
      int32_t x;
      std::memcpy(&x, r.data() + i, 4);
      v.push_back(x);
    }
  }
  return v;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct ZooCase {
  const char* name;
  int in_channels, image_size, bits;
};

void PrintTo(const ZooCase& c, std::ostream* os) { *os << c.name << " at " << c.bits << " bits"; }

class OnnxZoo : public testing::TestWithParam<ZooCase> {};

TEST_P(OnnxZoo, WeightsRoundTripBitForBit) {
  const ZooCase c = GetParam();
  ModelOptions mo;
  mo.name = c.name;
  mo.num_classes = 10;
  mo.in_channels = c.in_channels;
  mo.image_size = c.image_size;
  const InqModelSource src = test::quantized_source(mo, c.bits, 3);
  const ExportGraph g = build_export_graph(*src.net);
  const fs::path dir = test::make_temp_dir("onnx_zoo_");
  const std::string path = (dir / "m.onnx").string();
  const OnnxExportReport r = export_onnx(src, g, {}, path);
  EXPECT_EQ(r.integer_tensors, int(src.tensors.size()));
  EXPECT_EQ(r.float_tensors, 0);
  EXPECT_EQ(r.bytes, fs::file_size(path));

  const onnx::ModelProto m = parse(path);
  const auto init = initializers(m);
  const int expected_type = c.bits <= 4   ? onnx::TensorProto::INT8
                            : c.bits == 5 ? onnx::TensorProto::INT16
                                          : onnx::TensorProto::INT32;
  for (const auto& [name, info] : src.tensors) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(init.count(name + ".q") && init.count(name + ".scale"));
    const onnx::TensorProto& q = *init.at(name + ".q");
    EXPECT_EQ(q.data_type(), expected_type);
    const float scale = as_float(*init.at(name + ".scale")).at(0);
    int e = 0;
    EXPECT_EQ(std::frexp(scale, &e), 0.5f) << "scale " << scale << " is not a power of two";
    const std::vector<float> w = src.net->get(name);
    const std::vector<int32_t> ints = as_int(q);
    ASSERT_EQ(ints.size(), w.size());
    size_t not_power = 0, differ = 0;
    for (size_t i = 0; i < ints.size(); ++i) {
      const uint32_t a = uint32_t(std::abs(ints[i]));
      not_power += a != 0 && (a & (a - 1)) != 0;
      const float d = float(ints[i]) * scale;  // exact: a power of two times a power of two
      differ += std::memcmp(&d, &w[i], sizeof(float)) != 0;
    }
    EXPECT_EQ(not_power, 0u) << "integers that are not 0 or +-2^j";
    EXPECT_EQ(differ, 0u) << "weights that differ from inq's";
  }
  // Float tensors (BatchNorm, biases) as they are; one ONNX node per graph node plus the dequantizations.
  for (const GraphNode& n : g.nodes) {
    if (!n.bias.empty()) {
      EXPECT_TRUE(bit_equal(as_float(*init.at(n.bias)), src.net->get(n.bias))) << n.bias;
    }
    if (n.bn.empty()) continue;
    for (const char* p : {".weight", ".bias", ".running_mean", ".running_var"}) {
      EXPECT_TRUE(bit_equal(as_float(*init.at(n.bn + p)), src.net->get(n.bn + p))) << n.bn << p;
    }
  }
  EXPECT_EQ(m.graph().node_size(), int(g.nodes.size() + src.tensors.size()));
  bool has_tensors_meta = false;
  for (const auto& p : m.metadata_props()) has_tensors_meta |= p.key() == "inq.tensors";
  EXPECT_TRUE(has_tensors_meta);
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(EveryModel, OnnxZoo,
                         // Every storage type: int8 (b <= 4), int16 (5), int32 (6; 7 and 8 with the
                         // scale raised). The big models get int8, which keeps this test quick.
                         testing::Values(ZooCase{"resnet8", 1, 28, 2}, ZooCase{"resnet18", 3, 64, 5},
                                         ZooCase{"resnet34", 3, 64, 6}, ZooCase{"resnet50", 3, 64, 7},
                                         ZooCase{"vgg16", 3, 224, 4}, ZooCase{"vgg16_bn", 3, 224, 3},
                                         ZooCase{"alexnet", 3, 224, 2}, ZooCase{"googlenet", 3, 64, 8}),
                         [](const testing::TestParamInfo<ZooCase>& i) { return std::string(i.param.name); });

TEST(OnnxExport, FloatModeWritesEveryTensorAsFp32) {
  const InqModelSource src = test::quantized_source(test::resnet8_options(), 4, 1);
  const fs::path dir = test::make_temp_dir("onnx_float_");
  OnnxExportOptions o;
  o.mode = OnnxExportOptions::Mode::Float;
  const OnnxExportReport r = export_onnx(src, build_export_graph(*src.net), o, (dir / "f.onnx").string());
  EXPECT_EQ(r.integer_tensors, 0);
  const onnx::ModelProto model = parse((dir / "f.onnx").string());
  const auto init = initializers(model);
  for (const auto& e : src.net->entries()) {
    if (e.name.find("num_batches_tracked") != std::string::npos) continue;
    ASSERT_TRUE(init.count(e.name)) << e.name;
    EXPECT_EQ(init.at(e.name)->data_type(), onnx::TensorProto::FLOAT);
    EXPECT_TRUE(bit_equal(as_float(*init.at(e.name)), src.net->get(e.name))) << e.name;
  }
  fs::remove_all(dir);
}

TEST(OnnxExport, ScheduleShortOfSigmaOneIsRefusedNamingTheTensors) {
  const InqModelSource src = test::quantized_source(test::resnet8_options(), 4, 1, 0.5);
  const ExportGraph g = build_export_graph(*src.net);
  const fs::path dir = test::make_temp_dir("onnx_partial_");
  const std::string path = (dir / "p.onnx").string();
  try {
    export_onnx(src, g, {}, path);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("sigma = 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("layer2.0.conv1.weight (2304 of 4608 frozen)"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(fs::is_empty(dir)) << "a refused export left a file behind";
  OnnxExportOptions o;
  o.allow_float = true;
  const OnnxExportReport r = export_onnx(src, g, o, path);
  EXPECT_EQ(r.integer_tensors, 0);
  EXPECT_EQ(r.kept_float.size(), src.tensors.size());
  fs::remove_all(dir);
}

TEST(OnnxExport, ModelWithoutInqMetadataNeedsFloat) {
  InqModelSource src = test::quantized_source(test::resnet8_options(), 4, 1);
  src.has_inq = false;
  src.tensors.clear();
  const ExportGraph g = build_export_graph(*src.net);
  const fs::path dir = test::make_temp_dir("onnx_nometa_");
  EXPECT_THROW(export_onnx(src, g, {}, (dir / "x.onnx").string()), std::runtime_error);
  EXPECT_TRUE(fs::is_empty(dir));
  OnnxExportOptions o;
  o.mode = OnnxExportOptions::Mode::Float;
  EXPECT_NO_THROW(export_onnx(src, g, o, (dir / "x.onnx").string()));
  fs::remove_all(dir);
}

TEST(OnnxExport, WeightOffItsLevelsIsRefused) {
  const InqModelSource src = test::quantized_source(test::resnet8_options(), 4, 1);
  std::vector<float> w = src.net->get("layer1.0.conv2.weight");
  w[5] = 0.3f;  // not a power of two
  src.net->set("layer1.0.conv2.weight", w);
  const fs::path dir = test::make_temp_dir("onnx_offlevel_");
  try {
    export_onnx(src, build_export_graph(*src.net), {}, (dir / "x.onnx").string());
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("layer1.0.conv2.weight[5]"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

TEST(Int8Model, WeightsAreShiftsAndTheFoldedGraphComputesTheEngineLogits) {
  const InqModelSource src = test::quantized_source(test::resnet8_options(), 4, 5);
  const ExportGraph g = build_export_graph(*src.net);
  Int8Model m = make_int8_model(src, g);
  EXPECT_EQ(m.weights_zeroed(), 0);  // 4 bits: at most 4 exponents per channel
  int convs = 0;
  for (const QNode& q : m.nodes) {
    if (q.op == QOp::Conv) ++convs;
    for (int8_t v : q.w_q) {
      const int a = std::abs(int(v));
      EXPECT_TRUE(a == 0 || ((a & (a - 1)) == 0 && a <= 64)) << q.name << ": " << a;
    }
  }
  EXPECT_EQ(convs, 9);  // every BatchNorm and ReLU folded away
  const int64_t n = 4;
  const std::vector<float> x = test::random_images(*src.net, n, 11);
  const std::vector<float> engine = eval_logits(*src.net, x.data(), n);
  const std::vector<float> folded = int8_model_float_forward(m, x.data(), n);
  float max_abs = 0, max_diff = 0;
  for (size_t i = 0; i < engine.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(engine[i]));
    max_diff = std::max(max_diff, std::fabs(engine[i] - folded[i]));
  }
  EXPECT_LE(max_diff, 1e-4f * max_abs);

  // Calibrated on random batches, the integer logits follow the float ones.
  int batches = 0;
  Int8Calibration c;
  c.batches = 3;
  calibrate_int8(m, c, [&](std::vector<float>& images) -> int64_t {
    images = test::random_images(*src.net, 8, 100 + uint64_t(batches++));
    return 8;
  });
  EXPECT_EQ(m.calibration.batches, 3);
  const std::vector<float> integer = int8_dequantize_logits(m, int8_reference_forward(m, x.data(), n));
  double num = 0, den = 0;
  for (size_t i = 0; i < integer.size(); ++i) {
    num += (integer[i] - folded[i]) * (integer[i] - folded[i]);
    den += folded[i] * folded[i];
  }
  EXPECT_LT(std::sqrt(num / den), 0.1);
  EXPECT_EQ(m.qparams(g.nodes[2].output).zero_point, -128);  // conv1+bn1+relu: ReLU is the clamp at -128
}

TEST(Int8Model, ConcatInputsShareTheOutputParameters) {
  ModelOptions mo;
  mo.name = "googlenet";
  mo.num_classes = 10;
  mo.image_size = 64;
  const InqModelSource src = test::quantized_source(mo, 4, 2);
  Int8Model m = make_int8_model(src, build_export_graph(*src.net));
  Int8Calibration c;
  c.batches = 1;
  c.method = "percentile";
  calibrate_int8(m, c, [&](std::vector<float>& images) -> int64_t {
    images = test::random_images(*src.net, 2, 9);
    return 2;
  });
  int concats = 0;
  for (const QNode& q : m.nodes) {
    if (q.op != QOp::Concat) continue;
    ++concats;
    for (int v : q.inputs) {
      EXPECT_EQ(m.qparams(v).scale, m.qparams(q.output).scale) << q.name;
      EXPECT_EQ(m.qparams(v).zero_point, m.qparams(q.output).zero_point) << q.name;
    }
  }
  EXPECT_EQ(concats, 9);
  const std::vector<float> x = test::random_images(*src.net, 1, 4);
  EXPECT_EQ(int8_reference_forward(m, x.data(), 1).size(), 10u);
}

// inq_export's command line: the reason and exit code 2 for bad input, no file left behind.
class InqExportCli : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("inq_export_cli_");
    const InqModelSource full = test::quantized_source(test::resnet8_options(), 3, 1);
    test::write_model_file((dir_ / "full.safetensors").string(), full);
    test::write_model_file((dir_ / "plain.safetensors").string(), full, false);
    const InqModelSource half = test::quantized_source(test::resnet8_options(), 3, 1, 0.5);
    test::write_model_file((dir_ / "half.safetensors").string(), half);
    std::ofstream(dir_ / "data.json") << R"({"device": "cpu", "threads": 1,
      "model": {"name": "resnet8", "in_channels": 1, "image_size": 28, "num_classes": 10},
      "data": {"dataset": "synthetic", "synthetic": {"size": 64, "test_size": 16}, "workers": 1},
      "train": {"epochs": 1, "batch_size": 16}})";
  }
  void TearDown() override { fs::remove_all(dir_); }
  test::CommandResult run(const std::string& args) {
    return test::run_captured(std::string(INQ_BINARY_DIR) + "/bin/inq_export " + args, dir_);
  }
  std::string p(const char* name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(InqExportCli, BadInputIsExitCode2WithTheReason) {
  auto r = run(p("full.safetensors") + " " + p("o.onnx") + " --format tflite");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown format 'tflite'"), std::string::npos) << r.err;
  r = run(p("plain.safetensors") + " " + p("o.onnx") + " --format onnx");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no \"inq\" metadata"), std::string::npos) << r.err;
  r = run(p("half.safetensors") + " " + p("o.onnx") + " --format onnx");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("fc.weight (320 of 640 frozen)"), std::string::npos) << r.err;
  r = run(p("full.safetensors") + " " + p("missing/o.onnx") + " --format onnx");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "o.onnx"));
}

TEST_F(InqExportCli, WritesWeightsFloatAndInt8Models) {
  auto r = run(p("full.safetensors") + " " + p("w.onnx") + " --format onnx");
  EXPECT_EQ(r.code, 0) << r.err;
  r = run(p("plain.safetensors") + " " + p("f.onnx") + " --format onnx --float");
  EXPECT_EQ(r.code, 0) << r.err;
  r = run(p("full.safetensors") + " " + p("i.onnx") + " --format onnx --int8 --config " + p("data.json") +
          " --calib-batches 2 --calib-method percentile --calib-percentile 99.9");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("calibrated on 2 batches (percentile)"), std::string::npos) << r.out;
  for (const char* f : {"w.onnx", "f.onnx", "i.onnx"}) EXPECT_GT(fs::file_size(dir_ / f), 10000u) << f;
  EXPECT_LT(fs::file_size(dir_ / "w.onnx"), fs::file_size(dir_ / "f.onnx"));
}

}  // namespace
}  // namespace inq
