// Residual add, gradient accumulation, double-precision averages and channel concatenation launchers (semantics of
// core/ref/elementwise_ref.h).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/geometry.h"

namespace inq::cuda {

// y = a + b; y may alias a or b.
void add_fwd(int64_t n, const float* a, const float* b, float* y, cudaStream_t stream);
// y += x
void accumulate(int64_t n, const float* x, float* y, cudaStream_t stream);
// sum[i] += double(x[i]) / divisor, and y[i] = float(sum[i] / divisor): double precision, IEEE division.
void quotient_accumulate_f64(int64_t n, const float* x, double divisor, double* sum, cudaStream_t stream);
void quotient_store_f64(int64_t n, const double* sum, double divisor, float* y, cudaStream_t stream);
// Copies part [n, c_part, hw] into channels [c_offset, c_offset + c_part) of y [n, c_total, hw].
// Throws std::invalid_argument when the channels do not fit, as the reference does.
void concat_fwd(int n, int hw, int c_part, int c_total, int c_offset, const float* part, float* y, cudaStream_t stream);
// dpart [n, c_part, hw] = those channels of dy (overwritten).
void concat_bwd(int n, int hw, int c_part, int c_total, int c_offset, const float* dy, float* dpart,
                cudaStream_t stream);

}  // namespace inq::cuda
