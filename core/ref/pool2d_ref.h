// Max and average pooling references (PyTorch semantics, incl. ceil_mode and padding).
#pragma once
#include <cstdint>

#include "core/geometry.h"

namespace inq::ref {

// argmax holds, per output, the flat index h*w-plane offset (ih*w + iw) of the chosen input;
// the first maximum wins; padding never wins.
template <typename T>
void maxpool2d_fwd_ref(const PoolGeom& g, const T* x, T* y, int32_t* argmax);
// dx overwritten: zero, then each dy added at its argmax.
template <typename T>
void maxpool2d_bwd_ref(const PoolGeom& g, const T* dy, const int32_t* argmax, T* dx);
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
