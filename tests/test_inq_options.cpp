// The INQ options inq.n1_rule and inq.zero_free: the mse rule's n1 on tensors whose projection
// errors are worked out by hand, the zero-free level sets (n2, projection, level check, packed
// codes), the projection preview of inq_check --preview, a short zero-free mse run whose model passes the level check with no zeros, and both
// options leaving the metadata of runs without them as it was.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/inq/inq_model_file.h"
#include "core/inq/inq_state.h"
#include "core/inq/log2_levels.h"
#include "core/inq/n1_rule.h"
#include "core/inq/projection_preview.h"
#include "core/io/safetensors.h"
#include "core/train/trainer.h"
#include "tests/train_test_util.h"

namespace inq {
namespace {

namespace fs = std::filesystem;

float pow2(int k) { return std::ldexp(1.0f, k); }

// One outlier at 1 and a hundred weights at 1/4, 2 bits (levels {0, ±2^n1}):
//   n1 =  0: the hundred go to 0                    100 · 1/16              = 6.25
//   n1 = -1: the hundred go to 1/2, 1 clamps to 1/2  100 · 1/16 + 1/4        = 6.5
//   n1 = -2: the hundred are exact, 1 clamps to 1/4  9/16                    = 0.5625
//   n1 = -3: the hundred go to 1/8, 1 clamps to 1/8  100 · 1/64 + 49/64      = 2.328125
TEST(N1Rule, MseTakesTheLeastProjectionErrorInItsWindow) {
  std::vector<float> w(101, 0.25f);
  w[37] = 1.0f;
  const int64_t n = int64_t(w.size());
  EXPECT_EQ(projection_error(w.data(), n, 0, 2, false), 6.25);
  EXPECT_EQ(projection_error(w.data(), n, -1, 2, false), 6.5);
  EXPECT_EQ(projection_error(w.data(), n, -2, 2, false), 0.5625);
  EXPECT_EQ(projection_error(w.data(), n, -3, 2, false), 2.328125);
  EXPECT_EQ(choose_n1(w.data(), n, 2, false, N1Rule::Max), 0);
  EXPECT_EQ(choose_n1(w.data(), n, 2, false, N1Rule::Mse), -2);
  // The window ends 3 below the max rule's n1: an outlier at 16 puts the best n1 (-2) out of reach.
  w[37] = 16.0f;  // n1_max = 4, window 1..4: the hundred go to 0 at every n1 but 1 (err 100/16 + ...)
  EXPECT_EQ(choose_n1(w.data(), n, 2, false, N1Rule::Max), 4);
  const int mse = choose_n1(w.data(), n, 2, false, N1Rule::Mse);
  EXPECT_GE(mse, 1);
  for (int k = 1; k <= 4; ++k)
    EXPECT_LE(projection_error(w.data(), n, mse, 2, false), projection_error(w.data(), n, k, 2, false)) << k;
}

TEST(N1Rule, TiesKeepTheLargerN1AndAllZeroTensorsGetZero) {
  // 0.75 at 2 bits: n1 = 0 maps it to 1, n1 = -1 to 1/2: both err 1/16; the larger n1 wins.
  const float w = 0.75f;
  EXPECT_EQ(projection_error(&w, 1, 0, 2, false), 0.0625);
  EXPECT_EQ(projection_error(&w, 1, -1, 2, false), 0.0625);
  EXPECT_EQ(choose_n1(&w, 1, 2, false, N1Rule::Mse), 0);
  const std::vector<float> zeros(10, 0.0f);
  EXPECT_EQ(choose_n1(zeros.data(), 10, 4, false, N1Rule::Mse), 0);
  EXPECT_EQ(choose_n1(zeros.data(), 10, 4, true, N1Rule::Max), 0);
}

// inq_check --preview's numbers on the example above, stored as a conv-like weight beside a bias
// (1-D, so not quantized by default and not previewed).
TEST(ProjectionPreview, ReportsN1ZerosAndRelativeErrorPerQuantizedTensor) {
  std::vector<float> w(101, 0.25f);
  w[37] = 1.0f;
  const fs::path dir = test::make_temp_dir("preview_");
  SafeTensorsWriter writer;
  writer.add_f32("layer.weight", {101, 1}, w.data());
  writer.add_f32("layer.bias", {101}, w.data());
  writer.write((dir / "m.safetensors").string());
  const SafeTensorsFile file((dir / "m.safetensors").string());
  const double norm2 = 1.0 + 100 * 0.0625;

  const auto by_max = preview_projection(file, 2, N1Rule::Max, false);
  ASSERT_EQ(by_max.size(), 1u);
  EXPECT_EQ(by_max[0].name, "layer.weight");
  EXPECT_EQ(by_max[0].numel, 101);
  EXPECT_EQ(by_max[0].n1, 0);
  EXPECT_EQ(by_max[0].n2, 0);
  EXPECT_EQ(by_max[0].max_abs, 1.0f);
  EXPECT_EQ(by_max[0].zeros, 100);
  EXPECT_EQ(by_max[0].weight_norm2, norm2);
  EXPECT_EQ(by_max[0].error_norm2, 6.25);
  EXPECT_DOUBLE_EQ(by_max[0].relative_error(), std::sqrt(6.25 / norm2));

  const auto by_mse = preview_projection(file, 2, N1Rule::Mse, false);
  ASSERT_EQ(by_mse.size(), 1u);
  EXPECT_EQ(by_mse[0].n1, -2);
  EXPECT_EQ(by_mse[0].zeros, 0);
  EXPECT_DOUBLE_EQ(by_mse[0].relative_error(), std::sqrt(0.5625 / norm2));

  // Zero-free at 2 bits: levels ±1/2, ±1 (n1 = 0): the hundred go to ±1/2 and nothing to 0.
  const auto zero_free = preview_projection(file, 2, N1Rule::Max, true);
  EXPECT_EQ(zero_free[0].n2, -1);
  EXPECT_EQ(zero_free[0].zeros, 0);
  EXPECT_DOUBLE_EQ(zero_free[0].relative_error(), std::sqrt(6.25 / norm2));
  fs::remove_all(dir);
}

TEST(ZeroFree, LevelSetHasTwoToTheBMinusOneMagnitudesPerSignAndNoZero) {
  for (int bits = 2; bits <= 8; ++bits) {
    EXPECT_EQ(-1 - inq_n2(-1, bits, true) + 1, 1 << (bits - 1)) << bits;  // magnitudes per sign
    EXPECT_EQ(inq_n2(-1, bits, false), inq_n2(-1, bits));                 // the default is unchanged
  }
  const int n1 = -1, bits = 3, n2 = inq_n2(n1, bits, true);  // {±2^-4 .. ±2^-1}
  ASSERT_EQ(n2, -4);
  EXPECT_EQ(inq_project(0.0f, n1, n2, true), pow2(n2));
  EXPECT_EQ(inq_project(-0.0f, n1, n2, true), -pow2(n2));
  EXPECT_EQ(inq_project(1e-30f, n1, n2, true), pow2(n2));
  EXPECT_EQ(inq_project(-1e-30f, n1, n2, true), -pow2(n2));
  EXPECT_EQ(inq_project(std::numeric_limits<float>::quiet_NaN(), n1, n2, true), pow2(n2));
  // Below 1.5 · 2^n2 everything is ±2^n2; above, the rule of the default set.
  EXPECT_EQ(inq_project(std::nextafter(1.5f * pow2(n2), 0.0f), n1, n2, true), pow2(n2));
  EXPECT_EQ(inq_project(1.5f * pow2(n2), n1, n2, true), pow2(n2 + 1));
  EXPECT_EQ(inq_project(100.0f, n1, n2, true), pow2(n1));
  for (float w = -1.0f; w <= 1.0f; w += 0.001f) {
    const float q = inq_project(w, n1, n2, true);
    ASSERT_TRUE(inq_is_level(q, n1, n2, true)) << w << " -> " << q;
    ASSERT_NE(q, 0.0f);
    if (std::fabs(w) >= pow2(n2 - 1)) {
      ASSERT_EQ(q, inq_project(w, n1, n2, false)) << w;
    }
  }
  EXPECT_FALSE(inq_is_level(0.0f, n1, n2, true));
  EXPECT_TRUE(inq_is_level(0.0f, n1, n2, false));
  EXPECT_TRUE(inq_is_level(-pow2(n2), n1, n2, true));
  EXPECT_FALSE(inq_is_level(pow2(n2 - 1), n1, n2, true));
}

TEST(ZeroFree, PackedCodesUseEveryCodeAndRoundTrip) {
  for (int bits = 2; bits <= 8; ++bits) {
    const int n1 = 2;
    std::vector<bool> seen(size_t(1) << bits, false);
    for (int k = inq_n2(n1, bits, true); k <= n1; ++k)
      for (const float v : {pow2(k), -pow2(k)}) {
        const uint32_t code = encode_level(v, bits, n1, true);
        ASSERT_LT(code, 1u << bits);
        EXPECT_FALSE(seen[code]) << "code " << code << " twice";
        seen[code] = true;
        EXPECT_EQ(decode_level(code, bits, n1, true), v);
      }
    for (bool s : seen) EXPECT_TRUE(s) << "bits " << bits << ": a code is unused";
    EXPECT_THROW(encode_level(0.0f, bits, n1, true), std::invalid_argument);
  }
}

nlohmann::json tiny_config() {
  return nlohmann::json::parse(R"({
    "device": "cpu", "threads": 1, "seed": 0,
    "model": {"name": "resnet8", "in_channels": 1, "image_size": 28, "num_classes": 10},
    "data": {"dataset": "synthetic", "synthetic": {"size": 64, "test_size": 32}, "workers": 1},
    "train": {"batch_size": 32, "log_every": 1000},
    "optimizer": {"lr": 0.01, "momentum": 0.9},
    "lr_schedule": {"type": "constant"}
  })");
}

class InqOptionsRun : public test::Fp32TrainedSuite {
 protected:
  static void SetUpTestSuite() {
    nlohmann::json fp32 = tiny_config();
    fp32["train"]["epochs"] = 1;
    train_fp32("inq_options_", fp32);
  }
  static nlohmann::json inq_config(const nlohmann::json& extra) {
    nlohmann::json j = tiny_config();
    j["init"]["weights"] = init_;
    j["inq"] = {{"bits", 3}, {"portions", {0.5, 1.0}}, {"epochs_per_stage", 1}};
    if (!extra.is_null()) j["inq"].update(extra);
    return j;
  }
  static std::string train(const std::string& name, const nlohmann::json& cfg) {
    Trainer t(Config(cfg), quiet(name));
    EXPECT_TRUE(t.run().completed);
    return (root_ / name / "model.safetensors").string();
  }
};

TEST_F(InqOptionsRun, ZeroFreeMseRunEndsInItsLevelSetsWithoutZeros) {
  const std::string model = train("zf", inq_config({{"zero_free", true}, {"n1_rule", "mse"}}));
  const SafeTensorsFile file(model);
  const auto reports = check_levels(file);
  ASSERT_EQ(reports.size(), 10u);
  int64_t levels_used = 0;
  for (const auto& r : reports) {
    EXPECT_TRUE(r.spec.zero_free) << r.name;
    EXPECT_EQ(r.violations, 0) << r.name;
    EXPECT_EQ(r.zeros, 0) << r.name;
    levels_used = std::max<int64_t>(levels_used, int64_t(r.exponent_counts.size()));
  }
  EXPECT_GT(levels_used, 2);  // more than the 2 magnitudes of the default 3-bit set
  const nlohmann::json meta = nlohmann::json::parse(file.metadata().at("inq"));
  EXPECT_EQ(meta["n1_rule"], "mse");
  // The packed export round-trips the zero-free codes.
  const std::string packed = (root_ / "zf.packed.safetensors").string();
  export_packed(model, packed);
  const auto back = import_packed(packed);
  for (const auto& r : reports) EXPECT_EQ(back.at(r.name).second, file.read_f32(r.name)) << r.name;
  const nlohmann::json resolved = nlohmann::json::parse(test::file_contents(root_ / "zf" / "config.json"));
  EXPECT_EQ(resolved["inq"]["zero_free"], true);
}

TEST_F(InqOptionsRun, DefaultsLeaveConfigAndMetadataAsTheyWere) {
  const std::string model = train("default", inq_config(nlohmann::json::object()));
  const nlohmann::json meta = nlohmann::json::parse(SafeTensorsFile(model).metadata().at("inq"));
  EXPECT_FALSE(meta.contains("n1_rule"));
  for (const auto& [name, t] : meta["tensors"].items()) EXPECT_FALSE(t.contains("zero_free")) << name;
  const nlohmann::json resolved = nlohmann::json::parse(test::file_contents(root_ / "default" / "config.json"));
  EXPECT_FALSE(resolved["inq"].contains("n1_rule"));
  EXPECT_FALSE(resolved["inq"].contains("zero_free"));
  // Explicit defaults compute the same model.
  const std::string explicit_model = train("explicit", inq_config({{"zero_free", false}, {"n1_rule", "max"}}));
  EXPECT_TRUE(test::file_contents(model) == test::file_contents(explicit_model));
}

}  // namespace
}  // namespace inq
