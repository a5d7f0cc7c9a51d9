#include "core/cpu_backend.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/ref/batchnorm2d_ref.h"
#include "core/ref/conv2d_ref.h"
#include "core/ref/dropout_ref.h"
#include "core/ref/elementwise_ref.h"
#include "core/ref/inq_ref.h"
#include "core/ref/linear_ref.h"
#include "core/ref/loss_stats_ref.h"
#include "core/ref/pool2d_ref.h"
#include "core/ref/relu_ref.h"
#include "core/ref/sgd_ref.h"
#include "core/ref/softmax_xent_ref.h"

extern "C" void openblas_set_num_threads(int);

namespace inq {

struct CpuBackend::Usage {
  std::atomic<size_t> live{0};
  std::atomic<size_t> peak{0};
};

CpuBackend::CpuBackend(int threads) : usage_(std::make_shared<Usage>()) {
  threads_ = threads > 0 ? threads : omp_get_num_procs();
  omp_set_num_threads(threads_);
  openblas_set_num_threads(1);  // parallelism comes from OpenMP over images and channels
}

// Names its precision, as the CUDA backend's does: the CPU has only one.
std::string CpuBackend::description() const { return "cpu (" + std::to_string(threads_) + " threads), strict fp32"; }

size_t CpuBackend::peak_bytes() const { return usage_->peak.load(); }
void CpuBackend::reset_peak_bytes() { usage_->peak.store(usage_->live.load()); }

std::shared_ptr<Storage> CpuBackend::allocate(size_t bytes) {
  const size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  const size_t live = usage_->live += rounded;
  size_t peak = usage_->peak.load();
  while (live > peak && !usage_->peak.compare_exchange_weak(peak, live)) {
  }
  auto usage = usage_;
  return std::make_shared<Storage>(Device::CPU, p, bytes, [usage, rounded](void* q) {
    usage->live -= rounded;
    std::free(q);
  });
}

void CpuBackend::copy_from_host_impl(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
void CpuBackend::copy_to_host_impl(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
void CpuBackend::copy_impl(void* dst, const void* src, size_t bytes) { std::memmove(dst, src, bytes); }
void CpuBackend::fill_impl(float* p, int64_t n, float value) { std::fill(p, p + n, value); }

void CpuBackend::conv2d_fwd_impl(const ConvGeom& g, const float* x, const float* w, const float* b, float* y) {
  ref::conv2d_fwd_ref(g, x, w, b, y);
}
void CpuBackend::conv2d_bwd_data_impl(const ConvGeom& g, const float* w, const float* dy, float* dx) {
  ref::conv2d_bwd_data_ref(g, w, dy, dx);
}
void CpuBackend::conv2d_bwd_filter_impl(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db) {
  ref::conv2d_bwd_filter_ref(g, x, dy, dw, db);
}
void CpuBackend::linear_fwd_impl(int n, int in, int out, const float* x, const float* w, const float* b, float* y) {
  ref::linear_fwd_ref(n, in, out, x, w, b, y);
}
void CpuBackend::linear_bwd_impl(int n, int in, int out, const float* x, const float* w, const float* dy, float* dx,
                                 float* dw, float* db) {
  ref::linear_bwd_ref(n, in, out, x, w, dy, dx, dw, db);
}
void CpuBackend::batchnorm2d_fwd_train_impl(const BatchNormFwdTrainArgs& a) {
  ref::batchnorm2d_fwd_train_ref(a.shape.n, a.shape.c, a.shape.hw, a.x, a.gamma, a.beta, a.running_mean, a.running_var,
                                 a.momentum, a.eps, a.y, a.save_mean, a.save_invstd, a.relu);
}
void CpuBackend::batchnorm2d_fwd_eval_impl(const BatchNormFwdEvalArgs& a) {
  ref::batchnorm2d_fwd_eval_ref(a.shape.n, a.shape.c, a.shape.hw, a.x, a.gamma, a.beta, a.mean, a.var, a.eps, a.y,
                                a.relu);
}
void CpuBackend::batchnorm2d_bwd_impl(const BatchNormBwdArgs& a) {
  ref::batchnorm2d_bwd_ref(a.shape.n, a.shape.c, a.shape.hw, a.x, a.dy, a.gamma, a.save_mean, a.save_invstd, a.dx,
                           a.dgamma, a.dbeta, a.relu_y);
}
void CpuBackend::batchnorm2d_fwd_mean_impl(int n, int c, int hw, const float* x, float* mean) {
  ref::batchnorm2d_fwd_mean_ref(n, c, hw, x, mean);
}
void CpuBackend::batchnorm2d_fwd_var_impl(int n, int c, int hw, const float* x, const float* mean, float* var) {
  ref::batchnorm2d_fwd_var_ref(n, c, hw, x, mean, var);
}
void CpuBackend::batchnorm2d_fwd_finish_impl(const BatchNormFwdFinishArgs& a) {
  ref::batchnorm2d_fwd_finish_ref(a.c, a.count, a.mean, a.var, a.momentum, a.eps, a.running_mean, a.running_var,
                                  a.save_invstd);
}
void CpuBackend::batchnorm2d_bwd_sums_impl(const BatchNormBwdSumsArgs& a) {
  ref::batchnorm2d_bwd_sums_ref(a.shape.n, a.shape.c, a.shape.hw, a.x, a.dy, a.save_mean, a.save_invstd, a.sum_dy,
                                a.sum_dy_xhat);
}
void CpuBackend::batchnorm2d_bwd_dx_impl(const BatchNormBwdDxArgs& a) {
  ref::batchnorm2d_bwd_dx_ref(a.shape.n, a.shape.c, a.shape.hw, a.x, a.dy, a.gamma, a.save_mean, a.save_invstd,
                              a.sum_dy, a.sum_dy_xhat, a.dx);
}
void CpuBackend::relu_fwd_impl(int64_t n, const float* x, float* y) { ref::relu_fwd_ref(n, x, y); }
void CpuBackend::relu_bwd_impl(int64_t n, const float* y, const float* dy, float* dx) {
  ref::relu_bwd_ref(n, y, dy, dx);
}
void CpuBackend::maxpool2d_fwd_impl(const PoolGeom& g, const float* x, float* y) {
  ref::maxpool2d_fwd_ref(g, x, y);
}
void CpuBackend::maxpool2d_bwd_impl(const PoolGeom& g, const float* x, const float* dy, float* dx) {
  ref::maxpool2d_bwd_ref(g, x, dy, dx);
}
void CpuBackend::avgpool2d_fwd_impl(const PoolGeom& g, const float* x, float* y) { ref::avgpool2d_fwd_ref(g, x, y); }
void CpuBackend::avgpool2d_bwd_impl(const PoolGeom& g, const float* dy, float* dx) {
  ref::avgpool2d_bwd_ref(g, dy, dx);
}
void CpuBackend::adaptive_avgpool2d_fwd_impl(int n, int c, int h, int w, int oh, int ow, const float* x, float* y) {
  ref::adaptive_avgpool2d_fwd_ref(n, c, h, w, oh, ow, x, y);
}
void CpuBackend::adaptive_avgpool2d_bwd_impl(int n, int c, int h, int w, int oh, int ow, const float* dy, float* dx) {
  ref::adaptive_avgpool2d_bwd_ref(n, c, h, w, oh, ow, dy, dx);
}
void CpuBackend::add_fwd_impl(int64_t n, const float* a, const float* b, float* y) { ref::add_fwd_ref(n, a, b, y); }
void CpuBackend::accumulate_impl(int64_t n, const float* x, float* y) { ref::accumulate_ref(n, x, y); }
void CpuBackend::quotient_accumulate_f64_impl(int64_t n, const float* x, double divisor, double* sum) {
  ref::quotient_accumulate_f64_ref(n, x, divisor, sum);
}
void CpuBackend::quotient_store_f64_impl(int64_t n, const double* sum, double divisor, float* y) {
  ref::quotient_store_f64_ref(n, sum, divisor, y);
}
void CpuBackend::concat_fwd_impl(int n, int hw, int c_part, int c_total, int c_offset, const float* part, float* y) {
  ref::concat_fwd_ref(n, hw, c_part, c_total, c_offset, part, y);
}
void CpuBackend::concat_bwd_impl(int n, int hw, int c_part, int c_total, int c_offset, const float* dy, float* dpart) {
  ref::concat_bwd_ref(n, hw, c_part, c_total, c_offset, dy, dpart);
}
void CpuBackend::dropout_fwd_impl(int64_t n, float p, uint64_t seed, const float* x, float* y, uint8_t* keep) {
  ref::dropout_fwd_ref(n, p, seed, x, y, keep);
}
void CpuBackend::dropout_bwd_impl(int64_t n, float p, const uint8_t* keep, const float* dy, float* dx) {
  ref::dropout_bwd_ref(n, p, keep, dy, dx);
}
void CpuBackend::softmax_xent_fwd_impl(int n, int classes, const float* logits, const int32_t* labels, float smoothing,
                                       float* probs, float* loss) {
  ref::softmax_xent_fwd_ref(n, classes, logits, labels, smoothing, probs, loss);
}
void CpuBackend::softmax_xent_bwd_impl(int n, int classes, const float* probs, const int32_t* labels, float smoothing,
                                       float* dlogits) {
  ref::softmax_xent_bwd_ref(n, classes, probs, labels, smoothing, dlogits);
}
void CpuBackend::loss_stats_impl(int n, int classes, const float* logits, const float* loss, const int32_t* labels,
                                 double* stats) {
  ref::loss_stats_ref(n, classes, logits, loss, labels, stats);
}
void CpuBackend::sgd_step_impl(int64_t n, float* w, const float* g, float* m, const uint8_t* frozen, float lr,
                               float momentum, float weight_decay, bool nesterov) {
  ref::sgd_step_ref(n, w, g, m, frozen, lr, momentum, weight_decay, nesterov);
}

void CpuBackend::inq_select_impl(int64_t n, const float* w, const uint8_t* frozen, int64_t count, InqPartition strategy,
                                 uint64_t seed, uint8_t* select) {
  ref::inq_select_ref(n, w, frozen, count, strategy, seed, select);
}
void CpuBackend::inq_project_freeze_impl(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* select, int n1,
                                         int n2, bool zero_free) {
  ref::inq_project_freeze_ref(n, w, m, frozen, select, n1, n2, zero_free);
}

}  // namespace inq
