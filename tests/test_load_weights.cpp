// Loading weights by name (core/train/checkpoint: load_weights): strict loads report every
// mismatch at once; init.partial and init.skip load what fits and name what they skipped; the
// init keys of the config; the files the trainer writes keep the Net's names and INQ metadata; and
// inq_eval scores a trained model exactly as the trainer's own evaluation did.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/cpu_backend.h"
#include "core/inq/inq_state.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/models/zoo.h"
#include "core/train/checkpoint.h"
#include "core/train/optimizer.h"
#include "core/train/train_config.h"
#include "core/train/trainer.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

namespace inq {
namespace {

using test::error_of;

namespace fs = std::filesystem;

std::unique_ptr<Net> resnet8(CpuBackend& be, int classes, uint64_t seed) {
  auto net = make_model(test::resnet8_options(classes));
  net->materialize(be, seed);
  return net;
}

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

class LoadWeights : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("load_weights_").string();
    src_ = resnet8(be_, 10, 1);
    save_model(file("src.safetensors"), *src_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  CpuBackend be_{1};
  std::string dir_;
  std::unique_ptr<Net> src_;
};

TEST_F(LoadWeights, StrictLoadListsEveryMismatchTogether) {
  auto dst = resnet8(be_, 7, 2);
  const std::string msg = error_of([&] { load_weights(file("src.safetensors"), *dst); });
  EXPECT_NE(msg.find("wrong shape (2): fc.weight (file [10, 64], model [7, 64]) fc.bias (file [10], model [7])"),
            std::string::npos)
      << msg;
  // A file lacking a tensor and holding a stranger: both named in the same message.
  SafeTensorsWriter w;
  for (const auto& e : src_->entries())
    if (e.name != "conv1.weight") w.add_f32(e.name, e.param->shape, src_->get(e.name).data());
  const float x = 1;
  w.add_f32("stranger", {1}, &x);
  w.write(file("odd.safetensors"));
  auto same = resnet8(be_, 10, 2);
  const std::string msg2 = error_of([&] { load_weights(file("odd.safetensors"), *same); });
  EXPECT_NE(msg2.find("missing (1): conv1.weight"), std::string::npos) << msg2;
  EXPECT_NE(msg2.find("unexpected (1): stranger"), std::string::npos) << msg2;
  // A failed strict load changes nothing.
  EXPECT_EQ(same->get("layer1.0.conv1.weight"), resnet8(be_, 10, 2)->get("layer1.0.conv1.weight"));
}

TEST_F(LoadWeights, PartialLoadsWhatFitsAndNamesTheRest) {
  auto dst = resnet8(be_, 7, 2);
  const std::vector<float> head_before = dst->get("fc.weight");
  const LoadReport r = load_weights(file("src.safetensors"), *dst, LoadWeightsOptions{true, {}});
  EXPECT_EQ(r.loaded, static_cast<int64_t>(dst->entries().size()) - 2);
  EXPECT_EQ(r.skipped, (std::vector<std::string>{"fc.weight (shape: file [10, 64], model [7, 64])",
                                                 "fc.bias (shape: file [10], model [7])"}));
  EXPECT_EQ(r.ignored, (std::vector<std::string>{"fc.weight", "fc.bias"}));
  for (const auto& e : dst->entries()) {
    if (e.name.rfind("fc.", 0) != 0) {
      EXPECT_EQ(dst->get(e.name), src_->get(e.name)) << e.name;
    }
  }
  EXPECT_EQ(dst->get("fc.weight"), head_before);
  EXPECT_NE(dst->get("fc.weight"), std::vector<float>(head_before.size(), 0.0f));
  const std::string text = describe_load("src.safetensors", r);
  EXPECT_NE(text.find("kept 2 as initialised: fc.weight (shape"), std::string::npos) << text;

  // Missing tensors and strangers are tolerated too; a file with nothing usable is an error.
  SafeTensorsWriter w;
  const float x = 1;
  w.add_f32("stranger", {1}, &x);
  w.add_f32("conv1.weight", src_->entries().front().param->shape, src_->get("conv1.weight").data());
  w.write(file("one.safetensors"));
  auto other = resnet8(be_, 10, 3);
  const LoadReport r2 = load_weights(file("one.safetensors"), *other, LoadWeightsOptions{true, {}});
  EXPECT_EQ(r2.loaded, 1);
  EXPECT_EQ(r2.ignored, std::vector<std::string>{"stranger"});
  EXPECT_TRUE(contains(r2.skipped, "bn1.weight (not in file)"));
  EXPECT_EQ(other->get("conv1.weight"), src_->get("conv1.weight"));
  SafeTensorsWriter none;
  none.add_f32("stranger", {1}, &x);
  none.write(file("none.safetensors"));
  EXPECT_NE(error_of([&] { load_weights(file("none.safetensors"), *other, LoadWeightsOptions{true, {}}); })
                .find("found no tensor with a matching name and shape"),
            std::string::npos);
}

TEST_F(LoadWeights, SkipPatternsLeaveTheirTensorsAndStayStrictElsewhere) {
  auto dst = resnet8(be_, 7, 2);
  const std::vector<float> head_before = dst->get("fc.bias");
  const LoadReport r = load_weights(file("src.safetensors"), *dst, LoadWeightsOptions{false, {"fc.*"}});
  EXPECT_EQ(r.skipped, (std::vector<std::string>{"fc.weight (init.skip)", "fc.bias (init.skip)"}));
  EXPECT_EQ(r.ignored, (std::vector<std::string>{"fc.weight", "fc.bias"}));
  EXPECT_EQ(dst->get("fc.bias"), head_before);
  EXPECT_EQ(dst->get("layer3.0.bn2.running_var"), src_->get("layer3.0.bn2.running_var"));
  // Every pattern must match something; everything not skipped must still fit exactly.
  EXPECT_NE(error_of([&] { load_weights(file("src.safetensors"), *dst, LoadWeightsOptions{false, {"head.*"}}); })
                .find("skip pattern \"head.*\" matches no tensor of model resnet8"),
            std::string::npos);
  const std::string msg =
      error_of([&] { load_weights(file("src.safetensors"), *dst, LoadWeightsOptions{false, {"fc.weight"}}); });
  EXPECT_NE(msg.find("wrong shape (1): fc.bias"), std::string::npos) << msg;
}

Config parse(const std::string& text) { return Config(nlohmann::json::parse(text)); }

TEST(InitConfig, KeysAreReadStrictlyWithDefaultsWrittenBack) {
  const std::string base = R"({"device": "cpu", "model": {"name": "resnet8"}, "data": {"dataset": "synthetic",
      "synthetic": {"size": 64, "test_size": 32}}, "init": )";
  Config plain = parse(base + R"({"weights": "w.safetensors"}})");
  const TrainSettings s = read_train_settings(plain, false);
  EXPECT_FALSE(s.init_partial);
  EXPECT_TRUE(s.init_skip.empty());
  // Written back (config_version 2); a version-1 config.json without them resolves alike.
  EXPECT_EQ(s.resolved.at("init").at("partial"), false);
  EXPECT_EQ(s.resolved.at("init").at("skip"), nlohmann::json::array());

  Config both = parse(base + R"({"weights": "w.safetensors", "partial": true, "skip": ["fc.*", "layer3.*"]}})");
  const TrainSettings t = read_train_settings(both, false);
  EXPECT_TRUE(t.init_partial);
  EXPECT_EQ(t.init_skip, (std::vector<std::string>{"fc.*", "layer3.*"}));

  auto err = [&](const std::string& init) {
    Config c = parse(base + init + "}");
    return error_of([&] { read_train_settings(c, false); });
  };
  EXPECT_NE(err(R"({"partial": true})").find("init.partial: needs init.weights"), std::string::npos);
  EXPECT_NE(err(R"({"weights": "w", "skip": "fc.*"})").find("init.skip: expected a list"), std::string::npos);
  EXPECT_NE(err(R"({"weights": "w", "skip": [""]})").find("init.skip: expected a list of non-empty"),
            std::string::npos);
  EXPECT_NE(err(R"({"weights": "w", "partial": 1})").find("init.partial"), std::string::npos);
  EXPECT_NE(err(R"({"weights": "w", "parital": true})").find("init.parital"), std::string::npos);
}

// The model and checkpoint files keep the Net's names; INQ state rides along as metadata and masks.
TEST_F(LoadWeights, ModelAndCheckpointFilesKeepNamesAndInqState) {
  auto net = resnet8(be_, 10, 4);
  Sgd sgd(*net, SgdOptions{});
  InqState inq(*net, InqOptions{});
  inq.begin_stage(0, sgd.momentum().data());
  save_model(file("model.safetensors"), *net, &inq);
  save_checkpoint(file("ckpt.safetensors"), *net, sgd, TrainState{}, "{}", &inq);

  SafeTensorsFile model(file("model.safetensors"));
  std::vector<std::string> names;
  for (const auto& e : net->entries()) names.push_back(e.name);
  EXPECT_EQ(model.names(), names);  // in state_dict order
  EXPECT_EQ(model.info("bn1.num_batches_tracked").dtype, DType::I64);
  const auto meta = nlohmann::json::parse(model.metadata().at("inq"));
  ASSERT_EQ(meta.at("tensors").size(), inq.tensors().size());
  for (const auto& t : inq.tensors()) {
    EXPECT_EQ(meta.at("tensors").at(t.name).at("bits").get<int>(), t.bits) << t.name;
    EXPECT_EQ(meta.at("tensors").at(t.name).at("n1").get<int>(), t.n1) << t.name;
  }
  auto fresh = resnet8(be_, 10, 5);
  EXPECT_EQ(load_weights(file("model.safetensors"), *fresh).loaded, static_cast<int64_t>(names.size()));
  for (const auto& n : names) EXPECT_EQ(fresh->get(n), net->get(n)) << n;

  SafeTensorsFile ckpt(file("ckpt.safetensors"));
  size_t params = 0;
  for (const auto& e : net->entries()) {
    EXPECT_TRUE(ckpt.contains(e.name)) << e.name;
    if (!e.is_buffer) {
      ++params;
      EXPECT_TRUE(ckpt.contains("optimizer.momentum." + e.name)) << e.name;
    }
  }
  for (const auto& t : inq.tensors()) EXPECT_EQ(ckpt.info("inq_mask/" + t.name).dtype, DType::U8) << t.name;
  EXPECT_EQ(ckpt.names().size(), names.size() + params + inq.tensors().size());
  EXPECT_EQ(nlohmann::json::parse(ckpt.metadata().at("inq")).at("stages_begun").get<int>(), 1);
}

// A tiny FP32 run, then: inq_eval reproduces the run's last test evaluation, and a run with another
// class count starts from it with init.partial (and is refused without it).
TEST_F(LoadWeights, TrainerAndInqEvalAgreeAndPartialInitStartsANewHead) {
  nlohmann::json cfg = nlohmann::json::parse(R"({
    "device": "cpu", "threads": 1, "seed": 0,
    "model": {"name": "resnet8", "in_channels": 1, "image_size": 28, "num_classes": 10},
    "data": {"dataset": "synthetic", "synthetic": {"size": 64, "test_size": 48}, "workers": 1},
    "train": {"epochs": 1, "batch_size": 32, "eval_batch_size": 20, "log_every": 1000},
    "optimizer": {"lr": 0.01}
  })");
  RunOptions quiet;
  quiet.log = nullptr;
  quiet.out = file("fp32");
  Trainer(Config(cfg), quiet).run();
  const std::string model = file("fp32/model.safetensors");
  ASSERT_TRUE(fs::exists(model));
  std::ifstream metrics(file("fp32/metrics.jsonl"));
  nlohmann::json last;
  for (std::string line; std::getline(metrics, line);)
    if (!line.empty()) last = nlohmann::json::parse(line);
  ASSERT_EQ(last.at("split"), "test");

  write_file_atomic(file("eval.json"), cfg.dump());
  const std::string cmd = INQ_BINARY_DIR "/bin/inq_eval " + file("eval.json") + " --set init.weights=" + model +
                          " --json " + file("eval_result.json") + " >/dev/null";
  ASSERT_EQ(test::run_shell(cmd), 0) << cmd;
  const auto r = nlohmann::json::parse(read_file(file("eval_result.json")));
  EXPECT_EQ(r.at("samples").get<int64_t>(), 48);
  EXPECT_NEAR(r.at("top1").get<double>(), last.at("top1").get<double>(), 1e-12);
  EXPECT_NEAR(r.at("top5").get<double>(), last.at("top5").get<double>(), 1e-12);
  EXPECT_NEAR(r.at("loss").get<double>(), last.at("loss").get<double>(), 1e-6 * last.at("loss").get<double>());
  // No weights: exit 2 with the key named.
  int code = 0;
  test::run_command(INQ_BINARY_DIR "/bin/inq_eval " + file("eval.json") + " 2>&1", &code);
  EXPECT_EQ(code, 2);

  nlohmann::json next = cfg;
  next["model"]["num_classes"] = 12;
  next["init"]["weights"] = model;
  RunOptions o = quiet;
  o.out = file("strict");
  const std::string msg = error_of([&] { Trainer(Config(next), o); });
  EXPECT_NE(msg.find("init.weights: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("wrong shape (2): fc.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("init.partial"), std::string::npos) << msg;

  next["init"]["partial"] = true;
  char* buf = nullptr;
  size_t len = 0;
  FILE* log = open_memstream(&buf, &len);
  ASSERT_NE(log, nullptr);
  o.out = file("partial");
  o.log = log;
  {
    Trainer t(Config(next), o);
    auto src = resnet8(be_, 10, 0);
    load_weights(model, *src);
    EXPECT_EQ(t.net().get("layer2.0.conv1.weight"), src->get("layer2.0.conv1.weight"));
  }
  std::fclose(log);
  const std::string text(buf, len);
  std::free(buf);
  EXPECT_NE(text.find("kept 2 as initialised: fc.weight (shape: file [10, 64], model [12, 64]), fc.bias"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace inq
