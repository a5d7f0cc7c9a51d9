// PruneOps for a backend. Compiled into inq_engine beside core/backend_factory.cpp, so that the
// core stays free of CUDA while this file sees the CUDA backend's stream.
#include <stdexcept>

#include "core/prune/prune_ops.h"
#include "core/ref/prune_ref.h"
#ifdef INQ_WITH_CUDA
#include "cuda/cuda_backend.h"
#include "cuda/prune_mask.h"
#endif

namespace inq {
namespace {

class CpuPruneOps final : public PruneOps {
 public:
  void kept_min_abs(int64_t n, const float* w, const uint8_t* keep, float* out) override {
    ref::prune_kept_min_abs_ref(n, w, keep, out);
  }
  void splice_update(int64_t n, const float* w, const float* threshold, float margin, uint8_t* mask) override {
    ref::prune_splice_update_ref(n, w, threshold, margin, mask);
  }
  void mask_multiply(int64_t n, float* w, const uint8_t* mask) override { ref::prune_mask_multiply_ref(n, w, mask); }
  void freeze(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* keep) override {
    ref::prune_freeze_ref(n, w, m, frozen, keep);
  }
};

#ifdef INQ_WITH_CUDA
class CudaPruneOps final : public PruneOps {
 public:
  explicit CudaPruneOps(cudaStream_t stream) : stream_(stream) {}
  void kept_min_abs(int64_t n, const float* w, const uint8_t* keep, float* out) override {
    cuda::prune_kept_min_abs(n, w, keep, out, stream_);
  }
  void splice_update(int64_t n, const float* w, const float* threshold, float margin, uint8_t* mask) override {
    cuda::prune_splice_update(n, w, threshold, margin, mask, stream_);
  }
  void mask_multiply(int64_t n, float* w, const uint8_t* mask) override {
    cuda::prune_mask_multiply(n, w, mask, stream_);
  }
  void freeze(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* keep) override {
    cuda::prune_freeze(n, w, m, frozen, keep, stream_);
  }

 private:
  cudaStream_t stream_;
};
#endif

}  // namespace

std::unique_ptr<PruneOps> make_prune_ops(Backend& backend) {
  if (backend.device() == Device::CPU) return std::make_unique<CpuPruneOps>();
#ifdef INQ_WITH_CUDA
  if (auto* cuda_backend = dynamic_cast<cuda::CudaBackend*>(&backend))
    return std::make_unique<CudaPruneOps>(cuda_backend->stream());
#endif
  throw std::invalid_argument("pruning: no prune ops for backend " + backend.description());
}

}  // namespace inq
