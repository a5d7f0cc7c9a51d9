#include "core/inq/n1_rule.h"

#include <algorithm>
#include <cmath>

#include "core/inq/log2_levels.h"

namespace inq {

double projection_error(const float* w, int64_t n, int n1, int bits, bool zero_free) {
  const int n2 = inq_n2(n1, bits, zero_free);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(w[i]) - double(inq_project(w[i], n1, n2, zero_free));
    sum += d * d;
  }
  return sum;
}

int choose_n1(const float* w, int64_t n, int bits, bool zero_free, N1Rule rule) {
  float max_abs = 0.0f;
  for (int64_t i = 0; i < n; ++i) max_abs = std::max(max_abs, std::fabs(w[i]));
  if (!(max_abs > 0.0f)) return 0;  // an all-zero tensor: every level set fits it equally
  const int n1_max = inq_n1(max_abs);
  if (rule == N1Rule::Max) return n1_max;
  int best = n1_max;
  double best_error = projection_error(w, n, n1_max, bits, zero_free);
  for (int n1 = n1_max - 1; n1 >= n1_max - kN1MseWindow; --n1) {
    const double e = projection_error(w, n, n1, bits, zero_free);
    if (e < best_error) {
      best_error = e;
      best = n1;
    }
  }
  return best;
}

}  // namespace inq
