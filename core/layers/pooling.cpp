#include "core/layers/pooling.h"

#include <stdexcept>

#include "core/layers/layer_util.h"

namespace inq {
namespace {

PoolGeom pool_geom(const std::string& who, const Shape& in, int k, int s, int p, bool ceil_mode, bool include_pad) {
  require_nchw(who, in);
  try {
    return make_pool_geom(to_int(in[0], who), to_int(in[1], who), to_int(in[2], who), to_int(in[3], who), k, k, s, s,
                          p, p, ceil_mode, include_pad);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(who + " on input " + shape_str(in) + ": " + e.what());
  }
}

std::string pool_str(const char* type, int k, int s, int p, bool ceil_mode) {
  return std::string(type) + "(k=" + std::to_string(k) + ", s=" + std::to_string(s) + ", p=" + std::to_string(p) +
         (ceil_mode ? ", ceil)" : ")");
}

}  // namespace

// ---- MaxPool2d ----

MaxPool2d::MaxPool2d(int kernel, int stride, int padding, bool ceil_mode)
    : kernel_(kernel),
      stride_(stride > 0 ? stride : kernel),
      padding_(padding),
      ceil_mode_(ceil_mode),
      desc_(pool_str("MaxPool2d", kernel_, stride_, padding_, ceil_mode_)) {
  if (kernel_ <= 0 || padding_ < 0) throw std::invalid_argument("invalid " + describe());
}

PoolGeom MaxPool2d::geom(const Shape& in) const {
  return pool_geom(describe(), in, kernel_, stride_, padding_, ceil_mode_, true);
}

Shape MaxPool2d::output_shape(const Shape& in) const {
  const PoolGeom g = geom(in);
  return {g.n, g.c, g.p, g.q};
}

Tensor MaxPool2d::forward(Context& ctx, const Tensor& x) {
  g_ = geom(x.shape());
  y_shape_ = {g_.n, g_.c, g_.p, g_.q};
  Tensor y = layer_buffer(ctx, y_own_, y_shape_);
  ctx.backend.maxpool2d_fwd(g_, x.data(), y.data());
  x_ = keep_for_backward(ctx, x);
  return y;
}

Tensor MaxPool2d::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  require_grad_shape(describe(), dy.shape(), y_shape_);
  if (!x_.defined()) throw std::logic_error(describe() + ": backward needs a training-mode forward");
  Tensor dx;
  if (need_dx) {
    dx = layer_buffer(ctx, dx_, {g_.n, g_.c, g_.h, g_.w});
    ctx.backend.maxpool2d_bwd(g_, x_.data(), dy.data(), dx.data());
  }
  release_kept(ctx, x_);
  return dx;
}

// ---- AvgPool2d ----

AvgPool2d::AvgPool2d(int kernel, int stride, int padding, bool ceil_mode, bool count_include_pad)
    : kernel_(kernel),
      stride_(stride > 0 ? stride : kernel),
      padding_(padding),
      ceil_mode_(ceil_mode),
      count_include_pad_(count_include_pad),
      desc_(pool_str("AvgPool2d", kernel_, stride_, padding_, ceil_mode_)) {
  if (kernel_ <= 0 || padding_ < 0) throw std::invalid_argument("invalid " + describe());
}

PoolGeom AvgPool2d::geom(const Shape& in) const {
  return pool_geom(describe(), in, kernel_, stride_, padding_, ceil_mode_, count_include_pad_);
}

Shape AvgPool2d::output_shape(const Shape& in) const {
  const PoolGeom g = geom(in);
  return {g.n, g.c, g.p, g.q};
}

Tensor AvgPool2d::forward(Context& ctx, const Tensor& x) {
  g_ = geom(x.shape());
  y_shape_ = {g_.n, g_.c, g_.p, g_.q};
  Tensor y = layer_buffer(ctx, y_own_, y_shape_);
  ctx.backend.avgpool2d_fwd(g_, x.data(), y.data());
  return y;
}

Tensor AvgPool2d::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  require_grad_shape(describe(), dy.shape(), y_shape_);
  if (!need_dx) return {};
  Tensor dx = layer_buffer(ctx, dx_, {g_.n, g_.c, g_.h, g_.w});
  ctx.backend.avgpool2d_bwd(g_, dy.data(), dx.data());
  return dx;
}

// ---- AdaptiveAvgPool2d ----

AdaptiveAvgPool2d::AdaptiveAvgPool2d(int out_h, int out_w)
    : oh_(out_h), ow_(out_w), desc_("AdaptiveAvgPool2d(" + std::to_string(oh_) + ", " + std::to_string(ow_) + ")") {
  if (oh_ <= 0 || ow_ <= 0) throw std::invalid_argument("invalid " + describe());
}

Shape AdaptiveAvgPool2d::output_shape(const Shape& in) const {
  require_nchw(describe(), in);
  return {in[0], in[1], oh_, ow_};
}

Tensor AdaptiveAvgPool2d::forward(Context& ctx, const Tensor& x) {
  const std::string& who = describe();
  require_nchw(who, x.shape());
  in_ = x.shape();
  y_shape_ = {in_[0], in_[1], oh_, ow_};
  Tensor y = layer_buffer(ctx, y_own_, y_shape_);
  ctx.backend.adaptive_avgpool2d_fwd(to_int(in_[0], who), to_int(in_[1], who), to_int(in_[2], who),
                                     to_int(in_[3], who), oh_, ow_, x.data(), y.data());
  return y;
}

Tensor AdaptiveAvgPool2d::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  const std::string& who = describe();
  require_grad_shape(who, dy.shape(), y_shape_);
  if (!need_dx) return {};
  Tensor dx = layer_buffer(ctx, dx_, in_);
  ctx.backend.adaptive_avgpool2d_bwd(to_int(in_[0], who), to_int(in_[1], who), to_int(in_[2], who), to_int(in_[3], who),
                                     oh_, ow_, dy.data(), dx.data());
  return dx;
}

}  // namespace inq
