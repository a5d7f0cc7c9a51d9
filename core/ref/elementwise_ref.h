// Residual add, gradient accumulation and channel concatenation references.
#pragma once
#include <cstdint>

#include "core/geometry.h"

namespace inq::ref {

template <typename T>
void add_fwd_ref(int64_t n, const T* a, const T* b, T* y);  // y = a + b (y may alias a or b)
template <typename T>
void accumulate_ref(int64_t n, const T* x, T* y);  // y += x
// Copies part [n, c_part, hw] into channels [c_offset, c_offset + c_part) of y [n, c_total, hw].
template <typename T>
void concat_fwd_ref(int n, int hw, int c_part, int c_total, int c_offset, const T* part, T* y);
// The reverse: dpart [n, c_part, hw] = those channels of dy (overwritten).
template <typename T>
void concat_bwd_ref(int n, int hw, int c_part, int c_total, int c_offset, const T* dy, T* dpart);

}  // namespace inq::ref
