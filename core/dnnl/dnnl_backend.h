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

 protected:
  void copy_from_host_impl(void* dst, const void* host_src, size_t bytes) override;
  void copy_to_host_impl(void* host_dst, const void* src, size_t bytes) override;
  void copy_impl(void* dst, const void* src, size_t bytes) override;
  void fill_impl(float* p, int64_t n, float value) override;

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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace inq
