// ReLU, add, accumulate, double-precision averages, concat and dropout references: gradients, exact data movement, masks.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "core/counter_rng.h"
#include "core/ref/dropout_ref.h"
#include "core/ref/elementwise_ref.h"
#include "core/ref/relu_ref.h"
#include "tests/gradcheck.h"

namespace inq {
namespace {

using test::dot;
using test::expect_gradient;
using test::random_vector;

// ---------------- relu ----------------

TEST(RefRelu, ForwardClampsNegativesAndZeroes) {
  const std::vector<float> x = {-2.0f, -0.0f, 0.0f, 1e-30f, 3.5f, -1e-30f};
  std::vector<float> y(x.size());
  ref::relu_fwd_ref(int64_t(x.size()), x.data(), y.data());
  const std::vector<float> expect = {0.0f, 0.0f, 0.0f, 1e-30f, 3.5f, 0.0f};
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], expect[i]) << i;
  EXPECT_FALSE(std::signbit(y[1]));  // -0 becomes +0
}

TEST(RefRelu, GradientMatchesFiniteDifferencesAwayFromZero) {
  // Inputs at least 0.1 from the kink, so the +-1e-6 probes never cross it.
  std::vector<double> x = random_vector(200, 31, 0.1, 1.0);
  const std::vector<double> sign = random_vector(200, 32);
  for (size_t i = 0; i < x.size(); ++i) x[i] = sign[i] < 0 ? -x[i] : x[i];
  const std::vector<double> r = random_vector(200, 33);
  std::vector<double> y(x.size());
  auto loss = [&] {
    ref::relu_fwd_ref(int64_t(x.size()), x.data(), y.data());
    return dot(y, r);
  };
  loss();
  std::vector<double> dx(x.size());
  ref::relu_bwd_ref(int64_t(x.size()), y.data(), r.data(), dx.data());
  expect_gradient("relu dx", x, dx, loss);
  EXPECT_GT(std::count(dx.begin(), dx.end(), 0.0), 50);  // both branches exercised
}

TEST(RefRelu, InPlaceForwardAndAliasedBackward) {
  const std::vector<double> x0 = random_vector(1000, 34);
  const std::vector<double> dy0 = random_vector(1000, 35);
  std::vector<double> y(x0.size()), dx(x0.size());
  ref::relu_fwd_ref(int64_t(x0.size()), x0.data(), y.data());
  ref::relu_bwd_ref(int64_t(x0.size()), y.data(), dy0.data(), dx.data());
  std::vector<double> inplace = x0, grad = dy0;
  ref::relu_fwd_ref(int64_t(x0.size()), inplace.data(), inplace.data());
  ref::relu_bwd_ref(int64_t(x0.size()), inplace.data(), grad.data(), grad.data());
  EXPECT_EQ(inplace, y);
  EXPECT_EQ(grad, dx);
}

// ---------------- add, accumulate ----------------

TEST(RefElementwise, AddIsExactAndMayAlias) {
  const int64_t n = 100000;  // above the OpenMP threshold
  const std::vector<double> ad = random_vector(n, 41), bd = random_vector(n, 42);
  const std::vector<float> a(ad.begin(), ad.end()), b(bd.begin(), bd.end());
  std::vector<float> y(n);
  ref::add_fwd_ref(n, a.data(), b.data(), y.data());
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], a[i] + b[i]) << i;
  std::vector<float> alias = a;
  ref::add_fwd_ref(n, alias.data(), b.data(), alias.data());
  EXPECT_EQ(alias, y);
  alias = b;
  ref::add_fwd_ref(n, a.data(), alias.data(), alias.data());
  EXPECT_EQ(alias, y);
}

TEST(RefElementwise, AccumulateAddsInPlace) {
  const int64_t n = 70000;
  const std::vector<double> x = random_vector(n, 43), y0 = random_vector(n, 44);
  std::vector<double> y = y0;
  ref::accumulate_ref(n, x.data(), y.data());
  ref::accumulate_ref(n, x.data(), y.data());
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], (y0[i] + x[i]) + x[i]) << i;
}

// ---------------- concat ----------------

TEST(RefConcat, PartsLandInTheirChannelsAndRoundTripExactly) {
  const int n = 3, hw = 7, c_total = 9;
  const int c_parts[3] = {2, 4, 3};
  std::vector<std::vector<float>> parts;
  for (int k = 0; k < 3; ++k) {
    const std::vector<double> v = random_vector(size_t(n) * c_parts[k] * hw, 50 + k);
    parts.emplace_back(v.begin(), v.end());
  }
  const float sentinel = -12345.0f;
  std::vector<float> y(size_t(n) * c_total * hw, sentinel);
  int offset = 0;
  for (int k = 0; k < 3; ++k) {
    ref::concat_fwd_ref(n, hw, c_parts[k], c_total, offset, parts[k].data(), y.data());
    offset += c_parts[k];
  }
  EXPECT_EQ(std::count(y.begin(), y.end(), sentinel), 0);  // every channel written once
  offset = 0;
  for (int k = 0; k < 3; ++k) {
    for (int i = 0; i < n; ++i)
      for (int ch = 0; ch < c_parts[k]; ++ch)
        for (int j = 0; j < hw; ++j)
          ASSERT_EQ(y[(size_t(i) * c_total + offset + ch) * hw + j], parts[k][(size_t(i) * c_parts[k] + ch) * hw + j])
              << "part " << k << " image " << i << " channel " << ch << " pixel " << j;
    // The backward of the concat is the slice: it must give back the part bit for bit.
    std::vector<float> back(parts[k].size(), sentinel);
    ref::concat_bwd_ref(n, hw, c_parts[k], c_total, offset, y.data(), back.data());
    EXPECT_EQ(0, std::memcmp(back.data(), parts[k].data(), back.size() * sizeof(float))) << "part " << k;
    offset += c_parts[k];
  }
}

TEST(RefConcat, LeavesOtherChannelsAlone) {
  const int n = 2, hw = 3, c_total = 5;
  const std::vector<double> part = random_vector(size_t(n) * 2 * hw, 60);
  std::vector<double> y(size_t(n) * c_total * hw, 7.0);
  ref::concat_fwd_ref(n, hw, 2, c_total, 1, part.data(), y.data());
  for (int i = 0; i < n; ++i)
    for (int ch : {0, 3, 4})
      for (int j = 0; j < hw; ++j) EXPECT_EQ(y[(size_t(i) * c_total + ch) * hw + j], 7.0);
}

// ---------------- dropout ----------------

TEST(RefDropout, GradientIsKeepOverOneMinusP) {
  const int64_t n = 5000;
  const float p = 0.3f;
  const std::vector<double> xd = random_vector(n, 70), dyd = random_vector(n, 71);
  const std::vector<float> x(xd.begin(), xd.end()), dy(dyd.begin(), dyd.end());
  std::vector<float> y(n), dx(n);
  std::vector<uint8_t> keep(n);
  ref::dropout_fwd_ref(n, p, 99, x.data(), y.data(), keep.data());
  ref::dropout_bwd_ref(n, p, keep.data(), dy.data(), dx.data());
  const float scale = 1.0f / (1.0f - p);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(keep[i] == 0 || keep[i] == 1) << i;
    ASSERT_EQ(keep[i], counter_uniform(99, uint64_t(i)) >= p ? 1 : 0) << i;
    ASSERT_EQ(y[i], keep[i] ? x[i] * scale : 0.0f) << i;
    ASSERT_EQ(dx[i], keep[i] ? dy[i] * scale : 0.0f) << i;
  }
}

TEST(RefDropout, GradientMatchesFiniteDifferencesForAFixedMask) {
  std::vector<double> x = random_vector(300, 72);
  const std::vector<double> r = random_vector(300, 73);
  std::vector<double> y(x.size()), dx(x.size());
  std::vector<uint8_t> keep(x.size());
  auto loss = [&] {
    ref::dropout_fwd_ref(int64_t(x.size()), 0.5f, 5, x.data(), y.data(), keep.data());
    return dot(y, r);
  };
  loss();
  ref::dropout_bwd_ref(int64_t(x.size()), 0.5f, keep.data(), r.data(), dx.data());
  expect_gradient("dropout dx", x, dx, loss);
}

TEST(RefDropout, MaskDependsOnlyOnTheSeed) {
  const int64_t n = 100000;  // above the OpenMP threshold
  const std::vector<float> x(n, 1.0f);
  std::vector<float> y(n);
  std::vector<uint8_t> a(n), b(n), c(n);
  omp_set_num_threads(1);
  ref::dropout_fwd_ref(n, 0.4f, 1234, x.data(), y.data(), a.data());
  omp_set_num_threads(std::max(omp_get_num_procs(), 3));
  ref::dropout_fwd_ref(n, 0.4f, 1234, x.data(), y.data(), b.data());
  ref::dropout_fwd_ref(n, 0.4f, 1235, x.data(), y.data(), c.data());
  omp_set_num_threads(omp_get_num_procs());
  EXPECT_EQ(a, b);
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i) differ += a[i] != c[i];
  // Independent masks with keep probability 0.6 differ in 2 * 0.6 * 0.4 = 48% of places.
  EXPECT_NEAR(double(differ) / n, 0.48, 0.02);
}

TEST(RefDropout, KeptFractionIsNearOneMinusP) {
  const int64_t n = 100000;
  const std::vector<float> x(n, 2.0f);
  std::vector<float> y(n);
  std::vector<uint8_t> keep(n);
  for (float p : {0.1f, 0.5f, 0.9f}) {
    ref::dropout_fwd_ref(n, p, 7, x.data(), y.data(), keep.data());
    const int64_t kept = std::count(keep.begin(), keep.end(), uint8_t(1));
    // Binomial standard deviation is at most 0.0016 of n here; allow about 4 of them.
    EXPECT_NEAR(double(kept) / n, 1.0 - p, 0.007) << "p " << p;
  }
}

TEST(RefDropout, ZeroPKeepsEverythingUnchanged) {
  const std::vector<double> x = random_vector(1000, 74);
  std::vector<double> y(x.size());
  std::vector<uint8_t> keep(x.size(), 0);
  ref::dropout_fwd_ref(int64_t(x.size()), 0.0f, 3, x.data(), y.data(), keep.data());
  EXPECT_EQ(y, x);
  EXPECT_EQ(std::count(keep.begin(), keep.end(), uint8_t(1)), int64_t(x.size()));
}

// ---------------- double-precision averages ----------------

TEST(RefQuotientF64, AccumulatesQuotientsInDoubleAndStoresTheRoundedMean) {
  const std::vector<float> a = {1.0f, 0.1f, -3.0f, 16777216.0f}, b = {2.0f, 0.2f, 3.0f, 1.0f};
  std::vector<double> sum(4, 0.0);
  ref::quotient_accumulate_f64_ref(4, a.data(), 0.1, sum.data());
  ref::quotient_accumulate_f64_ref(4, b.data(), 0.1, sum.data());
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(sum[i], double(a[i]) / 0.1 + double(b[i]) / 0.1) << i;
  std::vector<float> y(4, -1.0f);
  ref::quotient_store_f64_ref(4, sum.data(), 2.0, y.data());
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(y[i], float(sum[i] / 2.0)) << i;
  // 2^24 + 1 is not a float: a float sum would lose the 1, the double sum keeps it until the store.
  const float big = 16777216.0f, one = 1.0f;
  double exact = 0.0;
  ref::quotient_accumulate_f64_ref(1, &big, 1.0, &exact);
  ref::quotient_accumulate_f64_ref(1, &one, 1.0, &exact);
  EXPECT_EQ(exact, 16777217.0);
  float mean = 0.0f;
  ref::quotient_store_f64_ref(1, &exact, 2.0, &mean);
  EXPECT_EQ(mean, 8388608.5f);
}

}  // namespace
}  // namespace inq
