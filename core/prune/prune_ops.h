// The device ops of pruning on the run's backend: the CPU references (core/ref/prune_ref.h) or
// the CUDA kernels (cuda/prune_mask.cu), with the same results bit for bit. Pruning selects by
// magnitude with the backend's INQ partition op (Backend::inq_select), so these four are all it adds.
#pragma once
#include <cstdint>
#include <memory>

#include "core/backend.h"

namespace inq {

class PruneOps {
 public:
  virtual ~PruneOps() = default;
  // Semantics: core/ref/prune_ref.h. Pointers are on the backend's device; calls are in stream order.
  virtual void kept_min_abs(int64_t n, const float* w, const uint8_t* keep, float* out) = 0;
  virtual void splice_update(int64_t n, const float* w, const float* threshold, float margin, uint8_t* mask) = 0;
  virtual void mask_multiply(int64_t n, float* w, const uint8_t* mask) = 0;
  virtual void freeze(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* keep) = 0;
};

// For `backend` (CPU: the references; CUDA: the kernels on its stream). Defined beside the backend
// factory (inq_engine), which sees the CUDA backend when the build has one.
std::unique_ptr<PruneOps> make_prune_ops(Backend& backend);

}  // namespace inq
