// ReLU reference. Backward uses the output, so forward may run in place (y == x).
#pragma once
#include <cstdint>

#include "core/geometry.h"

namespace inq::ref {

template <typename T>
void relu_fwd_ref(int64_t n, const T* x, T* y);
// dx = y > 0 ? dy : 0; dx may alias dy.
template <typename T>
void relu_bwd_ref(int64_t n, const T* y, const T* dy, T* dx);

}  // namespace inq::ref
