// Synthetic learnable images. Sample i of seed s:
//   label  = hash(s, i) mod classes
//   x[c,y,x] = mean[label,c] + 0.5·row[label,c,y]·col[label,c,x] + noise uniform in [-0.5, 0.5)
// where mean is a per-class, per-channel offset in [-0.5, 0.5] (learnable after global pooling)
// and row·col a separable sinusoidal texture with class-dependent frequencies and phases
// (learnable by convolutions). Everything is a counter-based hash of (seed, ...), so get() is a
// pure function of (seed, i), ignores the rng it is given, and is thread-safe (read-only tables).
#include "data/synthetic.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/counter_rng.h"

namespace inq {
namespace {

// Distinct streams derived from the user's seed.
constexpr uint64_t kLabelSalt = 0x6c6162656c73ull;  // "labels"
constexpr uint64_t kClassSalt = 0x636c61737365ull;  // "classe"
constexpr uint64_t kNoiseSalt = 0x6e6f697365ull;    // "noise"
constexpr float kTwoPi = 6.283185307179586f;

class Synthetic final : public Dataset {
 public:
  Synthetic(int64_t size, const Shape& chw, int num_classes, uint64_t seed)
      : size_(size), shape_(chw), classes_(num_classes), seed_(seed) {
    if (size < 0) throw std::invalid_argument("synthetic: size must be >= 0, got " + std::to_string(size));
    if (num_classes < 1)
      throw std::invalid_argument("synthetic: num_classes must be >= 1, got " + std::to_string(num_classes));
    if (chw.size() != 3 || chw[0] < 1 || chw[1] < 1 || chw[2] < 1)
      throw std::invalid_argument("synthetic: sample shape must be {c, h, w} with positive sizes, got " +
                                  shape_str(chw));
    c_ = chw[0];
    h_ = chw[1];
    w_ = chw[2];
    build_tables();
  }

  int64_t size() const override { return size_; }
  int num_classes() const override { return classes_; }
  Shape sample_shape() const override { return shape_; }

  int32_t get(int64_t i, float* out, Rng& /*rng: samples are a pure function of (seed, i)*/) const override {
    if (i < 0 || i >= size_)
      throw std::out_of_range("synthetic: sample " + std::to_string(i) + " outside [0, " + std::to_string(size_) +
                              ")");
    const int32_t label = label_of(i);
    const uint64_t noise_seed = counter_hash(seed_ ^ kNoiseSalt, static_cast<uint64_t>(i));
    uint64_t p = 0;
    for (int64_t c = 0; c < c_; ++c) {
      const size_t kc = static_cast<size_t>(label * c_ + c);
      const float mean = means_[kc];
      const float* row = rows_.data() + kc * static_cast<size_t>(h_);
      const float* col = cols_.data() + kc * static_cast<size_t>(w_);
      for (int64_t y = 0; y < h_; ++y) {
        const float ry = 0.5f * row[y];
        for (int64_t x = 0; x < w_; ++x, ++p) out[p] = mean + ry * col[x] + (counter_uniform(noise_seed, p) - 0.5f);
      }
    }
    return label;
  }

  std::string describe() const override {
    return "synthetic " + shape_str(shape_) + " (" + std::to_string(size_) + " images, " + std::to_string(classes_) +
           " classes, seed " + std::to_string(seed_) + ")";
  }

 private:
  int32_t label_of(int64_t i) const {
    return static_cast<int32_t>(counter_hash(seed_ ^ kLabelSalt, static_cast<uint64_t>(i)) %
                                static_cast<uint64_t>(classes_));
  }

  // Per (class, channel): a mean, and a row and a column profile with 1..3 cycles across the image.
  void build_tables() {
    const size_t kcs = static_cast<size_t>(classes_) * static_cast<size_t>(c_);
    means_.resize(kcs);
    rows_.resize(kcs * static_cast<size_t>(h_));
    cols_.resize(kcs * static_cast<size_t>(w_));
    const uint64_t cs = seed_ ^ kClassSalt;
    for (size_t kc = 0; kc < kcs; ++kc) {
      const uint64_t base = kc * 8;
      means_[kc] = counter_uniform(cs, base) - 0.5f;
      const float fy = static_cast<float>(1 + counter_hash(cs, base + 1) % 3);
      const float fx = static_cast<float>(1 + counter_hash(cs, base + 2) % 3);
      const float py = kTwoPi * counter_uniform(cs, base + 3);
      const float px = kTwoPi * counter_uniform(cs, base + 4);
      for (int64_t y = 0; y < h_; ++y)
        rows_[kc * static_cast<size_t>(h_) + static_cast<size_t>(y)] =
            std::sin(kTwoPi * fy * static_cast<float>(y) / static_cast<float>(h_) + py);
      for (int64_t x = 0; x < w_; ++x)
        cols_[kc * static_cast<size_t>(w_) + static_cast<size_t>(x)] =
            std::cos(kTwoPi * fx * static_cast<float>(x) / static_cast<float>(w_) + px);
    }
  }

  int64_t size_;
  Shape shape_;
  int classes_;
  uint64_t seed_;
  int64_t c_ = 0, h_ = 0, w_ = 0;
  std::vector<float> means_;  // [classes, c]
  std::vector<float> rows_;   // [classes, c, h]
  std::vector<float> cols_;   // [classes, c, w]
};

}  // namespace

std::shared_ptr<Dataset> make_synthetic(int64_t size, const Shape& chw, int num_classes, uint64_t seed) {
  return std::make_shared<Synthetic>(size, chw, num_classes, seed);
}

}  // namespace inq
