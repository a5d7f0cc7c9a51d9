#include "cuda/bias.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "cuda/check.h"

namespace inq::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 4096;  // grid-stride loops cover the rest

int grid_for(int64_t total) {
  return static_cast<int>(std::min<int64_t>((total + kThreads - 1) / kThreads, kMaxBlocks));
}

// Index is 32-bit whenever the tensor allows it: the per-element divisions are then much cheaper.
template <typename Index>
__global__ void bias_fwd_kernel(Index total, Index c, Index hw, const float* __restrict__ b, float* __restrict__ y) {
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    y[i] += b[(i / hw) % c];
  }
}

__global__ void bias_bwd_kernel(int64_t n, int64_t c, int64_t hw, const float* __restrict__ dy,
                                float* __restrict__ db) {
  const int64_t ch = blockIdx.x;
  double acc = 0.0;
  if (hw >= 32) {
    // Large planes: the threads walk each image's plane together (coalesced).
    for (int64_t img = 0; img < n; ++img) {
      const float* plane = dy + (img * c + ch) * hw;
      for (int64_t j = threadIdx.x; j < hw; j += blockDim.x) acc += plane[j];
    }
  } else {
    // Small planes (hw = 1 for linear layers): spread the images over the threads instead.
    const int64_t count = n * hw;
    for (int64_t t = threadIdx.x; t < count; t += blockDim.x) {
      const int64_t img = t / hw;
      acc += dy[(img * c + ch) * hw + (t - img * hw)];
    }
  }
  __shared__ double part[kThreads];
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[ch] = static_cast<float>(part[0]);
}

__global__ void fill_kernel(int64_t n, float value, float* __restrict__ p) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) p[i] = value;
}

}  // namespace

void bias_fwd(int n, int c, int64_t hw, const float* b, float* y, cudaStream_t stream) {
  const int64_t total = int64_t(n) * c * hw;
  if (total <= 0) return;
  // 32-bit indexing needs i + stride to stay below 2^32: total < 2^31 and stride < 2^31 suffice.
  if (total < std::numeric_limits<int32_t>::max()) {
    bias_fwd_kernel<uint32_t><<<grid_for(total), kThreads, 0, stream>>>(
        static_cast<uint32_t>(total), static_cast<uint32_t>(c), static_cast<uint32_t>(hw), b, y);
  } else {
    bias_fwd_kernel<uint64_t><<<grid_for(total), kThreads, 0, stream>>>(
        static_cast<uint64_t>(total), static_cast<uint64_t>(c), static_cast<uint64_t>(hw), b, y);
  }
  INQ_LAUNCH_CHECK();
}

void bias_bwd(int n, int c, int64_t hw, const float* dy, float* db, cudaStream_t stream) {
  if (c <= 0) return;
  if (n <= 0 || hw <= 0) {
    CUDA_CHECK(cudaMemsetAsync(db, 0, sizeof(float) * static_cast<size_t>(c), stream));
    return;
  }
  bias_bwd_kernel<<<c, kThreads, 0, stream>>>(n, c, hw, dy, db);
  INQ_LAUNCH_CHECK();
}

void fill(int64_t n, float value, float* p, cudaStream_t stream) {
  if (n <= 0) return;
  uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof(bits));
  if (bits == 0) {  // +0.0f: a plain memset is faster than a kernel
    CUDA_CHECK(cudaMemsetAsync(p, 0, sizeof(float) * static_cast<size_t>(n), stream));
    return;
  }
  fill_kernel<<<grid_for(n), kThreads, 0, stream>>>(n, value, p);
  INQ_LAUNCH_CHECK();
}

}  // namespace inq::cuda
