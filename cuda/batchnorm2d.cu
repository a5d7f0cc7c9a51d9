// BatchNorm2d kernels. Per-channel statistics and gradient sums are spread over images x channels
// (cuda/channel_reduce.cuh): partial sums per (slice, channel) block, then a fixed-order finish per
// channel, so results are bitwise reproducible with every SM busy even for 64-channel layers. The
// element-wise parts (normalise, dx) then run over planes with per-channel coefficients the
// finish kernels computed.
//
// Statistics: sums of d = x - K and d^2, in float within a float4 and in double across items. K is
// the mean of one sample per thread of the channel's first items (the same in every slice), close
// enough to the channel mean that E[d^2] - E[d]^2 loses nothing even when a single value is a far
// outlier.
//
// A fused ReLU (core/batchnorm_args.h) is core/relu_math.h's rules in the same kernels: relu_value
// on the normalised value, relu_grad on dy wherever it is read, so fused and composed agree bit for bit.
//
// Synchronised BatchNorm's split pass (all-reduces between the launches) uses the same reductions
// for its statistics and sums (the variance about the given global mean, in a second sweep), a tiny
// per-channel finish, and an element-wise dx.
#include "cuda/batchnorm2d.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "core/relu_math.h"
#include "cuda/channel_reduce.cuh"
#include "cuda/check.h"
#include "cuda/launch.h"

namespace inq::cuda {
namespace {

using channel_reduce::combine_partials;
using channel_reduce::Cursor;
using channel_reduce::kFinishThreads;
using channel_reduce::launch_partials;
using channel_reduce::load_item;
using channel_reduce::partial_bytes;
using channel_reduce::StreamScratch;
using channel_reduce::store_item;

// Sums of d = x - K and d^2 with K from a sample of the channel's first items (training forward).
struct ShiftedMoments {
  static constexpr bool kTwoInputs = false;
  template <int V>
  __device__ float setup(int c, int hw, int ci, int64_t total, const float* x) const {
    const Cursor cur(hw / V, threadIdx.x, blockDim.x);
    const bool sampled = threadIdx.x < total;
    const int64_t off = sampled ? cur.offset<V>(c, ci, hw) : 0;
    const double2 sample = channel_reduce::block_sum2(sampled ? double(x[off]) : 0.0, sampled ? 1.0 : 0.0);
    return float(sample.x / sample.y);
  }
  template <int V>
  __device__ double2 item(float4 v, float4, float shift) const {
    const float d0 = v.x - shift, d1 = v.y - shift, d2 = v.z - shift, d3 = v.w - shift;
    if constexpr (V == 4)
      return make_double2(double((d0 + d1) + (d2 + d3)), double((d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)));
    else
      return make_double2(double(d0), double(d0) * double(d0));
  }
};

// Sum of x (kCentred false) or of (x - center[ci])^2 (synchronised BatchNorm's mean and variance).
// Zero padding of V == 1 items is skipped (it is not 0 once centred).
template <bool kCentred>
struct Moment {
  static constexpr bool kTwoInputs = false;
  template <int V>
  __device__ float setup(int, int, int ci, int64_t, const float*) const {
    return kCentred ? center[ci] : 0.0f;
  }
  template <int V>
  __device__ double2 item(float4 v, float4, float m) const {
    const float d0 = v.x - m, d1 = v.y - m, d2 = v.z - m, d3 = v.w - m;
    if constexpr (V == 4) {
      if constexpr (kCentred)
        return make_double2(double((d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)), 0.0);
      else
        return make_double2(double((d0 + d1) + (d2 + d3)), 0.0);
    } else {
      return make_double2(kCentred ? double(d0) * double(d0) : double(d0), 0.0);
    }
  }
  const float* center;
};

// dy's item at `off`, masked by relu_y's with a fused ReLU (R).
template <int V, bool R>
__device__ __forceinline__ float4 load_grad(const float* dy, const float* relu_y, int64_t off) {
  float4 g = load_item<V>(dy + off);
  if constexpr (R) {
    const float4 y = load_item<V>(relu_y + off);
    g = make_float4(relu_grad(y.x, g.x), relu_grad(y.y, g.y), relu_grad(y.z, g.z), relu_grad(y.w, g.w));
  }
  return g;
}

// Sums of dy and dy * (x - mean[ci]): a = x, b = dy (masked by relu_y with a fused ReLU, R). Zero
// padding of V == 1 items contributes 0.
template <bool R>
struct GradSums {
  static constexpr bool kTwoInputs = true;
  template <int V>
  __device__ float setup(int, int, int ci, int64_t, const float*) const {
    return mean[ci];
  }
  template <int V>
  __device__ float4 load_b(const float* dy, int64_t off) const {
    return load_grad<V, R>(dy, relu_y, off);
  }
  template <int V>
  __device__ double2 item(float4 xv, float4 gv, float m) const {
    return make_double2(double((gv.x + gv.y) + (gv.z + gv.w)),
                        double((gv.x * (xv.x - m) + gv.y * (xv.y - m)) + (gv.z * (xv.z - m) + gv.w * (xv.w - m))));
  }
  const float* mean;
  const float* relu_y = nullptr;
};

// Training forward, pass 2: statistics, running statistics and the normalisation coefficients
// (mean, scale, bias) per channel.
__global__ void batchnorm2d_fwd_train_finish_kernel(int c, int slices, double count, const double2* __restrict__ partial,
                                                    const float* __restrict__ gamma, const float* __restrict__ beta,
                                                    float* __restrict__ running_mean, float* __restrict__ running_var,
                                                    float momentum, float eps, float* __restrict__ save_mean,
                                                    float* __restrict__ save_invstd, float4* __restrict__ coef) {
  const int ci = blockIdx.x;
  float shift = 0.0f;
  const double2 s = combine_partials(partial, slices, ci, &shift);
  if (threadIdx.x != 0) return;
  const double dmean = s.x / count;
  const double mean = double(shift) + dmean;
  const double var = fmax(s.y / count - dmean * dmean, 0.0);  // biased, as used to normalise
  const double invstd = 1.0 / sqrt(var + double(eps));
  save_mean[ci] = float(mean);
  save_invstd[ci] = float(invstd);
  const double mom = double(momentum);
  if (running_mean) running_mean[ci] = float((1.0 - mom) * double(running_mean[ci]) + mom * mean);
  if (running_var) running_var[ci] = float((1.0 - mom) * double(running_var[ci]) + mom * (var * count / (count - 1.0)));
  coef[ci] = make_float4(float(mean), float(invstd * (gamma ? double(gamma[ci]) : 1.0)), beta ? beta[ci] : 0.0f, 0.f);
}

// Synchronised BatchNorm's statistics, pass 2: the mean of the summed values.
__global__ void batchnorm2d_moment_finish_kernel(int c, int slices, double count, const double2* __restrict__ partial,
                                                 float* __restrict__ out) {
  const int ci = blockIdx.x;
  float unused = 0.0f;
  const double2 s = combine_partials(partial, slices, ci, &unused);
  if (threadIdx.x == 0) out[ci] = float(s.x / count);
}

// Backward, pass 2: the sums (for synchronised BatchNorm's all-reduce), dgamma / dbeta, and the dx
// coefficients (a, b, f, mean) of dx = a * (dy - b - (x - mean) * f), when `coef` is given.
__global__ void batchnorm2d_bwd_finish_kernel(int c, int slices, double count, const double2* __restrict__ partial,
                                              const float* __restrict__ gamma, const float* __restrict__ save_invstd,
                                              float* __restrict__ sum_dy, float* __restrict__ sum_dy_xhat,
                                              float* __restrict__ dgamma, float* __restrict__ dbeta,
                                              float4* __restrict__ coef) {
  const int ci = blockIdx.x;
  float meanf = 0.0f;
  const double2 s = combine_partials(partial, slices, ci, &meanf);
  if (threadIdx.x != 0) return;
  const double invstd = double(save_invstd[ci]);
  const double s_dy_xhat = s.y * invstd;
  if (sum_dy) sum_dy[ci] = float(s.x);
  if (sum_dy_xhat) sum_dy_xhat[ci] = float(s_dy_xhat);
  if (dgamma) dgamma[ci] = float(s_dy_xhat);
  if (dbeta) dbeta[ci] = float(s.x);
  if (coef)
    coef[ci] = make_float4(float((gamma ? double(gamma[ci]) : 1.0) * invstd), float(s.x / count),
                           float(invstd * s_dy_xhat / count), meanf);
}

// Training forward, pass 3 (element-wise over planes): y = (x - mean) * scale + bias, max(0, y)
// with a fused ReLU (R).
template <int V, bool R>
__global__ void batchnorm2d_normalize_kernel(int64_t planes, int c, int hw, const float* __restrict__ x,
                                             const float4* __restrict__ coef, float* __restrict__ y) {
  const int64_t per = hw / V;
  for (int64_t pl = blockIdx.y; pl < planes; pl += gridDim.y) {
    const float4 k = coef[pl % c];
    const float* xp = x + pl * hw;
    float* yp = y + pl * hw;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < per; i += int64_t(gridDim.x) * blockDim.x) {
      const float4 v = load_item<V>(xp + i * V);
      float4 r;
      r.x = fmaf(v.x - k.x, k.y, k.z);
      r.y = fmaf(v.y - k.x, k.y, k.z);
      r.z = fmaf(v.z - k.x, k.y, k.z);
      r.w = fmaf(v.w - k.x, k.y, k.z);
      if constexpr (R) r = make_float4(relu_value(r.x), relu_value(r.y), relu_value(r.z), relu_value(r.w));
      store_item<V>(yp + i * V, r);
    }
  }
}

// Backward, pass 3 (element-wise over planes): dx = a * (dy - b - (x - mean) * f), dy masked by
// relu_y with a fused ReLU (R).
template <int V, bool R>
__global__ void batchnorm2d_bwd_apply_kernel(int64_t planes, int c, int hw, const float* __restrict__ x,
                                             const float* __restrict__ dy, const float* __restrict__ relu_y,
                                             const float4* __restrict__ coef, float* __restrict__ dx) {
  const int64_t per = hw / V;
  for (int64_t pl = blockIdx.y; pl < planes; pl += gridDim.y) {
    const float4 k = coef[pl % c];
    const float* xp = x + pl * hw;
    float* dxp = dx + pl * hw;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < per; i += int64_t(gridDim.x) * blockDim.x) {
      const float4 xv = load_item<V>(xp + i * V), gv = load_grad<V, R>(dy, relu_y, pl * hw + i * V);
      float4 r;
      r.x = k.x * (gv.x - k.y - (xv.x - k.w) * k.z);
      r.y = k.x * (gv.y - k.y - (xv.y - k.w) * k.z);
      r.z = k.x * (gv.z - k.y - (xv.z - k.w) * k.z);
      r.w = k.x * (gv.w - k.y - (xv.w - k.w) * k.z);
      store_item<V>(dxp + i * V, r);
    }
  }
}

// Element-wise: block row y walks planes (image, channel), columns walk the plane's items. No
// __restrict__ on x / y: inference may normalise in place. max(0, y) with a fused ReLU (R).
template <int V, bool R>
__global__ void batchnorm2d_fwd_eval_kernel(int64_t planes, int c, int hw, const float* x,
                                            const float* __restrict__ gamma, const float* __restrict__ beta,
                                            const float* __restrict__ running_mean,
                                            const float* __restrict__ running_var, float eps, float* y) {
  const int64_t per = hw / V;
  for (int64_t pl = blockIdx.y; pl < planes; pl += gridDim.y) {
    const int ci = int(pl % c);
    const float mean = running_mean[ci];
    const float scale = (gamma ? gamma[ci] : 1.0f) / sqrtf(running_var[ci] + eps);
    const float bias = beta ? beta[ci] : 0.0f;
    const float* xp = x + pl * hw;
    float* yp = y + pl * hw;
    for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < per; k += int64_t(gridDim.x) * blockDim.x) {
      const float4 v = load_item<V>(xp + k * V);
      float4 r;
      r.x = fmaf(v.x - mean, scale, bias);
      r.y = fmaf(v.y - mean, scale, bias);
      r.z = fmaf(v.z - mean, scale, bias);
      r.w = fmaf(v.w - mean, scale, bias);
      if constexpr (R) r = make_float4(relu_value(r.x), relu_value(r.y), relu_value(r.z), relu_value(r.w));
      store_item<V>(yp + k * V, r);
    }
  }
}

__global__ void batchnorm2d_fwd_finish_kernel(int c, double count, const float* __restrict__ mean,
                                              const float* __restrict__ var, float momentum, float eps,
                                              float* __restrict__ running_mean, float* __restrict__ running_var,
                                              float* __restrict__ save_invstd) {
  const int ci = blockIdx.x * blockDim.x + threadIdx.x;
  if (ci >= c) return;
  const double v = double(var[ci]), mom = double(momentum);
  save_invstd[ci] = float(1.0 / sqrt(v + double(eps)));
  if (running_mean) running_mean[ci] = float((1.0 - mom) * double(running_mean[ci]) + mom * double(mean[ci]));
  if (running_var) running_var[ci] = float((1.0 - mom) * double(running_var[ci]) + mom * (v * count / (count - 1.0)));
}

// Element-wise dx from the (all-reduced) sums, over planes like the eval kernel.
template <int V>
__global__ void batchnorm2d_bwd_dx_kernel(int64_t planes, int c, int hw, double count, const float* x,
                                          const float* dy, const float* __restrict__ gamma,
                                          const float* __restrict__ save_mean, const float* __restrict__ save_invstd,
                                          const float* __restrict__ sum_dy, const float* __restrict__ sum_dy_xhat,
                                          float* dx) {
  const int64_t per = hw / V;
  for (int64_t pl = blockIdx.y; pl < planes; pl += gridDim.y) {
    const int ci = int(pl % c);
    const double invstd = double(save_invstd[ci]);
    const float meanf = save_mean[ci];
    const float a = float((gamma ? double(gamma[ci]) : 1.0) * invstd);
    const float b = float(double(sum_dy[ci]) / count);
    const float f = float(invstd * double(sum_dy_xhat[ci]) / count);
    const float* xp = x + pl * hw;
    const float* gp = dy + pl * hw;
    float* dxp = dx + pl * hw;
    for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < per; k += int64_t(gridDim.x) * blockDim.x) {
      const float4 xv = load_item<V>(xp + k * V), gv = load_item<V>(gp + k * V);
      float4 r;
      r.x = a * (gv.x - b - (xv.x - meanf) * f);
      r.y = a * (gv.y - b - (xv.y - meanf) * f);
      r.z = a * (gv.z - b - (xv.z - meanf) * f);
      r.w = a * (gv.w - b - (xv.w - meanf) * f);
      store_item<V>(dxp + k * V, r);
    }
  }
}

// Grid of the element-wise kernels: block rows walk planes, small planes get small blocks.
struct PlaneGrid {
  dim3 grid;
  int threads;
};
PlaneGrid plane_grid(int64_t planes, int64_t per) {
  const int threads = int(std::clamp<int64_t>((per + 31) / 32 * 32, 32, 256));
  const int gy = int(std::min<int64_t>(planes, 65535));
  const int gx = int(std::max<int64_t>(1, std::min<int64_t>((per + threads - 1) / threads, 8192 / gy)));
  return {dim3(gx, gy), threads};
}

}  // namespace

void batchnorm2d_fwd_train(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                           float* running_mean, float* running_var, float momentum, float eps, float* y,
                           float* save_mean, float* save_invstd, bool relu, cudaStream_t stream) {
  const int64_t count = int64_t(n) * hw;
  if (count < 2)
    throw std::invalid_argument("batchnorm2d: training needs more than 1 value per channel, got " +
                                std::to_string(count));
  if (c <= 0) return;
  const bool vec = hw % 4 == 0 && aligned16(x) && aligned16(y);
  const size_t pbytes = partial_bytes(n, c, hw, vec);
  StreamScratch scratch(pbytes + sizeof(float4) * size_t(c), stream);
  double2* partial = scratch.as<double2>();
  float4* coef = scratch.as<float4>(pbytes);
  const int slices = launch_partials(n, c, hw, vec, x, nullptr, ShiftedMoments{}, partial, stream);
  batchnorm2d_fwd_train_finish_kernel<<<c, kFinishThreads, 0, stream>>>(
      c, slices, double(count), partial, gamma, beta, running_mean, running_var, momentum, eps, save_mean,
      save_invstd, coef);
  INQ_LAUNCH_CHECK();
  const int64_t planes = int64_t(n) * c;
  const PlaneGrid g = plane_grid(planes, vec ? hw / 4 : hw);
  const auto kernel = vec ? (relu ? batchnorm2d_normalize_kernel<4, true> : batchnorm2d_normalize_kernel<4, false>)
                         : (relu ? batchnorm2d_normalize_kernel<1, true> : batchnorm2d_normalize_kernel<1, false>);
  kernel<<<g.grid, g.threads, 0, stream>>>(planes, c, hw, x, coef, y);
  INQ_LAUNCH_CHECK();
}

void batchnorm2d_fwd_eval(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                          const float* running_mean, const float* running_var, float eps, float* y, bool relu,
                          cudaStream_t stream) {
  const int64_t planes = int64_t(n) * c;
  if (planes <= 0 || hw <= 0) return;
  const bool vec = hw % 4 == 0 && aligned16(x) && aligned16(y);
  const int64_t per = vec ? hw / 4 : hw;
  // Small planes (7x7) get small blocks rather than idle threads.
  const int threads = int(std::clamp<int64_t>((per + 31) / 32 * 32, 32, 256));
  const int gy = int(std::min<int64_t>(planes, 65535));
  const int gx = int(std::max<int64_t>(1, std::min<int64_t>((per + threads - 1) / threads, 8192 / gy)));
  const dim3 grid(gx, gy);
  const auto kernel = vec ? (relu ? batchnorm2d_fwd_eval_kernel<4, true> : batchnorm2d_fwd_eval_kernel<4, false>)
                         : (relu ? batchnorm2d_fwd_eval_kernel<1, true> : batchnorm2d_fwd_eval_kernel<1, false>);
  kernel<<<grid, threads, 0, stream>>>(planes, c, hw, x, gamma, beta, running_mean, running_var, eps, y);
  INQ_LAUNCH_CHECK();
}

void batchnorm2d_bwd(int n, int c, int hw, const float* x, const float* dy, const float* gamma, const float* save_mean,
                     const float* save_invstd, float* dx, float* dgamma, float* dbeta, const float* relu_y,
                     cudaStream_t stream) {
  if (c <= 0) return;
  if (int64_t(n) * hw <= 0) {
    // An empty batch has zero parameter gradients (and no dx to write).
    if (dgamma) CUDA_CHECK(cudaMemsetAsync(dgamma, 0, sizeof(float) * size_t(c), stream));
    if (dbeta) CUDA_CHECK(cudaMemsetAsync(dbeta, 0, sizeof(float) * size_t(c), stream));
    return;
  }
  const bool relu = relu_y != nullptr;
  const bool vec = hw % 4 == 0 && aligned16(x) && aligned16(dy) && aligned16(dx) && (!relu || aligned16(relu_y));
  const size_t pbytes = partial_bytes(n, c, hw, vec);
  StreamScratch scratch(pbytes + sizeof(float4) * size_t(c), stream);
  double2* partial = scratch.as<double2>();
  float4* coef = scratch.as<float4>(pbytes);
  const int slices = relu ? launch_partials(n, c, hw, vec, x, dy, GradSums<true>{save_mean, relu_y}, partial, stream)
                          : launch_partials(n, c, hw, vec, x, dy, GradSums<false>{save_mean}, partial, stream);
  batchnorm2d_bwd_finish_kernel<<<c, kFinishThreads, 0, stream>>>(c, slices, double(int64_t(n) * hw), partial, gamma,
                                                                  save_invstd, nullptr, nullptr, dgamma, dbeta, coef);
  INQ_LAUNCH_CHECK();
  const int64_t planes = int64_t(n) * c;
  const PlaneGrid g = plane_grid(planes, vec ? hw / 4 : hw);
  const auto kernel = vec ? (relu ? batchnorm2d_bwd_apply_kernel<4, true> : batchnorm2d_bwd_apply_kernel<4, false>)
                         : (relu ? batchnorm2d_bwd_apply_kernel<1, true> : batchnorm2d_bwd_apply_kernel<1, false>);
  kernel<<<g.grid, g.threads, 0, stream>>>(planes, c, hw, x, dy, relu_y, coef, dx);
  INQ_LAUNCH_CHECK();
}

namespace {

void check_stat_count(int n, int hw) {
  const int64_t count = int64_t(n) * hw;
  if (count < 1)
    throw std::invalid_argument("batchnorm2d: the batch statistics need at least 1 value per channel, got " +
                                std::to_string(count));
}

template <bool kCentred>
void launch_moment(int n, int c, int hw, const float* x, const float* center, float* out, cudaStream_t stream) {
  check_stat_count(n, hw);
  if (c <= 0) return;
  const bool vec = hw % 4 == 0 && aligned16(x);
  const size_t pbytes = partial_bytes(n, c, hw, vec);
  StreamScratch scratch(pbytes, stream);
  double2* partial = scratch.as<double2>();
  const int slices = launch_partials(n, c, hw, vec, x, nullptr, Moment<kCentred>{center}, partial, stream);
  batchnorm2d_moment_finish_kernel<<<c, kFinishThreads, 0, stream>>>(c, slices, double(int64_t(n) * hw), partial,
                                                                     out);
  INQ_LAUNCH_CHECK();
}

}  // namespace

void batchnorm2d_fwd_mean(int n, int c, int hw, const float* x, float* mean, cudaStream_t stream) {
  launch_moment<false>(n, c, hw, x, nullptr, mean, stream);
}

void batchnorm2d_fwd_var(int n, int c, int hw, const float* x, const float* mean, float* var, cudaStream_t stream) {
  launch_moment<true>(n, c, hw, x, mean, var, stream);
}

void batchnorm2d_fwd_finish(int c, int64_t count, const float* mean, const float* var, float momentum, float eps,
                            float* running_mean, float* running_var, float* save_invstd, cudaStream_t stream) {
  if (count < 2)
    throw std::invalid_argument("batchnorm2d: training needs more than 1 value per channel, got " +
                                std::to_string(count));
  if (c <= 0) return;
  batchnorm2d_fwd_finish_kernel<<<(c + kThreads - 1) / kThreads, kThreads, 0, stream>>>(
      c, double(count), mean, var, momentum, eps, running_mean, running_var, save_invstd);
  INQ_LAUNCH_CHECK();
}

void batchnorm2d_bwd_sums(int n, int c, int hw, const float* x, const float* dy, const float* save_mean,
                          const float* save_invstd, float* sum_dy, float* sum_dy_xhat, cudaStream_t stream) {
  if (c <= 0) return;
  if (int64_t(n) * hw <= 0) {
    CUDA_CHECK(cudaMemsetAsync(sum_dy, 0, sizeof(float) * size_t(c), stream));
    CUDA_CHECK(cudaMemsetAsync(sum_dy_xhat, 0, sizeof(float) * size_t(c), stream));
    return;
  }
  const bool vec = hw % 4 == 0 && aligned16(x) && aligned16(dy);
  const size_t pbytes = partial_bytes(n, c, hw, vec);
  StreamScratch scratch(pbytes, stream);
  double2* partial = scratch.as<double2>();
  const int slices = launch_partials(n, c, hw, vec, x, dy, GradSums<false>{save_mean}, partial, stream);
  batchnorm2d_bwd_finish_kernel<<<c, kFinishThreads, 0, stream>>>(c, slices, double(int64_t(n) * hw), partial,
                                                                  nullptr, save_invstd, sum_dy, sum_dy_xhat, nullptr,
                                                                  nullptr, nullptr);
  INQ_LAUNCH_CHECK();
}

void batchnorm2d_bwd_dx(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                        const float* save_mean, const float* save_invstd, const float* sum_dy, const float* sum_dy_xhat,
                        float* dx, cudaStream_t stream) {
  const int64_t planes = int64_t(n) * c;
  if (planes <= 0 || hw <= 0) return;
  const bool vec = hw % 4 == 0 && aligned16(x) && aligned16(dy) && aligned16(dx);
  const PlaneGrid g = plane_grid(planes, vec ? hw / 4 : hw);
  const double count = double(int64_t(n) * hw);
  if (vec)
    batchnorm2d_bwd_dx_kernel<4><<<g.grid, g.threads, 0, stream>>>(planes, c, hw, count, x, dy, gamma, save_mean,
                                                                   save_invstd, sum_dy, sum_dy_xhat, dx);
  else
    batchnorm2d_bwd_dx_kernel<1><<<g.grid, g.threads, 0, stream>>>(planes, c, hw, count, x, dy, gamma, save_mean,
                                                                   save_invstd, sum_dy, sum_dy_xhat, dx);
  INQ_LAUNCH_CHECK();
}

}  // namespace inq::cuda
