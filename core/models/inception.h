// GoogLeNet's building blocks as torchvision's: BasicConv2d (conv without bias, BN eps 1e-3, ReLU),
// Inception (four branches concatenated along channels; branch3 uses a 3x3 conv as torchvision
// does) and InceptionAux.
#pragma once
#include <memory>
#include <string>

#include "core/layers/sequential.h"
#include "core/module.h"

namespace inq {

// Conv and linear weights of GoogLeNet: truncated normal, std 0.01.
Init googlenet_weight_init();

class BasicConv2d : public Sequential {
 public:
  BasicConv2d(int in, int out, int kernel, int stride = 1, int padding = 0);
};

class Inception : public Module {
 public:
  Inception(int in, int ch1x1, int ch3x3red, int ch3x3, int ch5x5red, int ch5x5, int pool_proj);

  std::string type() const override { return "Inception"; }
  Shape output_shape(const Shape& in) const override;
  Tensor forward(Context& ctx, const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy, bool need_dx) override;

  static constexpr int kBranches = 4;
  Module& branch(int i) const { return *branch_[i]; }  // read by the ONNX export

 private:
  Module* branch_[kBranches];
  int width_[kBranches];
  Shape y_shape_;
  Tensor y_own_, dx_;  // own buffers when driven outside a Net
  Tensor dpart_[kBranches];
};

// Auxiliary classifier: adaptive avg pool 4x4, BasicConv2d 1x1 to 128, fc1 2048->1024, ReLU,
// dropout, fc2.
class InceptionAux : public Sequential {
 public:
  InceptionAux(int in, int num_classes, float dropout = 0.7f);
};

}  // namespace inq
