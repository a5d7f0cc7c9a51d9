// Fully connected layer as torch.nn.Linear (weight [out, in]).
// It flattens [N, ...] inputs itself, as torchvision's models call torch.flatten(x, 1)
// functionally before their classifiers; its dx has the input's shape.
#pragma once
#include <string>

#include "core/module.h"

namespace inq {

class Linear : public Module {
 public:
  // Initialised as PyTorch's default (U(±1/sqrt(in)) for weight and bias) unless set_init is called.
  Linear(int in_features, int out_features, bool bias = true);
  Linear& set_init(Init weight, Init bias = Init::zeros());

  std::string type() const override { return "Linear"; }
  const std::string& describe() const { return desc_; }
  Shape output_shape(const Shape& in) const override;
  Tensor forward(Context& ctx, const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy, bool need_dx) override;

  int in_features() const { return in_; }
  int out_features() const { return out_; }
  Param& weight() { return *weight_; }
  Param* bias() { return bias_; }

 private:
  int in_, out_;
  std::string desc_;
  Param* weight_;
  Param* bias_ = nullptr;
  Shape y_shape_;
  Tensor x_;            // the input, kept for the weight gradient
  Tensor y_own_, dx_;   // own buffers when driven outside a Net
};

}  // namespace inq
