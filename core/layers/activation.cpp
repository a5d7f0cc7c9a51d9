#include "core/layers/activation.h"

#include <stdexcept>

#include "core/layers/layer_util.h"

namespace inq {

Tensor ReLU::forward(Context& ctx, const Tensor& x) {
  y_shape_ = x.shape();
  if (fused_) {
    y_ = Tensor();
    return x;
  }
  Tensor y = inplace_ ? x : layer_buffer(ctx, y_own_, y_shape_);
  ctx.backend.relu_fwd(x.numel(), x.data(), y.data());
  y_ = keep_for_backward(ctx, y);
  return y;
}

Tensor ReLU::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  require_grad_shape("ReLU", dy.shape(), y_shape_);
  if (fused_) return need_dx ? dy : Tensor();
  if (!y_.defined()) throw std::logic_error("ReLU: backward needs a training-mode forward");
  Tensor dx;
  if (need_dx) {
    dx = layer_buffer(ctx, dx_, dy.shape());
    ctx.backend.relu_bwd(dy.numel(), y_.data(), dy.data(), dx.data());
  }
  release_kept(ctx, y_);
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
  Tensor y = layer_buffer(ctx, y_own_, x.shape());
  ensure_bytes(be, keep_, static_cast<size_t>(x.numel()));
  be.dropout_fwd(x.numel(), p_, ctx.next_seed(), x.data(), y.data(), static_cast<uint8_t*>(keep_->data()));
  return y;
}

Tensor Dropout::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  require_grad_shape("Dropout", dy.shape(), shape_);
  if (!need_dx) return {};
  if (identity_) return dy;
  Tensor dx = layer_buffer(ctx, dx_, dy.shape());
  ctx.backend.dropout_bwd(dy.numel(), p_, static_cast<const uint8_t*>(keep_->data()), dy.data(), dx.data());
  return dx;
}

}  // namespace inq
