// Max, average and adaptive average pooling launchers (semantics of core/ref/pool2d_ref.h).
// Backward passes are gathers (each input sums the outputs that read it, in output order), so
// they are deterministic and need no atomics; they match the reference bit for bit.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/geometry.h"

namespace inq::cuda {

// argmax (may be nullptr for inference) gets ih*w + iw within the plane; the first maximum wins,
// NaN propagates.
void maxpool2d_fwd(const PoolGeom& g, const float* x, float* y, int32_t* argmax, cudaStream_t stream);
// dx overwritten: each input gets the sum of the dy whose argmax points at it.
void maxpool2d_bwd(const PoolGeom& g, const float* dy, const int32_t* argmax, float* dx, cudaStream_t stream);
void avgpool2d_fwd(const PoolGeom& g, const float* x, float* y, cudaStream_t stream);
void avgpool2d_bwd(const PoolGeom& g, const float* dy, float* dx, cudaStream_t stream);
// Output i spans [floor(i*h/oh), ceil((i+1)*h/oh)).
void adaptive_avgpool2d_fwd(int n, int c, int h, int w, int oh, int ow, const float* x, float* y, cudaStream_t stream);
void adaptive_avgpool2d_bwd(int n, int c, int h, int w, int oh, int ow, const float* dy, float* dx,
                            cudaStream_t stream);

}  // namespace inq::cuda
