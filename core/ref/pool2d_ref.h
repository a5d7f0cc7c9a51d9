// Max and average pooling references (PyTorch semantics, incl. ceil_mode and padding).
#pragma once
#include <cstdint>

#include "core/geometry.h"

namespace inq::ref {

// The first maximum of each window wins; padding never wins; NaN propagates. argmax (may be
// nullptr) gets, per output, the chosen input's offset within its plane (ih*w + iw), as PyTorch's
// indices.
template <typename T>
void maxpool2d_fwd_ref(const PoolGeom& g, const T* x, T* y, int32_t* argmax = nullptr);
// dx overwritten: zero, then each dy added at the input its window chose in x (found again, so no
// indices are kept between forward and backward), in output order.
template <typename T>
void maxpool2d_bwd_ref(const PoolGeom& g, const T* x, const T* dy, T* dx);
template <typename T>
void avgpool2d_fwd_ref(const PoolGeom& g, const T* x, T* y);
template <typename T>
void avgpool2d_bwd_ref(const PoolGeom& g, const T* dy, T* dx);
// torch.nn.AdaptiveAvgPool2d: window of output i spans [floor(i*h/oh), ceil((i+1)*h/oh)).
template <typename T>
void adaptive_avgpool2d_fwd_ref(int n, int c, int h, int w, int oh, int ow, const T* x, T* y);
template <typename T>
void adaptive_avgpool2d_bwd_ref(int n, int c, int h, int w, int oh, int ow, const T* dy, T* dx);

}  // namespace inq::ref
