#include "core/dnnl/dnnl_backend.h"

#include <oneapi/dnnl/dnnl.hpp>

#include "core/dnnl/batchnorm2d_fast.h"
#include "core/dnnl/dnnl_conv.h"
#include "core/dnnl/scratch_arena.h"

namespace inq {

struct DnnlBackend::Impl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  ScratchArena scratch;
  DnnlConv conv;
  explicit Impl(CpuBackend& be) : scratch(be), conv(engine, scratch) {}
};

// oneDNN (built with OpenMP) runs on the OpenMP team whose size CpuBackend set: one team for every op.
DnnlBackend::DnnlBackend(int threads) : CpuBackend(threads), impl_(std::make_unique<Impl>(*this)) {}
DnnlBackend::~DnnlBackend() = default;

std::string DnnlBackend::description() const {
  const dnnl_version_t* v = dnnl::version();
  return CpuBackend::description() + ", oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch);
}

// An empty tensor has nothing to compute; the reference handles it (and its argument checks).
void DnnlBackend::conv2d_fwd(const ConvGeom& g, const float* x, const float* w, const float* b, float* y) {
  if (g.y_numel() == 0 || !impl_->conv.fwd(g, x, w, b, y)) CpuBackend::conv2d_fwd(g, x, w, b, y);
}
void DnnlBackend::conv2d_bwd_data(const ConvGeom& g, const float* w, const float* dy, float* dx) {
  if (g.y_numel() == 0 || !impl_->conv.bwd_data(g, w, dy, dx)) CpuBackend::conv2d_bwd_data(g, w, dy, dx);
}
void DnnlBackend::conv2d_bwd_filter(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db) {
  if (g.y_numel() == 0 || !impl_->conv.bwd_filter(g, x, dy, dw, db)) CpuBackend::conv2d_bwd_filter(g, x, dy, dw, db);
}

void DnnlBackend::batchnorm2d_fwd_train(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                                        float* running_mean, float* running_var, float momentum, float eps, float* y,
                                        float* save_mean, float* save_invstd) {
  fast::batchnorm2d_fwd_train(n, c, hw, x, gamma, beta, running_mean, running_var, momentum, eps, y, save_mean,
                              save_invstd);
}
void DnnlBackend::batchnorm2d_fwd_eval(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                                       const float* running_mean, const float* running_var, float eps, float* y) {
  fast::batchnorm2d_fwd_eval(n, c, hw, x, gamma, beta, running_mean, running_var, eps, y);
}
void DnnlBackend::batchnorm2d_bwd(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                                  const float* save_mean, const float* save_invstd, float* dx, float* dgamma,
                                  float* dbeta) {
  fast::batchnorm2d_bwd(n, c, hw, x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
}
void DnnlBackend::batchnorm2d_fwd_mean(int n, int c, int hw, const float* x, float* mean) {
  fast::batchnorm2d_fwd_mean(n, c, hw, x, mean);
}
void DnnlBackend::batchnorm2d_fwd_var(int n, int c, int hw, const float* x, const float* mean, float* var) {
  fast::batchnorm2d_fwd_var(n, c, hw, x, mean, var);
}
void DnnlBackend::batchnorm2d_bwd_sums(int n, int c, int hw, const float* x, const float* dy, const float* save_mean,
                                       const float* save_invstd, float* sum_dy, float* sum_dy_xhat) {
  fast::batchnorm2d_bwd_sums(n, c, hw, x, dy, save_mean, save_invstd, sum_dy, sum_dy_xhat);
}
void DnnlBackend::batchnorm2d_bwd_dx(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                                     const float* save_mean, const float* save_invstd, const float* sum_dy,
                                     const float* sum_dy_xhat, float* dx) {
  fast::batchnorm2d_bwd_dx(n, c, hw, x, dy, gamma, save_mean, save_invstd, sum_dy, sum_dy_xhat, dx);
}

}  // namespace inq
