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

// Normalisation with given statistics: evaluation (running ones) and synchronised training (global ones).
BatchNormFwdEvalArgs BatchNorm2d::eval_args(const BatchNormShape& shape, const Tensor& x, const float* mean,
                                            const float* var, const Tensor& y) {
  BatchNormFwdEvalArgs a;
  a.shape = shape;
  a.x = x.data();
  a.gamma = weight_->value.data();
  a.beta = bias_->value.data();
  a.mean = mean;
  a.var = var;
  a.eps = eps_;
  a.y = y.data();
  a.relu = relu_;
  return a;
}

Tensor BatchNorm2d::forward(Context& ctx, const Tensor& x) {
  const std::string& who = describe();
  require_nchw(who, x.shape(), c_);
  require_bound(*weight_, who);
  Backend& be = ctx.backend;
  const int n = to_int(x.dim(0), who);
  const int hw = to_int(x.dim(2) * x.dim(3), who);
  const BatchNormShape shape{n, c_, hw};
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
      BatchNormFwdFinishArgs finish;
      finish.c = c_;
      finish.count = int64_t(comm->world_size()) * n * hw;
      finish.mean = save_mean_.data();
      finish.var = var_.data();
      finish.momentum = momentum_;
      finish.eps = eps_;
      finish.running_mean = running_mean_->value.data();
      finish.running_var = running_var_->value.data();
      finish.save_invstd = save_invstd_.data();
      be.batchnorm2d_fwd_finish(finish);
      be.batchnorm2d_fwd_eval(eval_args(shape, x, save_mean_.data(), var_.data(), y));
      synced_ = comm;
    } else {
      BatchNormFwdTrainArgs a;
      a.shape = shape;
      a.x = x.data();
      a.gamma = weight_->value.data();
      a.beta = bias_->value.data();
      a.running_mean = running_mean_->value.data();
      a.running_var = running_var_->value.data();
      a.momentum = momentum_;
      a.eps = eps_;
      a.y = y.data();
      a.save_mean = save_mean_.data();
      a.save_invstd = save_invstd_.data();
      a.relu = relu_;
      be.batchnorm2d_fwd_train(a);
    }
    if (!one_.defined() || one_.device() != be.device()) {
      one_ = empty(be, {1});
      be.fill(one_.data(), 1, 1.0f);
    }
    be.accumulate(1, one_.data(), num_batches_tracked_->value.data());
    x_ = keep_for_backward(ctx, x);
    y_ = relu_ ? keep_for_backward(ctx, y) : Tensor();
  } else {
    be.batchnorm2d_fwd_eval(eval_args(shape, x, running_mean_->value.data(), running_var_->value.data(), y));
    x_ = Tensor();
    y_ = Tensor();
  }
  trained_ = ctx.training;
  return y;
}

Tensor BatchNorm2d::backward(Context& ctx, const Tensor& dy, bool need_dx) {
  const std::string& who = describe();
  if (!trained_ || !x_.defined() || (relu_ && !y_.defined()))
    throw std::logic_error(who + ": backward needs a training-mode forward" +
                           (relu_ ? " with the fused ReLU" : ""));
  require_grad_shape(who, dy.shape(), y_shape_);
  // The kernel always produces dx; BatchNorm is never a network's first layer, so nothing is lost.
  Backend& be = ctx.backend;
  const Tensor dx = layer_buffer(ctx, dx_, x_.shape());
  const BatchNormShape shape{to_int(x_.dim(0), who), c_, to_int(x_.dim(2) * x_.dim(3), who)};
  if (synced_) {
    // The split ops take dy as it is: a fused ReLU's mask is applied first, into a buffer of its own.
    Tensor g = dy;
    if (relu_) {
      g = layer_buffer(ctx, dy_own_, dy.shape());
      be.relu_bwd(dy.numel(), y_.data(), dy.data(), g.data());
    }
    // dgamma / dbeta are this rank's sums (the gradient all-reduce averages them like any other
    // gradient); dx needs the means over the global batch, hence the sums' mean over the ranks.
    ensure_shape(be, sums_, {2 * c_});
    float* sum_dy = sums_.data();
    float* sum_dy_xhat = sums_.data() + c_;
    BatchNormBwdSumsArgs sums;
    sums.shape = shape;
    sums.x = x_.data();
    sums.dy = g.data();
    sums.save_mean = save_mean_.data();
    sums.save_invstd = save_invstd_.data();
    sums.sum_dy = sum_dy;
    sums.sum_dy_xhat = sum_dy_xhat;
    be.batchnorm2d_bwd_sums(sums);
    be.copy(bias_->grad.data(), sum_dy, sizeof(float) * size_t(c_));
    be.copy(weight_->grad.data(), sum_dy_xhat, sizeof(float) * size_t(c_));
    grads_ready(ctx, {weight_, bias_});  // before the reduction below: their bucket may start now
    synced_->all_reduce_mean(sums_.data(), 2 * int64_t(c_));
    BatchNormBwdDxArgs a;
    a.shape = shape;
    a.x = x_.data();
    a.dy = g.data();
    a.gamma = weight_->value.data();
    a.save_mean = save_mean_.data();
    a.save_invstd = save_invstd_.data();
    a.sum_dy = sum_dy;
    a.sum_dy_xhat = sum_dy_xhat;
    a.dx = dx.data();
    be.batchnorm2d_bwd_dx(a);
  } else {
    BatchNormBwdArgs a;
    a.shape = shape;
    a.x = x_.data();
    a.dy = dy.data();
    a.gamma = weight_->value.data();
    a.save_mean = save_mean_.data();
    a.save_invstd = save_invstd_.data();
    a.dx = dx.data();
    a.dgamma = weight_->grad.data();
    a.dbeta = bias_->grad.data();
    a.relu_y = relu_ ? y_.data() : nullptr;
    be.batchnorm2d_bwd(a);
    grads_ready(ctx, {weight_, bias_});
  }
  release_kept(ctx, x_);
  release_kept(ctx, y_);
  return need_dx ? dx : Tensor();
}

}  // namespace inq
