#include "core/quant/quant_ref.h"

#include <algorithm>

namespace inq::ref {

QuantParams quant_params_ref(QuantMethod method, int bits, const float* w, int64_t n) {
  QuantParams p;
  if (method == QuantMethod::Uniform) {
    float max_abs = 0.0f;
    for (int64_t i = 0; i < n; ++i) max_abs = std::max(max_abs, fabsf(w[i]));  // NaN never wins
    p.scale = uniform_scale(max_abs, bits);
    return p;
  }
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += double(fabsf(w[i]));
  if (method == QuantMethod::Binary) {
    p.scale = quant_mean(sum, n);
    return p;
  }
  p.threshold = twn_threshold(sum, n);
  double above = 0.0;
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i)
    if (twn_above(w[i], p.threshold)) {
      above += double(fabsf(w[i]));
      ++count;
    }
  p.scale = quant_mean(above, count);
  return p;
}

void quant_apply_ref(QuantMethod method, int bits, const float* w, int64_t n, QuantParams p, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = quant_value(method, bits, w[i], p);
}

}  // namespace inq::ref
