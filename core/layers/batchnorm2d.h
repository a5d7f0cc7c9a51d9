// BatchNorm2d as torch.nn.BatchNorm2d (affine, tracking running statistics, fixed momentum).
// state_dict order: weight, bias, running_mean, running_var, num_batches_tracked (a float scalar here).
#pragma once
#include <string>

#include "core/module.h"

namespace inq {

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int channels, float eps = 1e-5f, float momentum = 0.1f);

  std::string type() const override { return "BatchNorm2d"; }
  const std::string& describe() const { return desc_; }
  Shape output_shape(const Shape& in) const override;
  // Training: batch statistics, running statistics updated, num_batches_tracked += 1.
  // Eval: running statistics. Backward needs a training-mode forward.
  // Synchronised (ctx.sync_batchnorm with more than one rank; every rank's batch the same size):
  // the statistics are those of all ranks' batches together, and backward reduces its sums over
  // the ranks too, so R ranks with batch B compute what one process with batch R*B computes.
  // With a fused ReLU the output is max(0, BN(x)) and backward takes dy where it is > 0; the kept
  // output replaces the ReLU layer's (core/layers/fusion.h).
  Tensor forward(Context& ctx, const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy, bool need_dx) override;
  // Whether this layer applies the ReLU that follows it (set between steps, with that ReLU's set_fused).
  void set_fused_relu(bool on) { relu_ = on; }
  bool fused_relu() const { return relu_; }

  int channels() const { return c_; }
  float eps() const { return eps_; }
  float momentum() const { return momentum_; }

 private:
  BatchNormFwdEvalArgs eval_args(const BatchNormShape& shape, const Tensor& x, const float* mean, const float* var,
                                 const Tensor& y);
  int c_;
  float eps_, momentum_;
  Param *weight_, *bias_, *running_mean_, *running_var_, *num_batches_tracked_;
  std::string desc_;
  bool relu_ = false;     // fused ReLU
  bool trained_ = false;  // whether the last forward was in training mode
  Communicator* synced_ = nullptr;  // the ranks whose statistics the last forward used (sync BN)
  Shape y_shape_;
  Tensor x_;            // training: the input, kept for backward
  Tensor y_;            // training with a fused ReLU: the output, whose sign masks dy
  Tensor y_own_, dx_;   // own buffers when driven outside a Net
  Tensor dy_own_;       // sync BN with a fused ReLU: the masked dy, when driven outside a Net
  Tensor save_mean_, save_invstd_;
  Tensor var_, sums_;  // sync BN: the global biased variance; backward's sums of dy and dy * xhat
  Tensor one_;  // device constant 1, added to num_batches_tracked without a host round trip
};

}  // namespace inq
