// BatchNorm2d reference: gradients by finite differences, running statistics and eval mode by
// hand, thread-count independence.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "core/ref/batchnorm2d_ref.h"
#include "tests/gradcheck.h"

namespace inq {
namespace {

using test::dot;
using test::expect_gradient;
using test::random_vector;

TEST(RefBatchNorm, TrainGradientsMatchFiniteDifferences) {
  const int n = 3, c = 4, hw = 5;
  const size_t numel = size_t(n) * c * hw;
  std::vector<double> x = random_vector(numel, 1, -2.0, 3.0);
  std::vector<double> gamma = random_vector(c, 2, 0.5, 1.5);
  std::vector<double> beta = random_vector(c, 3);
  const std::vector<double> r = random_vector(numel, 4);  // loss = sum y * r, so dy = r
  const double eps = 1e-5;

  std::vector<double> y(numel), mean(c), invstd(c), rm(c), rv(c);
  auto loss = [&] {
    std::fill(rm.begin(), rm.end(), 0.0);
    std::fill(rv.begin(), rv.end(), 1.0);
    ref::batchnorm2d_fwd_train_ref(n, c, hw, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), 0.1, eps,
                                   y.data(), mean.data(), invstd.data());
    return dot(y, r);
  };
  loss();
  std::vector<double> dx(numel), dgamma(c), dbeta(c);
  ref::batchnorm2d_bwd_ref(n, c, hw, x.data(), r.data(), gamma.data(), mean.data(), invstd.data(), dx.data(),
                           dgamma.data(), dbeta.data());
  // dx is small (the mean and variance terms nearly cancel), so a wrong formula shows up clearly.
  expect_gradient("dx", x, dx, loss, 1e-6, 1e-7);
  expect_gradient("dgamma", gamma, dgamma, loss, 1e-6, 1e-7);
  expect_gradient("dbeta", beta, dbeta, loss, 1e-6, 1e-7);
}

// The fused ReLU: loss = sum max(0, BN(x)) * r; backward from the forward's output y. No value of
// BN(x) lies within the finite-difference step of the kink (checked), where the derivative jumps.
TEST(RefBatchNorm, FusedReluGradientsMatchFiniteDifferences) {
  const int n = 3, c = 4, hw = 5;
  const size_t numel = size_t(n) * c * hw;
  std::vector<double> x = random_vector(numel, 11, -2.0, 3.0);
  std::vector<double> gamma = random_vector(c, 12, 0.5, 1.5);
  std::vector<double> beta = random_vector(c, 13, -0.5, 0.5);
  const std::vector<double> r = random_vector(numel, 14);
  const double eps = 1e-5;

  std::vector<double> y(numel), pre(numel), mean(c), invstd(c), rm(c), rv(c);
  auto loss = [&] {
    ref::batchnorm2d_fwd_train_ref(n, c, hw, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), 0.1, eps,
                                   y.data(), mean.data(), invstd.data(), true);
    return dot(y, r);
  };
  ref::batchnorm2d_fwd_train_ref(n, c, hw, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), 0.1, eps,
                                 pre.data(), mean.data(), invstd.data());
  size_t clamped = 0;
  for (double v : pre) {
    ASSERT_GT(std::fabs(v), 1e-3) << "a value at the kink: pick other inputs";
    clamped += v < 0;
  }
  EXPECT_GT(clamped, numel / 4);
  EXPECT_LT(clamped, numel - numel / 4);
  loss();
  for (size_t i = 0; i < numel; ++i) EXPECT_EQ(y[i], std::max(pre[i], 0.0));
  std::vector<double> dx(numel), dgamma(c), dbeta(c);
  ref::batchnorm2d_bwd_ref(n, c, hw, x.data(), r.data(), gamma.data(), mean.data(), invstd.data(), dx.data(),
                           dgamma.data(), dbeta.data(), y.data());
  expect_gradient("dx", x, dx, loss, 1e-6, 1e-7);
  expect_gradient("dgamma", gamma, dgamma, loss, 1e-6, 1e-7);
  expect_gradient("dbeta", beta, dbeta, loss, 1e-6, 1e-7);
}

// x for 2 images, 2 channels, 2 pixels: channel 0 holds {1, 2 | 3, 6}, channel 1 {-1, 0 | 0, 5}.
const std::vector<float> kSmallX = {1, 2, -1, 0, 3, 6, 0, 5};

TEST(RefBatchNorm, TrainOutputAndRunningStatsMatchHandComputation) {
  const std::vector<float> gamma = {2.0f, 0.5f}, beta = {0.25f, -1.0f};
  std::vector<float> rm = {0.5f, -0.5f}, rv = {2.0f, 3.0f};
  std::vector<float> y(8), mean(2), invstd(2);
  const float eps = 1e-5f, momentum = 0.1f;
  ref::batchnorm2d_fwd_train_ref(2, 2, 2, kSmallX.data(), gamma.data(), beta.data(), rm.data(), rv.data(), momentum,
                                 eps, y.data(), mean.data(), invstd.data());
  // Channel 0: mean 3, squared deviations 4 + 1 + 0 + 9 = 14: biased var 3.5, unbiased 14/3.
  // Channel 1: mean 1, squared deviations 4 + 1 + 1 + 16 = 22: biased var 5.5, unbiased 22/3.
  EXPECT_FLOAT_EQ(mean[0], 3.0f);
  EXPECT_FLOAT_EQ(mean[1], 1.0f);
  EXPECT_FLOAT_EQ(invstd[0], float(1 / std::sqrt(3.5 + 1e-5)));
  EXPECT_FLOAT_EQ(invstd[1], float(1 / std::sqrt(5.5 + 1e-5)));
  EXPECT_FLOAT_EQ(rm[0], 0.9f * 0.5f + 0.1f * 3.0f);
  EXPECT_FLOAT_EQ(rm[1], 0.9f * -0.5f + 0.1f * 1.0f);
  EXPECT_FLOAT_EQ(rv[0], float(0.9 * 2.0 + 0.1 * 14.0 / 3.0));
  EXPECT_FLOAT_EQ(rv[1], float(0.9 * 3.0 + 0.1 * 22.0 / 3.0));

  const double s0 = 1 / std::sqrt(3.5 + 1e-5), s1 = 1 / std::sqrt(5.5 + 1e-5);
  const double expect[8] = {(1 - 3) * s0 * 2 + 0.25,  (2 - 3) * s0 * 2 + 0.25,  (-1 - 1) * s1 * 0.5 - 1,
                            (0 - 1) * s1 * 0.5 - 1,   (3 - 3) * s0 * 2 + 0.25,  (6 - 3) * s0 * 2 + 0.25,
                            (0 - 1) * s1 * 0.5 - 1,   (5 - 1) * s1 * 0.5 - 1};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(y[i], expect[i], 1e-6) << "element " << i;
}

TEST(RefBatchNorm, RunningStatsAreOptional) {
  const std::vector<float> gamma = {1, 1}, beta = {0, 0};
  std::vector<float> y(8), mean(2), invstd(2), y2(8);
  ref::batchnorm2d_fwd_train_ref(2, 2, 2, kSmallX.data(), gamma.data(), beta.data(), static_cast<float*>(nullptr),
                                 static_cast<float*>(nullptr), 0.1f, 1e-5f, y.data(), mean.data(), invstd.data());
  std::vector<float> rm(2, 0.0f), rv(2, 1.0f);
  ref::batchnorm2d_fwd_train_ref(2, 2, 2, kSmallX.data(), gamma.data(), beta.data(), rm.data(), rv.data(), 0.1f,
                                 1e-5f, y2.data(), mean.data(), invstd.data());
  EXPECT_EQ(0, std::memcmp(y.data(), y2.data(), y.size() * sizeof(float)));
}

TEST(RefBatchNorm, EvalUsesRunningStats) {
  const std::vector<float> gamma = {2.0f, 0.5f}, beta = {0.25f, -1.0f};
  const std::vector<float> rm = {0.5f, -0.5f}, rv = {2.0f, 3.0f};
  std::vector<float> y(8);
  ref::batchnorm2d_fwd_eval_ref(2, 2, 2, kSmallX.data(), gamma.data(), beta.data(), rm.data(), rv.data(), 1e-5f,
                                y.data());
  for (int i = 0; i < 8; ++i) {
    const int ch = (i / 2) % 2;
    const double expect = (kSmallX[i] - rm[ch]) / std::sqrt(double(rv[ch]) + 1e-5) * gamma[ch] + beta[ch];
    EXPECT_NEAR(y[i], expect, 1e-6) << "element " << i;
  }
}

TEST(RefBatchNorm, TrainOutputIsNormalisedPerChannel) {
  const int n = 4, c = 3, hw = 50;
  std::vector<double> x = random_vector(size_t(n) * c * hw, 7, 10.0, 14.0);  // large mean, small spread
  const std::vector<double> gamma = {1.5, 0.5, 2.0}, beta = {-1.0, 0.0, 3.0};
  std::vector<double> y(x.size()), mean(c), invstd(c), rm(c, 0.0), rv(c, 1.0);
  ref::batchnorm2d_fwd_train_ref(n, c, hw, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), 0.1, 0.0,
                                 y.data(), mean.data(), invstd.data());
  for (int ch = 0; ch < c; ++ch) {
    double s = 0, sq = 0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < hw; ++j) s += y[(size_t(i) * c + ch) * hw + j];
    const double m = s / (n * hw);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < hw; ++j) sq += std::pow(y[(size_t(i) * c + ch) * hw + j] - m, 2);
    EXPECT_NEAR(m, beta[ch], 1e-12) << "channel " << ch;
    EXPECT_NEAR(sq / (n * hw), gamma[ch] * gamma[ch], 1e-10) << "channel " << ch;
  }
}

TEST(RefBatchNorm, FloatMatchesDouble) {
  const int n = 2, c = 3, hw = 16;
  const std::vector<double> xd = random_vector(size_t(n) * c * hw, 11, -3.0, 3.0), dyd = random_vector(xd.size(), 12);
  const std::vector<double> gd = {0.7, 1.2, -0.4}, bd = {0.1, -0.2, 0.3};
  std::vector<double> yd(xd.size()), md(c), id(c), rmd(c, 0.0), rvd(c, 1.0), dxd(xd.size()), dgd(c), dbd(c);
  ref::batchnorm2d_fwd_train_ref(n, c, hw, xd.data(), gd.data(), bd.data(), rmd.data(), rvd.data(), 0.1, 1e-5,
                                 yd.data(), md.data(), id.data());
  ref::batchnorm2d_bwd_ref(n, c, hw, xd.data(), dyd.data(), gd.data(), md.data(), id.data(), dxd.data(), dgd.data(),
                           dbd.data());
  const std::vector<float> xf(xd.begin(), xd.end()), dyf(dyd.begin(), dyd.end()), gf(gd.begin(), gd.end()),
      bf(bd.begin(), bd.end());
  std::vector<float> yf(xf.size()), mf(c), inf(c), rmf(c, 0.0f), rvf(c, 1.0f), dxf(xf.size()), dgf(c), dbf(c);
  ref::batchnorm2d_fwd_train_ref(n, c, hw, xf.data(), gf.data(), bf.data(), rmf.data(), rvf.data(), 0.1f, 1e-5f,
                                 yf.data(), mf.data(), inf.data());
  ref::batchnorm2d_bwd_ref(n, c, hw, xf.data(), dyf.data(), gf.data(), mf.data(), inf.data(), dxf.data(), dgf.data(),
                           dbf.data());
  for (size_t i = 0; i < xd.size(); ++i) {
    EXPECT_NEAR(yf[i], yd[i], 1e-5) << i;
    EXPECT_NEAR(dxf[i], dxd[i], 1e-5) << i;
  }
  for (int ch = 0; ch < c; ++ch) {
    EXPECT_NEAR(rvf[ch], rvd[ch], 1e-5);
    EXPECT_NEAR(dgf[ch], dgd[ch], 1e-4);
    EXPECT_NEAR(dbf[ch], dbd[ch], 1e-4);
  }
}

// Large enough to take the OpenMP path: one thread and all threads must agree bit for bit.
TEST(RefBatchNorm, ResultDoesNotDependOnThreadCount) {
  const int n = 4, c = 8, hw = 1024;
  const std::vector<double> xd = random_vector(size_t(n) * c * hw, 21, -2.0, 5.0), dyd = random_vector(xd.size(), 22);
  const std::vector<float> x(xd.begin(), xd.end()), dy(dyd.begin(), dyd.end()), gamma(c, 1.25f), beta(c, 0.5f);
  auto run = [&](int threads, std::vector<float>& out) {
    omp_set_num_threads(threads);
    std::vector<float> y(x.size()), mean(c), invstd(c), rm(c, 0.0f), rv(c, 1.0f), dx(x.size()), dg(c), db(c);
    ref::batchnorm2d_fwd_train_ref(n, c, hw, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), 0.1f,
                                   1e-5f, y.data(), mean.data(), invstd.data());
    ref::batchnorm2d_bwd_ref(n, c, hw, x.data(), dy.data(), gamma.data(), mean.data(), invstd.data(), dx.data(),
                             dg.data(), db.data());
    out = y;
    for (auto* v : {&mean, &invstd, &rm, &rv, &dx, &dg, &db}) out.insert(out.end(), v->begin(), v->end());
  };
  const int all = omp_get_num_procs();
  std::vector<float> one, many;
  run(1, one);
  run(std::max(all, 3), many);
  omp_set_num_threads(all);
  ASSERT_EQ(one.size(), many.size());
  EXPECT_EQ(0, std::memcmp(one.data(), many.data(), one.size() * sizeof(float)));
}

}  // namespace
}  // namespace inq
