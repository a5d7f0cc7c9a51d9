// Dynamic Network Surgery's mask rule (Guo, Yao and Chen 2016), shared verbatim by the CPU
// reference and the CUDA kernel (INQ_HD) so that both give the same mask bit for bit.
#pragma once
#include <math.h>

#include <cstdint>

#include "core/host_device.h"

namespace inq {

// With t the tensor's threshold and a = (1 - margin) * t, b = (1 + margin) * t: a weight with
// |w| < a is cut (0), one with |w| > b is spliced back (1), one in [a, b] keeps its state.
INQ_HD uint8_t splice_state(float w, float threshold, float margin, uint8_t state) {
  const float a = (1.0f - margin) * threshold;
  const float b = (1.0f + margin) * threshold;
  const float m = fabsf(w);
  if (m < a) return 0;
  if (m > b) return 1;
  return state;
}

}  // namespace inq
