// The default CPU backend (device "cpu"): convolutions on oneDNN, BatchNorm in vectorised float
// kernels, every other op on the reference kernels of CpuBackend, whose memory management it shares.
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

  void conv2d_fwd(const ConvGeom& g, const float* x, const float* w, const float* b, float* y) override;
  void conv2d_bwd_data(const ConvGeom& g, const float* w, const float* dy, float* dx) override;
  void conv2d_bwd_filter(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db) override;
  void batchnorm2d_fwd_train(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                             float* running_mean, float* running_var, float momentum, float eps, float* y,
                             float* save_mean, float* save_invstd) override;
  void batchnorm2d_fwd_eval(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, float eps, float* y) override;
  void batchnorm2d_bwd(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                       const float* save_mean, const float* save_invstd, float* dx, float* dgamma,
                       float* dbeta) override;
  void batchnorm2d_fwd_mean(int n, int c, int hw, const float* x, float* mean) override;
  void batchnorm2d_fwd_var(int n, int c, int hw, const float* x, const float* mean, float* var) override;
  void batchnorm2d_bwd_sums(int n, int c, int hw, const float* x, const float* dy, const float* save_mean,
                            const float* save_invstd, float* sum_dy, float* sum_dy_xhat) override;
  void batchnorm2d_bwd_dx(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                          const float* save_mean, const float* save_invstd, const float* sum_dy,
                          const float* sum_dy_xhat, float* dx) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace inq
