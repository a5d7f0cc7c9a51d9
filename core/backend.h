// The device interface every layer computes through. CpuBackend runs the reference kernels of
// core/ref/; CudaBackend (cuda/) runs cuDNN, cuBLAS and our kernels on one stream. All pointers
// are on the backend's device; every call is ordered on the backend's stream.
#pragma once
#include <cstdint>
#include <memory>
#include <new>
#include <string>

#include "core/geometry.h"
#include "core/inq/inq_partition.h"
#include "core/tensor.h"

namespace inq {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  // e.g. "cpu (2 threads), strict fp32" or "cuda:0 NVIDIA H100 (..., tf32, deterministic)"
  virtual std::string description() const = 0;

  // --- memory ---
  virtual std::shared_ptr<Storage> allocate(size_t bytes) = 0;
  void copy_from_host(void* dst, const void* host_src, size_t bytes);
  // Returns when done: the host waits for the device. Counted in blocking_copies(); a training step
  // in steady state makes none (tests/test_train_step.cpp).
  void copy_to_host(void* host_dst, const void* src, size_t bytes);
  void copy(void* dst, const void* src, size_t bytes);
  void fill(float* p, int64_t n, float value);
  virtual void synchronize() = 0;
  // Peak bytes allocated on the device since start (0 where not tracked).
  virtual size_t peak_bytes() const { return 0; }
  // Host memory for data on its way to the device: page-locked on CUDA, so copy_from_host from it
  // runs asynchronously; the heap elsewhere. Throws std::bad_alloc when none is left.
  virtual void* allocate_host(size_t bytes) { return ::operator new(bytes); }
  virtual void free_host(void* p) noexcept { ::operator delete(p); }
  // Uploads that overlap compute (CUDA: a copy stream of its own). stream_position() marks the work
  // issued so far; copy_from_host_after(position, ...) starts the copy once the work up to that mark
  // is done, not waiting for work issued after it, and work issued after the call waits for the copy.
  // Position 0 waits for nothing. Elsewhere both are plain, in-order copies.
  virtual uint64_t stream_position() { return 0; }
  virtual void copy_from_host_after(uint64_t position, void* dst, const void* host_src, size_t bytes) {
    (void)position;
    copy_from_host(dst, host_src, bytes);
  }
  // Returns once every copy_from_host_after issued so far has read its host memory, which may then
  // be reused (the loader's pinned batches are handed back to its workers after this).
  virtual void wait_uploads() {}
  // A device-to-host copy that does not wait: host_dst must be host memory of allocate_host and stay
  // untouched until wait_copy_to_host(ticket) returns, after which it holds the data. In stream order
  // with the work issued before it. Elsewhere (CPU) the copy is done at once.
  uint64_t copy_to_host_async(void* host_dst, const void* src, size_t bytes);
  virtual void wait_copy_to_host(uint64_t ticket) { (void)ticket; }
  // Blocking device-to-host copies (copy_to_host calls) made so far.
  uint64_t blocking_copies() const { return blocking_copies_; }

  // --- ops: semantics are those of the reference kernels in core/ref/ ---
  // Each public op checks its arguments once, here, for every backend (core/backend_ops.cpp), then
  // runs the backend's <op>_impl. A backend checks only what it alone can (e.g. data on its device).
  void conv2d_fwd(const ConvGeom& g, const float* x, const float* w, const float* b, float* y);
  void conv2d_bwd_data(const ConvGeom& g, const float* w, const float* dy, float* dx);
  void conv2d_bwd_filter(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db);

  void linear_fwd(int n, int in, int out, const float* x, const float* w, const float* b, float* y);
  void linear_bwd(int n, int in, int out, const float* x, const float* w, const float* dy, float* dx, float* dw,
                  float* db);

  void batchnorm2d_fwd_train(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                             float* running_mean, float* running_var, float momentum, float eps, float* y,
                             float* save_mean, float* save_invstd);
  void batchnorm2d_fwd_eval(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, float eps, float* y);
  void batchnorm2d_bwd(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                       const float* save_mean, const float* save_invstd, float* dx, float* dgamma, float* dbeta);
  // Training BatchNorm split where synchronised BatchNorm all-reduces (core/ref/batchnorm2d_ref.h):
  // local mean, centred second moment about a given mean, statistics finish with the global count
  // (normalisation is then fwd_eval with the global mean and biased variance), backward sums, dx.
  void batchnorm2d_fwd_mean(int n, int c, int hw, const float* x, float* mean);
  void batchnorm2d_fwd_var(int n, int c, int hw, const float* x, const float* mean, float* var);
  void batchnorm2d_fwd_finish(int c, int64_t count, const float* mean, const float* var, float momentum, float eps,
                              float* running_mean, float* running_var, float* save_invstd);
  void batchnorm2d_bwd_sums(int n, int c, int hw, const float* x, const float* dy, const float* save_mean,
                            const float* save_invstd, float* sum_dy, float* sum_dy_xhat);
  void batchnorm2d_bwd_dx(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                          const float* save_mean, const float* save_invstd, const float* sum_dy,
                          const float* sum_dy_xhat, float* dx);

  void relu_fwd(int64_t n, const float* x, float* y);
  void relu_bwd(int64_t n, const float* y, const float* dy, float* dx);

  void maxpool2d_fwd(const PoolGeom& g, const float* x, float* y, int32_t* argmax);
  void maxpool2d_bwd(const PoolGeom& g, const float* dy, const int32_t* argmax, float* dx);
  void avgpool2d_fwd(const PoolGeom& g, const float* x, float* y);
  void avgpool2d_bwd(const PoolGeom& g, const float* dy, float* dx);
  void adaptive_avgpool2d_fwd(int n, int c, int h, int w, int oh, int ow, const float* x, float* y);
  void adaptive_avgpool2d_bwd(int n, int c, int h, int w, int oh, int ow, const float* dy, float* dx);

  void add_fwd(int64_t n, const float* a, const float* b, float* y);
  void accumulate(int64_t n, const float* x, float* y);
  void concat_fwd(int n, int hw, int c_part, int c_total, int c_offset, const float* part, float* y);
  void concat_bwd(int n, int hw, int c_part, int c_total, int c_offset, const float* dy, float* dpart);

  void dropout_fwd(int64_t n, float p, uint64_t seed, const float* x, float* y, uint8_t* keep);
  void dropout_bwd(int64_t n, float p, const uint8_t* keep, const float* dy, float* dx);

  void softmax_xent_fwd(int n, int classes, const float* logits, const int32_t* labels, float smoothing, float* probs,
                        float* loss);
  void softmax_xent_bwd(int n, int classes, const float* probs, const int32_t* labels, float smoothing, float* dlogits);

  // Classification statistics of a batch, kept on the device: stats[0] += the sum of loss[i] taken
  // in order in double, stats[1] += the samples whose label is among the top 1 logits, stats[2] +=
  // those among the top 5 (a label's rank is the number of strictly larger logits: ties count for
  // it), stats[3] = this batch's loss sum. So an epoch's sums stay on the device until read.
  void loss_stats(int n, int classes, const float* logits, const float* loss, const int32_t* labels, double* stats);

  void sgd_step(int64_t n, float* w, const float* g, float* m, const uint8_t* frozen, float lr, float momentum,
                float weight_decay, bool nesterov);

  // Averages taken in double on the device (BatchNorm re-estimation): sum[i] += double(x[i]) / divisor
  // in quotient_accumulate_f64, y[i] = float(sum[i] / divisor) in quotient_store_f64. divisor > 0.
  void quotient_accumulate_f64(int64_t n, const float* x, double divisor, double* sum);
  void quotient_store_f64(int64_t n, const double* sum, double divisor, float* y);

  // --- INQ stage boundary (semantics of core/ref/inq_ref.h) ---
  void inq_select(int64_t n, const float* w, const uint8_t* frozen, int64_t count, InqPartition strategy, uint64_t seed,
                  uint8_t* select);
  void inq_project_freeze(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* select, int n1, int n2);

 protected:
  // What each backend implements: the arguments are already checked (see the public op above).
  virtual void copy_from_host_impl(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void copy_to_host_impl(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy_impl(void* dst, const void* src, size_t bytes) = 0;
  virtual void fill_impl(float* p, int64_t n, float value) = 0;
  virtual uint64_t copy_to_host_async_impl(void* host_dst, const void* src, size_t bytes) {
    copy_to_host_impl(host_dst, src, bytes);
    return 0;
  }

  virtual void conv2d_fwd_impl(const ConvGeom& g, const float* x, const float* w, const float* b, float* y) = 0;
  virtual void conv2d_bwd_data_impl(const ConvGeom& g, const float* w, const float* dy, float* dx) = 0;
  virtual void conv2d_bwd_filter_impl(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db) = 0;
  virtual void linear_fwd_impl(int n, int in, int out, const float* x, const float* w, const float* b, float* y) = 0;
  virtual void linear_bwd_impl(int n, int in, int out, const float* x, const float* w, const float* dy, float* dx,
                               float* dw, float* db) = 0;
  virtual void batchnorm2d_fwd_train_impl(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                                          float* running_mean, float* running_var, float momentum, float eps, float* y,
                                          float* save_mean, float* save_invstd) = 0;
  virtual void batchnorm2d_fwd_eval_impl(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                                         const float* running_mean, const float* running_var, float eps, float* y) = 0;
  virtual void batchnorm2d_bwd_impl(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                                    const float* save_mean, const float* save_invstd, float* dx, float* dgamma,
                                    float* dbeta) = 0;
  virtual void batchnorm2d_fwd_mean_impl(int n, int c, int hw, const float* x, float* mean) = 0;
  virtual void batchnorm2d_fwd_var_impl(int n, int c, int hw, const float* x, const float* mean, float* var) = 0;
  virtual void batchnorm2d_fwd_finish_impl(int c, int64_t count, const float* mean, const float* var, float momentum,
                                           float eps, float* running_mean, float* running_var, float* save_invstd) = 0;
  virtual void batchnorm2d_bwd_sums_impl(int n, int c, int hw, const float* x, const float* dy, const float* save_mean,
                                         const float* save_invstd, float* sum_dy, float* sum_dy_xhat) = 0;
  virtual void batchnorm2d_bwd_dx_impl(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                                       const float* save_mean, const float* save_invstd, const float* sum_dy,
                                       const float* sum_dy_xhat, float* dx) = 0;
  virtual void relu_fwd_impl(int64_t n, const float* x, float* y) = 0;
  virtual void relu_bwd_impl(int64_t n, const float* y, const float* dy, float* dx) = 0;
  virtual void maxpool2d_fwd_impl(const PoolGeom& g, const float* x, float* y, int32_t* argmax) = 0;
  virtual void maxpool2d_bwd_impl(const PoolGeom& g, const float* dy, const int32_t* argmax, float* dx) = 0;
  virtual void avgpool2d_fwd_impl(const PoolGeom& g, const float* x, float* y) = 0;
  virtual void avgpool2d_bwd_impl(const PoolGeom& g, const float* dy, float* dx) = 0;
  virtual void adaptive_avgpool2d_fwd_impl(int n, int c, int h, int w, int oh, int ow, const float* x, float* y) = 0;
  virtual void adaptive_avgpool2d_bwd_impl(int n, int c, int h, int w, int oh, int ow, const float* dy, float* dx) = 0;
  virtual void add_fwd_impl(int64_t n, const float* a, const float* b, float* y) = 0;
  virtual void accumulate_impl(int64_t n, const float* x, float* y) = 0;
  virtual void concat_fwd_impl(int n, int hw, int c_part, int c_total, int c_offset, const float* part, float* y) = 0;
  virtual void concat_bwd_impl(int n, int hw, int c_part, int c_total, int c_offset, const float* dy, float* dpart) = 0;
  virtual void dropout_fwd_impl(int64_t n, float p, uint64_t seed, const float* x, float* y, uint8_t* keep) = 0;
  virtual void dropout_bwd_impl(int64_t n, float p, const uint8_t* keep, const float* dy, float* dx) = 0;
  virtual void softmax_xent_fwd_impl(int n, int classes, const float* logits, const int32_t* labels, float smoothing,
                                     float* probs, float* loss) = 0;
  virtual void softmax_xent_bwd_impl(int n, int classes, const float* probs, const int32_t* labels, float smoothing,
                                     float* dlogits) = 0;
  virtual void loss_stats_impl(int n, int classes, const float* logits, const float* loss, const int32_t* labels,
                               double* stats) = 0;
  virtual void sgd_step_impl(int64_t n, float* w, const float* g, float* m, const uint8_t* frozen, float lr,
                             float momentum, float weight_decay, bool nesterov) = 0;
  virtual void quotient_accumulate_f64_impl(int64_t n, const float* x, double divisor, double* sum) = 0;
  virtual void quotient_store_f64_impl(int64_t n, const double* sum, double divisor, float* y) = 0;
  virtual void inq_select_impl(int64_t n, const float* w, const uint8_t* frozen, int64_t count, InqPartition strategy,
                               uint64_t seed, uint8_t* select) = 0;
  virtual void inq_project_freeze_impl(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* select, int n1,
                                       int n2) = 0;

 private:
  uint64_t blocking_copies_ = 0;
};

// How make_backend builds a backend. Each field applies to one device and is ignored by the other.
struct BackendOptions {
  int threads = 0;            // CPU: worker threads, 0 = all cores
  bool cpu_reference = false; // CPU: the reference kernels (device "cpu-ref") rather than oneDNN
  int cuda_device = 0;        // CUDA: device index
  bool allow_tf32 = false;    // CUDA: TF32 tensor cores for fp32 convolutions and GEMMs (else strict fp32)
  bool deterministic = true;  // CUDA: only deterministic cuDNN engines (bit-identical reruns and resume)
};

// Explicit choice, never a silent fallback: asking for CUDA without a GPU (or in a build without
// CUDA) throws with the reason.
std::unique_ptr<Backend> make_backend(Device device, const BackendOptions& options = {});

// Whether a CUDA device can be used by this build on this machine (for tests that skip).
bool cuda_available(std::string* why_not = nullptr);

// --- tensor helpers over a backend ---
Tensor empty(Backend& be, const Shape& shape);
Tensor zeros(Backend& be, const Shape& shape);
// Makes `t` have `shape`, reusing its storage when large enough: steady-state steps allocate nothing.
void ensure_shape(Backend& be, Tensor& t, const Shape& shape);
Tensor to_backend(Backend& be, const float* host, const Shape& shape);
std::vector<float> to_host(Backend& be, const Tensor& t);

}  // namespace inq
