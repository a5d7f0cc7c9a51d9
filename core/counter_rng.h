// Counter-based random numbers: value i of stream `seed` is a pure function of (seed, i), so the
// CPU reference and a CUDA kernel (one thread per i) draw exactly the same numbers.
#pragma once
#include <cstdint>

#include "core/host_device.h"

namespace inq {

// SplitMix64 finaliser applied to seed and counter: a strong 64-bit mix, cheap on both sides.
INQ_HD uint64_t counter_hash(uint64_t seed, uint64_t i) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + i + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 random bits (exactly representable as float).
INQ_HD float counter_uniform(uint64_t seed, uint64_t i) {
  return static_cast<float>(counter_hash(seed, i) >> 40) * (1.0f / 16777216.0f);
}

}  // namespace inq
