// BatchNorm2d on activations in oneDNN's channel-blocked format (nChw8c / nChw16c: [n][c/B][h*w][B],
// c a multiple of B), the format the oneDNN convolutions leave them in: one SIMD lane per channel.
// Semantics of core/ref/batchnorm2d_ref.h. Sums run over fixed groups of images (independent of the
// thread count) in float lanes, added in double in group order: bit-identical at any thread count.
// A fused ReLU (`relu`, `relu_y`: core/batchnorm_args.h; relu_y in the same blocked format) is
// applied in the same sweeps.
#pragma once
#include <cstdint>
#include <vector>

namespace inq::fast {

struct BlockedShape {
  int n, c, hw, block;  // block: 8 or 16
};

// `work` is scratch for the per-group partial sums (resized as needed, kept by the caller).
void batchnorm2d_fwd_train_blocked(const BlockedShape& s, const float* x, const float* gamma, const float* beta,
                                   float* running_mean, float* running_var, float momentum, float eps, float* y,
                                   float* save_mean, float* save_invstd, bool relu, std::vector<double>& work);
void batchnorm2d_fwd_eval_blocked(const BlockedShape& s, const float* x, const float* gamma, const float* beta,
                                  const float* running_mean, const float* running_var, float eps, float* y,
                                  bool relu);
void batchnorm2d_bwd_blocked(const BlockedShape& s, const float* x, const float* dy, const float* gamma,
                             const float* save_mean, const float* save_invstd, float* dx, float* dgamma, float* dbeta,
                             const float* relu_y, std::vector<double>& work);

}  // namespace inq::fast
