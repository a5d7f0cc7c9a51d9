// INQ training end to end on the CPU backend, on resnet8 with synthetic data (a tiny FP32 run makes
// the pretrained weights): staged freezing reaches the configured portions, frozen weights never
// move again, the result is in the level sets, an interrupted and resumed run is bit-identical to
// a straight one, the random partition is reproducible, BatchNorm re-estimation gives the batch
// statistics. (inq_train's INQ config errors, inq_check and inq_export: test_inq_tools.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/inq/inq_model_file.h"
#include "core/inq/inq_state.h"
#include "core/inq/log2_levels.h"
#include "core/io/safetensors.h"
#include "core/models/zoo.h"
#include "core/train/inq_schedule.h"
#include "core/train/trainer.h"
#include "data/synthetic.h"
#include "tests/model_test_util.h"
#include "tests/train_test_util.h"

namespace inq {
namespace {

namespace fs = std::filesystem;
using test::file_contents;
using test::read_metrics;

// Three stages of two epochs: 24 steps.
nlohmann::json inq_config(const std::string& init) {
  nlohmann::json j = test::resnet8_synthetic_config();
  j["init"]["weights"] = init;
  j["inq"] = {{"bits", 4}, {"portions", {0.5, 0.8, 1.0}}, {"epochs_per_stage", 2}};
  return j;
}

struct Snapshot {
  std::vector<float> params, buffers;
  std::vector<uint8_t> mask;
};

Snapshot snapshot(Net& net, const InqState& s) {
  Snapshot out{to_host(net.backend(), net.flat_params()), to_host(net.backend(), net.flat_buffers()), {}};
  out.mask.resize(out.params.size());
  net.backend().copy_to_host(out.mask.data(), s.mask(), out.mask.size());
  return out;
}

class InqTrain : public test::Fp32TrainedSuite {
 protected:
  static void SetUpTestSuite() { train_fp32("inq_train_inq_", test::resnet8_fp32_config()); }
};

TEST_F(InqTrain, StagesFreezeTheirPortionsAndFrozenWeightsNeverMove) {
  const nlohmann::json cfg = inq_config(init_);
  const std::vector<double> portions = {0.5, 0.8, 1.0};
  std::vector<Snapshot> at_end;
  std::vector<std::vector<int64_t>> frozen_counts;
  RunOptions o = quiet("stages");
  o.on_stage_end = [&](int stage, Net& net, const InqState& s) {
    EXPECT_EQ(stage, int(at_end.size()));
    at_end.push_back(snapshot(net, s));
    frozen_counts.emplace_back();
    for (const auto& t : s.tensors()) frozen_counts.back().push_back(t.frozen);
  };
  Trainer trainer(Config(cfg), o);
  const TrainSummary sum = trainer.run();
  ASSERT_TRUE(sum.completed);
  EXPECT_EQ(sum.global_step, 24);
  const InqState& s = *trainer.inq_state();
  ASSERT_EQ(at_end.size(), 3u);
  const Snapshot final_state = snapshot(trainer.net(), s);

  // n1 comes from the pretrained weights.
  const SafeTensorsFile init(init_);
  for (const auto& t : s.tensors()) {
    float max_abs = 0;
    for (float v : init.read_f32(t.name)) max_abs = std::max(max_abs, std::fabs(v));
    EXPECT_EQ(t.n1, inq_n1(max_abs)) << t.name;
  }

  for (size_t k = 0; k < at_end.size(); ++k) {
    const Snapshot& snap = at_end[k];
    for (size_t i = 0; i < s.tensors().size(); ++i) {
      const InqTensor& t = s.tensors()[i];
      const auto begin = snap.mask.begin() + t.offset;
      const int64_t frozen = std::count(begin, begin + t.numel, uint8_t(1));
      EXPECT_EQ(frozen, std::llround(portions[k] * double(t.numel))) << t.name << " stage " << k;
      EXPECT_EQ(frozen, frozen_counts[k][i]) << t.name;
      for (int64_t j = t.offset; j < t.offset + t.numel; ++j)
        if (snap.mask[size_t(j)]) {
          ASSERT_TRUE(inq_is_level(snap.params[size_t(j)], t.n1, t.n2())) << t.name;
        }
    }
    // Frozen in stage k: bit-identical at every later stage end and at the end of the run.
    for (size_t later = k + 1; later <= at_end.size(); ++later) {
      const Snapshot& l = later < at_end.size() ? at_end[later] : final_state;
      for (size_t j = 0; j < snap.mask.size(); ++j) {
        if (!snap.mask[j]) continue;
        ASSERT_TRUE(l.mask[j]) << "mask shrank at " << j << " between stage " << k << " and " << later;
        ASSERT_EQ(std::memcmp(&snap.params[j], &l.params[j], sizeof(float)), 0)
            << "weight " << j << " frozen in stage " << k << " moved by stage " << later;
      }
    }
  }
  // The free weights did train: some differ from the pretrained values at the end of stage 1.
  int64_t moved = 0;
  for (const auto& t : s.tensors()) {
    const std::vector<float> w0 = init.read_f32(t.name);
    for (int64_t j = 0; j < t.numel; ++j)
      moved += !at_end[0].mask[size_t(t.offset + j)] && at_end[0].params[size_t(t.offset + j)] != w0[size_t(j)];
  }
  EXPECT_GT(moved, 1000);
  // With every weight frozen (last stage) the float parameters still train.
  const Net::Entry* bn = trainer.net().find("bn1.weight");
  EXPECT_NE(std::memcmp(&at_end[1].params[size_t(bn->offset)], &at_end[2].params[size_t(bn->offset)], 16 * 4), 0);

  // The model file is in the level sets and carries the INQ metadata inq_check reads.
  const SafeTensorsFile model((root_ / "stages" / "model.safetensors").string());
  const auto reports = check_levels(model);
  EXPECT_EQ(reports.size(), s.tensors().size());
  for (const auto& r : reports) EXPECT_EQ(r.violations, 0) << r.name;

  // metrics.jsonl: the reference, then per epoch train and test with stage and portion.
  const auto m = read_metrics(root_ / "stages");
  ASSERT_EQ(m.size(), 13u);
  EXPECT_EQ(m[0]["split"], "test");
  EXPECT_EQ(m[0]["epoch"], 0);
  EXPECT_EQ(m[0]["stage"], -1);
  EXPECT_EQ(m[0]["portion"], 0.0);
  for (size_t i = 1; i < m.size(); ++i) {
    const int64_t epoch = int64_t(i + 1) / 2;  // records 1,2: epoch 1; 3,4: epoch 2; ...
    const size_t stage = size_t(epoch - 1) / 2;
    EXPECT_EQ(m[i]["epoch"], epoch);
    EXPECT_EQ(m[i]["split"], i % 2 ? "train" : "test");
    EXPECT_EQ(m[i]["stage"], stage) << i;
    EXPECT_EQ(m[i]["portion"], portions[stage]) << i;
    EXPECT_EQ(m[i].contains("stage_end"), i % 2 == 0 && epoch % 2 == 0) << i;
    // The schedule restarts each stage: 0.01 in a stage's first epoch, 0.001 in its second.
    EXPECT_DOUBLE_EQ(m[i]["lr"].get<double>(), epoch % 2 ? 0.01 : 0.001) << i;
  }
}

TEST_F(InqTrain, ResumeAcrossStageBoundariesIsBitIdentical) {
  nlohmann::json cfg = inq_config(init_);
  cfg["inq"]["bn_recalibration_batches"] = 2;
  cfg["inq"]["float_epochs"] = 1;  // 28 steps: stages at 0, 8, 16, float epoch at 24

  RunOptions o = quiet("straight");
  Trainer straight(Config(cfg), o);
  ASSERT_TRUE(straight.run().completed);
  const Snapshot want = snapshot(straight.net(), *straight.inq_state());

  // Stops: at the stage 1 -> 2 boundary (before its projection), inside stage 2, at the
  // boundary into the float epochs, then to the end.
  const std::vector<int64_t> stops = {8, 14, 24, -1};
  const std::vector<int> stages_begun = {1, 2, 3, 3};
  for (size_t i = 0; i < stops.size(); ++i) {
    RunOptions r = quiet("resumed");
    r.resume = i > 0;
    r.stop_after_steps = stops[i];
    Trainer t(Config(cfg), r);
    const TrainSummary sum = t.run();
    EXPECT_EQ(sum.completed, stops[i] < 0) << "leg " << i;
    if (stops[i] >= 0) {
      EXPECT_EQ(sum.global_step, stops[i]);
    }
    EXPECT_EQ(t.inq_state()->stages_begun(), stages_begun[i]) << "leg " << i;
    if (i + 1 < stops.size()) continue;
    const Snapshot got = snapshot(t.net(), *t.inq_state());
    EXPECT_EQ(0, std::memcmp(got.params.data(), want.params.data(), got.params.size() * 4)) << "weights differ";
    EXPECT_EQ(0, std::memcmp(got.buffers.data(), want.buffers.data(), got.buffers.size() * 4))
        << "BatchNorm statistics differ";
    EXPECT_EQ(got.mask, want.mask) << "masks differ";
  }
  EXPECT_TRUE(file_contents(root_ / "straight" / "model.safetensors") ==
              file_contents(root_ / "resumed" / "model.safetensors"))
      << "model.safetensors differ";
  const auto ma = read_metrics(root_ / "straight"), mb = read_metrics(root_ / "resumed");
  ASSERT_EQ(ma.size(), 15u);
  ASSERT_EQ(mb.size(), ma.size());
  for (size_t i = 0; i < ma.size(); ++i)
    for (const char* key : {"epoch", "global_step", "split", "loss", "top1", "top5", "lr", "stage", "portion"})
      EXPECT_EQ(ma[i][key], mb[i][key]) << "record " << i << " key " << key;
  EXPECT_EQ(ma.back()["stage"], 3);  // the float epoch
}

TEST_F(InqTrain, RandomPartitionIsReproducibleFromItsSeed) {
  auto first_mask = [&](const std::string& partition, int seed, const std::string& name) {
    nlohmann::json cfg = inq_config(init_);
    cfg["inq"]["portions"] = {0.5, 1.0};
    cfg["inq"]["epochs_per_stage"] = 1;
    cfg["inq"]["partition"] = partition;
    cfg["inq"]["seed"] = seed;
    std::vector<uint8_t> mask;
    RunOptions o = quiet(name);
    o.on_stage_end = [&](int stage, Net& net, const InqState& s) {
      if (stage == 0) mask = snapshot(net, s).mask;
    };
    Trainer t(Config(cfg), o);
    EXPECT_TRUE(t.run().completed);
    return std::make_pair(mask, to_host(t.net().backend(), t.net().flat_params()));
  };
  const auto a = first_mask("random", 7, "random_a");
  const auto b = first_mask("random", 7, "random_b");
  const auto c = first_mask("random", 8, "random_c");
  const auto d = first_mask("magnitude", 7, "magnitude");
  ASSERT_FALSE(a.first.empty());
  EXPECT_EQ(a.first, b.first);
  EXPECT_EQ(0, std::memcmp(a.second.data(), b.second.data(), a.second.size() * 4));
  EXPECT_NE(a.first, c.first);
  EXPECT_NE(a.first, d.first);
}

// Adds `weight` times batch b's per-channel mean and unbiased variance of resnet8's conv1 output
// (3x3, pad 1, no bias; computed here in double) to mean/var: what bn1 should see.
void add_conv1_stats(const HostBatch& b, const std::vector<float>& w, double weight, std::vector<double>& mean,
                     std::vector<double>& var) {
  const int hw = 28;
  for (int k = 0; k < 16; ++k) {
    double sum = 0, sq = 0;
    for (int i = 0; i < int(b.size); ++i)
      for (int y = 0; y < hw; ++y)
        for (int x = 0; x < hw; ++x) {
          double acc = 0;
          for (int r = 0; r < 3; ++r)
            for (int s = 0; s < 3; ++s) {
              const int yy = y + r - 1, xx = x + s - 1;
              if (yy >= 0 && yy < hw && xx >= 0 && xx < hw)
                acc += double(w[size_t(k * 9 + r * 3 + s)]) * b.images[size_t((i * hw + yy) * hw + xx)];
            }
          sum += acc;
          sq += acc * acc;
        }
    const double count = double(b.size) * hw * hw, m = sum / count;
    mean[size_t(k)] += weight * m;
    var[size_t(k)] += weight * (sq - count * m * m) / (count - 1);
  }
}

TEST(InqBatchNormRecalibration, GivesTheMeanOfTheBatchStatisticsAndMovesNoParameter) {
  auto be = make_backend(Device::CPU, {/*threads=*/1});
  auto net = make_model(test::resnet8_options());
  net->materialize(*be, 3);
  auto data = make_synthetic(96, {1, 28, 28}, 10, 0);
  LoaderOptions lo;
  lo.batch_size = 32;
  lo.workers = 1;
  Loader loader(data, lo), twin(data, lo);  // 3 batches per epoch

  net->set("bn1.running_mean", std::vector<float>(16, 5.0f));  // stale statistics must not leak in
  net->set("layer3.0.bn2.running_var", std::vector<float>(64, 7.0f));
  const float tracked = net->get("bn1.num_batches_tracked")[0];
  const std::vector<float> params = to_host(*be, net->flat_params());
  Tensor x = empty(*be, {32, 1, 28, 28});
  auto upload = [&](const HostBatch& b) {
    be->copy_from_host(x.data(), b.images.data(), b.images.size() * sizeof(float));
    return x.narrow_rows(0, b.size);
  };
  const uint64_t copies_before = be->blocking_copies();
  EXPECT_EQ(recalibrate_batchnorm(*net, loader, 5, 4, upload, 1), 9);  // 4 batches: epoch 5 and into epoch 6
  EXPECT_EQ(be->blocking_copies(), copies_before) << "the re-estimation waited for a copy to the host";

  std::vector<double> want_mean(16, 0.0), want_var(16, 0.0);
  const std::vector<float> w = net->get("conv1.weight");
  for (int k = 0; k < 4; ++k) {
    if (k == 0 || k == 3) twin.start_epoch(k == 0 ? 5 : 6);
    const HostBatch* b = twin.next();
    ASSERT_NE(b, nullptr);
    add_conv1_stats(*b, w, 0.25, want_mean, want_var);
  }
  const std::vector<float> got_mean = net->get("bn1.running_mean"), got_var = net->get("bn1.running_var");
  for (size_t c = 0; c < 16; ++c) {
    EXPECT_NEAR(got_mean[c], want_mean[c], 1e-5 + 1e-4 * std::fabs(want_mean[c])) << "channel " << c;
    EXPECT_NEAR(got_var[c], want_var[c], 1e-5 + 1e-4 * want_var[c]) << "channel " << c;
  }
  for (float v3 : net->get("layer3.0.bn2.running_var")) EXPECT_TRUE(std::isfinite(v3) && v3 != 7.0f && v3 > 0);
  EXPECT_EQ(net->get("bn1.num_batches_tracked")[0], tracked + 4);
  EXPECT_EQ(0, std::memcmp(params.data(), to_host(*be, net->flat_params()).data(), params.size() * 4))
      << "recalibration changed a parameter";
}

// Two stages (σ = 0.5, 1) of the given epochs, then `float_epochs` float epochs.
InqSettings two_stages(std::vector<int64_t> stage_epochs, int float_epochs) {
  InqSettings s;
  s.enabled = true;
  s.options.portions = {0.5, 1.0};
  s.stage_epochs = std::move(stage_epochs);
  s.float_epochs = float_epochs;
  return s;
}

// lr 0.01, times 0.1 at each milestone (epochs).
LrScheduleOptions multistep_lr(std::vector<double> milestones) {
  LrScheduleOptions lr;
  lr.type = "multistep";
  lr.base_lr = 0.01;
  lr.milestones = std::move(milestones);
  return lr;
}

TEST(InqPlan, MapsEpochsToStagesAndRestartsTheSchedule) {
  InqSettings s = two_stages({2, 3}, 1);
  const LrScheduleOptions lr = multistep_lr({1});
  const InqPlan restarted(s, lr, 10);
  EXPECT_EQ(restarted.total_epochs(), 6);
  const std::vector<int> stage = {0, 0, 1, 1, 1, 2};
  const std::vector<int> in_stage = {0, 1, 0, 1, 2, 0};
  for (int e = 0; e < 6; ++e) {
    const InqPhase p = restarted.at_epoch(e);
    EXPECT_EQ(p.stage, stage[size_t(e)]) << e;
    EXPECT_EQ(p.epoch_in_phase, in_stage[size_t(e)]) << e;
    EXPECT_EQ(p.kind == PhaseKind::Float, e == 5);
    // Each stage (and the float epoch) restarts the schedule: 0.01 in its first epoch only.
    EXPECT_DOUBLE_EQ(restarted.lr_at_step(e * 10), in_stage[size_t(e)] == 0 ? 0.01 : 0.001) << e;
  }
  EXPECT_DOUBLE_EQ(restarted.lr_at_step(45), 0.001);  // stage 2, its second epoch
  EXPECT_EQ(restarted.label(restarted.at_epoch(3)), "stage 2/2 (σ=1) epoch 2/3");
  EXPECT_EQ(restarted.label(restarted.at_epoch(5)), "float epoch 1/1");
  s.restart_lr = false;
  const InqPlan once(s, lr, 10);
  EXPECT_DOUBLE_EQ(once.lr_at_step(5), 0.01);
  EXPECT_DOUBLE_EQ(once.lr_at_step(20), 0.001);  // one schedule: past its milestone for good
}

TEST(InqPlan, FloatPhaseHasItsOwnMilestones) {
  InqSettings s = two_stages({4, 4}, 2);
  const LrScheduleOptions lr = multistep_lr({2});  // half of a 4-epoch stage: never reached inside the 2 float epochs
  EXPECT_DOUBLE_EQ(InqPlan(s, lr, 10).lr_at_step(95), 0.01);  // float epoch 2 still at the stage lr
  s.has_float_milestones = true;
  s.float_milestones = {1};
  const InqPlan plan(s, lr, 10);
  EXPECT_DOUBLE_EQ(plan.lr_at_step(85), 0.01);   // float epoch 1
  EXPECT_DOUBLE_EQ(plan.lr_at_step(95), 0.001);  // float epoch 2: past its own milestone
  EXPECT_DOUBLE_EQ(plan.lr_at_step(25), 0.001);  // the stages keep lr_schedule's
  EXPECT_DOUBLE_EQ(plan.lr_at_step(15), 0.01);
}

TEST(InqConfig, FloatMilestonesAreCheckedAndReadOnlyWhenPresent) {
  auto read = [](const nlohmann::json& inq_extra, const std::string& type = "multistep") {
    nlohmann::json j = {{"device", "cpu"},
                        {"model", {{"name", "resnet8"}, {"in_channels", 1}, {"image_size", 28}, {"num_classes", 10}}},
                        {"init", {{"weights", "w.safetensors"}}},
                        {"inq", {{"bits", 4}, {"float_epochs", 2}}}};
    j["lr_schedule"] = {{"type", type}};
    if (type == "multistep") j["lr_schedule"]["milestones"] = {1};
    j["inq"].update(inq_extra);
    Config c(j);
    return read_train_settings(c, false);
  };
  const TrainSettings plain = read(nlohmann::json::object());
  EXPECT_FALSE(plain.inq.has_float_milestones);
  EXPECT_FALSE(plain.resolved["inq"].contains("float_milestones"));  // older run directories resume
  const TrainSettings set = read({{"float_milestones", {1.5}}});
  EXPECT_TRUE(set.inq.has_float_milestones);
  EXPECT_EQ(set.inq.float_milestones, std::vector<double>({1.5}));
  EXPECT_THROW(read({{"float_milestones", {2, 1}}}), ConfigError);
  EXPECT_THROW(read({{"float_milestones", {0}}}), ConfigError);
  EXPECT_THROW(read({{"float_milestones", {1}}, {"float_epochs", 0}}), ConfigError);
  EXPECT_THROW(read({{"float_milestones", {1}}}, "cosine"), ConfigError);
}

}  // namespace
}  // namespace inq
