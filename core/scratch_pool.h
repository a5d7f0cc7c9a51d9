// Shared scratch memory for backward's input gradients. A layer's dx lives only until the layer
// before it has consumed it, so instead of every layer owning a dx buffer for the whole run
// (as much memory again as all activations), backward draws dx from this pool: a buffer returns
// to it when the last Tensor viewing it is gone. Requests repeat identically step after step, so
// after the first steps the pool stops growing and backward allocates nothing.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"

namespace inq {

class ScratchPool {
 public:
  // A tensor of `shape` whose storage nobody else holds: the smallest free buffer that fits, else
  // a new one of exactly this size.
  Tensor get(Backend& be, const Shape& shape);
  size_t bytes() const;  // held by the pool, free or not
  size_t buffer_count() const { return buffers_.size(); }

 private:
  std::vector<std::shared_ptr<Storage>> buffers_;
};

}  // namespace inq
