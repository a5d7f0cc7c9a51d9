// Max pooling on activations in oneDNN's channel-blocked format (nChw8c / nChw16c, one SIMD lane per
// channel: [n][c/B][h*w][B]), so that the ResNet stem's activations and gradients are pooled where
// they lie instead of being made flat first (a flat copy of the stem's output is the largest buffer
// of a ResNet step). The output and the input gradient are in the same blocked format; argmax stays
// flat NCHW, each entry the flat index ih*w+iw within its plane, exactly as core/ref/pool2d_ref.h
// writes it. Same windows, first maximum wins, NaN propagates, and the backward accumulates each
// input element's contributions in the reference's order: bit for bit the reference.
#pragma once
#include <cstdint>

#include "core/geometry.h"

namespace inq::fast {

void maxpool2d_fwd_blocked(const PoolGeom& g, int block, const float* x, float* y, int32_t* argmax);
void maxpool2d_bwd_blocked(const PoolGeom& g, int block, const float* dy, const int32_t* argmax, float* dx);

}  // namespace inq::fast
