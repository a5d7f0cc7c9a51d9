// The baseline quantisers on the host: the reference the CUDA kernels are tested against and the
// CPU backends' implementation (math in core/quant/quant_math.h).
#pragma once
#include <cstdint>

#include "core/quant/quant_math.h"

namespace inq::ref {

// The tensor's parameters from its latent weights; sums of |w| in double, in index order.
QuantParams quant_params_ref(QuantMethod method, int bits, const float* w, int64_t n);

// out[i] = quant_value(method, bits, w[i], p); out may be w.
void quant_apply_ref(QuantMethod method, int bits, const float* w, int64_t n, QuantParams p, float* out);

}  // namespace inq::ref
