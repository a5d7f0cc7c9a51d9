// Convolution reference: im2col + BLAS GEMM per group, parallel over images (float and double).
#pragma once
#include <cstdint>

#include "core/geometry.h"

namespace inq::ref {

// y[n,k,p,q] = b[k] + sum_{c in group(k), r, s} x[n,c,p*sh-ph+r*dh, q*sw-pw+s*dw] * w[k,c',r,s]. b may be null.
template <typename T>
void conv2d_fwd_ref(const ConvGeom& g, const T* x, const T* w, const T* b, T* y);
// dx = d(sum y*dy)/dx, overwritten (not accumulated).
template <typename T>
void conv2d_bwd_data_ref(const ConvGeom& g, const T* w, const T* dy, T* dx);
// dw (and db when not null) overwritten with the gradient summed over the batch.
template <typename T>
void conv2d_bwd_filter_ref(const ConvGeom& g, const T* x, const T* dy, T* dw, T* db);

}  // namespace inq::ref
