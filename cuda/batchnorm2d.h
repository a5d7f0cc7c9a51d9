// BatchNorm2d launchers (semantics of core/ref/batchnorm2d_ref.h, i.e. PyTorch's): NCHW, per-channel
// statistics over n*hw values, deterministic: sums spread over images x channels in fixed slices, then
// a fixed-order second pass per channel (cuda/channel_reduce.cuh); bit-identical from run to run.
// A fused ReLU (`relu`, `relu_y`: core/batchnorm_args.h) is applied in the same kernels.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/geometry.h"

namespace inq::cuda {

// Training forward. running_mean / running_var may be nullptr (no running statistics); gamma /
// beta may be nullptr (1 and 0); y must not alias x. Throws std::invalid_argument when n*hw < 2,
// as the reference does.
void batchnorm2d_fwd_train(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                           float* running_mean, float* running_var, float momentum, float eps, float* y,
                           float* save_mean, float* save_invstd, bool relu, cudaStream_t stream);
// Inference forward with the running statistics; y may alias x.
void batchnorm2d_fwd_eval(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                          const float* running_mean, const float* running_var, float eps, float* y, bool relu,
                          cudaStream_t stream);
// Backward of the training forward; dx, dgamma, dbeta overwritten (dgamma / dbeta may be nullptr);
// relu_y: the fused ReLU's output, or nullptr.
void batchnorm2d_bwd(int n, int c, int hw, const float* x, const float* dy, const float* gamma, const float* save_mean,
                     const float* save_invstd, float* dx, float* dgamma, float* dbeta, const float* relu_y,
                     cudaStream_t stream);

// The training pass split where synchronised BatchNorm all-reduces (semantics of the *_ref functions
// of core/ref/batchnorm2d_ref.h). Per-channel mean of x; throws
// std::invalid_argument when n*hw < 1.
void batchnorm2d_fwd_mean(int n, int c, int hw, const float* x, float* mean, cudaStream_t stream);
// Per-channel mean of (x - mean)^2 about the given mean (two passes: no E[x^2] - E[x]^2 cancellation).
void batchnorm2d_fwd_var(int n, int c, int hw, const float* x, const float* mean, float* var, cudaStream_t stream);
// save_invstd from the global biased variance; running statistics (may be nullptr) with the global count.
void batchnorm2d_fwd_finish(int c, int64_t count, const float* mean, const float* var, float momentum, float eps,
                            float* running_mean, float* running_var, float* save_invstd, cudaStream_t stream);
// Per-channel sums of dy and dy * xhat.
void batchnorm2d_bwd_sums(int n, int c, int hw, const float* x, const float* dy, const float* save_mean,
                          const float* save_invstd, float* sum_dy, float* sum_dy_xhat, cudaStream_t stream);
// dx from given sums (element-wise); gamma may be nullptr (1).
void batchnorm2d_bwd_dx(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                        const float* save_mean, const float* save_invstd, const float* sum_dy, const float* sum_dy_xhat,
                        float* dx, cudaStream_t stream);

}  // namespace inq::cuda
