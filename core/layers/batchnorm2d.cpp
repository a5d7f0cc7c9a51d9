#include "core/layers/batchnorm2d.h"

#include <stdexcept>

#include "core/comm/communicator.h"
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
  y_shape_ = x.shape();
  Tensor y = layer_buffer(ctx, y_own_, y_shape_);
  synced_ = nullptr;
  if (ctx.training) {
    ensure_shape(be, save_mean_, {c_});
    ensure_shape(be, save_invstd_, {c_});
    Communicator* comm = ctx.sync_batchnorm;
    if (comm && comm->world_size() > 1) {
      // Equal per-rank batches (the trainer's are): the mean over the ranks of the local means is
      // the global mean, and that of the local second moments about it the global biased variance.
      ensure_shape(be, var_, {c_});
      be.batchnorm2d_fwd_mean(n, c_, hw, x.data(), save_mean_.data());
      comm->all_reduce_mean(save_mean_.data(), c_);
      be.batchnorm2d_fwd_var(n, c_, hw, x.data(), save_mean_.data(), var_.data());
      comm->all_reduce_mean(var_.data(), c_);
      be.batchnorm2d_fwd_finish(c_, int64_t(comm->world_size()) * n * hw, save_mean_.data(), var_.data(), momentum_,
                                eps_, running_mean_->value.data(), running_var_->value.data(), save_invstd_.data());
      be.batchnorm2d_fwd_eval(n, c_, hw, x.data(), weight_->value.data(), bias_->value.data(), save_mean_.data(),
                              var_.data(), eps_, y.data());
      synced_ = comm;
    } else {
      be.batchnorm2d_fwd_train(n, c_, hw, x.data(), weight_->value.data(), bias_->value.data(),
                               running_mean_->value.data(), running_var_->value.data(), momentum_, eps_, y.data(),
                               save_mean_.data(), save_invstd_.data());
    }
    if (!one_.defined() || one_.device() != be.device()) {
      one_ = empty(be, {1});
      be.fill(one_.data(), 1, 1.0f);
    }
    be.accumulate(1, one_.data(), num_batches_tracked_->value.data());
    x_ = keep_for_backward(ctx, x);
  } else {
    be.batchnorm2d_fwd_eval(n, c_, hw, x.data(), weight_->value.data(), bias_->value.data(),
                            running_mean_->value.data(), running_var_->value.data(), eps_, y.data());
    x_ = Tensor();
  }
  trained_ = ctx.training;
  return y;
}

Tensor BatchNorm2d::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  const std::string& who = describe();
  if (!trained_ || !x_.defined()) throw std::logic_error(who + ": backward needs a training-mode forward");
  require_grad_shape(who, dy.shape(), y_shape_);
  // The kernel always produces dx; BatchNorm is never a network's first layer, so nothing is lost.
  Backend& be = ctx.backend;
  const Tensor dx = layer_buffer(ctx, dx_, x_.shape());
  const int n = to_int(x_.dim(0), who), hw = to_int(x_.dim(2) * x_.dim(3), who);
  if (synced_) {
    // dgamma / dbeta are this rank's sums (the gradient all-reduce averages them like any other
    // gradient); dx needs the means over the global batch, hence the sums' mean over the ranks.
    ensure_shape(be, sums_, {2 * c_});
    float* sum_dy = sums_.data();
    float* sum_dy_xhat = sums_.data() + c_;
    be.batchnorm2d_bwd_sums(n, c_, hw, x_.data(), dy.data(), save_mean_.data(), save_invstd_.data(), sum_dy,
                            sum_dy_xhat);
    be.copy(bias_->grad.data(), sum_dy, sizeof(float) * size_t(c_));
    be.copy(weight_->grad.data(), sum_dy_xhat, sizeof(float) * size_t(c_));
    grads_ready(ctx, {weight_, bias_});  // before the reduction below: their bucket may start now
    synced_->all_reduce_mean(sums_.data(), 2 * int64_t(c_));
    be.batchnorm2d_bwd_dx(n, c_, hw, x_.data(), dy.data(), weight_->value.data(), save_mean_.data(),
                          save_invstd_.data(), sum_dy, sum_dy_xhat, dx.data());
  } else {
    be.batchnorm2d_bwd(n, c_, hw, x_.data(), dy.data(), weight_->value.data(), save_mean_.data(), save_invstd_.data(),
                       dx.data(), weight_->grad.data(), bias_->grad.data());
    grads_ready(ctx, {weight_, bias_});
  }
  release_kept(ctx, x_);
  return need_dx ? dx : Tensor();
}

}  // namespace inq
