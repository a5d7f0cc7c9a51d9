// Max pooling that reads its input in oneDNN's channel-blocked format (nChw8c / nChw16c, one SIMD
// lane per channel) and writes the output and argmax flat, exactly as core/ref/pool2d_ref.h's
// maxpool2d_fwd_ref does (same windows, first maximum wins, NaN propagates): the ResNet stem's
// activations are pooled where they lie instead of being made flat first.
#pragma once
#include <cstdint>

#include "core/geometry.h"

namespace inq::fast {

void maxpool2d_fwd_blocked(const PoolGeom& g, int block, const float* x, float* y, int32_t* argmax);

}  // namespace inq::fast
