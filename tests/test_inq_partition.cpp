// Partition selection and projection + freeze references: exact counts, order and the persistent mask.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "core/inq/log2_levels.h"
#include "core/ref/inq_ref.h"
#include "core/ref/sgd_ref.h"

namespace inq {
namespace {

std::vector<float> gaussian(size_t n, uint32_t seed, float std = 0.05f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, std);
  std::vector<float> v(n);
  for (auto& x : v) x = g(rng);
  return v;
}

int64_t count(const std::vector<uint8_t>& m) { return std::count(m.begin(), m.end(), uint8_t(1)); }

TEST(InqPartition, MagnitudeSelectsTheLargestFreeWeightsTiesByIndex) {
  const std::vector<float> w = {0.1f, -0.9f, 0.5f, 0.5f, -0.5f, 0.05f, 0.7f};
  std::vector<uint8_t> frozen = {0, 0, 0, 0, 0, 0, 1};  // 0.7 is frozen: not eligible
  std::vector<uint8_t> select(w.size(), 9);
  ref::inq_select_ref(int64_t(w.size()), w.data(), frozen.data(), 3, InqPartition::Magnitude, 0, select.data());
  // |-0.9| first, then the three-way tie at 0.5 broken by index: 2, 3 (not 4).
  EXPECT_EQ(select, (std::vector<uint8_t>{0, 1, 1, 1, 0, 0, 0}));
}

TEST(InqPartition, RandomIsSeededAndUniformAmongFree) {
  const size_t n = 20000;
  const auto w = gaussian(n, 3);
  std::vector<uint8_t> frozen(n, 0), a(n), b(n), c(n);
  for (size_t i = 0; i < n; i += 2) frozen[i] = 1;  // only odd indices are free
  ref::inq_select_ref(int64_t(n), w.data(), frozen.data(), 5000, InqPartition::Random, 11, a.data());
  ref::inq_select_ref(int64_t(n), w.data(), frozen.data(), 5000, InqPartition::Random, 11, b.data());
  ref::inq_select_ref(int64_t(n), w.data(), frozen.data(), 5000, InqPartition::Random, 12, c.data());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(count(a), 5000);
  for (size_t i = 0; i < n; i += 2) ASSERT_EQ(a[i], 0) << "frozen weight selected at " << i;
  // Not a magnitude choice: the chosen weights' mean |w| is near the free weights' mean.
  double chosen = 0, all = 0;
  for (size_t i = 1; i < n; i += 2) {
    all += std::fabs(w[i]);
    if (a[i]) chosen += std::fabs(w[i]);
  }
  EXPECT_NEAR(chosen / 5000, all / (n / 2), 0.1 * all / (n / 2));
}

TEST(InqPartition, MaskNeverShrinksAndZeroProjectionsStayFrozen) {
  // Ternary (2-bit) INQ: many frozen weights project to 0. They must stay frozen in later stages.
  const size_t n = 4096;
  auto w = gaussian(n, 5);
  std::vector<float> m(n, 0.25f);
  float max_abs = 0;
  for (float v : w) max_abs = std::max(max_abs, std::fabs(v));
  const int n1 = inq_n1(max_abs), n2 = inq_n2(n1, 2);
  const double portions[] = {0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 1.0};
  std::vector<uint8_t> frozen(n, 0), select(n), before;
  int64_t frozen_count = 0, frozen_zeros_before_last = 0;
  for (double p : portions) {
    before = frozen;
    const int64_t need = std::llround(p * n) - frozen_count;
    ref::inq_select_ref(int64_t(n), w.data(), frozen.data(), need, InqPartition::Magnitude, 0, select.data());
    ref::inq_project_freeze_ref(int64_t(n), w.data(), m.data(), frozen.data(), select.data(), n1, n2);
    frozen_count += need;
    ASSERT_EQ(count(frozen), frozen_count);
    for (size_t i = 0; i < n; ++i) ASSERT_TRUE(!before[i] || frozen[i]) << "weight " << i << " was freed";
    if (p < 1.0) {
      frozen_zeros_before_last = 0;
      for (size_t i = 0; i < n; ++i) frozen_zeros_before_last += frozen[i] && w[i] == 0.0f;
    }
    for (size_t i = 0; i < n; ++i)
      if (select[i]) {
        ASSERT_EQ(m[i], 0.0f) << "momentum of a newly frozen weight not zeroed";
      }
  }
  EXPECT_GT(frozen_zeros_before_last, 0) << "the scenario should freeze zeros before the last stage";
  for (size_t i = 0; i < n; ++i) ASSERT_TRUE(inq_is_level(w[i], n1, n2)) << w[i];
}

TEST(InqPartition, MaskedSgdLeavesFrozenWeightsBitIdentical) {
  const size_t n = 1000;
  auto w = gaussian(n, 8);
  auto g = gaussian(n, 9, 1.0f);
  std::vector<float> m(n, 0.0f);
  std::vector<uint8_t> frozen(n, 0), select(n);
  ref::inq_select_ref(int64_t(n), w.data(), frozen.data(), 500, InqPartition::Magnitude, 0, select.data());
  ref::inq_project_freeze_ref(int64_t(n), w.data(), m.data(), frozen.data(), select.data(), -2, -5);
  const auto w0 = w, m0 = m;
  for (int step = 0; step < 10; ++step)
    ref::sgd_step_ref<float>(int64_t(n), w.data(), g.data(), m.data(), frozen.data(), 0.1f, 0.9f, 5e-4f, step % 2);
  int64_t changed_free = 0;
  for (size_t i = 0; i < n; ++i) {
    if (frozen[i]) {
      ASSERT_EQ(std::memcmp(&w[i], &w0[i], 4), 0) << i;
      ASSERT_EQ(std::memcmp(&m[i], &m0[i], 4), 0) << i;
    } else {
      changed_free += w[i] != w0[i];
    }
  }
  EXPECT_EQ(changed_free, 500);
}

TEST(InqPartition, RejectsImpossibleCounts) {
  std::vector<float> w(4, 1.0f);
  std::vector<uint8_t> frozen = {1, 1, 0, 0}, select(4);
  EXPECT_THROW(ref::inq_select_ref(4, w.data(), frozen.data(), 3, InqPartition::Magnitude, 0, select.data()),
               std::invalid_argument);
}

}  // namespace
}  // namespace inq
