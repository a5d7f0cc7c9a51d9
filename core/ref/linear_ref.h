// Fully connected layer reference: y = x W^T + b with W [out, in] as torch.nn.Linear.
#pragma once
#include <cstdint>

#include "core/geometry.h"

namespace inq::ref {

template <typename T>
void linear_fwd_ref(int n, int in, int out, const T* x, const T* w, const T* b, T* y);
// dx (skipped when null), dw, db (skipped when null) overwritten.
template <typename T>
void linear_bwd_ref(int n, int in, int out, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db);

}  // namespace inq::ref
