// Inverted dropout with a counter-based RNG (core/counter_rng.h): CPU and CUDA draw identical masks.
#pragma once
#include <cstdint>

#include "core/geometry.h"

namespace inq::ref {

// keep[i] = uniform(seed, i) >= p; y = keep ? x / (1 - p) : 0.
template <typename T>
void dropout_fwd_ref(int64_t n, float p, uint64_t seed, const T* x, T* y, uint8_t* keep);
template <typename T>
void dropout_bwd_ref(int64_t n, float p, const uint8_t* keep, const T* dy, T* dx);

}  // namespace inq::ref
