#include "core/init.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

namespace inq {

Fans compute_fans(const Shape& shape) {
  if (shape.size() < 2)
    throw std::invalid_argument("fan in/out need a tensor of at least 2 dimensions, got " + shape_str(shape));
  int64_t receptive = 1;
  for (size_t i = 2; i < shape.size(); ++i) receptive *= shape[i];
  return {shape[1] * receptive, shape[0] * receptive};
}

Init torch_default_init(int64_t fan_in) {
  if (fan_in <= 0) throw std::invalid_argument("default initialisation needs a positive fan_in");
  return Init::uniform(1.0 / std::sqrt(static_cast<double>(fan_in)));
}

void init_values(const Init& init, const Shape& shape, Rng& rng, float* out) {
  const int64_t n = shape_numel(shape);
  auto& engine = rng.engine();
  // One distribution object per tensor: normal_distribution caches its second draw.
  switch (init.kind) {
    case Init::Zeros:
      std::fill(out, out + n, 0.0f);
      return;
    case Init::Ones:
      std::fill(out, out + n, 1.0f);
      return;
    case Init::Normal: {
      std::normal_distribution<double> d(0.0, init.a);
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(d(engine));
      return;
    }
    case Init::Uniform: {
      std::uniform_real_distribution<double> d(-init.a, init.a);
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(d(engine));
      return;
    }
    case Init::KaimingNormalFanOut: {
      const Fans f = compute_fans(shape);
      std::normal_distribution<double> d(0.0, std::sqrt(2.0 / static_cast<double>(f.fan_out)));
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(d(engine));
      return;
    }
    case Init::TruncatedNormal: {
      std::normal_distribution<double> d(0.0, 1.0);
      for (int64_t i = 0; i < n; ++i) {
        double v = d(engine);
        while (std::fabs(v) > 2.0) v = d(engine);
        out[i] = static_cast<float>(v * init.a);
      }
      return;
    }
  }
  throw std::invalid_argument("unknown initialisation kind");
}

}  // namespace inq
