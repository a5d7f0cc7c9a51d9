// Activation-like layers without parameters: ReLU and Dropout.
//
// ReLU is in place by default, as torchvision's ReLU(inplace=True): the output overwrites the
// input tensor, which is safe when the producer's backward does not need its own output (conv,
// BN, linear, add). Backward uses the output; it writes dx into a buffer of its own, never into dy.
// A ReLU fused into the BatchNorm2d before it (core/layers/fusion.h) passes tensors through: that
// layer applies it.
//
// Dropout is inverted dropout as torch.nn.Dropout. The mask comes from a counter-based stream
// seeded by Context::next_seed(), so CPU and CUDA drop the same elements. Identity in eval mode or
// for p = 0.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/module.h"

namespace inq {

class ReLU : public Module {
 public:
  explicit ReLU(bool inplace = true) : inplace_(inplace) {}

  std::string type() const override { return "ReLU"; }
  Shape output_shape(const Shape& in) const override { return in; }
  Tensor forward(Context& ctx, const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy, bool need_dx) override;
  // Whether the producer applies this ReLU (forward and backward then pass their tensor through).
  void set_fused(bool fused) { fused_ = fused; }
  bool fused() const { return fused_; }

 private:
  bool inplace_;
  bool fused_ = false;
  Shape y_shape_;
  Tensor y_;            // training: the output, which backward reads
  Tensor y_own_, dx_;   // own buffers when driven outside a Net (y_own_: when not in place)
};

class Dropout : public Module {
 public:
  explicit Dropout(float p = 0.5f);

  std::string type() const override { return "Dropout"; }
  Shape output_shape(const Shape& in) const override { return in; }
  Tensor forward(Context& ctx, const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy, bool need_dx) override;
  float p() const { return p_; }

 private:
  float p_;
  bool identity_ = true;  // whether the last forward passed x through unchanged
  Shape shape_;
  Tensor y_own_, dx_;   // own buffers when driven outside a Net
  std::shared_ptr<Storage> keep_;  // uint8 keep mask
};

}  // namespace inq
