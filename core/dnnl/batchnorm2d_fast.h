// BatchNorm2d on flat NCHW float tensors, vectorised: the semantics of core/ref/batchnorm2d_ref.h
// (same arguments, same errors), with each image plane of a channel summed in float SIMD lanes and
// the planes added in double. Each channel is reduced by one thread in a fixed order, so results do
// not depend on the thread count; they differ from the reference's all-double sums by float rounding.
// A fused ReLU (`relu`, `relu_y`: core/batchnorm_args.h) is applied in the same sweeps.
#pragma once
#include <cstdint>

namespace inq::fast {

void batchnorm2d_fwd_train(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                           float* running_mean, float* running_var, float momentum, float eps, float* y,
                           float* save_mean, float* save_invstd, bool relu);
void batchnorm2d_fwd_eval(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                          const float* running_mean, const float* running_var, float eps, float* y, bool relu);
void batchnorm2d_bwd(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                     const float* save_mean, const float* save_invstd, float* dx, float* dgamma, float* dbeta,
                     const float* relu_y);
void batchnorm2d_fwd_mean(int n, int c, int hw, const float* x, float* mean);
void batchnorm2d_fwd_var(int n, int c, int hw, const float* x, const float* mean, float* var);
void batchnorm2d_bwd_sums(int n, int c, int hw, const float* x, const float* dy, const float* save_mean,
                          const float* save_invstd, float* sum_dy, float* sum_dy_xhat);
void batchnorm2d_bwd_dx(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                        const float* save_mean, const float* save_invstd, const float* sum_dy,
                        const float* sum_dy_xhat, float* dx);

}  // namespace inq::fast
