// The CPU backend: the reference kernels of core/ref/ in float, parallel with OpenMP and
// single-threaded OpenBLAS calls inside (one GEMM per image and group, images spread over threads).
// Device "cpu-ref"; DnnlBackend (core/dnnl/) derives from it to share its memory management.
#pragma once
#include <memory>

#include "core/backend.h"

namespace inq {

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(int threads = 0);  // 0: all cores
  Device device() const override { return Device::CPU; }
  std::string description() const override;
  int threads() const { return threads_; }

  std::shared_ptr<Storage> allocate(size_t bytes) override;
  void synchronize() override {}
  size_t peak_bytes() const override;
  void reset_peak_bytes() override;

 protected:
  // The reference kernels (core/ref/); a faster CPU backend may override some of them.
  void copy_from_host_impl(void* dst, const void* host_src, size_t bytes) override;
  void copy_to_host_impl(void* host_dst, const void* src, size_t bytes) override;
  void copy_impl(void* dst, const void* src, size_t bytes) override;
  void fill_impl(float* p, int64_t n, float value) override;
  INQ_DECLARE_OP_OVERRIDES(INQ_BACKEND_OPS)

 private:
  int threads_;
  struct Usage;
  std::shared_ptr<Usage> usage_;  // shared with deleters: storages may outlive the backend
};

}  // namespace inq
