#include "cuda/inq_partition.h"

#include <cub/device/device_radix_sort.cuh>

#include <stdexcept>
#include <string>

#include "core/inq/log2_levels.h"
#include "cuda/check.h"
#include "cuda/launch.h"

namespace inq::cuda {
namespace {

__global__ void inq_keys_kernel(int64_t n, const float* w, const uint8_t* frozen, bool magnitude, uint64_t seed,
                                uint64_t* keys, uint8_t* select) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const auto index = static_cast<uint32_t>(i);
    const bool is_frozen = frozen[i] != 0;
    keys[i] = magnitude ? inq_magnitude_key(w[i], index, is_frozen) : inq_random_key(seed, index, is_frozen);
    select[i] = 0;
  }
}

// The first `count` sorted keys are the chosen free weights; their low 32 bits are the index.
__global__ void inq_mark_kernel(int64_t count, const uint64_t* sorted, uint8_t* select) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < count; j += int64_t(gridDim.x) * blockDim.x)
    select[sorted[j] & 0xFFFFFFFFull] = 1;
}

__global__ void inq_project_freeze_kernel(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* select,
                                          int n1, int n2) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if (!select[i]) continue;
    w[i] = inq_project(w[i], n1, n2);
    if (m) m[i] = 0.0f;
    frozen[i] = 1;
  }
}

}  // namespace

void inq_select(int64_t n, const float* w, const uint8_t* frozen, int64_t count, InqPartition strategy,
                uint64_t seed, uint8_t* select, cudaStream_t stream) {
  if (n >= int64_t(UINT32_MAX)) throw std::invalid_argument("inq_select: tensor too large for 32-bit indices");
  if (count < 0 || count > n) throw std::invalid_argument("inq_select: bad count " + std::to_string(count));
  if (n == 0) return;
  uint64_t* keys = nullptr;
  uint64_t* sorted = nullptr;
  CUDA_CHECK(cudaMallocAsync(&keys, sizeof(uint64_t) * n, stream));
  CUDA_CHECK(cudaMallocAsync(&sorted, sizeof(uint64_t) * n, stream));
  inq_keys_kernel<<<grid_for(n), kThreads, 0, stream>>>(n, w, frozen, strategy == InqPartition::Magnitude, seed,
                                                          keys, select);
  INQ_LAUNCH_CHECK();
  size_t temp_bytes = 0;
  CUDA_CHECK(cub::DeviceRadixSort::SortKeys(nullptr, temp_bytes, keys, sorted, n, 0, 64, stream));
  void* temp = nullptr;
  CUDA_CHECK(cudaMallocAsync(&temp, temp_bytes, stream));
  CUDA_CHECK(cub::DeviceRadixSort::SortKeys(temp, temp_bytes, keys, sorted, n, 0, 64, stream));
  if (count > 0) {
    // Every chosen key must be a free weight's: the caller guarantees count <= free weights, and
    // frozen keys (~0) sort last.
    inq_mark_kernel<<<grid_for(count), kThreads, 0, stream>>>(count, sorted, select);
    INQ_LAUNCH_CHECK();
  }
  CUDA_CHECK(cudaFreeAsync(temp, stream));
  CUDA_CHECK(cudaFreeAsync(sorted, stream));
  CUDA_CHECK(cudaFreeAsync(keys, stream));
}

void inq_project_freeze(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* select, int n1, int n2,
                        cudaStream_t stream) {
  if (n == 0) return;
  inq_project_freeze_kernel<<<grid_for(n), kThreads, 0, stream>>>(n, w, m, frozen, select, n1, n2);
  INQ_LAUNCH_CHECK();
}

}  // namespace inq::cuda
