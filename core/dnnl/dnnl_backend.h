// The default CPU backend (device "cpu"): convolutions on oneDNN, BatchNorm in vectorised float
// kernels, the other ops on the reference kernels of CpuBackend, whose memory management it shares.
// Activations stay in oneDNN's blocked formats between convolution, BatchNorm, ReLU and residual
// add (core/dnnl/layout_registry.h); every other op, and every copy to the host, sees them flat.
// Results are bit-identical from run to run at a given thread count (oneDNN's kernels split work by
// thread count); they differ from the reference backend (device "cpu-ref") by float rounding.
#pragma once
#include <memory>
#include <string>

#include "core/cpu_backend.h"

namespace inq {

class DnnlBackend : public CpuBackend {
 public:
  explicit DnnlBackend(int threads = 0);  // 0: all cores
  ~DnnlBackend() override;
  std::string description() const override;

  std::shared_ptr<Storage> allocate(size_t bytes) override;
  void discard(void* p, size_t bytes) override;

 protected:
  void copy_from_host_impl(void* dst, const void* host_src, size_t bytes) override;
  void copy_to_host_impl(void* host_dst, const void* src, size_t bytes) override;
  void copy_impl(void* dst, const void* src, size_t bytes) override;
  void fill_impl(float* p, int64_t n, float value) override;

  INQ_DECLARE_OP_OVERRIDES(INQ_BACKEND_ACTIVATION_OPS)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace inq
