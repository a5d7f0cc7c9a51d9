// Masked SGD launcher (semantics of core/ref/sgd_ref.h): one fused pass over a flat parameter
// buffer, bit-identical to the CPU reference.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/geometry.h"

namespace inq::cuda {

// For each i with frozen == nullptr or frozen[i] == 0:
//   d = g + weight_decay * w;  m = momentum * m + d;  step = nesterov ? d + momentum * m : m;  w -= lr * step
// (momentum == 0: m is neither read nor written and may be nullptr). Frozen entries: w and m untouched.
// Throws std::invalid_argument when momentum != 0 and m == nullptr.
void sgd_step(int64_t n, float* w, const float* g, float* m, const uint8_t* frozen, float lr, float momentum,
              float weight_decay, bool nesterov, cudaStream_t stream);

}  // namespace inq::cuda
