// Synthetic images for benchmarks and tests: sample i is a pure function of (seed, i), with a
// label that is learnable from the pixels (class-dependent mean), so short runs can show learning.
#pragma once
#include <cstdint>
#include <memory>

#include "data/dataset.h"

namespace inq {

std::shared_ptr<Dataset> make_synthetic(int64_t size, const Shape& chw, int num_classes, uint64_t seed);

}  // namespace inq
