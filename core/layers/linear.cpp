#include "core/layers/linear.h"

#include <stdexcept>

#include "core/init.h"
#include "core/layers/layer_util.h"

namespace inq {

Linear::Linear(int in_features, int out_features, bool bias)
    : in_(in_features), out_(out_features), desc_("Linear(" + std::to_string(in_) + ", " + std::to_string(out_) + ")") {
  if (in_ <= 0 || out_ <= 0) throw std::invalid_argument("invalid " + describe());
  const Init def = torch_default_init(in_);
  weight_ = &add_param("weight", {out_, in_}, def);
  if (bias) bias_ = &add_param("bias", {out_}, def);
}

Linear& Linear::set_init(Init weight, Init bias) {
  weight_->init = weight;
  if (bias_) bias_->init = bias;
  return *this;
}

Shape Linear::output_shape(const Shape& in) const {
  if (in.size() < 2 || shape_numel(in) != in[0] * in_)
    throw std::invalid_argument(describe() + ": expected input [N, " + std::to_string(in_) +
                                "] (or [N, ...] of that many features), got " + shape_str(in));
  return {in[0], out_};
}

Tensor Linear::forward(Context& ctx, const Tensor& x) {
  const std::string& who = describe();
  const Shape out = output_shape(x.shape());
  require_bound(*weight_, who);
  x_ = keep_for_backward(ctx, x);
  y_shape_ = out;
  Tensor y = layer_buffer(ctx, y_own_, out);
  ctx.backend.linear_fwd(to_int(out[0], who), in_, out_, x.data(), weight_->value.data(),
                         bias_ ? bias_->value.data() : nullptr, y.data());
  return y;
}

Tensor Linear::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  const std::string& who = describe();
  require_grad_shape(who, dy.shape(), y_shape_);
  if (!x_.defined()) throw std::logic_error(who + ": backward needs a training-mode forward");
  Tensor dx = need_dx ? layer_buffer(ctx, dx_, x_.shape()) : Tensor();
  ctx.backend.linear_bwd(to_int(dy.dim(0), who), in_, out_, x_.data(), weight_->value.data(), dy.data(),
                         need_dx ? dx.data() : nullptr, weight_->grad.data(), bias_ ? bias_->grad.data() : nullptr);
  grads_ready(ctx, {weight_, bias_});
  release_kept(ctx, x_);
  return dx;
}

}  // namespace inq
