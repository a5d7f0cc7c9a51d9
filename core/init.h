// Parameter initialisation: fills host memory from an Init description and a seeded Rng,
// with PyTorch's fan conventions, so our models start from torchvision's distributions.
#pragma once
#include <cstdint>

#include "core/module.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace inq {

// torch.nn.init._calculate_fan_in_and_fan_out: fan_in = shape[1] * receptive field,
// fan_out = shape[0] * receptive field. Throws std::invalid_argument for fewer than 2 dimensions.
struct Fans {
  int64_t fan_in = 0;
  int64_t fan_out = 0;
};
Fans compute_fans(const Shape& shape);

// PyTorch's default for Linear and Conv2d weights and biases: kaiming_uniform_(a=sqrt(5)) reduces
// to U(±1/sqrt(fan_in)), and the bias uses the same bound.
Init torch_default_init(int64_t fan_in);

// Writes shape_numel(shape) values drawn as `init` says into `out`.
// KaimingNormalFanOut: N(0, 2/fan_out) (ReLU gain). TruncatedNormal: N(0, a^2) redrawn outside ±2a.
void init_values(const Init& init, const Shape& shape, Rng& rng, float* out);

}  // namespace inq
