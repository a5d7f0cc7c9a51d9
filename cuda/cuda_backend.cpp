#include "cuda/cuda_backend.h"

#include <cstdio>
#include <new>
#include <stdexcept>
#include <string>

#include "cuda/batchnorm2d.h"
#include "cuda/bias.h"
#include "cuda/check.h"
#include "cuda/cublas_linear.h"
#include "cuda/cudnn_conv.h"
#include "cuda/device_memory.h"
#include "cuda/dropout.h"
#include "cuda/elementwise.h"
#include "cuda/host_readback.h"
#include "cuda/inq_partition.h"
#include "cuda/kernel_image.h"
#include "cuda/loss_stats.h"
#include "cuda/pool2d.h"
#include "cuda/relu.h"
#include "cuda/sgd.h"
#include "cuda/softmax_xent.h"
#include "cuda/upload_stream.h"
#include "cuda/versions.h"

namespace inq::cuda {
namespace {

std::string error_text(cudaError_t err) {
  return std::string(cudaGetErrorName(err)) + " (" + cudaGetErrorString(err) + ")";
}

}  // namespace

bool device_available(std::string* why_not) {
  auto fail = [why_not](const std::string& why) {
    if (why_not) *why_not = why;
    return false;
  };
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return fail("cudaGetDeviceCount failed: " + error_text(err));
  }
  if (count == 0) return fail("no CUDA device is visible");
  // Judged from the compute capabilities, which need no context: a kernel-image probe here would
  // open one on device 0 in every rank of a multi-GPU job. The backend probes its own device for
  // real once it is current.
  std::string seen;
  for (int d = 0; d < count; ++d) {
    int major = 0, minor = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, d) != cudaSuccess) {
      (void)cudaGetLastError();
      continue;
    }
    if (architectures_cover(major, minor)) return true;
    seen += (seen.empty() ? "sm_" : ", sm_") + std::to_string(major * 10 + minor);
  }
  return fail("this build has kernels for " + compiled_architectures() + " only, the visible devices are " +
              (seen.empty() ? std::string("unreadable") : seen) +
              "; rebuild with -DCMAKE_CUDA_ARCHITECTURES set to the device's");
}

std::unique_ptr<Backend> make_cuda_backend(int device, CudaOptions options) {
  return std::make_unique<CudaBackend>(device, options);
}

CudaBackend::CudaBackend(int device, CudaOptions options) : device_(device), options_(options) {
  int count = 0;
  CUDA_CHECK(cudaGetDeviceCount(&count));
  if (device < 0 || device >= count)
    throw std::invalid_argument("cuda device " + std::to_string(device) + " does not exist (" +
                                std::to_string(count) + " visible)");
  check_library_versions();
  if (debug_log()) std::fprintf(stderr, "inq: debug: %s\n", versions_line(library_versions()).c_str());
  // The device first: every later call, the probe included, then opens a context on it and on no
  // other device.
  CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  device_name_ = std::string(prop.name) + ", sm_" + std::to_string(prop.major * 10 + prop.minor);
  // A build for other architectures would fail at the first kernel launch; say so up front.
  const cudaError_t probe = probe_kernel_image();
  if (probe != cudaSuccess) {
    (void)cudaGetLastError();
    throw std::runtime_error("this build has no kernels for cuda:" + std::to_string(device) + " (" + device_name_ +
                             "; compiled for " + compiled_architectures() + "): " + error_text(probe) +
                             "; rebuild with -DCMAKE_CUDA_ARCHITECTURES=" +
                             std::to_string(prop.major * 10 + prop.minor));
  }
  // Non-blocking: never serialised against the legacy default stream other libraries may use.
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  try {
    allocator_ = std::make_unique<DeviceAllocator>(device, stream_);
    workspace_ = std::make_unique<Workspace>(*allocator_);
    conv_ = std::make_unique<CudnnConv>(stream_, ConvOptions{options.allow_tf32, options.deterministic});
    linear_ = std::make_unique<CublasLinear>(stream_, *allocator_, options.allow_tf32);
  } catch (...) {
    release();
    throw;
  }
}

CudaBackend::~CudaBackend() { release(); }

void CudaBackend::release() noexcept {
  DeviceGuard guard(device_);
  if (stream_) CUDA_LOG(cudaStreamSynchronize(stream_));
  upload_.reset();
  readback_.reset();
  linear_.reset();
  conv_.reset();
  workspace_.reset();
  allocator_.reset();  // storages still alive elsewhere are freed synchronously from now on
  if (stream_) CUDA_LOG(cudaStreamDestroy(stream_));
  stream_ = nullptr;
}

std::string CudaBackend::description() const {
  return "cuda:" + std::to_string(device_) + " " + device_name_ + " (" + CudnnConv::version_string() + ", " +
         (options_.allow_tf32 ? "tf32" : "strict fp32") +
         (options_.deterministic ? ", deterministic" : ", nondeterministic") + ")";
}

size_t CudaBackend::conv_plan_count() const { return conv_->plan_count(); }
size_t CudaBackend::conv_workspace_bytes() const { return workspace_->bytes(); }

// --- memory ---

std::shared_ptr<Storage> CudaBackend::allocate(size_t bytes) { return allocator_->allocate(bytes); }

// Loader threads call these too: the guard keeps a rank on another GPU from creating a context on
// device 0, and portable memory is pinned for every context.
void* CudaBackend::allocate_host(size_t bytes) {
  DeviceGuard guard(device_);
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes, cudaHostAllocPortable) != cudaSuccess) {
    (void)cudaGetLastError();
    throw std::bad_alloc();
  }
  return p;
}

void CudaBackend::free_host(void* p) noexcept {
  if (!p) return;
  DeviceGuard guard(device_);
  CUDA_LOG(cudaFreeHost(p));
}

UploadStream& CudaBackend::uploads() {
  if (!upload_) upload_ = std::make_unique<UploadStream>(stream_);
  return *upload_;
}

uint64_t CudaBackend::stream_position() {
  DeviceGuard guard(device_);
  return uploads().mark();
}

void CudaBackend::copy_from_host_after(uint64_t position, void* dst, const void* host_src, size_t bytes) {
  DeviceGuard guard(device_);
  uploads().upload(position, dst, host_src, bytes);
}

void CudaBackend::wait_uploads() {
  if (!upload_) return;  // nothing uploaded yet
  DeviceGuard guard(device_);
  upload_->wait_copies();
}

HostReadback& CudaBackend::readbacks() {
  if (!readback_) readback_ = std::make_unique<HostReadback>(stream_);
  return *readback_;
}

uint64_t CudaBackend::copy_to_host_async_impl(void* host_dst, const void* src, size_t bytes) {
  return readbacks().copy(host_dst, src, bytes);
}

void CudaBackend::wait_copy_to_host(uint64_t ticket) { readbacks().wait(ticket); }

void CudaBackend::copy_from_host_impl(void* dst, const void* host_src, size_t bytes) {
  if (bytes == 0) return;
  cudaPointerAttributes attributes{};
  const bool pinned =
      cudaPointerGetAttributes(&attributes, host_src) == cudaSuccess && attributes.type == cudaMemoryTypeHost;
  (void)cudaGetLastError();  // a failed query is only a "not pinned" answer
  CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
  // From pageable memory an async copy may still read the buffer after returning: wait for it.
  if (!pinned) CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy_to_host_impl(void* host_dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy_impl(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::fill_impl(float* p, int64_t n, float value) { cuda::fill(n, value, p, stream_); }

void CudaBackend::synchronize() { CUDA_CHECK(cudaStreamSynchronize(stream_)); }

size_t CudaBackend::peak_bytes() const { return allocator_->peak_bytes(); }
void CudaBackend::reset_peak_bytes() { allocator_->reset_peak_bytes(); }

// --- convolution and linear ---

void CudaBackend::conv2d_fwd_impl(const ConvGeom& g, const float* x, const float* w, const float* b, float* y) {
  conv_->forward(g, x, w, y, *workspace_);
  if (b) bias_fwd(g.n, g.k, int64_t(g.p) * g.q, b, y, stream_);
}

void CudaBackend::conv2d_bwd_data_impl(const ConvGeom& g, const float* w, const float* dy, float* dx) {
  conv_->backward_data(g, w, dy, dx, *workspace_);
}

void CudaBackend::conv2d_bwd_filter_impl(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db) {
  conv_->backward_filter(g, x, dy, dw, *workspace_);
  if (db) bias_bwd(g.n, g.k, int64_t(g.p) * g.q, dy, db, stream_);
}

void CudaBackend::linear_fwd_impl(int n, int in, int out, const float* x, const float* w, const float* b, float* y) {
  linear_->forward(n, in, out, x, w, b, y);
}

void CudaBackend::linear_bwd_impl(int n, int in, int out, const float* x, const float* w, const float* dy, float* dx,
                                  float* dw, float* db) {
  linear_->backward(n, in, out, x, w, dy, dx, dw, db);
}

// --- our kernels (cuda:: names the launchers, which share the ops' names) ---

void CudaBackend::batchnorm2d_fwd_train_impl(const BatchNormFwdTrainArgs& a) {
  cuda::batchnorm2d_fwd_train(a.shape.n, a.shape.c, a.shape.hw, a.x, a.gamma, a.beta, a.running_mean, a.running_var,
                              a.momentum, a.eps, a.y, a.save_mean, a.save_invstd, a.relu, stream_);
}
void CudaBackend::batchnorm2d_fwd_eval_impl(const BatchNormFwdEvalArgs& a) {
  cuda::batchnorm2d_fwd_eval(a.shape.n, a.shape.c, a.shape.hw, a.x, a.gamma, a.beta, a.mean, a.var, a.eps, a.y,
                             a.relu, stream_);
}
void CudaBackend::batchnorm2d_bwd_impl(const BatchNormBwdArgs& a) {
  cuda::batchnorm2d_bwd(a.shape.n, a.shape.c, a.shape.hw, a.x, a.dy, a.gamma, a.save_mean, a.save_invstd, a.dx,
                        a.dgamma, a.dbeta, a.relu_y, stream_);
}
void CudaBackend::batchnorm2d_fwd_mean_impl(int n, int c, int hw, const float* x, float* mean) {
  cuda::batchnorm2d_fwd_mean(n, c, hw, x, mean, stream_);
}
void CudaBackend::batchnorm2d_fwd_var_impl(int n, int c, int hw, const float* x, const float* mean, float* var) {
  cuda::batchnorm2d_fwd_var(n, c, hw, x, mean, var, stream_);
}
void CudaBackend::batchnorm2d_fwd_finish_impl(const BatchNormFwdFinishArgs& a) {
  cuda::batchnorm2d_fwd_finish(a.c, a.count, a.mean, a.var, a.momentum, a.eps, a.running_mean, a.running_var,
                               a.save_invstd, stream_);
}
void CudaBackend::batchnorm2d_bwd_sums_impl(const BatchNormBwdSumsArgs& a) {
  cuda::batchnorm2d_bwd_sums(a.shape.n, a.shape.c, a.shape.hw, a.x, a.dy, a.save_mean, a.save_invstd, a.sum_dy,
                             a.sum_dy_xhat, stream_);
}
void CudaBackend::batchnorm2d_bwd_dx_impl(const BatchNormBwdDxArgs& a) {
  cuda::batchnorm2d_bwd_dx(a.shape.n, a.shape.c, a.shape.hw, a.x, a.dy, a.gamma, a.save_mean, a.save_invstd, a.sum_dy,
                           a.sum_dy_xhat, a.dx, stream_);
}
void CudaBackend::relu_fwd_impl(int64_t n, const float* x, float* y) { cuda::relu_fwd(n, x, y, stream_); }
void CudaBackend::relu_bwd_impl(int64_t n, const float* y, const float* dy, float* dx) {
  cuda::relu_bwd(n, y, dy, dx, stream_);
}
void CudaBackend::maxpool2d_fwd_impl(const PoolGeom& g, const float* x, float* y) {
  cuda::maxpool2d_fwd(g, x, y, stream_);
}
void CudaBackend::maxpool2d_bwd_impl(const PoolGeom& g, const float* x, const float* dy, float* dx) {
  cuda::maxpool2d_bwd(g, x, dy, dx, stream_);
}
void CudaBackend::avgpool2d_fwd_impl(const PoolGeom& g, const float* x, float* y) {
  cuda::avgpool2d_fwd(g, x, y, stream_);
}
void CudaBackend::avgpool2d_bwd_impl(const PoolGeom& g, const float* dy, float* dx) {
  cuda::avgpool2d_bwd(g, dy, dx, stream_);
}
void CudaBackend::adaptive_avgpool2d_fwd_impl(int n, int c, int h, int w, int oh, int ow, const float* x, float* y) {
  cuda::adaptive_avgpool2d_fwd(n, c, h, w, oh, ow, x, y, stream_);
}
void CudaBackend::adaptive_avgpool2d_bwd_impl(int n, int c, int h, int w, int oh, int ow, const float* dy, float* dx) {
  cuda::adaptive_avgpool2d_bwd(n, c, h, w, oh, ow, dy, dx, stream_);
}
void CudaBackend::add_fwd_impl(int64_t n, const float* a, const float* b, float* y) {
  cuda::add_fwd(n, a, b, y, stream_);
}
void CudaBackend::accumulate_impl(int64_t n, const float* x, float* y) { cuda::accumulate(n, x, y, stream_); }
void CudaBackend::quotient_accumulate_f64_impl(int64_t n, const float* x, double divisor, double* sum) {
  cuda::quotient_accumulate_f64(n, x, divisor, sum, stream_);
}
void CudaBackend::quotient_store_f64_impl(int64_t n, const double* sum, double divisor, float* y) {
  cuda::quotient_store_f64(n, sum, divisor, y, stream_);
}
void CudaBackend::concat_fwd_impl(int n, int hw, int c_part, int c_total, int c_offset, const float* part, float* y) {
  cuda::concat_fwd(n, hw, c_part, c_total, c_offset, part, y, stream_);
}
void CudaBackend::concat_bwd_impl(int n, int hw, int c_part, int c_total, int c_offset, const float* dy, float* dpart) {
  cuda::concat_bwd(n, hw, c_part, c_total, c_offset, dy, dpart, stream_);
}
void CudaBackend::dropout_fwd_impl(int64_t n, float p, uint64_t seed, const float* x, float* y, uint8_t* keep) {
  cuda::dropout_fwd(n, p, seed, x, y, keep, stream_);
}
void CudaBackend::dropout_bwd_impl(int64_t n, float p, const uint8_t* keep, const float* dy, float* dx) {
  cuda::dropout_bwd(n, p, keep, dy, dx, stream_);
}
void CudaBackend::softmax_xent_fwd_impl(int n, int classes, const float* logits, const int32_t* labels, float smoothing,
                                        float* probs, float* loss) {
  cuda::softmax_xent_fwd(n, classes, logits, labels, smoothing, probs, loss, stream_);
}
void CudaBackend::softmax_xent_bwd_impl(int n, int classes, const float* probs, const int32_t* labels, float smoothing,
                                        float* dlogits) {
  cuda::softmax_xent_bwd(n, classes, probs, labels, smoothing, dlogits, stream_);
}
void CudaBackend::loss_stats_impl(int n, int classes, const float* logits, const float* loss, const int32_t* labels,
                                  double* stats) {
  cuda::loss_stats(n, classes, logits, loss, labels, stats, stream_);
}
void CudaBackend::sgd_step_impl(int64_t n, float* w, const float* g, float* m, const uint8_t* frozen, float lr,
                                float momentum, float weight_decay, bool nesterov) {
  cuda::sgd_step(n, w, g, m, frozen, lr, momentum, weight_decay, nesterov, stream_);
}
void CudaBackend::inq_select_impl(int64_t n, const float* w, const uint8_t* frozen, int64_t count,
                                  InqPartition strategy, uint64_t seed, uint8_t* select) {
  cuda::inq_select(n, w, frozen, count, strategy, seed, select, stream_);
}
void CudaBackend::inq_project_freeze_impl(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* select, int n1,
                                          int n2, bool zero_free) {
  cuda::inq_project_freeze(n, w, m, frozen, select, n1, n2, zero_free, stream_);
}

}  // namespace inq::cuda
