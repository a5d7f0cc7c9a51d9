// BatchNorm2d kernels. Training forward and backward use one 512-thread block per channel, as
// PyTorch's NCHW kernels do: no workspace, no atomics, and a fixed reduction order, so results are
// bitwise reproducible. Each block sweeps its channel twice (reduce, then normalise) with 4 loads
// in flight per thread to keep HBM busy even when there are few channels.
//
// Statistics: sums of d = x - K and d^2, in float within a float4 and in double across items. K is
// the mean of one sample per thread, close enough to the channel mean that E[d^2] - E[d]^2 loses
// nothing even when a single value is a far outlier.
//
// Synchronised BatchNorm's split pass (all-reduces between the launches) uses the same
// block-per-channel reductions for its statistics and sums (the variance about the given global
// mean, in a second sweep), a tiny per-channel finish, and an element-wise dx.
#include "cuda/batchnorm2d.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda/check.h"
#include "cuda/launch.h"

namespace inq::cuda {
namespace {

constexpr int kBlock = 512;
constexpr int kUnroll = 4;

// Walks the items (V floats each) of channel ci: item j is image j / per, offset (j % per) * V.
// Advancing by the block size needs no division.
struct Cursor {
  int64_t img, k, per, step_img, step_k;
  __device__ Cursor(int64_t per_, int64_t start, int64_t step)
      : img(start / per_), k(start % per_), per(per_), step_img(step / per_), step_k(step % per_) {}
  __device__ void advance() {
    img += step_img;
    k += step_k;
    if (k >= per) k -= per, ++img;
  }
  template <int V>
  __device__ int64_t offset(int c, int ci, int hw) const {
    return (img * c + ci) * hw + k * V;
  }
};

template <int V>
__device__ __forceinline__ float4 load_item(const float* p) {
  if constexpr (V == 4)
    return *reinterpret_cast<const float4*>(p);
  else
    return make_float4(*p, 0.f, 0.f, 0.f);
}

template <int V>
__device__ __forceinline__ void store_item(float* p, float4 v) {
  if constexpr (V == 4)
    *reinterpret_cast<float4*>(p) = v;
  else
    *p = v.x;
}

// Sum over the block of two doubles; every thread gets the result. Fixed shuffle tree. May be
// called repeatedly: each call's second barrier orders its reads of `total` before the next write.
__device__ double2 block_sum2(double a, double b) {
  __shared__ double2 warp_sums[kBlock / 32];
  __shared__ double2 total;
  for (int o = 16; o > 0; o >>= 1) {
    a += __shfl_down_sync(0xffffffffu, a, o);
    b += __shfl_down_sync(0xffffffffu, b, o);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = make_double2(a, b);
  __syncthreads();
  if (warp == 0) {
    const int nw = blockDim.x >> 5;
    a = lane < nw ? warp_sums[lane].x : 0.0;
    b = lane < nw ? warp_sums[lane].y : 0.0;
    for (int o = 16; o > 0; o >>= 1) {
      a += __shfl_down_sync(0xffffffffu, a, o);
      b += __shfl_down_sync(0xffffffffu, b, o);
    }
    if (lane == 0) total = make_double2(a, b);
  }
  __syncthreads();
  return total;
}

template <int V>
__global__ void __launch_bounds__(kBlock)
    batchnorm2d_fwd_train_kernel(int n, int c, int hw, const float* __restrict__ x, const float* __restrict__ gamma,
                                 const float* __restrict__ beta, float* __restrict__ running_mean,
                                 float* __restrict__ running_var, float momentum, float eps, float* __restrict__ y,
                                 float* __restrict__ save_mean, float* __restrict__ save_invstd) {
  const int ci = blockIdx.x;
  const int64_t per = hw / V, total = int64_t(n) * per, step = blockDim.x;
  Cursor cur(per, threadIdx.x, step);
  const bool sampled = threadIdx.x < total;
  const double2 sample = block_sum2(sampled ? double(x[cur.offset<V>(c, ci, hw)]) : 0.0, sampled ? 1.0 : 0.0);
  const float shift = float(sample.x / sample.y);
  double s1 = 0.0, s2 = 0.0;
  for (int64_t j = threadIdx.x; j < total; j += kUnroll * step) {
    float4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (j + u * step < total) v[u] = load_item<V>(x + cur.offset<V>(c, ci, hw));
      cur.advance();
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (j + u * step >= total) break;
      const float d0 = v[u].x - shift, d1 = v[u].y - shift, d2 = v[u].z - shift, d3 = v[u].w - shift;
      if constexpr (V == 4) {
        s1 += double((d0 + d1) + (d2 + d3));
        s2 += double((d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3));
      } else {
        s1 += double(d0);
        s2 += double(d0) * double(d0);
      }
    }
  }
  const double2 s = block_sum2(s1, s2);
  const double count = double(int64_t(n) * hw);
  const double dmean = s.x / count;
  const double mean = double(shift) + dmean;
  const double var = fmax(s.y / count - dmean * dmean, 0.0);  // biased, as used to normalise
  const double invstd = 1.0 / sqrt(var + double(eps));
  if (threadIdx.x == 0) {
    save_mean[ci] = float(mean);
    save_invstd[ci] = float(invstd);
    const double mom = double(momentum);
    if (running_mean) running_mean[ci] = float((1.0 - mom) * double(running_mean[ci]) + mom * mean);
    if (running_var)
      running_var[ci] = float((1.0 - mom) * double(running_var[ci]) + mom * (var * count / (count - 1.0)));
  }
  const float meanf = float(mean);
  const float scale = float(invstd * (gamma ? double(gamma[ci]) : 1.0));
  const float bias = beta ? beta[ci] : 0.0f;
  Cursor out(per, threadIdx.x, step);
  for (int64_t j = threadIdx.x; j < total; j += kUnroll * step) {
    float4 v[kUnroll];
    int64_t off[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      off[u] = out.offset<V>(c, ci, hw);
      if (j + u * step < total) v[u] = load_item<V>(x + off[u]);
      out.advance();
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (j + u * step >= total) break;
      float4 r;
      r.x = fmaf(v[u].x - meanf, scale, bias);
      r.y = fmaf(v[u].y - meanf, scale, bias);
      r.z = fmaf(v[u].z - meanf, scale, bias);
      r.w = fmaf(v[u].w - meanf, scale, bias);
      store_item<V>(y + off[u], r);
    }
  }
}

// Block-wide sums over channel ci of dy and dy * (x - mean): the first sweep of BatchNorm's backward.
template <int V>
__device__ double2 bwd_channel_sums(int n, int c, int hw, int ci, const float* __restrict__ x,
                                    const float* __restrict__ dy, float meanf) {
  const int64_t per = hw / V, total = int64_t(n) * per, step = blockDim.x;
  double s_dy = 0.0, s_dyx = 0.0;
  Cursor cur(per, threadIdx.x, step);
  for (int64_t j = threadIdx.x; j < total; j += kUnroll * step) {
    float4 xv[kUnroll], gv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (j + u * step < total) {
        const int64_t off = cur.offset<V>(c, ci, hw);
        xv[u] = load_item<V>(x + off);
        gv[u] = load_item<V>(dy + off);
      }
      cur.advance();
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (j + u * step >= total) break;
      // Zero padding of V == 1 items contributes 0 to both sums.
      s_dy += double((gv[u].x + gv[u].y) + (gv[u].z + gv[u].w));
      s_dyx += double((gv[u].x * (xv[u].x - meanf) + gv[u].y * (xv[u].y - meanf)) +
                      (gv[u].z * (xv[u].z - meanf) + gv[u].w * (xv[u].w - meanf)));
    }
  }
  return block_sum2(s_dy, s_dyx);
}

// One block per channel: sums of dy and dy * (x - mean), then dx in a second sweep.
template <int V>
__global__ void __launch_bounds__(kBlock)
    batchnorm2d_bwd_kernel(int n, int c, int hw, const float* __restrict__ x, const float* __restrict__ dy,
                           const float* __restrict__ gamma, const float* __restrict__ save_mean,
                           const float* __restrict__ save_invstd, float* __restrict__ dx, float* __restrict__ dgamma,
                           float* __restrict__ dbeta) {
  const int ci = blockIdx.x;
  const int64_t per = hw / V, total = int64_t(n) * per, step = blockDim.x;
  const float meanf = save_mean[ci];
  const double invstd = double(save_invstd[ci]);
  const double2 s = bwd_channel_sums<V>(n, c, hw, ci, x, dy, meanf);
  const double count = double(int64_t(n) * hw);
  const double sum_dy_xhat = s.y * invstd;
  if (threadIdx.x == 0) {
    if (dgamma) dgamma[ci] = float(sum_dy_xhat);
    if (dbeta) dbeta[ci] = float(s.x);
  }
  // dx = gamma * invstd * (dy - sum_dy / M - (x - mean) * invstd * sum_dy_xhat / M)
  const float a = float((gamma ? double(gamma[ci]) : 1.0) * invstd);
  const float b = float(s.x / count);
  const float f = float(invstd * sum_dy_xhat / count);
  Cursor out(per, threadIdx.x, step);
  for (int64_t j = threadIdx.x; j < total; j += kUnroll * step) {
    float4 xv[kUnroll], gv[kUnroll];
    int64_t off[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      off[u] = out.offset<V>(c, ci, hw);
      if (j + u * step < total) {
        xv[u] = load_item<V>(x + off[u]);
        gv[u] = load_item<V>(dy + off[u]);
      }
      out.advance();
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (j + u * step >= total) break;
      float4 r;
      r.x = a * (gv[u].x - b - (xv[u].x - meanf) * f);
      r.y = a * (gv[u].y - b - (xv[u].y - meanf) * f);
      r.z = a * (gv[u].z - b - (xv[u].z - meanf) * f);
      r.w = a * (gv[u].w - b - (xv[u].w - meanf) * f);
      store_item<V>(dx + off[u], r);
    }
  }
}

// Element-wise: block row y walks planes (image, channel), columns walk the plane's items. No
// __restrict__ on x / y: inference may normalise in place.
template <int V>
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
      store_item<V>(yp + k * V, r);
    }
  }
}

// Synchronised BatchNorm's statistics, one block per channel: the mean of x (kCentred false) or
// of (x - center[ci])^2. Zero padding of V == 1 items is skipped (it is not 0 once centred).
template <int V, bool kCentred>
__global__ void __launch_bounds__(kBlock)
    batchnorm2d_moment_kernel(int n, int c, int hw, const float* __restrict__ x, const float* __restrict__ center,
                              float* __restrict__ out) {
  const int ci = blockIdx.x;
  const int64_t per = hw / V, total = int64_t(n) * per, step = blockDim.x;
  const float m = kCentred ? center[ci] : 0.0f;
  double s = 0.0;
  Cursor cur(per, threadIdx.x, step);
  for (int64_t j = threadIdx.x; j < total; j += kUnroll * step) {
    float4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (j + u * step < total) v[u] = load_item<V>(x + cur.offset<V>(c, ci, hw));
      cur.advance();
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (j + u * step >= total) break;
      const float d0 = v[u].x - m, d1 = v[u].y - m, d2 = v[u].z - m, d3 = v[u].w - m;
      if constexpr (V == 4) {
        if constexpr (kCentred)
          s += double((d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3));
        else
          s += double((d0 + d1) + (d2 + d3));
      } else {
        s += kCentred ? double(d0) * double(d0) : double(d0);
      }
    }
  }
  const double2 sum = block_sum2(s, 0.0);
  if (threadIdx.x == 0) out[ci] = float(sum.x / double(int64_t(n) * hw));
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

// The first sweep of batchnorm2d_bwd_kernel on its own (synchronised BatchNorm): sums of dy and dy * xhat.
template <int V>
__global__ void __launch_bounds__(kBlock)
    batchnorm2d_bwd_sums_kernel(int n, int c, int hw, const float* __restrict__ x, const float* __restrict__ dy,
                                const float* __restrict__ save_mean, const float* __restrict__ save_invstd,
                                float* __restrict__ sum_dy, float* __restrict__ sum_dy_xhat) {
  const int ci = blockIdx.x;
  const double2 s = bwd_channel_sums<V>(n, c, hw, ci, x, dy, save_mean[ci]);
  if (threadIdx.x == 0) {
    sum_dy[ci] = float(s.x);
    sum_dy_xhat[ci] = float(s.y * double(save_invstd[ci]));
  }
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
                           float* save_mean, float* save_invstd, cudaStream_t stream) {
  const int64_t count = int64_t(n) * hw;
  if (count < 2)
    throw std::invalid_argument("batchnorm2d: training needs more than 1 value per channel, got " +
                                std::to_string(count));
  if (c <= 0) return;
  const bool vec = hw % 4 == 0 && aligned16(x) && aligned16(y);
  if (vec)
    batchnorm2d_fwd_train_kernel<4><<<c, kBlock, 0, stream>>>(n, c, hw, x, gamma, beta, running_mean, running_var,
                                                              momentum, eps, y, save_mean, save_invstd);
  else
    batchnorm2d_fwd_train_kernel<1><<<c, kBlock, 0, stream>>>(n, c, hw, x, gamma, beta, running_mean, running_var,
                                                              momentum, eps, y, save_mean, save_invstd);
  INQ_LAUNCH_CHECK();
}

void batchnorm2d_fwd_eval(int n, int c, int hw, const float* x, const float* gamma, const float* beta,
                          const float* running_mean, const float* running_var, float eps, float* y,
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
  if (vec)
    batchnorm2d_fwd_eval_kernel<4>
        <<<grid, threads, 0, stream>>>(planes, c, hw, x, gamma, beta, running_mean, running_var, eps, y);
  else
    batchnorm2d_fwd_eval_kernel<1>
        <<<grid, threads, 0, stream>>>(planes, c, hw, x, gamma, beta, running_mean, running_var, eps, y);
  INQ_LAUNCH_CHECK();
}

void batchnorm2d_bwd(int n, int c, int hw, const float* x, const float* dy, const float* gamma, const float* save_mean,
                     const float* save_invstd, float* dx, float* dgamma, float* dbeta, cudaStream_t stream) {
  if (c <= 0) return;
  if (int64_t(n) * hw <= 0) {
    // An empty batch has zero parameter gradients (and no dx to write).
    if (dgamma) CUDA_CHECK(cudaMemsetAsync(dgamma, 0, sizeof(float) * size_t(c), stream));
    if (dbeta) CUDA_CHECK(cudaMemsetAsync(dbeta, 0, sizeof(float) * size_t(c), stream));
    return;
  }
  const bool vec = hw % 4 == 0 && aligned16(x) && aligned16(dy) && aligned16(dx);
  if (vec)
    batchnorm2d_bwd_kernel<4>
        <<<c, kBlock, 0, stream>>>(n, c, hw, x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
  else
    batchnorm2d_bwd_kernel<1>
        <<<c, kBlock, 0, stream>>>(n, c, hw, x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
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
  if (hw % 4 == 0 && aligned16(x))
    batchnorm2d_moment_kernel<4, kCentred><<<c, kBlock, 0, stream>>>(n, c, hw, x, center, out);
  else
    batchnorm2d_moment_kernel<1, kCentred><<<c, kBlock, 0, stream>>>(n, c, hw, x, center, out);
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
  if (hw % 4 == 0 && aligned16(x) && aligned16(dy))
    batchnorm2d_bwd_sums_kernel<4>
        <<<c, kBlock, 0, stream>>>(n, c, hw, x, dy, save_mean, save_invstd, sum_dy, sum_dy_xhat);
  else
    batchnorm2d_bwd_sums_kernel<1>
        <<<c, kBlock, 0, stream>>>(n, c, hw, x, dy, save_mean, save_invstd, sum_dy, sum_dy_xhat);
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
