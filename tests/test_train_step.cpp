// The training step: a steady-state step makes no blocking device-to-host copy (counted by the
// backend), the loss module's device sums equal the host's reckoning of the same logits, and a
// non-finite loss stops the run with no non-finite checkpoint written.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/config.h"
#include "core/io/safetensors.h"
#include "core/layers/softmax_cross_entropy.h"
#include "core/models/zoo.h"
#include "core/scratch_pool.h"
#include "core/train/metrics.h"
#include "core/train/optimizer.h"
#include "core/train/train_step.h"
#include "core/train/trainer.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

namespace inq {
namespace {

namespace fs = std::filesystem;

std::vector<Device> present_devices() {
  std::vector<Device> devices = {Device::CPU};
  if (cuda_available()) devices.push_back(Device::CUDA);
  return devices;
}

std::string device_name(const ::testing::TestParamInfo<Device>& info) {
  return info.param == Device::CPU ? "cpu" : "cuda";
}

// resnet8 on 1x28x28 inputs, 10 classes, with a fixed random batch of 8 on the device.
struct StepFixture {
  explicit StepFixture(Device device) : be(make_backend(device, BackendOptions{1})) {
    net = make_model(test::resnet8_options());
    net->materialize(*be, 0);
    sgd = std::make_unique<Sgd>(*net, SgdOptions{0.05, 0.9, 5e-4, false});
    loss = std::make_unique<SoftmaxCrossEntropy>(*be, kBatch, 10, 0.1);
    std::mt19937 gen(3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    host_x.resize(size_t(kBatch) * 28 * 28);
    for (float& v : host_x) v = normal(gen);
    for (int i = 0; i < kBatch; ++i) host_labels.push_back(int32_t(gen() % 10));
    x = to_backend(*be, host_x.data(), {kBatch, 1, 28, 28});
    labels = be->allocate(sizeof(int32_t) * kBatch);
    be->copy_from_host(labels->data(), host_labels.data(), sizeof(int32_t) * kBatch);
  }
  void step(uint64_t seed) {
    train_step(TrainStepParts{*net, *loss, *sgd},
               StepInput{x, static_cast<const int32_t*>(labels->data()), seed, 0.05, nullptr});
  }

  static constexpr int kBatch = 8;
  std::unique_ptr<Backend> be;
  std::unique_ptr<Net> net;
  std::unique_ptr<Sgd> sgd;
  std::unique_ptr<SoftmaxCrossEntropy> loss;
  std::vector<float> host_x;
  std::vector<int32_t> host_labels;
  Tensor x;
  std::shared_ptr<Storage> labels;
};

class TrainStep : public ::testing::TestWithParam<Device> {};

// The trainer's pattern: each step requests its sums and takes the previous step's.
TEST_P(TrainStep, SteadyStateStepMakesNoBlockingCopy) {
  StepFixture f(GetParam());
  f.step(1);  // warm-up: first-use allocations, plans
  f.loss->request_sums();
  for (uint64_t s = 2; s < 6; ++s) {
    const uint64_t before = f.be->blocking_copies();
    f.step(s);
    f.loss->request_sums();
    const LossSums previous = f.loss->take_sums();
    EXPECT_EQ(f.be->blocking_copies(), before) << "step " << s;
    EXPECT_TRUE(std::isfinite(previous.batch_loss_sum));
  }
  // The activation and gradient pool settled into one arena with the first steps and stopped growing.
  const size_t pool_bytes = f.net->scratch_bytes();
  EXPECT_GT(pool_bytes, 0u);
  f.step(7);
  EXPECT_EQ(f.net->scratch_bytes(), pool_bytes);
  EXPECT_EQ(f.net->scratch_arenas(), 1u);
  // The counter does count: a plain copy back is one.
  const uint64_t before = f.be->blocking_copies();
  (void)to_host(*f.be, f.loss->losses());
  EXPECT_EQ(f.be->blocking_copies(), before + 1);
}

// The device sums are what the host computed from the same logits before they moved to the device:
// the loss summed in order in double, top-k by strictly larger logits.
TEST_P(TrainStep, DeviceSumsMatchTheHostReckoning) {
  StepFixture f(GetParam());
  Context ctx{*f.be, false};
  const Tensor logits = f.net->forward(ctx, f.x);
  f.loss->set_sums(1.5, 3, 4);  // a resumed epoch's sums carry on
  f.loss->forward(logits, static_cast<const int32_t*>(f.labels->data()));
  f.loss->forward(logits, static_cast<const int32_t*>(f.labels->data()));  // the same batch twice
  f.loss->request_sums();
  const LossSums got = f.loss->take_sums();

  const std::vector<float> host_logits = to_host(*f.be, logits), host_loss = to_host(*f.be, f.loss->losses());
  Accumulator acc{1.5, 3, 4, 0};
  for (int k = 0; k < 2; ++k)
    acc.add(host_logits.data(), host_loss.data(), f.host_labels.data(), StepFixture::kBatch, 10);
  double batch = 0.0;
  for (int i = 0; i < StepFixture::kBatch; ++i) batch += host_loss[size_t(i)];
  EXPECT_EQ(got.loss_sum, acc.loss_sum);
  EXPECT_EQ(got.top1, acc.top1);
  EXPECT_EQ(got.top5, acc.top5);
  EXPECT_EQ(got.batch_loss_sum, batch);
}

// Memory is handed out again only once nobody holds it; the smallest free block that fits wins.
TEST(ScratchPool, ReusesOnlyReleasedMemorySmallestBlockFirst) {
  auto be = make_backend(Device::CPU);
  ScratchPool pool;
  Tensor big = pool.get(*be, {1000});
  Tensor small = pool.get(*be, {100});
  EXPECT_NE(big.data(), small.data());
  float* const small_data = small.data();
  float* const big_data = big.data();
  small = Tensor();
  Tensor held = pool.get(*be, {10});
  EXPECT_EQ(held.data(), small_data);  // the small block, not a new arena
  EXPECT_NE(pool.get(*be, {100}).data(), big_data);  // `big` is held: never handed out
  big = Tensor();
  EXPECT_EQ(pool.get(*be, {500}).data(), big_data);
}

// Backward's pattern: small tensors are released, then a larger gradient is asked for. Released
// neighbours merge, so after the first pass (which the pool lays out into one arena of its peak
// use) the larger request fits into their space and the pool does not grow.
TEST(ScratchPool, MergesReleasedNeighboursAndSettlesIntoOneArena) {
  auto be = make_backend(Device::CPU);
  ScratchPool pool;
  auto pass = [&] {
    Tensor a = pool.get(*be, {256}), b = pool.get(*be, {256}), c = pool.get(*be, {256});
    a = Tensor();
    b = Tensor();
    Tensor grad = pool.get(*be, {512});  // fits where a and b were, once merged
    c = Tensor();
  };
  pass();
  EXPECT_EQ(pool.peak_in_use(), 3 * 256 * sizeof(float));  // a, b, c; then c and the gradient
  pass();  // starts idle: one arena of the peak in use
  EXPECT_EQ(pool.arena_count(), 1u);
  EXPECT_EQ(pool.bytes(), 3 * 256 * sizeof(float));
  const size_t bytes = pool.bytes();
  pass();
  EXPECT_EQ(pool.bytes(), bytes);
  EXPECT_EQ(pool.arena_count(), 1u);
}

// A block may outlive its pool (a tensor returned by a layer after the Net is gone).
TEST(ScratchPool, BlocksOutliveThePool) {
  auto be = make_backend(Device::CPU);
  Tensor t;
  {
    ScratchPool pool;
    t = pool.get(*be, {64});
  }
  be->fill(t.data(), t.numel(), 2.0f);
  EXPECT_EQ(to_host(*be, t)[63], 2.0f);
}

INSTANTIATE_TEST_SUITE_P(PresentBackends, TrainStep, ::testing::ValuesIn(present_devices()), device_name);

nlohmann::json tiny_run(double lr, double gamma) {
  nlohmann::json j = nlohmann::json::parse(R"({
    "device": "cpu", "threads": 1, "seed": 0,
    "model": {"name": "resnet8", "in_channels": 1, "image_size": 28, "num_classes": 10},
    "data": {"dataset": "synthetic", "synthetic": {"size": 128, "test_size": 32}, "workers": 1},
    "train": {"batch_size": 32, "epochs": 3, "log_every": 1000},
    "optimizer": {"momentum": 0.9, "weight_decay": 0},
    "lr_schedule": {"type": "multistep", "milestones": [1]}
  })");
  j["optimizer"]["lr"] = lr;
  j["lr_schedule"]["gamma"] = gamma;
  return j;
}

// Runs `cfg` expecting TrainingDiverged; returns its message.
std::string diverge(const nlohmann::json& cfg, const fs::path& out) {
  RunOptions o;
  o.log = nullptr;
  o.out = out.string();
  Trainer trainer(Config(cfg), o);
  try {
    trainer.run();
  } catch (const TrainingDiverged& e) {
    return e.what();
  }
  ADD_FAILURE() << "the run did not diverge";
  return "";
}

void expect_finite_checkpoint(const fs::path& path, const std::string& epoch) {
  const SafeTensorsFile ckpt(path.string());
  EXPECT_EQ(ckpt.metadata().at("inq.epoch"), epoch);
  for (const std::string& name : ckpt.names()) {
    if (ckpt.info(name).dtype != DType::F32) continue;
    for (float v : ckpt.read_f32(name)) ASSERT_TRUE(std::isfinite(v)) << name;
  }
}

// A NaN classifier bias makes the very first step's loss NaN: the run stops naming that step (the
// host reads a step's loss one step later), before anything was checkpointed.
TEST(TrainStepDivergence, NonFiniteLossStopsTheRunNamingItsStep) {
  const fs::path dir = test::make_temp_dir("inq_diverge_");
  // No writer of ours writes a NaN: write ones, then turn the tensor's bytes (the file's tail) into NaNs.
  const std::vector<float> ones(10, 1.0f), nan_bias(10, std::numeric_limits<float>::quiet_NaN());
  SafeTensorsWriter w;
  w.add_f32("fc.bias", {10}, ones.data());
  const std::string path = (dir / "nan_bias.safetensors").string();
  w.write(path);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-std::streamoff(sizeof(float) * nan_bias.size()), std::ios::end);
    f.write(reinterpret_cast<const char*>(nan_bias.data()), std::streamsize(sizeof(float) * nan_bias.size()));
  }
  nlohmann::json cfg = tiny_run(0.01, 0.1);
  cfg["init"] = {{"weights", (dir / "nan_bias.safetensors").string()}, {"partial", true}};
  const std::string what = diverge(cfg, dir / "run");
  EXPECT_NE(what.find("loss is NaN at epoch 1, step 1/4 (global step 1)"), std::string::npos) << what;
  EXPECT_FALSE(fs::exists(dir / "run" / "checkpoint.safetensors"));
  EXPECT_FALSE(fs::exists(dir / "run" / "model.safetensors"));
  fs::remove_all(dir);
}

// An lr that explodes after epoch 1: BatchNorm keeps the loss finite while the weights grow until
// they overflow; whichever shows first (the loss or a weight at the next checkpoint) stops the run,
// and the checkpoint on disk stays epoch 1's, every value finite.
TEST(TrainStepDivergence, NoNonFiniteCheckpointIsEverWritten) {
  const fs::path dir = test::make_temp_dir("inq_diverge_");
  const std::string what = diverge(tiny_run(0.01, 1e30), dir / "run");
  EXPECT_NE(what.find("left as it was"), std::string::npos) << what;
  expect_finite_checkpoint(dir / "run" / "checkpoint.safetensors", "1");
  EXPECT_FALSE(fs::exists(dir / "run" / "model.safetensors"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace inq
