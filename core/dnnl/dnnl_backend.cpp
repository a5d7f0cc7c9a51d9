#include "core/dnnl/dnnl_backend.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <cstring>
#include <initializer_list>
#include <optional>

#include "core/dnnl/batchnorm2d_blocked.h"
#include "core/dnnl/batchnorm2d_fast.h"
#include "core/dnnl/dnnl_conv.h"
#include "core/dnnl/layout_registry.h"
#include "core/dnnl/maxpool2d_blocked.h"
#include "core/dnnl/scratch_arena.h"

namespace inq {

using dnnl::memory;

struct DnnlBackend::Impl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  ScratchArena scratch;
  // Shared with the storages' deleters, which forget a freed buffer's layout (storages may
  // outlive the backend; release() touches nothing else).
  std::shared_ptr<LayoutRegistry> layouts;
  DnnlConv conv;
  std::vector<double> bn_work;
  explicit Impl(CpuBackend& be)
      : scratch(be), layouts(std::make_shared<LayoutRegistry>(engine, scratch)), conv(engine, scratch, *layouts) {}

  size_t bytes(int64_t n) const { return size_t(n) * sizeof(float); }
  // Inputs an op reads flat: converted in place where blocked.
  void flat_in(const void* p, size_t b) { layouts->plain(p, b); }
  // Outputs an op writes flat.
  void flat_out(const void* p, size_t b) { layouts->overwrite(p, b); }

  // Brings equally sized buffers to one format, the first registered one's (converting the others
  // in place), or all flat; returns that format (nullopt: flat).
  std::optional<memory::desc> unify(std::initializer_list<const void*> ps, size_t b) {
    std::optional<memory::desc> target;
    for (const void* p : ps)
      if (const memory::desc* f = layouts->format(p, b)) {
        target = *f;
        break;
      }
    for (const void* p : ps) {
      if (target)
        layouts->convert(p, *target);
      else
        layouts->plain(p, b);
    }
    return target;
  }
  // Records an elementwise op's output in its inputs' format (after the op wrote it).
  void elementwise_out(const void* p, size_t b, const std::optional<memory::desc>& f) {
    if (f)
      layouts->set(p, *f);
    else
      layouts->overwrite(p, b);
  }
  // The channel-blocked NCHW format with lanes of `block` channels (nChw8c, nChw16c).
  static memory::desc channel_blocked(const memory::dims& dims, int block) {
    return memory::desc(dims, memory::data_type::f32,
                        block == 16 ? memory::format_tag::aBcd16b : memory::format_tag::aBcd8b);
  }
  // The lane block of a registered channel-blocked NCHW format (nChw8c, nChw16c); 0 otherwise.
  static int channel_block(const memory::desc& d) {
    if (d.dims().size() != 4) return 0;
    for (int b : {16, 8})
      if (d.dims()[1] % b == 0 && d == channel_blocked(d.dims(), b)) return b;
    return 0;
  }
  // The channel block max pooling runs in: x's, when x is channel-blocked; 0 otherwise.
  int pool_block(const void* x, size_t b) const {
    const memory::desc* f = layouts->format(x, b);
    return f ? channel_block(*f) : 0;
  }
  // Where BatchNorm runs: the channel block of the inputs' common format (stored in *f), or 0 with
  // the inputs made flat (also when that format is blocked some other way). `out` is overwritten.
  int batchnorm_block(std::initializer_list<const void*> in, const void* out, size_t b,
                      std::optional<memory::desc>* f) {
    *f = unify(in, b);
    const int block = *f ? channel_block(**f) : 0;
    if (*f && !block)
      for (const void* p : in) layouts->plain(p, b);
    layouts->overwrite(out, b);
    return block;
  }
};

// oneDNN (built with OpenMP) runs on the OpenMP team whose size CpuBackend set: one team for every op.
DnnlBackend::DnnlBackend(int threads) : CpuBackend(threads), impl_(std::make_unique<Impl>(*this)) {}
DnnlBackend::~DnnlBackend() = default;

std::string DnnlBackend::description() const {
  const dnnl_version_t* v = dnnl::version();
  return CpuBackend::description() + ", oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch);
}

std::shared_ptr<Storage> DnnlBackend::allocate(size_t bytes) {
  std::shared_ptr<Storage> inner = CpuBackend::allocate(bytes);
  std::shared_ptr<LayoutRegistry> layouts = impl_->layouts;
  void* p = inner->data();
  return std::make_shared<Storage>(Device::CPU, p, bytes, [inner, layouts, bytes](void* q) mutable {
    layouts->release(q, bytes);
    inner.reset();
  });
}

// Forgetting the layout of dead data saves the in-place conversion to flat that overwriting part of a
// larger blocked region would otherwise do.
void DnnlBackend::discard(void* p, size_t bytes) { impl_->layouts->release(p, bytes); }

void DnnlBackend::copy_from_host_impl(void* dst, const void* src, size_t bytes) {
  impl_->flat_out(dst, bytes);
  CpuBackend::copy_from_host_impl(dst, src, bytes);
}
void DnnlBackend::copy_to_host_impl(void* dst, const void* src, size_t bytes) {
  impl_->flat_in(src, bytes);
  CpuBackend::copy_to_host_impl(dst, src, bytes);
}
// A copy keeps the source's format.
void DnnlBackend::copy_impl(void* dst, const void* src, size_t bytes) {
  if (const memory::desc* f = impl_->layouts->format(src, bytes)) {
    const memory::desc keep = *f;
    impl_->layouts->overwrite(dst, bytes);
    CpuBackend::copy_impl(dst, src, bytes);
    impl_->layouts->set(dst, keep);
    return;
  }
  impl_->flat_in(src, bytes);
  impl_->flat_out(dst, bytes);
  CpuBackend::copy_impl(dst, src, bytes);
}
void DnnlBackend::fill_impl(float* p, int64_t n, float value) {
  impl_->flat_out(p, impl_->bytes(n));
  CpuBackend::fill_impl(p, n, value);
}

// An empty tensor has nothing to compute; the reference handles it (and its argument checks).
void DnnlBackend::conv2d_fwd_impl(const ConvGeom& g, const float* x, const float* w, const float* b, float* y) {
  if (g.y_numel() > 0 && impl_->conv.fwd(g, x, w, b, y)) return;
  impl_->flat_in(x, impl_->bytes(g.x_numel()));
  impl_->flat_out(y, impl_->bytes(g.y_numel()));
  CpuBackend::conv2d_fwd_impl(g, x, w, b, y);
}
void DnnlBackend::conv2d_bwd_data_impl(const ConvGeom& g, const float* w, const float* dy, float* dx) {
  if (g.y_numel() > 0 && impl_->conv.bwd_data(g, w, dy, dx)) return;
  impl_->flat_in(dy, impl_->bytes(g.y_numel()));
  impl_->flat_out(dx, impl_->bytes(g.x_numel()));
  CpuBackend::conv2d_bwd_data_impl(g, w, dy, dx);
}
void DnnlBackend::conv2d_bwd_filter_impl(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db) {
  if (g.y_numel() > 0 && impl_->conv.bwd_filter(g, x, dy, dw, db)) return;
  impl_->flat_in(x, impl_->bytes(g.x_numel()));
  impl_->flat_in(dy, impl_->bytes(g.y_numel()));
  CpuBackend::conv2d_bwd_filter_impl(g, x, dy, dw, db);
}

void DnnlBackend::linear_fwd_impl(int n, int in, int out, const float* x, const float* w, const float* b, float* y) {
  impl_->flat_in(x, impl_->bytes(int64_t(n) * in));
  impl_->flat_out(y, impl_->bytes(int64_t(n) * out));
  CpuBackend::linear_fwd_impl(n, in, out, x, w, b, y);
}
void DnnlBackend::linear_bwd_impl(int n, int in, int out, const float* x, const float* w, const float* dy, float* dx,
                             float* dw, float* db) {
  impl_->flat_in(x, impl_->bytes(int64_t(n) * in));
  impl_->flat_in(dy, impl_->bytes(int64_t(n) * out));
  if (dx) impl_->flat_out(dx, impl_->bytes(int64_t(n) * in));
  CpuBackend::linear_bwd_impl(n, in, out, x, w, dy, dx, dw, db);
}

// BatchNorm runs on the blocked format a convolution left (its own kernels, one SIMD lane per
// channel), a fused ReLU in the same sweeps: bit for bit the unfused BatchNorm then relu_fwd /
// relu_bwd, with one pass over memory fewer each way.
void DnnlBackend::batchnorm2d_fwd_train_impl(const BatchNormFwdTrainArgs& a) {
  const int n = a.shape.n, c = a.shape.c, hw = a.shape.hw;
  std::optional<memory::desc> f;
  if (const int block = impl_->batchnorm_block({a.x}, a.y, impl_->bytes(a.shape.numel()), &f)) {
    fast::batchnorm2d_fwd_train_blocked({n, c, hw, block}, a.x, a.gamma, a.beta, a.running_mean, a.running_var,
                                        a.momentum, a.eps, a.y, a.save_mean, a.save_invstd, a.relu, impl_->bn_work);
    impl_->layouts->set(a.y, *f);
  } else {
    fast::batchnorm2d_fwd_train(n, c, hw, a.x, a.gamma, a.beta, a.running_mean, a.running_var, a.momentum, a.eps, a.y,
                                a.save_mean, a.save_invstd, a.relu);
  }
}
void DnnlBackend::batchnorm2d_fwd_eval_impl(const BatchNormFwdEvalArgs& a) {
  const int n = a.shape.n, c = a.shape.c, hw = a.shape.hw;
  std::optional<memory::desc> f;
  if (const int block = impl_->batchnorm_block({a.x}, a.y, impl_->bytes(a.shape.numel()), &f)) {
    fast::batchnorm2d_fwd_eval_blocked({n, c, hw, block}, a.x, a.gamma, a.beta, a.mean, a.var, a.eps, a.y, a.relu);
    impl_->layouts->set(a.y, *f);
  } else {
    fast::batchnorm2d_fwd_eval(n, c, hw, a.x, a.gamma, a.beta, a.mean, a.var, a.eps, a.y, a.relu);
  }
}
void DnnlBackend::batchnorm2d_bwd_impl(const BatchNormBwdArgs& a) {
  const int n = a.shape.n, c = a.shape.c, hw = a.shape.hw;
  const size_t b = impl_->bytes(a.shape.numel());
  std::optional<memory::desc> f;
  const int block = a.relu_y ? impl_->batchnorm_block({a.x, a.dy, a.relu_y}, a.dx, b, &f)
                             : impl_->batchnorm_block({a.x, a.dy}, a.dx, b, &f);
  if (block) {
    fast::batchnorm2d_bwd_blocked({n, c, hw, block}, a.x, a.dy, a.gamma, a.save_mean, a.save_invstd, a.dx, a.dgamma,
                                  a.dbeta, a.relu_y, impl_->bn_work);
    impl_->layouts->set(a.dx, *f);
  } else {
    fast::batchnorm2d_bwd(n, c, hw, a.x, a.dy, a.gamma, a.save_mean, a.save_invstd, a.dx, a.dgamma, a.dbeta,
                          a.relu_y);
  }
}
// The synchronised split (several ranks) reads and writes flat.
void DnnlBackend::batchnorm2d_fwd_mean_impl(int n, int c, int hw, const float* x, float* mean) {
  impl_->flat_in(x, impl_->bytes(int64_t(n) * c * hw));
  fast::batchnorm2d_fwd_mean(n, c, hw, x, mean);
}
void DnnlBackend::batchnorm2d_fwd_var_impl(int n, int c, int hw, const float* x, const float* mean, float* var) {
  impl_->flat_in(x, impl_->bytes(int64_t(n) * c * hw));
  fast::batchnorm2d_fwd_var(n, c, hw, x, mean, var);
}
void DnnlBackend::batchnorm2d_bwd_sums_impl(const BatchNormBwdSumsArgs& a) {
  impl_->flat_in(a.x, impl_->bytes(a.shape.numel()));
  impl_->flat_in(a.dy, impl_->bytes(a.shape.numel()));
  fast::batchnorm2d_bwd_sums(a.shape.n, a.shape.c, a.shape.hw, a.x, a.dy, a.save_mean, a.save_invstd, a.sum_dy,
                             a.sum_dy_xhat);
}
void DnnlBackend::batchnorm2d_bwd_dx_impl(const BatchNormBwdDxArgs& a) {
  const size_t b = impl_->bytes(a.shape.numel());
  impl_->flat_in(a.x, b);
  impl_->flat_in(a.dy, b);
  impl_->flat_out(a.dx, b);
  fast::batchnorm2d_bwd_dx(a.shape.n, a.shape.c, a.shape.hw, a.x, a.dy, a.gamma, a.save_mean, a.save_invstd, a.sum_dy,
                           a.sum_dy_xhat, a.dx);
}

// Elementwise ops work in any format, all operands in the same one.
void DnnlBackend::relu_fwd_impl(int64_t n, const float* x, float* y) {
  const auto f = impl_->unify({x}, impl_->bytes(n));
  impl_->layouts->overwrite(y, impl_->bytes(n));
  CpuBackend::relu_fwd_impl(n, x, y);
  impl_->elementwise_out(y, impl_->bytes(n), f);
}
void DnnlBackend::relu_bwd_impl(int64_t n, const float* y, const float* dy, float* dx) {
  const auto f = impl_->unify({y, dy}, impl_->bytes(n));
  impl_->layouts->overwrite(dx, impl_->bytes(n));
  CpuBackend::relu_bwd_impl(n, y, dy, dx);
  impl_->elementwise_out(dx, impl_->bytes(n), f);
}
void DnnlBackend::add_fwd_impl(int64_t n, const float* a, const float* b, float* y) {
  const auto f = impl_->unify({a, b}, impl_->bytes(n));
  impl_->layouts->overwrite(y, impl_->bytes(n));
  CpuBackend::add_fwd_impl(n, a, b, y);
  impl_->elementwise_out(y, impl_->bytes(n), f);
}
void DnnlBackend::accumulate_impl(int64_t n, const float* x, float* y) {
  const auto f = impl_->unify({y, x}, impl_->bytes(n));
  CpuBackend::accumulate_impl(n, x, y);
  (void)f;  // y keeps the format unify gave it
}
// Max pooling runs where its input lies when that is channel-blocked: the output (forward) and the
// input gradient (backward) are written in the same blocked format, dy brought to it.
void DnnlBackend::maxpool2d_fwd_impl(const PoolGeom& g, const float* x, float* y) {
  if (const int block = impl_->pool_block(x, impl_->bytes(g.x_numel()))) {
    impl_->flat_out(y, impl_->bytes(g.y_numel()));
    fast::maxpool2d_fwd_blocked(g, block, x, y);
    impl_->layouts->set(y, Impl::channel_blocked({g.n, g.c, g.p, g.q}, block));
    return;
  }
  impl_->flat_in(x, impl_->bytes(g.x_numel()));
  impl_->flat_out(y, impl_->bytes(g.y_numel()));
  CpuBackend::maxpool2d_fwd_impl(g, x, y);
}
void DnnlBackend::maxpool2d_bwd_impl(const PoolGeom& g, const float* x, const float* dy, float* dx) {
  if (const int block = impl_->pool_block(x, impl_->bytes(g.x_numel()))) {
    impl_->layouts->convert(dy, Impl::channel_blocked({g.n, g.c, g.p, g.q}, block));
    impl_->flat_out(dx, impl_->bytes(g.x_numel()));
    fast::maxpool2d_bwd_blocked(g, block, x, dy, dx);
    impl_->layouts->set(dx, Impl::channel_blocked({g.n, g.c, g.h, g.w}, block));
    return;
  }
  impl_->flat_in(x, impl_->bytes(g.x_numel()));
  impl_->flat_in(dy, impl_->bytes(g.y_numel()));
  impl_->flat_out(dx, impl_->bytes(g.x_numel()));
  CpuBackend::maxpool2d_bwd_impl(g, x, dy, dx);
}
// The rest read and write flat.
void DnnlBackend::avgpool2d_fwd_impl(const PoolGeom& g, const float* x, float* y) {
  impl_->flat_in(x, impl_->bytes(g.x_numel()));
  impl_->flat_out(y, impl_->bytes(g.y_numel()));
  CpuBackend::avgpool2d_fwd_impl(g, x, y);
}
void DnnlBackend::avgpool2d_bwd_impl(const PoolGeom& g, const float* dy, float* dx) {
  impl_->flat_in(dy, impl_->bytes(g.y_numel()));
  impl_->flat_out(dx, impl_->bytes(g.x_numel()));
  CpuBackend::avgpool2d_bwd_impl(g, dy, dx);
}
void DnnlBackend::adaptive_avgpool2d_fwd_impl(int n, int c, int h, int w, int oh, int ow, const float* x, float* y) {
  impl_->flat_in(x, impl_->bytes(int64_t(n) * c * h * w));
  impl_->flat_out(y, impl_->bytes(int64_t(n) * c * oh * ow));
  CpuBackend::adaptive_avgpool2d_fwd_impl(n, c, h, w, oh, ow, x, y);
}
void DnnlBackend::adaptive_avgpool2d_bwd_impl(int n, int c, int h, int w, int oh, int ow, const float* dy, float* dx) {
  impl_->flat_in(dy, impl_->bytes(int64_t(n) * c * oh * ow));
  impl_->flat_out(dx, impl_->bytes(int64_t(n) * c * h * w));
  CpuBackend::adaptive_avgpool2d_bwd_impl(n, c, h, w, oh, ow, dy, dx);
}
// A channel slice of y is written: y's other channels keep their values, so y is made flat first.
void DnnlBackend::concat_fwd_impl(int n, int hw, int c_part, int c_total, int c_offset, const float* part, float* y) {
  impl_->flat_in(part, impl_->bytes(int64_t(n) * hw * c_part));
  impl_->flat_in(y, impl_->bytes(int64_t(n) * hw * c_total));
  CpuBackend::concat_fwd_impl(n, hw, c_part, c_total, c_offset, part, y);
}
void DnnlBackend::concat_bwd_impl(int n, int hw, int c_part, int c_total, int c_offset, const float* dy, float* dpart) {
  impl_->flat_in(dy, impl_->bytes(int64_t(n) * hw * c_total));
  impl_->flat_out(dpart, impl_->bytes(int64_t(n) * hw * c_part));
  CpuBackend::concat_bwd_impl(n, hw, c_part, c_total, c_offset, dy, dpart);
}
void DnnlBackend::dropout_fwd_impl(int64_t n, float p, uint64_t seed, const float* x, float* y, uint8_t* keep) {
  impl_->flat_in(x, impl_->bytes(n));  // the mask and its seeded draw follow the flat order
  impl_->flat_out(y, impl_->bytes(n));
  CpuBackend::dropout_fwd_impl(n, p, seed, x, y, keep);
}
void DnnlBackend::dropout_bwd_impl(int64_t n, float p, const uint8_t* keep, const float* dy, float* dx) {
  impl_->flat_in(dy, impl_->bytes(n));
  impl_->flat_out(dx, impl_->bytes(n));
  CpuBackend::dropout_bwd_impl(n, p, keep, dy, dx);
}
void DnnlBackend::softmax_xent_fwd_impl(int n, int classes, const float* logits, const int32_t* labels, float smoothing,
                                   float* probs, float* loss) {
  impl_->flat_in(logits, impl_->bytes(int64_t(n) * classes));
  impl_->flat_out(probs, impl_->bytes(int64_t(n) * classes));
  impl_->flat_out(loss, impl_->bytes(n));
  CpuBackend::softmax_xent_fwd_impl(n, classes, logits, labels, smoothing, probs, loss);
}
void DnnlBackend::softmax_xent_bwd_impl(int n, int classes, const float* probs, const int32_t* labels, float smoothing,
                                   float* dlogits) {
  impl_->flat_in(probs, impl_->bytes(int64_t(n) * classes));
  impl_->flat_out(dlogits, impl_->bytes(int64_t(n) * classes));
  CpuBackend::softmax_xent_bwd_impl(n, classes, probs, labels, smoothing, dlogits);
}

void DnnlBackend::loss_stats_impl(int n, int classes, const float* logits, const float* loss, const int32_t* labels,
                                  double* stats) {
  impl_->flat_in(logits, impl_->bytes(int64_t(n) * classes));
  impl_->flat_in(loss, impl_->bytes(n));
  CpuBackend::loss_stats_impl(n, classes, logits, loss, labels, stats);
}

}  // namespace inq
