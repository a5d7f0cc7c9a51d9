// The baseline quantisers' math (docs/design.md, "Baseline quantisers"), one definition shared by
// the CPU path (core/quant/quant_ref.cpp) and the CUDA kernels (cuda/quant_kernels.cu) through
// INQ_HD. Per tensor, a quantiser first reduces the latent weights to its parameters (sums of |w|
// in double, max|w| exactly), then maps every weight with them:
//   bwn      α = mean|w|;                          q(w) = +α for w >= 0 (also -0), -α for w < 0
//   twn      Δ = 0.7·mean|w|, α = mean of |w| > Δ;  q(w) = sign(w)·α for |w| > Δ, else 0
//   uniform  s = max|w| / (2^(b-1) - 1);           q(w) = clamp(rint(w / s), ±(2^(b-1) - 1))·s
// An all-zero tensor has α = s = 0 and maps to 0 (+0, or ±α = ±0 for bwn).
#pragma once
#include <math.h>

#include <cstdint>

#include "core/host_device.h"

namespace inq {

enum class QuantMethod : int { Binary = 0, Ternary = 1, Uniform = 2 };

constexpr int kMinUniformBits = 2;
constexpr int kMaxUniformBits = 8;

// Per-tensor parameters: `scale` is α (bwn, twn) or s (uniform); `threshold` is Δ (twn only).
struct QuantParams {
  float scale = 0.0f;
  float threshold = 0.0f;
};

// The largest integer level of b-bit symmetric uniform quantisation: 2^(b-1) - 1.
INQ_HD int uniform_qmax(int bits) { return (1 << (bits - 1)) - 1; }

// mean|w| from the sum of |w| (in double) over n > 0 weights, rounded once to float.
INQ_HD float quant_mean(double sum, int64_t n) { return n > 0 ? float(sum / double(n)) : 0.0f; }

// TWN's threshold Δ = 0.7·E|w|, from the same sum.
INQ_HD float twn_threshold(double sum_abs, int64_t n) { return n > 0 ? float(0.7 * (sum_abs / double(n))) : 0.0f; }

// Whether a weight lies above TWN's threshold (NaN does not).
INQ_HD bool twn_above(float w, float threshold) { return fabsf(w) > threshold; }

// Uniform's step s = max|w| / qmax in float.
INQ_HD float uniform_scale(float max_abs, int bits) { return max_abs / float(uniform_qmax(bits)); }

INQ_HD float quant_value(QuantMethod method, int bits, float w, QuantParams p) {
  switch (method) {
    case QuantMethod::Binary:
      return w < 0.0f ? -p.scale : p.scale;
    case QuantMethod::Ternary:
      return twn_above(w, p.threshold) ? (w < 0.0f ? -p.scale : p.scale) : 0.0f;
    case QuantMethod::Uniform: {
      if (!(p.scale > 0.0f)) return 0.0f;
      const float qmax = float(uniform_qmax(bits));
      float q = rintf(w / p.scale);  // to nearest, ties to even
      if (!(q >= -qmax)) q = -qmax;  // also NaN
      if (q > qmax) q = qmax;
      return q * p.scale;
    }
  }
  return 0.0f;
}

// Whether v is a value of the method's level set with these parameters (what inq_check checks):
// ±α (bwn), 0 or ±α (twn), an integer multiple q·s with |q| <= 2^(b-1) - 1 (uniform).
INQ_HD bool quant_is_level(QuantMethod method, int bits, float v, QuantParams p) {
  switch (method) {
    case QuantMethod::Binary:
      return v == p.scale || v == -p.scale;
    case QuantMethod::Ternary:
      return v == 0.0f || v == p.scale || v == -p.scale;
    case QuantMethod::Uniform: {
      if (!(p.scale > 0.0f)) return v == 0.0f;
      const float q = rintf(v / p.scale);
      return fabsf(q) <= float(uniform_qmax(bits)) && q * p.scale == v;
    }
  }
  return false;
}

}  // namespace inq
