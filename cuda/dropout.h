// Inverted dropout launchers (semantics of core/ref/dropout_ref.h). The mask comes from
// inq::counter_uniform(seed, i), so it equals the CPU reference's bit for bit.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/geometry.h"

namespace inq::cuda {

// keep[i] = uniform(seed, i) >= p; y = keep ? x * (1 / (1 - p)) : 0. Throws std::invalid_argument
// unless 0 <= p < 1, as the reference does.
void dropout_fwd(int64_t n, float p, uint64_t seed, const float* x, float* y, uint8_t* keep, cudaStream_t stream);
void dropout_bwd(int64_t n, float p, const uint8_t* keep, const float* dy, float* dx, cudaStream_t stream);

}  // namespace inq::cuda
