// The memory of a Net's activations and input gradients. Layers draw their outputs (forward) and
// their dx (backward) from this pool, keep only what their backward needs and let go of it when
// their backward is done; a block returns to the pool when the last Tensor viewing it is gone. So
// memory follows what is live, as in PyTorch's autograd, instead of every layer owning its output
// and dx for the whole run.
//
// Blocks are carved out of large arenas (best fit, neighbours merged on release), because backward
// releases small tensors near the output while it asks for ever larger gradients towards the input:
// separate buffers per size would not fit those requests into the freed space. The first pass
// allocates what it needs; when the pool is next idle (no block in use) it replaces its arenas by
// one of the peak in-use size, and grows that by what a later pass found missing. Requests repeat
// identically step after step, so after the first steps a step allocates nothing.
#pragma once
#include <cstddef>
#include <memory>

#include "core/backend.h"
#include "core/tensor.h"

namespace inq {

class ScratchPool {
 public:
  ScratchPool();
  ~ScratchPool();
  ScratchPool(const ScratchPool&) = delete;
  ScratchPool& operator=(const ScratchPool&) = delete;

  // A tensor of `shape` in memory nobody else uses; its old contents are dead (Backend::discard).
  Tensor get(Backend& be, const Shape& shape);
  size_t bytes() const;           // reserved by the pool's arenas, in use or not
  size_t arena_count() const;
  size_t peak_in_use() const;     // the most bytes in use at once since the last consolidation

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the blocks, which may outlive the pool
};

}  // namespace inq
