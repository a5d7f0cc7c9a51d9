// Baseline quantisers end to end on the CPU (resnet8, synthetic data, from a tiny FP32 run's
// weights): every method trains, its written model holds q(W) and passes inq_check while the
// checkpoint keeps the latent weights; a tampered model fails inq_check naming the tensor; an
// interrupted and resumed run is bit-identical to a straight one; bad quant configs are
// ConfigErrors naming the key.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/io/safetensors.h"
#include "core/quant/quant_model_file.h"
#include "core/train/train_config.h"
#include "core/train/trainer.h"
#include "tests/train_test_util.h"

namespace inq {
namespace {

namespace fs = std::filesystem;
using test::file_contents;
using test::read_metrics;

const std::string kBin = std::string(INQ_BINARY_DIR) + "/bin/";

// resnet8 on 128 synthetic images, batch 32, 2 epochs: 8 steps.
nlohmann::json base_config() {
  nlohmann::json j = test::resnet8_synthetic_config();
  j["train"]["epochs"] = 2;
  return j;
}

class QuantTrain : public test::Fp32TrainedSuite {
 protected:
  static void SetUpTestSuite() { train_fp32("inq_quant_train_", test::resnet8_fp32_config()); }
  static nlohmann::json quant_config(const nlohmann::json& quant) {
    nlohmann::json j = base_config();
    j["init"]["weights"] = init_;
    j["quant"] = quant;
    return j;
  }
};

struct Case {
  nlohmann::json quant;
  size_t max_values;  // distinct values a tensor may hold
};

TEST_F(QuantTrain, EveryMethodWritesAModelInItsLevelSetsAndKeepsLatentWeightsInTheCheckpoint) {
  const std::vector<Case> cases = {{{{"method", "bwn"}}, 2},
                                   {{{"method", "twn"}}, 3},
                                   {{{"method", "uniform"}, {"bits", 2}}, 3},
                                   {{{"method", "uniform"}, {"bits", 4}}, 15}};
  for (const auto& c : cases) {
    const std::string name = c.quant["method"].get<std::string>() + std::to_string(c.max_values);
    SCOPED_TRACE(name);
    Trainer t(Config(quant_config(c.quant)), quiet(name));
    const TrainSummary sum = t.run();
    ASSERT_TRUE(sum.completed);
    ASSERT_EQ(sum.epochs.size(), 2u);
    EXPECT_GT(sum.epochs.back().test.top1, 0.0);
    const std::string model = (root_ / name / "model.safetensors").string();
    const SafeTensorsFile file(model);
    const auto reports = check_quant_levels(file);
    ASSERT_EQ(reports.size(), 10u);  // resnet8's conv and linear weights
    for (const auto& r : reports) {
      EXPECT_EQ(r.violations, 0) << r.name;
      EXPECT_LE(r.values.size(), c.max_values) << r.name;
      EXPECT_GE(r.values.size(), 2u) << r.name;
      EXPECT_EQ(quant_method_name(r.spec.method), c.quant["method"].get<std::string>());
    }
    // The checkpoint holds the latent weights, which are not in the level set.
    const SafeTensorsFile ckpt((root_ / name / "checkpoint.safetensors").string());
    const auto spec = read_quant_specs(file).at("layer1.0.conv1.weight");
    int64_t off_level = 0;
    for (float v : ckpt.read_f32("layer1.0.conv1.weight")) off_level += !quant_is_level(spec.method, spec.bits, v, spec.params);
    EXPECT_GT(off_level, 0);
    // inq_check passes on it, and BatchNorm and biases were not quantised.
    int code = -1;
    const std::string out = test::run_command(kBin + "inq_check " + model + " 2>&1", &code);
    EXPECT_EQ(code, 0) << out;
    EXPECT_NE(out.find("every weight is in its level set"), std::string::npos) << out;
    EXPECT_EQ(out.find("bn1"), std::string::npos) << out;
  }
}

// Overwrites element `index` of tensor `name` (F32) in place in a safetensors file.
void poke(const std::string& path, const std::string& name, int64_t index, float value) {
  uint64_t header = 0;
  {
    std::ifstream f(path, std::ios::binary);
    f.read(reinterpret_cast<char*>(&header), 8);
  }
  const uint64_t begin = SafeTensorsFile(path).info(name).begin;
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(std::streamoff(8 + header + begin + uint64_t(index) * 4));
  f.write(reinterpret_cast<const char*>(&value), 4);
  ASSERT_TRUE(f.good());
}

TEST_F(QuantTrain, CheckFailsNamingTheTensorWithAValueOffItsLevelSet) {
  for (const auto& quant : {nlohmann::json{{"method", "twn"}}, nlohmann::json{{"method", "uniform"}, {"bits", 3}}}) {
    const std::string name = "tamper_" + quant["method"].get<std::string>();
    SCOPED_TRACE(name);
    nlohmann::json cfg = quant_config(quant);
    cfg["train"]["epochs"] = 1;
    Trainer t(Config(cfg), quiet(name));
    ASSERT_TRUE(t.run().completed);
    const std::string model = (root_ / name / "model.safetensors").string();
    const float v = SafeTensorsFile(model).read_f32("layer2.0.conv1.weight")[3];
    poke(model, "layer2.0.conv1.weight", 3, v == 0.0f ? 1e-3f : v * 0.75f);
    int code = -1;
    const std::string out = test::run_command(kBin + "inq_check " + model + " 2>&1", &code);
    EXPECT_EQ(code, 1) << out;
    const size_t line = out.find("layer2.0.conv1.weight");
    ASSERT_NE(line, std::string::npos) << out;
    EXPECT_NE(out.find("VIOLATION: 1 weights", line), std::string::npos) << out;
    EXPECT_NE(out.find("FAILED"), std::string::npos) << out;
  }
}

TEST_F(QuantTrain, ResumeIsBitIdentical) {
  for (const auto& quant : {nlohmann::json{{"method", "twn"}}, nlohmann::json{{"method", "uniform"}, {"bits", 3}},
                            nlohmann::json{{"method", "bwn"}}}) {
    const std::string method = quant["method"].get<std::string>();
    SCOPED_TRACE(method);
    const nlohmann::json cfg = quant_config(quant);  // 8 steps
    Trainer straight(Config(cfg), quiet("straight_" + method));
    ASSERT_TRUE(straight.run().completed);
    // Stops inside epoch 1, at the epoch boundary, inside epoch 2, then to the end.
    const std::vector<int64_t> stops = {3, 4, 6, -1};
    for (size_t i = 0; i < stops.size(); ++i) {
      RunOptions r = quiet("resumed_" + method);
      r.resume = i > 0;
      r.stop_after_steps = stops[i];
      Trainer t(Config(cfg), r);
      EXPECT_EQ(t.run().completed, stops[i] < 0) << "leg " << i;
    }
    EXPECT_TRUE(file_contents(root_ / ("straight_" + method) / "model.safetensors") ==
                file_contents(root_ / ("resumed_" + method) / "model.safetensors"))
        << "model.safetensors differ";
    const auto ma = read_metrics(root_ / ("straight_" + method)), mb = read_metrics(root_ / ("resumed_" + method));
    ASSERT_EQ(ma.size(), 4u);  // train and test of 2 epochs
    ASSERT_EQ(mb.size(), ma.size());
    for (size_t i = 0; i < ma.size(); ++i)
      for (const char* key : {"epoch", "global_step", "split", "loss", "top1", "top5", "lr"})
        EXPECT_EQ(ma[i][key], mb[i][key]) << "record " << i << " key " << key;
    // The checkpoints' tensors (latent weights, momentum); their metadata holds timings.
    const SafeTensorsFile a((root_ / ("straight_" + method) / "checkpoint.safetensors").string());
    const SafeTensorsFile b((root_ / ("resumed_" + method) / "checkpoint.safetensors").string());
    ASSERT_EQ(a.names(), b.names());
    for (const auto& n : a.names())
      if (a.info(n).dtype == DType::F32) {
        EXPECT_EQ(a.read_f32(n), b.read_f32(n)) << n;
      }
  }
}

std::string config_error(nlohmann::json j) {
  Config c(std::move(j));
  return test::error_of([&] { read_train_settings(c, false); });
}

TEST(QuantConfig, BadSectionsAreErrorsNamingTheKey) {
  nlohmann::json base = base_config();
  base["init"]["weights"] = "w.safetensors";
  auto with = [&](const nlohmann::json& quant) {
    nlohmann::json j = base;
    j["quant"] = quant;
    return j;
  };
  auto expect_names = [](const std::string& msg, const std::vector<std::string>& needles) {
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "should name '" << n << "': " << msg;
  };
  expect_names(config_error(with({{"method", "xnor"}})), {"quant.method", "xnor", "bwn, twn, uniform"});
  expect_names(config_error(with({{"method", "uniform"}})), {"quant.bits"});
  expect_names(config_error(with({{"method", "uniform"}, {"bits", 9}})), {"quant.bits", "2..8", "9"});
  expect_names(config_error(with({{"method", "uniform"}, {"bits", 1}})), {"quant.bits", "2..8"});
  expect_names(config_error(with({{"method", "twn"}, {"bits", 2}})), {"quant.bits", "uniform"});
  expect_names(config_error(with({{"method", "twn"}, {"portions", {0.5, 1.0}}})), {"quant.portions", "inq"});
  expect_names(config_error(with({{"method", "twn"}, {"zero_free", true}})), {"quant.zero_free", "inq"});
  expect_names(config_error(with({{"method", "twn"}, {"bogus", 1}})), {"quant.bogus"});
  nlohmann::json both = with({{"method", "twn"}});
  both["inq"] = {{"bits", 4}};
  both["train"].erase("epochs");
  expect_names(config_error(both), {"quant", "inq section"});
  nlohmann::json inq_method = base;
  inq_method["train"].erase("epochs");
  inq_method["inq"] = {{"bits", 4}, {"method", "twn"}};
  expect_names(config_error(inq_method), {"inq.method", "quant section"});
  nlohmann::json inq_rule = inq_method;
  inq_rule["inq"].erase("method");
  inq_rule["inq"]["n1_rule"] = "min";
  expect_names(config_error(inq_rule), {"inq.n1_rule", "\"max\", \"mse\""});
  // A good section resolves with its defaults written back.
  Config good(with({{"method", "uniform"}, {"bits", 4}}));
  const TrainSettings s = read_train_settings(good, false);
  EXPECT_TRUE(s.quant.enabled);
  EXPECT_EQ(s.quant.method, QuantMethod::Uniform);
  EXPECT_EQ(s.quant.bits, 4);
  EXPECT_EQ(s.resolved["quant"]["include"], nlohmann::json::array());
  EXPECT_EQ(s.epochs, 2);
}

// Metadata that does not describe a baseline-quantised model is unreadable (inq_check exits 2),
// with a message naming what is wrong.
TEST(QuantModelFile, MalformedMetadataIsNamed) {
  const fs::path dir = test::make_temp_dir("inq_quant_meta_");
  const std::vector<float> w = {0.5f, -0.5f, 0.5f, 0.5f};
  auto error_for = [&](const std::string& meta) {
    SafeTensorsWriter writer;
    writer.add_f32("conv.weight", {2, 2}, w.data());
    writer.set_metadata("quant", meta);
    const std::string path = (dir / "m.safetensors").string();
    writer.write(path);
    return test::error_of([&] { check_quant_levels(SafeTensorsFile(path)); });
  };
  auto expect_names = [](const std::string& msg, const std::vector<std::string>& needles) {
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "should name '" << n << "': " << msg;
  };
  EXPECT_EQ(error_for(R"({"method": "bwn", "tensors": {"conv.weight": {"bits": 1, "scale": 0.5}}})"), "no error");
  expect_names(error_for(R"({"method": "xnor", "tensors": {"conv.weight": {"bits": 1, "scale": 0.5}}})"),
               {"quant", "unknown method \"xnor\"", "bwn, twn, uniform"});
  expect_names(error_for(R"({"method": "bwn", "tensors": {"conv.weight": {"bits": 2, "scale": 0.5}}})"),
               {"conv.weight", "bit-width 2", "bwn"});
  expect_names(error_for(R"({"method": "uniform", "tensors": {"conv.weight": {"bits": 9, "scale": 0.5}}})"),
               {"conv.weight", "bit-width 9"});
  expect_names(error_for(R"({"method": "twn", "tensors": {"conv.weight": {"bits": 2, "scale": 0.5}}})"),
               {"threshold"});
  expect_names(error_for(R"({"method": "bwn", "tensors": {"conv.weight": {"bits": 1, "scale": -1}}})"),
               {"conv.weight", "scale"});
  expect_names(error_for(R"({"method": "bwn", "tensors": {"fc.weight": {"bits": 1, "scale": 0.5}}})"),
               {"fc.weight", "missing"});
  fs::remove_all(dir);
}

TEST_F(QuantTrain, PatternsMatchingNothingNameTheKey) {
  nlohmann::json j = quant_config({{"method", "twn"}, {"exclude", {"no.such.*"}}});
  EXPECT_NE(test::error_of([&] { Trainer t(Config(j), quiet("bad_pattern")); }).find("quant.exclude"),
            std::string::npos);
  j["quant"]["exclude"] = {"*"};
  EXPECT_NE(test::error_of([&] { Trainer t(Config(j), quiet("bad_pattern")); }).find("left to quantise"),
            std::string::npos);
}

}  // namespace
}  // namespace inq
