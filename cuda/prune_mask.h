// Pruning kernels (masks and their math on the device). Semantics and results exactly those of
// core/ref/prune_ref.h.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace inq::cuda {

void prune_kept_min_abs(int64_t n, const float* w, const uint8_t* keep, float* out, cudaStream_t stream);
void prune_splice_update(int64_t n, const float* w, const float* threshold, float margin, uint8_t* mask,
                         cudaStream_t stream);
void prune_mask_multiply(int64_t n, float* w, const uint8_t* mask, cudaStream_t stream);
void prune_freeze(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* keep, cudaStream_t stream);

}  // namespace inq::cuda
