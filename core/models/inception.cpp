#include "core/models/inception.h"

#include <stdexcept>

#include "core/init.h"
#include "core/layers/activation.h"
#include "core/layers/batchnorm2d.h"
#include "core/layers/conv2d.h"
#include "core/layers/layer_util.h"
#include "core/layers/linear.h"
#include "core/layers/pooling.h"

namespace inq {

Init googlenet_weight_init() { return Init::truncated_normal(0.01); }

BasicConv2d::BasicConv2d(int in, int out, int kernel, int stride, int padding) : Sequential("BasicConv2d") {
  Conv2dOptions o;
  o.stride = stride;
  o.padding = padding;
  o.bias = false;
  add("conv", std::make_unique<Conv2d>(in, out, kernel, o)).set_init(googlenet_weight_init());
  add("bn", std::make_unique<BatchNorm2d>(out, 1e-3f));
  add_private(std::make_unique<ReLU>());
}

Inception::Inception(int in, int ch1x1, int ch3x3red, int ch3x3, int ch5x5red, int ch5x5, int pool_proj)
    : width_{ch1x1, ch3x3, ch5x5, pool_proj} {
  branch_[0] = &add_child("branch1", std::make_unique<BasicConv2d>(in, ch1x1, 1));
  auto b2 = std::make_unique<Sequential>();
  b2->add(std::make_unique<BasicConv2d>(in, ch3x3red, 1));
  b2->add(std::make_unique<BasicConv2d>(ch3x3red, ch3x3, 3, 1, 1));
  branch_[1] = &add_child("branch2", std::move(b2));
  auto b3 = std::make_unique<Sequential>();
  b3->add(std::make_unique<BasicConv2d>(in, ch5x5red, 1));
  b3->add(std::make_unique<BasicConv2d>(ch5x5red, ch5x5, 3, 1, 1));
  branch_[2] = &add_child("branch3", std::move(b3));
  auto b4 = std::make_unique<Sequential>();
  b4->add(std::make_unique<MaxPool2d>(3, 1, 1, true));
  b4->add(std::make_unique<BasicConv2d>(in, pool_proj, 1));
  branch_[3] = &add_child("branch4", std::move(b4));
}

Shape Inception::output_shape(const Shape& in) const {
  Shape out = branch_[0]->output_shape(in);
  for (int i = 1; i < kBranches; ++i) {
    const Shape s = branch_[i]->output_shape(in);
    if (s[0] != out[0] || s[2] != out[2] || s[3] != out[3])
      throw std::invalid_argument("Inception: branch outputs " + shape_str(out) + " and " + shape_str(s) + " differ");
    out[1] += s[1];
  }
  return out;
}

Tensor Inception::forward(Context& ctx, const Tensor& x) {
  y_shape_ = output_shape(x.shape());
  Tensor y = layer_buffer(ctx, y_own_, y_shape_);
  const int n = to_int(y.dim(0), "Inception");
  const int hw = to_int(y.dim(2) * y.dim(3), "Inception");
  const int c_total = to_int(y.dim(1), "Inception");
  int offset = 0;
  for (int i = 0; i < kBranches; ++i) {
    const Tensor part = branch_[i]->forward(ctx, x);
    ctx.backend.concat_fwd(n, hw, width_[i], c_total, offset, part.data(), y.data());
    offset += width_[i];
  }
  return y;
}

Tensor Inception::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  require_grad_shape("Inception", dy.shape(), y_shape_);
  const int n = to_int(dy.dim(0), "Inception");
  const int hw = to_int(dy.dim(2) * dy.dim(3), "Inception");
  const int c_total = to_int(dy.dim(1), "Inception");
  int offset = 0;
  Tensor dx;
  for (int i = 0; i < kBranches; ++i) {
    Tensor dpart = layer_buffer(ctx, dpart_[i], {dy.dim(0), width_[i], dy.dim(2), dy.dim(3)});
    ctx.backend.concat_bwd(n, hw, width_[i], c_total, offset, dy.data(), dpart.data());
    offset += width_[i];
    const Tensor g = branch_[i]->backward(ctx, dpart, need_dx);
    dpart = Tensor();  // back to the pool
    if (!need_dx) continue;
    // Every branch reads x, so x's gradient is the sum of the branches'.
    if (i == 0) {
      dx = layer_buffer(ctx, dx_, g.shape());
      ctx.backend.copy(dx.data(), g.data(), static_cast<size_t>(g.numel()) * sizeof(float));
    } else {
      ctx.backend.accumulate(g.numel(), g.data(), dx.data());
    }
  }
  return dx;
}

InceptionAux::InceptionAux(int in, int num_classes, float dropout) : Sequential("InceptionAux") {
  add_private(std::make_unique<AdaptiveAvgPool2d>(4, 4));
  add("conv", std::make_unique<BasicConv2d>(in, 128, 1));
  add("fc1", std::make_unique<Linear>(2048, 1024)).set_init(googlenet_weight_init(), torch_default_init(2048));
  add_private(std::make_unique<ReLU>());
  add("dropout", std::make_unique<Dropout>(dropout));
  add("fc2", std::make_unique<Linear>(1024, num_classes))
      .set_init(googlenet_weight_init(), torch_default_init(1024));
}

}  // namespace inq
