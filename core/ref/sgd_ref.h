// SGD with momentum, weight decay and Nesterov as torch.optim.SGD (dampening 0), masked for INQ.
#pragma once
#include <cstdint>

#include "core/geometry.h"

namespace inq::ref {

// For each i with frozen == nullptr or frozen[i] == 0:
//   d = g + weight_decay * w;  m = momentum * m + d;  step = nesterov ? d + momentum * m : m;  w -= lr * step
// (with momentum == 0: m untouched, step = d). Frozen entries: w and m untouched, bit for bit.
template <typename T>
void sgd_step_ref(int64_t n, T* w, const T* g, T* m, const uint8_t* frozen, T lr, T momentum, T weight_decay,
                  bool nesterov);

}  // namespace inq::ref
