// The CUDA backend: one non-blocking stream per backend; cuDNN (graph API) convolutions, cuBLAS
// linear layers and our kernels all ordered on it; stream-ordered pool memory; one shared cuDNN
// workspace that grows only when a new convolution shape needs more.
#pragma once
#include <cuda_runtime_api.h>

#include <memory>
#include <string>

#include "core/backend.h"

namespace inq::cuda {

// Whether a CUDA device is usable by this build (never throws): false with the reason in `why_not`
// when there is no driver, no device, or no kernel image for the device's architecture.
bool device_available(std::string* why_not);

struct CudaOptions {
  // Let cuDNN and cuBLAS use TF32 tensor cores for fp32 (faster; parity with the CPU ~1e-3).
  bool allow_tf32 = false;
  // Only deterministic cuDNN engines (bit-identical reruns, needed for bit-exact resume).
  bool deterministic = true;
};

class DeviceAllocator;
class Workspace;
class CudnnConv;
class CublasLinear;
class UploadStream;
class HostReadback;

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device, CudaOptions options = {});
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  Device device() const override { return Device::CUDA; }
  std::string description() const override;
  int device_index() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  const CudaOptions& options() const { return options_; }
  // Convolution execution plans built so far (one per op, geometry and pointer alignment).
  size_t conv_plan_count() const;
  size_t conv_workspace_bytes() const;

  std::shared_ptr<Storage> allocate(size_t bytes) override;
  void synchronize() override;
  size_t peak_bytes() const override;
  void reset_peak_bytes() override;
  void* allocate_host(size_t bytes) override;  // pinned (cudaHostAlloc)
  void free_host(void* p) noexcept override;
  uint64_t stream_position() override;
  void copy_from_host_after(uint64_t position, void* dst, const void* host_src, size_t bytes) override;
  void wait_uploads() override;
  void wait_copy_to_host(uint64_t ticket) override;

 protected:
  // Pinned host memory: asynchronous, so `host_src` must stay alive and unchanged until the next
  // synchronize(). Pageable memory: synchronizes before returning (the buffer may be reused at once).
  void copy_from_host_impl(void* dst, const void* host_src, size_t bytes) override;
  void copy_to_host_impl(void* host_dst, const void* src, size_t bytes) override;  // synchronizes
  void copy_impl(void* dst, const void* src, size_t bytes) override;
  void fill_impl(float* p, int64_t n, float value) override;
  uint64_t copy_to_host_async_impl(void* host_dst, const void* src, size_t bytes) override;
  INQ_DECLARE_OP_OVERRIDES(INQ_BACKEND_OPS)

 private:
  UploadStream& uploads();  // the copy stream, created on first use
  HostReadback& readbacks();  // events of the asynchronous device-to-host copies, created on first use
  void release() noexcept;  // ordered teardown, shared by the destructor and a failed constructor

  int device_;
  CudaOptions options_;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  // Destroyed in reverse order: library objects, then the workspace, then the allocator, then the stream.
  std::unique_ptr<DeviceAllocator> allocator_;
  std::unique_ptr<Workspace> workspace_;
  std::unique_ptr<CudnnConv> conv_;
  std::unique_ptr<CublasLinear> linear_;
  std::unique_ptr<UploadStream> upload_;  // created on first use
  std::unique_ptr<HostReadback> readback_;  // created on first use
};

// The backend make_backend(Device::CUDA, options) returns.
std::unique_ptr<Backend> make_cuda_backend(int device, CudaOptions options = {});

}  // namespace inq::cuda
