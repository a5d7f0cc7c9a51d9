// Batches from a Dataset, prepared by worker threads into a bounded ring of host batches, in a
// deterministic order: epoch e's permutation is a pure function of (seed, e), and rank r of
// world_size takes a disjoint, equal-size shard of it. Stopping mid-epoch is clean.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "data/dataset.h"

namespace inq {

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = true;     // training: only full batches; evaluation: false
  int workers = 0;           // 0: hardware threads
  int prefetch = 4;          // batches ready ahead
  uint64_t seed = 0;
  int rank = 0, world_size = 1;
};

struct HostBatch {
  int64_t size = 0;                 // images in this batch (last one may be short)
  std::vector<float> images;        // [size, c, h, w]
  std::vector<int32_t> labels;      // [size]
};

class Loader {
 public:
  Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options);
  ~Loader();  // stops the workers, even mid-epoch

  int64_t batches_per_epoch() const;
  // Starts epoch `epoch` at batch `first_batch` (for resume); ends any epoch in flight.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // Next batch of the current epoch, or nullptr at its end. Valid until the next call.
  const HostBatch* next();

 private:
  // implementation-defined state (workers, ring, permutation)
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace inq
