// Seeded pseudo-random numbers for initialisation, shuffling and augmentation.
// Its state can be saved and restored so that a resumed run draws the same numbers.
#pragma once
#include <cstdint>
#include <random>
#include <string>

namespace inq {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : engine_(seed) {}
  uint64_t next_u64() { return engine_(); }
  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(engine_); }  // [0, 1)
  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(engine_); }
  int64_t uniform_int(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(engine_); }  // [lo, hi]
  double normal(double mean, double std) { return std::normal_distribution<double>(mean, std)(engine_); }
  std::mt19937_64& engine() { return engine_; }

  std::string state() const;            // textual engine state
  void set_state(const std::string& s);  // throws std::invalid_argument on a malformed state

 private:
  std::mt19937_64 engine_;
};

}  // namespace inq
