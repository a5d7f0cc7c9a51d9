// Shared by the CPU training tests (test_inq_train, test_prune_train, test_quant_train,
// test_inq_options): a small resnet8 config on synthetic data, quiet run options, metrics.jsonl's
// records, and a suite fixture whose tiny FP32 run makes the pretrained weights the INQ, pruning and
// quantisation runs start from.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/train/trainer.h"
#include "tests/test_util.h"

namespace inq::test {

// resnet8 on 128 synthetic images, batch 32: 4 steps per epoch.
inline nlohmann::json resnet8_synthetic_config() {
  return nlohmann::json::parse(R"({
    "device": "cpu", "threads": 1, "seed": 0,
    "model": {"name": "resnet8", "in_channels": 1, "image_size": 28, "num_classes": 10},
    "data": {"dataset": "synthetic", "synthetic": {"size": 128, "test_size": 64}, "workers": 1},
    "train": {"batch_size": 32, "log_every": 1000},
    "optimizer": {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4},
    "lr_schedule": {"type": "multistep", "milestones": [1], "gamma": 0.1}
  })");
}

// The records of `dir`/metrics.jsonl, one a line.
inline std::vector<nlohmann::json> read_metrics(const std::filesystem::path& dir) {
  std::ifstream f(dir / "metrics.jsonl");
  std::vector<nlohmann::json> v;
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) v.push_back(nlohmann::json::parse(line));
  return v;
}

// Options for a run into the directory `out` that logs nothing.
inline RunOptions quiet_run(const std::filesystem::path& out) {
  RunOptions o;
  o.log = nullptr;
  o.out = out.string();
  return o;
}

// The FP32 run that makes the pretrained weights: resnet8_synthetic_config() for 2 epochs at a
// constant lr 0.05.
inline nlohmann::json resnet8_fp32_config() {
  nlohmann::json fp32 = resnet8_synthetic_config();
  fp32["train"]["epochs"] = 2;
  fp32["optimizer"]["lr"] = 0.05;
  fp32["lr_schedule"] = {{"type", "constant"}};
  return fp32;
}

// A suite whose runs share one temporary directory (removed after the suite) holding fp32/, an
// FP32 run whose model is the pretrained weights (init_). The suite's SetUpTestSuite calls
// train_fp32. The directory is static: one such suite per test program.
class Fp32TrainedSuite : public testing::Test {
 protected:
  // Makes the directory (`prefix`XXXXXX, in the test temporary directory) and runs `fp32` in fp32/.
  static void train_fp32(const std::string& prefix, const nlohmann::json& fp32) {
    root_ = make_temp_dir(prefix);
    Trainer t(Config(fp32), quiet("fp32"));
    ASSERT_TRUE(t.run().completed);
    init_ = (root_ / "fp32" / "model.safetensors").string();
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(root_); }

  // Quiet options for the run directory `name` in the suite's directory.
  static RunOptions quiet(const std::string& name) { return quiet_run(root_ / name); }

  inline static std::filesystem::path root_;
  inline static std::string init_;
};

}  // namespace inq::test
