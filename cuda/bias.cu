#include "cuda/bias.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "cuda/channel_reduce.cuh"
#include "cuda/check.h"
#include "cuda/launch.h"

namespace inq::cuda {
namespace {

// Index is 32-bit whenever the tensor allows it: the per-element divisions are then much cheaper.
template <typename Index>
__global__ void bias_fwd_kernel(Index total, Index c, Index hw, const float* __restrict__ b, float* __restrict__ y) {
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    y[i] += b[(i / hw) % c];
  }
}

// Sum of dy over a channel's items (pass 1 of bias_bwd; see channel_reduce.cuh).
struct BiasSum {
  static constexpr bool kTwoInputs = false;
  template <int V>
  __device__ float setup(int, int, int, int64_t, const float*) const {
    return 0.0f;
  }
  template <int V>
  __device__ double2 item(float4 v, float4, float) const {
    // Zero padding of V == 1 items contributes 0.
    return make_double2(double((v.x + v.y) + (v.z + v.w)), 0.0);
  }
};

__global__ void bias_bwd_finish_kernel(int slices, const double2* __restrict__ partial, float* __restrict__ db) {
  float unused = 0.0f;
  const double2 s = channel_reduce::combine_partials(partial, slices, blockIdx.x, &unused);
  if (threadIdx.x == 0) db[blockIdx.x] = float(s.x);
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
  if (hw > std::numeric_limits<int>::max()) throw std::invalid_argument("bias_bwd: plane too large");
  const int plane = static_cast<int>(hw);
  const bool vec = plane % 4 == 0 && aligned16(dy);
  const size_t pbytes = channel_reduce::partial_bytes(n, c, plane, vec);
  channel_reduce::StreamScratch scratch(pbytes, stream);
  double2* partial = scratch.as<double2>();
  const int slices = channel_reduce::launch_partials(n, c, plane, vec, dy, nullptr, BiasSum{}, partial, stream);
  bias_bwd_finish_kernel<<<c, channel_reduce::kFinishThreads, 0, stream>>>(slices, partial, db);
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
