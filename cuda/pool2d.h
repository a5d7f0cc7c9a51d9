// Max, average and adaptive average pooling launchers (semantics of core/ref/pool2d_ref.h).
// Backward passes are gathers (each input sums the outputs that read it, in output order), so
// they are deterministic and need no atomics; they match the reference bit for bit.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/geometry.h"

namespace inq::cuda {

// The first maximum of each window wins, NaN propagates.
void maxpool2d_fwd(const PoolGeom& g, const float* x, float* y, cudaStream_t stream);
// dx overwritten: each input gets the sum of the dy whose window chose it in x (found again from x:
// no indices are kept between forward and backward).
void maxpool2d_bwd(const PoolGeom& g, const float* x, const float* dy, float* dx, cudaStream_t stream);
void avgpool2d_fwd(const PoolGeom& g, const float* x, float* y, cudaStream_t stream);
void avgpool2d_bwd(const PoolGeom& g, const float* dy, float* dx, cudaStream_t stream);
// Output i spans [floor(i*h/oh), ceil((i+1)*h/oh)).
void adaptive_avgpool2d_fwd(int n, int c, int h, int w, int oh, int ow, const float* x, float* y, cudaStream_t stream);
void adaptive_avgpool2d_bwd(int n, int c, int h, int w, int oh, int ow, const float* dy, float* dx,
                            cudaStream_t stream);

}  // namespace inq::cuda
