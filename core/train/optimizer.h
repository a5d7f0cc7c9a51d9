// SGD with momentum (torch.optim.SGD semantics, dampening 0) over the Net's flat parameter and
// gradient buffers: one Backend::sgd_step per step. INQ passes a frozen mask later; FP32 training
// passes none.
#pragma once
#include <cstdint>

#include "core/net.h"

namespace inq {

struct SgdOptions {
  double lr = 0.1;  // base learning rate; the schedule gives the per-step value
  double momentum = 0.9;
  double weight_decay = 5e-4;
  bool nesterov = false;
};

class Sgd {
 public:
  // Allocates a zero momentum buffer shaped like net.flat_params(), and zeroes the gradient buffer
  // and the alignment gaps between parameters so that the flat update never sees stale memory.
  Sgd(Net& net, SgdOptions options);

  // w -= lr * (momentum-corrected g + weight_decay * w) for every parameter; `frozen` (optional,
  // one byte per flat parameter, on the backend) leaves marked entries bit for bit untouched.
  void step(double lr, const uint8_t* frozen = nullptr);

  const SgdOptions& options() const { return options_; }
  Tensor& momentum() { return momentum_; }  // same layout (offsets) as net.flat_params()
  void zero_momentum();

 private:
  Net& net_;
  SgdOptions options_;
  Tensor momentum_;
};

}  // namespace inq
