// InqState on a real network: tensor choice, staged freezing, levels after the last stage,
// frozen weights untouched by training steps, and the checkpoint round trip of the mask.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/backend.h"
#include "core/inq/inq_state.h"
#include "core/inq/log2_levels.h"
#include "core/io/safetensors.h"
#include "core/models/zoo.h"
#include "tests/model_test_util.h"

namespace inq {
namespace {

struct Fixture {
  std::unique_ptr<Backend> be = make_backend(Device::CPU, {/*threads=*/1});
  std::unique_ptr<Net> net;
  explicit Fixture(uint64_t seed = 1) {
    net = make_model(test::resnet8_options());
    net->materialize(*be, seed);
  }
  std::vector<uint8_t> mask(const InqState& s) {
    std::vector<uint8_t> m(size_t(net->flat_params().numel()));
    be->copy_to_host(m.data(), s.mask(), m.size());
    return m;
  }
};

TEST(InqState, QuantizesEveryConvAndLinearWeightByDefault) {
  Fixture f;
  InqState s(*f.net, InqOptions{});
  std::vector<std::string> names;
  for (const auto& t : s.tensors()) names.push_back(t.name);
  EXPECT_EQ(names.front(), "conv1.weight");
  EXPECT_EQ(names.back(), "fc.weight");
  EXPECT_NE(std::find(names.begin(), names.end(), "layer2.0.downsample.0.weight"), names.end());
  for (const auto& n : names) EXPECT_EQ(n.find("bn"), std::string::npos) << n;
  EXPECT_EQ(std::find(names.begin(), names.end(), "fc.bias"), names.end());
}

TEST(InqState, PatternsAndOverridesSelectTensorsAndBits) {
  Fixture f;
  InqOptions o;
  o.bits = 4;
  o.exclude = {"conv1.weight"};
  o.bits_override = {{"fc.*", 8}};
  InqState s(*f.net, o);
  for (const auto& t : s.tensors()) {
    EXPECT_NE(t.name, "conv1.weight");
    EXPECT_EQ(t.bits, t.name == "fc.weight" ? 8 : 4) << t.name;
    float max_abs = 0;
    for (float v : f.net->get(t.name)) max_abs = std::max(max_abs, std::fabs(v));
    EXPECT_EQ(t.n1, inq_n1(max_abs)) << t.name;
  }
}

TEST(InqState, RejectsBadOptions) {
  Fixture f;
  InqOptions o;
  o.bits = 9;
  EXPECT_THROW(InqState(*f.net, o), std::invalid_argument);
  o.bits = 5;
  o.portions = {0.5, 0.4, 1.0};
  EXPECT_THROW(InqState(*f.net, o), std::invalid_argument);
  o.portions = {0.5, 0.9};
  EXPECT_THROW(InqState(*f.net, o), std::invalid_argument);
  o.portions = {1.0};
  o.include = {"no.such.*"};
  EXPECT_THROW(InqState(*f.net, o), std::invalid_argument);
}

TEST(InqState, StagesFreezeTheAccumulatedPortionAndEndInTheLevelSet) {
  Fixture f;
  InqOptions o;
  o.bits = 3;
  o.portions = {0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0};
  InqState s(*f.net, o);
  std::vector<float> momentum(size_t(f.net->flat_params().numel()), 0.5f);
  std::vector<uint8_t> before;
  for (size_t k = 0; k < o.portions.size(); ++k) {
    before = f.mask(s);
    s.begin_stage(int(k), momentum.data());
    const auto after = f.mask(s);
    for (size_t i = 0; i < after.size(); ++i) ASSERT_TRUE(!before[i] || after[i]) << "mask shrank at " << i;
    for (const auto& t : s.tensors()) {
      const int64_t frozen = std::count(after.begin() + t.offset, after.begin() + t.offset + t.numel, uint8_t(1));
      EXPECT_EQ(frozen, std::llround(o.portions[k] * double(t.numel))) << t.name << " stage " << k;
      EXPECT_EQ(frozen, t.frozen);
    }
  }
  EXPECT_EQ(s.total_frozen(), s.total_quantized());
  for (const auto& t : s.tensors())
    for (float v : f.net->get(t.name)) ASSERT_TRUE(inq_is_level(v, t.n1, t.n2())) << t.name << " " << v;
  EXPECT_THROW(s.begin_stage(int(o.portions.size()), nullptr), std::logic_error);
}

TEST(InqState, FrozenWeightsSurviveSgdStepsBitForBit) {
  Fixture f;
  InqState s(*f.net, InqOptions{});
  const int64_t n = f.net->flat_params().numel();
  std::vector<float> momentum(static_cast<size_t>(n), 0.0f), grad(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) grad[size_t(i)] = float((i * 7919) % 13) - 6.0f;
  s.begin_stage(0, momentum.data());
  const auto mask = f.mask(s);
  std::vector<float> w0(static_cast<size_t>(n));
  std::memcpy(w0.data(), f.net->flat_params().data(), size_t(n) * 4);
  for (int step = 0; step < 5; ++step)
    f.be->sgd_step(n, f.net->flat_params().data(), grad.data(), momentum.data(), s.mask(), 0.01f, 0.9f, 5e-4f, false);
  const float* w = f.net->flat_params().data();
  int64_t moved = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (mask[size_t(i)]) {
      ASSERT_EQ(std::memcmp(&w[i], &w0[size_t(i)], 4), 0) << "frozen weight " << i << " changed";
    } else {
      moved += w[i] != w0[size_t(i)];
    }
  }
  EXPECT_GT(moved, 0);
}

TEST(InqState, SaveAndLoadRestoreMaskLevelsAndStage) {
  const auto path = std::filesystem::temp_directory_path() / "inq_state_test.safetensors";
  Fixture a;
  InqOptions o;
  o.partition = InqPartition::Random;
  o.seed = 5;
  InqState s(*a.net, o);
  s.begin_stage(0, nullptr);
  s.begin_stage(1, nullptr);
  SafeTensorsWriter w;
  s.save(w);
  w.write(path.string());

  Fixture b(2);  // different weights: n1 must come from the file, not be recomputed
  InqState r(*b.net, o);
  r.load(SafeTensorsFile(path.string()));
  EXPECT_EQ(r.stages_begun(), 2);
  EXPECT_EQ(a.mask(s), b.mask(r));
  for (size_t i = 0; i < s.tensors().size(); ++i) {
    EXPECT_EQ(r.tensors()[i].n1, s.tensors()[i].n1);
    EXPECT_EQ(r.tensors()[i].frozen, s.tensors()[i].frozen);
  }
  std::filesystem::remove(path);
}

TEST(InqState, RandomPartitionIsIdenticalForTheSameSeed) {
  Fixture a, b;
  InqOptions o;
  o.partition = InqPartition::Random;
  o.seed = 3;
  InqState sa(*a.net, o), sb(*b.net, o);
  sa.begin_stage(0, nullptr);
  sb.begin_stage(0, nullptr);
  EXPECT_EQ(a.mask(sa), b.mask(sb));
  Fixture c;
  o.seed = 4;
  InqState sc(*c.net, o);
  sc.begin_stage(0, nullptr);
  EXPECT_NE(a.mask(sa), c.mask(sc));
}

}  // namespace
}  // namespace inq
