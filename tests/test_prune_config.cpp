// Pruning's pieces without training: the `prune` config section and its errors, the schedule and
// its rounding rule, the reference kernels (the mask only grows; DNS's two thresholds), and the
// Pruner on a real network: exact per-tensor targets, splicing bringing a weight back once it grows
// past b, and the transform's W ⊙ T with the latent weights put back bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/backend.h"
#include "core/config.h"
#include "core/inq/inq_state.h"
#include "core/inq/log2_levels.h"
#include "core/models/zoo.h"
#include "core/prune/prune_config.h"
#include "core/prune/pruner.h"
#include "core/ref/prune_ref.h"
#include "core/train/train_config.h"
#include "tests/model_test_util.h"

namespace inq {
namespace {

nlohmann::json base() {
  return nlohmann::json::parse(R"({
    "device": "cpu", "model": {"name": "resnet8", "in_channels": 1, "image_size": 28, "num_classes": 10},
    "data": {"dataset": "synthetic"}, "init": {"weights": "w.safetensors"},
    "inq": {"bits": 5}, "prune": {"sparsity": 0.5}
  })");
}

std::string error_of(nlohmann::json j) {
  try {
    Config c(j);
    read_train_settings(c, false);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(PruneConfig, ReadsTheSectionAndAddsThePrunePhaseToTheEpochs) {
  nlohmann::json j = base();
  j["prune"] = {{"targets", {{"conv*", 0.7}, {"fc.weight", 0.9}}}, {"epochs", 4}, {"steps", 2}, {"ramp", "cubic"}};
  Config c(j);
  const TrainSettings s = read_train_settings(c, false);
  ASSERT_TRUE(s.prune.enabled);
  EXPECT_FALSE(s.prune.has_sparsity);
  EXPECT_EQ(s.prune.targets.at("fc.weight"), 0.9);
  EXPECT_EQ(s.prune.steps, 2);
  EXPECT_EQ(s.prune.ramp, PruneRamp::Cubic);
  EXPECT_EQ(s.epochs, 4 + 4 * 2);  // prune epochs + 4 stages x 2 epochs
  EXPECT_EQ(s.resolved["prune"]["splicing"], false);  // defaults written back
}

TEST(PruneConfig, BadInputNamesTheKey) {
  auto with = [](const char* key, nlohmann::json v) {
    nlohmann::json j = base();
    j["prune"][key] = v;
    return error_of(j);
  };
  EXPECT_NE(with("sparsity", 1.0).find("prune.sparsity: a sparsity must be in [0, 1)"), std::string::npos);
  EXPECT_NE(with("sparsity", -0.1).find("prune.sparsity"), std::string::npos);
  EXPECT_NE(with("targets", {{"fc.weight", 1.5}}).find("prune.targets.fc.weight"), std::string::npos);
  EXPECT_NE(with("targets", {{"fc.weight", "x"}}).find("prune.targets.fc.weight: expected a number"),
            std::string::npos);
  EXPECT_NE(with("epochs", 0).find("prune.epochs"), std::string::npos);
  EXPECT_NE(with("steps", 5).find("prune.steps: must be in 1..prune.epochs"), std::string::npos);
  EXPECT_NE(with("ramp", "exp").find("prune.ramp"), std::string::npos);
  EXPECT_NE(with("mask_every", 10).find("prune.mask_every: only used with prune.splicing true"), std::string::npos);
  EXPECT_NE(with("splicing_margin", 0.2).find("prune.splicing_margin: only used with prune.splicing true"),
            std::string::npos);
  nlohmann::json splice = base();
  splice["prune"]["splicing"] = true;
  splice["prune"]["mask_every"] = 0;
  EXPECT_NE(error_of(splice).find("prune.mask_every: must be >= 1"), std::string::npos);
  splice["prune"]["mask_every"] = 5;
  splice["prune"]["splicing_margin"] = 1.0;
  EXPECT_NE(error_of(splice).find("prune.splicing_margin: must be in [0, 1)"), std::string::npos);
  nlohmann::json none = base();
  none["prune"] = nlohmann::json::object();
  EXPECT_NE(error_of(none).find("prune: needs prune.sparsity"), std::string::npos);
  nlohmann::json alone = base();
  alone.erase("inq");
  alone["train"]["epochs"] = 1;
  EXPECT_NE(error_of(alone).find("prune: needs an inq section"), std::string::npos);
  nlohmann::json unknown = base();
  unknown["prune"]["sparsty"] = 0.5;
  EXPECT_NE(error_of(unknown).find("prune.sparsty"), std::string::npos);
}

TEST(PruneSchedule, StepsEpochsRampsAndTheRoundingRule) {
  PruneSettings s;
  s.epochs = 5;
  s.steps = 3;
  EXPECT_EQ(prune_step_epoch(s, 0), 0);
  EXPECT_EQ(prune_step_epoch(s, 1), 1);  // floor(5/3)
  EXPECT_EQ(prune_step_epoch(s, 2), 3);  // floor(10/3)
  EXPECT_EQ(prune_steps_through(s, 0), 1);
  EXPECT_EQ(prune_steps_through(s, 2), 2);
  EXPECT_EQ(prune_steps_through(s, 4), 3);
  EXPECT_DOUBLE_EQ(prune_ramp_fraction(s, 0), 1.0 / 3);
  EXPECT_EQ(prune_ramp_fraction(s, 2), 1.0);
  s.ramp = PruneRamp::Cubic;
  EXPECT_DOUBLE_EQ(prune_ramp_fraction(s, 0), 1.0 - 8.0 / 27);  // 1 - (1 - 1/3)^3
  EXPECT_EQ(prune_ramp_fraction(s, 2), 1.0);
  // llround(s * f * n), half away from zero.
  EXPECT_EQ(prune_count(0.5, 1.0, 5), 3);
  EXPECT_EQ(prune_count(0.7, 1.0, 10), 7);
  EXPECT_EQ(prune_count(0.25, 1.0, 2), 1);
  EXPECT_EQ(prune_count(0.6, 0.5, 3), 1);  // 0.9
}

TEST(PruneRef, FreezeOnlyGrowsTheMaskAndZeroesWeightAndMomentum) {
  std::vector<float> w = {0.5f, -0.25f, 0.125f, -1.0f}, m = {1, 2, 3, 4};
  std::vector<uint8_t> frozen = {0, 1, 0, 0}, keep = {1, 0, 0, 1};
  ref::prune_freeze_ref(4, w.data(), m.data(), frozen.data(), keep.data());
  EXPECT_EQ(frozen, (std::vector<uint8_t>{0, 1, 1, 0}));
  EXPECT_EQ(w[1], -0.25f);  // already frozen: untouched
  EXPECT_EQ(m[1], 2.0f);
  EXPECT_EQ(w[2], 0.0f);
  EXPECT_EQ(m[2], 0.0f);
  EXPECT_EQ(w[0], 0.5f);
  EXPECT_EQ(m[3], 4.0f);
}

TEST(PruneRef, SpliceUpdateCutsBelowAKeepsBetweenAndSplicesAboveB) {
  // t = 1, margin 0.25: a = 0.75, b = 1.25.
  const std::vector<float> w = {0.5f, -0.8f, 1.0f, 1.2f, -1.3f, 0.75f, 1.25f};
  std::vector<uint8_t> mask = {1, 0, 0, 1, 0, 1, 0};
  const float t = 1.0f;
  ref::prune_splice_update_ref(7, w.data(), &t, 0.25f, mask.data());
  EXPECT_EQ(mask, (std::vector<uint8_t>{0, 0, 0, 1, 1, 1, 0}));  // [a, b] keeps its state
  std::vector<float> masked = w;
  ref::prune_mask_multiply_ref(7, masked.data(), mask.data());
  EXPECT_EQ(masked, (std::vector<float>{0, 0, 0, 1.2f, -1.3f, 0.75f, 0}));
  EXPECT_FALSE(std::signbit(masked[1]));
  float kept = 0.0f;
  const std::vector<uint8_t> keep = {0, 1, 0, 1, 1, 0, 0};
  ref::prune_kept_min_abs_ref(7, w.data(), keep.data(), &kept);
  EXPECT_EQ(kept, 0.8f);
  const std::vector<uint8_t> none(7, 0);
  ref::prune_kept_min_abs_ref(7, w.data(), none.data(), &kept);
  EXPECT_EQ(kept, std::numeric_limits<float>::infinity());
}

struct Fixture {
  std::unique_ptr<Backend> be = make_backend(Device::CPU, {/*threads=*/1});
  std::unique_ptr<Net> net;
  Fixture() {
    net = make_model(test::resnet8_options());
    net->materialize(*be, 3);
  }
};

TEST(Pruner, PatternsThatMatchNoQuantisedTensorAreConfigErrors) {
  Fixture f;
  InqState inq(*f.net, InqOptions{});
  PruneSettings s;
  s.enabled = true;
  s.targets = {{"fc.bias", 0.5}};  // a parameter, but not one INQ quantises
  try {
    Pruner p(*f.net, inq, s, make_prune_ops(*f.be));
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("prune.targets.fc.bias: matches no quantised tensor"), std::string::npos);
  }
  s.targets = {{"conv*", 0.5}, {"conv1.weight", 0.7}};
  EXPECT_THROW(Pruner(*f.net, inq, s, make_prune_ops(*f.be)), ConfigError);  // two different targets
}

TEST(Pruner, SplicingBringsAWeightBackOnceItGrowsPastB) {
  Fixture f;
  InqState inq(*f.net, InqOptions{});
  PruneSettings s;
  s.enabled = true;
  s.targets = {{"fc.weight", 0.5}};
  s.epochs = 1;
  s.steps = 1;
  s.splicing = true;
  s.mask_every = 10;
  s.splicing_margin = 0.1;
  Pruner p(*f.net, inq, s, make_prune_ops(*f.be));
  auto transform = p.make_splice_transform();
  ASSERT_NE(transform, nullptr);
  // fc.weight := i + 1 for index i (n = 640): the step cuts the 320 smallest exactly.
  const int64_t n = 640;
  std::vector<float> w(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) w[size_t(i)] = float(i + 1);
  f.net->set("fc.weight", w);
  p.take_steps(0, nullptr);
  EXPECT_EQ(p.pruned_now(), 320);
  const std::vector<float> latent = to_host(*f.be, f.net->flat_params());
  transform->apply(*f.net);
  std::vector<float> seen = f.net->get("fc.weight");
  EXPECT_EQ(seen[10], 0.0f);
  EXPECT_EQ(seen[319], 0.0f);
  EXPECT_EQ(seen[320], 321.0f);
  transform->restore(*f.net);
  const std::vector<float> back = to_host(*f.be, f.net->flat_params());
  EXPECT_EQ(0, std::memcmp(back.data(), latent.data(), back.size() * sizeof(float))) << "latent weights put back";
  // Weight 10 grows past b, weight 400 shrinks below a, weight 300 (cut) moves into [a, b]. The 320
  // largest are then 322..640 without 401, plus 360 and 330 twice: t = 322, a = 289.8, b = 354.2.
  w[10] = 360.0f;
  w[400] = 100.0f;
  w[300] = 330.0f;
  f.net->set("fc.weight", w);
  p.before_step(7);  // not a multiple of mask_every: no update
  transform->apply(*f.net);
  seen = f.net->get("fc.weight");
  transform->restore(*f.net);
  EXPECT_EQ(seen[10], 0.0f);
  EXPECT_EQ(seen[400], 100.0f);
  p.before_step(20);
  transform->apply(*f.net);
  seen = f.net->get("fc.weight");
  transform->restore(*f.net);
  EXPECT_EQ(seen[10], 360.0f) << "spliced back: |w| > b";
  EXPECT_EQ(seen[400], 0.0f) << "cut: |w| < a";
  EXPECT_EQ(seen[300], 0.0f) << "between a and b: keeps its state (cut)";
  EXPECT_EQ(seen[320], 321.0f) << "between a and b: keeps its state (kept)";
  EXPECT_EQ(p.pruned_now(), 320);
  // The end of the phase: exactly 320 by latent magnitude, frozen as zeros in INQ's mask.
  p.finish(nullptr);
  EXPECT_TRUE(p.finished());
  const InqTensor& fc = inq.tensors().back();
  ASSERT_EQ(fc.name, "fc.weight");
  EXPECT_EQ(fc.pruned, 320);
  EXPECT_EQ(fc.frozen, 320);
  const std::vector<float> final_w = f.net->get("fc.weight");
  EXPECT_EQ(final_w[10], 360.0f);
  EXPECT_EQ(final_w[400], 0.0f);
  EXPECT_EQ(final_w[320], 0.0f) << "the exact target by latent magnitude: 321 is the 321st largest";
  EXPECT_EQ(final_w[300], 330.0f);
  EXPECT_EQ(fc.n1, inq_n1(640.0f)) << "n1 over the survivors";
  transform->apply(*f.net);  // inactive once finished
  EXPECT_EQ(f.net->get("fc.weight"), final_w);
}

}  // namespace
}  // namespace inq
