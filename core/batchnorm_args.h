// The arguments of the Backend BatchNorm2d ops that take more than six: shape, scalars and
// pointers in one struct, so a call names what it passes and every backend's signature stays
// short. Semantics (and the order of the fields) follow core/ref/batchnorm2d_ref.h. Every pointer
// is on the backend's device; running_mean / running_var may be null where the reference allows it.
//
// Fused ReLU (BatchNorm followed by ReLU, core/layers/fusion.h): the forwards with `relu` write
// y = max(0, BN(x)) (the ReLU of the rounded BN output: x > 0 ? x : +0, as relu_fwd), and the
// backward with `relu_y` (that forward's y) takes dy only where y > 0, as relu_bwd would before it.
// Fused and composed give the same bits on every backend.
#pragma once
#include <cstdint>

namespace inq {

// NCHW activations seen per channel: n images, c channels, hw = h * w values per image and channel.
struct BatchNormShape {
  int n = 0, c = 0, hw = 0;
  int64_t numel() const { return int64_t(n) * c * hw; }
};

// Training forward: batch statistics, running statistics updated with `momentum`.
struct BatchNormFwdTrainArgs {
  BatchNormShape shape;
  const float* x = nullptr;
  const float* gamma = nullptr;
  const float* beta = nullptr;
  float* running_mean = nullptr;
  float* running_var = nullptr;
  float momentum = 0.1f;
  float eps = 1e-5f;
  float* y = nullptr;
  float* save_mean = nullptr;
  float* save_invstd = nullptr;
  bool relu = false;  // y = max(0, BN(x))
};

// Evaluation forward with the given (running, or global batch) statistics.
struct BatchNormFwdEvalArgs {
  BatchNormShape shape;
  const float* x = nullptr;
  const float* gamma = nullptr;
  const float* beta = nullptr;
  const float* mean = nullptr;
  const float* var = nullptr;
  float eps = 1e-5f;
  float* y = nullptr;
  bool relu = false;  // y = max(0, BN(x))
};

// Backward of the training forward; dx, dgamma, dbeta are overwritten.
struct BatchNormBwdArgs {
  BatchNormShape shape;
  const float* x = nullptr;
  const float* dy = nullptr;
  const float* gamma = nullptr;
  const float* save_mean = nullptr;
  const float* save_invstd = nullptr;
  float* dx = nullptr;
  float* dgamma = nullptr;
  float* dbeta = nullptr;
  const float* relu_y = nullptr;  // fused ReLU: the forward's y; dy counts where y > 0 (null: no ReLU)
};

// The split training forward's last step: statistics of `count` values over all ranks.
struct BatchNormFwdFinishArgs {
  int c = 0;
  int64_t count = 0;
  const float* mean = nullptr;
  const float* var = nullptr;
  float momentum = 0.1f;
  float eps = 1e-5f;
  float* running_mean = nullptr;
  float* running_var = nullptr;
  float* save_invstd = nullptr;
};

// The split backward's per-channel sums.
struct BatchNormBwdSumsArgs {
  BatchNormShape shape;
  const float* x = nullptr;
  const float* dy = nullptr;
  const float* save_mean = nullptr;
  const float* save_invstd = nullptr;
  float* sum_dy = nullptr;
  float* sum_dy_xhat = nullptr;
};

// The split backward's dx from the (all-reduced) sums.
struct BatchNormBwdDxArgs {
  BatchNormShape shape;
  const float* x = nullptr;
  const float* dy = nullptr;
  const float* gamma = nullptr;
  const float* save_mean = nullptr;
  const float* save_invstd = nullptr;
  const float* sum_dy = nullptr;
  const float* sum_dy_xhat = nullptr;
  float* dx = nullptr;
};

}  // namespace inq
