// BatchNorm2d reference with PyTorch's semantics (biased variance to normalise, unbiased to update running_var).
#pragma once
#include <cstdint>

#include "core/geometry.h"

namespace inq::ref {

// Training: normalises with batch statistics over (n, hw) per channel; running stats updated as
// running = (1 - momentum) * running + momentum * batch_stat (unbiased variance);
// save_mean / save_invstd = 1/sqrt(var_biased + eps) kept for backward.
// Fused ReLU (core/batchnorm_args.h): with `relu` the forwards write max(0, y) of the rounded y,
// as relu_fwd_ref on their unfused output; the backward with `relu_y` (the fused forward's output)
// reads dy as relu_bwd_ref(relu_y, dy) would give it, so fused and composed agree bit for bit.
template <typename T>
void batchnorm2d_fwd_train_ref(int n, int c, int hw, const T* x, const T* gamma, const T* beta, T* running_mean,
                               T* running_var, T momentum, T eps, T* y, T* save_mean, T* save_invstd,
                               bool relu = false);
template <typename T>
void batchnorm2d_fwd_eval_ref(int n, int c, int hw, const T* x, const T* gamma, const T* beta, const T* running_mean,
                              const T* running_var, T eps, T* y, bool relu = false);
// Backward of the training-mode forward; dx, dgamma, dbeta overwritten.
template <typename T>
void batchnorm2d_bwd_ref(int n, int c, int hw, const T* x, const T* dy, const T* gamma, const T* save_mean,
                         const T* save_invstd, T* dx, T* dgamma, T* dbeta, const T* relu_y = nullptr);

// Training split at the points where synchronised BatchNorm all-reduces over the ranks
// (core/layers/batchnorm2d.cpp). With one rank (no reduction between the calls) the sequence
//   fwd_mean -> fwd_var -> fwd_finish -> fwd_eval(mean, var) and bwd_sums -> bwd_dx
// computes what fwd_train and bwd compute. Per channel, over this call's n * hw values:
// mean[ch] = mean of x; needs n * hw >= 1 (checked by Backend).
template <typename T>
void batchnorm2d_fwd_mean_ref(int n, int c, int hw, const T* x, T* mean);
// var[ch] = mean of (x - mean[ch])^2 about the given (global) mean: a rank's share of the global
// biased variance, the mean over equal-sized ranks of which is that variance.
template <typename T>
void batchnorm2d_fwd_var_ref(int n, int c, int hw, const T* x, const T* mean, T* var);
// From the global mean and biased variance of `count` values (all ranks together):
// save_invstd = 1 / sqrt(var + eps); running statistics (optional) updated with momentum, the
// variance unbiased with count / (count - 1), as torch's SyncBatchNorm; needs count >= 2 (checked by Backend).
template <typename T>
void batchnorm2d_fwd_finish_ref(int c, int64_t count, const T* mean, const T* var, T momentum, T eps,
                                T* running_mean, T* running_var, T* save_invstd);
// sum_dy[ch] = sum of dy, sum_dy_xhat[ch] = sum of dy * (x - mean) * invstd over this call's values
// (with the saved global statistics these are the rank's dbeta and dgamma).
template <typename T>
void batchnorm2d_bwd_sums_ref(int n, int c, int hw, const T* x, const T* dy, const T* save_mean,
                              const T* save_invstd, T* sum_dy, T* sum_dy_xhat);
// dx = gamma * invstd * (dy - sum_dy / M - xhat * sum_dy_xhat / M), M = n * hw: bwd's dx given the
// sums. With R equal-sized ranks, passing each the mean over the ranks of their sums makes the
// means over M those over the global batch; dx is then R times the gradient of the global-batch
// loss: the scale of a rank's own mean loss, which the mean all-reduce of the gradients expects.
template <typename T>
void batchnorm2d_bwd_dx_ref(int n, int c, int hw, const T* x, const T* dy, const T* gamma, const T* save_mean,
                            const T* save_invstd, const T* sum_dy, const T* sum_dy_xhat, T* dx);

}  // namespace inq::ref
