// The INQ command-line tools as users run them, on a real (tiny) INQ run made with inq_train: bad
// INQ configs exit with code 2 naming the key; inq_check passes on the model and fails, naming the
// tensor, on a copy with one weight moved off its level set, and previews an FP32 model's projection; inq_export round-trips to identical
// weights and packs each quantized weight into b bits.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/inq/inq_model_file.h"
#include "core/io/safetensors.h"
#include "tests/test_util.h"

namespace inq {
namespace {

namespace fs = std::filesystem;

const std::string kBin = std::string(INQ_BINARY_DIR) + "/bin/";

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr
};

class InqTools : public testing::Test {
 protected:
  static Result run(const std::string& cmd) {
    Result r;
    r.out = test::run_command(cmd + " 2>&1", &r.code);
    return r;
  }

  // A tiny FP32 run, then a 2-stage 4-bit INQ run from its weights, through inq_train.
  static void SetUpTestSuite() {
    dir_ = test::make_temp_dir("inq_tools_");
    nlohmann::json j = nlohmann::json::parse(R"({
      "device": "cpu", "threads": 1,
      "model": {"name": "resnet8", "in_channels": 1, "image_size": 28, "num_classes": 10},
      "data": {"dataset": "synthetic", "synthetic": {"size": 128, "test_size": 32}, "workers": 1},
      "train": {"epochs": 1, "batch_size": 32},
      "optimizer": {"lr": 0.05},
      "lr_schedule": {"type": "constant"}
    })");
    std::ofstream(dir_ / "fp32.json") << j.dump();
    j["train"].erase("epochs");
    j["optimizer"]["lr"] = 0.01;
    j["init"]["weights"] = (dir_ / "fp32" / "model.safetensors").string();
    j["inq"] = {{"bits", kBits}, {"portions", {0.5, 1.0}}, {"epochs_per_stage", 1}};
    std::ofstream(dir_ / "q.json") << j.dump();
    inq_config_ = j;
    for (const char* name : {"fp32", "q"}) {
      const Result r = run(kBin + "inq_train " + (dir_ / name).string() + ".json --out " + (dir_ / name).string());
      ASSERT_EQ(r.code, 0) << r.out;
    }
    model_ = (dir_ / "q" / "model.safetensors").string();
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static constexpr int kBits = 4;
  static fs::path dir_;
  static std::string model_;
  static nlohmann::json inq_config_;
};
fs::path InqTools::dir_;
std::string InqTools::model_;
nlohmann::json InqTools::inq_config_;

// Overwrites element `index` of tensor `name` (F32) in place in a safetensors file.
void poke(const std::string& path, const std::string& name, int64_t index, float value) {
  uint64_t header = 0;
  {
    std::ifstream f(path, std::ios::binary);
    f.read(reinterpret_cast<char*>(&header), 8);
  }
  uint64_t begin = 0;
  {
    const SafeTensorsFile file(path);
    ASSERT_EQ(file.info(name).dtype, DType::F32);
    begin = file.info(name).begin;
  }
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(std::streamoff(8 + header + begin + uint64_t(index) * 4));
  f.write(reinterpret_cast<const char*>(&value), 4);
  ASSERT_TRUE(f.good());
}

TEST_F(InqTools, BadInqConfigsExitWithCode2NamingTheKey) {
  const fs::path cfg = dir_ / "bad.json", out = dir_ / "bad_run";
  auto expect_error = [&](const nlohmann::json& j, const std::vector<std::string>& needles) {
    std::ofstream(cfg) << j.dump(2);
    const Result r = run(kBin + "inq_train " + cfg.string() + " --out " + out.string());
    EXPECT_EQ(r.code, 2) << r.out;
    for (const auto& n : needles) EXPECT_NE(r.out.find(n), std::string::npos) << "should name '" << n << "': " << r.out;
    EXPECT_EQ(r.out.find("terminate called"), std::string::npos) << r.out;
  };
  // (JSON pointer, value or null to erase, what the message must name)
  const std::vector<std::tuple<std::string, nlohmann::json, std::vector<std::string>>> cases = {
      {"/inq/bits", 9, {"inq.bits", "9"}},
      {"/inq/portions", nlohmann::json::array({0.5, 0.4, 1.0}), {"inq.portions"}},
      {"/inq/portions", nlohmann::json::array({0.5, 0.9}), {"inq.portions", "last"}},
      {"/inq/stage_epochs", nlohmann::json::array({1, 1, 1}), {"inq.stage_epochs", "2 stages"}},
      {"/train/epochs", 5, {"train.epochs"}},
      {"/init/weights", nullptr, {"init.weights", "required"}},
      {"/inq/bits_overide", nlohmann::json::object(), {"inq.bits_overide", "bits_override"}},
      {"/inq/exclude", nlohmann::json::array({"no.such.weight"}), {"inq.exclude", "matches no"}},
  };
  for (const auto& [pointer, value, needles] : cases) {
    nlohmann::json j = inq_config_;
    const nlohmann::json::json_pointer ptr(pointer);
    if (value.is_null())
      j[ptr.parent_pointer()].erase(ptr.back());
    else
      j[ptr] = value;
    expect_error(j, needles);
  }
  // Missing pretrained weights: the config that produces them is named.
  fs::create_directories(dir_ / "configs");
  std::ofstream(dir_ / "configs" / "tiny_fp32.json") << "{}";
  const std::string missing = (dir_ / "runs" / "tiny_fp32" / "model.safetensors").string();
  nlohmann::json j = inq_config_;
  j["init"]["weights"] = missing;
  expect_error(j, {"init.weights", missing, "configs/tiny_fp32.json", "first"});
  EXPECT_FALSE(fs::exists(out)) << "a failed run wrote its run directory";
}

TEST_F(InqTools, CheckPassesOnTheTrainedModel) {
  const Result r = run(kBin + "inq_check " + model_);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("every weight is in its level set"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("layer2.0.conv1.weight"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("10 quantized tensors"), std::string::npos) << r.out;
  // The FP32 model has no level metadata: unreadable as a quantized model.
  EXPECT_EQ(run(kBin + "inq_check " + (dir_ / "fp32" / "model.safetensors").string()).code, 2);
}

TEST_F(InqTools, CheckPreviewsTheProjectionOfAnFp32Model) {
  const std::string fp32 = (dir_ / "fp32" / "model.safetensors").string();
  const Result r = run(kBin + "inq_check " + fp32 + " --preview 3 --n1-rule mse");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("layer2.0.conv1.weight"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("10 tensors, "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("would be zero at 3 bits (n1 rule mse)"), std::string::npos) << r.out;
  // Bad usage exits 2 naming the option.
  for (const auto& [args, expected] : std::vector<std::pair<std::string, std::string>>{
           {" --preview 9", "--preview: expected a bit-width in 2..8, got '9'"},
           {" --preview 3 --n1-rule best", "--n1-rule: expected max or mse, got 'best'"},
           {" --zero-free", "--n1-rule and --zero-free go with --preview BITS"},
           {" --preview", "--preview needs a value"}}) {
    const Result bad = run(kBin + "inq_check " + fp32 + args);
    EXPECT_EQ(bad.code, 2) << args;
    EXPECT_NE(bad.out.find(expected), std::string::npos) << bad.out;
  }
}

TEST_F(InqTools, CheckFailsNamingTheTensorWithANonLevelWeight) {
  const std::string tampered = (dir_ / "tampered.safetensors").string();
  fs::copy_file(model_, tampered, fs::copy_options::overwrite_existing);
  const float level = SafeTensorsFile(tampered).read_f32("layer2.0.conv1.weight")[5];
  poke(tampered, "layer2.0.conv1.weight", 5, level == 0.0f ? 0.01f : level * 1.25f);
  const Result r = run(kBin + "inq_check " + tampered);
  EXPECT_EQ(r.code, 1) << r.out;
  const size_t line = r.out.find("layer2.0.conv1.weight");
  ASSERT_NE(line, std::string::npos) << r.out;
  EXPECT_NE(r.out.find("VIOLATION: 1 weights", line), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FAILED"), std::string::npos) << r.out;
  // Export refuses it too: a non-level has no code.
  EXPECT_NE(run(kBin + "inq_export " + tampered + " " + (dir_ / "tampered.packed").string()).code, 0);
}

TEST_F(InqTools, ExportRoundTripsAndPacksEachWeightIntoItsBits) {
  const std::string packed = (dir_ / "model.packed.safetensors").string();
  const Result r = run(kBin + "inq_export " + model_ + " " + packed);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("round trip identical"), std::string::npos) << r.out;

  const SafeTensorsFile original(model_);
  const auto specs = read_inq_specs(original);
  const auto decoded = import_packed(packed);
  const SafeTensorsFile out(packed);
  uint64_t float_bytes = 0, quantized_weights = 0;
  for (const auto& name : original.names()) {
    const std::vector<float> want = original.read_f32(name);
    const auto& got = decoded.at(name).second;
    ASSERT_EQ(got.size(), want.size()) << name;
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * 4)) << name;
    if (specs.count(name)) {
      const uint64_t bytes = out.info(name).end - out.info(name).begin;
      EXPECT_EQ(bytes, (want.size() * kBits + 7) / 8) << name;  // b bits per weight, not 32
      quantized_weights += want.size();
    } else {
      float_bytes += original.info(name).end - original.info(name).begin;
    }
  }
  // The quantized part shrinks by 32/b; what is left is float tensors and the header.
  const uint64_t size = fs::file_size(packed);
  EXPECT_LT(size, float_bytes + quantized_weights * kBits / 8 + 16384);
  EXPECT_GT(double(fs::file_size(model_)) / double(size), 0.8 * 32 / kBits);
}

}  // namespace
}  // namespace inq
