#include "core/layers/batchnorm2d.h"

#include <stdexcept>

#include "core/layers/layer_util.h"

namespace inq {

BatchNorm2d::BatchNorm2d(int channels, float eps, float momentum)
    : c_(channels),
      eps_(eps),
      momentum_(momentum),
      desc_("BatchNorm2d(" + std::to_string(c_) + ", eps=" + std::to_string(eps_) + ")") {
  if (c_ <= 0 || !(eps_ > 0.0f) || momentum_ < 0.0f || momentum_ > 1.0f)
    throw std::invalid_argument("invalid " + describe());
  weight_ = &add_param("weight", {c_}, Init::ones());
  bias_ = &add_param("bias", {c_}, Init::zeros());
  running_mean_ = &add_buffer("running_mean", {c_}, Init::zeros());
  running_var_ = &add_buffer("running_var", {c_}, Init::ones());
  num_batches_tracked_ = &add_buffer("num_batches_tracked", {}, Init::zeros());
}

Shape BatchNorm2d::output_shape(const Shape& in) const {
  require_nchw(describe(), in, c_);
  return in;
}

Tensor BatchNorm2d::forward(Context& ctx, const Tensor& x) {
  const std::string& who = describe();
  require_nchw(who, x.shape(), c_);
  require_bound(*weight_, who);
  Backend& be = ctx.backend;
  const int n = to_int(x.dim(0), who);
  const int hw = to_int(x.dim(2) * x.dim(3), who);
  ensure_shape(be, y_, x.shape());
  if (ctx.training) {
    ensure_shape(be, save_mean_, {c_});
    ensure_shape(be, save_invstd_, {c_});
    be.batchnorm2d_fwd_train(n, c_, hw, x.data(), weight_->value.data(), bias_->value.data(),
                             running_mean_->value.data(), running_var_->value.data(), momentum_, eps_, y_.data(),
                             save_mean_.data(), save_invstd_.data());
    if (!one_.defined() || one_.device() != be.device()) {
      one_ = empty(be, {1});
      be.fill(one_.data(), 1, 1.0f);
    }
    be.accumulate(1, one_.data(), num_batches_tracked_->value.data());
    x_ = x;
  } else {
    be.batchnorm2d_fwd_eval(n, c_, hw, x.data(), weight_->value.data(), bias_->value.data(),
                            running_mean_->value.data(), running_var_->value.data(), eps_, y_.data());
    x_ = Tensor();
  }
  trained_ = ctx.training;
  return y_;
}

Tensor BatchNorm2d::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  const std::string& who = describe();
  if (!trained_) throw std::logic_error(who + ": backward needs a training-mode forward");
  require_grad_shape(who, dy.shape(), y_.shape());
  // The kernel always produces dx; BatchNorm is never a network's first layer, so nothing is lost.
  ensure_shape(ctx.backend, dx_, x_.shape());
  ctx.backend.batchnorm2d_bwd(to_int(x_.dim(0), who), c_, to_int(x_.dim(2) * x_.dim(3), who), x_.data(), dy.data(),
                              weight_->value.data(), save_mean_.data(), save_invstd_.data(), dx_.data(),
                              weight_->grad.data(), bias_->grad.data());
  return need_dx ? dx_ : Tensor();
}

}  // namespace inq
