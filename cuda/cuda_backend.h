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
  void conv2d_fwd_impl(const ConvGeom& g, const float* x, const float* w, const float* b, float* y) override;
  void conv2d_bwd_data_impl(const ConvGeom& g, const float* w, const float* dy, float* dx) override;
  void conv2d_bwd_filter_impl(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db) override;
  void linear_fwd_impl(int n, int in, int out, const float* x, const float* w, const float* b, float* y) override;
  void linear_bwd_impl(int n, int in, int out, const float* x, const float* w, const float* dy, float* dx, float* dw,
                       float* db) override;
  void batchnorm2d_fwd_train_impl(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                                  float* running_mean, float* running_var, float momentum, float eps, float* y,
                                  float* save_mean, float* save_invstd) override;
  void batchnorm2d_fwd_eval_impl(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                                 const float* running_mean, const float* running_var, float eps, float* y) override;
  void batchnorm2d_bwd_impl(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                            const float* save_mean, const float* save_invstd, float* dx, float* dgamma,
                            float* dbeta) override;
  void batchnorm2d_fwd_mean_impl(int n, int c, int hw, const float* x, float* mean) override;
  void batchnorm2d_fwd_var_impl(int n, int c, int hw, const float* x, const float* mean, float* var) override;
  void batchnorm2d_fwd_finish_impl(int c, int64_t count, const float* mean, const float* var, float momentum, float eps,
                                   float* running_mean, float* running_var, float* save_invstd) override;
  void batchnorm2d_bwd_sums_impl(int n, int c, int hw, const float* x, const float* dy, const float* save_mean,
                                 const float* save_invstd, float* sum_dy, float* sum_dy_xhat) override;
  void batchnorm2d_bwd_dx_impl(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                               const float* save_mean, const float* save_invstd, const float* sum_dy,
                               const float* sum_dy_xhat, float* dx) override;
  void relu_fwd_impl(int64_t n, const float* x, float* y) override;
  void relu_bwd_impl(int64_t n, const float* y, const float* dy, float* dx) override;
  void maxpool2d_fwd_impl(const PoolGeom& g, const float* x, float* y, int32_t* argmax) override;
  void maxpool2d_bwd_impl(const PoolGeom& g, const float* dy, const int32_t* argmax, float* dx) override;
  void avgpool2d_fwd_impl(const PoolGeom& g, const float* x, float* y) override;
  void avgpool2d_bwd_impl(const PoolGeom& g, const float* dy, float* dx) override;
  void adaptive_avgpool2d_fwd_impl(int n, int c, int h, int w, int oh, int ow, const float* x, float* y) override;
  void adaptive_avgpool2d_bwd_impl(int n, int c, int h, int w, int oh, int ow, const float* dy, float* dx) override;
  void add_fwd_impl(int64_t n, const float* a, const float* b, float* y) override;
  void accumulate_impl(int64_t n, const float* x, float* y) override;
  void quotient_accumulate_f64_impl(int64_t n, const float* x, double divisor, double* sum) override;
  void quotient_store_f64_impl(int64_t n, const double* sum, double divisor, float* y) override;
  void concat_fwd_impl(int n, int hw, int c_part, int c_total, int c_offset, const float* part, float* y) override;
  void concat_bwd_impl(int n, int hw, int c_part, int c_total, int c_offset, const float* dy, float* dpart) override;
  void dropout_fwd_impl(int64_t n, float p, uint64_t seed, const float* x, float* y, uint8_t* keep) override;
  void dropout_bwd_impl(int64_t n, float p, const uint8_t* keep, const float* dy, float* dx) override;
  void softmax_xent_fwd_impl(int n, int classes, const float* logits, const int32_t* labels, float smoothing,
                             float* probs, float* loss) override;
  void softmax_xent_bwd_impl(int n, int classes, const float* probs, const int32_t* labels, float smoothing,
                             float* dlogits) override;
  void loss_stats_impl(int n, int classes, const float* logits, const float* loss, const int32_t* labels,
                       double* stats) override;
  void sgd_step_impl(int64_t n, float* w, const float* g, float* m, const uint8_t* frozen, float lr, float momentum,
                     float weight_decay, bool nesterov) override;
  void inq_select_impl(int64_t n, const float* w, const uint8_t* frozen, int64_t count, InqPartition strategy,
                       uint64_t seed, uint8_t* select) override;
  void inq_project_freeze_impl(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* select, int n1,
                               int n2) override;

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
