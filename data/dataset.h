// Datasets produce one (image, label) sample at a time into caller-provided memory; the loader
// (data/loader.h) runs them on worker threads and assembles batches.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"

namespace inq {

// What Dataset::get returns for an unreadable sample of an evaluation dataset: the sample is
// skipped (the loader drops it from its batch and counts it), never replaced by another one,
// so accuracy is over the images actually read.
constexpr int32_t kSkippedSample = -1;

// Transforms (augmentation or not) are fixed when the dataset is constructed (train or eval).
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int num_classes() const = 0;
  virtual Shape sample_shape() const = 0;  // {c, h, w} after transforms
  // Writes sample i (transformed: augmentation drawn from rng when training, normalised, CHW
  // float) into out[sample_shape numel] and returns its label. Must be thread-safe for
  // concurrent calls with distinct rngs. Throws on an unreadable sample.
  virtual int32_t get(int64_t i, float* out, Rng& rng) const = 0;
  virtual std::string describe() const = 0;  // "fashion-mnist train (60000 images)"
  // Distinct samples found unreadable so far: replaced by others in training datasets, skipped
  // (kSkippedSample) in evaluation ones (image folders; 0 elsewhere).
  virtual int64_t bad_samples() const { return 0; }
  // The paths of up to `max` of them, in path order (for reports).
  virtual std::vector<std::string> bad_paths(size_t max) const {
    (void)max;
    return {};
  }
};

}  // namespace inq
