#include "core/layers/conv2d.h"

#include <stdexcept>

#include "core/init.h"
#include "core/layers/layer_util.h"

namespace inq {

Conv2d::Conv2d(int in_channels, int out_channels, int kernel, Conv2dOptions options)
    : in_(in_channels), out_(out_channels), kernel_(kernel), opt_(options) {
  desc_ = "Conv2d(" + std::to_string(in_) + ", " + std::to_string(out_) + ", k=" + std::to_string(kernel_) +
          ", s=" + std::to_string(opt_.stride) + ", p=" + std::to_string(opt_.padding) + ")";
  if (in_ <= 0 || out_ <= 0 || kernel_ <= 0 || opt_.groups <= 0 || in_ % opt_.groups || out_ % opt_.groups)
    throw std::invalid_argument("invalid " + describe());
  const Shape wshape{out_, in_ / opt_.groups, kernel_, kernel_};
  const Init def = torch_default_init(compute_fans(wshape).fan_in);
  weight_ = &add_param("weight", wshape, def);
  if (opt_.bias) bias_ = &add_param("bias", {out_}, def);
}

Conv2d& Conv2d::set_init(Init weight, Init bias) {
  weight_->init = weight;
  if (bias_) bias_->init = bias;
  return *this;
}

ConvGeom Conv2d::geom(const Shape& in) const {
  const std::string& who = describe();
  require_nchw(who, in, in_);
  try {
    return make_conv_geom(to_int(in[0], who), in_, to_int(in[2], who), to_int(in[3], who), out_, kernel_, kernel_,
                          opt_.stride, opt_.stride, opt_.padding, opt_.padding, opt_.dilation, opt_.dilation,
                          opt_.groups);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(who + " on input " + shape_str(in) + ": " + e.what());
  }
}

Shape Conv2d::output_shape(const Shape& in) const {
  const ConvGeom g = geom(in);
  return {g.n, g.k, g.p, g.q};
}

Tensor Conv2d::forward(Context& ctx, const Tensor& x) {
  require_bound(*weight_, describe());
  g_ = geom(x.shape());
  x_ = keep_for_backward(ctx, x);
  y_shape_ = {g_.n, g_.k, g_.p, g_.q};
  Tensor y = layer_buffer(ctx, y_own_, y_shape_);
  ctx.backend.conv2d_fwd(g_, x.data(), weight_->value.data(), bias_ ? bias_->value.data() : nullptr, y.data());
  return y;
}

Tensor Conv2d::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  require_grad_shape(describe(), dy.shape(), y_shape_);
  if (!x_.defined()) throw std::logic_error(describe() + ": backward needs a training-mode forward");
  ctx.backend.conv2d_bwd_filter(g_, x_.data(), dy.data(), weight_->grad.data(), bias_ ? bias_->grad.data() : nullptr);
  grads_ready(ctx, {weight_, bias_});  // before dx: the all-reduce overlaps the data gradient
  const Shape x_shape = x_.shape();
  release_kept(ctx, x_);
  if (!need_dx) return {};
  Tensor dx = layer_buffer(ctx, dx_, x_shape);
  ctx.backend.conv2d_bwd_data(g_, weight_->value.data(), dy.data(), dx.data());
  return dx;
}

}  // namespace inq
