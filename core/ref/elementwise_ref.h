// Residual add, gradient accumulation, double-precision averages and channel concatenation references.
#pragma once
#include <cstdint>

#include "core/geometry.h"

namespace inq::ref {

template <typename T>
void add_fwd_ref(int64_t n, const T* a, const T* b, T* y);  // y = a + b (y may alias a or b)
template <typename T>
void accumulate_ref(int64_t n, const T* x, T* y);  // y += x
// Averages kept in double: sum[i] += double(x[i]) / divisor, and y[i] = float(sum[i] / divisor).
void quotient_accumulate_f64_ref(int64_t n, const float* x, double divisor, double* sum);
void quotient_store_f64_ref(int64_t n, const double* sum, double divisor, float* y);
// Copies part [n, c_part, hw] into channels [c_offset, c_offset + c_part) of y [n, c_total, hw].
template <typename T>
void concat_fwd_ref(int n, int hw, int c_part, int c_total, int c_offset, const T* part, T* y);
// The reverse: dpart [n, c_part, hw] = those channels of dy (overwritten).
template <typename T>
void concat_bwd_ref(int n, int hw, int c_part, int c_total, int c_offset, const T* dy, T* dpart);

}  // namespace inq::ref
