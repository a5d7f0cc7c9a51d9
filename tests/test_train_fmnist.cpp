// FP32 training end to end on the CPU backend: resnet8 on a few thousand Fashion-MNIST images
// learns (loss falls, test accuracy far above chance), and an interrupted run resumed from its
// checkpoints ends with bit-identical weights and metrics. Kept to ~1-2 minutes on 2 cores.
#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/train/trainer.h"
#include "data/fashion_mnist.h"
#include "tests/test_util.h"

namespace inq {
namespace {

namespace fs = std::filesystem;
using test::file_contents;

bool have_fashion_mnist() { return fs::exists(fs::path(kFashionMnistRoot) / "train-images-idx3-ubyte.gz"); }

nlohmann::json base_config(int64_t train_images, int64_t test_images, int64_t batch, double lr) {
  return nlohmann::json{
      {"device", "cpu"},
      {"threads", 2},
      {"seed", 0},
      {"model", {{"name", "resnet8"}}},
      {"data", {{"dataset", "fashion_mnist"}, {"train_limit", train_images}, {"test_limit", test_images},
                {"augment", true}, {"workers", 1}}},
      {"train", {{"epochs", 2}, {"batch_size", batch}, {"log_every", 1000}}},
      {"optimizer", {{"lr", lr}, {"momentum", 0.9}, {"weight_decay", 5e-4}}},
      {"lr_schedule", {{"type", "cosine"}}},
  };
}

std::vector<nlohmann::json> read_metrics(const std::string& dir) {
  std::ifstream f(fs::path(dir) / "metrics.jsonl");
  std::vector<nlohmann::json> v;
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) v.push_back(nlohmann::json::parse(line));
  return v;
}

TEST(TrainFmnist, Resnet8LearnsOnAFewThousandImages) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed (Debian package dataset-fashion-mnist)";
  const std::string dir = test::make_temp_dir("inq_train_fmnist_learn_").string();
  RunOptions opt;
  opt.out = dir;
  Trainer trainer(Config(base_config(3072, 1000, 32, 0.05)), opt);
  const TrainSummary sum = trainer.run();

  ASSERT_TRUE(sum.completed);
  ASSERT_EQ(sum.epochs.size(), 2u);
  ASSERT_EQ(sum.step_losses.size(), 2u * 96u);  // 3072 / 32 steps per epoch, last batch dropped never needed
  const double first20 = std::accumulate(sum.step_losses.begin(), sum.step_losses.begin() + 20, 0.0) / 20.0;
  const double last_epoch = sum.epochs.back().train.loss;
  std::printf("first 20 steps: mean loss %.4f; epoch 2 train loss %.4f; test loss %.4f top1 %.4f top5 %.4f\n",
              first20, last_epoch, sum.epochs.back().test.loss, sum.epochs.back().test.top1,
              sum.epochs.back().test.top5);
  EXPECT_GT(first20, 1.5);  // starts near ln(10) = 2.30: the model really was untrained
  EXPECT_LT(last_epoch, 0.6 * first20);
  EXPECT_GT(sum.epochs.back().test.top1, 0.6);  // chance is 0.1
  EXPECT_GT(sum.epochs.back().test.top5, sum.epochs.back().test.top1);

  // The run directory holds what inq_train promises.
  const auto m = read_metrics(dir);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0]["split"], "train");
  EXPECT_EQ(m[1]["split"], "test");
  EXPECT_EQ(m[3]["epoch"], 2);
  EXPECT_EQ(m[3]["global_step"], 192);
  EXPECT_DOUBLE_EQ(m[3]["top1"].get<double>(), sum.epochs.back().test.top1);
  for (const char* key : {"epoch", "split", "loss", "top1", "top5", "seconds", "lr", "images_per_second"})
    EXPECT_TRUE(m[0].contains(key)) << key;
  EXPECT_TRUE(fs::exists(fs::path(dir) / "model.safetensors"));
  EXPECT_TRUE(fs::exists(fs::path(dir) / "checkpoint.safetensors"));
  const auto saved = nlohmann::json::parse(file_contents((fs::path(dir) / "config.json").string()));
  EXPECT_EQ(saved["train"]["eval_batch_size"], 32);  // defaults are written into the resolved config
  EXPECT_EQ(saved["out"], dir);
  if (!HasFailure()) fs::remove_all(dir);
}

TEST(TrainFmnist, ResumeAtEpochBoundaryAndMidEpochIsBitIdentical) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed (Debian package dataset-fashion-mnist)";
  // 512 images, batch 64: 8 steps per epoch, 16 in all.
  const nlohmann::json cfg = base_config(512, 256, 64, 0.05);
  RunOptions quiet;
  quiet.log = nullptr;

  const std::string straight_dir = test::make_temp_dir("inq_train_fmnist_straight_").string();
  quiet.out = straight_dir;
  Trainer straight(Config(cfg), quiet);
  const TrainSummary a = straight.run();
  ASSERT_TRUE(a.completed);
  const std::vector<float> want_params = to_host(straight.net().backend(), straight.net().flat_params());
  const std::vector<float> want_buffers = to_host(straight.net().backend(), straight.net().flat_buffers());

  const std::string dir = test::make_temp_dir("inq_train_fmnist_resumed_").string();
  quiet.out = dir;
  {
    RunOptions o = quiet;
    o.stop_after_steps = 8;  // stops at the start of epoch 2
    Trainer t(Config(cfg), o);
    const TrainSummary s = t.run();
    EXPECT_FALSE(s.completed);
    EXPECT_EQ(s.stop_signal, SIGINT);
    EXPECT_EQ(s.epochs_done, 1);
    EXPECT_EQ(read_metrics(dir).size(), 2u);
  }
  {
    RunOptions o = quiet;
    o.resume = true;
    o.stop_after_steps = 12;  // stops in the middle of epoch 2
    Trainer t(Config(cfg), o);
    const TrainSummary s = t.run();
    EXPECT_FALSE(s.completed);
    EXPECT_EQ(s.global_step, 12);
    EXPECT_EQ(s.step_losses.size(), 4u);
  }
  RunOptions o = quiet;
  o.resume = true;
  Trainer resumed(Config(cfg), o);
  const TrainSummary b = resumed.run();
  ASSERT_TRUE(b.completed);
  EXPECT_EQ(b.step_losses.size(), 4u);
  EXPECT_EQ(b.global_step, 16);

  const std::vector<float> got_params = to_host(resumed.net().backend(), resumed.net().flat_params());
  const std::vector<float> got_buffers = to_host(resumed.net().backend(), resumed.net().flat_buffers());
  ASSERT_EQ(got_params.size(), want_params.size());
  EXPECT_EQ(0, std::memcmp(got_params.data(), want_params.data(), got_params.size() * sizeof(float)))
      << "parameters differ after resume";
  EXPECT_EQ(0, std::memcmp(got_buffers.data(), want_buffers.data(), got_buffers.size() * sizeof(float)))
      << "BatchNorm statistics differ after resume";
  EXPECT_TRUE(file_contents(straight_dir + "/model.safetensors") == file_contents(dir + "/model.safetensors"))
      << "model.safetensors differ";

  // Same evaluations, and the interrupted epoch's train record covers the whole epoch.
  const auto ma = read_metrics(straight_dir), mb = read_metrics(dir);
  ASSERT_EQ(ma.size(), 4u);
  ASSERT_EQ(mb.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(ma[i]["split"], mb[i]["split"]);
    EXPECT_EQ(ma[i]["loss"].get<double>(), mb[i]["loss"].get<double>()) << "record " << i;
    EXPECT_EQ(ma[i]["top1"].get<double>(), mb[i]["top1"].get<double>()) << "record " << i;
    EXPECT_EQ(ma[i]["lr"].get<double>(), mb[i]["lr"].get<double>()) << "record " << i;
  }
  if (!HasFailure()) {
    fs::remove_all(straight_dir);
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace inq
