// BatchNorm2d reference with PyTorch's semantics (biased variance to normalise, unbiased to update running_var).
#pragma once
#include <cstdint>

#include "core/geometry.h"

namespace inq::ref {

// Training: normalises with batch statistics over (n, hw) per channel; running stats updated as
// running = (1 - momentum) * running + momentum * batch_stat (unbiased variance);
// save_mean / save_invstd = 1/sqrt(var_biased + eps) kept for backward.
template <typename T>
void batchnorm2d_fwd_train_ref(int n, int c, int hw, const T* x, const T* gamma, const T* beta, T* running_mean,
                               T* running_var, T momentum, T eps, T* y, T* save_mean, T* save_invstd);
template <typename T>
void batchnorm2d_fwd_eval_ref(int n, int c, int hw, const T* x, const T* gamma, const T* beta, const T* running_mean,
                              const T* running_var, T eps, T* y);
// Backward of the training-mode forward; dx, dgamma, dbeta overwritten.
template <typename T>
void batchnorm2d_bwd_ref(int n, int c, int hw, const T* x, const T* dy, const T* gamma, const T* save_mean,
                         const T* save_invstd, T* dx, T* dgamma, T* dbeta);

}  // namespace inq::ref
