// Pruning before INQ, end to end on the CPU backend (resnet8, synthetic data, a tiny FP32 run for
// the pretrained weights): the prune mask only grows, each tensor reaches its target exactly, the
// pruned zeros stay frozen zeros through every INQ stage, INQ's n1 and portions are taken over the
// survivors, splicing masks the forward and ends at the exact target, and interrupted runs
// (mid-prune, at the prune -> INQ boundary) resume bit-identically. Config errors: test_prune_config.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/inq/inq_state.h"
#include "core/inq/log2_levels.h"
#include "core/io/safetensors.h"
#include "core/prune/prune_config.h"
#include "core/train/trainer.h"
#include "tests/train_test_util.h"

namespace inq {
namespace {

namespace fs = std::filesystem;
using test::file_contents;
using test::read_metrics;

// Prune 3 epochs (steps at epochs 0, 1, 2) then three 4-bit INQ stages of one epoch: 24 steps.
nlohmann::json prune_config(const std::string& init, bool splicing) {
  nlohmann::json j = test::resnet8_synthetic_config();
  j["init"]["weights"] = init;
  j["inq"] = {{"bits", 4}, {"portions", {0.5, 0.8, 1.0}}, {"epochs_per_stage", 1}};
  j["prune"] = {{"sparsity", 0.6}, {"targets", {{"fc.weight", 0.8}, {"conv1.*", 0.3}}}, {"epochs", 3},
                {"ramp", "cubic"}};
  if (splicing) {
    j["prune"]["splicing"] = true;
    j["prune"]["mask_every"] = 2;
  }
  return j;
}

std::vector<uint8_t> host_mask(Net& net, const InqState& s) {
  std::vector<uint8_t> m(size_t(net.flat_params().numel()));
  net.backend().copy_to_host(m.data(), s.mask(), m.size());
  return m;
}

double target_of(const std::string& name) {
  if (name == "fc.weight") return 0.8;
  if (name.rfind("conv1.", 0) == 0) return 0.3;
  return 0.6;
}

class PruneTrain : public test::Fp32TrainedSuite {
 protected:
  static void SetUpTestSuite() { train_fp32("inq_prune_train_", test::resnet8_fp32_config()); }

  // Runs `cfg` and checks the invariants at every phase end.
  static void run_and_check(const nlohmann::json& cfg, const std::string& name, bool splicing) {
    std::vector<uint8_t> pruned;  // 1 where pruned, over the flat parameters
    std::vector<int> n1_want;     // per tensor: n1 over the survivors of the pruned model
    std::vector<uint8_t> previous_mask;
    int phases = 0;
    RunOptions o = quiet(name);
    o.on_stage_end = [&](int stage, Net& net, const InqState& s) {
      EXPECT_EQ(stage, phases - 1) << "phases end in order, the prune phase first";
      ++phases;
      const std::vector<uint8_t> mask = host_mask(net, s);
      const std::vector<float> w = to_host(net.backend(), net.flat_params());
      if (!previous_mask.empty()) {
        for (size_t i = 0; i < mask.size(); ++i)
          ASSERT_TRUE(mask[i] >= previous_mask[i]) << "the mask shrank at flat index " << i << ", stage " << stage;
      }
      previous_mask = mask;
      if (stage == -1) {
        EXPECT_EQ(s.stages_begun(), 0);
        pruned.assign(mask.size(), 0);
        for (const auto& t : s.tensors()) {
          const int64_t want = std::llround(target_of(t.name) * double(t.numel));
          EXPECT_EQ(t.pruned, splicing ? 0 : want) << t.name;  // splicing freezes them when stage 1 begins
          // The pruned ones: the `want` smallest |w| (ties: the higher index first), by the latent
          // weights under splicing, or exactly the frozen zeros without it.
          std::vector<int64_t> order(size_t(t.numel));
          for (int64_t i = 0; i < t.numel; ++i) order[size_t(i)] = i;
          std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
            return std::fabs(w[size_t(t.offset + a)]) > std::fabs(w[size_t(t.offset + b)]);
          });
          float max_survivor = 0.0f;
          for (int64_t r = 0; r < t.numel; ++r) {
            const size_t k = size_t(t.offset + order[size_t(r)]);
            if (r >= t.numel - want) {
              pruned[k] = 1;
            } else {
              max_survivor = std::max(max_survivor, std::fabs(w[k]));
            }
          }
          if (!splicing)
            for (int64_t i = 0; i < t.numel; ++i) {
              const size_t k = size_t(t.offset + i);
              EXPECT_EQ(mask[k], pruned[k]) << t.name << "[" << i << "]: the pruned set is the smallest |w|";
              if (pruned[k]) {
                EXPECT_EQ(w[k], 0.0f) << t.name << "[" << i << "]";
              }
            }
          n1_want.push_back(max_survivor > 0.0f ? inq_n1(max_survivor) : 0);
        }
        return;
      }
      const std::vector<double> portions = {0.5, 0.8, 1.0};
      for (size_t i = 0; i < s.tensors().size(); ++i) {
        const InqTensor& t = s.tensors()[i];
        EXPECT_EQ(t.pruned, std::llround(target_of(t.name) * double(t.numel))) << t.name << ": the target, exactly";
        EXPECT_EQ(t.n1, n1_want[i]) << t.name << ": n1 over the survivors";
        // Portions are portions of the survivors.
        EXPECT_EQ(t.frozen, t.pruned + std::llround(portions[size_t(stage)] * double(t.survivors()))) << t.name;
        int64_t counted = 0;
        for (int64_t j = 0; j < t.numel; ++j) counted += mask[size_t(t.offset + j)];
        EXPECT_EQ(counted, t.frozen) << t.name;
      }
      for (size_t k = 0; k < pruned.size(); ++k)
        if (pruned[k]) {
          ASSERT_EQ(mask[k], 1) << "a pruned weight is not frozen at flat index " << k << ", stage " << stage;
          ASSERT_EQ(w[k], 0.0f) << "a pruned weight moved at flat index " << k << ", stage " << stage;
          ASSERT_FALSE(std::signbit(w[k])) << k;
        }
    };
    Trainer t(Config(cfg), o);
    const TrainSummary sum = t.run();
    ASSERT_TRUE(sum.completed);
    EXPECT_EQ(sum.global_step, 24);
    EXPECT_EQ(phases, 4);
  }
};

TEST_F(PruneTrain, PrunesToTheExactTargetsAndKeepsThePrunedZerosThroughEveryStage) {
  run_and_check(prune_config(init_, false), "plain", false);
  // metrics.jsonl: the reference, then prune epochs labelled "prune" with their sparsity, then stages.
  const auto m = read_metrics(root_ / "plain");
  ASSERT_EQ(m.size(), 1u + 2u * 6u);
  EXPECT_EQ(m[0]["stage"], -1);
  double last = 0.0;
  for (size_t i = 1; i <= 6; ++i) {
    EXPECT_EQ(m[i]["phase"], "prune") << i;
    EXPECT_FALSE(m[i].contains("stage")) << i;
    EXPECT_GE(m[i]["sparsity"].get<double>(), last) << "sparsity only grows";
    last = m[i]["sparsity"].get<double>();
  }
  EXPECT_EQ(m[6]["phase_end"], true);
  EXPECT_EQ(m[7]["stage"], 0);
  EXPECT_FALSE(m[7].contains("phase"));
}

TEST_F(PruneTrain, WithoutSplicingEachStepPrunesAtOnceOnItsCubicSchedule) {
  // Stop after each prune epoch's first step and look at the frozen counts of the checkpoint.
  nlohmann::json cfg = prune_config(init_, false);
  PruneSettings ps;
  ps.epochs = 3;
  ps.steps = 3;
  ps.ramp = PruneRamp::Cubic;
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    RunOptions r = quiet("steps");
    r.resume = epoch > 0;
    r.stop_after_steps = epoch * 4 + 1;
    Trainer t(Config(cfg), r);
    EXPECT_FALSE(t.run().completed);
    const double f = prune_ramp_fraction(ps, epoch);
    for (const auto& tensor : t.inq_state()->tensors())
      EXPECT_EQ(tensor.pruned, prune_count(target_of(tensor.name), f, tensor.numel))
          << tensor.name << " epoch " << epoch;
  }
}

TEST_F(PruneTrain, SplicingEndsAtTheExactTargetsWithThePrunedZerosFrozen) {
  run_and_check(prune_config(init_, true), "splicing", true);
}

void expect_resume_identical(const fs::path& root, const nlohmann::json& cfg, const std::vector<int64_t>& stops,
                             const std::string& tag) {
  auto quiet = [&](const std::string& name) { return test::quiet_run(root / name); };
  Trainer straight(Config(cfg), quiet(tag + "_straight"));
  ASSERT_TRUE(straight.run().completed);
  for (size_t i = 0; i < stops.size(); ++i) {
    RunOptions r = quiet(tag + "_resumed");
    r.resume = i > 0;
    r.stop_after_steps = stops[i];
    Trainer t(Config(cfg), r);
    EXPECT_EQ(t.run().completed, stops[i] < 0) << tag << " leg " << i;
  }
  EXPECT_TRUE(file_contents(root / (tag + "_straight") / "model.safetensors") ==
              file_contents(root / (tag + "_resumed") / "model.safetensors"))
      << tag << ": model.safetensors differ";
  // The final checkpoints' tensors (weights, momentum, INQ masks, splicing masks), byte for byte;
  // their metadata differ in the run directory and the wall time.
  const SafeTensorsFile ca((root / (tag + "_straight") / "checkpoint.safetensors").string());
  const SafeTensorsFile cb((root / (tag + "_resumed") / "checkpoint.safetensors").string());
  ASSERT_EQ(ca.names(), cb.names());
  for (const auto& name : ca.names()) {
    const size_t bytes = ca.info(name).end - ca.info(name).begin;
    ASSERT_EQ(bytes, cb.info(name).end - cb.info(name).begin) << name;
    EXPECT_EQ(0, std::memcmp(ca.raw(name), cb.raw(name), bytes)) << tag << ": checkpoint tensor " << name << " differs";
  }
  EXPECT_EQ(ca.metadata().at("prune"), cb.metadata().at("prune"));
  EXPECT_EQ(ca.metadata().at("inq"), cb.metadata().at("inq"));
  const auto ma = read_metrics(root / (tag + "_straight")), mb = read_metrics(root / (tag + "_resumed"));
  ASSERT_EQ(ma.size(), mb.size());
  for (size_t i = 0; i < ma.size(); ++i)
    for (const char* key : {"epoch", "global_step", "loss", "top1", "lr", "sparsity", "phase", "stage"})
      EXPECT_EQ(ma[i].value(key, nlohmann::json()), mb[i].value(key, nlohmann::json()))
          << tag << " record " << i << " " << key;
}

TEST_F(PruneTrain, ResumeMidPruneAndAtThePruneToInqBoundaryIsBitIdentical) {
  // Stops: inside prune epoch 1 (after its step), at the start of prune epoch 2 (before its step),
  // at the prune -> INQ boundary (before stage 1's projection), inside stage 1, then to the end.
  expect_resume_identical(root_, prune_config(init_, false), {5, 8, 12, 14, -1}, "plain");
  // Splicing: mid-epoch stops between mask updates (mask_every 2) and at the boundary.
  expect_resume_identical(root_, prune_config(init_, true), {3, 6, 12, 13, -1}, "splicing");
}

}  // namespace
}  // namespace inq
