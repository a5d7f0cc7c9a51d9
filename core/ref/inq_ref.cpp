#include "core/ref/inq_ref.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/inq/log2_levels.h"

namespace inq::ref {

void inq_select_ref(int64_t n, const float* w, const uint8_t* frozen, int64_t count, InqPartition strategy,
                    uint64_t seed, uint8_t* select) {
  std::vector<uint64_t> keys;
  keys.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    select[i] = 0;
    if (frozen[i]) continue;
    const auto index = static_cast<uint32_t>(i);
    keys.push_back(strategy == InqPartition::Magnitude ? inq_magnitude_key(w[i], index, false)
                                                       : inq_random_key(seed, index, false));
  }
  if (count < 0 || count > int64_t(keys.size()))
    throw std::invalid_argument("inq_select: asked to freeze " + std::to_string(count) + " of " +
                                std::to_string(keys.size()) + " free weights");
  // Keys are unique (they embed the index), so the chosen set does not depend on the algorithm.
  std::nth_element(keys.begin(), keys.begin() + count, keys.end());
  for (int64_t j = 0; j < count; ++j) select[keys[static_cast<size_t>(j)] & 0xFFFFFFFFull] = 1;
}

void inq_project_freeze_ref(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* select, int n1, int n2,
                            bool zero_free) {
  for (int64_t i = 0; i < n; ++i) {
    if (!select[i]) continue;
    w[i] = inq_project(w[i], n1, n2, zero_free);
    if (m) m[i] = 0.0f;
    frozen[i] = 1;
  }
}

}  // namespace inq::ref
