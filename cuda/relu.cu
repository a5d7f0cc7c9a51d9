// ReLU forward/backward: float4 grid-stride loops with a scalar tail. No __restrict__: the
// contract allows in-place use (y == x, dx == dy).
#include "cuda/relu.h"

#include <algorithm>

#include "core/relu_math.h"
#include "cuda/check.h"
#include "cuda/launch.h"

namespace inq::cuda {
namespace {

// core/relu_math.h's rules, shared with the reference (NaN maps to 0 there too).
__device__ __forceinline__ float relu1(float x) { return relu_value(x); }
__device__ __forceinline__ float mask1(float y, float dy) { return relu_grad(y, dy); }

// nvec float4 items first (when vec), then the scalar elements from 4*nvec on.
__global__ void relu_fwd_kernel(int64_t n, int64_t nvec, const float* x, float* y) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t i = tid; i < nvec; i += stride) {
    float4 v = reinterpret_cast<const float4*>(x)[i];
    v.x = relu1(v.x);
    v.y = relu1(v.y);
    v.z = relu1(v.z);
    v.w = relu1(v.w);
    reinterpret_cast<float4*>(y)[i] = v;
  }
  for (int64_t i = 4 * nvec + tid; i < n; i += stride) y[i] = relu1(x[i]);
}

__global__ void relu_bwd_kernel(int64_t n, int64_t nvec, const float* y, const float* dy, float* dx) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t i = tid; i < nvec; i += stride) {
    const float4 a = reinterpret_cast<const float4*>(y)[i];
    float4 d = reinterpret_cast<const float4*>(dy)[i];
    d.x = mask1(a.x, d.x);
    d.y = mask1(a.y, d.y);
    d.z = mask1(a.z, d.z);
    d.w = mask1(a.w, d.w);
    reinterpret_cast<float4*>(dx)[i] = d;
  }
  for (int64_t i = 4 * nvec + tid; i < n; i += stride) dx[i] = mask1(y[i], dy[i]);
}

}  // namespace

void relu_fwd(int64_t n, const float* x, float* y, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t nvec = (aligned16(x) && aligned16(y)) ? n / 4 : 0;
  relu_fwd_kernel<<<grid_for(std::max<int64_t>(nvec, n - 4 * nvec)), kThreads, 0, stream>>>(n, nvec, x, y);
  INQ_LAUNCH_CHECK();
}

void relu_bwd(int64_t n, const float* y, const float* dy, float* dx, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t nvec = (aligned16(y) && aligned16(dy) && aligned16(dx)) ? n / 4 : 0;
  relu_bwd_kernel<<<grid_for(std::max<int64_t>(nvec, n - 4 * nvec)), kThreads, 0, stream>>>(n, nvec, y, dy, dx);
  INQ_LAUNCH_CHECK();
}

}  // namespace inq::cuda
