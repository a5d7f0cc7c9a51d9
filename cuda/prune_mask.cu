#include "cuda/prune_mask.h"

#include <math_constants.h>

#include "core/prune/splice_rule.h"
#include "cuda/check.h"
#include "cuda/launch.h"

namespace inq::cuda {
namespace {

// One block: the minimum is exact and independent of the order, so one pass of kThreads threads
// and a shared-memory tree gives the reference's value. Runs once per tensor per mask update.
__global__ void prune_kept_min_abs_kernel(int64_t n, const float* w, const uint8_t* keep, float* out) {
  __shared__ float partial[kThreads];
  float best = CUDART_INF_F;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    if (keep[i]) best = fminf(best, fabsf(w[i]));
  partial[threadIdx.x] = best;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (int(threadIdx.x) < s) partial[threadIdx.x] = fminf(partial[threadIdx.x], partial[threadIdx.x + s]);
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = partial[0];
}

__global__ void prune_splice_update_kernel(int64_t n, const float* w, const float* threshold, float margin,
                                           uint8_t* mask) {
  const float t = threshold[0];
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    mask[i] = splice_state(w[i], t, margin, mask[i]);
}

__global__ void prune_mask_multiply_kernel(int64_t n, float* w, const uint8_t* mask) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    if (!mask[i]) w[i] = 0.0f;
}

__global__ void prune_freeze_kernel(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* keep) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if (keep[i] || frozen[i]) continue;
    w[i] = 0.0f;
    if (m) m[i] = 0.0f;
    frozen[i] = 1;
  }
}

}  // namespace

void prune_kept_min_abs(int64_t n, const float* w, const uint8_t* keep, float* out, cudaStream_t stream) {
  prune_kept_min_abs_kernel<<<1, kThreads, 0, stream>>>(n, w, keep, out);
  INQ_LAUNCH_CHECK();
}

void prune_splice_update(int64_t n, const float* w, const float* threshold, float margin, uint8_t* mask,
                         cudaStream_t stream) {
  if (n == 0) return;
  prune_splice_update_kernel<<<grid_for(n), kThreads, 0, stream>>>(n, w, threshold, margin, mask);
  INQ_LAUNCH_CHECK();
}

void prune_mask_multiply(int64_t n, float* w, const uint8_t* mask, cudaStream_t stream) {
  if (n == 0) return;
  prune_mask_multiply_kernel<<<grid_for(n), kThreads, 0, stream>>>(n, w, mask);
  INQ_LAUNCH_CHECK();
}

void prune_freeze(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* keep, cudaStream_t stream) {
  if (n == 0) return;
  prune_freeze_kernel<<<grid_for(n), kThreads, 0, stream>>>(n, w, m, frozen, keep);
  INQ_LAUNCH_CHECK();
}

}  // namespace inq::cuda
