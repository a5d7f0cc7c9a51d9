// Dropout: one counter-based draw per element (core/counter_rng.h), so masks do not depend on
// the launch shape. float4 + uchar4 when aligned, scalar tail. y == x is allowed.
#include "cuda/dropout.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "core/counter_rng.h"
#include "cuda/check.h"
#include "cuda/launch.h"

namespace inq::cuda {
namespace {

// Same rounded scale as the reference: 1 / (1 - p) once, then multiplied in.
float keep_scale(float p) {
  if (!(p >= 0.0f && p < 1.0f)) throw std::invalid_argument("dropout: p must be in [0, 1), got " + std::to_string(p));
  return 1.0f / (1.0f - p);
}

__device__ __forceinline__ float drop1(uint64_t seed, int64_t i, float p, float scale, float x, uint8_t& k) {
  const bool keep = counter_uniform(seed, static_cast<uint64_t>(i)) >= p;
  k = keep ? 1 : 0;
  return keep ? __fmul_rn(x, scale) : 0.0f;
}

__global__ void dropout_fwd_kernel(int64_t n, int64_t nvec, float p, float scale, uint64_t seed, const float* x,
                                   float* y, uint8_t* keep) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t i = tid; i < nvec; i += stride) {
    const float4 v = reinterpret_cast<const float4*>(x)[i];
    float4 o;
    uchar4 k;
    o.x = drop1(seed, 4 * i + 0, p, scale, v.x, k.x);
    o.y = drop1(seed, 4 * i + 1, p, scale, v.y, k.y);
    o.z = drop1(seed, 4 * i + 2, p, scale, v.z, k.z);
    o.w = drop1(seed, 4 * i + 3, p, scale, v.w, k.w);
    reinterpret_cast<float4*>(y)[i] = o;
    reinterpret_cast<uchar4*>(keep)[i] = k;
  }
  for (int64_t i = 4 * nvec + tid; i < n; i += stride) y[i] = drop1(seed, i, p, scale, x[i], keep[i]);
}

__device__ __forceinline__ float pass1(uint8_t k, float dy, float scale) { return k ? __fmul_rn(dy, scale) : 0.0f; }

__global__ void dropout_bwd_kernel(int64_t n, int64_t nvec, float scale, const uint8_t* keep, const float* dy,
                                   float* dx) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t i = tid; i < nvec; i += stride) {
    const uchar4 k = reinterpret_cast<const uchar4*>(keep)[i];
    float4 d = reinterpret_cast<const float4*>(dy)[i];
    d.x = pass1(k.x, d.x, scale);
    d.y = pass1(k.y, d.y, scale);
    d.z = pass1(k.z, d.z, scale);
    d.w = pass1(k.w, d.w, scale);
    reinterpret_cast<float4*>(dx)[i] = d;
  }
  for (int64_t i = 4 * nvec + tid; i < n; i += stride) dx[i] = pass1(keep[i], dy[i], scale);
}

}  // namespace

void dropout_fwd(int64_t n, float p, uint64_t seed, const float* x, float* y, uint8_t* keep, cudaStream_t stream) {
  const float scale = keep_scale(p);
  if (n <= 0) return;
  const int64_t nvec = (aligned(x, 16) && aligned(y, 16) && aligned(keep, 4)) ? n / 4 : 0;
  dropout_fwd_kernel<<<grid_for(std::max<int64_t>(nvec, n - 4 * nvec)), kThreads, 0, stream>>>(n, nvec, p, scale, seed,
                                                                                               x, y, keep);
  INQ_LAUNCH_CHECK();
}

void dropout_bwd(int64_t n, float p, const uint8_t* keep, const float* dy, float* dx, cudaStream_t stream) {
  const float scale = keep_scale(p);
  if (n <= 0) return;
  const int64_t nvec = (aligned(dy, 16) && aligned(dx, 16) && aligned(keep, 4)) ? n / 4 : 0;
  dropout_bwd_kernel<<<grid_for(std::max<int64_t>(nvec, n - 4 * nvec)), kThreads, 0, stream>>>(n, nvec, scale, keep, dy,
                                                                                               dx);
  INQ_LAUNCH_CHECK();
}

}  // namespace inq::cuda
