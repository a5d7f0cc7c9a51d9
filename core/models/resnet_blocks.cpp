#include "core/models/resnet_blocks.h"

#include <stdexcept>

#include "core/layers/layer_util.h"

namespace inq {

std::unique_ptr<Conv2d> resnet_conv(int in, int out, int kernel, int stride) {
  Conv2dOptions o;
  o.stride = stride;
  o.padding = kernel / 2;
  o.bias = false;
  auto conv = std::make_unique<Conv2d>(in, out, kernel, o);
  conv->set_init(Init::kaiming_normal_fan_out());
  return conv;
}

ReLU& ResidualBlock::private_relu() {
  private_relus_.push_back(std::make_unique<ReLU>());
  return *private_relus_.back();
}

void ResidualBlock::add_downsample(int in, int out, int stride) {
  if (stride == 1 && in == out) return;
  auto ds = std::make_unique<Sequential>();
  ds->add(resnet_conv(in, out, 1, stride));
  ds->add(std::make_unique<BatchNorm2d>(out));
  downsample_ = &add_child("downsample", std::move(ds));
}

Shape ResidualBlock::output_shape(const Shape& in) const {
  Shape s = in;
  for (const Module* m : main_) s = m->output_shape(s);
  const Shape id = downsample_ ? downsample_->output_shape(in) : in;
  if (s != id)
    throw std::invalid_argument(type() + ": main branch gives " + shape_str(s) + " but the shortcut gives " +
                                shape_str(id) + " for input " + shape_str(in));
  return s;
}

Tensor ResidualBlock::forward(Context& ctx, const Tensor& x) {
  Tensor t = x;
  for (Module* m : main_) t = m->forward(ctx, t);
  const Tensor id = downsample_ ? downsample_->forward(ctx, x) : x;
  if (t.shape() != id.shape())
    throw std::invalid_argument(type() + ": branch shapes differ: " + shape_str(t.shape()) + " vs " +
                                shape_str(id.shape()));
  // The sum overwrites the main branch's output in place: the BatchNorm that wrote it reads only
  // its input in backward, so no separate buffer is kept for the sum.
  ctx.backend.add_fwd(t.numel(), t.data(), id.data(), t.data());
  return out_relu_.forward(ctx, t);
}

Tensor ResidualBlock::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  const Tensor g = out_relu_.backward(ctx, dy, true);
  Tensor gm = g;
  for (size_t i = main_.size(); i-- > 0;) gm = main_[i]->backward(ctx, gm, i > 0 || need_dx);
  const Tensor gi = downsample_ ? downsample_->backward(ctx, g, need_dx) : g;
  if (!need_dx) return {};
  Tensor dx = layer_buffer(ctx, dx_, gm.shape());
  ctx.backend.add_fwd(gm.numel(), gm.data(), gi.data(), dx.data());
  return dx;
}

BasicBlock::BasicBlock(int inplanes, int planes, int stride) {
  Conv2d& conv1 = add_child("conv1", resnet_conv(inplanes, planes, 3, stride));
  BatchNorm2d& bn1 = add_child("bn1", std::make_unique<BatchNorm2d>(planes));
  ReLU& relu = add_child("relu", std::make_unique<ReLU>());
  Conv2d& conv2 = add_child("conv2", resnet_conv(planes, planes, 3, 1));
  BatchNorm2d& bn2 = add_child("bn2", std::make_unique<BatchNorm2d>(planes));
  main_ = {&conv1, &bn1, &relu, &conv2, &bn2};
  add_downsample(inplanes, planes * expansion, stride);
}

Bottleneck::Bottleneck(int inplanes, int planes, int stride) {
  Conv2d& conv1 = add_child("conv1", resnet_conv(inplanes, planes, 1, 1));
  BatchNorm2d& bn1 = add_child("bn1", std::make_unique<BatchNorm2d>(planes));
  Conv2d& conv2 = add_child("conv2", resnet_conv(planes, planes, 3, stride));
  BatchNorm2d& bn2 = add_child("bn2", std::make_unique<BatchNorm2d>(planes));
  Conv2d& conv3 = add_child("conv3", resnet_conv(planes, planes * expansion, 1, 1));
  BatchNorm2d& bn3 = add_child("bn3", std::make_unique<BatchNorm2d>(planes * expansion));
  ReLU& relu = add_child("relu", std::make_unique<ReLU>());
  main_ = {&conv1, &bn1, &relu, &conv2, &bn2, &private_relu(), &conv3, &bn3};
  add_downsample(inplanes, planes * expansion, stride);
}

}  // namespace inq
