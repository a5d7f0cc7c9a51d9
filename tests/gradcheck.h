// Finite-difference gradient checks in double precision for the reference kernels.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

namespace inq::test {

inline std::vector<double> random_vector(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// Checks analytic[i] == d loss / d input[i] by central differences, where loss() reads `input`.
// Compares every element when input is small, else a strided sample of `max_checks` of them.
inline void expect_gradient(const char* what, std::vector<double>& input, const std::vector<double>& analytic,
                            const std::function<double()>& loss, double eps = 1e-6, double tol = 1e-6,
                            size_t max_checks = 400) {
  ASSERT_EQ(input.size(), analytic.size()) << what;
  const size_t stride = input.size() > max_checks ? input.size() / max_checks : 1;
  for (size_t i = 0; i < input.size(); i += stride) {
    const double saved = input[i];
    input[i] = saved + eps;
    const double up = loss();
    input[i] = saved - eps;
    const double down = loss();
    input[i] = saved;
    const double numeric = (up - down) / (2 * eps);
    const double scale = std::max(1.0, std::max(std::fabs(numeric), std::fabs(analytic[i])));
    ASSERT_NEAR(analytic[i], numeric, tol * scale) << what << " element " << i;
  }
}

// sum_i y[i] * r[i]: a scalar whose gradient with respect to y is r.
inline double dot(const std::vector<double>& y, const std::vector<double>& r) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += y[i] * r[i];
  return s;
}

}  // namespace inq::test
