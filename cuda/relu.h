// ReLU launchers (semantics of core/ref/relu_ref.h). Forward may run in place (y == x),
// backward may alias dx == dy.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/geometry.h"

namespace inq::cuda {

void relu_fwd(int64_t n, const float* x, float* y, cudaStream_t stream);
// dx = y > 0 ? dy : 0
void relu_bwd(int64_t n, const float* y, const float* dy, float* dx, cudaStream_t stream);

}  // namespace inq::cuda
