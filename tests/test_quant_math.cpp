// The baseline quantisers' math (core/quant/quant_math.h, core/quant/quant_ref.h) against
// double-precision references on random tensors and on the edge cases: all zeros, one element,
// weights exactly at TWN's threshold, rounding ties of the uniform grid. Also the level check
// inq_check uses, and QuantTransform: apply() gives q(W), restore() the latent W bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/backend.h"
#include "core/models/zoo.h"
#include "core/quant/quant_ref.h"
#include "core/quant/quant_transform.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

namespace inq {
namespace {

std::vector<float> random_weights(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.05f);
  std::vector<float> w(n);
  for (auto& v : w) v = g(rng);
  return w;
}

// The reference parameters, in double throughout.
struct DoubleParams {
  double scale = 0, threshold = 0;
};

DoubleParams reference_params(QuantMethod m, int bits, const std::vector<float>& w) {
  DoubleParams p;
  const double n = double(w.size());
  if (m == QuantMethod::Uniform) {
    double mx = 0;
    for (float v : w) mx = std::max(mx, std::fabs(double(v)));
    p.scale = mx / double((1 << (bits - 1)) - 1);
    return p;
  }
  double sum = 0;
  for (float v : w) sum += std::fabs(double(v));
  if (m == QuantMethod::Binary) {
    p.scale = sum / n;
    return p;
  }
  p.threshold = 0.7 * sum / n;
  double above = 0, count = 0;
  for (float v : w)
    if (std::fabs(double(v)) > double(float(p.threshold))) above += std::fabs(double(v)), ++count;
  p.scale = count ? above / count : 0.0;
  return p;
}

void expect_close(double got, double want, const char* what) {
  EXPECT_NEAR(got, want, 1e-6 * std::fabs(want) + 1e-30) << what;
}

TEST(QuantMath, ParametersMatchADoubleReferenceOnRandomTensors) {
  for (const size_t n : {size_t(1), size_t(7), size_t(1000), size_t(65537)}) {
    const auto w = random_weights(n, uint32_t(n));
    for (const auto m : {QuantMethod::Binary, QuantMethod::Ternary, QuantMethod::Uniform}) {
      for (const int bits : m == QuantMethod::Uniform ? std::vector<int>{2, 3, 4, 5, 8} : std::vector<int>{0}) {
        const QuantParams p = ref::quant_params_ref(m, bits, w.data(), int64_t(n));
        const DoubleParams d = reference_params(m, bits, w);
        expect_close(p.scale, d.scale, "scale");
        if (m == QuantMethod::Ternary) expect_close(p.threshold, d.threshold, "threshold");
      }
    }
  }
}

TEST(QuantMath, MapsMatchADoubleReferenceOnRandomTensors) {
  const auto w = random_weights(20000, 11);
  const int64_t n = int64_t(w.size());
  std::vector<float> out(w.size());
  {
    const QuantParams p = ref::quant_params_ref(QuantMethod::Binary, 1, w.data(), n);
    ref::quant_apply_ref(QuantMethod::Binary, 1, w.data(), n, p, out.data());
    for (size_t i = 0; i < w.size(); ++i) ASSERT_EQ(out[i], w[i] < 0 ? -p.scale : p.scale) << i;
  }
  {
    const QuantParams p = ref::quant_params_ref(QuantMethod::Ternary, 2, w.data(), n);
    ref::quant_apply_ref(QuantMethod::Ternary, 2, w.data(), n, p, out.data());
    int64_t zeros = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      const double a = std::fabs(double(w[i]));
      const float want = a > double(p.threshold) ? (w[i] < 0 ? -p.scale : p.scale) : 0.0f;
      ASSERT_EQ(out[i], want) << i;
      zeros += out[i] == 0.0f;
    }
    // Gaussian weights: P(|w| <= 0.7 E|w|) = P(|z| <= 0.7 sqrt(2/pi)) ~ 0.42.
    EXPECT_NEAR(double(zeros) / double(n), 0.42, 0.02);
  }
  for (const int bits : {2, 3, 4, 5, 8}) {
    const QuantParams p = ref::quant_params_ref(QuantMethod::Uniform, bits, w.data(), n);
    ref::quant_apply_ref(QuantMethod::Uniform, bits, w.data(), n, p, out.data());
    const double qmax = double((1 << (bits - 1)) - 1);
    for (size_t i = 0; i < w.size(); ++i) {
      const double q = std::nearbyint(double(out[i]) / double(p.scale));
      ASSERT_EQ(out[i], float(q) * p.scale) << "not a multiple of the step: " << out[i];
      ASSERT_LE(std::fabs(q), qmax);
      // The nearest grid point of the double-precision ratio (the float division may round a
      // ratio within 1e-6 of a half to the other side).
      const double exact = double(w[i]) / double(p.scale);
      ASSERT_LE(std::fabs(q - exact), 0.5 + 1e-6) << w[i] << " -> " << out[i] << " bits " << bits;
    }
  }
}

TEST(QuantMath, AllZeroTensorsMapToZero) {
  const std::vector<float> w(100, 0.0f);
  std::vector<float> out(w.size(), 1.0f);
  for (const auto m : {QuantMethod::Binary, QuantMethod::Ternary, QuantMethod::Uniform}) {
    const QuantParams p = ref::quant_params_ref(m, 4, w.data(), 100);
    EXPECT_EQ(p.scale, 0.0f);
    ref::quant_apply_ref(m, 4, w.data(), 100, p, out.data());
    for (float v : out) ASSERT_EQ(v, 0.0f);
    for (float v : out) ASSERT_TRUE(quant_is_level(m, 4, v, p));
  }
}

TEST(QuantMath, OneElementKeepsItsValueOrSign) {
  for (const float w : {0.3f, -0.3f}) {
    float out = 0;
    QuantParams p = ref::quant_params_ref(QuantMethod::Binary, 1, &w, 1);
    ref::quant_apply_ref(QuantMethod::Binary, 1, &w, 1, p, &out);
    EXPECT_EQ(out, w);  // α = |w|
    p = ref::quant_params_ref(QuantMethod::Ternary, 2, &w, 1);
    EXPECT_EQ(p.threshold, float(0.7 * 0.3f));
    ref::quant_apply_ref(QuantMethod::Ternary, 2, &w, 1, p, &out);
    EXPECT_EQ(out, w);  // |w| > 0.7|w|: α = |w|
    p = ref::quant_params_ref(QuantMethod::Uniform, 4, &w, 1);
    ref::quant_apply_ref(QuantMethod::Uniform, 4, &w, 1, p, &out);
    EXPECT_EQ(out, 7.0f * (0.3f / 7.0f) * (w < 0 ? -1.0f : 1.0f));  // the grid's end point
  }
}

TEST(QuantMath, TernaryWeightsAtTheThresholdGoToZero) {
  // w = {x, -x, x+, -x+, 1.4 x 6} where x+ is the next float above x; x is moved onto the tensor's
  // own Δ = float(0.7 E|w|) (a fixed point: Δ changes by 0.14 of a change in x, so a few rounds
  // settle it exactly). Weights exactly at Δ stay 0, the next float up is above it.
  std::vector<float> w;
  float x = 0.7f;
  QuantParams p;
  for (int round = 0; round < 50; ++round) {
    const float up = std::nextafter(x, 2.0f);
    w = {x, -x, up, -up};
    for (int i = 0; i < 6; ++i) w.push_back(1.4f);
    p = ref::quant_params_ref(QuantMethod::Ternary, 2, w.data(), int64_t(w.size()));
    if (p.threshold == x) break;
    x = p.threshold;
  }
  ASSERT_EQ(p.threshold, x) << "no fixed point";
  double sum = 0;
  for (float v : w) sum += std::fabs(double(v));
  EXPECT_EQ(p.threshold, float(0.7 * (sum / 10.0)));
  std::vector<float> out(w.size());
  ref::quant_apply_ref(QuantMethod::Ternary, 2, w.data(), int64_t(w.size()), p, out.data());
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], 0.0f);
  EXPECT_EQ(out[2], p.scale);
  EXPECT_EQ(out[3], -p.scale);
  // α: the mean of the 8 magnitudes above Δ.
  double above = 0;
  for (size_t i = 2; i < w.size(); ++i) above += std::fabs(double(w[i]));
  EXPECT_EQ(p.scale, float(above / 8.0));
}

TEST(QuantMath, UniformRoundsHalfwayToEvenAndClampsToTheGrid) {
  // max|w| = 3 at 3 bits: s = 1, grid -3..3.
  const std::vector<float> w = {3.0f, 0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 0.49f, -3.0f};
  const QuantParams p = ref::quant_params_ref(QuantMethod::Uniform, 3, w.data(), int64_t(w.size()));
  ASSERT_EQ(p.scale, 1.0f);
  std::vector<float> out(w.size());
  ref::quant_apply_ref(QuantMethod::Uniform, 3, w.data(), int64_t(w.size()), p, out.data());
  EXPECT_EQ(out, (std::vector<float>{3.0f, 0.0f, 2.0f, 2.0f, -0.0f, -2.0f, 0.0f, -3.0f}));
  EXPECT_EQ(quant_value(QuantMethod::Uniform, 3, 100.0f, p), 3.0f);  // beyond the grid: clamped
  EXPECT_EQ(quant_value(QuantMethod::Uniform, 3, -100.0f, p), -3.0f);
}

TEST(QuantMath, LevelCheckAcceptsExactlyTheLevelSets) {
  const QuantParams p{0.25f, 0.1f};
  EXPECT_TRUE(quant_is_level(QuantMethod::Binary, 1, 0.25f, p));
  EXPECT_TRUE(quant_is_level(QuantMethod::Binary, 1, -0.25f, p));
  EXPECT_FALSE(quant_is_level(QuantMethod::Binary, 1, 0.0f, p));
  EXPECT_TRUE(quant_is_level(QuantMethod::Ternary, 2, 0.0f, p));
  EXPECT_TRUE(quant_is_level(QuantMethod::Ternary, 2, -0.25f, p));
  EXPECT_FALSE(quant_is_level(QuantMethod::Ternary, 2, 0.5f, p));
  EXPECT_FALSE(quant_is_level(QuantMethod::Ternary, 2, std::nextafter(0.25f, 1.0f), p));
  const QuantParams s{0.1f, 0.0f};  // 3 bits: q in -3..3
  for (int q = -3; q <= 3; ++q) EXPECT_TRUE(quant_is_level(QuantMethod::Uniform, 3, float(q) * 0.1f, s)) << q;
  EXPECT_FALSE(quant_is_level(QuantMethod::Uniform, 3, 4.0f * 0.1f, s));  // beyond the grid
  EXPECT_FALSE(quant_is_level(QuantMethod::Uniform, 3, 0.15f, s));
  EXPECT_FALSE(quant_is_level(QuantMethod::Uniform, 3, std::nextafter(0.2f, 1.0f), s));
  EXPECT_FALSE(quant_is_level(QuantMethod::Uniform, 3, std::numeric_limits<float>::quiet_NaN(), s));
  // Every output of the map is a level, for every bit-width.
  const auto w = random_weights(5000, 3);
  for (int bits = 2; bits <= 8; ++bits) {
    const QuantParams u = ref::quant_params_ref(QuantMethod::Uniform, bits, w.data(), int64_t(w.size()));
    for (float v : w) ASSERT_TRUE(quant_is_level(QuantMethod::Uniform, bits, quant_value(QuantMethod::Uniform, bits, v, u), u));
  }
}

// apply() puts q(W) into the quantised tensors only; restore() brings the latent W back bit for bit.
TEST(QuantTransformTest, AppliesToTheChosenTensorsAndRestoresBitForBit) {
  auto be = make_backend(Device::CPU, BackendOptions{});
  auto net = make_model(test::resnet8_options());
  net->materialize(*be, 5);
  QuantSettings s;
  s.enabled = true;
  s.method = QuantMethod::Ternary;
  s.bits = 2;
  s.exclude = {"fc.*"};
  QuantTransform t(*net, s, std::make_unique<HostQuantKernel>());
  EXPECT_EQ(t.tensors().size(), 9u);  // resnet8's 10 conv/linear weights less fc.weight
  const std::vector<float> before = to_host(*be, net->flat_params());
  t.apply(*net);
  const auto params = t.params();
  for (size_t i = 0; i < t.tensors().size(); ++i) {
    const auto& qt = t.tensors()[i];
    const std::vector<float> latent(before.begin() + qt.offset, before.begin() + qt.offset + qt.numel);
    const QuantParams want = ref::quant_params_ref(QuantMethod::Ternary, 2, latent.data(), qt.numel);
    EXPECT_EQ(params[i].scale, want.scale);
    EXPECT_EQ(params[i].threshold, want.threshold);
    const std::vector<float> got = net->get(qt.name);
    for (int64_t j = 0; j < qt.numel; ++j) ASSERT_EQ(got[size_t(j)], quant_value(QuantMethod::Ternary, 2, latent[size_t(j)], want));
  }
  EXPECT_EQ(net->get("fc.weight"), std::vector<float>(before.begin() + net->find("fc.weight")->offset,
                                                      before.begin() + net->find("fc.weight")->offset + 640));
  EXPECT_THROW(t.apply(*net), std::logic_error);  // twice would lose the latent weights
  t.restore(*net);
  const std::vector<float> after = to_host(*be, net->flat_params());
  EXPECT_EQ(0, std::memcmp(before.data(), after.data(), before.size() * sizeof(float)));
}

}  // namespace
}  // namespace inq
