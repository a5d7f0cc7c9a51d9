// ReLU's element-wise rules, one definition for the reference, the oneDNN backend's BatchNorm with
// a fused ReLU and the CUDA kernels, which must agree bit for bit (standalone and fused ReLU alike).
#pragma once
#include "core/host_device.h"

namespace inq {

// max(0, x) as `x > 0 ? x : 0`: NaN and -0 map to +0 (as fmaxf(x, 0) would on the GPU).
template <typename T>
INQ_HD T relu_value(T x) {
  return x > T(0) ? x : T(0);
}

// The input gradient from the output y: dy where y > 0, else 0.
template <typename T>
INQ_HD T relu_grad(T y, T dy) {
  return y > T(0) ? dy : T(0);
}

}  // namespace inq
