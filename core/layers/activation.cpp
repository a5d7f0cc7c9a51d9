#include "core/layers/activation.h"

#include <stdexcept>

#include "core/layers/layer_util.h"

namespace inq {

Tensor ReLU::forward(Context& ctx, const Tensor& x) {
  if (inplace_) {
    y_ = x;
  } else {
    ensure_shape(ctx.backend, out_, x.shape());
    y_ = out_;
  }
  ctx.backend.relu_fwd(x.numel(), x.data(), y_.data());
  return y_;
}

Tensor ReLU::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  require_grad_shape("ReLU", dy.shape(), y_.shape());
  if (!need_dx) return {};
  Tensor dx = gradient_buffer(ctx, dx_, dy.shape());
  ctx.backend.relu_bwd(dy.numel(), y_.data(), dy.data(), dx.data());
  return dx;
}

Dropout::Dropout(float p) : p_(p) {
  if (!(p_ >= 0.0f && p_ < 1.0f)) throw std::invalid_argument("Dropout: p must be in [0, 1), got " + std::to_string(p));
}

Tensor Dropout::forward(Context& ctx, const Tensor& x) {
  shape_ = x.shape();
  identity_ = !ctx.training || p_ == 0.0f;
  if (identity_) return x;
  Backend& be = ctx.backend;
  ensure_shape(be, y_, x.shape());
  ensure_bytes(be, keep_, static_cast<size_t>(x.numel()));
  be.dropout_fwd(x.numel(), p_, ctx.next_seed(), x.data(), y_.data(), static_cast<uint8_t*>(keep_->data()));
  return y_;
}

Tensor Dropout::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  require_grad_shape("Dropout", dy.shape(), shape_);
  if (!need_dx) return {};
  if (identity_) return dy;
  Tensor dx = gradient_buffer(ctx, dx_, dy.shape());
  ctx.backend.dropout_bwd(dy.numel(), p_, static_cast<const uint8_t*>(keep_->data()), dy.data(), dx.data());
  return dx;
}

}  // namespace inq
