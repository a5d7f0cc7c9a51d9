// The ImageNet configs: each reads (Config + read_train_settings) with the paper's settings, the
// Table 4 baselines (TWN, BWN) with the 2-bit INQ schedule's budget, and inq_train on each without
// ImageNet or without the pretrained weights stops with a message naming what is missing (exit 2),
// not a crash.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

#include "core/config.h"
#include "core/quant/quant_math.h"
#include "core/train/lr_schedule.h"
#include "core/train/train_config.h"
#include "data/imagenet.h"
#include "tests/test_util.h"

namespace inq {
namespace {
namespace fs = std::filesystem;

const std::string kInqTrain = std::string(INQ_BINARY_DIR) + "/bin/inq_train";

struct Expected {
  const char* name;
  const char* model;
  int bits;
  std::vector<double> portions;
};

const std::vector<double> kFive = {0.5, 0.75, 0.875, 1.0};

const std::vector<Expected> kConfigs = {
    {"resnet18_5bit", "resnet18", 5, kFive},
    {"resnet18_4bit", "resnet18", 4, {0.3, 0.5, 0.8, 0.9, 0.95, 1.0}},
    {"resnet18_3bit", "resnet18", 3, {0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0}},
    {"resnet18_2bit", "resnet18", 2, {0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 1.0}},
    {"resnet50_5bit", "resnet50", 5, kFive},
    {"vgg16_5bit", "vgg16", 5, kFive},
    {"alexnet_5bit", "alexnet", 5, {0.3, 0.6, 0.8, 1.0}},
    {"googlenet_5bit", "googlenet", 5, {0.2, 0.4, 0.6, 0.8, 1.0}},
};

std::string config_path(const std::string& name) { return std::string(INQ_SOURCE_DIR) + "/configs/" + name + ".json"; }

TEST(ImageNetConfigs, ReadWithThePapersSettings) {
  std::vector<int64_t> resnet18_epochs;
  for (const auto& e : kConfigs) {
    SCOPED_TRACE(e.name);
    Config c = Config::load(config_path(e.name));
    const TrainSettings s = read_train_settings(c, false);
    EXPECT_EQ(s.device, "cuda");
    EXPECT_EQ(s.model.name, e.model);
    EXPECT_EQ(s.model.num_classes, 1000);
    EXPECT_EQ(s.model.image_size, 224);
    EXPECT_EQ(s.data.dataset, "imagenet");
    EXPECT_FALSE(s.data.root.empty());
    EXPECT_EQ(s.data.eval_resize, 256);
    EXPECT_TRUE(s.data.reduced_decode);
    EXPECT_TRUE(s.data.region_decode);
    EXPECT_EQ(s.init_weights, std::string("pretrained/") + e.model + ".safetensors");
    EXPECT_EQ(s.batch_size, 256);
    EXPECT_EQ(s.optimizer.momentum, 0.9);
    EXPECT_EQ(s.optimizer.weight_decay, std::string(e.model) == "googlenet" ? 2e-4 : 5e-4);
    ASSERT_TRUE(s.inq.enabled);
    EXPECT_EQ(s.inq.options.bits, e.bits);
    EXPECT_EQ(s.inq.options.portions, e.portions);
    const int64_t total = std::accumulate(s.inq.stage_epochs.begin(), s.inq.stage_epochs.end(), int64_t{0});
    if (e.bits == 5) {
      EXPECT_LT(total, 8);
    }
    if (e.bits == 2) {
      EXPECT_EQ(s.inq.stage_epochs, std::vector<int64_t>(10, 30));
    }
    if (std::string(e.model) == "resnet18") resnet18_epochs.push_back(total);
  }
  // 5, 4, 3, 2 bits: more epochs as the bit-width falls.
  ASSERT_EQ(resnet18_epochs.size(), 4u);
  EXPECT_TRUE(std::is_sorted(resnet18_epochs.begin(), resnet18_epochs.end()));
  EXPECT_LT(resnet18_epochs[0], resnet18_epochs[1]);
  EXPECT_LT(resnet18_epochs[2], resnet18_epochs[3]);
}

// The learning rate of every epoch of a run, in the order trained: with inq.restart_lr each stage
// runs the schedule anew over its own epochs. The schedules are step-shaped at whole epochs, so the
// rate at an epoch's start is its rate throughout.
std::vector<double> epoch_lrs(const TrainSettings& s) {
  std::vector<double> lrs;
  const std::vector<int64_t> phases =
      s.inq.enabled && s.inq.restart_lr ? s.inq.stage_epochs : std::vector<int64_t>{s.epochs};
  for (const int64_t epochs : phases) {
    const LrSchedule schedule(s.lr_schedule, epochs, 1);
    for (int64_t e = 0; e < epochs; ++e) lrs.push_back(schedule.at_epoch(double(e)));
  }
  return lrs;
}

// Table 4: TWN and BWN start from the same pretrained ResNet-18 as INQ's 2-bit run and get its
// budget: the same epochs (300), optimizer, batch and data, and the same number of epochs at each
// learning rate (INQ: 10 per stage at each of 1e-3, 1e-4, 1e-5; the baselines: 100 in a row at each).
TEST(ImageNetConfigs, Table4BaselinesHaveTheTwoBitInqBudget) {
  Config inq_config = Config::load(config_path("resnet18_2bit"));
  const TrainSettings inq = read_train_settings(inq_config, false);
  ASSERT_TRUE(inq.inq.enabled);
  ASSERT_TRUE(inq.inq.restart_lr);
  const std::vector<double> inq_lrs = epoch_lrs(inq);
  ASSERT_EQ(inq_lrs.size(), 300u);
  for (const auto& [name, method, bits] : {std::tuple{"resnet18_twn", QuantMethod::Ternary, 2},
                                           std::tuple{"resnet18_bwn", QuantMethod::Binary, 1}}) {
    SCOPED_TRACE(name);
    Config c = Config::load(config_path(name));
    const TrainSettings s = read_train_settings(c, false);
    EXPECT_FALSE(s.inq.enabled);
    ASSERT_TRUE(s.quant.enabled);
    EXPECT_EQ(s.quant.method, method);
    EXPECT_EQ(s.quant.bits, bits);
    EXPECT_TRUE(s.quant.include.empty());  // every conv and linear weight, first and last layer too, as INQ
    EXPECT_TRUE(s.quant.exclude.empty());
    EXPECT_EQ(s.device, inq.device);
    EXPECT_EQ(s.model.name, inq.model.name);
    EXPECT_EQ(s.model.num_classes, inq.model.num_classes);
    EXPECT_EQ(s.model.image_size, inq.model.image_size);
    EXPECT_EQ(s.data.dataset, inq.data.dataset);
    EXPECT_EQ(s.data.root, inq.data.root);
    EXPECT_EQ(s.data.augment, inq.data.augment);
    EXPECT_EQ(s.init_weights, inq.init_weights);
    EXPECT_EQ(s.batch_size, inq.batch_size);
    EXPECT_EQ(s.optimizer.lr, inq.optimizer.lr);
    EXPECT_EQ(s.optimizer.momentum, inq.optimizer.momentum);
    EXPECT_EQ(s.optimizer.weight_decay, inq.optimizer.weight_decay);
    EXPECT_EQ(s.optimizer.nesterov, inq.optimizer.nesterov);
    EXPECT_EQ(s.epochs, int64_t(inq_lrs.size()));
    std::vector<double> a = epoch_lrs(s), b = inq_lrs;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_DOUBLE_EQ(a[i], b[i]) << "epoch rank " << i;
    EXPECT_DOUBLE_EQ(a.front(), 1e-5);
    EXPECT_DOUBLE_EQ(a.back(), 1e-3);
  }
}

TEST(ImageNetConfigs, RegionDecodeIsReadAndBelongsToImageNet) {
  Config c = Config::load(config_path("resnet18_4bit"));
  c.apply_override("data.region_decode=false");
  EXPECT_FALSE(read_train_settings(c, false).data.region_decode);
  Config f(nlohmann::json::parse(R"({"data": {"dataset": "fashion_mnist", "region_decode": true}})"));
  try {
    read_train_settings(f, false);
    FAIL() << "expected data.region_decode to be refused for fashion_mnist";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("data.region_decode"), std::string::npos) << e.what();
  }
}

TEST(ImageNetConfigs, InqTrainWithoutImageNetNamesTheRootAndTheLayouts) {
  if (!fs::exists(kInqTrain)) GTEST_SKIP() << kInqTrain << " not built";
  const fs::path tmp = test::make_temp_dir("imagenet_cfg_");
  std::vector<std::string> names = {"resnet18_twn", "resnet18_bwn"};
  for (const auto& e : kConfigs) names.push_back(e.name);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const std::string root = (tmp / "no_imagenet_here").string();
    int code = 0;
    const std::string out = test::run_command(kInqTrain + " " + config_path(name) + " --set device=cpu --set data.root=" +
                                                  root + " --out " + (tmp / name).string() + " 2>&1",
                                              &code);
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("data.root " + root + " is not a directory"), std::string::npos) << out;
    EXPECT_NE(out.find("Accepted layouts: ROOT/train/<wnid>/*.JPEG"), std::string::npos) << out;
    EXPECT_EQ(out.find("Segmentation"), std::string::npos) << out;
  }
}

TEST(ImageNetConfigs, InqTrainWithoutPretrainedWeightsNamesTheFile) {
  if (!fs::exists(kInqTrain)) GTEST_SKIP() << kInqTrain << " not built";
  if (!opencv_available()) GTEST_SKIP() << "built without OpenCV: inq_train stops at the data, before the weights";
  // A tree the index accepts (nothing is decoded before training starts).
  const fs::path tmp = test::make_temp_dir("imagenet_cfg_");
  for (const char* split : {"train", "val"})
    for (const char* wnid : {"n01440764", "n01443537"}) {
      fs::create_directories(tmp / "imagenet" / split / wnid);
      std::ofstream(tmp / "imagenet" / split / wnid / "a.JPEG") << "x";
    }
  for (const char* name : {"resnet18_4bit", "resnet18_twn"}) {
    SCOPED_TRACE(name);
    int code = 0;
    const std::string out = test::run_command("cd " + tmp.string() + " && " + kInqTrain + " " + config_path(name) +
                                                  " --set device=cpu --set train.batch_size=2 --set data.root=" +
                                                  (tmp / "imagenet").string() + " --out run_" + name + " 2>&1",
                                              &code);
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("init.weights"), std::string::npos) << out;
    EXPECT_NE(out.find("pretrained/resnet18.safetensors"), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace inq
