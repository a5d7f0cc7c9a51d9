#include "core/scratch_pool.h"

namespace inq {

Tensor ScratchPool::get(Backend& be, const Shape& shape) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * sizeof(float);
  std::shared_ptr<Storage>* best = nullptr;
  for (auto& b : buffers_) {
    // use_count 1: only the pool holds it. Single-threaded use: no Tensor can appear meanwhile.
    if (b.use_count() != 1 || b->bytes() < bytes) continue;
    if (!best || b->bytes() < (*best)->bytes()) best = &b;
  }
  if (!best) {
    buffers_.push_back(be.allocate(bytes));
    best = &buffers_.back();
  }
  return Tensor(*best, shape);
}

size_t ScratchPool::bytes() const {
  size_t sum = 0;
  for (const auto& b : buffers_) sum += b->bytes();
  return sum;
}

}  // namespace inq
