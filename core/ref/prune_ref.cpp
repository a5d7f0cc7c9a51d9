#include "core/ref/prune_ref.h"

#include <cmath>
#include <limits>

#include "core/prune/splice_rule.h"

namespace inq::ref {

void prune_kept_min_abs_ref(int64_t n, const float* w, const uint8_t* keep, float* out) {
  float best = std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i)
    if (keep[i]) best = std::fmin(best, std::fabs(w[i]));
  out[0] = best;
}

void prune_splice_update_ref(int64_t n, const float* w, const float* threshold, float margin, uint8_t* mask) {
  const float t = threshold[0];
  for (int64_t i = 0; i < n; ++i) mask[i] = splice_state(w[i], t, margin, mask[i]);
}

void prune_mask_multiply_ref(int64_t n, float* w, const uint8_t* mask) {
  for (int64_t i = 0; i < n; ++i)
    if (!mask[i]) w[i] = 0.0f;
}

void prune_freeze_ref(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* keep) {
  for (int64_t i = 0; i < n; ++i) {
    if (keep[i] || frozen[i]) continue;
    w[i] = 0.0f;
    if (m) m[i] = 0.0f;
    frozen[i] = 1;
  }
}

}  // namespace inq::ref
