// Level sets and log2 projection: exact boundaries, every output a level, the paper's counts.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "core/inq/log2_levels.h"

namespace inq {
namespace {

float pow2(int k) { return std::ldexp(1.0f, k); }

TEST(InqLevels, N1IsFloorLog2OfFourThirdsMax) {
  // s = 0.75 * 2^k is the exact boundary: n1 = k there, k - 1 just below.
  for (int k = -12; k <= 3; ++k) {
    const float s = 0.75f * pow2(k);
    EXPECT_EQ(inq_n1(s), k) << "s = " << s;
    EXPECT_EQ(inq_n1(std::nextafter(s, 0.0f)), k - 1) << "just below " << s;
    EXPECT_EQ(inq_n1(std::nextafter(1.5f * pow2(k), 0.0f)), k);
  }
  // Against the formula in double for random magnitudes away from boundaries.
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(1e-4f, 4.0f);
  for (int i = 0; i < 10000; ++i) {
    const float s = u(rng);
    EXPECT_EQ(inq_n1(s), int(std::floor(std::log2(4.0 * s / 3.0)))) << s;
  }
}

TEST(InqLevels, MagnitudeCountsFollowBitWidth) {
  // b = 5 -> 8 magnitudes, 4 -> 4, 3 -> 2, 2 -> 1 (ternary).
  const int expected[] = {0, 0, 1, 2, 4, 8, 16, 32, 64};
  for (int b = kMinInqBits; b <= kMaxInqBits; ++b) {
    const int n1 = -1;
    EXPECT_EQ(n1 - inq_n2(n1, b) + 1, expected[b]) << "bits " << b;
  }
}

TEST(InqLevels, ProjectionIntervalBoundariesAreExact) {
  const int n1 = -1, bits = 4, n2 = inq_n2(n1, bits);  // levels 2^-4 .. 2^-1
  ASSERT_EQ(n2, -4);
  for (int k = n2 + 1; k <= n1; ++k) {
    const float lo = 0.75f * pow2(k);  // 2^k owns [0.75 * 2^k, 1.5 * 2^k)
    EXPECT_EQ(inq_project(lo, n1, n2), pow2(k));
    EXPECT_EQ(inq_project(std::nextafter(lo, 0.0f), n1, n2), pow2(k - 1));
    EXPECT_EQ(inq_project(-lo, n1, n2), -pow2(k));
  }
  for (int k = n2; k < n1; ++k) {
    const float hi = 1.5f * pow2(k);
    EXPECT_EQ(inq_project(std::nextafter(hi, 0.0f), n1, n2), pow2(k));
    EXPECT_EQ(inq_project(hi, n1, n2), pow2(k + 1));
  }
  // The smallest level owns [2^(n2-1), 1.5 * 2^n2); below goes to 0.
  EXPECT_EQ(inq_project(pow2(n2 - 1), n1, n2), pow2(n2));
  EXPECT_EQ(inq_project(std::nextafter(pow2(n2 - 1), 0.0f), n1, n2), 0.0f);
  EXPECT_EQ(inq_project(-std::nextafter(pow2(n2 - 1), 0.0f), n1, n2), 0.0f);
  EXPECT_EQ(inq_project(0.0f, n1, n2), 0.0f);
  // Past 1.5 * 2^n1 clamps to 2^n1 (the paper's literal rule would give 0).
  EXPECT_EQ(inq_project(1.5f * pow2(n1), n1, n2), pow2(n1));
  EXPECT_EQ(inq_project(-100.0f, n1, n2), -pow2(n1));
  EXPECT_EQ(inq_project(NAN, n1, n2), 0.0f);
}

TEST(InqLevels, EveryProjectedValueIsALevelAndTheNearestInLogSense) {
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0.0f, 0.05f);
  for (int bits = kMinInqBits; bits <= kMaxInqBits; ++bits) {
    const int n1 = -3, n2 = inq_n2(n1, bits);
    std::set<float> seen;
    for (int i = 0; i < 20000; ++i) {
      const float w = g(rng);
      const float q = inq_project(w, n1, n2);
      ASSERT_TRUE(inq_is_level(q, n1, n2)) << w << " -> " << q << " bits " << bits;
      seen.insert(q);
      if (q != 0.0f) {
        EXPECT_EQ(std::signbit(q), std::signbit(w));
        const float a = std::fabs(w), l = std::fabs(q);
        if (l > pow2(n2) && l < pow2(n1)) {
          EXPECT_GE(a, 0.75f * l);
          EXPECT_LT(a, 1.5f * l);
        }
      }
    }
    EXPECT_LE(seen.size(), size_t(2 * (n1 - n2 + 1) + 1)) << "bits " << bits;
  }
}

TEST(InqLevels, IsLevelRejectsNonLevels) {
  const int n1 = -1, n2 = -4;
  EXPECT_TRUE(inq_is_level(0.0f, n1, n2));
  EXPECT_TRUE(inq_is_level(-0.0625f, n1, n2));
  EXPECT_TRUE(inq_is_level(0.5f, n1, n2));
  EXPECT_FALSE(inq_is_level(1.0f, n1, n2));     // above 2^n1
  EXPECT_FALSE(inq_is_level(0.03125f, n1, n2));  // below 2^n2
  EXPECT_FALSE(inq_is_level(0.375f, n1, n2));    // not a power of two
  EXPECT_FALSE(inq_is_level(NAN, n1, n2));
}

TEST(InqLevels, PartitionKeysOrderByMagnitudeThenIndex) {
  EXPECT_LT(inq_magnitude_key(0.5f, 9, false), inq_magnitude_key(0.25f, 0, false));
  EXPECT_LT(inq_magnitude_key(-0.5f, 3, false), inq_magnitude_key(0.5f, 4, false));  // tie: lower index first
  EXPECT_LT(inq_magnitude_key(0.0f, 5, false), inq_magnitude_key(1.0f, 0, true));    // frozen sorts last
  EXPECT_EQ(inq_magnitude_key(1.0f, 0, true), ~0ull);
  EXPECT_NE(inq_random_key(1, 0, false), ~0ull);
  EXPECT_EQ(inq_random_key(3, 42, false), inq_random_key(3, 42, false));
  EXPECT_NE(inq_random_key(3, 42, false) >> 32, inq_random_key(4, 42, false) >> 32);
}

}  // namespace
}  // namespace inq
