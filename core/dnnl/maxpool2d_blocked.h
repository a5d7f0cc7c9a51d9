// Max pooling on activations in oneDNN's channel-blocked format (nChw8c / nChw16c, one SIMD lane per
// channel: [n][c/B][h*w][B]), so that the ResNet stem's activations and gradients are pooled where
// they lie instead of being made flat first (a flat copy of the stem's output is the largest buffer
// of a ResNet step). x, y, dy and dx are all in the same blocked format. The backward finds each
// window's maximum again in x, as core/ref/pool2d_ref.h does: same windows, first maximum wins, NaN
// propagates, each input's contributions added in output order — bit for bit the reference.
#pragma once

#include "core/geometry.h"

namespace inq::fast {

void maxpool2d_fwd_blocked(const PoolGeom& g, int block, const float* x, float* y);
void maxpool2d_bwd_blocked(const PoolGeom& g, int block, const float* x, const float* dy, float* dx);

}  // namespace inq::fast
