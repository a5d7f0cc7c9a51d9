// The portable generator of tests/golden/make_golden.py in C++: the weights, BatchNorm statistics
// and inputs of the stored golden references are not stored but computed, bit for bit the same, on
// both sides (splitmix64 over the FNV-1a hash of the tensor name and the element index; every
// range is dyadic, so lo + width * u is exact in double and the only rounding is to float).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace inq::test {

constexpr int64_t kGoldenSamples = 128;  // gradient elements stored per tensor (make_golden.py SAMPLES)

inline uint64_t fnv1a64(const std::string& text) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

// make_golden.py portable_range: [lo, lo + width) by the tensor's role.
inline void portable_range(const std::string& name, const std::vector<int64_t>& shape, int weight_shift, double* lo,
                           double* width) {
  auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  if (name == "input") {
    *lo = -2.0, *width = 4.0;
  } else if (ends_with("running_var")) {
    *lo = 0.5, *width = 2.0;
  } else if (ends_with("running_mean") || ends_with("bias")) {
    *lo = -0.25, *width = 0.5;
  } else if (shape.size() == 1) {  // a BatchNorm weight
    *lo = 0.5, *width = 1.0;
  } else {
    int64_t fan_in = 1;
    for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
    int bits = 0;  // Python's int.bit_length
    for (uint64_t v = uint64_t(fan_in); v; v >>= 1) ++bits;
    const int e = (bits - 1) / 2 + weight_shift;
    *lo = -std::ldexp(1.0, -e);
    *width = std::ldexp(1.0, 1 - e);
  }
}

inline std::vector<float> portable_tensor(const std::string& name, const std::vector<int64_t>& shape,
                                          int weight_shift = 0) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  double lo = 0, width = 0;
  portable_range(name, shape, weight_shift, &lo, &width);
  const uint64_t seed = fnv1a64(name);
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    uint64_t z = seed + uint64_t(i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z = z ^ (z >> 31);
    const double u = double(z >> 40) * 0x1p-24;
    out[static_cast<size_t>(i)] = static_cast<float>(lo + width * u);
  }
  return out;
}

// make_golden.py sample_indices: every element of a small tensor, else kGoldenSamples evenly spaced.
inline std::vector<int64_t> sample_indices(int64_t n) {
  std::vector<int64_t> idx;
  if (n <= kGoldenSamples) {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  } else {
    for (int64_t j = 0; j < kGoldenSamples; ++j) idx.push_back(j * n / kGoldenSamples);
  }
  return idx;
}

}  // namespace inq::test
