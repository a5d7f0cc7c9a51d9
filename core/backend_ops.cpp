// The public ops of Backend: every argument check that does not need the data lives here, once, for
// all backends; then the backend's <op>_impl runs. Checks throw std::invalid_argument naming the op.
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/backend.h"

namespace inq {
namespace {

void require(bool ok, const char* op, const std::string& what) {
  if (!ok) throw std::invalid_argument(std::string(op) + ": " + what);
}

void require_count(const char* op, int64_t n) { require(n >= 0, op, "negative size " + std::to_string(n)); }

void require_pointers(const char* op, size_t bytes, const void* a, const void* b) {
  require(bytes == 0 || (a && b), op, std::to_string(bytes) + " bytes with a null pointer");
}

// The geometry must be one make_conv_geom builds: its output size follows from the rest. A batch
// of zero images is allowed (the other dimensions are still checked).
void check_conv(const char* op, const ConvGeom& g) {
  require_count(op, g.n);
  const ConvGeom expect = make_conv_geom(g.n > 0 ? g.n : 1, g.c, g.h, g.w, g.k, g.r, g.s, g.stride_h, g.stride_w,
                                         g.pad_h, g.pad_w, g.dil_h, g.dil_w, g.groups);
  require(g.p == expect.p && g.q == expect.q, op,
          "output " + std::to_string(g.p) + "x" + std::to_string(g.q) + " does not follow from the geometry (" +
              std::to_string(expect.p) + "x" + std::to_string(expect.q) + ")");
}

void check_pool(const char* op, const PoolGeom& g) {
  require_count(op, g.n);
  const PoolGeom expect = make_pool_geom(g.n > 0 ? g.n : 1, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw,
                                         g.ceil_mode, g.count_include_pad);
  require(g.p == expect.p && g.q == expect.q, op,
          "output " + std::to_string(g.p) + "x" + std::to_string(g.q) + " does not follow from the geometry (" +
              std::to_string(expect.p) + "x" + std::to_string(expect.q) + ")");
}

void check_linear(const char* op, int n, int in, int out) {
  require(n >= 0 && in > 0 && out > 0, op,
          "bad shape n " + std::to_string(n) + ", in " + std::to_string(in) + ", out " + std::to_string(out));
}

void check_bn_shape(const BatchNormShape& s) {
  const int n = s.n, c = s.c, hw = s.hw;
  require(n >= 0 && c >= 0 && hw >= 0, "batchnorm2d",
          "bad shape n " + std::to_string(n) + ", c " + std::to_string(c) + ", hw " + std::to_string(hw));
}

// Training updates the running variance with the unbiased estimate, undefined for one value
// (PyTorch refuses it too); the split statistics alone need one value per channel.
void check_bn_training_count(int64_t count) {
  require(count >= 2, "batchnorm2d", "training needs more than 1 value per channel, got " + std::to_string(count));
}
void check_bn_statistics_count(int64_t count) {
  require(count >= 1, "batchnorm2d",
          "the batch statistics need at least 1 value per channel, got " + std::to_string(count));
}

void check_concat(const char* op, int n, int hw, int c_part, int c_total, int c_offset) {
  require(n >= 0 && hw >= 0 && c_part >= 0 && c_offset >= 0 && c_offset + c_part <= c_total, op,
          "channels [" + std::to_string(c_offset) + ", " + std::to_string(c_offset + c_part) + ") do not fit in " +
              std::to_string(c_total) + " (n " + std::to_string(n) + ", hw " + std::to_string(hw) + ")");
}

// The negated test also rejects NaN.
void check_dropout(const char* op, int64_t n, float p) {
  require_count(op, n);
  require(p >= 0.0f && p < 1.0f, "dropout", "p must be in [0, 1), got " + std::to_string(p));
}

// Labels are on the device: their range is checked by the kernels that can read them.
void check_softmax_xent(int n, int classes, float smoothing) {
  require(n >= 0 && classes >= 1, "softmax_xent",
          "bad shape n " + std::to_string(n) + ", classes " + std::to_string(classes));
  require(smoothing >= 0.0f && smoothing <= 1.0f, "softmax_xent",
          "label smoothing must be in [0, 1], got " + std::to_string(smoothing));
}

}  // namespace

// --- memory ---

void Backend::copy_from_host(void* dst, const void* host_src, size_t bytes) {
  require_pointers("copy_from_host", bytes, dst, host_src);
  if (bytes > 0) copy_from_host_impl(dst, host_src, bytes);
}
void Backend::copy_to_host(void* host_dst, const void* src, size_t bytes) {
  require_pointers("copy_to_host", bytes, host_dst, src);
  if (bytes == 0) return;
  ++blocking_copies_;
  copy_to_host_impl(host_dst, src, bytes);
}
uint64_t Backend::copy_to_host_async(void* host_dst, const void* src, size_t bytes) {
  require_pointers("copy_to_host_async", bytes, host_dst, src);
  return bytes > 0 ? copy_to_host_async_impl(host_dst, src, bytes) : 0;
}
void Backend::copy(void* dst, const void* src, size_t bytes) {
  require_pointers("copy", bytes, dst, src);
  if (bytes > 0) copy_impl(dst, src, bytes);
}
void Backend::fill(float* p, int64_t n, float value) {
  require_count("fill", n);
  require_pointers("fill", size_t(n), p, p);
  if (n > 0) fill_impl(p, n, value);
}

// --- convolution and linear ---

void Backend::conv2d_fwd(const ConvGeom& g, const float* x, const float* w, const float* b, float* y) {
  check_conv("conv2d_fwd", g);
  conv2d_fwd_impl(g, x, w, b, y);
}
void Backend::conv2d_bwd_data(const ConvGeom& g, const float* w, const float* dy, float* dx) {
  check_conv("conv2d_bwd_data", g);
  conv2d_bwd_data_impl(g, w, dy, dx);
}
void Backend::conv2d_bwd_filter(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db) {
  check_conv("conv2d_bwd_filter", g);
  conv2d_bwd_filter_impl(g, x, dy, dw, db);
}
void Backend::linear_fwd(int n, int in, int out, const float* x, const float* w, const float* b, float* y) {
  check_linear("linear_fwd", n, in, out);
  linear_fwd_impl(n, in, out, x, w, b, y);
}
void Backend::linear_bwd(int n, int in, int out, const float* x, const float* w, const float* dy, float* dx, float* dw,
                         float* db) {
  check_linear("linear_bwd", n, in, out);
  linear_bwd_impl(n, in, out, x, w, dy, dx, dw, db);
}

// --- BatchNorm ---

void Backend::batchnorm2d_fwd_train(const BatchNormFwdTrainArgs& a) {
  check_bn_shape(a.shape);
  check_bn_training_count(int64_t(a.shape.n) * a.shape.hw);
  batchnorm2d_fwd_train_impl(a);
}
void Backend::batchnorm2d_fwd_eval(const BatchNormFwdEvalArgs& a) {
  check_bn_shape(a.shape);
  batchnorm2d_fwd_eval_impl(a);
}
void Backend::batchnorm2d_bwd(const BatchNormBwdArgs& a) {
  check_bn_shape(a.shape);
  batchnorm2d_bwd_impl(a);
}
void Backend::batchnorm2d_fwd_mean(int n, int c, int hw, const float* x, float* mean) {
  check_bn_shape({n, c, hw});
  check_bn_statistics_count(int64_t(n) * hw);
  batchnorm2d_fwd_mean_impl(n, c, hw, x, mean);
}
void Backend::batchnorm2d_fwd_var(int n, int c, int hw, const float* x, const float* mean, float* var) {
  check_bn_shape({n, c, hw});
  check_bn_statistics_count(int64_t(n) * hw);
  batchnorm2d_fwd_var_impl(n, c, hw, x, mean, var);
}
void Backend::batchnorm2d_fwd_finish(const BatchNormFwdFinishArgs& a) {
  check_bn_shape({0, a.c, 0});
  check_bn_training_count(a.count);
  batchnorm2d_fwd_finish_impl(a);
}
void Backend::batchnorm2d_bwd_sums(const BatchNormBwdSumsArgs& a) {
  check_bn_shape(a.shape);
  batchnorm2d_bwd_sums_impl(a);
}
void Backend::batchnorm2d_bwd_dx(const BatchNormBwdDxArgs& a) {
  check_bn_shape(a.shape);
  batchnorm2d_bwd_dx_impl(a);
}

// --- activations, pooling, element-wise ---

void Backend::relu_fwd(int64_t n, const float* x, float* y) {
  require_count("relu_fwd", n);
  relu_fwd_impl(n, x, y);
}
void Backend::relu_bwd(int64_t n, const float* y, const float* dy, float* dx) {
  require_count("relu_bwd", n);
  relu_bwd_impl(n, y, dy, dx);
}
void Backend::maxpool2d_fwd(const PoolGeom& g, const float* x, float* y) {
  check_pool("maxpool2d_fwd", g);
  maxpool2d_fwd_impl(g, x, y);
}
void Backend::maxpool2d_bwd(const PoolGeom& g, const float* x, const float* dy, float* dx) {
  check_pool("maxpool2d_bwd", g);
  maxpool2d_bwd_impl(g, x, dy, dx);
}
void Backend::avgpool2d_fwd(const PoolGeom& g, const float* x, float* y) {
  check_pool("avgpool2d_fwd", g);
  avgpool2d_fwd_impl(g, x, y);
}
void Backend::avgpool2d_bwd(const PoolGeom& g, const float* dy, float* dx) {
  check_pool("avgpool2d_bwd", g);
  avgpool2d_bwd_impl(g, dy, dx);
}

namespace {
void check_adaptive(const char* op, int n, int c, int h, int w, int oh, int ow) {
  require(n >= 0 && c >= 0 && h > 0 && w > 0 && oh > 0 && ow > 0, op,
          "bad shape n " + std::to_string(n) + ", c " + std::to_string(c) + ", " + std::to_string(h) + "x" +
              std::to_string(w) + " -> " + std::to_string(oh) + "x" + std::to_string(ow));
}
}  // namespace

void Backend::adaptive_avgpool2d_fwd(int n, int c, int h, int w, int oh, int ow, const float* x, float* y) {
  check_adaptive("adaptive_avgpool2d_fwd", n, c, h, w, oh, ow);
  adaptive_avgpool2d_fwd_impl(n, c, h, w, oh, ow, x, y);
}
void Backend::adaptive_avgpool2d_bwd(int n, int c, int h, int w, int oh, int ow, const float* dy, float* dx) {
  check_adaptive("adaptive_avgpool2d_bwd", n, c, h, w, oh, ow);
  adaptive_avgpool2d_bwd_impl(n, c, h, w, oh, ow, dy, dx);
}
void Backend::add_fwd(int64_t n, const float* a, const float* b, float* y) {
  require_count("add_fwd", n);
  add_fwd_impl(n, a, b, y);
}
void Backend::accumulate(int64_t n, const float* x, float* y) {
  require_count("accumulate", n);
  accumulate_impl(n, x, y);
}
void Backend::quotient_accumulate_f64(int64_t n, const float* x, double divisor, double* sum) {
  require_count("quotient_accumulate_f64", n);
  require(divisor > 0, "quotient_accumulate_f64", "divisor must be > 0");
  quotient_accumulate_f64_impl(n, x, divisor, sum);
}
void Backend::quotient_store_f64(int64_t n, const double* sum, double divisor, float* y) {
  require_count("quotient_store_f64", n);
  require(divisor > 0, "quotient_store_f64", "divisor must be > 0");
  quotient_store_f64_impl(n, sum, divisor, y);
}
void Backend::concat_fwd(int n, int hw, int c_part, int c_total, int c_offset, const float* part, float* y) {
  check_concat("concat_fwd", n, hw, c_part, c_total, c_offset);
  concat_fwd_impl(n, hw, c_part, c_total, c_offset, part, y);
}
void Backend::concat_bwd(int n, int hw, int c_part, int c_total, int c_offset, const float* dy, float* dpart) {
  check_concat("concat_bwd", n, hw, c_part, c_total, c_offset);
  concat_bwd_impl(n, hw, c_part, c_total, c_offset, dy, dpart);
}
void Backend::dropout_fwd(int64_t n, float p, uint64_t seed, const float* x, float* y, uint8_t* keep) {
  check_dropout("dropout_fwd", n, p);
  dropout_fwd_impl(n, p, seed, x, y, keep);
}
void Backend::dropout_bwd(int64_t n, float p, const uint8_t* keep, const float* dy, float* dx) {
  check_dropout("dropout_bwd", n, p);
  dropout_bwd_impl(n, p, keep, dy, dx);
}

// --- loss, optimiser, INQ ---

void Backend::softmax_xent_fwd(int n, int classes, const float* logits, const int32_t* labels, float smoothing,
                               float* probs, float* loss) {
  check_softmax_xent(n, classes, smoothing);
  softmax_xent_fwd_impl(n, classes, logits, labels, smoothing, probs, loss);
}
void Backend::softmax_xent_bwd(int n, int classes, const float* probs, const int32_t* labels, float smoothing,
                               float* dlogits) {
  check_softmax_xent(n, classes, smoothing);
  softmax_xent_bwd_impl(n, classes, probs, labels, smoothing, dlogits);
}
void Backend::loss_stats(int n, int classes, const float* logits, const float* loss, const int32_t* labels,
                         double* stats) {
  require(n >= 0 && classes >= 1, "loss_stats",
          "bad shape n " + std::to_string(n) + ", classes " + std::to_string(classes));
  require(stats != nullptr, "loss_stats", "no statistics buffer");
  loss_stats_impl(n, classes, logits, loss, labels, stats);
}
void Backend::sgd_step(int64_t n, float* w, const float* g, float* m, const uint8_t* frozen, float lr, float momentum,
                       float weight_decay, bool nesterov) {
  require_count("sgd_step", n);
  require(momentum == 0.0f || m != nullptr, "sgd_step",
          "momentum " + std::to_string(momentum) + " needs a momentum buffer");
  sgd_step_impl(n, w, g, m, frozen, lr, momentum, weight_decay, nesterov);
}
// Whether `count` does not exceed the free weights needs the mask: the kernels check that.
void Backend::inq_select(int64_t n, const float* w, const uint8_t* frozen, int64_t count, InqPartition strategy,
                         uint64_t seed, uint8_t* select) {
  require_count("inq_select", n);
  require(n < int64_t(UINT32_MAX), "inq_select", "tensor too large for 32-bit indices");
  require(count >= 0 && count <= n, "inq_select",
          "asked to freeze " + std::to_string(count) + " of " + std::to_string(n) + " weights");
  inq_select_impl(n, w, frozen, count, strategy, seed, select);
}
void Backend::inq_project_freeze(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* select, int n1,
                                 int n2, bool zero_free) {
  require_count("inq_project_freeze", n);
  require(n2 <= n1, "inq_project_freeze",
          "smallest exponent n2 " + std::to_string(n2) + " above the largest n1 " + std::to_string(n1));
  inq_project_freeze_impl(n, w, m, frozen, select, n1, n2, zero_free);
}

}  // namespace inq
