// 2-D convolution with square kernels, as torch.nn.Conv2d (weight [out, in/groups, k, k], optional bias).
#pragma once
#include <string>

#include "core/module.h"

namespace inq {

struct Conv2dOptions {
  int stride = 1;
  int padding = 0;
  int dilation = 1;
  int groups = 1;
  bool bias = true;
};

class Conv2d : public Module {
 public:
  // Initialised as PyTorch's default (U(±1/sqrt(fan_in)) for weight and bias) unless set_init is called.
  Conv2d(int in_channels, int out_channels, int kernel, Conv2dOptions options = {});

  // Chooses the initialisation (the model builders follow torchvision's choices).
  Conv2d& set_init(Init weight, Init bias = Init::zeros());

  std::string type() const override { return "Conv2d"; }
  const std::string& describe() const { return desc_; }  // "Conv2d(64, 128, k=3, s=2, p=1)"
  Shape output_shape(const Shape& in) const override;
  Tensor forward(Context& ctx, const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy, bool need_dx) override;

  int in_channels() const { return in_; }
  int out_channels() const { return out_; }
  int kernel() const { return kernel_; }
  const Conv2dOptions& options() const { return opt_; }
  Param& weight() { return *weight_; }
  Param* bias() { return bias_; }

 private:
  ConvGeom geom(const Shape& in) const;

  int in_, out_, kernel_;
  Conv2dOptions opt_;
  std::string desc_;
  Param* weight_;
  Param* bias_ = nullptr;
  ConvGeom g_;
  Shape y_shape_;
  Tensor x_;            // the input, kept for the weight gradient
  Tensor y_own_, dx_;   // own buffers when driven outside a Net
};

}  // namespace inq
