#include "cuda/inq_partition.h"

#include <cub/device/device_radix_sort.cuh>

#include <stdexcept>
#include <string>

#include "core/inq/log2_levels.h"
#include "cuda/check.h"
#include "cuda/launch.h"

namespace inq::cuda {
namespace {

constexpr uint64_t kFrozenKey = ~0ull;  // what inq_magnitude_key / inq_random_key give a frozen weight

// Scratch of one selection, freed on the stream however the function is left.
struct StreamScratch {
  cudaStream_t stream;
  void* ptr = nullptr;
  explicit StreamScratch(cudaStream_t s) : stream(s) {}
  ~StreamScratch() {
    if (ptr) cudaFreeAsync(ptr, stream);  // unchecked: may run while an error unwinds
  }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;
  void allocate(size_t bytes) { CUDA_CHECK(cudaMallocAsync(&ptr, bytes, stream)); }
};

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
// A frozen marker among them (count above the free weights, refused by the host) is skipped, so
// even then nothing is written out of bounds.
__global__ void inq_mark_kernel(int64_t count, const uint64_t* sorted, uint8_t* select) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < count; j += int64_t(gridDim.x) * blockDim.x)
    if (sorted[j] != kFrozenKey) select[sorted[j] & 0xFFFFFFFFull] = 1;
}

__global__ void inq_project_freeze_kernel(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* select,
                                          int n1, int n2, bool zero_free) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if (!select[i]) continue;
    w[i] = inq_project(w[i], n1, n2, zero_free);
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
  StreamScratch keys_buf(stream), sorted_buf(stream), temp_buf(stream);
  keys_buf.allocate(sizeof(uint64_t) * n);
  sorted_buf.allocate(sizeof(uint64_t) * n);
  auto* keys = static_cast<uint64_t*>(keys_buf.ptr);
  auto* sorted = static_cast<uint64_t*>(sorted_buf.ptr);
  inq_keys_kernel<<<grid_for(n), kThreads, 0, stream>>>(n, w, frozen, strategy == InqPartition::Magnitude, seed,
                                                          keys, select);
  INQ_LAUNCH_CHECK();
  size_t temp_bytes = 0;
  CUDA_CHECK(cub::DeviceRadixSort::SortKeys(nullptr, temp_bytes, keys, sorted, n, 0, 64, stream));
  temp_buf.allocate(temp_bytes);
  CUDA_CHECK(cub::DeviceRadixSort::SortKeys(temp_buf.ptr, temp_bytes, keys, sorted, n, 0, 64, stream));
  if (count == 0) return;
  // Frozen keys sort last, so the count-th key is a free weight's exactly when count <= free
  // weights. Checking costs one 8-byte copy and a wait per tensor and stage boundary.
  uint64_t last = 0;
  CUDA_CHECK(cudaMemcpyAsync(&last, sorted + (count - 1), sizeof(last), cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
  if (last == kFrozenKey)
    throw std::invalid_argument("inq_select: asked to freeze " + std::to_string(count) +
                                " weights, more than the tensor's free weights");
  inq_mark_kernel<<<grid_for(count), kThreads, 0, stream>>>(count, sorted, select);
  INQ_LAUNCH_CHECK();
}

void inq_project_freeze(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* select, int n1, int n2,
                        bool zero_free, cudaStream_t stream) {
  if (n == 0) return;
  inq_project_freeze_kernel<<<grid_for(n), kThreads, 0, stream>>>(n, w, m, frozen, select, n1, n2, zero_free);
  INQ_LAUNCH_CHECK();
}

}  // namespace inq::cuda
