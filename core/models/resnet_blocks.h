// ResNet's residual blocks as torchvision's BasicBlock and Bottleneck (v1.5: stride on the 3x3):
// y = relu(main(x) + shortcut(x)), shortcut = downsample (1x1 conv + BN) or identity.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/layers/activation.h"
#include "core/layers/batchnorm2d.h"
#include "core/layers/conv2d.h"
#include "core/layers/sequential.h"
#include "core/module.h"

namespace inq {

class ResidualBlock : public Module {
 public:
  Shape output_shape(const Shape& in) const override;
  Tensor forward(Context& ctx, const Tensor& x) override;
  // The block's output gradient reaches both branches; their input gradients are summed.
  Tensor backward(Context& ctx, const Tensor& dy, bool need_dx) override;
  // Read by the ONNX export: the main branch's steps and the shortcut (null: identity).
  const std::vector<Module*>& main_branch() const { return main_; }
  std::vector<Module*> steps() const override { return main_; }
  Sequential* downsample() const { return downsample_; }

 protected:
  // Builders register children in torchvision's order and list the main branch's steps here.
  std::vector<Module*> main_;
  Sequential* downsample_ = nullptr;  // null: identity shortcut
  std::vector<std::unique_ptr<ReLU>> private_relus_;  // torchvision reuses one ReLU module; we need one per use
  ReLU& private_relu();
  // conv1x1(in, out, stride) + BatchNorm2d when the shape changes, as torchvision's _make_layer.
  void add_downsample(int in, int out, int stride);

 private:
  ReLU out_relu_;
  Tensor dx_;  // dx when driven outside a Net (no scratch pool)
};

class BasicBlock : public ResidualBlock {
 public:
  static constexpr int expansion = 1;
  BasicBlock(int inplanes, int planes, int stride = 1);
  std::string type() const override { return "BasicBlock"; }
};

class Bottleneck : public ResidualBlock {
 public:
  static constexpr int expansion = 4;
  Bottleneck(int inplanes, int planes, int stride = 1);
  std::string type() const override { return "Bottleneck"; }
};

// Conv layers of ResNets: no bias, kaiming_normal(fan_out, relu).
std::unique_ptr<Conv2d> resnet_conv(int in, int out, int kernel, int stride);

}  // namespace inq
