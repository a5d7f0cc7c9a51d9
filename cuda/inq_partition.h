// INQ stage-boundary kernels: partition selection (top-k of free weights by key, via a CUB radix
// sort) and the fused log2 projection + freeze. Semantics and results exactly those of
// core/ref/inq_ref.h.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/inq/inq_partition.h"

namespace inq::cuda {

// Allocates its scratch (keys and sort storage, ~16 bytes per weight) stream-ordered per call:
// it runs once per tensor per stage, never inside the training loop.
void inq_select(int64_t n, const float* w, const uint8_t* frozen, int64_t count, InqPartition strategy,
                uint64_t seed, uint8_t* select, cudaStream_t stream);

void inq_project_freeze(int64_t n, float* w, float* m, uint8_t* frozen, const uint8_t* select, int n1, int n2,
                        bool zero_free, cudaStream_t stream);

}  // namespace inq::cuda
